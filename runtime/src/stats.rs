//! Per-core counters and latency histograms. Each core records into its own
//! (no sharing); `INFO`, `LATENCY HISTOGRAM` and `pinwheel hist` merge
//! copies gathered from every core.

use hdrhistogram::Histogram;
use pinwheel_state::{Cmd, COMMANDS, COMMAND_COUNT};

/// Smallest latency a histogram tells apart, in nanoseconds.
const LATENCY_LOWEST_NS: u64 = 1;
/// Largest latency a histogram records, in nanoseconds (one hour); longer
/// ones are clamped to it.
pub const LATENCY_HIGHEST_NS: u64 = 3_600_000_000_000;
/// Significant digits kept: 2 keeps every histogram near 30 KiB, within 1%.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 2;

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

/// One core's statistics, or the merge of several cores'.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Service time of each command, nanoseconds; made on first use.
    latency: Vec<Option<Histogram<u64>>>,
    /// Each [`Timing`], nanoseconds, at its index in `TIMINGS`.
    timings: Vec<Option<Histogram<u64>>>,
    /// Commands answered with an error.
    pub errors: u64,
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
            errors: 0,
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
    /// Records one answered command: its service time, and whether its
    /// answer was an error.
    pub fn record_answer(&mut self, cmd: Cmd, latency_ns: u64, is_error: bool) {
        self.record(cmd, latency_ns);
        if is_error {
            self.errors += 1;
        }
    }

    /// Records one command's service time.
    pub fn record(&mut self, cmd: Cmd, latency_ns: u64) {
        record_into(&mut self.latency[cmd as usize], latency_ns);
    }

    /// Records one [`Timing`].
    pub fn record_timing(&mut self, timing: Timing, nanos: u64) {
        debug_assert_eq!(TIMINGS[timing as usize].0, timing);
        record_into(&mut self.timings[timing as usize], nanos);
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
        self.errors += other.errors;
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
}
