//! Failure classes: why a request did not produce a successful response.

use serde::{Deserialize, Serialize};

/// Why a request failed. Timeouts are not a class: they are counted apart from errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorClass {
    /// The peer refused the TCP connection (nothing listening).
    ConnectRefused,
    /// The TCP handshake did not finish within the request timeout.
    ConnectTimeout,
    /// Any other connect failure (unreachable network, address in use, file limit).
    ConnectOther,
    /// The host name did not resolve.
    Dns,
    /// The server's certificate was not trusted (unknown issuer, expired, malformed).
    TlsCertificate,
    /// The server's certificate is not valid for the host name.
    TlsName,
    /// The TLS handshake failed otherwise (protocol or version mismatch, a peer that
    /// does not speak TLS, an alert).
    TlsHandshake,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before the response was complete.
    ClosedEarly,
    /// The response was not valid HTTP.
    Malformed,
    /// The response head or body exceeded stampede's limits.
    TooLarge,
    /// The server answered with a 4xx status.
    Status4xx,
    /// The server answered with a 5xx status.
    Status5xx,
    /// Any other I/O failure.
    Io,
    /// HTTP/2: the server sent GOAWAY before the stream completed.
    GoAway,
    /// HTTP/2: the stream was reset (RST_STREAM).
    StreamReset,
    /// TLS ALPN chose a different protocol than the one asked for (e.g. no `h2`).
    AlpnMismatch,
    /// WebSocket: the server refused or botched the upgrade.
    WsUpgrade,
    /// WebSocket: the connection dropped before the client meant to close it.
    WsDropped,
    /// Scenario: a response arrived but failed one of the step's checks.
    CheckFailed,
    /// Scenario: a value the step should extract from the response was not there.
    ExtractFailed,
    /// Scenario: a `unique` data feeder had no row left for a new virtual user.
    FeederExhausted,
}

impl ErrorClass {
    /// Every class, in report order.
    pub const ALL: [ErrorClass; 22] = [
        ErrorClass::ConnectRefused,
        ErrorClass::ConnectTimeout,
        ErrorClass::ConnectOther,
        ErrorClass::Dns,
        ErrorClass::TlsCertificate,
        ErrorClass::TlsName,
        ErrorClass::TlsHandshake,
        ErrorClass::Reset,
        ErrorClass::ClosedEarly,
        ErrorClass::Malformed,
        ErrorClass::TooLarge,
        ErrorClass::Status4xx,
        ErrorClass::Status5xx,
        ErrorClass::Io,
        ErrorClass::GoAway,
        ErrorClass::StreamReset,
        ErrorClass::AlpnMismatch,
        ErrorClass::WsUpgrade,
        ErrorClass::WsDropped,
        ErrorClass::CheckFailed,
        ErrorClass::ExtractFailed,
        ErrorClass::FeederExhausted,
    ];

    /// The stable snake_case name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::ConnectOther => "connect_other",
            ErrorClass::Dns => "dns",
            ErrorClass::TlsCertificate => "tls_certificate",
            ErrorClass::TlsName => "tls_hostname",
            ErrorClass::TlsHandshake => "tls_handshake",
            ErrorClass::Reset => "reset",
            ErrorClass::ClosedEarly => "closed_early",
            ErrorClass::Malformed => "malformed_response",
            ErrorClass::TooLarge => "too_large",
            ErrorClass::Status4xx => "http_4xx",
            ErrorClass::Status5xx => "http_5xx",
            ErrorClass::Io => "io",
            ErrorClass::GoAway => "http2_goaway",
            ErrorClass::StreamReset => "http2_stream_reset",
            ErrorClass::AlpnMismatch => "alpn_mismatch",
            ErrorClass::WsUpgrade => "ws_upgrade_failed",
            ErrorClass::WsDropped => "ws_dropped",
            ErrorClass::CheckFailed => "check_failed",
            ErrorClass::ExtractFailed => "extract_failed",
            ErrorClass::FeederExhausted => "feeder_exhausted",
        }
    }

    /// True for failures to establish a connection.
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            ErrorClass::ConnectRefused
                | ErrorClass::ConnectTimeout
                | ErrorClass::ConnectOther
                | ErrorClass::Dns
        )
    }

    /// The class for an HTTP status that counts as an error (>= 400), if any.
    pub fn for_status(status: u16) -> Option<ErrorClass> {
        match status {
            400..=499 => Some(ErrorClass::Status4xx),
            500.. => Some(ErrorClass::Status5xx),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A count per [`ErrorClass`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassCounts([u64; ErrorClass::ALL.len()]);

impl ClassCounts {
    /// Adds one failure of `class`.
    pub fn add(&mut self, class: ErrorClass) {
        self.add_n(class, 1);
    }

    /// Adds `n` failures of `class`.
    pub fn add_n(&mut self, class: ErrorClass, n: u64) {
        self.0[class.index()] += n;
    }

    /// The count for `class`.
    pub fn get(&self, class: ErrorClass) -> u64 {
        self.0[class.index()]
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &ClassCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// Removes the counts of `earlier`, a snapshot these counts grew from.
    pub fn subtract(&mut self, earlier: &ClassCounts) {
        for (a, b) in self.0.iter_mut().zip(earlier.0.iter()) {
            *a = a.saturating_sub(*b);
        }
    }

    /// Classes with a non-zero count, in report order.
    pub fn non_zero(&self) -> impl Iterator<Item = (ErrorClass, u64)> + '_ {
        ErrorClass::ALL
            .iter()
            .map(|c| (*c, self.get(*c)))
            .filter(|(_, n)| *n > 0)
    }

    /// Sum of all classes.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order() {
        for (i, c) in ErrorClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(ErrorClass::for_status(200), None);
        assert_eq!(ErrorClass::for_status(302), None);
        assert_eq!(ErrorClass::for_status(404), Some(ErrorClass::Status4xx));
        assert_eq!(ErrorClass::for_status(503), Some(ErrorClass::Status5xx));
    }

    #[test]
    fn counts_merge() {
        let mut a = ClassCounts::default();
        a.add(ErrorClass::Reset);
        let mut b = ClassCounts::default();
        b.add(ErrorClass::Reset);
        b.add(ErrorClass::Dns);
        a.merge(&b);
        assert_eq!(a.get(ErrorClass::Reset), 2);
        assert_eq!(a.total(), 3);
        let v: Vec<_> = a.non_zero().collect();
        assert_eq!(v, vec![(ErrorClass::Dns, 1), (ErrorClass::Reset, 2)]);
    }
}
