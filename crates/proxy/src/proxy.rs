//! A running proxy: its listener, its toxics, and the connections it forwards.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::conn::{self, Config};
use crate::{ProxyError, Toxic};

struct Shared {
    name: String,
    listen: SocketAddr,
    config: watch::Sender<Config>,
    /// A listener bound by `try_set_enabled(true)`, handed to the accept loop.
    rebound: Mutex<Option<std::net::TcpListener>>,
}

/// A running proxy: listens on one address and forwards each connection to `upstream`
/// through its toxics. Dropping it stops it as [`Proxy::shutdown`] does, without waiting.
pub struct Proxy {
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.shared.name)
            .field("listen", &self.shared.listen)
            .field("upstream", &self.upstream())
            .finish()
    }
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ProxyError> {
    let listen_err = |source| ProxyError::Listen {
        addr: addr.to_string(),
        source,
    };
    let l = std::net::TcpListener::bind(addr).map_err(listen_err)?;
    l.set_nonblocking(true).map_err(listen_err)?;
    Ok(l)
}

impl Proxy {
    /// Binds `listen` (port 0 picks a free port, see [`Proxy::listen_addr`]) and starts
    /// forwarding to `upstream` (`host:port`, resolved per connection, as Toxiproxy does).
    pub async fn start(
        name: &str,
        listen: SocketAddr,
        upstream: String,
    ) -> Result<Proxy, ProxyError> {
        let std_listener = bind(listen)?;
        let listen = std_listener
            .local_addr()
            .map_err(|source| ProxyError::Listen {
                addr: listen.to_string(),
                source,
            })?;
        let listener =
            TcpListener::from_std(std_listener).map_err(|source| ProxyError::Listen {
                addr: listen.to_string(),
                source,
            })?;
        let (config, _) = watch::channel(Config {
            toxics: Arc::new(Vec::new()),
            enabled: true,
            upstream: upstream.into(),
            generation: 0,
        });
        let shared = Arc::new(Shared {
            name: name.to_string(),
            listen,
            config,
            rebound: Mutex::new(None),
        });
        let accept = tokio::spawn(accept_loop(shared.clone(), Some(listener)));
        Ok(Proxy { shared, accept })
    }

    /// The address the proxy listens on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.shared.listen
    }

    /// The proxy's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The upstream address, as given.
    pub fn upstream(&self) -> String {
        self.shared.config.borrow().upstream.to_string()
    }

    /// Sends new connections to another upstream and closes the open ones, as Toxiproxy
    /// does when a proxy's upstream is changed.
    pub fn set_upstream(&self, upstream: String) {
        self.shared.config.send_modify(|c| {
            c.upstream = upstream.into();
            c.generation += 1;
        });
    }

    /// Whether the proxy accepts connections.
    pub fn enabled(&self) -> bool {
        self.shared.config.borrow().enabled
    }

    /// The toxics, in the order they apply.
    pub fn toxics(&self) -> Vec<Toxic> {
        self.shared.config.borrow().toxics.as_ref().clone()
    }

    /// Adds a toxic; it takes effect on new connections and on the next data of open ones.
    pub fn add_toxic(&self, t: Toxic) -> Result<(), ProxyError> {
        crate::toxic::check_toxicity(t.toxicity)?;
        let mut result = Ok(());
        self.shared.config.send_modify(|c| {
            if c.toxics.iter().any(|x| x.name == t.name) {
                result = Err(ProxyError::ToxicExists(t.name.clone()));
            } else {
                Arc::make_mut(&mut c.toxics).push(t.clone());
            }
        });
        result
    }

    /// Replaces the toxic of the same name (its place in the order is kept).
    pub fn update_toxic(&self, t: Toxic) -> Result<(), ProxyError> {
        crate::toxic::check_toxicity(t.toxicity)?;
        let mut result = Ok(());
        self.shared.config.send_modify(|c| {
            match Arc::make_mut(&mut c.toxics)
                .iter_mut()
                .find(|x| x.name == t.name)
            {
                Some(slot) => *slot = t.clone(),
                None => result = Err(ProxyError::ToxicNotFound(t.name.clone())),
            }
        });
        result
    }

    /// Removes a toxic by name. Removing a `timeout` toxic closes the connections it was
    /// holding, as in Toxiproxy.
    pub fn remove_toxic(&self, name: &str) -> Result<(), ProxyError> {
        let mut result = Ok(());
        self.shared.config.send_modify(|c| {
            let before = c.toxics.len();
            Arc::make_mut(&mut c.toxics).retain(|x| x.name != name);
            if c.toxics.len() == before {
                result = Err(ProxyError::ToxicNotFound(name.to_string()));
            }
        });
        result
    }

    /// Removes every toxic.
    pub fn clear_toxics(&self) {
        self.shared
            .config
            .send_modify(|c| c.toxics = Arc::new(Vec::new()));
    }

    /// Enables or disables the proxy. Disabled, it stops listening and closes every open
    /// connection, as Toxiproxy does; enabled again, it listens on the same address. If that
    /// address cannot be bound again the proxy stays disabled (see [`Proxy::enabled`] and
    /// [`Proxy::try_set_enabled`]).
    pub fn set_enabled(&self, on: bool) {
        // The error is visible as `enabled() == false`; callers that need it use try_.
        let _ = self.try_set_enabled(on);
    }

    /// [`Proxy::set_enabled`], saying why it could not listen again.
    pub fn try_set_enabled(&self, on: bool) -> Result<(), ProxyError> {
        if on == self.enabled() {
            return Ok(());
        }
        if on {
            let l = bind(self.shared.listen)?;
            *lock(&self.shared.rebound) = Some(l);
        }
        self.shared.config.send_modify(|c| c.enabled = on);
        Ok(())
    }

    /// [`Proxy::try_set_enabled`] for callers that can wait: re-enabling right after a
    /// disable may find the old listening socket not yet closed by the accept loop; this
    /// retries for up to 250 ms before reporting the address as taken.
    pub async fn set_enabled_when_free(&self, on: bool) -> Result<(), ProxyError> {
        let mut tries = 0;
        loop {
            match self.try_set_enabled(on) {
                Err(ProxyError::Listen { source, .. })
                    if source.kind() == std::io::ErrorKind::AddrInUse && tries < 50 =>
                {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                other => return other,
            }
        }
    }

    /// Stops listening and closes every connection.
    pub async fn shutdown(self) {
        self.shared.config.send_modify(|c| c.enabled = false);
        self.accept.abort();
        // Wait for the listener to be closed (the task is dropped on abort).
        while !self.accept.is_finished() {
            tokio::task::yield_now().await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.config.send_modify(|c| c.enabled = false);
        self.accept.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(shared: Arc<Shared>, mut listener: Option<TcpListener>) {
    let mut rx = shared.config.subscribe();
    loop {
        let enabled = rx.borrow_and_update().enabled;
        if !enabled {
            listener = None;
        } else if listener.is_none() {
            let taken = lock(&shared.rebound).take();
            listener = taken.and_then(|l| TcpListener::from_std(l).ok());
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((client, _)) => {
                    let config = shared.config.subscribe();
                    tokio::spawn(conn::serve(client, config));
                }
                // Out of file descriptors or similar: keep the pace, do not spin.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            },
        }
    }
}

async fn accept(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}
