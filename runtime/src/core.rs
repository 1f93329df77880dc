//! One core: the shard groups it owns, its statistics and clients, and the
//! tasks that serve its queues, timers and listener.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use glommio::channels::shared_channel::{ConnectedReceiver, SharedReceiver, SharedSender};
use pinwheel_net::{ConnectionGate, Connections, Shutdown};
use pinwheel_state::{Cmd, Effect, Entry, Group, Kind, Reply};

use crate::argv::OwnedArgv;
use crate::clock::WallClock;
use crate::mesh::{CoreEnds, Envelope, Outbox, ReplyEnvelope, Request, Response, SHUTTING_DOWN};
use crate::ring::{core_of, HashRing};
use crate::session::LiveClient;
use crate::stats::Stats;
use crate::timers::{TimerAction, TimerKey, Timers};
use crate::transaction::TransactionRequest;
use crate::Config;

/// What every core shares, read-only after start but for a few counters.
pub(crate) struct NodeShared {
    pub config: Config,
    pub cores: usize,
    pub ring: HashRing,
    pub gate: Arc<ConnectionGate>,
    pub next_client_id: AtomicU64,
    /// Set before any core is told to drain: from then on no connection
    /// is handed off, so none reaches a core that has stopped serving.
    pub draining: AtomicBool,
    pub started: Instant,
    /// The client address actually bound (port 0 resolved), if listening.
    pub listen: Option<SocketAddr>,
}

/// Where the answer to a parked command goes once it is decided.
pub(crate) enum ReplyTo {
    /// A task on this core.
    Here(oneshot::Sender<Reply>),
    /// Request `id` of another core.
    Core { core: usize, id: u64 },
}

/// A client parked in a lock's queue.
struct Parked {
    reply: ReplyTo,
    group: u32,
    name: Vec<u8>,
    /// When it was queued, for the `lock.wait` histogram.
    since: Instant,
}

/// What a group said to a command.
pub(crate) enum Submitted {
    /// The answer.
    Done(Reply),
    /// The client waits in a lock queue as `waiter`.
    Parked(u64),
}

/// A core's state; shared by the tasks on that core through `Rc`.
pub(crate) struct CoreCtx {
    pub index: usize,
    pub node: Arc<NodeShared>,
    /// The groups this core owns, at `group / cores`.
    groups: RefCell<Vec<Group>>,
    pub stats: RefCell<Stats>,
    pub outbox: Outbox,
    pub clients: RefCell<ahash::AHashMap<u64, LiveClient>>,
    timers: RefCell<Timers>,
    parked: RefCell<ahash::AHashMap<u64, Parked>>,
    /// Lock grants that went to a remote request whose client has gone,
    /// by request id.
    abandoned: RefCell<ahash::AHashMap<u64, AbandonedWait>>,
    next_waiter: Cell<u64>,
    rng: Cell<u64>,
    /// The Unix time commands on this core carry.
    pub clock: WallClock,
    /// Fires when the core must stop accepting and finish its clients.
    pub drain: Shutdown,
    /// The client connections this core serves.
    pub connections: Connections,
    /// Fires when the core must leave; it also ends the connections still
    /// open then.
    exit: Shutdown,
}

/// A remote lock wait whose client left before the answer came: if the
/// answer is a grant, the lock must be released on the owning core.
struct AbandonedWait {
    owner: usize,
    group: u32,
    name: Vec<u8>,
}

