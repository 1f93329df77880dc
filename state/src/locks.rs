//! The lock table: leases, fencing tokens and FIFO waiters.
//!
//! Locks live in their own namespace (a lock name is not a key; `FLUSHALL`,
//! `DEL` and `KEYS` never see them) in the group the name hashes to.
//!
//! The table never reads a clock. A grant or renew pushes
//! [`Effect::LeaseStarted`]; the runtime arms a timer and, when it fires,
//! proposes `LOCK.EXPIRE name token lease_seq` through the log. That entry
//! frees the lock only if the same lease is still current, so a renew that
//! committed in between turns it into a no-op. Waits work the same way with
//! `LOCK.CANCEL`. Every decision (who gets the lock next, with which token)
//! is therefore made while applying a log entry, identically on every
//! replica.

use std::collections::{BTreeMap, VecDeque};

use crate::parse::{int_arg, is, parse_i64, NOT_INTEGER, SYNTAX};
use crate::snapshot::{put_bytes, put_u64, Reader, SnapshotError};
use crate::{Cmd, Entry, Group, Limits, Reply};

/// Something the runtime must do besides answering the entry's client.
/// Effects come out of [`Group::apply`] in the order they must be acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A lease began (grant, renew, or re-acquire by the holder): arm a
    /// timer for `ttl_ms` from now and, when it fires, propose
    /// `LOCK.EXPIRE name token lease_seq`. Any older timer for the same lock
    /// may be dropped; if it fires anyway, its expiry is a no-op.
    LeaseStarted {
        /// The lock.
        name: Vec<u8>,
        /// The holder's fencing token.
        token: u64,
        /// Which lease of this holder this is; bumped by every renew.
        lease_seq: u64,
        /// The lease length from now, in milliseconds: the time left until
        /// the lease's deadline (a re-acquire that asked for less than was
        /// left keeps the old deadline, so this is more than it asked).
        ttl_ms: u64,
    },
    /// A `LOCK.ACQUIRE ... WAIT` queued its client (`apply` answered
    /// `None`): arm a timer for `wait_ms` and, when it fires or the client
    /// disconnects, propose `LOCK.CANCEL name waiter`.
    Parked {
        /// The runtime's id for the waiting client ([`Entry::waiter`]).
        waiter: u64,
        /// The lock waited on.
        name: Vec<u8>,
        /// How long the client is willing to wait, in milliseconds.
        wait_ms: u64,
    },
    /// A parked client got the lock: answer it with `token`. A
    /// [`Effect::LeaseStarted`] for the new lease follows.
    Granted {
        /// The waiting client.
        waiter: u64,
        /// Its fencing token.
        token: u64,
    },
    /// A parked client stopped waiting without the lock (its `LOCK.CANCEL`
    /// applied while it was still queued): answer it with nil.
    WaitEnded {
        /// The waiting client.
        waiter: u64,
    },
}

/// The current holder of a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    owner: Vec<u8>,
    token: u64,
    /// Bumped by each renew; `LOCK.EXPIRE` must name the current one.
    lease_seq: u64,
    /// Length of the current lease, in milliseconds, counted from the entry
    /// that started it (for a re-acquire, possibly more than it asked for).
    ttl_ms: u64,
    /// `now_ms` of the granting or renewing entry plus `ttl_ms`: for
    /// `LOCK.INFO`, and for a re-acquire, which must not end the lease
    /// sooner (expiry itself is a log entry).
    deadline_ms: u64,
}

/// A client queued for a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Waiter {
    id: u64,
    owner: Vec<u8>,
    ttl_ms: u64,
}

/// A held lock and its queue. A lock nobody holds is not in the table: a
/// release hands it to the head waiter at once, or removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lock {
    holder: Holder,
    waiters: VecDeque<Waiter>,
}

