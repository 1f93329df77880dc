//! What recovery would do with a data directory, without changing it
//! (`pinwheel check-data`).
//!
//! Plain blocking reads (`std::fs`), no executor, no lock taken, nothing
//! created, removed or repaired: the same listing and the same sans-IO
//! recovery plan as [`super::Wal::open`], reported instead of applied.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use pinwheel_wal::{
    parse_core_dir_name, parse_format_file, parse_segment_file_name, plan, segment_file_name,
    DecodeError, Kind, Problem, Records, SegmentBytes, FORMAT_FILE_NAME, FORMAT_VERSION,
    LOCK_FILE_NAME, SEGMENT_HEADER_BYTES, TEMP_SUFFIX,
};

use super::error::IoFailure;

/// What the data directory's format file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatState {
    /// This build's version.
    Current,
    /// No format file: the directory was never opened by a node.
    Missing,
    /// Another version, or text that is not a format line.
    Other(String),
}

/// One segment file as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentReport {
    /// The file.
    pub path: PathBuf,
    /// Its sequence number.
    pub sequence: u64,
    /// Its size on disk.
    pub file_bytes: u64,
    /// Valid records in it (0 when the core is refused).
    pub records: u64,
    /// Offset just past its last valid record.
    pub valid_end: u64,
    /// False for an unused, preallocated spare.
    pub used: bool,
}

/// A torn tail recovery would cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutReport {
    /// The segment.
    pub path: PathBuf,
    /// Where the torn record starts.
    pub offset: u64,
    /// One past the last non-zero byte that would be zeroed.
    pub dirty_end: u64,
    /// Why the record there does not decode.
    pub reason: DecodeError,
}

/// What recovery would do with one core's log.
#[derive(Debug)]
pub enum CoreVerdict {
    /// It would start, after cutting `cut` if there is one.
    Startable {
        /// The torn tail to cut.
        cut: Option<CutReport>,
        /// Records per kind (`Kind::ALL` order) per group.
        groups: BTreeMap<u32, [u64; 4]>,
    },
    /// It would refuse to start.
    Refused {
        /// The segment file.
        path: PathBuf,
        /// File offset of the damage.
        offset: u64,
        /// What is wrong there.
        problem: Problem,
    },
    /// A file could not be read.
    Unreadable(IoFailure),
}

/// One core's log.
#[derive(Debug)]
pub struct CoreReport {
    /// The core.
    pub core: u32,
    /// Its directory.
    pub dir: PathBuf,
    /// Segment files in order.
    pub segments: Vec<SegmentReport>,
    /// Half-made segments (`.tmp`) that opening would remove.
    pub leftovers: Vec<PathBuf>,
    /// What recovery would do.
    pub verdict: CoreVerdict,
}

impl CoreReport {
    /// True unless recovery would refuse or a file is unreadable.
    pub fn startable(&self) -> bool {
        matches!(self.verdict, CoreVerdict::Startable { .. })
    }
}

/// A whole data directory.
#[derive(Debug)]
pub struct DataDirReport {
    /// The directory.
    pub dir: PathBuf,
    /// Its format file.
    pub format: FormatState,
    /// The pid in the lock file when a process holds the lock now.
    pub in_use_by: Option<Option<u32>>,
    /// Every `core-N` directory, by core.
    pub cores: Vec<CoreReport>,
}

impl DataDirReport {
    /// True when a node would start on this directory (once no other
    /// process holds it): a format this build reads, or none on a
    /// directory without logs, and every core's log recoverable.
    pub fn startable(&self) -> bool {
        let format_ok = match &self.format {
            FormatState::Current => true,
            FormatState::Missing => self.cores.is_empty(),
            FormatState::Other(_) => false,
        };
        format_ok && self.cores.iter().all(CoreReport::startable)
    }
}

