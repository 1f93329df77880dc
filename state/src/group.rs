//! One shard group: its keys and its locks, and the entry points the
//! runtime calls. Each command family lives in its own module (`strings`,
//! `expiry`, `scan`, `locks`); this file only dispatches.

use crate::keyspace::{Keyspace, Ttl};
use crate::locks::LockTable;
use crate::parse::{is, TOO_BIG};
use crate::{Cmd, Effect, Keys, Kind, Limits, Reply};

/// One committed log entry, as the runtime hands it to [`Group::apply`].
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The command.
    pub cmd: Cmd,
    /// All arguments, the command name included (`args[0]`).
    pub args: &'a [&'a [u8]],
    /// Unix time in milliseconds, stamped when the entry entered the log.
    /// The only clock the state machine ever sees.
    pub now_ms: u64,
    /// The runtime's id for the client waiting on this entry, so that a
    /// `LOCK.ACQUIRE ... WAIT` can park it; 0 means nobody can wait.
    pub waiter: u64,
}

/// The state of one shard group.
///
/// A pure function of the entries applied to it: no clock, no randomness,
/// no I/O. Replicas that apply the same entries in the same order hold equal
/// state and give equal replies.
/// Equality compares the whole state (keys, TTLs, locks, the token
/// counter); replicas that applied the same log are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub(crate) limits: Limits,
    pub(crate) keys: Keyspace,
    pub(crate) locks: LockTable,
}

impl Group {
    /// An empty group.
    pub fn new(limits: Limits) -> Group {
        Group {
            limits,
            keys: Keyspace::default(),
            locks: LockTable::default(),
        }
    }

    /// The limits this group enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Applies a committed command (`Kind::Write` or `Kind::Internal`; a
    /// `Kind::Read` command is answered as by [`Group::read`]).
    ///
    /// Answers `None` only when a `LOCK.ACQUIRE ... WAIT` parked its client:
    /// the answer comes later as an [`Effect`]. Everything the runtime must
    /// do besides replying (arm a lease timer, answer a parked client) is
    /// pushed onto `effects`, in order.
    pub fn apply(&mut self, entry: &Entry<'_>, effects: &mut Vec<Effect>) -> Option<Reply> {
        let spec = entry.cmd.spec();
        if !spec.arity_ok(entry.args.len()) {
            return Some(wrong_arity(spec.name));
        }
        match spec.kind {
            Kind::Server => Some(not_here(spec.name)),
            Kind::Read => Some(self.read(entry.cmd, entry.args, entry.now_ms)),
            Kind::Write | Kind::Internal => match entry.cmd {
                Cmd::LockAcquire
                | Cmd::LockRelease
                | Cmd::LockRenew
                | Cmd::LockExpire
                | Cmd::LockCancel => self.apply_lock(entry, effects),
                _ => Some(self.apply_write(entry.cmd, entry.args, entry.now_ms)),
            },
        }
    }

    fn apply_write(&mut self, cmd: Cmd, args: &[&[u8]], now_ms: u64) -> Reply {
        if let Err(reply) = self.check_key_lengths(cmd, args) {
            return reply;
        }
        let result = match cmd {
            Cmd::Flushall | Cmd::Flushdb => self.flush(args),
            Cmd::Set => self.set(args, now_ms),
            Cmd::Setnx => self.setnx(args, now_ms),
            Cmd::Setex => self.setex(args, now_ms, 1000, "setex"),
            Cmd::Psetex => self.setex(args, now_ms, 1, "psetex"),
            Cmd::Getset => self.getset(args, now_ms),
            Cmd::Getdel => Ok(self.getdel(args, now_ms)),
            Cmd::Getex => self.getex(args, now_ms),
            Cmd::Mset => self.mset(args, now_ms).map(|()| Reply::Ok),
            Cmd::Msetnx => self.msetnx(args, now_ms),
            Cmd::Del | Cmd::Unlink => Ok(self.del(args, now_ms)),
            Cmd::Incr => self.incr_by(args[1], 1, now_ms),
            Cmd::Decr => self.incr_by(args[1], -1, now_ms),
            Cmd::Incrby => self.incrby(args, now_ms),
            Cmd::Decrby => self.decrby(args, now_ms),
            Cmd::Incrbyfloat => self.incrbyfloat(args, now_ms),
            Cmd::Append => self.append(args, now_ms),
            Cmd::Setrange => self.setrange(args, now_ms),
            Cmd::Delifeq => Ok(self.delifeq(args, now_ms)),
            Cmd::Expire => self.expire(args, now_ms, now_ms, 1000, "expire"),
            Cmd::Pexpire => self.expire(args, now_ms, now_ms, 1, "pexpire"),
            Cmd::Expireat => self.expire(args, now_ms, 0, 1000, "expireat"),
            Cmd::Pexpireat => self.expire(args, now_ms, 0, 1, "pexpireat"),
            Cmd::Persist => Ok(self.persist(args, now_ms)),
            _ => Ok(not_here(cmd.spec().name)),
        };
        result.unwrap_or_else(|error| error)
    }

