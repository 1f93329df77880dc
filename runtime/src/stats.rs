//! Per-core counters and latency histograms. Each core records into its own
//! (no sharing); `INFO`, `LATENCY HISTOGRAM` and `pinwheel hist` merge
//! copies gathered from every core.

use hdrhistogram::Histogram;
use pinwheel_state::{Cmd, Reply, COMMANDS, COMMAND_COUNT};

/// Smallest latency a histogram tells apart, in nanoseconds.
const LATENCY_LOWEST_NS: u64 = 1;
/// Largest latency a histogram records, in nanoseconds (one hour); longer
/// ones are clamped to it.
pub const LATENCY_HIGHEST_NS: u64 = 3_600_000_000_000;
/// Significant digits kept: 2 keeps every histogram near 30 KiB, within 1%.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 2;
/// Distinct error codes (`ERR`, `WRONGTYPE`...) `INFO errorstats` counts
/// apart, as Redis's 128; errors with a code past them still count in
/// `total_error_replies`. Every code is one of the server's own texts, so
/// the bound is never near in practice.
pub const ERROR_CODES_MAX: usize = 128;
/// A call this slow or slower is a latency spike for `LATENCY LATEST`:
/// as if Redis's `latency-monitor-threshold` were 1 (milliseconds).
pub const LATENCY_SPIKE_MIN_NS: u64 = 1_000_000;

/// A timing that is not a command's service time, kept in a histogram of
/// its own so that it does not swamp a command's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// How long a `LOCK.ACQUIRE ... WAIT` was parked in a lock's queue,
    /// from being queued to being granted or given up. `lock.acquire`'s
    /// own histogram leaves this time out.
    LockWait,
}

/// Every [`Timing`] with the name its histogram is shown under, in the
/// order shown (after the commands').
const TIMINGS: [(Timing, &str); 1] = [(Timing::LockWait, "lock.wait")];

/// A command's calls that took [`LATENCY_SPIKE_MIN_NS`] or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spikes {
    /// How many.
    pub count: u64,
    /// Unix time of the latest, in milliseconds.
    pub latest_at_ms: u64,
    /// The latest one's latency, in nanoseconds.
    pub latest_ns: u64,
    /// The slowest one's latency, in nanoseconds.
    pub max_ns: u64,
}

/// One core's statistics, or the merge of several cores'.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Service time of each command, nanoseconds; made on first use.
    latency: Vec<Option<Histogram<u64>>>,
    /// Each [`Timing`], nanoseconds, at its index in `TIMINGS`.
    timings: Vec<Option<Histogram<u64>>>,
    /// Each command's latency spikes, for `LATENCY LATEST`.
    spikes: Vec<Option<Spikes>>,
    /// Error replies sent: to commands, and for protocol errors.
    pub errors: u64,
    /// Error replies by their code (the error's first word), in the order
    /// first seen; at most [`ERROR_CODES_MAX`] codes.
    error_codes: Vec<(Box<str>, u64)>,
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections handed to another core (counted by the core they left).
    pub connections_moved: u64,
    /// Connections closed for breaking the protocol or a limit.
    pub protocol_errors: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latency: vec![None; COMMAND_COUNT],
            timings: vec![None; TIMINGS.len()],
            spikes: vec![None; COMMAND_COUNT],
            errors: 0,
            error_codes: Vec::new(),
            connections_accepted: 0,
            connections_moved: 0,
            protocol_errors: 0,
        }
    }
}

fn record_into(slot: &mut Option<Histogram<u64>>, nanos: u64) {
    let histogram = slot.get_or_insert_with(new_histogram);
    histogram.saturating_record(nanos.clamp(LATENCY_LOWEST_NS, LATENCY_HIGHEST_NS));
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(
        LATENCY_LOWEST_NS,
        LATENCY_HIGHEST_NS,
        LATENCY_SIGNIFICANT_DIGITS,
    )
    .expect("constant histogram bounds are valid")
}

impl Stats {
    /// Records one answered command: its service time, and its answer if
    /// that was an error.
    pub fn record_answer(&mut self, cmd: Cmd, latency_ns: u64, reply: &Reply) {
        self.record(cmd, latency_ns);
        if let Reply::Error(text) = reply {
            self.record_error(text);
        }
    }

