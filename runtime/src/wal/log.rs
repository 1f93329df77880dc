//! The log handle: append, wait for durability, release, stats.
//!
//! `append` is synchronous: it frames the record into the pending batch
//! and hands back the record's position. Nothing waits on the disk there;
//! the core's one writer task (`writer.rs`) takes whatever is pending each
//! time it is free, so everything appended while one write + fdatasync is
//! in flight goes out together in the next. `durable(lsn)` resolves once
//! the writer has made everything up to `lsn` durable in the policy's
//! sense.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures::channel::oneshot;
use glommio::task::JoinHandle;
use pinwheel_wal::{Body, Lsn, Record, SEGMENT_HEADER_BYTES};

use super::error::{IoFailure, WalError};
use super::file::align_up;
use super::options::WalOptions;
use super::stats::{Counters, WalStats};

/// Records appended for one segment and not yet taken by the writer.
#[derive(Debug)]
pub(super) struct Chunk {
    /// The segment they go to.
    pub segment: u64,
    /// That segment's capacity (used when the writer opens it).
    pub capacity: u64,
    /// Offset of the first byte in the segment.
    pub start: u64,
    /// The frames.
    pub bytes: Vec<u8>,
    /// Records in it.
    pub records: u64,
    /// Entry and chosen-entry records in it.
    pub entries: u64,
}

impl Chunk {
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

/// A segment file that exists and holds part of the log.
#[derive(Clone, Copy, Debug)]
pub(super) struct LiveSegment {
    pub sequence: u64,
    /// Offset just past its last record (for the active one: when sealed
    /// or last written).
    pub end: u64,
}

/// What the handle and the writer share on one core.
pub(super) struct State {
    pub core: u32,
    pub dir: PathBuf,
    pub options: WalOptions,
    /// Where the next record goes.
    pub cursor: Lsn,
    /// Capacity of the cursor's segment.
    pub cursor_capacity: u64,
    pub pending: VecDeque<Chunk>,
    pub pending_bytes: usize,
    /// Everything before is written.
    pub written: Lsn,
    /// Everything before is synced.
    pub synced: Lsn,
    /// Everything before is reported durable (`synced` under `always`,
    /// `written` otherwise).
    pub released: Lsn,
    pub failure: Option<Arc<IoFailure>>,
    /// Asked to stop (close, or the last handle dropped).
    pub closing: bool,
    /// The writer has stopped.
    pub closed: bool,
    waiters: BTreeMap<(Lsn, u64), oneshot::Sender<Result<(), WalError>>>,
    next_waiter: u64,
    /// Oldest first; the last is the one being written.
    pub live: VecDeque<LiveSegment>,
    pub release_requested: Lsn,
    pub deleting: bool,
    pub counters: Counters,
}

impl State {
    pub fn new(core: u32, dir: PathBuf, options: WalOptions, at: Lsn, capacity: u64) -> State {
        State {
            core,
            dir,
            options,
            cursor: at,
            cursor_capacity: capacity,
            pending: VecDeque::new(),
            pending_bytes: 0,
            written: at,
            synced: at,
            released: at,
            failure: None,
            closing: false,
            closed: false,
            waiters: BTreeMap::new(),
            next_waiter: 0,
            live: VecDeque::new(),
            release_requested: Lsn::default(),
            deleting: false,
            counters: Counters::default(),
        }
    }

    /// Reports everything before `lsn` durable and wakes its waiters.
    pub fn release(&mut self, lsn: Lsn) {
        assert!(lsn <= self.written, "released past what was written");
        if lsn <= self.released {
            return;
        }
        self.released = lsn;
        let after = Lsn {
            segment: lsn.segment,
            offset: lsn.offset + 1,
        };
        let still_waiting = self.waiters.split_off(&(after, 0));
        for (_, waiter) in std::mem::replace(&mut self.waiters, still_waiting) {
            let _ = waiter.send(Ok(()));
        }
    }

    /// Enters the failed state and fails every waiter.
    pub fn fail(&mut self, failure: IoFailure) {
        tracing::error!(core = self.core, error = %failure, "write-ahead log failed; writes refused until it recovers");
        let failure = Arc::new(failure);
        if self.failure.is_none() {
            self.counters.failures += 1;
        }
        self.failure = Some(failure.clone());
        for (_, waiter) in std::mem::take(&mut self.waiters) {
            let _ = waiter.send(Err(WalError::Failed(failure.clone())));
        }
    }

    /// The writer stopped: waiters not yet released learn it.
    pub fn close_waiters(&mut self) {
        self.closed = true;
        self.waiters.clear();
    }

    /// Takes the oldest pending chunk for the writer.
    pub fn take_chunk(&mut self) -> Option<Chunk> {
        let chunk = self.pending.pop_front()?;
        self.pending_bytes -= chunk.bytes.len();
        Some(chunk)
    }

