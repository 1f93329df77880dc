//! Turning "no valid order" into a short account a person can read.
//!
//! The account rests on one sound cut. Take a moment `R` at which some
//! operation returned, and the key's operations invoked by `R`, with those
//! still running at `R` treated as unknown outcomes. If that prefix has no
//! valid order, neither has the whole history: any linearization of the
//! whole, cut at the first operation invoked after `R`, is one of the
//! prefix (operations running at `R` that it places later are dropped,
//! which an unknown outcome allows). The prefix grows with `R`, so there
//! is an earliest `R` by which the history is already wrong; the
//! operation(s) returning at `R` are the culprits.
//!
//! The failed search says where to look. Let `S` be the latest return at
//! which it had to back up. It reached `S` once with every operation that
//! returned before `S` placed, in an order whose prefix is an order of any
//! cut before `S`: so the earliest failing cut is `S` or later, and is
//! usually `S` itself (one more search shows it); otherwise a binary
//! search over the later returns finds it. Shown with the culprits: every
//! operation overlapping them, and the last few operations of a valid
//! order of everything before.

use std::fmt;

use super::command::Command;
use super::model::{apply, Value};
use super::search::{search, Budget, Found, SearchOp};
use super::KeyOps;
use crate::history::{History, OpId, Returned};
use crate::reply::Shown;

/// Operations of a valid order of the earlier prefix shown before the
/// culprits, to explain the value the key held.
const CONTEXT_OPS: usize = 4;
/// Most operations listed in one violation's window.
const WINDOW_OPS_MAX: usize = 24;

/// One operation as a violation report lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownOp {
    /// The operation.
    pub id: OpId,
    /// Its client.
    pub client: u64,
    /// Its command.
    pub command: Command,
    /// When it was invoked.
    pub invoked_ns: u64,
    /// What came back, if anything did.
    pub returned: Option<Returned>,
    /// True for an operation returning at the cut: one that no valid order
    /// can explain.
    pub culprit: bool,
}

/// One key without a valid order, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvViolation {
    /// The key.
    pub key: Vec<u8>,
    /// The earliest return time by which the key's history already has no
    /// valid order.
    pub cut_ns: u64,
    /// The operations returning at `cut_ns`.
    pub culprits: Vec<OpId>,
    /// Operations invoked by `cut_ns` (the failing prefix).
    pub prefix_ops: usize,
    /// The value the key holds after one valid order of the operations
    /// before the cut (`None` when the explanation's own search ran out of
    /// budget; `Some(None)` for absent).
    pub value_before: Option<Option<Vec<u8>>>,
    /// The culprits, the operations overlapping them, and context, by
    /// invocation time.
    pub window: Vec<ShownOp>,
    /// Operations of the failing prefix not in the window.
    pub not_shown: usize,
    /// Restarts marked between the window's first invocation and the cut.
    pub restarts_ns: Vec<u64>,
}

/// A prefix of the key's operations as a searchable sub-history.
struct Prefix {
    ops: Vec<SearchOp>,
    /// For each of `ops`, its index in the key's ops.
    from: Vec<usize>,
}

/// The key's operations invoked by `cut`, those still running then made
/// unknown (and dropped when they are reads, which then say nothing).
fn prefix(key: &KeyOps<'_>, cut: u64) -> Prefix {
    let mut ops = Vec::new();
    let mut from = Vec::new();
    for (index, op) in key.ops.iter().enumerate() {
        if op.call_ns > cut {
            continue;
        }
        let mut op = *op;
        if op.ret_ns.is_none_or(|ret| ret > cut) {
            if op.step == super::model::Step::Get {
                continue;
            }
            op.ret_ns = None;
            op.out = None;
        }
        ops.push(op);
        from.push(index);
    }
    Prefix { ops, from }
}

fn violates(key: &KeyOps<'_>, cut: u64, budget: Budget) -> bool {
    matches!(
        search(&prefix(key, cut).ops, budget),
        Found::Violation { .. }
    )
}

