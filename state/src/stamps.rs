//! The last stamps of removed keys, for `WATCH`.
//!
//! A held key carries the stamp of its last change (`keyspace.rs`). Once
//! it is removed that stamp would be lost, and a key created and deleted
//! between `WATCH` and `EXEC` would look untouched. So each removal records
//! the key's stamp here, by the key's stable hash (8 bytes, whatever the
//! key's length), and a missing key's stamp is read from here.
//!
//! Memory is bounded: at most [`REMOVED_STAMPS_MAX`] entries per group. The
//! entry with the lowest stamp is forgotten first and raises `floor`, the
//! stamp every missing key without an entry reports. So a missing key's
//! stamp is never below its true last change (no change is ever missed);
//! it is above it (and an `EXEC` watching it aborts although the key did not
//! change) only when more than [`REMOVED_STAMPS_MAX`] removals of keys last
//! changed after the `WATCH` happened in its group before the `EXEC`, or when
//! two removed keys share a 64-bit hash.

use std::collections::BTreeSet;

/// Most removed keys whose stamps one group remembers.
pub const REMOVED_STAMPS_MAX: usize = 1024;

/// Stamps of removed keys, by key hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Removed {
    /// Key hash to the highest stamp recorded for it.
    by_hash: ahash::AHashMap<u64, u64>,
    /// The same entries as `(stamp, hash)`, lowest first: eviction order,
    /// and the canonical order of the snapshot.
    by_stamp: BTreeSet<(u64, u64)>,
    /// The highest stamp forgotten: every missing key reports at least it.
    floor: u64,
}

impl Removed {
    /// The stamp a missing key of hash `hash` reports.
    pub fn stamp(&self, hash: u64) -> u64 {
        self.by_hash
            .get(&hash)
            .copied()
            .unwrap_or(0)
            .max(self.floor)
    }

    /// Records that a key of hash `hash` was removed, its last change
    /// stamped `stamp`.
    pub fn record(&mut self, hash: u64, stamp: u64) {
        if stamp <= self.floor {
            return; // the floor already reports it
        }
        match self.by_hash.get(&hash) {
            Some(&old) if old >= stamp => return,
            Some(&old) => {
                self.by_stamp.remove(&(old, hash));
            }
            None if self.by_hash.len() >= REMOVED_STAMPS_MAX => {
                let &(oldest, oldest_hash) = self.by_stamp.first().expect("full, so not empty");
                if stamp <= oldest {
                    self.floor = self.floor.max(stamp);
                    return;
                }
                self.by_stamp.pop_first();
                self.by_hash.remove(&oldest_hash);
                self.floor = self.floor.max(oldest);
            }
            None => {}
        }
        self.by_hash.insert(hash, stamp);
        self.by_stamp.insert((stamp, hash));
    }

    /// The forgotten stamp floor.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Every entry as `(stamp, hash)`, lowest stamp first.
    pub fn entries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.by_stamp.iter().copied()
    }

    /// Rebuilds from a snapshot's floor and entries; `None` when they
    /// cannot have come from [`Removed::record`] (too many, a hash twice, a
    /// stamp above `change_seq`).
    pub fn restore(
        floor: u64,
        entries: impl IntoIterator<Item = (u64, u64)>,
        change_seq: u64,
    ) -> Option<Removed> {
        let mut removed = Removed {
            floor,
            ..Removed::default()
        };
        for (stamp, hash) in entries {
            let fresh = removed.by_hash.insert(hash, stamp).is_none();
            if !fresh || stamp > change_seq || removed.by_hash.len() > REMOVED_STAMPS_MAX {
                return None;
            }
            removed.by_stamp.insert((stamp, hash));
        }
        (floor <= change_seq).then_some(removed)
    }

    /// Panics unless the two indexes agree and no stamp is in the future.
    #[cfg(test)]
    pub fn assert_consistent(&self, change_seq: u64) {
        assert_eq!(self.by_hash.len(), self.by_stamp.len());
        assert!(self.by_hash.len() <= REMOVED_STAMPS_MAX);
        for &(stamp, hash) in &self.by_stamp {
            assert_eq!(self.by_hash[&hash], stamp);
            assert!(stamp <= change_seq);
        }
        assert!(self.floor <= change_seq);
    }
}
