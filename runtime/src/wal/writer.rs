//! The core's one writer task: group commit, rotation, failure and retry.
//!
//! Each turn takes the oldest pending chunk (everything appended for the
//! active segment since the last turn), writes it with one O_DIRECT write
//! and, under `always`, one `fdatasync`, then releases its waiters. What is
//! appended meanwhile waits for the next turn, so one sync covers every
//! group on the core that appended during the previous one.
//!
//! Writes are block-aligned, so each one starts by rewriting the partial
//! last block, which holds the end of records already synced. That cannot
//! damage them: the rewritten block carries the same bytes for them (the
//! writer keeps the block in memory, `retained`), and a device writes each
//! sector whole, old or new. Whether the write completes, tears or is lost
//! in a crash, those sectors hold the same bytes either way; only the new
//! records can be cut. (The argument needs sector-atomic writes, which
//! every disk Linux supports for O_DIRECT promises at the logical block
//! size.)
//!
//! A segment is sealed by an `fdatasync` before the next one is written,
//! under every policy: recovery counts damage in an older segment as damage
//! to synced records, so an older segment must never have an unsynced tail.
//!
//! On an I/O error the log fails (appends refused, waiters told) and the
//! writer retries every `retry_interval_ms`: it first rewrites everything
//! since the last successful sync from `retained` and syncs it (after a
//! failed `fdatasync` the kernel may have dropped what it held, so a second
//! sync alone proves nothing), then retries the chunk that failed. Only
//! when both succeed is the log healthy again. Under `always`, `retained`
//! is one block; under `batch`, what was written since the last sync; under
//! `never`, up to one segment.

use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::task::JoinHandle;
use pinwheel_wal::{segment_file_name, Lsn, SegmentHeader, SEGMENT_HEADER_BYTES};

use super::error::IoFailure;
use super::file::{align_down, sync_dir, SegmentFile};
use super::log::{Chunk, LiveSegment, Shared};

/// The next segment, being created in the background or ready.
enum Spare {
    Creating(JoinHandle<Result<SegmentFile, IoFailure>>),
    Ready(SegmentFile),
}

enum Job {
    Write(Chunk),
    Sync,
    Retry,
    Exit,
}

/// The writer task's own state; everything callers see is in `Shared`.
pub(super) struct Writer {
    shared: Rc<Shared>,
    active: SegmentFile,
    /// Bytes of the active segment from `retained_start` (block-aligned)
    /// to the written end: everything not yet synced, and the partial
    /// last block.
    retained: Vec<u8>,
    retained_start: u64,
    spare: Option<Spare>,
    /// After a failure: `retained` must be written and synced again.
    rewrite: bool,
    records_since_sync: u64,
    entries_since_sync: u64,
    last_sync: Instant,
    retry_at: Option<Instant>,
}

impl Writer {
    /// A writer continuing `active` at `tail_start` (block-aligned), whose
    /// bytes up to the written end are `tail`.
    pub fn new(
        shared: Rc<Shared>,
        active: SegmentFile,
        tail_start: u64,
        tail: Vec<u8>,
        spare: Option<SegmentFile>,
    ) -> Writer {
        let mut writer = Writer {
            shared,
            active,
            retained: tail,
            retained_start: tail_start,
            spare: spare.map(Spare::Ready),
            rewrite: false,
            records_since_sync: 0,
            entries_since_sync: 0,
            last_sync: Instant::now(),
            retry_at: None,
        };
        if writer.spare.is_none() {
            writer.start_spare(writer.active.sequence + 1);
        }
        writer
    }

    /// The task: turns until closed.
    pub async fn run(mut self) {
        loop {
            let result = match self.next_job().await {
                Job::Exit => break,
                Job::Write(chunk) => self.write(chunk).await,
                Job::Sync => self.sync().await,
                Job::Retry => self.retry().await,
            };
            if let Err(failure) = result {
                self.shared.state.borrow_mut().fail(failure);
                let retry =
                    Duration::from_millis(self.shared.state.borrow().options.retry_interval_ms);
                self.retry_at = Some(Instant::now() + retry);
            }
        }
        self.finish().await;
    }

    async fn next_job(&mut self) -> Job {
        loop {
            let now = Instant::now();
            let wake_at = {
                let mut state = self.shared.state.borrow_mut();
                if state.failure.is_some() {
                    if state.closing {
                        return Job::Exit;
                    }
                    let at = *self.retry_at.get_or_insert(now);
                    if now >= at {
                        return Job::Retry;
                    }
                    Some(at)
                } else {
                    let interval = state.options.fsync.sync_interval();
                    let sync_at = interval
                        .filter(|_| state.synced < state.written)
                        .map(|i| self.last_sync + i);
                    if sync_at.is_some_and(|at| now >= at) {
                        return Job::Sync;
                    }
                    if let Some(chunk) = state.take_chunk() {
                        return Job::Write(chunk);
                    }
                    if state.closing {
                        return Job::Exit;
                    }
                    sync_at
                }
            };
            match wake_at {
                Some(at) => {
                    let sleep = glommio::timer::sleep(at.saturating_duration_since(now));
                    future::or(self.shared.wake_writer.wait(), sleep).await;
                }
                None => self.shared.wake_writer.wait().await,
            }
        }
    }

