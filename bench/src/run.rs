//! One target's run: preload, connect, start the load threads, gather
//! their progress and results into a [`Report`].

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hdrhistogram::Histogram;

use crate::config::RunConfig;
use crate::driver::{self, histogram, Plan, ThreadResult, Tick, Worker, TICK};
use crate::proto::Codec;
use crate::report::{AddressReport, ErrorMessages, Report};
use crate::target::{Protocol, Target};
use crate::workload::{Cmd, CmdKind, Values};

/// How long the first connection to each address may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between connecting and the first request, so every thread
/// starts on the same instant.
const START_DELAY: Duration = Duration::from_millis(20);
/// Most keys written before a read workload; above it the run reads
/// whatever is there.
pub const PRELOAD_KEYS_MAX: u64 = 10_000_000;
/// Keys written per round trip while preloading.
const PRELOAD_BATCH: u64 = 512;
/// Longest a preload may take.
const PRELOAD_TIME_MAX: Duration = Duration::from_secs(120);
/// How long the gatherer waits for a thread's tick before looking again.
const TICK_POLL: Duration = Duration::from_millis(50);

/// A second of progress, for the live line.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The target's URL.
    pub target: String,
    /// Seconds since warm-up began.
    pub second: u64,
    /// Whether this second was still warm-up.
    pub warmup: bool,
    /// Successful operations in the second.
    pub ops: u64,
    /// Errors in the second.
    pub errors: u64,
    /// 99th percentile latency in the second, in microseconds.
    pub p99_us: f64,
}

/// Runs every target in turn with the same settings.
pub fn run_all(
    cfg: &RunConfig,
    progress: &mut dyn FnMut(&Progress),
) -> anyhow::Result<Vec<Report>> {
    cfg.validate().map_err(anyhow::Error::msg)?;
    cfg.targets
        .iter()
        .map(|target| run_target(cfg, target, progress))
        .collect()
}

/// Measures one target.
pub fn run_target(
    cfg: &RunConfig,
    target: &Target,
    progress: &mut dyn FnMut(&Progress),
) -> anyhow::Result<Report> {
    let values = Values::new(cfg.value_size, cfg.verify, cfg.seed);
    let codec = |thread: usize| {
        let owner = format!("pwb-{}-{}-", cfg.seed, thread);
        Codec::new(
            target.protocol,
            cfg.workload.clone(),
            values.clone(),
            cfg.verify,
            owner,
        )
    };
    if cfg.workload.reads() {
        preload(cfg, target, &mut codec(usize::MAX))?;
    }
    let threads = (cfg.threads as usize).min(cfg.connections as usize);
    let mut groups: Vec<Vec<Vec<std::net::TcpStream>>> = (0..threads).map(|_| Vec::new()).collect();
    for client in 0..cfg.connections as usize {
        let mut sockets = Vec::with_capacity(target.endpoints.len());
        for endpoint in &target.endpoints {
            let socket = driver::connect(endpoint.addr, CONNECT_TIMEOUT)
                .with_context(|| format!("connecting to {} ({})", endpoint.name, target))?;
            sockets.push(socket);
        }
        groups[client % threads].push(sockets);
    }
    let t0 = Instant::now() + START_DELAY;
    let measure_start = t0 + cfg.warmup;
    let (ticks, tick_rx) = mpsc::channel();
    let plan = Plan {
        cfg,
        target,
        t0,
        measure_start,
        end: measure_start + cfg.duration,
        ticks,
    };
    let results = std::thread::scope(|scope| -> anyhow::Result<Vec<ThreadResult>> {
        let mut handles = Vec::new();
        for (thread, clients) in groups.into_iter().enumerate() {
            let share = clients.len() as f64 / cfg.connections as f64;
            let worker = Worker::new(&plan, thread, clients, share, codec(thread))
                .context("setting up a load thread")?;
            handles.push(
                std::thread::Builder::new()
                    .name(format!("load-{thread}"))
                    .spawn_scoped(scope, || worker.run())?,
            );
        }
        gather_ticks(&plan, &tick_rx, threads, &handles, progress);
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a load thread panicked"))
            })
            .collect()
    })?;
    Ok(report(cfg, target, results))
}

