//! The command line, which is also the in-process API: tests build a
//! [`RunConfig`] by parsing arguments exactly as the binary does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::target::{parse_balance, parse_target, Balance, Protocol, Target};
use crate::workload::{parse_key_dist, parse_workload, KeyDist, Workload};

/// Most keys a run may address.
pub const KEYS_MAX: u64 = 1 << 40;
/// Largest `--value-size`: 16 MiB.
pub const VALUE_SIZE_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Most connections per target.
pub const CONNECTIONS_MAX: usize = 10_000;
/// Deepest pipeline.
pub const PIPELINE_MAX: usize = 10_000;
/// Most load threads.
pub const THREADS_MAX: usize = 256;
/// Longest `--duration` or `--warmup`: one hour.
pub const DURATION_MAX: Duration = Duration::from_secs(3600);
/// Highest `--rate`, in requests per second.
pub const RATE_MAX: f64 = 100_000_000.0;
/// Default `--max-error-pct`: above 1% failed requests the latency figures
/// describe a server in trouble (or a workload it does not support), not
/// the one being measured.
pub const ERROR_PCT_MAX_DEFAULT: f64 = 1.0;

/// `pinwheel-bench`: a latency benchmark for any Redis-protocol server, and
/// etcd, with coordinated-omission-corrected open loops.
#[derive(Debug, Parser)]
#[command(
    name = "pinwheel-bench",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// `compare`, or nothing to run a benchmark.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The benchmark's settings.
    #[command(flatten)]
    pub run: RunConfig,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prints the targets of several `--json` reports side by side, with
    /// ratios to the first.
    Compare {
        /// Reports written by `--json`.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
    },
}

/// One benchmark run's settings, applied to every target in turn.
#[derive(Debug, Clone, Args)]
pub struct RunConfig {
    /// Server to measure: [NAME=]redis://host:port[,host:port...] or
    /// [NAME=]etcd://host:port. Repeat to compare servers with the same
    /// settings; NAME (default: the URL) labels its row and plot line.
    #[arg(long = "target", required = true, value_parser = parse_target)]
    pub targets: Vec<Target>,
    /// set | get | mixed:READ_PCT | incr | lock | custom:"CMD ARGS" (custom
    /// arguments may use __key__, __value__ and __rand_int__).
    #[arg(long, default_value = "set", value_parser = parse_workload)]
    pub workload: Workload,
    /// Number of distinct keys (lock names for `lock`).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=KEYS_MAX))]
    pub keys: u64,
    /// Key popularity: uniform or zipf:S (S > 0; 0.99 is YCSB's).
    #[arg(long, default_value = "uniform", value_parser = parse_key_dist)]
    pub key_dist: KeyDist,
    /// Bytes per value written.
    #[arg(long, default_value_t = 3, value_parser = parse_value_size)]
    pub value_size: usize,
    /// Connections per address (each with its own closed loop).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=CONNECTIONS_MAX as u64))]
    pub connections: u64,
    /// Requests per batch in the closed loop; most requests outstanding per
    /// connection in the open loop. The lock workload takes 1 only.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=PIPELINE_MAX as u64))]
    pub pipeline: u64,
    /// Load threads, each an epoll loop over its share of the connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=THREADS_MAX as u64))]
    pub threads: u64,
    /// Measured time per target, e.g. 10s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured time before it.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Open loop: requests per second over all connections, sent on a
    /// fixed schedule; latency counts from when each should have been sent.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Check every reply (a GET returns what this run SET); a mismatch is
    /// an error.
    #[arg(long)]
    pub verify: bool,
    /// Spreading requests over a target's addresses: random, round-robin,
    /// weighted:W1,W2,... or least-latency.
    #[arg(long, default_value = "round-robin", value_parser = parse_balance)]
    pub balance: Balance,
    /// Write the reports as a JSON array to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw the latency percentile spectrum to this .svg or .png file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Exit with status 1 when more than this percentage of a target's
    /// requests failed (errors over successes plus errors). The reports are
    /// written first. A run in which every request to a target failed, or
    /// none completed, always exits 1.
    #[arg(long, default_value_t = ERROR_PCT_MAX_DEFAULT, value_parser = parse_pct)]
    pub max_error_pct: f64,
    /// Seed for key choice, so runs repeat exactly.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// No progress output (the final table is still printed).
    #[arg(long)]
    pub quiet: bool,
}

impl RunConfig {
    /// Checks what the flags cannot check one by one.
    pub fn validate(&self) -> Result<(), String> {
        for target in &self.targets {
            if target.protocol == Protocol::Etcd && !self.workload.runs_on_etcd() {
                return Err(format!(
                    "--workload {}: etcd targets run set, get and mixed only",
                    self.workload
                ));
            }
            if let Balance::Weighted(weights) = &self.balance {
                if weights.len() != target.endpoints.len() {
                    return Err(format!(
                        "--balance {}: {} weights for {} addresses in {}",
                        self.balance,
                        weights.len(),
                        target.endpoints.len(),
                        target
                    ));
                }
            }
        }
        if self.workload == Workload::Lock && self.pipeline > 1 {
            // A LOCK.ACQUIRE that waits holds up every command behind it on
            // its connection, release included: pipelined pairs on two
            // connections can each hold the lock the other waits for.
            return Err(format!(
                "--pipeline {}: the lock workload runs one pair at a time per \
                 connection (a waiting acquire blocks its connection); \
                 use more --connections instead",
                self.pipeline
            ));
        }
        if let Some(path) = &self.plot {
            crate::plot::check_extension(path)?;
            check_output("--plot", path)?;
        }
        if let Some(path) = &self.json {
            check_output("--json", path)?;
        }
        Ok(())
    }

