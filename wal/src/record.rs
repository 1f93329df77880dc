//! Records: what consensus asks to persist, one per frame.
//!
//! Payload layout (all integers little-endian):
//!
//! ```text
//! group u32 | kind u8 | body
//!   Promise       round u64 | node u32                        (body: 12 bytes)
//!   Entry         slot u64 | round u64 | node u32 | entry...  (20 + n)
//!   Chosen        slot u64 | round u64 | node u32 | entry...  (20 + n)
//!   SnapshotMark  slot u64 | size u64 | crc32c u32 | name_len u8 | name
//! ```
//!
//! The entry is opaque bytes: the consensus crate owns its encoding. Kind 0
//! is never used (zeros are the preallocated end of a segment); kinds 5 to
//! 255 are room for later formats, and this build reports them as
//! [`DecodeError::UnknownKind`] rather than skipping them.

use crate::error::{Corruption, DecodeError, EncodeError};
use crate::frame::{decode_frame, put_frame, FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX};

/// Bytes of every payload before its body: the group and the kind.
pub const PAYLOAD_PREFIX_BYTES: usize = 5;
/// Body bytes of an entry or chosen record before the entry itself.
pub const SLOT_ENTRY_PREFIX_BYTES: usize = 20;
/// Longest snapshot file name a mark may carry: 255 bytes, the longest
/// file name Linux file systems allow.
pub const SNAPSHOT_NAME_BYTES_MAX: usize = 255;

const PROMISE_BODY_BYTES: usize = 12;
const SNAPSHOT_PREFIX_BYTES: usize = 21;

/// A Paxos ballot as the log stores it; the consensus crate's `Ballot`
/// converts field for field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ballot {
    /// Round number.
    pub round: u64,
    /// The proposer that owns the round.
    pub node: u32,
}

/// The kind byte of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A promised ballot.
    Promise = 1,
    /// An accepted entry.
    Entry = 2,
    /// An entry learned as chosen.
    Chosen = 3,
    /// A snapshot that covers a group's slots up to one.
    SnapshotMark = 4,
}

impl Kind {
    /// Every kind this build knows.
    pub const ALL: [Kind; 4] = [Kind::Promise, Kind::Entry, Kind::Chosen, Kind::SnapshotMark];

    /// The kind for a byte, if this build knows it.
    pub fn from_byte(byte: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == byte)
    }

    /// Lower-case name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Promise => "promise",
            Kind::Entry => "entry",
            Kind::Chosen => "chosen",
            Kind::SnapshotMark => "snapshot-mark",
        }
    }
}

/// An entry at a slot, accepted (or learned chosen) in a ballot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotEntry<'a> {
    /// The log slot.
    pub slot: u64,
    /// The ballot it was accepted in.
    pub ballot: Ballot,
    /// The consensus crate's encoding of the entry; opaque here.
    pub entry: &'a [u8],
}

/// A snapshot stored beside the log, covering a group's slots up to `slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotMark<'a> {
    /// Last slot the snapshot includes.
    pub slot: u64,
    /// The snapshot file's name (a plain name, no directory).
    pub name: &'a str,
    /// The snapshot file's size in bytes.
    pub size: u64,
    /// CRC-32C of the snapshot file's bytes.
    pub checksum: u32,
}

/// What a record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// The group's acceptor promised this ballot.
    Promise(Ballot),
    /// The group's acceptor accepted this entry.
    Entry(SlotEntry<'a>),
    /// The group learned this entry was chosen.
    Chosen(SlotEntry<'a>),
    /// A snapshot of the group was stored.
    SnapshotMark(SnapshotMark<'a>),
}

impl Body<'_> {
    /// The record's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Body::Promise(_) => Kind::Promise,
            Body::Entry(_) => Kind::Entry,
            Body::Chosen(_) => Kind::Chosen,
            Body::SnapshotMark(_) => Kind::SnapshotMark,
        }
    }
}

/// One record: a group and what it persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The shard group the record belongs to.
    pub group: u32,
    /// Its content.
    pub body: Body<'a>,
}

impl<'a> Record<'a> {
    /// Payload bytes (group, kind and body) this record encodes to.
    pub fn payload_bytes(&self) -> usize {
        PAYLOAD_PREFIX_BYTES
            + match &self.body {
                Body::Promise(_) => PROMISE_BODY_BYTES,
                Body::Entry(e) | Body::Chosen(e) => SLOT_ENTRY_PREFIX_BYTES + e.entry.len(),
                Body::SnapshotMark(m) => SNAPSHOT_PREFIX_BYTES + m.name.len(),
            }
    }

