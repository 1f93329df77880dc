//! SCAN over a real socket: COUNT shared across groups, full iterations of
//! a large keyspace over two cores (plain, MATCH, TYPE, with writes going
//! on), and Redis's reading of odd cursors.

mod common;

use std::collections::HashSet;

use common::{encode, Raw, Server};

/// Sets `count` keys named `{prefix}{i}`, pipelined in chunks.
fn fill(raw: &mut Raw, prefix: &str, count: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let mut batch = Vec::new();
        for i in chunk {
            batch.extend(encode(&["SET", &format!("{prefix}{i}"), "v"]));
        }
        raw.send(&batch);
        for _ in chunk {
            assert_eq!(raw.reply(), "+OK\r\n");
        }
    }
}

/// One SCAN call: the next cursor and the keys.
fn scan(conn: &mut redis::Connection, cursor: &str, options: &[&str]) -> (String, Vec<String>) {
    redis::cmd("SCAN")
        .arg(cursor)
        .arg(options)
        .query(conn)
        .expect("SCAN answers")
}

/// A full iteration: every key returned (with repeats) and the calls made.
fn iterate(conn: &mut redis::Connection, options: &[&str]) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for calls in 1..=100_000 {
        let (next, keys) = scan(conn, &cursor, options);
        seen.extend(keys);
        if next == "0" {
            return (seen, calls);
        }
        cursor = next;
    }
    panic!("SCAN did not finish");
}

fn names(prefix: &str, count: usize) -> HashSet<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn a_small_keyspace_comes_back_in_one_call() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    fill(&mut raw, "k", 11);
    let mut conn = server.redis();
    let (cursor, keys) = scan(&mut conn, "0", &["COUNT", "1000"]);
    assert_eq!(cursor, "0", "one call covers every group");
    assert_eq!(keys.into_iter().collect::<HashSet<_>>(), names("k", 11));
    // The default COUNT (10) takes two calls or so, not one per group.
    let (seen, calls) = iterate(&mut conn, &[]);
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), names("k", 11));
    assert!(calls <= 3, "{calls} calls for 11 keys");
    // An empty node: one call, cursor 0.
    raw.cmd(&["FLUSHALL"]);
    assert_eq!(scan(&mut conn, "0", &[]), ("0".to_string(), Vec::new()));
}

#[test]
fn a_large_keyspace_is_fully_iterated() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    fill(&mut raw, "key:", 20_000);
    fill(&mut raw, "other:", 1_000);
    let mut conn = server.redis();
    let (seen, calls) = iterate(&mut conn, &[]);
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), 21_000, "no key missed");
    assert!(seen.len() < 21_000 * 2, "repeats are few: {}", seen.len());
    // About COUNT keys per call, whatever the groups.
    assert!(
        (1_800..=2_600).contains(&calls),
        "{calls} calls at COUNT 10"
    );

    let (seen, _) = iterate(&mut conn, &["MATCH", "other:*", "COUNT", "100"]);
    assert_eq!(
        seen.into_iter().collect::<HashSet<_>>(),
        names("other:", 1_000)
    );

    let (seen, _) = iterate(&mut conn, &["TYPE", "string", "COUNT", "1000"]);
    assert_eq!(seen.into_iter().collect::<HashSet<_>>().len(), 21_000);
    let (seen, calls) = iterate(&mut conn, &["TYPE", "hash", "COUNT", "1000"]);
    assert!(seen.is_empty(), "no hashes exist");
    // Each core visits up to COUNT keys per call: between COUNT and
    // cores x COUNT in all.
    assert!(
        (11..=21).contains(&calls),
        "TYPE filters; the walk goes on: {calls}"
    );
}

#[test]
fn keys_present_throughout_are_returned_while_others_come_and_go() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    fill(&mut raw, "stay:", 5_000);
    let mut writer = server.raw();
    let mut conn = server.redis();
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut round = 0;
    loop {
        // Between calls, keys are added and removed all over the ring.
        let mut batch = Vec::new();
        for i in 0..20 {
            let key = format!("churn:{round}:{i}");
            batch.extend(encode(&["SET", &key, "v"]));
            batch.extend(encode(&["DEL", &format!("churn:{}:{i}", round.max(1) - 1)]));
        }
        writer.send(&batch);
        for _ in 0..40 {
            assert!(!writer.reply().starts_with('-'));
        }
        round += 1;
        let (next, keys) = scan(&mut conn, &cursor, &["COUNT", "50"]);
        seen.extend(keys);
        if next == "0" {
            break;
        }
        assert!(round < 10_000, "SCAN did not finish");
        cursor = next;
    }
    let missed: Vec<_> = names("stay:", 5_000).difference(&seen).cloned().collect();
    assert!(
        missed.is_empty(),
        "missed {} keys, e.g. {:?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
}

#[test]
fn odd_cursors_are_read_as_redis_reads_them() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    fill(&mut raw, "k", 5);
    let end = "*2\r\n$1\r\n0\r\n*0\r\n";
    // Negative cursors wrap round (C's strtoul) to past the last group.
    assert_eq!(raw.cmd(&["SCAN", "-1"]), end);
    assert_eq!(raw.cmd(&["SCAN", "18446744073709551615"]), end);
    for bad in [
        "abc",
        "18446744073709551616",
        "1.5",
        " 1",
        "1 ",
        "-",
        "0x10",
    ] {
        assert_eq!(
            raw.cmd(&["SCAN", bad]),
            "-ERR invalid cursor\r\n",
            "{bad:?}"
        );
    }
    // "", "+0" and "000" are cursor 0: the whole (small) keyspace.
    for zero in ["", "+0", "000"] {
        let reply = raw.cmd(&["SCAN", zero, "COUNT", "100"]);
        assert!(
            reply.starts_with("*2\r\n$1\r\n0\r\n*5\r\n"),
            "{zero:?}: {reply}"
        );
    }
    assert_eq!(
        raw.cmd(&["SCAN", "0", "COUNT", "0"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        raw.cmd(&["SCAN", "0", "COUNT", "-1"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        raw.cmd(&["SCAN", "0", "COUNT", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(raw.cmd(&["SCAN", "0", "MATCH"]), "-ERR syntax error\r\n");
    assert_eq!(
        raw.cmd(&["SCAN", "0", "FOO", "bar"]),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        raw.cmd(&["SCAN", "0", "TYPE", "nosuch"]),
        "*2\r\n$1\r\n0\r\n*0\r\n"
    );
}
