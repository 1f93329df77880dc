//! Named scenarios on an in-memory cluster: messages queued in memory, with
//! cut links, crashes and restarts, and one shared millisecond clock. Every
//! scenario is deterministic (fixed seeds), so a failure replays exactly.

use std::collections::{BTreeSet, VecDeque};

use pinwheel_consensus::{
    Body, Config, Durable, Entry, Message, NodeId, Replica, RoleKind, Slot, SlotEntry,
};

/// A test cluster: what a runtime would do around each replica, in memory.
struct Cluster {
    replicas: Vec<Option<Replica>>,
    disks: Vec<Durable>,
    /// Each node's state machine: the commands it applied, in order.
    applied: Vec<Vec<Vec<u8>>>,
    applied_slot: Vec<Slot>,
    installs: Vec<u32>,
    queue: VecDeque<Message>,
    cut: BTreeSet<(NodeId, NodeId)>,
    now: u64,
    configs: Vec<Config>,
}

fn config(id: NodeId, n: usize) -> Config {
    let mut config = Config::new(id, (0..n as NodeId).collect(), 1000 + id as u64);
    config.batch_delay_ms = 0;
    config
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        Cluster::with_configs((0..n as NodeId).map(|id| config(id, n)).collect())
    }

    fn with_configs(configs: Vec<Config>) -> Cluster {
        let n = configs.len();
        Cluster {
            replicas: configs
                .iter()
                .map(|c| Some(Replica::new(c.clone(), 0).unwrap()))
                .collect(),
            disks: vec![Durable::default(); n],
            applied: vec![Vec::new(); n],
            applied_slot: vec![0; n],
            installs: vec![0; n],
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            now: 0,
            configs,
        }
    }

    fn replica(&self, i: usize) -> &Replica {
        self.replicas[i].as_ref().expect("replica is up")
    }

    /// Does the Ready I/O for node `i` in the contract's order.
    fn process(&mut self, i: usize) {
        loop {
            let Some(replica) = self.replicas[i].as_mut() else {
                return;
            };
            if !replica.has_ready() {
                return;
            }
            let ready = replica.ready();
            self.queue.extend(ready.messages);
            let disk = &mut self.disks[i];
            if let Some(ballot) = ready.persist.promised {
                disk.promised = ballot;
            }
            disk.entries.extend(ready.persist.entries);
            if let Some(snapshot) = ready.persist.snapshot {
                disk.entries.retain(|e| e.slot > snapshot.slot);
                disk.snapshot = Some(snapshot);
            }
            self.queue.extend(ready.persisted_messages);
            if let Some(snapshot) = ready.install_snapshot {
                self.applied[i] = decode_state(&snapshot.data);
                self.applied_slot[i] = snapshot.slot;
                self.installs[i] += 1;
            }
            for c in ready.committed {
                assert_eq!(c.slot, self.applied_slot[i] + 1, "node {i} skipped a slot");
                self.applied_slot[i] = c.slot;
                if let Entry::Batch(commands) = c.entry {
                    self.applied[i].extend(commands.iter().cloned());
                }
            }
            let want_snapshot = ready.snapshot_wanted.is_some();
            let replica = self.replicas[i].as_mut().unwrap();
            replica.advance();
            if want_snapshot {
                let data = encode_state(&self.applied[i]);
                replica.compact(self.applied_slot[i], data);
            }
        }
    }

    fn deliver_all(&mut self) {
        while let Some(message) = self.queue.pop_front() {
            let (from, to) = (message.from, message.to);
            if self.cut.contains(&(from, to)) {
                continue;
            }
            if let Some(replica) = self.replicas[to as usize].as_mut() {
                replica.step(message);
                self.process(to as usize);
            }
        }
    }

    fn tick_all(&mut self) {
        for i in 0..self.replicas.len() {
            if let Some(replica) = self.replicas[i].as_mut() {
                replica.tick(self.now);
                self.process(i);
            }
        }
    }

    /// Runs `ms` milliseconds, checking at each that leases never overlap.
    fn run_for(&mut self, ms: u64) {
        for _ in 0..ms {
            self.now += 1;
            self.tick_all();
            self.deliver_all();
            let holders = self
                .replicas
                .iter()
                .flatten()
                .filter(|r| r.lease_held())
                .count();
            assert!(holders <= 1, "two lease holders at {}", self.now);
        }
    }

    fn leaders(&self) -> Vec<usize> {
        (0..self.replicas.len())
            .filter(|&i| {
                self.replicas[i]
                    .as_ref()
                    .is_some_and(|r| r.status().role == RoleKind::Leader)
            })
            .collect()
    }

    fn leader(&self) -> usize {
        let leaders = self.leaders();
        assert_eq!(leaders.len(), 1, "expected one leader, got {leaders:?}");
        leaders[0]
    }

    fn isolate(&mut self, node: NodeId) {
        for other in 0..self.replicas.len() as NodeId {
            if other != node {
                self.cut.insert((node, other));
                self.cut.insert((other, node));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    fn crash(&mut self, i: usize) {
        self.replicas[i] = None;
        self.queue.retain(|m| m.to as usize != i);
    }

    fn restart(&mut self, i: usize) {
        let disk = self.disks[i].clone();
        self.applied[i] = disk
            .snapshot
            .as_ref()
            .map_or_else(Vec::new, |s| decode_state(&s.data));
        self.applied_slot[i] = disk.snapshot.as_ref().map_or(0, |s| s.slot);
        self.replicas[i] = Some(Replica::recover(self.configs[i].clone(), disk, self.now).unwrap());
        self.process(i);
    }

    fn propose(&mut self, i: usize, command: &[u8]) {
        self.replicas[i]
            .as_mut()
            .unwrap()
            .propose(command.to_vec())
            .expect("leader accepts");
        self.process(i);
    }

    /// Every live replica applied the same commands up to the shortest.
    fn assert_logs_agree(&self) {
        let live: Vec<usize> = (0..self.replicas.len())
            .filter(|&i| self.replicas[i].is_some())
            .collect();
        for pair in live.windows(2) {
            let (a, b) = (&self.applied[pair[0]], &self.applied[pair[1]]);
            let n = a.len().min(b.len());
            assert_eq!(
                a[..n],
                b[..n],
                "nodes {} and {} applied different commands",
                pair[0],
                pair[1]
            );
        }
    }
}

fn encode_state(commands: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in commands {
        out.extend_from_slice(&(c.len() as u32).to_le_bytes());
        out.extend_from_slice(c);
    }
    out
}

fn decode_state(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push(bytes[4..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    out
}

fn elected(n: usize) -> Cluster {
    let mut cluster = Cluster::new(n);
    cluster.run_for(2_000);
    cluster
}

#[test]
fn leader_election() {
    let mut cluster = elected(3);
    let leader = cluster.leader();
    let ballot = cluster.replica(leader).status().promised;
    assert_eq!(ballot.node as usize, leader);
    for i in 0..3 {
        let status = cluster.replica(i).status();
        assert_eq!(
            status.leader_hint,
            Some(leader as NodeId),
            "node {i} follows the leader"
        );
        assert_eq!(status.promised, ballot);
    }
    assert!(cluster.replica(leader).lease_held());
    assert!(
        cluster.replica(leader).read_index().is_some(),
        "leader serves lease reads"
    );
    // A stable leader stays leader: heartbeats keep followers from campaigning.
    cluster.run_for(5_000);
    assert_eq!(cluster.leader(), leader);
    assert_eq!(
        cluster.replica(leader).status().promised,
        ballot,
        "no needless elections"
    );
}

#[test]
fn acceptor_persists_promise_before_answering() {
    let mut replica = Replica::new(config(1, 3), 0).unwrap();
    replica.tick(450); // past the restart guard, before its own election timeout
    let ballot = pinwheel_consensus::Ballot { round: 5, node: 0 };
    replica.step(Message {
        from: 0,
        to: 1,
        body: Body::Prepare(pinwheel_consensus::Prepare {
            ballot,
            from_slot: 1,
        }),
    });
    let ready = replica.ready();
    assert_eq!(ready.persist.promised, Some(ballot));
    assert!(
        ready.messages.is_empty(),
        "a promise must not leave before it is durable"
    );
    assert!(matches!(ready.persisted_messages[0].body, Body::Promise(_)));
    replica.advance();
}

#[test]
fn leader_crash_mid_accept() {
    let mut cluster = elected(3);
    let old = cluster.leader();
    let (a, b) = ((old + 1) % 3, (old + 2) % 3);
    // The accept reaches only `a`; the leader never hears back.
    cluster.cut.insert((old as NodeId, b as NodeId));
    cluster.cut.insert((a as NodeId, old as NodeId));
    cluster.propose(old, b"chosen-then-crash");
    cluster.deliver_all();
    cluster.crash(old);
    cluster.heal();
    cluster.run_for(3_000);
    let new = cluster.leader();
    assert_ne!(new, old);
    // Accepted by a majority (old leader and `a`), so it was chosen: the new
    // leader's phase 1 must find it and commit it.
    for i in [a, b] {
        assert!(
            cluster.applied[i].iter().any(|c| c == b"chosen-then-crash"),
            "node {i} lost a chosen command"
        );
    }
    cluster.restart(old);
    cluster.run_for(2_000);
    assert_eq!(cluster.applied[old], cluster.applied[new]);
    cluster.assert_logs_agree();
}

#[test]
fn duelling_proposers() {
    let configs = (0..3)
        .map(|id| {
            let mut c = config(id, 3);
            c.election_jitter_ms = 0; // both time out in the same millisecond
            c
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs);
    cluster.run_for(2_000);
    let first = cluster.leader();
    cluster.propose(first, b"before");
    cluster.run_for(100);
    cluster.crash(first);
    cluster.run_for(3_000);
    let second = cluster.leader();
    assert_ne!(second, first);
    let ballot = cluster.replica(second).status().promised;
    for i in (0..3).filter(|&i| i != first) {
        assert_eq!(
            cluster.replica(i).status().promised,
            ballot,
            "the duel ended in one ballot"
        );
    }
    cluster.propose(second, b"after");
    cluster.run_for(100);
    for i in (0..3).filter(|&i| i != first) {
        assert_eq!(
            cluster.applied[i],
            vec![b"before".to_vec(), b"after".to_vec()]
        );
    }
}

#[test]
fn old_leader_returning() {
    let mut cluster = elected(3);
    let old = cluster.leader();
    cluster.isolate(old as NodeId);
    // The isolated leader still proposes; nobody hears it.
    cluster.propose(old, b"stale");
    cluster.run_for(3_000);
    let new = cluster
        .leaders()
        .into_iter()
        .find(|&i| i != old)
        .expect("majority elected a leader");
    cluster.propose(new, b"fresh");
    cluster.run_for(100);
    cluster.heal();
    cluster.run_for(2_000);
    assert_eq!(cluster.leader(), new, "the old leader rejoined as follower");
    for i in 0..3 {
        assert!(
            !cluster.applied[i].iter().any(|c| c == b"stale"),
            "a command no majority accepted committed"
        );
        assert!(
            cluster.applied[i].iter().any(|c| c == b"fresh"),
            "node {i} missed a committed command"
        );
    }
    cluster.assert_logs_agree();
}

#[test]
fn lagging_follower_catch_up() {
    let mut cluster = elected(3);
    let leader = cluster.leader();
    let lagging = (leader + 1) % 3;
    cluster.isolate(lagging as NodeId);
    for i in 0..50u32 {
        cluster.propose(leader, &i.to_le_bytes());
        cluster.run_for(2);
    }
    cluster.run_for(100);
    assert!(cluster.applied[lagging].len() < 50);
    cluster.heal();
    cluster.run_for(1_000);
    assert_eq!(cluster.applied[lagging], cluster.applied[leader]);
    assert_eq!(cluster.applied[leader].len(), 50);
    assert_eq!(
        cluster.installs[lagging], 0,
        "catch-up by entries, no snapshot needed"
    );
}

#[test]
fn snapshot_install() {
    let configs = (0..3)
        .map(|id| {
            let mut c = config(id, 3);
            c.compact_slots = 10;
            c
        })
        .collect();
    let mut cluster = Cluster::with_configs(configs);
    cluster.run_for(2_000);
    let leader = cluster.leader();
    let lagging = (leader + 1) % 3;
    cluster.isolate(lagging as NodeId);
    for i in 0..60u32 {
        cluster.propose(leader, &i.to_le_bytes());
        cluster.run_for(2);
    }
    cluster.run_for(100);
    assert!(
        cluster.replica(leader).status().log_start > 1,
        "leader compacted its log"
    );
    cluster.heal();
    cluster.run_for(1_000);
    assert!(
        cluster.installs[lagging] >= 1,
        "lagging follower got a snapshot"
    );
    assert_eq!(cluster.applied[lagging], cluster.applied[leader]);
    // A restart from the snapshot on disk ends in the same state.
    cluster.crash(lagging);
    cluster.restart(lagging);
    cluster.run_for(1_000);
    assert_eq!(cluster.applied[lagging], cluster.applied[leader]);
}

#[test]
fn lease_expiry_across_partition() {
    let mut cluster = elected(3);
    let old = cluster.leader();
    assert!(cluster.replica(old).lease_held());
    cluster.isolate(old as NodeId);
    let lease_ms = cluster.configs[old].leader_lease_ms();
    let mut old_lease_ended = None;
    let mut new_lease_began = None;
    for _ in 0..3_000 {
        cluster.run_for(1); // asserts at most one lease holder every ms
        if old_lease_ended.is_none() && !cluster.replica(old).lease_held() {
            old_lease_ended = Some(cluster.now);
            assert!(cluster.replica(old).read_index().is_none());
        }
        let others = (0..3)
            .filter(|&i| i != old)
            .any(|i| cluster.replica(i).lease_held());
        if new_lease_began.is_none() && others {
            new_lease_began = Some(cluster.now);
        }
    }
    let (ended, began) = (
        old_lease_ended.unwrap(),
        new_lease_began.expect("majority side got a lease"),
    );
    assert!(
        ended <= 2_000 + lease_ms + 1,
        "old lease outlived its bound"
    );
    assert!(
        began > ended,
        "new lease began at {began}, old ended at {ended}"
    );
}

#[test]
fn restarted_acceptor_keeps_its_promise_and_accepted_values() {
    let mut cluster = elected(3);
    let leader = cluster.leader();
    cluster.propose(leader, b"durable");
    cluster.run_for(100);
    let follower = (leader + 1) % 3;
    let before = cluster.replica(follower).status().promised;
    cluster.crash(follower);
    cluster.restart(follower);
    assert_eq!(cluster.replica(follower).status().promised, before);
    let disk: &Vec<SlotEntry> = &cluster.disks[follower].entries;
    assert!(disk
        .iter()
        .any(|e| e.entry == Entry::Batch(vec![b"durable".to_vec()].into())));
    cluster.run_for(1_000);
    assert_eq!(cluster.applied[follower], cluster.applied[leader]);
}
