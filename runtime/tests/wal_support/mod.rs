//! Helpers for the write-ahead log tests: a glommio executor, scratch
//! directories, records that can be compared after a restart.

#![allow(dead_code)] // each test binary uses part of this

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pinwheel_runtime::wal::{DataDir, Lsn, Recovery, Wal, WalOptions};
use pinwheel_wal::{Ballot, Body, Kind, Record, SlotEntry};

/// How long a test polls for a state before failing.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `make()`'s future on a fresh glommio executor thread.
pub fn on_executor<T, F>(make: impl FnOnce() -> F + Send + 'static) -> T
where
    T: Send + 'static,
    F: Future<Output = T> + 'static,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(2 << 20)
        .spawn(make)
        .expect("executor starts")
        .join()
        .expect("executor thread")
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory under `base` (the system temp dir when `None`).
    pub fn new(name: &str, base: Option<&Path>) -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("pinwheel-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A record the test owns, to compare what was written with what came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub group: u32,
    pub kind: Kind,
    pub slot: u64,
    pub data: Vec<u8>,
}

impl Owned {
    /// An entry record for `group` at `slot` with `len` bytes derived from both.
    pub fn entry(group: u32, slot: u64, len: usize) -> Owned {
        let data = (0..len)
            .map(|i| (group as u64 * 31 + slot * 7 + i as u64) as u8)
            .collect();
        Owned {
            group,
            kind: Kind::Entry,
            slot,
            data,
        }
    }

    pub fn record(&self) -> Record<'_> {
        let entry = SlotEntry {
            slot: self.slot,
            ballot: Ballot { round: 1, node: 0 },
            entry: &self.data,
        };
        let body = match self.kind {
            Kind::Entry => Body::Entry(entry),
            Kind::Chosen => Body::Chosen(entry),
            Kind::Promise => Body::Promise(Ballot {
                round: self.slot,
                node: 0,
            }),
            Kind::SnapshotMark => unreachable!("tests build entries and promises"),
        };
        Record {
            group: self.group,
            body,
        }
    }

    pub fn from_record(record: &Record<'_>) -> Owned {
        match record.body {
            Body::Entry(e) | Body::Chosen(e) => Owned {
                group: record.group,
                kind: record.body.kind(),
                slot: e.slot,
                data: e.entry.to_vec(),
            },
            Body::Promise(b) => Owned {
                group: record.group,
                kind: Kind::Promise,
                slot: b.round,
                data: Vec::new(),
            },
            Body::SnapshotMark(m) => Owned {
                group: record.group,
                kind: Kind::SnapshotMark,
                slot: m.slot,
                data: m.name.as_bytes().to_vec(),
            },
        }
    }
}

/// Everything a recovery handed back.
pub fn recovered(recovery: &Recovery) -> Vec<(Lsn, Owned)> {
    recovery
        .records()
        .map(|(lsn, r)| (lsn, Owned::from_record(&r)))
        .collect()
}

/// Opens the data directory and core 0's log; returns all three.
pub async fn open(dir: &Path, options: WalOptions) -> (DataDir, Wal, Recovery) {
    let data = DataDir::open(dir).expect("data dir opens");
    let (wal, recovery) = Wal::open(&data, 0, options).await.expect("log opens");
    (data, wal, recovery)
}

/// Options with small segments, so tests rotate.
pub fn small_segments(segment_bytes: u64) -> WalOptions {
    WalOptions {
        segment_bytes,
        ..WalOptions::default()
    }
}

/// The segment files of core 0 in `dir`, in order.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("core-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

/// A small seeded generator (xorshift64*), so failures replay.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Polls `check` until it holds or `DEADLINE` passes.
pub async fn poll_until(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

/// True under CI, where a test that cannot run must fail, not skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips (outside CI) or fails (under CI) a test that cannot run here.
pub fn cannot_run(why: &str) {
    assert!(
        !in_ci(),
        "this test must run under CI=true but cannot: {why}"
    );
    eprintln!("SKIPPED (not under CI): {why}");
}
