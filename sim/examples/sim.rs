//! Runs the simulator from the command line without the `pinwheel` binary:
//! `cargo run --release -p pinwheel-sim --example sim -- --seeds 1000`.

use clap::Parser;
use pinwheel_sim::SimArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

fn main() -> std::process::ExitCode {
    pinwheel_sim::run(&Cli::parse().sim)
}
