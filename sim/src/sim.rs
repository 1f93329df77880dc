//! One seeded run: replicas, network, disks, clocks, clients and faults,
//! stepped one simulated millisecond at a time on one thread.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use pinwheel_consensus::{
    decode, encode, Body, Config, Entry, Message, NodeId, PlantedBug, Prng, ProposeError, Ready,
    Replica, RoleKind, Slot,
};

use crate::checker::{Checker, Pos};
use crate::kv::{Command, Kv, Op, KEYS};
use crate::storage::Storage;

/// The clock drift bound the simulated replicas are configured with, and
/// which the simulated clocks stay inside: ±10 %, deliberately far above real
/// hardware so lease bugs show up quickly.
pub const SIM_DRIFT_PPM: u64 = 100_000;
/// Faults are injected until this simulated time.
pub const FAULT_PHASE_MS: u64 = 5_000;
/// After faults heal, every operation must complete within this long.
pub const LIVENESS_MS: u64 = 6_000;
/// Clients stop starting operations this long before the end.
const QUIET_MS: u64 = 3_000;
/// A client resends an unanswered operation after this long.
const CLIENT_RETRY_MS: u64 = 300;
/// A client retries quickly after a refusal (not leader, busy).
const CLIENT_REDIRECT_MS: u64 = 15;
/// Concurrent clients.
const CLIENTS: u32 = 4;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Options {
    /// Fixes everything.
    pub seed: u64,
    /// 3 or 5.
    pub replicas: usize,
    /// A deliberately planted bug, to prove the checks bite.
    pub bug: Option<PlantedBug>,
    /// Print a readable event trace.
    pub trace: bool,
}

/// What one seed found.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The first violation, if any.
    pub violation: Option<String>,
    /// Distinct client commands committed.
    pub commits: u64,
}

/// The replica configuration the simulator uses: short timeouts so a run
/// sees many elections, a small window and batch so it sees many slots, and
/// frequent compaction so it sees snapshot installs.
pub fn sim_config(id: NodeId, replicas: usize, seed: u64, bug: Option<PlantedBug>) -> Config {
    let mut config = Config::new(id, (0..replicas as NodeId).collect(), seed);
    config.heartbeat_interval_ms = 20;
    config.election_timeout_ms = 200;
    config.election_jitter_ms = 50;
    config.lease_grant_ms = 200;
    config.clock_drift_ppm_max = SIM_DRIFT_PPM;
    config.accept_retry_ms = 60;
    config.catchup_retry_ms = 50;
    config.batch_commands_max = 8;
    config.batch_delay_ms = 2;
    config.window_slots_max = 4;
    config.message_entries_max = 8;
    config.accept_ahead_slots_max = 64;
    config.compact_slots = 40;
    config.command_bytes_max = 64;
    config.planted_bug = bug;
    config
}

/// A drifting local clock: `local = base_local + (t - base_t) * rate`.
#[derive(Clone, Copy, Debug)]
struct Clock {
    base_t: u64,
    base_local: u64,
    rate_ppm: i64,
}

impl Clock {
    fn random(prng: &mut Prng, t: u64) -> Clock {
        let rho = SIM_DRIFT_PPM as i64;
        // Extremes are where lease bugs live, so favour them.
        let rate_ppm = match prng.up_to(9) {
            0..=3 => -rho,
            4..=7 => rho,
            _ => prng.up_to(2 * rho as u64) as i64 - rho,
        };
        Clock {
            base_t: t,
            base_local: prng.up_to(1_000_000),
            rate_ppm,
        }
    }

    fn local(&self, t: u64) -> u64 {
        let elapsed = (t - self.base_t) as i128 * (1_000_000 + self.rate_ppm as i128) / 1_000_000;
        self.base_local + elapsed as u64
    }
}

struct PendingRead {
    client: u32,
    seq: u64,
    index: Slot,
}

struct Node {
    replica: Option<Replica>,
    storage: Storage,
    kv: Kv,
    applied: Slot,
    clock: Clock,
    restart_at: u64,
    pending: BTreeSet<(u32, u64)>,
    reads: Vec<PendingRead>,
    last_role: Option<RoleKind>,
}

