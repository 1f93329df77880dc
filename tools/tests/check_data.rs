//! `pinwheel check-data` and `pinwheel probe-disk` as an operator runs
//! them: real processes on real directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pinwheel_wal::{
    core_dir_name, format_file_contents, segment_file_name, Ballot, Body, Record, SegmentHeader,
    SlotEntry, SnapshotMark, FORMAT_FILE_NAME, SEGMENT_HEADER_BYTES,
};

const SEGMENT_BYTES: usize = 64 * 1024;

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("pinwheel-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FORMAT_FILE_NAME), format_file_contents()).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes core `core`'s segment `sequence` holding `records`, zero-filled
/// to the segment size, as the log would; returns its path and the offset
/// where each record starts.
fn write_segment(
    dir: &Path,
    core: u32,
    sequence: u64,
    records: &[Record<'_>],
) -> (PathBuf, Vec<usize>) {
    let mut bytes = SegmentHeader { core, sequence }.encode().to_vec();
    let mut starts = Vec::new();
    for record in records {
        starts.push(bytes.len());
        record.encode(&mut bytes).unwrap();
    }
    bytes.resize(SEGMENT_BYTES, 0);
    let core_dir = dir.join(core_dir_name(core));
    std::fs::create_dir_all(&core_dir).unwrap();
    let path = core_dir.join(segment_file_name(sequence));
    std::fs::write(&path, bytes).unwrap();
    (path, starts)
}

fn entry(group: u32, slot: u64, data: &[u8]) -> Record<'_> {
    let body = Body::Entry(SlotEntry {
        slot,
        ballot: Ballot { round: 2, node: 1 },
        entry: data,
    });
    Record { group, body }
}

fn sample(data: &[u8]) -> Vec<Record<'_>> {
    let mut records = vec![Record {
        group: 4,
        body: Body::Promise(Ballot { round: 2, node: 1 }),
    }];
    records.extend((0..10).map(|slot| entry(4, slot, data)));
    records.extend((0..3).map(|slot| entry(9, slot, data)));
    let mark = SnapshotMark {
        slot: 5,
        name: "group-4-slot-5.snap",
        size: 100,
        checksum: 7,
    };
    records.push(Record {
        group: 4,
        body: Body::SnapshotMark(mark),
    });
    records
}

fn check(dir: &Path) -> (Option<i32>, String) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_pinwheel"))
        .arg("check-data")
        .arg(dir)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn a_clean_directory_is_startable_and_counted_per_group_and_kind() {
    let scratch = Scratch::new("clean");
    let data = [1u8; 40];
    write_segment(&scratch.0, 0, 1, &sample(&data));
    write_segment(&scratch.0, 0, 2, &[entry(4, 10, &data)]);
    write_segment(&scratch.0, 0, 3, &[]);
    write_segment(&scratch.0, 1, 1, &[entry(5, 0, &data)]);
    let (code, out) = check(&scratch.0);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("group 4: promise 1, entry 11, chosen 0, snapshot-mark 1"),
        "{out}"
    );
    assert!(out.contains("group 9: promise 0, entry 3"), "{out}");
    assert!(
        out.contains("core 1 ") && out.contains("group 5: promise 0, entry 1"),
        "{out}"
    );
    assert!(out.contains("spare (empty)"), "{out}");
    assert!(out.contains("result: startable"), "{out}");
}

#[test]
fn a_torn_tail_is_reported_with_its_offset_and_left_alone() {
    let scratch = Scratch::new("torn");
    let data = [2u8; 40];
    let records = sample(&data);
    write_segment(&scratch.0, 0, 1, &records);
    let (path, starts) = write_segment(&scratch.0, 0, 2, &records);
    let mut bytes = std::fs::read(&path).unwrap();
    let torn_at = *starts.last().unwrap();
    bytes[torn_at + 12..torn_at + 40].fill(0); // the last record's write stopped short
    std::fs::write(&path, &bytes).unwrap();
    let (code, out) = check(&scratch.0);
    assert_eq!(code, Some(0), "{out}");
    let expected = format!(
        "would cut a torn tail: {} at offset {torn_at}",
        path.display()
    );
    assert!(out.contains(&expected), "{out}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "check-data changed the segment"
    );
}

#[test]
fn damage_is_refused_with_file_and_offset_and_exit_1() {
    let scratch = Scratch::new("damage");
    let data = [3u8; 40];
    let (path, starts) = write_segment(&scratch.0, 0, 1, &sample(&data));
    write_segment(&scratch.0, 0, 2, &sample(&data));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[starts[3] + 20] ^= 0x08;
    std::fs::write(&path, &bytes).unwrap();
    let (code, out) = check(&scratch.0);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "REFUSE: {} at offset {}",
            path.display(),
            starts[3]
        )),
        "{out}"
    );
    assert!(
        out.contains("result: recovery would refuse to start"),
        "{out}"
    );
    assert!(starts[3] > SEGMENT_HEADER_BYTES);
}

#[test]
fn another_format_a_missing_directory_and_a_fresh_one() {
    let scratch = Scratch::new("format");
    write_segment(&scratch.0, 0, 1, &[]);
    std::fs::write(scratch.0.join(FORMAT_FILE_NAME), "pinwheel data format 9\n").unwrap();
    let (code, out) = check(&scratch.0);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("format file says \"pinwheel data format 9\""),
        "{out}"
    );

    let (code, out) = check(&scratch.0.join("nowhere"));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("nowhere"), "{out}");

    let fresh = Scratch::new("fresh");
    std::fs::remove_file(fresh.0.join(FORMAT_FILE_NAME)).unwrap();
    let (code, out) = check(&fresh.0);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !fresh.0.join(FORMAT_FILE_NAME).exists(),
        "check-data created a file"
    );
}

#[test]
fn probe_disk_reports_latencies_and_leaves_nothing_behind() {
    let scratch = Scratch::new("probe");
    std::fs::remove_file(scratch.0.join(FORMAT_FILE_NAME)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pinwheel"))
        .args(["probe-disk", "--appends", "50"])
        .arg(&scratch.0)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for line in [
        "write + fdatasync (raw)",
        "fdatasync alone (raw)",
        "wal append + durable",
    ] {
        assert!(text.contains(line), "{text}");
    }
    assert_eq!(
        std::fs::read_dir(&scratch.0).unwrap().count(),
        0,
        "the probe left files behind"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_pinwheel"))
        .args(["probe-disk", "--bytes", "5000"])
        .arg(&scratch.0)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
