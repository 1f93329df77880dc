//! Frames: `len u32 LE | crc32c u32 LE | payload`.
//!
//! The checksum covers the length field as well as the payload
//! (`crc32c(len_le ++ payload)`), so a flipped length bit is caught even
//! when the damaged length still points inside the data. A frame of zeros
//! (length 0, checksum 0) never checks out, because `crc32c` of four zero
//! bytes is not 0: that is what lets the scanner tell the zero-filled,
//! preallocated end of a segment from a record.
//!
//! Decoding never trusts the length before bounding it: a length above
//! [`FRAME_PAYLOAD_BYTES_MAX`] is corruption, and a length that runs past
//! the bytes at hand is a truncation. Nothing is allocated from a length
//! read off the disk; frames are slices of the caller's buffer.

use crate::error::{Corruption, DecodeError};

/// Bytes in front of every payload: the length and the checksum.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Largest payload one frame may carry: 128 MiB. Twice the largest value a
/// client may send by default (`max-bulk-bytes`, 64 MiB), so one write of
/// the largest value fits in one record with its key and batch around it.
/// A length field above this is corruption, never a reason to allocate.
pub const FRAME_PAYLOAD_BYTES_MAX: usize = 128 * 1024 * 1024;

/// Largest whole frame: header plus the largest payload.
pub const FRAME_BYTES_MAX: usize = FRAME_HEADER_BYTES + FRAME_PAYLOAD_BYTES_MAX;

/// One checked frame, borrowed from the bytes it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The payload (group, kind, body), checksum verified.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Bytes the whole frame takes, header included.
    pub fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES + self.payload.len()
    }
}

/// The checksum stored in a frame's header: CRC-32C of the little-endian
/// length followed by the payload.
pub fn frame_checksum(len: u32, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), payload)
}

/// Appends one frame holding `payload` to `out`.
///
/// # Panics
///
/// If `payload` is longer than [`FRAME_PAYLOAD_BYTES_MAX`]: callers check
/// the size first (record encoding returns an error for it), so a longer
/// payload here is a bug in this crate, not bad input.
pub fn put_frame(out: &mut Vec<u8>, payload: &[u8]) {
    assert!(payload.len() <= FRAME_PAYLOAD_BYTES_MAX, "oversized frame");
    let len = payload.len() as u32;
    out.reserve(FRAME_HEADER_BYTES + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&frame_checksum(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Decodes the frame at the start of `bytes`.
///
/// `Truncated` when `bytes` end before the frame does (a torn write if
/// nothing valid follows); `Corrupt` for a length above the maximum or a
/// checksum that does not match.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame<'_>, DecodeError> {
    let Some(header) = bytes.get(..FRAME_HEADER_BYTES) else {
        return Err(DecodeError::Truncated {
            needed: FRAME_HEADER_BYTES as u64,
            available: bytes.len() as u64,
        });
    };
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len as usize > FRAME_PAYLOAD_BYTES_MAX {
        return Err(DecodeError::Corrupt(Corruption::LengthTooLarge { len }));
    }
    let end = FRAME_HEADER_BYTES + len as usize;
    let Some(payload) = bytes.get(FRAME_HEADER_BYTES..end) else {
        return Err(DecodeError::Truncated {
            needed: end as u64,
            available: bytes.len() as u64,
        });
    };
    let computed = frame_checksum(len, payload);
    if computed != stored {
        return Err(DecodeError::Corrupt(Corruption::Checksum {
            stored,
            computed,
        }));
    }
    Ok(Frame { payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_header_never_checks_out() {
        assert_ne!(frame_checksum(0, &[]), 0);
        assert!(matches!(
            decode_frame(&[0; 64]),
            Err(DecodeError::Corrupt(Corruption::Checksum { stored: 0, .. }))
        ));
    }

    #[test]
    fn a_flipped_length_bit_is_caught_even_inside_the_data() {
        let mut out = Vec::new();
        put_frame(&mut out, &[7; 40]);
        out.extend_from_slice(&[0; 64]);
        out[0] ^= 0x01; // 40 -> 41: still inside the buffer
        assert!(matches!(
            decode_frame(&out),
            Err(DecodeError::Corrupt(Corruption::Checksum { .. }))
        ));
    }

    #[test]
    fn a_huge_length_is_corruption_not_an_allocation() {
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 4]);
        assert_eq!(
            decode_frame(&bytes),
            Err(DecodeError::Corrupt(Corruption::LengthTooLarge {
                len: u32::MAX
            }))
        );
    }
}
