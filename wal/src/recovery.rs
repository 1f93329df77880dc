//! The recovery policy: what start-up does with a core's segments.
//!
//! Given every segment of one core's log in sequence order, [`plan`] either
//! says what to replay and what to cut, or refuses with the segment, the
//! offset and the reason. The rules:
//!
//! - Sequence numbers are consecutive (only the oldest segments are ever
//!   deleted); a gap is a lost segment: refuse.
//! - Every header is whole, of this format, of this core and of the
//!   sequence its name says: otherwise refuse.
//! - The newest *used* segment is the last with any non-zero byte after its
//!   header; segments after it are preallocated spares (header, zeros).
//! - Older segments end clean and hold records. They were synced before the
//!   next one was written, so damage there is damage to synced records:
//!   refuse.
//! - The newest used segment may end in a torn tail: a short or
//!   checksum-failing record with no valid frame anywhere after it, which
//!   is what a write cut off by a crash leaves. It is cut (zeroed from its
//!   offset) and start-up goes on; the caller logs the file and offset.
//! - A bad record followed by a valid frame is corruption, as is a record
//!   whose checksum passes but which does not parse (an unknown kind, a
//!   malformed body): refuse. A synced record is never skipped silently.
//!
//! Known limit: a power loss that persists a later sector of the last
//! in-flight write but not an earlier one leaves a bad record followed by
//! valid ones inside that one unsynced write, which these rules refuse (the
//! safe direction: nothing is lost, an operator looks). A damaged last
//! record of the newest segment cannot be told from a torn write and is cut.

use crate::error::DecodeError;
use crate::scan::{scan_region, After, RegionEnd};
use crate::segment::{HeaderError, SegmentHeader, SEGMENT_HEADER_BYTES};

/// One segment's bytes, as read from its file.
#[derive(Clone, Copy, Debug)]
pub struct SegmentBytes<'a> {
    /// The sequence its file name states.
    pub sequence: u64,
    /// The whole file.
    pub bytes: &'a [u8],
}

/// What recovery found in one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentPlan {
    /// Its sequence number.
    pub sequence: u64,
    /// Offset just past its last valid record; replay reads
    /// `SEGMENT_HEADER_BYTES..valid_end`.
    pub valid_end: u64,
    /// Valid records in it.
    pub records: u64,
    /// False for a preallocated spare: nothing but zeros after the header.
    pub used: bool,
}

/// A torn tail to cut: zero `offset..dirty_end` of the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The segment (always the newest used one).
    pub sequence: u64,
    /// Where the torn record starts; the segment's valid end.
    pub offset: u64,
    /// One past the last non-zero byte.
    pub dirty_end: u64,
    /// Why the record there does not decode.
    pub reason: DecodeError,
}

/// What start-up does with a core's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Every segment, in order.
    pub segments: Vec<SegmentPlan>,
    /// The torn tail to cut, if any.
    pub cut: Option<Cut>,
    /// Index in `segments` of the segment appends continue in: the newest
    /// used one, else the first; `None` when there are no segments.
    pub resume: Option<usize>,
}

impl Plan {
    /// Valid records over all segments.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }
}

/// Why start-up must not go on: the segment, the offset, the problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("segment {sequence} at offset {offset}: {problem}")]
pub struct Refusal {
    /// The segment's sequence number.
    pub sequence: u64,
    /// File offset of the problem.
    pub offset: u64,
    /// What is wrong there.
    pub problem: Problem,
}

/// What is wrong where recovery refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The segment header.
    #[error("{0}")]
    Header(HeaderError),
    /// A segment is missing between two that exist.
    #[error("segment {missing} is missing: the log has a hole")]
    Missing {
        /// The sequence number not found.
        missing: u64,
    },
    /// A record whose checksum passes but which this build cannot read.
    #[error("{0} (checksum valid: a newer format or damage before the checksum was taken)")]
    Unreadable(DecodeError),
    /// A bad record with a valid frame after it.
    #[error("{reason}, followed by a valid record at offset {valid_at}: damage in the middle of the log")]
    BadBeforeValid {
        /// Why the record does not decode.
        reason: DecodeError,
        /// Where the valid frame after it starts.
        valid_at: u64,
    },
    /// A bad record after which the search could not rule out valid ones.
    #[error("{reason}, and the search for valid records after it stopped at offset {searched_to}")]
    BadBeforeUnknown {
        /// Why the record does not decode.
        reason: DecodeError,
        /// Where the search stopped.
        searched_to: u64,
    },
    /// A bad record in a segment older than the newest used one.
    #[error(
        "{reason} in a segment older than the newest (segment {newest}): damage to synced records"
    )]
    BadInOlderSegment {
        /// Why the record does not decode.
        reason: DecodeError,
        /// The newest used segment.
        newest: u64,
    },
    /// A segment older than the newest used one holds no records.
    #[error("no records, though newer segment {newest} has some: records were lost")]
    EmptyOlderSegment {
        /// The newest used segment.
        newest: u64,
    },
}

