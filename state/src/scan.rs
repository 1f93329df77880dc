//! Whole-keyspace reads: SCAN, KEYS, RANDOMKEY.
//!
//! The SCAN cursor is a stable hash value: the next call resumes at the
//! first key whose `stable_hash` is at least the cursor. Keys are walked in
//! `(hash, key)` order (a `BTreeSet` kept beside the hash map), so inserts
//! and deletes never move the keys that remain, which is what a hash map's
//! iteration order cannot promise (it reshuffles on resize). A call never
//! stops in the middle of a run of equal hashes, so the cursor can be a bare
//! hash and still skip nothing: every key present for the whole iteration
//! lies either before the cursor (already returned) or after it. Because
//! the hash is the same on every replica, a cursor stays valid across a
//! leader change.

use crate::hash::{mix, stable_hash};
use crate::parse::{int_arg, is, SYNTAX};
use crate::{glob_match, Group, Reply};

/// Most keys one SCAN call visits, whatever COUNT asks for: bounds the work
/// of one call.
pub const SCAN_COUNT_MAX: usize = 64 * 1024;
/// Keys RANDOMKEY looks at, from its random starting point, before it gives
/// up on a run of expired keys and answers nil.
pub const RANDOMKEY_PROBE_MAX: usize = 128;
/// SCAN's COUNT when the client gives none (Redis's default).
const SCAN_COUNT_DEFAULT: usize = 10;

/// What one SCAN step over a group found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanStep {
    /// Where the next step resumes; 0 when the group's walk is complete.
    pub next: u64,
    /// The live keys visited that match the pattern.
    pub keys: Vec<Vec<u8>>,
    /// Keys visited, live or not, matching or not: what COUNT counts.
    pub visited: usize,
}

impl Group {
    /// One SCAN step over this group: visits about `count` keys (at least
    /// 1, at most [`SCAN_COUNT_MAX`], plus any that share the last one's
    /// hash) from `cursor`, and returns the next cursor (0 when the walk is
    /// complete) with the live keys among them that match `pattern`.
    pub fn scan(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
        now_ms: u64,
    ) -> (u64, Vec<Vec<u8>>) {
        let step = self.scan_step(cursor, pattern, count, now_ms);
        (step.next, step.keys)
    }

    /// [`Group::scan`], also telling how many keys the step visited, so a
    /// caller walking several groups can share one COUNT among them.
    pub fn scan_step(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
        now_ms: u64,
    ) -> ScanStep {
        let count = count.clamp(1, SCAN_COUNT_MAX);
        let mut keys = Vec::new();
        let mut last_hash = None;
        let mut visited = 0;
        for (hash, key) in self.keys.ordered_from(cursor) {
            if visited >= count && last_hash != Some(*hash) {
                // Never 0: this hash is above one already visited.
                return ScanStep {
                    next: *hash,
                    keys,
                    visited,
                };
            }
            visited += 1;
            last_hash = Some(*hash);
            let live = self.keys.live(key, now_ms).is_some();
            if live && pattern.is_none_or(|p| glob_match(p, key)) {
                keys.push(key.to_vec());
            }
        }
        ScanStep {
            next: 0,
            keys,
            visited,
        }
    }

    /// Every live key matching `pattern`, in stable-hash order. Unbounded
    /// like Redis's KEYS; SCAN is the bounded alternative.
    pub fn keys(&self, pattern: &[u8], now_ms: u64) -> Vec<Vec<u8>> {
        self.keys
            .ordered_from(0)
            .filter(|(_, key)| glob_match(pattern, key))
            .filter(|(_, key)| self.keys.live(key, now_ms).is_some())
            .map(|(_, key)| key.to_vec())
            .collect()
    }

    /// A live key chosen by `seed` (the caller's randomness; the same seed
    /// gives the same key on every replica): the first live key at or after
    /// a point derived from the seed, wrapping round. None when the group
    /// holds none, or when the [`RANDOMKEY_PROBE_MAX`] keys from that point
    /// have all expired (active expiry keeps that rare).
    pub fn random_key(&self, seed: u64, now_ms: u64) -> Option<Vec<u8>> {
        let start = mix(seed);
        self.keys
            .ordered_from(start)
            .chain(self.keys.ordered_from(0).take_while(|(h, _)| *h < start))
            .take(RANDOMKEY_PROBE_MAX)
            .find(|(_, key)| self.keys.live(key, now_ms).is_some())
            .map(|(_, key)| key.to_vec())
    }

    /// `KEYS pattern` over this group alone.
    pub(crate) fn read_keys(&self, args: &[&[u8]], now_ms: u64) -> Reply {
        let keys = self.keys(args[1], now_ms);
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect())
    }

    /// `SCAN cursor [MATCH p] [COUNT n] [TYPE t]` over this group alone:
    /// `[cursor, [keys...]]`.
    pub(crate) fn read_scan(&self, args: &[&[u8]], now_ms: u64) -> Result<Reply, Reply> {
        let cursor = parse_scan_cursor(args[1]).ok_or(Reply::err("ERR invalid cursor"))?;
        let mut pattern = None;
        let mut count = SCAN_COUNT_DEFAULT;
        let mut only_strings = true;
        let mut options = args[2..].chunks(2);
        for option in &mut options {
            match option {
                [name, value] if is(name, "match") => pattern = Some(*value),
                [name, value] if is(name, "count") => {
                    count = usize::try_from(int_arg(value)?).map_err(|_| SYNTAX)?;
                    if count < 1 {
                        return Err(SYNTAX);
                    }
                }
                [name, value] if is(name, "type") => only_strings = is(value, "string"),
                _ => return Err(SYNTAX),
            }
        }
        let (next, keys) = self.scan(cursor, pattern, count, now_ms);
        let keys = if only_strings { keys } else { Vec::new() };
        Ok(Reply::Array(vec![
            Reply::Bulk(next.to_string().into_bytes()),
            Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
        ]))
    }
}

/// A SCAN cursor as Redis reads one (C's `strtoul`): decimal digits after
/// an optional sign, a negative number wrapping round (`-1` is the largest
/// cursor), the empty text 0; `None` for anything else (a leading space,
/// trailing bytes, no digits after a sign, more than 64 bits).
pub fn parse_scan_cursor(text: &[u8]) -> Option<u64> {
    let (negative, digits) = match text.split_first() {
        None => return Some(0),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// The stable hash SCAN orders keys by (exposed for tests and tools that
/// want to reason about cursors).
pub fn scan_hash(key: &[u8]) -> u64 {
    stable_hash(key)
}
