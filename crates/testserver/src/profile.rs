//! Server-wide fault profiles: the faults an instance injects into every request.

use std::time::Duration;

use crate::TargetError;

/// The status used for injected errors when [`FaultProfile::error_status`] is 0.
pub const DEFAULT_ERROR_STATUS: u16 = 503;

/// Per-instance fault profile: server-wide defaults that the per-request query knobs add to.
///
/// Build one directly, or start from [`FaultProfile::default`] (no faults) and apply a
/// `key=value,...` spec with [`FaultProfile::parse_overrides`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultProfile {
    /// Delay added to every response (before the query `delay` and `jitter`).
    pub delay: Duration,
    /// Fraction `0..=1` of requests answered with [`error_status`](Self::error_status),
    /// drawn independently of the query `status` mix.
    pub error_rate: f64,
    /// Status of injected errors; 0 means [`DEFAULT_ERROR_STATUS`] (503).
    pub error_status: u16,
    /// Length of each stop-the-world pause; `None` disables stalls.
    pub stall: Option<Duration>,
    /// Period of the pauses: windows are `[k*every, k*every + stall)` for `k = 1, 2, ...`
    /// from server start. Ignored when [`stall`](Self::stall) is `None`.
    pub stall_every: Duration,
    /// The instance goes down this long after server start: its listener is closed (new
    /// connections are refused) and its open connections are closed. `None`: never.
    pub down_at: Option<Duration>,
    /// The instance comes back (listens again on the same port) this long after server
    /// start; `None` with [`down_at`](Self::down_at) set: it stays down.
    pub up_at: Option<Duration>,
}

