//! One recorded request, as the readers produce it and the schedule places it.

use std::time::Duration;

/// When a request was recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Seconds since the Unix epoch.
    pub secs: f64,
    /// True for one-second timestamps (`$time_local`): requests within one second are
    /// spread evenly over it.
    pub whole_second: bool,
}

/// One request read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When it started.
    pub time: Stamp,
    /// HTTP method, upper case.
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// The host it went to (HAR), for the other-host rule.
    pub host: Option<String>,
    /// Headers to send again.
    pub headers: Vec<(String, String)>,
    /// Body (HAR `postData`; access logs have none).
    pub body: Vec<u8>,
    /// The recorded status, if the file has it.
    pub status: Option<u16>,
    /// The recorded response time (`$request_time`, Apache `%D`, HAR `time`).
    pub original: Option<Duration>,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of a date and time at a UTC offset in seconds.
pub(crate) fn epoch_seconds(
    (y, mo, d): (i64, u32, u32),
    (h, mi, s): (u32, u32, f64),
    offset: i64,
) -> Option<f64> {
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && h < 24
        && mi < 60
        && (0.0..61.0).contains(&s);
    if !valid {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 - offset;
    Some(secs as f64 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_from_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        // 10/Oct/2000:13:55:36 -0700 is 971211336.
        let t = epoch_seconds((2000, 10, 10), (13, 55, 36.0), -7 * 3600).unwrap();
        assert_eq!(t, 971_211_336.0);
        assert!(epoch_seconds((2000, 13, 1), (0, 0, 0.0), 0).is_none());
    }
}
