//! String commands: GET, SET and its variants, MGET/MSET, DEL, counters,
//! APPEND, GETRANGE/SETRANGE, DELIFEQ.

use crate::keyspace::Ttl;
use crate::parse::{
    format_f64, int_arg, invalid_expire, is, parse_f64, parse_i64, NOT_FLOAT, NOT_INTEGER, SYNTAX,
    TOO_BIG,
};
use crate::{Group, Reply};

/// Which write a `SET` makes conditional on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition<'a> {
    Always,
    /// `NX`: only when the key is missing.
    Missing,
    /// `XX`: only when the key exists.
    Present,
    /// `IFEQ v` (Valkey 8.1): only when the key holds exactly `v`.
    Equals(&'a [u8]),
}

/// An `EX`/`PX`/`EXAT`/`PXAT` option before its number is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExpiryArg<'a> {
    /// Milliseconds per unit: 1000 for seconds, 1 for milliseconds.
    pub unit_ms: i64,
    /// Unix time rather than relative to now.
    pub absolute: bool,
    /// The number, unparsed.
    pub amount: &'a [u8],
}

impl ExpiryArg<'_> {
    /// The deadline in Unix milliseconds, or Redis's error naming `command`.
    /// As in Redis, only a positive amount is valid.
    pub fn deadline(&self, now_ms: u64, command: &str) -> Result<u64, Reply> {
        let amount = int_arg(self.amount)?;
        let base = if self.absolute { 0 } else { clock(now_ms) };
        amount
            .checked_mul(self.unit_ms)
            .and_then(|ms| ms.checked_add(base))
            .filter(|_| amount > 0)
            .map(|deadline| deadline as u64)
            .ok_or_else(|| invalid_expire(command))
    }
}

/// `now_ms` as Redis's signed milliseconds.
pub(crate) fn clock(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

/// Options shared by `SET` and `GETEX`.
#[derive(Debug, Clone, Copy)]
struct Options<'a> {
    condition: Condition<'a>,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expiry: Option<ExpiryArg<'a>>,
}

