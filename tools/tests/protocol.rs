//! The wire protocol over real sockets: pipelining, RESP3, bad input,
//! limits, and that one bad client never disturbs the others.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{encode, Raw, Server};

#[test]
fn ten_thousand_pipelined_commands_answer_in_order() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        // Keys on both cores, so replies from both must be put in order.
        batch.extend(encode(&["INCR", &format!("counter:{}", i % 7)]));
    }
    raw.send(&batch);
    let mut counts = [0i64; 7];
    for i in 0..10_000 {
        counts[i % 7] += 1;
        assert_eq!(raw.reply(), format!(":{}\r\n", counts[i % 7]), "reply {i}");
    }
}

/// A pipeline mixing keys of both cores with commands that are not
/// single-key gets every answer in order and every effect in order.
#[test]
fn a_mixed_pipeline_over_both_cores_keeps_its_order() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    let mut model = std::collections::HashMap::<String, String>::new();
    for i in 0..3000usize {
        let key = format!("k{}", i % 13);
        batch.extend(encode(&["SET", &key, &i.to_string()]));
        model.insert(key, i.to_string());
        expected.push("+OK\r\n".to_string());
        let read = format!("k{}", (i * 7) % 13);
        batch.extend(encode(&["GET", &read]));
        expected.push(match model.get(&read) {
            Some(v) => format!("${}\r\n{v}\r\n", v.len()),
            None => "$-1\r\n".to_string(),
        });
        let log = format!("log{}", i % 5);
        let grown = model.entry(log.clone()).or_default();
        grown.push('x');
        batch.extend(encode(&["APPEND", &log, "x"]));
        expected.push(format!(":{}\r\n", grown.len()));
        if i % 100 == 0 {
            batch.extend(encode(&["PING"]));
            expected.push("+PONG\r\n".to_string());
            batch.extend(encode(&["MGET", "k1", "k2"]));
            expected.push(format!(
                "*2\r\n{}{}",
                bulk_or_nil(model.get("k1")),
                bulk_or_nil(model.get("k2"))
            ));
        }
    }
    raw.send(&batch);
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(&raw.reply(), want, "reply {i}");
    }
}

fn bulk_or_nil(value: Option<&String>) -> String {
    value.map_or("$-1\r\n".to_string(), |v| {
        format!("${}\r\n{v}\r\n", v.len())
    })
}

/// One client pipelines `SET a<j> i` then `SET b<j> i`; another reads b
/// then a. If the server ever ran the second write of a pipeline before
/// the first (they may live on different cores), the reader could see b
/// ahead of a.
#[test]
fn pipelined_writes_to_different_cores_land_in_order() {
    let server = Server::start(&["--cores", "2"]);
    const PAIRS: usize = 8;
    const ROUNDS: usize = 400;
    let addr = server.addr;
    let writer = std::thread::spawn(move || {
        let mut raw = Raw::connect(addr);
        for round in 1..=ROUNDS {
            let mut batch = Vec::new();
            for j in 0..PAIRS {
                batch.extend(encode(&["SET", &format!("a{j}"), &round.to_string()]));
                batch.extend(encode(&["SET", &format!("b{j}"), &round.to_string()]));
            }
            raw.send(&batch);
            for _ in 0..2 * PAIRS {
                assert_eq!(raw.reply(), "+OK\r\n");
            }
        }
    });
    // The reader pipelines too, b before a for every pair, so its own reads
    // must also keep their order for the check to hold.
    let mut reader = server.raw();
    let mut reads = Vec::new();
    for j in 0..PAIRS {
        reads.extend(encode(&["GET", &format!("b{j}")]));
        reads.extend(encode(&["GET", &format!("a{j}")]));
    }
    let number = |reply: String| match reply.as_str() {
        "$-1\r\n" => 0,
        _ => reply.lines().nth(1).unwrap().parse::<usize>().unwrap(),
    };
    let mut checks = 0;
    while !writer.is_finished() || checks == 0 {
        reader.send(&reads);
        for j in 0..PAIRS {
            let b = number(reader.reply());
            let a = number(reader.reply());
            assert!(a >= b, "pair {j}: b = {b} was written before a = {a}");
            checks += 1;
        }
    }
    writer.join().unwrap();
}

