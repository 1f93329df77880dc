//! Linearizability of a key-value history, one key at a time.
//!
//! Every command here touches one key, so the history is linearizable if
//! and only if each key's sub-history is (linearizability is local: Herlihy
//! and Wing's P-compositionality). Each key is a register that is absent
//! or holds a string:
//!
//! | command | reply | effect |
//! | --- | --- | --- |
//! | `GET` | the value, nil when absent | none |
//! | `SET v` | OK | holds `v` |
//! | `SET v NX` / `XX` / `IFEQ e` | OK when the condition held, else nil | holds `v` when the condition held |
//! | `SET v ... GET` | the old value (nil when absent), whether or not it wrote | as without `GET` |
//! | `DEL` | 1 when present, else 0 | absent |
//! | `DELIFEQ e` | 1 when it held `e`, else 0 | absent when it held `e` |
//! | `INCRBY n` | the new integer (absent counts as 0); `NotAnInteger` when the value is not an integer; `Overflow` past `i64` | holds the new integer; unchanged on error |
//! | `GETSET v` | the old value | holds `v` |
//! | `GETDEL` | the old value | absent |
//!
//! The model has no TTLs: a test must not let a key expire while it is
//! checked (`SET ... EX` is fine only with a TTL longer than the test).
//!
//! Multi-key commands are not in the model (locality needs single-key
//! operations). A test may still record an `MGET` as one `GET` per key,
//! each with the `MGET`'s invocation and completion, and an `MSET` as one
//! `SET` per key: that checks each key and gives up only the claim that
//! the keys changed together, so a correct store still passes.

mod command;
mod explain;
mod model;
mod search;

use std::collections::BTreeMap;
use std::fmt;

pub use command::{Command, SetCondition};
pub use explain::{KvViolation, ShownOp};
pub use search::Exhausted;

use crate::error::HistoryError;
use crate::history::History;
use crate::reply::Shown;
use model::Interner;
use search::{search, Budget, Found, SearchOp};

/// Default for [`CheckOptions::steps_max`]: one to a few seconds of search
/// on one key in a release build (a step costs 100-400 ns).
pub const STEPS_MAX_DEFAULT: u64 = 10_000_000;
/// Default for [`CheckOptions::cache_bytes_max`].
pub const CACHE_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;

/// How much the search may spend on each key before it gives up with an
/// inconclusive result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// Search steps per key (each step tries one call or undoes one
    /// choice). Explaining a violation runs a few more searches of the
    /// same key, each with this budget.
    pub steps_max: u64,
    /// Memory for one key's memo cache, in bytes.
    pub cache_bytes_max: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            steps_max: STEPS_MAX_DEFAULT,
            cache_bytes_max: CACHE_BYTES_MAX_DEFAULT,
        }
    }
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every key's sub-history has a valid order.
    Linearizable,
    /// At least one key's sub-history has none: the store is wrong.
    Violation,
    /// No violation found, but some key's search ran out of budget before
    /// it found an order: nothing is proven about those keys.
    Inconclusive,
}

/// A key whose search ran out of budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InconclusiveKey {
    /// The key.
    pub key: Vec<u8>,
    /// Its operations.
    pub ops: usize,
    /// Steps spent.
    pub steps: u64,
    /// Which budget ran out.
    pub exhausted: Exhausted,
}

/// What [`check_kv`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KvReport {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked.
    pub ops: usize,
    /// Operations of unknown outcome among them.
    pub unknown_outcomes: usize,
    /// Search steps over every key (not counting explanations).
    pub steps: u64,
    /// Every key without a valid order, in key order.
    pub violations: Vec<KvViolation>,
    /// Every key whose search ran out of budget, in key order.
    pub inconclusive: Vec<InconclusiveKey>,
}

impl KvReport {
    /// The overall answer: a violation anywhere wins over inconclusive keys.
    pub fn verdict(&self) -> Verdict {
        if !self.violations.is_empty() {
            Verdict::Violation
        } else if !self.inconclusive.is_empty() {
            Verdict::Inconclusive
        } else {
            Verdict::Linearizable
        }
    }

    /// True when every key has a valid order.
    pub fn is_linearizable(&self) -> bool {
        self.verdict() == Verdict::Linearizable
    }
}

