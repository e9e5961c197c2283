//! Which protocol each connection actually spoke.

/// A protocol a connection can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 (or 1.0) over TCP or TLS.
    Http1,
    /// HTTP/2 over TLS (ALPN h2) or prior-knowledge h2c.
    Http2,
    /// WebSocket (after an HTTP/1.1 upgrade).
    WebSocket,
}

impl Protocol {
    /// Every protocol, in report order.
    pub const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::Http2, Protocol::WebSocket];

    /// The name used in tables and JSON (ALPN-style).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http1 => "http/1.1",
            Protocol::Http2 => "h2",
            Protocol::WebSocket => "websocket",
        }
    }
}

/// Connections opened per protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtocolCounts([u64; 3]);

impl ProtocolCounts {
    /// Counts one connection of `p`.
    pub fn add(&mut self, p: Protocol) {
        self.add_n(p, 1);
    }

    /// Counts `n` connections of `p`.
    pub fn add_n(&mut self, p: Protocol, n: u64) {
        self.0[p as usize] += n;
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &ProtocolCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// Removes the counts of `earlier`, a snapshot these counts grew from.
    pub fn subtract(&mut self, earlier: &ProtocolCounts) {
        for (a, b) in self.0.iter_mut().zip(earlier.0.iter()) {
            *a = a.saturating_sub(*b);
        }
    }

    /// Protocols with a non-zero count.
    pub fn non_zero(&self) -> impl Iterator<Item = (Protocol, u64)> + '_ {
        Protocol::ALL
            .iter()
            .map(|p| (*p, self.0[*p as usize]))
            .filter(|(_, n)| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let mut a = ProtocolCounts::default();
        a.add(Protocol::Http2);
        let mut b = ProtocolCounts::default();
        b.add(Protocol::Http2);
        b.add(Protocol::Http1);
        a.merge(&b);
        let v: Vec<_> = a.non_zero().map(|(p, n)| (p.as_str(), n)).collect();
        assert_eq!(v, vec![("http/1.1", 1), ("h2", 2)]);
    }
}
