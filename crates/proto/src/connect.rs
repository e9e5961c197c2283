//! Opening connections: resolve once, connect with a deadline, classify failures.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use stampede_metrics::ErrorClass;
use tokio::net::TcpStream;

/// Resolves `host:port` once at the start of a run.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no addresses"),
        ));
    }
    Ok(addrs)
}

/// Opens a TCP connection with `TCP_NODELAY`, failing with a class (and the OS's
/// words) after `timeout`.
pub async fn connect_tcp(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, (ErrorClass, String)> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Err(_) => Err((
            ErrorClass::ConnectTimeout,
            format!("connect to {addr} took longer than {timeout:?}"),
        )),
        Ok(Err(e)) => Err((classify_connect(&e), format!("connect to {addr}: {e}"))),
        Ok(Ok(stream)) => {
            // Small requests must not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}

/// Maps a connect failure to its class.
pub fn classify_connect(e: &io::Error) -> ErrorClass {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorClass::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorClass::ConnectTimeout,
        io::ErrorKind::ConnectionReset => ErrorClass::Reset,
        _ => ErrorClass::ConnectOther,
    }
}
