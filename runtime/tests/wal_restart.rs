//! Restart time with a large log: writes about 1 GiB of entry records,
//! closes the log, then times `Wal::open` (read every segment, checksum
//! every record, plan) plus a walk over every recovered record, and prints
//! MB/s replayed. A measurement, not a check, so it is ignored by default:
//!
//! ```text
//! cargo test --release -p pinwheel-runtime --test wal_restart -- --ignored --nocapture
//! PINWHEEL_WAL_BENCH_MIB=256 PINWHEEL_WAL_BENCH_ENTRY_BYTES=1000 cargo test ...
//! ```
//!
//! The directory is under `PINWHEEL_WAL_BENCH_DIR` (default: the system
//! temp dir), so the disk under test can be chosen.

mod wal_support;

use std::path::PathBuf;
use std::time::Instant;

use pinwheel_runtime::wal::{DataDir, Wal, WalOptions};
use pinwheel_wal::{Ballot, Body, Record, SlotEntry};
use wal_support::*;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
#[ignore = "a measurement: run with --ignored --nocapture (writes about 1 GiB)"]
fn restart_time_with_a_large_log() {
    let log_bytes = env_u64("PINWHEEL_WAL_BENCH_MIB", 1024) << 20;
    let entry_bytes = env_u64("PINWHEEL_WAL_BENCH_ENTRY_BYTES", 100) as usize;
    let base = std::env::var_os("PINWHEEL_WAL_BENCH_DIR").map(PathBuf::from);
    let scratch = Scratch::new("wal-restart", base.as_deref());
    let dir = scratch.path().to_path_buf();
    on_executor(move || async move {
        let written = write_log(&dir, log_bytes, entry_bytes).await;
        let started = Instant::now();
        let data = DataDir::open(&dir).unwrap();
        let (wal, recovery) = Wal::open(&data, 0, WalOptions::default()).await.unwrap();
        let opened = started.elapsed();
        let (mut records, mut entry_sum) = (0u64, 0u64);
        for (_, record) in recovery.records() {
            if let Body::Entry(e) = record.body {
                entry_sum += e.entry.len() as u64;
            }
            records += 1;
        }
        let total = started.elapsed();
        assert_eq!(records, written);
        let mb = recovery.report.record_bytes as f64 / 1e6;
        println!(
            "restart: {} segments, {records} records ({entry_bytes}-byte entries, {:.0} MB of records, {:.0} MB of entries)",
            recovery.report.segments,
            mb,
            entry_sum as f64 / 1e6
        );
        println!(
            "restart: open (read + check) {:.2} s, open + walk every record {:.2} s: {:.0} MB/s replayed",
            opened.as_secs_f64(),
            total.as_secs_f64(),
            mb / total.as_secs_f64()
        );
        drop(recovery);
        wal.close().await.unwrap();
    });
}

/// Appends entry records until the log holds `log_bytes`; returns how many.
async fn write_log(dir: &std::path::Path, log_bytes: u64, entry_bytes: usize) -> u64 {
    let started = Instant::now();
    let (_data, wal, _) = open(dir, WalOptions::default()).await;
    let payload = vec![0x5Au8; entry_bytes];
    let per_batch = (4 << 20) / (entry_bytes + 33).max(1);
    let mut written = 0u64;
    while wal.stats().appended_bytes < log_bytes {
        let batch: Vec<_> = (0..per_batch as u64)
            .map(|i| {
                let entry = SlotEntry {
                    slot: written + i,
                    ballot: Ballot { round: 1, node: 0 },
                    entry: &payload,
                };
                Record {
                    group: ((written + i) % 64) as u32,
                    body: Body::Entry(entry),
                }
            })
            .collect();
        let lsn = wal.append_batch(&batch).unwrap();
        written += batch.len() as u64;
        wal.durable(lsn).await.unwrap();
    }
    let stats = wal.stats();
    wal.close().await.unwrap();
    println!(
        "restart: wrote {written} records, {:.0} MB in {} segments, {:.1} s ({} fsyncs)",
        stats.appended_bytes as f64 / 1e6,
        stats.segments,
        started.elapsed().as_secs_f64(),
        stats.fsyncs
    );
    written
}
