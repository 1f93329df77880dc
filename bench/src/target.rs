//! What to measure: `redis://host:port[,host:port...]` or
//! `etcd://host:port[,...]`, and how to spread requests over the addresses
//! of one cluster.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::rng::Rng;

/// Port assumed for `redis://host` without one.
pub const REDIS_PORT_DEFAULT: u16 = 6379;
/// Port assumed for `etcd://host` without one: etcd's client port.
pub const ETCD_PORT_DEFAULT: u16 = 2379;
/// Most addresses in one target.
pub const TARGET_ADDRESSES_MAX: usize = 64;

/// The protocol a target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2 over TCP: Pinwheel, Redis, Valkey, Dragonfly...
    Redis,
    /// etcd v3 through its JSON gateway (HTTP/1.1) on the client port.
    Etcd,
}

/// One server address of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// As written on the command line (`host:port`), for reports and the
    /// HTTP `Host` header.
    pub name: String,
    /// Where it resolved to.
    pub addr: SocketAddr,
}

/// A server (or the addresses of one cluster) to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What reports, tables and plots call it: the `NAME=` given before
    /// the URL, or the URL.
    pub name: String,
    /// The URL as given.
    pub url: String,
    /// How to speak to it.
    pub protocol: Protocol,
    /// Its addresses, at least one.
    pub endpoints: Vec<Endpoint>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name == self.url {
            f.write_str(&self.url)
        } else {
            write!(f, "{} ({})", self.name, self.url)
        }
    }
}

/// Longest target name, in characters.
pub const TARGET_NAME_MAX_CHARS: usize = 64;

/// Parses a `--target` `[NAME=]URL` and resolves its addresses.
pub fn parse_target(text: &str) -> Result<Target, String> {
    let (name, url) = match text.split_once('=') {
        Some((name, url)) if !name.contains("://") => (Some(name), url),
        _ => (None, text),
    };
    if let Some(name) = name {
        if name.is_empty() || name.chars().count() > TARGET_NAME_MAX_CHARS {
            return Err(format!(
                "`{text}`: a target name is 1 to {TARGET_NAME_MAX_CHARS} characters before `=`"
            ));
        }
    }
    let mut target = parse_url(url)?;
    if let Some(name) = name {
        target.name = name.to_string();
    }
    Ok(target)
}

fn parse_url(url: &str) -> Result<Target, String> {
    let (protocol, rest, port) = if let Some(rest) = url.strip_prefix("redis://") {
        (Protocol::Redis, rest, REDIS_PORT_DEFAULT)
    } else if let Some(rest) = url.strip_prefix("etcd://") {
        (Protocol::Etcd, rest, ETCD_PORT_DEFAULT)
    } else {
        return Err(format!(
            "`{url}`: expected redis://host:port or etcd://host:port"
        ));
    };
    let hosts = rest.strip_suffix('/').unwrap_or(rest);
    if hosts.contains(['/', '@', '?']) {
        return Err(format!(
            "`{url}`: paths, credentials and options are not supported"
        ));
    }
    let endpoints = hosts
        .split(',')
        .map(|host| endpoint(host, port))
        .collect::<Result<Vec<_>, _>>()?;
    if endpoints.len() > TARGET_ADDRESSES_MAX {
        return Err(format!(
            "`{url}`: more than {TARGET_ADDRESSES_MAX} addresses"
        ));
    }
    Ok(Target {
        name: url.to_string(),
        url: url.to_string(),
        protocol,
        endpoints,
    })
}

