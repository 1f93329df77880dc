//! Starting and stopping a node: one pinned glommio executor per core, the
//! queues between them, the client listeners, and the embedding gateway.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use glommio::{ExecutorJoinHandle, LocalExecutorBuilder, Placement};
use pinwheel_net::ConnectionGate;

use crate::core::{run_core, NodeShared};
use crate::embed::{run_gateway, GatewayMsg, Handle};
use crate::io_memory::{self, kib, IoPlan, IO_MEMORY_AUTO_MAX_BYTES, IO_MEMORY_MIN_BYTES};
use crate::mesh::Wiring;
use crate::ring::HashRing;
use crate::{Config, ConfigError};

/// Pending connections the kernel queues on the client port before a
/// core accepts them (one queue, shared by every core).
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
    /// An executor (a core's or the gateway's) could not be started, or
    /// failed before it was ready to serve.
    #[error("cannot start {executor}: {reason}")]
    Executor {
        /// Which executor: `core N` or `the gateway`.
        executor: String,
        /// What went wrong, with the fix when it is a known limit.
        reason: String,
    },
    /// The locked-memory limit (`ulimit -l`) is below what the cores'
    /// io_uring buffers need; nothing was started.
    #[error("{}", memory_lock_message(*.cores, *.io_memory_bytes, *.limit_bytes, *.needed_bytes))]
    MemoryLock {
        /// Cores asked for.
        cores: usize,
        /// `io-memory-bytes` as set (0: the node's choice, which was
        /// already at its smallest).
        io_memory_bytes: usize,
        /// The soft `RLIMIT_MEMLOCK`, in bytes.
        limit_bytes: u64,
        /// The limit the node needs, in bytes.
        needed_bytes: u64,
    },
}