/// Prints a progress line whenever every thread has reported a second.
fn gather_ticks<T>(
    plan: &Plan<'_>,
    rx: &mpsc::Receiver<Tick>,
    threads: usize,
    handles: &[std::thread::ScopedJoinHandle<'_, T>],
    progress: &mut dyn FnMut(&Progress),
) {
    let mut seconds: BTreeMap<u64, (usize, u64, u64, Histogram<u64>)> = BTreeMap::new();
    let mut on_tick = |tick: Tick| {
        let entry = seconds
            .entry(tick.index)
            .or_insert_with(|| (0, 0, 0, histogram()));
        entry.0 += 1;
        entry.1 += tick.ops;
        entry.2 += tick.errors;
        let _ = entry.3.add(&tick.hist);
        if entry.0 == threads {
            let (_, ops, errors, hist) = seconds
                .remove(&tick.index)
                .unwrap_or_else(|| (0, 0, 0, histogram()));
            let start = plan.t0 + TICK * tick.index as u32;
            progress(&Progress {
                target: plan.target.name.clone(),
                second: tick.index + 1,
                warmup: start < plan.measure_start,
                ops,
                errors,
                p99_us: hist.value_at_quantile(0.99) as f64 / 1e3,
            });
        }
    };
    while !handles.iter().all(|h| h.is_finished()) {
        if let Ok(tick) = rx.recv_timeout(TICK_POLL) {
            on_tick(tick);
        }
    }
    while let Ok(tick) = rx.try_recv() {
        on_tick(tick);
    }
}

fn report(cfg: &RunConfig, target: &Target, results: Vec<ThreadResult>) -> Report {
    let mut hist = histogram();
    let mut ops = 0;
    let mut errors = BTreeMap::new();
    let mut messages = ErrorMessages::default();
    let mut per_address: Vec<(u64, Histogram<u64>)> =
        target.endpoints.iter().map(|_| (0, histogram())).collect();
    for result in results {
        let _ = hist.add(&result.hist);
        ops += result.ops;
        for (kind, count) in result.errors {
            *errors.entry(kind).or_insert(0) += count;
        }
        messages.merge(result.error_messages);
        for (mine, theirs) in per_address.iter_mut().zip(result.per_address) {
            mine.0 += theirs.0;
            let _ = mine.1.add(&theirs.1);
        }
    }
    let addresses = target
        .endpoints
        .iter()
        .zip(&per_address)
        .map(|(endpoint, (ops, hist))| AddressReport {
            address: endpoint.name.clone(),
            ops: *ops,
            p50_us: us(hist.value_at_quantile(0.5)),
            p99_us: us(hist.value_at_quantile(0.99)),
        })
        .collect();
    Report::new(cfg, target, &hist, ops, errors, messages, addresses)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

/// Writes every key once (through the first address) so reads find
/// values, and with `--verify` the values reads will be checked against.
fn preload(cfg: &RunConfig, target: &Target, codec: &mut Codec) -> anyhow::Result<()> {
    if cfg.keys > PRELOAD_KEYS_MAX {
        eprintln!(
            "pinwheel-bench: {} keys is over {PRELOAD_KEYS_MAX}; not preloading",
            cfg.keys
        );
        return Ok(());
    }
    let endpoint = &target.endpoints[0];
    let deadline = Instant::now() + PRELOAD_TIME_MAX;
    let mut socket = std::net::TcpStream::connect_timeout(&endpoint.addr, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {} to preload", endpoint.name))?;
    socket.set_nodelay(true)?;
    let mut out = Vec::new();
    let mut inbuf = Vec::new();
    let mut errors = 0u64;
    let batch = if target.protocol == Protocol::Etcd {
        1
    } else {
        PRELOAD_BATCH
    };
    let mut key = 0;
    while key < cfg.keys {
        let end = (key + batch).min(cfg.keys);
        out.clear();
        for k in key..end {
            codec.encode(
                &Cmd {
                    kind: CmdKind::Set,
                    key: k,
                    token: 0,
                },
                &endpoint.name,
                &mut out,
            );
        }
        socket.write_all(&out)?;
        errors += read_replies(&mut socket, codec, &mut inbuf, end - key, deadline)?;
        key = end;
    }
    if errors > 0 {
        eprintln!(
            "pinwheel-bench: preloading {target}: {errors} of {} writes failed",
            cfg.keys
        );
    }
    Ok(())
}

/// Reads `count` replies, answering how many were errors.
fn read_replies(
    socket: &mut std::net::TcpStream,
    codec: &mut Codec,
    inbuf: &mut Vec<u8>,
    count: u64,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut seen, mut errors) = (0, 0);
    while seen < count {
        match codec.scan(inbuf).map_err(anyhow::Error::msg)? {
            Some(frame) => {
                let cmd = Cmd {
                    kind: CmdKind::Set,
                    key: 0,
                    token: 0,
                };
                let bytes: Vec<u8> = inbuf.drain(..frame.len).collect();
                errors +=
                    u64::from(codec.classify(&cmd, frame, &bytes) != crate::proto::Outcome::Done);
                seen += 1;
            }
            None => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    bail!("preloading took over {}s", PRELOAD_TIME_MAX.as_secs());
                }
                socket.set_read_timeout(Some(left))?;
                let n = socket.read(&mut chunk)?;
                if n == 0 {
                    bail!("the server closed the connection while preloading");
                }
                inbuf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    Ok(errors)
}