    /// Writes one chunk (rotating first if it starts a new segment), then
    /// syncs it under `always`. A chunk that could not be written goes back
    /// to the front of the queue.
    async fn write(&mut self, chunk: Chunk) -> Result<(), IoFailure> {
        if chunk.segment != self.active.sequence {
            if let Err(e) = self.rotate(chunk.segment, chunk.capacity).await {
                self.shared.state.borrow_mut().untake_chunk(chunk);
                return Err(e);
            }
        }
        if let Err(e) = self.write_chunk(&chunk).await {
            self.rewrite = true;
            self.shared.state.borrow_mut().untake_chunk(chunk);
            return Err(e);
        }
        let always = self.shared.state.borrow().options.fsync.syncs_every_batch();
        if always {
            self.sync().await?;
        }
        Ok(())
    }

    async fn write_chunk(&mut self, chunk: &Chunk) -> Result<(), IoFailure> {
        let end_before = self.retained_start + self.retained.len() as u64;
        assert_eq!(chunk.start, end_before, "chunks must continue the segment");
        let block = align_down(chunk.start);
        let from = (block - self.retained_start) as usize;
        self.retained.extend_from_slice(&chunk.bytes);
        if let Err(e) = self.active.write_at(block, &self.retained[from..]).await {
            self.retained
                .truncate(self.retained.len() - chunk.bytes.len());
            return Err(e);
        }
        self.records_since_sync += chunk.records;
        self.entries_since_sync += chunk.entries;
        let mut state = self.shared.state.borrow_mut();
        state.counters.writes += 1;
        state.written = Lsn {
            segment: chunk.segment,
            offset: chunk.end(),
        };
        if let Some(live) = state.live.back_mut() {
            live.end = chunk.end();
        }
        if !state.options.fsync.syncs_every_batch() {
            let written = state.written;
            state.release(written);
        }
        Ok(())
    }

    /// Syncs the active segment if anything written is not yet synced.
    async fn sync(&mut self) -> Result<(), IoFailure> {
        let target = self.shared.state.borrow().written;
        if self.shared.state.borrow().synced >= target {
            return Ok(());
        }
        let started = Instant::now();
        if let Err(e) = self.active.sync().await {
            self.rewrite = true;
            return Err(e);
        }
        self.last_sync = Instant::now();
        let micros = started.elapsed().as_micros() as u64;
        let mut state = self.shared.state.borrow_mut();
        let (records, entries) = (self.records_since_sync, self.entries_since_sync);
        state.counters.record_fsync(micros, records, entries);
        (self.records_since_sync, self.entries_since_sync) = (0, 0);
        state.synced = target;
        state.release(target);
        drop(state);
        self.trim_retained(target.offset);
        Ok(())
    }

    /// Keeps only the partial block at `end` once everything before is synced.
    fn trim_retained(&mut self, end: u64) {
        let keep_from = align_down(end).max(self.retained_start);
        self.retained
            .drain(..(keep_from - self.retained_start) as usize);
        self.retained_start = keep_from;
    }

    /// After a failure: rewrite and sync what is not durable, then the
    /// chunk that failed. The log is healthy again only if both succeed.
    async fn retry(&mut self) -> Result<(), IoFailure> {
        self.retry_at = None;
        if self.rewrite {
            self.active
                .write_at(self.retained_start, &self.retained)
                .await?;
            self.sync_after_rewrite().await?;
            self.rewrite = false;
        }
        let chunk = self.shared.state.borrow_mut().take_chunk();
        if let Some(chunk) = chunk {
            self.write(chunk).await?;
        }
        let mut state = self.shared.state.borrow_mut();
        state.failure = None;
        tracing::info!(
            core = state.core,
            "write-ahead log recovered; writes accepted again"
        );
        Ok(())
    }

    async fn sync_after_rewrite(&mut self) -> Result<(), IoFailure> {
        // A failed sync may have left `synced` equal to `written` in our
        // books while the disk lost the data: force this one.
        self.shared.state.borrow_mut().synced = Lsn {
            segment: self.active.sequence,
            offset: self.retained_start,
        };
        self.sync().await
    }

