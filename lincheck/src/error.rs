//! Why a history was refused before any checking: it is malformed or over a
//! limit. A refused history is neither linearizable nor a violation.

use std::fmt;

use crate::reply::{Reply, Shown};

/// A history the checkers will not judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// More operations than [`crate::HISTORY_OPS_MAX`] in one history.
    TooManyOps {
        /// Operations recorded.
        ops: usize,
        /// The limit.
        max: usize,
    },
    /// One key's sub-history is longer than [`crate::KEY_OPS_MAX`]: the
    /// search would take too long or too much memory. Spread the test's
    /// load over more keys.
    KeyTooManyOps {
        /// The key.
        key: Vec<u8>,
        /// Its operations.
        ops: usize,
        /// The limit.
        max: usize,
    },
    /// An operation returned before it was invoked.
    ReturnedBeforeInvoked {
        /// Index of the operation in the history.
        op: usize,
        /// Its invocation time.
        invoked_ns: u64,
        /// Its completion time.
        returned_ns: u64,
    },
    /// `returned` was called twice for one operation.
    ReturnedTwice {
        /// Index of the operation in the history.
        op: usize,
    },
    /// `returned` named an operation the history does not hold.
    NoSuchOp {
        /// The index given.
        op: usize,
    },
    /// The reply's type cannot come from the command (an integer for a GET,
    /// a token of 0, an error a command cannot give).
    ReplyDoesNotFit {
        /// Index of the operation in the history.
        op: usize,
        /// The command, as shown in reports.
        command: String,
        /// The reply recorded.
        reply: Reply,
    },
    /// Values written to one key in an acknowledged-writes record must
    /// strictly increase.
    NotIncreasing {
        /// The key.
        key: Vec<u8>,
        /// The value sent before.
        previous: u64,
        /// The value that did not exceed it.
        value: u64,
    },
    /// A value was acknowledged that was never recorded as sent.
    AckedNotSent {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: u64,
    },
    /// A key with an acknowledged write has no final read to check.
    NoFinalRead {
        /// The key.
        key: Vec<u8>,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::TooManyOps { ops, max } => {
                write!(f, "history has {ops} operations, over the limit of {max}")
            }
            HistoryError::KeyTooManyOps { key, ops, max } => write!(
                f,
                "key {} has {ops} operations, over the per-key limit of {max} \
                 (KEY_OPS_MAX); spread the load over more keys",
                Shown(key)
            ),
            HistoryError::ReturnedBeforeInvoked {
                op,
                invoked_ns,
                returned_ns,
            } => write!(
                f,
                "operation #{op} returned at {returned_ns} ns, before it was invoked at {invoked_ns} ns"
            ),
            HistoryError::ReturnedTwice { op } => {
                write!(f, "operation #{op} was marked returned twice")
            }
            HistoryError::NoSuchOp { op } => write!(f, "no operation #{op} in the history"),
            HistoryError::ReplyDoesNotFit { op, command, reply } => write!(
                f,
                "operation #{op} ({command}) has a reply {command} cannot give: {reply}"
            ),
            HistoryError::NotIncreasing {
                key,
                previous,
                value,
            } => write!(
                f,
                "key {}: value {value} sent after {previous}; sent values must increase",
                Shown(key)
            ),
            HistoryError::AckedNotSent { key, value } => write!(
                f,
                "key {}: value {value} acknowledged but never recorded as sent",
                Shown(key)
            ),
            HistoryError::NoFinalRead { key } => write!(
                f,
                "key {} has acknowledged writes but no final read",
                Shown(key)
            ),
        }
    }
}

impl std::error::Error for HistoryError {}
