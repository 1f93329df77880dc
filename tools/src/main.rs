//! `pinwheel`: the server, the latency report and the consensus simulator.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check_data;
mod hist;
mod probe_disk;
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
    /// Report what recovery would do with a data directory, changing nothing.
    CheckData(check_data::CheckDataArgs),
    /// Measure small append + fdatasync latency on a directory's disk.
    ProbeDisk(probe_disk::ProbeDiskArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Hist(args) => {
            end_quietly_on_a_closed_pipe();
            hist::run(&args)
        }
        Command::Sim(args) => {
            end_quietly_on_a_closed_pipe();
            pinwheel_sim::run(&args)
        }
        Command::CheckData(args) => check_data::run(&args),
        Command::ProbeDisk(args) => probe_disk::run(&args),
    }
}

/// Lets SIGPIPE end the process, as it does a C program's: `pinwheel hist
/// | head -1` then stops when `head` has read its line, where Rust's
/// default (SIGPIPE ignored, so `println!` gets an error and panics) gave
/// a panic message. Only for commands whose output is a report; `serve`
/// keeps SIGPIPE ignored, or a client hanging up could end the server.
fn end_quietly_on_a_closed_pipe() {
    // Safety: restores the default action of one signal before any other
    // thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
