//! Connection and server commands: answered by the runtime itself, never
//! by a state machine.

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use pinwheel_net::resp::{parse_int, Protocol};
use pinwheel_state::{glob_match, lookup, Cmd, CommandSpec, Keys, Kind, Reply, COMMANDS};

use crate::core::CoreCtx;
use crate::session::SessionState;
use crate::stats::{Stats, LATENCY_SPIKE_MIN_NS};

/// The Redis version whose commands and replies Pinwheel follows; clients
/// that look at `redis_version` to pick features see what they can use.
pub const REDIS_COMPATIBLE_VERSION: &str = "7.2.0";

fn text(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

fn unknown_subcommand(args: &[&[u8]], command: &str) -> Reply {
    Reply::error(format!(
        "ERR unknown subcommand '{}'. Try {command} HELP.",
        crate::exec::printable(args[1], 128)
    ))
}

/// `INFO server`'s statement of what survives a restart: nothing, until
/// the storage issue adds a write-ahead log. Fencing tokens start again at
/// 1 after a restart, so a client holding a token from before could pass
/// a check against a new holder's; operators must know that.
const DURABILITY_INFO: &str = "persistence:none\r\n\
    durability:memory-only-nothing-survives-restart-lock-tokens-restart-at-1\r\n";

/// Answers a `Kind::Server` command.
pub(crate) async fn run(
    ctx: &Rc<CoreCtx>,
    session: &mut SessionState,
    cmd: Cmd,
    args: &[&[u8]],
) -> Reply {
    match cmd {
        Cmd::Ping => match args {
            [_] => Reply::Status("PONG".into()),
            [_, message] => Reply::Bulk(message.to_vec()),
            _ => crate::exec::wrong_arity(cmd.spec()),
        },
        Cmd::Echo => Reply::Bulk(args[1].to_vec()),
        Cmd::Hello => hello(session, args),
        Cmd::Quit => {
            session.quit = true;
            Reply::Ok
        }
        Cmd::Select => match parse_int(args[1]) {
            Some(0) => Reply::Ok,
            Some(_) => Reply::err("ERR DB index is out of range"),
            None => Reply::err("ERR value is not an integer or out of range"),
        },
        Cmd::Command => command(args),
        Cmd::Client => crate::session::client_command(ctx, session, args).await,
        Cmd::Info => info(ctx, args).await.unwrap_or_else(|error| error),
        Cmd::Config => config(ctx, args).await.unwrap_or_else(|error| error),
        Cmd::Time => time(),
        Cmd::Latency => latency(ctx, args).await.unwrap_or_else(|error| error),
        _ => Reply::err("ERR internal: not a server command"),
    }
}

/// Redis's text for a known subcommand given the wrong number of
/// arguments: `'config|get'`.
fn subcommand_arity(args: &[&[u8]]) -> Reply {
    Reply::error(format!(
        "ERR wrong number of arguments for '{}|{}' command",
        String::from_utf8_lossy(args[0]).to_ascii_lowercase(),
        String::from_utf8_lossy(args[1]).to_ascii_lowercase()
    ))
}

fn hello(session: &mut SessionState, args: &[&[u8]]) -> Reply {
    let mut rest = &args[1..];
    if let [version, tail @ ..] = rest {
        match parse_int(version) {
            Some(2) => session.protocol = Protocol::Resp2,
            Some(3) => session.protocol = Protocol::Resp3,
            Some(_) => return Reply::err("NOPROTO unsupported protocol version"),
            None => return Reply::err("ERR Protocol version is not an integer or out of range"),
        }
        rest = tail;
    }
    while let [option, tail @ ..] = rest {
        match (option.to_ascii_uppercase().as_slice(), tail) {
            (b"AUTH", [user, _password, more @ ..]) => {
                // No users are configured: like Redis without requirepass,
                // the default user logs in with any password.
                if !user.eq_ignore_ascii_case(b"default") {
                    return Reply::err(
                        "WRONGPASS invalid username-password pair or user is disabled.",
                    );
                }
                rest = more;
            }
            (b"SETNAME", [name, more @ ..]) => {
                if let Err(error) = session.set_name(name) {
                    return error;
                }
                rest = more;
            }
            _ => {
                return Reply::error(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    crate::exec::printable(option, 64)
                ))
            }
        }
    }
    let protocol = if session.protocol == Protocol::Resp3 {
        3
    } else {
        2
    };
    Reply::Map(vec![
        (text("server"), text("pinwheel")),
        (text("version"), text(REDIS_COMPATIBLE_VERSION)),
        (text("proto"), Reply::Int(protocol)),
        (text("id"), Reply::Int(session.id as i64)),
        (text("mode"), text("standalone")),
        (text("role"), text("master")),
        (text("modules"), Reply::Array(Vec::new())),
    ])
}

