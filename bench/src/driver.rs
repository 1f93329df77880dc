//! The load loops: one epoll event loop per thread over non-blocking
//! sockets, the shape of redis-benchmark's client, so the tool spends a
//! few hundred nanoseconds per request and the server's time dominates.
//!
//! Closed loop: each client sends a batch of `--pipeline` requests, waits
//! for every reply, and sends the next batch; latency counts from the
//! batch's send. Open loop (`--rate`): requests are due on a fixed
//! schedule, and each one's latency counts from when it was due, not from
//! when it could be sent, so a server stall that holds back the senders
//! still shows up in full (no coordinated omission).

use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::config::RunConfig;
use crate::proto::{Codec, Outcome};
use crate::report::ErrorMessages;
use crate::rng::Rng;
use crate::target::{Balancer, Target};
use crate::timer::TimerFd;
use crate::workload::{Cmd, CmdKind, KeyGen};

/// Read buffer per connection at first; it grows for larger replies.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Largest read buffer: the largest value plus room for a pipeline of
/// small replies.
const READ_BUFFER_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How long a reconnection attempt may block its thread.
const RECONNECT_TIMEOUT: Duration = Duration::from_millis(100);
/// First wait before reconnecting a dropped connection; it doubles.
const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest wait between reconnection attempts.
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Progress is reported at this period.
pub(crate) const TICK: Duration = Duration::from_secs(1);
/// Events taken from epoll per wakeup.
const EVENTS_PER_POLL: usize = 1024;
/// Latency histograms track 1 ns to this many ns (one minute) with three
/// significant digits; longer latencies are clamped to it.
pub(crate) const LATENCY_MAX_NS: u64 = 60_000_000_000;
const TIMER_TOKEN: Token = Token(usize::MAX - 1);
/// After a run, how long lock pairs still in flight get to finish (their
/// releases sent) before the connections close.
const LOCK_DRAIN_MAX: Duration = Duration::from_secs(2);

/// A fresh latency histogram, in nanoseconds.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3).expect("constant bounds are valid")
}

/// What every load thread shares.
pub(crate) struct Plan<'a> {
    pub(crate) cfg: &'a RunConfig,
    pub(crate) target: &'a Target,
    /// Warm-up starts.
    pub(crate) t0: Instant,
    /// Measurement starts: operations that began before are not counted.
    pub(crate) measure_start: Instant,
    /// Everything stops.
    pub(crate) end: Instant,
    pub(crate) ticks: Sender<Tick>,
}

/// One thread's last second, for the progress line.
pub(crate) struct Tick {
    pub(crate) index: u64,
    pub(crate) ops: u64,
    pub(crate) errors: u64,
    pub(crate) hist: Histogram<u64>,
}

/// One thread's measured results.
pub(crate) struct ThreadResult {
    pub(crate) hist: Histogram<u64>,
    pub(crate) ops: u64,
    pub(crate) errors: BTreeMap<String, u64>,
    /// The servers' error texts.
    pub(crate) error_messages: ErrorMessages,
    /// Operations and latency per address of the target.
    pub(crate) per_address: Vec<(u64, Histogram<u64>)>,
}

struct Pending {
    cmd: Cmd,
    /// When the operation began (closed loop) or was due (open loop).
    start: Instant,
}

struct Conn {
    stream: Option<TcpStream>,
    address: usize,
    client: usize,
    out: Vec<u8>,
    out_pos: usize,
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    pending: VecDeque<Pending>,
    /// Operations in flight (a lock pair is one operation).
    ops: usize,
    retry_at: Option<Instant>,
    backoff: Duration,
}

/// A closed-loop client: one connection per address, one batch at a time.
struct Client {
    conns: Vec<usize>,
}

/// The open loop's schedule for this thread.
struct Schedule {
    interval_ns: f64,
    sent: u64,
    /// Requests due over the whole run, so the loop is bounded in count.
    limit: u64,
    timer: TimerFd,
    armed_for: Option<Instant>,
}

struct Interval {
    ops: u64,
    errors: u64,
    hist: Histogram<u64>,
    index: u64,
    next: Instant,
}

/// One load thread.
pub(crate) struct Worker<'a> {
    plan: &'a Plan<'a>,
    poll: Poll,
    codec: Codec,
    conns: Vec<Conn>,
    clients: Vec<Client>,
    by_address: Vec<Vec<usize>>,
    next_free: Vec<usize>,
    balancer: Balancer,
    rng: Rng,
    keys: KeyGen,
    pipeline: usize,
    schedule: Option<Schedule>,
    owner_seq: u64,
    down: usize,
    result: ThreadResult,
    interval: Interval,
}

