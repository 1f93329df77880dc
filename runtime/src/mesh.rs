//! How cores talk: a matrix of bounded single-producer single-consumer
//! queues (glommio shared channels), one per ordered pair of cores for
//! requests and one for replies, plus one from the embedding gateway to
//! each core. No locks, no shared maps.
//!
//! Requests and replies travel on separate queues so that waiting can never
//! form a cycle: a core's reply reader only hands replies to local waiters
//! and never waits itself, so a request reader blocked on a full reply queue
//! is always freed.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use glommio::channels::shared_channel::{self, ConnectedSender, SharedReceiver, SharedSender};
use pinwheel_state::{Cmd, Reply};

use crate::argv::OwnedArgv;
use crate::core::CoreCtx;
use crate::handoff::Arrival;
use crate::pipeline::Batch;
use crate::transaction::TransactionRequest;

/// A closure run on another core against that core's state; used for
/// fan-out reads and statistics, never for the hot path.
pub(crate) type CoreCall = Box<dyn FnOnce(&CoreCtx) -> Box<dyn Any + Send> + Send>;

/// What one core asks of another.
pub(crate) enum Request {
    /// Run a command on a group the receiving core owns.
    Group {
        group: u32,
        cmd: Cmd,
        argv: OwnedArgv,
        now_ms: u64,
        /// The asking core's id for a client that may park (0: none).
        waiter: u64,
    },
    /// Run a pipelined client's commands, in order, on groups the
    /// receiving core owns; answered with [`Response::Replies`].
    Batch(Batch),
    /// Run a client's `EXEC` on a group the receiving core owns, in one
    /// step; answered with [`Response::Transaction`].
    Transaction(Box<TransactionRequest>),
    /// Run a closure against the receiving core's state.
    Call(CoreCall),
    /// Take parked client `waiter` out of lock `name`'s queue: its client
    /// on the asking core has gone.
    CancelWait {
        group: u32,
        name: Vec<u8>,
        waiter: u64,
    },
    /// Serve a client connection another core hands over; no answer.
    Adopt(Box<Arrival>),
    /// A client command from the embedding API, answered through `reply`.
    Client {
        argv: OwnedArgv,
        reply: oneshot::Sender<Reply>,
    },
    /// Stop accepting clients and finish the ones connected.
    Drain,
    /// Leave the executor (after every core has drained).
    Exit,
}

/// The answer to a [`Request`], sent back on the reply queue.
pub(crate) enum Response {
    /// A command's reply.
    Reply(Reply),
    /// The reply to a command that was parked in a lock's queue, and how
    /// long it was parked there.
    Waited { reply: Reply, waited: Duration },
    /// A [`Request::Batch`]'s replies, in its commands' order.
    Replies(Vec<Reply>),
    /// A [`Request::Transaction`]'s replies, or `None` when a watched key
    /// had changed and nothing ran.
    Transaction(Option<Vec<Reply>>),
    /// A [`Request::Call`]'s result.
    Value(Box<dyn Any + Send>),
}

/// A request with its return address.
pub(crate) struct Envelope {
    pub from: usize,
    pub id: u64,
    pub request: Request,
}

/// A response with the id of the request it answers.
pub(crate) struct ReplyEnvelope {
    pub id: u64,
    pub response: Response,
}

/// One queue's two ends, each taken by the core that uses it.
struct Queue<T: Send> {
    sender: Option<SharedSender<T>>,
    receiver: Option<SharedReceiver<T>>,
}

impl<T: Send + 'static> Queue<T> {
    fn new(capacity: usize) -> Queue<T> {
        let (sender, receiver) = shared_channel::new_bounded(capacity);
        Queue {
            sender: Some(sender),
            receiver: Some(receiver),
        }
    }
}

/// The unconnected queues of a node, handed out core by core at start.
/// `requests[from][to]`; the diagonal (a core to itself) has no queue.
pub(crate) struct Wiring {
    requests: Vec<Vec<Option<Queue<Envelope>>>>,
    replies: Vec<Vec<Option<Queue<ReplyEnvelope>>>>,
    gateway: Vec<Queue<Envelope>>,
}

/// One core's ends of the wiring, not yet connected; indexed by the other
/// core (`None` at the core's own index).
pub(crate) struct CoreEnds {
    pub request_out: Vec<Option<SharedSender<Envelope>>>,
    pub request_in: Vec<Option<SharedReceiver<Envelope>>>,
    pub reply_out: Vec<Option<SharedSender<ReplyEnvelope>>>,
    pub reply_in: Vec<Option<SharedReceiver<ReplyEnvelope>>>,
    pub gateway_in: SharedReceiver<Envelope>,
}

fn sender<T: Send>(queue: &mut Option<Queue<T>>) -> Option<SharedSender<T>> {
    queue.as_mut().and_then(|q| q.sender.take())
}

fn receiver<T: Send>(queue: &mut Option<Queue<T>>) -> Option<SharedReceiver<T>> {
    queue.as_mut().and_then(|q| q.receiver.take())
}

fn matrix<T: Send + 'static>(cores: usize, capacity: usize) -> Vec<Vec<Option<Queue<T>>>> {
    (0..cores)
        .map(|from| {
            (0..cores)
                .map(|to| (from != to).then(|| Queue::new(capacity)))
                .collect()
        })
        .collect()
}

impl Wiring {
    /// Queues for `cores` cores, each holding `capacity` messages.
    pub fn new(cores: usize, capacity: usize) -> Wiring {
        Wiring {
            requests: matrix(cores, capacity),
            replies: matrix(cores, capacity),
            gateway: (0..cores).map(|_| Queue::new(capacity)).collect(),
        }
    }