impl CoreCtx {
    fn new(index: usize, node: Arc<NodeShared>, outbox: Outbox) -> CoreCtx {
        let limits = node.config.group_limits();
        let owned = (0..node.ring.groups()).filter(|&g| core_of(g, node.cores) == index);
        let drain = Shutdown::new();
        let exit = Shutdown::new();
        let connections =
            Connections::new(node.config.protocol_limits(), drain.clone(), exit.clone());
        CoreCtx {
            index,
            groups: RefCell::new(owned.map(|_| Group::new(limits)).collect()),
            stats: RefCell::new(Stats::default()),
            outbox,
            clients: RefCell::new(ahash::AHashMap::new()),
            timers: RefCell::new(Timers::default()),
            parked: RefCell::new(ahash::AHashMap::new()),
            abandoned: RefCell::new(ahash::AHashMap::new()),
            next_waiter: Cell::new(1),
            rng: Cell::new(0x853c_49e6_748f_ea9b ^ index as u64),
            clock: WallClock::new(),
            drain,
            connections,
            exit,
            node,
        }
    }

    /// The core that owns `group`.
    pub fn owner(&self, group: u32) -> usize {
        core_of(group, self.node.cores)
    }

    /// A fresh id for a client that may park; unique across the node
    /// because the core index is in the top byte.
    pub fn new_waiter(&self) -> u64 {
        let n = self.next_waiter.get();
        self.next_waiter.set(n + 1);
        ((self.index as u64) << 56) | n
    }

    /// A pseudo-random number (xorshift), for `RANDOMKEY`.
    pub fn random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    /// Runs `f` on one group this core owns.
    pub fn with_group<R>(&self, group: u32, f: impl FnOnce(&mut Group) -> R) -> R {
        debug_assert_eq!(self.owner(group), self.index);
        f(&mut self.groups.borrow_mut()[group as usize / self.node.cores])
    }

    /// Runs `f` over every group this core owns.
    pub fn with_groups<R>(&self, f: impl FnOnce(&mut [Group]) -> R) -> R {
        f(&mut self.groups.borrow_mut())
    }

    /// Applies or reads a command on a group this core owns, acting on the
    /// effects of the write.
    pub fn submit(
        &self,
        group: u32,
        cmd: Cmd,
        args: &[&[u8]],
        now_ms: u64,
        waiter: u64,
    ) -> Submitted {
        debug_assert_eq!(self.owner(group), self.index);
        let local = group as usize / self.node.cores;
        let mut effects = Vec::new();
        let reply = {
            let mut groups = self.groups.borrow_mut();
            let state = &mut groups[local];
            if cmd.spec().kind == Kind::Read {
                Some(state.read(cmd, args, now_ms))
            } else {
                let entry = Entry {
                    cmd,
                    args,
                    now_ms,
                    waiter,
                };
                state.apply(&entry, &mut effects)
            }
        };
        for effect in effects {
            self.act_on(group, effect);
        }
        match reply {
            Some(reply) => Submitted::Done(reply),
            None => Submitted::Parked(waiter),
        }
    }

    /// Applies a client's transaction to a group this core owns in one
    /// step, acting on its effects as for single commands.
    pub fn submit_transaction(&self, request: &TransactionRequest) -> Option<Vec<Reply>> {
        let mut effects = Vec::new();
        let outcome = self.with_group(request.group, |group| request.apply(group, &mut effects));
        for effect in effects {
            self.act_on(request.group, effect);
        }
        outcome
    }

    /// Runs a command that cannot park (it carries no waiter) on a group
    /// this core owns.
    pub fn run_unparked(&self, group: u32, cmd: Cmd, args: &[&[u8]], now_ms: u64) -> Reply {
        match self.submit(group, cmd, args, now_ms, 0) {
            Submitted::Done(reply) => reply,
            Submitted::Parked(_) => Reply::err("ERR internal: a command without a waiter parked"),
        }
    }

    /// Runs a command on `group` wherever it lives and waits for the
    /// answer, including a lock grant after a wait.
    pub async fn on_group(&self, group: u32, cmd: Cmd, args: &[&[u8]], now_ms: u64) -> Reply {
        self.on_group_waiting(group, cmd, args, now_ms).await.0
    }

