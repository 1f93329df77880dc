//! How many clients the process's open-file limit (`RLIMIT_NOFILE`,
//! `ulimit -n`) leaves room for. Every client takes a descriptor; a node
//! whose `max-connections` is above what the limit allows runs out of
//! descriptors before its connection limit, and then new clients wait
//! unanswered in the kernel's accept queue instead of being refused.

/// Descriptors kept for the process's own use whatever the core count,
/// as Redis keeps 32 (`CONFIG_MIN_RESERVED_FDS`): standard streams, logs,
/// the gateway executor, a refused client's socket while it is told why.
pub const RESERVED_DESCRIPTORS: usize = 32;
/// Descriptors kept per core: its io_uring rings (three), an eventfd and
/// its listener are five (measured); the rest covers the duplicate a
/// connection moving to another core holds for a moment.
pub const RESERVED_DESCRIPTORS_PER_CORE: usize = 8;

/// Descriptors a node on `cores` cores keeps for itself.
pub fn reserved_descriptors(cores: usize) -> usize {
    RESERVED_DESCRIPTORS + RESERVED_DESCRIPTORS_PER_CORE * cores
}

/// The most clients, at most `wanted`, that the open-file limit allows a
/// node on `cores` cores. When the soft limit is short of what `wanted`
/// needs, it is first raised toward that (at most to the hard limit), as
/// Redis does. Without a limit to read, `wanted` is taken on trust.
pub fn clients_allowed(wanted: usize, cores: usize) -> usize {
    let reserved = reserved_descriptors(cores);
    let needed = wanted.saturating_add(reserved) as u64;
    let Some((soft, hard)) = nofile_limit() else {
        return wanted;
    };
    let soft = if soft < needed {
        raise_soft_limit(needed.min(hard), hard).unwrap_or(soft)
    } else {
        soft
    };
    wanted.min(
        usize::try_from(soft)
            .unwrap_or(usize::MAX)
            .saturating_sub(reserved),
    )
}

/// The soft and hard `RLIMIT_NOFILE`.
fn nofile_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit writes the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0).then_some((limit.rlim_cur, limit.rlim_max))
}

/// Sets the soft limit to `soft`; the limit in force afterwards.
fn raise_soft_limit(soft: u64, hard: u64) -> Option<u64> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // Safety: setrlimit only reads the struct it is given.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    if set != 0 {
        return None;
    }
    nofile_limit().map(|(soft, _)| soft)
}

/// The start-up check: `max_connections` lowered to what the limit
/// allows, with one warning line saying so and how to raise it. An error
/// message when the limit leaves no descriptor for any client.
pub fn check_at_start(max_connections: usize, cores: usize) -> Result<usize, String> {
    let allowed = clients_allowed(max_connections, cores);
    let reserved = reserved_descriptors(cores);
    let limit = nofile_limit().map_or(0, |(soft, _)| soft);
    if allowed == 0 {
        return Err(format!(
            "the open-file limit (ulimit -n) of {limit} leaves no descriptor for clients: \
             {reserved} are kept for the node itself; raise it to at least {}",
            reserved + 1
        ));
    }
    if allowed < max_connections {
        tracing::warn!(
            "max-connections lowered from {max_connections} to {allowed}: the open-file limit \
             (ulimit -n) is {limit} and {reserved} descriptors are kept for the node itself; \
             raise 'ulimit -n' to at least {} for {max_connections} clients",
            max_connections + reserved
        );
    }
    Ok(allowed)
}
