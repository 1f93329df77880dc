//! A connection's queue of pipelined single-key commands.
//!
//! A client that pipelines sends many commands in one read, and a
//! connection answers them in order. Taken one by one, each command whose
//! key lives on another core would wait for the one before it to come back
//! across the core queue. Instead, consecutive commands bound for the same
//! other core are gathered into one [`Batch`] that crosses once and runs
//! there in order; commands for this core's own groups are answered on the
//! spot. Either way the answers wait here until the connection writes them.
//!
//! Order is kept because nothing runs past a batch in flight: a command
//! for this core, or for a third core, is refused ([`Queued::AfterAnswers`])
//! until the batch has its answers.

use std::collections::VecDeque;
use std::time::Instant;

use pinwheel_net::resp::Args;
use pinwheel_net::Queued;
use pinwheel_state::{lookup, Cmd, Keys, Kind, Reply};
use smallvec::SmallVec;

use crate::argv::OwnedArgv;
use crate::core::{may_park, CoreCtx};
use crate::handoff::Affinity;
use crate::mesh::{Request, Response};

/// Commands queued on one connection before their answers must be written.
pub const QUEUED_COMMANDS_MAX: usize = 128;
/// Argument bytes a batch for another core may carry; a larger command is
/// sent on its own.
pub const BATCH_ARG_BYTES_MAX: usize = 64 * 1024;
/// Answer bytes (roughly: string payloads) held before they must be
/// written, so a pipeline of large reads streams instead of piling up.
pub const QUEUED_ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Consecutive single-key commands of one client for groups one core owns,
/// sent as one message and run there in order.
pub(crate) struct Batch {
    /// The wall time every command of the batch is stamped with.
    pub now_ms: u64,
    argv: OwnedArgv,
    commands: Vec<(u32, Cmd, usize)>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            now_ms: 0,
            argv: OwnedArgv::default(),
            commands: Vec::new(),
        }
    }

    fn push(&mut self, group: u32, cmd: Cmd, args: &Args<'_>) {
        for arg in args.iter() {
            self.argv.push(arg);
        }
        self.commands.push((group, cmd, args.len()));
    }

    fn arg_bytes(&self) -> usize {
        self.argv.byte_len()
    }

    /// Runs every command on the core that owns their groups; answers in
    /// order.
    pub fn run(&self, ctx: &CoreCtx) -> Vec<Reply> {
        let all = self.argv.slices();
        let mut rest = &all[..];
        let mut replies = Vec::with_capacity(self.commands.len());
        for &(group, cmd, argc) in &self.commands {
            let (args, next) = rest.split_at(argc);
            rest = next;
            replies.push(ctx.run_unparked(group, cmd, args, self.now_ms));
        }
        replies
    }
}

/// The batch being gathered for another core.
struct Outgoing {
    core: usize,
    batch: Batch,
    /// When the first of its commands could have started.
    started: Instant,
}

/// One connection's queued commands and their answers.
#[derive(Default)]
pub(crate) struct Pipeline {
    answers: VecDeque<(Cmd, Reply)>,
    answer_bytes: usize,
    outgoing: Option<Outgoing>,
    /// When the last answered command finished: the next one's start.
    pub last_finished: Option<Instant>,
}

impl Pipeline {
    /// Takes a single-key command that needs no waiting of its own:
    /// answers it now if this core owns its key, or adds it to the batch for
    /// the core that does.
    /// A taken command tells `affinity` where it went.
    pub fn queue(&mut self, ctx: &CoreCtx, args: &Args<'_>, affinity: &mut Affinity) -> Queued {
        let Some((group, cmd)) = queueable(ctx, args) else {
            return Queued::Declined;
        };
        if self.is_full() {
            return Queued::AfterAnswers;
        }
        let owner = ctx.owner(group);
        let queued = self.place(ctx, group, owner, cmd, args);
        if queued == Queued::Taken {
            affinity.note(owner);
        }
        queued
    }