    /// [`CoreCtx::on_group`], also telling how long the command was parked
    /// in a lock's queue (`None` when it was not).
    pub async fn on_group_waiting(
        &self,
        group: u32,
        cmd: Cmd,
        args: &[&[u8]],
        now_ms: u64,
    ) -> (Reply, Option<Duration>) {
        let owner = self.owner(group);
        let waiter = if may_park(cmd, args.len()) {
            self.new_waiter()
        } else {
            0
        };
        if owner == self.index {
            return match self.submit(group, cmd, args, now_ms, waiter) {
                Submitted::Done(reply) => (reply, None),
                Submitted::Parked(waiter) => {
                    let since = Instant::now();
                    let reply = self.wait_parked(group, args[1], waiter, since).await;
                    (reply, Some(since.elapsed()))
                }
            };
        }
        let argv = OwnedArgv::new(args.iter().copied());
        let request = Request::Group {
            group,
            cmd,
            argv,
            now_ms,
            waiter,
        };
        if waiter == 0 {
            return into_waited(self.outbox.ask(self.index, owner, request).await);
        }
        let guard = RemoteWaitGuard {
            ctx: self,
            owner,
            group,
            name: args[1],
            waiter,
            id: Cell::new(0),
        };
        let response = self
            .outbox
            .ask_with_id(self.index, owner, request, |id| guard.id.set(id))
            .await;
        guard.disarm();
        into_waited(response)
    }

    /// Waits for a parked local client's answer. If the future is dropped
    /// (the client went away), the wait is cancelled, and a grant that
    /// raced the cancellation is released, so no lock is held by nobody.
    async fn wait_parked(&self, group: u32, name: &[u8], waiter: u64, since: Instant) -> Reply {
        let (sender, receiver) = oneshot::channel();
        let reply = ReplyTo::Here(sender);
        self.parked.borrow_mut().insert(
            waiter,
            Parked {
                reply,
                group,
                name: name.to_vec(),
                since,
            },
        );
        let mut guard = LocalWaitGuard {
            ctx: self,
            group,
            name,
            waiter,
            receiver: Some(receiver),
        };
        self.refuse_wait_if_draining(waiter);
        let receiver = guard.receiver.as_mut().expect("set above");
        let reply = receiver.await.unwrap_or(Reply::Nil);
        guard.receiver = None;
        reply
    }

    /// Registers a remote client's parked command.
    fn park_remote(&self, group: u32, name: &[u8], waiter: u64, core: usize, id: u64) {
        let reply = ReplyTo::Core { core, id };
        self.parked.borrow_mut().insert(
            waiter,
            Parked {
                reply,
                group,
                name: name.to_vec(),
                since: Instant::now(),
            },
        );
        self.refuse_wait_if_draining(waiter);
    }

    /// Shutdown has begun: every parked client is answered at once with
    /// an error and leaves its lock's queue, so no wait holds the node up
    /// for the whole grace period. A waiter granted before this is not
    /// parked any more and keeps its grant.
    fn refuse_all_waits(&self) {
        let mut waiters: Vec<u64> = self.parked.borrow().keys().copied().collect();
        waiters.sort_unstable();
        for waiter in waiters {
            self.refuse_wait(waiter);
        }
    }

    /// A wait that parked after shutdown began (its command had been
    /// received before) is refused as soon as it is registered.
    fn refuse_wait_if_draining(&self, waiter: u64) {
        if self.drain.has_fired() {
            self.refuse_wait(waiter);
        }
    }

    fn refuse_wait(&self, waiter: u64) {
        let Some(parked) = self.parked.borrow_mut().remove(&waiter) else {
            return;
        };
        self.timers.borrow_mut().remove(&TimerKey::Wait { waiter });
        // Its LOCK.CANCEL answers nobody: the client is no longer parked.
        self.cancel_wait(parked.group, &parked.name, waiter);
        self.deliver(parked, SHUTTING_DOWN);
    }

