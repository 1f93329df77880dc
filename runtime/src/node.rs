//! Starting and stopping a node: one pinned glommio executor per core, the
//! queues between them, the client listeners, and the embedding gateway.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use pinwheel_net::ConnectionGate;

use crate::core::{run_core, NodeShared};
use crate::embed::{run_gateway, GatewayMsg, Handle};
use crate::mesh::Wiring;
use crate::ring::HashRing;
use crate::{Config, ConfigError};

/// Pending connections the kernel queues per core before accepting.
const LISTEN_BACKLOG: i32 = 1024;
/// How long a shutdown waits for connected clients to finish before the
/// cores leave anyway (a client that never reads its replies cannot hold
/// the node up for longer).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Capacity of the embedding API's request queue, in requests; callers
/// wait when it is full.
pub const EMBED_QUEUE_CAPACITY: usize = 4096;

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting has a value it cannot take.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The client port could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// An executor thread could not be started.
    #[error("cannot start core {core}: {reason}")]
    Executor {
        /// The core index.
        core: usize,
        /// What glommio said.
        reason: String,
    },
}

/// Builds a node. Every setting has a default (see [`Config`]): with none
/// changed, the node runs in memory on every core and opens no socket.
#[derive(Debug, Clone, Default)]
pub struct NodeBuilder {
    config: Config,
}

impl NodeBuilder {
    /// A builder with the default configuration.
    pub fn new() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> NodeBuilder {
        self.config = config;
        self
    }

    /// Serves Redis clients on `addr` (port 0 picks a free port; see
    /// [`Node::local_addr`]). Default: no socket.
    pub fn listen(mut self, addr: SocketAddr) -> NodeBuilder {
        self.config.listen = Some(addr);
        self
    }

    /// Runs on `cores` cores. Default: every core.
    pub fn cores(mut self, cores: usize) -> NodeBuilder {
        self.config.cores = cores;
        self
    }

    /// Splits the key space into `groups` shard groups. Default 64.
    pub fn groups(mut self, groups: u32) -> NodeBuilder {
        self.config.groups = groups;
        self
    }

    /// Starts the node; returns once every core serves.
    pub fn start(self) -> Result<Node, StartError> {
        Node::start(self.config)
    }
}

/// A running node. Dropping it shuts it down as [`Node::shutdown`] does.
pub struct Node {
    shared: Arc<NodeShared>,
    cores: Vec<ExecutorJoinHandle<()>>,
    gateway: Option<ExecutorJoinHandle<()>>,
    handle: Handle,
    drained: crossbeam::channel::Receiver<usize>,
}

impl Node {
    /// A builder with the default configuration.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::new()
    }

    fn start(config: Config) -> Result<Node, StartError> {
        config.validate()?;
        let cores = config.core_count();
        // Without a socket there are no clients to find descriptors for.
        let max_connections =
            match config.listen {
                Some(_) => crate::fdlimit::check_at_start(config.max_connections, cores).map_err(
                    |reason| ConfigError {
                        key: "max-connections",
                        reason,
                    },
                )?,
                None => config.max_connections,
            };
        let listeners = bind_listeners(config.listen, cores)?;
        let shared = Arc::new(NodeShared {
            cores,
            ring: HashRing::new(config.groups),
            gate: Arc::new(ConnectionGate::new(max_connections)),
            next_client_id: AtomicU64::new(1),
            draining: AtomicBool::new(false),
            started: Instant::now(),
            listen: listeners.as_ref().map(|(addr, _)| *addr),
            config,
        });
        let mut wiring = Wiring::new(cores, shared.config.core_queue_capacity);
        let (drained_tx, drained) = crossbeam::channel::bounded(cores);
        let sockets: Vec<Option<socket2::Socket>> = match listeners {
            Some((_, sockets)) => sockets.into_iter().map(Some).collect(),
            None => (0..cores).map(|_| None).collect(),
        };
        let mut threads = Vec::with_capacity(cores);
        for (index, socket) in sockets.into_iter().enumerate() {
            let ends = wiring.take_core(index);
            let node = shared.clone();
            let drained = drained_tx.clone();
            let builder = LocalExecutorBuilder::new(Placement::Fixed(pinned_cpu(index)))
                .name(&format!("pinwheel-core-{index}"))
                .io_memory(shared.config.io_memory_bytes);
            let spawned = builder.spawn(move || async move {
                // Safety: the socket was bound for this core alone and its
                // descriptor is owned by the listener from here on.
                let listener = socket
                    .map(|s| unsafe { glommio::net::TcpListener::from_raw_fd(s.into_raw_fd()) });
                run_core(index, node, ends, listener, drained).await;
            });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(error) => {
                    return Err(StartError::Executor {
                        core: index,
                        reason: error.to_string(),
                    })
                }
            }
        }
        let (gateway_tx, gateway_rx) = crossbeam::channel::bounded(EMBED_QUEUE_CAPACITY);
        let senders = wiring.take_gateway();
        let ring = shared.clone();
        let gateway = LocalExecutorBuilder::new(Placement::Unbound)
            .name("pinwheel-gateway")
            .io_memory(shared.config.io_memory_bytes)
            .spawn(move || run_gateway(gateway_rx, senders, ring))
            .map_err(|error| StartError::Executor {
                core: cores,
                reason: error.to_string(),
            })?;
        Ok(Node {
            shared,
            cores: threads,
            gateway: Some(gateway),
            handle: Handle::new(gateway_tx),
            drained,
        })
    }

    /// A handle to run commands from any thread; cheap to clone.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The client address actually listened on (port 0 resolved).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.listen
    }

    /// The cores the node runs on.
    pub fn cores(&self) -> usize {
        self.shared.cores
    }

    /// Stops accepting clients, answers what each connected client has
    /// sent (waiting at most [`SHUTDOWN_GRACE`]), then stops every core.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(gateway) = self.gateway.take() else {
            return;
        };
        self.shared.draining.store(true, Ordering::SeqCst);
        let _ = self.handle.send(GatewayMsg::Drain);
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        for _ in 0..self.cores.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.drained.recv_timeout(left).is_err() {
                tracing::warn!("clients still connected after the shutdown grace period");
                break;
            }
        }
        let _ = self.handle.send(GatewayMsg::Exit);
        let _ = gateway.join();
        for core in self.cores.drain(..) {
            let _ = core.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The CPU core index `index` is pinned to: cores in order, wrapping if
/// the machine has fewer (validation prevents that for `cores`).
fn pinned_cpu(index: usize) -> usize {
    index % crate::config::available_cores()
}

/// Binds one listening socket per core on the same address with
/// SO_REUSEPORT, so the kernel spreads connections over the cores. Port 0
/// is resolved by the first bind and reused by the rest.
fn bind_listeners(
    listen: Option<SocketAddr>,
    cores: usize,
) -> Result<Option<(SocketAddr, Vec<socket2::Socket>)>, StartError> {
    let Some(mut addr) = listen else {
        return Ok(None);
    };
    let asked = addr;
    let error = |source| StartError::Listen {
        addr: asked,
        source,
    };
    let mut sockets = Vec::with_capacity(cores);
    for _ in 0..cores {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .map_err(error)?;
        socket.set_reuse_address(true).map_err(error)?;
        socket.set_reuse_port(true).map_err(error)?;
        socket.bind(&addr.into()).map_err(error)?;
        socket.listen(LISTEN_BACKLOG).map_err(error)?;
        if let Some(bound) = socket.local_addr().map_err(error)?.as_socket() {
            addr = bound;
        }
        sockets.push(socket);
    }
    Ok(Some((addr, sockets)))
}
