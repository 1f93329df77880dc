//! What can be wrong with bytes read back from a log.
//!
//! The three cases recovery must tell apart are three variants: a record
//! cut short (a torn write, if nothing valid follows it), a record that is
//! there but wrong (damage), and a record this build cannot read (a newer
//! format: never skipped).

/// Why a frame or record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes end before the frame does.
    #[error("truncated record: it needs {needed} bytes and {available} are left")]
    Truncated {
        /// Bytes the frame needs, from its start.
        needed: u64,
        /// Bytes there were.
        available: u64,
    },
    /// The frame is complete but wrong.
    #[error("corrupt record: {0}")]
    Corrupt(#[from] Corruption),
    /// A frame whose checksum is right but whose kind this build does not
    /// know: written by a newer format. Skipping it could skip a vote.
    #[error("unknown record kind {kind}")]
    UnknownKind {
        /// The kind byte found.
        kind: u8,
    },
}

impl DecodeError {
    /// True when the frame's checksum was right, so the bytes are exactly
    /// what was written: such a record is never a torn write.
    pub fn checksum_passed(&self) -> bool {
        matches!(
            self,
            DecodeError::UnknownKind { .. } | DecodeError::Corrupt(Corruption::Payload { .. })
        )
    }
}

/// The ways a complete frame can be wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The length field is above `FRAME_PAYLOAD_BYTES_MAX`.
    #[error("length {len} is above the {max}-byte maximum", max = crate::FRAME_PAYLOAD_BYTES_MAX)]
    LengthTooLarge {
        /// The length read.
        len: u32,
    },
    /// The checksum does not match the length and payload.
    #[error("checksum {stored:#010x} does not match the computed {computed:#010x}")]
    Checksum {
        /// Stored in the frame.
        stored: u32,
        /// Computed over the frame's length and payload.
        computed: u32,
    },
    /// The checksum matches but the payload does not parse as its kind.
    #[error("payload does not parse: {reason}")]
    Payload {
        /// What was wrong with it.
        reason: &'static str,
    },
}

/// Why a record could not be encoded. Only the caller's own values can
/// cause these, so they are checked before anything is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The record's payload would exceed `FRAME_PAYLOAD_BYTES_MAX`.
    #[error("record payload of {bytes} bytes is above the {max}-byte maximum", max = crate::FRAME_PAYLOAD_BYTES_MAX)]
    TooLarge {
        /// Payload bytes the record would take.
        bytes: u64,
    },
    /// A snapshot mark's file name is not a plain file name.
    #[error("snapshot name: {reason}")]
    SnapshotName {
        /// What was wrong with it.
        reason: &'static str,
    },
}