    /// Seals the active segment (synced under every policy) and moves to
    /// segment `sequence`, which must hold at least `capacity` bytes.
    async fn rotate(&mut self, sequence: u64, capacity: u64) -> Result<(), IoFailure> {
        assert_eq!(
            sequence,
            self.active.sequence + 1,
            "segments are used in order"
        );
        self.sync().await?;
        let next = self.take_spare(sequence, capacity).await?;
        let sealed = std::mem::replace(&mut self.active, next);
        sealed.close().await;
        let header = SEGMENT_HEADER_BYTES as u64;
        let core = self.shared.state.borrow().core;
        self.retained = SegmentHeader { core, sequence }.encode().to_vec();
        self.retained_start = 0;
        let mut state = self.shared.state.borrow_mut();
        state.live.push_back(LiveSegment {
            sequence,
            end: header,
        });
        let start = Lsn {
            segment: sequence,
            offset: header,
        };
        (state.written, state.synced) = (start, start);
        state.release(start);
        drop(state);
        self.start_spare(sequence + 1);
        Ok(())
    }

    async fn take_spare(&mut self, sequence: u64, capacity: u64) -> Result<SegmentFile, IoFailure> {
        let spare = match self.spare.take() {
            Some(Spare::Ready(file)) => Some(file),
            Some(Spare::Creating(task)) => task.await.transpose()?,
            None => None,
        };
        if let Some(file) = spare {
            if file.sequence == sequence && file.capacity >= capacity {
                return Ok(file);
            }
            // Too small for the record that needs it: make a bigger one.
            let path = file.path().to_path_buf();
            file.close().await;
            glommio::io::remove(&path)
                .await
                .map_err(|e| IoFailure::glommio("removing a too small spare segment", &path, e))?;
        }
        let (dir, core) = {
            let state = self.shared.state.borrow();
            (state.dir.clone(), state.core)
        };
        SegmentFile::create(&dir, core, sequence, capacity).await
    }

    /// Starts creating segment `sequence` in the background, so it is
    /// zero-filled long before the active one fills.
    fn start_spare(&mut self, sequence: u64) {
        let (dir, core, capacity) = {
            let state = self.shared.state.borrow();
            (state.dir.clone(), state.core, state.options.segment_bytes)
        };
        let task = glommio::spawn_local(async move {
            let created = SegmentFile::create(&dir, core, sequence, capacity).await;
            if let Err(e) = &created {
                tracing::warn!(core, error = %e, "could not prepare the next wal segment; the log fails when the current one fills, and retries");
            }
            created
        });
        self.spare = Some(Spare::Creating(task.detach()));
    }

    /// Syncs what was written, tells remaining waiters, closes the files.
    async fn finish(mut self) {
        if self.shared.state.borrow().failure.is_none() {
            if let Err(e) = self.sync().await {
                self.shared.state.borrow_mut().fail(e);
            }
        }
        self.shared.state.borrow_mut().close_waiters();
        match self.spare.take() {
            // Waited for, not cancelled: a cancelled task's writes and
            // rename still complete in the kernel, after close returned.
            Some(Spare::Creating(task)) => {
                if let Some(Ok(file)) = task.await {
                    file.close().await;
                }
            }
            Some(Spare::Ready(file)) => file.close().await,
            None => {}
        }
        self.active.close().await;
    }
}

/// Deletes released segments, oldest first, one at a time; stops at the
/// first that cannot be deleted (a later release retries), so the files
/// left are always consecutive.
pub(super) async fn delete_released(shared: Rc<Shared>) {
    loop {
        let next = {
            let mut state = shared.state.borrow_mut();
            let through = state.release_requested;
            let active = state.written.segment;
            let deletable = |s: &LiveSegment| {
                s.sequence < active
                    && (s.sequence < through.segment
                        || (s.sequence == through.segment && through.offset >= s.end))
            };
            match state.live.front().copied().filter(deletable) {
                Some(segment) => Some((segment.sequence, state.dir.clone(), state.core)),
                None => {
                    state.deleting = false;
                    None
                }
            }
        };
        let Some((sequence, dir, core)) = next else {
            return;
        };
        let path = dir.join(segment_file_name(sequence));
        let removed = match glommio::io::remove(&path).await {
            Ok(()) => sync_dir(&dir).await,
            Err(e) => Err(IoFailure::glommio("removing released segment", &path, e)),
        };
        let mut state = shared.state.borrow_mut();
        match removed {
            Ok(()) => {
                state.live.pop_front();
                tracing::info!(core, path = %path.display(), "released wal segment deleted");
            }
            Err(e) => {
                state.deleting = false;
                tracing::warn!(core, error = %e, "could not delete a released wal segment; a later release retries");
                return;
            }
        }
    }
}