    /// Gives a chunk the writer could not write back, to be retried first.
    pub fn untake_chunk(&mut self, chunk: Chunk) {
        self.pending_bytes += chunk.bytes.len();
        self.pending.push_front(chunk);
    }

    fn refusal(&self) -> Option<WalError> {
        if let Some(failure) = &self.failure {
            return Some(WalError::Failed(failure.clone()));
        }
        if self.closing {
            return Some(WalError::Closed);
        }
        let max = self.options.backlog_bytes_max;
        (self.pending_bytes >= max).then_some(WalError::Backlogged {
            bytes: self.pending_bytes,
            max,
        })
    }

    /// The chunk the next record of `frame_bytes` goes into, moving the
    /// cursor to a new segment when it does not fit in this one.
    fn place(&mut self, frame_bytes: u64) -> &mut Chunk {
        if self.cursor.offset + frame_bytes > self.cursor_capacity {
            let header = SEGMENT_HEADER_BYTES as u64;
            self.cursor = Lsn {
                segment: self.cursor.segment + 1,
                offset: header,
            };
            self.cursor_capacity = self
                .options
                .segment_bytes
                .max(align_up(header + frame_bytes));
        }
        let (segment, start) = (self.cursor.segment, self.cursor.offset);
        if self.pending.back().is_none_or(|c| c.segment != segment) {
            self.pending.push_back(Chunk {
                segment,
                capacity: self.cursor_capacity,
                start,
                bytes: Vec::new(),
                records: 0,
                entries: 0,
            });
        }
        self.pending.back_mut().expect("a chunk was just ensured")
    }

    fn append_one(&mut self, record: &Record<'_>) -> Result<Lsn, WalError> {
        let frame_bytes = record.frame_bytes() as u64;
        let chunk = self.place(frame_bytes);
        record.encode(&mut chunk.bytes)?;
        chunk.records += 1;
        if matches!(record.body, Body::Entry(_) | Body::Chosen(_)) {
            chunk.entries += 1;
        }
        self.cursor.offset += frame_bytes;
        self.pending_bytes += frame_bytes as usize;
        self.counters.appended_records += 1;
        self.counters.appended_bytes += frame_bytes;
        Ok(self.cursor)
    }

    pub fn stats(&self) -> WalStats {
        let c = &self.counters;
        let active_end = self.written.offset;
        let log_bytes = self
            .live
            .iter()
            .map(|s| {
                if s.sequence == self.written.segment {
                    active_end
                } else {
                    s.end
                }
            })
            .sum();
        WalStats {
            log_bytes,
            segments: self.live.len() as u64,
            appended_records: c.appended_records,
            appended_bytes: c.appended_bytes,
            writes: c.writes,
            fsyncs: c.fsyncs,
            fsync_latency_us: c.fsync_latency_us.clone(),
            records_per_fsync: c.records_per_fsync.clone(),
            entries_per_fsync: c.entries_per_fsync.clone(),
            failures: c.failures,
            failed: self.failure.as_ref().map(|f| f.to_string()),
            durable: self.released,
        }
    }
}

/// A wake-up flag for one waiting task (the writer).
#[derive(Default)]
pub(super) struct Notify {
    set: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.set.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves once `notify` has been called since the last wait.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        NotifyWait(self)
    }
}

struct NotifyWait<'a>(&'a Notify);

impl Future for NotifyWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.set.replace(false) {
            return Poll::Ready(());
        }
        *self.0.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// What the handle and the writer task share.
pub(super) struct Shared {
    pub state: RefCell<State>,
    pub wake_writer: Notify,
}

/// One core's write-ahead log. Cheap to clone (all clones are the same
/// log); usable only on the core's executor. Dropping the last clone asks
/// the writer to write what is pending and stop; [`Wal::close`] also waits
/// for it.
#[derive(Clone)]
pub struct Wal {
    handle: Rc<Handle>,
}

struct Handle {
    shared: Rc<Shared>,
    writer: RefCell<Option<JoinHandle<()>>>,
    /// The task deleting released segments, while one runs.
    deleter: RefCell<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.state.borrow_mut().closing = true;
        self.shared.wake_writer.notify();
    }
}

