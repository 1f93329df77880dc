//! Property tests, seeded by proptest (failures print a replayable seed and
//! are persisted under `proptest-regressions/`).

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::{group, run_args, run_full};
use crate::{lookup, Effect, Group, QueuedCommand, Reply, Transaction, Watched};

#[derive(Debug, Clone)]
enum ScanStep {
    Scan(usize),
    Insert(u16),
    Delete(u16),
}

fn scan_step() -> impl Strategy<Value = ScanStep> {
    prop_oneof![
        (1usize..20).prop_map(ScanStep::Scan),
        (0u16..300).prop_map(ScanStep::Insert),
        (0u16..300).prop_map(ScanStep::Delete),
    ]
}

fn key(i: u16) -> Vec<u8> {
    format!("k{i}").into_bytes()
}

/// Runs one whole SCAN interleaved with `steps`; returns the keys it
/// returned. Mutations after the walk ends are ignored.
fn interleaved_scan(g: &mut Group, steps: &[ScanStep]) -> (Vec<Vec<u8>>, BTreeSet<Vec<u8>>) {
    let mut ever_present: BTreeSet<Vec<u8>> = g.keys(b"*", 0).into_iter().collect();
    let mut seen = Vec::new();
    let mut cursor = 0;
    let mut steps = steps.iter();
    let mut calls = 0;
    loop {
        let count = loop {
            match steps.next() {
                Some(ScanStep::Scan(count)) => break *count,
                Some(ScanStep::Insert(i)) => {
                    run_args(g, 0, &[b"SET", &key(*i), b"v"]);
                    ever_present.insert(key(*i));
                }
                Some(ScanStep::Delete(i)) => {
                    run_args(g, 0, &[b"DEL", &key(*i)]);
                }
                None => break 5,
            }
        };
        let (next, keys) = g.scan(cursor, None, count, 0);
        seen.extend(keys);
        calls += 1;
        assert!(calls < 10_000, "SCAN did not terminate");
        if next == 0 {
            return (seen, ever_present);
        }
        cursor = next;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Redis's SCAN guarantee: a key present for the whole walk is returned;
    /// and nothing that was never there is.
    #[test]
    fn scan_returns_every_key_present_throughout(
        initial in proptest::collection::btree_set(0u16..300, 0..120),
        steps in proptest::collection::vec(scan_step(), 0..200),
    ) {
        let mut g = group();
        for i in &initial {
            run_args(&mut g, 0, &[b"SET", &key(*i), b"v"]);
        }
        let deleted: BTreeSet<u16> = steps
            .iter()
            .filter_map(|s| match s { ScanStep::Delete(i) => Some(*i), _ => None })
            .collect();
        let (seen, ever_present) = interleaved_scan(&mut g, &steps);
        g.keys.assert_consistent();
        let seen: BTreeSet<Vec<u8>> = seen.into_iter().collect();
        for i in initial.difference(&deleted) {
            prop_assert!(seen.contains(&key(*i)), "k{} was present throughout but not returned", i);
        }
        prop_assert!(seen.is_subset(&ever_present));
    }
}

/// One random step of the determinism test.
#[derive(Debug, Clone)]
struct Step {
    op: u8,
    key: u8,
    value: u8,
    number: i64,
    advance_ms: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..28, 0u8..6, 0u8..4, -5i64..400, 0u64..120).prop_map(
        |(op, key, value, number, advance_ms)| Step {
            op,
            key,
            value,
            number,
            advance_ms,
        },
    )
}

