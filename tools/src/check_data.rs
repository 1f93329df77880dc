//! `pinwheel check-data DIR`: what recovery would do with a data
//! directory (segments, records per kind per group, torn tails it would
//! cut, damage it would refuse), changing nothing. Exit 0 when a node
//! would start, 1 when recovery would refuse, 2 when DIR cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use pinwheel_runtime::wal::{
    inspect_data_dir, CoreReport, CoreVerdict, DataDirReport, FormatState,
};
use pinwheel_wal::Kind;

#[derive(Debug, Args)]
pub struct CheckDataArgs {
    /// The data directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: &CheckDataArgs) -> ExitCode {
    match inspect_data_dir(&args.dir) {
        Err(e) => {
            eprintln!("pinwheel check-data: {e}");
            ExitCode::from(2)
        }
        Ok(report) => {
            print!("{}", render(&report));
            if report.startable() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn render(report: &DataDirReport) -> String {
    let mut out = format!("data directory {}\n", report.dir.display());
    out += &match &report.format {
        FormatState::Current => format!("  format {}\n", pinwheel_wal::FORMAT_VERSION),
        FormatState::Missing if report.cores.is_empty() => {
            "  no format file and no logs: a fresh directory\n".into()
        }
        FormatState::Missing => {
            "  REFUSE: logs but no FORMAT file: not a Pinwheel data directory\n".into()
        }
        FormatState::Other(found) => format!(
            "  REFUSE: format file says {found:?}; this build reads format {}\n",
            pinwheel_wal::FORMAT_VERSION
        ),
    };
    if let Some(pid) = report.in_use_by {
        let holder = pid.map_or("unknown pid".to_string(), |p| format!("pid {p}"));
        out += &format!(
            "  in use by a running process ({holder}): this report may already be out of date\n"
        );
    }
    for core in &report.cores {
        out += &render_core(core);
    }
    out += if report.startable() {
        "result: startable\n"
    } else {
        "result: recovery would refuse to start\n"
    };
    out
}

fn render_core(core: &CoreReport) -> String {
    let mut out = format!("core {} ({})\n", core.core, core.dir.display());
    for s in &core.segments {
        let name = s.path.file_name().unwrap_or_default().to_string_lossy();
        let what = if s.used {
            format!("{} records, valid to offset {}", s.records, s.valid_end)
        } else {
            "spare (empty)".to_string()
        };
        out += &format!("  {name}  {} bytes  {what}\n", s.file_bytes);
    }
    for leftover in &core.leftovers {
        out += &format!(
            "  would remove a half-made segment: {}\n",
            leftover.display()
        );
    }
    match &core.verdict {
        CoreVerdict::Startable { cut, groups } => {
            for (group, counts) in groups {
                let kinds: Vec<String> = Kind::ALL
                    .iter()
                    .zip(counts)
                    .map(|(k, n)| format!("{} {n}", k.name()))
                    .collect();
                out += &format!("  group {group}: {}\n", kinds.join(", "));
            }
            if let Some(cut) = cut {
                out += &format!(
                    "  would cut a torn tail: {} at offset {} ({} bytes): {}\n",
                    cut.path.display(),
                    cut.offset,
                    cut.dirty_end - cut.offset,
                    cut.reason
                );
            }
        }
        CoreVerdict::Refused {
            path,
            offset,
            problem,
        } => {
            out += &format!(
                "  REFUSE: {} at offset {offset}: {problem}\n",
                path.display()
            );
        }
        CoreVerdict::Unreadable(e) => out += &format!("  REFUSE: {e}\n"),
    }
    out
}
