//! Is the load generator itself the bottleneck? Checks over its self-observation.

pub use stampede_result::GeneratorWarning;

/// A worker thread busier than this share of the wall clock is saturated.
pub const BUSY_LIMIT: f64 = 0.9;
/// More late sends than this share of all sends means the schedule was not kept.
pub const LATE_LIMIT: f64 = 0.01;

/// What the generator knows about itself after a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeneratorFacts {
    /// True for the open model (there is a schedule to keep).
    pub open_model: bool,
    /// Requests sent.
    pub sends: u64,
    /// Sends that left late.
    pub late_sends: u64,
    /// Scheduled requests never sent.
    pub dropped: u64,
    /// Each worker thread's CPU time divided by the run's wall time.
    pub worker_busy: Vec<f64>,
}

/// Returns every sign that the generator, not the target, limited the result.
pub fn check_generator(facts: &GeneratorFacts) -> Vec<GeneratorWarning> {
    let mut out = Vec::new();
    let busiest = facts.worker_busy.iter().copied().fold(0.0, f64::max);
    if busiest >= BUSY_LIMIT {
        out.push(GeneratorWarning::CpuSaturated { busiest });
    }
    if facts.open_model && facts.sends > 0 {
        let fraction = facts.late_sends as f64 / facts.sends as f64;
        if fraction > LATE_LIMIT {
            out.push(GeneratorWarning::LateSends { fraction });
        }
    }
    if facts.dropped > 0 {
        out.push(GeneratorWarning::Dropped {
            count: facts.dropped,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_generator_has_no_warnings() {
        let f = GeneratorFacts {
            open_model: true,
            sends: 1000,
            late_sends: 5,
            dropped: 0,
            worker_busy: vec![0.3, 0.4],
        };
        assert!(check_generator(&f).is_empty());
    }

    #[test]
    fn each_limit_warns() {
        let f = GeneratorFacts {
            open_model: true,
            sends: 1000,
            late_sends: 50,
            dropped: 3,
            worker_busy: vec![0.95, 0.4],
        };
        let w = check_generator(&f);
        assert_eq!(w.len(), 3);
        assert!(w[0].explain().contains("95%"));
        assert!(w[1].explain().contains("5.0%"));
        assert!(w[2].explain().contains("3 scheduled"));
    }

    #[test]
    fn closed_model_ignores_lateness() {
        let f = GeneratorFacts {
            open_model: false,
            sends: 10,
            late_sends: 10,
            ..Default::default()
        };
        assert!(check_generator(&f).is_empty());
    }
}
