//! The proxy's errors, each with the HTTP status Toxiproxy's API answers it with.

/// Everything that can go wrong when configuring or starting a proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// A toxic spec (`--toxic latency=100ms,...`) or a toxic's JSON could not be read.
    #[error("bad toxic: {0}")]
    BadToxic(String),
    /// The toxic type is not one of Toxiproxy's.
    #[error("invalid toxic type: {0}")]
    InvalidToxicType(String),
    /// A toxic with this name already exists on the proxy.
    #[error("toxic already exists: {0}")]
    ToxicExists(String),
    /// No toxic with this name on the proxy.
    #[error("toxic not found: {0}")]
    ToxicNotFound(String),
    /// Binding the listen address failed (for example, the port is in use).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl ProxyError {
    /// The HTTP status Toxiproxy's API uses for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            ProxyError::BadToxic(_) | ProxyError::InvalidToxicType(_) => 400,
            ProxyError::ToxicExists(_) => 409,
            ProxyError::ToxicNotFound(_) => 404,
            // Toxiproxy answers 500 here; the issue asks for a clear 4xx: the port is taken.
            ProxyError::Listen { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
                409
            }
            ProxyError::Listen { .. } => 400,
        }
    }
}
