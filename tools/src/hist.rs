//! `pinwheel hist`: fetches every command's HDR histogram from a server
//! (`LATENCY DUMP`) and prints exact percentiles.

use std::process::ExitCode;

use clap::Args;
use hdrhistogram::Histogram;

#[derive(Debug, Args)]
pub struct HistArgs {
    /// Server address.
    #[arg(long, value_name = "ADDR", default_value = pinwheel_runtime::LISTEN_DEFAULT)]
    addr: String,
    /// Only these commands (default: every command called so far).
    #[arg(value_name = "COMMAND")]
    commands: Vec<String>,
}

/// Percentiles in the table, as (column title, quantile).
const COLUMNS: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

fn fetch(args: &HistArgs) -> Result<Vec<(String, Histogram<u64>)>, String> {
    let client = redis::Client::open(format!("redis://{}", args.addr))
        .map_err(|e| format!("bad address {}: {e}", args.addr))?;
    let mut connection = client
        .get_connection_with_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {}: {e}", args.addr))?;
    let dump: Vec<(String, Vec<u8>)> = redis::cmd("LATENCY")
        .arg("DUMP")
        .arg(&args.commands)
        .query(&mut connection)
        .map_err(|e| format!("LATENCY DUMP failed: {e}"))?;
    dump.into_iter()
        .map(|(name, encoded)| {
            let histogram = pinwheel_runtime::decode_histogram(&encoded)
                .map_err(|e| format!("histogram of {name}: {e}"))?;
            Ok((name, histogram))
        })
        .collect()
}

fn micros(nanos: u64) -> String {
    format!("{:.1}", nanos as f64 / 1000.0)
}

pub fn run(args: &HistArgs) -> ExitCode {
    let histograms = match fetch(args) {
        Ok(histograms) => histograms,
        Err(message) => {
            eprintln!("pinwheel hist: {message}");
            return ExitCode::FAILURE;
        }
    };
    print!("{:<16} {:>12}", "command", "calls");
    for (title, _) in COLUMNS {
        print!(" {:>10}", format!("{title} µs"));
    }
    println!(" {:>10}", "max µs");
    for (name, histogram) in &histograms {
        print!("{:<16} {:>12}", name, histogram.len());
        for (_, quantile) in COLUMNS {
            print!(" {:>10}", micros(histogram.value_at_quantile(quantile)));
        }
        println!(" {:>10}", micros(histogram.max()));
    }
    if histograms.is_empty() {
        println!("(no commands recorded yet)");
    }
    ExitCode::SUCCESS
}