fn endpoint(host: &str, port_default: u16) -> Result<Endpoint, String> {
    if host.is_empty() {
        return Err("empty address in target".into());
    }
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !host.ends_with(']');
    let name = if has_port {
        host.to_string()
    } else {
        format!("{host}:{port_default}")
    };
    let addr = name
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{name}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{name}` resolves to no address"))?;
    Ok(Endpoint { name, addr })
}

/// Client-side load balancing over a target's addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Balance {
    /// Uniformly random, seeded.
    Random,
    /// Each address in turn.
    RoundRobin,
    /// Smooth weighted round-robin (nginx's): address `i` gets
    /// `w_i / sum(w)` of the requests, interleaved rather than in bursts.
    Weighted(Vec<u32>),
    /// The address with the lowest recent latency (an exponentially
    /// weighted moving average), with every address probed now and then
    /// so a recovered one is noticed.
    LeastLatency,
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Balance::Random => f.write_str("random"),
            Balance::RoundRobin => f.write_str("round-robin"),
            Balance::LeastLatency => f.write_str("least-latency"),
            Balance::Weighted(w) => {
                let w: Vec<String> = w.iter().map(u32::to_string).collect();
                write!(f, "weighted:{}", w.join(","))
            }
        }
    }
}

/// Parses `--balance`.
pub fn parse_balance(text: &str) -> Result<Balance, String> {
    match text {
        "random" => Ok(Balance::Random),
        "round-robin" => Ok(Balance::RoundRobin),
        "least-latency" => Ok(Balance::LeastLatency),
        _ => {
            let weights = text.strip_prefix("weighted:").ok_or_else(|| {
                format!(
                    "`{text}`: expected random, round-robin, weighted:W1,W2,... or least-latency"
                )
            })?;
            let weights = weights
                .split(',')
                .map(|w| {
                    w.parse::<u32>()
                        .map_err(|_| format!("weight `{w}` is not a whole number"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if weights.iter().all(|&w| w == 0) {
                return Err("weights are all zero".into());
            }
            Ok(Balance::Weighted(weights))
        }
    }
}

/// Weight of the newest sample in the least-latency average.
const EWMA_NEW_WEIGHT: f64 = 0.1;
/// Least-latency sends one request in this many round-robin, so every
/// address keeps a fresh estimate.
const LEAST_LATENCY_PROBE_EVERY: u64 = 64;

/// One load thread's balancer state.
#[derive(Debug)]
pub struct Balancer {
    kind: Balance,
    count: usize,
    picks: u64,
    current: Vec<i64>,
    ewma_ns: Vec<f64>,
    rng: Rng,
}

impl Balancer {
    /// A balancer over `count` addresses.
    pub fn new(kind: Balance, count: usize, seed: u64) -> Balancer {
        assert!(count >= 1);
        if let Balance::Weighted(w) = &kind {
            assert_eq!(w.len(), count, "checked when the flags were read");
        }
        Balancer {
            kind,
            count,
            picks: 0,
            current: vec![0; count],
            ewma_ns: vec![0.0; count],
            rng: Rng::new(seed),
        }
    }

    /// The address for the next request.
    pub fn pick(&mut self) -> usize {
        self.picks += 1;
        if self.count == 1 {
            return 0;
        }
        let round_robin = (self.picks % self.count as u64) as usize;
        match &self.kind {
            Balance::Random => self.rng.below(self.count as u64) as usize,
            Balance::RoundRobin => round_robin,
            Balance::Weighted(weights) => {
                let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
                let mut best = 0;
                for (i, &w) in weights.iter().enumerate() {
                    self.current[i] += i64::from(w);
                    if self.current[i] > self.current[best] {
                        best = i;
                    }
                }
                self.current[best] -= total;
                best
            }
            Balance::LeastLatency => {
                if self.picks.is_multiple_of(LEAST_LATENCY_PROBE_EVERY) {
                    // Probes take their own turn: `picks % count` at every
                    // 64th pick would probe the same address forever.
                    let probe = self.picks / LEAST_LATENCY_PROBE_EVERY;
                    return (probe % self.count as u64) as usize;
                }
                let mut best = 0;
                for i in 1..self.count {
                    if self.ewma_ns[i] < self.ewma_ns[best] {
                        best = i;
                    }
                }
                best
            }
        }
    }

    /// Feeds a completed request's latency to least-latency.
    pub fn observe(&mut self, address: usize, latency_ns: u64) {
        let old = self.ewma_ns[address];
        let sample = latency_ns as f64;
        self.ewma_ns[address] = if old == 0.0 {
            sample
        } else {
            old + EWMA_NEW_WEIGHT * (sample - old)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_target("redis://127.0.0.1:7379,127.0.0.2").unwrap();
        assert_eq!(t.protocol, Protocol::Redis);
        assert_eq!(t.endpoints[1].name, "127.0.0.2:6379");
        assert_eq!(
            parse_target("etcd://127.0.0.1").unwrap().endpoints[0]
                .addr
                .port(),
            2379
        );
        assert!(parse_target("http://x").is_err());
        assert!(parse_target("redis://").is_err());
        assert!(parse_target("redis://a@127.0.0.1").is_err());
    }

    #[test]
    fn names() {
        let unnamed = parse_target("redis://127.0.0.1:7379").unwrap();
        assert_eq!(unnamed.name, "redis://127.0.0.1:7379");
        assert_eq!(unnamed.to_string(), "redis://127.0.0.1:7379");
        let named = parse_target("pinwheel=redis://127.0.0.1:7379").unwrap();
        assert_eq!(
            (named.name.as_str(), named.url.as_str()),
            ("pinwheel", "redis://127.0.0.1:7379")
        );
        assert_eq!(named.to_string(), "pinwheel (redis://127.0.0.1:7379)");
        assert!(parse_target("=redis://127.0.0.1").is_err());
        assert!(parse_target(&format!("{}=redis://127.0.0.1", "n".repeat(65))).is_err());
        assert!(parse_target("x=nowhere").is_err());
    }

    #[test]
    fn weighted_follows_weights() {
        let mut b = Balancer::new(Balance::Weighted(vec![3, 1]), 2, 1);
        let picks: Vec<usize> = (0..8).map(|_| b.pick()).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 6);
    }

    #[test]
    fn least_latency_prefers_the_fast_one() {
        let mut b = Balancer::new(Balance::LeastLatency, 2, 1);
        b.observe(0, 900);
        b.observe(1, 100);
        let fast = (0..100).filter(|_| b.pick() == 1).count();
        assert!(fast > 90, "{fast}");
    }

    #[test]
    fn least_latency_still_probes_every_slow_address() {
        for count in 2..=3 {
            for slow in 0..count {
                let mut b = Balancer::new(Balance::LeastLatency, count, 1);
                for address in 0..count {
                    b.observe(address, if address == slow { 900 } else { 100 });
                }
                let picks = 64 * count * 4;
                let probes = (0..picks).filter(|_| b.pick() == slow).count();
                assert_eq!(probes, 4, "slow address {slow} of {count}");
            }
        }
    }
}
