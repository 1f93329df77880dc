//! The record codec against hostile bytes: round trips, random bytes, bit
//! flips and truncations. Seeded by proptest (a failure prints a replayable
//! seed and is persisted under `proptest-regressions/`).

use pinwheel_wal::{
    decode_frame, put_frame, scan_region, After, Ballot, Body, Corruption, DecodeError,
    EncodeError, Kind, Record, RegionEnd, SlotEntry, SnapshotMark, FRAME_HEADER_BYTES,
    FRAME_PAYLOAD_BYTES_MAX,
};
use proptest::prelude::*;

/// An owned record, so proptest can generate one and the test can borrow it.
#[derive(Clone, Debug)]
enum Owned {
    Promise(u32, Ballot),
    Entry(u32, u64, Ballot, Vec<u8>),
    Chosen(u32, u64, Ballot, Vec<u8>),
    Mark(u32, u64, String, u64, u32),
}

impl Owned {
    fn record(&self) -> Record<'_> {
        match self {
            Owned::Promise(group, ballot) => Record {
                group: *group,
                body: Body::Promise(*ballot),
            },
            Owned::Entry(group, slot, ballot, entry) => Record {
                group: *group,
                body: Body::Entry(slot_entry(*slot, *ballot, entry)),
            },
            Owned::Chosen(group, slot, ballot, entry) => Record {
                group: *group,
                body: Body::Chosen(slot_entry(*slot, *ballot, entry)),
            },
            Owned::Mark(group, slot, name, size, checksum) => Record {
                group: *group,
                body: Body::SnapshotMark(SnapshotMark {
                    slot: *slot,
                    name,
                    size: *size,
                    checksum: *checksum,
                }),
            },
        }
    }
}

fn slot_entry(slot: u64, ballot: Ballot, entry: &[u8]) -> SlotEntry<'_> {
    SlotEntry {
        slot,
        ballot,
        entry,
    }
}

fn ballot() -> impl Strategy<Value = Ballot> {
    (any::<u64>(), any::<u32>()).prop_map(|(round, node)| Ballot { round, node })
}

fn owned() -> impl Strategy<Value = Owned> {
    let bytes = || proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        (any::<u32>(), ballot()).prop_map(|(g, b)| Owned::Promise(g, b)),
        (any::<u32>(), any::<u64>(), ballot(), bytes())
            .prop_map(|(g, s, b, e)| Owned::Entry(g, s, b, e)),
        (any::<u32>(), any::<u64>(), ballot(), bytes())
            .prop_map(|(g, s, b, e)| Owned::Chosen(g, s, b, e)),
        (
            any::<u32>(),
            any::<u64>(),
            "[a-z0-9.-]{1,40}",
            any::<u64>(),
            any::<u32>()
        )
            .prop_filter("plain names", |(_, _, n, _, _)| n != "." && n != "..")
            .prop_map(|(g, s, n, size, c)| Owned::Mark(g, s, n, size, c)),
    ]
}

fn encode(records: &[Owned]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        r.record().encode(&mut out).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_record_round_trips(record in owned()) {
        let bytes = encode(std::slice::from_ref(&record));
        prop_assert_eq!(bytes.len(), record.record().frame_bytes());
        let (decoded, len) = Record::decode(&bytes).unwrap();
        prop_assert_eq!(len, bytes.len());
        prop_assert_eq!(decoded, record.record());
    }

    #[test]
    fn random_bytes_never_panic_and_what_decodes_re_encodes(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        if let Ok((record, len)) = Record::decode(&bytes) {
            let mut again = Vec::new();
            record.encode(&mut again).unwrap();
            prop_assert_eq!(&again[..], &bytes[..len]);
        }
        let _ = scan_region(&bytes, 0);
    }

    #[test]
    fn any_single_bit_flip_is_detected(record in owned(), bit in any::<prop::sample::Index>()) {
        let mut bytes = encode(std::slice::from_ref(&record));
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(Record::decode(&bytes).is_err());
    }

    #[test]
    fn every_truncation_is_called_truncated(record in owned(), cut in any::<prop::sample::Index>()) {
        let bytes = encode(std::slice::from_ref(&record));
        let cut = cut.index(bytes.len());
        let truncated = matches!(Record::decode(&bytes[..cut]), Err(DecodeError::Truncated { .. }));
        prop_assert!(truncated, "cut at {}", cut);
    }

    #[test]
    fn a_truncated_run_keeps_its_whole_records(
        records in proptest::collection::vec(owned(), 1..20),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&records);
        let cut = cut.index(bytes.len() + 1);
        let mut ends = vec![0usize];
        for r in &records {
            ends.push(ends.last().unwrap() + r.record().frame_bytes());
        }
        let whole = ends.iter().filter(|&&e| e <= cut).count() - 1;
        let scan = scan_region(&bytes[..cut], 0);
        prop_assert_eq!(scan.records as usize, whole);
        prop_assert_eq!(scan.valid_end as usize, ends[whole]);
        match scan.end {
            RegionEnd::Clean => prop_assert_eq!(cut, ends[whole]),
            RegionEnd::Bad(bad) => {
                let truncated = matches!(bad.reason, DecodeError::Truncated { .. });
                prop_assert!(truncated, "{:?}", bad);
                prop_assert_eq!(bad.after, After::Nothing);
            }
        }
    }

    #[test]
    fn a_flip_inside_a_run_is_found_before_the_records_after_it(
        records in proptest::collection::vec(owned(), 2..12),
        victim in any::<prop::sample::Index>(),
        bit in 0usize..8,
    ) {
        let bytes = encode(&records);
        let victim = victim.index(records.len() - 1);
        let start: usize = records[..victim].iter().map(|r| r.record().frame_bytes()).sum();
        let mut damaged = bytes.clone();
        damaged[start + FRAME_HEADER_BYTES - 1] ^= 1 << bit; // the stored checksum
        let scan = scan_region(&damaged, 0);
        prop_assert_eq!(scan.records as usize, victim);
        let RegionEnd::Bad(bad) = scan.end else { panic!("damage not seen") };
        prop_assert_eq!(bad.offset as usize, start);
        let next = start + records[victim].record().frame_bytes();
        prop_assert_eq!(bad.after, After::ValidFrame { offset: next as u64 });
    }
}

