//! The recovery policy over whole segments: clean ends, torn tails cut,
//! corruption refused with segment and offset.

use pinwheel_wal::{
    plan, put_frame, Ballot, Body, Corruption, DecodeError, HeaderError, Plan, Problem, Record,
    Refusal, SegmentBytes, SegmentHeader, SlotEntry, SEGMENT_HEADER_BYTES,
};
use proptest::prelude::*;

const CORE: u32 = 2;
const SEGMENT_BYTES: usize = 4096;

/// A segment file: header, the frames of `entries` (one record each, in
/// group 1), zeros to `SEGMENT_BYTES`.
fn segment(sequence: u64, entries: &[&[u8]]) -> Vec<u8> {
    let mut bytes = SegmentHeader {
        core: CORE,
        sequence,
    }
    .encode()
    .to_vec();
    for (i, entry) in entries.iter().enumerate() {
        let record = Record {
            group: 1,
            body: Body::Entry(SlotEntry {
                slot: i as u64,
                ballot: Ballot { round: 1, node: 0 },
                entry,
            }),
        };
        record.encode(&mut bytes).unwrap();
    }
    assert!(bytes.len() <= SEGMENT_BYTES);
    bytes.resize(SEGMENT_BYTES, 0);
    bytes
}

/// Offset just past record `n` of a segment built by `segment`.
fn end_of(entries: &[&[u8]], n: usize) -> usize {
    SEGMENT_HEADER_BYTES
        + entries[..n]
            .iter()
            .map(|e| 8 + 5 + 20 + e.len())
            .sum::<usize>()
}

fn run(segments: &[(u64, &[u8])]) -> Result<Plan, Refusal> {
    let input: Vec<_> = segments
        .iter()
        .map(|&(sequence, bytes)| SegmentBytes { sequence, bytes })
        .collect();
    plan(CORE, &input)
}

const ENTRIES: [&[u8]; 4] = [b"first", b"second entry", b"third", b"fourth, longer entry"];

#[test]
fn nothing_and_a_lone_spare_are_both_fresh_logs() {
    let none = run(&[]).unwrap();
    assert_eq!((none.resume, none.cut, none.records()), (None, None, 0));
    let spare = segment(1, &[]);
    let fresh = run(&[(1, &spare)]).unwrap();
    assert_eq!(
        (fresh.resume, fresh.cut, fresh.segments[0].used),
        (Some(0), None, false)
    );
}

#[test]
fn a_clean_log_replays_everything_and_resumes_in_the_newest_used_segment() {
    let (a, b, spare) = (
        segment(5, &ENTRIES),
        segment(6, &ENTRIES[..2]),
        segment(7, &[]),
    );
    let plan = run(&[(5, &a), (6, &b), (7, &spare)]).unwrap();
    assert_eq!(plan.records(), 6);
    assert_eq!(plan.resume, Some(1));
    assert_eq!(plan.cut, None);
    assert_eq!(plan.segments[1].valid_end as usize, end_of(&ENTRIES, 2));
    assert!(!plan.segments[2].used);
}

#[test]
fn a_record_cut_short_in_the_newest_segment_is_a_torn_tail() {
    let mut b = segment(2, &ENTRIES);
    let torn_at = end_of(&ENTRIES, 3);
    b[torn_at + 20..].fill(0); // the last record's write stopped 20 bytes in
    let a = segment(1, &ENTRIES);
    let plan = run(&[(1, &a), (2, &b)]).unwrap();
    let cut = plan.cut.unwrap();
    assert_eq!((cut.sequence, cut.offset as usize), (2, torn_at));
    // The last non-zero byte of what was written (slot 3's low byte).
    assert_eq!(cut.dirty_end as usize, torn_at + 8 + 5 + 1);
    assert!(matches!(
        cut.reason,
        DecodeError::Corrupt(Corruption::Checksum { .. })
    ));
    assert_eq!(plan.records(), 7);
}

#[test]
fn garbage_after_the_last_record_is_cut() {
    let mut a = segment(1, &ENTRIES);
    let end = end_of(&ENTRIES, 4);
    a[end..end + 100].fill(0xA5);
    let cut = run(&[(1, &a)]).unwrap().cut.unwrap();
    assert_eq!(
        (cut.offset as usize, cut.dirty_end as usize),
        (end, end + 100)
    );
    let mut short = a.clone();
    short.truncate(end + 3); // a file cut mid-header, then nothing
    assert!(matches!(
        run(&[(1, &short)]).unwrap().cut.unwrap().reason,
        DecodeError::Truncated { .. }
    ));
}

