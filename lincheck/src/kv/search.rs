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
//! Each one left open stays a candidate for the rest of the key's history,
//! so proving a violation among many of them can take exponentially many
//! configurations; finding an order for a correct history stays quick,
//! since the search places them greedily.
//!
//! Memo entries are compact. Operations are numbered in call order and
//! the search places returned ones roughly in that order, so their bitset
//! is a run of full words, a short window and zeros: an entry stores the
//! run's length and the window (unknown-outcome operations, which may
//! stay out forever, have a bitset of their own, stored whole). On a
//! 10,000-operation key an entry is a few dozen bytes instead of 1.3 KB.

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

/// Which operations are linearized. Returned operations and those of
/// unknown outcome have separate bitsets: the search places returned ones
/// roughly in time order, so their bitset is a run of full words, a short
/// window, then zeros, which the memo stores compactly; unknown ones may
/// stay out forever and would break that run. `hash` is a Zobrist hash of
/// the whole set.
struct Linearized {
    /// Per op: in the returned bitset (else the unknown one), and its bit.
    slots: Vec<(bool, u32)>,
    returned: Vec<u64>,
    unknown: Vec<u64>,
    zobrist: Vec<u64>,
    hash: u64,
}

impl Linearized {
    fn new(ops: &[SearchOp]) -> Linearized {
        let (mut returned, mut unknown) = (0u32, 0u32);
        let slots = ops
            .iter()
            .map(|op| {
                let count = if op.ret_ns.is_some() {
                    &mut returned
                } else {
                    &mut unknown
                };
                *count += 1;
                (op.ret_ns.is_some(), *count - 1)
            })
            .collect();
        Linearized {
            slots,
            returned: vec![0; (returned as usize).div_ceil(64)],
            unknown: vec![0; (unknown as usize).div_ceil(64)],
            zobrist: (0..ops.len() as u64).map(mix).collect(),
            hash: 0,
        }
    }

    fn flip(&mut self, op: u32) {
        let (returned, bit) = self.slots[op as usize];
        let bits = if returned {
            &mut self.returned
        } else {
            &mut self.unknown
        };
        bits[bit as usize / 64] ^= 1 << (bit % 64);
        self.hash ^= self.zobrist[op as usize];
    }

    /// The returned bitset as (leading full words, the words after them up
    /// to the last non-zero one).
    fn returned_window(&self) -> (usize, &[u64]) {
        let full = self.returned.iter().take_while(|&&w| w == u64::MAX).count();
        let end = self
            .returned
            .iter()
            .rposition(|&w| w != 0)
            .map_or(0, |last| last + 1);
        (full, &self.returned[full..end.max(full)])
    }
}

/// Searches for a linearization of `ops` from an absent register.
pub(crate) fn search(ops: &[SearchOp], budget: Budget) -> Found {
    debug_assert!(ops.len() < NONE as usize / 2, "caller enforces KEY_OPS_MAX");
    let mut list = List::new(ops);
    let mut linearized = Linearized::new(ops);
    let mut cache = Cache::new(budget.cache_bytes_max);
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
                linearized.flip(index);
                match cache.insert(&linearized, next_state) {
                    Err(()) => {
                        return Found::Inconclusive {
                            steps,
                            exhausted: Exhausted::CacheBytes,
                        }
                    }
                    Ok(true) => {
                        stack.push((entry, state));
                        state = next_state;
                        list.lift(entry);
                        must_linearize -= usize::from(op.ret_ns.is_some());
                        entry = list.nodes[HEAD as usize].next;
                        continue;
                    }
                    Ok(false) => linearized.flip(index),
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
            linearized.flip(index);
            state = previous;
            list.unlift(call);
            must_linearize += usize::from(ops[index as usize].ret_ns.is_some());
            entry = list.nodes[call as usize].next;
        }
    }
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

/// One memo entry; its words live in the cache's arena.
#[derive(Debug, Clone, Copy)]
struct Entry {
    state: Value,
    /// The next entry with the same hash.
    next: u32,
    /// Where its words start in the arena: the returned window, then the
    /// unknown bitset.
    start: u32,
    /// Leading full words of the returned bitset, not stored.
    full: u32,
    window: u32,
}

/// Lowe's memo: every (linearized set, state) explored, compared exactly
/// (the hash only finds the bucket). The returned bitset is stored as its
/// window past the leading full words, so an entry costs a few words
/// rather than one bit per operation of the key.
struct Cache {
    /// Hash to the newest entry with that hash.
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    entries: Vec<Entry>,
    words: Vec<u64>,
    bytes: usize,
    bytes_max: usize,
}

impl Cache {
    fn new(bytes_max: usize) -> Cache {
        Cache {
            heads: HashMap::default(),
            entries: Vec::new(),
            words: Vec::new(),
            bytes: 0,
            bytes_max,
        }
    }

    /// True if new (then stored); `Err` when the memory budget is spent.
    fn insert(&mut self, linearized: &Linearized, state: Value) -> Result<bool, ()> {
        let hash = linearized.hash ^ state_hash(state);
        let (full, window) = linearized.returned_window();
        let head = self.heads.get(&hash).copied().unwrap_or(NONE);
        let mut at = head;
        while at != NONE {
            let entry = self.entries[at as usize];
            if entry.state == state
                && entry.full as usize == full
                && entry.window as usize == window.len()
            {
                let start = entry.start as usize;
                let stored_window = &self.words[start..start + window.len()];
                let unknown_at = start + window.len();
                let stored_unknown = &self.words[unknown_at..unknown_at + linearized.unknown.len()];
                if stored_window == window && stored_unknown == linearized.unknown.as_slice() {
                    return Ok(false);
                }
            }
            at = entry.next;
        }
        // The words, the entry, and the map's share of a slot.
        let cost =
            (window.len() + linearized.unknown.len()) * 8 + std::mem::size_of::<Entry>() + 16;
        let words_after = self.words.len() + window.len() + linearized.unknown.len();
        let addressable =
            words_after <= u32::MAX as usize && self.entries.len() < NONE as usize - 1;
        if self.bytes + cost > self.bytes_max || !addressable {
            return Err(());
        }
        self.bytes += cost;
        self.entries.push(Entry {
            state,
            next: head,
            start: self.words.len() as u32,
            full: full as u32,
            window: window.len() as u32,
        });
        self.words.extend_from_slice(window);
        self.words.extend_from_slice(&linearized.unknown);
        self.heads.insert(hash, self.entries.len() as u32 - 1);
        Ok(true)
    }
}
