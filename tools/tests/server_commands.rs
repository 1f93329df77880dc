//! Server commands over a real socket: error counting, HELP replies,
//! LATENCY, CLIENT KILL / REPLY / NO-EVICT, COMMAND DOCS.

mod common;

use std::time::{Duration, Instant};

use common::{encode, Raw, Server, TIMEOUT};

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

/// The elements of a RESP array of simple strings, as text.
fn status_lines(reply: &str) -> Vec<String> {
    let mut lines = reply.split("\r\n");
    let count: usize = lines.next().unwrap()[1..].parse().unwrap();
    let items: Vec<String> = lines.take(count).map(str::to_string).collect();
    assert!(items.iter().all(|l| l.starts_with('+')), "{reply}");
    items.into_iter().map(|l| l[1..].to_string()).collect()
}

#[test]
fn help_subcommands_answer_in_redis_shape() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    for (command, expected) in [
        (
            "CONFIG",
            &["GET <pattern>", "SET <directive>", "RESETSTAT"][..],
        ),
        (
            "CLIENT",
            &[
                "KILL <ip:port>",
                "REPLY (ON|OFF|SKIP)",
                "NO-EVICT (ON|OFF)",
                "SETNAME",
            ],
        ),
        (
            "LATENCY",
            &["LATEST", "RESET [<command> ...]", "DOCTOR", "HISTOGRAM"],
        ),
        ("COMMAND", &["DOCS [<command-name> ...]", "COUNT"]),
    ] {
        let lines = status_lines(&raw.cmd(&[command, "HELP"]));
        assert_eq!(
            lines[0],
            format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(&lines[lines.len() - 2..], ["HELP", "    Prints this help."]);
        for entry in expected {
            assert!(
                lines.iter().any(|l| l.starts_with(entry)),
                "{command} HELP lacks {entry}: {lines:?}"
            );
        }
    }
    for command in ["CONFIG", "LATENCY", "COMMAND"] {
        assert_eq!(
            raw.cmd(&[command, "HELP", "x"]),
            format!(
                "-ERR wrong number of arguments for '{}|help' command\r\n",
                command.to_lowercase()
            )
        );
    }
    assert_eq!(
        raw.cmd(&["CLIENT", "HELP", "x"]),
        "-ERR wrong number of arguments for 'client|help' command\r\n"
    );
}

/// The `LATENCY LATEST` events: (name, time, latest ms, max ms).
fn latest_events(raw: &mut Raw) -> Vec<(String, i64, i64, i64)> {
    let reply = raw.cmd(&["LATENCY", "LATEST"]);
    let lines: Vec<&str> = reply.split("\r\n").collect();
    let count: usize = lines[0][1..].parse().unwrap();
    (0..count)
        .map(|i| {
            let at = 1 + i * 6;
            assert_eq!(lines[at], "*4", "{reply}");
            let int = |l: &str| l[1..].parse::<i64>().unwrap();
            (
                lines[at + 2].to_string(),
                int(lines[at + 3]),
                int(lines[at + 4]),
                int(lines[at + 5]),
            )
        })
        .collect()
}

#[test]
fn latency_latest_reset_and_doctor() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    // A call that takes well over 1 ms: KEYS over 100,000 keys. (A lock
    // wait is not one: its queued time is timed as lock.wait, apart from
    // lock.acquire's service time, and is no latency spike of the server.)
    for batch in 0..100 {
        let mut mset = vec!["MSET".to_string()];
        for i in 0..1000 {
            mset.push(format!("spike:{batch}:{i}"));
            mset.push("v".into());
        }
        let args: Vec<&str> = mset.iter().map(String::as_str).collect();
        assert_eq!(raw.cmd(&args), "+OK\r\n");
    }
    let keys = raw.cmd(&["KEYS", "spike:*"]);
    assert!(keys.starts_with("*100000\r\n"), "{}", &keys[..20]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let events = latest_events(&mut raw);
    let (name, at, latest, max) = events
        .iter()
        .find(|e| e.0 == "keys")
        .unwrap_or_else(|| panic!("no keys event in {events:?}"))
        .clone();
    assert!(
        (now - 60..=now + 1).contains(&at),
        "{name} at {at}, now {now}"
    );
    assert!(
        latest >= 1 && max >= latest,
        "{name}: latest {latest} ms, max {max} ms"
    );
    let doctor = raw.cmd(&["LATENCY", "DOCTOR"]);
    assert!(doctor.contains(&format!("{name}: ")), "{doctor}");
    assert!(doctor.contains("calls of 1 ms or more"), "{doctor}");
    // Resetting that one command forgets it; a name never called counts 0.
    assert_eq!(raw.cmd(&["LATENCY", "RESET", &name, "nosuch"]), ":1\r\n");
    assert!(latest_events(&mut raw).iter().all(|e| e.0 != name));
    let histogram = raw.cmd(&["LATENCY", "HISTOGRAM", &name]);
    assert_eq!(histogram, "*0\r\n", "its histogram is gone too");
    raw.cmd(&["PING"]);
    let reset = raw.cmd(&["LATENCY", "RESET"]);
    let count: i64 = reset.trim_end()[1..].parse().unwrap();
    assert!(count >= 1, "{reset}");
    assert_eq!(raw.cmd(&["LATENCY", "LATEST"]), "*0\r\n");
    assert_eq!(
        raw.cmd(&["LATENCY", "LATEST", "x"]),
        "-ERR wrong number of arguments for 'latency|latest' command\r\n"
    );
}