/// The message of [`StartError::MemoryLock`]: the figures, then the fix.
fn memory_lock_message(cores: usize, asked: usize, limit: u64, needed: u64) -> String {
    let (size, other_fix) = if asked == 0 {
        (IO_MEMORY_MIN_BYTES, "or run it with CAP_IPC_LOCK")
    } else {
        (
            asked,
            "or lower io-memory-bytes (or leave it unset to fit the limit)",
        )
    };
    let plural = if cores == 1 { "" } else { "s" };
    format!(
        "cannot lock io_uring memory: {cores} core{plural} with io-memory-bytes {size} need \
         a locked-memory limit (ulimit -l) of {} KiB, and this process may lock {} KiB. \
         Raise it (`ulimit -l {}`, or LimitMEMLOCK= for a systemd service), {other_fix}",
        kib(needed),
        kib(limit),
        kib(needed),
    )
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

    /// Starts the node; returns once every core is ready to serve, or
    /// with the error of the first that could not start.
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

    /// Creates every executor, one at a time, each reporting that it
    /// exists before the next is spawned; only then do they connect their
    /// queues and serve. Returns the first failure instead, with no
    /// executor left running.
    fn start(config: Config) -> Result<Node, StartError> {
        config.validate()?;
        let cores = config.core_count();
        let io = io_memory::plan(config.io_memory_bytes, cores, io_memory::memlock_limit())?;
        warn_if_shrunk(&io, cores);
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
        let mut starting = Vec::with_capacity(cores + 1);
        for (index, socket) in sockets.into_iter().enumerate() {
            let ends = wiring.take_core(index);
            let node = shared.clone();
            let drained = drained_tx.clone();
            let builder = LocalExecutorBuilder::new(Placement::Fixed(pinned_cpu(index)))
                .name(&format!("pinwheel-core-{index}"))
                .io_memory(io.core_bytes);
            let serve = move || async move {
                // Safety: the descriptor is this core's own (a duplicate
                // of the bound socket's) and the listener owns it from
                // here on.
                let listener = socket
                    .map(|s| unsafe { glommio::net::TcpListener::from_raw_fd(s.into_raw_fd()) });
                run_core(index, node, ends, listener, drained).await;
            };
            let core = Starting::spawn(builder, format!("core {index}"), serve);
            match core.and_then(|core| core.ready(&io, cores)) {
                Ok(core) => starting.push(core),
                Err(error) => return Err(abandon(starting, error)),
            }
        }
        let (gateway_tx, gateway_rx) = crossbeam::channel::bounded(EMBED_QUEUE_CAPACITY);
        let senders = wiring.take_gateway();
        let ring = shared.clone();
        let builder = LocalExecutorBuilder::new(Placement::Unbound)
            .name("pinwheel-gateway")
            .io_memory(io.gateway_bytes);
        let serve = move || run_gateway(gateway_rx, senders, ring);
        let gateway = Starting::spawn(builder, "the gateway".to_string(), serve);
        match gateway.and_then(|gateway| gateway.ready(&io, cores)) {
            Ok(gateway) => starting.push(gateway),
            Err(error) => return Err(abandon(starting, error)),
        }
        let mut threads: Vec<_> = starting.into_iter().map(Starting::go).collect();
        let gateway = threads.pop();
        Ok(Node {
            shared,
            cores: threads,
            gateway,
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

/// An executor thread spawned but not yet serving: it says whether its
/// executor could be created, then waits to be told to serve. Nothing
/// crosses between cores before every one is ready, so a node that fails
/// to start has no core waiting on a queue to a core that never came up.
struct Starting {
    name: String,
    thread: ExecutorJoinHandle<()>,
    ready: crossbeam::channel::Receiver<()>,
    go: oneshot::Sender<()>,
}

impl Starting {
    /// Spawns an executor that reports once it exists, then runs `serve`
    /// when told to go, or returns if the node gives up.
    fn spawn<F, Fut>(
        builder: LocalExecutorBuilder,
        name: String,
        serve: F,
    ) -> Result<Starting, StartError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        let (ready_tx, ready) = crossbeam::channel::bounded(1);
        let (go, go_rx) = oneshot::channel();
        // If glommio cannot create the executor it returns before it calls
        // this closure, which drops `ready_tx` unsent.
        let spawned = builder.spawn(move || async move {
            let _ = ready_tx.send(());
            if go_rx.await.is_ok() {
                serve().await;
            }
        });
        match spawned {
            Ok(thread) => Ok(Starting {
                name,
                thread,
                ready,
                go,
            }),
            Err(error) => Err(StartError::Executor {
                executor: name,
                reason: error.to_string(),
            }),
        }
    }

    /// Waits until the executor reports that it exists; if it failed
    /// instead, returns why. One executor is created at a time, so the
    /// failure named is the first, whatever it was.
    fn ready(self, io: &IoPlan, cores: usize) -> Result<Starting, StartError> {
        if self.ready.recv().is_ok() {
            return Ok(self);
        }
        let Starting { name, thread, .. } = self;
        let reason = match thread.join() {
            Err(cause) => explain_executor_error(&cause, io, cores),
            Ok(()) => "it stopped before it was ready".to_string(),
        };
        Err(StartError::Executor {
            executor: name,
            reason,
        })
    }

    /// Lets the executor serve.
    fn go(self) -> ExecutorJoinHandle<()> {
        let _ = self.go.send(());
        self.thread
    }
}

/// Stops the executors already spawned (they are waiting to be told to
/// serve) and returns `error`.
fn abandon(starting: Vec<Starting>, error: StartError) -> StartError {
    for Starting { thread, go, .. } in starting {
        drop(go);
        let _ = thread.join();
    }
    error
}

/// glommio's error, with what it most likely means when it is one a
/// deployment can cause: locked memory (the limit is per user, so other
/// processes may hold some of it), or a refused system call.
fn explain_executor_error(cause: &glommio::GlommioError<()>, io: &IoPlan, cores: usize) -> String {
    use glommio::{GlommioError, ReactorErrorKind};
    let kind = match cause {
        GlommioError::IoError(error) => Some(error.kind()),
        _ => None,
    };
    let memory = matches!(
        cause,
        GlommioError::ReactorError(ReactorErrorKind::MemLockLimit(..))
    ) || kind == Some(std::io::ErrorKind::OutOfMemory);
    if memory {
        let needed = kib(io_memory::locked_bytes(cores, io.core_bytes));
        let limit = io_memory::memlock_limit()
            .map_or("unlimited".to_string(), |l| format!("{} KiB", kib(l)));
        return format!(
            "{cause}. io_uring needs locked memory: this node pins {needed} KiB, and ulimit -l \
             is {limit}, shared by all of this user's processes. Raise it (`ulimit -l \
             {needed}`) or lower io-memory-bytes"
        );
    }
    if kind == Some(std::io::ErrorKind::PermissionDenied) {
        return format!(
            "{cause}: the system refused to set up io_uring or to pin the core's thread \
             (a container's seccomp profile, or the sysctl kernel.io_uring_disabled, can do this)"
        );
    }
    cause.to_string()
}

/// One line when the locked-memory limit made the io buffers smaller
/// than the default.
fn warn_if_shrunk(io: &IoPlan, cores: usize) {
    let Some(limit) = io.shrunk_by_limit else {
        return;
    };
    tracing::warn!(
        "ulimit -l is {} KiB: each core registers {} KiB of io_uring buffers instead of {} \
         (that needs ulimit -l {} on {cores} core{}); Pinwheel does no file I/O yet, so \
         nothing is slower",
        kib(limit),
        io.core_bytes / 1024,
        IO_MEMORY_AUTO_MAX_BYTES / 1024,
        kib(io_memory::locked_bytes(cores, IO_MEMORY_AUTO_MAX_BYTES)),
        if cores == 1 { "" } else { "s" },
    );
}

/// The CPU core index `index` is pinned to: cores in order, wrapping if
/// the machine has fewer (validation prevents that for `cores`).
fn pinned_cpu(index: usize) -> usize {
    index % crate::config::available_cores()
}

/// Binds the client port once, exclusively, and gives every core its own
/// descriptor for that one socket.
///
/// No SO_REUSEPORT: with it, a second process (a second node started by
/// mistake) could bind the same port and the kernel would split clients
/// between two lock tables. Without it the bind is the kernel's atomic
/// test of whether the port is free, so two nodes started at once cannot
/// both pass; a port held by anyone, whether or not they set
/// SO_REUSEPORT, is refused. SO_REUSEADDR stays, so a restart does not
/// wait out the old process's TIME_WAIT connections (Linux never lets it
/// join a socket that is listening).
///
/// The cores share one accept queue through duplicated descriptors. The
/// socket is made non-blocking first: glommio's fast path sets and then
/// restores O_NONBLOCK around a plain `accept`, and the flag belongs to
/// the socket, not the descriptor, so two cores doing that at once could
/// leave it blocking and stall one core inside `accept`. With the flag
/// already set, setting and restoring it changes nothing.
fn bind_listeners(
    listen: Option<SocketAddr>,
    cores: usize,
) -> Result<Option<(SocketAddr, Vec<socket2::Socket>)>, StartError> {
    let Some(asked) = listen else {
        return Ok(None);
    };
    let error = |source| StartError::Listen {
        addr: asked,
        source,
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(asked),
        socket2::Type::STREAM,
        None,
    )
    .map_err(error)?;
    socket.set_reuse_address(true).map_err(error)?;
    socket.bind(&asked.into()).map_err(error)?;
    socket.listen(LISTEN_BACKLOG).map_err(error)?;
    socket.set_nonblocking(true).map_err(error)?;
    let bound = socket
        .local_addr()
        .map_err(error)?
        .as_socket()
        .unwrap_or(asked);
    let mut sockets = Vec::with_capacity(cores);
    for _ in 1..cores {
        sockets.push(socket.try_clone().map_err(error)?);
    }
    sockets.push(socket);
    Ok(Some((bound, sockets)))
}