/// Decides what start-up does with `core`'s segments, given in ascending
/// sequence order.
pub fn plan(core: u32, segments: &[SegmentBytes<'_>]) -> Result<Plan, Refusal> {
    check_consecutive(segments)?;
    let mut scans = Vec::with_capacity(segments.len());
    for segment in segments {
        SegmentHeader::check(segment.bytes, core, segment.sequence).map_err(|e| Refusal {
            sequence: segment.sequence,
            offset: 0,
            problem: Problem::Header(e),
        })?;
        scans.push(scan_region(segment.bytes, SEGMENT_HEADER_BYTES));
    }
    let used = |scan: &crate::scan::RegionScan| scan.records > 0 || scan.end != RegionEnd::Clean;
    let newest_used = scans.iter().rposition(used);
    let mut cut = None;
    for (i, (segment, scan)) in segments.iter().zip(&scans).enumerate() {
        let refuse = |offset, problem| Refusal {
            sequence: segment.sequence,
            offset,
            problem,
        };
        let Some(newest) = newest_used.filter(|&n| i <= n) else {
            break;
        };
        let newest_sequence = segments[newest].sequence;
        match scan.end {
            RegionEnd::Bad(bad) if bad.reason.checksum_passed() => {
                return Err(refuse(bad.offset, Problem::Unreadable(bad.reason)));
            }
            RegionEnd::Bad(bad) if i < newest => {
                let problem = Problem::BadInOlderSegment {
                    reason: bad.reason,
                    newest: newest_sequence,
                };
                return Err(refuse(bad.offset, problem));
            }
            RegionEnd::Bad(bad) => match bad.after {
                After::ValidFrame { offset } => {
                    let problem = Problem::BadBeforeValid {
                        reason: bad.reason,
                        valid_at: offset,
                    };
                    return Err(refuse(bad.offset, problem));
                }
                After::Unknown { offset } => {
                    let problem = Problem::BadBeforeUnknown {
                        reason: bad.reason,
                        searched_to: offset,
                    };
                    return Err(refuse(bad.offset, problem));
                }
                After::Nothing => {
                    cut = Some(Cut {
                        sequence: segment.sequence,
                        offset: bad.offset,
                        dirty_end: bad.dirty_end,
                        reason: bad.reason,
                    });
                }
            },
            RegionEnd::Clean if i < newest && scan.records == 0 => {
                let problem = Problem::EmptyOlderSegment {
                    newest: newest_sequence,
                };
                return Err(refuse(SEGMENT_HEADER_BYTES as u64, problem));
            }
            RegionEnd::Clean => {}
        }
    }
    let planned = segments
        .iter()
        .zip(&scans)
        .map(|(segment, scan)| SegmentPlan {
            sequence: segment.sequence,
            valid_end: scan.valid_end,
            records: scan.records,
            used: used(scan),
        })
        .collect::<Vec<_>>();
    let resume = newest_used.or((!planned.is_empty()).then_some(0));
    Ok(Plan {
        segments: planned,
        cut,
        resume,
    })
}

fn check_consecutive(segments: &[SegmentBytes<'_>]) -> Result<(), Refusal> {
    for pair in segments.windows(2) {
        let (older, newer) = (pair[0].sequence, pair[1].sequence);
        assert!(older < newer, "segments not given in ascending order");
        if newer != older + 1 {
            return Err(Refusal {
                sequence: newer,
                offset: 0,
                problem: Problem::Missing { missing: older + 1 },
            });
        }
    }
    Ok(())
}
