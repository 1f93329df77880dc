//! Opening a core's log: read every segment, let the sans-IO recovery plan
//! decide, cut a torn tail, hand the records back, start the writer.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use pinwheel_wal::{
    parse_segment_file_name, plan, segment_file_name, DecodeError, HeaderError, Lsn, Plan, Problem,
    Record, Records, SegmentBytes, SEGMENT_HEADER_BYTES, TEMP_SUFFIX,
};

use super::datadir::DataDir;
use super::error::{IoFailure, OpenError};
use super::file::{align_down, align_up, sync_dir, SegmentFile};
use super::log::{LiveSegment, Shared, State, Wal};
use super::options::WalOptions;
use super::writer::Writer;

/// A torn tail that recovery cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub path: PathBuf,
    /// Where the torn record started: the new end of the log.
    pub offset: u64,
    /// One past the last non-zero byte that was zeroed.
    pub dirty_end: u64,
    /// Why the record there did not decode.
    pub reason: DecodeError,
}

/// What recovery did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files found (spares included).
    pub segments: usize,
    /// Records recovered.
    pub records: u64,
    /// Bytes of recovered records.
    pub record_bytes: u64,
    /// The torn tail cut, if there was one.
    pub cut: Option<TornTail>,
    /// Time to read, check and repair the log.
    pub elapsed: Duration,
}

/// The records a log held at open, for the caller to replay; drop it once
/// replayed (it holds every recovered record in memory).
pub struct Recovery {
    segments: Vec<(u64, Vec<u8>)>,
    /// What recovery did.
    pub report: RecoveryReport,
}

impl Recovery {
    /// Every recovered record in log order, each with its position.
    pub fn records(&self) -> impl Iterator<Item = (Lsn, Record<'_>)> + '_ {
        self.segments.iter().flat_map(|(segment, bytes)| {
            Records::new(bytes, SEGMENT_HEADER_BYTES).map(move |(offset, record)| {
                let lsn = Lsn {
                    segment: *segment,
                    offset,
                };
                (lsn, record)
            })
        })
    }
}

impl Wal {
    /// Opens `core`'s log in `dir`, recovering what it holds.
    ///
    /// Reads every segment, checks it with the recovery policy of
    /// `pinwheel-wal` (`plan`), cuts a torn tail of the newest segment
    /// (logged with file and offset), and refuses with
    /// [`OpenError::Corrupt`] naming file and offset on damage anywhere
    /// else. Appends continue after the last recovered record. Must run on
    /// the core's glommio executor; the writer task is spawned there.
    pub async fn open(
        dir: &DataDir,
        core: u32,
        options: WalOptions,
    ) -> Result<(Wal, Recovery), OpenError> {
        let started = Instant::now();
        options.validate().map_err(OpenError::Options)?;
        let dir = dir.core_dir(core);
        ensure_dir(&dir).await?;
        let mut files = Vec::new();
        let mut contents = Vec::new();
        for sequence in list_segments(&dir).await? {
            let path = dir.join(segment_file_name(sequence));
            refuse_empty(&path)?;
            let file = SegmentFile::open(path, sequence).await?;
            contents.push(file.read_all().await?);
            files.push(file);
        }
        let input: Vec<_> = files
            .iter()
            .zip(&contents)
            .map(|(f, bytes)| SegmentBytes {
                sequence: f.sequence,
                bytes,
            })
            .collect();
        let plan = plan(core, &input).map_err(|r| OpenError::Corrupt {
            path: dir.join(segment_file_name(r.sequence)),
            offset: r.offset,
            problem: r.problem,
        })?;
        let cut = cut_torn_tail(&plan, &files, &contents).await?;
        let report = RecoveryReport {
            segments: files.len(),
            records: plan.records(),
            record_bytes: plan
                .segments
                .iter()
                .map(|s| s.valid_end - SEGMENT_HEADER_BYTES as u64)
                .sum(),
            cut,
            elapsed: Duration::ZERO,
        };
        let (wal, segments) = start(core, dir, options, &plan, files, contents).await?;
        let report = RecoveryReport {
            elapsed: started.elapsed(),
            ..report
        };
        tracing::info!(
            core,
            segments = report.segments,
            records = report.records,
            bytes = report.record_bytes,
            ms = report.elapsed.as_millis() as u64,
            "write-ahead log recovered"
        );
        Ok((wal, Recovery { segments, report }))
    }
}

/// Refuses an empty segment file before glommio opens it (see
/// `write_first_block` for why glommio must never open an empty file). A
/// segment always has a header, so an empty one is damage.
fn refuse_empty(path: &Path) -> Result<(), OpenError> {
    let len = std::fs::metadata(path)
        .map_err(|e| IoFailure::new("reading the size of", path, e))?
        .len();
    if len > 0 {
        return Ok(());
    }
    Err(OpenError::Corrupt {
        path: path.to_path_buf(),
        offset: 0,
        problem: Problem::Header(HeaderError::Truncated { available: 0 }),
    })
}

/// Creates the core's directory if it is missing, durably.
async fn ensure_dir(dir: &Path) -> Result<(), IoFailure> {
    match std::fs::create_dir(dir) {
        Ok(()) => sync_dir(dir.parent().unwrap_or(Path::new("."))).await,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(IoFailure::new("creating log directory", dir, e)),
    }
}

/// The segment sequences in `dir`, ascending; removes half-made `.tmp`
/// segments (a crash during creation) and leaves every other file alone.
async fn list_segments(dir: &Path) -> Result<Vec<u64>, IoFailure> {
    let entries = std::fs::read_dir(dir).map_err(|e| IoFailure::new("listing", dir, e))?;
    let mut sequences = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| IoFailure::new("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(sequence) = parse_segment_file_name(&name) {
            sequences.push(sequence);
        } else if name
            .strip_suffix(TEMP_SUFFIX)
            .is_some_and(|n| parse_segment_file_name(n).is_some())
        {
            let path = entry.path();
            match glommio::io::remove(&path)
                .await
                .map_err(std::io::Error::from)
            {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed a segment left half-made by a crash")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(IoFailure::new("removing half-made segment", &path, e)),
            }
        }
    }
    sequences.sort_unstable();
    Ok(sequences)
}

