//! The error type of the target crate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while configuring or starting a target.
///
/// Per-request problems (a bad query knob) are not errors of the server: they are answered with
/// `400 Bad Request` and a plain-text reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A fault-profile entry is not of the form `key=value`.
    #[error("fault profile entry `{entry}` is not of the form key=value")]
    MalformedSpec {
        /// The offending entry.
        entry: String,
    },
    /// A fault-profile key is not known.
    #[error(
        "unknown fault profile key `{key}` (expected delay, error-rate, error-status, stall, stall-every, down-at, up-at)"
    )]
    UnknownKey {
        /// The unknown key.
        key: String,
    },
    /// A fault-profile or knob value could not be parsed or is out of range.
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        /// The key whose value is bad.
        key: String,
        /// The bad value as given.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The configuration is inconsistent (zero instances, port overflow, impossible stall, ...).
    #[error("invalid target configuration: {0}")]
    InvalidConfig(String),
    /// The TLS certificate, key or client CA could not be generated, read or used.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// A file (such as the certificate PEM) could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server runtime or its thread could not be created.
    #[error("cannot start the target runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl TargetError {
    pub(crate) fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        TargetError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        }
    }
}