#[test]
fn resp3_after_hello_3() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["GET", "nope"]), "$-1\r\n");
    let hello = raw.cmd(&["HELLO", "3"]);
    assert!(hello.starts_with("%7\r\n"), "{hello}");
    assert!(hello.contains("proto\r\n:3\r\n"), "{hello}");
    assert_eq!(raw.cmd(&["GET", "nope"]), "_\r\n");
    let config = raw.cmd(&["CONFIG", "GET", "appendonly"]);
    assert_eq!(config, "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    assert!(raw.cmd(&["INFO", "server"]).starts_with("="));
    assert_eq!(raw.cmd(&["SET", "f", "1.5"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["INCRBYFLOAT", "f", "1"]), "$3\r\n2.5\r\n");
    let hello2 = raw.cmd(&["HELLO", "2"]);
    assert!(hello2.starts_with("*14\r\n"), "{hello2}");
    assert_eq!(raw.cmd(&["GET", "nope"]), "$-1\r\n");
}

#[test]
fn keys_spread_over_both_cores() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    for i in 0..100 {
        raw.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    let info = raw.cmd(&["INFO", "cores"]);
    let keys_on = |core: usize| -> u64 {
        let line = info
            .lines()
            .find(|l| l.starts_with(&format!("core{core}:")))
            .unwrap();
        let field = line.split(',').next().unwrap();
        field.split('=').nth(1).unwrap().parse().unwrap()
    };
    assert!(keys_on(0) > 10 && keys_on(1) > 10, "{info}");
    assert_eq!(keys_on(0) + keys_on(1), 100);
    assert!(raw.cmd(&["INFO", "keyspace"]).contains("db0:keys=100,"));
}

/// Sends `bytes` on a fresh connection; returns what the server answered
/// before closing it.
fn answer_to(server: &Server, bytes: &[u8]) -> String {
    let mut raw = server.raw();
    raw.send(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut raw.stream, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn bad_input_gets_an_error_and_a_close() {
    let server = Server::start(&["--cores", "2"]);
    let mut bystander = server.raw();
    assert_eq!(bystander.cmd(&["SET", "safe", "1"]), "+OK\r\n");
    let cases: [(&[u8], &str); 6] = [
        (
            b"*99999999999\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$4294967296\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n:1\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*-x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"GET \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            answer_to(&server, input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let long_line = vec![b'x'; 100 * 1024];
    assert_eq!(
        answer_to(&server, &long_line),
        "-ERR Protocol error: too big inline request\r\n"
    );
    // Random bytes: an error or a close, never a crash.
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..50 {
        let noise: Vec<u8> = (0..512)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let mut raw = server.raw();
        let _ = raw.stream.write_all(&noise);
        drop(raw);
    }
    assert_eq!(bystander.cmd(&["GET", "safe"]), "$1\r\n1\r\n");
    assert_eq!(server.raw().cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn a_stalled_half_command_disturbs_nobody() {
    let server = Server::start(&["--cores", "2"]);
    let mut stalled = server.raw();
    stalled.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nhal");
    let mut others: Vec<Raw> = (0..8).map(|_| server.raw()).collect();
    for (i, other) in others.iter_mut().enumerate() {
        assert_eq!(other.cmd(&["SET", &format!("o{i}"), "v"]), "+OK\r\n");
    }
    // The stalled client finishes its command later and is answered.
    std::thread::sleep(Duration::from_millis(200));
    stalled.send(b"ves\r\n");
    assert_eq!(stalled.reply(), "+OK\r\n");
    assert_eq!(stalled.cmd(&["GET", "k"]), "$6\r\nhalves\r\n");
}

#[test]
fn a_command_split_into_single_bytes_is_understood() {
    let server = Server::start(&["--cores", "1"]);
    let mut raw = server.raw();
    for byte in encode(&["SET", "slow", "value"]) {
        raw.send(&[byte]);
    }
    assert_eq!(raw.reply(), "+OK\r\n");
    raw.send(b"GET slow\r\n");
    assert_eq!(raw.reply(), "$5\r\nvalue\r\n");
}

#[test]
fn connection_limit_refuses_clearly() {
    let config = common::config_file("limit", "max-connections = 2\ncores = 1\n");
    let server = Server::start(&["--config", config.to_str().unwrap()]);
    let mut a = server.raw();
    let mut b = server.raw();
    assert_eq!(a.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(b.cmd(&["PING"]), "+PONG\r\n");
    let mut c = server.raw();
    assert_eq!(c.reply(), "-ERR max number of clients reached\r\n");
    assert!(c.closed());
    drop(a);
    // The freed slot is reusable once the server has seen the close; a
    // loaded machine may take a while to get there, so retry until it has.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // A refused connection is answered and closed at once; a reset that
        // follows does not take back the answer already received.
        let d = server.raw();
        let _ = (&d.stream).write_all(b"PING\r\n");
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(&d.stream), &mut line);
        if line == "+PONG\r\n" {
            break;
        }
        assert_eq!(line, "-ERR max number of clients reached\r\n");
        assert!(Instant::now() < deadline, "the freed slot never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn latency_histograms_are_reported() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    for i in 0..50 {
        raw.cmd(&["SET", &format!("h{i}"), "v"]);
        raw.cmd(&["GET", &format!("h{i}")]);
    }
    let histogram = raw.cmd(&["LATENCY", "HISTOGRAM", "set"]);
    assert!(
        histogram.starts_with(
            "*2\r\n$3\r\nset\r\n*4\r\n$5\r\ncalls\r\n:50\r\n$14\r\nhistogram_usec\r\n"
        ),
        "{histogram}"
    );
    let info = raw.cmd(&["INFO", "latencystats"]);
    assert!(info.contains("latency_percentiles_usec_get:p50="), "{info}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pinwheel"))
        .args(["hist", "--addr", &server.addr.to_string()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    let set_row = table.lines().find(|l| l.starts_with("set ")).expect(&table);
    assert!(set_row.split_whitespace().nth(1) == Some("50"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("get ")), "{table}");
}