/// This connection's id and the core serving it, from `CLIENT INFO`.
fn id_and_core(raw: &mut Raw) -> (String, String) {
    let info = raw.cmd(&["CLIENT", "INFO"]);
    let field = |name: &str| {
        info.split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {info}"))
            .to_string()
    };
    (field("id"), field("core"))
}

/// Polls `check` until it holds, failing after the test timeout.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn client_kill_closes_connections_on_every_core() {
    let server = Server::start(&["--cores", "2"]);
    let mut killer = server.raw();
    // Two connections on each core, wherever the kernel put them first.
    let mut victims: Vec<(Raw, String, String)> = Vec::new();
    for core in [0, 0, 1, 1] {
        let mut raw = server.raw();
        common::move_to_core(&mut raw, core, 2);
        let (id, on) = id_and_core(&mut raw);
        assert_eq!(on, core.to_string());
        victims.push((raw, id, on));
    }
    for (raw, id, core) in &mut victims {
        assert_eq!(
            killer.cmd(&["CLIENT", "KILL", "ID", id]),
            ":1\r\n",
            "core {core}"
        );
        assert!(raw.closed(), "connection {id} on core {core} closes");
    }
    eventually("the killed clients to leave INFO", || {
        info_number(&mut killer, "clients", "connected_clients") == 1
    });
    let list = killer.cmd(&["CLIENT", "LIST"]);
    assert_eq!(list.matches("id=").count(), 1, "{list}");
}

#[test]
fn client_kill_ends_a_parked_lock_wait() {
    let server = Server::start(&["--cores", "2"]);
    let mut holder = server.raw();
    assert_eq!(
        holder.cmd(&["LOCK.ACQUIRE", "held", "a", "60000"]),
        ":1\r\n"
    );
    let mut waiter = server.raw();
    let (id, _) = id_and_core(&mut waiter);
    waiter.send(&encode(&[
        "LOCK.ACQUIRE",
        "held",
        "b",
        "60000",
        "WAIT",
        "60000",
    ]));
    let waiters = |raw: &mut Raw| {
        raw.cmd(&["LOCK.INFO", "held"])
            .contains("waiters\r\n:1\r\n")
    };
    eventually("the waiter to queue", || waiters(&mut holder));
    assert_eq!(holder.cmd(&["CLIENT", "KILL", "ID", &id]), ":1\r\n");
    assert!(waiter.closed());
    eventually("the wait to leave the queue", || {
        holder
            .cmd(&["LOCK.INFO", "held"])
            .contains("waiters\r\n:0\r\n")
    });
    assert_eq!(holder.cmd(&["LOCK.RELEASE", "held", "1"]), ":1\r\n");
    assert_eq!(
        holder.cmd(&["LOCK.INFO", "held"]),
        "$-1\r\n",
        "nobody got the lock"
    );
}

