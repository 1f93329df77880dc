//! `WATCH` stamps and the transaction step, checked against what Redis 7.0
//! does in the same situation (each case was run on `redis-server` 7.0).

use super::{bulk, err, group, run};
use crate::{Effect, Group, QueuedCommand, Reply, Transaction, Watched, REMOVED_STAMPS_MAX};

/// Watches `key` at `watch_ms`, runs `between` (command lines at
/// `exec_ms`), then `EXEC`s `GET key` at `exec_ms`: true when it aborted.
fn aborts(g: &mut Group, key: &str, watch_ms: u64, between: &[&str], exec_ms: u64) -> bool {
    let seen = g.watch(key.as_bytes(), watch_ms);
    for line in between {
        run(g, exec_ms, line);
    }
    let before = g.clone();
    let outcome = exec(g, &[(key, seen)], &["GET ".to_owned() + key], exec_ms);
    if outcome.is_none() {
        assert_eq!(*g, before, "an aborted transaction changed the group");
    }
    outcome.is_none()
}

/// Runs command lines as one transaction watching `watched`.
fn exec(
    g: &mut Group,
    watched: &[(&str, crate::WatchStamp)],
    lines: &[String],
    now_ms: u64,
) -> Option<Vec<Reply>> {
    let mut effects = Vec::new();
    exec_with_effects(g, watched, lines, now_ms, &mut effects)
}

fn exec_with_effects(
    g: &mut Group,
    watched: &[(&str, crate::WatchStamp)],
    lines: &[String],
    now_ms: u64,
    effects: &mut Vec<Effect>,
) -> Option<Vec<Reply>> {
    let words: Vec<Vec<&[u8]>> = lines
        .iter()
        .map(|line| line.split(' ').map(str::as_bytes).collect())
        .collect();
    let commands: Vec<QueuedCommand<'_>> = words
        .iter()
        .map(|args| QueuedCommand {
            cmd: crate::lookup(args[0]).expect("known command").cmd,
            args,
        })
        .collect();
    let watched: Vec<Watched<'_>> = watched
        .iter()
        .map(|(key, seen)| Watched {
            key: key.as_bytes(),
            seen: *seen,
        })
        .collect();
    let transaction = Transaction {
        watched: &watched,
        commands: &commands,
        now_ms,
    };
    g.apply_transaction(&transaction, effects)
}

fn lines(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|t| (*t).to_owned()).collect()
}

#[test]
fn any_write_to_a_watched_key_aborts_even_of_the_same_value() {
    for write in [
        "SET k 0",
        "INCRBY k 0",
        "APPEND k ",
        "DEL k",
        "GETDEL k",
        "EXPIRE k 100",
        "SETRANGE k 0 x",
        "MSET k 0 j 1",
        "SET k v PXAT 1",
    ] {
        let mut g = group();
        run(&mut g, 0, "SET k 0");
        assert!(aborts(&mut g, "k", 0, &[write], 0), "{write}");
    }
}

#[test]
fn a_write_that_changes_nothing_does_not_abort() {
    for noop in [
        "SET k 2 NX",
        "SETNX k 2",
        "EXPIRE missing 10",
        "PERSIST k",
        "GETEX k PERSIST",
        "GETEX k",
        "SETRANGE k 0 ",
        "EXPIRE k 100 GT",
        "DELIFEQ k other",
        "SET k 3 IFEQ other",
        "MSETNX j 1 k 2",
        "GET k",
        "SET other 1",
        "LOCK.ACQUIRE k owner 100",
    ] {
        let mut g = group();
        run(&mut g, 0, "SET k 1");
        assert!(!aborts(&mut g, "k", 0, &[noop], 0), "{noop}");
    }
    // PERSIST and GETEX PERSIST do change a key that had a TTL.
    for write in ["PERSIST k", "GETEX k PERSIST"] {
        let mut g = group();
        run(&mut g, 0, "SET k 1 EX 100");
        assert!(aborts(&mut g, "k", 0, &[write], 0), "{write}");
    }
}

#[test]
fn a_missing_key_aborts_only_if_something_wrote_it() {
    let cases: [(&[&str], bool); 6] = [
        (&["DEL k", "GETDEL k", "PERSIST k", "SETRANGE k 0 "], false),
        (&["SET k 1", "DEL k"], true),
        (&["SET k v PXAT 1"], true),
        (&["SET k v PX 10"], true),
        (&["SET j 1", "DEL j"], false),
        (&["APPEND k "], true),
    ];
    for (between, expected) in cases {
        let mut g = group();
        assert_eq!(aborts(&mut g, "k", 0, between, 50), expected, "{between:?}");
    }
}

#[test]
fn expiry_aborts_a_key_that_was_live_when_watched() {
    // Expired but not yet removed at EXEC: Redis 7 aborts.
    let mut g = group();
    run(&mut g, 0, "SET k v PX 100");
    assert!(aborts(&mut g, "k", 0, &[], 200));
    // Removed by the sweep before EXEC: aborts too.
    let mut g = group();
    run(&mut g, 0, "SET k v PX 100");
    let seen = g.watch(b"k", 0);
    assert_eq!(g.sweep_expired(200, 10), 1);
    assert_eq!(exec(&mut g, &[("k", seen)], &lines(&["GET k"]), 200), None);
}