#[derive(Clone, Copy, Debug)]
enum Work {
    Idle {
        next_at: u64,
    },
    Write {
        command: Command,
        invoked_at: u64,
        frontier: Pos,
        retry_at: u64,
    },
    Read {
        key: u8,
        seq: u64,
        invoked_at: u64,
        frontier: Pos,
        retry_at: u64,
    },
}

struct Client {
    id: u32,
    seq: u64,
    target: usize,
    work: Work,
}

/// Per-seed fault intensities ("swarm testing": each seed its own mix).
#[derive(Clone, Copy, Debug)]
struct Profile {
    delay_max_ms: u64,
    loss_per_mille: u64,
    dup_per_mille: u64,
    fault_interval_ms: u64,
    crash_io_per_mille: u64,
}

impl Profile {
    fn random(prng: &mut Prng) -> Profile {
        let pick = |prng: &mut Prng, xs: &[u64]| xs[prng.up_to(xs.len() as u64 - 1) as usize];
        Profile {
            delay_max_ms: pick(prng, &[2, 5, 10, 30]),
            loss_per_mille: pick(prng, &[0, 10, 50, 150]),
            dup_per_mille: pick(prng, &[0, 20, 100]),
            fault_interval_ms: pick(prng, &[150, 400, 1000]),
            crash_io_per_mille: pick(prng, &[0, 1, 4]),
        }
    }
}

/// A message on the wire: (delivery time, send order, destination, encoded
/// bytes), ordered so the earliest delivery pops first and ties keep order.
type InFlight = Reverse<(u64, u64, usize, Vec<u8>)>;

/// The whole simulated world.
pub struct Sim {
    options: Options,
    prng: Prng,
    profile: Profile,
    t: u64,
    nodes: Vec<Node>,
    clients: Vec<Client>,
    in_flight: BinaryHeap<InFlight>,
    sent: u64,
    blocked: Vec<Vec<bool>>,
    clog_until: Vec<Vec<u64>>,
    next_fault_at: u64,
    healed: bool,
    checker: Checker,
}

/// Runs one seed to completion or to its first violation.
pub fn run_seed(options: &Options) -> Outcome {
    let mut sim = Sim::new(options.clone());
    sim.run();
    Outcome {
        violation: sim.checker.violation.take(),
        commits: sim.checker.commits,
    }
}

impl Sim {
    fn new(options: Options) -> Sim {
        assert!(
            options.replicas == 3 || options.replicas == 5,
            "replicas must be 3 or 5"
        );
        let mut prng = Prng::new(options.seed);
        let profile = Profile::random(&mut prng);
        let n = options.replicas;
        let mut nodes = Vec::with_capacity(n);
        for id in 0..n {
            let clock = Clock::random(&mut prng, 0);
            let config = sim_config(id as NodeId, n, prng.next_u64(), options.bug);
            let replica = Replica::new(config, clock.local(0)).expect("sim config is valid");
            nodes.push(Node {
                replica: Some(replica),
                storage: Storage::default(),
                kv: Kv::default(),
                applied: 0,
                clock,
                restart_at: 0,
                pending: BTreeSet::new(),
                reads: Vec::new(),
                last_role: None,
            });
        }
        let clients = (0..CLIENTS)
            .map(|id| Client {
                id,
                seq: 0,
                target: id as usize % n,
                work: Work::Idle { next_at: 0 },
            })
            .collect();
        let trace = options.trace;
        let sim = Sim {
            checker: Checker::new(n),
            options,
            prng,
            profile,
            t: 0,
            nodes,
            clients,
            in_flight: BinaryHeap::new(),
            sent: 0,
            blocked: vec![vec![false; n]; n],
            clog_until: vec![vec![0; n]; n],
            next_fault_at: 300,
            healed: false,
        };
        if trace {
            println!("seed {} profile {:?}", sim.options.seed, sim.profile);
        }
        sim
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if self.options.trace {
            println!("t={:>5} {}", self.t, what());
        }
    }

