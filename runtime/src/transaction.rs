//! `MULTI` / `EXEC` / `DISCARD` / `WATCH` / `UNWATCH` for one connection.
//!
//! The queue and the watched keys live in the session: they belong to the
//! connection, not to any group. `WATCH` reads a [`WatchStamp`] from the
//! group that owns each key. `EXEC` checks that every queued key and every
//! watched key lives in one group, then sends the whole transaction to that
//! group's core as one request, where [`Group::apply_transaction`] decides
//! the watch and applies every command in one step (`state/src/transaction.rs`
//! says how). Keyless commands (`PING`, `ECHO`, `TIME`, `INFO`, `CLIENT`...)
//! are answered here after that step, each in its place in `EXEC`'s array;
//! they touch no group, so nothing can tell them from running in between.
//!
//! Refused at `EXEC`, with the transaction discarded: keys in more than one
//! group (`-CROSSSLOT`, naming the hash-tag remedy), and whole-keyspace
//! commands (`KEYS`, `SCAN`, `DBSIZE`, `RANDOMKEY`, `FLUSHALL`, `FLUSHDB`),
//! which would need every group in one step. A connection with a
//! transaction open or keys watched is not handed to another core.

use std::rc::Rc;
use std::time::Instant;

use pinwheel_state::{
    lookup, Cmd, CommandSpec, Effect, Group, Keys, Kind, QueuedCommand, Reply, Transaction,
    WatchStamp, Watched,
};

use crate::argv::OwnedArgv;
use crate::core::CoreCtx;
use crate::mesh::{Request, Response};
use crate::session::SessionState;

/// Most commands one transaction queues; the next is refused and the
/// `EXEC` discards the transaction. A transaction becomes one log entry:
/// this bounds what one entry applies at once.
pub const TRANSACTION_COMMANDS_MAX: usize = 16_384;
/// Most argument bytes one transaction queues (twice the largest value, so
/// a transaction can carry one value of the largest size and more).
pub const TRANSACTION_ARG_BYTES_MAX: usize = 128 * 1024 * 1024;
/// Most keys one connection watches at once.
pub const WATCHED_KEYS_MAX: usize = 1024;

/// Redis's `EXEC` answer after a queuing error.
const EXECABORT: Reply = Reply::err("EXECABORT Transaction discarded because of previous errors.");
/// The answer to a transaction whose keys live in more than one group.
const CROSSSLOT: Reply = Reply::err(
    "CROSSSLOT keys in a transaction must share one shard group; \
     put them under one hash tag such as {user42}",
);

/// One connection's open transaction and watched keys.
#[derive(Default)]
pub(crate) struct Transactions {
    multi: Option<Queue>,
    watched: Vec<WatchedKey>,
}

/// The commands queued since `MULTI`.
#[derive(Default)]
struct Queue {
    argv: OwnedArgv,
    commands: Vec<(&'static CommandSpec, usize)>,
    /// A command was refused while queuing: `EXEC` answers `EXECABORT`.
    /// Nothing more is stored then.
    failed: bool,
}

/// A watched key, its group, and what `WATCH` saw of it.
struct WatchedKey {
    key: Vec<u8>,
    group: u32,
    seen: WatchStamp,
}

/// What a transaction command answered.
pub(crate) enum Answer {
    /// A reply like any command's.
    Reply(Reply),
    /// `EXEC` after a watched key changed: the null array (`*-1`, or `_`
    /// in RESP3).
    Aborted,
}

/// A command the transaction layer answered, with what the session shows
/// of it.
pub(crate) struct Handled {
    pub cmd: Option<Cmd>,
    pub answer: Answer,
    pub finished: Instant,
}

impl Transactions {
    /// True between `MULTI` and `EXEC` or `DISCARD`.
    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }

    /// True with no transaction open and no key watched: the connection
    /// carries nothing that another core would have to take over.
    pub fn is_idle(&self) -> bool {
        self.multi.is_none() && self.watched.is_empty()
    }

    fn fail(&mut self) {
        if let Some(queue) = &mut self.multi {
            *queue = Queue {
                failed: true,
                ..Queue::default()
            };
        }
    }
}

/// True for the commands only a connection's session answers.
pub(crate) fn is_transaction_command(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Multi | Cmd::Exec | Cmd::Discard | Cmd::Watch | Cmd::Unwatch
    )
}