    /// Counts one error reply (`text` without the leading `-`), whatever
    /// it answered: a known command, an unknown one, a protocol error.
    pub fn record_error(&mut self, text: &str) {
        self.errors += 1;
        let code = text.split(' ').next().unwrap_or_default();
        self.count_error_code(code, 1);
    }

    fn count_error_code(&mut self, code: &str, count: u64) {
        if let Some((_, n)) = self
            .error_codes
            .iter_mut()
            .find(|(known, _)| **known == *code)
        {
            *n += count;
        } else if self.error_codes.len() < ERROR_CODES_MAX {
            self.error_codes.push((code.into(), count));
        }
    }

    /// Error replies by code, in the order first seen.
    pub fn error_codes(&self) -> impl Iterator<Item = (&str, u64)> {
        self.error_codes.iter().map(|(code, n)| (&**code, *n))
    }

    /// Records one command's service time.
    pub fn record(&mut self, cmd: Cmd, latency_ns: u64) {
        record_into(&mut self.latency[cmd as usize], latency_ns);
        if latency_ns >= LATENCY_SPIKE_MIN_NS {
            self.record_spike(cmd, latency_ns, unix_now_ms());
        }
    }

    /// Records one [`Timing`].
    pub fn record_timing(&mut self, timing: Timing, nanos: u64) {
        debug_assert_eq!(TIMINGS[timing as usize].0, timing);
        record_into(&mut self.timings[timing as usize], nanos);
    }

    /// Notes a slow call; rare, so it may read the wall clock.
    fn record_spike(&mut self, cmd: Cmd, latency_ns: u64, at_ms: u64) {
        let spikes = self.spikes[cmd as usize].get_or_insert(Spikes {
            count: 0,
            latest_at_ms: 0,
            latest_ns: 0,
            max_ns: 0,
        });
        spikes.count += 1;
        if at_ms >= spikes.latest_at_ms {
            spikes.latest_at_ms = at_ms;
            spikes.latest_ns = latency_ns;
        }
        spikes.max_ns = spikes.max_ns.max(latency_ns);
    }

    /// Forgets one command's latency: its histogram and its spikes. True
    /// when there was something to forget.
    pub fn reset_latency(&mut self, cmd: Cmd) -> bool {
        let histogram = self.latency[cmd as usize].take();
        let spikes = self.spikes[cmd as usize].take();
        histogram.is_some() || spikes.is_some()
    }

    /// The commands that had latency spikes, in catalogue order.
    pub fn spikes(&self) -> impl Iterator<Item = (Cmd, &Spikes)> {
        self.spikes
            .iter()
            .zip(COMMANDS.iter())
            .filter_map(|(s, spec)| s.as_ref().map(|s| (spec.cmd, s)))
    }

    /// Adds another core's statistics to these.
    pub fn merge(&mut self, other: &Stats) {
        let mine = self.latency.iter_mut().chain(self.timings.iter_mut());
        for (mine, theirs) in mine.zip(other.latency.iter().chain(&other.timings)) {
            if let Some(theirs) = theirs {
                let mine = mine.get_or_insert_with(new_histogram);
                mine.add(theirs).expect("histograms share their bounds");
            }
        }
        for (mine, theirs) in self.spikes.iter_mut().zip(&other.spikes) {
            match (mine.as_mut(), theirs) {
                (_, None) => {}
                (None, Some(theirs)) => *mine = Some(*theirs),
                (Some(mine), Some(theirs)) => {
                    mine.count += theirs.count;
                    if theirs.latest_at_ms > mine.latest_at_ms {
                        mine.latest_at_ms = theirs.latest_at_ms;
                        mine.latest_ns = theirs.latest_ns;
                    }
                    mine.max_ns = mine.max_ns.max(theirs.max_ns);
                }
            }
        }
        self.errors += other.errors;
        for (code, count) in &other.error_codes {
            self.count_error_code(code, *count);
        }
        self.connections_accepted += other.connections_accepted;
        self.connections_moved += other.connections_moved;
        self.protocol_errors += other.protocol_errors;
    }

    /// Commands answered, over all commands.
    pub fn commands_processed(&self) -> u64 {
        self.latency.iter().flatten().map(Histogram::len).sum()
    }

