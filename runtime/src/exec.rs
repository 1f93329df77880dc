//! Executing a client's command: find it, check it, route it to the groups
//! that own its keys, gather the answers, and time it.

use std::rc::Rc;
use std::time::Instant;

use pinwheel_net::resp::parse_int;
use pinwheel_state::{
    lookup, parse_scan_cursor, Cmd, CommandSpec, Group, Keys, Kind, Reply, ScanStep,
};
use smallvec::SmallVec;

use crate::argv::{ArgSlices, OwnedArgv};
use crate::core::{may_park, CoreCtx};
use crate::ring::GROUPS_MAX;
use crate::session::SessionState;
use crate::stats::Timing;

/// A command's outcome, with what the session shows in `CLIENT LIST`.
pub(crate) struct Executed {
    /// The command, when it was a known one.
    pub cmd: Option<Cmd>,
    /// Its answer.
    pub reply: Reply,
    /// When it was answered.
    pub finished: Instant,
}

/// Runs one command for a client and records its service time, counted
/// from `started` (when the command could begin: its input arrived, or the
/// command before it in the pipeline finished).
pub(crate) async fn execute(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    args: &[&[u8]],
    started: Instant,
) -> Executed {
    let spec = match lookup(args[0]) {
        Some(spec) if spec.kind != Kind::Internal => spec,
        _ => {
            let reply = unknown_command(args);
            if let Reply::Error(text) = &reply {
                ctx.stats.borrow_mut().record_error(text);
            }
            return Executed {
                cmd: None,
                reply,
                finished: started,
            };
        }
    };
    let (reply, waited) = if !spec.arity_ok(args.len()) {
        (wrong_arity(spec), None)
    } else if may_park(spec.cmd, args.len()) {
        // A lock wait is timed apart, so that lock.acquire's histogram
        // stays the service time and lock.wait shows the queueing.
        let now_ms = ctx.clock.unix_ms_at(started);
        let group = ctx.node.ring.group_of(args[1]);
        ctx.on_group_waiting(group, spec.cmd, args, now_ms).await
    } else {
        let now_ms = ctx.clock.unix_ms_at(started);
        (dispatch(ctx, session, spec, args, now_ms).await, None)
    };
    let finished = Instant::now();
    let service = finished.duration_since(started);
    let mut stats = ctx.stats.borrow_mut();
    if let Some(waited) = waited {
        stats.record_timing(Timing::LockWait, waited.as_nanos() as u64);
    }
    let service_ns = service
        .saturating_sub(waited.unwrap_or_default())
        .as_nanos();
    stats.record_answer(spec.cmd, service_ns as u64, &reply);
    drop(stats);
    Executed {
        cmd: Some(spec.cmd),
        reply,
        finished,
    }
}

/// Runs a command that came through the embedding API.
pub(crate) async fn execute_embedded(ctx: &Rc<CoreCtx>, args: &[&[u8]]) -> Reply {
    if args.is_empty() {
        return Reply::err("ERR empty command");
    }
    let mut session = SessionState::embedded();
    execute(ctx, &mut session, args, Instant::now()).await.reply
}

async fn dispatch(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    spec: &CommandSpec,
    args: &[&[u8]],
    now_ms: u64,
) -> Reply {
    if crate::transaction::is_transaction_command(spec.cmd) {
        // A connection's session answers these before they get here.
        return crate::transaction::needs_connection(spec);
    }
    match spec.keys {
        Keys::None => crate::server::run(ctx, session, spec.cmd, args).await,
        Keys::First => {
            let group = ctx.node.ring.group_of(args[1]);
            ctx.on_group(group, spec.cmd, args, now_ms).await
        }
        Keys::Each { step } => multi_key(ctx, spec, args, step as usize, now_ms).await,
        Keys::Keyspace => keyspace(ctx, spec.cmd, args, now_ms)
            .await
            .unwrap_or_else(|error| error),
    }
}

/// Redis's text for a command it does not know.
pub(crate) fn unknown_command(args: &[&[u8]]) -> Reply {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        printable(args[0], 128)
    );
    for arg in args.iter().skip(1).take(16) {
        text.push_str(&format!("'{}' ", printable(arg, 128)));
    }
    Reply::error(text)
}

/// Redis's text for a command given the wrong number of arguments.
pub(crate) fn wrong_arity(spec: &CommandSpec) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}' command",
        spec.name
    ))
}

