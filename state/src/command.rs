//! The command catalogue: every command Pinwheel knows, its arity, whether
//! it reads or writes, and where its keys are. The runtime routes with it;
//! `COMMAND` and the latency histograms are indexed by it.

/// Every command Pinwheel answers. The discriminant indexes [`COMMANDS`].
#[allow(missing_docs)] // each variant is the Redis command of the same name
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cmd {
    // Connection and server commands, answered by the runtime.
    Ping,
    Echo,
    Hello,
    Quit,
    Select,
    Command,
    Client,
    Info,
    Config,
    Time,
    Latency,
    // Transactions, answered by the connection's session.
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    // Whole-keyspace commands, fanned out to every group.
    Dbsize,
    Flushall,
    Flushdb,
    Keys,
    Scan,
    Randomkey,
    // Single-key and multi-key data commands.
    Get,
    Set,
    Setnx,
    Setex,
    Psetex,
    Getset,
    Getdel,
    Getex,
    Mget,
    Mset,
    Msetnx,
    Del,
    Unlink,
    Exists,
    Type,
    Incr,
    Incrby,
    Decr,
    Decrby,
    Incrbyfloat,
    Append,
    Strlen,
    Getrange,
    Setrange,
    Expire,
    Pexpire,
    Expireat,
    Pexpireat,
    Ttl,
    Pttl,
    Persist,
    Expiretime,
    Pexpiretime,
    Delifeq,
    // Locks.
    LockAcquire,
    LockRelease,
    LockRenew,
    LockInfo,
    // Internal: proposed by the runtime itself, refused from clients.
    LockExpire,
    LockCancel,
}

/// Who answers a command and whether it changes state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Connection or server command; never reaches a state machine.
    Server,
    /// Reads a group's state; never changes it (safe on any replica).
    Read,
    /// Changes a group's state; goes through the log once replication lands.
    Write,
    /// Proposed only by the runtime (lease and wait timers) and applied like
    /// a write; a client sending one gets "unknown command".
    Internal,
}

/// Where a command's keys are, which decides how the runtime routes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// No key: answered where the connection lives.
    None,
    /// One key at argument 1: sent to the group that owns it.
    First,
    /// Keys from argument 1 on, one every `step` arguments (`MGET` has
    /// step 1, `MSET` step 2): split per group and gathered in order.
    Each {
        /// Distance between consecutive keys.
        step: u8,
    },
    /// The whole keyspace: sent to every group and merged.
    Keyspace,
}

/// Static facts about one command.
#[derive(Debug)]
pub struct CommandSpec {
    /// The command.
    pub cmd: Cmd,
    /// Lower-case name as Redis reports it in `COMMAND` and errors.
    pub name: &'static str,
    /// Redis arity: `n > 0` exactly n arguments with the name, `n < 0` at
    /// least `-n`.
    pub arity: i32,
    /// Who answers and whether it writes.
    pub kind: Kind,
    /// Where the keys are.
    pub keys: Keys,
    /// One line for `COMMAND DOCS`.
    pub summary: &'static str,
}

