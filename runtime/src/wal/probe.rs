//! The disk probe: what one small append plus `fdatasync` costs on a
//! directory's disk, done the way the log does it.
//!
//! It creates a file exactly as the log creates a segment (O_DIRECT,
//! fallocate, zero-filled, synced), then appends small records one after
//! another, each a block-aligned write that rewrites the partial last
//! block, followed by `fdatasync`, and times each pair. That is the floor
//! under a durable write's latency: the log adds its own bookkeeping and
//! the group commit on top. The file is removed afterwards.

use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::error::IoFailure;
use super::file::SegmentFile;
use super::file::{align_down, align_up, BLOCK_BYTES};

/// Largest probe file: 64 MiB (the default segment size). Appends past
/// its end wrap to its start, which costs the same: blocks already written.
pub const PROBE_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Slowest append the histogram tells apart: 60 s, in µs.
const PROBE_LATENCY_US_MAX: u64 = 60_000_000;

/// What the probe measured.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// Appends timed.
    pub appends: u64,
    /// Bytes per append.
    pub append_bytes: usize,
    /// One write plus one `fdatasync`, in microseconds.
    pub append_sync_us: Histogram<u64>,
    /// The `fdatasync` alone, in microseconds.
    pub sync_us: Histogram<u64>,
    /// Time for all the appends.
    pub elapsed: Duration,
}

/// Times `appends` appends of `append_bytes` (1 ..= 4096) each, with an
/// `fdatasync` after each, in a scratch file in `dir`. Run on a glommio
/// executor.
pub async fn probe_disk(
    dir: &Path,
    appends: u64,
    append_bytes: usize,
) -> Result<ProbeReport, IoFailure> {
    assert!(
        (1..=BLOCK_BYTES as usize).contains(&append_bytes),
        "probe append size out of range"
    );
    let capacity = align_up(appends.saturating_mul(append_bytes as u64) + BLOCK_BYTES)
        .clamp(BLOCK_BYTES * 256, PROBE_FILE_BYTES);
    let name = format!("pinwheel-probe-{}", std::process::id());
    let file = SegmentFile::create_named(dir, &name, &[], 0, capacity).await?;
    let path = file.path().to_path_buf();
    let histogram =
        || Histogram::new_with_bounds(1, PROBE_LATENCY_US_MAX, 3).expect("valid bounds");
    let (mut append_sync_us, mut sync_us) = (histogram(), histogram());
    let mut block = Vec::with_capacity(2 * BLOCK_BYTES as usize);
    let mut offset = 0u64;
    let record: Vec<u8> = (0..append_bytes).map(|i| (i % 251) as u8 + 1).collect();
    let started = Instant::now();
    let mut result = Ok(());
    for _ in 0..appends {
        if offset + append_bytes as u64 > capacity {
            offset = 0;
            block.clear();
        }
        let block_start = align_down(offset);
        block.drain(..(block.len() - (offset - block_start) as usize));
        block.extend_from_slice(&record);
        let t0 = Instant::now();
        if let Err(e) = file.write_at(block_start, &block).await {
            result = Err(e);
            break;
        }
        let t1 = Instant::now();
        if let Err(e) = file.sync().await {
            result = Err(e);
            break;
        }
        append_sync_us.saturating_record(t0.elapsed().as_micros().max(1) as u64);
        sync_us.saturating_record(t1.elapsed().as_micros().max(1) as u64);
        offset += append_bytes as u64;
    }
    let elapsed = started.elapsed();
    file.close().await;
    let _ = glommio::io::remove(&path).await;
    result?;
    Ok(ProbeReport {
        appends,
        append_bytes,
        append_sync_us,
        sync_us,
        elapsed,
    })
}

/// Segment size of the log the WAL probe writes: 4 MiB, so creating it and
/// its spare takes little time; the cost of an append does not depend on it.
const PROBE_WAL_SEGMENT_BYTES: u64 = 4 * 1024 * 1024;

/// Times `appends` one-at-a-time `append` + `durable` of a record carrying
/// `append_bytes` bytes through a real log (`fsync = always`) in a scratch
/// data directory under `dir`: the raw probe plus the log's own costs.
/// Run on a glommio executor.
pub async fn probe_wal(
    dir: &Path,
    appends: u64,
    append_bytes: usize,
) -> Result<Histogram<u64>, String> {
    use super::{DataDir, Wal, WalOptions};
    use pinwheel_wal::{Ballot, Body, Record, SlotEntry};

    let scratch = dir.join(format!("pinwheel-probe-wal-{}", std::process::id()));
    let data = DataDir::open(&scratch).map_err(|e| e.to_string())?;
    let options = WalOptions {
        segment_bytes: PROBE_WAL_SEGMENT_BYTES,
        ..WalOptions::default()
    };
    let (wal, _) = Wal::open(&data, 0, options)
        .await
        .map_err(|e| e.to_string())?;
    let spare = data.core_dir(0).join(pinwheel_wal::segment_file_name(2));
    while !spare.exists() {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    let mut latency = Histogram::new_with_bounds(1, PROBE_LATENCY_US_MAX, 3).expect("valid bounds");
    let payload = vec![7u8; append_bytes];
    let mut result = Ok(());
    for slot in 0..appends {
        let entry = SlotEntry {
            slot,
            ballot: Ballot { round: 1, node: 0 },
            entry: &payload,
        };
        let started = Instant::now();
        let appended = wal.append(&Record {
            group: 0,
            body: Body::Entry(entry),
        });
        if let Err(e) = async { wal.durable(appended?).await }.await {
            result = Err(e.to_string());
            break;
        }
        latency.saturating_record(started.elapsed().as_micros().max(1) as u64);
    }
    let closed = wal.close().await.map_err(|e| e.to_string());
    drop(data);
    let _ = std::fs::remove_dir_all(&scratch);
    result.and(closed).map(|()| latency)
}

/// Runs [`probe_disk`], then [`probe_wal`], on a fresh glommio executor
/// thread: for callers outside an executor (the command line).
pub fn run_probes(
    dir: &Path,
    appends: u64,
    append_bytes: usize,
) -> Result<(ProbeReport, Histogram<u64>), String> {
    let dir = dir.to_path_buf();
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .name("pinwheel-probe")
        .io_memory(PROBE_IO_MEMORY_BYTES)
        .spawn(move || async move {
            let raw = probe_disk(&dir, appends, append_bytes)
                .await
                .map_err(|e| e.to_string())?;
            let wal = probe_wal(&dir, appends, append_bytes).await?;
            Ok((raw, wal))
        })
        .map_err(|e| format!("starting the probe's executor: {e}"))?
        .join()
        .map_err(|e| format!("the probe's executor: {e}"))?
}

/// io_uring buffer memory the probe's executor locks: 2 MiB, as a core's.
const PROBE_IO_MEMORY_BYTES: usize = 2 * 1024 * 1024;