impl Wal {
    pub(super) fn new(shared: Rc<Shared>, writer: JoinHandle<()>) -> Wal {
        Wal {
            handle: Rc::new(Handle {
                shared,
                writer: RefCell::new(Some(writer)),
                deleter: RefCell::new(None),
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Appends one record; returns its position (the offset just past
    /// it). The record is in memory until the writer's next batch: wait
    /// with [`Wal::durable`] before acting on it. Refused, with nothing
    /// appended, while the log is failed or its backlog is full.
    pub fn append(&self, record: &Record<'_>) -> Result<Lsn, WalError> {
        self.append_batch(std::slice::from_ref(record))
    }

    /// Appends records in order, all or none; returns the position of the
    /// last (or the current end, for none). They join the same batch
    /// unless a segment boundary falls between them.
    pub fn append_batch(&self, records: &[Record<'_>]) -> Result<Lsn, WalError> {
        let mut state = self.shared().state.borrow_mut();
        if let Some(refusal) = state.refusal() {
            return Err(refusal);
        }
        let before = (state.cursor, state.cursor_capacity, state.pending.len());
        let back_len = state
            .pending
            .back()
            .map(|c| (c.bytes.len(), c.records, c.entries));
        let counters = (
            state.counters.appended_records,
            state.counters.appended_bytes,
        );
        for record in records {
            if let Err(e) = state.append_one(record) {
                rollback(&mut state, before, back_len, counters);
                return Err(e);
            }
        }
        let lsn = state.cursor;
        drop(state);
        self.shared().wake_writer.notify();
        Ok(lsn)
    }

    /// Resolves once everything up to `lsn` is durable: synced under
    /// `always`, written under `batch` and `never`. Fails at once if the
    /// log is failed (or fails later) before that.
    pub async fn durable(&self, lsn: Lsn) -> Result<(), WalError> {
        let receiver = {
            let mut state = self.shared().state.borrow_mut();
            if lsn <= state.released {
                return Ok(());
            }
            if let Some(refusal) = state.failure.clone() {
                return Err(WalError::Failed(refusal));
            }
            if state.closed {
                return Err(WalError::Closed);
            }
            assert!(lsn <= state.cursor, "waiting for a position never appended");
            let (sender, receiver) = oneshot::channel();
            let id = state.next_waiter;
            state.next_waiter += 1;
            state.waiters.insert((lsn, id), sender);
            receiver
        };
        receiver.await.unwrap_or(Err(WalError::Closed))
    }

    /// Resolves once the backlog has room for more appends (or fails as
    /// `durable` does).
    pub async fn writable(&self) -> Result<(), WalError> {
        let cursor = {
            let state = self.shared().state.borrow();
            if state.pending_bytes < state.options.backlog_bytes_max {
                return Ok(());
            }
            state.cursor
        };
        self.durable(cursor).await
    }

    /// Says that nothing at or before `lsn` is needed any more (every group
    /// on this core has a snapshot past it), so segments wholly before it
    /// may be deleted. Deletion happens in the background, oldest first;
    /// the segment being written is never deleted. Deleting a segment also
    /// deletes any promise record in it: append each group's current
    /// promise again with its snapshot mark, before releasing.
    pub fn release_through(&self, lsn: Lsn) {
        let mut state = self.shared().state.borrow_mut();
        state.release_requested = state.release_requested.max(lsn);
        if !state.deleting {
            state.deleting = true;
            drop(state);
            let task =
                glommio::spawn_local(super::writer::delete_released(self.handle.shared.clone()));
            *self.handle.deleter.borrow_mut() = Some(task.detach());
        }
    }

    /// A copy of the log's counters.
    pub fn stats(&self) -> WalStats {
        self.shared().state.borrow().stats()
    }

    /// The position the next record would get (the end of the log).
    pub fn end(&self) -> Lsn {
        self.shared().state.borrow().cursor
    }

    /// Writes and syncs everything appended, then stops the writer and
    /// waits for the background tasks (the next segment's preparation, a
    /// deletion) to finish. After this every append fails with `Closed`. Fails if the log was failed:
    /// then what was pending is not durable. Call it before the executor
    /// exits: a dropped log stops its writer only if the executor keeps
    /// running, and glommio leaks the descriptors of files it never closed.
    pub async fn close(&self) -> Result<(), WalError> {
        self.shared().state.borrow_mut().closing = true;
        self.shared().wake_writer.notify();
        let writer = self.handle.writer.borrow_mut().take();
        if let Some(writer) = writer {
            writer.await;
        }
        // Nothing of this log may still touch its files once close returns.
        let deleter = self.handle.deleter.borrow_mut().take();
        if let Some(deleter) = deleter {
            deleter.await;
        }
        match &self.shared().state.borrow().failure {
            Some(failure) => Err(WalError::Failed(failure.clone())),
            None => Ok(()),
        }
    }
}

type BackChunk = Option<(usize, u64, u64)>;

/// Undoes a partly appended batch.
fn rollback(state: &mut State, before: (Lsn, u64, usize), back: BackChunk, counters: (u64, u64)) {
    let (cursor, capacity, chunks) = before;
    state.pending.truncate(chunks);
    if let (Some(chunk), Some((len, records, entries))) = (state.pending.back_mut(), back) {
        chunk.bytes.truncate(len);
        chunk.records = records;
        chunk.entries = entries;
    }
    state.pending_bytes = state.pending.iter().map(|c| c.bytes.len()).sum();
    state.cursor = cursor;
    state.cursor_capacity = capacity;
    (
        state.counters.appended_records,
        state.counters.appended_bytes,
    ) = counters;
}
