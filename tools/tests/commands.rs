//! Every command, over a real socket, with Redis 7's exact replies,
//! including the error cases clients depend on.

mod common;

use common::Server;

/// Runs each (command, expected reply) in order on one connection.
fn check(server: &Server, cases: &[(&[&str], &str)]) {
    let mut raw = server.raw();
    for (args, expected) in cases {
        let got = raw.cmd(args);
        assert_eq!(got, *expected, "{args:?}");
    }
}

const WRONG_TYPE_INT: &str = "-ERR value is not an integer or out of range\r\n";
const SYNTAX: &str = "-ERR syntax error\r\n";

#[test]
fn connection_commands() {
    let server = Server::start(&["--cores", "2"]);
    check(
        &server,
        &[
            (&["PING"], "+PONG\r\n"),
            (&["ping", "hi"], "$2\r\nhi\r\n"),
            (&["PING", "a", "b"], "-ERR wrong number of arguments for 'ping' command\r\n"),
            (&["ECHO", "x y"], "$3\r\nx y\r\n"),
            (&["ECHO"], "-ERR wrong number of arguments for 'echo' command\r\n"),
            (&["SELECT", "0"], "+OK\r\n"),
            (&["SELECT", "1"], "-ERR DB index is out of range\r\n"),
            (&["SELECT", "x"], WRONG_TYPE_INT),
            (&["HELLO", "4"], "-NOPROTO unsupported protocol version\r\n"),
            (&["HELLO", "x"], "-ERR Protocol version is not an integer or out of range\r\n"),
            (&["CLIENT", "SETNAME", "alice"], "+OK\r\n"),
            (&["CLIENT", "GETNAME"], "$5\r\nalice\r\n"),
            (&["CLIENT", "SETNAME", "a b"], "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
            (&["CLIENT", "SETINFO", "lib-name", "tests"], "+OK\r\n"),
            (&["CLIENT", "NOPE"], "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"),
            (&["NOSUCH", "a", "b"], "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n"),
            (&["LOCK.EXPIRE", "a", "1", "1"], "-ERR unknown command 'LOCK.EXPIRE', with args beginning with: 'a' '1' '1' \r\n"),
            (&["CONFIG", "GET", "save"], "*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
            (&["CONFIG", "GET", "appendonly"], "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"),
            (&["CONFIG", "SET", "save", ""], "+OK\r\n"),
            (&["CONFIG", "SET", "groups", "3"], "-ERR CONFIG SET failed (possibly related to argument 'groups') - can't set immutable config\r\n"),
            (&["CONFIG", "SET", "nosuch", "1"], "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n"),
            (&["CONFIG", "GET"], "-ERR wrong number of arguments for 'config|get' command\r\n"),
            (&["COMMAND", "NOPE"], "-ERR unknown subcommand 'NOPE'. Try COMMAND HELP.\r\n"),
            (&["QUIT"], "+OK\r\n"),
        ],
    );
    let mut raw = server.raw();
    let id = raw.cmd(&["CLIENT", "ID"]);
    assert!(id.starts_with(':'), "{id}");
    let list = raw.cmd(&["CLIENT", "LIST"]);
    assert!(
        list.contains(&format!("id={}", &id[1..id.len() - 2])),
        "{list}"
    );
    let count = raw.cmd(&["COMMAND", "COUNT"]);
    assert!(count.starts_with(':') && count.trim_end()[1..].parse::<u32>().unwrap() > 50);
    let docs = raw.cmd(&["COMMAND", "DOCS", "get"]);
    assert!(
        docs.contains("Returns the string value of a key."),
        "{docs}"
    );
    let time = raw.cmd(&["TIME"]);
    assert!(time.starts_with("*2\r\n$10\r\n"), "{time}");
    raw.send(&common::encode(&["QUIT"]));
    assert_eq!(raw.reply(), "+OK\r\n");
    assert!(raw.closed(), "QUIT closes the connection");
}

#[test]
fn string_commands() {
    let server = Server::start(&["--cores", "2"]);
    check(
        &server,
        &[
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["GET", "k"], "$1\r\nv\r\n"),
            (&["GET", "missing"], "$-1\r\n"),
            (&["SET", "k", "v2", "NX"], "$-1\r\n"),
            (&["SET", "k", "v2", "XX", "GET"], "$1\r\nv\r\n"),
            (&["SET", "k2", "v", "XX"], "$-1\r\n"),
            (&["SET", "k", "v", "NX", "XX"], SYNTAX),
            (
                &["SET", "k", "v", "EX", "0"],
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (&["SET", "k", "v", "EX", "x"], WRONG_TYPE_INT),
            (
                &["SET", "k"],
                "-ERR wrong number of arguments for 'set' command\r\n",
            ),
            (&["SETNX", "k", "x"], ":0\r\n"),
            (&["SETNX", "n", "x"], ":1\r\n"),
            (&["SETEX", "e", "100", "v"], "+OK\r\n"),
            (
                &["SETEX", "e", "-1", "v"],
                "-ERR invalid expire time in 'setex' command\r\n",
            ),
            (&["PSETEX", "p", "100000", "v"], "+OK\r\n"),
            (&["GETSET", "k", "new"], "$2\r\nv2\r\n"),
            (&["GETDEL", "k"], "$3\r\nnew\r\n"),
            (&["GETDEL", "k"], "$-1\r\n"),
            (&["SET", "g", "v"], "+OK\r\n"),
            (&["GETEX", "g", "EX", "100"], "$1\r\nv\r\n"),
            (&["TTL", "g"], ":100\r\n"),
            (&["GETEX", "g", "PERSIST"], "$1\r\nv\r\n"),
            (&["TTL", "g"], ":-1\r\n"),
            (&["GETEX", "g", "BOGUS"], SYNTAX),
            (&["MSET", "a", "1", "b", "2", "c", "3"], "+OK\r\n"),
            (
                &["MSET", "a", "1", "b"],
                "-ERR wrong number of arguments for 'mset' command\r\n",
            ),
            (
                &["MGET", "a", "nope", "b", "c"],
                "*4\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n$1\r\n3\r\n",
            ),
            (&["MSETNX", "a", "9", "zz", "9"], ":0\r\n"),
            (&["MSETNX", "x1", "1", "x2", "2"], ":1\r\n"),
            (&["EXISTS", "a", "a", "nope", "b"], ":3\r\n"),
            (&["DEL", "a", "b", "nope"], ":2\r\n"),
            (&["UNLINK", "c", "x1"], ":2\r\n"),
            (&["TYPE", "x2"], "+string\r\n"),
            (&["TYPE", "nope"], "+none\r\n"),
            (&["APPEND", "s", "ab"], ":2\r\n"),
            (&["APPEND", "s", "cd"], ":4\r\n"),
            (&["STRLEN", "s"], ":4\r\n"),
            (&["STRLEN", "nope"], ":0\r\n"),
            (&["GETRANGE", "s", "1", "-2"], "$2\r\nbc\r\n"),
            (&["GETRANGE", "s", "x", "1"], WRONG_TYPE_INT),
            (&["SETRANGE", "s", "6", "z"], ":7\r\n"),
            (&["GET", "s"], "$7\r\nabcd\0\0z\r\n"),
            (
                &["SETRANGE", "s", "-1", "z"],
                "-ERR offset is out of range\r\n",
            ),
            (&["SET", "s", "abc", "IFEQ", "abcd\0\0z"], "+OK\r\n"),
            (&["SET", "s", "x", "IFEQ", "nope"], "$-1\r\n"),
            (&["SET", "s", "x", "IFEQ", "a", "NX"], SYNTAX),
            (&["DELIFEQ", "s", "nope"], ":0\r\n"),
            (&["DELIFEQ", "s", "abc"], ":1\r\n"),
            (&["DELIFEQ", "s", "abc"], ":0\r\n"),
        ],
    );
}

#[test]
fn counter_commands() {
    let server = Server::start(&["--cores", "2"]);
    check(
        &server,
        &[
            (&["INCR", "c"], ":1\r\n"),
            (&["INCRBY", "c", "10"], ":11\r\n"),
            (&["DECR", "c"], ":10\r\n"),
            (&["DECRBY", "c", "20"], ":-10\r\n"),
            (&["INCRBY", "c", "x"], WRONG_TYPE_INT),
            (&["SET", "t", "abc"], "+OK\r\n"),
            (&["INCR", "t"], WRONG_TYPE_INT),
            (&["SET", "max", "9223372036854775807"], "+OK\r\n"),
            (
                &["INCR", "max"],
                "-ERR increment or decrement would overflow\r\n",
            ),
            (&["INCRBYFLOAT", "f", "10.5"], "$4\r\n10.5\r\n"),
            (&["INCRBYFLOAT", "f", "0.1"], "$4\r\n10.6\r\n"),
            (&["INCRBYFLOAT", "f", "5.0e3"], "$6\r\n5010.6\r\n"),
            (
                &["INCRBYFLOAT", "f", "x"],
                "-ERR value is not a valid float\r\n",
            ),
            (
                &["INCRBYFLOAT", "t", "1"],
                "-ERR value is not a valid float\r\n",
            ),
        ],
    );
}

#[test]
fn expiry_commands() {
    let server = Server::start(&["--cores", "2"]);
    check(
        &server,
        &[
            (&["SET", "k", "v"], "+OK\r\n"),
            (&["TTL", "k"], ":-1\r\n"),
            (&["TTL", "nope"], ":-2\r\n"),
            (&["PTTL", "nope"], ":-2\r\n"),
            (&["EXPIRE", "k", "100"], ":1\r\n"),
            (&["TTL", "k"], ":100\r\n"),
            (&["EXPIRE", "k", "50", "GT"], ":0\r\n"),
            (&["EXPIRE", "k", "50", "LT"], ":1\r\n"),
            (&["EXPIRE", "k", "10", "NX"], ":0\r\n"),
            (
                &["EXPIRE", "k", "10", "NX", "XX"],
                "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
            ),
            (&["EXPIRE", "k", "x"], WRONG_TYPE_INT),
            (&["EXPIRE", "nope", "10"], ":0\r\n"),
            (&["PERSIST", "k"], ":1\r\n"),
            (&["PERSIST", "k"], ":0\r\n"),
            (&["EXPIRETIME", "k"], ":-1\r\n"),
            (&["EXPIRETIME", "nope"], ":-2\r\n"),
            (&["EXPIREAT", "k", "4102444800"], ":1\r\n"),
            (&["EXPIRETIME", "k"], ":4102444800\r\n"),
            (&["PEXPIRETIME", "k"], ":4102444800000\r\n"),
            (&["PEXPIREAT", "k", "4102444800001"], ":1\r\n"),
            (&["PEXPIRETIME", "k"], ":4102444800001\r\n"),
            (&["PEXPIRE", "k", "100000"], ":1\r\n"),
            (&["EXPIRE", "k", "-1"], ":1\r\n"),
            (&["EXISTS", "k"], ":0\r\n"),
        ],
    );
}

#[test]
fn keys_expire_on_their_own() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SET", "short", "v", "PX", "50"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["SET", "long", "v", "PX", "100000"]), "+OK\r\n");
    // PTTL is checked on the long key: a loaded machine may take longer than
    // the short key's 50 ms between the SET and the PTTL.
    let pttl = raw.cmd(&["PTTL", "long"]);
    let left: i64 = pttl.trim_end()[1..].parse().unwrap();
    assert!((90_000..=100_000).contains(&left), "{pttl}");
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(raw.cmd(&["GET", "short"]), "$-1\r\n");
    assert_eq!(raw.cmd(&["EXISTS", "short", "long"]), ":1\r\n");
    // The active sweep removes it from memory, not just from view. The key
    // is never read again, so only the sweep can bring DBSIZE down to 1.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while raw.cmd(&["DBSIZE"]) != ":1\r\n" {
        assert!(std::time::Instant::now() < deadline, "the sweep never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A command's expiry counts from when it ran, even when the reply before
/// it sat waiting for a client that was not reading: the server chains one
/// command's start to the last one's end, and a stalled write must break
/// that chain.
#[test]
fn expiry_counts_from_when_a_command_ran_behind_a_stalled_reply() {
    // Larger than loopback's socket buffers on both ends together, so the
    // reply cannot all be written until the client reads.
    const VALUE_BYTES: usize = 32 * 1024 * 1024;
    const STALL: std::time::Duration = std::time::Duration::from_secs(2);
    let server = Server::start(&["--cores", "1"]);
    let mut raw = server.raw();
    let value = "v".repeat(VALUE_BYTES);
    assert_eq!(raw.cmd(&["SET", "big", &value]), "+OK\r\n");
    let mut pipeline = common::encode(&["GET", "big"]);
    pipeline.extend(common::encode(&["SET", "k", "v", "PX", "3000"]));
    raw.send(&pipeline);
    std::thread::sleep(STALL);
    assert_eq!(raw.reply().len(), VALUE_BYTES + "$33554432\r\n\r\n".len());
    assert_eq!(raw.reply(), "+OK\r\n");
    let pttl = raw.cmd(&["PTTL", "k"]);
    let left: i64 = pttl.trim_end()[1..].parse().unwrap();
    // Counted from before the stall, 2 s would already be gone.
    assert!(left > 2_000, "{pttl}");
}

#[test]
fn keyspace_commands() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["DBSIZE"]), ":0\r\n");
    assert_eq!(raw.cmd(&["RANDOMKEY"]), "$-1\r\n");
    for i in 0..200 {
        assert_eq!(raw.cmd(&["SET", &format!("key:{i}"), "v"]), "+OK\r\n");
    }
    assert_eq!(raw.cmd(&["SET", "other", "v"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["DBSIZE"]), ":201\r\n");
    let keys = raw.cmd(&["KEYS", "key:1?"]);
    assert!(keys.starts_with("*10\r\n"), "{keys}");
    assert!(raw.cmd(&["RANDOMKEY"]).starts_with('$'));
    // SCAN visits every key exactly as a client would iterate.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let mut redis = server.redis();
        let (next, keys): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("MATCH")
            .arg("key:*")
            .arg("COUNT")
            .arg(7)
            .query(&mut redis)
            .unwrap();
        seen.extend(keys);
        calls += 1;
        assert!(calls < 10_000, "SCAN does not finish");
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 200);
    assert_eq!(raw.cmd(&["SCAN", "x"]), "-ERR invalid cursor\r\n");
    assert_eq!(raw.cmd(&["SCAN", "0", "COUNT", "0"]), SYNTAX);
    assert!(raw.cmd(&["SCAN", "0", "TYPE", "hash"]).contains("*0\r\n"));
    assert_eq!(raw.cmd(&["FLUSHDB"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["DBSIZE"]), ":0\r\n");
    assert_eq!(raw.cmd(&["SET", "a", "1"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["FLUSHALL", "SYNC"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["FLUSHALL", "BOGUS"]), SYNTAX);
    assert_eq!(raw.cmd(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn redis_crate_client_works() {
    let server = Server::start(&["--cores", "2"]);
    let mut con = server.redis();
    let _: () = redis::cmd("SET")
        .arg("user:1")
        .arg("ann")
        .query(&mut con)
        .unwrap();
    let name: String = redis::cmd("GET").arg("user:1").query(&mut con).unwrap();
    assert_eq!(name, "ann");
    let n: i64 = redis::cmd("INCRBY")
        .arg("visits")
        .arg(5)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 5);
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg("user:1")
        .arg("nope")
        .query(&mut con)
        .unwrap();
    assert_eq!(values, vec![Some("ann".into()), None]);
    let err = redis::cmd("INCR")
        .arg("user:1")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
}

#[test]
fn limits_give_clear_errors() {
    let server = Server::start(&["--cores", "1"]);
    let mut raw = server.raw();
    let long_key = "k".repeat(64 * 1024 + 1);
    let reply = raw.cmd(&["SET", &long_key, "v"]);
    assert!(
        reply.starts_with("-ERR") && reply.contains("key"),
        "{reply}"
    );
    assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");
}
