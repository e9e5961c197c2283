//! The journey API: small JSON endpoints for multi-step user journeys (sign up, verify, fetch
//! the profile, upload a picture, page through a feed, check in a device, keep a cookie
//! session).
//!
//! Everything is stateless, so memory stays flat however long a soak runs: user ids and session
//! ids come from process-wide counters, and tokens, verification codes and session ids carry a
//! keyed hash (a MAC) of the id under a secret drawn at random once per process. A token is
//! `<user_id>.<16 hex digits>` and is checked by recomputing its MAC; no user is stored. All
//! targets and instances of one process share the secret, so a token issued by one instance is
//! accepted by every other.
//!
//! The MAC is SipHash-1-3 (std's [`RandomState`]) with 128 random key bits: unforgeable enough
//! for a test server, not meant to protect anything.
//!
//! ## Wire format
//!
//! | request | answer |
//! |---|---|
//! | `POST /signup` `{"email":"a@b","name":"..."}` | `201 {"user_id":N,"token":"N.<hex>","verify_code":"123456"}`; `400` without an `email` containing `@` |
//! | `POST /verify` bearer, `{"user_id":N,"code":"123456"}` | `200 {"verified":true}`; `422` wrong code; `403` token of another user; `401` bad token |
//! | `GET /me` bearer | `200 {"user_id":N}`; `401` bad token |
//! | `PUT /picture` bearer, any body | `201 {"bytes":LEN}`; `413` over 8 MiB; `401` bad token |
//! | `GET /stream?page=N` | `200 {"page":N,"items":[{"id":..,"title":".."}; 20],"next":N+1}`, `ETag`, `Cache-Control: public, max-age=5`; `304` on a matching `If-None-Match` |
//! | `POST /checkin` `{"device_id":"..."}` | `200 {"device_id":"...","next_checkin_s":10,"commands":[]}`; `400` without `device_id` |
//! | `GET /session` | `200 {"sid":"..","new":false}` with cookie `sid`; else `200 {"sid":"<new>","new":true}` and `Set-Cookie: sid=<new>; Path=/; HttpOnly` |
//!
//! Every error is `{"error":"<reason>"}`; a method other than the one listed is `405` with
//! `Allow`. Query knobs `delay`, `jitter`, `cpu` and `status` apply as on any path, as do the
//! fault profile and stalls; an injected status replaces the answer with
//! `{"error":"injected status N"}`. `size` is ignored here.

use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE, ETAG,
    IF_NONE_MATCH, SET_COOKIE, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::ResponseBody;
use crate::instance::{Instance, Stats};
use crate::knobs::{for_each_known, Knobs};
use crate::reply::apply_knobs;
use crate::TargetError;

/// `POST`: create a user.
const SIGNUP: &str = "/signup";
/// `POST` (bearer): confirm the verification code.
const VERIFY: &str = "/verify";
/// `GET` (bearer): who am I.
const ME: &str = "/me";
/// `PUT` (bearer): upload a picture.
const PICTURE: &str = "/picture";
/// `GET`: a cacheable feed page.
const STREAM: &str = "/stream";
/// `POST`: a device check-in.
const CHECKIN: &str = "/checkin";
/// `GET`: a cookie session.
const SESSION: &str = "/session";

/// Largest `/picture` upload: 8 MiB.
pub(crate) const MAX_PICTURE: u64 = 8 << 20;
/// Largest JSON request body: 64 KiB.
pub(crate) const MAX_JSON: u64 = 64 << 10;
/// Items on one `/stream` page.
pub(crate) const PAGE_ITEMS: u64 = 20;
/// Highest `/stream` page number.
pub(crate) const MAX_PAGE: u64 = u32::MAX as u64;
/// `next_checkin_s` of every `/checkin` answer.
const NEXT_CHECKIN_S: u64 = 10;
/// Name of the session cookie.
const SID_COOKIE: &str = "sid";
/// `Cache-Control` of `/stream` pages.
const STREAM_CACHE_CONTROL: &str = "public, max-age=5";

