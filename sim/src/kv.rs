//! The simulator's client workload: a tiny key-value model with sessions.
//!
//! Commands are fixed 22-byte records `client u32 | seq u64 | op u8 | key u8
//! | value u64`. Each client has one command outstanding and may retry it,
//! so the log can hold duplicates; the session table makes applying them
//! idempotent (the first occurrence takes effect, later ones replay its
//! result), which is what a real server's client ids would do.

use std::collections::BTreeMap;

/// Number of distinct keys; small, so clients contend.
pub const KEYS: u8 = 8;
const COMMAND_BYTES: usize = 22;

/// One client operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store `value` at `key`; returns the previous value.
    Put {
        /// Key.
        key: u8,
        /// Value.
        value: u64,
    },
    /// Read `key` through the log; returns its value.
    Get {
        /// Key.
        key: u8,
    },
}

/// A command as clients send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    /// Issuing client.
    pub client: u32,
    /// Client's sequence number, increasing by one per operation.
    pub seq: u64,
    /// What to do.
    pub op: Op,
}

impl Command {
    /// Wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(COMMAND_BYTES);
        out.extend_from_slice(&self.client.to_le_bytes());
        out.extend_from_slice(&self.seq.to_le_bytes());
        let (op, key, value) = match self.op {
            Op::Put { key, value } => (0u8, key, value),
            Op::Get { key } => (1u8, key, 0),
        };
        out.push(op);
        out.push(key);
        out.extend_from_slice(&value.to_le_bytes());
        out
    }

    /// Parses the wire form; `None` for anything malformed.
    pub fn decode(bytes: &[u8]) -> Option<Command> {
        if bytes.len() != COMMAND_BYTES {
            return None;
        }
        let client = u32::from_le_bytes(bytes[0..4].try_into().ok()?);
        let seq = u64::from_le_bytes(bytes[4..12].try_into().ok()?);
        let key = bytes[13];
        let value = u64::from_le_bytes(bytes[14..22].try_into().ok()?);
        let op = match bytes[12] {
            0 => Op::Put { key, value },
            1 => Op::Get { key },
            _ => return None,
        };
        Some(Command { client, seq, op })
    }
}

/// The state machine: values plus each client's last result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    values: BTreeMap<u8, u64>,
    sessions: BTreeMap<u32, (u64, u64)>,
}

/// What applying a command did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The command.
    pub command: Command,
    /// Its result.
    pub result: u64,
    /// False if this was a duplicate of an earlier occurrence.
    pub first: bool,
}

impl Kv {
    /// Applies one command.
    pub fn apply(&mut self, command: Command) -> Applied {
        if let Some(&(seq, result)) = self.sessions.get(&command.client) {
            if command.seq <= seq {
                // Duplicate (a retry) or stale: replay, change nothing.
                let result = if command.seq == seq { result } else { 0 };
                return Applied {
                    command,
                    result,
                    first: false,
                };
            }
        }
        let result = match command.op {
            Op::Put { key, value } => self.values.insert(key, value).unwrap_or(0),
            Op::Get { key } => self.values.get(&key).copied().unwrap_or(0),
        };
        self.sessions.insert(command.client, (command.seq, result));
        Applied {
            command,
            result,
            first: true,
        }
    }

    /// Value of `key` (0 if never written).
    pub fn get(&self, key: u8) -> u64 {
        self.values.get(&key).copied().unwrap_or(0)
    }

    /// FNV-1a over the whole state; equal states hash equal.
    pub fn hash(&self) -> u64 {
        fnv(&self.encode())
    }

    /// Snapshot encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.values.len() as u32).to_le_bytes());
        for (&k, &v) in &self.values {
            out.push(k);
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.sessions.len() as u32).to_le_bytes());
        for (&c, &(seq, result)) in &self.sessions {
            out.extend_from_slice(&c.to_le_bytes());
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&result.to_le_bytes());
        }
        out
    }

    /// Parses a snapshot made by `encode`.
    pub fn decode(bytes: &[u8]) -> Option<Kv> {
        let mut r = Reader { bytes, at: 0 };
        let mut kv = Kv::default();
        for _ in 0..r.u32()? {
            let k = r.take(1)?[0];
            kv.values.insert(k, r.u64()?);
        }
        for _ in 0..r.u32()? {
            let c = r.u32()?;
            kv.sessions.insert(c, (r.u64()?, r.u64()?));
        }
        (r.at == bytes.len()).then_some(kv)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let slice = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(slice)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// FNV-1a, 64 bit.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_snapshots_round_trip_and_duplicates_replay() {
        let put = Command {
            client: 3,
            seq: 1,
            op: Op::Put { key: 2, value: 9 },
        };
        assert_eq!(Command::decode(&put.encode()), Some(put));
        assert_eq!(Command::decode(b"short"), None);
        let mut kv = Kv::default();
        assert_eq!(kv.apply(put).result, 0);
        let again = kv.apply(put);
        assert!(!again.first);
        let get = Command {
            client: 3,
            seq: 2,
            op: Op::Get { key: 2 },
        };
        assert_eq!(kv.apply(get).result, 9);
        assert_eq!(Kv::decode(&kv.encode()), Some(kv.clone()));
        assert_ne!(kv.hash(), Kv::default().hash());
    }
}
