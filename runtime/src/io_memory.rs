//! How much io_uring buffer memory each executor registers, decided
//! before any starts, from the locked-memory limit (`ulimit -l`).
//!
//! glommio registers one buffer of `io_memory` bytes with each of an
//! executor's three io_uring rings (main, poll, latency), and the kernel
//! charges every registration, and each ring's own memory, to the user's
//! locked-memory allowance unless the process holds CAP_IPC_LOCK.
//! Measured on Linux 6.18 as a non-root user under `prlimit --memlock`:
//! `VmPin` in `/proc/PID/status` shows exactly `3 × io_memory` per
//! executor (its cores' and the gateway's), and the largest sizes that
//! still registered put the rest at 16 KiB per ring (4 pages at glommio's
//! depth of 128 entries), plus 8 KiB once: the two-entry ring glommio
//! opens to probe the kernel's features, closed at once but released by
//! the kernel in the background. Older kernels charge rings to the memory
//! cgroup instead, so there the figure is a little higher than needed.
//! The limit is per user: every process of the user draws on it.
//!
//! A registration that does not fit fails and glommio goes on without it,
//! with a multi-line warning per ring. Pinwheel's sockets read into heap
//! buffers and it does no file I/O yet, so those buffers are not used
//! today: what matters is that the node starts, and quietly.

use crate::node::StartError;

/// Rings per executor that register the io buffer (glommio's main, poll
/// and latency rings).
pub const IO_RINGS_PER_EXECUTOR: u64 = 3;
/// The smallest buffer glommio registers, in bytes: it rounds anything
/// less up to this.
pub const IO_MEMORY_MIN_BYTES: usize = 64 * 1024;
/// The most a core registers when `io-memory-bytes` is left to the node
/// (0): what fits the limit, up to this.
pub const IO_MEMORY_AUTO_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Locked memory of one io_uring ring itself, at glommio's depth of 128
/// entries (measured, see the module comment).
pub const RING_MEMORY_BYTES: usize = 16 * 1024;
/// The ring glommio opens once to probe the kernel's io_uring features
/// (two entries, two pages); it is closed at once, but the kernel frees it
/// in the background, so it still counts while the executors start.
pub const PROBE_RING_BYTES: usize = 8 * 1024;
/// The gateway executor does no I/O: it gets the smallest buffer.
pub const GATEWAY_IO_MEMORY_BYTES: usize = IO_MEMORY_MIN_BYTES;
/// glommio refuses to create an executor when the locked-memory limit is
/// below this, whatever it would register.
pub const GLOMMIO_MEMLOCK_MIN_BYTES: u64 = 512 * 1024;
/// Registrations are whole pages.
const PAGE_BYTES: usize = 4096;
/// CAP_IPC_LOCK's bit in the capability sets.
const CAP_IPC_LOCK_BIT: u32 = 14;

/// The io memory each executor registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IoPlan {
    /// Bytes per core.
    pub core_bytes: usize,
    /// Bytes for the gateway.
    pub gateway_bytes: usize,
    /// Set when `io-memory-bytes` was left to the node and the limit made
    /// it smaller than [`IO_MEMORY_AUTO_MAX_BYTES`]: the limit, in bytes.
    pub shrunk_by_limit: Option<u64>,
}

/// Bytes of locked memory one executor registering `io_memory` pins:
/// its buffer and its own memory, in each of its rings.
fn executor_locked_bytes(io_memory: usize) -> u64 {
    IO_RINGS_PER_EXECUTOR * (pages(io_memory) + RING_MEMORY_BYTES) as u64
}

/// Bytes of locked memory a node of `cores` cores registering
/// `core_bytes` per core pins, its gateway and glommio's probe included.
pub fn locked_bytes(cores: usize, core_bytes: usize) -> u64 {
    cores as u64 * executor_locked_bytes(core_bytes) + fixed_locked_bytes()
}

/// What a node pins whatever its cores register: the gateway and the
/// probe ring.
fn fixed_locked_bytes() -> u64 {
    executor_locked_bytes(GATEWAY_IO_MEMORY_BYTES) + PROBE_RING_BYTES as u64
}

/// `ulimit -l` a node needs: what it pins, and never less than glommio's
/// own floor.
fn needed_bytes(cores: usize, core_bytes: usize) -> u64 {
    locked_bytes(cores, core_bytes).max(GLOMMIO_MEMLOCK_MIN_BYTES)
}

/// `bytes` as glommio registers it: whole pages, at least the minimum.
fn pages(bytes: usize) -> usize {
    bytes
        .div_ceil(PAGE_BYTES)
        .saturating_mul(PAGE_BYTES)
        .max(IO_MEMORY_MIN_BYTES)
}

