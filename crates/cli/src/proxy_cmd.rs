//! `stampede proxy`: the fault proxy in the foreground, with Toxiproxy's HTTP API and/or
//! one standalone proxy given by flags.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stampede_proxy::api::Registry;
use stampede_proxy::{Profile, Proxy, Toxic};

use crate::{UsageError, EXIT_OK};

/// `stampede proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Serve Toxiproxy's HTTP API on this address (Toxiproxy's port by default). Served
    /// unless only the standalone form (--listen) is given.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8474")]
    pub api: Option<SocketAddr>,
    /// Standalone form: listen here and forward to --upstream through --toxic/--profile.
    #[arg(long, requires = "upstream")]
    pub listen: Option<SocketAddr>,
    /// The upstream HOST:PORT of the standalone proxy.
    #[arg(long, requires = "listen")]
    pub upstream: Option<String>,
    /// Name of the standalone proxy (as the API lists it).
    #[arg(long, default_value = "standalone")]
    pub name: String,
    /// A toxic for the standalone proxy, e.g. latency=100ms,jitter=10ms or bandwidth=100KB
    /// or reset_peer=0s,toxicity=0.1 (repeatable; docs/proxy.md has the syntax).
    #[arg(long = "toxic", requires = "listen")]
    pub toxics: Vec<String>,
    /// A named network profile for the standalone proxy: slow-3g, 3g, lte, lossy-wifi.
    #[arg(long, requires = "listen")]
    pub profile: Option<String>,
    /// Worker threads forwarding data (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The standalone proxy's toxics: the profile's first, then each --toxic in order.
fn standalone_toxics(a: &ProxyArgs) -> anyhow::Result<Vec<Toxic>> {
    let mut toxics = Vec::new();
    if let Some(name) = &a.profile {
        let p = Profile::named(name).ok_or_else(|| {
            usage(format!(
                "--profile {name}: unknown profile (known: {})",
                Profile::names()
            ))
        })?;
        toxics.extend(p.toxics());
    }
    for spec in &a.toxics {
        let parsed =
            Toxic::parse_spec(spec).map_err(|e| usage(format!("--toxic '{spec}': {e}")))?;
        for t in parsed {
            if toxics.iter().any(|x: &Toxic| x.name == t.name) {
                return Err(usage(format!(
                    "--toxic '{spec}': a toxic named {} is already set; add name=... to tell them apart",
                    t.name
                )));
            }
            toxics.push(t);
        }
    }
    Ok(toxics)
}

pub(crate) fn run(a: ProxyArgs) -> anyhow::Result<u8> {
    let toxics = standalone_toxics(&a)?;
    let api = match (a.api, a.listen) {
        (Some(addr), _) => Some(addr),
        (None, None) => Some(SocketAddr::from(([127, 0, 0, 1], 8474))),
        (None, Some(_)) => None,
    };
    if a.threads == Some(0) {
        return Err(usage("--threads must be at least 1"));
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = a.threads {
        rt.worker_threads(n);
    }
    let rt = rt.build().context("starting the runtime")?;
    rt.block_on(serve(a, api, toxics))
}

async fn serve(a: ProxyArgs, api: Option<SocketAddr>, toxics: Vec<Toxic>) -> anyhow::Result<u8> {
    let registry = Arc::new(Registry::default());
    if let (Some(listen), Some(upstream)) = (a.listen, a.upstream.clone()) {
        let proxy = Proxy::start(&a.name, listen, upstream)
            .await
            .map_err(|e| usage(format!("--listen: {e}")))?;
        for t in toxics {
            println!("toxic {}", serde_json::to_string(&t)?);
            proxy.add_toxic(t).map_err(|e| usage(e.to_string()))?;
        }
        println!(
            "proxy {} listening on {} -> {}",
            proxy.name(),
            proxy.listen_addr(),
            proxy.upstream()
        );
        registry.insert(proxy).await.map_err(|e| usage(e.message))?;
    }
    let api_task = match api {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| usage(format!("--api {addr}: {e}")))?;
            println!("Toxiproxy API on http://{}", l.local_addr()?);
            Some(tokio::spawn(stampede_proxy::api::serve(
                l,
                registry.clone(),
            )))
        }
        None => None,
    };
    println!("Ctrl-C stops");
    wait_for_signal().await?;
    if let Some(t) = api_task {
        t.abort();
    }
    registry.shutdown().await;
    Ok(EXIT_OK)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the signal handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("installing the signal handler")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> ProxyArgs {
        let mut argv = vec!["stampede", "proxy"];
        argv.extend_from_slice(extra);
        match crate::Cli::try_parse_from(argv).unwrap().command {
            crate::Command::Proxy(a) => *a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn standalone_toxics_combine_profile_and_specs() {
        let a = args(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:1",
            "--profile",
            "3g",
            "--toxic",
            "latency=100ms,jitter=10ms",
            "--toxic",
            "bandwidth=100KB",
        ]);
        let t = standalone_toxics(&a).unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].name, "3g_latency");
        assert_eq!(t[4].name, "bandwidth_downstream");
        let a = args(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "x:1",
            "--toxic",
            "latency=1ms",
            "--toxic",
            "latency=2ms",
        ]);
        let e = standalone_toxics(&a).unwrap_err().to_string();
        assert!(e.contains("already set"), "{e}");
        let a = args(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "x:1",
            "--profile",
            "5g",
        ]);
        let e = standalone_toxics(&a).unwrap_err().to_string();
        assert!(e.contains("--profile 5g") && e.contains("lte"), "{e}");
        let a = args(&[
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "x:1",
            "--toxic",
            "latency=-5ms",
        ]);
        let e = standalone_toxics(&a).unwrap_err().to_string();
        assert!(e.starts_with("--toxic 'latency=-5ms'"), "{e}");
        assert!(
            crate::Cli::try_parse_from(["stampede", "proxy", "--toxic", "latency=1ms"]).is_err()
        );
    }
}