    fn act_on(&self, group: u32, effect: Effect) {
        match effect {
            Effect::LeaseStarted {
                name,
                token,
                lease_seq,
                ttl_ms,
            } => {
                let at = Instant::now() + Duration::from_millis(ttl_ms);
                let key = TimerKey::Lease {
                    group,
                    name: name.clone(),
                };
                let action = TimerAction::Expire {
                    group,
                    name,
                    token,
                    lease_seq,
                };
                self.timers.borrow_mut().set(key, at, action);
            }
            Effect::Parked {
                waiter,
                name,
                wait_ms,
            } => {
                let at = Instant::now() + Duration::from_millis(wait_ms);
                let action = TimerAction::Cancel {
                    group,
                    name,
                    waiter,
                };
                self.timers
                    .borrow_mut()
                    .set(TimerKey::Wait { waiter }, at, action);
            }
            Effect::Granted { waiter, token } => {
                self.answer_parked(waiter, Reply::Int(token as i64))
            }
            Effect::WaitEnded { waiter } => self.answer_parked(waiter, Reply::Nil),
        }
    }

    /// Answers a parked client whose wait the lock table ended.
    fn answer_parked(&self, waiter: u64, reply: Reply) {
        self.timers.borrow_mut().remove(&TimerKey::Wait { waiter });
        let Some(parked) = self.parked.borrow_mut().remove(&waiter) else {
            return;
        };
        self.deliver(parked, reply);
    }

    /// Sends a parked client its answer. A grant whose client is gone is
    /// released at once.
    fn deliver(&self, parked: Parked, reply: Reply) {
        match parked.reply {
            ReplyTo::Here(sender) => {
                if let Err(Reply::Int(token)) = sender.send(reply) {
                    self.release_orphan(parked.group, &parked.name, token as u64);
                }
            }
            ReplyTo::Core { core, id } => {
                let waited = parked.since.elapsed();
                let response = Response::Waited { reply, waited };
                self.outbox.answer_later(core, id, response);
            }
        }
    }

    /// Releases a lock granted to a client that is no longer there.
    fn release_orphan(&self, group: u32, name: &[u8], token: u64) {
        let token = token.to_string();
        let args: [&[u8]; 3] = [b"LOCK.RELEASE", name, token.as_bytes()];
        let _ = self.submit(group, Cmd::LockRelease, &args, self.clock.now_ms(), 0);
    }

    /// Proposes the internal command a due deadline stands for.
    fn fire(&self, action: TimerAction) {
        match action {
            TimerAction::Expire {
                group,
                name,
                token,
                lease_seq,
            } => {
                let (token, seq) = (token.to_string(), lease_seq.to_string());
                let args: [&[u8]; 4] = [b"LOCK.EXPIRE", &name, token.as_bytes(), seq.as_bytes()];
                let _ = self.submit(group, Cmd::LockExpire, &args, self.clock.now_ms(), 0);
            }
            TimerAction::Cancel {
                group,
                name,
                waiter,
            } => self.cancel_wait(group, &name, waiter),
        }
    }

    /// Takes a waiter out of its lock's queue (its wait ended or its client
    /// left). Its client, if still there, is answered nil.
    fn cancel_wait(&self, group: u32, name: &[u8], waiter: u64) {
        let id = waiter.to_string();
        let args: [&[u8]; 3] = [b"LOCK.CANCEL", name, id.as_bytes()];
        let _ = self.submit(group, Cmd::LockCancel, &args, self.clock.now_ms(), 0);
    }

    /// A reply arrived for request `id` whose asker has gone: if it granted
    /// a lock, release it.
    fn on_abandoned_reply(&self, id: u64, response: Response) {
        let abandoned = self.abandoned.borrow_mut().remove(&id);
        let Some(AbandonedWait { owner, group, name }) = abandoned else {
            return;
        };
        if let (Reply::Int(token), _) = into_waited(response) {
            let token = token.to_string();
            let argv = OwnedArgv::new([&b"LOCK.RELEASE"[..], &name, token.as_bytes()]);
            let request = Request::Group {
                group,
                cmd: Cmd::LockRelease,
                argv,
                now_ms: self.clock.now_ms(),
                waiter: 0,
            };
            self.outbox.tell_later(self.index, owner, request);
        }
    }

