//! A journey's WebSocket steps: connect (the upgrade), send, expect a message, close.

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use stampede_metrics::{ErrorClass, Protocol};
use stampede_plan::scenario::{WsConnectStep, WsExpectStep};
use stampede_plan::{Extractor, ResponseView, Template, VarId};
use stampede_proto::ws::{self, WsConn, WsRequest};
use tokio_tungstenite::tungstenite::Message;

use super::flow::{fail_step, missing, Flow};
use super::vu::Vu;
use super::JourneyRuntime;
use crate::state::{LocalOpen, LocalRef, Shared};

pub(super) async fn ws_connect(
    shared: &Shared,
    local: &LocalRef,
    rt: &JourneyRuntime,
    vu: &mut Vu,
    step: &WsConnectStep,
    group: usize,
) -> Flow {
    if let Some(ws) = vu.ws.take() {
        close_ws(ws).await;
    }
    let target = &rt.targets[step.target];
    let path = match vu.render(&step.path) {
        Ok(p) => p,
        Err(var) => return missing(local, rt, group, var),
    };
    let mut headers = Vec::new();
    for (name, value) in rt.journeys.targets[step.target]
        .headers
        .iter()
        .chain(&step.headers)
    {
        match vu.render(value) {
            Ok(v) => headers.push((name.clone(), v)),
            Err(var) => return missing(local, rt, group, var),
        }
    }
    let url = format!("{}{}{}", target.ws_origin, target.base_path, path);
    let request = WsRequest::for_user(url, target.authority.clone(), headers);
    let connector = target.ws_connector.as_ref().unwrap_or(&target.connector);
    let started = Instant::now();
    // Boxed: connecting and upgrading is rare and its state is large.
    let opened = tokio::time::timeout(
        shared.timeout,
        Box::pin(ws::open(connector, &request, &mut LocalOpen(local))),
    )
    .await;
    let mut l = local.borrow_mut();
    l.snap.generator.sends += 1;
    match opened {
        Ok(Ok((ws, upgrade))) => {
            let took = started.elapsed();
            l.record(Some(group), |s| {
                s.record_response(101, took, took);
                s.upgrade.record(upgrade);
                s.protocols.add(Protocol::WebSocket);
            });
            vu.ws = Some(ws);
            Flow::Next
        }
        Ok(Err(f)) => {
            l.record(Some(group), |s| s.record_error(f.class));
            l.sample(f.class, f.detail);
            Flow::Abandon
        }
        Err(_) => {
            l.record(Some(group), |s| s.record_timeout());
            Flow::Abandon
        }
    }
}

pub(super) async fn ws_send(local: &LocalRef, vu: &mut Vu, message: &Template) -> Flow {
    let text = match vu.render(message) {
        Ok(t) => t,
        Err(_) => return Flow::Abandon,
    };
    let Some(ws) = vu.ws.as_mut() else {
        return Flow::Abandon;
    };
    let len = text.len() as u64;
    vu.ws_sent = Some(Instant::now());
    match ws.socket().send(Message::text(text)).await {
        Ok(()) => {
            local.borrow_mut().record(None, |s| s.bytes_sent += len);
            Flow::Next
        }
        Err(e) => {
            let mut l = local.borrow_mut();
            l.record(None, |s| s.record_error(ErrorClass::WsDropped));
            l.sample(ErrorClass::WsDropped, Some(format!("WebSocket send: {e}")));
            vu.ws = None;
            Flow::Abandon
        }
    }
}

pub(super) async fn ws_expect(
    local: &LocalRef,
    vu: &mut Vu,
    step: &WsExpectStep,
    group: usize,
) -> Flow {
    let Some(ws) = vu.ws.as_mut() else {
        return Flow::Abandon;
    };
    let started = vu.ws_sent.take().unwrap_or_else(Instant::now);
    let deadline = Instant::now() + step.timeout;
    loop {
        let next = tokio::time::timeout_at(deadline.into(), ws.socket().next()).await;
        let data = match next {
            Err(_) => {
                local
                    .borrow_mut()
                    .record(Some(group), |s| s.record_timeout());
                return Flow::Abandon;
            }
            Ok(Some(Ok(Message::Text(t)))) => t.as_bytes().to_vec(),
            Ok(Some(Ok(Message::Binary(b)))) => b.to_vec(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                let mut l = local.borrow_mut();
                l.record(Some(group), |s| s.record_error(ErrorClass::WsDropped));
                l.sample(
                    ErrorClass::WsDropped,
                    Some("WebSocket closed while a message was expected".into()),
                );
                vu.ws = None;
                return Flow::Abandon;
            }
            Ok(Some(Ok(_))) => continue,
        };
        let now = Instant::now();
        let rtt = now - started;
        let view = ResponseView::new(200, &[], &data);
        if !step.matches.iter().all(|c| c.evaluate(&view, rtt).is_ok()) {
            continue;
        }
        let values: Vec<(VarId, Option<String>)> = step
            .extract
            .iter()
            .map(|(var, ex): &(VarId, Extractor)| (*var, ex.apply(&view)))
            .collect();
        let len = data.len() as u64;
        local.borrow_mut().record(Some(group), |s| {
            s.record_message(rtt, rtt);
            s.bytes_received += len;
        });
        for (var, v) in values {
            match v {
                Some(v) => vu.vars[var.0 as usize] = Some(v),
                None => {
                    fail_step(local, group, ErrorClass::ExtractFailed, None, || {
                        "WebSocket message: nothing to extract".to_string()
                    });
                    return Flow::Abandon;
                }
            }
        }
        return Flow::Next;
    }
}

pub(super) async fn close_ws(ws: WsConn) {
    Box::pin(ws.close()).await;
}
