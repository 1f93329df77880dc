use super::{bulk, err, group, run, run_args};
use crate::limits::KEY_MAX_BYTES;
use crate::{Group, Limits, Reply};

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

#[test]
fn get_set_basics() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "GET k"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "SET k v"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "GET k"), bulk("v"));
    assert_eq!(run(&mut g, 0, "SET k w"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "GET k"), bulk("w"));
    assert_eq!(g.len(), 1);
    assert!(!g.is_empty());
}

#[test]
fn binary_keys_and_values() {
    let mut g = group();
    let key: &[u8] = b"\x00\xff key";
    let value: &[u8] = b"\r\n\x00";
    assert_eq!(run_args(&mut g, 0, &[b"SET", key, value]), Reply::Ok);
    assert_eq!(
        run_args(&mut g, 0, &[b"GET", key]),
        Reply::Bulk(value.to_vec())
    );
}

#[test]
fn set_nx_xx() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "SET k v XX"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "GET k"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "SET k v NX"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "SET k w NX"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "GET k"), bulk("v"));
    assert_eq!(run(&mut g, 0, "SET k w xx"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "GET k"), bulk("w"));
    assert_eq!(run(&mut g, 0, "SET k w NX XX"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k w XX NX"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k w NX NX"), Reply::Nil);
}

#[test]
fn set_get_option() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "SET k v GET"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "SET k w GET"), bulk("v"));
    // NX with GET (Redis 7): the old value, and no write.
    assert_eq!(run(&mut g, 0, "SET k x NX GET"), bulk("w"));
    assert_eq!(run(&mut g, 0, "GET k"), bulk("w"));
    assert_eq!(run(&mut g, 0, "SET new x XX GET"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "GET new"), Reply::Nil);
}

#[test]
fn set_ifeq() {
    let mut g = group();
    // Missing key: not equal to anything, nothing is set.
    assert_eq!(run(&mut g, 0, "SET k v IFEQ v"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "GET k"), Reply::Nil);
    run(&mut g, 0, "SET k v");
    assert_eq!(run(&mut g, 0, "SET k w IFEQ x"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "GET k"), bulk("v"));
    assert_eq!(run(&mut g, 0, "SET k w IFEQ v"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "GET k"), bulk("w"));
    assert_eq!(run(&mut g, 0, "SET k z IFEQ w GET"), bulk("w"));
    assert_eq!(run(&mut g, 0, "SET k q IFEQ nope GET"), bulk("z"));
    assert_eq!(run(&mut g, 0, "GET k"), bulk("z"));
    assert_eq!(run(&mut g, 0, "SET k w IFEQ z NX"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k w XX IFEQ z"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k w IFEQ"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "GET k"), bulk("z"));
}

#[test]
fn set_expiry_options() {
    let mut g = group();
    let now = 1_000_000;
    assert_eq!(run(&mut g, now, "SET k v EX 10"), Reply::Ok);
    assert_eq!(run(&mut g, now, "PTTL k"), Reply::Int(10_000));
    assert_eq!(run(&mut g, now, "SET k v PX 1500"), Reply::Ok);
    assert_eq!(run(&mut g, now, "PTTL k"), Reply::Int(1500));
    assert_eq!(run(&mut g, now, "SET k v EXAT 2000"), Reply::Ok);
    assert_eq!(run(&mut g, now, "PEXPIRETIME k"), Reply::Int(2_000_000));
    assert_eq!(run(&mut g, now, "SET k v PXAT 1000500"), Reply::Ok);
    assert_eq!(run(&mut g, now, "PTTL k"), Reply::Int(500));
    assert_eq!(run(&mut g, now, "SET k w KEEPTTL"), Reply::Ok);
    assert_eq!(run(&mut g, now, "PTTL k"), Reply::Int(500));
    assert_eq!(run(&mut g, now, "SET k w"), Reply::Ok);
    assert_eq!(run(&mut g, now, "PTTL k"), Reply::Int(-1));
    // A deadline in the past: the key is gone at once.
    assert_eq!(run(&mut g, now, "SET k w PXAT 5"), Reply::Ok);
    assert_eq!(run(&mut g, now, "GET k"), Reply::Nil);
    assert_eq!(g.len(), 0);
}