    /// Serves one request from another core (or the gateway).
    async fn serve_request(self: &Rc<Self>, envelope: Envelope) {
        let Envelope { from, id, request } = envelope;
        match request {
            Request::Group {
                group,
                cmd,
                argv,
                now_ms,
                waiter,
            } => {
                let args = argv.slices();
                match self.submit(group, cmd, &args, now_ms, waiter) {
                    Submitted::Done(reply) => {
                        self.outbox.answer(from, id, Response::Reply(reply)).await
                    }
                    Submitted::Parked(waiter) => self.park_remote(group, args[1], waiter, from, id),
                }
            }
            Request::Batch(batch) => {
                let replies = batch.run(self);
                self.outbox
                    .answer(from, id, Response::Replies(replies))
                    .await;
            }
            Request::Transaction(request) => {
                let outcome = self.submit_transaction(&request);
                self.outbox
                    .answer(from, id, Response::Transaction(outcome))
                    .await;
            }
            Request::Call(call) => {
                let value = call(self);
                self.outbox.answer(from, id, Response::Value(value)).await;
            }
            Request::CancelWait {
                group,
                name,
                waiter,
            } => {
                if self.parked.borrow_mut().remove(&waiter).is_some() {
                    self.timers.borrow_mut().remove(&TimerKey::Wait { waiter });
                    self.cancel_wait(group, &name, waiter);
                }
            }
            Request::Adopt(arrival) => crate::session::adopt(self, *arrival),
            Request::Client { argv, reply } => {
                let ctx = self.clone();
                glommio::spawn_local(async move {
                    let answer = crate::exec::execute_embedded(&ctx, &argv.slices()).await;
                    let _ = reply.send(answer);
                })
                .detach();
            }
            Request::Drain => {
                self.drain.fire();
                self.refuse_all_waits();
            }
            // Exit comes once every core has drained, or when the node's
            // grace period ran out first: connections still open then end
            // with it (it is their abort signal), so the core can leave.
            Request::Exit => self.exit.fire(),
        }
    }

    /// Runs `call` on core `core` and returns its result, or the error
    /// to answer with when that core no longer takes requests (it has
    /// left during shutdown).
    pub async fn on_core<R, F>(self: &Rc<Self>, core: usize, call: F) -> Result<R, Reply>
    where
        R: Send + 'static,
        F: FnOnce(&CoreCtx) -> R + Send + 'static,
    {
        if core == self.index {
            return Ok(call(self));
        }
        let boxed: crate::mesh::CoreCall =
            Box::new(move |ctx| Box::new(call(ctx)) as Box<dyn Any + Send>);
        match self
            .outbox
            .ask(self.index, core, Request::Call(boxed))
            .await
        {
            Response::Value(value) => value
                .downcast::<R>()
                .map(|value| *value)
                .map_err(|_| Reply::err("ERR internal: a call was answered with another type")),
            Response::Reply(error) if error.is_error() => Err(error),
            Response::Reply(_)
            | Response::Waited { .. }
            | Response::Replies(_)
            | Response::Transaction(_) => {
                Err(Reply::err("ERR internal: a call was answered as a command"))
            }
        }
    }

    /// Runs `call` on every core at once; results in core order, or the
    /// first core's error. On an error the call has still run on every
    /// core that could be asked, so a write fanned out this way (FLUSHALL,
    /// CONFIG RESETSTAT) may be done in part when shutdown cuts it short.
    pub async fn on_all_cores<R, F>(self: &Rc<Self>, call: F) -> Result<Vec<R>, Reply>
    where
        R: Send + 'static,
        F: Fn(&CoreCtx) -> R + Send + Sync + Clone + 'static,
    {
        let asks = (0..self.node.cores).map(|core| self.on_core(core, call.clone()));
        futures::future::join_all(asks).await.into_iter().collect()
    }
}

