//! Property tests: histories of a simulated correct store are accepted;
//! single-reply corruptions are mostly rejected; on small histories the
//! checker agrees with an exhaustive search written independently.

mod common;

use common::{apply, corrupt_one, simulate, Rng, Sim};
use pinwheel_lincheck::{check_kv, CheckOptions, KvHistory, Verdict};
use proptest::prelude::*;
use std::collections::BTreeMap;

fn sim_strategy(max_ops: usize, max_unknown_permille: u32) -> impl Strategy<Value = (u64, Sim)> {
    (
        any::<u64>(),
        1..=8u64,
        1..=3usize,
        0..=max_ops,
        prop_oneof![Just(10u64), Just(1_000), Just(20_000)],
        0..=max_unknown_permille,
    )
        .prop_map(|(seed, clients, keys, ops, latency_ns, unknown_permille)| {
            let sim = Sim {
                clients,
                keys,
                ops,
                latency_ns,
                think_ns: 1_000,
                unknown_permille,
            };
            (seed, sim)
        })
}

proptest! {
    // The failing input (seed and shape) is printed and replays the case;
    // no regression file is written beside the integration tests.
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn simulated_histories_are_linearizable((seed, sim) in sim_strategy(300, 150)) {
        let history = simulate(seed, &sim);
        let report = check_kv(&history, &CheckOptions::default()).unwrap();
        prop_assert_eq!(report.verdict(), Verdict::Linearizable, "seed {} {:?}\n{}", seed, sim, report);
    }

    #[test]
    fn small_histories_agree_with_exhaustive_search(
        (seed, sim) in sim_strategy(8, 500),
        corrupt in any::<bool>(),
    ) {
        let mut history = simulate(seed, &sim);
        if corrupt {
            if let Some((corrupted, _)) = corrupt_one(&history, &mut Rng::new(seed ^ 1)) {
                history = corrupted;
            }
        }
        let report = check_kv(&history, &CheckOptions::default()).unwrap();
        let expected = if exhaustive(&history) { Verdict::Linearizable } else { Verdict::Violation };
        prop_assert_eq!(report.verdict(), expected, "seed {} {:?}\n{}", seed, sim, report);
        for violation in &report.violations {
            // The reported cut is a witness, and the earliest one.
            let at_cut = cut(&history, &violation.key, violation.cut_ns);
            prop_assert!(!exhaustive(&at_cut), "cut not a witness\n{}", report);
            let earlier = returns_before(&history, &violation.key, violation.cut_ns);
            if let Some(earlier) = earlier {
                prop_assert!(exhaustive(&cut(&history, &violation.key, earlier)), "cut not earliest\n{}", report);
            }
        }
    }
}

/// Does some order exist? Tries every order that respects real time,
/// with every subset of the unknown-outcome operations, on real registers.
fn exhaustive(history: &KvHistory) -> bool {
    let records = history.records();
    let remaining: Vec<usize> = (0..records.len()).collect();
    search(history, &remaining, &mut BTreeMap::new())
}

fn search(
    history: &KvHistory,
    remaining: &[usize],
    registers: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> bool {
    let records = history.records();
    if remaining.iter().all(|&i| records[i].returned.is_none()) {
        return true;
    }
    for (position, &candidate) in remaining.iter().enumerate() {
        let record = &records[candidate];
        let must_wait = remaining.iter().any(|&other| {
            records[other]
                .returned
                .as_ref()
                .is_some_and(|r| r.at_ns < record.invoked_ns)
        });
        if must_wait {
            continue;
        }
        let register = registers.entry(record.key.clone()).or_default();
        let saved = register.clone();
        let reply = apply(register, &record.command);
        let fits = record.returned.as_ref().is_none_or(|r| r.reply == reply);
        if fits {
            let mut rest = remaining.to_vec();
            rest.remove(position);
            if search(history, &rest, registers) {
                return true;
            }
        }
        registers.insert(record.key.clone(), saved);
    }
    false
}

/// The operations on `key` invoked by `cut_ns`, those returning later made
/// unknown.
fn cut(history: &KvHistory, key: &[u8], cut_ns: u64) -> KvHistory {
    let mut out = KvHistory::new();
    for record in history.records().iter().filter(|r| r.key == key) {
        if record.invoked_ns > cut_ns {
            continue;
        }
        let op = out.invoke(
            record.client,
            &record.key,
            record.command.clone(),
            record.invoked_ns,
        );
        if let Some(returned) = record.returned.as_ref().filter(|r| r.at_ns <= cut_ns) {
            out.returned(op, returned.at_ns, returned.reply.clone());
        }
    }
    out
}

/// The latest return on `key` before `cut_ns`.
fn returns_before(history: &KvHistory, key: &[u8], cut_ns: u64) -> Option<u64> {
    history
        .records()
        .iter()
        .filter(|r| r.key == key)
        .filter_map(|r| r.returned.as_ref().map(|r| r.at_ns))
        .filter(|&at| at < cut_ns)
        .max()
}

/// Corrupting one reply of a correct history is caught most of the time
/// (not always: a changed reply can still fit another order, e.g. a read
/// concurrent with a write of the value it now claims). The rate is
/// measured over fixed seeds, so the test is deterministic.
#[test]
fn single_corruptions_are_usually_rejected() {
    // Measured: 477 and 431 of 500. The longer histories (about 150
    // operations per key, several bitset words, so the memo's compact
    // entries are exercised) leave more corruptions that fit another order.
    for (ops, floor) in [(60, 0.90), (300, 0.80)] {
        let sim = Sim {
            clients: 4,
            keys: 2,
            ops,
            latency_ns: 1_000,
            think_ns: 1_000,
            unknown_permille: 30,
        };
        let rate = rejection_rate(&sim);
        assert!(
            rate >= floor,
            "{ops} operations: only {:.1}% rejected",
            rate * 100.0
        );
    }
}

/// The share of 500 seeded single-reply corruptions rejected.
fn rejection_rate(sim: &Sim) -> f64 {
    let (mut rejected, mut trials, mut inconclusive) = (0, 0, 0);
    for seed in 0..500u64 {
        let history = simulate(seed, sim);
        let Some((corrupted, _)) = corrupt_one(&history, &mut Rng::new(seed ^ 0xc0ffee)) else {
            continue;
        };
        trials += 1;
        match check_kv(&corrupted, &CheckOptions::default())
            .unwrap()
            .verdict()
        {
            Verdict::Violation => rejected += 1,
            Verdict::Inconclusive => inconclusive += 1,
            Verdict::Linearizable => {}
        }
    }
    println!(
        "{} operations: rejected {rejected} of {trials} single corruptions",
        sim.ops
    );
    assert_eq!(inconclusive, 0);
    f64::from(rejected) / f64::from(trials)
}
