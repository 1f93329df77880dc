//! Segment files on glommio DMA files: O_DIRECT, every write aligned.
//!
//! A segment is created whole before it is used: `fallocate` for contiguous
//! extents, then zeros written over all of it, then `fdatasync`, then the
//! rename from its `.tmp` name and a directory sync. `fallocate` alone is
//! not enough: it leaves *unwritten* extents, and the first write into one
//! converts it, a metadata change that every later `fdatasync` would have
//! to journal. Once zeros are written, the log's writes only overwrite
//! allocated, written blocks, so `fdatasync` flushes data and nothing else
//! (ext4 skips a timestamp-only inode change on fdatasync).
//!
//! Everything here takes and returns absolute file offsets; callers keep
//! writes aligned to [`BLOCK_BYTES`].

use std::io;
use std::path::{Path, PathBuf};

use glommio::io::{DmaFile, OpenOptions};
use pinwheel_wal::{segment_file_name, SegmentHeader, TEMP_SUFFIX};

use super::error::IoFailure;

/// Alignment of every write and read: 4 KiB, the file system block and at
/// least every device's logical block (glommio reports 512 for most).
pub(super) const BLOCK_BYTES: u64 = 4096;
/// Zeros written per request while preallocating: 1 MiB, so preallocation
/// interleaves with the log's own writes instead of holding the disk.
const ZERO_FILL_CHUNK_BYTES: u64 = 1024 * 1024;
/// Most bytes per read request during recovery: 4 MiB.
const READ_CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// Read requests in flight during recovery: 4 (16 MiB), so the device
/// always has the next read queued.
const READS_IN_FLIGHT: usize = 4;
/// Most bytes per write request: 4 MiB; a larger batch is written in
/// several requests, one after the other.
const WRITE_CHUNK_BYTES: u64 = 4 * 1024 * 1024;

pub(super) fn align_down(offset: u64) -> u64 {
    offset / BLOCK_BYTES * BLOCK_BYTES
}

pub(super) fn align_up(offset: u64) -> u64 {
    offset.div_ceil(BLOCK_BYTES) * BLOCK_BYTES
}

/// One open segment file.
pub(super) struct SegmentFile {
    file: DmaFile,
    path: PathBuf,
    /// Its place in the log.
    pub sequence: u64,
    /// Bytes records may use: the file's preallocated length.
    pub capacity: u64,
}

impl SegmentFile {
    /// Creates `core`'s segment `sequence` in `dir`, `capacity` bytes
    /// (a multiple of `BLOCK_BYTES`), header written, zero-filled, synced
    /// and in place under its final name.
    pub async fn create(
        dir: &Path,
        core: u32,
        sequence: u64,
        capacity: u64,
    ) -> Result<SegmentFile, IoFailure> {
        let header = SegmentHeader { core, sequence }.encode();
        SegmentFile::create_named(
            dir,
            &segment_file_name(sequence),
            &header,
            sequence,
            capacity,
        )
        .await
    }

    /// Creates `dir/name` the same way: `header` at offset 0, zeros to
    /// `capacity`, synced, renamed into place from `name.tmp`.
    pub async fn create_named(
        dir: &Path,
        name: &str,
        header: &[u8],
        sequence: u64,
        capacity: u64,
    ) -> Result<SegmentFile, IoFailure> {
        assert!(capacity.is_multiple_of(BLOCK_BYTES) && capacity >= BLOCK_BYTES);
        let path = dir.join(name);
        let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
        let _ = glommio::io::remove(&temp).await; // left over from a crash mid-creation
        write_first_block(&temp, header)
            .map_err(|e| IoFailure::new("creating segment", &temp, e))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .dma_open(&temp)
            .await
            .map_err(|e| IoFailure::glommio("creating segment", &temp, e))?;
        let segment = SegmentFile {
            file,
            path: temp.clone(),
            sequence,
            capacity,
        };
        if let Err(e) = segment.fill(header).await {
            // Give back the space at once: a full disk is the usual cause.
            segment.close().await;
            let _ = glommio::io::remove(&temp).await;
            return Err(e);
        }
        glommio::io::rename(&temp, &path)
            .await
            .map_err(|e| IoFailure::glommio("renaming segment into place", &path, e))?;
        sync_dir(dir).await?;
        Ok(SegmentFile { path, ..segment })
    }

    async fn fill(&self, header: &[u8]) -> Result<(), IoFailure> {
        if let Err(e) = self.file.pre_allocate(self.capacity, false).await {
            let failure = IoFailure::glommio("preallocating segment", &self.path, e);
            // Not every file system has fallocate; the zeros below allocate anyway.
            if failure.source.raw_os_error() != Some(libc::EOPNOTSUPP) {
                return Err(failure);
            }
        }
        let mut at = 0;
        while at < self.capacity {
            let len = ZERO_FILL_CHUNK_BYTES.min(self.capacity - at);
            let mut buf = self.file.alloc_dma_buffer(len as usize);
            buf.as_bytes_mut().fill(0);
            if at == 0 {
                buf.as_bytes_mut()[..header.len()].copy_from_slice(header);
            }
            self.write_buffer(buf, at, "zero-filling segment").await?;
            at += len;
        }
        self.sync().await
    }