/// The last user id handed out (ids start at 1).
static USER_IDS: AtomicU64 = AtomicU64::new(0);
/// The last session number handed out (numbers start at 1).
static SESSION_IDS: AtomicU64 = AtomicU64::new(0);
/// The per-process MAC key.
static SECRET: OnceLock<RandomState> = OnceLock::new();

/// Whether `path` belongs to the journey API.
pub(crate) fn is_journey_path(path: &str) -> bool {
    matches!(
        path,
        SIGNUP | VERIFY | ME | PICTURE | STREAM | CHECKIN | SESSION
    )
}

/// The keyed hash of `id` in the domain `what` (`"token"`, `"verify"`, `"sid"`).
fn mac(what: &str, id: u64) -> u64 {
    SECRET.get_or_init(RandomState::new).hash_one((what, id))
}

/// The bearer token of user `id`: `<id>.<16 hex digits>`.
pub(crate) fn token_for(id: u64) -> String {
    format!("{id}.{:016x}", mac("token", id))
}

/// The user a token belongs to, if its MAC is right.
pub(crate) fn user_of_token(token: &str) -> Option<u64> {
    let (digits, _) = token.split_once('.')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u64 = digits.parse().ok()?;
    // Comparing whole tokens also rejects `042.<tag of 42>`.
    (token == token_for(id)).then_some(id)
}

/// The six-digit verification code of user `id`.
pub(crate) fn verify_code_for(id: u64) -> String {
    format!("{:06}", mac("verify", id) % 1_000_000)
}

/// A fresh session id: `<n>.<16 hex digits>`, unique within the process.
fn new_sid() -> String {
    let n = SESSION_IDS.fetch_add(1, Ordering::Relaxed) + 1;
    format!("{n}.{:016x}", mac("sid", n))
}

/// Answers a request on a journey path.
///
/// Order: read the body (bounded), check the method and knobs, wait out the delay and burn
/// the CPU, draw injected errors, then run the endpoint.
pub(crate) async fn respond(
    instance: &Instance,
    req: Request<Incoming>,
    received: Instant,
) -> Result<Response<ResponseBody>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let knobs = Knobs::parse(parts.uri.query());
    let limit = if path == PICTURE {
        MAX_PICTURE
    } else {
        MAX_JSON
    };
    let body = read_bounded(body, limit, &instance.stats).await?;
    instance
        .stats
        .journey_requests
        .fetch_add(1, Ordering::Relaxed);

    let allowed: &[Method] = match path {
        SIGNUP | VERIFY | CHECKIN => &[Method::POST],
        PICTURE => &[Method::PUT],
        _ => &[Method::GET, Method::HEAD],
    };
    if !allowed.contains(&parts.method) {
        let mut resp = error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{path} takes {}", allowed[0]),
        );
        let allow = if allowed.len() > 1 {
            "GET, HEAD"
        } else {
            allowed[0].as_str()
        };
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
        return Ok(resp);
    }
    let knobs = match knobs {
        Ok(k) => k,
        Err(e) => return Ok(error(StatusCode::BAD_REQUEST, e.to_string())),
    };
    if let Some(status) = apply_knobs(instance, &knobs, received).await {
        return Ok(error(
            status,
            format!("injected status {}", status.as_u16()),
        ));
    }

    let body = match body {
        Bounded::Within(bytes) => bytes,
        Bounded::TooLarge(_) => {
            return Ok(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {}", human_limit(limit)),
            ))
        }
    };
    let answer = match path {
        SIGNUP => signup(&body),
        VERIFY => verify(&parts.headers, &body),
        ME => me(&parts.headers),
        PICTURE => picture(&parts.headers, &body),
        STREAM => stream(parts.uri.query(), &parts.headers),
        CHECKIN => checkin(&body),
        _ => Ok(session(&parts.headers)),
    };
    Ok(answer.unwrap_or_else(Reject::into_response))
}

