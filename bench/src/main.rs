//! `pinwheel-bench`: see the library's documentation and `--help`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use pinwheel_bench::{plot, report, run_all, Cli, Command, Progress};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Compare { files }) => report::compare(&files).map(|text| print!("{text}")),
        None => bench(&cli.run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pinwheel-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench(cfg: &pinwheel_bench::RunConfig) -> anyhow::Result<()> {
    if let Err(message) = cfg.validate() {
        anyhow::bail!(message);
    }
    let terminal = std::io::stderr().is_terminal();
    let bar = (terminal && !cfg.quiet).then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut on_progress = |p: &Progress| {
        let line = format!(
            "{} {:>3}s {}: {} ops/s, p99 {:.1} µs, {} errors",
            p.target,
            p.second,
            if p.warmup { "warmup" } else { "measure" },
            p.ops,
            p.p99_us,
            p.errors
        );
        match &bar {
            Some(bar) => bar.set_message(line),
            None if !cfg.quiet => eprintln!("{line}"),
            None => {}
        }
    };
    let reports = run_all(cfg, &mut on_progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let reports = reports?;
    print!("{}", report::table(&reports));
    // The reports are written whatever the verdict: they show what failed.
    let verdict = report::verdict(&reports, cfg.max_error_pct);
    if let Some(path) = &cfg.json {
        report::write_json(path, &reports)?;
    }
    if let Some(path) = &cfg.plot {
        if reports.iter().any(|r| r.ops > 0) {
            plot::plot(path, &reports)?;
        } else {
            eprintln!(
                "pinwheel-bench: --plot {}: not drawn, no request succeeded",
                path.display()
            );
        }
    }
    verdict.map_err(anyhow::Error::msg)
}
