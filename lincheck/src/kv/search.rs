//! Wing & Gong's search with Lowe's memoization, over one key's history.
//!
//! The history's call and return events sit in one doubly linked list in
//! time order. Walking it from the front, the search tries to linearize
//! each call it meets (apply it to the model state; the reply must match);
//! a success lifts the operation's call and return out of the list and
//! restarts the walk. Meeting a return means the operation it ends was not
//! linearized although it must precede everything after it: undo the last
//! choice and try the next call instead. A configuration (set of
//! linearized operations, model state) already explored is not explored
//! again (Lowe): from the same configuration the rest of the search would
//! go the same way.
//!
//! An operation of unknown outcome has no return event: nothing forces it
//! into the linearization, so it may be linearized anywhere after its call
//! or never (never is the same as last, which nothing observes). The
//! search succeeds as soon as every operation that returned is linearized.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::model::{apply, Out, Step, Value};

/// One operation as the search sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchOp {
    pub step: Step,
    /// The observed reply; `None` for an unknown outcome.
    pub out: Option<Out>,
    pub call_ns: u64,
    /// `None` for an unknown outcome.
    pub ret_ns: Option<u64>,
}

/// How much one search may spend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub steps_max: u64,
    pub cache_bytes_max: usize,
}

/// Which budget ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// The step budget ([`crate::CheckOptions::steps_max`]).
    Steps,
    /// The memo cache's memory budget ([`crate::CheckOptions::cache_bytes_max`]).
    CacheBytes,
}

/// What one search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    /// A linearization: indexes into the ops, in order (only the ops it
    /// needed; unknown-outcome ops left out did not take effect).
    Linearizable {
        order: Vec<u32>,
        steps: u64,
    },
    /// No order. `stuck_ns` is the latest return at which the search had
    /// to back up: every prefix cut before it has an order (see
    /// `explain.rs`).
    Violation {
        steps: u64,
        stuck_ns: u64,
    },
    Inconclusive {
        steps: u64,
        exhausted: Exhausted,
    },
}

const NONE: u32 = u32::MAX;
const HEAD: u32 = 0;

/// A call or return event in the list; node 0 is the list's head.
#[derive(Debug, Clone, Copy)]
struct Node {
    op: u32,
    is_call: bool,
    /// For a call, its return's node (`NONE` for an unknown outcome).
    partner: u32,
    prev: u32,
    next: u32,
}

/// Searches for a linearization of `ops` from an absent register.
pub(crate) fn search(ops: &[SearchOp], budget: Budget) -> Found {
    debug_assert!(ops.len() < NONE as usize / 2, "caller enforces KEY_OPS_MAX");
    let mut list = List::new(ops);
    let mut cache = Cache::new(ops.len(), budget.cache_bytes_max);
    let zobrist: Vec<u64> = (0..ops.len() as u64).map(mix).collect();
    let mut linearized = vec![0u64; ops.len().div_ceil(64)];
    let mut set_hash = 0u64;
    let mut state = Value::Absent;
    let mut stack: Vec<(u32, Value)> = Vec::new();
    let mut must_linearize = ops.iter().filter(|op| op.ret_ns.is_some()).count();
    let mut entry = list.nodes[HEAD as usize].next;
    let mut steps = 0u64;
    let mut stuck_ns = 0u64;
    loop {
        if must_linearize == 0 {
            let order = stack.iter().map(|&(node, _)| list.op(node)).collect();
            return Found::Linearizable { order, steps };
        }
        steps += 1;
        if steps > budget.steps_max {
            return Found::Inconclusive {
                steps,
                exhausted: Exhausted::Steps,
            };
        }
        // A return is always met before the end while any returned
        // operation is left (its call comes first), so `NONE` is not
        // reached here; backtracking covers it anyway.
        if entry != NONE && list.nodes[entry as usize].is_call {
            let index = list.op(entry);
            let op = &ops[index as usize];
            let (next_state, out) = apply(state, op.step);
            if op.out.is_none_or(|observed| observed == out) {
                flip(&mut linearized, index);
                let hash = set_hash ^ zobrist[index as usize] ^ state_hash(next_state);
                match cache.insert(hash, &linearized, next_state) {
                    Err(()) => {
                        return Found::Inconclusive {
                            steps,
                            exhausted: Exhausted::CacheBytes,
                        }
                    }
                    Ok(true) => {
                        set_hash ^= zobrist[index as usize];
                        stack.push((entry, state));
                        state = next_state;
                        list.lift(entry);
                        must_linearize -= usize::from(op.ret_ns.is_some());
                        entry = list.nodes[HEAD as usize].next;
                        continue;
                    }
                    Ok(false) => flip(&mut linearized, index),
                }
            }
            entry = list.nodes[entry as usize].next;
        } else {
            if entry != NONE {
                let ret = ops[list.op(entry) as usize].ret_ns;
                stuck_ns = stuck_ns.max(ret.unwrap_or(0));
            }
            let Some((call, previous)) = stack.pop() else {
                return Found::Violation { steps, stuck_ns };
            };
            let index = list.op(call);
            flip(&mut linearized, index);
            set_hash ^= zobrist[index as usize];
            state = previous;
            list.unlift(call);
            must_linearize += usize::from(ops[index as usize].ret_ns.is_some());
            entry = list.nodes[call as usize].next;
        }
    }
}

