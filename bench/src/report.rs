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

/// Most distinct error messages a run keeps; later ones are counted in
/// [`Report::error_messages_other`].
pub const ERROR_MESSAGES_MAX: usize = 16;
/// Most error messages the table shows per target.
pub const ERROR_MESSAGES_SHOWN: usize = 5;

/// One distinct error text a server answered with, and how many measured
/// requests got it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// The text (Redis's list of a command's arguments cut off).
    pub text: String,
    /// Measured requests answered with it.
    pub count: u64,
}

/// The first [`ERROR_MESSAGES_MAX`] distinct error texts seen, with counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ErrorMessages {
    /// In the order first seen.
    seen: Vec<ErrorMessage>,
    /// Errors whose text came after the first distinct ones.
    other: u64,
}

impl ErrorMessages {
    /// Counts `count` errors with `text`.
    pub(crate) fn add(&mut self, text: &str, count: u64) {
        if let Some(message) = self.seen.iter_mut().find(|m| m.text == text) {
            message.count += count;
        } else if self.seen.len() < ERROR_MESSAGES_MAX {
            self.seen.push(ErrorMessage {
                text: text.to_string(),
                count,
            });
        } else {
            self.other += count;
        }
    }

    /// Adds another thread's messages to these.
    pub(crate) fn merge(&mut self, other: ErrorMessages) {
        for message in other.seen {
            self.add(&message.text, message.count);
        }
        self.other += other.other;
    }

    /// Most frequent first (the first seen first among equals), and the
    /// count of the rest.
    fn into_parts(mut self) -> (Vec<ErrorMessage>, u64) {
        self.seen.sort_by_key(|m| std::cmp::Reverse(m.count));
        (self.seen, self.other)
    }
}

/// One target's results: what `--json` writes, one per target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The target URL.
    pub target: String,
    /// The target's name (`NAME=` before its URL), or its URL.
    #[serde(default)]
    pub name: String,
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
    /// The servers' error texts, most frequent first: the first
    /// [`ERROR_MESSAGES_MAX`] distinct ones.
    #[serde(default)]
    pub error_messages: Vec<ErrorMessage>,
    /// Server errors whose text was not among `error_messages`.
    #[serde(default)]
    pub error_messages_other: u64,
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
        messages: ErrorMessages,
        addresses: Vec<AddressReport>,
    ) -> Report {
        let (error_messages, error_messages_other) = messages.into_parts();
        let duration_s = cfg.duration.as_secs_f64();
        let mut encoded = Vec::new();
        // Serializing into a Vec cannot fail for a valid histogram.
        let _ = V2Serializer::new().serialize(hist, &mut encoded);
        Report {
            target: target.url.clone(),
            name: target.name.clone(),
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
            error_messages,
            error_messages_other,
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

    /// What tables and plots call the target: its name, or its URL in a
    /// report written before targets had names.
    pub fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.target
        } else {
            &self.name
        }
    }

    /// The settings the run shared over every target: workload,
    /// connections, pipeline, threads and loop type.
    pub fn settings(&self) -> String {
        let mode = match self.rate {
            Some(rate) => format!("open loop at {rate} ops/s"),
            None => "closed loop".into(),
        };
        format!(
            "workload {}, {} connections, pipeline {}, {} threads, {mode}",
            self.workload, self.connections, self.pipeline, self.threads
        )
    }
}

/// What an error kind the tool itself names means (the server's own
/// errors carry their text in [`Report::error_messages`]).
pub fn describe_error_kind(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "mismatch" => "a reply was not what the request expects (--verify, or a lock token that is no integer)",
        "lock_not_granted" => "LOCK.ACQUIRE answered nil: the lock did not come free within its WAIT",
        "lock_release_refused" => "LOCK.RELEASE answered 0: the lease had ended before the release",
        "disconnect" => "the server closed the connection (it is reconnected)",
        "lost_in_flight" => "requests unanswered on a connection that dropped",
        "connect" => "a reconnection failed",
        "protocol" => "a reply that is not valid RESP or HTTP",
        "reply_too_large" => "a reply over the tool's size limit",
        "unexpected_reply" => "a reply to no request",
        "poll" => "waiting for socket events failed",
        _ => return None,
    })
}

