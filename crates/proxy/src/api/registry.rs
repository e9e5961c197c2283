//! The proxies the API manages, and each API operation on them, with Toxiproxy's JSON shapes,
//! status codes and error messages.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use crate::{Proxy, ProxyError, Stream, Toxic, ToxicKind};

/// An API error: Toxiproxy's `{"error": "...", "status": N}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Toxiproxy's message, with the detail after a colon.
    pub message: String,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_body(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(400, format!("bad request body: {detail}"))
    }

    fn proxy_not_found(name: &str) -> ApiError {
        ApiError::new(404, format!("proxy not found: {name}"))
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.message, "status": self.status})
    }
}

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> ApiError {
        let message = match &e {
            ProxyError::BadToxic(d) => format!("bad request body: {d}"),
            ProxyError::InvalidToxicType(t) => format!("invalid toxic type: {t}"),
            ProxyError::ToxicExists(_) => "toxic already exists".to_string(),
            ProxyError::ToxicNotFound(_) => "toxic not found".to_string(),
            other => other.to_string(),
        };
        ApiError::new(e.http_status(), message)
    }
}

/// A successful answer: status and JSON body (`None`: no body, 204).
pub type Answer = Result<(u16, Option<Value>), ApiError>;

/// Toxiproxy's proxy fields as clients send them.
#[derive(Deserialize)]
struct ProxyInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    listen: Option<String>,
    #[serde(default)]
    upstream: String,
    #[serde(default)]
    enabled: Option<bool>,
}

/// The proxies, by name.
#[derive(Debug, Default)]
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Proxy>>,
}