/// The embedding API's answer to a transaction command: a `Handle` has no
/// connection to hold a queue or watched keys.
pub(crate) fn needs_connection(spec: &CommandSpec) -> Reply {
    Reply::error(format!(
        "ERR {} needs a client connection; the embedding API runs each call on its own",
        spec.name.to_ascii_uppercase()
    ))
}

/// Answers a transaction command, or any command while a transaction is
/// open; `None` for every other command, which runs as usual.
pub(crate) async fn intercept(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    tx: &mut Transactions,
    args: &[&[u8]],
    started: Instant,
) -> Option<Handled> {
    let spec = lookup(args[0]).filter(|spec| spec.kind != Kind::Internal);
    let control = spec.is_some_and(|spec| is_transaction_command(spec.cmd));
    let quit = spec.is_some_and(|spec| spec.cmd == Cmd::Quit);
    if !(control || tx.in_multi()) || quit {
        return None;
    }
    let now_ms = ctx.clock.unix_ms_at(started);
    let answer = match spec {
        None => {
            tx.fail();
            Answer::Reply(crate::exec::unknown_command(args))
        }
        Some(spec) => answer(ctx, session, tx, spec, args, now_ms).await,
    };
    let finished = Instant::now();
    let error = match &answer {
        Answer::Reply(Reply::Error(text)) => Some(&**text),
        _ => None,
    };
    let mut stats = ctx.stats.borrow_mut();
    match spec {
        // A command answered `+QUEUED` has not run: only EXEC times it
        // (as part of the whole), as Redis counts it when it executes.
        Some(spec) if control && !(tx.in_multi() && spec.cmd == Cmd::Unwatch) => {
            let latency_ns = finished.duration_since(started).as_nanos() as u64;
            stats.record(spec.cmd, latency_ns);
            if let Some(text) = error {
                stats.record_error(text);
            }
        }
        _ => {
            if let Some(text) = error {
                stats.record_error(text);
            }
        }
    }
    drop(stats);
    Some(Handled {
        cmd: spec.map(|spec| spec.cmd),
        answer,
        finished,
    })
}

async fn answer(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    tx: &mut Transactions,
    spec: &'static CommandSpec,
    args: &[&[u8]],
    now_ms: u64,
) -> Answer {
    if !spec.arity_ok(args.len()) {
        if spec.cmd == Cmd::Exec {
            // Redis discards the transaction, and the watches, at once.
            *tx = Transactions::default();
            return Answer::Reply(Reply::err(
                "EXECABORT Transaction discarded because of: \
                 wrong number of arguments for 'exec' command",
            ));
        }
        tx.fail();
        return Answer::Reply(crate::exec::wrong_arity(spec));
    }
    let reply = match (spec.cmd, tx.in_multi()) {
        (Cmd::Exec, _) => return exec(ctx, session, tx, now_ms).await,
        (Cmd::Multi, true) => Reply::err("ERR MULTI calls can not be nested"),
        (Cmd::Multi, false) => {
            tx.multi = Some(Queue::default());
            Reply::Ok
        }
        (Cmd::Discard, false) => Reply::err("ERR DISCARD without MULTI"),
        (Cmd::Discard, true) => {
            *tx = Transactions::default();
            Reply::Ok
        }
        (Cmd::Watch, true) => Reply::err("ERR WATCH inside MULTI is not allowed"),
        (Cmd::Watch, false) => watch(ctx, tx, &args[1..], now_ms).await,
        (Cmd::Unwatch, false) => {
            tx.watched.clear();
            Reply::Ok
        }
        (_, _) => enqueue(tx, spec, args),
    };
    Answer::Reply(reply)
}

/// Queues a command of an open transaction: `+QUEUED`, or the error that
/// makes the `EXEC` refuse the transaction.
fn enqueue(tx: &mut Transactions, spec: &'static CommandSpec, args: &[&[u8]]) -> Reply {
    let Some(queue) = &mut tx.multi else {
        unreachable!("only an open transaction queues");
    };
    if queue.failed {
        return Reply::Status("QUEUED".into());
    }
    let bytes: usize = args.iter().map(|arg| arg.len()).sum();
    let refusal = if queue.commands.len() >= TRANSACTION_COMMANDS_MAX {
        format!(
            "ERR a transaction holds at most {TRANSACTION_COMMANDS_MAX} commands \
             (TRANSACTION_COMMANDS_MAX); EXEC will discard it"
        )
    } else if queue.argv.byte_len() + bytes > TRANSACTION_ARG_BYTES_MAX {
        format!(
            "ERR a transaction holds at most {TRANSACTION_ARG_BYTES_MAX} bytes of arguments \
             (TRANSACTION_ARG_BYTES_MAX); EXEC will discard it"
        )
    } else {
        for arg in args {
            queue.argv.push(arg);
        }
        queue.commands.push((spec, args.len()));
        return Reply::Status("QUEUED".into());
    };
    tx.fail();
    Reply::error(refusal)
}