/// The command line of a step; `None` for the non-command operations.
fn command(step: &Step) -> Option<Vec<String>> {
    let k = format!("k{}", step.key);
    let k2 = format!("k{}", (step.key + 1) % 6);
    let l = format!("l{}", step.key % 3);
    let v = ["1", "abc", "2.5", "-7"][usize::from(step.value)].to_owned();
    let n = step.number.to_string();
    let small = (step.number.rem_euclid(8)).to_string();
    let words: Vec<&str> = match step.op {
        0 => vec!["SET", &k, &v],
        1 => vec!["SET", &k, &v, "PX", &n],
        2 => vec!["SET", &k, &v, "NX", "GET"],
        3 => vec!["SET", &k, &v, "IFEQ", "1", "KEEPTTL"],
        4 => vec!["INCR", &k],
        5 => vec!["INCRBY", &k, &n],
        6 => vec!["INCRBYFLOAT", &k, &v],
        7 => vec!["APPEND", &k, &v],
        8 => vec!["DEL", &k, &k2],
        9 => vec!["PEXPIRE", &k, &n],
        10 => vec!["EXPIRE", &k, &small, "GT"],
        11 => vec!["PERSIST", &k],
        12 => vec!["GETEX", &k, "PX", &n],
        13 => vec!["SETRANGE", &k, &small, &v],
        14 => vec!["MSET", &k, &v, &k2, &n],
        15 => vec!["GETDEL", &k],
        16 => vec!["DELIFEQ", &k, &v],
        17 => vec!["GET", &k],
        18 => vec!["PTTL", &k],
        19 => vec!["LOCK.ACQUIRE", &l, &v, "100", "WAIT", &n],
        20 => vec!["LOCK.RELEASE", &l, &small],
        21 => vec!["LOCK.RENEW", &l, &small, "50"],
        22 => vec!["LOCK.EXPIRE", &l, &small, "1"],
        23 => vec!["LOCK.CANCEL", &l, &small],
        24 => vec!["LOCK.INFO", &l],
        25 => vec!["MGET", &k, &k2],
        _ => return None,
    };
    Some(words.into_iter().map(str::to_owned).collect())
}

/// Everything observable from one step.
#[derive(Debug, PartialEq)]
enum Outcome {
    Reply(Option<Reply>, Vec<Effect>),
    Swept(usize),
    Scanned(u64, Vec<Vec<u8>>, Option<Vec<u8>>),
}

