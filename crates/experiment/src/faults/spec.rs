//! The `--fault` syntax: `at 20s for 10s: latency 200ms`.
//!
//! After the colon comes what to inject: `down` (the proxy refuses connections and closes
//! the open ones), or a toxic of the fault proxy in words (`latency 200ms jitter 20ms`,
//! `bandwidth 100KB`, `reset_peer`, `timeout 5s`, `limit_data 10KB toxicity 0.5`) or in the
//! proxy's `--toxic` syntax (`latency=200ms,jitter=20ms`). `for DURATION` may be left
//! out: the fault then stays on until the run ends.

use std::time::Duration;

use stampede_proxy::Toxic;

/// What a fault injects.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// The proxy is disabled: connects are refused, open connections closed.
    Down,
    /// These toxics are added (one spec may hold several).
    Toxics(Vec<Toxic>),
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// The fault as written.
    pub text: String,
    /// When it is switched on, from the run's start.
    pub at: Duration,
    /// How long it stays on; `None`: until the run ends.
    pub length: Option<Duration>,
    /// What it injects.
    pub action: FaultAction,
}

impl FaultSpec {
    /// The fault's kind in one word: `down` or the (first) toxic's type.
    pub fn kind(&self) -> &'static str {
        match &self.action {
            FaultAction::Down => "down",
            FaultAction::Toxics(t) => t.first().map_or("toxic", |t| t.kind.type_name()),
        }
    }

    /// Reads `at DURATION [for DURATION]: WHAT`; the error says what is wrong, in words.
    pub fn parse(text: &str) -> Result<FaultSpec, String> {
        let (when, what) = text.split_once(':').ok_or(
            "expected 'at DURATION for DURATION: FAULT', e.g. 'at 20s for 10s: latency 200ms'",
        )?;
        let words: Vec<&str> = when.split_whitespace().collect();
        let duration = |w: &str| {
            humantime::parse_duration(w).map_err(|e| format!("'{w}' is not a duration ({e})"))
        };
        let (at, length) = match words.as_slice() {
            ["at", at] => (duration(at)?, None),
            ["at", at, "for", length] => (duration(at)?, Some(duration(length)?)),
            _ => {
                return Err(format!(
                    "'{}' should be 'at DURATION' or 'at DURATION for DURATION'",
                    when.trim()
                ))
            }
        };
        if length.is_some_and(|l| l.is_zero()) {
            return Err("'for' must be longer than zero".into());
        }
        let what = what.trim();
        let action = match what {
            "" => return Err("nothing to inject after ':' (e.g. latency 200ms, down)".into()),
            "down" => FaultAction::Down,
            _ => FaultAction::Toxics(
                Toxic::parse_spec(&toxic_spec(what)).map_err(|e| e.to_string())?,
            ),
        };
        Ok(FaultSpec {
            text: text.trim().to_owned(),
            at,
            length,
            action,
        })
    }
}

/// Words (`latency 200ms jitter 20ms`) in the proxy's `key=value,...` syntax; a spec that
/// already has `=` is kept. A toxic type alone (`reset_peer`, `timeout`) gets 0 ms.
fn toxic_spec(what: &str) -> String {
    if what.contains('=') {
        return what.to_owned();
    }
    let words: Vec<&str> = what.split_whitespace().collect();
    match words.as_slice() {
        [kind] => format!("{kind}=0ms"),
        _ => words
            .chunks(2)
            .map(|pair| pair.join("="))
            .collect::<Vec<_>>()
            .join(","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_proxy::ToxicKind;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn words_and_the_toxic_syntax() {
        let f = FaultSpec::parse("at 20s for 10s: latency 200ms").unwrap();
        assert_eq!((f.at, f.length), (s(20), Some(s(10))));
        assert_eq!(f.kind(), "latency");
        let FaultAction::Toxics(t) = &f.action else {
            panic!("{f:?}")
        };
        assert_eq!(
            t[0].kind,
            ToxicKind::Latency {
                latency_ms: 200,
                jitter_ms: 0
            }
        );
        let g = FaultSpec::parse("at 1s: latency=100ms,jitter=10ms").unwrap();
        assert_eq!(g.length, None);
        let h = FaultSpec::parse("at 1s for 2s: latency 100ms jitter 10ms").unwrap();
        assert_eq!(g.action, h.action);
        let d = FaultSpec::parse("at 500ms for 1s: down").unwrap();
        assert_eq!((&d.action, d.kind()), (&FaultAction::Down, "down"));
        let r = FaultSpec::parse("at 1s for 1s: reset_peer").unwrap();
        assert_eq!(r.kind(), "reset_peer");
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, says) in [
            ("latency 200ms", "expected 'at DURATION"),
            ("at soon for 1s: latency 1ms", "'soon' is not a duration"),
            ("in 2s: latency 1ms", "should be 'at DURATION'"),
            ("at 1s for 0s: latency 1ms", "longer than zero"),
            ("at 1s for 1s:", "nothing to inject"),
            ("at 1s for 1s: latenzy 5ms", "latenzy"),
        ] {
            let err = FaultSpec::parse(spec).unwrap_err();
            assert!(err.contains(says), "{spec}: {err}");
        }
    }
}