    /// Takes core `core`'s ends. Each core's ends are taken once.
    pub fn take_core(&mut self, core: usize) -> CoreEnds {
        let cores = self.requests.len();
        CoreEnds {
            request_out: (0..cores)
                .map(|o| sender(&mut self.requests[core][o]))
                .collect(),
            request_in: (0..cores)
                .map(|o| receiver(&mut self.requests[o][core]))
                .collect(),
            reply_out: (0..cores)
                .map(|o| sender(&mut self.replies[core][o]))
                .collect(),
            reply_in: (0..cores)
                .map(|o| receiver(&mut self.replies[o][core]))
                .collect(),
            gateway_in: self.gateway[core]
                .receiver
                .take()
                .expect("core ends taken once"),
        }
    }

    /// Takes the gateway's senders, one per core.
    pub fn take_gateway(&mut self) -> Vec<SharedSender<Envelope>> {
        self.gateway
            .iter_mut()
            .map(|q| q.sender.take().expect("gateway ends taken once"))
            .collect()
    }
}

/// A core's connected outgoing queues and the requests it awaits answers to.
pub(crate) struct Outbox {
    requests: Vec<Option<Rc<ConnectedSender<Envelope>>>>,
    replies: Vec<Option<Rc<ConnectedSender<ReplyEnvelope>>>>,
    waiting: RefCell<ahash::AHashMap<u64, oneshot::Sender<Response>>>,
    next_id: Cell<u64>,
}

/// The answer to a request a core can no longer serve, and to a lock wait
/// still parked when shutdown begins.
pub(crate) const SHUTTING_DOWN: Reply = Reply::err("ERR server is shutting down");

fn shutting_down() -> Response {
    Response::Reply(SHUTTING_DOWN)
}

impl Outbox {
    pub fn new(
        requests: Vec<Option<ConnectedSender<Envelope>>>,
        replies: Vec<Option<ConnectedSender<ReplyEnvelope>>>,
    ) -> Outbox {
        Outbox {
            requests: requests.into_iter().map(|s| s.map(Rc::new)).collect(),
            replies: replies.into_iter().map(|s| s.map(Rc::new)).collect(),
            waiting: RefCell::new(ahash::AHashMap::new()),
            next_id: Cell::new(1),
        }
    }

    /// Sends `request` to core `to` and waits for its answer. The queue
    /// being full makes this wait: that is the backpressure.
    pub async fn ask(&self, from: usize, to: usize, request: Request) -> Response {
        self.ask_with_id(from, to, request, |_| {}).await
    }

    /// As [`Outbox::ask`], telling `on_id` the request's id before waiting,
    /// so a caller can cancel what it asked for if it stops waiting.
    pub async fn ask_with_id(
        &self,
        from: usize,
        to: usize,
        request: Request,
        on_id: impl FnOnce(u64),
    ) -> Response {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (sender, receiver) = oneshot::channel();
        self.waiting.borrow_mut().insert(id, sender);
        on_id(id);
        let queue = self.requests[to].as_ref().expect("no queue to self");
        if queue.send(Envelope { from, id, request }).await.is_err() {
            self.waiting.borrow_mut().remove(&id);
            return shutting_down();
        }
        receiver.await.unwrap_or_else(|_| shutting_down())
    }

    /// Stops waiting for request `id`; its answer, when it comes, is
    /// handed back by [`Outbox::deliver`].
    pub fn forget(&self, id: u64) {
        self.waiting.borrow_mut().remove(&id);
    }

    /// Sends a request that expects no answer, waiting while the queue is
    /// full; false when the receiving core has stopped reading.
    pub async fn tell(&self, from: usize, to: usize, request: Request) -> bool {
        let Some(queue) = &self.requests[to] else {
            return false;
        };
        let envelope = Envelope {
            from,
            id: 0,
            request,
        };
        queue.send(envelope).await.is_ok()
    }

    /// Sends a request that expects no answer from code that cannot wait
    /// (a drop guard, an effect handler): a task does the waiting.
    pub fn tell_later(&self, from: usize, to: usize, request: Request) {
        if let Some(queue) = self.requests[to].clone() {
            glommio::spawn_local(async move {
                let _ = queue
                    .send(Envelope {
                        from,
                        id: 0,
                        request,
                    })
                    .await;
            })
            .detach();
        }
    }

    /// Answers request `id` of core `to`.
    pub async fn answer(&self, to: usize, id: u64, response: Response) {
        if let Some(queue) = &self.replies[to] {
            let _ = queue.send(ReplyEnvelope { id, response }).await;
        }
    }

    /// Answers from code that cannot wait; a task does the waiting.
    pub fn answer_later(&self, to: usize, id: u64, response: Response) {
        if let Some(queue) = self.replies[to].clone() {
            glommio::spawn_local(async move {
                let _ = queue.send(ReplyEnvelope { id, response }).await;
            })
            .detach();
        }
    }

    /// Hands an answer that arrived to whoever waits for it; gives it back
    /// when nobody does any more.
    pub fn deliver(&self, reply: ReplyEnvelope) -> Option<(u64, Response)> {
        let waiter = self.waiting.borrow_mut().remove(&reply.id);
        match waiter {
            Some(waiter) => waiter.send(reply.response).err().map(|r| (reply.id, r)),
            None => Some((reply.id, reply.response)),
        }
    }
}
