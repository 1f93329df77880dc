//! The accept loop each core runs on the shared client port, and the
//! connections a core serves, including those handed to it by another.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
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

/// A client's place among the connections the gate admits. It goes
/// wherever the connection is served and gives the place back when the
/// connection ends.
#[derive(Debug)]
pub struct Admission(Arc<ConnectionGate>);

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

/// A quiet connection on its way to another core. Unlike a glommio
/// stream it is `Send`: a socket, the connection's place in the gate, and
/// its addresses. Dropped on the way, it closes the connection.
#[derive(Debug)]
pub struct Handoff {
    socket: OwnedFd,
    admission: Admission,
    /// The connection's addresses.
    pub info: ConnInfo,
}

/// A second descriptor for a stream's socket. glommio streams give no
/// descriptor away, so a socket leaves its core as a duplicate, and the
/// stream is dropped after: that also cancels a readiness poll the stream
/// may have left armed on this core's ring, which would otherwise hold the
/// socket open after the new core closes it.
fn duplicate_socket(stream: &TcpStream) -> std::io::Result<OwnedFd> {
    // Safety: the descriptor is the stream's, open while it is borrowed.
    unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) }.try_clone_to_owned()
}

/// The client connections one core serves: the ones it accepted and the
/// ones handed to it by other cores. Closing waits for every one to end.
pub struct Connections {
    live: glommio::sync::Gate,
    limits: ProtocolLimits,
    shutdown: Shutdown,
    abort: Shutdown,
}

impl Connections {
    /// Connections that hold to `limits`, finish what their clients sent
    /// and end when `shutdown` fires, and end at once, answered or not,
    /// when `abort` fires: for a shutdown whose grace period ran out (a
    /// client that never stops sending, one parked in a lock wait). An
    /// aborted connection's task is dropped on this core while its
    /// executor still runs, which closes its socket and lets `close`
    /// return.
    pub fn new(limits: ProtocolLimits, shutdown: Shutdown, abort: Shutdown) -> Connections {
        Connections {
            live: glommio::sync::Gate::new(),
            limits,
            shutdown,
            abort,
        }
    }

    /// Serves a connection handed off by another core on this one.
    pub fn adopt<H: Handler + 'static>(&self, handoff: Handoff, handler: H) {
        let Handoff {
            socket,
            admission,
            info,
        } = handoff;
        // Safety: the descriptor is owned and passes to the stream.
        let stream = unsafe { TcpStream::from_raw_fd(socket.into_raw_fd()) };
        self.serve(stream, admission, info, handler)
    }

    /// Serves a connection on this core until it ends or is handed off.
    /// One that arrives after `close` (a handoff that crossed the start of
    /// shutdown) is still served, outside the gate: shutdown has fired, so
    /// it answers what its client already sent and closes, unless the core
    /// exits first.
    fn serve<H: Handler + 'static>(
        &self,
        mut stream: TcpStream,
        admission: Admission,
        info: ConnInfo,
        mut handler: H,
    ) {
        let limits = self.limits;
        let shutdown = self.shutdown.clone();
        let kill = handler.kill_signal();
        let task = async move {
            loop {
                let ending = serve_connection(&mut stream, &mut handler, limits, &shutdown).await;
                tracing::debug!(?ending, peer = ?info.peer, "connection loop ended");
                if ending != Ending::HandedOff {
                    // The client leaves the client list before the count
                    // drops.
                    drop(handler);
                    drop(admission);
                    return;
                }
                match duplicate_socket(&stream) {
                    Ok(socket) => {
                        drop(stream);
                        let handoff = Handoff {
                            socket,
                            admission,
                            info,
                        };
                        return handler.hand_off(handoff).await;
                    }
                    // The connection is quiet (nothing unanswered, no
                    // input left), so serving it on here starts afresh.
                    Err(error) => {
                        tracing::warn!(%error, "a connection could not be handed off; it stays");
                        handler.handoff_failed();
                    }
                }
            }
        };
        let abort = self.abort.clone();
        // Aborted (shutdown's grace is over) or killed, the task is dropped
        // here, which closes the socket and runs the handler's guards.
        let task = async move {
            let ended = futures_lite::future::or(abort.wait(), kill.wait());
            futures_lite::future::or(task, ended).await
        };
        if !self.live.is_open() {
            glommio::spawn_local(task).detach();
        } else if let Ok(handle) = self.live.spawn(task) {
            handle.detach();
        }
    }

    /// Waits until every connection served here has ended or left.
    pub async fn close(&self) {
        let _ = self.live.close().await;
    }
}

/// Accepts clients until `shutdown` fires, serving each in `connections`
/// with a handler from `make_handler`. Returns once the listener has
/// stopped; the connections may still be open.
pub async fn accept_loop<H, F>(
    listener: TcpListener,
    gate: Arc<ConnectionGate>,
    connections: &Connections,
    mut make_handler: F,
) where
    H: Handler + 'static,
    F: FnMut(ConnInfo) -> H,
{
    let shutdown = &connections.shutdown;
    let mut warnings = RateLimited::new(ACCEPT_WARNING_INTERVAL);
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
                if let Some(suppressed) = warnings.allow(std::time::Instant::now()) {
                    tracing::warn!(
                        %error,
                        suppressed,
                        "accept failed (the count is of like warnings suppressed since the last)"
                    );
                }
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
        let handler = make_handler(info);
        connections.serve(stream, admission, info, handler);
    }
}

/// How long to wait after a failed accept (out of descriptors, say) before
/// trying again, so the loop does not spin.
const ACCEPT_RETRY_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

/// Least time between two "accept failed" warnings of one core: a core out
/// of descriptors fails every [`ACCEPT_RETRY_DELAY`], and a line each time
/// buried the log (5,857 lines a minute). The ones in between are counted
/// in the next.
pub const ACCEPT_WARNING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Lets a repeated warning through at most once per interval, counting
/// the ones held back.
#[derive(Debug)]
struct RateLimited {
    interval: std::time::Duration,
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl RateLimited {
    fn new(interval: std::time::Duration) -> RateLimited {
        RateLimited {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(suppressed since the last one)` when a warning may be logged
    /// at `now`; `None` (and one more suppressed) when not.
    fn allow(&mut self, now: std::time::Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

async fn reject(mut stream: TcpStream) {
    let _ = stream
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
    let _ = stream.close().await;
}

#[cfg(test)]
mod tests {
    use super::RateLimited;
    use std::time::{Duration, Instant};

    #[test]
    fn a_repeated_warning_passes_once_per_interval_with_a_count() {
        let mut limited = RateLimited::new(Duration::from_secs(10));
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(limited.allow(at(0)), Some(0));
        let passed: Vec<_> = (1..=6000)
            .filter_map(|i| limited.allow(at(i * 10)))
            .collect();
        // One minute of failures every 10 ms: one line per 10 s.
        assert_eq!(passed, vec![999; 6], "each line counts the ones held back");
        assert_eq!(limited.allow(at(80_000)), Some(0));
    }
}