#[test]
fn client_kill_filters_and_errors_as_redis() {
    let server = Server::start(&["--cores", "2"]);
    let mut me = server.raw();
    let mut other = server.raw();
    let other_addr = other.stream.local_addr().unwrap().to_string();
    let server_addr = server.addr.to_string();
    for (args, expected) in [
        (
            &["CLIENT", "KILL", "1.2.3.4:5"][..],
            "-ERR No such client\r\n",
        ),
        (&["CLIENT", "KILL", "ID"], "-ERR No such client\r\n"),
        (&["CLIENT", "KILL", "ID", "99999"], ":0\r\n"),
        (
            &["CLIENT", "KILL", "ID", "abc"],
            "-ERR client-id should be greater than 0\r\n",
        ),
        (
            &["CLIENT", "KILL", "ID", "0"],
            "-ERR client-id should be greater than 0\r\n",
        ),
        (&["CLIENT", "KILL", "ADDR", "1.2.3.4:5"], ":0\r\n"),
        (
            &["CLIENT", "KILL", "SKIPME", "maybe"],
            "-ERR syntax error\r\n",
        ),
        (
            &["CLIENT", "KILL", "USER", "nobody"],
            "-ERR No such user 'nobody'\r\n",
        ),
        (
            &["CLIENT", "KILL", "TYPE", "foo"],
            "-ERR Unknown client type 'foo'\r\n",
        ),
        (&["CLIENT", "KILL", "TYPE", "master"], ":0\r\n"),
        (&["CLIENT", "KILL", "MAXAGE", "10"], "-ERR syntax error\r\n"),
        (&["CLIENT", "KILL", "a", "b", "c"], "-ERR syntax error\r\n"),
        (
            &["CLIENT", "KILL"],
            "-ERR wrong number of arguments for 'client|kill' command\r\n",
        ),
        // SKIPME is yes by default: the caller is never among the killed.
        (&["CLIENT", "KILL", "LADDR", "1.2.3.4:5"], ":0\r\n"),
    ] {
        assert_eq!(me.cmd(args), expected, "{args:?}");
    }
    // The old form names the peer address.
    assert_eq!(me.cmd(&["CLIENT", "KILL", &other_addr]), "+OK\r\n");
    assert!(other.closed());
    let mut a = server.raw();
    let mut b = server.raw();
    // LADDR: every connection to the server's address but the caller.
    assert_eq!(me.cmd(&["CLIENT", "KILL", "LADDR", &server_addr]), ":2\r\n");
    assert!(a.closed() && b.closed());
    let mut c = server.raw();
    assert_eq!(
        me.cmd(&["CLIENT", "KILL", "USER", "default", "TYPE", "normal"]),
        ":1\r\n"
    );
    assert!(c.closed());
    // SKIPME no: the caller counts, gets its answer, then is closed.
    me.send(&encode(&[
        "CLIENT",
        "KILL",
        "LADDR",
        &server_addr,
        "SKIPME",
        "no",
    ]));
    me.send(&encode(&["PING"]));
    assert_eq!(me.reply(), ":1\r\n");
    assert!(me.closed(), "nothing after the kill is answered");
    let mut old = server.raw();
    let old_addr = old.stream.local_addr().unwrap().to_string();
    assert_eq!(old.cmd(&["CLIENT", "KILL", &old_addr]), "+OK\r\n");
    assert!(old.closed(), "the old form kills its caller too");
}

#[test]
fn client_reply_off_on_and_skip_as_redis() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    // Commands that go through the pipeline's queue (SET, GET on either
    // core) and ones that do not (unknown, PING) are silenced alike.
    let mut keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    keys.push("nosuch".into());
    let mut batch = encode(&["CLIENT", "REPLY", "OFF"]);
    for key in &keys[..8] {
        batch.extend(encode(&["SET", key, "v"]));
        batch.extend(encode(&["GET", key]));
    }
    batch.extend(encode(&["NOSUCH"]));
    batch.extend(encode(&["PING"]));
    batch.extend(encode(&["CLIENT", "REPLY", "ON"]));
    batch.extend(encode(&["GET", "k1"]));
    raw.send(&batch);
    assert_eq!(raw.reply(), "+OK\r\n", "ON answers");
    assert_eq!(
        raw.reply(),
        "$1\r\nv\r\n",
        "and replies are back; the writes happened"
    );
    // SKIP silences itself and the next command, queued or not.
    let mut batch = encode(&["CLIENT", "REPLY", "SKIP"]);
    batch.extend(encode(&["GET", "k2"]));
    batch.extend(encode(&["INCR", "n"]));
    batch.extend(encode(&["CLIENT", "REPLY", "SKIP"]));
    batch.extend(encode(&["PING"]));
    batch.extend(encode(&["ECHO", "after"]));
    // SKIP then ON: ON answers (it ends the skip).
    batch.extend(encode(&["CLIENT", "REPLY", "SKIP"]));
    batch.extend(encode(&["CLIENT", "REPLY", "ON"]));
    // SKIP while OFF does nothing: ON answers, then the next command.
    batch.extend(encode(&["CLIENT", "REPLY", "OFF"]));
    batch.extend(encode(&["CLIENT", "REPLY", "SKIP"]));
    batch.extend(encode(&["CLIENT", "REPLY", "ON"]));
    batch.extend(encode(&["GET", "n"]));
    raw.send(&batch);
    for expected in [
        ":1\r\n",
        "$5\r\nafter\r\n",
        "+OK\r\n",
        "+OK\r\n",
        "$1\r\n1\r\n",
    ] {
        assert_eq!(raw.reply(), expected);
    }
    for (args, expected) in [
        (&["CLIENT", "REPLY", "foo"][..], "-ERR syntax error\r\n"),
        (
            &["CLIENT", "REPLY"],
            "-ERR wrong number of arguments for 'client|reply' command\r\n",
        ),
        (&["CLIENT", "NO-EVICT", "on"], "+OK\r\n"),
        (&["CLIENT", "NO-EVICT", "OFF"], "+OK\r\n"),
        (&["CLIENT", "NO-EVICT", "x"], "-ERR syntax error\r\n"),
        (
            &["CLIENT", "NO-EVICT"],
            "-ERR wrong number of arguments for 'client|no-evict' command\r\n",
        ),
    ] {
        assert_eq!(raw.cmd(args), expected, "{args:?}");
    }
    // OFF then QUIT: no OK, just the close.
    raw.send(&encode(&["CLIENT", "REPLY", "OFF"]));
    raw.send(&encode(&["QUIT"]));
    let mut rest = Vec::new();
    use std::io::Read;
    raw.stream.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