#[test]
fn unknown_kinds_are_named_not_skipped() {
    let mut payload = 9u32.to_le_bytes().to_vec();
    payload.push(200);
    let mut bytes = Vec::new();
    put_frame(&mut bytes, &payload);
    assert_eq!(
        Record::decode(&bytes),
        Err(DecodeError::UnknownKind { kind: 200 })
    );
    assert!(Record::decode(&bytes).unwrap_err().checksum_passed());
    assert_eq!(Kind::from_byte(0), None);
}

#[test]
fn malformed_bodies_under_a_valid_checksum_are_corrupt() {
    for payload in [
        vec![1, 0, 0], // shorter than group and kind
        [vec![0; 4], vec![Kind::Promise as u8], vec![0; 11]].concat(), // promise one byte short
        [vec![0; 4], vec![Kind::Promise as u8], vec![0; 13]].concat(), // promise one byte long
        [vec![0; 4], vec![Kind::Entry as u8], vec![0; 19]].concat(), // entry without its ballot
        [
            vec![0; 4],
            vec![Kind::SnapshotMark as u8],
            vec![0; 20],
            vec![3],
            b"ab".to_vec(),
        ]
        .concat(),
        [
            vec![0; 4],
            vec![Kind::SnapshotMark as u8],
            vec![0; 20],
            vec![2],
            b"a/".to_vec(),
        ]
        .concat(),
    ] {
        let mut bytes = Vec::new();
        put_frame(&mut bytes, &payload);
        let err = Record::decode(&bytes).unwrap_err();
        assert!(
            matches!(err, DecodeError::Corrupt(Corruption::Payload { .. })),
            "{payload:?}: {err:?}"
        );
        assert!(err.checksum_passed());
    }
}

#[test]
fn encode_refuses_what_it_could_not_read_back() {
    let mark = |name| Record {
        group: 0,
        body: Body::SnapshotMark(SnapshotMark {
            slot: 1,
            name,
            size: 0,
            checksum: 0,
        }),
    };
    let mut out = Vec::new();
    for name in ["", ".", "..", "a/b", "a\0b", &"x".repeat(256)] {
        assert!(
            matches!(
                mark(name).encode(&mut out),
                Err(EncodeError::SnapshotName { .. })
            ),
            "{name:?}"
        );
    }
    assert!(out.is_empty());
    let big = vec![0u8; FRAME_PAYLOAD_BYTES_MAX];
    let entry = Record {
        group: 0,
        body: Body::Entry(SlotEntry {
            slot: 0,
            ballot: Ballot::default(),
            entry: &big,
        }),
    };
    assert!(matches!(
        entry.encode(&mut out),
        Err(EncodeError::TooLarge { .. })
    ));
    assert!(out.is_empty());
}

#[test]
fn a_length_past_the_maximum_is_corrupt_even_when_bytes_are_short() {
    let mut bytes = ((FRAME_PAYLOAD_BYTES_MAX + 1) as u32)
        .to_le_bytes()
        .to_vec();
    bytes.extend_from_slice(&[0xAB; 12]);
    assert!(matches!(
        decode_frame(&bytes),
        Err(DecodeError::Corrupt(Corruption::LengthTooLarge { .. }))
    ));
}
