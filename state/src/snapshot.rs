//! A group's whole state as bytes, and back: what the runtime writes into a
//! snapshot file or sends to a lagging replica. Pure encoding; the runtime
//! does the I/O and the checksums.
//!
//! Layout (integers little-endian `u64`, byte strings as a `u64` length and
//! the bytes): magic `PWST`, version `u32`, the token counter, the change
//! sequence number, the keys in stable-hash order (key, value, stamp,
//! deadline flag byte and deadline), then the locks in name order (name,
//! owner, token, lease_seq, ttl_ms, deadline_ms, then the waiters: id,
//! owner, ttl_ms), then the removed keys' stamps (floor, then each entry's
//! stamp and key hash, lowest stamp first). Every order is canonical, so
//! equal states encode to equal bytes.

use crate::keyspace::Keyspace;
use crate::locks::LockTable;
use crate::stamps::{Removed, REMOVED_STAMPS_MAX};
use crate::{Group, Limits};

const MAGIC: &[u8; 4] = b"PWST";
/// 2 added the change sequence number and the stamps `WATCH` reads.
const VERSION: u32 = 2;

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid state snapshot: {}", self.0)
    }
}

impl std::error::Error for SnapshotError {}

impl Group {
    /// Appends the encoding of the whole state (keys, TTLs, locks, waiters,
    /// the fencing-token counter, the stamps `WATCH` compares) to `out`.
    /// Limits are configuration, not state, and are not included.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        self.locks.encode_counter(out);
        put_u64(out, self.keys.change_seq());
        put_u64(out, self.keys.len() as u64);
        for (key, value) in self.keys.entries() {
            put_bytes(out, key);
            put_bytes(out, &value.data);
            put_u64(out, value.stamp);
            match value.deadline_ms {
                Some(deadline) => {
                    out.push(1);
                    put_u64(out, deadline);
                }
                None => out.push(0),
            }
        }
        self.locks.encode_locks(out);
        let removed = self.keys.removed();
        put_u64(out, removed.floor());
        put_u64(out, removed.entries().count() as u64);
        for (stamp, hash) in removed.entries() {
            put_u64(out, stamp);
            put_u64(out, hash);
        }
    }

    /// Rebuilds a group from [`Group::encode_snapshot`]'s bytes. Never
    /// panics and never allocates more than the input justifies, whatever
    /// the bytes.
    pub fn decode_snapshot(bytes: &[u8], limits: Limits) -> Result<Group, SnapshotError> {
        let mut reader = Reader { bytes };
        if reader.take(4)? != MAGIC {
            return Err(SnapshotError("bad magic".into()));
        }
        let version = u32::from_le_bytes(reader.array()?);
        if version != VERSION {
            return Err(SnapshotError(format!("unknown version {version}")));
        }
        let last_token = reader.u64()?;
        let change_seq = reader.u64()?;
        let mut keys = decode_keys(&mut reader, change_seq)?;
        let locks = LockTable::decode(&mut reader, last_token)?;
        keys.restore_stamps(change_seq, decode_removed(&mut reader, change_seq)?);
        if !reader.bytes.is_empty() {
            return Err(SnapshotError("trailing bytes".into()));
        }
        Ok(Group {
            limits,
            keys,
            locks,
        })
    }
}

/// The keys, each refused if its stamp is above `change_seq`: a later
/// change could then get the same stamp, and a `WATCH` would miss it.
fn decode_keys(reader: &mut Reader<'_>, change_seq: u64) -> Result<Keyspace, SnapshotError> {
    let mut keys = Keyspace::default();
    for _ in 0..reader.count(25)? {
        let key = reader.bytes()?;
        let data = reader.bytes()?.to_vec();
        let stamp = reader.u64()?;
        let deadline_ms = match reader.take(1)?[0] {
            0 => None,
            1 => Some(reader.u64()?),
            flag => return Err(SnapshotError(format!("bad deadline flag {flag}"))),
        };
        if keys.contains(key) {
            return Err(SnapshotError("duplicate key".into()));
        }
        if stamp > change_seq {
            return Err(SnapshotError(format!(
                "stamp {stamp} beyond the change sequence"
            )));
        }
        keys.restore(key, data, deadline_ms, stamp);
    }
    Ok(keys)
}

/// The removed keys' stamps.
fn decode_removed(reader: &mut Reader<'_>, change_seq: u64) -> Result<Removed, SnapshotError> {
    let floor = reader.u64()?;
    let count = reader.count(16)?;
    if count > REMOVED_STAMPS_MAX {
        return Err(SnapshotError(format!("{count} removed-key stamps")));
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        entries.push((reader.u64()?, reader.u64()?));
    }
    Removed::restore(floor, entries, change_seq)
        .ok_or_else(|| SnapshotError("inconsistent removed-key stamps".into()))
}

/// Appends `value`.
pub(crate) fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a length-prefixed byte string.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A cursor over snapshot bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if n > self.bytes.len() {
            return Err(SnapshotError("truncated".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    /// The next `u64`.
    pub fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// The next length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let len = usize::try_from(self.u64()?).map_err(|_| SnapshotError("length".into()))?;
        self.take(len)
    }

    /// An element count, refused if the remaining bytes cannot hold that
    /// many elements of at least `min_bytes` each (so a corrupt count
    /// cannot make the decoder loop or allocate for nothing).
    pub fn count(&mut self, min_bytes: usize) -> Result<usize, SnapshotError> {
        let count = self.u64()?;
        let room = (self.bytes.len() / min_bytes.max(1)) as u64;
        if count > room {
            return Err(SnapshotError(format!("count {count} exceeds the data")));
        }
        Ok(count as usize)
    }
}
