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
//!
//! For `WATCH`, every change a command makes to a key takes the next
//! number of the group's change sequence (`change_seq`) as the key's stamp,
//! and a removed key's last stamp is remembered in `removed` (`stamps.rs`).
//! So "has this key changed since it was watched" is a comparison of two
//! numbers from replicated state: the key's stamp now, and `change_seq` when
//! it was watched. Expiry is not a change: a key that expires keeps its last
//! stamp, in the map or in `removed` (the transaction step sees a watched
//! live key expire through its liveness instead; see `transaction.rs`).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::hash::stable_hash;
use crate::stamps::Removed;

/// A shared key.
pub(crate) type Key = Arc<[u8]>;

/// One stored string and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Value {
    /// The bytes.
    pub data: Vec<u8>,
    /// Unix time in milliseconds at which the key disappears, if any.
    pub deadline_ms: Option<u64>,
    /// The group's `change_seq` taken by the last change a command made
    /// to this key.
    pub stamp: u64,
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
    /// Changes made to keys so far; the last stamp handed out.
    change_seq: u64,
    /// The last stamps of removed keys.
    removed: Removed,
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
                self.drop_expired(key);
                false
            }
            Some(_) => true,
        }
    }

    /// The bytes of `key` for in-place edits (`APPEND`, `SETRANGE`), which
    /// counts as a change. The caller purged expired keys first and leaves
    /// the TTL alone.
    pub fn data_mut(&mut self, key: &[u8]) -> Option<&mut Vec<u8>> {
        let value = self.map.get_mut(key)?;
        self.change_seq += 1;
        value.stamp = self.change_seq;
        Some(&mut value.data)
    }

    /// The stamp for a change being made now: above every stamp a `WATCH`
    /// can have read before.
    fn next_stamp(&mut self) -> u64 {
        self.change_seq += 1;
        self.change_seq
    }

    /// Changes made so far: what `WATCH` reads, as the point its keys'
    /// later changes are stamped above.
    pub fn change_seq(&self) -> u64 {
        self.change_seq
    }

    /// The stamp of the last change to `key`, held or removed: what `EXEC`
    /// compares with the `change_seq` its `WATCH` read. It never decreases;
    /// it may be above the key's own last change when its removal is no
    /// longer remembered (see `stamps.rs`).
    pub fn stamp(&self, key: &[u8]) -> u64 {
        match self.map.get(key) {
            Some(value) => value.stamp,
            None => self.removed.stamp(stable_hash(key)),
        }
    }

    /// Stores `data` under `key`, creating it if needed, and applies `ttl`.
    /// Limits are the caller's business.
    pub fn insert(&mut self, key: &[u8], data: Vec<u8>, ttl: Ttl) {
        let stamp = self.next_stamp();
        let deadline_now = match self.map.get_mut(key) {
            Some(value) => {
                value.data = data;
                value.stamp = stamp;
                value.deadline_ms
            }
            None => {
                let shared: Key = Arc::from(key);
                self.order.insert((stable_hash(key), shared.clone()));
                let value = Value {
                    data,
                    deadline_ms: None,
                    stamp,
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

    /// Removes `key` as a command's change (`DEL`, `GETDEL`...); its value
    /// if it was there (expired or not).
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let value = self.unlink(key)?;
        let stamp = self.next_stamp();
        self.removed.record(stable_hash(key), stamp);
        Some(value)
    }

    /// Removes `key` and counts it as changed even if it was missing: a
    /// write whose result is no key (`SET ... PXAT` in the past), which
    /// Redis reports to `WATCH` as a change.
    pub fn remove_as_written(&mut self, key: &[u8]) {
        self.unlink(key);
        let stamp = self.next_stamp();
        self.removed.record(stable_hash(key), stamp);
    }

    /// Removes an expired `key`: not a change, so it keeps its last stamp.
    pub fn drop_expired(&mut self, key: &[u8]) -> Option<Value> {
        let value = self.unlink(key)?;
        self.removed.record(stable_hash(key), value.stamp);
        Some(value)
    }

    /// Takes `key` out of the map and both indexes.
    fn unlink(&mut self, key: &[u8]) -> Option<Value> {
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
        let stamp = self.next_stamp();
        if let Some(value) = self.map.get_mut(&shared) {
            value.deadline_ms = deadline;
            value.stamp = stamp;
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
        assert!(self.map.values().all(|v| v.stamp <= self.change_seq));
        self.removed.assert_consistent(self.change_seq);
    }

    /// Removes every key (`FLUSHALL`). Each keeps its last stamp, as if
    /// it had expired: a watched key that was live is caught by its
    /// liveness, and Redis does not count the flush as a change to a key
    /// that was already logically gone.
    pub fn clear(&mut self) {
        for (hash, key) in &self.order {
            if let Some(value) = self.map.get(key) {
                self.removed.record(*hash, value.stamp);
            }
        }
        self.map.clear();
        self.order.clear();
        self.deadlines.clear();
    }

    /// The stamps of removed keys, for the snapshot.
    pub fn removed(&self) -> &Removed {
        &self.removed
    }

    /// Restores a key exactly as a snapshot holds it, stamp included.
    pub fn restore(&mut self, key: &[u8], data: Vec<u8>, deadline_ms: Option<u64>, stamp: u64) {
        let ttl = deadline_ms.map_or(Ttl::Clear, Ttl::At);
        self.insert(key, data, ttl);
        if let Some(value) = self.map.get_mut(key) {
            value.stamp = stamp;
        }
    }

    /// Restores the change counter and removal stamps from a snapshot.
    pub fn restore_stamps(&mut self, change_seq: u64, removed: Removed) {
        self.change_seq = change_seq;
        self.removed = removed;
    }
}

/// True when a key with `deadline_ms` is gone at `now_ms`: a deadline equal
/// to now has passed, as in Redis.
pub(crate) fn is_expired(deadline_ms: Option<u64>, now_ms: u64) -> bool {
    deadline_ms.is_some_and(|deadline| deadline <= now_ms)
}
