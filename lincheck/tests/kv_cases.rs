//! Hand-written key-value histories with known answers.

use pinwheel_lincheck::{
    check_kv, CheckOptions, Command, ErrorKind, HistoryError, KvHistory, KvReport, OpId, Reply,
    Verdict, KEY_OPS_MAX,
};

fn ok() -> Reply {
    Reply::Ok
}

fn nil() -> Reply {
    Reply::Nil
}

fn bulk(value: &str) -> Reply {
    Reply::Bulk(value.as_bytes().to_vec())
}

fn int(n: i64) -> Reply {
    Reply::Int(n)
}

fn check(history: &KvHistory) -> KvReport {
    check_kv(history, &CheckOptions::default()).expect("history is well formed")
}

fn assert_linearizable(history: &KvHistory) {
    let report = check(history);
    assert!(report.is_linearizable(), "expected linearizable:\n{report}");
}

/// Asserts a violation on `key` whose culprits are `culprits`; returns the
/// report's text.
fn assert_violation(history: &KvHistory, key: &str, culprits: &[OpId]) -> String {
    let report = check(history);
    assert_eq!(
        report.verdict(),
        Verdict::Violation,
        "expected a violation:\n{report}"
    );
    let violation = report
        .violations
        .iter()
        .find(|v| v.key == key.as_bytes())
        .unwrap_or_else(|| panic!("no violation on {key}:\n{report}"));
    assert_eq!(violation.culprits, culprits, "{report}");
    report.to_string()
}

#[test]
fn empty_history_is_linearizable() {
    assert_linearizable(&KvHistory::new());
}

#[test]
fn sequential_write_then_read() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::get(), 0, 5, nil());
    h.record(1, "k", Command::set("a"), 10, 20, ok());
    h.record(2, "k", Command::get(), 30, 40, bulk("a"));
    assert_linearizable(&h);
}

#[test]
fn stale_read_is_a_violation() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.record(2, "k", Command::set("b"), 20, 30, ok());
    let stale = h.record(1, "k", Command::get(), 40, 50, bulk("a"));
    let text = assert_violation(&h, "k", &[stale]);
    assert!(text.contains("GET -> \"a\""), "{text}");
    assert!(text.contains("leaves the key holding \"b\""), "{text}");
}

#[test]
fn read_of_a_value_never_written() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    let bad = h.record(2, "k", Command::get(), 5, 15, bulk("zzz"));
    assert_violation(&h, "k", &[bad]);
}

#[test]
fn lost_write_read_back_as_absent() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    let lost = h.record(2, "k", Command::get(), 20, 30, nil());
    assert_violation(&h, "k", &[lost]);
}

#[test]
fn read_concurrent_with_a_write_may_see_either_value() {
    for seen in [bulk("a"), bulk("b")] {
        let mut h = KvHistory::new();
        h.record(1, "k", Command::set("a"), 0, 10, ok());
        h.record(2, "k", Command::set("b"), 20, 60, ok());
        h.record(3, "k", Command::get(), 30, 40, seen);
        assert_linearizable(&h);
    }
}

#[test]
fn value_flipping_back_during_a_write_is_a_violation() {
    // Sequentially consistent but not linearizable: once a read saw the new
    // value, a later read cannot see the old one.
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("1"), 0, 100, ok());
    h.record(2, "k", Command::get(), 10, 20, bulk("1"));
    let back = h.record(3, "k", Command::get(), 30, 40, nil());
    assert_violation(&h, "k", &[back]);
}

#[test]
fn concurrent_writes_may_take_effect_in_reverse_order() {
    let mut h = KvHistory::new();
    for (client, value) in [(1, "1"), (2, "2"), (3, "3")] {
        h.record(client, "k", Command::set(value), 0, 100, ok());
    }
    h.record(4, "k", Command::get(), 10, 20, bulk("3"));
    h.record(4, "k", Command::get(), 30, 40, bulk("2"));
    h.record(4, "k", Command::get(), 50, 60, bulk("1"));
    assert_linearizable(&h);
}

#[test]
fn overlapping_writes_have_one_final_order() {
    // Either order is possible for the two writes, but once a read after
    // both saw "a", no later read can see "b".
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 50, ok());
    h.record(2, "k", Command::set("b"), 0, 50, ok());
    h.record(3, "k", Command::get(), 60, 70, bulk("a"));
    h.record(3, "k", Command::get(), 75, 78, bulk("a"));
    assert_linearizable(&h);
    let flip = h.record(4, "k", Command::get(), 80, 90, bulk("b"));
    assert_violation(&h, "k", &[flip]);
}

