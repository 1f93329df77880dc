use super::{bulk, err, group, run};
use crate::Reply;

const NX_XX: &str = "ERR NX and XX, GT or LT options at the same time are not compatible";

#[test]
fn keys_vanish_at_their_deadline() {
    let mut g = group();
    run(&mut g, 1000, "SET k v PX 100");
    assert_eq!(run(&mut g, 1099, "GET k"), bulk("v"));
    assert_eq!(run(&mut g, 1099, "PTTL k"), Reply::Int(1));
    // A deadline equal to now has passed.
    assert_eq!(run(&mut g, 1100, "GET k"), Reply::Nil);
    assert_eq!(run(&mut g, 1100, "EXISTS k"), Reply::Int(0));
    assert_eq!(run(&mut g, 1100, "TTL k"), Reply::Int(-2));
    assert_eq!(run(&mut g, 1100, "TYPE k"), Reply::Status("none".into()));
    assert_eq!(g.len(), 1, "still held until a write or sweep removes it");
    // A write treats it as missing and removes it.
    assert_eq!(run(&mut g, 1100, "SET k w NX"), Reply::Ok);
    assert_eq!(run(&mut g, 1100, "PTTL k"), Reply::Int(-1));
    run(&mut g, 1100, "PEXPIRE k 5");
    // "w" is not an integer, but it expired: INCR starts from 0.
    assert_eq!(run(&mut g, 2000, "INCR k"), Reply::Int(1));
}

#[test]
fn expired_keys_are_missing_for_writes() {
    let mut g = group();
    run(&mut g, 0, "SET k 41 PX 10");
    assert_eq!(run(&mut g, 10, "APPEND k x"), Reply::Int(1));
    assert_eq!(
        run(&mut g, 10, "PTTL k"),
        Reply::Int(-1),
        "a new key, no old TTL"
    );
    run(&mut g, 10, "SET c abc PX 10");
    assert_eq!(run(&mut g, 20, "INCR c"), Reply::Int(1));
    run(&mut g, 20, "SET d v PX 10");
    assert_eq!(run(&mut g, 30, "DEL d"), Reply::Int(0));
    assert_eq!(run(&mut g, 30, "GETDEL c"), bulk("1"));
    run(&mut g, 30, "SET e v PX 10");
    assert_eq!(run(&mut g, 40, "EXPIRE e 100"), Reply::Int(0));
    assert_eq!(run(&mut g, 40, "PERSIST e"), Reply::Int(0));
    assert_eq!(run(&mut g, 40, "SET e w XX"), Reply::Nil);
    assert_eq!(run(&mut g, 40, "DELIFEQ e v"), Reply::Int(0));
}

#[test]
fn expire_family() {
    let mut g = group();
    let now = 10_000;
    assert_eq!(run(&mut g, now, "EXPIRE k 10"), Reply::Int(0));
    run(&mut g, now, "SET k v");
    assert_eq!(run(&mut g, now, "EXPIRE k 10"), Reply::Int(1));
    assert_eq!(run(&mut g, now, "TTL k"), Reply::Int(10));
    assert_eq!(run(&mut g, now, "PEXPIRE k 1500"), Reply::Int(1));
    assert_eq!(run(&mut g, now, "PTTL k"), Reply::Int(1500));
    assert_eq!(
        run(&mut g, now, "TTL k"),
        Reply::Int(2),
        "rounded to nearest"
    );
    assert_eq!(run(&mut g, now, "EXPIREAT k 100"), Reply::Int(1));
    assert_eq!(run(&mut g, now, "EXPIRETIME k"), Reply::Int(100));
    assert_eq!(run(&mut g, now, "PEXPIRETIME k"), Reply::Int(100_000));
    assert_eq!(run(&mut g, now, "PEXPIREAT k 20000"), Reply::Int(1));
    assert_eq!(run(&mut g, now, "PTTL k"), Reply::Int(10_000));
    assert_eq!(run(&mut g, now, "PERSIST k"), Reply::Int(1));
    assert_eq!(run(&mut g, now, "PERSIST k"), Reply::Int(0));
    assert_eq!(run(&mut g, now, "TTL k"), Reply::Int(-1));
    assert_eq!(run(&mut g, now, "EXPIRETIME k"), Reply::Int(-1));
    assert_eq!(run(&mut g, now, "EXPIRETIME nope"), Reply::Int(-2));
    assert_eq!(g.expiring_len(), 0);
}