/// True when redis-cli runs here (a failure under CI when not).
fn have_redis_cli() -> bool {
    common::command_present("redis-cli", &["--version"], "redis-cli")
}

#[test]
fn command_docs_give_redis_cli_its_help_for_locks_and_set() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    // The raw shape: a map per command with an `arguments` array of maps.
    raw.cmd(&["HELLO", "3"]);
    let docs = raw.cmd(&["COMMAND", "DOCS", "lock.acquire"]);
    for part in [
        "%1\r\n$12\r\nlock.acquire\r\n%4\r\n",
        "$9\r\narguments\r\n*4\r\n",
        "%2\r\n$4\r\nname\r\n$4\r\nname\r\n$4\r\ntype\r\n$3\r\nkey\r\n",
        "%4\r\n$4\r\nname\r\n$2\r\nms\r\n$4\r\ntype\r\n$7\r\ninteger\r\n$5\r\ntoken\r\n$4\r\nWAIT\r\n$5\r\nflags\r\n*1\r\n+optional\r\n",
    ] {
        assert!(docs.contains(part), "{part:?} not in {docs:?}");
    }
    if !have_redis_cli() {
        return;
    }
    // redis-cli builds `help <command>` (and its typing hints) from
    // COMMAND DOCS.
    let port = server.addr.port().to_string();
    for (command, synopsis) in [
        ("lock.acquire", "LOCK.ACQUIRE\u{1b}[0m \u{1b}[90mname owner ttl_ms [WAIT ms]"),
        ("lock.renew", "LOCK.RENEW\u{1b}[0m \u{1b}[90mname token ttl_ms"),
        ("set", "SET\u{1b}[0m \u{1b}[90mkey value [NX|XX|IFEQ comparison-value] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"),
    ] {
        let output = std::process::Command::new("redis-cli")
            .args(["-p", &port, "help", command])
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&output.stdout);
        assert!(shown.contains(synopsis), "{command}: {shown:?}");
    }
    let hint = typing_hint(&port, "LOCK.ACQUIRE ");
    assert!(
        hint.contains("LOCK.ACQUIRE \u{1b}[0;90;49mname owner ttl_ms [WAIT ms]"),
        "{hint:?}"
    );
}

/// What interactive redis-cli prints on a terminal while `typed` is typed:
/// its hints are drawn only on a TTY, so it runs on a pseudo-terminal.
fn typing_hint(port: &str, typed: &str) -> String {
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 200,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    let slave = unsafe { std::fs::File::from_raw_fd(slave) };
    let mut master = unsafe { std::fs::File::from_raw_fd(master) };
    let mut cli = std::process::Command::new("redis-cli")
        .args(["-p", port])
        .env("TERM", "xterm")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .unwrap();
    unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&master),
            libc::F_SETFL,
            libc::O_NONBLOCK,
        )
    };
    let mut shown = Vec::new();
    let read_for =
        |master: &mut std::fs::File, shown: &mut Vec<u8>, wait: Duration, until: &str| {
            let deadline = Instant::now() + wait;
            let mut buf = [0u8; 4096];
            while Instant::now() < deadline && !String::from_utf8_lossy(shown).contains(until) {
                match master.read(&mut buf) {
                    Ok(n) if n > 0 => shown.extend_from_slice(&buf[..n]),
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        };
    read_for(&mut master, &mut shown, TIMEOUT, "> ");
    master.write_all(typed.as_bytes()).unwrap();
    read_for(&mut master, &mut shown, TIMEOUT, "]\u{1b}[0m");
    let _ = cli.kill();
    let _ = cli.wait();
    String::from_utf8_lossy(&shown).into_owned()
}