/// `WATCH key...`: reads each new key's stamp from the group that owns it.
/// A key watched already keeps its first stamp, as in Redis.
async fn watch(ctx: &Rc<CoreCtx>, tx: &mut Transactions, keys: &[&[u8]], now_ms: u64) -> Reply {
    let mut fresh: Vec<(u32, Vec<u8>)> = Vec::new();
    for key in keys {
        let known = tx.watched.iter().any(|w| w.key == *key) || fresh.iter().any(|f| f.1 == *key);
        if !known {
            fresh.push((ctx.node.ring.group_of(key), key.to_vec()));
        }
    }
    if tx.watched.len() + fresh.len() > WATCHED_KEYS_MAX {
        return Reply::error(format!(
            "ERR a connection watches at most {WATCHED_KEYS_MAX} keys (WATCHED_KEYS_MAX)"
        ));
    }
    let key_max = ctx.node.config.max_key_bytes;
    if fresh.iter().any(|(_, key)| key.len() > key_max) {
        return Reply::error(format!("ERR key is too long (max {key_max} bytes)"));
    }
    let reads = fresh.iter().map(|(group, key)| {
        let (group, key) = (*group, key.clone());
        ctx.on_core(ctx.owner(group), move |c| {
            c.with_group(group, |g| g.watch(&key, now_ms))
        })
    });
    let stamps = futures::future::join_all(reads).await;
    for ((group, key), seen) in fresh.into_iter().zip(stamps) {
        match seen {
            Ok(seen) => tx.watched.push(WatchedKey { key, group, seen }),
            Err(error) => return error,
        }
    }
    Reply::Ok
}

/// `EXEC`: refuses, aborts or runs the transaction; watches end either way.
async fn exec(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    tx: &mut Transactions,
    now_ms: u64,
) -> Answer {
    let watched = std::mem::take(&mut tx.watched);
    let Some(queue) = tx.multi.take() else {
        return Answer::Reply(Reply::err("ERR EXEC without MULTI"));
    };
    if queue.failed {
        return Answer::Reply(EXECABORT);
    }
    let args = queue.argv.slices();
    let commands = split_commands(&queue.commands, &args);
    let group = match transaction_group(ctx, &commands, &watched) {
        Ok(group) => group,
        Err(refusal) => return Answer::Reply(refusal),
    };
    let keyed = match group {
        Some(group) => {
            let request = TransactionRequest::new(group, now_ms, &commands, &watched);
            match run_on_owner(ctx, request).await {
                Ok(Some(replies)) => replies,
                Ok(None) => return Answer::Aborted,
                Err(error) => return Answer::Reply(error),
            }
        }
        None => Vec::new(),
    };
    let replies = with_keyless(ctx, session, &commands, keyed).await;
    Answer::Reply(Reply::Array(replies))
}

