//! Unit and property tests of the state machine, one file per family.

mod expiry;
mod locks;
mod props;
mod scan;
mod snapshot;
mod strings;
mod transaction;

use crate::{lookup, Effect, Entry, Group, Kind, Limits, Reply};

/// A group with default limits.
pub(crate) fn group() -> Group {
    Group::new(Limits::default())
}

/// Runs `args` at `now_ms` the way the runtime would: reads through
/// `read`, everything else through `apply` (without a waiter).
pub(crate) fn run_args(group: &mut Group, now_ms: u64, args: &[&[u8]]) -> Reply {
    let mut effects = Vec::new();
    let reply = run_full(group, now_ms, args, 0, &mut effects);
    reply.expect("parked without a waiter")
}

/// Like [`run_args`], with a waiter id and the effects.
pub(crate) fn run_full(
    group: &mut Group,
    now_ms: u64,
    args: &[&[u8]],
    waiter: u64,
    effects: &mut Vec<Effect>,
) -> Option<Reply> {
    let spec = lookup(args[0]).expect("known command");
    if spec.kind == Kind::Read {
        let before = group.clone();
        let reply = group.read(spec.cmd, args, now_ms);
        assert_eq!(*group, before, "a read changed the state");
        return Some(reply);
    }
    let entry = Entry {
        cmd: spec.cmd,
        args,
        now_ms,
        waiter,
    };
    group.apply(&entry, effects)
}

/// Runs a space-separated command line at `now_ms`.
pub(crate) fn run(group: &mut Group, now_ms: u64, line: &str) -> Reply {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    run_args(group, now_ms, &args)
}

pub(crate) fn bulk(text: &str) -> Reply {
    Reply::Bulk(text.as_bytes().to_vec())
}

pub(crate) fn err(text: &str) -> Reply {
    Reply::error(text.to_owned())
}
