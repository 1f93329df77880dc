//! `pinwheel serve`: settings from defaults, then the config file, then
//! flags; a node until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use pinwheel_runtime::{Config, Node};

/// Exit status for bad flags or configuration, as clap uses for bad flags.
const EXIT_USAGE: u8 = 2;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve clients on [default: 127.0.0.1:7379].
    #[arg(long, value_name = "ADDR")]
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
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            toml::from_str::<Config>(&text)
                .map_err(|e| format!("invalid config file {}: {}", path.display(), e.message()))?
        }
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
    Ok(config)
}

fn init_logging(level: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| format!("invalid value for 'log-level': {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

pub fn run(args: ServeArgs) -> ExitCode {
    let config = match settle_config(&args) {
        Ok(config) => config,
        Err(message) => return usage_error(message),
    };
    if let Err(message) = init_logging(&config.log_level) {
        return usage_error(message);
    }
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
    tracing::info!(%addr, cores = node.cores(), "pinwheel serving");
    eprintln!("pinwheel: serving on {addr} with {} cores", node.cores());
    if let Some(signal) = signals.forever().next() {
        tracing::info!(signal, "shutting down");
    }
    node.shutdown();
    eprintln!("pinwheel: stopped");
    ExitCode::SUCCESS
}