    /// Answers a read command (`Kind::Read`) without changing anything;
    /// expired keys are invisible.
    pub fn read(&self, cmd: Cmd, args: &[&[u8]], now_ms: u64) -> Reply {
        let spec = cmd.spec();
        if !spec.arity_ok(args.len()) {
            return wrong_arity(spec.name);
        }
        if spec.kind != Kind::Read {
            return not_here(spec.name);
        }
        let result = match cmd {
            Cmd::Dbsize => Ok(Reply::Int(self.len() as i64)),
            Cmd::Keys => Ok(self.read_keys(args, now_ms)),
            Cmd::Scan => self.read_scan(args, now_ms),
            // No seed comes with a plain read; the caller's clock will do.
            // The runtime calls `random_key` with its own seed instead.
            Cmd::Randomkey => Ok(self
                .random_key(now_ms, now_ms)
                .map_or(Reply::Nil, Reply::Bulk)),
            Cmd::Get => Ok(self.get(args[1], now_ms)),
            Cmd::Mget => Ok(self.mget(args, now_ms)),
            Cmd::Exists => Ok(self.exists(args, now_ms)),
            Cmd::Type => Ok(self.type_of(args[1], now_ms)),
            Cmd::Strlen => Ok(self.strlen(args[1], now_ms)),
            Cmd::Getrange => self.getrange(args, now_ms),
            Cmd::Ttl => Ok(self.ttl(args[1], now_ms, false, false)),
            Cmd::Pttl => Ok(self.ttl(args[1], now_ms, true, false)),
            Cmd::Expiretime => Ok(self.ttl(args[1], now_ms, false, true)),
            Cmd::Pexpiretime => Ok(self.ttl(args[1], now_ms, true, true)),
            Cmd::LockInfo => Ok(self.lock_info(args[1], now_ms)),
            _ => Ok(not_here(spec.name)),
        };
        result.unwrap_or_else(|error| error)
    }

    /// Keys held, for `DBSIZE` and `INFO`. Expired keys that no write or
    /// sweep has removed yet still count, as in Redis; so replicas agree on
    /// it only if they sweep at the same log positions (see
    /// [`Group::sweep_expired`]).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the group holds no key (locks are not keys).
    pub fn is_empty(&self) -> bool {
        self.keys.len() == 0
    }

    /// Keys with a TTL, for `INFO`'s keyspace `expires=`.
    pub fn expiring_len(&self) -> usize {
        self.keys.expiring_len()
    }

    /// `FLUSHALL`/`FLUSHDB [ASYNC|SYNC]`: removes every key. Locks are not
    /// keys and survive: a flush must not silently break mutual exclusion
    /// (holders keep their tokens, waiters stay queued).
    fn flush(&mut self, args: &[&[u8]]) -> Result<Reply, Reply> {
        match args {
            [_] => {}
            [_, mode] if is(mode, "async") || is(mode, "sync") => {}
            _ => return Err(crate::parse::SYNTAX),
        }
        self.keys.clear();
        Ok(Reply::Ok)
    }

    /// Refuses keys longer than the limit on every write, before anything
    /// changes, so a multi-key write is all or nothing.
    fn check_key_lengths(&self, cmd: Cmd, args: &[&[u8]]) -> Result<(), Reply> {
        let step = match cmd.spec().keys {
            Keys::First => args.len().max(1),
            Keys::Each { step } => usize::from(step).max(1),
            Keys::None | Keys::Keyspace => return Ok(()),
        };
        let max = self.limits.key_max_bytes;
        match args
            .iter()
            .skip(1)
            .step_by(step)
            .find(|key| key.len() > max)
        {
            Some(_) => Err(Reply::error(format!(
                "ERR key is too long (max {max} bytes)"
            ))),
            None => Ok(()),
        }
    }

    /// Stores `data` under `key` with every limit checked; the one way a
    /// command creates or replaces a whole value. A deadline already past
    /// deletes the key instead (Redis does the same for `SET ... PXAT` in
    /// the past).
    pub(crate) fn store(
        &mut self,
        key: &[u8],
        data: Vec<u8>,
        ttl: Ttl,
        now_ms: u64,
    ) -> Result<(), Reply> {
        if data.len() > self.limits.value_max_bytes {
            return Err(TOO_BIG);
        }
        let held = self.keys.purge_if_expired(key, now_ms);
        if let Ttl::At(deadline) = ttl {
            if deadline <= now_ms {
                self.keys.remove_as_written(key);
                return Ok(());
            }
        }
        if !held {
            self.make_room(1, now_ms)?;
        }
        self.keys.insert(key, data, ttl);
        Ok(())
    }

    /// Ensures `new_keys` more keys fit under `keys_max`.
    ///
    /// At the limit it first removes every expired key. A partial sweep
    /// would make the answer depend on how much earlier sweeps removed, and
    /// replicas may have swept differently; after a full sweep the count is
    /// the live keys at `now_ms`, the same everywhere. The cost is amortised:
    /// each key is swept once in its life.
    pub(crate) fn make_room(&mut self, new_keys: usize, now_ms: u64) -> Result<(), Reply> {
        let max = self.limits.keys_max;
        if self.keys.len().saturating_add(new_keys) > max {
            self.sweep_expired(now_ms, usize::MAX);
        }
        if self.keys.len().saturating_add(new_keys) > max {
            return Err(Reply::error(format!(
                "OOM command not allowed when the shard group holds keys_max ({max}) keys"
            )));
        }
        Ok(())
    }
}

/// Redis's arity error.
fn wrong_arity(name: &str) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// A command that does not belong to this entry point.
fn not_here(name: &str) -> Reply {
    Reply::error(format!(
        "ERR '{name}' is not answered by the state machine through this call"
    ))
}
