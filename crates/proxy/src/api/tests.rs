use super::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An echo server on a free port: what the proxies forward to.
async fn echo() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn call(r: &Registry, m: Method, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    match route(&m, path, &body, r).await {
        Ok((s, v)) => (s, v.unwrap_or(Value::Null)),
        Err(e) => (e.status, e.body()),
    }
}

async fn round_trip(listen: &str) -> bool {
    let Ok(mut s) = tokio::net::TcpStream::connect(listen).await else {
        return false;
    };
    let mut buf = [0u8; 4];
    let io = async {
        s.write_all(b"ping").await?;
        s.read_exact(&mut buf).await
    };
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), io).await,
        Ok(Ok(_))
    ) && &buf == b"ping"
}

#[tokio::test]
async fn proxies_and_toxics_lifecycle() {
    let up = echo().await;
    let r = Registry::default();
    let (s, p) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "echo", "upstream": up, "listen": "127.0.0.1:0"}),
    )
    .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["enabled"], true);
    assert_eq!(p["toxics"], json!([]));
    let listen = p["listen"].as_str().unwrap().to_string();
    assert!(round_trip(&listen).await);
    let (s, _) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "echo", "upstream": up}),
    )
    .await;
    assert_eq!(s, 409);
    let (s, t) = call(
        &r,
        Method::POST,
        "/proxies/echo/toxics",
        json!({"type": "latency", "attributes": {"latency": 200}}),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["name"], "latency_downstream");
    assert_eq!(t["stream"], "downstream");
    assert_eq!(t["toxicity"], 1.0);
    let (s, t) = call(
        &r,
        Method::PATCH,
        "/proxies/echo/toxics/latency_downstream",
        json!({"attributes": {"jitter": 5}}),
    )
    .await;
    assert_eq!(
        (s, t["attributes"].clone()),
        (200, json!({"latency": 200, "jitter": 5}))
    );
    let started = std::time::Instant::now();
    assert!(round_trip(&listen).await);
    assert!(started.elapsed() >= std::time::Duration::from_millis(190));
    let (_, list) = call(&r, Method::GET, "/proxies", Value::Null).await;
    assert_eq!(list["echo"]["toxics"][0]["type"], "latency");
    assert_eq!(
        call(
            &r,
            Method::DELETE,
            "/proxies/echo/toxics/latency_downstream",
            Value::Null
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(
            &r,
            Method::DELETE,
            "/proxies/echo/toxics/latency_downstream",
            Value::Null
        )
        .await
        .0,
        404
    );
    // disable: refused; enable: back on the same address
    let (s, p) = call(&r, Method::POST, "/proxies/echo", json!({"enabled": false})).await;
    assert_eq!((s, p["enabled"].clone()), (200, json!(false)));
    assert!(!round_trip(&listen).await);
    call(
        &r,
        Method::POST,
        "/proxies/echo/toxics",
        json!({"type": "timeout"}),
    )
    .await;
    assert_eq!(call(&r, Method::POST, "/reset", Value::Null).await.0, 204);
    let (_, p) = call(&r, Method::GET, "/proxies/echo", Value::Null).await;
    assert_eq!(
        (p["enabled"].clone(), p["toxics"].clone()),
        (json!(true), json!([]))
    );
    assert!(round_trip(&listen).await);
    let (s, v) = call(&r, Method::GET, "/version", Value::Null).await;
    assert_eq!(s, 200);
    assert!(v["version"].as_str().unwrap().starts_with("stampede-"));
    let (s, v) = call(&r, Method::POST, "/populate", json!([{"name": "echo", "upstream": up, "listen": listen}, {"name": "two", "upstream": up}])).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["proxies"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["proxies"][0]["listen"],
        listen.as_str(),
        "an unchanged proxy is kept"
    );
    assert_eq!(
        call(&r, Method::DELETE, "/proxies/two", Value::Null)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&r, Method::GET, "/proxies/two", Value::Null).await.0,
        404
    );
    r.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_leaves_running_proxies_untouched() {
    let up = echo().await;
    let r = Registry::default();
    let (_, p) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "keep", "upstream": up}),
    )
    .await;
    let listen = p["listen"].as_str().unwrap().to_string();
    call(
        &r,
        Method::POST,
        "/proxies/keep/toxics",
        json!({"type": "latency", "name": "lag", "attributes": {"latency": 50}}),
    )
    .await;
    let before = call(&r, Method::GET, "/proxies", Value::Null).await;
    let raw = |body: &'static [u8]| {
        let r = &r;
        async move {
            match route(&Method::POST, "/proxies/keep/toxics", body, r).await {
                Ok(_) => panic!("accepted {}", String::from_utf8_lossy(body)),
                Err(e) => e,
            }
        }
    };
    let cases: Vec<(ApiError, u16, &str)> = vec![
        (
            raw(br#"{"type": "packet_loss"}"#).await,
            400,
            "invalid toxic type: packet_loss",
        ),
        (
            raw(br#"{"type": "latency", "attributes": {"latency": -100}}"#).await,
            400,
            "`latency` of latency must be a whole number >= 0, got -100",
        ),
        (
            raw(br#"{"type": "latency", "attributes": {"latency": 1"#).await,
            400,
            "bad request body: EOF while parsing",
        ),
        (
            raw(br#"{"type": "latency", "stream": "sideways"}"#).await,
            400,
            "stream was invalid",
        ),
        (
            raw(br#"{"type": "latency", "name": "lag"}"#).await,
            409,
            "toxic already exists",
        ),
        (
            raw(br#"{"type": "latency", "toxicity": 1.5}"#).await,
            400,
            "toxicity must be between 0 and 1",
        ),
    ];
    for (e, status, needle) in cases {
        assert_eq!(e.status, status, "{e:?}");
        assert!(e.message.contains(needle), "{e:?} lacks {needle}");
        assert_eq!(e.body()["error"], e.message.as_str());
    }
    // a port in use: the running proxy's own port
    let (s, v) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "clash", "upstream": up, "listen": listen}),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("cannot listen on"),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains(&listen), "{v}");
    let (s, _) = call(
        &r,
        Method::POST,
        "/proxies/keep",
        json!({"listen": listen.clone(), "upstream": "127.0.0.1:1"}),
    )
    .await;
    assert_eq!(s, 200, "same listen: only the upstream changes");
    let (s, v) = call(&r, Method::POST, "/proxies/keep", json!({"upstream": up})).await;
    assert_eq!((s, v["upstream"].clone()), (200, json!(up)));
    let (s, _) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "", "upstream": up}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        call(&r, Method::POST, "/proxies", json!({"name": "x"}))
            .await
            .1["error"],
        "missing required field: upstream"
    );
    assert_eq!(call(&r, Method::PUT, "/proxies", Value::Null).await.0, 405);
    assert_eq!(call(&r, Method::GET, "/nope", Value::Null).await.0, 404);
    assert_eq!(
        call(&r, Method::GET, "/proxies/none/toxics", Value::Null)
            .await
            .0,
        404
    );
    // untouched: same proxies, same toxics, still forwarding
    assert_eq!(call(&r, Method::GET, "/proxies", Value::Null).await, before);
    assert!(round_trip(&listen).await);
    r.shutdown().await;
}