impl<'a> Worker<'a> {
    /// A worker for `clients` (each a connected socket per address) that
    /// will carry `share` of the open loop's rate.
    pub(crate) fn new(
        plan: &'a Plan<'a>,
        thread: usize,
        clients: Vec<Vec<std::net::TcpStream>>,
        share: f64,
        codec: Codec,
    ) -> std::io::Result<Worker<'a>> {
        let cfg = plan.cfg;
        let addresses = plan.target.endpoints.len();
        let poll = Poll::new()?;
        let mut worker = Worker {
            plan,
            poll,
            codec,
            conns: Vec::new(),
            clients: Vec::new(),
            by_address: vec![Vec::new(); addresses],
            next_free: vec![0; addresses],
            balancer: Balancer::new(
                cfg.balance.clone(),
                addresses,
                cfg.seed ^ (thread as u64) << 32,
            ),
            rng: Rng::new(crate::rng::mix(cfg.seed.wrapping_add(thread as u64))),
            keys: KeyGen::new(cfg.keys, cfg.key_dist),
            pipeline: cfg.pipeline as usize,
            schedule: None,
            owner_seq: 0,
            down: 0,
            result: ThreadResult {
                hist: histogram(),
                ops: 0,
                errors: BTreeMap::new(),
                error_messages: ErrorMessages::default(),
                per_address: (0..addresses).map(|_| (0, histogram())).collect(),
            },
            interval: Interval {
                ops: 0,
                errors: 0,
                hist: histogram(),
                index: 0,
                next: plan.t0 + TICK,
            },
        };
        for sockets in clients {
            worker.add_client(sockets)?;
        }
        if let Some(rate) = cfg.rate {
            worker.schedule = Some(schedule(plan, rate * share)?);
            let timer = worker
                .schedule
                .as_ref()
                .map(|s| s.timer.raw_fd())
                .unwrap_or_default();
            worker.poll.registry().register(
                &mut SourceFd(&timer),
                TIMER_TOKEN,
                Interest::READABLE,
            )?;
        }
        Ok(worker)
    }

    fn add_client(&mut self, sockets: Vec<std::net::TcpStream>) -> std::io::Result<()> {
        let client = self.clients.len();
        let mut conns = Vec::with_capacity(sockets.len());
        for (address, socket) in sockets.into_iter().enumerate() {
            let index = self.conns.len();
            let mut stream = TcpStream::from_std(socket);
            self.poll.registry().register(
                &mut stream,
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            self.conns.push(Conn {
                stream: Some(stream),
                address,
                client,
                out: Vec::new(),
                out_pos: 0,
                inbuf: vec![0; READ_BUFFER_BYTES],
                in_start: 0,
                in_end: 0,
                pending: VecDeque::new(),
                ops: 0,
                retry_at: None,
                backoff: RECONNECT_BACKOFF_MIN,
            });
            self.by_address[address].push(index);
            conns.push(index);
        }
        self.clients.push(Client { conns });
        Ok(())
    }

    /// Runs until the plan's end; every wait is bounded by it.
    pub(crate) fn run(mut self) -> ThreadResult {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while Instant::now() < self.plan.t0 {
            std::thread::sleep(self.plan.t0 - Instant::now());
        }
        if self.schedule.is_none() {
            for client in 0..self.clients.len() {
                self.start_batch(client, Instant::now());
            }
        }
        loop {
            let now = Instant::now();
            if now >= self.plan.end {
                break;
            }
            self.housekeeping(now);
            let timeout = self.next_wake(now).saturating_duration_since(now);
            if let Err(error) = self.poll.poll(&mut events, Some(timeout)) {
                if error.kind() != ErrorKind::Interrupted {
                    self.count_error("poll", 1, Instant::now());
                }
                continue;
            }
            for event in events.iter() {
                if event.token() == TIMER_TOKEN {
                    if let Some(schedule) = &self.schedule {
                        schedule.timer.drain();
                    }
                    continue;
                }
                let index = event.token().0;
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(index);
                }
                if event.is_writable() {
                    self.flush(index, Instant::now());
                }
            }
        }
        // The last, possibly partial, second.
        self.send_tick();
        self.release_held_locks();
        self.result
    }

    /// After the run, lets outstanding lock pairs finish so no lock stays
    /// held for its whole TTL by a client that has gone: the next run (or
    /// target) would otherwise queue behind it. Bounded by
    /// [`LOCK_DRAIN_MAX`]; a waiter still queued then leaves when its
    /// connection closes, which the server handles.
    fn release_held_locks(&mut self) {
        let deadline = Instant::now() + LOCK_DRAIN_MAX;
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        while self.lock_pair_in_flight() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            if self.poll.poll(&mut events, Some(deadline - now)).is_err() {
                return;
            }
            for event in events.iter() {
                if event.token() != TIMER_TOKEN {
                    self.read(event.token().0);
                }
            }
        }
    }

    fn lock_pair_in_flight(&self) -> bool {
        self.conns.iter().any(|conn| {
            conn.stream.is_some()
                && conn
                    .pending
                    .iter()
                    .any(|p| matches!(p.cmd.kind, CmdKind::Acquire | CmdKind::Release))
        })
    }

    fn housekeeping(&mut self, now: Instant) {
        if now >= self.interval.next {
            self.send_tick();
        }
        if self.down > 0 {
            self.reconnect_due(now);
        }
        if self.schedule.is_some() {
            self.dispatch_due(now);
        }
    }

    /// The next moment something is due: a tick, a reconnection, the end,
    /// or (through the timerfd) the open loop's next send.
    fn next_wake(&mut self, now: Instant) -> Instant {
        let mut wake = self.plan.end.min(self.interval.next);
        if self.down > 0 {
            for conn in &self.conns {
                if let Some(at) = conn.retry_at {
                    wake = wake.min(at);
                }
            }
        }
        if let Some(schedule) = &mut self.schedule {
            if schedule.sent < schedule.limit {
                let due = self.plan.t0 + nanos(schedule.sent as f64 * schedule.interval_ns);
                // A due time already past means the senders are all busy:
                // replies, not the timer, will wake us.
                if due > now
                    && schedule.armed_for != Some(due)
                    && schedule.timer.arm(due - now).is_ok()
                {
                    schedule.armed_for = Some(due);
                }
            }
        }
        wake
    }

    fn send_tick(&mut self) {
        let tick = Tick {
            index: self.interval.index,
            ops: self.interval.ops,
            errors: self.interval.errors,
            hist: self.interval.hist.clone(),
        };
        // The receiver only goes away once the run is over.
        let _ = self.plan.ticks.send(tick);
        self.interval.ops = 0;
        self.interval.errors = 0;
        self.interval.hist.reset();
        self.interval.index += 1;
        self.interval.next += TICK;
    }

    fn next_cmd(&mut self) -> Cmd {
        let mut cmd = self.plan.cfg.workload.next(&mut self.keys, &mut self.rng);
        if cmd.kind == CmdKind::Acquire {
            self.owner_seq += 1;
            cmd.token = self.owner_seq;
        }
        cmd
    }

    /// Closed loop: sends the client's next batch to an address the
    /// balancer picks (or any that is up).
    fn start_batch(&mut self, client: usize, now: Instant) {
        if now >= self.plan.end {
            return;
        }
        let picked = self.balancer.pick();
        let conns = &self.clients[client].conns;
        let Some(index) = std::iter::once(conns[picked])
            .chain(conns.iter().copied())
            .find(|&c| self.conns[c].stream.is_some())
        else {
            return; // every address is down; the reconnection restarts us
        };
        for _ in 0..self.pipeline {
            let cmd = self.next_cmd();
            self.send(index, cmd, now);
        }
        self.conns[index].ops += self.pipeline;
        self.flush(index, now);
    }

    /// Open loop: sends every request that is due, each stamped with the
    /// time it was due.
    fn dispatch_due(&mut self, now: Instant) {
        let Some(schedule) = &self.schedule else {
            return;
        };
        let elapsed_ns = now.saturating_duration_since(self.plan.t0).as_nanos() as f64;
        let due = ((elapsed_ns / schedule.interval_ns) as u64 + 1).min(schedule.limit);
        let (interval_ns, mut sent) = (schedule.interval_ns, schedule.sent);
        let mut touched = Vec::new();
        while sent < due {
            let address = self.balancer.pick();
            let Some(index) = self.free_conn(address) else {
                break;
            };
            let cmd = self.next_cmd();
            self.send(index, cmd, self.plan.t0 + nanos(sent as f64 * interval_ns));
            self.conns[index].ops += 1;
            sent += 1;
            if touched.last() != Some(&index) {
                touched.push(index);
            }
        }
        if let Some(schedule) = &mut self.schedule {
            schedule.sent = sent;
        }
        for index in touched {
            self.flush(index, now);
        }
    }

    /// A connection to `address` with room in its pipeline, in turn.
    fn free_conn(&mut self, address: usize) -> Option<usize> {
        let conns = &self.by_address[address];
        for step in 0..conns.len() {
            let at = (self.next_free[address] + step) % conns.len();
            let conn = &self.conns[conns[at]];
            if conn.stream.is_some() && conn.ops < self.pipeline {
                self.next_free[address] = at;
                return Some(conns[at]);
            }
        }
        None
    }

    fn send(&mut self, index: usize, cmd: Cmd, start: Instant) {
        let conn = &mut self.conns[index];
        let host = &self.plan.target.endpoints[conn.address].name;
        self.codec.encode(&cmd, host, &mut conn.out);
        conn.pending.push_back(Pending { cmd, start });
    }

    fn flush(&mut self, index: usize, now: Instant) {
        let conn = &mut self.conns[index];
        let Some(stream) = conn.stream.as_mut() else {
            return;
        };
        while conn.out_pos < conn.out.len() {
            match stream.write(&conn.out[conn.out_pos..]) {
                Ok(0) => return self.drop_conn(index, "disconnect", now),
                Ok(n) => conn.out_pos += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.drop_conn(index, "disconnect", now),
            }
        }
        conn.out.clear();
        conn.out_pos = 0;
    }

    /// Reads until the socket is empty, handling replies as they complete.
    fn read(&mut self, index: usize) {
        loop {
            if !self.make_room(index) {
                return self.drop_conn(index, "reply_too_large", Instant::now());
            }
            let conn = &mut self.conns[index];
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            match stream.read(&mut conn.inbuf[conn.in_end..]) {
                Ok(0) => return self.drop_conn(index, "disconnect", Instant::now()),
                Ok(n) => {
                    conn.in_end += n;
                    let now = Instant::now();
                    if !self.consume(index, now) {
                        return;
                    }
                    self.flush(index, now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.drop_conn(index, "disconnect", Instant::now()),
            }
        }
    }

    /// Ensures free space at the end of the read buffer; false if a reply
    /// would outgrow the limit.
    fn make_room(&mut self, index: usize) -> bool {
        let conn = &mut self.conns[index];
        if conn.in_start == conn.in_end {
            conn.in_start = 0;
            conn.in_end = 0;
        }
        if conn.in_end < conn.inbuf.len() {
            return true;
        }
        if conn.in_start > 0 {
            conn.inbuf.copy_within(conn.in_start..conn.in_end, 0);
            conn.in_end -= conn.in_start;
            conn.in_start = 0;
            return true;
        }
        if conn.inbuf.len() >= READ_BUFFER_MAX_BYTES {
            return false;
        }
        conn.inbuf
            .resize((conn.inbuf.len() * 2).min(READ_BUFFER_MAX_BYTES), 0);
        true
    }

    /// Handles every complete reply in the buffer; false if the
    /// connection was dropped.
    fn consume(&mut self, index: usize, now: Instant) -> bool {
        loop {
            let conn = &self.conns[index];
            let buf = &conn.inbuf[conn.in_start..conn.in_end];
            let frame = match self.codec.scan(buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(_) => {
                    self.drop_conn(index, "protocol", now);
                    return false;
                }
            };
            let conn = &mut self.conns[index];
            let at = conn.in_start;
            conn.in_start += frame.len;
            let Some(pending) = conn.pending.pop_front() else {
                self.count_error("unexpected_reply", 1, now);
                continue;
            };
            let bytes = &self.conns[index].inbuf[at..at + frame.len];
            let outcome = self.codec.classify(&pending.cmd, frame, bytes);
            self.on_outcome(index, pending, outcome, now);
        }
    }

    fn on_outcome(&mut self, index: usize, pending: Pending, outcome: Outcome, now: Instant) {
        match outcome {
            Outcome::Token(token) => {
                // The pair's second half goes out at once on the same
                // connection; the operation's clock keeps running.
                let cmd = Cmd {
                    kind: CmdKind::Release,
                    key: pending.cmd.key,
                    token,
                };
                self.send(index, cmd, pending.start);
            }
            Outcome::Done => {
                self.complete(index, pending.start, now, None);
            }
            Outcome::Error(kind) => {
                self.complete(index, pending.start, now, Some(kind));
            }
            Outcome::Refused { kind, text } => {
                if self.complete(index, pending.start, now, Some(kind)) {
                    self.result.error_messages.add(&text, 1);
                }
            }
        }
    }

    /// Counts a finished operation; true when it fell in the measured time.
    fn complete(
        &mut self,
        index: usize,
        start: Instant,
        now: Instant,
        error: Option<String>,
    ) -> bool {
        let conn = &mut self.conns[index];
        conn.ops -= 1;
        let (address, client, idle) = (conn.address, conn.client, conn.ops == 0);
        let latency_ns =
            (now.saturating_duration_since(start).as_nanos() as u64).clamp(1, LATENCY_MAX_NS);
        let measured = start >= self.plan.measure_start && now <= self.plan.end;
        match error {
            None => {
                self.interval.ops += 1;
                let _ = self.interval.hist.record(latency_ns);
                self.balancer.observe(address, latency_ns);
                if measured {
                    self.result.ops += 1;
                    let _ = self.result.hist.record(latency_ns);
                    let (ops, hist) = &mut self.result.per_address[address];
                    *ops += 1;
                    let _ = hist.record(latency_ns);
                }
            }
            Some(kind) => {
                self.interval.errors += 1;
                if measured {
                    *self.result.errors.entry(kind).or_insert(0) += 1;
                }
            }
        }
        if idle && self.schedule.is_none() {
            self.start_batch(client, now);
        }
        measured
    }

    fn count_error(&mut self, kind: &str, count: u64, now: Instant) {
        self.interval.errors += count;
        if count > 0 && now >= self.plan.measure_start && now <= self.plan.end {
            *self.result.errors.entry(kind.to_string()).or_insert(0) += count;
        }
    }

    /// A dropped connection is an error, and so is every operation lost
    /// with it; it is reconnected after a backoff.
    fn drop_conn(&mut self, index: usize, kind: &str, now: Instant) {
        let conn = &mut self.conns[index];
        let Some(mut stream) = conn.stream.take() else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut stream);
        let lost = conn.ops as u64;
        conn.pending.clear();
        conn.ops = 0;
        conn.out.clear();
        conn.out_pos = 0;
        conn.in_start = 0;
        conn.in_end = 0;
        conn.retry_at = Some(now + conn.backoff);
        let client = conn.client;
        self.down += 1;
        self.count_error(kind, 1, now);
        self.count_error("lost_in_flight", lost, now);
        // The client's batch was on this connection: carry on elsewhere.
        if self.schedule.is_none() && lost > 0 {
            self.start_batch(client, now);
        }
    }

    fn reconnect_due(&mut self, now: Instant) {
        for index in 0..self.conns.len() {
            if self.conns[index].retry_at.is_some_and(|at| at <= now) {
                self.reconnect(index, now);
            }
        }
    }

    fn reconnect(&mut self, index: usize, now: Instant) {
        let address = self.plan.target.endpoints[self.conns[index].address].addr;
        match connect(address, RECONNECT_TIMEOUT).and_then(|socket| {
            let mut stream = TcpStream::from_std(socket);
            self.poll.registry().register(
                &mut stream,
                Token(index),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        }) {
            Ok(stream) => {
                let conn = &mut self.conns[index];
                conn.stream = Some(stream);
                conn.retry_at = None;
                conn.backoff = RECONNECT_BACKOFF_MIN;
                self.down -= 1;
                let client = conn.client;
                let client_idle = self.clients[client]
                    .conns
                    .iter()
                    .all(|&c| self.conns[c].ops == 0);
                if self.schedule.is_none() && client_idle {
                    self.start_batch(client, Instant::now());
                }
            }
            Err(_) => {
                let conn = &mut self.conns[index];
                conn.backoff = (conn.backoff * 2).min(RECONNECT_BACKOFF_MAX);
                conn.retry_at = Some(now + conn.backoff);
                self.count_error("connect", 1, now);
            }
        }
    }
}

fn schedule(plan: &Plan<'_>, rate: f64) -> std::io::Result<Schedule> {
    let interval_ns = 1e9 / rate;
    let run_ns = plan.end.saturating_duration_since(plan.t0).as_nanos() as f64;
    Ok(Schedule {
        interval_ns,
        sent: 0,
        limit: (run_ns / interval_ns).ceil() as u64,
        timer: TimerFd::new()?,
        armed_for: None,
    })
}

fn nanos(ns: f64) -> Duration {
    Duration::from_nanos(ns as u64)
}

/// A connected, non-blocking, no-delay socket (Nagle would add up to
/// 40 ms to a pipelined request).
pub(crate) fn connect(
    address: SocketAddr,
    timeout: Duration,
) -> std::io::Result<std::net::TcpStream> {
    let socket = std::net::TcpStream::connect_timeout(&address, timeout)?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