    fn run(&mut self) {
        let end = FAULT_PHASE_MS + LIVENESS_MS;
        while self.t <= end && self.checker.violation.is_none() {
            self.step_faults();
            self.step_restarts();
            self.step_network();
            self.step_ticks();
            self.step_clients();
            self.step_reads();
            self.check_leases();
            self.t += 1;
        }
        if self.checker.violation.is_none() {
            self.check_liveness();
        }
    }

    // ---- faults ----------------------------------------------------------

    fn step_faults(&mut self) {
        if self.t >= FAULT_PHASE_MS {
            if !self.healed {
                self.heal_all();
            }
            return;
        }
        if self.t < self.next_fault_at {
            return;
        }
        let interval = self.profile.fault_interval_ms;
        self.next_fault_at = self.t + interval / 2 + self.prng.up_to(interval);
        self.inject_fault();
    }

    fn inject_fault(&mut self) {
        let n = self.nodes.len();
        let victim = self.prng.up_to(n as u64 - 1) as usize;
        let leader = self.leader().unwrap_or(victim);
        match self.prng.up_to(9) {
            0 | 1 => self.isolate(leader, true, true),
            2 => self.isolate(victim, true, true),
            3 => {
                let (inbound, outbound) = if self.prng.chance(1, 2) {
                    (true, false)
                } else {
                    (false, true)
                };
                self.isolate(victim, inbound, outbound);
            }
            4 => self.random_links(),
            5 | 6 => self.heal_network(),
            7 => self.crash(victim),
            8 => self.crash(leader),
            _ => self.clog(),
        }
    }

    fn leader(&self) -> Option<usize> {
        self.nodes.iter().position(|node| {
            node.replica
                .as_ref()
                .is_some_and(|r| r.status().role == RoleKind::Leader)
        })
    }

    fn isolate(&mut self, node: usize, inbound: bool, outbound: bool) {
        self.trace(|| format!("fault: isolate {node} (in {inbound}, out {outbound})"));
        for other in 0..self.nodes.len() {
            if other != node {
                self.blocked[other][node] |= inbound;
                self.blocked[node][other] |= outbound;
            }
        }
    }

    fn random_links(&mut self) {
        self.trace(|| "fault: random one-way link cuts".to_string());
        let n = self.nodes.len();
        for from in 0..n {
            for to in 0..n {
                if from != to {
                    self.blocked[from][to] = self.prng.chance(3, 10);
                }
            }
        }
    }

    fn clog(&mut self) {
        let n = self.nodes.len() as u64;
        let from = self.prng.up_to(n - 1) as usize;
        let to = self.prng.up_to(n - 1) as usize;
        let until = self.t + 200 + self.prng.up_to(800);
        self.trace(|| format!("fault: clog {from}->{to} until {until}"));
        self.clog_until[from][to] = until;
    }

    fn heal_network(&mut self) {
        self.trace(|| "fault: network healed".to_string());
        for row in &mut self.blocked {
            row.iter_mut().for_each(|b| *b = false);
        }
    }

    fn heal_all(&mut self) {
        self.healed = true;
        self.trace(|| "heal: all faults off; liveness phase".to_string());
        self.heal_network();
        for row in &mut self.clog_until {
            row.iter_mut().for_each(|c| *c = 0);
        }
        self.profile.loss_per_mille = 0;
        self.profile.dup_per_mille = 0;
        self.profile.crash_io_per_mille = 0;
        for node in &mut self.nodes {
            node.restart_at = node.restart_at.min(self.t);
        }
    }

    fn crash(&mut self, node: usize) {
        let down = self.nodes.iter().filter(|n| n.replica.is_none()).count();
        // Keep a majority up during faults so runs make progress; an
        // acceptor that crashes still loses its unsynced writes.
        if self.nodes[node].replica.is_none() || down + 1 > (self.nodes.len() - 1) / 2 {
            return;
        }
        self.crash_now(node);
    }