#[test]
fn set_expiry_errors() {
    let mut g = group();
    let invalid = "ERR invalid expire time in 'set' command";
    assert_eq!(run(&mut g, 0, "SET k v EX 0"), err(invalid));
    assert_eq!(run(&mut g, 0, "SET k v PX -1"), err(invalid));
    assert_eq!(run(&mut g, 0, "SET k v EX 9223372036854776"), err(invalid));
    assert_eq!(
        run(&mut g, 5, "SET k v PX 9223372036854775807"),
        err(invalid)
    );
    assert_eq!(run(&mut g, 0, "SET k v EX x"), err(NOT_INT));
    assert_eq!(run(&mut g, 0, "SET k v EX 1.5"), err(NOT_INT));
    assert_eq!(run(&mut g, 0, "SET k v EX"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k v EX 1 PX 1"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k v EX 1 KEEPTTL"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k v KEEPTTL EXAT 1"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k v PERSIST"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "SET k v BOGUS"), err(SYNTAX));
    assert_eq!(g.len(), 0, "a failed SET must not write");
}

#[test]
fn setnx_setex_psetex_getset() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "SETNX k v"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "SETNX k w"), Reply::Int(0));
    assert_eq!(run(&mut g, 0, "SETEX k 5 x"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "TTL k"), Reply::Int(5));
    assert_eq!(run(&mut g, 0, "PSETEX k 700 y"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "PTTL k"), Reply::Int(700));
    assert_eq!(
        run(&mut g, 0, "SETEX k 0 x"),
        err("ERR invalid expire time in 'setex' command")
    );
    assert_eq!(
        run(&mut g, 0, "PSETEX k -5 x"),
        err("ERR invalid expire time in 'psetex' command")
    );
    assert_eq!(run(&mut g, 0, "SETEX k nope x"), err(NOT_INT));
    assert_eq!(run(&mut g, 0, "GETSET k z"), bulk("y"));
    assert_eq!(
        run(&mut g, 0, "PTTL k"),
        Reply::Int(-1),
        "GETSET clears the TTL"
    );
    assert_eq!(run(&mut g, 0, "GETSET other z"), Reply::Nil);
}

#[test]
fn getdel_getex() {
    let mut g = group();
    run(&mut g, 0, "SET k v");
    assert_eq!(run(&mut g, 0, "GETEX k"), bulk("v"));
    assert_eq!(run(&mut g, 0, "GETEX k PX 100"), bulk("v"));
    assert_eq!(run(&mut g, 0, "PTTL k"), Reply::Int(100));
    assert_eq!(run(&mut g, 0, "GETEX k PERSIST"), bulk("v"));
    assert_eq!(run(&mut g, 0, "PTTL k"), Reply::Int(-1));
    assert_eq!(
        run(&mut g, 0, "GETEX k EX 0"),
        err("ERR invalid expire time in 'getex' command")
    );
    assert_eq!(run(&mut g, 0, "GETEX k EX 1 PERSIST"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "GETEX k KEEPTTL"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "GETEX k GET"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "GETEX nope EX 1"), Reply::Nil);
    assert_eq!(
        run(&mut g, 10, "GETEX k PXAT 5"),
        bulk("v"),
        "past: answers, then deletes"
    );
    assert_eq!(run(&mut g, 10, "GET k"), Reply::Nil);
    run(&mut g, 0, "SET k v");
    assert_eq!(run(&mut g, 0, "GETDEL k"), bulk("v"));
    assert_eq!(run(&mut g, 0, "GETDEL k"), Reply::Nil);
}