    /// Every histogram recorded into, by name: the commands that have been
    /// called, in catalogue order, then the [`Timing`]s.
    pub fn histograms(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> {
        let commands = self.latency.iter().zip(COMMANDS.iter().map(|s| s.name));
        let timings = self
            .timings
            .iter()
            .zip(TIMINGS.iter().map(|(_, name)| *name));
        commands
            .chain(timings)
            .filter_map(|(h, name)| h.as_ref().map(|h| (name, h)))
    }

    /// One command's histogram, if it has been called.
    #[cfg(test)]
    pub fn histogram(&self, cmd: Cmd) -> Option<&Histogram<u64>> {
        self.latency[cmd as usize].as_ref()
    }
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A histogram in HDR's V2 format, base64-encoded (for `LATENCY DUMP`).
pub fn encode_histogram(histogram: &Histogram<u64>) -> Vec<u8> {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into_bytes()
}

/// Reads a histogram written by `LATENCY DUMP`.
pub fn decode_histogram(encoded: &[u8]) -> Result<Histogram<u64>, String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("not base64: {e}"))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HDR V2 histogram: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_adds_counts_and_keeps_percentiles() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        for ns in 1..=1000 {
            a.record(Cmd::Get, ns * 1000);
        }
        b.record(Cmd::Get, 5_000_000);
        b.record(Cmd::Set, 10);
        a.merge(&b);
        assert_eq!(a.histogram(Cmd::Get).unwrap().len(), 1001);
        assert_eq!(a.commands_processed(), 1002);
        let p50 = a.histogram(Cmd::Get).unwrap().value_at_quantile(0.5);
        assert!((495_000..=505_000).contains(&p50), "p50 {p50}");
        let names: Vec<&str> = a.histograms().map(|(name, _)| name).collect();
        assert_eq!(names, vec!["get", "set"]);
    }

    #[test]
    fn timings_are_shown_after_commands_and_are_not_commands() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record(Cmd::LockAcquire, 20_000);
        b.record_timing(Timing::LockWait, 3_000_000_000);
        a.merge(&b);
        let names: Vec<&str> = a.histograms().map(|(name, _)| name).collect();
        assert_eq!(names, vec!["lock.acquire", "lock.wait"]);
        assert_eq!(a.commands_processed(), 1, "a wait is not a command");
        let (_, wait) = a.histograms().last().unwrap();
        assert!(wait.value_at_quantile(0.99) >= 2_990_000_000);
    }

    #[test]
    fn slow_calls_are_spikes_that_merge_and_reset() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record(Cmd::Get, LATENCY_SPIKE_MIN_NS - 1);
        assert_eq!(a.spikes().count(), 0, "below the threshold");
        a.record_spike(Cmd::Get, 5_000_000, 1_000);
        a.record_spike(Cmd::Get, 2_000_000, 2_000);
        b.record_spike(Cmd::Get, 3_000_000, 3_000);
        b.record_spike(Cmd::Set, 1_000_000, 500);
        a.merge(&b);
        let spikes: Vec<(Cmd, Spikes)> = a.spikes().map(|(c, s)| (c, *s)).collect();
        let get = Spikes {
            count: 3,
            latest_at_ms: 3_000,
            latest_ns: 3_000_000,
            max_ns: 5_000_000,
        };
        assert_eq!(spikes[0], (Cmd::Get, get));
        assert_eq!(spikes[1].0, Cmd::Set);
        assert!(a.reset_latency(Cmd::Get));
        assert!(!a.reset_latency(Cmd::Get), "nothing left to forget");
        assert!(a.histogram(Cmd::Get).is_none());
        assert_eq!(a.spikes().count(), 1);
    }

    #[test]
    fn errors_count_by_code_and_merge() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.record_answer(
            Cmd::Get,
            1,
            &Reply::err("WRONGTYPE Operation against a key"),
        );
        a.record_answer(Cmd::Get, 1, &Reply::Nil);
        a.record_error("ERR unknown command 'x'");
        b.record_error("ERR Protocol error: invalid bulk length");
        b.record_error("NOPROTO unsupported protocol version");
        a.merge(&b);
        assert_eq!(a.errors, 4);
        let codes: Vec<(&str, u64)> = a.error_codes().collect();
        assert_eq!(codes, vec![("WRONGTYPE", 1), ("ERR", 2), ("NOPROTO", 1)]);
        for n in 0..2 * ERROR_CODES_MAX {
            a.record_error(&format!("CODE{n} x"));
        }
        assert_eq!(a.error_codes().count(), ERROR_CODES_MAX);
        assert_eq!(a.errors, 4 + 2 * ERROR_CODES_MAX as u64);
    }
}
