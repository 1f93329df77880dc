//! The acknowledged-writes check of crash tests.

use pinwheel_lincheck::{AckedViolation, AckedWrites, HistoryError};

/// Two keys: "a" acknowledged up to 3 with 4 in flight at the kill; "b"
/// acknowledged up to 1.
fn writes() -> AckedWrites {
    let mut w = AckedWrites::new();
    for value in 1..=4 {
        w.sent("a", value);
        if value < 4 {
            w.acked("a", value);
        }
    }
    w.sent("b", 1);
    w.acked("b", 1);
    w
}

fn some(value: &str) -> Option<&str> {
    Some(value)
}

#[test]
fn the_latest_ack_or_a_later_sent_value_passes() {
    for found in ["3", "4"] {
        let report = writes()
            .check([("a", some(found)), ("b", some("1"))])
            .unwrap();
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.acked_keys, 2);
        assert_eq!(report.unacked_survivors, usize::from(found == "4"));
    }
}

#[test]
fn an_older_value_or_absence_is_a_lost_write() {
    let report = writes().check([("a", some("2")), ("b", None)]).unwrap();
    assert_eq!(
        report.violations,
        [
            AckedViolation::Lost {
                key: b"a".to_vec(),
                acked: 3,
                found: Some(2)
            },
            AckedViolation::Lost {
                key: b"b".to_vec(),
                acked: 1,
                found: None
            },
        ]
    );
    let text = report.to_string();
    assert!(text.contains("LOST WRITES"), "{text}");
    assert!(
        text.contains("3 was acknowledged, but the read after restart found 2"),
        "{text}"
    );
}

#[test]
fn a_value_never_sent_is_reported() {
    let report = writes()
        .check([("a", some("9")), ("b", some("junk"))])
        .unwrap();
    let keys: Vec<&[u8]> = report
        .violations
        .iter()
        .map(|v| match v {
            AckedViolation::NeverWritten { key, .. } => key.as_slice(),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(keys, [&b"a"[..], &b"b"[..]]);
}

#[test]
fn keys_without_an_ack_may_hold_nothing_or_a_sent_value() {
    let mut w = AckedWrites::new();
    w.sent("c", 5);
    assert!(w.check([("c", None::<&str>)]).unwrap().is_ok());
    assert!(w.check([("c", some("5"))]).unwrap().is_ok());
    // A key the test never wrote must read back empty.
    assert!(!w.check([("z", some("1"))]).unwrap().is_ok());
}

#[test]
fn cycles_accumulate() {
    let mut w = writes();
    assert!(w
        .check([("a", some("4")), ("b", some("1"))])
        .unwrap()
        .is_ok());
    // Next cycle: the writer goes on past every value it sent.
    w.sent("a", 5);
    w.acked("a", 5);
    let report = w.check([("a", some("4")), ("b", some("1"))]).unwrap();
    assert!(!report.is_ok(), "{report}");
}

#[test]
fn misuse_is_refused() {
    let mut w = AckedWrites::new();
    w.sent("a", 2);
    w.sent("a", 2);
    assert!(matches!(
        w.check([("a", some("2"))]),
        Err(HistoryError::NotIncreasing {
            previous: 2,
            value: 2,
            ..
        })
    ));

    let mut w = AckedWrites::new();
    w.acked("a", 1);
    assert!(matches!(
        w.check([("a", some("1"))]),
        Err(HistoryError::AckedNotSent { value: 1, .. })
    ));

    assert!(matches!(
        writes().check([("a", some("3"))]),
        Err(HistoryError::NoFinalRead { .. })
    ));
}