    /// True for the open loop (`--rate`).
    pub fn open_loop(&self) -> bool {
        self.rate.is_some()
    }
}

/// Parses `10s`, `250ms`, `2m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60e3)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3600e3)
    } else {
        (text, 1e3)
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 10s or 500ms"))?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("`{text}` is not a duration"));
    }
    let duration = Duration::from_secs_f64(value * unit_ms / 1e3);
    if duration > DURATION_MAX {
        return Err(format!(
            "`{text}` is longer than {}s",
            DURATION_MAX.as_secs()
        ));
    }
    Ok(duration)
}

/// Checks, before a run that may take minutes, that an output file can be
/// written: its directory exists and takes a new file, or the file exists
/// and opens for writing. Nothing is created or changed.
pub fn check_output(flag: &str, path: &Path) -> Result<(), String> {
    let fail = |why: String| Err(format!("{flag} {}: {why}", path.display()));
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return fail(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(format!("directory {} does not exist", dir.display()))
        }
        Err(e) => return fail(format!("directory {} cannot be used: {e}", dir.display())),
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => return fail("is a directory".into()),
        Ok(_) => {
            // Opening to append writes nothing and truncates nothing.
            return match std::fs::OpenOptions::new().append(true).open(path) {
                Ok(_) => Ok(()),
                Err(e) => fail(format!("cannot be written: {e}")),
            };
        }
        Err(_) => {}
    }
    let probe = dir.join(format!(".pinwheel-bench-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => fail(format!("directory {} is not writable: {e}", dir.display())),
    }
}

fn parse_pct(text: &str) -> Result<f64, String> {
    let pct: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.0..=100.0).contains(&pct) {
        return Err(format!("`{text}`: a percentage is 0 to 100"));
    }
    Ok(pct)
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(rate > 0.0 && rate <= RATE_MAX) {
        return Err(format!(
            "`{text}`: the rate must be above 0 and at most {RATE_MAX}"
        ));
    }
    Ok(rate)
}

fn parse_value_size(text: &str) -> Result<usize, String> {
    let size: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a byte count"))?;
    if size > VALUE_SIZE_MAX_BYTES {
        return Err(format!("`{text}` is over {VALUE_SIZE_MAX_BYTES} bytes"));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("2h").is_err());
    }

    #[test]
    fn bad_flags_are_named() {
        let err = Cli::try_parse_from([
            "pinwheel-bench",
            "--target",
            "redis://127.0.0.1:1",
            "--pipeline",
            "0",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--pipeline"), "{err}");
        let err = Cli::try_parse_from([
            "pinwheel-bench",
            "--target",
            "redis://127.0.0.1:1",
            "--workload",
            "nope",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--workload"), "{err}");
        assert!(
            Cli::try_parse_from(["pinwheel-bench"]).is_err(),
            "a target is required"
        );
        let cli = Cli::try_parse_from(["pinwheel-bench", "compare", "a.json", "b.json"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Compare { files }) if files.len() == 2));
    }

    #[test]
    fn lock_pairs_are_not_pipelined() {
        let parse = |pipeline: &str| {
            Cli::try_parse_from([
                "pinwheel-bench",
                "--target",
                "redis://127.0.0.1:1",
                "--workload",
                "lock",
                "--pipeline",
                pipeline,
            ])
            .unwrap()
            .run
            .validate()
        };
        assert!(parse("1").is_ok());
        let err = parse("2").unwrap_err();
        assert!(err.contains("--pipeline 2"), "{err}");
    }

    #[test]
    fn output_paths_are_checked_before_the_run() {
        let dir = std::env::temp_dir().join(format!("pwb-outputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("report.json");
        assert_eq!(check_output("--json", &ok), Ok(()));
        assert!(!ok.exists(), "the check creates nothing");
        std::fs::write(&ok, "kept").unwrap();
        assert_eq!(check_output("--json", &ok), Ok(()));
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "kept");
        let missing = dir.join("no-such-dir").join("r.json");
        let err = check_output("--json", &missing).unwrap_err();
        assert!(
            err.starts_with("--json ") && err.contains("no-such-dir"),
            "{err}"
        );
        let under_file = ok.join("r.json");
        let err = check_output("--plot", &under_file).unwrap_err();
        assert!(err.contains("not a directory"), "{err}");
        let err = check_output("--plot", &dir).unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
        assert_eq!(check_output("--json", Path::new("here.json")), Ok(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn error_share_is_a_percentage() {
        assert_eq!(parse_pct("0"), Ok(0.0));
        assert_eq!(parse_pct("2.5"), Ok(2.5));
        assert!(parse_pct("101").is_err());
        assert!(parse_pct("-1").is_err());
        assert!(parse_pct("x").is_err());
    }
}
