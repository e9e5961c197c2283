//! A journey's steps, run in order by one virtual user: requests (render, send, record,
//! cookies, checks, extraction), think times and groups; the WebSocket steps are in
//! [`super::ws`].

use std::rc::Rc;
use std::time::{Duration, Instant};

use stampede_metrics::ErrorClass;
use stampede_plan::scenario::{RequestStep, ThinkTime};
use stampede_plan::{ResponseView, VarId};
use stampede_proto::link::{PreparedRequest, Slot};

use super::flow::{fail_step, missing, Flow};
use super::vu::Vu;
use super::ws::{close_ws, ws_connect, ws_expect, ws_send};
use super::{JourneyRuntime, Op, RequestOp, TargetRuntime, KEPT_BODY_LIMIT};
use crate::request::{perform, Outcome, StepRequest};
use crate::state::{LocalRef, Shared};

/// Runs steps in order. `intended` is the first request's scheduled time (open model).
pub(super) async fn run_ops(
    shared: &Shared,
    local: &LocalRef,
    rt: &JourneyRuntime,
    vu: &mut Vu,
    ops: &[Op],
    mut intended: Option<Instant>,
) -> Flow {
    // An open-model arrival due before the end still starts when it is late, as a
    // scheduled request of a plain run does (its lateness shows in its latency); only an
    // abort stops its first step. Later steps stop with the run.
    let mut first = intended.is_some();
    for op in ops {
        let stop = if first {
            shared.abort.load(std::sync::atomic::Ordering::Relaxed)
        } else {
            shared.stopping(Instant::now())
        };
        first = false;
        if stop {
            return Flow::Stop;
        }
        let flow = match op {
            Op::Request(r) => request(shared, local, rt, vu, r, intended.take()).await,
            Op::Think(t) => think(shared, vu, *t).await,
            Op::WsConnect(c, group) => ws_connect(shared, local, rt, vu, c, *group).await,
            Op::WsSend(m) => ws_send(local, vu, m).await,
            Op::WsExpect(e, group) => ws_expect(local, vu, e, *group).await,
            Op::WsClose => {
                if let Some(ws) = vu.ws.take() {
                    close_ws(ws).await;
                }
                Flow::Next
            }
            Op::Group(repeat, steps) => {
                let mut flow = Flow::Next;
                for _ in 0..*repeat {
                    flow = Box::pin(run_ops(shared, local, rt, vu, steps, intended.take())).await;
                    if flow != Flow::Next {
                        break;
                    }
                }
                flow
            }
        };
        if flow != Flow::Next {
            return flow;
        }
    }
    Flow::Next
}

async fn think(shared: &Shared, vu: &mut Vu, t: ThinkTime) -> Flow {
    let pause = match t {
        ThinkTime::Fixed(d) => d,
        ThinkTime::Uniform(lo, hi) => {
            let span = hi.saturating_sub(lo).as_nanos() as u64;
            lo + Duration::from_nanos(vu.rng.u64(0..=span))
        }
        ThinkTime::Exponential(mean) => {
            // Inverse transform: -ln(U) * mean, with U in (0, 1].
            let u = 1.0 - vu.rng.f64();
            mean.mul_f64(-u.ln())
        }
    };
    let until = Instant::now() + pause;
    let stop = shared.send_until.unwrap_or(until);
    tokio::time::sleep_until(until.min(stop).into()).await;
    vu.thought += pause;
    if until > stop {
        Flow::Stop
    } else {
        Flow::Next
    }
}

