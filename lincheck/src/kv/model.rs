//! The sequential specification: one register holding nothing or a string,
//! with Redis 7's semantics for each command.
//!
//! Values are interned per key so a model state is a small `Copy` value
//! that hashes in a few instructions. A string is an integer to `INCRBY`
//! exactly when it is the canonical decimal form of an `i64` (Redis's
//! `string2ll` accepts nothing else: no `+`, no leading zeros, no `-0`), so
//! integers are kept as `Int` and every other string as an interned `Str`;
//! two states are equal exactly when their bytes are.

use std::borrow::Cow;
use std::collections::HashMap;

use super::command::{Command, SetCondition};
use crate::reply::{ErrorKind, Reply};

/// The register's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    Absent,
    Int(i64),
    /// A string that is not an integer, by its interned id.
    Str(u32),
}

/// A command, with its values interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Get,
    Set {
        value: Value,
        condition: Condition,
        get: bool,
    },
    Del,
    DelIfEq(Value),
    IncrBy(i64),
    GetSet(Value),
    GetDel,
}

/// `SET`'s condition, with the expected value interned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    Always,
    IfAbsent,
    IfPresent,
    IfEqual(Value),
}

/// A reply, with values interned; GET-like replies are `Value` (nil is
/// `Value(Absent)`), SET's nil is `Nil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Out {
    Ok,
    Nil,
    Int(i64),
    Value(Value),
    Error(ErrorKind),
}

/// Applies `step` to `state`: the next state and the reply.
pub(crate) fn apply(state: Value, step: Step) -> (Value, Out) {
    match step {
        Step::Get => (state, Out::Value(state)),
        Step::Set {
            value,
            condition,
            get,
        } => {
            let allowed = match condition {
                Condition::Always => true,
                Condition::IfAbsent => state == Value::Absent,
                Condition::IfPresent => state != Value::Absent,
                Condition::IfEqual(expected) => state == expected,
            };
            let next = if allowed { value } else { state };
            let out = match (get, allowed) {
                (true, _) => Out::Value(state),
                (false, true) => Out::Ok,
                (false, false) => Out::Nil,
            };
            (next, out)
        }
        Step::Del => (Value::Absent, Out::Int(i64::from(state != Value::Absent))),
        Step::DelIfEq(expected) if state == expected => (Value::Absent, Out::Int(1)),
        Step::DelIfEq(_) => (state, Out::Int(0)),
        Step::IncrBy(delta) => {
            let current = match state {
                Value::Absent => 0,
                Value::Int(n) => n,
                Value::Str(_) => return (state, Out::Error(ErrorKind::NotAnInteger)),
            };
            match current.checked_add(delta) {
                Some(new) => (Value::Int(new), Out::Int(new)),
                None => (state, Out::Error(ErrorKind::Overflow)),
            }
        }
        Step::GetSet(value) => (value, Out::Value(state)),
        Step::GetDel => (Value::Absent, Out::Value(state)),
    }
}

/// Parses an integer exactly as Redis's `string2ll` does; `Some` only for
/// the canonical decimal form of an `i64`.
pub(crate) fn parse_canonical_i64(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    let n: i64 = text.parse().ok()?;
    // `str::parse` also takes `+5`, `007` and `-0`; Redis takes none.
    (n.to_string().as_bytes() == bytes).then_some(n)
}

/// One key's strings, interned.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<Vec<u8>, u32>,
    strings: Vec<Vec<u8>>,
}

impl Interner {
    pub fn value(&mut self, bytes: &[u8]) -> Value {
        if let Some(n) = parse_canonical_i64(bytes) {
            return Value::Int(n);
        }
        if let Some(&id) = self.ids.get(bytes) {
            return Value::Str(id);
        }
        // A key's sub-history is at most KEY_OPS_MAX operations with at most
        // two strings each, far below u32::MAX.
        let id = self.strings.len() as u32;
        self.strings.push(bytes.to_vec());
        self.ids.insert(bytes.to_vec(), id);
        Value::Str(id)
    }

    /// The bytes of a value, `None` for absent.
    pub fn bytes(&self, value: Value) -> Option<Cow<'_, [u8]>> {
        match value {
            Value::Absent => None,
            Value::Int(n) => Some(Cow::Owned(n.to_string().into_bytes())),
            Value::Str(id) => Some(Cow::Borrowed(&self.strings[id as usize])),
        }
    }

    /// The interned form of `command`.
    pub fn step(&mut self, command: &Command) -> Step {
        match command {
            Command::Get => Step::Get,
            Command::Set {
                value,
                condition,
                get,
            } => Step::Set {
                value: self.value(value),
                condition: match condition {
                    SetCondition::Always => Condition::Always,
                    SetCondition::IfAbsent => Condition::IfAbsent,
                    SetCondition::IfPresent => Condition::IfPresent,
                    SetCondition::IfEqual(expected) => Condition::IfEqual(self.value(expected)),
                },
                get: *get,
            },
            Command::Del => Step::Del,
            Command::DelIfEq(expected) => Step::DelIfEq(self.value(expected)),
            Command::IncrBy(delta) => Step::IncrBy(*delta),
            Command::GetSet(value) => Step::GetSet(self.value(value)),
            Command::GetDel => Step::GetDel,
        }
    }

    /// The interned form of `reply` to `step`, `None` when `step` can never
    /// give a reply of that type.
    pub fn out(&mut self, step: Step, reply: &Reply) -> Option<Out> {
        let returns_value = matches!(
            step,
            Step::Get | Step::GetSet(_) | Step::GetDel | Step::Set { get: true, .. }
        );
        match (step, reply) {
            (_, Reply::Nil) if returns_value => Some(Out::Value(Value::Absent)),
            (_, Reply::Bulk(bytes)) if returns_value => Some(Out::Value(self.value(bytes))),
            (Step::Set { get: false, .. }, Reply::Ok) => Some(Out::Ok),
            (Step::Set { get: false, .. }, Reply::Nil) => Some(Out::Nil),
            (Step::Del | Step::DelIfEq(_), Reply::Int(n @ (0 | 1))) => Some(Out::Int(*n)),
            (Step::IncrBy(_), Reply::Int(n)) => Some(Out::Int(*n)),
            (Step::IncrBy(_), Reply::Error(kind)) => Some(Out::Error(*kind)),
            _ => None,
        }
    }
}
