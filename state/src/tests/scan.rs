use std::collections::BTreeSet;

use super::{bulk, err, group, run};
use crate::{glob_match, scan_hash, Group, Reply};

fn fill(g: &mut Group, n: usize) {
    for i in 0..n {
        run(g, 0, &format!("SET key:{i} v"));
    }
}

/// Walks a whole SCAN with `count`, returning every key seen (with repeats).
fn walk(g: &Group, pattern: Option<&[u8]>, count: usize) -> Vec<Vec<u8>> {
    let mut cursor = 0;
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let (next, keys) = g.scan(cursor, pattern, count, 0);
        seen.extend(keys);
        if next == 0 {
            return seen;
        }
        assert!(next > cursor, "the cursor only moves forward");
        cursor = next;
    }
    panic!("SCAN did not terminate");
}

#[test]
fn scan_of_empty_group_ends_at_once() {
    let g = group();
    assert_eq!(g.scan(0, None, 10, 0), (0, Vec::new()));
    assert_eq!(g.scan(12345, None, 10, 0), (0, Vec::new()));
}

#[test]
fn scan_returns_every_key_once_when_nothing_changes() {
    let mut g = group();
    fill(&mut g, 500);
    for count in [1, 3, 10, 1000] {
        let seen = walk(&g, None, count);
        assert_eq!(seen.len(), 500, "count {count}");
        let unique: BTreeSet<_> = seen.into_iter().collect();
        assert_eq!(unique.len(), 500);
    }
}

#[test]
fn scan_work_is_bounded_by_count() {
    let mut g = group();
    fill(&mut g, 100);
    let (next, keys) = g.scan(0, None, 7, 0);
    assert_ne!(next, 0);
    assert_eq!(keys.len(), 7, "no 64-bit collisions among 100 keys");
    let (_, none) = g.scan(0, Some(b"nomatch*"), 7, 0);
    assert!(none.is_empty(), "the pattern filters after selecting");
}

#[test]
fn scan_filters_pattern_and_expired() {
    let mut g = group();
    fill(&mut g, 50);
    run(&mut g, 0, "SET other v");
    run(&mut g, 0, "SET key:gone v PX 10");
    let seen = walk(&g, Some(b"key:1*"), 4);
    let expected: BTreeSet<Vec<u8>> = (0..50)
        .map(|i| format!("key:{i}").into_bytes())
        .filter(|k| glob_match(b"key:1*", k))
        .collect();
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
    let mut cursor = 0;
    let mut all = Vec::new();
    loop {
        let (next, keys) = g.scan(cursor, None, 5, 10);
        all.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert!(!all.contains(&b"key:gone".to_vec()));
    assert_eq!(all.len(), 51);
}

#[test]
fn scan_read_parses_options() {
    let mut g = group();
    fill(&mut g, 5);
    let Reply::Array(parts) = run(&mut g, 0, "SCAN 0 MATCH key:* COUNT 100") else {
        panic!("SCAN answers an array");
    };
    assert_eq!(parts[0], bulk("0"));
    assert!(matches!(&parts[1], Reply::Array(keys) if keys.len() == 5));
    let Reply::Array(parts) = run(&mut g, 0, "SCAN 0 TYPE hash") else {
        panic!("SCAN answers an array");
    };
    assert_eq!(parts[1], Reply::Array(Vec::new()));
    assert_eq!(run(&mut g, 0, "SCAN x"), err("ERR invalid cursor"));
    // Read as C's strtoul reads it, as Redis does: past every key.
    assert_eq!(
        run(&mut g, 0, "SCAN -1"),
        Reply::Array(vec![bulk("0"), Reply::Array(Vec::new())])
    );
    assert_eq!(run(&mut g, 0, "SCAN 0 COUNT 0"), err("ERR syntax error"));
    assert_eq!(
        run(&mut g, 0, "SCAN 0 COUNT x"),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(run(&mut g, 0, "SCAN 0 MATCH"), err("ERR syntax error"));
    assert_eq!(run(&mut g, 0, "SCAN 0 BOGUS 1"), err("ERR syntax error"));
}

#[test]
fn keys_filters_and_orders_stably() {
    let mut g = group();
    fill(&mut g, 20);
    run(&mut g, 0, "SET other v");
    run(&mut g, 0, "SET key:gone v PX 5");
    let keys = g.keys(b"key:*", 5);
    assert_eq!(keys.len(), 20);
    let hashes: Vec<u64> = keys.iter().map(|k| scan_hash(k)).collect();
    assert!(hashes.windows(2).all(|w| w[0] <= w[1]), "stable-hash order");
    assert_eq!(g.keys(b"*", 0).len(), 22);
    assert_eq!(
        run(&mut g, 0, "KEYS oth?r"),
        Reply::Array(vec![bulk("other")])
    );
}

#[test]
fn random_key_is_deterministic_and_live() {
    let mut g = group();
    assert_eq!(g.random_key(7, 0), None);
    fill(&mut g, 50);
    let mut other = group();
    fill(&mut other, 50);
    let mut distinct = BTreeSet::new();
    for seed in 0..200 {
        let key = g.random_key(seed, 0).expect("a key");
        assert_eq!(other.random_key(seed, 0), Some(key.clone()));
        distinct.insert(key);
    }
    assert!(distinct.len() > 10, "seeds spread over the keys");
    run(&mut g, 0, "FLUSHALL");
    run(&mut g, 0, "SET a v PX 10");
    run(&mut g, 0, "SET b v");
    for seed in 0..20 {
        assert_eq!(g.random_key(seed, 10), Some(b"b".to_vec()));
    }
    run(&mut g, 0, "DEL b");
    assert_eq!(g.random_key(1, 10), None);
    assert_eq!(run(&mut g, 0, "RANDOMKEY"), bulk("a"));
}

#[test]
fn a_step_counts_every_key_it_visits() {
    let mut g = group();
    fill(&mut g, 30);
    run(&mut g, 0, "SET gone v PX 10");
    let step = g.scan_step(0, Some(b"nomatch*"), 1000, 20);
    assert_eq!(
        (step.next, step.visited),
        (0, 31),
        "expired and unmatched count"
    );
    assert!(step.keys.is_empty());
    let first = g.scan_step(0, None, 10, 0);
    assert_eq!((first.visited, first.keys.len()), (10, 10));
}

#[test]
fn cursors_parse_as_redis_reads_them() {
    use crate::parse_scan_cursor as parse;
    assert_eq!(parse(b"0"), Some(0));
    assert_eq!(parse(b""), Some(0));
    assert_eq!(parse(b"007"), Some(7));
    assert_eq!(parse(b"+5"), Some(5));
    assert_eq!(parse(b"-1"), Some(u64::MAX));
    assert_eq!(parse(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse(b"-18446744073709551615"), Some(1));
    for bad in [
        &b"18446744073709551616"[..],
        b"-",
        b"+",
        b" 1",
        b"1 ",
        b"1.5",
        b"0x10",
        b"abc",
    ] {
        assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}
