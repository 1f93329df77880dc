//! The command-name lookup every command goes through, against the hash
//! map of lowercased names it replaced, measured in the same run.

use std::hint::black_box;

use ahash::AHashMap;
use criterion::{criterion_group, criterion_main, Criterion};
use pinwheel_state::{lookup, COMMANDS};

/// Names as clients send them: the common ones, in their usual case.
const NAMES: [&[u8]; 6] = [b"GET", b"SET", b"incr", b"MGET", b"EXPIRE", b"LOCK.ACQUIRE"];

fn hash_map_lookup(map: &AHashMap<&'static [u8], usize>, name: &[u8]) -> Option<usize> {
    let mut lower = [0u8; 16];
    let lower = lower.get_mut(..name.len())?;
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    map.get(&*lower).copied()
}

fn bench(c: &mut Criterion) {
    let map: AHashMap<&'static [u8], usize> = COMMANDS
        .iter()
        .enumerate()
        .map(|(i, spec)| (spec.name.as_bytes(), i))
        .collect();
    let mut group = c.benchmark_group("command lookup, 6 names");
    group.bench_function("packed table", |b| {
        b.iter(|| NAMES.map(|name| lookup(black_box(name)).map(|s| s.cmd)))
    });
    group.bench_function("hash map (baseline)", |b| {
        b.iter(|| NAMES.map(|name| hash_map_lookup(&map, black_box(name))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