#[test]
fn a_bad_record_followed_by_a_valid_one_is_refused_with_both_offsets() {
    let mut b = segment(2, &ENTRIES);
    let second = end_of(&ENTRIES, 1);
    b[second + 15] ^= 0x40;
    let a = segment(1, &ENTRIES);
    let refusal = run(&[(1, &a), (2, &b)]).unwrap_err();
    assert_eq!((refusal.sequence, refusal.offset as usize), (2, second));
    let Problem::BadBeforeValid { valid_at, .. } = refusal.problem else {
        panic!("{refusal}")
    };
    assert_eq!(valid_at as usize, end_of(&ENTRIES, 2));
    assert!(
        refusal.to_string().contains(&format!("offset {second}")),
        "{refusal}"
    );
}

#[test]
fn any_damage_in_an_older_segment_is_refused_even_at_its_end() {
    let mut a = segment(1, &ENTRIES);
    let last = end_of(&ENTRIES, 3);
    a[last + 9] ^= 1; // the last record of the older segment
    let b = segment(2, &ENTRIES[..1]);
    let refusal = run(&[(1, &a), (2, &b)]).unwrap_err();
    assert_eq!((refusal.sequence, refusal.offset as usize), (1, last));
    assert!(matches!(
        refusal.problem,
        Problem::BadInOlderSegment { newest: 2, .. }
    ));
    // The same damage with only a spare after it is the newest segment's torn tail.
    let spare = segment(2, &[]);
    assert_eq!(
        run(&[(1, &a), (2, &spare)]).unwrap().cut.unwrap().offset as usize,
        last
    );
}

#[test]
fn headers_holes_and_emptied_segments_are_refused() {
    let (a, b, c) = (
        segment(1, &ENTRIES),
        segment(2, &ENTRIES),
        segment(3, &ENTRIES),
    );
    let hole = run(&[(1, &a), (3, &c)]).unwrap_err();
    assert_eq!(hole.problem, Problem::Missing { missing: 2 });
    let misplaced = run(&[(1, &a), (2, &c)]).unwrap_err();
    assert_eq!(
        misplaced.problem,
        Problem::Header(HeaderError::Sequence {
            found: 3,
            expected: 2
        })
    );
    let mut other_core = b.clone();
    other_core[..SEGMENT_HEADER_BYTES].copy_from_slice(
        &SegmentHeader {
            core: 0,
            sequence: 2,
        }
        .encode(),
    );
    assert_eq!(
        run(&[(1, &a), (2, &other_core)]).unwrap_err().problem,
        Problem::Header(HeaderError::Core {
            found: 0,
            expected: CORE
        })
    );
    let emptied = segment(2, &[]);
    let refusal = run(&[(1, &a), (2, &emptied), (3, &c)]).unwrap_err();
    assert_eq!(
        (refusal.sequence, refusal.problem),
        (2, Problem::EmptyOlderSegment { newest: 3 })
    );
}

#[test]
fn an_unknown_kind_at_the_tail_is_refused_not_cut() {
    let mut a = segment(1, &ENTRIES[..1]);
    let end = end_of(&ENTRIES, 1);
    let mut frame = Vec::new();
    put_frame(&mut frame, &[1, 0, 0, 0, 77, 1, 2, 3]);
    a[end..end + frame.len()].copy_from_slice(&frame);
    let refusal = run(&[(1, &a)]).unwrap_err();
    assert_eq!(refusal.offset as usize, end);
    assert_eq!(
        refusal.problem,
        Problem::Unreadable(DecodeError::UnknownKind { kind: 77 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Truncate the newest segment anywhere after its header, append
    /// garbage, keep the file's length or not: recovery keeps exactly the
    /// records that lie wholly before the cut and wholly intact.
    #[test]
    fn torn_tails_keep_every_whole_record(
        cut in SEGMENT_HEADER_BYTES..SEGMENT_BYTES,
        garbage in proptest::collection::vec(any::<u8>(), 0..200),
        refill in any::<bool>(),
    ) {
        let older = segment(1, &ENTRIES);
        let mut newest = segment(2, &ENTRIES);
        newest.truncate(cut);
        newest.extend_from_slice(&garbage);
        if refill {
            newest.resize(SEGMENT_BYTES.max(newest.len()), 0);
        }
        let plan = run(&[(1, &older), (2, &newest)]).unwrap();
        let whole = (0..=ENTRIES.len()).filter(|&n| end_of(&ENTRIES, n) <= cut).count() - 1;
        let newest_plan = plan.segments[1];
        prop_assert!(newest_plan.records as usize >= whole);
        prop_assert!(newest_plan.valid_end as usize >= end_of(&ENTRIES, whole));
        if let Some(cut) = plan.cut {
            prop_assert_eq!(cut.offset, newest_plan.valid_end);
            prop_assert!(cut.dirty_end as usize <= newest.len());
        }
    }
}