fn apply_step(g: &mut Group, now_ms: u64, index: usize, step: &Step) -> Outcome {
    match command(step) {
        Some(words) => {
            let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            let mut effects = Vec::new();
            let reply = run_full(g, now_ms, &args, index as u64 + 1, &mut effects);
            Outcome::Reply(reply, effects)
        }
        None if step.op == 26 => Outcome::Swept(g.sweep_expired(now_ms, usize::from(step.value))),
        None => {
            let (next, keys) = g.scan(step.number.unsigned_abs() << 56, None, 3, now_ms);
            Outcome::Scanned(next, keys, g.random_key(step.number as u64, now_ms))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Two replicas fed the same log answer the same and end equal, even
    /// though their hash maps are seeded differently.
    #[test]
    fn same_log_same_replies_and_state(steps in proptest::collection::vec(step(), 0..300)) {
        let (mut a, mut b) = (group(), group());
        let mut now_ms = 1_000;
        let mut last_token = 0;
        for (index, step) in steps.iter().enumerate() {
            now_ms += step.advance_ms;
            let left = apply_step(&mut a, now_ms, index, step);
            if let Outcome::Reply(_, effects) = &left {
                for effect in effects {
                    // A first lease is a new grant: its token beats every
                    // token handed out before, for any lock.
                    if let Effect::LeaseStarted { token, lease_seq: 1, .. } = effect {
                        prop_assert!(*token > last_token, "token {} after {}", token, last_token);
                        last_token = *token;
                    }
                }
            }
            let right = apply_step(&mut b, now_ms, index, step);
            prop_assert_eq!(left, right, "step {} {:?}", index, step);
            a.keys.assert_consistent();
        }
        prop_assert_eq!(a.keys(b"*", now_ms), b.keys(b"*", now_ms));
        prop_assert!(a == b, "states differ");
        let mut bytes = Vec::new();
        a.encode_snapshot(&mut bytes);
        let restored = Group::decode_snapshot(&bytes, *a.limits());
        prop_assert!(restored.as_ref() == Ok(&a), "snapshot round trip differs");
        // The state machine is a function of the log: a replay from scratch
        // ends in the same state.
        let mut c = group();
        let mut now_ms = 1_000;
        for (index, step) in steps.iter().enumerate() {
            now_ms += step.advance_ms;
            apply_step(&mut c, now_ms, index, step);
        }
        prop_assert!(a == c, "replay differs");
    }
}

/// A watched key's value and deadline when live at `now_ms`.
fn live_value(g: &Group, key: &[u8], now_ms: u64) -> Option<(Vec<u8>, Option<u64>)> {
    g.keys
        .live(key, now_ms)
        .map(|value| (value.data.clone(), value.deadline_ms))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A transaction is its commands applied one by one (same replies,
    /// effects and state) when no watched key changed, and changes nothing
    /// when one did. It never runs over a watched key whose value, TTL or
    /// liveness differs from what the WATCH saw, and never aborts when
    /// nothing ran and no time passed since the WATCH.
    #[test]
    fn a_transaction_is_its_commands_in_one_step(
        prefix in proptest::collection::vec(step(), 0..60),
        watched in proptest::collection::btree_set(0u8..6, 0..4),
        between in proptest::collection::vec(step(), 0..4),
        commands in proptest::collection::vec(step(), 0..20),
        exec_after_ms in prop_oneof![Just(0u64), 0u64..150],
    ) {
        let mut g = group();
        let mut now_ms = 1_000;
        for (index, step) in prefix.iter().enumerate() {
            now_ms += step.advance_ms;
            apply_step(&mut g, now_ms, index, step);
        }
        let keys: Vec<Vec<u8>> = watched.iter().map(|k| format!("k{k}").into_bytes()).collect();
        let seen: Vec<_> = keys.iter().map(|key| g.watch(key, now_ms)).collect();
        let at_watch: Vec<_> = keys.iter().map(|key| live_value(&g, key, now_ms)).collect();
        for (index, step) in between.iter().enumerate() {
            apply_step(&mut g, now_ms, 1_000 + index, step);
        }
        now_ms += exec_after_ms;
        let lines: Vec<Vec<String>> = commands.iter().filter_map(command).collect();
        let args: Vec<Vec<&[u8]>> = lines
            .iter()
            .map(|words| words.iter().map(|w| w.as_bytes()).collect())
            .collect();
        let queued: Vec<QueuedCommand<'_>> = args
            .iter()
            .map(|args| QueuedCommand { cmd: lookup(args[0]).unwrap().cmd, args })
            .collect();
        let watched: Vec<Watched<'_>> = keys
            .iter()
            .zip(&seen)
            .map(|(key, seen)| Watched { key, seen: *seen })
            .collect();
        let transaction = Transaction { watched: &watched, commands: &queued, now_ms };
        let mut in_one = g.clone();
        let mut effects = Vec::new();
        let outcome = in_one.apply_transaction(&transaction, &mut effects);
        in_one.keys.assert_consistent();
        let Some(replies) = outcome else {
            prop_assert!(in_one == g, "an aborted transaction changed the group");
            prop_assert!(effects.is_empty());
            prop_assert!(!between.is_empty() || exec_after_ms > 0, "aborted with nothing in between");
            return Ok(());
        };
        for (key, before) in keys.iter().zip(&at_watch) {
            prop_assert_eq!(&live_value(&g, key, now_ms), before, "ran over a changed key");
        }
        let mut one_by_one = Vec::new();
        let mut sequential_effects = Vec::new();
        for args in &args {
            let reply = run_full(&mut g, now_ms, args, 0, &mut sequential_effects);
            one_by_one.push(reply.expect("no waiter, no parking"));
        }
        prop_assert_eq!(replies, one_by_one);
        prop_assert_eq!(effects, sequential_effects);
        prop_assert!(in_one == g, "the step and the commands one by one differ");
    }
}