    /// Bytes of the whole frame, header included.
    pub fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES + self.payload_bytes()
    }

    /// Appends this record's frame to `out`, or leaves `out` as it was and
    /// says why the record cannot be stored.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let bytes = self.payload_bytes();
        if bytes > FRAME_PAYLOAD_BYTES_MAX {
            return Err(EncodeError::TooLarge {
                bytes: bytes as u64,
            });
        }
        if let Body::SnapshotMark(mark) = &self.body {
            check_snapshot_name(mark.name)
                .map_err(|reason| EncodeError::SnapshotName { reason })?;
        }
        let mut payload = Vec::with_capacity(bytes);
        self.put_payload(&mut payload);
        debug_assert_eq!(payload.len(), bytes);
        put_frame(out, &payload);
        Ok(())
    }

    fn put_payload(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.to_le_bytes());
        out.push(self.body.kind() as u8);
        match &self.body {
            Body::Promise(ballot) => put_ballot(out, *ballot),
            Body::Entry(e) | Body::Chosen(e) => {
                out.extend_from_slice(&e.slot.to_le_bytes());
                put_ballot(out, e.ballot);
                out.extend_from_slice(e.entry);
            }
            Body::SnapshotMark(m) => {
                out.extend_from_slice(&m.slot.to_le_bytes());
                out.extend_from_slice(&m.size.to_le_bytes());
                out.extend_from_slice(&m.checksum.to_le_bytes());
                out.push(m.name.len() as u8);
                out.extend_from_slice(m.name.as_bytes());
            }
        }
    }

    /// Decodes a checked frame's payload.
    pub fn decode_payload(payload: &'a [u8]) -> Result<Record<'a>, DecodeError> {
        let mut r = Reader(payload);
        let group = r
            .u32()
            .ok_or(corrupt("payload shorter than its group and kind"))?;
        let kind_byte = r
            .u8()
            .ok_or(corrupt("payload shorter than its group and kind"))?;
        let kind =
            Kind::from_byte(kind_byte).ok_or(DecodeError::UnknownKind { kind: kind_byte })?;
        let body = match kind {
            Kind::Promise => {
                if r.0.len() != PROMISE_BODY_BYTES {
                    return Err(corrupt("a promise body is not 12 bytes"));
                }
                Body::Promise(r.ballot().ok_or(corrupt("short promise"))?)
            }
            Kind::Entry => Body::Entry(r.slot_entry()?),
            Kind::Chosen => Body::Chosen(r.slot_entry()?),
            Kind::SnapshotMark => Body::SnapshotMark(r.snapshot_mark()?),
        };
        Ok(Record { group, body })
    }

    /// Decodes the frame at the start of `bytes` and its record; returns
    /// the record and the bytes the frame took.
    pub fn decode(bytes: &'a [u8]) -> Result<(Record<'a>, usize), DecodeError> {
        let frame = decode_frame(bytes)?;
        Ok((Record::decode_payload(frame.payload)?, frame.frame_bytes()))
    }
}

/// Checks that a snapshot name is one plain file name.
fn check_snapshot_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > SNAPSHOT_NAME_BYTES_MAX {
        return Err("must be 1 to 255 bytes");
    }
    if name == "." || name == ".." || name.bytes().any(|b| b == b'/' || b == 0) {
        return Err("must be a plain file name (no '/', no NUL, not . or ..)");
    }
    Ok(())
}

fn corrupt(reason: &'static str) -> DecodeError {
    DecodeError::Corrupt(Corruption::Payload { reason })
}

fn put_ballot(out: &mut Vec<u8>, ballot: Ballot) {
    out.extend_from_slice(&ballot.round.to_le_bytes());
    out.extend_from_slice(&ballot.node.to_le_bytes());
}

/// A bounds-checked cursor over a payload.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn ballot(&mut self) -> Option<Ballot> {
        Some(Ballot {
            round: self.u64()?,
            node: self.u32()?,
        })
    }
    fn slot_entry(&mut self) -> Result<SlotEntry<'a>, DecodeError> {
        let short = || corrupt("an entry body is shorter than its slot and ballot");
        let slot = self.u64().ok_or_else(short)?;
        let ballot = self.ballot().ok_or_else(short)?;
        Ok(SlotEntry {
            slot,
            ballot,
            entry: std::mem::take(&mut self.0),
        })
    }
    fn snapshot_mark(&mut self) -> Result<SnapshotMark<'a>, DecodeError> {
        let short = || corrupt("a snapshot mark is shorter than its fixed fields");
        let slot = self.u64().ok_or_else(short)?;
        let size = self.u64().ok_or_else(short)?;
        let checksum = self.u32().ok_or_else(short)?;
        let name_len = self.u8().ok_or_else(short)? as usize;
        if self.0.len() != name_len {
            return Err(corrupt(
                "a snapshot mark's name length does not match its body",
            ));
        }
        let name =
            std::str::from_utf8(self.0).map_err(|_| corrupt("a snapshot name is not UTF-8"))?;
        check_snapshot_name(name)
            .map_err(|_| corrupt("a snapshot name is not a plain file name"))?;
        Ok(SnapshotMark {
            slot,
            name,
            size,
            checksum,
        })
    }
}