fn proxy_json(p: &Proxy) -> Value {
    json!({
        "name": p.name(),
        "listen": p.listen_addr().to_string(),
        "upstream": p.upstream(),
        "enabled": p.enabled(),
        "toxics": p.toxics(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(ApiError::bad_body)
}

async fn listen_addr(listen: Option<&str>) -> Result<SocketAddr, ApiError> {
    // Toxiproxy's default listen address is any free port on localhost.
    let listen = listen.filter(|l| !l.is_empty()).unwrap_or("127.0.0.1:0");
    tokio::net::lookup_host(listen)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ApiError::bad_body(format!("listen `{listen}` is not a host:port")))
}

fn check_input(p: &ProxyInput, at: &str) -> Result<(), ApiError> {
    if p.name.is_empty() {
        return Err(ApiError::new(
            400,
            format!("missing required field: name{at}"),
        ));
    }
    if p.upstream.is_empty() {
        return Err(ApiError::new(
            400,
            format!("missing required field: upstream{at}"),
        ));
    }
    Ok(())
}

async fn start(p: &ProxyInput) -> Result<Proxy, ApiError> {
    let addr = listen_addr(p.listen.as_deref()).await?;
    let proxy = Proxy::start(&p.name, addr, p.upstream.clone()).await?;
    if p.enabled == Some(false) {
        proxy.set_enabled(false);
    }
    Ok(proxy)
}

impl Registry {
    /// Adds a proxy started outside the API (the standalone `--listen` form), so that the API
    /// lists and controls it too.
    pub async fn insert(&self, proxy: Proxy) -> Result<(), ApiError> {
        let mut all = self.proxies.lock().await;
        if all.contains_key(proxy.name()) {
            return Err(ApiError::new(409, "proxy already exists"));
        }
        all.insert(proxy.name().to_string(), proxy);
        Ok(())
    }

    /// Stops every proxy.
    pub async fn shutdown(&self) {
        let all = std::mem::take(&mut *self.proxies.lock().await);
        for (_, p) in all {
            p.shutdown().await;
        }
    }

    /// `GET /proxies`: an object by name.
    pub async fn list(&self) -> Answer {
        let all = self.proxies.lock().await;
        let map: Map<String, Value> = all
            .iter()
            .map(|(n, p)| (n.clone(), proxy_json(p)))
            .collect();
        Ok((200, Some(Value::Object(map))))
    }

    /// `POST /proxies`.
    pub async fn create(&self, body: &[u8]) -> Answer {
        let input: ProxyInput = parse(body)?;
        check_input(&input, "")?;
        let mut all = self.proxies.lock().await;
        if all.contains_key(&input.name) {
            return Err(ApiError::new(409, "proxy already exists"));
        }
        let proxy = start(&input).await?;
        let out = proxy_json(&proxy);
        all.insert(input.name, proxy);
        Ok((201, Some(out)))
    }

    /// `POST /populate`: creates, or replaces those that differ, and answers
    /// `{"proxies": [...]}`; on an error, the error's status with the proxies done so far.
    pub async fn populate(&self, body: &[u8]) -> Answer {
        let inputs: Vec<ProxyInput> = parse(body)?;
        for (i, p) in inputs.iter().enumerate() {
            check_input(p, &format!(" at proxy {}", i + 1))?;
        }
        let mut all = self.proxies.lock().await;
        let mut done = Vec::new();
        for input in &inputs {
            if let Some(existing) = all.get(&input.name) {
                let same_listen = match input.listen.as_deref() {
                    Some(l) if !l.is_empty() => {
                        listen_addr(Some(l)).await? == existing.listen_addr()
                    }
                    _ => true,
                };
                if same_listen && existing.upstream() == input.upstream {
                    done.push(proxy_json(existing));
                    continue;
                }
                if let Some(old) = all.remove(&input.name) {
                    old.shutdown().await;
                }
            }
            match start(input).await {
                Ok(p) => {
                    done.push(proxy_json(&p));
                    all.insert(input.name.clone(), p);
                }
                Err(e) => {
                    let mut body = e.body();
                    body["proxies"] = Value::Array(done);
                    return Ok((e.status, Some(body)));
                }
            }
        }
        Ok((201, Some(json!({ "proxies": done }))))
    }

    /// `GET /proxies/{name}`.
    pub async fn get(&self, name: &str) -> Answer {
        let all = self.proxies.lock().await;
        let p = all
            .get(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        Ok((200, Some(proxy_json(p))))
    }

    /// `POST`/`PATCH /proxies/{name}`: listen, upstream, enabled. A changed listen or
    /// upstream restarts the proxy (its toxics kept); a failed restart leaves the old one.
    pub async fn update(&self, name: &str, body: &[u8]) -> Answer {
        let input: ProxyInput = parse(body)?;
        let mut all = self.proxies.lock().await;
        let p = all
            .get(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        let listen = match input.listen.as_deref() {
            Some(l) if !l.is_empty() => listen_addr(Some(l)).await?,
            _ => p.listen_addr(),
        };
        let upstream = Some(input.upstream.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| p.upstream().to_string());
        let enabled = input.enabled.unwrap_or(p.enabled());
        if listen != p.listen_addr() {
            // Bind the new address first: if it is taken, the running proxy is untouched.
            let fresh = Proxy::start(name, listen, upstream).await?;
            for t in p.toxics() {
                fresh.add_toxic(t)?;
            }
            if let Some(old) = all.insert(name.to_string(), fresh) {
                old.shutdown().await;
            }
        } else if upstream != p.upstream() {
            p.set_upstream(upstream);
        }
        let p = all.get(name).expect("present");
        p.set_enabled_when_free(enabled).await?;
        Ok((200, Some(proxy_json(p))))
    }

    /// `DELETE /proxies/{name}`.
    pub async fn delete(&self, name: &str) -> Answer {
        let p = self
            .proxies
            .lock()
            .await
            .remove(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        p.shutdown().await;
        Ok((204, None))
    }

    /// `POST /reset`: every proxy enabled, every toxic removed.
    pub async fn reset(&self) -> Answer {
        let all = self.proxies.lock().await;
        for p in all.values() {
            p.set_enabled_when_free(true).await?;
            p.clear_toxics();
        }
        Ok((204, None))
    }

    /// `GET /proxies/{name}/toxics`.
    pub async fn toxics(&self, name: &str) -> Answer {
        let all = self.proxies.lock().await;
        let p = all
            .get(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        Ok((200, Some(json!(p.toxics()))))
    }

    /// `POST /proxies/{name}/toxics` (Toxiproxy answers 200 with the toxic).
    pub async fn add_toxic(&self, name: &str, body: &[u8]) -> Answer {
        let all = self.proxies.lock().await;
        let p = all
            .get(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        let v: Value = parse(body)?;
        if let Some(s) = v.get("stream").filter(|s| !s.is_null()) {
            if serde_json::from_value::<Stream>(s.clone()).is_err() {
                return Err(ApiError::new(
                    400,
                    "stream was invalid, can be either upstream or downstream",
                ));
            }
        }
        let t = Toxic::from_json_value(v)?;
        p.add_toxic(t.clone())?;
        Ok((200, Some(json!(t))))
    }

    /// `GET /proxies/{name}/toxics/{toxic}`.
    pub async fn get_toxic(&self, name: &str, toxic: &str) -> Answer {
        let all = self.proxies.lock().await;
        let p = all
            .get(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        let t = find(p, toxic)?;
        Ok((200, Some(json!(t))))
    }

    /// `POST`/`PATCH /proxies/{name}/toxics/{toxic}`: the attributes given replace those of
    /// the toxic, the others are kept; `toxicity` likewise.
    pub async fn update_toxic(&self, name: &str, toxic: &str, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        struct Update {
            #[serde(default)]
            attributes: Map<String, Value>,
            toxicity: Option<f64>,
        }
        let all = self.proxies.lock().await;
        let p = all
            .get(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        let mut t = find(p, toxic)?;
        let up: Update = parse(body)?;
        let Value::Object(mut attrs) = t.kind.attributes() else {
            unreachable!("attributes are an object")
        };
        attrs.extend(up.attributes);
        t.kind = ToxicKind::from_attributes(t.kind.type_name(), &attrs)?;
        if let Some(x) = up.toxicity {
            t.toxicity = x;
        }
        p.update_toxic(t.clone())?;
        Ok((200, Some(json!(t))))
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`.
    pub async fn delete_toxic(&self, name: &str, toxic: &str) -> Answer {
        let all = self.proxies.lock().await;
        let p = all
            .get(name)
            .ok_or_else(|| ApiError::proxy_not_found(name))?;
        p.remove_toxic(toxic)?;
        Ok((204, None))
    }
}

fn find(p: &Proxy, toxic: &str) -> Result<Toxic, ApiError> {
    p.toxics()
        .into_iter()
        .find(|t| t.name == toxic)
        .ok_or_else(|| ApiError::new(404, "toxic not found"))
}