/// Every lock of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LockTable {
    /// Ordered so that anything iterating it (snapshots, lease re-arming)
    /// sees the same order on every replica.
    locks: BTreeMap<Vec<u8>, Lock>,
    /// The last fencing token handed out; tokens come from this one counter
    /// for every lock of the group, so they never repeat and grow with
    /// every grant. Replicated and snapshotted with the table.
    last_token: u64,
}

/// A parsed `LOCK.ACQUIRE`.
struct Acquire<'a> {
    name: &'a [u8],
    owner: &'a [u8],
    ttl_ms: u64,
    /// `None` without `WAIT` (or `WAIT 0`).
    wait_ms: Option<u64>,
}

impl Group {
    /// Applies one of the lock commands; `None` when the client parked.
    pub(crate) fn apply_lock(
        &mut self,
        entry: &Entry<'_>,
        effects: &mut Vec<Effect>,
    ) -> Option<Reply> {
        let args = entry.args;
        let now_ms = entry.now_ms;
        let result = match entry.cmd {
            Cmd::LockAcquire => parse_acquire(args, &self.limits)
                .and_then(|acquire| self.acquire(&acquire, entry.waiter, now_ms, effects)),
            Cmd::LockRelease => self.release(args, now_ms, effects),
            Cmd::LockRenew => self.renew(args, now_ms, effects),
            Cmd::LockExpire => self.expire_lease(args, now_ms, effects),
            Cmd::LockCancel => self.cancel(args, effects),
            _ => Err(Reply::err("ERR not a lock command")),
        };
        result.unwrap_or_else(Some)
    }

    /// Locks in the group (held ones; a free lock is not stored).
    pub fn locks_len(&self) -> usize {
        self.locks.locks.len()
    }

    /// One [`Effect::LeaseStarted`] per held lock, for its current lease at
    /// its full length, in name order. A new leader calls this to re-arm
    /// every lease timer (a lease can only get longer than asked, never
    /// shorter).
    pub fn current_leases(&self, effects: &mut Vec<Effect>) {
        for (name, lock) in &self.locks.locks {
            effects.push(lease_started(name, &lock.holder));
        }
    }

    /// `LOCK.INFO name`: `{owner, token, ttl_ms, waiters}`, nil when free.
    pub(crate) fn lock_info(&self, name: &[u8], now_ms: u64) -> Reply {
        let Some(lock) = self.locks.locks.get(name) else {
            return Reply::Nil;
        };
        let holder = &lock.holder;
        let remaining = holder.deadline_ms.saturating_sub(now_ms);
        let field = |name: &str| Reply::Bulk(name.as_bytes().to_vec());
        Reply::Map(vec![
            (field("owner"), Reply::Bulk(holder.owner.clone())),
            (field("token"), Reply::Int(as_int(holder.token))),
            (field("ttl_ms"), Reply::Int(as_int(remaining))),
            (
                field("waiters"),
                Reply::Int(as_int(lock.waiters.len() as u64)),
            ),
        ])
    }