#[test]
fn incr_sequence_with_a_lost_increment() {
    let mut h = KvHistory::new();
    h.record(1, "n", Command::incr(), 0, 10, int(1));
    h.record(2, "n", Command::incr(), 20, 30, int(2));
    let lost = h.record(1, "n", Command::incr(), 40, 50, int(2));
    assert_violation(&h, "n", &[lost]);
}

#[test]
fn concurrent_increments_see_each_other() {
    let mut h = KvHistory::new();
    h.record(1, "n", Command::incr(), 0, 100, int(2));
    h.record(2, "n", Command::incr(), 10, 90, int(1));
    h.record(3, "n", Command::get(), 110, 120, bulk("2"));
    assert_linearizable(&h);

    // Two increments that both answer 1 lost one of them; the one that
    // returned last is the one no order explains.
    let mut h = KvHistory::new();
    let last = h.record(1, "n", Command::incr(), 0, 100, int(1));
    h.record(2, "n", Command::incr(), 10, 90, int(1));
    assert_violation(&h, "n", &[last]);
}

#[test]
fn incrby_and_integer_rules() {
    let mut h = KvHistory::new();
    h.record(1, "n", Command::set("10"), 0, 1, ok());
    h.record(1, "n", Command::incr_by(-15), 2, 3, int(-5));
    h.record(1, "n", Command::get(), 4, 5, bulk("-5"));
    // "010" is not an integer to Redis: no leading zeros.
    h.record(1, "n", Command::set("010"), 6, 7, ok());
    h.record(
        1,
        "n",
        Command::incr(),
        8,
        9,
        Reply::Error(ErrorKind::NotAnInteger),
    );
    h.record(1, "n", Command::get(), 10, 11, bulk("010"));
    h.record(1, "n", Command::set(i64::MAX.to_string()), 12, 13, ok());
    h.record(
        1,
        "n",
        Command::incr(),
        14,
        15,
        Reply::Error(ErrorKind::Overflow),
    );
    h.record(1, "n", Command::del(), 16, 17, int(1));
    h.record(1, "n", Command::incr_by(4), 18, 19, int(4));
    assert_linearizable(&h);
}

#[test]
fn incr_on_a_string_must_fail() {
    let mut h = KvHistory::new();
    h.record(1, "n", Command::set("abc"), 0, 10, ok());
    let bad = h.record(1, "n", Command::incr(), 20, 30, int(1));
    assert_violation(&h, "n", &[bad]);

    let mut h = KvHistory::new();
    h.record(1, "n", Command::set("5"), 0, 10, ok());
    let bad = h.record(
        1,
        "n",
        Command::incr(),
        20,
        30,
        Reply::Error(ErrorKind::NotAnInteger),
    );
    assert_violation(&h, "n", &[bad]);
}

#[test]
fn compare_and_set_race_has_one_winner() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("0"), 0, 10, ok());
    h.record(2, "k", Command::set_ifeq("1", "0"), 20, 40, ok());
    h.record(3, "k", Command::set_ifeq("2", "0"), 25, 45, nil());
    h.record(1, "k", Command::get(), 50, 60, bulk("1"));
    assert_linearizable(&h);

    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("0"), 0, 10, ok());
    h.record(2, "k", Command::set_ifeq("1", "0"), 20, 40, ok());
    let second = h.record(3, "k", Command::set_ifeq("2", "0"), 25, 45, ok());
    assert_violation(&h, "k", &[second]);
}

#[test]
fn compare_and_set_against_the_wrong_value() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    let bad = h.record(1, "k", Command::set_ifeq("c", "b"), 20, 30, ok());
    assert_violation(&h, "k", &[bad]);

    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.record(1, "k", Command::set_ifeq("c", "b"), 20, 30, nil());
    h.record(
        1,
        "k",
        Command::set_ifeq("c", "a").with_get(),
        40,
        50,
        bulk("a"),
    );
    h.record(1, "k", Command::get(), 60, 70, bulk("c"));
    assert_linearizable(&h);
}

#[test]
fn nx_and_xx() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set_xx("a"), 0, 1, nil());
    h.record(1, "k", Command::set_nx("a"), 2, 3, ok());
    h.record(1, "k", Command::set_nx("b"), 4, 5, nil());
    h.record(1, "k", Command::set_xx("c"), 6, 7, ok());
    h.record(1, "k", Command::set_nx("d").with_get(), 8, 9, bulk("c"));
    h.record(1, "k", Command::get(), 10, 11, bulk("c"));
    assert_linearizable(&h);

    let mut h = KvHistory::new();
    h.record(1, "k", Command::set_nx("a"), 0, 1, ok());
    let twice = h.record(2, "k", Command::set_nx("b"), 2, 3, ok());
    assert_violation(&h, "k", &[twice]);
}

