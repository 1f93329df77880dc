//! Safety invariants, checked continuously while the simulation runs.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use pinwheel_consensus::{Ballot, Entry, NodeId, Slot};

/// A client-visible position in the log order: (slot, index in batch).
/// Reads that observed the whole of slot `s` sit at `(s, u32::MAX)`.
pub type Pos = (Slot, u32);

/// Hash of a log entry, stable across runs (SipHash with fixed keys).
pub fn entry_hash(entry: &Entry) -> u64 {
    let mut hasher = DefaultHasher::new();
    entry.hash(&mut hasher);
    hasher.finish()
}

/// Every invariant the simulator checks, and the evidence it keeps.
#[derive(Default)]
pub struct Checker {
    quorum: usize,
    /// The value each (slot, ballot) proposal carried.
    proposals: HashMap<(Slot, Ballot), u64>,
    /// Which acceptors durably accepted each (slot, ballot).
    votes: HashMap<(Slot, Ballot), u32>,
    /// Value chosen per slot (a majority accepted it in one ballot).
    chosen: HashMap<Slot, u64>,
    /// Highest ballot each acceptor ever promised or accepted.
    promised_max: Vec<Ballot>,
    /// Committed entry per slot, as first applied by any replica.
    committed: HashMap<Slot, u64>,
    /// State machine hash after applying each slot.
    states: HashMap<Slot, u64>,
    /// First occurrence and result of each client command in log order.
    firsts: HashMap<(u32, u64), (Pos, u64)>,
    /// Highest position any acknowledged operation revealed to a client.
    frontier: Pos,
    /// Distinct client commands committed.
    pub commits: u64,
    /// The first violation found, if any.
    pub violation: Option<String>,
}

impl Checker {
    /// A checker for a group of `replicas` nodes.
    pub fn new(replicas: usize) -> Checker {
        Checker {
            quorum: replicas / 2 + 1,
            promised_max: vec![Ballot::ZERO; replicas],
            ..Checker::default()
        }
    }

    /// Records a violation (only the first is kept).
    pub fn fail(&mut self, what: String) {
        if self.violation.is_none() {
            self.violation = Some(what);
        }
    }

    /// An acceptor made a promise visible (a Promise sent, or its own
    /// candidacy persisted). Promises never go backwards, crash or not.
    pub fn on_promise(&mut self, node: NodeId, ballot: Ballot) {
        let held = self.promised_max[node as usize];
        if ballot < held {
            self.fail(format!(
                "acceptor {node} promised {ballot:?} after promising or accepting {held:?}"
            ));
        }
        self.promised_max[node as usize] = held.max(ballot);
    }

    /// An acceptor durably accepted `entry` at (`slot`, `ballot`).
    pub fn on_accepted(&mut self, node: NodeId, slot: Slot, ballot: Ballot, entry: &Entry) {
        if ballot.is_chosen() {
            return self.on_learned_chosen(node, slot, entry);
        }
        let held = self.promised_max[node as usize];
        if ballot < held {
            self.fail(format!(
                "acceptor {node} accepted slot {slot} at {ballot:?} below its promise {held:?}"
            ));
        }
        self.promised_max[node as usize] = held.max(ballot);
        let hash = entry_hash(entry);
        let proposal = *self.proposals.entry((slot, ballot)).or_insert(hash);
        if proposal != hash {
            self.fail(format!(
                "two values proposed for slot {slot} in ballot {ballot:?}"
            ));
        }
        let votes = self.votes.entry((slot, ballot)).or_insert(0);
        *votes |= 1 << node;
        if votes.count_ones() as usize >= self.quorum {
            self.on_chosen(slot, hash, &format!("majority at {ballot:?}"));
        }
    }

    fn on_learned_chosen(&mut self, node: NodeId, slot: Slot, entry: &Entry) {
        let hash = entry_hash(entry);
        if let Some(&chosen) = self.chosen.get(&slot) {
            if chosen != hash {
                self.fail(format!(
                    "acceptor {node} learned a value for slot {slot} that was not chosen"
                ));
            }
        }
    }

    fn on_chosen(&mut self, slot: Slot, hash: u64, how: &str) {
        match self.chosen.get(&slot) {
            Some(&earlier) if earlier != hash => {
                self.fail(format!(
                    "two different batches chosen for slot {slot} ({how})"
                ));
            }
            _ => {
                self.chosen.insert(slot, hash);
            }
        }
    }

    /// A replica applied `entry` at `slot`, reaching state `state_hash`.
    pub fn on_applied(&mut self, node: NodeId, slot: Slot, entry: &Entry, state_hash: u64) {
        let hash = entry_hash(entry);
        let first = *self.committed.entry(slot).or_insert(hash);
        if first != hash {
            self.fail(format!(
                "replica {node} committed a different entry at slot {slot}"
            ));
        }
        if let Some(&chosen) = self.chosen.get(&slot) {
            if chosen != hash {
                self.fail(format!(
                    "replica {node} committed an unchosen value at slot {slot}"
                ));
            }
        }
        self.on_state(node, slot, state_hash);
    }

    /// A replica's state machine stands at `slot` with `state_hash`.
    pub fn on_state(&mut self, node: NodeId, slot: Slot, state_hash: u64) {
        let first = *self.states.entry(slot).or_insert(state_hash);
        if first != state_hash {
            self.fail(format!(
                "replica {node} has a different state after slot {slot}"
            ));
        }
    }

    /// A client command took effect for the first time at `pos`.
    pub fn on_first_apply(&mut self, key: (u32, u64), pos: Pos, result: u64) {
        let recorded = *self.firsts.entry(key).or_insert_with(|| {
            self.commits += 1;
            (pos, result)
        });
        if recorded != (pos, result) {
            self.fail(format!(
                "command {key:?} first applied differently on two replicas"
            ));
        }
    }

    /// Position new operations must follow.
    pub fn frontier(&self) -> Pos {
        self.frontier
    }

    /// A client got `result` for command `key`, invoked when the frontier was
    /// `frontier_at_invoke`. Checks the result against log order and that
    /// the command took effect after everything acknowledged before it began.
    pub fn on_write_acked(&mut self, key: (u32, u64), result: u64, frontier_at_invoke: Pos) {
        let Some(&(pos, expected)) = self.firsts.get(&key) else {
            return self.fail(format!("command {key:?} acknowledged but never applied"));
        };
        if result != expected {
            self.fail(format!(
                "command {key:?} returned {result}, log order gives {expected}"
            ));
        }
        if pos <= frontier_at_invoke {
            self.fail(format!(
                "command {key:?} took effect at {pos:?}, before {frontier_at_invoke:?} acknowledged ahead of it"
            ));
        }
        self.frontier = self.frontier.max(pos);
    }

    /// A lease read observed the state after `slot`.
    pub fn on_read_acked(&mut self, node: NodeId, slot: Slot, frontier_at_invoke: Pos) {
        let pos = (slot, u32::MAX);
        if pos < frontier_at_invoke {
            self.fail(format!(
                "stale lease read on replica {node}: saw slot {slot}, but {frontier_at_invoke:?} was acknowledged before the read began"
            ));
        }
        self.frontier = self.frontier.max(pos);
    }
}
