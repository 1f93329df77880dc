//! The log's errors. Each names what was being done and to which path,
//! because the operator reading it has to find the file.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use glommio::GlommioError;
use pinwheel_wal::{EncodeError, Problem};

/// An I/O operation that failed: what, where, and the OS's answer.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct IoFailure {
    /// What was being done (`fdatasync`, `creating segment`...).
    pub op: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

impl IoFailure {
    pub(super) fn new(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> IoFailure {
        IoFailure {
            op,
            path: path.into(),
            source,
        }
    }

    /// From a glommio error: keeps the OS error itself (its code and
    /// kind), not glommio's description, since `op` and `path` say the rest.
    pub(super) fn glommio<T>(
        op: &'static str,
        path: impl Into<PathBuf>,
        e: GlommioError<T>,
    ) -> IoFailure {
        let source = match e {
            GlommioError::IoError(source) | GlommioError::EnhancedIoError { source, .. } => source,
            other => io::Error::from(other),
        };
        IoFailure::new(op, path, source)
    }
}

/// Why an append or a wait for durability did not succeed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WalError {
    /// A write or sync failed. Nothing unsynced is reported durable while
    /// the log is failed; new appends are refused. The writer retries every
    /// `retry_interval_ms` and the log recovers by itself once the cause
    /// goes (space freed), rewriting everything not yet durable. A record
    /// appended before the failure stays queued and may still become
    /// durable after it: to its client the outcome is unknown, as after a
    /// timeout.
    #[error("write-ahead log failed, writes refused until it recovers: {0}")]
    Failed(Arc<IoFailure>),
    /// More than `backlog_bytes_max` bytes are waiting to be written.
    #[error("write-ahead log backlog full: {bytes} bytes waiting to be written (limit {max})")]
    Backlogged {
        /// Bytes waiting.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The record cannot be encoded (too large, bad snapshot name).
    #[error("record refused by the write-ahead log: {0}")]
    Record(#[from] EncodeError),
    /// The log was closed.
    #[error("write-ahead log is closed")]
    Closed,
}

impl WalError {
    /// The OS error kind behind a failure (`StorageFull` for a full disk),
    /// so a caller can choose its reply (`-MISCONF`-like for disk errors).
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            WalError::Failed(failure) => Some(failure.source.kind()),
            _ => None,
        }
    }
}

/// Why a core's log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Recovery found damage it must not repair: start-up is refused.
    #[error("refusing to start: {path} at offset {offset}: {problem}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// File offset of the damage.
        offset: u64,
        /// What is wrong there.
        problem: Problem,
    },
    /// A file operation failed (permission errors included).
    #[error(transparent)]
    Io(#[from] IoFailure),
    /// A setting is out of range.
    #[error("invalid wal options: {0}")]
    Options(String),
}