/// `POST /signup`.
fn signup(body: &[u8]) -> Result<Response<ResponseBody>, Reject> {
    // `name` and any other field are accepted and ignored.
    #[derive(Deserialize)]
    struct Signup {
        email: Option<String>,
    }
    let signup: Signup = parse_json(body)?;
    match signup.email {
        Some(email) if email.contains('@') => {}
        Some(_) => return Err(Reject::bad_request("email must contain '@'")),
        None => return Err(Reject::bad_request("email is required")),
    }
    let id = USER_IDS.fetch_add(1, Ordering::Relaxed) + 1;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({
            "user_id": id,
            "token": token_for(id),
            "verify_code": verify_code_for(id),
        }),
    ))
}

/// `POST /verify`.
fn verify(headers: &HeaderMap, body: &[u8]) -> Result<Response<ResponseBody>, Reject> {
    // Numbers may come as JSON numbers or strings (templates often quote them).
    #[derive(Deserialize)]
    struct Verify {
        user_id: Option<Value>,
        code: Option<Value>,
    }
    let user = authenticate(headers)?;
    let verify: Verify = parse_json(body)?;
    match verify.user_id.as_ref().map(as_u64) {
        None => {}
        Some(Some(id)) if id == user => {}
        Some(Some(_)) => {
            return Err(Reject::new(
                StatusCode::FORBIDDEN,
                format!("the token belongs to user {user}"),
            ))
        }
        Some(None) => return Err(Reject::bad_request("user_id must be a number")),
    }
    let code = match verify.code {
        None => return Err(Reject::bad_request("code is required")),
        Some(Value::String(code)) => code,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) => format!("{n:06}"),
            None => n.to_string(),
        },
        Some(_) => return Err(Reject::bad_request("code must be a string")),
    };
    if code == verify_code_for(user) {
        Ok(json_response(StatusCode::OK, &json!({ "verified": true })))
    } else {
        Err(Reject::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong verification code",
        ))
    }
}

/// A JSON number or a string of digits as a `u64`.
fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

/// `GET /me`.
fn me(headers: &HeaderMap) -> Result<Response<ResponseBody>, Reject> {
    let user = authenticate(headers)?;
    Ok(json_response(StatusCode::OK, &json!({ "user_id": user })))
}

/// `PUT /picture` (the body was read and is within the limit).
fn picture(headers: &HeaderMap, body: &[u8]) -> Result<Response<ResponseBody>, Reject> {
    authenticate(headers)?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "bytes": body.len() }),
    ))
}

/// `GET /stream?page=N`.
fn stream(query: Option<&str>, headers: &HeaderMap) -> Result<Response<ResponseBody>, Reject> {
    let page = parse_page(query).map_err(|e| Reject::bad_request(e.to_string()))?;
    let (body, etag) = stream_page(page);
    let etag = HeaderValue::from_str(&etag).expect("hex in quotes is a valid header value");
    let mut resp = if if_none_match(headers, &etag) {
        let mut resp = Response::new(ResponseBody::full(Bytes::new()));
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        resp
    } else {
        json_body(StatusCode::OK, body)
    };
    let h = resp.headers_mut();
    h.insert(ETAG, etag);
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(STREAM_CACHE_CONTROL),
    );
    Ok(resp)
}

/// The `page` query parameter: 1 without one, at most [`MAX_PAGE`].
pub(crate) fn parse_page(query: Option<&str>) -> Result<u64, TargetError> {
    let mut page = 1;
    for_each_known(query, &["page"], |key, value| {
        page = match value.parse::<u64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(TargetError::invalid(
                    key,
                    value,
                    format!("pages are numbered 1..={MAX_PAGE}"),
                ))
            }
        };
        Ok(())
    })?;
    Ok(page)
}

/// The JSON body of stream page `page` and its strong entity tag (quoted). The content, and
/// so the tag, depends only on the page number: every instance and every process agrees.
pub(crate) fn stream_page(page: u64) -> (Bytes, String) {
    let first = (page - 1) * PAGE_ITEMS + 1;
    let items: Vec<Value> = (first..first + PAGE_ITEMS)
        .map(|id| json!({ "id": id, "title": format!("Item {id}") }))
        .collect();
    let body = json!({ "page": page, "items": items, "next": page + 1 }).to_string();
    let etag = format!("\"{:016x}\"", fnv1a(body.as_bytes()));
    (Bytes::from(body), etag)
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison, as RFC 9110 asks for
/// this header; `*` matches).
fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == ours)
}

