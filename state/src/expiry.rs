//! TTL commands (EXPIRE family, TTL family, PERSIST) and active expiry.

use crate::parse::{int_arg, invalid_expire, is};
use crate::strings::clock;
use crate::{Group, Reply};

/// The `NX`/`XX`/`GT`/`LT` options of the EXPIRE family (Redis 7).
#[derive(Debug, Clone, Copy, Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireFlags {
    fn parse(args: &[&[u8]]) -> Result<ExpireFlags, Reply> {
        let mut flags = ExpireFlags::default();
        for arg in args {
            match () {
                () if is(arg, "nx") => flags.nx = true,
                () if is(arg, "xx") => flags.xx = true,
                () if is(arg, "gt") => flags.gt = true,
                () if is(arg, "lt") => flags.lt = true,
                () => {
                    return Err(Reply::error(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(arg)
                    )))
                }
            }
        }
        if flags.nx && (flags.xx || flags.gt || flags.lt) {
            return Err(Reply::err(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if flags.gt && flags.lt {
            return Err(Reply::err(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(flags)
    }

    /// Whether the flags allow replacing `current` (None = no TTL, which
    /// counts as infinite) with `new`.
    fn allow(self, current: Option<i64>, new: i64) -> bool {
        match current {
            None => !self.xx && !self.gt,
            Some(current) => {
                let refused = self.nx || (self.gt && new <= current) || (self.lt && new >= current);
                !refused
            }
        }
    }
}

impl Group {
    /// `EXPIRE`/`PEXPIRE`/`EXPIREAT`/`PEXPIREAT key amount [NX|XX|GT|LT]`.
    /// `base_ms` is now for the relative forms and 0 for the absolute ones;
    /// a deadline not after now deletes the key (a zero or negative TTL).
    pub(crate) fn expire(
        &mut self,
        args: &[&[u8]],
        now_ms: u64,
        base_ms: u64,
        unit_ms: i64,
        command: &str,
    ) -> Result<Reply, Reply> {
        let key = args[1];
        let flags = ExpireFlags::parse(&args[3..])?;
        let amount = int_arg(args[2])?;
        let deadline = amount
            .checked_mul(unit_ms)
            .and_then(|ms| ms.checked_add(clock(base_ms)))
            .ok_or_else(|| invalid_expire(command))?;
        self.keys.purge_if_expired(key, now_ms);
        let Some(value) = self.keys.live(key, now_ms) else {
            return Ok(Reply::Int(0));
        };
        let current = value
            .deadline_ms
            .map(|d| i64::try_from(d).unwrap_or(i64::MAX));
        if !flags.allow(current, deadline) {
            return Ok(Reply::Int(0));
        }
        if deadline <= clock(now_ms) {
            self.keys.remove(key);
        } else {
            self.keys.set_deadline(key, Some(deadline as u64));
        }
        Ok(Reply::Int(1))
    }

    /// `TTL`/`PTTL`/`EXPIRETIME`/`PEXPIRETIME key`: -2 when missing, -1
    /// without a TTL; seconds are rounded to the nearest, as in Redis.
    pub(crate) fn ttl(&self, key: &[u8], now_ms: u64, in_ms: bool, absolute: bool) -> Reply {
        let Some(value) = self.keys.live(key, now_ms) else {
            return Reply::Int(-2);
        };
        let Some(deadline) = value.deadline_ms else {
            return Reply::Int(-1);
        };
        let ms = if absolute {
            deadline
        } else {
            deadline.saturating_sub(now_ms)
        };
        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
        Reply::Int(if in_ms {
            ms
        } else {
            ms.saturating_add(500) / 1000
        })
    }

    /// `PERSIST key`: 1 if a TTL was removed.
    pub(crate) fn persist(&mut self, args: &[&[u8]], now_ms: u64) -> Reply {
        let key = args[1];
        self.keys.purge_if_expired(key, now_ms);
        let has_ttl = self
            .keys
            .live(key, now_ms)
            .is_some_and(|v| v.deadline_ms.is_some());
        if has_ttl {
            self.keys.set_deadline(key, None);
        }
        Reply::Int(i64::from(has_ttl))
    }

    /// Active expiry: removes up to `keys_max` keys whose deadline is at or
    /// before `now_ms`, earliest deadline first, and says how many. The work
    /// is O(`keys_max` · log n) whatever the group holds.
    ///
    /// The keys removed depend only on the state and `now_ms`. Replies never
    /// depend on sweeping (an expired key is invisible either way), but
    /// [`Group::len`], [`Group::expiring_len`] and where a `SCAN` call stops
    /// do; for replicas to be equal in every respect, sweep at a
    /// deterministic point of the apply stream (after applying an entry,
    /// with that entry's `now_ms`), not from a local timer.
    pub fn sweep_expired(&mut self, now_ms: u64, keys_max: usize) -> usize {
        let mut removed = 0;
        while removed < keys_max {
            let Some(key) = self.keys.first_expired(now_ms) else {
                break;
            };
            let gone = self.keys.drop_expired(&key);
            debug_assert!(gone.is_some());
            removed += 1;
        }
        removed
    }
}