    fn crash_now(&mut self, node: usize) {
        let restart_at = self.t + 20 + self.prng.up_to(600);
        self.trace(|| format!("crash: {node} (restart at {restart_at})"));
        let state = &mut self.nodes[node];
        state.replica = None;
        state.storage.crash(&mut self.prng);
        state.pending.clear();
        state.reads.clear();
        state.restart_at = restart_at;
        state.last_role = None;
    }

    fn step_restarts(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].replica.is_none() && self.t >= self.nodes[i].restart_at {
                self.restart(i);
            }
        }
    }

    fn restart(&mut self, i: usize) {
        let durable = self.nodes[i].storage.recover();
        let clock = Clock::random(&mut self.prng, self.t);
        let config = sim_config(
            i as NodeId,
            self.nodes.len(),
            self.prng.next_u64(),
            self.options.bug,
        );
        let node = &mut self.nodes[i];
        node.kv = match &durable.snapshot {
            Some(s) => Kv::decode(&s.data).expect("snapshot written by Kv::encode"),
            None => Kv::default(),
        };
        node.applied = durable.snapshot.as_ref().map_or(0, |s| s.slot);
        node.clock = clock;
        let snapshot_slot = node.applied;
        let replica =
            Replica::recover(config, durable, clock.local(self.t)).expect("sim config is valid");
        node.replica = Some(replica);
        self.trace(|| format!("restart: {i} from snapshot at slot {snapshot_slot}"));
        self.process_ready(i);
    }

    // ---- network -----------------------------------------------------------

    fn send(&mut self, message: &Message) {
        let (from, to) = (message.from as usize, message.to as usize);
        if self.blocked[from][to] {
            return self.trace(|| format!("drop (partition) {}", describe(message)));
        }
        if self.prng.chance(self.profile.loss_per_mille, 1000) {
            return self.trace(|| format!("drop (loss) {}", describe(message)));
        }
        let bytes = encode(message).to_vec();
        let copies = if self.prng.chance(self.profile.dup_per_mille, 1000) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = 1 + self.prng.up_to(self.profile.delay_max_ms - 1);
            if self.clog_until[from][to] > self.t {
                delay += self.clog_until[from][to] - self.t;
            }
            self.sent += 1;
            self.in_flight
                .push(Reverse((self.t + delay, self.sent, to, bytes.clone())));
        }
    }

    fn step_network(&mut self) {
        while let Some(Reverse((at, _, _, _))) = self.in_flight.peek() {
            if *at > self.t {
                break;
            }
            let Reverse((_, _, to, bytes)) = self.in_flight.pop().expect("peeked");
            let message = decode(&bytes).expect("the simulator only sends valid encodings");
            let Some(replica) = self.nodes[to].replica.as_mut() else {
                continue;
            };
            if self.options.trace {
                println!("t={:>5} deliver {}", self.t, describe(&message));
            }
            replica.step(message);
            if let Some(reason) = replica.take_ignored() {
                self.trace(|| format!("  {to} ignored: {reason}"));
            }
            self.process_ready(to);
        }
    }

    fn step_ticks(&mut self) {
        for i in 0..self.nodes.len() {
            let now = self.nodes[i].clock.local(self.t);
            let Some(replica) = self.nodes[i].replica.as_mut() else {
                continue;
            };
            replica.tick(now);
            self.process_ready(i);
            self.trace_role(i);
        }
    }

    fn trace_role(&mut self, i: usize) {
        let Some(replica) = self.nodes[i].replica.as_ref() else {
            return;
        };
        let status = replica.status();
        if self.nodes[i].last_role != Some(status.role) {
            self.nodes[i].last_role = Some(status.role);
            self.trace(|| {
                format!(
                    "role: {i} is {:?} at {:?}, commit {}",
                    status.role, status.promised, status.commit
                )
            });
        }
    }

    // ---- the Ready contract --------------------------------------------------

    fn process_ready(&mut self, i: usize) {
        loop {
            let Some(replica) = self.nodes[i].replica.as_mut() else {
                return;
            };
            if !replica.has_ready() {
                return;
            }
            let ready = replica.ready();
            if !self.do_io(i, ready) {
                return;
            }
            let node = &mut self.nodes[i];
            let replica = node.replica.as_mut().expect("still up");
            replica.advance();
        }
    }

    /// Does one Ready's I/O in the contract's order. Returns false if the
    /// node crashed part-way (before syncing).
    fn do_io(&mut self, i: usize, ready: Ready) -> bool {
        let Ready {
            messages,
            persist,
            persisted_messages,
            install_snapshot,
            committed,
            snapshot_wanted,
        } = ready;
        for message in &messages {
            self.observe_promise(message);
            self.send(message);
        }
        let storage = &mut self.nodes[i].storage;
        if let Some(ballot) = persist.promised {
            storage.write_promise(ballot);
        }
        for entry in &persist.entries {
            storage.write_entry(entry);
        }
        if self.prng.chance(self.profile.crash_io_per_mille, 1000) {
            self.trace(|| format!("crash: {i} before syncing its write"));
            self.crash_now(i);
            return false;
        }
        self.nodes[i].storage.sync();
        self.record_durable(i, &persist);
        for message in &persisted_messages {
            self.observe_promise(message);
            self.send(message);
        }
        if let Some(snapshot) = install_snapshot {
            self.install(i, snapshot);
        }
        for c in committed {
            self.apply(i, c.slot, &c.entry);
        }
        if snapshot_wanted.is_some() {
            let node = &mut self.nodes[i];
            let data = node.kv.encode();
            let slot = node.applied;
            node.replica.as_mut().expect("up").compact(slot, data);
            self.trace(|| format!("compact: {i} snapshot at slot {slot}"));
        }
        true
    }

    fn record_durable(&mut self, i: usize, persist: &pinwheel_consensus::Persist) {
        if let Some(ballot) = persist.promised {
            self.checker.on_promise(i as NodeId, ballot);
        }
        for e in &persist.entries {
            self.checker
                .on_accepted(i as NodeId, e.slot, e.ballot, &e.entry);
        }
        if let Some(snapshot) = &persist.snapshot {
            self.nodes[i].storage.write_snapshot(snapshot);
        }
    }

    fn observe_promise(&mut self, message: &Message) {
        if let Body::Promise(promise) = &message.body {
            self.checker.on_promise(message.from, promise.ballot);
        }
    }

    fn install(&mut self, i: usize, snapshot: pinwheel_consensus::Snapshot) {
        let kv = Kv::decode(&snapshot.data).expect("snapshot written by Kv::encode");
        self.trace(|| format!("install: {i} snapshot at slot {}", snapshot.slot));
        let node = &mut self.nodes[i];
        node.kv = kv;
        node.applied = snapshot.slot;
        let hash = node.kv.hash();
        self.checker.on_state(i as NodeId, snapshot.slot, hash);
    }

    fn apply(&mut self, i: usize, slot: Slot, entry: &Entry) {
        let node = &mut self.nodes[i];
        assert_eq!(slot, node.applied + 1, "replica {i} skipped a slot");
        node.applied = slot;
        let mut acked = Vec::new();
        if let Entry::Batch(commands) = entry {
            for (index, bytes) in commands.iter().enumerate() {
                let Some(command) = Command::decode(bytes) else {
                    continue;
                };
                let applied = node.kv.apply(command);
                let key = (command.client, command.seq);
                if applied.first {
                    self.checker
                        .on_first_apply(key, (slot, index as u32), applied.result);
                }
                if node.pending.remove(&key) {
                    acked.push((key, applied.result));
                }
            }
        }
        let hash = self.nodes[i].kv.hash();
        self.checker.on_applied(i as NodeId, slot, entry, hash);
        for (key, result) in acked {
            self.complete_write(key, result);
        }
    }

    // ---- clients -------------------------------------------------------------

    fn step_clients(&mut self) {
        for c in 0..self.clients.len() {
            match self.clients[c].work {
                Work::Idle { next_at }
                    if self.t >= next_at && self.t + QUIET_MS < FAULT_PHASE_MS + LIVENESS_MS =>
                {
                    self.start_op(c)
                }
                Work::Write { retry_at, .. } if self.t >= retry_at => self.submit_write(c),
                Work::Read { retry_at, .. } if self.t >= retry_at => self.submit_read(c),
                _ => {}
            }
        }
    }

    fn start_op(&mut self, c: usize) {
        let frontier = self.checker.frontier();
        let client = &mut self.clients[c];
        client.seq += 1;
        let key = self.prng.up_to(KEYS as u64 - 1) as u8;
        let (id, seq, t) = (client.id, client.seq, self.t);
        client.work = match self.prng.up_to(9) {
            0..=4 => Work::Write {
                command: Command {
                    client: id,
                    seq,
                    op: Op::Put {
                        key,
                        value: seq * 1000 + id as u64,
                    },
                },
                invoked_at: t,
                frontier,
                retry_at: t,
            },
            5 | 6 => Work::Write {
                command: Command {
                    client: id,
                    seq,
                    op: Op::Get { key },
                },
                invoked_at: t,
                frontier,
                retry_at: t,
            },
            _ => Work::Read {
                key,
                seq,
                invoked_at: t,
                frontier,
                retry_at: t,
            },
        };
        match client.work {
            Work::Read { .. } => self.submit_read(c),
            _ => self.submit_write(c),
        }
    }

    fn redirect(&mut self, c: usize, hint: Option<NodeId>) {
        let n = self.nodes.len();
        let client = &mut self.clients[c];
        client.target = match hint {
            Some(h) if h as usize != client.target => h as usize,
            _ => (client.target + 1) % n,
        };
    }

    fn submit_write(&mut self, c: usize) {
        let Work::Write {
            command,
            invoked_at,
            frontier,
            ..
        } = self.clients[c].work
        else {
            return;
        };
        let target = self.clients[c].target;
        let t = self.t;
        let outcome = match self.nodes[target].replica.as_mut() {
            None => Err(ProposeError::NotLeader { leader_hint: None }),
            Some(replica) => replica.propose(command.encode()),
        };
        let retry_in = match outcome {
            Ok(()) => {
                self.nodes[target]
                    .pending
                    .insert((command.client, command.seq));
                self.process_ready(target);
                CLIENT_RETRY_MS
            }
            Err(ProposeError::NotLeader { leader_hint }) => {
                self.redirect(c, leader_hint);
                CLIENT_REDIRECT_MS
            }
            Err(_) => CLIENT_REDIRECT_MS,
        };
        self.clients[c].work = Work::Write {
            command,
            invoked_at,
            frontier,
            retry_at: t + retry_in,
        };
    }

    fn complete_write(&mut self, key: (u32, u64), result: u64) {
        let c = key.0 as usize;
        let Work::Write {
            command,
            invoked_at,
            frontier,
            ..
        } = self.clients[c].work
        else {
            return;
        };
        if command.seq != key.1 {
            return;
        }
        self.trace(|| {
            format!(
                "client {c}: {:?} -> {result} ({} ms)",
                command.op,
                self.t - invoked_at
            )
        });
        self.checker.on_write_acked(key, result, frontier);
        let think = self.prng.up_to(20);
        self.clients[c].work = Work::Idle {
            next_at: self.t + think,
        };
    }

    fn submit_read(&mut self, c: usize) {
        let Work::Read {
            key,
            seq,
            invoked_at,
            frontier,
            ..
        } = self.clients[c].work
        else {
            return;
        };
        let target = self.clients[c].target;
        let t = self.t;
        let index = self.nodes[target]
            .replica
            .as_ref()
            .and_then(|r| r.read_index());
        let retry_in = match index {
            Some(index) => {
                self.nodes[target].reads.push(PendingRead {
                    client: c as u32,
                    seq,
                    index,
                });
                CLIENT_RETRY_MS
            }
            None => {
                let hint = self.nodes[target]
                    .replica
                    .as_ref()
                    .and_then(|r| r.status().leader_hint);
                self.redirect(c, hint);
                CLIENT_REDIRECT_MS
            }
        };
        self.clients[c].work = Work::Read {
            key,
            seq,
            invoked_at,
            frontier,
            retry_at: t + retry_in,
        };
    }

    /// Serves lease reads whose read index the state machine has reached.
    fn step_reads(&mut self) {
        for i in 0..self.nodes.len() {
            let applied = self.nodes[i].applied;
            let ready: Vec<PendingRead> = {
                let reads = &mut self.nodes[i].reads;
                let (done, wait): (Vec<_>, Vec<_>) =
                    reads.drain(..).partition(|r| r.index <= applied);
                *reads = wait;
                done
            };
            for read in ready {
                self.complete_read(i, read);
            }
        }
    }

    fn complete_read(&mut self, i: usize, read: PendingRead) {
        let c = read.client as usize;
        let Work::Read {
            key,
            seq,
            invoked_at,
            frontier,
            ..
        } = self.clients[c].work
        else {
            return;
        };
        if seq != read.seq {
            return;
        }
        let value = self.nodes[i].kv.get(key);
        let applied = self.nodes[i].applied;
        self.trace(|| {
            format!(
                "client {c}: lease read k{key} on {i} -> {value} at slot {applied} ({} ms)",
                self.t - invoked_at
            )
        });
        self.checker.on_read_acked(i as NodeId, applied, frontier);
        let think = self.prng.up_to(20);
        self.clients[c].work = Work::Idle {
            next_at: self.t + think,
        };
    }

    // ---- checks ----------------------------------------------------------------

    fn check_leases(&mut self) {
        let holders: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i]
                    .replica
                    .as_ref()
                    .is_some_and(|r| r.lease_held())
            })
            .collect();
        if holders.len() > 1 {
            self.checker.fail(format!(
                "two lease holders at t={}: replicas {holders:?}",
                self.t
            ));
        }
    }

    fn check_liveness(&mut self) {
        for client in &self.clients {
            let invoked = match client.work {
                Work::Idle { .. } => continue,
                Work::Write { invoked_at, .. } | Work::Read { invoked_at, .. } => invoked_at,
            };
            let bound = invoked.max(FAULT_PHASE_MS) + LIVENESS_MS - QUIET_MS;
            self.checker.fail(format!(
                "liveness: client {} operation invoked at t={invoked} not complete by t={} (bound {bound} after healing at {FAULT_PHASE_MS})",
                client.id, self.t
            ));
            return;
        }
    }
}