/// One HTTP request step: render, send, record, store cookies, extract, check.
async fn request(
    shared: &Shared,
    local: &LocalRef,
    rt: &JourneyRuntime,
    vu: &mut Vu,
    op: &RequestOp,
    intended: Option<Instant>,
) -> Flow {
    let step = &op.step;
    let target = &rt.targets[step.target];
    if !shared.take_ticket() {
        return Flow::Stop;
    }
    let cookies = rt.journeys.cookies;
    let use_fixed = op.fixed.is_some() && (!cookies || vu.jar.is_empty_for(step.target));
    let built;
    let mut path_for_cookies = String::new();
    let req = if use_fixed {
        if cookies {
            path_for_cookies = format!(
                "{}{}",
                target.base_path,
                step.path.literal().unwrap_or_default()
            );
        }
        op.fixed.as_ref().expect("checked")
    } else {
        match build_request(rt, vu, step, target) {
            Ok((r, path)) => {
                built = r;
                path_for_cookies = path;
                &built
            }
            Err(var) => return missing(local, rt, op.group, var),
        }
    };
    let keep = step.needs_body() || cookies;
    vu.kept.body_limit = if step.needs_body() {
        KEPT_BODY_LIMIT
    } else {
        0
    };
    let slot = vu.slots[step.target].get_or_insert_with(|| {
        let cell = target
            .http2
            .then(|| Rc::new(stampede_proto::link::H2Cell::default()));
        Slot::new(cell, None)
    });
    let what = StepRequest {
        request: req,
        connector: &target.connector,
        step: op.group,
        kept: keep.then_some(&mut vu.kept),
    };
    let now = Instant::now();
    let outcome = perform(shared, local, slot, &mut vu.deadline, what, intended, now).await;
    let (status, latency) = match outcome {
        Outcome::Answered { status, latency } => (status, latency),
        failed => return after_failure(shared, vu, step, failed.backs_off()).await,
    };
    if cookies {
        for (name, value) in &vu.kept.headers {
            if name == "set-cookie" {
                vu.jar
                    .store(step.target, &path_for_cookies, value, Instant::now());
            }
        }
    }
    if !step.needs_body() {
        return Flow::Next;
    }
    let view = ResponseView::new(status, &vu.kept.headers, &vu.kept.body);
    let failed_check = step
        .checks
        .iter()
        .find_map(|c| c.evaluate(&view, latency).err().map(|why| (c, why)));
    let mut extracted = Vec::with_capacity(step.extract.len());
    let mut missing_value = None;
    for (var, ex) in &step.extract {
        match ex.apply(&view) {
            Some(v) => extracted.push((*var, v)),
            None => {
                missing_value = Some((*var, ex));
                break;
            }
        }
    }
    let mut counted = ErrorClass::for_status(status);
    if let Some((check, why)) = failed_check {
        fail_step(local, op.group, ErrorClass::CheckFailed, counted, || {
            format!("{}: {} failed: {why}", rt.keys[op.group], check.describe())
        });
        counted = counted.or(Some(ErrorClass::CheckFailed));
    }
    if let Some((var, ex)) = missing_value {
        fail_step(local, op.group, ErrorClass::ExtractFailed, counted, || {
            format!(
                "{}: {} found nothing for '{}' (status {status})",
                rt.keys[op.group],
                ex.describe(),
                rt.journeys.vars.name(var)
            )
        });
        return Flow::Abandon;
    }
    for (var, v) in extracted {
        vu.vars[var.0 as usize] = Some(v);
    }
    Flow::Next
}

/// After a request that got no response: a step that extracts ends the iteration, as a
/// failed extraction does (later steps would send stale or missing values); the failure
/// itself is already counted. A closed-lane user whose request failed before a first
/// response on a new connection backs off first, so a refusing or resetting service is
/// not hit in a tight loop.
async fn after_failure(shared: &Shared, vu: &mut Vu, step: &RequestStep, backs_off: bool) -> Flow {
    if backs_off {
        if let Some(b) = vu.backoff.as_mut() {
            b.sleep(shared).await;
        }
    }
    if step.extract.is_empty() {
        Flow::Next
    } else {
        Flow::Abandon
    }
}

/// Renders a templated request; also returns its path (for cookie matching).
fn build_request(
    rt: &JourneyRuntime,
    vu: &mut Vu,
    step: &RequestStep,
    target: &TargetRuntime,
) -> Result<(PreparedRequest, String), VarId> {
    let mut path = target.base_path.clone();
    let mut scratch = std::mem::take(&mut vu.scratch);
    scratch.clear();
    vu.render_into(&step.path, &mut scratch)?;
    path.push_str(&String::from_utf8_lossy(&scratch));
    let mut headers: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, value) in rt.journeys.targets[step.target]
        .headers
        .iter()
        .chain(&step.headers)
    {
        let mut v = Vec::new();
        vu.render_into(value, &mut v)?;
        headers.push((name.as_str(), v));
    }
    if rt.journeys.cookies {
        if let Some(c) = vu.jar.header(step.target, &path, Instant::now()) {
            headers.push(("Cookie", c.into_bytes()));
        }
    }
    let mut body = Vec::new();
    if let Some(b) = &step.body {
        vu.render_into(b, &mut body)?;
    }
    vu.scratch = scratch;
    let req = PreparedRequest::from_parts(
        target.tls,
        &target.authority,
        &step.method,
        &path,
        headers.iter().map(|(n, v)| (*n, v.as_slice())),
        body,
        target.http2,
        rt.keep_alive,
    );
    Ok((req, path))
}