/// Only `LOCK.ACQUIRE name owner ttl WAIT ms` can park its client.
pub(crate) fn may_park(cmd: Cmd, argc: usize) -> bool {
    cmd == Cmd::LockAcquire && argc > 4
}

/// A command's reply from another core, and how long it was parked there.
fn into_waited(response: Response) -> (Reply, Option<Duration>) {
    match response {
        Response::Reply(reply) => (reply, None),
        Response::Waited { reply, waited } => (reply, Some(waited)),
        Response::Value(_) | Response::Replies(_) | Response::Transaction(_) => (
            Reply::err("ERR internal: a command was answered as a call or a batch"),
            None,
        ),
    }
}

/// Cancels a local wait whose future was dropped before it was answered.
struct LocalWaitGuard<'a> {
    ctx: &'a CoreCtx,
    group: u32,
    name: &'a [u8],
    waiter: u64,
    receiver: Option<oneshot::Receiver<Reply>>,
}

impl Drop for LocalWaitGuard<'_> {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        if self.ctx.parked.borrow_mut().remove(&self.waiter).is_some() {
            self.ctx.timers.borrow_mut().remove(&TimerKey::Wait {
                waiter: self.waiter,
            });
            self.ctx.cancel_wait(self.group, self.name, self.waiter);
        } else if let Ok(Some(Reply::Int(token))) = receiver.try_recv() {
            self.ctx.release_orphan(self.group, self.name, token as u64);
        }
    }
}

/// Cancels a remote wait whose future was dropped before it was answered.
struct RemoteWaitGuard<'a> {
    ctx: &'a CoreCtx,
    owner: usize,
    group: u32,
    name: &'a [u8],
    waiter: u64,
    id: Cell<u64>,
}

impl RemoteWaitGuard<'_> {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for RemoteWaitGuard<'_> {
    fn drop(&mut self) {
        let id = self.id.get();
        if id == 0 {
            return;
        }
        self.ctx.outbox.forget(id);
        let name = self.name.to_vec();
        self.ctx.abandoned.borrow_mut().insert(
            id,
            AbandonedWait {
                owner: self.owner,
                group: self.group,
                name: name.clone(),
            },
        );
        let request = Request::CancelWait {
            group: self.group,
            name,
            waiter: self.waiter,
        };
        self.ctx
            .outbox
            .tell_later(self.ctx.index, self.owner, request);
    }
}

/// Serves a core until it is told to exit.
pub(crate) async fn run_core(
    index: usize,
    node: Arc<NodeShared>,
    ends: CoreEnds,
    listener: Option<glommio::net::TcpListener>,
    drained: crossbeam::channel::Sender<usize>,
) {
    let (outbox, request_in, reply_in, gateway_in) = connect(ends).await;
    let ctx = Rc::new(CoreCtx::new(index, node, outbox));
    for receiver in request_in
        .into_iter()
        .flatten()
        .chain(std::iter::once(gateway_in))
    {
        glommio::spawn_local(serve_requests(ctx.clone(), receiver)).detach();
    }
    for receiver in reply_in.into_iter().flatten() {
        glommio::spawn_local(serve_replies(ctx.clone(), receiver)).detach();
    }
    glommio::spawn_local(sweep_expired(ctx.clone())).detach();
    // One thread per node gives memory freed after connection storms back
    // to the system; it stops within a second of core 0 leaving.
    let trimmer_stop = Arc::new(AtomicBool::new(false));
    if index == 0 {
        crate::memory::spawn_trimmer(trimmer_stop.clone());
    }
    let _stop_trimmer = StopOnDrop(trimmer_stop);
    glommio::spawn_local(drive_timers(ctx.clone())).detach();
    crate::session::serve_clients(&ctx, listener).await;
    let _ = drained.send(index);
    ctx.exit.wait().await;
    // Let tasks woken by the exit (aborted connections outside the gate,
    // their guards' messages) run while the executor still does.
    futures_lite::future::yield_now().await;
}