/// The queued commands as `(spec, args)`.
fn split_commands<'a>(
    queued: &[(&'static CommandSpec, usize)],
    args: &'a [&'a [u8]],
) -> Vec<(&'static CommandSpec, &'a [&'a [u8]])> {
    let mut rest = args;
    queued
        .iter()
        .map(|&(spec, argc)| {
            let (command, next) = rest.split_at(argc);
            rest = next;
            (spec, command)
        })
        .collect()
}

/// The one group every key of the transaction lives in (`None` when it has
/// no key at all), or the refusal.
fn transaction_group(
    ctx: &CoreCtx,
    commands: &[(&'static CommandSpec, &[&[u8]])],
    watched: &[WatchedKey],
) -> Result<Option<u32>, Reply> {
    let mut groups = watched.iter().map(|w| w.group).collect::<Vec<_>>();
    for (spec, args) in commands {
        let step = match spec.keys {
            Keys::None => continue,
            Keys::Keyspace => {
                return Err(Reply::error(format!(
                    "ERR '{}' reads or writes every shard group, so it cannot run \
                     inside a transaction; send it outside MULTI",
                    spec.name
                )))
            }
            Keys::First => args.len().max(1),
            Keys::Each { step } => usize::from(step).max(1),
        };
        let keys = args[1..].iter().step_by(step);
        groups.extend(keys.map(|key| ctx.node.ring.group_of(key)));
    }
    match groups.split_first() {
        None => Ok(None),
        Some((first, rest)) if rest.iter().all(|g| g == first) => Ok(Some(*first)),
        Some(_) => Err(CROSSSLOT),
    }
}

/// Sends the transaction to the core that owns its group (or runs it here)
/// and waits for the step's outcome.
async fn run_on_owner(
    ctx: &Rc<CoreCtx>,
    request: TransactionRequest,
) -> Result<Option<Vec<Reply>>, Reply> {
    let owner = ctx.owner(request.group);
    if owner == ctx.index {
        return Ok(ctx.submit_transaction(&request));
    }
    let request = Request::Transaction(Box::new(request));
    match ctx.outbox.ask(ctx.index, owner, request).await {
        Response::Transaction(outcome) => Ok(outcome),
        Response::Reply(error) if error.is_error() => Err(error),
        _ => unreachable!("a transaction is answered with its outcome"),
    }
}

/// `EXEC`'s array: the keyed commands' replies from the step, and each
/// keyless command answered here, in the order they were queued.
async fn with_keyless(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    commands: &[(&'static CommandSpec, &[&[u8]])],
    keyed: Vec<Reply>,
) -> Vec<Reply> {
    let mut keyed = keyed.into_iter();
    let mut replies = Vec::with_capacity(commands.len());
    for (spec, args) in commands {
        let reply = match (spec.keys, spec.cmd) {
            // EXEC has ended the watches already.
            (Keys::None, Cmd::Unwatch) => Reply::Ok,
            (Keys::None, cmd) => crate::server::run(ctx, session, cmd, args).await,
            _ => keyed.next().expect("the step answers every keyed command"),
        };
        if reply.is_error() {
            ctx.stats.borrow_mut().errors += 1;
        }
        replies.push(reply);
    }
    assert!(
        keyed.next().is_none(),
        "the step answered more than was asked"
    );
    replies
}

/// A whole transaction, sent to the core that owns its group: plain data,
/// as a log entry will be.
pub(crate) struct TransactionRequest {
    /// The one group its keys live in.
    pub group: u32,
    /// The `EXEC`'s time stamp.
    now_ms: u64,
    /// The queued commands with keys, packed, and each one's command and
    /// argument count.
    argv: OwnedArgv,
    commands: Vec<(Cmd, usize)>,
    /// The watched keys, packed, and what `WATCH` saw of each.
    watched_keys: OwnedArgv,
    watched: Vec<WatchStamp>,
}

impl TransactionRequest {
    fn new(
        group: u32,
        now_ms: u64,
        commands: &[(&'static CommandSpec, &[&[u8]])],
        watched: &[WatchedKey],
    ) -> TransactionRequest {
        let mut request = TransactionRequest {
            group,
            now_ms,
            argv: OwnedArgv::default(),
            commands: Vec::new(),
            watched_keys: OwnedArgv::new(watched.iter().map(|w| w.key.as_slice())),
            watched: watched.iter().map(|w| w.seen).collect(),
        };
        for (spec, args) in commands.iter().filter(|(spec, _)| spec.keys != Keys::None) {
            for arg in *args {
                request.argv.push(arg);
            }
            request.commands.push((spec.cmd, args.len()));
        }
        request
    }

    /// Applies the transaction to its group in one step.
    pub fn apply(&self, group: &mut Group, effects: &mut Vec<Effect>) -> Option<Vec<Reply>> {
        let args = self.argv.slices();
        let mut rest = &args[..];
        let commands: Vec<QueuedCommand<'_>> = self
            .commands
            .iter()
            .map(|&(cmd, argc)| {
                let (command, next) = rest.split_at(argc);
                rest = next;
                QueuedCommand { cmd, args: command }
            })
            .collect();
        let keys = self.watched_keys.slices();
        let watched: Vec<Watched<'_>> = keys
            .iter()
            .zip(&self.watched)
            .map(|(key, seen)| Watched { key, seen: *seen })
            .collect();
        let transaction = Transaction {
            watched: &watched,
            commands: &commands,
            now_ms: self.now_ms,
        };
        group.apply_transaction(&transaction, effects)
    }
}
