//! The key-value map of one group with its two ordered indexes.
//!
//! - `map`: key → value, for O(1) lookups. Its iteration order is random
//!   and changes as it grows, so nothing observable ever iterates it.
//! - `order`: every key by `(stable_hash(key), key)`. `SCAN`'s cursor is a
//!   position in this order (see `scan.rs`), `KEYS` and `RANDOMKEY` walk it,
//!   and it is the same on every replica.
//! - `deadlines`: keys with a TTL by `(deadline_ms, key)`, so active expiry
//!   finds the next expired key in O(log n) and in the same order everywhere.
//!
//! Keys are shared between the three (`Arc<[u8]>`) rather than copied.
//! Every mutation goes through this module, which keeps them consistent.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::hash::stable_hash;

/// A shared key.
pub(crate) type Key = Arc<[u8]>;

/// One stored string and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    /// The bytes.
    pub data: Vec<u8>,
    /// Unix time in milliseconds at which the key disappears, if any.
    pub deadline_ms: Option<u64>,
}

/// What a write does to a key's TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ttl {
    /// Remove it (plain `SET`).
    Clear,
    /// Leave it as it is (`KEEPTTL`, `APPEND`, `INCR`...).
    Keep,
    /// Expire at this Unix time in milliseconds.
    At(u64),
}

/// Keys, values and their indexes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Keyspace {
    map: ahash::AHashMap<Key, Value>,
    order: BTreeSet<(u64, Key)>,
    deadlines: BTreeSet<(u64, Key)>,
}

impl Keyspace {
    /// Keys held, expired ones not yet removed included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Keys holding a TTL.
    pub fn expiring_len(&self) -> usize {
        self.deadlines.len()
    }

    /// The value of `key` unless it is missing or expired at `now_ms`.
    pub fn live(&self, key: &[u8], now_ms: u64) -> Option<&Value> {
        self.map
            .get(key)
            .filter(|value| !is_expired(value.deadline_ms, now_ms))
    }

    /// Removes `key` if it has expired at `now_ms`; writes call this first so
    /// that an expired key behaves exactly like a missing one. True when the
    /// key is held (and live) afterwards.
    pub fn purge_if_expired(&mut self, key: &[u8], now_ms: u64) -> bool {
        match self.map.get(key) {
            None => false,
            Some(value) if is_expired(value.deadline_ms, now_ms) => {
                self.remove(key);
                false
            }
            Some(_) => true,
        }
    }

    /// The bytes of `key` for in-place edits (`APPEND`, `SETRANGE`). The
    /// caller purged expired keys first and leaves the TTL alone.
    pub fn data_mut(&mut self, key: &[u8]) -> Option<&mut Vec<u8>> {
        self.map.get_mut(key).map(|value| &mut value.data)
    }

    /// Stores `data` under `key`, creating it if needed, and applies `ttl`.
    /// Limits are the caller's business.
    pub fn insert(&mut self, key: &[u8], data: Vec<u8>, ttl: Ttl) {
        let deadline_now = match self.map.get_mut(key) {
            Some(value) => {
                value.data = data;
                value.deadline_ms
            }
            None => {
                let shared: Key = Arc::from(key);
                self.order.insert((stable_hash(key), shared.clone()));
                let value = Value {
                    data,
                    deadline_ms: None,
                };
                self.map.insert(shared, value);
                None
            }
        };
        // The common overwrite (plain SET of a key without a TTL) touches
        // the map once; the deadline index only when the deadline changes.
        let deadline = match ttl {
            Ttl::Keep => return,
            Ttl::Clear => None,
            Ttl::At(deadline) => Some(deadline),
        };
        if deadline != deadline_now {
            self.set_deadline(key, deadline);
        }
    }

    /// True when `key` is held, expired or not.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Every key with its value, in stable-hash order (canonical: equal
    /// states list equal entries).
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &Value)> {
        self.order
            .iter()
            .filter_map(|(_, key)| Some((&**key, self.map.get(key)?)))
    }

    /// Removes `key`; its value if it was there (expired or not).
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let (shared, value) = self.map.remove_entry(key)?;
        if let Some(deadline) = value.deadline_ms {
            let removed = self.deadlines.remove(&(deadline, shared.clone()));
            debug_assert!(removed, "deadline index out of step");
        }
        let removed = self.order.remove(&(stable_hash(key), shared));
        debug_assert!(removed, "order index out of step");
        Some(value)
    }

    /// Sets or clears the deadline of an existing key; false if missing.
    pub fn set_deadline(&mut self, key: &[u8], deadline: Option<u64>) -> bool {
        let Some((shared, value)) = self.map.get_key_value(key) else {
            return false;
        };
        let shared = shared.clone();
        if let Some(old) = value.deadline_ms {
            self.deadlines.remove(&(old, shared.clone()));
        }
        if let Some(new) = deadline {
            self.deadlines.insert((new, shared.clone()));
        }
        if let Some(value) = self.map.get_mut(&shared) {
            value.deadline_ms = deadline;
        }
        true
    }

    /// The expired key with the earliest deadline at `now_ms`, if any.
    pub fn first_expired(&self, now_ms: u64) -> Option<Key> {
        let (deadline, key) = self.deadlines.first()?;
        (*deadline <= now_ms).then(|| key.clone())
    }

    /// Every key in stable-hash order, starting at the first whose hash is
    /// at least `hash`.
    pub fn ordered_from(&self, hash: u64) -> impl Iterator<Item = &(u64, Key)> {
        let empty: Key = Arc::from(&[][..]);
        self.order.range((hash, empty)..)
    }

    /// Panics unless the three structures describe the same keys: the
    /// invariant every mutation here keeps. Tests call it after each step.
    #[cfg(test)]
    pub fn assert_consistent(&self) {
        assert_eq!(self.map.len(), self.order.len());
        for (hash, key) in &self.order {
            assert_eq!(*hash, stable_hash(key));
            assert!(self.map.contains_key(key));
        }
        let with_deadline = self
            .map
            .values()
            .filter(|v| v.deadline_ms.is_some())
            .count();
        assert_eq!(with_deadline, self.deadlines.len());
        for (deadline, key) in &self.deadlines {
            assert_eq!(self.map[key].deadline_ms, Some(*deadline));
        }
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
        self.deadlines.clear();
    }
}

/// True when a key with `deadline_ms` is gone at `now_ms`: a deadline equal
/// to now has passed, as in Redis.
pub(crate) fn is_expired(deadline_ms: Option<u64>, now_ms: u64) -> bool {
    deadline_ms.is_some_and(|deadline| deadline <= now_ms)
}