#[test]
fn a_key_already_expired_when_watched_aborts_only_if_written() {
    let setup = |g: &mut Group| run(g, 0, "SET k v PX 50");
    // Untouched, removed by the sweep, removed lazily by a write, flushed:
    // Redis 7 runs the transaction in every case.
    for between in [&[][..], &["DEL k"][..], &["FLUSHALL"][..]] {
        let mut g = group();
        setup(&mut g);
        assert!(!aborts(&mut g, "k", 100, between, 100), "{between:?}");
    }
    let mut g = group();
    setup(&mut g);
    let seen = g.watch(b"k", 100);
    g.sweep_expired(100, 10);
    assert!(exec(&mut g, &[("k", seen)], &lines(&["GET k"]), 100).is_some());
    // Written after the WATCH: aborts.
    let mut g = group();
    setup(&mut g);
    assert!(aborts(&mut g, "k", 100, &["SET k x"], 100));
}

#[test]
fn flushall_aborts_watchers_of_the_live_keys_it_removes() {
    let mut g = group();
    run(&mut g, 0, "SET k 1");
    assert!(aborts(&mut g, "k", 0, &["FLUSHALL"], 0));
    let mut g = group();
    run(&mut g, 0, "SET other 1");
    assert!(!aborts(&mut g, "k", 0, &["FLUSHALL"], 0));
    // Written after the WATCH, then flushed: the write is not forgotten.
    let mut g = group();
    assert!(aborts(&mut g, "k", 0, &["SET k 1", "FLUSHALL"], 0));
}

#[test]
fn forgetting_removals_aborts_conservatively_never_wrongly() {
    // Removals of keys last written before the WATCH never make a
    // missing watched key abort, however many.
    let mut g = group();
    for i in 0..2 * REMOVED_STAMPS_MAX {
        run(&mut g, 0, &format!("SET old{i} v"));
    }
    let seen = g.watch(b"k", 0);
    for i in 0..2 * REMOVED_STAMPS_MAX {
        run(&mut g, 0, &format!("DEL old{i}"));
    }
    // Removals stamp the DEL's sequence number: these were changes after
    // the WATCH, and more than the group remembers, so the floor rose.
    assert_eq!(exec(&mut g, &[("k", seen)], &lines(&["GET k"]), 0), None);
    // Expiry keeps the keys' own (older) stamps: no abort.
    let mut g = group();
    for i in 0..2 * REMOVED_STAMPS_MAX {
        run(&mut g, 0, &format!("SET old{i} v PX 10"));
    }
    let seen = g.watch(b"k", 0);
    g.sweep_expired(100, usize::MAX);
    assert!(exec(&mut g, &[("k", seen)], &lines(&["GET k"]), 100).is_some());
    // Up to the limit, deleting other keys changed after the WATCH leaves
    // a missing watched key alone: exact.
    let mut g = group();
    let seen = g.watch(b"k", 0);
    for i in 0..REMOVED_STAMPS_MAX {
        run(&mut g, 0, &format!("SET new{i} v"));
        run(&mut g, 0, &format!("DEL new{i}"));
    }
    assert!(exec(&mut g, &[("k", seen)], &lines(&["GET k"]), 0).is_some());
    g.keys.assert_consistent();
}

#[test]
fn errors_inside_exec_are_per_command_and_the_rest_applies() {
    let mut g = group();
    run(&mut g, 0, "SET s abc");
    let replies = exec(
        &mut g,
        &[],
        &lines(&["INCR s", "SET t 1", "SET t 1 EX -5", "GET t"]),
        0,
    );
    assert_eq!(
        replies,
        Some(vec![
            err("ERR value is not an integer or out of range"),
            Reply::Ok,
            err("ERR invalid expire time in 'set' command"),
            bulk("1"),
        ])
    );
    assert_eq!(exec(&mut g, &[], &[], 0), Some(vec![]));
}

#[test]
fn a_lock_wait_inside_a_transaction_answers_at_once() {
    let mut g = group();
    let mut effects = Vec::new();
    let replies = exec_with_effects(
        &mut g,
        &[],
        &lines(&[
            "LOCK.ACQUIRE l alice 1000",
            "LOCK.ACQUIRE l bob 1000 WAIT 5000",
        ]),
        0,
        &mut effects,
    );
    assert_eq!(replies, Some(vec![Reply::Int(1), Reply::Nil]));
    assert_eq!(effects.len(), 1, "one lease, no parked waiter: {effects:?}");
    assert!(matches!(effects[0], Effect::LeaseStarted { token: 1, .. }));
}

#[test]
fn keyspace_commands_are_refused_inside_the_step() {
    let mut g = group();
    run(&mut g, 0, "SET k 1");
    let replies = exec(&mut g, &[], &lines(&["FLUSHALL", "DBSIZE", "GET k"]), 0);
    assert_eq!(
        replies,
        Some(vec![
            err("ERR 'flushall' cannot run inside a transaction"),
            err("ERR 'dbsize' cannot run inside a transaction"),
            bulk("1"),
        ])
    );
}

#[test]
fn stamps_survive_a_snapshot() {
    let mut g = group();
    run(&mut g, 0, "SET k 1");
    run(&mut g, 0, "SET gone 1");
    let seen_k = g.watch(b"k", 0);
    run(&mut g, 0, "DEL gone");
    let seen_gone = g.watch(b"gone", 0);
    let mut bytes = Vec::new();
    g.encode_snapshot(&mut bytes);
    let mut back = Group::decode_snapshot(&bytes, *g.limits()).expect("decodes");
    assert_eq!(back, g);
    assert_eq!(back.watch(b"gone", 0), seen_gone);
    let both = [("k", seen_k), ("gone", seen_gone)];
    assert!(exec(&mut back.clone(), &both, &[], 0).is_some());
    // The restored group stamps a later write above what was watched.
    run(&mut back, 0, "SET gone 2");
    assert!(exec(&mut back, &[("gone", seen_gone)], &[], 0).is_none());
}
