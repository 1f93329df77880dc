//! Connections follow their keys: a client that keeps using keys of one
//! other core is handed to that core, and notices nothing but speed.

mod common;

use common::{encode, Raw, Server};
use pinwheel_runtime::HANDOFF_AFTER_COMMANDS;

/// The `field=value` of a `CLIENT INFO` or `INFO` line.
fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// The value of an `INFO` line `name:value`.
fn info_value(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .parse()
        .unwrap()
}

/// The core that owns `key`, seen from the per-core key counts; leaves
/// the key set to 0.
fn owner_of(raw: &mut Raw, key: &str) -> usize {
    let keys_on = |raw: &mut Raw| -> Vec<u64> {
        let info = raw.cmd(&["INFO", "cores"]);
        (0..2)
            .map(|core| {
                let line = info
                    .lines()
                    .find(|l| l.starts_with(&format!("core{core}:")))
                    .unwrap();
                field(line, &format!("core{core}:keys")).parse().unwrap()
            })
            .collect()
    };
    raw.cmd(&["DEL", key]);
    let before = keys_on(raw);
    assert_eq!(raw.cmd(&["SET", key, "0"]), "+OK\r\n");
    let after = keys_on(raw);
    (0..2)
        .find(|&c| after[c] > before[c])
        .expect("a core gained the key")
}

/// A key whose owner is not `core`.
fn key_away_from(raw: &mut Raw, core: usize) -> String {
    (0..100)
        .map(|i| format!("away{i}"))
        .find(|key| owner_of(raw, key) != core)
        .expect("some key lives on the other core")
}

fn core_of_connection(raw: &mut Raw) -> usize {
    field(&raw.cmd(&["CLIENT", "INFO"]), "core")
        .parse()
        .unwrap()
}

#[test]
fn a_connection_moves_to_its_keys_and_keeps_its_session() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    assert!(raw.cmd(&["HELLO", "3"]).contains("proto\r\n:3\r\n"));
    assert_eq!(raw.cmd(&["CLIENT", "SETNAME", "mover"]), "+OK\r\n");
    let id = raw.cmd(&["CLIENT", "ID"]);
    let home = core_of_connection(&mut raw);
    let key = key_away_from(&mut raw, home);

    // One command at a time, as a client without pipelining sends them.
    let commands = 2 * HANDOFF_AFTER_COMMANDS as i64;
    for n in 1..=commands {
        assert_eq!(raw.cmd(&["INCR", &key]), format!(":{n}\r\n"));
    }
    assert_eq!(core_of_connection(&mut raw), 1 - home, "moved to its key");
    let info = raw.cmd(&["CLIENT", "INFO"]);
    assert_eq!(raw.cmd(&["CLIENT", "ID"]), id);
    assert_eq!(field(&info, "name"), "mover");
    assert_eq!(field(&info, "resp"), "3");
    assert_eq!(raw.cmd(&["GET", "never-set"]), "_\r\n", "still RESP3");
    let stats = raw.cmd(&["INFO", "stats"]);
    assert_eq!(info_value(&stats, "total_connections_moved"), 1);

    // It is one client wherever it is: counted once, listed once.
    let clients = raw.cmd(&["INFO", "clients"]);
    assert!(clients.contains("connected_clients:1\r\n"), "{clients}");
    let list = raw.cmd(&["CLIENT", "LIST"]);
    assert_eq!(list.matches("name=mover").count(), 1, "{list}");

    // A long pipeline on its new core still answers in order.
    let batch: Vec<u8> = (0..5_000).flat_map(|_| encode(&["INCR", &key])).collect();
    raw.send(&batch);
    for n in commands + 1..=commands + 5_000 {
        assert_eq!(raw.reply(), format!(":{n}\r\n"));
    }

    assert_eq!(raw.cmd(&["QUIT"]), "+OK\r\n");
    assert!(raw.closed(), "QUIT closes a moved connection");
}

/// Keys on both cores, or on this core, keep a connection where it is.
#[test]
fn a_connection_using_both_cores_stays() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    let home = core_of_connection(&mut raw);
    let away = key_away_from(&mut raw, home);
    let here = key_away_from(&mut raw, 1 - home);
    let mut batch = Vec::new();
    for _ in 0..10 * HANDOFF_AFTER_COMMANDS {
        batch.extend(encode(&["INCR", &away]));
        batch.extend(encode(&["INCR", &here]));
    }
    raw.send(&batch);
    for n in 1..=10 * HANDOFF_AFTER_COMMANDS {
        assert_eq!(raw.reply(), format!(":{n}\r\n"));
        assert_eq!(raw.reply(), format!(":{n}\r\n"));
    }
    assert_eq!(core_of_connection(&mut raw), home);
}

