//! How long `check_kv` takes on simulated histories of a correct store.
//!
//! `cargo run --release -p pinwheel-lincheck --example check_speed`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{simulate, Sim};
use pinwheel_lincheck::{check_kv, CheckOptions};

fn main() {
    // (name, keys, latency, unknown per thousand): latency 1 µs against 0.5 µs of
    // think time keeps about 5 of the 8 clients in flight at once; 20 µs
    // keeps all 8 in flight, overlapping on every key.
    let shapes = [
        ("100 keys, 1% unknown", 100, 1_000, 10),
        ("100 keys, 8 in flight, 2% unknown", 100, 20_000, 20),
        ("10 keys, 8 in flight, 1% unknown", 10, 20_000, 10),
        ("1 key, 8 in flight, no unknown", 1, 20_000, 0),
        ("1 key, 8 in flight, 0.2% unknown", 1, 20_000, 2),
    ];
    for (name, keys, latency_ns, unknown_permille) in shapes {
        let sim = Sim {
            clients: 8,
            keys,
            ops: 10_000,
            latency_ns,
            think_ns: 500,
            unknown_permille,
        };
        let mut times = Vec::new();
        let mut steps = Vec::new();
        for seed in 0..7 {
            let history = simulate(seed, &sim);
            let started = Instant::now();
            let report = check_kv(&history, &CheckOptions::default()).expect("well formed");
            times.push(started.elapsed().as_secs_f64() * 1e3);
            assert!(report.is_linearizable(), "{report}");
            steps.push(report.steps);
        }
        times.sort_by(f64::total_cmp);
        steps.sort_unstable();
        println!(
            "10,000 ops, 8 clients, {name}: median {:.1} ms, max {:.1} ms over 7 seeds; median {} steps",
            times[3], times[6], steps[3]
        );
    }
}
