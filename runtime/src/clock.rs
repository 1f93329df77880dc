//! Wall time for commands, derived from the monotonic clock.
//!
//! A command needs the Unix time (expiry times are stored absolute) and
//! its latency (measured on the monotonic clock). Reading both clocks for
//! every command cost about 4% of a pipelined GET's CPU. The two clocks
//! are slewed alike by NTP and part only when the wall clock is stepped,
//! so a core reads the wall clock once per [`WALL_CLOCK_RESYNC`] and
//! otherwise adds the monotonic time elapsed since that reading: one
//! monotonic reading per command serves both needs, and a step of the
//! wall clock shows within the resync interval.
//!
//! The monotonic clock stops while the machine is suspended. So for up to
//! one resync interval after a resume, a core dates commands behind the
//! wall clock by the length of the suspend, and their expiry times are
//! early by as much. Servers are not suspended; a laptop running an
//! embedded node may be.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a core goes on deriving wall time from one reading of it.
pub(crate) const WALL_CLOCK_RESYNC: Duration = Duration::from_millis(100);
/// Widest gap between the two monotonic readings around a wall-clock
/// reading for the pair to count as taken at one instant; a wider gap (the
/// thread was preempted) is read again.
const ANCHOR_GAP_MAX: Duration = Duration::from_micros(20);
/// Attempts at a tight anchor before the tightest one seen is taken.
const ANCHOR_ATTEMPTS: usize = 3;

/// One core's wall clock: a monotonic instant and the Unix time, in
/// microseconds, at that instant.
pub(crate) struct WallClock {
    anchor: Cell<(Instant, u64)>,
}

impl WallClock {
    pub fn new() -> WallClock {
        WallClock {
            anchor: Cell::new(read_anchor()),
        }
    }

    /// The Unix time in milliseconds now.
    pub fn now_ms(&self) -> u64 {
        self.unix_ms_at(Instant::now())
    }

    /// The Unix time in milliseconds at `at`, a monotonic reading taken
    /// recently (a command's start).
    pub fn unix_ms_at(&self, at: Instant) -> u64 {
        let (mut instant, mut unix_us) = self.anchor.get();
        let apart = at
            .checked_duration_since(instant)
            .unwrap_or_else(|| instant - at);
        if apart >= WALL_CLOCK_RESYNC {
            (instant, unix_us) = read_anchor();
            self.anchor.set((instant, unix_us));
        }
        let unix_us = match at.checked_duration_since(instant) {
            Some(after) => unix_us + after.as_micros() as u64,
            None => unix_us.saturating_sub((instant - at).as_micros() as u64),
        };
        unix_us / 1000
    }
}

/// A monotonic instant and the Unix time at it, read as close together as
/// the thread allows.
fn read_anchor() -> (Instant, u64) {
    let mut best: Option<(Duration, Instant, u64)> = None;
    for _ in 0..ANCHOR_ATTEMPTS {
        let before = Instant::now();
        let unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let gap = before.elapsed();
        let reading = (gap, before + gap / 2, unix_us);
        if gap <= ANCHOR_GAP_MAX {
            return (reading.1, reading.2);
        }
        if best.is_none_or(|(best_gap, ..)| gap < best_gap) {
            best = Some(reading);
        }
    }
    let (_, instant, unix_us) = best.expect("at least one attempt");
    (instant, unix_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    #[test]
    fn derived_time_lies_between_wall_clock_readings_around_it() {
        let clock = WallClock::new();
        for _ in 0..1000 {
            let before = system_ms();
            let derived = clock.now_ms();
            let after = system_ms();
            // One millisecond either way for the anchor's rounding.
            assert!(before <= derived + 1 && derived <= after + 1);
        }
    }

    #[test]
    fn an_instant_past_the_resync_interval_is_placed_from_a_fresh_anchor() {
        let clock = WallClock::new();
        let ahead = Duration::from_secs(5);
        let before = system_ms();
        let derived = clock.unix_ms_at(Instant::now() + ahead);
        let after = system_ms();
        let ahead_ms = ahead.as_millis() as u64;
        assert!(before + ahead_ms <= derived + 1 && derived <= after + ahead_ms + 1);
        // ...and an earlier instant is placed behind it, not clamped.
        let earlier = clock.unix_ms_at(Instant::now() - Duration::from_millis(30));
        assert!(earlier + 30 <= system_ms() + 1);
    }
}
