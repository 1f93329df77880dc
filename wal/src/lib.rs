//! Pinwheel's write-ahead log format, without I/O.
//!
//! One crate holds the bytes of the log and the rules for reading them back,
//! so the runtime's real log (`pinwheel-runtime`, `wal/`) and the
//! simulator's disk model cannot drift apart. Nothing here opens a file,
//! reads a clock or spawns a task: callers hand in bytes and get records,
//! positions and verdicts back.
//!
//! - [`Record`] / [`Body`]: what consensus persists (promise, accepted
//!   entry, chosen entry, snapshot mark), each tagged with its group.
//!   [`Record::encode`] appends one frame; [`Record::decode`] reads one.
//! - Frames (`frame.rs`): `len u32 LE | crc32c u32 LE | payload`, the
//!   checksum over length and payload, at most [`FRAME_PAYLOAD_BYTES_MAX`].
//! - [`SegmentHeader`]: magic, [`FORMAT_VERSION`], core, sequence; and the
//!   names of the data directory's files (`segment.rs`).
//! - [`scan_region`]: walks records and classifies how they end (clean,
//!   or a bad record with what follows it).
//! - [`plan`]: the recovery policy over a core's segments: what to replay,
//!   the torn tail to cut, or a [`Refusal`] naming segment and offset.
//!
//! ```
//! use pinwheel_wal::{Ballot, Body, Record, SlotEntry, Records};
//!
//! let mut log = Vec::new();
//! let entry = SlotEntry { slot: 7, ballot: Ballot { round: 1, node: 0 }, entry: b"SET k v" };
//! Record { group: 3, body: Body::Entry(entry) }.encode(&mut log)?;
//! let (offset_after, record) = Records::new(&log, 0).next().unwrap();
//! assert_eq!(offset_after as usize, log.len());
//! assert_eq!(record.body, Body::Entry(entry));
//! # Ok::<(), pinwheel_wal::EncodeError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod frame;
mod record;
mod recovery;
mod scan;
mod segment;

pub use error::{Corruption, DecodeError, EncodeError};
pub use frame::{
    decode_frame, frame_checksum, put_frame, Frame, FRAME_BYTES_MAX, FRAME_HEADER_BYTES,
    FRAME_PAYLOAD_BYTES_MAX,
};
pub use record::{
    Ballot, Body, Kind, Record, SlotEntry, SnapshotMark, PAYLOAD_PREFIX_BYTES,
    SLOT_ENTRY_PREFIX_BYTES, SNAPSHOT_NAME_BYTES_MAX,
};
pub use recovery::{plan, Cut, Plan, Problem, Refusal, SegmentBytes, SegmentPlan};
pub use scan::{
    last_nonzero, scan_region, After, BadRecord, Records, RegionEnd, RegionScan,
    RESYNC_CHECKSUM_BYTES_MAX,
};
pub use segment::{
    core_dir_name, format_file_contents, parse_core_dir_name, parse_format_file,
    parse_segment_file_name, segment_file_name, HeaderError, SegmentHeader, FORMAT_FILE_NAME,
    FORMAT_VERSION, LOCK_FILE_NAME, SEGMENT_HEADER_BYTES, SEGMENT_MAGIC, TEMP_SUFFIX,
};

/// A position in one core's log: a segment and the offset just past a
/// record in it. Positions order as the log does and mean the same after a
/// restart (segments are never renumbered), so a caller may store one, for
/// instance as "this snapshot covers the log up to here".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn {
    /// The segment's sequence number.
    pub segment: u64,
    /// Offset in that segment just past the record.
    pub offset: u64,
}

impl std::fmt::Display for Lsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}