/// 64-bit FNV-1a: a fixed hash for entity tags.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `POST /checkin`.
fn checkin(body: &[u8]) -> Result<Response<ResponseBody>, Reject> {
    // Other fields (battery, app version, ...) are accepted and ignored.
    #[derive(Deserialize)]
    struct Checkin {
        device_id: Option<Value>,
    }
    let checkin: Checkin = parse_json(body)?;
    let device = match checkin.device_id {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if device.is_empty() {
        return Err(Reject::bad_request("device_id is required"));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "device_id": device,
            "next_checkin_s": NEXT_CHECKIN_S,
            "commands": [],
        }),
    ))
}

/// `GET /session`.
fn session(headers: &HeaderMap) -> Response<ResponseBody> {
    if let Some(sid) = cookie(headers, SID_COOKIE) {
        return json_response(StatusCode::OK, &json!({ "sid": sid, "new": false }));
    }
    let sid = new_sid();
    let mut resp = json_response(StatusCode::OK, &json!({ "sid": sid, "new": true }));
    let cookie = HeaderValue::from_str(&format!("{SID_COOKIE}={sid}; Path=/; HttpOnly"))
        .expect("digits, a dot and hex are a valid header value");
    resp.headers_mut().insert(SET_COOKIE, cookie);
    resp
}

/// The value of cookie `name` (the first non-empty one), from every `Cookie` header (HTTP/2
/// clients may send one header per cookie).
pub(crate) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// The user of the request's bearer token, or the `401` to answer.
fn authenticate(headers: &HeaderMap) -> Result<u64, Reject> {
    let unauthorized = |reason: &'static str| Reject::new(StatusCode::UNAUTHORIZED, reason);
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(unauthorized("an Authorization: Bearer token is required"));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match token {
        None => Err(unauthorized("the Authorization scheme must be Bearer")),
        Some(token) => user_of_token(token).ok_or_else(|| unauthorized("invalid token")),
    }
}

/// Parses a JSON request body.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reject> {
    serde_json::from_slice(body).map_err(|e| Reject::bad_request(format!("bad JSON body: {e}")))
}

/// A request the journey API refuses: answered `{"error": reason}` with `status`.
#[derive(Debug)]
struct Reject {
    status: StatusCode,
    reason: Cow<'static, str>,
}