/// One line per message for traces.
pub fn describe(message: &Message) -> String {
    let body = match &message.body {
        Body::Prepare(m) => format!("Prepare {:?} from slot {}", m.ballot, m.from_slot),
        Body::Promise(m) => format!(
            "Promise {:?} ({} accepted, log start {})",
            m.ballot,
            m.accepted.len(),
            m.log_start
        ),
        Body::Reject(m) => format!("Reject {:?} (promised {:?})", m.ballot, m.promised),
        Body::Accept(m) => {
            format!(
                "Accept {:?} slots {}+{} commit {}",
                m.ballot,
                m.first_slot,
                m.entries.len(),
                m.commit
            )
        }
        Body::Accepted(m) => format!("Accepted {:?} slots {}+{}", m.ballot, m.first_slot, m.count),
        Body::Heartbeat(m) => format!("Heartbeat {:?} seq {} commit {}", m.ballot, m.seq, m.commit),
        Body::HeartbeatAck(m) => format!("HeartbeatAck {:?} seq {}", m.ballot, m.seq),
        Body::CatchUp(m) => format!("CatchUp from slot {}", m.from_slot),
        Body::Chosen(m) => format!("Chosen slots {}+{}", m.first_slot, m.entries.len()),
        Body::InstallSnapshot(m) => format!("InstallSnapshot at slot {}", m.snapshot.slot),
    };
    format!("{}->{} {body}", message.from, message.to)
}
