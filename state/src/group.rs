//! One shard group's key space.

use crate::{Cmd, Reply};

/// Size limits a group enforces; every one has a clear error when hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in bytes.
    pub key_max_bytes: usize,
    /// Longest value, in bytes (also bounds `APPEND` and `SETRANGE`).
    pub value_max_bytes: usize,
    /// Most keys this group holds; a write that would add one more is
    /// refused with `-OOM`.
    pub keys_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            key_max_bytes: 64 * 1024,
            value_max_bytes: 64 * 1024 * 1024,
            keys_max: usize::MAX,
        }
    }
}

struct Value {
    data: Vec<u8>,
}

/// The state of one shard group.
pub struct Group {
    limits: Limits,
    map: ahash::AHashMap<Vec<u8>, Value>,
}

impl Group {
    /// An empty group.
    pub fn new(limits: Limits) -> Group {
        Group {
            limits,
            map: ahash::AHashMap::new(),
        }
    }

    /// Applies a write command (`Kind::Write`). `now_ms` is Unix time in
    /// milliseconds, stamped when the command entered the log.
    pub fn apply(&mut self, cmd: Cmd, args: &[&[u8]], _now_ms: u64) -> Reply {
        match cmd {
            Cmd::Set => {
                if args[1].len() > self.limits.key_max_bytes {
                    return Reply::err("ERR key too long");
                }
                self.map.insert(
                    args[1].to_vec(),
                    Value {
                        data: args[2].to_vec(),
                    },
                );
                Reply::Ok
            }
            _ => Reply::err("ERR command not supported by the state machine"),
        }
    }

    /// Answers a read command (`Kind::Read`) without changing anything.
    pub fn read(&self, cmd: Cmd, args: &[&[u8]], _now_ms: u64) -> Reply {
        match cmd {
            Cmd::Get => match self.map.get(args[1]) {
                Some(value) => Reply::Bulk(value.data.clone()),
                None => Reply::Nil,
            },
            _ => Reply::err("ERR command not supported by the state machine"),
        }
    }

    /// How many keys the group holds (expired ones not yet removed count).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the group holds no key.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
