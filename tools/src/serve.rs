//! `pinwheel serve`: settings from defaults, then the config file, then
//! flags; a node until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use pinwheel_runtime::{Config, Node};

/// Exit status for bad flags or configuration, as clap uses for bad flags.
const EXIT_USAGE: u8 = 2;
/// What the start-up line says about durability until storage lands.
const IN_MEMORY_ONLY: &str =
    "in memory only: a restart loses every key and lock, and fencing tokens start again at 1";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve clients on, HOST:PORT; a host name is resolved and
    /// its first address used [default: 127.0.0.1:7379].
    #[arg(long, value_name = "ADDR", value_parser = pinwheel_runtime::resolve_listen)]
    listen: Option<SocketAddr>,
    /// Cores to run on, one pinned executor each; 0 means every core [default: 0].
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Shard groups the key space is split into [default: 64].
    #[arg(long, value_name = "N")]
    groups: Option<u32>,
    /// TOML file whose keys are spelled as these flags (listen, cores, max-connections...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or a tracing filter [default: info].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("pinwheel serve: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// Defaults, overridden by the file, overridden by flags.
fn settle_config(args: &ServeArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => read_config_file(path)?,
        None => Config::default(),
    };
    if config.listen.is_none() {
        config.listen = Some(
            pinwheel_runtime::LISTEN_DEFAULT
                .parse()
                .expect("constant address"),
        );
    }
    if let Some(listen) = args.listen {
        config.listen = Some(listen);
    }
    if let Some(cores) = args.cores {
        config.cores = cores;
    }
    if let Some(groups) = args.groups {
        config.groups = groups;
    }
    if let Some(level) = &args.log_level {
        config.log_level = level.clone();
    }
    config.validate().map_err(|e| e.to_string())?;
    check_log_filter(&config.log_level)
        .map_err(|reason| format!("invalid value for 'log-level': {reason}"))?;
    Ok(config)
}

/// The config file, or a message naming the file and, for bad TOML or a
/// bad value, the line and column.
fn read_config_file(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str::<Config>(&text).map_err(|e| {
        let place = e.span().map_or_else(String::new, |span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!(", line {line}, column {column}")
        });
        format!(
            "invalid config file {}{place}: {}",
            path.display(),
            e.message().trim().replace('\n', "; ")
        )
    })
}

/// Levels a log filter may name.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A log filter is comma-separated directives, each a level or
/// `TARGET=LEVEL`. tracing's own parser takes any bare word as a target
/// with every level enabled for it alone, so a misspelt level (`loud`)
/// would silence every log; that is refused here.
fn check_log_filter(filter: &str) -> Result<(), String> {
    let is_level = |word: &str| LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word));
    let directives: Vec<&str> = filter.split(',').map(str::trim).collect();
    if directives.iter().all(|d| d.is_empty()) {
        return Err("empty: give a level (error, warn, info, debug, trace, off)".to_string());
    }
    for directive in directives.into_iter().filter(|d| !d.is_empty()) {
        let level = directive
            .rsplit_once('=')
            .map_or(directive, |(_, level)| level);
        if !is_level(level) {
            return Err(format!(
                "'{directive}' is not a level (error, warn, info, debug, trace, off) \
                 or a TARGET=LEVEL directive"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| format!("'{filter}': {e}"))
}

/// Logs to stderr, coloured only when stderr is a terminal and NO_COLOR is
/// not set (a log file or a pipe gets plain text).
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::new(level);
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
}

pub fn run(args: ServeArgs) -> ExitCode {
    let config = match settle_config(&args) {
        Ok(config) => config,
        Err(message) => return usage_error(message),
    };
    init_logging(&config.log_level);
    // Watch before the node starts, so a signal during start-up is not lost.
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("pinwheel serve: cannot watch signals: {error}");
            return ExitCode::FAILURE;
        }
    };
    let node = match Node::builder().config(config).start() {
        Ok(node) => node,
        Err(error) => {
            eprintln!("pinwheel serve: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = node
        .local_addr()
        .map_or_else(String::new, |a| a.to_string());
    let cores = node.cores();
    let plural = if cores == 1 { "" } else { "s" };
    // The one start-up line (tests and scripts read the address from it).
    eprintln!("pinwheel: serving on {addr} with {cores} core{plural}; {IN_MEMORY_ONLY}");
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "shutting down");
    }
    node.shutdown();
    eprintln!("pinwheel: stopped");
    ExitCode::SUCCESS
}
