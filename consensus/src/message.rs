//! Messages between replicas of one shard group, and their wire encoding.
//!
//! Every type derives rkyv's `Archive`. Bytes that arrive from the network
//! are untrusted: [`decode`] validates them with bytecheck before anything
//! reads them, and turns garbage into an error, never a panic.

use rkyv::{rancor, util::AlignedVec, Archive, Deserialize, Serialize};

use crate::types::{Ballot, Entry, NodeId, Slot, SlotEntry, Snapshot};

/// Largest encoded message [`decode`] accepts, in bytes. A frame this size
/// holds a full window of maximal batches; anything larger is a bug or an
/// attack, and refusing it bounds the memory a peer can make us spend.
pub const MESSAGE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// An addressed message.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// What it says.
    pub body: Body,
}

/// The protocol's message kinds.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Phase 1a: a candidate asks for a promise.
    Prepare(Prepare),
    /// Phase 1b: an acceptor promises and reports what it accepted.
    Promise(Promise),
    /// An acceptor refuses a ballot lower than one it promised.
    Reject(Reject),
    /// Phase 2a: the leader asks acceptors to accept entries.
    Accept(Accept),
    /// Phase 2b: an acceptor accepted (and persisted) entries.
    Accepted(Accepted),
    /// The leader is alive: renews leases, carries the commit notice.
    Heartbeat(Heartbeat),
    /// A follower granted the lease for one heartbeat.
    HeartbeatAck(HeartbeatAck),
    /// A lagging replica asks for chosen entries from a slot on.
    CatchUp(CatchUp),
    /// Chosen entries, answering `CatchUp`.
    Chosen(Chosen),
    /// A snapshot, answering `CatchUp` below the sender's compacted log.
    InstallSnapshot(InstallSnapshot),
}

/// Phase 1a.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Prepare {
    /// The candidate's ballot.
    pub ballot: Ballot,
    /// The candidate already knows every slot below this is chosen.
    pub from_slot: Slot,
}

/// Phase 1b.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Promise {
    /// The ballot promised.
    pub ballot: Ballot,
    /// Echo of the prepare's `from_slot`.
    pub from_slot: Slot,
    /// First slot the acceptor still holds (its snapshot covers the rest).
    /// If above `from_slot`, the promise cannot vouch for the gap.
    pub log_start: Slot,
    /// Everything the acceptor accepted at or above `from_slot`; slots it
    /// knows chosen carry `Ballot::CHOSEN`.
    pub accepted: Vec<SlotEntry>,
}

/// A refusal: the acceptor has promised a higher ballot.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The ballot being refused.
    pub ballot: Ballot,
    /// The higher ballot the acceptor promised.
    pub promised: Ballot,
}

/// Phase 2a, for a run of consecutive slots.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Accept {
    /// The leader's ballot.
    pub ballot: Ballot,
    /// Slot of `entries[0]`.
    pub first_slot: Slot,
    /// Values for `first_slot..first_slot + entries.len()`.
    pub entries: Vec<Entry>,
    /// Commit notice: every slot up to this is chosen.
    pub commit: Slot,
}

/// Phase 2b.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The ballot accepted.
    pub ballot: Ballot,
    /// First slot accepted.
    pub first_slot: Slot,
    /// Number of consecutive slots accepted.
    pub count: u32,
}

/// Leader liveness, lease renewal and commit notice.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The leader's ballot.
    pub ballot: Ballot,
    /// Commit notice: every slot up to this is chosen.
    pub commit: Slot,
    /// Heartbeat sequence number, echoed by the ack.
    pub seq: u64,
}

/// A follower's lease grant for one heartbeat.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatAck {
    /// The leader's ballot.
    pub ballot: Ballot,
    /// The heartbeat acknowledged.
    pub seq: u64,
}

/// A request for chosen entries.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct CatchUp {
    /// First slot the requester lacks.
    pub from_slot: Slot,
}

/// Chosen entries.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    /// Slot of `entries[0]`.
    pub first_slot: Slot,
    /// Chosen values for consecutive slots.
    pub entries: Vec<Entry>,
}

/// A snapshot for a replica that lags below the sender's compacted log.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct InstallSnapshot {
    /// The snapshot.
    pub snapshot: Snapshot,
}

/// Why bytes could not be decoded into a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than `MESSAGE_BYTES_MAX`.
    TooLarge {
        /// The length offered.
        len: usize,
    },
    /// bytecheck rejected the bytes.
    Invalid(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::TooLarge { len } => {
                write!(f, "message of {len} bytes exceeds {MESSAGE_BYTES_MAX}")
            }
            DecodeError::Invalid(why) => write!(f, "invalid message bytes: {why}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Encodes a message for the wire.
pub fn encode(message: &Message) -> AlignedVec {
    // Serializing plain owned data into a growable buffer cannot fail.
    rkyv::to_bytes::<rancor::Error>(message).expect("serializing a Message cannot fail")
}

/// Validates and decodes bytes from the network. Never panics on garbage.
pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    if bytes.len() > MESSAGE_BYTES_MAX {
        return Err(DecodeError::TooLarge { len: bytes.len() });
    }
    // rkyv needs the archive aligned; a network buffer may not be.
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<Message, rancor::Error>(&aligned)
        .map_err(|error| DecodeError::Invalid(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prng::Prng;

    fn sample() -> Message {
        Message {
            from: 1,
            to: 2,
            body: Body::Accept(Accept {
                ballot: Ballot { round: 3, node: 1 },
                first_slot: 9,
                entries: vec![Entry::Batch(vec![b"set k v".to_vec()].into()), Entry::Noop],
                commit: 8,
            }),
        }
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let message = sample();
        assert_eq!(decode(&encode(&message)).unwrap(), message);
    }

    #[test]
    fn garbage_bytes_are_rejected_not_panicking() {
        let mut prng = Prng::new(0x5eed);
        let mut rejected = 0;
        for len in 0..512usize {
            let garbage: Vec<u8> = (0..len).map(|_| prng.next_u64() as u8).collect();
            if decode(&garbage).is_err() {
                rejected += 1;
            }
        }
        // Random bytes essentially never form a valid archive.
        assert!(
            rejected >= 500,
            "only {rejected} of 512 garbage inputs rejected"
        );
        // Flipping bytes of a valid message must never panic either.
        let good = encode(&sample()).to_vec();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            let _ = decode(&bad);
        }
        let truncated = &good[..good.len() / 2];
        assert!(decode(truncated).is_err());
    }
}