/// An argument shown in an error: lossy UTF-8, cut at `max` characters,
/// line breaks flattened.
pub(crate) fn printable(arg: &[u8], max: usize) -> String {
    String::from_utf8_lossy(arg)
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The keys of a multi-key command, split by group: each group's list of
/// argument indices of its keys.
fn split_by_group(ctx: &CoreCtx, args: &[&[u8]], step: usize) -> Vec<(u32, SmallVec<[usize; 8]>)> {
    let mut groups: Vec<(u32, SmallVec<[usize; 8]>)> = Vec::new();
    for index in (1..args.len()).step_by(step) {
        let group = ctx.node.ring.group_of(args[index]);
        match groups.iter_mut().find(|(g, _)| *g == group) {
            Some((_, indices)) => indices.push(index),
            None => groups.push((group, SmallVec::from_slice(&[index]))),
        }
    }
    groups
}

/// Multi-key commands: one sub-command per group, run at once, answers
/// gathered in the client's key order. Atomic when every key lives in one
/// group (hash tags make that so); otherwise each group's part is atomic
/// and the whole is not.
async fn multi_key(
    ctx: &Rc<CoreCtx>,
    spec: &CommandSpec,
    args: &[&[u8]],
    step: usize,
    now_ms: u64,
) -> Reply {
    if !(args.len() - 1).is_multiple_of(step) {
        return wrong_arity(spec);
    }
    let split = split_by_group(ctx, args, step);
    if split.len() == 1 {
        return ctx.on_group(split[0].0, spec.cmd, args, now_ms).await;
    }
    if spec.cmd == Cmd::Msetnx {
        return msetnx_across_groups(ctx, args, &split, now_ms).await;
    }
    let parts: Vec<ArgSlices> = split
        .iter()
        .map(|(_, indices)| sub_command(args, args[0], indices, step))
        .collect();
    let replies = run_parts(ctx, spec.cmd, &split, &parts, now_ms).await;
    merge(spec.cmd, args.len() - 1, &split, replies)
}

/// The part of a multi-key command that goes to one group.
fn sub_command<'a>(
    args: &[&'a [u8]],
    name: &'a [u8],
    indices: &[usize],
    step: usize,
) -> ArgSlices<'a> {
    let mut part = ArgSlices::new();
    part.push(name);
    for &index in indices {
        part.extend_from_slice(&args[index..index + step]);
    }
    part
}

