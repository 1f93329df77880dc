//! The single-key commands the register model knows.

use std::fmt;

use crate::reply::Shown;

/// A single-key command on a string register. Each maps to one Redis
/// command; the reply each gives is in [`crate::kv`]'s model table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// `GET key`.
    Get,
    /// `SET key value [NX|XX|IFEQ expected] [GET]`.
    Set {
        /// The value written.
        value: Vec<u8>,
        /// When the write happens.
        condition: SetCondition,
        /// `GET`: the reply is the old value instead of OK/nil.
        get: bool,
    },
    /// `DEL key`.
    Del,
    /// `DELIFEQ key expected`: deletes only a value equal to `expected`.
    DelIfEq(Vec<u8>),
    /// `INCRBY key delta` (`INCR` is 1, `DECR` -1, `DECRBY n` is -n).
    IncrBy(i64),
    /// `GETSET key value`.
    GetSet(Vec<u8>),
    /// `GETDEL key`.
    GetDel,
}

/// `SET`'s condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetCondition {
    /// No condition: always writes.
    Always,
    /// `NX`: only when the key is absent.
    IfAbsent,
    /// `XX`: only when the key is present.
    IfPresent,
    /// `IFEQ expected` (compare-and-set): only when the key holds exactly
    /// `expected`.
    IfEqual(Vec<u8>),
}

impl Command {
    /// `GET`.
    pub fn get() -> Command {
        Command::Get
    }

    /// `SET value`.
    pub fn set(value: impl AsRef<[u8]>) -> Command {
        Command::set_if(value, SetCondition::Always)
    }

    /// `SET value NX`.
    pub fn set_nx(value: impl AsRef<[u8]>) -> Command {
        Command::set_if(value, SetCondition::IfAbsent)
    }

    /// `SET value XX`.
    pub fn set_xx(value: impl AsRef<[u8]>) -> Command {
        Command::set_if(value, SetCondition::IfPresent)
    }

    /// `SET value IFEQ expected`.
    pub fn set_ifeq(value: impl AsRef<[u8]>, expected: impl AsRef<[u8]>) -> Command {
        Command::set_if(value, SetCondition::IfEqual(expected.as_ref().to_vec()))
    }

    fn set_if(value: impl AsRef<[u8]>, condition: SetCondition) -> Command {
        Command::Set {
            value: value.as_ref().to_vec(),
            condition,
            get: false,
        }
    }

    /// The same `SET` with the `GET` option; any other command unchanged.
    pub fn with_get(self) -> Command {
        match self {
            Command::Set {
                value, condition, ..
            } => Command::Set {
                value,
                condition,
                get: true,
            },
            other => other,
        }
    }

    /// `DEL`.
    pub fn del() -> Command {
        Command::Del
    }

    /// `DELIFEQ expected`.
    pub fn del_ifeq(expected: impl AsRef<[u8]>) -> Command {
        Command::DelIfEq(expected.as_ref().to_vec())
    }

    /// `INCR`.
    pub fn incr() -> Command {
        Command::IncrBy(1)
    }

    /// `INCRBY delta`.
    pub fn incr_by(delta: i64) -> Command {
        Command::IncrBy(delta)
    }

    /// `GETSET value`.
    pub fn getset(value: impl AsRef<[u8]>) -> Command {
        Command::GetSet(value.as_ref().to_vec())
    }

    /// `GETDEL`.
    pub fn getdel() -> Command {
        Command::GetDel
    }

    /// True for a command that never changes the register.
    pub fn is_read_only(&self) -> bool {
        matches!(self, Command::Get)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Get => f.write_str("GET"),
            Command::Set {
                value,
                condition,
                get,
            } => {
                write!(f, "SET {}", Shown(value))?;
                match condition {
                    SetCondition::Always => {}
                    SetCondition::IfAbsent => f.write_str(" NX")?,
                    SetCondition::IfPresent => f.write_str(" XX")?,
                    SetCondition::IfEqual(expected) => write!(f, " IFEQ {}", Shown(expected))?,
                }
                if *get {
                    f.write_str(" GET")?;
                }
                Ok(())
            }
            Command::Del => f.write_str("DEL"),
            Command::DelIfEq(expected) => write!(f, "DELIFEQ {}", Shown(expected)),
            Command::IncrBy(delta) => write!(f, "INCRBY {delta}"),
            Command::GetSet(value) => write!(f, "GETSET {}", Shown(value)),
            Command::GetDel => f.write_str("GETDEL"),
        }
    }
}