/// Whether a run measured what it meant to: every target had requests
/// succeed, and no more than `max_error_pct` percent of its requests
/// failed. The error names each target that failed the test and why.
pub fn verdict(reports: &[Report], max_error_pct: f64) -> Result<(), String> {
    let mut problems = Vec::new();
    for r in reports {
        let errors = r.error_count();
        let total = r.ops + errors;
        if r.ops == 0 {
            problems.push(match errors {
                0 => format!("{}: no request completed in the measured time", r.label()),
                _ => format!("{}: every request failed ({errors} errors)", r.label()),
            });
            continue;
        }
        let pct = 100.0 * errors as f64 / total as f64;
        if pct > max_error_pct {
            problems.push(format!(
                "{}: {pct:.2}% of requests failed ({errors} of {total}), over --max-error-pct {max_error_pct}",
                r.label()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
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
        "{:<32} {:>12} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9}  errors",
        "target", "ops/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "p99.99 µs", "max µs"
    );
    for r in reports {
        let l = &r.latency_us;
        let _ = writeln!(
            out,
            "{:<32} {:>12.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>9.1}  {}",
            r.label(),
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
        if r.name != r.target && !r.name.is_empty() {
            let _ = writeln!(out, "  {}", r.target);
        }
        error_lines(&mut out, r);
    }
    if let Some(r) = reports.first() {
        let open = if r.rate.is_some() {
            " (latency from the intended send time)"
        } else {
            ""
        };
        let _ = writeln!(out, "{}, {:.1}s measured{open}", r.settings(), r.duration_s);
    }
    out
}

/// Under a target's row: its most frequent error texts with counts, then
/// what the tool's own error kinds mean.
fn error_lines(out: &mut String, r: &Report) {
    for message in r.error_messages.iter().take(ERROR_MESSAGES_SHOWN) {
        let _ = writeln!(out, "  error {:>10} × {}", message.count, message.text);
    }
    let hidden: u64 = r
        .error_messages
        .iter()
        .skip(ERROR_MESSAGES_SHOWN)
        .map(|m| m.count)
        .sum::<u64>()
        + r.error_messages_other;
    if hidden > 0 {
        let _ = writeln!(out, "  error {hidden:>10} × (other messages; see --json)");
    }
    for (kind, count) in &r.errors {
        if let Some(meaning) = describe_error_kind(kind) {
            let _ = writeln!(out, "  error {count:>10} × {kind}: {meaning}");
        }
    }
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
            truncate(&format!("{} ({file})", r.label()), 30)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ops: u64, errors: u64) -> Report {
        Report {
            target: "redis://127.0.0.1:1".into(),
            name: "t".into(),
            workload: "set".into(),
            connections: 1,
            pipeline: 1,
            rate: None,
            duration_s: 1.0,
            throughput_ops: ops as f64,
            latency_us: latency(&Histogram::new(3).unwrap()),
            errors: [("ERR".to_string(), errors)]
                .into_iter()
                .filter(|e| e.1 > 0)
                .collect(),
            error_messages: Vec::new(),
            error_messages_other: 0,
            histogram: String::new(),
            histogram_unit: nanoseconds(),
            ops,
            threads: 1,
            balance: String::new(),
            addresses: Vec::new(),
        }
    }

    #[test]
    fn verdict_fails_all_failed_empty_and_too_many_errors() {
        assert_eq!(verdict(&[report(1000, 0)], 1.0), Ok(()));
        assert_eq!(verdict(&[report(1000, 10)], 1.0), Ok(()), "0.99%");
        let err = verdict(&[report(1000, 20)], 1.0).unwrap_err();
        assert!(
            err.contains("t: 1.96% of requests failed (20 of 1020)"),
            "{err}"
        );
        assert_eq!(verdict(&[report(1000, 20)], 5.0), Ok(()));
        let err = verdict(&[report(0, 7)], 100.0).unwrap_err();
        assert_eq!(err, "t: every request failed (7 errors)");
        let err = verdict(&[report(0, 0)], 100.0).unwrap_err();
        assert!(err.contains("no request completed"), "{err}");
        let err = verdict(&[report(10, 0), report(0, 1)], 1.0).unwrap_err();
        assert!(err.contains("every request failed"), "{err}");
    }

    #[test]
    fn error_messages_keep_the_first_distinct_ones_and_count_the_rest() {
        let mut messages = ErrorMessages::default();
        for i in 0..ERROR_MESSAGES_MAX as u64 + 3 {
            messages.add(&format!("ERR {i}"), 1);
        }
        messages.add("ERR 1", 5);
        let mut other = ErrorMessages::default();
        other.add("ERR 2", 9);
        other.add("ERR new", 4);
        messages.merge(other);
        let (kept, rest) = messages.into_parts();
        assert_eq!(kept.len(), ERROR_MESSAGES_MAX);
        assert_eq!((kept[0].text.as_str(), kept[0].count), ("ERR 2", 10));
        assert_eq!((kept[1].text.as_str(), kept[1].count), ("ERR 1", 6));
        assert_eq!(rest, 3 + 4);
    }
}
