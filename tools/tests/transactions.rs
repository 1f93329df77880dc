//! MULTI / EXEC / DISCARD / WATCH / UNWATCH over real sockets, byte for
//! byte, compared with a real redis-server 7 where the behaviour is
//! Redis's; and with redis-py, as a Python application uses them.
//!
//! CI installs redis-server and redis-py (`.ci/run`); under `CI=true` a
//! test that needs one fails when it is missing.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{command_present, encode, Raw, RedisServer, Server, TIMEOUT};
use pinwheel_runtime::{HashRing, TRANSACTION_COMMANDS_MAX, WATCHED_KEYS_MAX};

/// One step of a two-client transcript: which client, the command, and
/// the exact reply (`None`: not compared, as for HELLO's server name).
type Step = (usize, &'static [&'static str], Option<&'static str>);

/// Every key is under the hash tag `{t}`, so the whole transcript lives
/// in one shard group and must match Redis byte for byte.
const TRANSCRIPT: &[Step] = &[
    (0, &["FLUSHALL"], Some("+OK\r\n")),
    // Queuing, errors inside EXEC reported per command, the rest applied.
    (0, &["SET", "{t}s", "abc"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["SET", "{t}k", "v"], Some("+QUEUED\r\n")),
    (0, &["INCR", "{t}s"], Some("+QUEUED\r\n")),
    (0, &["GET", "{t}k"], Some("+QUEUED\r\n")),
    (0, &["PING"], Some("+QUEUED\r\n")),
    (0, &["ECHO", "x"], Some("+QUEUED\r\n")),
    (
        0,
        &["EXEC"],
        Some("*5\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nv\r\n+PONG\r\n$1\r\nx\r\n"),
    ),
    // A queuing error: EXECABORT, and nothing applied.
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["SET", "{t}k", "w"], Some("+QUEUED\r\n")),
    (0, &["NOSUCH", "x"], Some("-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n")),
    (0, &["GET"], Some("-ERR wrong number of arguments for 'get' command\r\n")),
    (0, &["SET", "{t}k", "y"], Some("+QUEUED\r\n")),
    (0, &["EXEC"], Some("-EXECABORT Transaction discarded because of previous errors.\r\n")),
    (0, &["GET", "{t}k"], Some("$1\r\nv\r\n")),
    // Nested MULTI and WATCH inside MULTI are refused without aborting.
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("-ERR MULTI calls can not be nested\r\n")),
    (0, &["WATCH", "{t}k"], Some("-ERR WATCH inside MULTI is not allowed\r\n")),
    (0, &["UNWATCH"], Some("+QUEUED\r\n")),
    (0, &["EXEC"], Some("*1\r\n+OK\r\n")),
    // Without MULTI.
    (0, &["EXEC"], Some("-ERR EXEC without MULTI\r\n")),
    (0, &["DISCARD"], Some("-ERR DISCARD without MULTI\r\n")),
    (0, &["UNWATCH"], Some("+OK\r\n")),
    (0, &["WATCH"], Some("-ERR wrong number of arguments for 'watch' command\r\n")),
    // DISCARD drops the queue; a wrong-arity DISCARD inside MULTI aborts.
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["SET", "{t}k", "discarded"], Some("+QUEUED\r\n")),
    (0, &["DISCARD"], Some("+OK\r\n")),
    (0, &["GET", "{t}k"], Some("$1\r\nv\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["DISCARD", "x"], Some("-ERR wrong number of arguments for 'discard' command\r\n")),
    (0, &["EXEC"], Some("-EXECABORT Transaction discarded because of previous errors.\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["EXEC", "x"], Some("-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n")),
    (0, &["EXEC"], Some("-ERR EXEC without MULTI\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["EXEC"], Some("*0\r\n")),
    // WATCH: a write by another client, even of the same value, aborts.
    (0, &["WATCH", "{t}k"], Some("+OK\r\n")),
    (1, &["SET", "{t}k", "v"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["SET", "{t}k", "mine"], Some("+QUEUED\r\n")),
    (0, &["EXEC"], Some("*-1\r\n")),
    (0, &["GET", "{t}k"], Some("$1\r\nv\r\n")),
    // EXEC ended the watch: the next transaction runs.
    (1, &["SET", "{t}k", "theirs"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["GET", "{t}k"], Some("+QUEUED\r\n")),
    (0, &["EXEC"], Some("*1\r\n$6\r\ntheirs\r\n")),
    // A write that changes nothing does not abort; UNWATCH forgets.
    (0, &["WATCH", "{t}k", "{t}missing"], Some("+OK\r\n")),
    (1, &["SET", "{t}k", "x", "NX"], Some("$-1\r\n")),
    (1, &["DEL", "{t}missing"], Some(":0\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["GET", "{t}k"], Some("+QUEUED\r\n")),
    (0, &["EXEC"], Some("*1\r\n$6\r\ntheirs\r\n")),
    (0, &["WATCH", "{t}k"], Some("+OK\r\n")),
    (0, &["UNWATCH"], Some("+OK\r\n")),
    (1, &["SET", "{t}k", "later"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["EXEC"], Some("*0\r\n")),
    // A key created and deleted after the WATCH aborts; FLUSHALL aborts
    // the watcher of a live key, not of a missing one.
    (0, &["WATCH", "{t}gone"], Some("+OK\r\n")),
    (1, &["SET", "{t}gone", "1"], Some("+OK\r\n")),
    (1, &["DEL", "{t}gone"], Some(":1\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["EXEC"], Some("*-1\r\n")),
    (0, &["WATCH", "{t}k"], Some("+OK\r\n")),
    (1, &["FLUSHALL"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["EXEC"], Some("*-1\r\n")),
    (0, &["WATCH", "{t}k"], Some("+OK\r\n")),
    (1, &["FLUSHALL"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["EXEC"], Some("*0\r\n")),
    // RESP3: the aborted EXEC is `_`.
    (0, &["HELLO", "3"], None),
    (0, &["WATCH", "{t}k"], Some("+OK\r\n")),
    (1, &["SET", "{t}k", "1"], Some("+OK\r\n")),
    (0, &["MULTI"], Some("+OK\r\n")),
    (0, &["GET", "{t}k"], Some("+QUEUED\r\n")),
    (0, &["EXEC"], Some("_\r\n")),
];

/// Runs the transcript against `addr`; each reply in order.
fn run_transcript(addr: SocketAddr) -> Vec<String> {
    let mut clients = [Raw::connect(addr), Raw::connect(addr)];
    TRANSCRIPT
        .iter()
        .map(|(client, args, _)| clients[*client].cmd(args))
        .collect()
}

#[test]
fn transactions_answer_byte_for_byte_as_redis_7_does() {
    let server = Server::start(&["--cores", "2"]);
    let ours = run_transcript(server.addr);
    for ((client, args, expected), got) in TRANSCRIPT.iter().zip(&ours) {
        if let Some(expected) = expected {
            assert_eq!(got, expected, "client {client}: {args:?}");
        }
    }
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let theirs = run_transcript(redis.addr);
    for ((client, args, expected), (got, redis)) in TRANSCRIPT.iter().zip(ours.iter().zip(&theirs))
    {
        if expected.is_some() {
            assert_eq!(got, redis, "client {client}: {args:?} differs from Redis");
        }
    }
}

/// Two keys that the default ring (64 groups) puts in different groups.
fn keys_in_two_groups() -> (String, String) {
    let ring = HashRing::new(64);
    let first = "a".to_owned();
    let other = (0..)
        .map(|i| format!("b{i}"))
        .find(|key| ring.group_of(key.as_bytes()) != ring.group_of(first.as_bytes()))
        .unwrap();
    (first, other)
}

#[test]
fn a_transaction_across_groups_is_refused_and_applies_nothing() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    let (a, b) = keys_in_two_groups();
    const CROSSSLOT: &str = "-CROSSSLOT keys in a transaction must share one shard group; \
                             put them under one hash tag such as {user42}\r\n";
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", &a, "1"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["SET", &b, "1"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), CROSSSLOT);
    assert_eq!(raw.cmd(&["EXISTS", &a, &b]), ":0\r\n");
    // A watched key counts: watching one group, writing another.
    assert_eq!(raw.cmd(&["WATCH", &a]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["MSET", &b, "1"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), CROSSSLOT);
    assert_eq!(raw.cmd(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    // Whole-keyspace commands cannot be part of one group's step.
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", &a, "1"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["DBSIZE"]), "+QUEUED\r\n");
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "-ERR 'dbsize' reads or writes every shard group, so it cannot run inside a \
         transaction; send it outside MULTI\r\n"
    );
    assert_eq!(raw.cmd(&["EXISTS", &a]), ":0\r\n");
    // A hash tag puts them together.
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "{u}a", "1"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["INCR", "{u}b"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), "*2\r\n+OK\r\n:1\r\n");
}

#[test]
fn a_pipelined_transaction_is_queued_not_run_at_once() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    let (a, b) = keys_in_two_groups();
    // Single-key commands that the pipeline would otherwise answer or
    // batch at once, on keys of both cores, all in one write.
    let mut batch = Vec::new();
    for args in [
        &["SET", &a, "before"][..],
        &["MULTI"],
        &["SET", &a, "inside"],
        &["GET", &a],
        &["GET", &b],
        &["DISCARD"],
        &["GET", &a],
        &["GET", &b],
    ] {
        batch.extend(encode(args));
    }
    raw.send(&batch);
    let expected = [
        "+OK\r\n",
        "+OK\r\n",
        "+QUEUED\r\n",
        "+QUEUED\r\n",
        "+QUEUED\r\n",
        "+OK\r\n",
        "$6\r\nbefore\r\n",
        "$-1\r\n",
    ];
    for (i, expected) in expected.iter().enumerate() {
        assert_eq!(raw.reply(), *expected, "reply {i}");
    }
    // The queued GETs never ran: only the two after DISCARD are timed.
    let histogram = raw.cmd(&["LATENCY", "HISTOGRAM", "get"]);
    assert!(histogram.contains("$5\r\ncalls\r\n:2\r\n"), "{histogram}");
}

#[test]
fn no_reader_ever_sees_half_a_transaction() {
    let server = Server::start(&["--cores", "2"]);
    let addr = server.addr;
    let writer = std::thread::spawn(move || {
        let mut raw = Raw::connect(addr);
        for _ in 0..500 {
            assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
            raw.cmd(&["INCR", "{pair}a"]);
            raw.cmd(&["INCR", "{pair}b"]);
            let reply = raw.cmd(&["EXEC"]);
            assert!(reply.starts_with("*2\r\n:"), "{reply}");
        }
    });
    let mut reader = server.raw();
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let reply = reader.cmd(&["MGET", "{pair}a", "{pair}b"]);
        let values: Vec<&str> = reply
            .lines()
            .filter(|l| !l.starts_with(['*', '$']))
            .collect();
        let [a, b] = values[..] else {
            // Both missing before the first EXEC.
            assert_eq!(reply, "*2\r\n$-1\r\n$-1\r\n");
            reads += 1;
            continue;
        };
        assert_eq!(a, b, "a reader saw half a transaction: {reply:?}");
        reads += 1;
    }
    writer.join().unwrap();
    assert_eq!(reader.cmd(&["GET", "{pair}a"]), "$3\r\n500\r\n");
}

/// One client's WATCH/GET/MULTI/SET/EXEC increments: how many EXECs ran
/// and how many aborted.
fn increment_loop(addr: SocketAddr, rounds: usize, barrier: Arc<Barrier>) -> (u64, u64) {
    let mut raw = Raw::connect(addr);
    let (mut done, mut aborted) = (0, 0);
    for round in 0..rounds {
        assert_eq!(raw.cmd(&["WATCH", "{race}n"]), "+OK\r\n");
        let value = raw.cmd(&["GET", "{race}n"]);
        let n: u64 = value.lines().nth(1).map_or(0, |v| v.parse().unwrap());
        // Every other round both clients start their MULTI together, so
        // one of them must lose; the others race freely.
        if round % 2 == 0 {
            barrier.wait();
        }
        assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
        let next = (n + 1).to_string();
        assert_eq!(raw.cmd(&["SET", "{race}n", &next]), "+QUEUED\r\n");
        match raw.cmd(&["EXEC"]).as_str() {
            "*1\r\n+OK\r\n" => done += 1,
            "*-1\r\n" => aborted += 1,
            other => panic!("EXEC answered {other:?}"),
        }
    }
    (done, aborted)
}

#[test]
fn two_clients_racing_watch_increments_lose_no_update() {
    let server = Server::start(&["--cores", "2"]);
    const ROUNDS: usize = 400;
    let barrier = Arc::new(Barrier::new(2));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (addr, barrier) = (server.addr, barrier.clone());
            std::thread::spawn(move || increment_loop(addr, ROUNDS, barrier))
        })
        .collect();
    let results: Vec<(u64, u64)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    eprintln!("(EXECs run, EXECs aborted) per client: {results:?}");
    let done: u64 = results.iter().map(|r| r.0).sum();
    let final_value = server.raw().cmd(&["GET", "{race}n"]);
    assert_eq!(
        final_value,
        format!("${}\r\n{done}\r\n", done.to_string().len()),
        "{results:?}"
    );
    for (client, (_, aborted)) in results.iter().enumerate() {
        assert!(
            *aborted > 0,
            "client {client} never lost a race: {results:?}"
        );
    }
    assert!(done >= ROUNDS as u64 / 2, "{results:?}");
}

#[test]
fn lock_commands_inside_a_transaction_act_as_single_commands() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    let mut waiter = server.raw();
    // A WAIT inside MULTI answers at once; a grant arms its lease timer.
    assert_eq!(
        raw.cmd(&["LOCK.ACQUIRE", "{l}held", "other", "60000"]),
        ":1\r\n"
    );
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(
        raw.cmd(&["LOCK.ACQUIRE", "{l}held", "me", "1000", "WAIT", "60000"]),
        "+QUEUED\r\n"
    );
    assert_eq!(
        raw.cmd(&["LOCK.ACQUIRE", "{l}short", "me", "200"]),
        "+QUEUED\r\n"
    );
    assert_eq!(raw.cmd(&["EXEC"]), "*2\r\n$-1\r\n:2\r\n");
    let deadline = Instant::now() + TIMEOUT;
    while raw.cmd(&["LOCK.INFO", "{l}short"]) != "$-1\r\n" {
        assert!(
            Instant::now() < deadline,
            "the lease granted in EXEC never expired"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A release inside EXEC hands the lock to a client parked outside.
    waiter.send(&encode(&[
        "LOCK.ACQUIRE",
        "{l}held",
        "parked",
        "60000",
        "WAIT",
        "60000",
    ]));
    let deadline = Instant::now() + TIMEOUT;
    while !raw
        .cmd(&["LOCK.INFO", "{l}held"])
        .ends_with("$7\r\nwaiters\r\n:1\r\n")
    {
        assert!(Instant::now() < deadline, "the waiter never queued");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["LOCK.RELEASE", "{l}held", "1"]), "+QUEUED\r\n");
    assert_eq!(raw.cmd(&["EXEC"]), "*1\r\n:1\r\n");
    assert_eq!(waiter.reply(), ":3\r\n");
}

#[test]
fn transaction_limits_give_clear_errors() {
    let server = Server::start(&["--cores", "1"]);
    let mut raw = server.raw();
    let mut batch = encode(&["MULTI"]);
    for _ in 0..=TRANSACTION_COMMANDS_MAX {
        batch.extend(encode(&["PING"]));
    }
    batch.extend(encode(&["EXEC"]));
    raw.send(&batch);
    assert_eq!(raw.reply(), "+OK\r\n");
    for _ in 0..TRANSACTION_COMMANDS_MAX {
        assert_eq!(raw.reply(), "+QUEUED\r\n");
    }
    assert_eq!(
        raw.reply(),
        format!(
            "-ERR a transaction holds at most {TRANSACTION_COMMANDS_MAX} commands \
             (TRANSACTION_COMMANDS_MAX); EXEC will discard it\r\n"
        )
    );
    assert_eq!(
        raw.reply(),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    let keys: Vec<String> = (0..=WATCHED_KEYS_MAX).map(|i| format!("w{i}")).collect();
    let mut watch = vec!["WATCH"];
    watch.extend(keys.iter().map(String::as_str));
    assert_eq!(
        raw.cmd(&watch),
        format!("-ERR a connection watches at most {WATCHED_KEYS_MAX} keys (WATCHED_KEYS_MAX)\r\n")
    );
    assert_eq!(raw.cmd(&watch[..WATCHED_KEYS_MAX + 1]), "+OK\r\n");
}

/// The redis-py half: `pipeline(transaction=True)`, the `transaction()`
/// helper retrying after another client changed its watched key, and a
/// failing command inside a transaction.
const REDIS_PY_SCRIPT: &str = r#"
import sys, redis
port = int(sys.argv[1])
r = redis.Redis(port=port, decode_responses=True)
other = redis.Redis(port=port, decode_responses=True)

with r.pipeline(transaction=True) as p:
    p.set("{py}a", "1").incr("{py}a").get("{py}a")
    assert p.execute() == [True, 2, "2"]

# A failing command inside EXEC: redis-py raises it, the others applied.
r.set("{py}s", "text")
p = r.pipeline(transaction=True)
p.incr("{py}s").set("{py}after", "yes")
try:
    p.execute()
    raise AssertionError("the failing INCR was not reported")
except redis.ResponseError as e:
    assert "not an integer" in str(e), e
assert r.get("{py}after") == "yes"
p = r.pipeline(transaction=True)
p.incr("{py}s").set("{py}after2", "yes")
out = p.execute(raise_on_error=False)
assert isinstance(out[0], redis.ResponseError) and out[1] is True, out

# The transaction() helper retries when the watched key changed.
r.set("{py}n", "0")
calls = []
def bump(pipe):
    calls.append(1)
    n = int(pipe.get("{py}n"))
    if len(calls) == 1:
        other.set("{py}n", "100")
    pipe.multi()
    pipe.set("{py}n", n + 1)
r.transaction(bump, "{py}n")
assert len(calls) == 2, calls
assert r.get("{py}n") == "101"

# A watched key changed by another client: WatchError, nothing applied.
with r.pipeline() as p:
    p.watch("{py}w")
    other.set("{py}w", "theirs")
    p.multi()
    p.set("{py}w", "mine")
    try:
        p.execute()
        raise AssertionError("EXEC ran over a changed key")
    except redis.WatchError:
        pass
assert r.get("{py}w") == "theirs"

# Keys in two groups: refused, naming the remedy; nothing applied.
p = r.pipeline(transaction=True)
p.set(sys.argv[2], "1").set(sys.argv[3], "1")
try:
    p.execute()
    raise AssertionError("a cross-group transaction ran")
except redis.ResponseError as e:
    assert "CROSSSLOT" in str(e) and "hash tag" in str(e), e
assert r.exists(sys.argv[2], sys.argv[3]) == 0
print("ok")
"#;

#[test]
fn redis_py_transactions_work_as_against_redis() {
    if !command_present("python3", &["-c", "import redis"], "redis-py") {
        return;
    }
    let server = Server::start(&["--cores", "2"]);
    let (a, b) = keys_in_two_groups();
    let script = std::env::temp_dir().join(format!("pinwheel-tx-{}.py", std::process::id()));
    std::fs::write(&script, REDIS_PY_SCRIPT).unwrap();
    let output = Command::new("python3")
        .arg(&script)
        .args([&server.addr.port().to_string(), &a, &b])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&script);
    assert!(
        output.status.success(),
        "redis-py script failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ok");
}

/// The `core=` of a connection's `CLIENT INFO`.
fn core_of_connection(raw: &mut Raw) -> usize {
    let info = raw.cmd(&["CLIENT", "INFO"]);
    let field = info
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix("core="))
        .unwrap_or_else(|| panic!("no core= in {info}"));
    field.parse().unwrap()
}

/// A connection holding watched keys or an open MULTI stays on its core:
/// moving would lose them (a session crosses with its name and protocol
/// only). Its commands for another core's keys would otherwise move it.
#[test]
fn a_connection_with_watches_or_a_queue_is_not_moved() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    let here = core_of_connection(&mut raw);
    let ring = HashRing::new(64);
    let elsewhere = (0..)
        .map(|i| format!("far{i}"))
        .find(|key| pinwheel_runtime::core_of(ring.group_of(key.as_bytes()), 2) != here)
        .unwrap();
    assert_eq!(raw.cmd(&["WATCH", &elsewhere]), "+OK\r\n");
    for _ in 0..3 * pinwheel_runtime::HANDOFF_AFTER_COMMANDS {
        raw.cmd(&["GET", &elsewhere]);
    }
    assert_eq!(core_of_connection(&mut raw), here, "moved while watching");
    server.raw().cmd(&["SET", &elsewhere, "changed"]);
    assert_eq!(raw.cmd(&["MULTI"]), "+OK\r\n");
    for _ in 0..3 * pinwheel_runtime::HANDOFF_AFTER_COMMANDS {
        assert_eq!(raw.cmd(&["GET", &elsewhere]), "+QUEUED\r\n");
    }
    // Moved with the queue, it would answer "EXEC without MULTI".
    assert_eq!(
        raw.cmd(&["EXEC"]),
        "*-1\r\n",
        "the queue or the watch was lost"
    );
    // Free again, the same commands move it.
    for _ in 0..3 * pinwheel_runtime::HANDOFF_AFTER_COMMANDS {
        raw.cmd(&["GET", &elsewhere]);
    }
    let deadline = Instant::now() + TIMEOUT;
    while core_of_connection(&mut raw) == here {
        assert!(Instant::now() < deadline, "never moved once idle");
        raw.cmd(&["GET", &elsewhere]);
    }
}
