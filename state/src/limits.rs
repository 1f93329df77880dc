//! Every bound the state machine enforces, with its unit and default.
//!
//! A limit that is hit gives the client a clear error; nothing is truncated
//! or dropped silently. Defaults are named constants so that the runtime's
//! configuration and its documentation can quote them.

/// Default longest key, in bytes (64 KiB: far above any sane key name, far
/// below what would hurt the hash index).
pub const KEY_MAX_BYTES: usize = 64 * 1024;
/// Default longest string value, in bytes (64 MiB; Redis allows 512 MiB but a
/// coordination tier replicates every byte through its log).
pub const VALUE_MAX_BYTES: usize = 64 * 1024 * 1024;
/// Default most keys one shard group holds.
pub const KEYS_MAX: usize = 16 * 1024 * 1024;
/// Default longest lock name, in bytes.
pub const LOCK_NAME_MAX_BYTES: usize = 1024;
/// Default longest lock owner, in bytes.
pub const LOCK_OWNER_MAX_BYTES: usize = 1024;
/// Default longest lease a lock may be granted or renewed for, in
/// milliseconds (one day: a longer lease is a lock nobody will ever reclaim).
pub const LOCK_TTL_MAX_MS: u64 = 24 * 60 * 60 * 1000;
/// Default longest `WAIT` of `LOCK.ACQUIRE`, in milliseconds (one hour).
pub const LOCK_WAIT_MAX_MS: u64 = 60 * 60 * 1000;
/// Default most clients queued on one lock.
pub const LOCK_WAITERS_MAX: usize = 1024;
/// Default most locks (held or with waiters) one shard group holds.
pub const LOCKS_MAX: usize = 1024 * 1024;

/// Size limits a group enforces; every one has a clear error when hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in bytes. Default [`KEY_MAX_BYTES`].
    pub key_max_bytes: usize,
    /// Longest value, in bytes: bounds `SET`, `APPEND`, `SETRANGE` and the
    /// result of `INCRBYFLOAT`. Default [`VALUE_MAX_BYTES`].
    pub value_max_bytes: usize,
    /// Most keys this group holds; a write that would add one more is
    /// refused with `-OOM`. Default [`KEYS_MAX`].
    pub keys_max: usize,
    /// Longest lock name, in bytes. Default [`LOCK_NAME_MAX_BYTES`].
    pub lock_name_max_bytes: usize,
    /// Longest lock owner, in bytes. Default [`LOCK_OWNER_MAX_BYTES`].
    pub lock_owner_max_bytes: usize,
    /// Longest lease, in milliseconds. Default [`LOCK_TTL_MAX_MS`].
    pub lock_ttl_max_ms: u64,
    /// Longest `WAIT`, in milliseconds. Default [`LOCK_WAIT_MAX_MS`].
    pub lock_wait_max_ms: u64,
    /// Most waiters queued on one lock. Default [`LOCK_WAITERS_MAX`].
    pub lock_waiters_max: usize,
    /// Most locks in this group. Default [`LOCKS_MAX`].
    pub locks_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_max_bytes: KEY_MAX_BYTES,
            value_max_bytes: VALUE_MAX_BYTES,
            keys_max: KEYS_MAX,
            lock_name_max_bytes: LOCK_NAME_MAX_BYTES,
            lock_owner_max_bytes: LOCK_OWNER_MAX_BYTES,
            lock_ttl_max_ms: LOCK_TTL_MAX_MS,
            lock_wait_max_ms: LOCK_WAIT_MAX_MS,
            lock_waiters_max: LOCK_WAITERS_MAX,
            locks_max: LOCKS_MAX,
        }
    }
}
