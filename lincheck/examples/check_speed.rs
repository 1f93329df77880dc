//! How long `check_kv` takes: on simulated histories of a correct store,
//! and on the same histories with one reply corrupted (a violation to
//! find and explain).
//!
//! `cargo run --release -p pinwheel-lincheck --example check_speed`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{corrupt_one, simulate, Rng, Sim};
use pinwheel_lincheck::{check_kv, CheckOptions, KvHistory, Verdict};

/// Seeds per shape.
const SEEDS: u64 = 7;

fn main() {
    // (name, keys, latency, unknown per thousand): latency 1 µs against
    // 0.5 µs of think time keeps about 5 of the 8 clients in flight at
    // once; 20 µs keeps all 8 in flight, overlapping on every key.
    let shapes = [
        ("100 keys, 1% unknown", 100, 1_000, 10),
        ("100 keys, 8 in flight, 2% unknown", 100, 20_000, 20),
        ("10 keys, 8 in flight, 1% unknown", 10, 20_000, 10),
        ("1 key, 8 in flight, no unknown", 1, 20_000, 0),
        ("1 key, 8 in flight, 1% unknown", 1, 20_000, 10),
    ];
    println!("correct histories, 10,000 operations, 8 clients:");
    for (name, keys, latency_ns, unknown_permille) in shapes {
        let sim = Sim {
            clients: 8,
            keys,
            ops: 10_000,
            latency_ns,
            think_ns: 500,
            unknown_permille,
        };
        measure(name, |seed| simulate(seed, &sim));
    }
    println!("one reply corrupted:");
    for (name, keys, latency_ns, unknown_permille) in shapes {
        let sim = Sim {
            clients: 8,
            keys,
            ops: 10_000,
            latency_ns,
            think_ns: 500,
            unknown_permille,
        };
        measure(name, |seed| {
            let history = simulate(seed, &sim);
            corrupt_one(&history, &mut Rng::new(seed ^ 0xc0ffee))
                .expect("some operation returned")
                .0
        });
    }
}

/// Checks `SEEDS` histories; prints the median and slowest time and how
/// many of each verdict.
fn measure(name: &str, make: impl Fn(u64) -> KvHistory) {
    let mut times = Vec::new();
    let mut verdicts = [0; 3];
    for seed in 0..SEEDS {
        let history = make(seed);
        let started = Instant::now();
        let report = check_kv(&history, &CheckOptions::default()).expect("well formed");
        times.push(started.elapsed().as_secs_f64() * 1e3);
        verdicts[match report.verdict() {
            Verdict::Linearizable => 0,
            Verdict::Violation => 1,
            Verdict::Inconclusive => 2,
        }] += 1;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "  {name}: median {:.1} ms, slowest {:.1} ms; {} linearizable, {} violations, {} inconclusive",
        times[times.len() / 2],
        times[times.len() - 1],
        verdicts[0],
        verdicts[1],
        verdicts[2]
    );
}
