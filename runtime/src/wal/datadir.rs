//! The data directory: its layout, its lock, its format version.
//!
//! ```text
//! DIR/
//!   FORMAT          "pinwheel data format 1\n": refused if another version
//!   LOCK            flock(LOCK_EX) held by the process using DIR; holds its pid
//!   core-0/
//!     wal-00000000000000000001.seg    segments of core 0's log, in order
//!     wal-00000000000000000002.seg
//!   core-1/ ...
//! ```
//!
//! One process per directory: the lock is taken with `flock` before
//! anything else is read, so two processes starting at once cannot both
//! pass, and it is released by the kernel when the process dies however it
//! dies (no stale lock after kill -9). A second open, from another process
//! or the same one, is refused with the holder's pid. (A `flock` belongs
//! to the open file, so a child forked by the holder shares it until the
//! child execs: the descriptor is close-on-exec.)
//!
//! A directory without `FORMAT` is adopted only if it is empty (or holds
//! just the lock file): pointing `--data-dir` at a home directory by
//! mistake fails instead of filling it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use pinwheel_wal::{
    core_dir_name, format_file_contents, parse_format_file, FORMAT_FILE_NAME, FORMAT_VERSION,
    LOCK_FILE_NAME,
};

use super::error::IoFailure;

/// Longest lock or format file read back: 64 bytes (a pid, a version line).
const SMALL_FILE_BYTES_MAX: u64 = 64;

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process (or another open in this one) holds the lock.
    #[error("data directory {} is in use by another process{}", dir.display(), holder(*pid))]
    InUse {
        /// The directory.
        dir: PathBuf,
        /// The holder's pid, as its lock file states it.
        pid: Option<u32>,
    },
    /// The format file states another version, or is unreadable.
    #[error("{}: data format {found:?}; this build reads format {FORMAT_VERSION}", path.display())]
    Format {
        /// The format file.
        path: PathBuf,
        /// What it says.
        found: String,
    },
    /// The directory holds files but no format file.
    #[error("{} is not empty and has no {FORMAT_FILE_NAME} file, so it is not a Pinwheel data directory (it holds {entry:?})", dir.display())]
    NotDataDir {
        /// The directory.
        dir: PathBuf,
        /// One of the entries found.
        entry: String,
    },
    /// A file operation failed (permission errors included).
    #[error(transparent)]
    Io(#[from] IoFailure),
}

fn holder(pid: Option<u32>) -> String {
    pid.map_or(String::new(), |pid| format!(" (pid {pid})"))
}

/// An open, locked data directory. Hold it for as long as any core's log
/// is open: dropping it releases the lock.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates (if needed), locks and checks the data directory at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<DataDir, DataDirError> {
        let path = path.as_ref().to_path_buf();
        fs::create_dir_all(&path)
            .map_err(|e| IoFailure::new("creating data directory", &path, e))?;
        let lock = lock(&path)?;
        check_format(&path)?;
        let mut pid_file = &lock;
        let lock_path = path.join(LOCK_FILE_NAME);
        lock.set_len(0)
            .and_then(|()| pid_file.write_all(format!("{}\n", std::process::id()).as_bytes()))
            .map_err(|e| IoFailure::new("writing lock file", lock_path, e))?;
        Ok(DataDir { path, _lock: lock })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of `core`'s log (`DIR/core-N`).
    pub fn core_dir(&self, core: u32) -> PathBuf {
        self.path.join(core_dir_name(core))
    }
}

fn lock(dir: &Path) -> Result<File, DataDirError> {
    let path = dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| IoFailure::new("opening lock file", &path, e))?;
    // SAFETY: flock on a descriptor this function owns; no memory involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(file);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
        return Err(IoFailure::new("locking", &path, err).into());
    }
    let pid = read_small(&path)
        .ok()
        .and_then(|text| text.trim().parse().ok());
    Err(DataDirError::InUse {
        dir: dir.to_path_buf(),
        pid,
    })
}

fn check_format(dir: &Path) -> Result<(), DataDirError> {
    let path = dir.join(FORMAT_FILE_NAME);
    match read_small(&path) {
        Ok(text) => match parse_format_file(text.as_bytes()) {
            Some(FORMAT_VERSION) => Ok(()),
            _ => Err(DataDirError::Format {
                path,
                found: text.trim_end().to_string(),
            }),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => adopt(dir, &path),
        Err(e) => Err(IoFailure::new("reading format file", path, e).into()),
    }
}

/// Writes the format file into a directory that has none, if it is empty.
fn adopt(dir: &Path, format_path: &Path) -> Result<(), DataDirError> {
    let entries = fs::read_dir(dir).map_err(|e| IoFailure::new("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| IoFailure::new("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // The lock, and a format file left half-written by a crash here.
        if name != LOCK_FILE_NAME && name != format!("{FORMAT_FILE_NAME}.tmp") {
            return Err(DataDirError::NotDataDir {
                dir: dir.to_path_buf(),
                entry: name,
            });
        }
    }
    let temp = dir.join(format!("{FORMAT_FILE_NAME}.tmp"));
    let write = || -> io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(format_file_contents().as_bytes())?;
        file.sync_all()
    };
    write().map_err(|e| IoFailure::new("writing format file", &temp, e))?;
    fs::rename(&temp, format_path)
        .map_err(|e| IoFailure::new("renaming into place", format_path, e))?;
    sync_dir(dir)?;
    Ok(())
}

/// Makes a directory's entries (new, renamed, removed files) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), IoFailure> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IoFailure::new("syncing directory", dir, e))
}

fn read_small(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    File::open(path)?
        .take(SMALL_FILE_BYTES_MAX)
        .read_to_string(&mut text)?;
    Ok(text)
}
