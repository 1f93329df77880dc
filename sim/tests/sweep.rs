//! The simulator as a test: a clean sweep finds nothing, and every planted
//! bug is caught within 2,000 seeds. Failure messages carry the seed and the
//! command that replays it.

use pinwheel_sim::{replay_command, sweep, Bug, SimArgs};

/// Planted bugs must be caught within this many seeds (the bound).
const BUG_SEEDS_MAX: u64 = 2_000;

fn args(replicas: usize, bug: Option<Bug>) -> SimArgs {
    SimArgs {
        seeds: 0,
        start_seed: 0,
        seed: None,
        replicas,
        trace: false,
        inject_bug: bug,
    }
}

fn assert_clean(replicas: usize, start: u64, seeds: u64) {
    let summary = sweep(&args(replicas, None), start, seeds, true);
    assert_eq!(summary.seeds, seeds);
    if let Some(seed) = summary.first_failure {
        panic!(
            "seed {seed} violated safety or liveness; replay: {}",
            replay_command(seed, replicas, None)
        );
    }
    assert!(
        summary.commits > seeds * 100,
        "only {} commits in {seeds} seeds: clients made no progress",
        summary.commits
    );
}

#[test]
fn clean_sweep_three_replicas() {
    assert_clean(3, 10_000, 150);
}

#[test]
fn clean_sweep_five_replicas() {
    assert_clean(5, 20_000, 50);
}

fn assert_detected(bug: Bug) {
    let summary = sweep(&args(3, Some(bug)), 0, BUG_SEEDS_MAX, true);
    let seed = summary.first_failure.unwrap_or_else(|| {
        panic!(
            "planted bug {} went undetected in {BUG_SEEDS_MAX} seeds",
            bug.name()
        )
    });
    eprintln!(
        "{} detected at seed {seed} ({} seeds run)",
        bug.name(),
        summary.seeds
    );
}

#[test]
fn detects_skip_persist_promise() {
    assert_detected(Bug::SkipPersistPromise);
}

#[test]
fn detects_accept_lower_ballot() {
    assert_detected(Bug::AcceptLowerBallot);
}

#[test]
fn detects_lease_ignores_drift() {
    assert_detected(Bug::LeaseIgnoresDrift);
}

#[test]
fn same_seed_same_outcome() {
    let options = pinwheel_sim::Options {
        seed: 42,
        replicas: 3,
        bug: None,
        trace: false,
    };
    let a = pinwheel_sim::run_seed(&options);
    let b = pinwheel_sim::run_seed(&options);
    assert_eq!(a.commits, b.commits, "seed 42 is not deterministic");
    assert_eq!(a.violation, b.violation);
}