    fn place(
        &mut self,
        ctx: &CoreCtx,
        group: u32,
        owner: usize,
        cmd: Cmd,
        args: &Args<'_>,
    ) -> Queued {
        match &mut self.outgoing {
            Some(out) if out.core != owner => Queued::AfterAnswers,
            Some(out) if out.batch.arg_bytes() + args_bytes(args) > BATCH_ARG_BYTES_MAX => {
                Queued::AfterAnswers
            }
            Some(out) => {
                out.batch.push(group, cmd, args);
                Queued::Taken
            }
            None if owner == ctx.index => {
                self.answer_here(ctx, group, cmd, args);
                Queued::Taken
            }
            None if args_bytes(args) > BATCH_ARG_BYTES_MAX => Queued::Declined,
            None => {
                let mut batch = Batch::new();
                batch.push(group, cmd, args);
                let started = self.last_finished.unwrap_or_else(Instant::now);
                self.outgoing = Some(Outgoing {
                    core: owner,
                    batch,
                    started,
                });
                Queued::Taken
            }
        }
    }

    fn is_full(&self) -> bool {
        let outgoing = self.outgoing.as_ref().map_or(0, |o| o.batch.commands.len());
        self.answers.len() + outgoing >= QUEUED_COMMANDS_MAX
            || self.answer_bytes >= QUEUED_ANSWER_BYTES_MAX
    }

    fn answer_here(&mut self, ctx: &CoreCtx, group: u32, cmd: Cmd, args: &Args<'_>) {
        let started = self.last_finished.unwrap_or_else(Instant::now);
        let slices: crate::argv::ArgSlices = args.iter().collect();
        let reply = ctx.run_unparked(group, cmd, &slices, ctx.clock.unix_ms_at(started));
        let finished = Instant::now();
        let latency_ns = finished.duration_since(started).as_nanos() as u64;
        ctx.stats
            .borrow_mut()
            .record_answer(cmd, latency_ns, &reply);
        self.last_finished = Some(finished);
        self.push_answer(cmd, reply);
    }

    fn push_answer(&mut self, cmd: Cmd, reply: Reply) {
        self.answer_bytes += weight(&reply);
        self.answers.push_back((cmd, reply));
    }

    /// Sends the batch for another core, if any, and waits for its answers.
    pub async fn settle(&mut self, ctx: &CoreCtx) {
        let Some(Outgoing {
            core,
            mut batch,
            started,
        }) = self.outgoing.take()
        else {
            return;
        };
        batch.now_ms = ctx.clock.now_ms();
        let cmds: SmallVec<[Cmd; 16]> = batch.commands.iter().map(|c| c.1).collect();
        let replies = match ctx.outbox.ask(ctx.index, core, Request::Batch(batch)).await {
            Response::Replies(replies) if replies.len() == cmds.len() => replies,
            Response::Reply(error) if error.is_error() => vec![error; cmds.len()],
            _ => vec![Reply::err("ERR internal: a batch was answered wrongly"); cmds.len()],
        };
        let finished = Instant::now();
        let latency_ns = finished.duration_since(started).as_nanos() as u64;
        let mut stats = ctx.stats.borrow_mut();
        for (cmd, reply) in cmds.iter().zip(replies) {
            stats.record_answer(*cmd, latency_ns, &reply);
            self.push_answer(*cmd, reply);
        }
        self.last_finished = Some(finished);
    }

    /// The oldest answer not yet written, with its command.
    pub fn next_answer(&mut self) -> Option<(Cmd, Reply)> {
        let (cmd, reply) = self.answers.pop_front()?;
        self.answer_bytes -= weight(&reply);
        Some((cmd, reply))
    }
}

/// The group and command of a single-key command that never waits on its
/// own account, or `None` for any other (those go through the full path,
/// which also gives unknown commands and wrong arity their errors).
fn queueable(ctx: &CoreCtx, args: &Args<'_>) -> Option<(u32, Cmd)> {
    let spec = lookup(args.get(0))?;
    let single_key = spec.keys == Keys::First && spec.kind != Kind::Internal;
    if !single_key || !spec.arity_ok(args.len()) || may_park(spec.cmd, args.len()) {
        return None;
    }
    Some((ctx.node.ring.group_of(args.get(1)), spec.cmd))
}

fn args_bytes(args: &Args<'_>) -> usize {
    args.iter().map(<[u8]>::len).sum()
}

/// About how many bytes an answer takes on the wire; only string payloads
/// count, which is what can be large.
fn weight(reply: &Reply) -> usize {
    match reply {
        Reply::Bulk(data) | Reply::Verbatim(data) => data.len(),
        Reply::Array(items) => items.iter().map(weight).sum(),
        Reply::Map(pairs) => pairs.iter().map(|(k, v)| weight(k) + weight(v)).sum(),
        _ => 0,
    }
}
