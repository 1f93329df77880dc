//! The segment header, and the names of everything in a data directory.
//!
//! A segment file starts with a 32-byte header, written (and synced) when
//! the file is created, before its name exists:
//!
//! ```text
//! magic "PWHLWAL\0" | format u32 | core u32 | sequence u64 | reserved u32 (0) | crc32c u32
//! ```
//!
//! The checksum covers the 28 bytes before it. The format version is read
//! before the checksum so a future layout is reported as a version, not as
//! damage. The core and sequence are checked against the directory and the
//! file name, so a file copied to the wrong place is refused, not replayed
//! into the wrong core's groups.

/// The first eight bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"PWHLWAL\0";
/// The on-disk format this build writes and reads: segment header, frame
/// and record layout, and the data directory layout. A change to any of
/// them bumps it, and a data directory or segment of another version is
/// refused by name.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes of the segment header; the first record starts here.
pub const SEGMENT_HEADER_BYTES: usize = 32;

/// The data directory's format version file.
pub const FORMAT_FILE_NAME: &str = "FORMAT";
/// The data directory's lock file, held with `flock` while a process uses
/// the directory; it holds that process's id.
pub const LOCK_FILE_NAME: &str = "LOCK";
/// A segment being created: zero-filled and given its header under this
/// suffix, then renamed, so a `.seg` name always has a whole header.
pub const TEMP_SUFFIX: &str = ".tmp";

const FORMAT_FILE_PREFIX: &str = "pinwheel data format ";

/// A segment's identity, as its header states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The core whose log this segment belongs to.
    pub core: u32,
    /// The segment's place in that log (1, 2, 3...).
    pub sequence: u64,
}

/// What is wrong with a segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The file is shorter than a header.
    #[error("the file is {available} bytes, shorter than the {SEGMENT_HEADER_BYTES}-byte segment header")]
    Truncated {
        /// Bytes there were.
        available: u64,
    },
    /// The magic bytes are wrong: not a Pinwheel segment.
    #[error("not a Pinwheel log segment (bad magic bytes)")]
    Magic,
    /// Another format version.
    #[error("segment format version {found}; this build reads version {FORMAT_VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// The header's checksum does not match.
    #[error("segment header checksum does not match")]
    Checksum,
    /// The segment belongs to another core's log.
    #[error("segment belongs to core {found}, found in core {expected}'s directory")]
    Core {
        /// The core in the header.
        found: u32,
        /// The core whose directory holds it.
        expected: u32,
    },
    /// The header's sequence number is not the file name's.
    #[error("segment header says sequence {found}, its file name says {expected}")]
    Sequence {
        /// The sequence in the header.
        found: u64,
        /// The sequence in the file name.
        expected: u64,
    },
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut out = [0u8; SEGMENT_HEADER_BYTES];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.core.to_le_bytes());
        out[16..24].copy_from_slice(&self.sequence.to_le_bytes());
        let crc = crc32c::crc32c(&out[..28]);
        out[28..32].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a header from the start of `bytes` and checks that it belongs
    /// to `core`'s segment `sequence`.
    pub fn check(bytes: &[u8], core: u32, sequence: u64) -> Result<SegmentHeader, HeaderError> {
        let header = SegmentHeader::decode(bytes)?;
        if header.core != core {
            return Err(HeaderError::Core {
                found: header.core,
                expected: core,
            });
        }
        if header.sequence != sequence {
            return Err(HeaderError::Sequence {
                found: header.sequence,
                expected: sequence,
            });
        }
        Ok(header)
    }

    /// Reads a header from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderError> {
        let Some(b) = bytes.get(..SEGMENT_HEADER_BYTES) else {
            return Err(HeaderError::Truncated {
                available: bytes.len() as u64,
            });
        };
        if b[0..8] != SEGMENT_MAGIC {
            return Err(HeaderError::Magic);
        }
        let le32 = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let version = le32(8);
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version { found: version });
        }
        if le32(28) != crc32c::crc32c(&b[..28]) || le32(24) != 0 {
            return Err(HeaderError::Checksum);
        }
        let mut sequence = [0u8; 8];
        sequence.copy_from_slice(&b[16..24]);
        Ok(SegmentHeader {
            core: le32(12),
            sequence: u64::from_le_bytes(sequence),
        })
    }
}

/// The name of a core's directory inside the data directory: `core-N`.
pub fn core_dir_name(core: u32) -> String {
    format!("core-{core}")
}

/// The core a directory name stands for, if it is one.
pub fn parse_core_dir_name(name: &str) -> Option<u32> {
    parse_decimal(name.strip_prefix("core-")?)
}

/// A segment's file name: `wal-` and its sequence in 20 digits, so names
/// sort in log order.
pub fn segment_file_name(sequence: u64) -> String {
    format!("wal-{sequence:020}.seg")
}

/// The sequence a segment file name stands for, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(".seg")?;
    (digits.len() == 20).then_some(())?;
    parse_decimal(digits)
}

/// The contents of the format version file.
pub fn format_file_contents() -> String {
    format!("{FORMAT_FILE_PREFIX}{FORMAT_VERSION}\n")
}

/// The version a format file states, or `None` if it is not one.
pub fn parse_format_file(contents: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(contents).ok()?;
    parse_decimal(text.strip_prefix(FORMAT_FILE_PREFIX)?.strip_suffix('\n')?)
}

fn parse_decimal<T: std::str::FromStr>(digits: &str) -> Option<T> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_misplaced_files() {
        let bytes = SegmentHeader {
            core: 3,
            sequence: 42,
        }
        .encode();
        assert_eq!(SegmentHeader::check(&bytes, 3, 42).unwrap().sequence, 42);
        assert_eq!(
            SegmentHeader::check(&bytes, 1, 42),
            Err(HeaderError::Core {
                found: 3,
                expected: 1
            })
        );
        assert_eq!(
            SegmentHeader::check(&bytes, 3, 41),
            Err(HeaderError::Sequence {
                found: 42,
                expected: 41
            })
        );
    }

    #[test]
    fn a_future_version_is_named_not_called_damage() {
        let mut bytes = SegmentHeader {
            core: 0,
            sequence: 1,
        }
        .encode();
        bytes[8] = 2;
        assert_eq!(
            SegmentHeader::decode(&bytes),
            Err(HeaderError::Version { found: 2 })
        );
        let mut bytes = SegmentHeader {
            core: 0,
            sequence: 1,
        }
        .encode();
        bytes[20] ^= 1;
        assert_eq!(SegmentHeader::decode(&bytes), Err(HeaderError::Checksum));
        assert_eq!(
            SegmentHeader::decode(&bytes[..31]),
            Err(HeaderError::Truncated { available: 31 })
        );
        assert_eq!(SegmentHeader::decode(&[0; 32]), Err(HeaderError::Magic));
    }

    #[test]
    fn names() {
        assert_eq!(segment_file_name(7), "wal-00000000000000000007.seg");
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("wal-7.seg"), None);
        assert_eq!(
            parse_segment_file_name("wal-0000000000000000000+.seg"),
            None
        );
        assert_eq!(parse_core_dir_name("core-12"), Some(12));
        assert_eq!(parse_core_dir_name("core-"), None);
        assert_eq!(
            parse_format_file(format_file_contents().as_bytes()),
            Some(FORMAT_VERSION)
        );
        assert_eq!(parse_format_file(b"pinwheel data format 1"), None);
    }
}