type Connected = (
    Outbox,
    Vec<Option<ConnectedReceiver<Envelope>>>,
    Vec<Option<ConnectedReceiver<ReplyEnvelope>>>,
    ConnectedReceiver<Envelope>,
);

/// Connects every queue end of this core. Each connect waits for the other
/// side, so all of a core's connects run at once.
async fn connect(ends: CoreEnds) -> Connected {
    let CoreEnds {
        request_out,
        request_in,
        reply_out,
        reply_in,
        gateway_in,
    } = ends;
    let (request_out, request_in, reply_out, reply_in, gateway_in) = futures::future::join5(
        connect_all(request_out, SharedSender::connect),
        connect_all(request_in, SharedReceiver::connect),
        connect_all(reply_out, SharedSender::connect),
        connect_all(reply_in, SharedReceiver::connect),
        gateway_in.connect(),
    )
    .await;
    (
        Outbox::new(request_out, reply_out),
        request_in,
        reply_in,
        gateway_in,
    )
}

/// Connects every present end of a core's row of channels, all at once: a
/// channel is usable only when both its cores have connected their ends.
async fn connect_all<End, Connected, Connecting>(
    ends: Vec<Option<End>>,
    connect: impl Fn(End) -> Connecting,
) -> Vec<Option<Connected>>
where
    Connecting: std::future::Future<Output = Connected>,
{
    let connects = ends.into_iter().map(|end| {
        let connecting = end.map(&connect);
        async move {
            match connecting {
                Some(connecting) => Some(connecting.await),
                None => None,
            }
        }
    });
    futures::future::join_all(connects).await
}

async fn serve_requests(ctx: Rc<CoreCtx>, receiver: ConnectedReceiver<Envelope>) {
    while let Some(envelope) = receiver.recv().await {
        ctx.serve_request(envelope).await;
    }
}

async fn serve_replies(ctx: Rc<CoreCtx>, receiver: ConnectedReceiver<ReplyEnvelope>) {
    while let Some(reply) = receiver.recv().await {
        if let Some((id, response)) = ctx.outbox.deliver(reply) {
            ctx.on_abandoned_reply(id, response);
        }
    }
}

/// Removes expired keys a bounded batch at a time, so memory held by keys
/// nobody reads again comes back.
async fn sweep_expired(ctx: Rc<CoreCtx>) {
    let interval = Duration::from_millis(ctx.node.config.sweep_interval_ms);
    let budget = ctx.node.config.sweep_keys_max;
    loop {
        glommio::timer::sleep(interval).await;
        let now = ctx.clock.now_ms();
        ctx.with_groups(|groups| {
            let mut left = budget;
            for group in groups {
                left -= group.sweep_expired(now, left);
                if left == 0 {
                    break;
                }
            }
        });
    }
}

/// Sets its flag when dropped: tells a helper thread to stop.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Longest the timer task sleeps without looking at its deadlines again.
const TIMER_IDLE_MAX: Duration = Duration::from_secs(1);

/// Fires lock deadlines as they pass.
async fn drive_timers(ctx: Rc<CoreCtx>) {
    let notify = ctx.timers.borrow().notifier();
    loop {
        let now = Instant::now();
        let due = ctx.timers.borrow_mut().take_due(now);
        for action in due {
            ctx.fire(action);
        }
        let next = ctx.timers.borrow().next_deadline();
        let sleep = next.map_or(TIMER_IDLE_MAX, |at| {
            at.saturating_duration_since(Instant::now())
                .min(TIMER_IDLE_MAX)
        });
        futures_lite::future::or(glommio::timer::sleep(sleep), notify.notified()).await;
    }
}