    fn acquire(
        &mut self,
        request: &Acquire<'_>,
        waiter: u64,
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<Reply>, Reply> {
        let Some(lock) = self.locks.locks.get_mut(request.name) else {
            if self.locks.locks.len() >= self.limits.locks_max {
                return Err(Reply::error(format!(
                    "ERR too many locks in this shard group (locks_max {})",
                    self.limits.locks_max
                )));
            }
            let token = self
                .locks
                .grant(request.name, request.owner, request.ttl_ms, now_ms);
            effects.push(lease_started(
                request.name,
                &self.locks.locks[request.name].holder,
            ));
            return Ok(Some(Reply::Int(as_int(token))));
        };
        if lock.holder.owner == request.owner {
            // Re-acquire by the holder: same token, and a lease that ends no
            // sooner than the one already promised.
            extend_lease(&mut lock.holder, request.ttl_ms, now_ms);
            effects.push(lease_started(request.name, &lock.holder));
            return Ok(Some(Reply::Int(as_int(lock.holder.token))));
        }
        let Some(wait_ms) = request.wait_ms.filter(|_| waiter != 0) else {
            return Ok(Some(Reply::Nil));
        };
        if lock.waiters.iter().any(|queued| queued.id == waiter) {
            return Err(Reply::err("ERR this waiter is already queued on the lock"));
        }
        if lock.waiters.len() >= self.limits.lock_waiters_max {
            return Err(Reply::error(format!(
                "ERR too many waiters on this lock (lock_waiters_max {})",
                self.limits.lock_waiters_max
            )));
        }
        lock.waiters.push_back(Waiter {
            id: waiter,
            owner: request.owner.to_vec(),
            ttl_ms: request.ttl_ms,
        });
        effects.push(Effect::Parked {
            waiter,
            name: request.name.to_vec(),
            wait_ms,
        });
        Ok(None)
    }

    /// `LOCK.RELEASE name token`: 1 if that token held the lock.
    fn release(
        &mut self,
        args: &[&[u8]],
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<Reply>, Reply> {
        let token = int_arg(args[2])?;
        let held = self.locks.held_with(args[1], token, None);
        if held {
            self.locks.hand_over(args[1], now_ms, effects);
        }
        Ok(Some(Reply::Int(i64::from(held))))
    }

    /// `LOCK.RENEW name token ttl_ms`: 1 if that token still held the lock.
    fn renew(
        &mut self,
        args: &[&[u8]],
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<Reply>, Reply> {
        let token = int_arg(args[2])?;
        let ttl_ms = parse_ttl(args[3], &self.limits)?;
        let Some(lock) = self.locks.locks.get_mut(args[1]) else {
            return Ok(Some(Reply::Int(0)));
        };
        if as_int(lock.holder.token) != token {
            return Ok(Some(Reply::Int(0)));
        }
        start_lease(&mut lock.holder, ttl_ms, now_ms);
        effects.push(lease_started(args[1], &lock.holder));
        Ok(Some(Reply::Int(1)))
    }

    /// Internal `LOCK.EXPIRE name token lease_seq`: frees the lock (and
    /// grants the head waiter) only if that exact lease is still current.
    fn expire_lease(
        &mut self,
        args: &[&[u8]],
        now_ms: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<Reply>, Reply> {
        let token = int_arg(args[2])?;
        let lease_seq = parse_i64(args[3])
            .and_then(|seq| u64::try_from(seq).ok())
            .ok_or(NOT_INTEGER)?;
        let current = self.locks.held_with(args[1], token, Some(lease_seq));
        if current {
            self.locks.hand_over(args[1], now_ms, effects);
        }
        Ok(Some(Reply::Int(i64::from(current))))
    }

    /// Internal `LOCK.CANCEL name waiter`: dequeues the waiter if it is
    /// still queued. If it was granted already this is a no-op and the
    /// runtime releases the token itself.
    fn cancel(
        &mut self,
        args: &[&[u8]],
        effects: &mut Vec<Effect>,
    ) -> Result<Option<Reply>, Reply> {
        let waiter = parse_i64(args[2])
            .and_then(|id| u64::try_from(id).ok())
            .ok_or(NOT_INTEGER)?;
        let Some(lock) = self.locks.locks.get_mut(args[1]) else {
            return Ok(Some(Reply::Int(0)));
        };
        let Some(position) = lock.waiters.iter().position(|w| w.id == waiter) else {
            return Ok(Some(Reply::Int(0)));
        };
        lock.waiters.remove(position);
        effects.push(Effect::WaitEnded { waiter });
        Ok(Some(Reply::Int(1)))
    }
}

impl LockTable {
    /// Grants the free lock `name` to `owner`: a new token, lease 1.
    fn grant(&mut self, name: &[u8], owner: &[u8], ttl_ms: u64, now_ms: u64) -> u64 {
        debug_assert!(!self.locks.contains_key(name), "granting a held lock");
        self.last_token += 1;
        let token = self.last_token;
        let mut holder = Holder {
            owner: owner.to_vec(),
            token,
            lease_seq: 0,
            ttl_ms,
            deadline_ms: 0,
        };
        start_lease(&mut holder, ttl_ms, now_ms);
        let lock = Lock {
            holder,
            waiters: VecDeque::new(),
        };
        self.locks.insert(name.to_vec(), lock);
        token
    }

    /// True when `name` is held with `token` (and, if given, `lease_seq`).
    fn held_with(&self, name: &[u8], token: i64, lease_seq: Option<u64>) -> bool {
        self.locks.get(name).is_some_and(|lock| {
            as_int(lock.holder.token) == token
                && lease_seq.is_none_or(|seq| seq == lock.holder.lease_seq)
        })
    }

    /// Ends the current holder's tenure: the head waiter, if any, gets the
    /// lock with a fresh token; otherwise the lock disappears.
    fn hand_over(&mut self, name: &[u8], now_ms: u64, effects: &mut Vec<Effect>) {
        let Some(mut lock) = self.locks.remove(name) else {
            return;
        };
        let Some(next) = lock.waiters.pop_front() else {
            return;
        };
        let token = self.grant(name, &next.owner, next.ttl_ms, now_ms);
        if let Some(granted) = self.locks.get_mut(name) {
            // The rest of the queue keeps waiting, in order, on the new holder.
            granted.waiters = std::mem::take(&mut lock.waiters);
            effects.push(Effect::Granted {
                waiter: next.id,
                token,
            });
            effects.push(lease_started(name, &granted.holder));
        }
    }
}

/// Snapshot encoding (layout in `snapshot.rs`).
impl LockTable {
    /// Appends the token counter.
    pub(crate) fn encode_counter(&self, out: &mut Vec<u8>) {
        put_u64(out, self.last_token);
    }

    /// Appends every lock, in name order.
    pub(crate) fn encode_locks(&self, out: &mut Vec<u8>) {
        put_u64(out, self.locks.len() as u64);
        for (name, lock) in &self.locks {
            let holder = &lock.holder;
            put_bytes(out, name);
            put_bytes(out, &holder.owner);
            for number in [
                holder.token,
                holder.lease_seq,
                holder.ttl_ms,
                holder.deadline_ms,
            ] {
                put_u64(out, number);
            }
            put_u64(out, lock.waiters.len() as u64);
            for waiter in &lock.waiters {
                put_u64(out, waiter.id);
                put_bytes(out, &waiter.owner);
                put_u64(out, waiter.ttl_ms);
            }
        }
    }

    /// Reads what `encode_locks` wrote. Refuses a holder token above the
    /// counter: the next grant would repeat it and break fencing.
    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        last_token: u64,
    ) -> Result<LockTable, SnapshotError> {
        let mut table = LockTable {
            locks: BTreeMap::new(),
            last_token,
        };
        for _ in 0..reader.count(56)? {
            let name = reader.bytes()?.to_vec();
            let owner = reader.bytes()?.to_vec();
            let [token, lease_seq, ttl_ms, deadline_ms] =
                [reader.u64()?, reader.u64()?, reader.u64()?, reader.u64()?];
            if token == 0 || token > last_token {
                return Err(SnapshotError(format!("token {token} beyond the counter")));
            }
            let mut waiters = VecDeque::new();
            for _ in 0..reader.count(24)? {
                let id = reader.u64()?;
                let owner = reader.bytes()?.to_vec();
                let ttl_ms = reader.u64()?;
                waiters.push_back(Waiter { id, owner, ttl_ms });
            }
            let holder = Holder {
                owner,
                token,
                lease_seq,
                ttl_ms,
                deadline_ms,
            };
            if table.locks.insert(name, Lock { holder, waiters }).is_some() {
                return Err(SnapshotError("duplicate lock".into()));
            }
        }
        Ok(table)
    }
}

/// Starts a new lease of `ttl_ms` for `holder` at `now_ms` (a grant, or a
/// `LOCK.RENEW`, which may shorten the lease on purpose).
fn start_lease(holder: &mut Holder, ttl_ms: u64, now_ms: u64) {
    holder.lease_seq += 1;
    holder.ttl_ms = ttl_ms;
    holder.deadline_ms = now_ms.saturating_add(ttl_ms);
}

/// Starts a new lease for a holder that asked again (`LOCK.ACQUIRE` by the
/// owner): it ends at the later of the old deadline and `now_ms + ttl_ms`.
/// A re-acquire must never shorten a lease, because the holder was promised
/// the old one and may still be working under it. The new lease's length is
/// counted from `now_ms`, so its timer (armed from [`Effect::LeaseStarted`])
/// fires at the real deadline, and the old timer's expiry becomes stale.
fn extend_lease(holder: &mut Holder, ttl_ms: u64, now_ms: u64) {
    let deadline_ms = holder.deadline_ms.max(now_ms.saturating_add(ttl_ms));
    start_lease(holder, deadline_ms - now_ms, now_ms);
    debug_assert!(holder.deadline_ms >= now_ms.saturating_add(ttl_ms));
    debug_assert!(holder.deadline_ms == deadline_ms);
}

fn lease_started(name: &[u8], holder: &Holder) -> Effect {
    Effect::LeaseStarted {
        name: name.to_vec(),
        token: holder.token,
        lease_seq: holder.lease_seq,
        ttl_ms: holder.ttl_ms,
    }
}

/// A counter as a RESP integer (counters stay far below `i64::MAX`).
fn as_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Parses `LOCK.ACQUIRE name owner ttl_ms [WAIT ms]`, checking every limit.
fn parse_acquire<'a>(args: &[&'a [u8]], limits: &Limits) -> Result<Acquire<'a>, Reply> {
    let wait_ms = match &args[4..] {
        [] => None,
        [word, ms] if is(word, "wait") => Some(parse_wait(ms, limits)?),
        _ => return Err(SYNTAX),
    };
    let (name, owner) = (args[1], args[2]);
    if name.len() > limits.lock_name_max_bytes {
        return Err(Reply::error(format!(
            "ERR lock name is too long (max {} bytes)",
            limits.lock_name_max_bytes
        )));
    }
    if owner.len() > limits.lock_owner_max_bytes {
        return Err(Reply::error(format!(
            "ERR lock owner is too long (max {} bytes)",
            limits.lock_owner_max_bytes
        )));
    }
    Ok(Acquire {
        name,
        owner,
        ttl_ms: parse_ttl(args[3], limits)?,
        wait_ms: wait_ms.filter(|&ms| ms > 0),
    })
}

/// A lease length: a positive integer of milliseconds up to the limit.
fn parse_ttl(arg: &[u8], limits: &Limits) -> Result<u64, Reply> {
    let ttl = int_arg(arg)?;
    if ttl <= 0 {
        return Err(Reply::err("ERR ttl_ms must be positive"));
    }
    let ttl = ttl as u64;
    if ttl > limits.lock_ttl_max_ms {
        return Err(Reply::error(format!(
            "ERR ttl_ms exceeds the maximum of {} ms",
            limits.lock_ttl_max_ms
        )));
    }
    Ok(ttl)
}

/// A `WAIT` length: a non-negative integer of milliseconds up to the limit.
fn parse_wait(arg: &[u8], limits: &Limits) -> Result<u64, Reply> {
    let wait = int_arg(arg)?;
    if wait < 0 {
        return Err(Reply::err("ERR WAIT must not be negative"));
    }
    let wait = wait as u64;
    if wait > limits.lock_wait_max_ms {
        return Err(Reply::error(format!(
            "ERR WAIT exceeds the maximum of {} ms",
            limits.lock_wait_max_ms
        )));
    }
    Ok(wait)
}
