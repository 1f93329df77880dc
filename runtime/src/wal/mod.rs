//! One write-ahead log per core, shared by that core's groups.
//!
//! The bytes (frames, records, segment headers) and the recovery policy
//! are the sans-IO crate `pinwheel-wal`; this module does the I/O on the
//! core's glommio executor: O_DIRECT segment files, preallocated and
//! zero-filled ahead of use, one writer task per core doing group commit,
//! recovery at open, and a failed state on I/O errors that recovers by
//! itself.
//!
//! # Using it (the group driver's side)
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use pinwheel_runtime::wal::{DataDir, Wal, WalOptions};
//! use pinwheel_wal::{Ballot, Body, Record, SlotEntry};
//!
//! // Once per process, before the cores start; keep it alive.
//! let data = DataDir::open("./pinwheel-data")?;
//! // On each core's executor:
//! let (wal, recovery) = Wal::open(&data, 0, WalOptions::default()).await?;
//! for (lsn, record) in recovery.records() {
//!     // Per group: newest SnapshotMark first, then replay what follows it.
//!     let _ = (lsn, record);
//! }
//! drop(recovery);
//! // Persist what a replica's Ready asks for, then wait before sending
//! // its persisted messages or answering a client:
//! let entry = SlotEntry { slot: 1, ballot: Ballot { round: 1, node: 0 }, entry: b"..." };
//! let lsn = wal.append(&Record { group: 0, body: Body::Entry(entry) })?;
//! wal.durable(lsn).await?;
//! # Ok(()) }
//! ```
//!
//! - [`DataDir::open`] (any thread): creates, locks (`flock`) and checks
//!   the format of the data directory; a second open is refused with the
//!   holder's pid. Keep it alive while any log is open.
//! - [`Wal::open`] (on core N's executor): recovers `DIR/core-N`, returns
//!   the log and a [`Recovery`] with every record in order and its
//!   [`Lsn`]. A torn tail of the newest segment is cut and reported in
//!   [`RecoveryReport::cut`]; damage elsewhere is [`OpenError::Corrupt`]
//!   naming file and offset (the caller must refuse to start).
//! - [`Wal::append`] / [`Wal::append_batch`]: synchronous, returns the
//!   record's [`Lsn`]; refused while failed ([`WalError::Failed`], the
//!   caller answers `-ERR`/`-MISCONF`), closed, or with the backlog full
//!   ([`WalError::Backlogged`]; [`Wal::writable`] waits for room).
//! - [`Wal::durable`]: resolves once the record is durable under the
//!   [`FsyncPolicy`]; answer the client, or send persisted messages, after.
//! - [`Wal::release_through`]: once every group on the core has a snapshot
//!   mark past a position, segments wholly before it are deleted. A
//!   deleted segment takes its promise records with it: append each
//!   group's current promise again beside its snapshot mark first.
//! - [`Wal::stats`]: log bytes, segments, fsyncs, fsync latency histogram,
//!   records and entries per fsync, failures.
//! - [`Wal::close`]: writes, syncs and stops.
//! - [`inspect_data_dir`]: what opening a data directory would do, with
//!   nothing changed (`pinwheel check-data`).
//! - [`probe_disk`]: small append + `fdatasync` latency on a directory's
//!   disk, done as the log does it (`pinwheel probe-disk`).
//!
//! The core count of a data directory must not change between runs unless
//! the caller moves groups' records itself: each core replays only its own
//! log.

mod datadir;
mod error;
mod file;
mod inspect;
mod log;
mod open;
mod options;
mod probe;
mod stats;
mod writer;

#[cfg(test)]
mod tests;

pub use datadir::{DataDir, DataDirError};
pub use error::{IoFailure, OpenError, WalError};
pub use inspect::{
    inspect_data_dir, CoreReport, CoreVerdict, CutReport, DataDirReport, FormatState, SegmentReport,
};
pub use log::Wal;
pub use open::{Recovery, RecoveryReport, TornTail};
pub use options::{
    FsyncPolicy, WalOptions, BACKLOG_BYTES_MAX_DEFAULT, FSYNC_INTERVAL_MS_DEFAULT,
    FSYNC_INTERVAL_MS_MAX, RETRY_INTERVAL_MS_DEFAULT, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MAX,
    SEGMENT_BYTES_MIN,
};
pub use pinwheel_wal::Lsn;
pub use probe::{probe_disk, probe_wal, run_probes, ProbeReport, PROBE_FILE_BYTES};
pub use stats::WalStats;
