//! What the log reports about itself (for `INFO persistence`).

use hdrhistogram::Histogram;
use pinwheel_wal::Lsn;

/// Slowest fsync the latency histogram tells apart: 60 s, in µs.
const FSYNC_LATENCY_US_MAX: u64 = 60_000_000;
/// Most records (or entries) per fsync the histograms tell apart: 10 M.
const PER_FSYNC_MAX: u64 = 10_000_000;

/// A copy of one core's log counters, taken by [`super::Wal::stats`].
#[derive(Clone, Debug)]
pub struct WalStats {
    /// Bytes of live segments up to their last record (headers included).
    pub log_bytes: u64,
    /// Live segment files, the one being written included, the spare not.
    pub segments: u64,
    /// Records appended since open.
    pub appended_records: u64,
    /// Frame bytes appended since open.
    pub appended_bytes: u64,
    /// Write requests completed.
    pub writes: u64,
    /// `fdatasync` calls completed.
    pub fsyncs: u64,
    /// Latency of each completed `fdatasync`, in microseconds.
    pub fsync_latency_us: Histogram<u64>,
    /// Records made durable by each fsync.
    pub records_per_fsync: Histogram<u64>,
    /// Entry and chosen-entry records made durable by each fsync.
    pub entries_per_fsync: Histogram<u64>,
    /// Times the log entered the failed state.
    pub failures: u64,
    /// The current failure, if the log is failed now.
    pub failed: Option<String>,
    /// Everything before this position is reported durable.
    pub durable: Lsn,
}

/// The counters the log keeps; `WalStats` is a copy of them.
#[derive(Debug)]
pub(super) struct Counters {
    pub appended_records: u64,
    pub appended_bytes: u64,
    pub writes: u64,
    pub fsyncs: u64,
    pub failures: u64,
    pub fsync_latency_us: Histogram<u64>,
    pub records_per_fsync: Histogram<u64>,
    pub entries_per_fsync: Histogram<u64>,
}

impl Default for Counters {
    fn default() -> Counters {
        let histogram =
            |max| Histogram::new_with_bounds(1, max, 3).expect("valid histogram bounds");
        Counters {
            appended_records: 0,
            appended_bytes: 0,
            writes: 0,
            fsyncs: 0,
            failures: 0,
            fsync_latency_us: histogram(FSYNC_LATENCY_US_MAX),
            records_per_fsync: histogram(PER_FSYNC_MAX),
            entries_per_fsync: histogram(PER_FSYNC_MAX),
        }
    }
}

impl Counters {
    pub fn record_fsync(&mut self, micros: u64, records: u64, entries: u64) {
        self.fsyncs += 1;
        self.fsync_latency_us.saturating_record(micros.max(1));
        self.records_per_fsync.saturating_record(records.max(1));
        self.entries_per_fsync.saturating_record(entries.max(1));
    }
}
