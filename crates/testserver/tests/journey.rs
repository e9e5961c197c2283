//! Integration tests of the journey API (`/signup`, `/verify`, `/me`, `/picture`, `/stream`,
//! `/checkin`, `/session`) against a real target on 127.0.0.1, with a tiny raw HTTP/1.1 client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stampede_testserver::{FaultProfile, TargetConfig, TargetHandle};

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, checking the content type.
    fn json(&self) -> Value {
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error` field of a JSON error body.
    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("error is a string")
            .to_owned()
    }
}

/// One keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        self.read_response().expect("response")
    }

    fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.send("GET", path, headers, b"")
    }

    fn post_json(&mut self, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        self.send("POST", path, &all, body.to_string().as_bytes())
    }

    fn read_response(&mut self) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("header line");
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        let len = resp
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        resp.body = vec![0; len];
        self.reader.read_exact(&mut resp.body)?;
        Ok(resp)
    }
}

fn start_default() -> TargetHandle {
    TargetHandle::start(TargetConfig::new("127.0.0.1:0".parse().unwrap())).expect("start target")
}

/// Signs a user up; returns `(user_id, token, verify_code)`.
fn signup(c: &mut Client) -> (u64, String, String) {
    let resp = c.post_json(
        "/signup",
        &[],
        &json!({"email": "ann@example.com", "name": "Ann"}),
    );
    assert_eq!(
        resp.status,
        201,
        "{:?}",
        String::from_utf8_lossy(&resp.body)
    );
    let v = resp.json();
    (
        v["user_id"].as_u64().expect("user_id"),
        v["token"].as_str().expect("token").to_owned(),
        v["verify_code"].as_str().expect("verify_code").to_owned(),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn signup_then_me_with_the_token() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let (id, token, code) = signup(&mut c);
    assert!(id >= 1);
    assert!(token.starts_with(&format!("{id}.")), "{token}");
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");

    let resp = c.get("/me", &[("Authorization", &bearer(&token))]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!({"user_id": id}));
    assert_eq!(resp.header("x-served-by"), Some("target-1"));

    // Ids increase; every user has a token of its own.
    let (id2, token2, _) = signup(&mut c);
    assert!(id2 > id);
    assert_ne!(token2, token);
    let resp = c.get("/me", &[("authorization", &format!("bearer {token2}"))]);
    assert_eq!(resp.json(), json!({"user_id": id2}));
    assert_eq!(target.journey_requests(), 4);
}

#[test]
fn signup_needs_an_email() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    for (body, reason) in [
        (json!({"name": "Ann"}), "email is required"),
        (json!({"email": "ann.example.com"}), "'@'"),
        (json!({"email": 5}), "bad JSON"),
    ] {
        let resp = c.post_json("/signup", &[], &body);
        assert_eq!(resp.status, 400, "{body}");
        assert!(resp.error().contains(reason), "{body}: {}", resp.error());
    }
    let resp = c.send("POST", "/signup", &[], b"{not json");
    assert_eq!(resp.status, 400);
    assert!(resp.error().contains("bad JSON"), "{}", resp.error());
    // Wrong method.
    let resp = c.get("/signup", &[]);
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("POST"));
}

#[test]
fn bad_or_missing_token_is_401() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let (id, token, _) = signup(&mut c);
    let forged = format!("{}.{}", id + 1, token.split_once('.').unwrap().1);
    let tampered = format!("{}x", &token[..token.len() - 1]);
    for auth in [
        None,
        Some(format!("Basic {token}")),
        Some("Bearer".to_owned()),
        Some("Bearer nonsense".to_owned()),
        Some(bearer(&forged)),
        Some(bearer(&tampered)),
    ] {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let resp = c.get("/me", &headers);
        assert_eq!(resp.status, 401, "{auth:?}");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
        assert!(!resp.error().is_empty());
        assert_eq!(resp.header("x-served-by"), Some("target-1"));

        let resp = c.send("PUT", "/picture", &headers, b"jpeg");
        assert_eq!(resp.status, 401, "{auth:?}");
        let resp = c.post_json("/verify", &headers, &json!({"user_id": id, "code": "0"}));
        assert_eq!(resp.status, 401, "{auth:?}");
    }
}

#[test]
fn verify_with_right_and_wrong_code() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let (id, token, code) = signup(&mut c);
    let auth = bearer(&token);
    let auth = [("Authorization", auth.as_str())];

    let wrong = if code == "000000" { "000001" } else { "000000" };
    let resp = c.post_json("/verify", &auth, &json!({"user_id": id, "code": wrong}));
    assert_eq!(resp.status, 422);
    assert!(resp.error().contains("code"), "{}", resp.error());

    let resp = c.post_json("/verify", &auth, &json!({"user_id": id, "code": code}));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json(), json!({"verified": true}));
    // Verifying is idempotent, and templated bodies may quote the user id.
    let resp = c.post_json(
        "/verify",
        &auth,
        &json!({"user_id": id.to_string(), "code": code}),
    );
    assert_eq!(resp.status, 200);

    // The code of one user does not verify another, and a token cannot verify someone else.
    let (id2, token2, code2) = signup(&mut c);
    let auth2 = bearer(&token2);
    let auth2 = [("Authorization", auth2.as_str())];
    if code2 != code {
        let resp = c.post_json("/verify", &auth2, &json!({"user_id": id2, "code": code}));
        assert_eq!(resp.status, 422);
    }
    let resp = c.post_json("/verify", &auth2, &json!({"user_id": id, "code": code}));
    assert_eq!(resp.status, 403);
    let resp = c.post_json("/verify", &auth2, &json!({"user_id": id2}));
    assert_eq!(resp.status, 400);
}

#[test]
fn picture_counts_the_bytes() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let (_, token, _) = signup(&mut c);
    let auth = bearer(&token);
    let auth = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "image/jpeg"),
    ];
    for len in [0usize, 1, 5000, 300_000] {
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let resp = c.send("PUT", "/picture", &auth, &body);
        assert_eq!(resp.status, 201, "{len}");
        assert_eq!(resp.json(), json!({"bytes": len}));
    }

    // Over 8 MiB: 413, and the connection stays usable.
    let big = vec![b'x'; (8 << 20) + 1];
    let resp = c.send("PUT", "/picture", &auth, &big);
    assert_eq!(resp.status, 413);
    assert!(resp.error().contains("8 MiB"), "{}", resp.error());
    let exactly = vec![b'x'; 8 << 20];
    let resp = c.send("PUT", "/picture", &auth, &exactly);
    assert_eq!(resp.status, 201);
    assert_eq!(resp.json(), json!({"bytes": 8 << 20}));

    let resp = c.send("POST", "/picture", &auth, b"x");
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("PUT"));
}

#[test]
fn stream_pages_are_cacheable() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let resp = c.get("/stream", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("cache-control"), Some("public, max-age=5"));
    let etag1 = resp.header("etag").expect("etag").to_owned();
    assert!(etag1.starts_with('"') && etag1.ends_with('"'), "{etag1}");
    let v = resp.json();
    assert_eq!(v["page"], 1);
    assert_eq!(v["next"], 2);
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert_eq!(items[0], json!({"id": 1, "title": "Item 1"}));

    // Same page, same content and tag; another page, another tag.
    let again = c.get("/stream?page=1", &[]);
    assert_eq!(again.body, resp.body);
    assert_eq!(again.header("etag"), Some(etag1.as_str()));
    let page2 = c.get("/stream?page=2", &[]);
    let etag2 = page2.header("etag").unwrap().to_owned();
    assert_ne!(etag2, etag1);
    assert_eq!(page2.json()["items"][0]["id"], 21);
    assert_eq!(page2.json()["next"], 3);

    // A matching If-None-Match: 304 with no body, same validators.
    let resp = c.get("/stream?page=1", &[("If-None-Match", &etag1)]);
    assert_eq!(resp.status, 304);
    assert!(resp.body.is_empty());
    assert_eq!(resp.header("etag"), Some(etag1.as_str()));
    assert_eq!(resp.header("cache-control"), Some("public, max-age=5"));
    assert_eq!(resp.header("x-served-by"), Some("target-1"));
    // A tag of another page does not match.
    let resp = c.get("/stream?page=1", &[("If-None-Match", &etag2)]);
    assert_eq!(resp.status, 200);
    // The connection is still in step after the 304.
    assert_eq!(c.get("/stream?page=2", &[]).status, 200);

    // A fresh target (another secret) serves the same tags: caches work across instances.
    let other = start_default();
    let resp = Client::connect(other.addrs()[0]).get("/stream?page=2", &[]);
    assert_eq!(resp.header("etag"), Some(etag2.as_str()));

    for bad in ["page=0", "page=x", "page="] {
        let resp = c.get(&format!("/stream?{bad}"), &[]);
        assert_eq!(resp.status, 400, "{bad}");
        assert!(resp.error().contains("page"), "{}", resp.error());
    }
}

#[test]
fn checkin_answers_the_device() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let resp = c.post_json(
        "/checkin",
        &[],
        &json!({"device_id": "dev-42", "battery": 0.8, "os": {"name": "android"}}),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json(),
        json!({"device_id": "dev-42", "next_checkin_s": 10, "commands": []})
    );
    for body in [json!({}), json!({"device_id": ""}), json!({"battery": 1})] {
        let resp = c.post_json("/checkin", &[], &body);
        assert_eq!(resp.status, 400, "{body}");
        assert!(resp.error().contains("device_id"), "{}", resp.error());
    }
}

/// The `sid` value of a `Set-Cookie: sid=...; ...` header.
fn set_cookie_sid(resp: &Resp) -> String {
    let cookie = resp.header("set-cookie").expect("set-cookie");
    let (first, attrs) = cookie.split_once(';').expect("cookie attributes");
    assert_eq!(attrs.trim(), "Path=/; HttpOnly");
    first.strip_prefix("sid=").expect("sid cookie").to_owned()
}

#[test]
fn session_cookie_new_then_same() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let resp = c.get("/session", &[]);
    assert_eq!(resp.status, 200);
    let sid = set_cookie_sid(&resp);
    assert_eq!(resp.json(), json!({"sid": sid, "new": true}));

    // Sent back: the same session, no new cookie.
    let cookie = format!("theme=dark; sid={sid}");
    for _ in 0..3 {
        let resp = c.get("/session", &[("Cookie", &cookie)]);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.json(), json!({"sid": sid, "new": false}));
        assert_eq!(resp.header("set-cookie"), None);
    }
}

#[test]
fn two_clients_get_different_sessions() {
    let mut config = TargetConfig::new("127.0.0.1:0".parse().unwrap());
    config.instances = 2;
    let target = TargetHandle::start(config).unwrap();
    let mut sids: Vec<String> = Vec::new();
    for addr in target.addrs().iter().chain(target.addrs()) {
        let resp = Client::connect(*addr).get("/session", &[]);
        assert_eq!(resp.json()["new"], true);
        sids.push(set_cookie_sid(&resp));
    }
    let mut unique = sids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sids.len(), "{sids:?}");
}

#[test]
fn tokens_work_on_every_instance() {
    let mut config = TargetConfig::new("127.0.0.1:0".parse().unwrap());
    config.instances = 2;
    let target = TargetHandle::start(config).unwrap();
    let (id, token, _) = signup(&mut Client::connect(target.addrs()[0]));
    let resp = Client::connect(target.addrs()[1]).get("/me", &[("Authorization", &bearer(&token))]);
    assert_eq!(resp.json(), json!({"user_id": id}));
    assert_eq!(resp.header("x-served-by"), Some("target-2"));
}

#[test]
fn knobs_and_faults_apply() {
    let target = start_default();
    let mut c = Client::connect(target.addrs()[0]);
    let t = Instant::now();
    let resp = c.get("/stream?page=3&delay=60ms", &[]);
    assert_eq!(resp.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(60),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(resp.json()["page"], 3);

    let resp = c.post_json("/checkin?status=503", &[], &json!({"device_id": "d"}));
    assert_eq!(resp.status, 503);
    assert_eq!(resp.error(), "injected status 503");

    let resp = c.get("/session?delay=soon", &[]);
    assert_eq!(resp.status, 400);
    assert!(resp.error().contains("delay"), "{}", resp.error());

    // An instance error rate answers journeys too.
    let mut config = TargetConfig::new("127.0.0.1:0".parse().unwrap());
    config.default_profile = FaultProfile {
        error_rate: 1.0,
        ..FaultProfile::default()
    };
    let flaky = TargetHandle::start(config).unwrap();
    let resp =
        Client::connect(flaky.addrs()[0]).post_json("/signup", &[], &json!({"email": "a@b"}));
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("x-served-by"), Some("target-1"));
}

/// One request on an HTTP/2 (h2c) connection: status, headers and JSON body.
async fn h2_send(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (http::response::Parts, Value) {
    let step = Duration::from_secs(4);
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let ready = tokio::time::timeout(step, client.clone().ready())
        .await
        .unwrap()
        .unwrap();
    *client = ready;
    let (resp, mut send) = client
        .send_request(req.body(()).unwrap(), body.is_empty())
        .unwrap();
    if !body.is_empty() {
        send.send_data(bytes::Bytes::copy_from_slice(body), true)
            .unwrap();
    }
    let resp = tokio::time::timeout(step, resp).await.unwrap().unwrap();
    let (parts, mut recv) = resp.into_parts();
    let mut data = Vec::new();
    while let Some(chunk) = tokio::time::timeout(step, recv.data()).await.unwrap() {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let value = if data.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&data).unwrap()
    };
    (parts, value)
}

#[tokio::test]
async fn journey_over_h2c() {
    let target = start_default();
    let tcp = tokio::net::TcpStream::connect(target.addrs()[0])
        .await
        .unwrap();
    let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });

    let signup = json!({"email": "h2@example.com"}).to_string();
    let (parts, v) = h2_send(&mut client, "POST", "/signup", &[], signup.as_bytes()).await;
    assert_eq!(parts.status, 201);
    assert_eq!(parts.headers["x-protocol"], "HTTP/2");
    let token = v["token"].as_str().unwrap().to_owned();
    let auth = bearer(&token);
    let (parts, me) = h2_send(&mut client, "GET", "/me", &[("authorization", &auth)], b"").await;
    assert_eq!(parts.status, 200);
    assert_eq!(me["user_id"], v["user_id"]);

    let (parts, v) = h2_send(&mut client, "GET", "/session", &[], b"").await;
    assert_eq!(v["new"], true);
    assert!(parts.headers.contains_key("set-cookie"));
    let sid = v["sid"].as_str().unwrap().to_owned();
    // HTTP/2 clients may send one cookie header per cookie.
    let cookie = format!("sid={sid}");
    let (_, v) = h2_send(
        &mut client,
        "GET",
        "/session",
        &[("cookie", "theme=dark"), ("cookie", &cookie)],
        b"",
    )
    .await;
    assert_eq!(v, json!({"sid": sid, "new": false}));

    let (parts, _) = h2_send(&mut client, "GET", "/stream?page=9", &[], b"").await;
    let etag = parts.headers["etag"].to_str().unwrap().to_owned();
    let (parts, v) = h2_send(
        &mut client,
        "GET",
        "/stream?page=9",
        &[("if-none-match", &etag)],
        b"",
    )
    .await;
    assert_eq!(parts.status, 304);
    assert_eq!(v, Value::Null);
}