fn flip(bits: &mut [u64], index: u32) {
    bits[index as usize / 64] ^= 1 << (index % 64);
}

/// SplitMix64's finalizer: a fixed, well-spread 64-bit mix, so the
/// search is deterministic.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn state_hash(state: Value) -> u64 {
    match state {
        Value::Absent => mix(u64::MAX),
        Value::Int(n) => mix(n as u64 ^ 0x5555_5555_5555_5555),
        Value::Str(id) => mix(u64::from(id) ^ 0xaaaa_aaaa_0000_0000),
    }
}

/// The events in time order; at equal times calls come before returns, so
/// an operation invoked at the instant another returned counts as
/// concurrent with it (the weaker claim).
struct List {
    nodes: Vec<Node>,
}

impl List {
    fn new(ops: &[SearchOp]) -> List {
        let mut events: Vec<(u64, bool, u32)> = Vec::with_capacity(ops.len() * 2);
        for (index, op) in ops.iter().enumerate() {
            events.push((op.call_ns, false, index as u32));
            if let Some(ret) = op.ret_ns {
                events.push((ret, true, index as u32));
            }
        }
        // (time, is_return, op): false sorts first, so calls lead ties.
        events.sort_unstable();
        let mut nodes = vec![Node {
            op: NONE,
            is_call: false,
            partner: NONE,
            prev: NONE,
            next: NONE,
        }];
        let mut call_node = vec![NONE; ops.len()];
        for (position, &(_, is_return, op)) in events.iter().enumerate() {
            let node = position as u32 + 1;
            if is_return {
                nodes[call_node[op as usize] as usize].partner = node;
            } else {
                call_node[op as usize] = node;
            }
            nodes.push(Node {
                op,
                is_call: !is_return,
                partner: NONE,
                prev: node - 1,
                next: if position + 1 < events.len() {
                    node + 1
                } else {
                    NONE
                },
            });
        }
        nodes[HEAD as usize].next = if events.is_empty() { NONE } else { 1 };
        List { nodes }
    }

    fn op(&self, node: u32) -> u32 {
        self.nodes[node as usize].op
    }

    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let partner = self.nodes[call as usize].partner;
        if partner != NONE {
            self.unlink(partner);
        }
    }

    /// Undoes `lift`, in the reverse order (dancing links).
    fn unlift(&mut self, call: u32) {
        let partner = self.nodes[call as usize].partner;
        if partner != NONE {
            self.relink(partner);
        }
        self.relink(call);
    }

    fn unlink(&mut self, node: u32) {
        let Node { prev, next, .. } = self.nodes[node as usize];
        self.nodes[prev as usize].next = next;
        if next != NONE {
            self.nodes[next as usize].prev = prev;
        }
    }

    fn relink(&mut self, node: u32) {
        let Node { prev, next, .. } = self.nodes[node as usize];
        self.nodes[prev as usize].next = node;
        if next != NONE {
            self.nodes[next as usize].prev = node;
        }
    }
}

/// A hasher that passes a `u64` through: the cache's keys are already
/// mixed hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Lowe's memo: every (linearized set, state) explored, compared exactly
/// (the hash only finds the bucket), kept in flat arenas.
struct Cache {
    words: usize,
    /// Hash to the newest entry with that hash; entries chain by `next`.
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    next: Vec<u32>,
    states: Vec<Value>,
    bits: Vec<u64>,
    entries_max: usize,
}

impl Cache {
    fn new(ops: usize, bytes_max: usize) -> Cache {
        let words = ops.div_ceil(64);
        // Arena words, the state, the chain link, and the map's share.
        let entry_bytes = words * 8 + std::mem::size_of::<Value>() + 4 + 16;
        Cache {
            words,
            heads: HashMap::default(),
            next: Vec::new(),
            states: Vec::new(),
            bits: Vec::new(),
            entries_max: (bytes_max / entry_bytes).clamp(1, NONE as usize - 1),
        }
    }

    /// True if new; `Err` when the memory budget is spent.
    fn insert(&mut self, hash: u64, bits: &[u64], state: Value) -> Result<bool, ()> {
        debug_assert_eq!(bits.len(), self.words);
        let head = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut at = head;
        while at != NONE {
            let entry = at as usize;
            let stored = &self.bits[entry * self.words..(entry + 1) * self.words];
            if self.states[entry] == state && stored == bits {
                return Ok(false);
            }
            at = self.next[entry];
        }
        if self.states.len() >= self.entries_max {
            return Err(());
        }
        let entry = self.states.len() as u32;
        self.states.push(state);
        self.next.push(head);
        self.bits.extend_from_slice(bits);
        self.heads.insert(hash, entry);
        Ok(true)
    }
}