impl CommandSpec {
    /// True when `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

macro_rules! spec {
    ($cmd:ident, $name:literal, $arity:expr, $kind:ident, $keys:expr, $summary:literal) => {
        CommandSpec {
            cmd: Cmd::$cmd,
            name: $name,
            arity: $arity,
            kind: Kind::$kind,
            keys: $keys,
            summary: $summary,
        }
    };
}

const ONE: Keys = Keys::First;
const NONE: Keys = Keys::None;
const ALL: Keys = Keys::Keyspace;

/// The catalogue, indexed by `Cmd as usize`.
pub static COMMANDS: [CommandSpec; COMMAND_COUNT] = [
    spec!(
        Ping,
        "ping",
        -1,
        Server,
        NONE,
        "Returns the server's liveliness response."
    ),
    spec!(Echo, "echo", 2, Server, NONE, "Returns the given string."),
    spec!(
        Hello,
        "hello",
        -1,
        Server,
        NONE,
        "Handshakes with the server, choosing RESP2 or RESP3."
    ),
    spec!(Quit, "quit", -1, Server, NONE, "Closes the connection."),
    spec!(
        Select,
        "select",
        2,
        Server,
        NONE,
        "Selects the database (only 0 exists)."
    ),
    spec!(
        Command,
        "command",
        -1,
        Server,
        NONE,
        "Returns information about commands."
    ),
    spec!(
        Client,
        "client",
        -2,
        Server,
        NONE,
        "Connection introspection: ID, SETNAME, GETNAME, LIST, INFO."
    ),
    spec!(
        Info,
        "info",
        -1,
        Server,
        NONE,
        "Returns information and statistics about the server."
    ),
    spec!(
        Config,
        "config",
        -2,
        Server,
        NONE,
        "Gets or sets configuration parameters."
    ),
    spec!(Time, "time", 1, Server, NONE, "Returns the server time."),
    spec!(
        Latency,
        "latency",
        -2,
        Server,
        NONE,
        "Latency histograms of commands."
    ),
    spec!(
        Multi,
        "multi",
        1,
        Server,
        NONE,
        "Starts a transaction: later commands are queued until EXEC."
    ),
    spec!(
        Exec,
        "exec",
        1,
        Server,
        NONE,
        "Runs the queued commands of a transaction as one step."
    ),
    spec!(
        Discard,
        "discard",
        1,
        Server,
        NONE,
        "Drops the queued commands of a transaction."
    ),
    spec!(
        Watch,
        "watch",
        -2,
        Server,
        Keys::Each { step: 1 },
        "Makes the next EXEC abort if one of these keys changes first."
    ),
    spec!(
        Unwatch,
        "unwatch",
        1,
        Server,
        NONE,
        "Forgets every watched key."
    ),
    spec!(
        Dbsize,
        "dbsize",
        1,
        Read,
        ALL,
        "Returns the number of keys."
    ),
    spec!(Flushall, "flushall", -1, Write, ALL, "Removes all keys."),
    spec!(
        Flushdb,
        "flushdb",
        -1,
        Write,
        ALL,
        "Removes all keys of the database."
    ),
    spec!(
        Keys,
        "keys",
        2,
        Read,
        ALL,
        "Returns all key names that match a pattern."
    ),
    spec!(Scan, "scan", -2, Read, ALL, "Iterates over the key names."),
    spec!(
        Randomkey,
        "randomkey",
        1,
        Read,
        ALL,
        "Returns a random key name."
    ),
    spec!(
        Get,
        "get",
        2,
        Read,
        ONE,
        "Returns the string value of a key."
    ),
    spec!(
        Set,
        "set",
        -3,
        Write,
        ONE,
        "Sets the string value of a key, with options."
    ),
    spec!(
        Setnx,
        "setnx",
        3,
        Write,
        ONE,
        "Sets a key only when it does not exist."
    ),
    spec!(
        Setex,
        "setex",
        4,
        Write,
        ONE,
        "Sets a key with an expiry in seconds."
    ),
    spec!(
        Psetex,
        "psetex",
        4,
        Write,
        ONE,
        "Sets a key with an expiry in milliseconds."
    ),
    spec!(
        Getset,
        "getset",
        3,
        Write,
        ONE,
        "Sets a key and returns its old value."
    ),
    spec!(
        Getdel,
        "getdel",
        2,
        Write,
        ONE,
        "Returns a key's value and deletes it."
    ),
    spec!(
        Getex,
        "getex",
        -2,
        Write,
        ONE,
        "Returns a key's value and sets its expiry."
    ),
    spec!(
        Mget,
        "mget",
        -2,
        Read,
        Keys::Each { step: 1 },
        "Returns the values of several keys."
    ),
    spec!(
        Mset,
        "mset",
        -3,
        Write,
        Keys::Each { step: 2 },
        "Sets several keys."
    ),
    spec!(
        Msetnx,
        "msetnx",
        -3,
        Write,
        Keys::Each { step: 2 },
        "Sets several keys only when none exists."
    ),
    spec!(
        Del,
        "del",
        -2,
        Write,
        Keys::Each { step: 1 },
        "Deletes keys."
    ),
    spec!(
        Unlink,
        "unlink",
        -2,
        Write,
        Keys::Each { step: 1 },
        "Deletes keys."
    ),
    spec!(
        Exists,
        "exists",
        -2,
        Read,
        Keys::Each { step: 1 },
        "Counts how many of the keys exist."
    ),
    spec!(
        Type,
        "type",
        2,
        Read,
        ONE,
        "Returns the type of a key's value."
    ),
    spec!(
        Incr,
        "incr",
        2,
        Write,
        ONE,
        "Increments an integer value by one."
    ),
    spec!(
        Incrby,
        "incrby",
        3,
        Write,
        ONE,
        "Increments an integer value by a number."
    ),
    spec!(
        Decr,
        "decr",
        2,
        Write,
        ONE,
        "Decrements an integer value by one."
    ),
    spec!(
        Decrby,
        "decrby",
        3,
        Write,
        ONE,
        "Decrements an integer value by a number."
    ),
    spec!(
        Incrbyfloat,
        "incrbyfloat",
        3,
        Write,
        ONE,
        "Increments a float value by a number."
    ),
    spec!(
        Append,
        "append",
        3,
        Write,
        ONE,
        "Appends to a string value."
    ),
    spec!(
        Strlen,
        "strlen",
        2,
        Read,
        ONE,
        "Returns the length of a string value."
    ),
    spec!(
        Getrange,
        "getrange",
        4,
        Read,
        ONE,
        "Returns a substring of a string value."
    ),
    spec!(
        Setrange,
        "setrange",
        4,
        Write,
        ONE,
        "Overwrites part of a string value."
    ),
    spec!(
        Expire,
        "expire",
        -3,
        Write,
        ONE,
        "Sets a key's time to live in seconds."
    ),
    spec!(
        Pexpire,
        "pexpire",
        -3,
        Write,
        ONE,
        "Sets a key's time to live in milliseconds."
    ),
    spec!(
        Expireat,
        "expireat",
        -3,
        Write,
        ONE,
        "Sets a key's expiry as a Unix time in seconds."
    ),
    spec!(
        Pexpireat,
        "pexpireat",
        -3,
        Write,
        ONE,
        "Sets a key's expiry as a Unix time in milliseconds."
    ),
    spec!(
        Ttl,
        "ttl",
        2,
        Read,
        ONE,
        "Returns a key's time to live in seconds."
    ),
    spec!(
        Pttl,
        "pttl",
        2,
        Read,
        ONE,
        "Returns a key's time to live in milliseconds."
    ),
    spec!(Persist, "persist", 2, Write, ONE, "Removes a key's expiry."),
    spec!(
        Expiretime,
        "expiretime",
        2,
        Read,
        ONE,
        "Returns a key's expiry as a Unix time in seconds."
    ),
    spec!(
        Pexpiretime,
        "pexpiretime",
        2,
        Read,
        ONE,
        "Returns a key's expiry as a Unix time in milliseconds."
    ),
    spec!(
        Delifeq,
        "delifeq",
        3,
        Write,
        ONE,
        "Deletes a key only when its value equals the given one."
    ),
    spec!(
        LockAcquire,
        "lock.acquire",
        -4,
        Write,
        ONE,
        "Acquires a lock with a lease; returns a fencing token."
    ),
    spec!(
        LockRelease,
        "lock.release",
        3,
        Write,
        ONE,
        "Releases a lock held with the given token."
    ),
    spec!(
        LockRenew,
        "lock.renew",
        4,
        Write,
        ONE,
        "Sets the lease of a lock held with the given token to ttl_ms from now (may shorten it)."
    ),
    spec!(
        LockInfo,
        "lock.info",
        2,
        Read,
        ONE,
        "Returns a lock's holder, token, remaining lease and waiters."
    ),
    spec!(
        LockExpire,
        "lock.expire",
        4,
        Internal,
        ONE,
        "Internal: ends a lease if that token and lease are still current."
    ),
    spec!(
        LockCancel,
        "lock.cancel",
        3,
        Internal,
        ONE,
        "Internal: removes a waiter from a lock's queue."
    ),
];

/// How many commands the catalogue holds.
pub const COMMAND_COUNT: usize = Cmd::LockCancel as usize + 1;

/// Longest command name, in bytes; longer names are unknown without a lookup.
const COMMAND_NAME_MAX_BYTES: usize = 16;

impl Cmd {
    /// This command's static facts.
    pub fn spec(self) -> &'static CommandSpec {
        &COMMANDS[self as usize]
    }
}

