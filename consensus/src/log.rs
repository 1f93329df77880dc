//! The acceptor's log: one optional accepted value per slot, from the first
//! slot the snapshot does not cover. Gaps are allowed (Paxos accepts slots
//! out of order); `None` marks a slot not yet accepted.

use std::collections::VecDeque;

use crate::types::{Ballot, Entry, Slot};

/// What an acceptor holds for one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogSlot {
    /// Ballot it was accepted in, or `Ballot::CHOSEN` once learned chosen.
    pub ballot: Ballot,
    /// The value.
    pub entry: Entry,
}

/// Slots `start..start + slots.len()`.
#[derive(Debug)]
pub(crate) struct Log {
    start: Slot,
    slots: VecDeque<Option<LogSlot>>,
}

impl Log {
    /// An empty log whose first slot is `start`.
    pub fn new(start: Slot) -> Log {
        assert!(start >= 1);
        Log {
            start,
            slots: VecDeque::new(),
        }
    }

    /// First slot held; everything below is covered by the snapshot.
    pub fn start(&self) -> Slot {
        self.start
    }

    /// Highest slot with a value, or `start - 1` when empty.
    pub fn last(&self) -> Slot {
        self.start + self.slots.len() as Slot - 1
    }

    /// The value at `slot`, if held.
    pub fn get(&self, slot: Slot) -> Option<&LogSlot> {
        if slot < self.start {
            return None;
        }
        self.slots.get((slot - self.start) as usize)?.as_ref()
    }

    /// Stores a value, growing the log with gaps as needed.
    pub fn set(&mut self, slot: Slot, value: LogSlot) {
        assert!(
            slot >= self.start,
            "slot {slot} below log start {}",
            self.start
        );
        let index = (slot - self.start) as usize;
        while self.slots.len() <= index {
            self.slots.push_back(None);
        }
        self.slots[index] = Some(value);
    }

    /// Drops every slot up to and including `through`.
    pub fn compact(&mut self, through: Slot) {
        while self.start <= through {
            self.slots.pop_front();
            self.start += 1;
        }
        debug_assert!(self.start > through);
    }

    /// Values from `from` to the end, with their slots.
    pub fn iter_from(&self, from: Slot) -> impl Iterator<Item = (Slot, &LogSlot)> {
        let from = from.max(self.start);
        let skip = (from - self.start) as usize;
        self.slots
            .iter()
            .enumerate()
            .skip(skip)
            .filter_map(move |(i, value)| value.as_ref().map(|v| (self.start + i as Slot, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(round: u64) -> LogSlot {
        LogSlot {
            ballot: Ballot { round, node: 0 },
            entry: Entry::Noop,
        }
    }

    #[test]
    fn gaps_compaction_and_iteration() {
        let mut log = Log::new(1);
        assert_eq!(log.last(), 0);
        log.set(3, value(1));
        assert_eq!(log.last(), 3);
        assert!(log.get(2).is_none());
        log.set(1, value(2));
        let slots: Vec<Slot> = log.iter_from(0).map(|(s, _)| s).collect();
        assert_eq!(slots, vec![1, 3]);
        log.compact(2);
        assert_eq!(log.start(), 3);
        assert!(log.get(1).is_none());
        assert_eq!(log.get(3), Some(&value(1)));
    }
}