/// Explains a key whose whole history has no valid order; `stuck_ns` is
/// from the failed search.
pub(crate) fn explain(
    history: &History<Command>,
    key: &KeyOps<'_>,
    stuck_ns: u64,
    budget: Budget,
) -> KvViolation {
    let mut returns: Vec<u64> = key.ops.iter().filter_map(|op| op.ret_ns).collect();
    returns.sort_unstable();
    returns.dedup();
    // The last cut is the whole history (operations invoked after the last
    // return are all unknown and constrain nothing), known to violate; no
    // cut before `stuck_ns` does.
    let mut low = returns.partition_point(|&at| at < stuck_ns);
    let mut high = returns.len().saturating_sub(1);
    if low < high && violates(key, returns[low], budget) {
        high = low;
    }
    while low < high {
        let middle = (low + high) / 2;
        if violates(key, returns[middle], budget) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let cut = returns.get(low).copied().unwrap_or(0);
    let before = low.checked_sub(1).map(|earlier| returns[earlier]);
    let culprits: Vec<usize> = (0..key.ops.len())
        .filter(|&i| key.ops[i].ret_ns == Some(cut))
        .collect();
    let order = before.and_then(|earlier| valid_order(key, earlier, budget));
    let value_before = match (&order, before) {
        (Some(order), _) => Some(final_value(key, order)),
        (None, None) => Some(None),
        (None, Some(_)) => None,
    };
    let failing = prefix(key, cut);
    let chosen = window(key, &failing, &culprits, order.as_deref().unwrap_or(&[]));
    let shown = chosen.iter().map(|&i| shown_op(history, key, i, &culprits));
    let window: Vec<ShownOp> = shown.collect();
    let first_ns = window.iter().map(|op| op.invoked_ns).min().unwrap_or(cut);
    let restarts_ns = history
        .restarts_ns()
        .iter()
        .copied()
        .filter(|&at| at >= first_ns && at <= cut)
        .collect();
    KvViolation {
        key: key.key.to_vec(),
        cut_ns: cut,
        culprits: culprits.iter().map(|&i| OpId(key.origin[i])).collect(),
        prefix_ops: failing.ops.len(),
        value_before,
        not_shown: failing.ops.len().saturating_sub(window.len()),
        window,
        restarts_ns,
    }
}

/// A valid order of the prefix at `cut`, as indexes into the key's ops.
fn valid_order(key: &KeyOps<'_>, cut: u64, budget: Budget) -> Option<Vec<usize>> {
    let earlier = prefix(key, cut);
    match search(&earlier.ops, budget) {
        Found::Linearizable { order, .. } => Some(
            order
                .into_iter()
                .map(|i| earlier.from[i as usize])
                .collect(),
        ),
        _ => None,
    }
}

fn final_value(key: &KeyOps<'_>, order: &[usize]) -> Option<Vec<u8>> {
    let state = order
        .iter()
        .fold(Value::Absent, |state, &i| apply(state, key.ops[i].step).0);
    key.interner.bytes(state).map(|bytes| bytes.into_owned())
}

/// Which of the key's ops to show, by invocation time: the culprits, the
/// ops overlapping them, and the tail of the valid earlier order; all of
/// the failing prefix when it is short.
fn window(key: &KeyOps<'_>, failing: &Prefix, culprits: &[usize], order: &[usize]) -> Vec<usize> {
    let mut chosen: Vec<usize> = if failing.from.len() <= WINDOW_OPS_MAX {
        failing.from.clone()
    } else {
        let start = culprits.iter().map(|&i| key.ops[i].call_ns).min();
        let end = culprits.iter().filter_map(|&i| key.ops[i].ret_ns).max();
        let overlapping = failing.from.iter().copied().filter(|&i| {
            let op = &key.ops[i];
            let ends_after_start = op.ret_ns.is_none_or(|ret| Some(ret) >= start);
            ends_after_start && Some(op.call_ns) <= end && !culprits.contains(&i)
        });
        let context = order.iter().rev().take(CONTEXT_OPS).copied();
        let mut chosen: Vec<usize> = culprits.to_vec();
        for i in overlapping.chain(context) {
            if chosen.len() < WINDOW_OPS_MAX && !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        chosen
    };
    chosen.sort_by_key(|&i| (key.ops[i].call_ns, i));
    chosen
}

fn shown_op(
    history: &History<Command>,
    key: &KeyOps<'_>,
    index: usize,
    culprits: &[usize],
) -> ShownOp {
    let id = OpId(key.origin[index]);
    let record = &history.records()[id.0];
    ShownOp {
        id,
        client: record.client,
        command: record.command.clone(),
        invoked_ns: record.invoked_ns,
        returned: record.returned.clone(),
        culprit: culprits.contains(&index),
    }
}

impl fmt::Display for KvViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let culprits: Vec<String> = self
            .culprits
            .iter()
            .map(|op| format!("#{}", op.0))
            .collect();
        writeln!(
            f,
            "key {}: no valid order of its first {} operations: {} returned at {} ns and no \
             order of the operations before and beside it explains its reply",
            Shown(&self.key),
            self.prefix_ops,
            culprits.join(", "),
            self.cut_ns
        )?;
        match &self.value_before {
            Some(Some(value)) => writeln!(
                f,
                "  one valid order of the earlier operations leaves the key holding {}",
                Shown(value)
            )?,
            Some(None) => writeln!(
                f,
                "  one valid order of the earlier operations leaves the key absent"
            )?,
            None => {}
        }
        let base = self
            .window
            .iter()
            .map(|op| op.invoked_ns)
            .min()
            .unwrap_or(0);
        writeln!(f, "  times in ns after {base}:")?;
        for op in &self.window {
            writeln!(f, "  {}", ShownLine { op, base })?;
        }
        for at in &self.restarts_ns {
            writeln!(f, "    restart marked at +{}", at - base)?;
        }
        if self.not_shown > 0 {
            writeln!(f, "    ({} earlier operations not shown)", self.not_shown)?;
        }
        Ok(())
    }
}

/// One line of a window.
struct ShownLine<'a> {
    op: &'a ShownOp,
    base: u64,
}

impl fmt::Display for ShownLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.op;
        let marker = if op.culprit { ">" } else { " " };
        let invoked = op.invoked_ns - self.base;
        match &op.returned {
            Some(returned) => write!(
                f,
                "{marker} #{:<5} client {:<4} [+{invoked}, +{}] {} -> {}",
                op.id.0,
                op.client,
                returned.at_ns - self.base,
                op.command,
                returned.reply
            ),
            None => write!(
                f,
                "{marker} #{:<5} client {:<4} [+{invoked}, ?] {} -> ? (unknown outcome)",
                op.id.0, op.client, op.command
            ),
        }
    }
}