/// Zeroes the torn tail the plan found and syncs, so the segment ends
/// clean again before anything is appended after it.
async fn cut_torn_tail(
    plan: &Plan,
    files: &[SegmentFile],
    contents: &[Vec<u8>],
) -> Result<Option<TornTail>, IoFailure> {
    let Some(cut) = plan.cut else { return Ok(None) };
    let index = files
        .iter()
        .position(|f| f.sequence == cut.sequence)
        .expect("the cut names a listed segment");
    let (file, bytes) = (&files[index], &contents[index]);
    let block = align_down(cut.offset);
    let mut zeroed = bytes[block as usize..cut.offset as usize].to_vec();
    zeroed.resize((align_up(cut.dirty_end) - block) as usize, 0);
    file.write_at(block, &zeroed).await?;
    file.sync().await?;
    tracing::warn!(
        path = %file.path().display(),
        offset = cut.offset,
        bytes = cut.dirty_end - cut.offset,
        reason = %cut.reason,
        "cut the torn tail of the newest wal segment (an unfinished write from before a crash)"
    );
    Ok(Some(TornTail {
        path: file.path().to_path_buf(),
        offset: cut.offset,
        dirty_end: cut.dirty_end,
        reason: cut.reason,
    }))
}

type Replay = Vec<(u64, Vec<u8>)>;

/// Builds the log's state from the plan, keeps the segment after the
/// resumed one as the spare (removing any further empty ones), and spawns
/// the writer.
async fn start(
    core: u32,
    dir: PathBuf,
    options: WalOptions,
    plan: &Plan,
    mut files: Vec<SegmentFile>,
    contents: Vec<Vec<u8>>,
) -> Result<(Wal, Replay), OpenError> {
    let resume = match plan.resume {
        Some(resume) => resume,
        None => {
            files.push(SegmentFile::create(&dir, core, 1, options.segment_bytes).await?);
            0
        }
    };
    let mut extra = files.split_off(resume + 1).into_iter();
    let spare = extra.next();
    for empty in extra {
        let path = empty.path().to_path_buf();
        empty.close().await;
        glommio::io::remove(&path)
            .await
            .map_err(|e| IoFailure::glommio("removing an extra empty segment", &path, e))?;
    }
    let active = files.pop().expect("the resumed segment");
    for sealed in files {
        sealed.close().await;
    }
    let valid_end = plan
        .segments
        .get(resume)
        .map_or(SEGMENT_HEADER_BYTES as u64, |s| s.valid_end);
    let at = Lsn {
        segment: active.sequence,
        offset: valid_end,
    };
    let mut state = State::new(core, dir, options, at, active.capacity);
    let mut replay = Vec::new();
    let mut tail = pinwheel_wal::SegmentHeader {
        core,
        sequence: active.sequence,
    }
    .encode()
    .to_vec();
    for (planned, mut bytes) in plan.segments.iter().zip(contents).take(resume + 1) {
        bytes.truncate(planned.valid_end as usize);
        if planned.sequence == active.sequence {
            tail = bytes[align_down(planned.valid_end) as usize..].to_vec();
        }
        state.live.push_back(LiveSegment {
            sequence: planned.sequence,
            end: planned.valid_end,
        });
        bytes.shrink_to_fit();
        replay.push((planned.sequence, bytes));
    }
    if state.live.is_empty() {
        state.live.push_back(LiveSegment {
            sequence: active.sequence,
            end: valid_end,
        });
    }
    let shared = Rc::new(Shared {
        state: std::cell::RefCell::new(state),
        wake_writer: Default::default(),
    });
    let writer = Writer::new(shared.clone(), active, align_down(valid_end), tail, spare);
    let task = glommio::spawn_local(writer.run()).detach();
    Ok((Wal::new(shared, task), replay))
}