fn command(args: &[&[u8]]) -> Reply {
    let Some(sub) = args.get(1) else {
        return Reply::Array(
            COMMANDS
                .iter()
                .filter(|s| s.kind != Kind::Internal)
                .map(command_info)
                .collect(),
        );
    };
    let named = || -> Vec<&'static CommandSpec> {
        args[2..]
            .iter()
            .filter_map(|name| lookup(name))
            .filter(|s| s.kind != Kind::Internal)
            .collect()
    };
    match sub.to_ascii_uppercase().as_slice() {
        b"COUNT" => Reply::Int(COMMANDS.iter().filter(|s| s.kind != Kind::Internal).count() as i64),
        b"LIST" => Reply::Array(
            COMMANDS
                .iter()
                .filter(|s| s.kind != Kind::Internal)
                .map(|s| text(s.name))
                .collect(),
        ),
        b"INFO" => Reply::Array(named().into_iter().map(command_info).collect()),
        b"DOCS" => {
            let specs = if args.len() > 2 {
                named()
            } else {
                COMMANDS
                    .iter()
                    .filter(|s| s.kind != Kind::Internal)
                    .collect()
            };
            Reply::Map(specs.into_iter().map(command_docs).collect())
        }
        b"HELP" if args.len() == 2 => crate::help::reply("COMMAND", crate::help::COMMAND),
        b"HELP" => subcommand_arity(args),
        _ => unknown_subcommand(args, "COMMAND"),
    }
}

/// One `COMMAND INFO` entry in Redis 7's shape.
fn command_info(spec: &CommandSpec) -> Reply {
    let (first, last, step) = match spec.keys {
        Keys::None | Keys::Keyspace => (0, 0, 0),
        Keys::First => (1, 1, 1),
        Keys::Each { step } => (1, -1, i64::from(step)),
    };
    let flags = match spec.kind {
        Kind::Write => vec!["write"],
        Kind::Read => vec!["readonly", "fast"],
        _ => vec!["fast"],
    };
    Reply::Array(vec![
        text(spec.name),
        Reply::Int(i64::from(spec.arity)),
        Reply::Array(flags.into_iter().map(|f| Reply::Status(f.into())).collect()),
        Reply::Int(first),
        Reply::Int(last),
        Reply::Int(step),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

fn command_docs(spec: &CommandSpec) -> (Reply, Reply) {
    let group = match spec.kind {
        Kind::Server => "server",
        _ if spec.name.starts_with("lock.") => "lock",
        _ => "string",
    };
    let mut fields = vec![
        (text("summary"), text(spec.summary)),
        (text("since"), text("1.0.0")),
        (text("group"), text(group)),
    ];
    if let Some(args) = crate::docs::arguments(spec.cmd) {
        let args = args.iter().map(crate::docs::argument_reply).collect();
        fields.push((text("arguments"), Reply::Array(args)));
    }
    (text(spec.name), Reply::Map(fields))
}

fn time() -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        text(&now.as_secs().to_string()),
        text(&now.subsec_micros().to_string()),
    ])
}

/// What one core reports for `INFO`.
pub(crate) struct CoreReport {
    pub stats: Stats,
    pub keys: usize,
    pub expires: usize,
    pub locks: usize,
    pub clients: usize,
}