async fn run_parts(
    ctx: &Rc<CoreCtx>,
    cmd: Cmd,
    split: &[(u32, SmallVec<[usize; 8]>)],
    parts: &[ArgSlices<'_>],
    now_ms: u64,
) -> Vec<Reply> {
    let runs = split
        .iter()
        .zip(parts)
        .map(|((group, _), part)| ctx.on_group(*group, cmd, part, now_ms));
    futures::future::join_all(runs).await
}

fn merge(
    cmd: Cmd,
    keys: usize,
    split: &[(u32, SmallVec<[usize; 8]>)],
    replies: Vec<Reply>,
) -> Reply {
    if let Some(error) = replies.iter().find(|r| r.is_error()) {
        return error.clone();
    }
    match cmd {
        Cmd::Mget => {
            let mut values = vec![Reply::Nil; keys];
            for ((_, indices), reply) in split.iter().zip(replies) {
                let Reply::Array(items) = reply else { continue };
                for (&index, item) in indices.iter().zip(items) {
                    values[index - 1] = item;
                }
            }
            Reply::Array(values)
        }
        Cmd::Mset => Reply::Ok,
        _ => Reply::Int(
            replies
                .iter()
                .map(|r| if let Reply::Int(n) = r { *n } else { 0 })
                .sum(),
        ),
    }
}

/// MSETNX over several groups: check that no key exists, then set them
/// all. Another client may slip a key in between; documented as not atomic
/// across groups (use a hash tag to keep the keys in one group).
async fn msetnx_across_groups(
    ctx: &Rc<CoreCtx>,
    args: &[&[u8]],
    split: &[(u32, SmallVec<[usize; 8]>)],
    now_ms: u64,
) -> Reply {
    let checks: Vec<ArgSlices> = split
        .iter()
        .map(|(_, indices)| sub_command(args, b"EXISTS", indices, 1))
        .collect();
    let existing = run_parts(ctx, Cmd::Exists, split, &checks, now_ms).await;
    if existing.iter().any(|r| *r != Reply::Int(0)) {
        return Reply::Int(0);
    }
    let sets: Vec<ArgSlices> = split
        .iter()
        .map(|(_, indices)| sub_command(args, b"MSET", indices, 2))
        .collect();
    match merge(
        Cmd::Mset,
        0,
        split,
        run_parts(ctx, Cmd::Mset, split, &sets, now_ms).await,
    ) {
        Reply::Ok => Reply::Int(1),
        other => other,
    }
}

/// Whole-keyspace commands, fanned out to every core. `Err` carries the
/// error to answer with when a core cannot be asked (shutdown).
async fn keyspace(
    ctx: &Rc<CoreCtx>,
    cmd: Cmd,
    args: &[&[u8]],
    now_ms: u64,
) -> Result<Reply, Reply> {
    Ok(match cmd {
        Cmd::Dbsize => {
            let sizes = ctx
                .on_all_cores(|c| c.with_groups(|gs| gs.iter().map(|g| g.len()).sum::<usize>()))
                .await?;
            Reply::Int(sizes.iter().sum::<usize>() as i64)
        }
        Cmd::Keys => {
            let pattern = args[1].to_vec();
            let keys = ctx
                .on_all_cores(move |c| {
                    c.with_groups(|gs| {
                        gs.iter()
                            .flat_map(|g| g.keys(&pattern, now_ms))
                            .collect::<Vec<_>>()
                    })
                })
                .await?;
            Reply::Array(keys.into_iter().flatten().map(Reply::Bulk).collect())
        }
        Cmd::Flushall | Cmd::Flushdb => flush(ctx, cmd, args, now_ms).await?,
        Cmd::Scan => scan(ctx, args, now_ms).await?,
        Cmd::Randomkey => random_key(ctx, now_ms).await?,
        _ => Reply::err("ERR internal: not a keyspace command"),
    })
}

async fn flush(ctx: &Rc<CoreCtx>, cmd: Cmd, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
    let argv = OwnedArgv::new(args.iter().copied());
    let replies = ctx
        .on_all_cores(move |c| {
            let args = argv.slices();
            let groups: Vec<u32> = (0..c.node.ring.groups())
                .filter(|&g| c.owner(g) == c.index)
                .collect();
            groups
                .into_iter()
                .map(|g| c.run_unparked(g, cmd, &args, now_ms))
                .find(Reply::is_error)
        })
        .await?;
    Ok(replies.into_iter().flatten().next().unwrap_or(Reply::Ok))
}

/// Bits of a SCAN cursor that hold the group; the rest hold the group's own
/// cursor (a hash) shifted right by this many bits. Rounding the group
/// cursor down can only revisit a few keys, which SCAN allows; it never
/// skips one.
const SCAN_GROUP_BITS: u32 = 12;
const _: () = assert!(1 << SCAN_GROUP_BITS >= GROUPS_MAX);
const SCAN_INNER_BITS: u32 = 64 - SCAN_GROUP_BITS;

struct ScanArgs {
    cursor: u64,
    pattern: Option<Vec<u8>>,
    count: usize,
    strings_only: bool,
}

fn parse_scan(args: &[&[u8]]) -> Result<ScanArgs, Reply> {
    let cursor = parse_scan_cursor(args[1]).ok_or(Reply::err("ERR invalid cursor"))?;
    let mut scan = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
        strings_only: true,
    };
    let mut rest = args[2..].chunks(2);
    for option in &mut rest {
        let [name, value] = option else {
            return Err(Reply::err("ERR syntax error"));
        };
        match name.to_ascii_uppercase().as_slice() {
            b"MATCH" => scan.pattern = Some(value.to_vec()),
            b"COUNT" => {
                let count = parse_int(value)
                    .ok_or(Reply::err("ERR value is not an integer or out of range"))?;
                if count < 1 {
                    return Err(Reply::err("ERR syntax error"));
                }
                scan.count = count as usize;
            }
            b"TYPE" => scan.strings_only = value.eq_ignore_ascii_case(b"string"),
            _ => return Err(Reply::err("ERR syntax error")),
        }
    }
    Ok(scan)
}

