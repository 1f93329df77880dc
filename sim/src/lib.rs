//! `pinwheel sim`: a deterministic fault simulator for Pinwheel's
//! Multi-Paxos replica, in the spirit of TigerBeetle's VOPR.
//!
//! One thread, one seed. A seed fixes the network (delay, loss, duplication,
//! reordering, symmetric and one-way partitions, clogged links), the disks
//! (a crash loses unsynced writes and may tear the last one), restarts, the
//! drifting clocks (inside the configured bound) and the clients' key-value
//! workload. Safety is checked continuously; after the faults heal, every
//! operation must complete within a bounded simulated time. A failing seed
//! is a bug report: rerun it with `--seed S --trace`.
#![deny(missing_docs)]

pub mod checker;
pub mod kv;
pub mod sim;
pub mod storage;

use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, ValueEnum};
use pinwheel_consensus::PlantedBug;

pub use sim::{run_seed, Options, Outcome};

/// Bugs that can be planted to prove the checks catch them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Bug {
    /// An acceptor answers a prepare before persisting its promise.
    SkipPersistPromise,
    /// An acceptor accepts a ballot lower than its promise.
    AcceptLowerBallot,
    /// The leader lease ignores the clock-drift bound.
    LeaseIgnoresDrift,
}

impl Bug {
    /// The consensus crate's planted bug.
    pub fn planted(self) -> PlantedBug {
        match self {
            Bug::SkipPersistPromise => PlantedBug::SkipPersistPromise,
            Bug::AcceptLowerBallot => PlantedBug::AcceptLowerBallot,
            Bug::LeaseIgnoresDrift => PlantedBug::LeaseIgnoresDrift,
        }
    }

    /// The flag value, as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Bug::SkipPersistPromise => "skip-persist-promise",
            Bug::AcceptLowerBallot => "accept-lower-ballot",
            Bug::LeaseIgnoresDrift => "lease-ignores-drift",
        }
    }
}

/// Arguments of `pinwheel sim`.
#[derive(Args, Clone, Debug)]
pub struct SimArgs {
    /// Number of seeds to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// First seed of the sweep.
    #[arg(long, default_value_t = 0)]
    pub start_seed: u64,
    /// Run exactly this one seed (overrides --seeds and --start-seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Replicas per group: 3 or 5.
    #[arg(long, default_value_t = 3, value_parser = PossibleValuesParser::new(["3", "5"]).map(|s| s.parse::<usize>().expect("3 or 5")))]
    pub replicas: usize,
    /// Print a readable event trace (use with --seed).
    #[arg(long)]
    pub trace: bool,
    /// Plant a bug to prove the checks catch it.
    #[arg(long, value_enum)]
    pub inject_bug: Option<Bug>,
}

/// Result of a sweep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds that found a violation.
    pub violations: u64,
    /// Client commands committed over all seeds.
    pub commits: u64,
    /// The first failing seed.
    pub first_failure: Option<u64>,
}

/// The command that replays one seed with a trace.
pub fn replay_command(seed: u64, replicas: usize, bug: Option<Bug>) -> String {
    let mut command = format!("pinwheel sim --seed {seed}");
    if replicas != 3 {
        command.push_str(&format!(" --replicas {replicas}"));
    }
    if let Some(bug) = bug {
        command.push_str(&format!(" --inject-bug {}", bug.name()));
    }
    command.push_str(" --trace");
    command
}

/// Runs seeds `start..start + count`, printing one line per failure.
/// With `stop_at_first`, stops at the first violation.
pub fn sweep(args: &SimArgs, start: u64, count: u64, stop_at_first: bool) -> Summary {
    let mut summary = Summary::default();
    for seed in start..start.saturating_add(count) {
        let options = Options {
            seed,
            replicas: args.replicas,
            bug: args.inject_bug.map(Bug::planted),
            trace: args.trace,
        };
        let outcome = run_seed(&options);
        summary.seeds += 1;
        summary.commits += outcome.commits;
        if let Some(violation) = outcome.violation {
            summary.violations += 1;
            summary.first_failure.get_or_insert(seed);
            println!("sim: seed {seed} FAILED: {violation}");
            println!(
                "sim:   replay: {}",
                replay_command(seed, args.replicas, args.inject_bug)
            );
            if stop_at_first {
                break;
            }
        }
    }
    summary
}

/// Entry point of `pinwheel sim`: prints per-failure lines and the final
/// `sim: N seeds, V violations, C commits` line; fails if V > 0.
pub fn run(args: &SimArgs) -> ExitCode {
    let (start, count) = match args.seed {
        Some(seed) => (seed, 1),
        None => (args.start_seed, args.seeds),
    };
    let summary = sweep(args, start, count, false);
    println!(
        "sim: {} seeds, {} violations, {} commits",
        summary.seeds, summary.violations, summary.commits
    );
    if summary.violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