async fn gather(ctx: &Rc<CoreCtx>) -> Result<Vec<CoreReport>, Reply> {
    ctx.on_all_cores(|c| CoreReport {
        stats: c.stats.borrow().clone(),
        keys: c.with_groups(|gs| gs.iter().map(|g| g.len()).sum()),
        expires: c.with_groups(|gs| gs.iter().map(|g| g.expiring_len()).sum()),
        locks: c.with_groups(|gs| gs.iter().map(|g| g.locks_len()).sum()),
        clients: c.clients.borrow().len(),
    })
    .await
}

const INFO_SECTIONS: [&str; 8] = [
    "server",
    "clients",
    "memory",
    "stats",
    "errorstats",
    "keyspace",
    "cores",
    "latencystats",
];

async fn info(ctx: &Rc<CoreCtx>, args: &[&[u8]]) -> Result<Reply, Reply> {
    let wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "everything" | "default"));
    let reports = gather(ctx).await?;
    let mut total = Stats::default();
    for report in &reports {
        total.merge(&report.stats);
    }
    let mut out = String::new();
    for section in INFO_SECTIONS {
        if all || wanted.iter().any(|w| w == section) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            info_section(ctx, section, &reports, &total, &mut out);
        }
    }
    Ok(Reply::Verbatim(out.into_bytes()))
}

fn info_section(
    ctx: &CoreCtx,
    section: &str,
    reports: &[CoreReport],
    total: &Stats,
    out: &mut String,
) {
    let node = &ctx.node;
    match section {
        "server" => {
            let port = node.listen.map_or(0, |a| a.port());
            let _ = write!(
                out,
                "# Server\r\nredis_version:{REDIS_COMPATIBLE_VERSION}\r\npinwheel_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{port}\r\nuptime_in_seconds:{}\r\nexecutor_cores:{}\r\nshard_groups:{}\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::process::id(),
                node.started.elapsed().as_secs(),
                node.cores,
                node.ring.groups(),
            );
            out.push_str(DURABILITY_INFO);
        }
        "clients" => {
            let _ = write!(
                out,
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n",
                node.gate.open(),
                node.gate.max(),
            );
        }
        "memory" => memory_section(out),
        "stats" => {
            let _ = write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_connections_moved:{}\r\ntotal_commands_processed:{}\r\ntotal_error_replies:{}\r\ntotal_protocol_errors:{}\r\n",
                total.connections_accepted,
                total.connections_moved,
                total.commands_processed(),
                total.errors,
                total.protocol_errors,
            );
        }
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (code, count) in total.error_codes() {
                let _ = write!(out, "errorstat_{code}:count={count}\r\n");
            }
        }
        "keyspace" => {
            let keys: usize = reports.iter().map(|r| r.keys).sum();
            let expires: usize = reports.iter().map(|r| r.expires).sum();
            out.push_str("# Keyspace\r\n");
            if keys > 0 {
                let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
        }
        "cores" => {
            out.push_str("# Cores\r\n");
            for (core, r) in reports.iter().enumerate() {
                let _ = write!(
                    out,
                    "core{core}:keys={},expires={},locks={},clients={},commands={}\r\n",
                    r.keys,
                    r.expires,
                    r.locks,
                    r.clients,
                    r.stats.commands_processed()
                );
            }
        }
        "latencystats" => {
            out.push_str("# Latencystats\r\n");
            for (name, histogram) in total.histograms() {
                let p = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
                let _ = write!(
                    out,
                    "latency_percentiles_usec_{}:p50={:.3},p99={:.3},p99.9={:.3}\r\n",
                    name,
                    p(0.5),
                    p(0.99),
                    p(0.999)
                );
            }
        }
        _ => {}
    }
}

/// `INFO memory` in Redis's field names. `used_memory` is the allocator's
/// own figure (glibc's `mallinfo2`), 0 when it cannot tell.
fn memory_section(out: &mut String) {
    let (usage, peak) = crate::memory::usage_and_peak();
    let used = usage.used.unwrap_or(0);
    let rss = usage.rss.unwrap_or(0);
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:{}\r\n",
        human_bytes(used),
        human_bytes(rss),
        human_bytes(peak),
        if used > 0 { rss as f64 / used as f64 } else { 0.0 },
        crate::memory::MEM_ALLOCATOR,
    );
}

