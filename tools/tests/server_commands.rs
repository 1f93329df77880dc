//! Server commands over a real socket: error counting, HELP replies,
//! LATENCY, CLIENT KILL / REPLY / NO-EVICT, COMMAND DOCS.

mod common;

use common::{encode, Raw, Server};

/// A field of `INFO`, as a number.
fn info_number(raw: &mut Raw, section: &str, field: &str) -> u64 {
    let info = raw.cmd(&["INFO", section]);
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{field} is not a number in {info}"))
}

#[test]
fn every_error_reply_counts_in_total_error_replies() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    raw.cmd(&["SET", "text", "abc"]);
    let before = info_number(&mut raw, "stats", "total_error_replies");
    assert!(raw
        .cmd(&["NOSUCH", "x"])
        .starts_with("-ERR unknown command"));
    assert!(raw
        .cmd(&["GET"])
        .starts_with("-ERR wrong number of arguments"));
    assert!(raw
        .cmd(&["INCR", "text"])
        .starts_with("-ERR value is not an integer"));
    assert!(raw
        .cmd(&["CONFIG", "NOPE"])
        .starts_with("-ERR unknown subcommand"));
    // Pipelined: the queued path answers these without `execute`.
    let mut batch = Vec::new();
    for _ in 0..3 {
        batch.extend(encode(&["INCR", "text"]));
    }
    raw.send(&batch);
    for _ in 0..3 {
        assert!(raw.reply().starts_with("-ERR value is not an integer"));
    }
    // A protocol error, on a connection of its own, which it closes.
    let mut bad = server.raw();
    bad.send(b"*1\r\n$-5\r\n");
    assert!(bad.reply().starts_with("-ERR Protocol error"));
    assert!(bad.closed());
    let after = info_number(&mut raw, "stats", "total_error_replies");
    // The INFO reads in between answer without error.
    assert_eq!(after - before, 8, "every error reply counts");
    let errorstats = raw.cmd(&["INFO", "errorstats"]);
    let err_count: u64 = errorstats
        .lines()
        .find_map(|line| line.strip_prefix("errorstat_ERR:count="))
        .unwrap_or_else(|| panic!("{errorstats}"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        err_count, after,
        "all of these errors are ERR: {errorstats}"
    );
}
