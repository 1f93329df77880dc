//! `pinwheel hist`: fetches every command's latency histogram from a
//! server and prints percentiles. From Pinwheel, `LATENCY DUMP` gives the
//! exact HDR histograms; from a server without it (Redis 7), `LATENCY
//! HISTOGRAM`'s log-2 microsecond buckets give each percentile's bucket.

use std::process::ExitCode;

use clap::Args;
use hdrhistogram::Histogram;
use redis::Value;

#[derive(Debug, Args)]
pub struct HistArgs {
    /// Server: HOST:PORT (an IP address or a name) or a redis:// URL.
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

/// One command's latencies, as the server gave them.
enum Latency {
    /// An exact HDR histogram, in nanoseconds (`LATENCY DUMP`).
    Exact(Histogram<u64>),
    /// Calls, and cumulative counts at log-2 bucket bounds in
    /// microseconds, ascending (Redis 7's `LATENCY HISTOGRAM`).
    Buckets {
        calls: u64,
        cumulative: Vec<(u64, u64)>,
    },
}

impl Latency {
    fn calls(&self) -> u64 {
        match self {
            Latency::Exact(histogram) => histogram.len(),
            Latency::Buckets { calls, .. } => *calls,
        }
    }

    /// The latency at `quantile`, in µs: exact, or `≤` the bound of the
    /// bucket it falls in.
    fn at(&self, quantile: f64) -> String {
        match self {
            Latency::Exact(histogram) => micros(histogram.value_at_quantile(quantile)),
            Latency::Buckets { calls, cumulative } => {
                let wanted = ((*calls as f64) * quantile).ceil() as u64;
                let bound = cumulative
                    .iter()
                    .find(|(_, count)| *count >= wanted.max(1))
                    .or(cumulative.last())
                    .map_or(0, |(bound, _)| *bound);
                format!("≤{bound}")
            }
        }
    }

    fn max(&self) -> String {
        match self {
            Latency::Exact(histogram) => micros(histogram.max()),
            Latency::Buckets { .. } => self.at(1.0),
        }
    }
}

/// The URL the client opens: `addr` itself when it is a URL, else
/// `redis://addr`.
fn client_url(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_string()
    } else {
        format!("redis://{addr}")
    }
}

/// Each command's latencies, by name.
type Latencies = Vec<(String, Latency)>;

/// Each command's latencies, and a note saying which format was read.
fn fetch(args: &HistArgs) -> Result<(Latencies, &'static str), String> {
    let client = redis::Client::open(client_url(&args.addr))
        .map_err(|e| format!("bad address {}: {e}", args.addr))?;
    let mut connection = client
        .get_connection_with_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {}: {e}", args.addr))?;
    let dump: Result<Vec<(String, Vec<u8>)>, redis::RedisError> = redis::cmd("LATENCY")
        .arg("DUMP")
        .arg(&args.commands)
        .query(&mut connection);
    match dump {
        Ok(dump) => {
            let exact = dump
                .into_iter()
                .map(|(name, encoded)| {
                    let histogram = pinwheel_runtime::decode_histogram(&encoded)
                        .map_err(|e| format!("histogram of {name}: {e}"))?;
                    Ok((name, Latency::Exact(histogram)))
                })
                .collect::<Result<_, String>>()?;
            Ok((exact, "exact HDR histograms (LATENCY DUMP)"))
        }
        // A server without LATENCY DUMP (Redis) answers with an error.
        Err(dump_error) if dump_error.kind() == redis::ErrorKind::ResponseError => {
            let reply: Value = redis::cmd("LATENCY")
                .arg("HISTOGRAM")
                .arg(&args.commands)
                .query(&mut connection)
                .map_err(|e| {
                    format!("LATENCY DUMP failed ({dump_error}), and LATENCY HISTOGRAM too: {e}")
                })?;
            let buckets = parse_histogram_reply(&reply)?;
            Ok((
                buckets,
                "LATENCY HISTOGRAM (LATENCY DUMP is not there): log-2 µs buckets \
                 (1, 2, 4 ... 16, 33, 66 ...), each figure the upper bound of its bucket",
            ))
        }
        Err(error) => Err(format!("LATENCY DUMP failed: {error}")),
    }
}

/// A RESP map (RESP3) or flat key-value array (RESP2) as pairs.
fn pairs(value: &Value) -> Option<Vec<(&Value, &Value)>> {
    match value {
        Value::Map(pairs) => Some(pairs.iter().map(|(k, v)| (k, v)).collect()),
        Value::Array(items) if items.len() % 2 == 0 => {
            Some(items.chunks(2).map(|pair| (&pair[0], &pair[1])).collect())
        }
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// Redis 7's `LATENCY HISTOGRAM` reply: command name → (`calls`, `histogram_usec`:
/// bucket bound → cumulative count).
fn parse_histogram_reply(reply: &Value) -> Result<Latencies, String> {
    let malformed = || "LATENCY HISTOGRAM gave a reply of an unexpected shape".to_string();
    let mut out = Vec::new();
    for (name, details) in pairs(reply).ok_or_else(malformed)? {
        let name = text(name).ok_or_else(malformed)?;
        let (mut calls, mut cumulative) = (None, Vec::new());
        for (field, value) in pairs(details).ok_or_else(malformed)? {
            match text(field).as_deref() {
                Some("calls") => calls = int(value),
                Some("histogram_usec") => {
                    for (bound, count) in pairs(value).ok_or_else(malformed)? {
                        cumulative.push((
                            int(bound).ok_or_else(malformed)?,
                            int(count).ok_or_else(malformed)?,
                        ));
                    }
                }
                _ => {}
            }
        }
        cumulative.sort_unstable();
        let calls = calls.ok_or_else(malformed)?;
        out.push((name, Latency::Buckets { calls, cumulative }));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn micros(nanos: u64) -> String {
    format!("{:.1}", nanos as f64 / 1000.0)
}

pub fn run(args: &HistArgs) -> ExitCode {
    let (latencies, format) = match fetch(args) {
        Ok(fetched) => fetched,
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
    for (name, latency) in &latencies {
        print!("{:<16} {:>12}", name, latency.calls());
        for (_, quantile) in COLUMNS {
            print!(" {:>10}", latency.at(quantile));
        }
        println!(" {:>10}", latency.max());
    }
    if latencies.is_empty() {
        println!("(no commands recorded yet)");
    }
    println!("(from {format})");
    ExitCode::SUCCESS
}