/// Bytes as Redis's `*_human` fields show them: `1.50M`, `812.00K`, `17B`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("T", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("G", 1024.0 * 1024.0 * 1024.0),
        ("M", 1024.0 * 1024.0),
        ("K", 1024.0),
    ];
    let value = bytes as f64;
    match UNITS.iter().find(|(_, size)| value >= *size) {
        Some((unit, size)) => format!("{:.2}{unit}", value / size),
        None => format!("{bytes}B"),
    }
}

async fn latency(ctx: &Rc<CoreCtx>, args: &[&[u8]]) -> Result<Reply, Reply> {
    Ok(match args[1].to_ascii_uppercase().as_slice() {
        b"HISTOGRAM" => {
            let total = merged_stats(ctx).await?;
            let wanted = wanted_commands(&args[2..]);
            let entries = total
                .histograms()
                .filter(|(name, _)| is_wanted(&wanted, name))
                .map(|(name, h)| (text(name), histogram_reply(h)))
                .collect();
            Reply::Map(entries)
        }
        b"DUMP" => {
            let total = merged_stats(ctx).await?;
            let wanted = wanted_commands(&args[2..]);
            let entries = total
                .histograms()
                .filter(|(name, _)| is_wanted(&wanted, name))
                .map(|(name, h)| (text(name), Reply::Bulk(crate::stats::encode_histogram(h))))
                .collect();
            Reply::Map(entries)
        }
        b"LATEST" if args.len() == 2 => latency_latest(&merged_stats(ctx).await?),
        b"DOCTOR" if args.len() == 2 => latency_doctor(&merged_stats(ctx).await?),
        b"RESET" => latency_reset(ctx, &args[2..]).await?,
        b"HELP" if args.len() == 2 => crate::help::reply("LATENCY", crate::help::LATENCY),
        b"LATEST" | b"DOCTOR" | b"HELP" => subcommand_arity(args),
        _ => unknown_subcommand(args, "LATENCY"),
    })
}

/// `LATENCY LATEST` in Redis's shape, one event per command that had a
/// call of [`LATENCY_SPIKE_MIN_NS`] or more (as if Redis's
/// `latency-monitor-threshold` were 1): the command's name, the Unix time
/// of its latest such call in seconds, that call's latency and the slowest
/// one's, in whole milliseconds.
fn latency_latest(total: &Stats) -> Reply {
    let events = total
        .spikes()
        .map(|(cmd, spikes)| {
            Reply::Array(vec![
                text(cmd.spec().name),
                Reply::Int((spikes.latest_at_ms / 1000) as i64),
                Reply::Int((spikes.latest_ns / 1_000_000) as i64),
                Reply::Int((spikes.max_ns / 1_000_000) as i64),
            ])
        })
        .collect();
    Reply::Array(events)
}

/// `LATENCY RESET [command ...]`: forgets the histograms and spikes of the
/// named commands (every command when none is named) on every core;
/// answers how many commands had something to forget.
async fn latency_reset(ctx: &Rc<CoreCtx>, names: &[&[u8]]) -> Result<Reply, Reply> {
    let wanted: Option<Vec<Vec<u8>>> =
        (!names.is_empty()).then(|| names.iter().map(|name| name.to_vec()).collect());
    let reset = ctx
        .on_all_cores(move |c| {
            let wanted: Option<Vec<&[u8]>> = wanted
                .as_ref()
                .map(|names| names.iter().map(Vec::as_slice).collect());
            let mut stats = c.stats.borrow_mut();
            COMMANDS
                .iter()
                .map(|spec| spec.cmd)
                .filter(|cmd| is_wanted(&wanted, cmd.spec().name))
                .filter(|cmd| stats.reset_latency(*cmd))
                .collect::<Vec<Cmd>>()
        })
        .await?;
    let mut forgotten: Vec<Cmd> = reset.into_iter().flatten().collect();
    forgotten.sort_by_key(|cmd| *cmd as usize);
    forgotten.dedup();
    Ok(Reply::Int(forgotten.len() as i64))
}