#[tokio::test]
async fn disabling_closes_open_connections_and_a_quick_toggle_listens_again() {
    let up = echo().await;
    let r = Registry::default();
    let (_, p) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "t", "upstream": up}),
    )
    .await;
    let listen = p["listen"].as_str().unwrap().to_string();
    let mut open = tokio::net::TcpStream::connect(&listen).await.unwrap();
    open.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    open.read_exact(&mut buf).await.unwrap();
    call(&r, Method::POST, "/proxies/t", json!({"enabled": false})).await;
    let n = tokio::time::timeout(std::time::Duration::from_secs(2), open.read(&mut buf))
        .await
        .expect("closed within 2 s");
    assert!(
        matches!(n, Ok(0) | Err(_)),
        "the open connection is closed: {n:?}"
    );
    let (s, p) = call(&r, Method::POST, "/proxies/t", json!({"enabled": true})).await;
    assert_eq!((s, p["enabled"].clone()), (200, json!(true)), "{p}");
    assert!(round_trip(&listen).await);
    r.shutdown().await;
    assert!(!round_trip(&listen).await, "shut down: nothing listens");
}

#[tokio::test]
async fn a_move_to_a_taken_address_changes_nothing() {
    let up = echo().await;
    let r = Registry::default();
    let (_, a) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "a", "upstream": up}),
    )
    .await;
    let (_, b) = call(
        &r,
        Method::POST,
        "/proxies",
        json!({"name": "b", "upstream": up}),
    )
    .await;
    let (s, v) = call(
        &r,
        Method::POST,
        "/proxies/a",
        json!({"listen": b["listen"], "upstream": "127.0.0.1:1"}),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    let (_, now) = call(&r, Method::GET, "/proxies/a", Value::Null).await;
    assert_eq!(
        now, a,
        "neither the listen address nor the upstream changed"
    );
    assert!(round_trip(a["listen"].as_str().unwrap()).await);
    r.shutdown().await;
}
