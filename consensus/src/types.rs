//! The nouns of the protocol: node ids, slots, ballots and log entries.

use std::sync::Arc;

use rkyv::{Archive, Deserialize, Serialize};

/// A replica's identity inside its shard group.
pub type NodeId = u32;

/// A position in the replicated log. Slot 0 is "before the first entry"; the
/// first real entry lives in slot 1.
pub type Slot = u64;

/// A Paxos ballot: a round number made unique by the proposer's node id.
///
/// Ballots order by round first, then node id, so two proposers never share
/// a ballot and every proposer can always pick one higher than any it saw.
#[derive(
    Archive,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
pub struct Ballot {
    /// Round number; a new candidacy takes one higher than any it has seen.
    pub round: u64,
    /// The proposer that owns this ballot.
    pub node: NodeId,
}

impl Ballot {
    /// The ballot nobody has promised yet.
    pub const ZERO: Ballot = Ballot { round: 0, node: 0 };

    /// Marks a slot whose value is known to be chosen (learned, not voted).
    /// It sorts above every real ballot, so phase 1 always keeps a chosen
    /// value over any merely accepted one.
    pub const CHOSEN: Ballot = Ballot {
        round: u64::MAX,
        node: NodeId::MAX,
    };

    /// True for the `CHOSEN` marker.
    pub fn is_chosen(self) -> bool {
        self == Ballot::CHOSEN
    }
}

/// The value of one log slot.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// Fills a slot a new leader found empty, and marks the start of its
    /// ballot so it can serve lease reads once it commits.
    Noop,
    /// A batch of client commands, opaque to consensus. Shared, not owned:
    /// an entry goes to every follower, to storage and to the state
    /// machine, and each of those is a reference-count increment instead of
    /// one allocation per command (which was most of the in-memory
    /// benchmark's time).
    Batch(Arc<[Vec<u8>]>),
    /// A configuration entry. Membership change is a later issue: today the
    /// replica commits and delivers it like any other entry but does not act
    /// on it. It is here so the log format already has room for it.
    Config(Membership),
}

impl Entry {
    /// Number of client commands in this entry.
    pub fn command_count(&self) -> usize {
        match self {
            Entry::Batch(commands) => commands.len(),
            Entry::Noop | Entry::Config(_) => 0,
        }
    }
}

/// The voting members of a shard group.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Membership {
    /// Node ids of the voters.
    pub voters: Vec<NodeId>,
}

/// An entry with its slot and the ballot it was accepted in.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SlotEntry {
    /// Where in the log.
    pub slot: Slot,
    /// The ballot it was accepted in, or `Ballot::CHOSEN` once known chosen.
    pub ballot: Ballot,
    /// The value.
    pub entry: Entry,
}

/// A state machine snapshot covering every slot up to and including `slot`.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Last slot the snapshot includes.
    pub slot: Slot,
    /// The state machine's own encoding; opaque to consensus.
    pub data: Vec<u8>,
}

/// One committed entry handed to the state machine, in slot order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Its slot; consecutive across `Ready`s.
    pub slot: Slot,
    /// The chosen value.
    pub entry: Entry,
}