/// `LATENCY DOCTOR`: a short report from every command's histogram,
/// slowest p99 first.
fn latency_doctor(total: &Stats) -> Reply {
    let mut report = String::from(
        "Pinwheel latency report: each command's service time, merged over every core, since the node started or the last LATENCY RESET or CONFIG RESETSTAT.\n",
    );
    let mut rows: Vec<_> = total.histograms().collect();
    if rows.is_empty() {
        report.push_str("\nNo command has been timed yet.\n");
        return Reply::Verbatim(report.into_bytes());
    }
    rows.sort_by_key(|(_, h)| std::cmp::Reverse(h.value_at_quantile(0.99)));
    let spikes: Vec<_> = total.spikes().collect();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    report.push('\n');
    for (name, histogram) in &rows {
        let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        let _ = write!(
            report,
            "{}: {} calls, p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us",
            name,
            histogram.len(),
            us(0.5),
            us(0.99),
            us(0.999),
            histogram.max() as f64 / 1000.0,
        );
        if let Some((_, s)) = spikes.iter().find(|(c, _)| c.spec().name == *name) {
            let ago_s = now_ms.saturating_sub(s.latest_at_ms) / 1000;
            let _ = write!(
                report,
                "; {} calls of 1 ms or more, the latest {ago_s} s ago",
                s.count
            );
        }
        report.push_str(".\n");
    }
    let slow = rows
        .iter()
        .filter(|(_, h)| h.value_at_quantile(0.99) >= LATENCY_SPIKE_MIN_NS)
        .count();
    report.push_str(if slow == 0 {
        "\nEvery command's p99 is under 1 ms.\n"
    } else {
        "\nSome commands' p99 is 1 ms or more. A LOCK.ACQUIRE with WAIT counts its wait. Otherwise look for cores sharing a CPU with other busy processes (one core per CPU, nothing else pinned there), replies too large to write at once, or clients that read their replies slowly.\n"
    });
    Reply::Verbatim(report.into_bytes())
}

async fn merged_stats(ctx: &Rc<CoreCtx>) -> Result<Stats, Reply> {
    let mut total = Stats::default();
    for report in ctx.on_all_cores(|c| c.stats.borrow().clone()).await? {
        total.merge(&report);
    }
    Ok(total)
}

/// The histograms `LATENCY HISTOGRAM|DUMP name ...` asks for, by name
/// (a command's, or a timing's such as `lock.wait`); `None` for all.
fn wanted_commands<'a>(names: &[&'a [u8]]) -> Option<Vec<&'a [u8]>> {
    (!names.is_empty()).then(|| names.to_vec())
}