/// Finds a command by name, ignoring ASCII case.
///
/// Every command runs through this, so it avoids hashing bytes: a name of
/// at most 16 bytes is packed, lowercased, into one `u128`, which picks a
/// slot by one multiplication and is compared whole.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    let packed = packed_name(name)?;
    let table = name_table();
    let mut slot = name_slot(packed);
    loop {
        match table[slot] {
            Some((key, cmd)) if key == packed => {
                let spec = cmd.spec();
                // Zero padding cannot tell "get" from "get\0"; the length can.
                return (spec.name.len() == name.len()).then_some(spec);
            }
            Some(_) => slot = (slot + 1) % NAME_SLOTS,
            None => return None,
        }
    }
}

/// Slots of the name table: a power of two over three times the command
/// count, so a lookup rarely probes past its first slot.
const NAME_SLOTS: usize = 256;
const _: () = assert!(NAME_SLOTS.is_power_of_two() && NAME_SLOTS >= 3 * COMMAND_COUNT);

/// A command name lowercased into a `u128`, zero padded; `None` when no
/// command could have it.
fn packed_name(name: &[u8]) -> Option<u128> {
    if name.is_empty() || name.len() > COMMAND_NAME_MAX_BYTES {
        return None;
    }
    Some(ascii_lowercase(load_padded(name)))
}