impl FaultProfile {
    /// Returns a copy of `self` with the entries of `spec` applied.
    ///
    /// `spec` is `key=value` pairs separated by commas, for example
    /// `delay=20ms,error-rate=0.01,error-status=500,stall=200ms,stall-every=5s`.
    /// Keys: `delay`, `error-rate` (0..=1), `error-status` (200..=999), `stall`, `stall-every`,
    /// `down-at` and `up-at` (an outage of the instance, from server start);
    /// durations use humantime syntax (`20ms`, `1s`, `1m 30s`). `stall=0` (or `stall=off`)
    /// disables stalls. An empty spec returns an unchanged copy. Errors name the bad key or
    /// value.
    ///
    /// ```
    /// # use stampede_testserver::FaultProfile;
    /// # use std::time::Duration;
    /// let p = FaultProfile::default().parse_overrides("delay=20ms,error-rate=0.1")?;
    /// assert_eq!(p.delay, Duration::from_millis(20));
    /// assert_eq!(p.error_rate, 0.1);
    /// # Ok::<(), stampede_testserver::TargetError>(())
    /// ```
    pub fn parse_overrides(&self, spec: &str) -> Result<FaultProfile, TargetError> {
        let mut out = self.clone();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((key, value)) = entry.split_once('=') else {
                return Err(TargetError::MalformedSpec {
                    entry: entry.to_owned(),
                });
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "delay" => out.delay = parse_duration(key, value)?,
                "error-rate" => out.error_rate = parse_rate(key, value)?,
                "error-status" => out.error_status = parse_status(key, value)?,
                "stall" => {
                    out.stall = match value {
                        "off" | "none" => None,
                        _ => Some(parse_duration(key, value)?).filter(|d| !d.is_zero()),
                    }
                }
                "stall-every" => out.stall_every = parse_duration(key, value)?,
                "down-at" => out.down_at = Some(parse_duration(key, value)?),
                "up-at" => out.up_at = Some(parse_duration(key, value)?),
                _ => {
                    return Err(TargetError::UnknownKey {
                        key: key.to_owned(),
                    })
                }
            }
        }
        out.validate()?;
        Ok(out)
    }

    /// The status actually used for injected errors (0 maps to 503).
    pub fn effective_error_status(&self) -> u16 {
        if self.error_status == 0 {
            DEFAULT_ERROR_STATUS
        } else {
            self.error_status
        }
    }

    /// Checks that the profile can be served: rates in range, a valid status, and a stall
    /// shorter than its period (otherwise the server would never answer).
    pub(crate) fn validate(&self) -> Result<(), TargetError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(TargetError::invalid(
                "error-rate",
                &self.error_rate.to_string(),
                "must be between 0 and 1",
            ));
        }
        if self.error_status != 0 && !(200..=999).contains(&self.error_status) {
            return Err(TargetError::invalid(
                "error-status",
                &self.error_status.to_string(),
                "must be an HTTP status 200..=999",
            ));
        }
        if let Some(stall) = self.stall.filter(|s| !s.is_zero()) {
            if self.stall_every.is_zero() {
                return Err(TargetError::invalid(
                    "stall-every",
                    "0",
                    "must be set (and longer than stall) when stall is set",
                ));
            }
            if stall >= self.stall_every {
                return Err(TargetError::invalid(
                    "stall",
                    &humantime::format_duration(stall).to_string(),
                    format!(
                        "must be shorter than stall-every ({})",
                        humantime::format_duration(self.stall_every)
                    ),
                ));
            }
        }
        match (self.down_at, self.up_at) {
            (None, Some(_)) => {
                return Err(TargetError::invalid(
                    "up-at",
                    &humantime::format_duration(self.up_at.unwrap_or_default()).to_string(),
                    "needs down-at (an instance comes back only after going down)",
                ))
            }
            (Some(down), Some(up)) if up <= down => {
                return Err(TargetError::invalid(
                    "up-at",
                    &humantime::format_duration(up).to_string(),
                    format!(
                        "must be later than down-at ({})",
                        humantime::format_duration(down)
                    ),
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

fn parse_duration(key: &str, value: &str) -> Result<Duration, TargetError> {
    humantime::parse_duration(value)
        .map_err(|e| TargetError::invalid(key, value, format!("not a duration ({e})")))
}

fn parse_rate(key: &str, value: &str) -> Result<f64, TargetError> {
    match value.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(_) => Err(TargetError::invalid(key, value, "must be between 0 and 1")),
        Err(_) => Err(TargetError::invalid(key, value, "not a number")),
    }
}

fn parse_status(key: &str, value: &str) -> Result<u16, TargetError> {
    match value.parse::<u16>() {
        Ok(s) if (200..=999).contains(&s) => Ok(s),
        _ => Err(TargetError::invalid(
            key,
            value,
            "must be an HTTP status 200..=999",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_spec_is_identity() {
        let base = FaultProfile {
            delay: Duration::from_millis(5),
            ..FaultProfile::default()
        };
        assert_eq!(base.parse_overrides("").unwrap(), base);
        assert_eq!(base.parse_overrides(" , ").unwrap(), base);
    }

    #[test]
    fn all_keys_parse() {
        let p = FaultProfile::default()
            .parse_overrides(
                "delay=20ms, error-rate=0.25,error-status=500,stall=100ms,stall-every=1s",
            )
            .unwrap();
        assert_eq!(
            p,
            FaultProfile {
                delay: Duration::from_millis(20),
                error_rate: 0.25,
                error_status: 500,
                stall: Some(Duration::from_millis(100)),
                stall_every: Duration::from_secs(1),
                down_at: None,
                up_at: None,
            }
        );
    }

    #[test]
    fn overrides_keep_unmentioned_fields() {
        let base = FaultProfile {
            delay: Duration::from_millis(7),
            error_rate: 0.5,
            ..FaultProfile::default()
        };
        let p = base.parse_overrides("error-rate=0").unwrap();
        assert_eq!(p.delay, Duration::from_millis(7));
        assert_eq!(p.error_rate, 0.0);
    }

    #[test]
    fn stall_off_disables() {
        let base = FaultProfile::default()
            .parse_overrides("stall=1s,stall-every=2s")
            .unwrap();
        assert_eq!(base.parse_overrides("stall=off").unwrap().stall, None);
        assert_eq!(base.parse_overrides("stall=0").unwrap().stall, None);
    }

    #[test]
    fn errors_name_key_and_value() {
        let p = FaultProfile::default();
        let e = p.parse_overrides("delay=fast").unwrap_err().to_string();
        assert!(e.contains("delay") && e.contains("fast"), "{e}");
        let e = p.parse_overrides("error-rate=1.5").unwrap_err().to_string();
        assert!(e.contains("error-rate") && e.contains("1.5"), "{e}");
        let e = p
            .parse_overrides("error-status=42")
            .unwrap_err()
            .to_string();
        assert!(e.contains("error-status") && e.contains("42"), "{e}");
        let e = p.parse_overrides("jitter=1ms").unwrap_err();
        assert!(matches!(e, TargetError::UnknownKey { ref key } if key == "jitter"));
        let e = p.parse_overrides("delay").unwrap_err();
        assert!(matches!(e, TargetError::MalformedSpec { .. }));
    }

    #[test]
    fn stall_needs_a_longer_period() {
        let p = FaultProfile::default();
        assert!(p.parse_overrides("stall=1s").is_err());
        assert!(p.parse_overrides("stall=1s,stall-every=1s").is_err());
        assert!(p.parse_overrides("stall=1s,stall-every=3s").is_ok());
    }

    #[test]
    fn default_error_status_is_503() {
        let p = FaultProfile {
            error_rate: 1.0,
            ..FaultProfile::default()
        };
        assert_eq!(p.effective_error_status(), 503);
        assert_eq!(
            FaultProfile {
                error_status: 500,
                ..p
            }
            .effective_error_status(),
            500
        );
    }
}
