//! What `INFO memory` reports, and giving memory back after connection
//! storms.
//!
//! Pinwheel allocates through the system allocator (glibc malloc), whose
//! own accounting (`mallinfo2`) gives the bytes in use: no counting on the
//! allocation path, so nothing is added to a request's cost. Reading it
//! walks malloc's free lists, which `INFO` and the once-a-second check
//! below can afford.
//!
//! Why memory stayed after storms: thousands of connections each holding
//! reply and read buffers of 16 to 256 KiB free them when they leave, but
//! glibc returns heap memory only from the top of each arena (and raises
//! its mmap threshold after the first large free, so later large buffers
//! come from the heap too). The freed buffers sit in malloc's free lists,
//! resident, and the process's RSS stays at its peak (15 MB to 600 MB after
//! five storms of 2,000 connections, measured; see docs/benchmarks.md).
//! `malloc_trim` hands the whole free pages inside those lists back to the
//! kernel; [`check_and_trim`] calls it when the memory resident beyond what
//! malloc has in use (the slack) has grown by [`TRIM_GROWTH_MIN_BYTES`]
//! since the last trim and is at least [`TRIM_SLACK_MIN_BYTES`].

use std::sync::atomic::{AtomicU64, Ordering};

/// How often the node checks whether freed memory should be given back.
pub const MEMORY_CHECK_INTERVAL_MS: u64 = 1_000;
/// Resident memory beyond what malloc has in use below which nothing is
/// given back: an allocator keeps some free memory to reuse.
pub const TRIM_SLACK_MIN_BYTES: u64 = 64 * 1024 * 1024;
/// Growth of resident memory since the last trim below which no new trim
/// is made, so a node that keeps its free memory in use is not trimmed
/// every second.
pub const TRIM_GROWTH_MIN_BYTES: u64 = 32 * 1024 * 1024;
/// Least time between two trims. A trim took 60 to 180 ms after storms of
/// 2,000 connections (release build), and while it works on an arena the
/// core allocating from that arena waits; during a long storm this bounds
/// those waits to one per interval, and memory still comes back within
/// one interval of the storm's end.
pub const TRIM_INTERVAL_MIN_MS: u64 = 5_000;

/// The process's memory, as `INFO memory` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Bytes the allocator has handed out and not had back; `None` when
    /// the allocator cannot tell (not glibc).
    pub used: Option<u64>,
    /// Bytes resident in RAM (RSS); `None` without `/proc`.
    pub rss: Option<u64>,
}

/// The allocator's name, as Redis's `mem_allocator` field.
pub const MEM_ALLOCATOR: &str = if cfg!(all(target_os = "linux", target_env = "gnu")) {
    "libc"
} else {
    "unknown"
};

