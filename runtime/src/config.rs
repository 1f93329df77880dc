//! A node's configuration: every setting, its default and why, and the
//! checks that turn a bad value into a message naming it.

use std::net::{SocketAddr, ToSocketAddrs};

use serde::{Deserialize, Deserializer};

use crate::ring::GROUPS_MAX;

/// Where `pinwheel serve` listens when told nothing.
pub const LISTEN_DEFAULT: &str = "127.0.0.1:7379";
/// Default number of shard groups. 64 spreads keys evenly over any core
/// count up to 64 and keeps per-group overhead (a map, later a Paxos log)
/// small.
pub const GROUPS_DEFAULT: u32 = 64;
/// Default most clients connected at once, over all cores.
pub const CONNECTIONS_MAX_DEFAULT: usize = 10_000;
/// Default longest key: 64 KiB. A coordination store's keys are names;
/// a bound keeps one client from filling memory with one key.
pub const KEY_MAX_BYTES_DEFAULT: usize = 64 * 1024;
/// Default most keys per node (split evenly over the groups).
pub const KEYS_MAX_DEFAULT: usize = 100_000_000;
/// Default capacity, in messages, of each one-way queue between two cores.
/// A full queue makes the sender wait (backpressure), never grow.
pub const CORE_QUEUE_CAPACITY_DEFAULT: usize = 1024;
/// Default io_uring buffer memory per core: 0, the node's choice, which is
/// 2 MiB or less when the locked-memory limit (`ulimit -l`) cannot cover
/// that (see `runtime/src/io_memory.rs`: a node pins
/// `3 × (cores × io-memory-bytes + 64 KiB)`; CAP_IPC_LOCK lifts the limit).
pub const IO_MEMORY_BYTES_DEFAULT: usize = 0;
/// Default pause between active expiry sweeps on each core.
pub const SWEEP_INTERVAL_MS_DEFAULT: u64 = 100;
/// Default most expired keys one sweep removes per core, so a sweep never
/// stalls the core's clients for long.
pub const SWEEP_KEYS_MAX_DEFAULT: usize = 1_000;

/// A node's settings. In TOML the keys are spelled as the command-line flags
/// (`listen`, `cores`, `max-connections`...); unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Config {
    /// Client address. `None` (the embedding default) opens no socket. In
    /// TOML a host name is accepted and resolved (see [`resolve_listen`]).
    #[serde(deserialize_with = "listen_from_text")]
    pub listen: Option<SocketAddr>,
    /// Cores to run on, one pinned executor each. 0 means every core.
    pub cores: usize,
    /// Shard groups the key space is split into; fixed for a cluster's life.
    pub groups: u32,
    /// Log filter for the binary (`error`, `warn`, `info`, `debug`, `trace`
    /// or a tracing filter); the runtime itself only emits events.
    pub log_level: String,
    /// Most clients connected at once, over all cores.
    pub max_connections: usize,
    /// Longest argument (bulk string), in bytes; also the longest value.
    pub max_bulk_bytes: usize,
    /// Most arguments in one command, its name included.
    pub max_args: usize,
    /// Longest inline (telnet-style) command, in bytes.
    pub max_inline_bytes: usize,
    /// Most bytes one command may take while it is received.
    pub max_command_bytes: usize,
    /// Most reply bytes a connection may have unanswered.
    pub max_reply_buffer_bytes: usize,
    /// Longest key, in bytes.
    pub max_key_bytes: usize,
    /// Most keys the node holds (split evenly over the groups).
    pub max_keys: usize,
    /// Capacity of each queue between two cores, in messages.
    pub core_queue_capacity: usize,
    /// io_uring buffer memory glommio registers (locks) per core, in
    /// bytes; 0 lets the node choose what the locked-memory limit allows,
    /// up to 2 MiB. An explicit value the limit cannot cover is an error
    /// at start.
    pub io_memory_bytes: usize,
    /// Pause between active expiry sweeps, in milliseconds.
    pub sweep_interval_ms: u64,
    /// Most expired keys one sweep removes per core.
    pub sweep_keys_max: usize,
    /// Hand a connection to the core that owns the keys it keeps using
    /// (see `HANDOFF_AFTER_COMMANDS`); false keeps every connection on
    /// the core that accepted it.
    pub move_connections: bool,
}

