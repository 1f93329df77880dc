//! Walking a run of records and saying precisely how it ends.
//!
//! [`scan_region`] decodes frame after frame from a start offset. When a
//! frame does not decode, it classifies the rest:
//!
//! - nothing but zeros to the end: a clean end (the preallocated,
//!   zero-filled part of a segment, or the end of the bytes);
//! - otherwise a bad record at that offset, with how far non-zero bytes
//!   reach and whether a frame with a valid checksum starts anywhere after
//!   it. Whether that is a torn tail to cut or corruption to refuse is the
//!   recovery policy's decision (`recovery.rs`), not the scanner's.
//!
//! The search for a valid frame after a bad one starts at the next byte,
//! not at the end the bad record's length claims: a damaged length could
//! otherwise jump over good records and make corruption look like a torn
//! tail. A candidate must have a plausible length and a known kind before
//! its checksum is computed, and the checksummed bytes are capped at
//! [`RESYNC_CHECKSUM_BYTES_MAX`]; past the cap the search answers "could
//! not rule it out", which recovery treats like a valid frame (refusal).

use crate::error::DecodeError;
use crate::frame::{decode_frame, FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX};
use crate::record::{Kind, Record, PAYLOAD_PREFIX_BYTES};

/// Most bytes the search for a valid frame after a bad one may checksum:
/// 1 GiB. Real torn tails are one write long and cost kilobytes; only a
/// long run of random bytes with many plausible lengths reaches this.
pub const RESYNC_CHECKSUM_BYTES_MAX: u64 = 1 << 30;

/// How a run of records ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionEnd {
    /// Only zeros, or nothing, after the last record.
    Clean,
    /// A record that does not decode.
    Bad(BadRecord),
}

/// A record that does not decode, and what lies after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRecord {
    /// Where it starts.
    pub offset: u64,
    /// Why it does not decode.
    pub reason: DecodeError,
    /// One past the last non-zero byte of the bytes scanned: a cut zeroes
    /// `offset..dirty_end`.
    pub dirty_end: u64,
    /// What the search after `offset` found.
    pub after: After,
}

/// What follows a bad record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// No frame with a valid checksum starts after it.
    Nothing,
    /// A frame with a valid checksum starts at this offset.
    ValidFrame {
        /// Where.
        offset: u64,
    },
    /// The search hit [`RESYNC_CHECKSUM_BYTES_MAX`] at this offset
    /// without ruling out a valid frame.
    Unknown {
        /// Where the search stopped.
        offset: u64,
    },
}

/// The result of scanning a run of records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionScan {
    /// Offset just past the last record that decoded.
    pub valid_end: u64,
    /// Records that decoded.
    pub records: u64,
    /// How the run ends.
    pub end: RegionEnd,
}

/// Scans the records of `bytes` from `start`. Offsets in the result are
/// offsets into `bytes`.
pub fn scan_region(bytes: &[u8], start: usize) -> RegionScan {
    let mut at = start.min(bytes.len());
    let mut records = 0;
    loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            return done(at, records, RegionEnd::Clean);
        }
        match Record::decode(rest) {
            Ok((_, len)) => {
                at += len;
                records += 1;
            }
            Err(reason) => {
                let Some(last) = last_nonzero(rest) else {
                    return done(at, records, RegionEnd::Clean);
                };
                let dirty_end = at + last + 1;
                let bad = BadRecord {
                    offset: at as u64,
                    reason,
                    dirty_end: dirty_end as u64,
                    after: search_valid_frame(bytes, at + 1, dirty_end),
                };
                return done(at, records, RegionEnd::Bad(bad));
            }
        }
    }
}

fn done(valid_end: usize, records: u64, end: RegionEnd) -> RegionScan {
    RegionScan {
        valid_end: valid_end as u64,
        records,
        end,
    }
}

/// Looks for a frame with a valid checksum starting in `from..until`.
fn search_valid_frame(bytes: &[u8], from: usize, until: usize) -> After {
    let mut checksummed: u64 = 0;
    for at in from..until {
        let rest = &bytes[at..];
        if rest.len() < FRAME_HEADER_BYTES + PAYLOAD_PREFIX_BYTES {
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let plausible = (PAYLOAD_PREFIX_BYTES..=FRAME_PAYLOAD_BYTES_MAX).contains(&len)
            && FRAME_HEADER_BYTES + len <= rest.len()
            && Kind::from_byte(rest[FRAME_HEADER_BYTES + 4]).is_some();
        if !plausible {
            continue;
        }
        checksummed += len as u64;
        if checksummed > RESYNC_CHECKSUM_BYTES_MAX {
            return After::Unknown { offset: at as u64 };
        }
        if decode_frame(rest).is_ok() {
            return After::ValidFrame { offset: at as u64 };
        }
    }
    After::Nothing
}

/// Index of the last non-zero byte, if any. Word at a time: this runs over
/// the zero-filled rest of every newest segment at start-up.
pub fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    const WORD: usize = 8;
    let whole = bytes.len() / WORD * WORD;
    if let Some(i) = bytes[whole..].iter().rposition(|&b| b != 0) {
        return Some(whole + i);
    }
    let word_at = bytes[..whole]
        .chunks_exact(WORD)
        .rposition(|w| u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]) != 0)?;
    let w = &bytes[word_at * WORD..word_at * WORD + WORD];
    w.iter().rposition(|&b| b != 0).map(|i| word_at * WORD + i)
}

/// The records of a run already scanned, each with the offset just past
/// it. Stops at the first record that does not decode, so over
/// `start..valid_end` of a [`RegionScan`] it yields exactly its records.
pub struct Records<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Records<'a> {
    /// Iterates the records of `bytes` from `start`.
    pub fn new(bytes: &'a [u8], start: usize) -> Records<'a> {
        Records {
            bytes,
            at: start.min(bytes.len()),
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (u64, Record<'a>);

    fn next(&mut self) -> Option<(u64, Record<'a>)> {
        let (record, len) = Record::decode(&self.bytes[self.at..]).ok()?;
        self.at += len;
        Some((self.at as u64, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_nonzero_finds_the_last_byte_in_every_position() {
        for len in 0..40 {
            for hot in 0..len {
                let mut bytes = vec![0u8; len];
                bytes[hot] = 1;
                assert_eq!(last_nonzero(&bytes), Some(hot), "len {len} hot {hot}");
            }
            assert_eq!(last_nonzero(&vec![0u8; len]), None);
        }
    }
}