/// Reads the process's memory now.
pub fn usage() -> MemoryUsage {
    MemoryUsage {
        used: malloc_in_use(),
        rss: resident_bytes(),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_in_use() -> Option<u64> {
    // Safety: mallinfo2 takes no arguments and returns a plain struct.
    let info = unsafe { libc::mallinfo2() };
    // Bytes in use in the arenas plus the chunks mmapped on their own.
    Some((info.uordblks + info.hblkhd) as u64)
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn malloc_in_use() -> Option<u64> {
    None
}

/// RSS from `/proc/self/statm` (its second field, in pages), read into
/// a buffer on the stack: the trimming thread allocates nothing.
fn resident_bytes() -> Option<u64> {
    use std::io::Read;
    let mut text = [0u8; 256];
    let length = std::fs::File::open("/proc/self/statm")
        .ok()?
        .read(&mut text)
        .ok()?;
    let statm = std::str::from_utf8(&text[..length]).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // Safety: sysconf only reads a system setting.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// The highest `used` seen by a reading (an `INFO` or the check); memory
/// is the process's, so the peak is too.
static PEAK_USED: AtomicU64 = AtomicU64::new(0);
/// Slack (RSS beyond malloc's use) right after the last trim.
static SLACK_AFTER_TRIM: AtomicU64 = AtomicU64::new(0);

/// Reads the process's memory now, and the highest `used` so far.
pub fn usage_and_peak() -> (MemoryUsage, u64) {
    let usage = usage();
    let used = usage.used.unwrap_or(0);
    let peak = PEAK_USED.fetch_max(used, Ordering::Relaxed).max(used);
    (usage, peak)
}

/// Runs [`check_and_trim`] every [`MEMORY_CHECK_INTERVAL_MS`] on a thread
/// of its own until `stop` is set. Not on a core: a trim walks malloc's
/// free lists and hands pages back one range at a time, which took 60 to
/// 180 ms after storms of 2,000 connections (release build), and a core's
/// clients would wait that long. Allocations on the arena being trimmed
/// still wait for it; the others do not. At most one trim per
/// [`TRIM_INTERVAL_MIN_MS`].
pub(crate) fn spawn_trimmer(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let interval = std::time::Duration::from_millis(MEMORY_CHECK_INTERVAL_MS);
    let spawned = std::thread::Builder::new()
        .name("pinwheel-memory".into())
        .spawn(move || {
            let mut last_trim: Option<std::time::Instant> = None;
            let spacing = std::time::Duration::from_millis(TRIM_INTERVAL_MIN_MS);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(interval);
                if last_trim.is_some_and(|at| at.elapsed() < spacing) {
                    continue;
                }
                if check_and_trim() {
                    last_trim = Some(std::time::Instant::now());
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no thread to give freed memory back; RSS may stay at its peak");
    }
}

/// The once-a-second check: gives free memory back to the system when
/// enough has built up since the last time. True when it trimmed.
pub fn check_and_trim() -> bool {
    let (before, _) = usage_and_peak();
    if !should_trim(before, SLACK_AFTER_TRIM.load(Ordering::Relaxed)) {
        return false;
    }
    let started = std::time::Instant::now();
    trim();
    let took_us = started.elapsed().as_micros() as u64;
    let after = usage();
    SLACK_AFTER_TRIM.store(slack(after).unwrap_or(0), Ordering::Relaxed);
    tracing::debug!(
        ?before,
        ?after,
        took_us,
        "gave freed memory back to the system"
    );
    true
}

/// Memory resident beyond what malloc has in use: freed memory it keeps.
fn slack(usage: MemoryUsage) -> Option<u64> {
    Some(usage.rss?.saturating_sub(usage.used?))
}

/// True when the slack is at least [`TRIM_SLACK_MIN_BYTES`] and has grown
/// by [`TRIM_GROWTH_MIN_BYTES`] since the last trim left it at
/// `slack_after_trim`.
fn should_trim(usage: MemoryUsage, slack_after_trim: u64) -> bool {
    slack(usage).is_some_and(|slack| {
        slack >= TRIM_SLACK_MIN_BYTES
            && slack.saturating_sub(slack_after_trim) >= TRIM_GROWTH_MIN_BYTES
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // Safety: malloc_trim only releases free memory; 0 keeps no pad.
    unsafe { libc::malloc_trim(0) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn at(used: u64, rss: u64) -> MemoryUsage {
        MemoryUsage {
            used: Some(used * MIB),
            rss: Some(rss * MIB),
        }
    }

    #[test]
    fn trims_only_when_freed_memory_has_built_up_since_the_last_trim() {
        assert!(!should_trim(at(10, 40), 0), "little slack");
        assert!(should_trim(at(10, 600), 0), "a storm's buffers freed");
        assert!(
            !should_trim(at(10, 100), 80 * MIB),
            "trimmed already; not grown since"
        );
        assert!(should_trim(at(10, 130), 80 * MIB));
        // Trimmed mid-storm while buffers were in use (no slack then): the
        // storm's end frees them, and that is growth.
        assert!(should_trim(at(10, 300), 0));
        assert!(!should_trim(at(500, 550), 0), "memory in use is not slack");
        let unknown = MemoryUsage {
            used: None,
            rss: Some(600 * MIB),
        };
        assert!(!should_trim(unknown, 0));
    }

    #[test]
    fn usage_is_read_and_plausible() {
        let usage = usage();
        let (used, rss) = (usage.used.unwrap(), usage.rss.unwrap());
        assert!(used > 0 && rss > 0, "{usage:?}");
        let (_, peak) = usage_and_peak();
        assert!(peak > 0);
    }
}