impl fmt::Display for KvReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict() {
            Verdict::Linearizable => "linearizable",
            Verdict::Violation => "NOT linearizable",
            Verdict::Inconclusive => "inconclusive",
        };
        writeln!(
            f,
            "{verdict}: {} operations ({} of unknown outcome) on {} keys, {} search steps",
            self.ops, self.unknown_outcomes, self.keys, self.steps
        )?;
        for violation in &self.violations {
            write!(f, "{violation}")?;
        }
        for key in &self.inconclusive {
            writeln!(
                f,
                "key {}: inconclusive: {} operations, search stopped after {} steps ({})",
                Shown(&key.key),
                key.ops,
                key.steps,
                match key.exhausted {
                    Exhausted::Steps => "step budget spent",
                    Exhausted::CacheBytes => "memo cache budget spent",
                }
            )?;
        }
        Ok(())
    }
}

/// Checks that `history` is linearizable for a register per key.
///
/// Refuses a malformed history, or one with a key of more than
/// [`crate::KEY_OPS_MAX`] operations, before searching anything.
pub fn check_kv(
    history: &History<Command>,
    options: &CheckOptions,
) -> Result<KvReport, HistoryError> {
    history.validate()?;
    let keys = prepare_keys(history)?;
    let budget = Budget {
        steps_max: options.steps_max,
        cache_bytes_max: options.cache_bytes_max,
    };
    let mut report = KvReport {
        keys: keys.len(),
        ops: history.len(),
        unknown_outcomes: history
            .records()
            .iter()
            .filter(|r| r.returned.is_none())
            .count(),
        ..KvReport::default()
    };
    for key in &keys {
        match search(&key.ops, budget) {
            Found::Linearizable { steps, .. } => report.steps += steps,
            Found::Violation { steps, stuck_ns } => {
                report.steps += steps;
                report
                    .violations
                    .push(explain::explain(history, key, stuck_ns, budget));
            }
            Found::Inconclusive { steps, exhausted } => {
                report.steps += steps;
                report.inconclusive.push(InconclusiveKey {
                    key: key.key.to_vec(),
                    ops: key.origin.len(),
                    steps,
                    exhausted,
                });
            }
        }
    }
    Ok(report)
}

/// One key's sub-history, ready to search.
pub(crate) struct KeyOps<'a> {
    key: &'a [u8],
    /// The operations searched: unknown-outcome reads are left out, since
    /// they constrain nothing.
    ops: Vec<SearchOp>,
    /// For each of `ops`, its index in the history.
    origin: Vec<usize>,
    interner: Interner,
}

/// Splits the history by key (in key order) and interns each key's
/// operations, refusing oversized keys and replies that do not fit.
fn prepare_keys(history: &History<Command>) -> Result<Vec<KeyOps<'_>>, HistoryError> {
    let mut by_key: BTreeMap<&[u8], Vec<usize>> = BTreeMap::new();
    for (index, record) in history.records().iter().enumerate() {
        by_key.entry(&record.key).or_default().push(index);
    }
    let mut keys = Vec::with_capacity(by_key.len());
    for (key, indexes) in by_key {
        if indexes.len() > crate::KEY_OPS_MAX {
            return Err(HistoryError::KeyTooManyOps {
                key: key.to_vec(),
                ops: indexes.len(),
                max: crate::KEY_OPS_MAX,
            });
        }
        keys.push(prepare_key(history, key, &indexes)?);
    }
    Ok(keys)
}

fn prepare_key<'a>(
    history: &History<Command>,
    key: &'a [u8],
    indexes: &[usize],
) -> Result<KeyOps<'a>, HistoryError> {
    let mut interner = Interner::default();
    let mut ops = Vec::with_capacity(indexes.len());
    let mut origin = Vec::with_capacity(indexes.len());
    // In call order, so the search's linearized set is a dense prefix of
    // op numbers (what its memo stores compactly).
    let mut by_call = indexes.to_vec();
    by_call.sort_by_key(|&index| (history.records()[index].invoked_ns, index));
    for index in by_call {
        let record = &history.records()[index];
        if record.returned.is_none() && record.command.is_read_only() {
            continue;
        }
        let step = interner.step(&record.command);
        let out = match &record.returned {
            None => None,
            Some(returned) => Some(interner.out(step, &returned.reply).ok_or_else(|| {
                HistoryError::ReplyDoesNotFit {
                    op: index,
                    command: record.command.to_string(),
                    reply: returned.reply.clone(),
                }
            })?),
        };
        ops.push(SearchOp {
            step,
            out,
            call_ns: record.invoked_ns,
            ret_ns: record.returned.as_ref().map(|r| r.at_ns),
        });
        origin.push(index);
    }
    Ok(KeyOps {
        key,
        ops,
        origin,
        interner,
    })
}
