//! Results: the per-target report, its table, its JSON, and `compare`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::target::Target;

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// 99.99th percentile.
    pub p9999: f64,
    /// Largest (to the histogram's three significant digits).
    pub max: f64,
}

/// How one address of a multi-address target fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressReport {
    /// `host:port`.
    pub address: String,
    /// Successful operations sent there.
    pub ops: u64,
    /// Its median latency, in microseconds.
    pub p50_us: f64,
    /// Its 99th percentile latency, in microseconds.
    pub p99_us: f64,
}

/// One target's results: what `--json` writes, one per target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The target URL.
    pub target: String,
    /// The workload, as given.
    pub workload: String,
    /// Clients (closed loops), each with a connection per address.
    pub connections: u64,
    /// Pipeline depth.
    pub pipeline: u64,
    /// Open loop's rate in requests per second; null for a closed loop.
    pub rate: Option<f64>,
    /// Measured seconds (warm-up excluded).
    pub duration_s: f64,
    /// Successful operations per second.
    pub throughput_ops: f64,
    /// Latency of successful operations, in microseconds.
    pub latency_us: Latency,
    /// Errors by kind: the server's error word (`ERR`, `WRONGTYPE`...),
    /// `mismatch` (--verify), `disconnect`, `lost_in_flight`, `connect`,
    /// `protocol`, `lock_not_granted`...
    pub errors: BTreeMap<String, u64>,
    /// The latency histogram in nanoseconds, HDR V2 serialized, base64.
    pub histogram: String,
    /// The histogram's unit.
    #[serde(default = "nanoseconds")]
    pub histogram_unit: String,
    /// Successful operations measured.
    #[serde(default)]
    pub ops: u64,
    /// Load threads.
    #[serde(default)]
    pub threads: u64,
    /// `--balance`.
    #[serde(default)]
    pub balance: String,
    /// Per-address share and latency.
    #[serde(default)]
    pub addresses: Vec<AddressReport>,
}

fn nanoseconds() -> String {
    "ns".into()
}

impl Report {
    pub(crate) fn new(
        cfg: &RunConfig,
        target: &Target,
        hist: &Histogram<u64>,
        ops: u64,
        errors: BTreeMap<String, u64>,
        addresses: Vec<AddressReport>,
    ) -> Report {
        let duration_s = cfg.duration.as_secs_f64();
        let mut encoded = Vec::new();
        // Serializing into a Vec cannot fail for a valid histogram.
        let _ = V2Serializer::new().serialize(hist, &mut encoded);
        Report {
            target: target.url.clone(),
            workload: cfg.workload.to_string(),
            connections: cfg.connections,
            pipeline: cfg.pipeline,
            rate: cfg.rate,
            duration_s,
            throughput_ops: if duration_s > 0.0 {
                ops as f64 / duration_s
            } else {
                0.0
            },
            latency_us: latency(hist),
            errors,
            histogram: BASE64.encode(encoded),
            histogram_unit: nanoseconds(),
            ops,
            threads: cfg.threads,
            balance: cfg.balance.to_string(),
            addresses,
        }
    }

    /// The latency histogram back from its base64 HDR V2 form.
    pub fn decode_histogram(&self) -> anyhow::Result<Histogram<u64>> {
        let bytes = BASE64
            .decode(&self.histogram)
            .context("histogram is not base64")?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| anyhow::anyhow!("histogram is not HDR V2: {e:?}"))
    }

    /// Total errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

fn latency(hist: &Histogram<u64>) -> Latency {
    let at = |q: f64| {
        if hist.is_empty() {
            0.0
        } else {
            hist.value_at_quantile(q) as f64 / 1e3
        }
    };
    Latency {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        p9999: at(0.9999),
        max: if hist.is_empty() {
            0.0
        } else {
            hist.max() as f64 / 1e3
        },
    }
}

/// The final table: one block per target.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  errors",
        "target", "ops/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "p99.99", "max µs"
    );
    for r in reports {
        let l = &r.latency_us;
        let _ = writeln!(
            out,
            "{:<32} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}  {}",
            r.target,
            r.throughput_ops,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.p9999,
            l.max,
            errors_text(&r.errors)
        );
        if r.addresses.len() > 1 {
            for a in &r.addresses {
                let _ = writeln!(
                    out,
                    "  {:<30} {:>12.0} {:>9.1} {:>9} {:>9.1}   ({} balance)",
                    a.address,
                    a.ops as f64 / r.duration_s.max(f64::MIN_POSITIVE),
                    a.p50_us,
                    "",
                    a.p99_us,
                    r.balance
                );
            }
        }
    }
    if let Some(r) = reports.first() {
        let mode = match r.rate {
            Some(rate) => {
                format!("open loop at {rate} ops/s (latency from the intended send time)")
            }
            None => "closed loop".into(),
        };
        let _ = writeln!(
            out,
            "workload {}, {} connections, pipeline {}, {} threads, {:.1}s measured, {mode}",
            r.workload, r.connections, r.pipeline, r.threads, r.duration_s
        );
    }
    out
}

fn errors_text(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "none".into();
    }
    errors
        .iter()
        .map(|(kind, n)| format!("{kind}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes the reports as a JSON array.
pub fn write_json(path: &Path, reports: &[Report]) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(reports)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Reads a `--json` file: an array of reports, or a single one.
pub fn read_json(path: &Path) -> anyhow::Result<Vec<Report>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let reports = if value.is_array() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(value).map(|r: Report| vec![r])
    };
    reports.with_context(|| format!("{} is not a pinwheel-bench report", path.display()))
}

/// Reads one figure out of a report, for a row of the comparison table.
type Metric = fn(&Report) -> f64;

/// `compare`: every target of every file side by side, with each value's
/// ratio to the first target's.
pub fn compare(files: &[impl AsRef<Path>]) -> anyhow::Result<String> {
    let mut reports = Vec::new();
    for file in files {
        let name = file.as_ref().display().to_string();
        for report in read_json(file.as_ref())? {
            reports.push((name.clone(), report));
        }
    }
    anyhow::ensure!(!reports.is_empty(), "no reports in the files given");
    let rows: [(&str, Metric); 8] = [
        ("ops/s", |r| r.throughput_ops),
        ("p50 µs", |r| r.latency_us.p50),
        ("p90 µs", |r| r.latency_us.p90),
        ("p99 µs", |r| r.latency_us.p99),
        ("p99.9 µs", |r| r.latency_us.p999),
        ("p99.99 µs", |r| r.latency_us.p9999),
        ("max µs", |r| r.latency_us.max),
        ("errors", |r| r.error_count() as f64),
    ];
    let mut out = String::new();
    let _ = write!(out, "{:<10}", "");
    for (file, r) in &reports {
        let _ = write!(
            out,
            " {:>30}",
            truncate(&format!("{} ({file})", r.target), 30)
        );
    }
    out.push('\n');
    for (name, get) in rows {
        let _ = write!(out, "{name:<10}");
        let base = get(&reports[0].1);
        for (i, (_, r)) in reports.iter().enumerate() {
            let value = get(r);
            let cell = if i == 0 || base == 0.0 {
                format!("{value:.1}")
            } else {
                format!("{value:.1} ({:.2}x)", value / base)
            };
            let _ = write!(out, " {cell:>30}");
        }
        out.push('\n');
    }
    Ok(out)
}

fn truncate(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    let tail: String = text.chars().skip(count - (width - 1)).collect();
    format!("…{tail}")
}
