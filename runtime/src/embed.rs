//! The embedding API: a handle any thread can use to run commands on an
//! in-process node.
//!
//! Callers are ordinary threads (or another async runtime), which cannot
//! send on glommio's queues themselves: those need a glommio executor on
//! the sending thread. So requests cross a bounded crossbeam queue to a
//! small gateway executor, which forwards each to the core owning its key;
//! the answer comes straight back on a oneshot channel.

use std::sync::Arc;

use futures::channel::oneshot;
use glommio::channels::shared_channel::{ConnectedSender, SharedSender};
use pinwheel_state::{lookup, Keys, Reply};

use crate::argv::OwnedArgv;
use crate::core::NodeShared;
use crate::mesh::{Envelope, Request};
use crate::ring::core_of;

/// What the gateway is asked to do.
pub(crate) enum GatewayMsg {
    /// Run a client command.
    Command {
        argv: OwnedArgv,
        reply: oneshot::Sender<Reply>,
    },
    /// Tell every core to stop accepting and finish its clients.
    Drain,
    /// Tell every core to leave, then leave.
    Exit,
}

/// Why a command could not be run through a [`Handle`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandleError {
    /// The node has shut down.
    #[error("the node has shut down")]
    Stopped,
    /// The command had no arguments at all.
    #[error("empty command")]
    Empty,
}

/// Runs commands on a node from any thread. Cheap to clone; every clone
/// talks to the same node. Replies are the same values a network client
/// gets, errors included (`Reply::Error`).
#[derive(Clone, Debug)]
pub struct Handle {
    gateway: crossbeam::channel::Sender<GatewayMsg>,
}

impl Handle {
    pub(crate) fn new(gateway: crossbeam::channel::Sender<GatewayMsg>) -> Handle {
        Handle { gateway }
    }

    pub(crate) fn send(&self, message: GatewayMsg) -> Result<(), HandleError> {
        self.gateway.send(message).map_err(|_| HandleError::Stopped)
    }

    /// Runs a command (`["SET", "k", "v"]`) and waits for its reply. The
    /// future works on any executor. It waits while the node's request
    /// queue is full.
    pub async fn call<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply, HandleError> {
        let receiver = self.submit(args)?;
        receiver.await.map_err(|_| HandleError::Stopped)
    }

    /// Runs a command and blocks this thread until its reply. Do not call
    /// it from a node's own executor threads.
    pub fn call_blocking<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply, HandleError> {
        let receiver = self.submit(args)?;
        futures::executor::block_on(receiver).map_err(|_| HandleError::Stopped)
    }

    /// Sends a command without waiting for its reply (a dropped guard's
    /// release). It waits only while the node's request queue is full.
    pub(crate) fn send_only<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<(), HandleError> {
        self.submit(args).map(drop)
    }

    fn submit<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<oneshot::Receiver<Reply>, HandleError> {
        if args.is_empty() {
            return Err(HandleError::Empty);
        }
        let argv = OwnedArgv::new(args.iter().map(AsRef::as_ref));
        let (reply, receiver) = oneshot::channel();
        self.send(GatewayMsg::Command { argv, reply })?;
        Ok(receiver)
    }
}

/// The gateway executor's only task: forward requests until told to exit.
pub(crate) async fn run_gateway(
    requests: crossbeam::channel::Receiver<GatewayMsg>,
    senders: Vec<SharedSender<Envelope>>,
    node: Arc<NodeShared>,
) {
    let mut cores: Vec<ConnectedSender<Envelope>> = Vec::with_capacity(senders.len());
    for sender in senders {
        cores.push(sender.connect().await);
    }
    let mut next_core = 0;
    // Blocking here is deliberate: this executor runs nothing else, and a
    // send that finds a core's queue full still waits asynchronously.
    while let Ok(message) = requests.recv() {
        match message {
            GatewayMsg::Command { argv, reply } => {
                let core = target_core(&node, &argv, &mut next_core);
                let request = Request::Client { argv, reply };
                let _ = cores[core]
                    .send(Envelope {
                        from: usize::MAX,
                        id: 0,
                        request,
                    })
                    .await;
            }
            GatewayMsg::Drain => broadcast(&cores, || Request::Drain).await,
            GatewayMsg::Exit => {
                broadcast(&cores, || Request::Exit).await;
                return;
            }
        }
    }
}

/// The core that owns a single-key command's key, so it runs without a
/// further hop; other commands go round-robin.
fn target_core(node: &NodeShared, argv: &OwnedArgv, next_core: &mut usize) -> usize {
    let args = argv.slices();
    if let (Some(spec), Some(key)) = (lookup(args[0]), args.get(1)) {
        if spec.keys == Keys::First {
            return core_of(node.ring.group_of(key), node.cores);
        }
    }
    *next_core = (*next_core + 1) % node.cores;
    *next_core
}

async fn broadcast(cores: &[ConnectedSender<Envelope>], request: impl Fn() -> Request) {
    for core in cores {
        let _ = core
            .send(Envelope {
                from: usize::MAX,
                id: 0,
                request: request(),
            })
            .await;
    }
}
