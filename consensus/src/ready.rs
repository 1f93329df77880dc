//! What a replica hands its caller after some input: the I/O to do.
//!
//! The order is the safety contract:
//!
//! 1. `messages` may be sent at once (nothing in them depends on durable
//!    state: heartbeats, the leader's own accepts, catch-up replies).
//! 2. `persist` must be durable (written *and* synced) before
//!    `persisted_messages` leave the process, because those messages are
//!    promises and acceptances that peers will count on.
//! 3. `committed` entries go to the state machine in slot order; they are
//!    chosen, so applying them before `persist` is synced is fine.
//! 4. `install_snapshot`, if present, replaces the state machine's state and
//!    comes before `committed` (which then continues from its slot).
//! 5. Call `Replica::advance()` once all that is done.

use crate::message::Message;
use crate::types::{Ballot, Committed, Slot, SlotEntry, Snapshot};

/// Acceptor state that must survive a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persist {
    /// New promised ballot, if it changed.
    pub promised: Option<Ballot>,
    /// Accepted or learned-chosen values, in the order produced. A later
    /// record for the same slot supersedes an earlier one.
    pub entries: Vec<SlotEntry>,
    /// A snapshot to store; entries at or below its slot may be discarded.
    pub snapshot: Option<Snapshot>,
}

impl Persist {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.promised.is_none() && self.entries.is_empty() && self.snapshot.is_none()
    }
}

/// The output of a replica, to be acted on in the documented order.
#[derive(Debug, Default)]
pub struct Ready {
    /// Send now.
    pub messages: Vec<Message>,
    /// Write and sync before sending `persisted_messages`.
    pub persist: Persist,
    /// Send only once `persist` is durable.
    pub persisted_messages: Vec<Message>,
    /// Replace the state machine's state with this snapshot first.
    pub install_snapshot: Option<Snapshot>,
    /// Apply in order.
    pub committed: Vec<Committed>,
    /// Compaction hook: the log holds many applied slots; the state machine
    /// should call `Replica::compact` with a snapshot at a slot it applied.
    pub snapshot_wanted: Option<Slot>,
}

impl Ready {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.persist.is_empty()
            && self.persisted_messages.is_empty()
            && self.install_snapshot.is_none()
            && self.committed.is_empty()
            && self.snapshot_wanted.is_none()
    }
}