/// `name` (1 to 16 bytes) as a little-endian `u128`, zero padded. Two
/// overlapping loads instead of a copy into a zeroed buffer: reading back
/// bytes just stored one by one stalls the CPU longer than the lookup.
fn load_padded(name: &[u8]) -> u128 {
    let len = name.len();
    if len >= 8 {
        let head = u64::from_le_bytes(name[..8].try_into().expect("8 bytes"));
        let tail = u64::from_le_bytes(name[len - 8..].try_into().expect("8 bytes"));
        let rest = tail.checked_shr(8 * (16 - len) as u32).unwrap_or(0);
        return u128::from(head) | (u128::from(rest) << 64);
    }
    if len >= 4 {
        let head = u32::from_le_bytes(name[..4].try_into().expect("4 bytes"));
        let tail = u32::from_le_bytes(name[len - 4..].try_into().expect("4 bytes"));
        let rest = u64::from(tail) << (8 * (len - 4));
        return u128::from(u64::from(head) | rest);
    }
    name.iter()
        .rev()
        .fold(0, |packed, &byte| (packed << 8) | u128::from(byte))
}

/// Lowercases the ASCII letters among sixteen packed bytes at once: a byte
/// gets 0x20 added when it is at least `A`, at most `Z`, and below 0x80.
fn ascii_lowercase(bytes: u128) -> u128 {
    const EACH: u128 = u128::MAX / 0xFF; // 0x01 in every byte
    let low_seven = bytes & (EACH * 0x7F);
    let at_least_a = low_seven + EACH * (0x80 - u128::from(b'A'));
    let above_z = low_seven + EACH * (0x7F - u128::from(b'Z'));
    let upper = at_least_a & !above_z & !bytes & (EACH * 0x80);
    bytes | (upper >> 2)
}

/// Fibonacci hashing of the name's two halves; the top bits pick the slot.
fn name_slot(packed: u128) -> usize {
    let folded = (packed as u64) ^ ((packed >> 64) as u64);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - NAME_SLOTS.trailing_zeros())) as usize
}

/// Open addressing with linear probing; built once, read only after.
fn name_table() -> &'static [Option<(u128, Cmd)>; NAME_SLOTS] {
    static TABLE: std::sync::OnceLock<[Option<(u128, Cmd)>; NAME_SLOTS]> =
        std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [None; NAME_SLOTS];
        for spec in &COMMANDS {
            let packed = packed_name(spec.name.as_bytes()).expect("command names fit");
            let mut slot = name_slot(packed);
            while table[slot].is_some() {
                slot = (slot + 1) % NAME_SLOTS;
            }
            table[slot] = Some((packed, spec.cmd));
        }
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_cmd() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.cmd as usize, i, "{} is out of place", spec.name);
            assert!(spec.name.len() <= COMMAND_NAME_MAX_BYTES);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
        }
    }

    #[test]
    fn lookup_ignores_case_and_rejects_unknown() {
        assert_eq!(lookup(b"GeT").unwrap().cmd, Cmd::Get);
        assert_eq!(lookup(b"LOCK.ACQUIRE").unwrap().cmd, Cmd::LockAcquire);
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(b"").is_none());
        assert!(lookup(&[b'x'; 100]).is_none());
        assert!(lookup(b"get\0").is_none(), "zero padding must not match");
        assert!(lookup(b"ge").is_none());
        assert!(lookup(b"gett").is_none());
    }

    #[test]
    fn padded_load_matches_a_copy_into_zeroes() {
        let text: Vec<u8> = (1..=16).collect();
        for len in 1..=16 {
            let mut bytes = [0u8; 16];
            bytes[..len].copy_from_slice(&text[..len]);
            assert_eq!(
                load_padded(&text[..len]),
                u128::from_le_bytes(bytes),
                "{len}"
            );
        }
    }

    #[test]
    fn packed_lowercasing_matches_the_standard_library() {
        for byte in 0..=255u8 {
            let packed = ascii_lowercase(u128::from_le_bytes([byte; 16]));
            assert_eq!(packed, u128::from_le_bytes([byte.to_ascii_lowercase(); 16]));
        }
    }

    #[test]
    fn lookup_finds_every_command_in_any_case() {
        for spec in &COMMANDS {
            assert_eq!(lookup(spec.name.as_bytes()).unwrap().cmd, spec.cmd);
            let upper = spec.name.to_ascii_uppercase();
            assert_eq!(lookup(upper.as_bytes()).unwrap().cmd, spec.cmd);
        }
    }

    #[test]
    fn arity_follows_redis_convention() {
        assert!(Cmd::Get.spec().arity_ok(2));
        assert!(!Cmd::Get.spec().arity_ok(3));
        assert!(Cmd::Set.spec().arity_ok(3));
        assert!(Cmd::Set.spec().arity_ok(9));
        assert!(!Cmd::Set.spec().arity_ok(2));
    }
}
