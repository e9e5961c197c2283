//! The list of steps a sweep measures: `--concurrency 1,2,4,8,16`.

use std::num::NonZeroUsize;

use crate::ScaleError;

/// Most steps in one sweep (each step is a run of its own).
pub const MAX_STEPS: usize = 64;

/// Parses a comma-separated list of step sizes (`1,2,4,8`): whole numbers of at least 1,
/// strictly increasing, at most [`MAX_STEPS`] of them. Errors name the bad entry.
///
/// ```
/// let steps = stampede_scale::parse_steps("1, 2,4,8").unwrap();
/// assert_eq!(steps.iter().map(|n| n.get()).collect::<Vec<_>>(), [1, 2, 4, 8]);
/// assert!(stampede_scale::parse_steps("4,2").is_err());
/// ```
pub fn parse_steps(text: &str) -> Result<Vec<NonZeroUsize>, ScaleError> {
    let bad = |entry: &str, why: &str| ScaleError::Steps(format!("'{entry}': {why}"));
    let mut steps: Vec<NonZeroUsize> = Vec::new();
    for entry in text.split(',').map(str::trim) {
        if entry.is_empty() {
            return Err(bad(text, "an empty entry (expected e.g. 1,2,4,8)"));
        }
        let n = entry
            .parse::<usize>()
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| bad(entry, "not a whole number of at least 1"))?;
        if let Some(last) = steps.last() {
            if n <= *last {
                return Err(bad(
                    entry,
                    &format!("steps must increase (it follows {last})"),
                ));
            }
        }
        steps.push(n);
    }
    if steps.len() > MAX_STEPS {
        return Err(ScaleError::Steps(format!(
            "{} steps: at most {MAX_STEPS} are allowed",
            steps.len()
        )));
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lists_name_the_entry() {
        for (text, names) in [
            ("", "''"),
            ("1,,2", "'1,,2'"),
            ("0,1", "'0'"),
            ("1,x", "'x'"),
            ("1,-2", "'-2'"),
            ("2,2", "'2'"),
            ("8,4", "'4'"),
            ("1.5", "'1.5'"),
        ] {
            let e = parse_steps(text).unwrap_err().to_string();
            assert!(e.contains(names), "{text}: {e}");
        }
        let many = (1..=65)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_steps(&many)
            .unwrap_err()
            .to_string()
            .contains("65 steps"));
    }
}
