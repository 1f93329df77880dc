//! Failure and recovery of the writer, through the test-only fault seam in
//! `file.rs` (an `fdatasync` that fails after its write succeeded cannot
//! be arranged with a real device on this machine: no device-mapper, no
//! kernel fault injection). The real-device failures (a full file system,
//! a device that refuses a write) are in `tests/wal_disk.rs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pinwheel_wal::{Ballot, Body, Record, SlotEntry};

use super::file::faults;
use super::{DataDir, FsyncPolicy, Wal, WalError, WalOptions};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pinwheel-unit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn on_executor<F: std::future::Future<Output = ()> + 'static>(
    make: impl FnOnce() -> F + Send + 'static,
) {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(2 << 20)
        .spawn(make)
        .unwrap()
        .join()
        .unwrap();
}

fn entry(slot: u64, data: &[u8]) -> Record<'_> {
    Record {
        group: 3,
        body: Body::Entry(SlotEntry {
            slot,
            ballot: Ballot { round: 1, node: 0 },
            entry: data,
        }),
    }
}

async fn poll(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

/// Opens core 0's log and waits until its background spare segment is
/// made, so injected faults hit the log's own writes and syncs.
async fn open_quiet(dir: &Path, options: WalOptions) -> (DataDir, Wal, u64) {
    let data = DataDir::open(dir).unwrap();
    let (wal, recovery) = Wal::open(&data, 0, options).await.unwrap();
    let spare = data
        .core_dir(0)
        .join(pinwheel_wal::segment_file_name(wal.end().segment + 1));
    poll("the spare segment", || spare.exists()).await;
    (data, wal, recovery.report.records)
}

fn options(fsync: FsyncPolicy) -> WalOptions {
    WalOptions {
        fsync,
        retry_interval_ms: 20,
        ..WalOptions::default()
    }
}

#[test]
fn a_failed_fdatasync_fails_the_log_reports_nothing_durable_and_recovers() {
    let dir = scratch("syncfail");
    let path = dir.clone();
    on_executor(move || async move {
        let (data, wal, _) = open_quiet(&path, options(FsyncPolicy::Always)).await;
        let first = wal.append(&entry(1, b"before")).unwrap();
        wal.durable(first).await.unwrap();

        faults::fail_next(&faults::SYNCS, 3);
        let second = wal.append(&entry(2, b"during")).unwrap();
        let err = wal.durable(second).await.unwrap_err();
        let WalError::Failed(cause) = &err else {
            panic!("{err}")
        };
        assert_eq!(cause.op, "fdatasync");
        assert_eq!(cause.source.raw_os_error(), Some(libc::EIO));
        assert!(
            err.to_string().contains("wal-00000000000000000001.seg"),
            "{err}"
        );
        assert!(
            wal.stats().durable < second,
            "an unsynced record reported durable"
        );
        assert!(matches!(
            wal.append(&entry(3, b"refused")),
            Err(WalError::Failed(_))
        ));

        poll("the writer's retries to succeed", || {
            wal.stats().failed.is_none()
        })
        .await;
        wal.durable(second).await.unwrap();
        assert_eq!(wal.stats().failures, 1, "one failure, however many retries");
        let third = wal.append(&entry(3, b"after")).unwrap();
        wal.durable(third).await.unwrap();
        wal.close().await.unwrap();
        drop((wal, data));

        let data = DataDir::open(&path).unwrap();
        let (_wal, recovery) = Wal::open(&data, 0, WalOptions::default()).await.unwrap();
        let slots: Vec<u64> = recovery
            .records()
            .map(|(_, r)| match r.body {
                Body::Entry(e) => e.slot,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(slots, [1, 2, 3]);
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_failed_write_is_retried_and_a_failed_batch_sync_rewrites() {
    let dir = scratch("writefail");
    let path = dir.clone();
    on_executor(move || async move {
        let (data, wal, _) = open_quiet(&path, options(FsyncPolicy::Always)).await;
        faults::fail_next(&faults::WRITES, 2);
        let lsn = wal.append(&entry(1, b"x")).unwrap();
        let err = wal.durable(lsn).await.unwrap_err();
        assert!(err.to_string().contains("writing"), "{err}");
        poll("recovery after failed writes", || {
            wal.stats().failed.is_none()
        })
        .await;
        wal.durable(lsn).await.unwrap();
        wal.close().await.unwrap();
        drop((wal, data));

        // Under `batch` a waiter is released at write; a sync that fails
        // later makes the writer rewrite, so the record still survives.
        let options = options(FsyncPolicy::Batch { interval_ms: 5 });
        let (data, wal, before) = open_quiet(&path, options.clone()).await;
        faults::fail_next(&faults::SYNCS, 2);
        let lsn = wal.append(&entry(2, b"y")).unwrap();
        wal.durable(lsn).await.unwrap();
        poll("the failed batch sync", || wal.stats().failures == 1).await;
        poll("recovery", || {
            wal.stats().failed.is_none() && wal.stats().fsyncs > 0
        })
        .await;
        wal.close().await.unwrap();
        drop((wal, data));
        let (_data, _wal, after) = open_quiet(&path, options).await;
        assert_eq!(after, before + 1);
    });
    let _ = std::fs::remove_dir_all(dir);
}