#[test]
fn mget_mset_msetnx() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "MSET a 1 b 2"), Reply::Ok);
    assert_eq!(
        run(&mut g, 0, "MGET a x b"),
        Reply::Array(vec![bulk("1"), Reply::Nil, bulk("2")])
    );
    assert_eq!(
        run(&mut g, 0, "MSET a 1 b"),
        err("ERR wrong number of arguments for 'mset' command")
    );
    assert_eq!(run(&mut g, 0, "MSETNX a 9 c 3"), Reply::Int(0));
    assert_eq!(run(&mut g, 0, "GET c"), Reply::Nil);
    assert_eq!(run(&mut g, 0, "MSETNX c 3 d 4"), Reply::Int(1));
    assert_eq!(
        run(&mut g, 0, "MGET c d"),
        Reply::Array(vec![bulk("3"), bulk("4")])
    );
    // MSET clears TTLs, like SET.
    run(&mut g, 0, "EXPIRE a 100");
    run(&mut g, 0, "MSET a 5 a 6");
    assert_eq!(run(&mut g, 0, "TTL a"), Reply::Int(-1));
    assert_eq!(run(&mut g, 0, "GET a"), bulk("6"));
}

#[test]
fn del_unlink_exists_type() {
    let mut g = group();
    run(&mut g, 0, "MSET a 1 b 2 c 3");
    assert_eq!(run(&mut g, 0, "EXISTS a a x"), Reply::Int(2));
    assert_eq!(run(&mut g, 0, "TYPE a"), Reply::Status("string".into()));
    assert_eq!(run(&mut g, 0, "TYPE x"), Reply::Status("none".into()));
    assert_eq!(run(&mut g, 0, "DEL a a x"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "UNLINK b c"), Reply::Int(2));
    assert_eq!(run(&mut g, 0, "DBSIZE"), Reply::Int(0));
    assert!(g.is_empty());
}

#[test]
fn counters() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "INCR n"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "INCRBY n 10"), Reply::Int(11));
    assert_eq!(run(&mut g, 0, "DECR n"), Reply::Int(10));
    assert_eq!(run(&mut g, 0, "DECRBY n 20"), Reply::Int(-10));
    assert_eq!(run(&mut g, 0, "GET n"), bulk("-10"));
    assert_eq!(run(&mut g, 0, "INCRBY n x"), err(NOT_INT));
    run(&mut g, 0, "SET s abc");
    assert_eq!(run(&mut g, 0, "INCR s"), err(NOT_INT));
    run(&mut g, 0, "SET s 007");
    assert_eq!(run(&mut g, 0, "INCR s"), err(NOT_INT));
    run_args(&mut g, 0, &[b"SET", b"s", b" 1"]);
    assert_eq!(run(&mut g, 0, "INCR s"), err(NOT_INT));
    run(&mut g, 0, "SET m 9223372036854775807");
    assert_eq!(
        run(&mut g, 0, "INCR m"),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(run(&mut g, 0, "GET m"), bulk("9223372036854775807"));
    assert_eq!(
        run(&mut g, 0, "DECRBY m -9223372036854775808"),
        err("ERR decrement would overflow")
    );
    // Counters keep their TTL.
    run(&mut g, 0, "SET t 1 PX 500");
    run(&mut g, 0, "INCR t");
    assert_eq!(run(&mut g, 0, "PTTL t"), Reply::Int(500));
}

