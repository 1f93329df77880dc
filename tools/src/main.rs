//! `pinwheel`: the server, the latency report and the consensus simulator.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod hist;
mod serve;

#[derive(Debug, Parser)]
#[command(
    name = "pinwheel",
    version,
    about = "Redis-speed locks that are actually safe"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node (in memory, single node, every core, 127.0.0.1:7379 by default).
    Serve(serve::ServeArgs),
    /// Print a server's per-command latency percentiles.
    Hist(hist::HistArgs),
    /// Run the seeded Multi-Paxos fault simulator.
    Sim(pinwheel_sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Hist(args) => hist::run(&args),
        Command::Sim(args) => pinwheel_sim::run(&args),
    }
}