impl Default for Config {
    fn default() -> Self {
        let protocol = pinwheel_net::ProtocolLimits::default();
        Config {
            listen: None,
            cores: 0,
            groups: GROUPS_DEFAULT,
            log_level: "info".to_string(),
            max_connections: CONNECTIONS_MAX_DEFAULT,
            max_bulk_bytes: protocol.bulk_max_bytes,
            max_args: protocol.args_max,
            max_inline_bytes: protocol.inline_max_bytes,
            max_command_bytes: protocol.command_max_bytes,
            max_reply_buffer_bytes: protocol.reply_buffer_max_bytes,
            max_key_bytes: KEY_MAX_BYTES_DEFAULT,
            max_keys: KEYS_MAX_DEFAULT,
            core_queue_capacity: CORE_QUEUE_CAPACITY_DEFAULT,
            io_memory_bytes: IO_MEMORY_BYTES_DEFAULT,
            sweep_interval_ms: SWEEP_INTERVAL_MS_DEFAULT,
            sweep_keys_max: SWEEP_KEYS_MAX_DEFAULT,
            move_connections: true,
        }
    }
}

/// Resolves `HOST:PORT`, where HOST is an IP address (IPv6 in brackets)
/// or a name, to one address. A name that resolves to several addresses
/// (`localhost` may give 127.0.0.1 and ::1) gives the first the system
/// resolver returns; the node's start-up line shows which it bound.
pub fn resolve_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if text
        .rsplit_once(':')
        .is_none_or(|(host, _)| host.is_empty())
    {
        return Err(format!("'{text}' is not HOST:PORT"));
    }
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{text}': {e}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("'{text}' resolves to no address"))
}

fn listen_from_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    resolve_listen(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A setting with a value it cannot take.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid value for '{key}': {reason}")]
pub struct ConfigError {
    /// The setting, spelled as its flag and TOML key.
    pub key: &'static str,
    /// What is wrong with the value.
    pub reason: String,
}

fn check(ok: bool, key: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError {
            key,
            reason: reason.into(),
        })
    }
}

impl Config {
    /// The cores a node with this configuration runs on.
    pub fn core_count(&self) -> usize {
        if self.cores == 0 {
            available_cores()
        } else {
            self.cores
        }
    }

    /// Checks every setting; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let available = available_cores();
        check(
            self.cores <= available,
            "cores",
            format!("{} asked, this machine has {available}", self.cores),
        )?;
        check(
            (1..=GROUPS_MAX).contains(&self.groups),
            "groups",
            format!("must be 1..={GROUPS_MAX}"),
        )?;
        check(
            self.groups as usize >= self.core_count(),
            "groups",
            "must be at least the number of cores, or some cores own nothing",
        )?;
        positive(self.max_connections, "max-connections")?;
        positive(self.max_bulk_bytes, "max-bulk-bytes")?;
        positive(self.max_args, "max-args")?;
        positive(self.max_inline_bytes, "max-inline-bytes")?;
        check(
            self.max_command_bytes >= self.max_bulk_bytes,
            "max-command-bytes",
            "must be at least max-bulk-bytes",
        )?;
        positive(self.max_reply_buffer_bytes, "max-reply-buffer-bytes")?;
        positive(self.max_key_bytes, "max-key-bytes")?;
        positive(self.max_keys, "max-keys")?;
        positive(self.core_queue_capacity, "core-queue-capacity")?;
        check(
            self.io_memory_bytes == 0
                || self.io_memory_bytes >= crate::io_memory::IO_MEMORY_MIN_BYTES,
            "io-memory-bytes",
            "must be 0 (fit the locked-memory limit) or at least 65536",
        )?;
        positive(self.sweep_interval_ms as usize, "sweep-interval-ms")?;
        positive(self.sweep_keys_max, "sweep-keys-max")
    }

    /// The protocol limits each connection enforces.
    pub fn protocol_limits(&self) -> pinwheel_net::ProtocolLimits {
        pinwheel_net::ProtocolLimits {
            bulk_max_bytes: self.max_bulk_bytes,
            args_max: self.max_args,
            inline_max_bytes: self.max_inline_bytes,
            command_max_bytes: self.max_command_bytes,
            reply_buffer_max_bytes: self.max_reply_buffer_bytes,
        }
    }

    /// The limits each shard group enforces.
    pub fn group_limits(&self) -> pinwheel_state::Limits {
        pinwheel_state::Limits {
            key_max_bytes: self.max_key_bytes,
            value_max_bytes: self.max_bulk_bytes,
            keys_max: self.max_keys.div_ceil(self.groups as usize),
            ..pinwheel_state::Limits::default()
        }
    }
}

fn positive(value: usize, key: &'static str) -> Result<(), ConfigError> {
    check(value > 0, key, "must be greater than 0")
}

/// Cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
