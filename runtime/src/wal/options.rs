//! The log's settings, their defaults and why.

use std::time::Duration;

/// Default segment size: 64 MiB. Large enough that rotation (one extra
/// fdatasync, one file creation in the background) is rare at any write
/// rate this node sustains; small enough that a released segment frees
/// space soon and a spare costs little disk.
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
/// Smallest segment: 64 KiB (tests use small segments to rotate often).
pub const SEGMENT_BYTES_MIN: u64 = 64 * 1024;
/// Largest segment: 16 GiB.
pub const SEGMENT_BYTES_MAX: u64 = 16 * 1024 * 1024 * 1024;
/// Default `batch` sync period: 10 ms, so at most about 10 ms of
/// acknowledged writes (plus one sync in flight) are exposed to a power
/// loss, for about 100 syncs a second.
pub const FSYNC_INTERVAL_MS_DEFAULT: u64 = 10;
/// Longest `batch` sync period: one second (Redis's `everysec`).
pub const FSYNC_INTERVAL_MS_MAX: u64 = 1_000;
/// Default most bytes appended but not yet written: 64 MiB. Past it,
/// `append` refuses (`WalError::Backlogged`) until the writer catches up,
/// so a slow or stuck disk cannot grow memory without bound.
pub const BACKLOG_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;
/// Default pause between the writer's attempts after an I/O error: 1 s.
/// Short enough that writes resume soon after space is freed, long enough
/// not to spin on a dead disk.
pub const RETRY_INTERVAL_MS_DEFAULT: u64 = 1_000;

/// When the log calls `fdatasync`, and so what "durable" means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every batch is written and synced before its waiters are released:
    /// an acknowledged write survives power loss.
    Always,
    /// Waiters are released once their batch is written (it survives a
    /// process crash: O_DIRECT writes are in the device's hands); a sync
    /// follows within `interval_ms`. A power loss can lose up to that long
    /// of acknowledged writes, plus one sync's duration.
    Batch {
        /// Sync period in milliseconds, 1 ..= `FSYNC_INTERVAL_MS_MAX`.
        interval_ms: u64,
    },
    /// Waiters are released once written; the log syncs only when a
    /// segment is sealed and on close. A power loss can lose anything the
    /// device had not written back itself.
    Never,
}

impl FsyncPolicy {
    /// `batch` with the default period.
    pub const BATCH_DEFAULT: FsyncPolicy = FsyncPolicy::Batch {
        interval_ms: FSYNC_INTERVAL_MS_DEFAULT,
    };

    /// Parses `always`, `batch` or `never` (`batch` at `interval_ms`).
    pub fn parse(name: &str, interval_ms: u64) -> Option<FsyncPolicy> {
        match name {
            "always" => Some(FsyncPolicy::Always),
            "batch" => Some(FsyncPolicy::Batch { interval_ms }),
            "never" => Some(FsyncPolicy::Never),
            _ => None,
        }
    }

    /// The policy's name.
    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::Batch { .. } => "batch",
            FsyncPolicy::Never => "never",
        }
    }

    pub(super) fn syncs_every_batch(self) -> bool {
        self == FsyncPolicy::Always
    }

    pub(super) fn sync_interval(self) -> Option<Duration> {
        match self {
            FsyncPolicy::Batch { interval_ms } => Some(Duration::from_millis(interval_ms)),
            FsyncPolicy::Always | FsyncPolicy::Never => None,
        }
    }
}

/// Settings of one core's log. `Default` is what `pinwheel serve` uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// When to sync. Default `Always`: the node answers a write only once
    /// it survives power loss, which is Pinwheel's promise for locks.
    pub fsync: FsyncPolicy,
    /// Size of each segment file, preallocated and zero-filled before use;
    /// a multiple of 4 KiB in `SEGMENT_BYTES_MIN ..= SEGMENT_BYTES_MAX`.
    /// Default `SEGMENT_BYTES_DEFAULT`. A record too big for a fresh
    /// segment gets a segment sized to fit it.
    pub segment_bytes: u64,
    /// Most bytes appended but not yet written. Default
    /// `BACKLOG_BYTES_MAX_DEFAULT`.
    pub backlog_bytes_max: usize,
    /// Pause between the writer's attempts after an I/O error, in
    /// milliseconds. Default `RETRY_INTERVAL_MS_DEFAULT`.
    pub retry_interval_ms: u64,
}

impl Default for WalOptions {
    fn default() -> WalOptions {
        WalOptions {
            fsync: FsyncPolicy::Always,
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            backlog_bytes_max: BACKLOG_BYTES_MAX_DEFAULT,
            retry_interval_ms: RETRY_INTERVAL_MS_DEFAULT,
        }
    }
}

impl WalOptions {
    /// Checks every setting, naming the first one out of range.
    pub fn validate(&self) -> Result<(), String> {
        let segment = self.segment_bytes;
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&segment)
            || !segment.is_multiple_of(4096)
        {
            return Err(format!(
                "wal segment size {segment} must be a multiple of 4096 in {SEGMENT_BYTES_MIN}..={SEGMENT_BYTES_MAX}"
            ));
        }
        if let FsyncPolicy::Batch { interval_ms } = self.fsync {
            if !(1..=FSYNC_INTERVAL_MS_MAX).contains(&interval_ms) {
                return Err(format!(
                    "fsync interval {interval_ms} ms must be in 1..={FSYNC_INTERVAL_MS_MAX}"
                ));
            }
        }
        if self.backlog_bytes_max == 0 {
            return Err("wal backlog limit must be above 0 bytes".into());
        }
        if self.retry_interval_ms == 0 {
            return Err("wal retry interval must be above 0 ms".into());
        }
        Ok(())
    }
}
