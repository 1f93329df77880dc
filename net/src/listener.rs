//! The accept loop each core runs on the shared client port.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_lite::AsyncWriteExt;
use glommio::net::{TcpListener, TcpStream};

use crate::conn::{serve_connection, Ending, Handler};
use crate::{ProtocolLimits, Shutdown};

/// Counts open client connections across all cores against a maximum.
/// Touched once per connect and disconnect, never per request.
#[derive(Debug)]
pub struct ConnectionGate {
    open: AtomicUsize,
    max: AtomicUsize,
}

impl ConnectionGate {
    /// A gate admitting at most `max` connections at once.
    pub fn new(max: usize) -> ConnectionGate {
        ConnectionGate {
            open: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
        }
    }

    /// The most connections admitted at once.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Changes the maximum; connections already open stay open.
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn try_enter(self: &Arc<Self>) -> Option<Admission> {
        let previous = self.open.fetch_add(1, Ordering::AcqRel);
        if previous >= self.max() {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Admission(self.clone()))
    }
}

/// Holds a place in the gate until dropped.
struct Admission(Arc<ConnectionGate>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Facts about an accepted connection, for `CLIENT LIST` and logs.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// The server address it connected to.
    pub local: Option<SocketAddr>,
}

/// Accepts clients until `shutdown` fires, serving each on this core with
/// a handler from `make_handler`. Returns once the listener has stopped and
/// every connection it accepted has ended.
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    gate: Arc<ConnectionGate>,
    limits: ProtocolLimits,
    shutdown: Shutdown,
    mut make_handler: F,
) where
    H: Handler + 'static,
    F: FnMut(ConnInfo) -> H,
{
    let live = Rc::new(glommio::sync::Gate::new());
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shutdown.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => break,
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        let Some(admission) = gate.try_enter() else {
            reject(stream).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let info = ConnInfo {
            peer: stream.peer_addr().ok(),
            local: stream.local_addr().ok(),
        };
        let mut handler = make_handler(info);
        let shutdown = shutdown.clone();
        let spawned = live.spawn(async move {
            let ending = serve_connection(stream, &mut handler, limits, &shutdown).await;
            tracing::debug!(?ending, peer = ?info.peer, "connection ended");
            drop(handler);
            drop(admission);
            ending == Ending::Shutdown
        });
        if let Ok(task) = spawned {
            task.detach();
        }
    }
    drop(listener);
    let _ = live.close().await;
}

/// How long to wait after a failed accept (out of descriptors, say) before
/// trying again, so the loop does not spin.
const ACCEPT_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

async fn reject(mut stream: TcpStream) {
    let _ = stream
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
    let _ = stream.close().await;
}
