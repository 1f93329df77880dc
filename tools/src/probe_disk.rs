//! `pinwheel probe-disk DIR`: what a small append plus `fdatasync` costs
//! on DIR's disk, done the way the write-ahead log does it (O_DIRECT into
//! a preallocated, zero-filled file, the partial last block rewritten),
//! and then through the log itself. The durable-write benchmarks compare
//! against the first line's p50.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use hdrhistogram::Histogram;
use pinwheel_runtime::wal::run_probes;

/// Most appends one run may time: 1,000,000.
const PROBE_APPENDS_MAX: u64 = 1_000_000;

#[derive(Debug, Args)]
pub struct ProbeDiskArgs {
    /// A directory on the disk to measure (a scratch file is made and removed there).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Appends to time (1..=1000000).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=PROBE_APPENDS_MAX))]
    appends: u64,
    /// Bytes per append (1..=4096).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    bytes: u64,
}

pub fn run(args: &ProbeDiskArgs) -> ExitCode {
    match run_probes(&args.dir, args.appends, args.bytes as usize) {
        Err(e) => {
            eprintln!("pinwheel probe-disk: {e}");
            ExitCode::from(1)
        }
        Ok((raw, wal)) => {
            println!(
                "probe-disk {}: {} appends of {} bytes, one at a time, {:.2} s",
                args.dir.display(),
                raw.appends,
                raw.append_bytes,
                raw.elapsed.as_secs_f64()
            );
            println!(
                "{:<28} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "µs", "p50", "p90", "p99", "p99.9", "max"
            );
            line("write + fdatasync (raw)", &raw.append_sync_us);
            line("fdatasync alone (raw)", &raw.sync_us);
            line("wal append + durable", &wal);
            ExitCode::SUCCESS
        }
    }
}

fn line(name: &str, h: &Histogram<u64>) {
    let q = |q: f64| h.value_at_quantile(q);
    println!(
        "{name:<28} {:>8} {:>8} {:>8} {:>8} {:>8}",
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        h.max()
    );
}