impl<'a> Options<'a> {
    /// Parses `SET` (`for_set`) or `GETEX` options with Redis's conflict
    /// rules: any conflict or unknown word is `ERR syntax error`.
    fn parse(args: &[&'a [u8]], for_set: bool) -> Result<Options<'a>, Reply> {
        let mut options = Options {
            condition: Condition::Always,
            get: false,
            keep_ttl: false,
            persist: false,
            expiry: None,
        };
        let mut i = 0;
        while i < args.len() {
            let next = args.get(i + 1).copied();
            i += 1 + options.take(args[i], next, for_set)?;
        }
        Ok(options)
    }

    /// Takes one option; how many extra arguments it consumed. The
    /// conditions exclude each other (`NX`, `XX`, `IFEQ`), as do the TTL
    /// choices (`EX`..., `KEEPTTL`, `PERSIST`); repeating one is allowed.
    fn take(&mut self, arg: &[u8], next: Option<&'a [u8]>, for_set: bool) -> Result<usize, Reply> {
        if for_set {
            let condition = match () {
                () if is(arg, "nx") => Some((Condition::Missing, 0)),
                () if is(arg, "xx") => Some((Condition::Present, 0)),
                () if is(arg, "ifeq") => next.map(|value| (Condition::Equals(value), 1)),
                () => None,
            };
            if let Some((condition, consumed)) = condition {
                let same_kind =
                    std::mem::discriminant(&self.condition) == std::mem::discriminant(&condition);
                if self.condition != Condition::Always && !same_kind {
                    return Err(SYNTAX);
                }
                self.condition = condition;
                return Ok(consumed);
            }
        }
        if for_set && is(arg, "get") {
            self.get = true;
        } else if for_set && is(arg, "keepttl") && !self.persist && self.expiry.is_none() {
            self.keep_ttl = true;
        } else if !for_set && is(arg, "persist") && !self.keep_ttl && self.expiry.is_none() {
            self.persist = true;
        } else {
            return self.take_expiry(arg, next);
        }
        Ok(0)
    }

    fn take_expiry(&mut self, arg: &[u8], next: Option<&'a [u8]>) -> Result<usize, Reply> {
        let (unit_ms, absolute) = match () {
            () if is(arg, "ex") => (1000, false),
            () if is(arg, "px") => (1, false),
            () if is(arg, "exat") => (1000, true),
            () if is(arg, "pxat") => (1, true),
            () => return Err(SYNTAX),
        };
        let Some(amount) = next else {
            return Err(SYNTAX);
        };
        // The same option twice is allowed (the last wins); two kinds are not.
        let same_kind = self
            .expiry
            .is_none_or(|e| e.unit_ms == unit_ms && e.absolute == absolute);
        if self.keep_ttl || self.persist || !same_kind {
            return Err(SYNTAX);
        }
        self.expiry = Some(ExpiryArg {
            unit_ms,
            absolute,
            amount,
        });
        Ok(1)
    }
}

/// A value as a reply, nil when missing.
fn bulk_or_nil(value: Option<Vec<u8>>) -> Reply {
    value.map_or(Reply::Nil, Reply::Bulk)
}

impl Group {
    /// `GET key`.
    pub(crate) fn get(&self, key: &[u8], now_ms: u64) -> Reply {
        bulk_or_nil(self.keys.live(key, now_ms).map(|v| v.data.clone()))
    }

    /// `MGET key...`: nil for each missing key.
    pub(crate) fn mget(&self, args: &[&[u8]], now_ms: u64) -> Reply {
        Reply::Array(args[1..].iter().map(|key| self.get(key, now_ms)).collect())
    }

    /// `EXISTS key...`: a key named twice counts twice, as in Redis.
    pub(crate) fn exists(&self, args: &[&[u8]], now_ms: u64) -> Reply {
        let count = args[1..]
            .iter()
            .filter(|key| self.keys.live(key, now_ms).is_some())
            .count();
        Reply::Int(count as i64)
    }

    /// `TYPE key`: every value is a string.
    pub(crate) fn type_of(&self, key: &[u8], now_ms: u64) -> Reply {
        let name = if self.keys.live(key, now_ms).is_some() {
            "string"
        } else {
            "none"
        };
        Reply::Status(name.into())
    }

    /// `STRLEN key`.
    pub(crate) fn strlen(&self, key: &[u8], now_ms: u64) -> Reply {
        Reply::Int(self.keys.live(key, now_ms).map_or(0, |v| v.data.len()) as i64)
    }

    /// `GETRANGE key start end`, Redis 7 rules for negative indexes.
    pub(crate) fn getrange(&self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let (start, end) = (int_arg(args[2])?, int_arg(args[3])?);
        let data = self.keys.live(args[1], now_ms).map_or(&[][..], |v| &v.data);
        let len = data.len() as i64;
        if start < 0 && end < 0 && start > end {
            return Ok(Reply::Bulk(Vec::new()));
        }
        let start = if start < 0 { len + start } else { start }.max(0);
        let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
        if start > end || len == 0 {
            return Ok(Reply::Bulk(Vec::new()));
        }
        Ok(Reply::Bulk(data[start as usize..=end as usize].to_vec()))
    }

    /// `SET key value [NX|XX|IFEQ v] [GET] [EX|PX|EXAT|PXAT n|KEEPTTL]`.
    pub(crate) fn set(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let (key, value) = (args[1], args[2]);
        let options = Options::parse(&args[3..], true)?;
        let deadline = match options.expiry {
            Some(expiry) => Some(expiry.deadline(now_ms, "set")?),
            None => None,
        };
        let current = self.keys.live(key, now_ms).map(|v| v.data.as_slice());
        let allowed = match options.condition {
            Condition::Always => true,
            Condition::Missing => current.is_none(),
            Condition::Present => current.is_some(),
            Condition::Equals(expected) => current == Some(expected),
        };
        let old = options.get.then(|| current.map(<[u8]>::to_vec));
        if allowed {
            let ttl = match (options.keep_ttl, deadline) {
                (true, _) => Ttl::Keep,
                (false, Some(deadline)) => Ttl::At(deadline),
                (false, None) => Ttl::Clear,
            };
            self.store(key, value.to_vec(), ttl, now_ms)?;
        }
        Ok(match old {
            Some(old) => bulk_or_nil(old),
            None if allowed => Reply::Ok,
            None => Reply::Nil,
        })
    }

    /// `SETNX key value`: 1 if set.
    pub(crate) fn setnx(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        if self.keys.live(args[1], now_ms).is_some() {
            return Ok(Reply::Int(0));
        }
        self.store(args[1], args[2].to_vec(), Ttl::Clear, now_ms)?;
        Ok(Reply::Int(1))
    }

    /// `SETEX`/`PSETEX key amount value`.
    pub(crate) fn setex(
        &mut self,
        args: &[&[u8]],
        now_ms: u64,
        unit_ms: i64,
        command: &str,
    ) -> Result<Reply, Reply> {
        let expiry = ExpiryArg {
            unit_ms,
            absolute: false,
            amount: args[2],
        };
        let deadline = expiry.deadline(now_ms, command)?;
        self.store(args[1], args[3].to_vec(), Ttl::At(deadline), now_ms)?;
        Ok(Reply::Ok)
    }

    /// `GETSET key value`: the old value; the TTL is cleared.
    pub(crate) fn getset(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let old = self.keys.live(args[1], now_ms).map(|v| v.data.clone());
        self.store(args[1], args[2].to_vec(), Ttl::Clear, now_ms)?;
        Ok(bulk_or_nil(old))
    }

    /// `GETDEL key`.
    pub(crate) fn getdel(&mut self, args: &[&[u8]], now_ms: u64) -> Reply {
        self.keys.purge_if_expired(args[1], now_ms);
        bulk_or_nil(self.keys.remove(args[1]).map(|v| v.data))
    }

    /// `GETEX key [EX|PX|EXAT|PXAT n|PERSIST]`.
    pub(crate) fn getex(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let key = args[1];
        let options = Options::parse(&args[2..], false)?;
        let deadline = match options.expiry {
            Some(expiry) => Some(expiry.deadline(now_ms, "getex")?),
            None => None,
        };
        self.keys.purge_if_expired(key, now_ms);
        let Some(value) = self.keys.live(key, now_ms) else {
            return Ok(Reply::Nil);
        };
        let data = value.data.clone();
        let had_ttl = value.deadline_ms.is_some();
        match deadline {
            Some(deadline) if deadline <= now_ms => {
                self.keys.remove(key);
            }
            Some(deadline) => {
                self.keys.set_deadline(key, Some(deadline));
            }
            // Only a TTL actually removed is a change (WATCH sees it).
            None if options.persist && had_ttl => {
                self.keys.set_deadline(key, None);
            }
            None => {}
        }
        Ok(Reply::Bulk(data))
    }

    /// `MSET key value...`: all or nothing (limits are checked first).
    pub(crate) fn mset(&mut self, args: &[&[u8]], now_ms: u64) -> Result<(), Reply> {
        if args.len() % 2 == 0 {
            return Err(Reply::err(
                "ERR wrong number of arguments for 'mset' command",
            ));
        }
        let limit = self.limits.value_max_bytes;
        if args[2..].iter().step_by(2).any(|value| value.len() > limit) {
            return Err(TOO_BIG);
        }
        let mut new_keys: Vec<&[u8]> = Vec::new();
        for key in args[1..].iter().step_by(2) {
            self.keys.purge_if_expired(key, now_ms);
            if self.keys.live(key, now_ms).is_none() {
                new_keys.push(key);
            }
        }
        new_keys.sort_unstable();
        new_keys.dedup();
        self.make_room(new_keys.len(), now_ms)?;
        for pair in args[1..].chunks_exact(2) {
            self.keys.insert(pair[0], pair[1].to_vec(), Ttl::Clear);
        }
        Ok(())
    }

    /// `MSETNX key value...`: 1 and sets all when none exists, else 0.
    pub(crate) fn msetnx(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        if args.len() % 2 == 0 {
            return Err(Reply::err(
                "ERR wrong number of arguments for 'msetnx' command",
            ));
        }
        let any_exists = args[1..]
            .iter()
            .step_by(2)
            .any(|key| self.keys.live(key, now_ms).is_some());
        if any_exists {
            return Ok(Reply::Int(0));
        }
        self.mset(args, now_ms)?;
        Ok(Reply::Int(1))
    }

    /// `DEL`/`UNLINK key...`: how many existed.
    pub(crate) fn del(&mut self, args: &[&[u8]], now_ms: u64) -> Reply {
        let mut removed = 0;
        for key in &args[1..] {
            self.keys.purge_if_expired(key, now_ms);
            removed += i64::from(self.keys.remove(key).is_some());
        }
        Reply::Int(removed)
    }

    /// `DELIFEQ key value` (Valkey 9): 1 if deleted because it held `value`.
    pub(crate) fn delifeq(&mut self, args: &[&[u8]], now_ms: u64) -> Reply {
        let equal = self
            .keys
            .live(args[1], now_ms)
            .is_some_and(|v| v.data == args[2]);
        if equal {
            self.keys.remove(args[1]);
        }
        Reply::Int(i64::from(equal))
    }

    /// `INCRBY key delta`.
    pub(crate) fn incrby(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let delta = int_arg(args[2])?;
        self.incr_by(args[1], delta, now_ms)
    }

    /// `DECRBY key delta`; `-i64::MIN` does not exist, hence Redis's check.
    pub(crate) fn decrby(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let delta = int_arg(args[2])?;
        let negated = delta
            .checked_neg()
            .ok_or(Reply::err("ERR decrement would overflow"))?;
        self.incr_by(args[1], negated, now_ms)
    }

    /// Adds `delta` to the integer at `key` (0 when missing); keeps the TTL.
    pub(crate) fn incr_by(&mut self, key: &[u8], delta: i64, now_ms: u64) -> Result<Reply, Reply> {
        let current = match self.keys.live(key, now_ms) {
            Some(value) => parse_i64(&value.data).ok_or(NOT_INTEGER)?,
            None => 0,
        };
        let new = current
            .checked_add(delta)
            .ok_or(Reply::err("ERR increment or decrement would overflow"))?;
        self.store(key, new.to_string().into_bytes(), Ttl::Keep, now_ms)?;
        Ok(Reply::Int(new))
    }

    /// `INCRBYFLOAT key delta`: the new value as a bulk string.
    pub(crate) fn incrbyfloat(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let current = match self.keys.live(args[1], now_ms) {
            Some(value) => parse_f64(&value.data).ok_or(NOT_FLOAT)?,
            None => 0.0,
        };
        let delta = parse_f64(args[2]).ok_or(NOT_FLOAT)?;
        let new = current + delta;
        if !new.is_finite() {
            return Err(Reply::err("ERR increment would produce NaN or Infinity"));
        }
        let text = format_f64(new);
        self.store(args[1], text.clone(), Ttl::Keep, now_ms)?;
        Ok(Reply::Bulk(text))
    }

    /// `APPEND key value`: the new length; keeps the TTL.
    pub(crate) fn append(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let (key, tail) = (args[1], args[2]);
        self.keys.purge_if_expired(key, now_ms);
        let current = self.keys.live(key, now_ms).map_or(0, |v| v.data.len());
        let new_len = current.saturating_add(tail.len());
        if new_len > self.limits.value_max_bytes {
            return Err(TOO_BIG);
        }
        match self.keys.data_mut(key) {
            Some(data) => data.extend_from_slice(tail),
            None => self.store(key, tail.to_vec(), Ttl::Clear, now_ms)?,
        }
        Ok(Reply::Int(new_len as i64))
    }

    /// `SETRANGE key offset value`: the new length; pads with zero bytes.
    pub(crate) fn setrange(&mut self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let (key, patch) = (args[1], args[3]);
        let offset = int_arg(args[2])?;
        let offset =
            usize::try_from(offset).map_err(|_| Reply::err("ERR offset is out of range"))?;
        self.keys.purge_if_expired(key, now_ms);
        let current = self.keys.live(key, now_ms).map(|v| v.data.len());
        if patch.is_empty() {
            return Ok(Reply::Int(current.unwrap_or(0) as i64));
        }
        let end = offset.checked_add(patch.len()).ok_or(TOO_BIG)?;
        if end > self.limits.value_max_bytes {
            return Err(TOO_BIG);
        }
        if current.is_none() {
            self.store(key, Vec::new(), Ttl::Clear, now_ms)?;
        }
        let data = self.keys.data_mut(key).ok_or(TOO_BIG)?;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset..end].copy_from_slice(patch);
        Ok(Reply::Int(data.len() as i64))
    }
}
