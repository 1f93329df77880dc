//! A client connection's state and the `Handler` the network loop drives.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use pinwheel_net::resp::{Args, Protocol, RespWriter};
use pinwheel_net::{ConnInfo, Flow, Handler, Handoff, Queued, Shutdown};
use pinwheel_state::{lookup, Cmd, Keys, Reply};

use crate::argv::ArgSlices;
use crate::core::CoreCtx;
use crate::handoff::{Affinity, Arrival};
use crate::mesh::Request;
use crate::pipeline::Pipeline;
use crate::transaction::{Answer, Transactions};

/// What `CLIENT LIST` shows of a connection; updated by its session,
/// read by whichever core gathers the list. A copy travels with a
/// connection handed to another core.
#[derive(Clone)]
pub(crate) struct ClientRecord {
    pub id: u64,
    pub peer: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub connected: Instant,
    pub last_command: Cell<Instant>,
    pub last_cmd: Cell<Option<Cmd>>,
    pub name: RefCell<Vec<u8>>,
    pub lib: RefCell<(Vec<u8>, Vec<u8>)>,
    pub protocol: Cell<Protocol>,
}

/// A connection this core serves, as `CLIENT LIST` and `CLIENT KILL`
/// find it.
pub(crate) struct LiveClient {
    pub record: Rc<ClientRecord>,
    /// Fired by `CLIENT KILL`: closes the connection (see
    /// `Handler::kill_signal`).
    pub kill: Shutdown,
}

/// A connection's settings, as commands change them.
pub(crate) struct SessionState {
    pub id: u64,
    pub protocol: Protocol,
    pub quit: bool,
    /// `CLIENT REPLY OFF`: no reply is written until `CLIENT REPLY ON`.
    pub replies_off: bool,
    /// `CLIENT REPLY SKIP`: the next command's reply is not written.
    pub skip_next: bool,
    /// The command running now is the one a `SKIP` named.
    pub skip_this: bool,
    record: Option<Rc<ClientRecord>>,
}

impl SessionState {
    /// The session of an embedded caller: no connection to describe.
    pub fn embedded() -> SessionState {
        SessionState {
            id: 0,
            protocol: Protocol::Resp2,
            quit: false,
            replies_off: false,
            skip_next: false,
            skip_this: false,
            record: None,
        }
    }

    /// True when this session has a connection (not an embedded caller).
    pub fn is_connection(&self) -> bool {
        self.record.is_some()
    }

    /// What `CLIENT LIST` shows of this connection, if it is one.
    pub fn record(&self) -> Option<&ClientRecord> {
        self.record.as_deref()
    }

    /// Whether the reply of the command that just ran is written: not
    /// under `CLIENT REPLY OFF`, not when a `SKIP` named it, and not for
    /// the `SKIP` itself.
    fn reply_wanted(&self) -> bool {
        !(self.replies_off || self.skip_this || self.skip_next)
    }