/// Reports what opening `dir` would do, changing nothing.
pub fn inspect_data_dir(dir: &Path) -> Result<DataDirReport, IoFailure> {
    let meta = std::fs::metadata(dir).map_err(|e| IoFailure::new("reading", dir, e))?;
    if !meta.is_dir() {
        let e = std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory");
        return Err(IoFailure::new("reading", dir, e));
    }
    let format = match std::fs::read(dir.join(FORMAT_FILE_NAME)) {
        Ok(bytes) => match parse_format_file(&bytes) {
            Some(FORMAT_VERSION) => FormatState::Current,
            _ => FormatState::Other(String::from_utf8_lossy(&bytes).trim_end().to_string()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => FormatState::Missing,
        Err(e) => return Err(IoFailure::new("reading", dir.join(FORMAT_FILE_NAME), e)),
    };
    let mut cores = Vec::new();
    for (core, core_dir) in core_dirs(dir)? {
        cores.push(inspect_core(core, core_dir));
    }
    Ok(DataDirReport {
        dir: dir.to_path_buf(),
        format,
        in_use_by: lock_holder(dir),
        cores,
    })
}

fn core_dirs(dir: &Path) -> Result<Vec<(u32, PathBuf)>, IoFailure> {
    let mut cores = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| IoFailure::new("listing", dir, e))? {
        let entry = entry.map_err(|e| IoFailure::new("listing", dir, e))?;
        if let Some(core) = parse_core_dir_name(&entry.file_name().to_string_lossy()) {
            cores.push((core, entry.path()));
        }
    }
    cores.sort();
    Ok(cores)
}

/// Whether a process holds the lock now (a shared, non-blocking `flock`
/// on a read-only descriptor, released at once), and the pid it wrote.
fn lock_holder(dir: &Path) -> Option<Option<u32>> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = File::open(&path).ok()?;
    // SAFETY: flock on a descriptor this function owns.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        return None;
    }
    Some(
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse().ok()),
    )
}

fn inspect_core(core: u32, dir: PathBuf) -> CoreReport {
    let mut report = CoreReport {
        core,
        dir: dir.clone(),
        segments: Vec::new(),
        leftovers: Vec::new(),
        verdict: CoreVerdict::Startable {
            cut: None,
            groups: BTreeMap::new(),
        },
    };
    let contents = match read_segments(&dir, &mut report) {
        Ok(contents) => contents,
        Err(e) => {
            report.verdict = CoreVerdict::Unreadable(e);
            return report;
        }
    };
    let input: Vec<_> = report
        .segments
        .iter()
        .zip(&contents)
        .map(|(s, bytes)| SegmentBytes {
            sequence: s.sequence,
            bytes,
        })
        .collect();
    report.verdict = match plan(core, &input) {
        Err(r) => CoreVerdict::Refused {
            path: dir.join(segment_file_name(r.sequence)),
            offset: r.offset,
            problem: r.problem,
        },
        Ok(plan) => {
            let mut groups = BTreeMap::<u32, [u64; 4]>::new();
            for (segment, (planned, bytes)) in report
                .segments
                .iter_mut()
                .zip(plan.segments.iter().zip(&contents))
            {
                (segment.records, segment.valid_end, segment.used) =
                    (planned.records, planned.valid_end, planned.used);
                for (_, record) in
                    Records::new(&bytes[..planned.valid_end as usize], SEGMENT_HEADER_BYTES)
                {
                    let kind = Kind::ALL
                        .iter()
                        .position(|k| *k == record.body.kind())
                        .expect("a known kind");
                    groups.entry(record.group).or_default()[kind] += 1;
                }
            }
            let cut = plan.cut.map(|c| CutReport {
                path: dir.join(segment_file_name(c.sequence)),
                offset: c.offset,
                dirty_end: c.dirty_end,
                reason: c.reason,
            });
            CoreVerdict::Startable { cut, groups }
        }
    };
    report
}

/// Lists and reads every segment of a core's directory in order, noting
/// `.tmp` leftovers.
fn read_segments(dir: &Path, report: &mut CoreReport) -> Result<Vec<Vec<u8>>, IoFailure> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| IoFailure::new("listing", dir, e))? {
        let entry = entry.map_err(|e| IoFailure::new("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(sequence) = parse_segment_file_name(&name) {
            found.push((sequence, entry.path()));
        } else if name
            .strip_suffix(TEMP_SUFFIX)
            .is_some_and(|n| parse_segment_file_name(n).is_some())
        {
            report.leftovers.push(entry.path());
        }
    }
    found.sort();
    let mut contents = Vec::new();
    for (sequence, path) in found {
        let bytes = std::fs::read(&path).map_err(|e| IoFailure::new("reading", &path, e))?;
        report.segments.push(SegmentReport {
            path,
            sequence,
            file_bytes: bytes.len() as u64,
            records: 0,
            valid_end: 0,
            used: false,
        });
        contents.push(bytes);
    }
    Ok(contents)
}
