//! The write-ahead log on real files under a real glommio executor:
//! round trips across rotation, group commit, torn tails, corruption,
//! policies, release, refusals, and the data directory lock.

mod wal_support;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;

use pinwheel_runtime::wal::{
    DataDir, DataDirError, FsyncPolicy, Lsn, OpenError, Wal, WalError, WalOptions,
};
use pinwheel_wal::{Kind, Problem, SEGMENT_HEADER_BYTES};
use wal_support::*;

const SMALL_SEGMENT_BYTES: u64 = 64 * 1024;

/// Appends `records` one batch at a time, waiting for each; returns their
/// positions.
async fn append_durably(wal: &Wal, records: &[Owned]) -> Vec<Lsn> {
    let mut lsns = Vec::new();
    for chunk in records.chunks(7) {
        let batch: Vec<_> = chunk.iter().map(Owned::record).collect();
        let last = wal.append_batch(&batch).expect("append");
        wal.durable(last).await.expect("durable");
        lsns.push(last);
    }
    lsns
}

fn workload(count: u64, seed: u64) -> Vec<Owned> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|slot| Owned::entry(rng.below(8) as u32, slot, 1 + rng.below(900) as usize))
        .collect()
}

#[test]
fn records_round_trip_across_rotation_and_restarts() {
    let scratch = Scratch::new("wal-roundtrip", None);
    let dir = scratch.path().to_path_buf();
    on_executor(move || async move {
        let first = workload(600, 1);
        let (data, wal, recovery) = open(&dir, small_segments(SMALL_SEGMENT_BYTES)).await;
        assert_eq!(recovery.report.records, 0);
        append_durably(&wal, &first).await;
        let stats = wal.stats();
        assert!(
            stats.segments >= 4,
            "600 records of up to 900 bytes rotate 64 KiB segments: {stats:?}"
        );
        assert_eq!(stats.appended_records, 600);
        wal.close().await.unwrap();
        drop((wal, data));

        let (data, wal, recovery) = open(&dir, small_segments(SMALL_SEGMENT_BYTES)).await;
        let got = recovered(&recovery);
        assert_eq!(
            got.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>(),
            first
        );
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "positions grow in log order"
        );
        assert_eq!(recovery.report.cut, None);
        let second = workload(300, 2);
        let lsns = append_durably(&wal, &second).await;
        assert!(
            lsns[0] > got.last().unwrap().0,
            "appends continue after the recovered end"
        );
        wal.close().await.unwrap();
        drop((wal, data));

        let (_data, _wal, recovery) = open(&dir, small_segments(SMALL_SEGMENT_BYTES)).await;
        let all: Vec<_> = recovered(&recovery).into_iter().map(|(_, r)| r).collect();
        assert_eq!(all, [first, second].concat());
    });
}