    /// `CLIENT SETNAME` and `HELLO ... SETNAME`.
    pub fn set_name(&mut self, name: &[u8]) -> Result<(), Reply> {
        if name.iter().any(|&b| b <= b' ' || b > b'~') {
            return Err(Reply::err(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        if let Some(record) = &self.record {
            *record.name.borrow_mut() = name.to_vec();
        }
        Ok(())
    }
}

/// One client connection on one core.
pub(crate) struct Session {
    ctx: Rc<CoreCtx>,
    state: SessionState,
    /// Pipelined single-key commands and their answers, and when the last
    /// command of the current input finished: the next one's start, so a
    /// pipeline costs one clock reading per command.
    pipeline: Pipeline,
    /// Which core the connection's keys live on.
    affinity: Affinity,
    /// The open `MULTI`, if any, and the watched keys.
    transactions: Transactions,
    /// Closes the connection when `CLIENT KILL` fires it.
    kill: Shutdown,
}

impl Session {
    fn new(ctx: Rc<CoreCtx>, info: ConnInfo) -> Session {
        let id = ctx.node.next_client_id.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let record = ClientRecord {
            id,
            peer: info.peer,
            local: info.local,
            connected: now,
            last_command: Cell::new(now),
            last_cmd: Cell::new(None),
            name: RefCell::new(Vec::new()),
            lib: RefCell::new((Vec::new(), Vec::new())),
            protocol: Cell::new(Protocol::Resp2),
        };
        ctx.stats.borrow_mut().connections_accepted += 1;
        Session::with_record(ctx, record, Protocol::Resp2)
    }

    /// A session for a client `record` describes: a new connection's, or
    /// one another core handed over.
    fn with_record(ctx: Rc<CoreCtx>, record: ClientRecord, protocol: Protocol) -> Session {
        let id = record.id;
        let record = Rc::new(record);
        let kill = Shutdown::new();
        let live = LiveClient {
            record: record.clone(),
            kill: kill.clone(),
        };
        ctx.clients.borrow_mut().insert(id, live);
        let mut state = SessionState::embedded();
        state.id = id;
        state.protocol = protocol;
        state.record = Some(record);
        Session {
            state,
            pipeline: Pipeline::default(),
            affinity: Affinity::new(ctx.index),
            transactions: Transactions::default(),
            kill,
            ctx,
        }
    }

    /// Tells the affinity where a command that is not queued goes: a
    /// single-key command to its key's core, a multi-key one nowhere.
    fn note_keys(&mut self, args: &Args<'_>) {
        let Some(spec) = lookup(args.get(0)) else {
            return;
        };
        match spec.keys {
            Keys::None => {}
            Keys::First if args.len() > 1 => {
                let group = self.ctx.node.ring.group_of(args.get(1));
                self.affinity.note(self.ctx.owner(group));
            }
            _ => self.affinity.reset(),
        }
    }
}

/// Serves a connection another core handed to this one.
pub(crate) fn adopt(ctx: &Rc<CoreCtx>, arrival: Arrival) {
    let Arrival {
        connection,
        record,
        protocol,
    } = arrival;
    let session = Session::with_record(ctx.clone(), record, protocol);
    ctx.connections.adopt(connection, session);
}

impl Drop for Session {
    fn drop(&mut self) {
        self.ctx.clients.borrow_mut().remove(&self.state.id);
    }
}

impl Handler for Session {
    async fn call<'a>(&'a mut self, args: Args<'a>, out: &'a mut RespWriter) -> Flow {
        self.note_keys(&args);
        self.state.skip_this = std::mem::take(&mut self.state.skip_next);
        let slices: ArgSlices = args.iter().collect();
        let started = self.pipeline.last_finished.unwrap_or_else(Instant::now);
        let (ctx, state, transactions) = (&self.ctx, &mut self.state, &mut self.transactions);
        if let Some(handled) =
            crate::transaction::intercept(ctx, state, transactions, &slices, started).await
        {
            self.pipeline.last_finished = Some(handled.finished);
            self.note_command(handled.cmd, handled.finished);
            out.set_protocol(self.state.protocol);
            match handled.answer {
                Answer::Reply(reply) => write_reply(out, &reply),
                Answer::Aborted => out.nil_array(),
            }
            return Flow::Continue;
        }
        let executed = crate::exec::execute(&self.ctx, &mut self.state, &slices, started).await;
        self.pipeline.last_finished = Some(executed.finished);
        self.note_command(executed.cmd, executed.finished);
        if self.state.reply_wanted() {
            out.set_protocol(self.state.protocol);
            write_reply(out, &executed.reply);
        }
        if self.state.quit {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    fn may_block(&self, args: &Args<'_>) -> bool {
        // Only a LOCK.ACQUIRE with WAIT parks; its connection is watched
        // for hang-up meanwhile so a departed waiter leaves the queue.
        // Inside MULTI it is only queued, and runs without waiting.
        !self.transactions.in_multi()
            && args.len() > 4
            && args.get(0).eq_ignore_ascii_case(b"lock.acquire")
    }

    fn protocol_error(&mut self) {
        let mut stats = self.ctx.stats.borrow_mut();
        stats.protocol_errors += 1;
        // The connection loop wrote an `ERR Protocol error...` (or reply
        // limit) error: an error reply like any other.
        stats.record_error("ERR");
    }

    fn resumed(&mut self) {
        self.pipeline.last_finished = None;
    }

    fn queue(&mut self, args: &Args<'_>) -> Queued {
        if self.transactions.in_multi() {
            // Queued by the transaction instead, through `call`.
            return Queued::Declined;
        }
        self.pipeline.queue(&self.ctx, args, &mut self.affinity)
    }

    async fn settle(&mut self) {
        self.pipeline.settle(&self.ctx).await;
    }

    fn write_next(&mut self, out: &mut RespWriter) -> bool {
        let Some((cmd, reply)) = self.pipeline.next_answer() else {
            return false;
        };
        let finished = self.pipeline.last_finished.unwrap_or_else(Instant::now);
        self.note_command(Some(cmd), finished);
        // Queued commands never change the reply mode (CLIENT is not
        // queued), so a SKIP takes the first of them.
        let skipped = std::mem::take(&mut self.state.skip_next);
        if !(self.state.replies_off || skipped) {
            out.set_protocol(self.state.protocol);
            write_reply(out, &reply);
        }
        true
    }

    fn kill_signal(&self) -> Shutdown {
        self.kill.clone()
    }

    fn wants_handoff(&mut self) -> bool {
        self.ctx.node.config.move_connections
            && !self.ctx.node.draining.load(Ordering::SeqCst)
            && self.state.record.is_some()
            && self.transactions.is_idle()
            && self.affinity.destination().is_some()
    }

    fn handoff_failed(&mut self) {
        // Start counting afresh, so the next attempt waits for another
        // run of commands instead of retrying at every quiet moment.
        self.affinity.reset();
    }

    async fn hand_off(self, connection: Handoff) {
        let (Some(to), Some(record)) = (self.affinity.destination(), self.state.record.as_deref())
        else {
            return;
        };
        let arrival = Arrival {
            connection,
            record: record.clone(),
            protocol: self.state.protocol,
        };
        let ctx = self.ctx.clone();
        // Leave this core's client list before the new core joins its own.
        drop(self);
        let request = Request::Adopt(Box::new(arrival));
        // A refusal means the node is exiting; the connection, held by the
        // lost request, is closed.
        if ctx.outbox.tell(ctx.index, to, request).await {
            ctx.stats.borrow_mut().connections_moved += 1;
        }
    }
}

impl Session {
    /// What `CLIENT LIST` shows of the connection's last command.
    fn note_command(&self, cmd: Option<Cmd>, finished: Instant) {
        if let Some(record) = &self.state.record {
            record.last_command.set(finished);
            record.last_cmd.set(cmd);
            record.protocol.set(self.state.protocol);
        }
    }
}

/// Encodes a reply in the writer's protocol.
pub fn write_reply(out: &mut RespWriter, reply: &Reply) {
    match reply {
        Reply::Ok => out.ok(),
        Reply::Status(text) => out.simple(text),
        Reply::Error(text) => out.error(text),
        Reply::Int(n) => out.int(*n),
        Reply::Bulk(data) => out.bulk(data),
        Reply::Nil => out.nil(),
        Reply::Array(items) => {
            out.array(items.len());
            for item in items {
                write_reply(out, item);
            }
        }
        Reply::Map(pairs) => {
            out.map(pairs.len());
            for (key, value) in pairs {
                write_reply(out, key);
                write_reply(out, value);
            }
        }
        Reply::Double(value) => out.double(*value),
        Reply::Verbatim(text) => out.verbatim(text),
    }
}

/// Accepts and serves this core's clients until the core is drained, and
/// waits for every connection it serves, its own or handed over, to end.
pub(crate) async fn serve_clients(ctx: &Rc<CoreCtx>, listener: Option<glommio::net::TcpListener>) {
    match listener {
        Some(listener) => {
            let gate = ctx.node.gate.clone();
            let factory_ctx = ctx.clone();
            pinwheel_net::accept_loop(listener, gate, &ctx.connections, move |info| {
                Session::new(factory_ctx.clone(), info)
            })
            .await;
        }
        None => ctx.drain.wait().await,
    }
    ctx.connections.close().await;
}

/// `CLIENT ID | SETNAME | GETNAME | SETINFO | LIST | INFO | KILL | REPLY |
/// NO-EVICT | HELP`.
pub(crate) async fn client_command(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    args: &[&[u8]],
) -> Reply {
    let sub = args[1].to_ascii_uppercase();
    match (sub.as_slice(), args.len()) {
        (b"ID", 2) => Reply::Int(session.id as i64),
        (b"SETNAME", 3) => session.set_name(args[2]).map_or_else(|e| e, |()| Reply::Ok),
        (b"GETNAME", 2) => match session.record.as_ref().map(|r| r.name.borrow().clone()) {
            Some(name) if !name.is_empty() => Reply::Bulk(name),
            _ => Reply::Nil,
        },
        (b"SETINFO", 4) => client_setinfo(session, args[2], args[3]),
        (b"INFO", 2) => match &session.record {
            Some(record) => Reply::Verbatim(describe(record, ctx.index).into_bytes()),
            None => Reply::Nil,
        },
        (b"KILL", 3..) => crate::clients::kill(ctx, session, &args[2..]).await,
        (b"REPLY", 3) => crate::clients::reply_mode(session, args[2]),
        (b"NO-EVICT", 3) => crate::clients::no_evict(args[2]),
        (b"HELP", 2) => crate::help::reply("CLIENT", crate::help::CLIENT),
        (b"LIST", _) => {
            let lists = match ctx
                .on_all_cores(|c| {
                    let clients = c.clients.borrow();
                    let mut records: Vec<_> = clients.values().map(|c| &c.record).collect();
                    records.sort_by_key(|r| r.id);
                    records
                        .iter()
                        .map(|r| describe(r, c.index))
                        .collect::<String>()
                })
                .await
            {
                Ok(lists) => lists,
                Err(error) => return error,
            };
            Reply::Verbatim(lists.concat().into_bytes())
        }
        (
            b"ID" | b"SETNAME" | b"GETNAME" | b"SETINFO" | b"INFO" | b"KILL" | b"REPLY"
            | b"NO-EVICT" | b"HELP",
            _,
        ) => Reply::error(format!(
            "ERR wrong number of arguments for 'client|{}' command",
            String::from_utf8_lossy(&sub).to_ascii_lowercase()
        )),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            crate::exec::printable(args[1], 128)
        )),
    }
}

fn client_setinfo(session: &SessionState, attribute: &[u8], value: &[u8]) -> Reply {
    if value.iter().any(|&b| b <= b' ' || b > b'~') {
        return Reply::err(
            "ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.",
        );
    }
    let Some(record) = &session.record else {
        return Reply::Ok;
    };
    let mut lib = record.lib.borrow_mut();
    match attribute.to_ascii_lowercase().as_slice() {
        b"lib-name" => lib.0 = value.to_vec(),
        b"lib-ver" => lib.1 = value.to_vec(),
        _ => {
            return Reply::error(format!(
                "ERR Unrecognized option '{}'",
                crate::exec::printable(attribute, 64)
            ))
        }
    }
    Reply::Ok
}

/// One `CLIENT LIST` line, in Redis's field names.
fn describe(record: &ClientRecord, core: usize) -> String {
    let addr = |a: Option<SocketAddr>| a.map_or(String::new(), |a| a.to_string());
    let lib = record.lib.borrow();
    let cmd = record.last_cmd.get().map_or("NULL", |c| c.spec().name);
    let resp = if record.protocol.get() == Protocol::Resp3 {
        3
    } else {
        2
    };
    format!(
        "id={} addr={} laddr={} name={} age={} idle={} flags=N db=0 cmd={} user=default resp={} lib-name={} lib-ver={} core={}\n",
        record.id,
        addr(record.peer),
        addr(record.local),
        String::from_utf8_lossy(&record.name.borrow()),
        record.connected.elapsed().as_secs(),
        record.last_command.get().elapsed().as_secs(),
        cmd,
        resp,
        String::from_utf8_lossy(&lib.0),
        String::from_utf8_lossy(&lib.1),
        core,
    )
}
