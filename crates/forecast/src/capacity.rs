//! Instances needed at the peak, from one instance's capacity (the JSON that
//! `stampede capacity --out` writes) and a headroom.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One instance's capacity as `stampede capacity` found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// `result.last_pass_rate`: the highest rate that met the SLO, req/s; `None` when no
    /// step passed.
    pub last_pass_rate: Option<f64>,
    /// `result.verdict`: `capacity` when the search found the edge; anything else
    /// (`generator_limited`, `no_failure_up_to_max`, ...) means the last passing rate
    /// is only a lower bound of the capacity.
    pub verdict: String,
}

/// A capacity file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(String),
    /// A field is missing or of the wrong type.
    #[error("{0}")]
    Field(String),
}

impl Capacity {
    /// Reads `result.last_pass_rate` (a number or null) and `result.verdict` (a string)
    /// from the text of a capacity result.
    pub fn from_json(text: &str) -> Result<Capacity, CapacityError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CapacityError::Json(e.to_string()))?;
        let result = v
            .get("result")
            .ok_or_else(|| CapacityError::Field("no `result` object".into()))?;
        let last_pass_rate = match result.get("last_pass_rate") {
            Some(serde_json::Value::Null) => None,
            Some(x) => Some(x.as_f64().filter(|r| *r > 0.0).ok_or_else(|| {
                CapacityError::Field(format!(
                    "`result.last_pass_rate` must be a positive number or null, not {x}"
                ))
            })?),
            None => return Err(CapacityError::Field("no `result.last_pass_rate`".into())),
        };
        let verdict = result
            .get("verdict")
            .and_then(|x| x.as_str())
            .ok_or_else(|| CapacityError::Field("no `result.verdict` string".into()))?
            .to_string();
        Ok(Capacity {
            last_pass_rate,
            verdict,
        })
    }

    /// True when the last passing rate is the capacity found, not a lower bound of it.
    pub fn is_exact(&self) -> bool {
        self.verdict == "capacity"
    }
}

/// The share of each instance's capacity kept free at the peak: 30% headroom loads
/// each instance to at most 70% of its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Headroom(f64);

impl Headroom {
    /// From a fraction in [0, 1).
    pub fn from_fraction(f: f64) -> Option<Headroom> {
        (f.is_finite() && (0.0..1.0).contains(&f)).then_some(Headroom(f))
    }

    /// As a fraction.
    pub fn fraction(self) -> f64 {
        self.0
    }
}

/// A headroom that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid headroom '{0}': expected a percentage from 0% to below 100%, e.g. 30%")]
pub struct HeadroomError(String);

impl FromStr for Headroom {
    type Err = HeadroomError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HeadroomError(s.to_string());
        let pct: f64 = s
            .trim()
            .strip_suffix('%')
            .ok_or_else(err)?
            .trim()
            .parse()
            .map_err(|_| err())?;
        Headroom::from_fraction(pct / 100.0).ok_or_else(err)
    }
}

/// Instances needed so that `peak_rate` loads none beyond `1 − headroom` of
/// `capacity`: `ceil(peak / (capacity × (1 − headroom)))`, at least 1.
pub fn instances_needed(peak_rate: f64, capacity: f64, headroom: Headroom) -> u64 {
    let usable = capacity * (1.0 - headroom.0);
    // A hair of tolerance so that 100 / (100 × 1.0) is 1, not 2 by rounding.
    ((peak_rate / usable) - 1e-9).ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_two_fixed_fields() {
        let c = Capacity::from_json(
            r#"{"result": {"last_pass_rate": 1200.5, "first_fail_rate": 1300, "verdict": "capacity"}, "steps": []}"#,
        )
        .unwrap();
        assert_eq!(c.last_pass_rate, Some(1200.5));
        assert!(c.is_exact());
        let c =
            Capacity::from_json(r#"{"result": {"last_pass_rate": null, "verdict": "no_pass"}}"#)
                .unwrap();
        assert_eq!(c.last_pass_rate, None);
        assert!(!c.is_exact());
        for bad in [
            "nope",
            "{}",
            r#"{"result": {"verdict": "capacity"}}"#,
            r#"{"result": {"last_pass_rate": "fast", "verdict": "capacity"}}"#,
            r#"{"result": {"last_pass_rate": 10}}"#,
        ] {
            assert!(Capacity::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instances_keep_the_headroom() {
        let h: Headroom = "30%".parse().unwrap();
        assert_eq!(h.fraction(), 0.3);
        // 1,000 req/s at the peak, 500 per instance at most 70% loaded: 350 usable.
        assert_eq!(instances_needed(1000.0, 500.0, h), 3);
        assert_eq!(instances_needed(100.0, 100.0, "0%".parse().unwrap()), 1);
        assert_eq!(instances_needed(1.0, 1000.0, h), 1);
        for bad in ["30", "100%", "-1%", "x%"] {
            assert!(bad.parse::<Headroom>().is_err(), "{bad}");
        }
    }
}