#[test]
fn group_commit_shares_one_fsync_among_concurrent_appenders() {
    let scratch = Scratch::new("wal-groupcommit", None);
    let dir = scratch.path().to_path_buf();
    on_executor(move || async move {
        let (data, wal, _) = open(&dir, WalOptions::default()).await;
        const TASKS: u64 = 32;
        const EACH: u64 = 40;
        let mut tasks = Vec::new();
        for task in 0..TASKS {
            let wal = wal.clone();
            tasks.push(glommio::spawn_local(async move {
                for i in 0..EACH {
                    let record = Owned::entry(task as u32, i, 64);
                    let lsn = wal.append(&record.record()).unwrap();
                    wal.durable(lsn).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await;
        }
        let stats = wal.stats();
        assert_eq!(stats.appended_records, TASKS * EACH);
        assert!(
            stats.fsyncs < TASKS * EACH / 4,
            "{} fsyncs for {} appends from {TASKS} tasks: group commit is not batching",
            stats.fsyncs,
            TASKS * EACH
        );
        assert!(stats.records_per_fsync.max() > 1);
        assert!(stats.fsync_latency_us.len() == stats.fsyncs);
        wal.close().await.unwrap();
        drop((wal, data));
        let (_data, _wal, recovery) = open(&dir, WalOptions::default()).await;
        assert_eq!(recovery.report.records, TASKS * EACH);
    });
}

#[test]
fn a_torn_tail_is_cut_and_nothing_durable_is_lost() {
    for round in 0..40u64 {
        let scratch = Scratch::new("wal-torn", None);
        let dir = scratch.path().to_path_buf();
        on_executor(move || async move { torn_tail_round(&dir, round).await });
    }
}

/// One round: durable records, then a last batch standing for a write
/// that a crash cut: the newest segment is truncated at a random offset at
/// or after the durable end, random garbage is appended, and the file is
/// or is not restored to its length.
async fn torn_tail_round(dir: &std::path::Path, seed: u64) {
    let mut rng = Rng(seed * 7919 + 17);
    let options = small_segments(SMALL_SEGMENT_BYTES);
    let (data, wal, _) = open(dir, options.clone()).await;
    let durable = workload(100 + rng.below(200), seed);
    append_durably(&wal, &durable).await;
    let durable_end = wal.end();
    let unacknowledged = workload(1 + rng.below(20), seed + 1000);
    let batch: Vec<_> = unacknowledged.iter().map(Owned::record).collect();
    let end = wal.append_batch(&batch).unwrap();
    wal.close().await.unwrap();
    drop((wal, data));

    // Only the newest segment can hold a torn write: a segment is synced
    // before the next one is written.
    let newest = segment_files(dir).into_iter().find(|p| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .contains(&format!("{:020}", end.segment))
    });
    let newest = newest.expect("the last record's segment exists");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&newest)
        .unwrap();
    let len = file.metadata().unwrap().len();
    let floor = if durable_end.segment == end.segment {
        durable_end.offset
    } else {
        SEGMENT_HEADER_BYTES as u64
    };
    let cut_at = floor + rng.below(len - floor);
    let garbage: Vec<u8> = (0..rng.below(8192)).map(|_| rng.next() as u8).collect();
    file.set_len(cut_at).unwrap();
    file.write_all_at(&garbage, cut_at).unwrap();
    if rng.below(2) == 0 {
        file.set_len(len.max(cut_at + garbage.len() as u64))
            .unwrap();
    }
    drop(file);

    let (data, wal, recovery) = open(dir, options.clone()).await;
    let got: Vec<_> = recovered(&recovery).into_iter().map(|(_, r)| r).collect();
    assert!(
        got.len() >= durable.len(),
        "seed {seed}: lost durable records"
    );
    assert_eq!(got[..durable.len()], durable[..], "seed {seed}");
    assert_eq!(
        got[durable.len()..],
        unacknowledged[..got.len() - durable.len()],
        "seed {seed}"
    );
    if let Some(cut) = &recovery.report.cut {
        assert_eq!(cut.path, newest, "seed {seed}");
        assert!(
            cut.offset >= floor,
            "seed {seed}: cut inside durable records"
        );
    }
    // The cut leaves a clean segment: appends after it survive the next restart.
    let after = workload(50, seed + 2000);
    append_durably(&wal, &after).await;
    wal.close().await.unwrap();
    drop((wal, data));
    let (_data, _wal, recovery) = open(dir, options).await;
    assert_eq!(
        recovery.report.cut, None,
        "seed {seed}: the cut did not leave a clean end"
    );
    let all: Vec<_> = recovered(&recovery).into_iter().map(|(_, r)| r).collect();
    assert_eq!(all, [got, after].concat(), "seed {seed}");
}

/// Flips one byte of `path` at `offset`.
fn flip(path: &std::path::Path, offset: u64) {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x20], offset).unwrap();
}

/// Writes `count` durable records rotating through small segments;
/// returns every record's position.
fn fill(dir: &std::path::Path, count: u64) -> Vec<Lsn> {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let (_data, wal, _) = open(&dir, small_segments(SMALL_SEGMENT_BYTES)).await;
        let records = workload(count, 3);
        let mut lsns = Vec::new();
        for r in &records {
            lsns.push(wal.append(&r.record()).unwrap());
        }
        wal.durable(*lsns.last().unwrap()).await.unwrap();
        wal.close().await.unwrap();
        lsns
    })
}

fn open_error(dir: &std::path::Path) -> OpenError {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let data = DataDir::open(&dir).unwrap();
        match Wal::open(&data, 0, small_segments(SMALL_SEGMENT_BYTES)).await {
            Ok(_) => panic!("a damaged log opened"),
            Err(e) => e,
        }
    })
}