#[test]
fn incrbyfloat() {
    let mut g = group();
    run(&mut g, 0, "SET f 10.50");
    assert_eq!(run(&mut g, 0, "INCRBYFLOAT f 0.1"), bulk("10.6"));
    assert_eq!(run(&mut g, 0, "INCRBYFLOAT f -5"), bulk("5.6"));
    run(&mut g, 0, "SET f 5.0e3");
    assert_eq!(run(&mut g, 0, "INCRBYFLOAT f 2.0e2"), bulk("5200"));
    assert_eq!(run(&mut g, 0, "INCRBYFLOAT new 3"), bulk("3"));
    assert_eq!(
        run(&mut g, 0, "INCRBYFLOAT f x"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        run(&mut g, 0, "INCRBYFLOAT f nan"),
        err("ERR value is not a valid float")
    );
    run(&mut g, 0, "SET s abc");
    assert_eq!(
        run(&mut g, 0, "INCRBYFLOAT s 1"),
        err("ERR value is not a valid float")
    );
    assert_eq!(
        run(&mut g, 0, "INCRBYFLOAT f inf"),
        err("ERR increment would produce NaN or Infinity")
    );
    run(&mut g, 0, "SET big 1.7e308");
    assert_eq!(
        run(&mut g, 0, "INCRBYFLOAT big 1.7e308"),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(run(&mut g, 0, "GET f"), bulk("5200"));
}

#[test]
fn append_strlen_getrange() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "APPEND k Hello"), Reply::Int(5));
    assert_eq!(run(&mut g, 0, "APPEND k _World"), Reply::Int(11));
    assert_eq!(run(&mut g, 0, "STRLEN k"), Reply::Int(11));
    assert_eq!(run(&mut g, 0, "STRLEN x"), Reply::Int(0));
    run(&mut g, 0, "SET s This_is_a_string");
    assert_eq!(run(&mut g, 0, "GETRANGE s 0 3"), bulk("This"));
    assert_eq!(run(&mut g, 0, "GETRANGE s -3 -1"), bulk("ing"));
    assert_eq!(run(&mut g, 0, "GETRANGE s 0 -1"), bulk("This_is_a_string"));
    assert_eq!(run(&mut g, 0, "GETRANGE s 10 100"), bulk("string"));
    assert_eq!(run(&mut g, 0, "GETRANGE s 5 3"), bulk(""));
    assert_eq!(run(&mut g, 0, "GETRANGE s -1 -5"), bulk(""));
    assert_eq!(run(&mut g, 0, "GETRANGE s -100 2"), bulk("Thi"));
    assert_eq!(run(&mut g, 0, "GETRANGE missing 0 -1"), bulk(""));
    assert_eq!(
        run(
            &mut g,
            0,
            "GETRANGE s -9223372036854775808 9223372036854775807"
        ),
        bulk("This_is_a_string")
    );
    assert_eq!(run(&mut g, 0, "GETRANGE s a 1"), err(NOT_INT));
    // APPEND keeps the TTL.
    run(&mut g, 0, "PEXPIRE k 300");
    run(&mut g, 0, "APPEND k !");
    assert_eq!(run(&mut g, 0, "PTTL k"), Reply::Int(300));
}