#[test]
fn del_delifeq_getset_getdel() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::del(), 0, 1, int(0));
    h.record(1, "k", Command::getset("a"), 2, 3, nil());
    h.record(1, "k", Command::getset("b"), 4, 5, bulk("a"));
    h.record(1, "k", Command::del_ifeq("a"), 6, 7, int(0));
    h.record(1, "k", Command::del_ifeq("b"), 8, 9, int(1));
    h.record(1, "k", Command::set("c"), 10, 11, ok());
    h.record(1, "k", Command::getdel(), 12, 13, bulk("c"));
    h.record(1, "k", Command::getdel(), 14, 15, nil());
    assert_linearizable(&h);

    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 1, ok());
    h.record(1, "k", Command::getdel(), 2, 3, bulk("a"));
    let bad = h.record(1, "k", Command::del(), 4, 5, int(1));
    assert_violation(&h, "k", &[bad]);
}

#[test]
fn unknown_write_may_have_taken_effect() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.record_unknown(2, "k", Command::set("b"), 20);
    h.record(3, "k", Command::get(), 30, 40, bulk("b"));
    assert_linearizable(&h);
}

#[test]
fn unknown_write_may_not_have_taken_effect() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.record_unknown(2, "k", Command::set("b"), 20);
    h.record(3, "k", Command::get(), 30, 40, bulk("a"));
    h.record(3, "k", Command::get(), 1_000, 1_010, bulk("a"));
    assert_linearizable(&h);
}

#[test]
fn unknown_write_cannot_take_effect_before_it_was_sent() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    let early = h.record(3, "k", Command::get(), 20, 30, bulk("b"));
    h.record_unknown(2, "k", Command::set("b"), 40);
    assert_violation(&h, "k", &[early]);
}

#[test]
fn unknown_write_takes_effect_at_most_once() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.record_unknown(2, "k", Command::set("b"), 20);
    h.record(3, "k", Command::get(), 30, 40, bulk("b"));
    let undone = h.record(3, "k", Command::get(), 50, 60, bulk("a"));
    assert_violation(&h, "k", &[undone]);
}

#[test]
fn unknown_increment_counts_once_or_not_at_all() {
    let mut h = KvHistory::new();
    h.record(1, "n", Command::incr(), 0, 10, int(1));
    h.record_unknown(2, "n", Command::incr(), 20);
    h.record(1, "n", Command::incr(), 30, 40, int(3));
    assert_linearizable(&h);
    let too_many = h.record(1, "n", Command::incr(), 50, 60, int(5));
    assert_violation(&h, "n", &[too_many]);
}

#[test]
fn unknown_reads_are_ignored() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.record_unknown(2, "k", Command::get(), 5);
    h.record(1, "k", Command::get(), 20, 30, bulk("a"));
    let report = check(&h);
    assert!(report.is_linearizable(), "{report}");
    assert_eq!(report.unknown_outcomes, 1);
}

#[test]
fn an_operation_invoked_as_another_returns_counts_as_concurrent() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.record(2, "k", Command::get(), 10, 20, nil());
    assert_linearizable(&h);
}

#[test]
fn keys_are_checked_independently() {
    let mut h = KvHistory::new();
    h.record(1, "a", Command::set("1"), 0, 10, ok());
    h.record(1, "b", Command::set("1"), 0, 10, ok());
    h.record(2, "a", Command::get(), 20, 30, bulk("1"));
    // "b"'s read would be fine for key "a"'s value, not for "b"'s.
    let bad = h.record(2, "b", Command::get(), 20, 30, nil());
    let c = h.record(3, "c", Command::get(), 0, 1, bulk("never"));
    let report = check(&h);
    assert_eq!(report.keys, 3);
    let keys: Vec<&[u8]> = report.violations.iter().map(|v| v.key.as_slice()).collect();
    assert_eq!(keys, [&b"b"[..], &b"c"[..]], "{report}");
    assert_eq!(report.violations[0].culprits, [bad]);
    assert_eq!(report.violations[1].culprits, [c]);
}