#[test]
fn damage_in_an_older_segment_is_refused_naming_file_and_offset() {
    let scratch = Scratch::new("wal-older", None);
    let lsns = fill(scratch.path(), 400);
    let files = segment_files(scratch.path());
    assert!(files.len() >= 3);
    // The fourth record of segment `first`: flip a byte of its payload.
    let first = lsns[0].segment;
    let victim_end = lsns.iter().filter(|l| l.segment == first).nth(3).unwrap();
    let victim_start = lsns
        .iter()
        .filter(|l| l.segment == first)
        .nth(2)
        .unwrap()
        .offset;
    flip(&files[0], (victim_start + victim_end.offset) / 2);
    let err = open_error(scratch.path());
    let OpenError::Corrupt {
        path,
        offset,
        problem,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(path, &files[0]);
    assert_eq!(*offset, victim_start);
    assert!(
        matches!(problem, Problem::BadInOlderSegment { .. }),
        "{problem}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&files[0].display().to_string())
            && message.contains(&format!("offset {victim_start}")),
        "{message}"
    );
}

#[test]
fn damage_to_the_last_record_of_an_older_segment_is_refused_too() {
    let scratch = Scratch::new("wal-older-last", None);
    let lsns = fill(scratch.path(), 400);
    let files = segment_files(scratch.path());
    let first = lsns[0].segment;
    let in_first: Vec<_> = lsns.iter().filter(|l| l.segment == first).collect();
    let last_start = in_first[in_first.len() - 2].offset;
    flip(&files[0], last_start + 10);
    let err = open_error(scratch.path());
    let OpenError::Corrupt {
        offset, problem, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(*offset, last_start);
    assert!(
        matches!(problem, Problem::BadInOlderSegment { .. }),
        "{problem}"
    );
}

#[test]
fn damage_mid_newest_segment_before_valid_records_is_refused() {
    let scratch = Scratch::new("wal-mid", None);
    let lsns = fill(scratch.path(), 400);
    let files = segment_files(scratch.path());
    let newest = lsns.last().unwrap().segment;
    let in_newest: Vec<_> = lsns.iter().filter(|l| l.segment == newest).collect();
    assert!(in_newest.len() >= 3, "{in_newest:?}");
    let newest_file = files
        .iter()
        .find(|p| p.to_string_lossy().contains(&format!("{newest:020}")))
        .unwrap();
    let victim = in_newest[0].offset; // the second record of the newest segment starts here
    flip(newest_file, victim + 9);
    let err = open_error(scratch.path());
    let OpenError::Corrupt {
        path,
        offset,
        problem,
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((path, *offset), (newest_file, victim));
    assert!(
        matches!(problem, Problem::BadBeforeValid { valid_at, .. } if *valid_at == in_newest[1].offset),
        "{problem}"
    );
}

#[test]
fn a_damaged_header_or_a_misplaced_segment_is_refused() {
    let scratch = Scratch::new("wal-header", None);
    fill(scratch.path(), 50);
    let files = segment_files(scratch.path());
    flip(&files[0], 20); // inside the sequence number
    let err = open_error(scratch.path());
    assert!(
        matches!(
            &err,
            OpenError::Corrupt {
                offset: 0,
                problem: Problem::Header(_),
                ..
            }
        ),
        "{err}"
    );

    let other = Scratch::new("wal-misplaced", None);
    fill(other.path(), 50);
    let core1 = other.path().join("core-1");
    std::fs::create_dir_all(&core1).unwrap();
    let first = &segment_files(other.path())[0];
    std::fs::rename(first, core1.join(first.file_name().unwrap())).unwrap();
    let dir = other.path().to_path_buf();
    let err = on_executor(move || async move {
        let data = DataDir::open(&dir).unwrap();
        Wal::open(&data, 1, WalOptions::default())
            .await
            .err()
            .expect("core 0's segment refused in core 1")
    });
    assert!(err.to_string().contains("belongs to core 0"), "{err}");
}

#[test]
fn a_data_dir_of_another_format_or_not_a_data_dir_is_refused() {
    let scratch = Scratch::new("wal-format", None);
    drop(DataDir::open(scratch.path()).unwrap());
    std::fs::write(scratch.path().join("FORMAT"), "pinwheel data format 2\n").unwrap();
    let err = DataDir::open(scratch.path()).unwrap_err();
    assert!(matches!(err, DataDirError::Format { .. }), "{err}");
    assert!(err.to_string().contains("format 1"), "{err}");

    let crashed = Scratch::new("wal-adopt", None);
    std::fs::write(crashed.path().join("FORMAT.tmp"), "pinwh").unwrap();
    drop(DataDir::open(crashed.path()).expect("a format file half-written by a crash is redone"));
    assert_eq!(
        std::fs::read_to_string(crashed.path().join("FORMAT")).unwrap(),
        "pinwheel data format 1\n"
    );

    let stranger = Scratch::new("wal-stranger", None);
    std::fs::write(stranger.path().join("notes.txt"), "mine").unwrap();
    let err = DataDir::open(stranger.path()).unwrap_err();
    assert!(matches!(err, DataDirError::NotDataDir { .. }), "{err}");
}

#[test]
fn a_second_open_of_a_data_dir_is_refused_with_the_holders_pid() {
    let scratch = Scratch::new("wal-lock", None);
    let held = DataDir::open(scratch.path()).unwrap();
    let err = DataDir::open(scratch.path()).unwrap_err();
    let DataDirError::InUse { dir, pid } = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (dir.as_path(), *pid),
        (scratch.path(), Some(std::process::id()))
    );
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    // Another process is refused too: tests/wal_lock.rs (its own binary,
    // because a fork shares this process's lock descriptors until exec).
    drop(held);
    assert!(
        DataDir::open(scratch.path()).is_ok(),
        "the lock is released with the DataDir"
    );
}

#[test]
fn batch_and_never_release_waiters_before_syncing() {
    for fsync in [FsyncPolicy::Batch { interval_ms: 50 }, FsyncPolicy::Never] {
        let scratch = Scratch::new("wal-policy", None);
        let dir = scratch.path().to_path_buf();
        on_executor(move || async move {
            let options = WalOptions {
                fsync,
                ..small_segments(1024 * 1024)
            };
            let (data, wal, _) = open(&dir, options.clone()).await;
            let records = workload(200, 9);
            append_durably(&wal, &records).await;
            let stats = wal.stats();
            assert!(
                stats.fsyncs < stats.writes,
                "{fsync:?}: {} fsyncs for {} writes",
                stats.fsyncs,
                stats.writes
            );
            if fsync == FsyncPolicy::Never {
                assert_eq!(stats.fsyncs, 0, "never syncs inside a segment");
            } else {
                let synced = wal.stats().fsyncs;
                poll_until("the batch timer's sync", || {
                    wal.stats().fsyncs > synced || synced > 0
                })
                .await;
            }
            wal.close().await.unwrap();
            drop((wal, data));
            let (_data, _wal, recovery) = open(&dir, options).await;
            assert_eq!(recovered(&recovery).len(), 200);
        });
    }
}

#[test]
fn released_segments_are_deleted_and_the_rest_recovers() {
    let scratch = Scratch::new("wal-release", None);
    let dir = scratch.path().to_path_buf();
    on_executor(move || async move {
        let options = small_segments(SMALL_SEGMENT_BYTES);
        let (data, wal, _) = open(&dir, options.clone()).await;
        let records = workload(900, 4);
        let mut lsns = Vec::new();
        for r in &records {
            lsns.push(wal.append(&r.record()).unwrap());
        }
        wal.durable(*lsns.last().unwrap()).await.unwrap();
        let before = wal.stats().segments;
        assert!(before >= 5);
        // Everything before the first record of the third segment is covered.
        let third = lsns[0].segment + 2;
        let keep_from = lsns.iter().position(|l| l.segment == third).unwrap();
        wal.release_through(lsns[keep_from - 1]);
        poll_until("two segments deleted", || {
            wal.stats().segments == before - 2
        })
        .await;
        assert!(!segment_files(&dir).iter().any(|p| p
            .to_string_lossy()
            .contains(&format!("{:020}", lsns[0].segment))));
        wal.release_through(Lsn {
            segment: u64::MAX,
            offset: 0,
        });
        poll_until("all but the active segment deleted", || {
            wal.stats().segments == 1
        })
        .await;
        let active = wal.end().segment;
        wal.close().await.unwrap();
        drop((wal, data));
        let (_data, _wal, recovery) = open(&dir, options).await;
        let got: Vec<_> = recovered(&recovery).into_iter().map(|(_, r)| r).collect();
        let kept = lsns.iter().position(|l| l.segment == active).unwrap();
        assert_eq!(got, records[kept..]);
    });
}

#[test]
fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
    let scratch = Scratch::new("wal-big", None);
    let dir = scratch.path().to_path_buf();
    on_executor(move || async move {
        let options = small_segments(SMALL_SEGMENT_BYTES);
        let (data, wal, _) = open(&dir, options.clone()).await;
        let records = vec![
            Owned::entry(1, 1, 100),
            Owned::entry(1, 2, 300 * 1024),
            Owned::entry(1, 3, 100),
        ];
        let lsns = append_durably(&wal, &records).await;
        wal.close().await.unwrap();
        drop((wal, data));
        let big = segment_files(&dir)
            .into_iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .max()
            .unwrap();
        assert!(
            big >= 300 * 1024,
            "the oversized segment holds the record: {big}"
        );
        let (_data, _wal, recovery) = open(&dir, options).await;
        let got: Vec<_> = recovered(&recovery).into_iter().map(|(_, r)| r).collect();
        assert_eq!(got, records, "{lsns:?}");
    });
}

#[test]
fn refusals_leave_nothing_appended() {
    let scratch = Scratch::new("wal-refusals", None);
    let dir = scratch.path().to_path_buf();
    on_executor(move || async move {
        let options = WalOptions {
            backlog_bytes_max: 64 * 1024,
            ..WalOptions::default()
        };
        let (data, wal, _) = open(&dir, options.clone()).await;
        let too_big = vec![0u8; pinwheel_wal::FRAME_PAYLOAD_BYTES_MAX];
        let record = Owned {
            group: 0,
            kind: Kind::Entry,
            slot: 0,
            data: too_big,
        };
        let end = wal.end();
        let ok = Owned::entry(0, 1, 10);
        let err = wal
            .append_batch(&[ok.record(), record.record()])
            .unwrap_err();
        assert!(matches!(err, WalError::Record(_)), "{err}");
        assert_eq!(wal.end(), end, "a refused batch appends nothing");
        // Fill the backlog without yielding to the writer.
        let mut appended = 0;
        let backlogged = loop {
            match wal.append(&Owned::entry(0, appended, 1000).record()) {
                Ok(_) => appended += 1,
                Err(e) => break e,
            }
        };
        assert!(
            matches!(backlogged, WalError::Backlogged { .. }),
            "{backlogged}"
        );
        wal.writable().await.unwrap();
        let lsn = wal.append(&ok.record()).unwrap();
        wal.durable(lsn).await.unwrap();
        wal.close().await.unwrap();
        assert!(matches!(wal.append(&ok.record()), Err(WalError::Closed)));
        drop((wal, data));
        let (_data, _wal, recovery) = open(&dir, options).await;
        assert_eq!(recovery.report.records, appended + 1);
    });
}

#[test]
fn a_half_made_segment_from_a_crash_is_removed_at_open() {
    let scratch = Scratch::new("wal-tmp", None);
    fill(scratch.path(), 20);
    let leftover = scratch
        .path()
        .join("core-0")
        .join("wal-00000000000000000009.seg.tmp");
    std::fs::File::create(&leftover)
        .unwrap()
        .write_all(b"partial")
        .unwrap();
    let dir = scratch.path().to_path_buf();
    let records = on_executor(move || async move {
        let (_data, _wal, recovery) = open(&dir, small_segments(SMALL_SEGMENT_BYTES)).await;
        recovery.report.records
    });
    assert_eq!(records, 20);
    assert!(!leftover.exists());
    assert!(segment_files(scratch.path())
        .iter()
        .all(|p| std::fs::metadata(p).unwrap().len() >= SEGMENT_HEADER_BYTES as u64));
}