    /// Opens an existing segment for reading and writing.
    pub async fn open(path: PathBuf, sequence: u64) -> Result<SegmentFile, IoFailure> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .dma_open(&path)
            .await
            .map_err(|e| IoFailure::glommio("opening segment", &path, e))?;
        let len = file
            .file_size()
            .await
            .map_err(|e| IoFailure::glommio("reading the size of", &path, e))?;
        Ok(SegmentFile {
            file,
            path,
            sequence,
            capacity: align_down(len),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the whole file, `READS_IN_FLIGHT` requests at a time.
    pub async fn read_all(&self) -> Result<Vec<u8>, IoFailure> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let len = self
            .file
            .file_size()
            .await
            .map_err(|e| IoFailure::glommio("reading the size of", &self.path, e))?;
        let mut out = Vec::with_capacity(len as usize);
        let offsets = (0..len.div_ceil(READ_CHUNK_BYTES)).map(|i| i * READ_CHUNK_BYTES);
        let mut reads = stream::iter(offsets)
            .map(|at| async move {
                let want = align_up(READ_CHUNK_BYTES.min(len - at)) as usize;
                let read = self.file.read_at_aligned(at, want).await;
                read.map_err(|e| IoFailure::glommio("reading segment", &self.path, e))
            })
            .buffered(READS_IN_FLIGHT);
        while let Some(read) = reads.try_next().await? {
            let expected = READ_CHUNK_BYTES.min(len - out.len() as u64) as usize;
            out.extend_from_slice(&read[..read.len().min(expected)]);
            if read.len() < expected {
                break; // a short read: finish one request at a time
            }
        }
        drop(reads);
        while (out.len() as u64) < len {
            let at = out.len() as u64;
            let want = align_up(READ_CHUNK_BYTES.min(len - at)) as usize;
            let read = self
                .file
                .read_at_aligned(at, want)
                .await
                .map_err(|e| IoFailure::glommio("reading segment", &self.path, e))?;
            if read.is_empty() {
                break; // the file shrank while being read
            }
            out.extend_from_slice(&read[..read.len().min((len - at) as usize)]);
        }
        Ok(out)
    }

    /// Writes `bytes` at the block-aligned `offset`, padding the last
    /// block with zeros.
    pub async fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<(), IoFailure> {
        assert_eq!(offset % BLOCK_BYTES, 0, "unaligned write");
        let mut done = 0u64;
        while done < bytes.len() as u64 {
            let piece = WRITE_CHUNK_BYTES.min(bytes.len() as u64 - done);
            let mut buf = self.file.alloc_dma_buffer(align_up(piece) as usize);
            let dst = buf.as_bytes_mut();
            dst[..piece as usize].copy_from_slice(&bytes[done as usize..(done + piece) as usize]);
            dst[piece as usize..].fill(0);
            self.write_buffer(buf, offset + done, "writing").await?;
            done += piece;
        }
        Ok(())
    }

    async fn write_buffer(
        &self,
        buf: glommio::io::DmaBuffer,
        at: u64,
        op: &'static str,
    ) -> Result<(), IoFailure> {
        let len = buf.len();
        #[cfg(test)]
        if let Some(e) = faults::take(&faults::WRITES) {
            return Err(IoFailure::new(op, &self.path, e));
        }
        let written = self
            .file
            .write_at(buf, at)
            .await
            .map_err(|e| IoFailure::glommio(op, &self.path, e))?;
        if written != len {
            let short = io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {len} bytes at offset {at}"),
            );
            return Err(IoFailure::new(op, &self.path, short));
        }
        Ok(())
    }

    /// `fdatasync`.
    pub async fn sync(&self) -> Result<(), IoFailure> {
        #[cfg(test)]
        if let Some(e) = faults::take(&faults::SYNCS) {
            return Err(IoFailure::new("fdatasync", &self.path, e));
        }
        self.file
            .fdatasync()
            .await
            .map_err(|e| IoFailure::glommio("fdatasync", &self.path, e))
    }

    /// Closes the file; errors are only logged (nothing is written by a
    /// close of an O_DIRECT file that a sync has not already made durable).
    pub async fn close(self) {
        if let Err(e) = self.file.close().await {
            tracing::warn!(path = %self.path.display(), error = %e, "closing a wal segment failed");
        }
    }
}

/// Creates `path` holding one block: `header`, then zeros.
///
/// With ordinary I/O, before glommio ever opens the file, because glommio
/// decides once per device and thread whether to use its polled ring by
/// reading the first block of the first file it opens there. An empty file
/// answers that read with 0 bytes, glommio concludes the device polls, and
/// every later read on a device without poll queues (virtio, loop) fails
/// with EOPNOTSUPP. A file with a block answers truthfully.
fn write_first_block(path: &Path, header: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut block = vec![0u8; BLOCK_BYTES as usize];
    block[..header.len()].copy_from_slice(header);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(&block)
}

/// Makes a directory's entries durable (glommio's async fsync).
pub(super) async fn sync_dir(dir: &Path) -> Result<(), IoFailure> {
    let d = glommio::io::Directory::open(dir)
        .await
        .map_err(|e| IoFailure::glommio("opening directory", dir, e))?;
    let synced = d
        .sync()
        .await
        .map_err(|e| IoFailure::glommio("syncing directory", dir, e));
    let _ = d.close().await;
    synced
}

/// A test-only seam: make the next few writes or syncs of this thread fail
/// with an I/O error. Used where the real thing (a failing device) cannot
/// be arranged: an `fdatasync` that fails after its write succeeded.
#[cfg(test)]
pub(super) mod faults {
    use std::cell::Cell;
    use std::io;

    thread_local! {
        pub static WRITES: Cell<u32> = const { Cell::new(0) };
        pub static SYNCS: Cell<u32> = const { Cell::new(0) };
    }

    pub fn take(which: &'static std::thread::LocalKey<Cell<u32>>) -> Option<io::Error> {
        which.with(|n| {
            (n.get() > 0).then(|| {
                n.set(n.get() - 1);
                io::Error::from_raw_os_error(libc::EIO)
            })
        })
    }

    pub fn fail_next(which: &'static std::thread::LocalKey<Cell<u32>>, count: u32) {
        which.with(|n| n.set(count));
    }
}