#[test]
fn move_connections_false_keeps_connections_where_they_land() {
    let file = common::config_file("handoff", "move-connections = false\n");
    let server = Server::start(&["--cores", "2", "--config", file.to_str().unwrap()]);
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["CONFIG", "GET", "move-connections"]),
        "*2\r\n$16\r\nmove-connections\r\n$2\r\nno\r\n"
    );
    let home = core_of_connection(&mut raw);
    let key = key_away_from(&mut raw, home);
    for n in 1..=2 * HANDOFF_AFTER_COMMANDS {
        assert_eq!(raw.cmd(&["INCR", &key]), format!(":{n}\r\n"));
    }
    assert_eq!(core_of_connection(&mut raw), home);
}

/// The lowest descriptor number process `pid` has free: with its
/// descriptor limit set there, it can open no new descriptor.
fn lowest_free_descriptor(pid: u32) -> u64 {
    let used: std::collections::HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    (0..).find(|fd| !used.contains(fd)).unwrap()
}

/// Sets the soft open-descriptor limit of process `pid`; returns the old one.
fn set_descriptor_limit(pid: u32, soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: plain system calls on valid pointers.
    unsafe {
        assert_eq!(
            libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, std::ptr::null(), &mut old),
            0
        );
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: old.rlim_max,
        };
        assert_eq!(
            libc::prlimit(pid as i32, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()),
            0
        );
    }
    old.rlim_cur
}

/// A handoff needs a spare descriptor to carry the socket. Without one the
/// connection stays on its core and keeps being served; once descriptors
/// are free again it moves.
#[test]
fn a_handoff_without_a_free_descriptor_keeps_the_connection() {
    let server = Server::start(&["--cores", "2"]);
    let pid = server.child.id();
    let mut raw = server.raw();
    let home = core_of_connection(&mut raw);
    let key = key_away_from(&mut raw, home);

    let limit = set_descriptor_limit(pid, lowest_free_descriptor(pid));
    let commands = 2 * HANDOFF_AFTER_COMMANDS as i64;
    for n in 1..=commands {
        assert_eq!(raw.cmd(&["INCR", &key]), format!(":{n}\r\n"));
    }
    assert_eq!(
        core_of_connection(&mut raw),
        home,
        "stayed for want of a descriptor"
    );
    let stats = raw.cmd(&["INFO", "stats"]);
    assert_eq!(info_value(&stats, "total_connections_moved"), 0);

    set_descriptor_limit(pid, limit);
    for n in commands + 1..=2 * commands {
        assert_eq!(raw.cmd(&["INCR", &key]), format!(":{n}\r\n"));
    }
    assert_eq!(
        core_of_connection(&mut raw),
        1 - home,
        "moved once it could"
    );
    let stats = raw.cmd(&["INFO", "stats"]);
    assert_eq!(info_value(&stats, "total_connections_moved"), 1);
}

/// Many pipelining clients on one hot key move while others' commands are
/// in flight; every increment is counted once and each client sees its
/// own increments in order; exactly the clients that landed away from the
/// key moved, all to its core. Then SIGTERM still ends the server cleanly.
#[test]
fn clients_moving_under_load_lose_nothing() {
    const CLIENTS: usize = 8;
    const ROUNDS: usize = 200;
    const PIPELINE: usize = 16;
    let server = Server::start(&["--cores", "2"]);
    let addr = server.addr;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut raw = Raw::connect(addr);
                let landed = core_of_connection(&mut raw);
                let batch: Vec<u8> = (0..PIPELINE)
                    .flat_map(|_| encode(&["INCR", "hot"]))
                    .collect();
                let mut last = 0;
                for _ in 0..ROUNDS {
                    raw.send(&batch);
                    for _ in 0..PIPELINE {
                        let reply = raw.reply();
                        let n: i64 = reply.trim_start_matches(':').trim().parse().unwrap();
                        assert!(n > last, "{n} after {last}");
                        last = n;
                    }
                }
                let ended = core_of_connection(&mut raw);
                (raw, landed, ended)
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let mut check = Raw::connect(addr);
    let total = (CLIENTS * ROUNDS * PIPELINE).to_string();
    assert_eq!(
        check.cmd(&["GET", "hot"]),
        format!("${}\r\n{total}\r\n", total.len())
    );
    let moved = info_value(&check.cmd(&["INFO", "stats"]), "total_connections_moved");
    let hot_core = owner_of(&mut check, "hot");
    let mut landed_away = 0;
    for (_, landed, ended) in &results {
        assert_eq!(*ended, hot_core, "every client ends on the key's core");
        landed_away += u64::from(*landed != hot_core);
    }
    assert_eq!(
        moved, landed_away,
        "the clients away from the key moved once"
    );
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