/// Decides each executor's io memory. `asked` is `io-memory-bytes` (0:
/// the node's choice); `limit` the locked-memory limit in bytes, `None`
/// when nothing limits it (unlimited, or CAP_IPC_LOCK).
pub(crate) fn plan(asked: usize, cores: usize, limit: Option<u64>) -> Result<IoPlan, StartError> {
    let plan = |core_bytes, shrunk_by_limit| IoPlan {
        core_bytes,
        gateway_bytes: GATEWAY_IO_MEMORY_BYTES,
        shrunk_by_limit,
    };
    let Some(limit) = limit else {
        let core_bytes = if asked == 0 {
            IO_MEMORY_AUTO_MAX_BYTES
        } else {
            asked
        };
        return Ok(plan(core_bytes, None));
    };
    let refuse = |core_bytes| StartError::MemoryLock {
        cores,
        io_memory_bytes: asked,
        limit_bytes: limit,
        needed_bytes: needed_bytes(cores, core_bytes),
    };
    if asked != 0 {
        return if needed_bytes(cores, asked) <= limit {
            Ok(plan(asked, None))
        } else {
            Err(refuse(asked))
        };
    }
    if limit < GLOMMIO_MEMLOCK_MIN_BYTES {
        return Err(refuse(IO_MEMORY_MIN_BYTES));
    }
    let per_core = limit.saturating_sub(fixed_locked_bytes()) / cores as u64;
    let buffer = (per_core / IO_RINGS_PER_EXECUTOR).saturating_sub(RING_MEMORY_BYTES as u64);
    let fit = (buffer.min(IO_MEMORY_AUTO_MAX_BYTES as u64) as usize) / PAGE_BYTES * PAGE_BYTES;
    if fit < IO_MEMORY_MIN_BYTES {
        return Err(refuse(IO_MEMORY_MIN_BYTES));
    }
    Ok(plan(fit, (fit < IO_MEMORY_AUTO_MAX_BYTES).then_some(limit)))
}

/// This process's locked-memory limit in bytes, or `None` when nothing
/// limits what io_uring may pin (an unlimited limit, or CAP_IPC_LOCK,
/// which root normally holds).
pub(crate) fn memlock_limit() -> Option<u64> {
    if holds_ipc_lock() {
        return None;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// Whether CAP_IPC_LOCK is in this process's effective set, from
/// `/proc/self/status`. Unreadable counts as not held: the limit then
/// applies, which at worst makes the buffers smaller than they could be.
fn holds_ipc_lock() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK_BIT) != 0)
}

/// `bytes` in KiB, rounded up: the unit of `ulimit -l`.
pub(crate) fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn the_formula_matches_what_was_measured() {
        const KIB: usize = 1024;
        // With every executor registering the same size: under an 8 MiB
        // limit, two executors registered 1348 KiB each but not 1352, and
        // three registered 892 KiB but not 896; three at 208 KiB needed
        // exactly 2024 KiB (not 2020).
        let node = |executors: u64, size: usize| {
            executors * executor_locked_bytes(size) + PROBE_RING_BYTES as u64
        };
        assert!(node(2, 1348 * KIB) <= 8 * MIB);
        assert!(node(2, 1352 * KIB) > 8 * MIB);
        assert!(node(3, 892 * KIB) <= 8 * MIB);
        assert!(node(3, 896 * KIB) > 8 * MIB);
        assert_eq!(node(3, 208 * KIB), 2024 * KIB as u64);
        // The default 2 MiB on two cores, with the gateway at 64 KiB.
        assert_eq!(locked_bytes(2, 2 * MIB as usize), 12_632 * 1024);
    }

    #[test]
    fn unlimited_takes_what_was_asked_or_the_default() {
        assert_eq!(plan(0, 64, None).unwrap().core_bytes, 2 * MIB as usize);
        assert_eq!(plan(1 << 24, 2, None).unwrap().core_bytes, 1 << 24);
    }

    #[test]
    fn the_default_shrinks_to_fit_8_mib_on_two_cores() {
        let plan = plan(0, 2, Some(8 * MIB)).unwrap();
        assert_eq!(plan.shrunk_by_limit, Some(8 * MIB));
        assert!(plan.core_bytes < 2 * MIB as usize);
        assert_eq!(plan.core_bytes % PAGE_BYTES, 0);
        assert!(locked_bytes(2, plan.core_bytes) <= 8 * MIB);
        assert!(locked_bytes(2, plan.core_bytes + PAGE_BYTES) > 8 * MIB);
        // One core fits the whole default.
        let one = super::plan(0, 1, Some(8 * MIB)).unwrap();
        assert_eq!(
            (one.core_bytes, one.shrunk_by_limit),
            (2 * MIB as usize, None)
        );
    }

    #[test]
    fn a_limit_below_the_smallest_buffers_is_refused_with_the_figure_needed() {
        let Err(StartError::MemoryLock { needed_bytes, .. }) = plan(0, 2, Some(64 * 1024)) else {
            panic!("64 KiB cannot start a node");
        };
        assert_eq!(needed_bytes, 728 * 1024);
        // Below glommio's own floor even when the buffers would fit.
        let Err(StartError::MemoryLock { needed_bytes, .. }) = plan(0, 1, Some(400 * 1024)) else {
            panic!("glommio refuses under 512 KiB");
        };
        assert_eq!(needed_bytes, GLOMMIO_MEMLOCK_MIN_BYTES);
        // 64 cores need more than 8 MiB even at the smallest size.
        assert!(plan(0, 64, Some(8 * MIB)).is_err());
    }

    #[test]
    fn an_explicit_size_that_does_not_fit_is_refused_not_shrunk() {
        let Err(StartError::MemoryLock { needed_bytes, .. }) =
            plan(2 * MIB as usize, 2, Some(8 * MIB))
        else {
            panic!("2 MiB on 2 cores needs 12632 KiB");
        };
        assert_eq!(kib(needed_bytes), 12_632);
        assert_eq!(
            plan(MIB as usize, 2, Some(8 * MIB)).unwrap().core_bytes,
            MIB as usize
        );
    }
}