/// SCAN walks the groups in order, each from start to end in its own
/// (stable hash) order, so a full iteration returns every key present
/// throughout it. One call shares COUNT among as many groups as it takes:
/// every core walks its own groups from the cursor's on, in order, until it
/// has visited COUNT keys, all cores at once; the answers are then taken in
/// group order until COUNT keys have been visited, and the cursor names
/// where that stopped. A core's work is bounded by COUNT, so a call visits
/// between COUNT and cores x COUNT keys (COUNT is a hint in Redis too);
/// what a core did past the stopping point is done again by the next call.
async fn scan(ctx: &Rc<CoreCtx>, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
    let scan = parse_scan(args)?;
    let groups = ctx.node.ring.groups();
    let first = (scan.cursor >> SCAN_INNER_BITS) as u32;
    if first >= groups {
        return Ok(scan_reply(0, Vec::new()));
    }
    let first_inner = scan.cursor << SCAN_GROUP_BITS;
    let (pattern, budget) = (scan.pattern, scan.count);
    let walks = ctx
        .on_all_cores(move |c| {
            let pattern = pattern.as_deref();
            walk_own_groups(c, first, first_inner, pattern, budget, now_ms)
        })
        .await?;
    let (cursor, mut keys) = merge_walks(ctx, first, walks, budget);
    if !scan.strings_only {
        keys.clear();
    }
    Ok(scan_reply(cursor, keys))
}

/// One core's part of a SCAN call: its groups from `first` on, in order,
/// until `budget` keys are visited or a group is left unfinished.
fn walk_own_groups(
    c: &CoreCtx,
    first: u32,
    first_inner: u64,
    pattern: Option<&[u8]>,
    budget: usize,
    now_ms: u64,
) -> Vec<(u32, ScanStep)> {
    let mut left = budget;
    let mut steps = Vec::new();
    for group in (first..c.node.ring.groups()).filter(|&g| c.owner(g) == c.index) {
        let inner = if group == first { first_inner } else { 0 };
        let step = c.with_group(group, |g| scan_group(g, inner, pattern, left, now_ms));
        left = left.saturating_sub(step.visited);
        let unfinished = step.next != 0;
        steps.push((group, step));
        if unfinished || left == 0 {
            break;
        }
    }
    steps
}

/// A step over one group whose next cursor survives being rounded into a
/// SCAN cursor: rounded down to the same value as `inner`, the client
/// would be handed its own cursor back and loop, so the step goes on.
fn scan_group(
    group: &Group,
    inner: u64,
    pattern: Option<&[u8]>,
    count: usize,
    now_ms: u64,
) -> ScanStep {
    let mut step = group.scan_step(inner, pattern, count, now_ms);
    while step.next != 0 && (step.next >> SCAN_GROUP_BITS) <= (inner >> SCAN_GROUP_BITS) {
        let more = group.scan_step(step.next, pattern, count, now_ms);
        step.keys.extend(more.keys);
        step.visited += more.visited;
        step.next = more.next;
    }
    step
}

/// Takes the cores' walks in group order until `budget` keys are visited
/// or a group is unfinished (or missing: its core stopped before it);
/// returns the next cursor and the keys found up to there.
fn merge_walks(
    ctx: &CoreCtx,
    first: u32,
    walks: Vec<Vec<(u32, ScanStep)>>,
    budget: usize,
) -> (u64, Vec<Vec<u8>>) {
    let groups = ctx.node.ring.groups();
    let mut walks: Vec<_> = walks.into_iter().map(Vec::into_iter).collect();
    let mut keys = Vec::new();
    let mut left = budget;
    let mut group = first;
    while group < groups {
        let walk = &mut walks[ctx.owner(group)];
        let Some((_, step)) = walk.next().filter(|(g, _)| *g == group) else {
            return (u64::from(group) << SCAN_INNER_BITS, keys);
        };
        keys.extend(step.keys);
        if step.next != 0 {
            let cursor = (u64::from(group) << SCAN_INNER_BITS) | (step.next >> SCAN_GROUP_BITS);
            return (cursor, keys);
        }
        left = left.saturating_sub(step.visited);
        group += 1;
        if left == 0 && group < groups {
            return (u64::from(group) << SCAN_INNER_BITS, keys);
        }
    }
    (0, keys)
}

fn scan_reply(cursor: u64, keys: Vec<Vec<u8>>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(cursor.to_string().into_bytes()),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// RANDOMKEY: groups are tried from a random one on, each answering with a
/// random key of its own.
async fn random_key(ctx: &Rc<CoreCtx>, now_ms: u64) -> Result<Reply, Reply> {
    let groups = ctx.node.ring.groups();
    let start = (ctx.random() % u64::from(groups)) as u32;
    for offset in 0..groups {
        let group = (start + offset) % groups;
        let seed = ctx.random();
        let key = ctx
            .on_core(ctx.owner(group), move |c| {
                c.with_group(group, |g| g.random_key(seed, now_ms))
            })
            .await?;
        if let Some(key) = key {
            return Ok(Reply::Bulk(key));
        }
    }
    Ok(Reply::Nil)
}
