//! Checks for the client histories that Pinwheel's process-level fault
//! tests record (kill -9 cycles, failovers, partitions): is what the
//! clients saw something a correct store could have shown them?
//!
//! Three checkers, all pure functions of a recorded history (no clock, no
//! randomness, no I/O; the same history gives the same answer):
//!
//! - [`check_kv`]: linearizability of single-key commands, each key a
//!   register (model table in [`kv`]).
//! - [`check_locks`]: fencing tokens and leases of the lock service (rules
//!   in [`locks`]).
//! - [`AckedWrites`]: every acknowledged write survives a crash (in
//!   [`acked`]); linear and much weaker, for after every restart of a kill
//!   -9 cycle.
//!
//! # Recording
//!
//! A test stamps each operation from one monotonic clock of its own
//! process (`Instant` since a fixed start, in nanoseconds): the
//! invocation just before the request is sent, the completion just after
//! the reply is read. [`History::invoke`] and [`History::returned`] record
//! them; an operation never marked returned has an **unknown outcome**.
//! Use that for every reply that does not say what happened: a timeout, a
//! dropped connection, a killed server, `-TRYAGAIN`. Only replies in the
//! model ([`Reply`]) are definite.
//!
//! ```
//! use pinwheel_lincheck::{check_kv, CheckOptions, Command, KvHistory, Reply, Verdict};
//!
//! let mut history = KvHistory::new();
//! // Client 1 writes; client 2's read overlaps the write and sees it.
//! let set = history.invoke(1, "k", Command::set("a"), 100);
//! history.record(2, "k", Command::get(), 150, 180, Reply::Bulk(b"a".to_vec()));
//! history.returned(set, 200, Reply::Ok);
//! // Client 3's increment timed out: it may or may not have happened.
//! history.record_unknown(3, "n", Command::incr(), 300);
//! assert!(check_kv(&history, &CheckOptions::default())?.is_linearizable());
//!
//! // A read after the write that misses it is a violation.
//! history.record(2, "k", Command::get(), 400, 410, Reply::Nil);
//! let report = check_kv(&history, &CheckOptions::default())?;
//! assert_eq!(report.verdict(), Verdict::Violation);
//! println!("{report}"); // the key, the failing read, the write it missed
//! # Ok::<(), pinwheel_lincheck::HistoryError>(())
//! ```
//!
//! # Linearizability: the model and the algorithm
//!
//! A history is linearizable when every operation can be given one instant
//! between its invocation and its completion such that, performed one at
//! a time in the order of those instants, the model gives every observed
//! reply. Since every command touches one key, this holds for the whole
//! history exactly when it holds for each key's sub-history on its own
//! (locality, Herlihy and Wing 1990, which Horn and Kroening call
//! P-compositionality), so [`check_kv`] checks keys one by one.
//!
//! Per key it runs Wing and Gong's search (1993) with Lowe's memoization
//! (2017), as Porcupine does: events in time order in a linked list; the
//! search linearizes the earliest call it can, undoes its last choice when
//! an operation's return is reached unlinearized, and never explores a
//! (set of linearized operations, register value) pair twice. Calls
//! invoked at the instant another operation returned count as concurrent
//! with it.
//!
//! **Unknown outcomes** are treated as Porcupine treats pending
//! operations: the operation may take effect at any instant after its
//! invocation, or never, and any reply is accepted. It has no return
//! event, so nothing forces it into the order; the search ends when every
//! operation that returned is placed. An unknown `GET` constrains nothing
//! and is dropped. Each unknown write stays open for the rest of the key's
//! history, so many of them on one key multiply the search's states:
//! the budgets below are what keeps that bounded.
//!
//! On a violation the report names the key and a short window: the
//! earliest return by which the key's history already has no valid order
//! (each prefix cut is a sound witness; the failed search's last backtrack
//! bounds the earliest one from below, and one more search usually
//! confirms it), the operation(s) returning then, every operation
//! overlapping them, and the tail of a valid order of what came before
//! (see [`KvViolation`]).
//!
//! # Limits
//!
//! Deciding linearizability is NP-complete, so the search is bounded and
//! says so instead of running for hours:
//!
//! - a key with more than [`KEY_OPS_MAX`] operations is refused up front
//!   ([`HistoryError::KeyTooManyOps`]); a test spreads its load over more
//!   keys;
//! - a history of more than [`HISTORY_OPS_MAX`] operations is refused;
//! - each key's search has a step budget and a memory budget for its memo
//!   cache ([`CheckOptions`]); a key that spends either is reported
//!   [`Verdict::Inconclusive`], which is distinct from a violation and
//!   proves nothing either way.
//!
//! What that means in practice (release build, 8 clients, 10,000
//! operations; `examples/check_speed.rs`): a correct history over 100 or
//! 10 keys checks in about 10-20 ms, over one key in about 120 ms; a
//! corrupted one over 100 or 10 keys is found and explained in about the
//! same time, over one key in 0.2-2.5 s; but with 1% unknown outcomes on
//! that one key, most corrupted histories come back inconclusive after
//! the step budget (about 3 s). Spreading the load over keys is what keeps
//! a failure explainable.
//!
//! # Why not an existing crate
//!
//! `todc-utils` (0.1, the Wing–Gong–Lowe checker on crates.io) takes an
//! ordered list of call and response actions and a `Specification`, and
//! answers a `bool`. An unknown outcome has to be faked by moving its
//! response to the end of the list (as its etcd example does); the search
//! has no budget (its memo is an unbounded `HashSet` of cloned `Vec<bool>`
//! sets, one clone per attempt); a failure comes with no account of why;
//! malformed input panics. Bounding, explaining and unknown outcomes are
//! what a fault test needs, so wrapping it would mean rebuilding most of
//! this crate around it. The search itself, with its compact memo, is
//! about 330 lines of code here (`kv/search.rs`), small enough to read
//! whole and to trust, and an exhaustive search in the tests checks it.
//! `lincheck` (0.2) tests in-process data structures under loom, a
//! different job.

#![deny(missing_docs)]

pub mod acked;
mod error;
mod history;
pub mod kv;
pub mod locks;
mod reply;

pub use acked::{AckedReport, AckedViolation, AckedWrites};
pub use error::HistoryError;
pub use history::{History, OpId, Record, Returned};
pub use kv::{
    check_kv, CheckOptions, Command, Exhausted, InconclusiveKey, KvReport, KvViolation,
    SetCondition, ShownOp, Verdict,
};
pub use locks::{
    check_locks, LockCheckOptions, LockCommand, LockReport, LockViolation, LockViolationKind,
    PossibleGrant,
};
pub use reply::{ErrorKind, Reply};

/// Most operations on one key that [`check_kv`] will search. Every search
/// step scans the key's bitsets (a word per 64 operations) and a
/// violation's explanation searches the key a few more times, so a longer
/// key would spend its step budget slowly; and the search's worst case
/// grows exponentially with it. Spread a test's load over more keys.
pub const KEY_OPS_MAX: usize = 10_000;

/// Most operations in one history (or values in one [`AckedWrites`]).
pub const HISTORY_OPS_MAX: usize = 10_000_000;

/// A key-value history.
pub type KvHistory = History<Command>;

/// A lock history.
pub type LockHistory = History<LockCommand>;
