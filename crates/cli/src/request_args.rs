//! The request flags, defined once: what each request is (method, headers, body), how it
//! travels (HTTP/2, TLS, keep-alive, --connect-to) and how long it may take. Flattened
//! into `stampede run` (and so into capacity, matrix and replay, which take the run's
//! flags) and into `stampede scale`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use stampede_plan::{HttpVersion, RequestSpec, RequestsDraft, RunPlanBuilder, TlsOptions};

use crate::value_parsers::{duration, header};
use crate::UsageError;

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// A switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// The request flags shared by every command that sends requests.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// Per-request timeout, connect included.
    #[arg(short = 't', long, value_parser = duration, default_value = "10s")]
    pub timeout: Duration,
    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_parser = header)]
    pub headers: Vec<(String, String)>,
    /// Request body.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// Open a new connection for every request (no HTTP keep-alive).
    #[arg(long)]
    pub no_keep_alive: bool,

    /// Speak HTTP/2: ALPN h2 over TLS (https://), prior-knowledge h2c over TCP (http://).
    #[arg(long)]
    pub http2: bool,
    /// HTTP/2: concurrent streams per connection (1 by default: one request in flight per
    /// connection, as with HTTP/1.1).
    #[arg(long, default_value_t = 1, requires = "http2")]
    pub streams: usize,
    /// TLS: accept any server certificate (testing only).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// TLS: trust the certificates in this PEM file instead of the built-in web roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// TLS: client certificate chain (PEM), with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// TLS: client private key (PEM), with --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// TLS: session resumption for new connections (off: every connection pays a full
    /// handshake).
    #[arg(long, value_enum, default_value = "on")]
    pub tls_resume: OnOff,
    /// Connect to these addresses (round-robin per connection) instead of resolving the
    /// URL's host; the Host header still names the URL's host (repeatable).
    #[arg(long = "connect-to", value_name = "IP:PORT")]
    pub connect_to: Vec<String>,
    /// Scenario files: send the first target's requests to this base URL instead of the
    /// file's `base_url` (the same journeys against another environment).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

impl RequestArgs {
    /// The request: method, headers and the body (`--body-file` read now).
    pub(crate) fn spec(&self) -> anyhow::Result<RequestSpec> {
        let body = match (&self.body, &self.body_file) {
            (Some(b), _) => b.clone().into_bytes(),
            (None, Some(path)) => std::fs::read(path)
                .map_err(|e| usage(format!("cannot read --body-file {}: {e}", path.display())))?,
            (None, None) => Vec::new(),
        };
        Ok(RequestSpec {
            method: self.method.to_ascii_uppercase(),
            headers: self.headers.clone(),
            body,
        })
    }

    /// The `--connect-to` addresses.
    pub(crate) fn connect_addrs(&self) -> anyhow::Result<Vec<SocketAddr>> {
        self.connect_to
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| usage(format!("--connect-to '{s}': {e} (expected IP:PORT)")))
            })
            .collect()
    }

    /// A URL's plan with these flags: the request, then [`RequestArgs::transport`]
    /// (connection reuse is a run flag: scenario files take it too).
    pub(crate) fn apply(
        &self,
        plan: RunPlanBuilder<RequestsDraft>,
    ) -> anyhow::Result<RunPlanBuilder<RequestsDraft>> {
        self.transport(plan.request(self.spec()?))
    }

    /// How the requests travel: addresses, TLS, HTTP version and timeout (a replay's
    /// requests come from its file).
    pub(crate) fn transport(
        &self,
        plan: RunPlanBuilder<RequestsDraft>,
    ) -> anyhow::Result<RunPlanBuilder<RequestsDraft>> {
        let streams =
            NonZeroUsize::new(self.streams).ok_or_else(|| usage("--streams must be at least 1"))?;
        Ok(plan
            .connect_to(self.connect_addrs()?)
            .tls(TlsOptions {
                insecure: self.insecure,
                ca_file: self.cacert.clone(),
                client_cert: self.cert.clone().zip(self.key.clone()),
                no_resume: self.tls_resume == OnOff::Off,
            })
            .http(if self.http2 {
                HttpVersion::Http2 { streams }
            } else {
                HttpVersion::Http1
            })
            .timeout(self.timeout))
    }

    /// A usage error naming the first flag given that a scenario file decides itself.
    pub(crate) fn refuse_for_scenario(&self, file: &str) -> anyhow::Result<()> {
        let set_in_file = [
            ("--method", self.method != "GET"),
            ("--header", !self.headers.is_empty()),
            ("--body", self.body.is_some() || self.body_file.is_some()),
            ("--http2", self.http2),
            ("--insecure", self.insecure),
            ("--cacert", self.cacert.is_some()),
            ("--cert", self.cert.is_some()),
            ("--connect-to", !self.connect_to.is_empty()),
        ];
        match set_in_file.iter().find(|(_, set)| *set) {
            Some((flag, _)) => Err(set_in_file_error(flag, file)),
            None => Ok(()),
        }
    }

    /// A usage error when `--base-url` is given for a URL (it applies to files only).
    pub(crate) fn refuse_base_url(&self) -> anyhow::Result<()> {
        match self.base_url {
            Some(_) => Err(usage("--base-url applies to scenario files only")),
            None => Ok(()),
        }
    }
}

/// The usage error of a flag that the scenario file `file` decides.
pub(crate) fn set_in_file_error(flag: &str, file: &str) -> anyhow::Error {
    usage(format!(
        "{flag} does not apply to a scenario file: set it in {file} (see docs/scenarios.md)"
    ))
}