impl Reject {
    fn new(status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Self {
        Reject {
            status,
            reason: reason.into(),
        }
    }

    fn bad_request(reason: impl Into<Cow<'static, str>>) -> Self {
        Reject::new(StatusCode::BAD_REQUEST, reason)
    }

    /// The error response; a `401` also carries `WWW-Authenticate: Bearer`.
    fn into_response(self) -> Response<ResponseBody> {
        let mut resp = error(self.status, &self.reason);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// `{"error": reason}` with `status`.
fn error(status: StatusCode, reason: impl AsRef<str>) -> Response<ResponseBody> {
    json_response(status, &json!({ "error": reason.as_ref() }))
}

/// `value` as an `application/json` response with `status`.
fn json_response(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    json_body(status, Bytes::from(value.to_string()))
}

fn json_body(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A byte limit as people write it (`8 MiB`, `64 KiB`).
fn human_limit(limit: u64) -> String {
    if limit >= 1 << 20 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{} KiB", limit >> 10)
    }
}

/// A request body read up to a limit.
#[derive(Debug, PartialEq)]
enum Bounded {
    /// The whole body.
    Within(Bytes),
    /// Longer than the limit: this many bytes were read and discarded.
    TooLarge(u64),
}

/// Reads the whole body, counting its bytes, keeping it only while it is within `limit`: a
/// larger body is read to the end (so the connection stays usable) but not kept.
async fn read_bounded(
    mut body: Incoming,
    limit: u64,
    stats: &Stats,
) -> Result<Bounded, hyper::Error> {
    let mut total = 0u64;
    let mut kept = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers
        };
        total += data.len() as u64;
        stats
            .body_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if total <= limit {
            kept.extend_from_slice(&data);
        } else if !kept.is_empty() {
            kept = BytesMut::new(); // free it at once
        }
    }
    Ok(if total > limit {
        Bounded::TooLarge(total)
    } else {
        Bounded::Within(kept.freeze())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_statelessly() {
        let token = token_for(42);
        assert!(token.starts_with("42."), "{token}");
        assert_eq!(token.len(), "42.".len() + 16);
        assert_eq!(user_of_token(&token), Some(42));
        assert_eq!(user_of_token(&token.replace("42.", "43.")), None);
        let last = if token.ends_with('0') { '1' } else { '0' };
        let tampered = format!("{}{last}", &token[..token.len() - 1]);
        assert_eq!(user_of_token(&tampered), None);
        assert_eq!(user_of_token(&format!("0{token}")), None);
        assert_eq!(user_of_token(&format!("{token} ")), None);
        for bad in ["", ".", "42", "42.", "x.0123456789abcdef", "+42.0", "-1.00"] {
            assert_eq!(user_of_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn verify_codes_are_six_digits_and_stable() {
        for id in 1..50 {
            let code = verify_code_for(id);
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
            assert_eq!(code, verify_code_for(id));
        }
    }

    #[test]
    fn session_ids_are_unique() {
        let a = new_sid();
        let b = new_sid();
        assert_ne!(a, b);
        assert!(HeaderValue::from_str(&a).is_ok());
    }

    #[test]
    fn numbers_may_be_strings() {
        assert_eq!(as_u64(&json!(7)), Some(7));
        assert_eq!(as_u64(&json!("7")), Some(7));
        for bad in [json!(-1), json!(1.5), json!(""), json!("7a"), json!(null)] {
            assert_eq!(as_u64(&bad), None, "{bad}");
        }
    }

    #[test]
    fn page_parses() {
        assert_eq!(parse_page(None).unwrap(), 1);
        assert_eq!(parse_page(Some("delay=1ms&page=7")).unwrap(), 7);
        for q in ["page=0", "page=x", "page=", "page=-1", "page=4294967296"] {
            let e = parse_page(Some(q)).unwrap_err().to_string();
            assert!(e.contains("page"), "{q}: {e}");
        }
    }

    #[test]
    fn stream_pages_are_deterministic() {
        let (body, etag) = stream_page(3);
        assert_eq!(stream_page(3), (body.clone(), etag.clone()));
        assert_ne!(stream_page(4).1, etag);
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["page"], 3);
        assert_eq!(v["next"], 4);
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), PAGE_ITEMS as usize);
        assert_eq!(items[0]["id"], 41);
        assert_eq!(items[0]["title"], "Item 41");
        assert_eq!(items[19]["id"], 60);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let etag = HeaderValue::from_static("\"abc\"");
        let check = |values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(IF_NONE_MATCH, HeaderValue::from_static(v));
            }
            if_none_match(&h, &etag)
        };
        assert!(!check(&[]));
        assert!(check(&["\"abc\""]));
        assert!(check(&["W/\"abc\""]));
        assert!(check(&["\"x\", \"abc\""]));
        assert!(check(&["\"x\"", "\"abc\""]));
        assert!(check(&["*"]));
        assert!(!check(&["\"abcd\""]));
        assert!(!check(&["abc"]));
    }

    #[test]
    fn cookies_are_found_in_any_header() {
        let mut h = HeaderMap::new();
        assert_eq!(cookie(&h, "sid"), None);
        h.append(COOKIE, HeaderValue::from_static("a=1; sidx=2; sid="));
        assert_eq!(cookie(&h, "sid"), None);
        h.append(COOKIE, HeaderValue::from_static("b=2;sid=7.ab"));
        assert_eq!(cookie(&h, "sid"), Some("7.ab"));
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(human_limit(MAX_PICTURE), "8 MiB");
        assert_eq!(human_limit(MAX_JSON), "64 KiB");
    }
}