#[test]
fn zero_negative_or_past_expiry_deletes() {
    let mut g = group();
    for (i, command) in [
        "EXPIRE k 0",
        "PEXPIRE k -5",
        "EXPIREAT k 1",
        "PEXPIREAT k 10000",
    ]
    .iter()
    .enumerate()
    {
        run(&mut g, 10_000, "SET k v EX 100");
        assert_eq!(run(&mut g, 10_000, command), Reply::Int(1), "case {i}");
        assert_eq!(g.len(), 0, "{command} must delete");
        assert_eq!(g.expiring_len(), 0);
    }
}

#[test]
fn expire_options() {
    let mut g = group();
    run(&mut g, 0, "SET k v");
    assert_eq!(run(&mut g, 0, "EXPIRE k 100 XX"), Reply::Int(0));
    assert_eq!(
        run(&mut g, 0, "EXPIRE k 100 GT"),
        Reply::Int(0),
        "no TTL is infinite"
    );
    assert_eq!(run(&mut g, 0, "EXPIRE k 100 LT"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "EXPIRE k 50 NX"), Reply::Int(0));
    assert_eq!(run(&mut g, 0, "EXPIRE k 50 GT"), Reply::Int(0));
    assert_eq!(run(&mut g, 0, "EXPIRE k 200 gt"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "EXPIRE k 300 LT"), Reply::Int(0));
    assert_eq!(run(&mut g, 0, "EXPIRE k 150 XX LT"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "TTL k"), Reply::Int(150));
    run(&mut g, 0, "PERSIST k");
    assert_eq!(run(&mut g, 0, "EXPIRE k 50 NX"), Reply::Int(1));
    assert_eq!(run(&mut g, 0, "EXPIRE k 1 NX XX"), err(NX_XX));
    assert_eq!(run(&mut g, 0, "EXPIRE k 1 GT NX"), err(NX_XX));
    assert_eq!(
        run(&mut g, 0, "EXPIRE k 1 GT LT"),
        err("ERR GT and LT options at the same time are not compatible")
    );
    assert_eq!(
        run(&mut g, 0, "EXPIRE k 1 FOO"),
        err("ERR Unsupported option FOO")
    );
    assert_eq!(run(&mut g, 0, "TTL k"), Reply::Int(50));
}

#[test]
fn expire_errors() {
    let mut g = group();
    run(&mut g, 5, "SET k v");
    assert_eq!(
        run(&mut g, 5, "EXPIRE k x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        run(&mut g, 5, "EXPIRE k 9223372036854775807"),
        err("ERR invalid expire time in 'expire' command")
    );
    assert_eq!(
        run(&mut g, 5, "PEXPIRE k 9223372036854775807"),
        err("ERR invalid expire time in 'pexpire' command")
    );
    assert_eq!(
        run(&mut g, 5, "EXPIREAT k -9223372036854775808"),
        err("ERR invalid expire time in 'expireat' command")
    );
    assert_eq!(
        run(&mut g, 5, "PEXPIREAT k 9223372036854775807"),
        Reply::Int(1)
    );
    assert_eq!(run(&mut g, 5, "PEXPIRETIME k"), Reply::Int(i64::MAX));
}

#[test]
fn sweep_is_bounded_and_earliest_first() {
    let mut g = group();
    for i in 0..10u64 {
        let line = format!("SET k{i} v PXAT {}", 100 + i);
        run(&mut g, 0, &line);
    }
    run(&mut g, 0, "SET forever v");
    assert_eq!(g.expiring_len(), 10);
    assert_eq!(g.sweep_expired(104, 3), 3);
    assert_eq!(
        run(&mut g, 0, "EXISTS k0 k1 k2 k3"),
        Reply::Int(1),
        "k3 was not swept"
    );
    assert_eq!(g.sweep_expired(104, 100), 2);
    assert_eq!(g.sweep_expired(104, 100), 0);
    assert_eq!(g.len(), 6);
    assert_eq!(g.sweep_expired(u64::MAX, 100), 5);
    assert_eq!(g.len(), 1);
    assert_eq!(g.expiring_len(), 0);
}