#[test]
fn a_long_history_is_cut_to_a_short_window() {
    let mut h = KvHistory::new();
    let mut t = 0;
    for i in 0..200 {
        h.record(i % 3, "n", Command::incr(), t, t + 10, int(i as i64 + 1));
        t += 20;
    }
    // Op 200 is wrong (a repeat of 200); everything after it is right.
    let culprit = h.record(1, "n", Command::incr(), t, t + 10, int(200));
    for i in 0..50 {
        t += 20;
        h.record(
            2,
            "n",
            Command::get(),
            t,
            t + 10,
            bulk(&(201 + i / 100).to_string()),
        );
    }
    let report = check(&h);
    let violation = &report.violations[0];
    assert_eq!(violation.culprits, [culprit], "{report}");
    assert_eq!(violation.cut_ns, t_of(&h, culprit));
    assert_eq!(violation.prefix_ops, 201);
    assert!(violation.window.len() <= 24, "{report}");
    assert!(violation.not_shown > 150, "{report}");
    assert_eq!(violation.value_before, Some(Some(b"200".to_vec())));
    assert!(violation
        .window
        .iter()
        .any(|op| op.culprit && op.id == culprit));
}

fn t_of(h: &KvHistory, op: OpId) -> u64 {
    h.records()[op.index()].returned.as_ref().unwrap().at_ns
}

#[test]
fn restarts_are_shown_in_the_window() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 10, ok());
    h.restart(15);
    h.record(1, "k", Command::get(), 20, 30, nil());
    let report = check(&h);
    assert_eq!(report.violations[0].restarts_ns, [15]);
    assert!(
        report.to_string().contains("restart marked at +15"),
        "{report}"
    );
}

#[test]
fn budget_exhaustion_is_inconclusive_not_a_violation() {
    // Many concurrent writes and reads: plenty of orders to try.
    let mut h = KvHistory::new();
    for client in 0..12 {
        h.record(
            client,
            "k",
            Command::set(client.to_string()),
            0,
            1_000,
            ok(),
        );
    }
    h.record(99, "k", Command::get(), 2_000, 2_010, bulk("0"));
    let tight = CheckOptions {
        steps_max: 5,
        ..CheckOptions::default()
    };
    let report = check_kv(&h, &tight).unwrap();
    assert_eq!(report.verdict(), Verdict::Inconclusive, "{report}");
    assert_eq!(report.inconclusive[0].key, b"k");
    assert!(report.to_string().contains("inconclusive"), "{report}");
    assert!(check(&h).is_linearizable());

    let tiny_cache = CheckOptions {
        cache_bytes_max: 1,
        ..CheckOptions::default()
    };
    let report = check_kv(&h, &tiny_cache).unwrap();
    assert_eq!(report.verdict(), Verdict::Inconclusive, "{report}");
}

#[test]
fn malformed_histories_are_refused() {
    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 10, 5, ok());
    assert!(matches!(
        check_kv(&h, &CheckOptions::default()),
        Err(HistoryError::ReturnedBeforeInvoked { op: 0, .. })
    ));

    let mut h = KvHistory::new();
    h.record(1, "k", Command::set("a"), 0, 5, int(3));
    let error = check_kv(&h, &CheckOptions::default()).unwrap_err();
    assert!(matches!(error, HistoryError::ReplyDoesNotFit { op: 0, .. }));
    assert!(error.to_string().contains("SET \"a\""), "{error}");

    let mut h = KvHistory::new();
    let op = h.record(1, "k", Command::get(), 0, 5, nil());
    h.returned(op, 6, nil());
    assert_eq!(
        check_kv(&h, &CheckOptions::default()),
        Err(HistoryError::ReturnedTwice { op: 0 })
    );

    let mut h = KvHistory::new();
    h.returned(OpId(7), 6, nil());
    assert_eq!(
        check_kv(&h, &CheckOptions::default()),
        Err(HistoryError::NoSuchOp { op: 7 })
    );
}

#[test]
fn an_oversized_key_is_refused_up_front() {
    let mut h = KvHistory::new();
    for i in 0..=KEY_OPS_MAX as u64 {
        h.record(1, "hot", Command::get(), i * 2, i * 2 + 1, nil());
    }
    let error = check_kv(&h, &CheckOptions::default()).unwrap_err();
    assert!(
        matches!(error, HistoryError::KeyTooManyOps { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("KEY_OPS_MAX"), "{error}");
}

#[test]
fn histories_merge_with_ids_shifted() {
    let mut first = KvHistory::new();
    first.record(1, "k", Command::set("a"), 0, 10, ok());
    let mut second = KvHistory::new();
    let read = second.record(2, "k", Command::get(), 20, 30, nil());
    first.extend(second);
    let report = check(&first);
    assert_eq!(report.violations[0].culprits, [OpId(read.index() + 1)]);
}
