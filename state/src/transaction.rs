//! `MULTI`/`EXEC` as one state-machine step, and what `WATCH` reads.
//!
//! A transaction reaches the group as one [`Transaction`]: the watched
//! keys with what `WATCH` saw of them, the queued commands, and the time
//! stamped on the `EXEC`. [`Group::apply_transaction`] first decides the
//! watch from the group's own state, then applies every command in order,
//! all in one call: nothing else can run in between, so the transaction is
//! atomic, and once writes go through a log it is one entry, decided the
//! same way on every replica (no per-connection flag on a leader says
//! "dirty").
//!
//! How the watch is decided. Every change a command makes to a key stamps
//! the key with the next number of the group's change sequence
//! (`keyspace.rs`; a removed key's last stamp is kept in `stamps.rs`).
//! `WATCH` reads, from the group that owns the key, a [`WatchStamp`]: the
//! change sequence number then, and whether the key was live at the
//! `WATCH`'s time. The `EXEC` aborts when the key's stamp is now above that
//! number, or its liveness at the `EXEC`'s time differs:
//!
//! - a command changed the key (any write, the same value included, or a
//!   deletion) after the `WATCH`: its stamp is above;
//! - the key was live and has expired since (Redis 7 aborts then, whether
//!   or not the expired key was removed yet): it is no longer live;
//! - a key already expired (or missing) when watched, and removed by expiry
//!   or by `FLUSHALL` since: nothing differs, and Redis 7 does not abort
//!   either. A `FLUSHALL` aborts watchers of the live keys it removes.
//!
//! The one case that aborts where Redis would not is bounded memory's
//! (`stamps.rs`): a watched key missing at `EXEC` time reports a stamp
//! above the `WATCH`'s number, though it did not change, once its group
//! has forgotten the removals of more than `REMOVED_STAMPS_MAX` keys
//! changed after the `WATCH` (or when another removed key shares its
//! 64-bit hash).

use crate::{Cmd, Effect, Entry, Group, Keys, Kind, Reply};

/// What `WATCH` saw of one key, read from the group that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchStamp {
    /// The group's change sequence number at the `WATCH`: a later change
    /// to the key is stamped above it.
    pub seq: u64,
    /// Whether the key existed and had not expired.
    pub live: bool,
}

/// A watched key and what `WATCH` saw of it.
#[derive(Debug, Clone, Copy)]
pub struct Watched<'a> {
    /// The key.
    pub key: &'a [u8],
    /// What [`Group::watch`] answered for it.
    pub seen: WatchStamp,
}

/// One queued command of a transaction.
#[derive(Debug, Clone, Copy)]
pub struct QueuedCommand<'a> {
    /// The command (its arity was checked when it was queued).
    pub cmd: Cmd,
    /// All arguments, the command name included.
    pub args: &'a [&'a [u8]],
}

/// A whole `EXEC`: one state-machine step, one log entry.
#[derive(Debug, Clone, Copy)]
pub struct Transaction<'a> {
    /// Keys watched before `MULTI`, all owned by this group.
    pub watched: &'a [Watched<'a>],
    /// The queued commands with keys, all owned by this group, in order.
    pub commands: &'a [QueuedCommand<'a>],
    /// Unix time in milliseconds stamped on the `EXEC`: the time every
    /// command runs at and watched keys' liveness is judged at.
    pub now_ms: u64,
}

impl Group {
    /// `WATCH key` on this group, at `now_ms`. A read: changes nothing.
    pub fn watch(&self, key: &[u8], now_ms: u64) -> WatchStamp {
        WatchStamp {
            seq: self.keys.change_seq(),
            live: self.keys.live(key, now_ms).is_some(),
        }
    }

    /// True when `watched` changed since its `WATCH`, judged at `now_ms`.
    fn watch_fired(&self, watched: &Watched<'_>, now_ms: u64) -> bool {
        let live = self.keys.live(watched.key, now_ms).is_some();
        self.keys.stamp(watched.key) > watched.seen.seq || live != watched.seen.live
    }

    /// Applies a transaction in one step: `None` (and the group unchanged)
    /// when a watched key changed, otherwise every command's reply in
    /// order, errors included; a command's error does not stop the ones
    /// after it (Redis has no rollback). A command that would wait
    /// (`LOCK.ACQUIRE ... WAIT`) answers at once, as Redis runs blocking
    /// commands inside `MULTI`. Effects are pushed in order, as by
    /// [`Group::apply`].
    pub fn apply_transaction(
        &mut self,
        transaction: &Transaction<'_>,
        effects: &mut Vec<Effect>,
    ) -> Option<Vec<Reply>> {
        let now_ms = transaction.now_ms;
        let fired = transaction
            .watched
            .iter()
            .any(|watched| self.watch_fired(watched, now_ms));
        if fired {
            return None;
        }
        let replies = transaction
            .commands
            .iter()
            .map(|queued| self.apply_queued(queued, now_ms, effects))
            .collect();
        Some(replies)
    }

    /// One command of a transaction: exactly what applying it alone, with
    /// no waiter, would do.
    fn apply_queued(
        &mut self,
        queued: &QueuedCommand<'_>,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Reply {
        let spec = queued.cmd.spec();
        let keyed = matches!(spec.keys, Keys::First | Keys::Each { .. });
        match spec.kind {
            // A whole-keyspace or server command would see this group alone.
            _ if !keyed => Reply::error(format!(
                "ERR '{}' cannot run inside a transaction",
                spec.name
            )),
            Kind::Read => self.read(queued.cmd, queued.args, now_ms),
            Kind::Write | Kind::Internal | Kind::Server => {
                let entry = Entry {
                    cmd: queued.cmd,
                    args: queued.args,
                    now_ms,
                    waiter: 0,
                };
                self.apply(&entry, effects)
                    .expect("a command without a waiter never parks")
            }
        }
    }
}