#[test]
fn setrange() {
    let mut g = group();
    run(&mut g, 0, "SET k Hello_World");
    assert_eq!(run(&mut g, 0, "SETRANGE k 6 Redis"), Reply::Int(11));
    assert_eq!(run(&mut g, 0, "GET k"), bulk("Hello_Redis"));
    assert_eq!(run(&mut g, 0, "SETRANGE n 3 ab"), Reply::Int(5));
    assert_eq!(run(&mut g, 0, "GET n"), Reply::Bulk(b"\0\0\0ab".to_vec()));
    assert_eq!(
        run_args(&mut g, 0, &[b"SETRANGE", b"e", b"5", b""]),
        Reply::Int(0)
    );
    assert_eq!(run(&mut g, 0, "EXISTS e"), Reply::Int(0));
    assert_eq!(
        run_args(&mut g, 0, &[b"SETRANGE", b"k", b"50", b""]),
        Reply::Int(11)
    );
    assert_eq!(
        run(&mut g, 0, "SETRANGE k -1 x"),
        err("ERR offset is out of range")
    );
    assert_eq!(run(&mut g, 0, "SETRANGE k x x"), err(NOT_INT));
    assert_eq!(
        run(&mut g, 0, "SETRANGE k 9223372036854775807 x"),
        err("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    );
}

#[test]
fn delifeq() {
    let mut g = group();
    assert_eq!(run(&mut g, 0, "DELIFEQ k v"), Reply::Int(0));
    run(&mut g, 0, "SET k v");
    assert_eq!(run(&mut g, 0, "DELIFEQ k w"), Reply::Int(0));
    assert_eq!(run(&mut g, 0, "GET k"), bulk("v"));
    assert_eq!(run(&mut g, 0, "DELIFEQ k v"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "GET k"), Reply::Nil);
}

#[test]
fn flush_clears_keys_only() {
    let mut g = group();
    run(&mut g, 0, "MSET a 1 b 2");
    run(&mut g, 0, "EXPIRE a 10");
    run(&mut g, 0, "LOCK.ACQUIRE l me 1000");
    assert_eq!(run(&mut g, 0, "FLUSHALL BOGUS"), err(SYNTAX));
    assert_eq!(run(&mut g, 0, "FLUSHALL ASYNC"), Reply::Ok);
    assert_eq!(g.len(), 0);
    assert_eq!(g.expiring_len(), 0);
    assert_ne!(
        run(&mut g, 0, "LOCK.INFO l"),
        Reply::Nil,
        "locks survive a flush"
    );
    run(&mut g, 0, "SET a 1");
    assert_eq!(run(&mut g, 0, "FLUSHDB"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "FLUSHDB sync"), Reply::Ok);
    assert!(g.is_empty());
}

fn small() -> Group {
    Group::new(Limits {
        key_max_bytes: 4,
        value_max_bytes: 8,
        keys_max: 2,
        ..Limits::default()
    })
}

#[test]
fn limits_are_enforced_without_partial_writes() {
    let mut g = small();
    let too_big = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    assert_eq!(
        run(&mut g, 0, "SET keyyy v"),
        err("ERR key is too long (max 4 bytes)")
    );
    assert_eq!(
        run(&mut g, 0, "MSET a 1 keyyy 2"),
        err("ERR key is too long (max 4 bytes)")
    );
    assert_eq!(g.len(), 0);
    assert_eq!(run(&mut g, 0, "SET k 123456789"), err(too_big));
    assert_eq!(run(&mut g, 0, "SET k 12345678"), Reply::Ok);
    assert_eq!(run(&mut g, 0, "APPEND k 9"), err(too_big));
    assert_eq!(run(&mut g, 0, "SETRANGE k 8 x"), err(too_big));
    assert_eq!(run(&mut g, 0, "GET k"), bulk("12345678"));
    run(&mut g, 0, "SET j 1");
    let oom = run(&mut g, 0, "SET x3 1");
    assert!(
        matches!(&oom, Reply::Error(text) if text.starts_with("OOM") && text.contains("keys_max (2)"))
    );
    assert_eq!(run(&mut g, 0, "MSET j 2 x 1"), oom);
    assert_eq!(run(&mut g, 0, "GET j"), bulk("1"), "MSET is all or nothing");
    assert_eq!(
        run(&mut g, 0, "SET j 3"),
        Reply::Ok,
        "replacing is not adding"
    );
    // An expired key makes room.
    run(&mut g, 0, "PEXPIRE j 10");
    assert_eq!(run(&mut g, 10, "SET x 1"), Reply::Ok);
    assert_eq!(g.len(), 2);
}

#[test]
fn default_key_limit_error_names_the_limit() {
    let mut g = group();
    let key = vec![b'k'; KEY_MAX_BYTES + 1];
    assert_eq!(
        run_args(&mut g, 0, &[b"SET", &key, b"v"]),
        err(&format!("ERR key is too long (max {KEY_MAX_BYTES} bytes)"))
    );
}

#[test]
fn wrong_arity_and_misrouted_commands_do_not_panic() {
    let mut g = group();
    let mut effects = Vec::new();
    for spec in crate::COMMANDS.iter() {
        for argc in 0..6 {
            let mut args: Vec<&[u8]> = vec![spec.name.as_bytes()];
            args.extend(std::iter::repeat_n(&b"1"[..], argc));
            let entry = crate::Entry {
                cmd: spec.cmd,
                args: &args,
                now_ms: 0,
                waiter: 0,
            };
            let _ = g.apply(&entry, &mut effects);
            let _ = g.read(spec.cmd, &args, 0);
        }
    }
    assert_eq!(
        run(&mut g, 0, "GET"),
        err("ERR wrong number of arguments for 'get' command")
    );
}

#[test]
fn key_limit_does_not_depend_on_sweep_history() {
    // Two replicas, one of which swept locally: the same write must get the
    // same answer on both.
    let mut swept = small();
    run(&mut swept, 0, "SET a 1 PX 10");
    run(&mut swept, 0, "SET b 1 PX 10");
    let mut unswept = swept.clone();
    assert_eq!(swept.sweep_expired(10, 1), 1);
    for g in [&mut swept, &mut unswept] {
        assert_eq!(run(g, 20, "MSET c 1 d 2"), Reply::Ok);
    }
    assert_eq!(swept, unswept);
}