fn is_wanted(wanted: &Option<Vec<&[u8]>>, name: &str) -> bool {
    wanted.as_ref().is_none_or(|names| {
        names
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// Redis 7's `LATENCY HISTOGRAM` entry: calls, and cumulative counts at
/// power-of-two microsecond bucket bounds where the count grows.
fn histogram_reply(histogram: &hdrhistogram::Histogram<u64>) -> Reply {
    let mut buckets = Vec::new();
    let mut previous = 0;
    let mut bound_us: u64 = 1;
    while previous < histogram.len() {
        let cumulative = histogram.count_between(0, bound_us * 1000);
        if cumulative > previous {
            buckets.push((Reply::Int(bound_us as i64), Reply::Int(cumulative as i64)));
            previous = cumulative;
        }
        bound_us *= 2;
    }
    Reply::Map(vec![
        (text("calls"), Reply::Int(histogram.len() as i64)),
        (text("histogram_usec"), Reply::Map(buckets)),
    ])
}

/// Settings `CONFIG GET` reports: Redis names clients and tools ask for,
/// and Pinwheel's own, as flags spell them.
fn config_values(ctx: &CoreCtx) -> Vec<(&'static str, String)> {
    let c = &ctx.node.config;
    let port = ctx.node.listen.map_or(0, |a| a.port());
    let bind = ctx
        .node
        .listen
        .map_or(String::new(), |a| a.ip().to_string());
    vec![
        ("bind", bind),
        ("port", port.to_string()),
        ("databases", "1".into()),
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("timeout", "0".into()),
        ("maxmemory", "0".into()),
        ("maxclients", ctx.node.gate.max().to_string()),
        ("proto-max-bulk-len", c.max_bulk_bytes.to_string()),
        ("client-query-buffer-limit", c.max_command_bytes.to_string()),
        ("cores", ctx.node.cores.to_string()),
        ("groups", c.groups.to_string()),
        ("max-connections", ctx.node.gate.max().to_string()),
        ("max-bulk-bytes", c.max_bulk_bytes.to_string()),
        ("max-args", c.max_args.to_string()),
        ("max-inline-bytes", c.max_inline_bytes.to_string()),
        ("max-command-bytes", c.max_command_bytes.to_string()),
        (
            "max-reply-buffer-bytes",
            c.max_reply_buffer_bytes.to_string(),
        ),
        ("max-key-bytes", c.max_key_bytes.to_string()),
        ("max-keys", c.max_keys.to_string()),
        ("core-queue-capacity", c.core_queue_capacity.to_string()),
        ("sweep-interval-ms", c.sweep_interval_ms.to_string()),
        ("sweep-keys-max", c.sweep_keys_max.to_string()),
        (
            "move-connections",
            if c.move_connections { "yes" } else { "no" }.to_string(),
        ),
    ]
}

async fn config(ctx: &Rc<CoreCtx>, args: &[&[u8]]) -> Result<Reply, Reply> {
    Ok(match args[1].to_ascii_uppercase().as_slice() {
        b"GET" if args.len() >= 3 => {
            let values = config_values(ctx);
            let pairs = values
                .into_iter()
                .filter(|(name, _)| {
                    args[2..]
                        .iter()
                        .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
                })
                .map(|(name, value)| (text(name), text(&value)))
                .collect();
            Reply::Map(pairs)
        }
        b"SET" if args.len() >= 4 && args.len().is_multiple_of(2) => config_set(ctx, &args[2..]),
        b"RESETSTAT" if args.len() == 2 => {
            ctx.on_all_cores(|c| *c.stats.borrow_mut() = Stats::default())
                .await?;
            Reply::Ok
        }
        b"HELP" if args.len() == 2 => crate::help::reply("CONFIG", crate::help::CONFIG),
        b"GET" | b"SET" | b"RESETSTAT" | b"HELP" => subcommand_arity(args),
        _ => unknown_subcommand(args, "CONFIG"),
    })
}

/// `CONFIG SET`: the connection limit changes live; `save` and `appendonly`
/// accept the values that describe an in-memory node (so tools that turn
/// persistence off work); the rest are fixed at start.
fn config_set(ctx: &CoreCtx, pairs: &[&[u8]]) -> Reply {
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(pair[0]).to_ascii_lowercase();
        let value = pair[1];
        let accepted = match name.as_str() {
            "maxclients" | "max-connections" => match parse_int(value) {
                Some(n) if n > 0 => {
                    let wanted = usize::try_from(n).unwrap_or(usize::MAX);
                    let allowed = crate::fdlimit::clients_allowed(wanted, ctx.node.cores);
                    if allowed < wanted {
                        return Reply::error(format!(
                            "ERR CONFIG SET failed (possibly related to argument '{name}') - The operating system is not able to handle the specified number of clients, try with {allowed}"
                        ));
                    }
                    ctx.node.gate.set_max(wanted);
                    true
                }
                _ => false,
            },
            "save" => value.is_empty(),
            "appendonly" => value.eq_ignore_ascii_case(b"no"),
            _ if config_values(ctx).iter().any(|(known, _)| *known == name) => {
                return Reply::error(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - can't set immutable config"
                ))
            }
            _ => {
                return Reply::error(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ))
            }
        };
        if !accepted {
            return Reply::error(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer or is not allowed"
            ));
        }
    }
    Reply::Ok
}
