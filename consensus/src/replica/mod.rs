//! The replica: acceptor, proposer and learner of one shard group, as a pure
//! state machine. Inputs are `step`, `tick` and `propose`; output is a
//! [`Ready`]; `advance` confirms the caller did the I/O.

mod acceptor;
mod learner;
mod proposer;

use std::collections::{BTreeMap, VecDeque};

use crate::config::Config;
use crate::log::{Log, LogSlot};
use crate::message::{Body, Message};
use crate::prng::Prng;
use crate::ready::Ready;
use crate::types::{Ballot, NodeId, Slot, SlotEntry, Snapshot};

/// Acceptor state read back from durable storage after a restart.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    /// Last promised ballot persisted.
    pub promised: Ballot,
    /// Latest snapshot persisted, if any.
    pub snapshot: Option<Snapshot>,
    /// Persisted entries in write order; later records supersede earlier
    /// ones for the same slot, and slots the snapshot covers are skipped.
    pub entries: Vec<SlotEntry>,
}

/// Why a proposal was refused. The caller should retry elsewhere or later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// Only the leader proposes; the hint names who might be leading.
    NotLeader {
        /// Last known leader, if any.
        leader_hint: Option<NodeId>,
    },
    /// The command exceeds `command_bytes_max`.
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// The pending batch is full and the window has no room: back-pressure.
    Busy,
}

impl std::fmt::Display for ProposeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProposeError::NotLeader { leader_hint } => {
                write!(f, "not leader (hint {leader_hint:?})")
            }
            ProposeError::TooLarge { bytes } => write!(f, "command of {bytes} bytes is too large"),
            ProposeError::Busy => write!(f, "batch and window full"),
        }
    }
}

impl std::error::Error for ProposeError {}

/// Which role a replica plays right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleKind {
    /// Accepts from a leader; campaigns when it stops hearing one.
    Follower,
    /// Running phase 1.
    Candidate,
    /// Phase 1 done; proposes in phase 2 only.
    Leader,
}

/// A snapshot of a replica's state for tests, traces and status pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// This replica.
    pub id: NodeId,
    /// Current role.
    pub role: RoleKind,
    /// Highest ballot promised.
    pub promised: Ballot,
    /// Every slot up to this is known chosen.
    pub commit: Slot,
    /// Last known leader.
    pub leader_hint: Option<NodeId>,
    /// First slot still in the log.
    pub log_start: Slot,
}

/// Heartbeat rounds a leader remembers for lease accounting.
const HEARTBEAT_ROUNDS_MAX: usize = 16;
/// Cap on the attempt multiplier of the election back-off.
const ELECTION_BACKOFF_ATTEMPTS_MAX: u64 = 4;

/// Something this replica itself did that counts only once persisted.
#[derive(Clone, Copy, Debug)]
enum SelfAck {
    Promise(Ballot),
    Accepted(Ballot, Slot),
}

/// Who this replica promised not to undercut, and until when (local ms).
#[derive(Clone, Copy, Debug)]
struct LeaseGrant {
    /// `None` after a restart: the replica does not remember whom it
    /// granted, so it refuses everyone.
    holder: Option<NodeId>,
    until_ms: u64,
}

#[derive(Debug)]
struct Candidate {
    ballot: Ballot,
    from_slot: Slot,
    promises: u32,
    merged: BTreeMap<Slot, LogSlot>,
}

#[derive(Clone, Copy, Debug)]
struct SlotVotes {
    votes: u32,
    sent_ms: u64,
}

#[derive(Clone, Copy, Debug)]
struct HeartbeatRound {
    seq: u64,
    sent_ms: u64,
    acks: u32,
}

#[derive(Debug)]
struct Leader {
    ballot: Ballot,
    /// The noop that opened this ballot; lease reads wait for it to commit.
    start_slot: Slot,
    next_slot: Slot,
    /// Votes for slots `commit + 1 .. next_slot`.
    votes: VecDeque<SlotVotes>,
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    pending_since_ms: u64,
    heartbeat_seq: u64,
    heartbeat_next_ms: u64,
    heartbeats: VecDeque<HeartbeatRound>,
    lease_until_ms: u64,
    /// Last time each node (by index) answered; drives check-quorum.
    heard_ms: Vec<u64>,
    elected_ms: u64,
}

#[derive(Debug)]
enum Role {
    Follower,
    Candidate(Candidate),
    Leader(Leader),
}

/// One replica of a shard group. See the crate docs for the contract.
#[derive(Debug)]
pub struct Replica {
    config: Config,
    quorum: usize,
    prng: Prng,
    now_ms: u64,
    promised: Ballot,
    round_seen_max: u64,
    log: Log,
    snapshot: Option<Snapshot>,
    commit: Slot,
    delivered: Slot,
    commit_known: Slot,
    role: Role,
    leader_hint: Option<NodeId>,
    election_deadline_ms: u64,
    election_attempts: u64,
    lease_grant: LeaseGrant,
    catchup_next_ms: u64,
    snapshot_wanted_pending: bool,
    out: Ready,
    self_acks: Vec<SelfAck>,
    self_acks_in_ready: Vec<SelfAck>,
    ready_outstanding: bool,
    last_ignored: Option<&'static str>,
}

impl Replica {
    /// A fresh replica with empty storage, at local time `now_ms`.
    pub fn new(config: Config, now_ms: u64) -> Result<Replica, String> {
        Replica::recover(config, Durable::default(), now_ms)
    }

    /// A replica restarted from what its storage kept.
    ///
    /// The caller restores its state machine from `durable.snapshot`; the
    /// first `Ready` then delivers any entries already known chosen.
    /// After a restart the replica refuses every candidate, and does not
    /// campaign, for `lease_grant_ms`: it may have granted a lease before the
    /// crash and no longer knows to whom.
    pub fn recover(config: Config, durable: Durable, now_ms: u64) -> Result<Replica, String> {
        config.validate()?;
        let floor = durable.snapshot.as_ref().map_or(0, |s| s.slot);
        let mut log = Log::new(floor + 1);
        let mut promised = durable.promised;
        for record in durable.entries {
            if record.slot <= floor {
                continue;
            }
            if !record.ballot.is_chosen() {
                // Accepting at b implied promising b.
                promised = promised.max(record.ballot);
            }
            log.set(
                record.slot,
                LogSlot {
                    ballot: record.ballot,
                    entry: record.entry,
                },
            );
        }
        let mut replica = Replica {
            quorum: config.quorum(),
            prng: Prng::new(config.seed),
            now_ms,
            promised,
            round_seen_max: promised.round,
            log,
            snapshot: durable.snapshot,
            commit: floor,
            delivered: floor,
            commit_known: floor,
            role: Role::Follower,
            leader_hint: None,
            election_deadline_ms: 0,
            election_attempts: 0,
            lease_grant: LeaseGrant {
                holder: None,
                until_ms: now_ms + config.lease_grant_ms,
            },
            catchup_next_ms: now_ms,
            snapshot_wanted_pending: false,
            out: Ready::default(),
            self_acks: Vec::new(),
            self_acks_in_ready: Vec::new(),
            ready_outstanding: false,
            last_ignored: None,
            config,
        };
        replica.reset_election_deadline();
        replica.learn_chosen_prefix(Ballot::CHOSEN);
        Ok(replica)
    }

    /// Feeds one message from a peer. Messages from outside the group, or
    /// addressed to someone else, go through an explicit ignore path.
    pub fn step(&mut self, message: Message) {
        if message.to != self.config.id {
            return self.ignore("message addressed to another node");
        }
        if message.from == self.config.id || self.index_of(message.from).is_none() {
            return self.ignore("message from outside the group");
        }
        let from = message.from;
        match message.body {
            Body::Prepare(m) => self.on_prepare(from, m),
            Body::Promise(m) => self.on_promise(from, m),
            Body::Reject(m) => self.on_reject(from, m),
            Body::Accept(m) => self.on_accept(from, m),
            Body::Accepted(m) => self.on_accepted(from, m),
            Body::Heartbeat(m) => self.on_heartbeat(from, m),
            Body::HeartbeatAck(m) => self.on_heartbeat_ack(from, m),
            Body::CatchUp(m) => self.on_catch_up(from, m),
            Body::Chosen(m) => self.on_chosen(from, m),
            Body::InstallSnapshot(m) => self.on_install_snapshot(from, m),
        }
    }

    /// Advances local time: fires heartbeats, retransmissions, batch flushes
    /// and election timeouts. `now_ms` must not go backwards.
    pub fn tick(&mut self, now_ms: u64) {
        assert!(
            now_ms >= self.now_ms,
            "clock went backwards: {now_ms} < {}",
            self.now_ms
        );
        self.now_ms = now_ms;
        if matches!(self.role, Role::Leader(_)) {
            self.tick_leader();
        } else if now_ms >= self.election_deadline_ms {
            self.on_election_timeout();
        }
    }

    /// Queues a command for the next batch. Only the leader accepts.
    pub fn propose(&mut self, command: Vec<u8>) -> Result<(), ProposeError> {
        if command.len() > self.config.command_bytes_max {
            return Err(ProposeError::TooLarge {
                bytes: command.len(),
            });
        }
        let batch_max = self.config.batch_commands_max;
        let Role::Leader(leader) = &mut self.role else {
            return Err(ProposeError::NotLeader {
                leader_hint: self.leader_hint,
            });
        };
        if leader.pending.len() >= batch_max {
            return Err(ProposeError::Busy);
        }
        if leader.pending.is_empty() {
            leader.pending_since_ms = self.now_ms;
        }
        leader.pending_bytes += command.len();
        leader.pending.push(command);
        self.flush_batches();
        Ok(())
    }

    /// True when `ready` would return something to do.
    pub fn has_ready(&self) -> bool {
        !self.out.is_empty() || !self.self_acks.is_empty()
    }

    /// Takes the I/O to do. Call `advance` after doing it, before the next
    /// `ready`.
    pub fn ready(&mut self) -> Ready {
        assert!(
            !self.ready_outstanding,
            "ready() called twice without advance()"
        );
        self.ready_outstanding = true;
        debug_assert!(self.self_acks_in_ready.is_empty());
        std::mem::swap(&mut self.self_acks, &mut self.self_acks_in_ready);
        std::mem::take(&mut self.out)
    }

    /// The caller persisted, sent and applied the last `Ready`. Our own
    /// promise and acceptances from it now count as votes.
    pub fn advance(&mut self) {
        assert!(self.ready_outstanding, "advance() without ready()");
        self.ready_outstanding = false;
        let acks = std::mem::take(&mut self.self_acks_in_ready);
        for ack in acks {
            match ack {
                SelfAck::Promise(ballot) => self.on_self_promise(ballot),
                SelfAck::Accepted(ballot, slot) => self.on_self_accepted(ballot, slot),
            }
        }
    }

    /// Compaction: the state machine's snapshot covers every slot up to
    /// `slot`, which it has applied. The log drops those slots; lagging
    /// replicas below them get the snapshot instead.
    pub fn compact(&mut self, slot: Slot, data: Vec<u8>) {
        assert!(
            slot <= self.delivered,
            "snapshot at {slot} beyond applied {}",
            self.delivered
        );
        self.snapshot_wanted_pending = false;
        if slot < self.log.start() {
            return self.ignore("snapshot older than the log start");
        }
        self.log.compact(slot);
        let snapshot = Snapshot { slot, data };
        self.out.persist.snapshot = Some(snapshot.clone());
        self.snapshot = Some(snapshot);
    }

    /// Linearizable read without a log round trip: `Some(slot)` while this
    /// replica leads under a valid lease and has committed an entry of its
    /// own ballot. Serve the read once the state machine applied `slot`.
    pub fn read_index(&self) -> Option<Slot> {
        let Role::Leader(leader) = &self.role else {
            return None;
        };
        (self.lease_held() && self.commit >= leader.start_slot).then_some(self.commit)
    }

    /// True while this replica leads under an unexpired lease.
    pub fn lease_held(&self) -> bool {
        match &self.role {
            Role::Leader(leader) => self.now_ms < leader.lease_until_ms,
            _ => false,
        }
    }

    /// Current state, for tests and traces.
    pub fn status(&self) -> Status {
        let role = match self.role {
            Role::Follower => RoleKind::Follower,
            Role::Candidate(_) => RoleKind::Candidate,
            Role::Leader(_) => RoleKind::Leader,
        };
        Status {
            id: self.config.id,
            role,
            promised: self.promised,
            commit: self.commit,
            leader_hint: self.leader_hint,
            log_start: self.log.start(),
        }
    }

    /// The reason the last ignored input was dropped, once.
    pub fn take_ignored(&mut self) -> Option<&'static str> {
        self.last_ignored.take()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn ignore(&mut self, reason: &'static str) {
        self.last_ignored = Some(reason);
    }

    fn index_of(&self, node: NodeId) -> Option<usize> {
        self.config.nodes.iter().position(|&n| n == node)
    }

    fn bit_of(&self, node: NodeId) -> u32 {
        1u32 << self.index_of(node).expect("node in group")
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let id = self.config.id;
        self.config.nodes.iter().copied().filter(move |&n| n != id)
    }

    fn send(&mut self, to: NodeId, body: Body) {
        self.out.messages.push(Message {
            from: self.config.id,
            to,
            body,
        });
    }

    fn send_after_persist(&mut self, to: NodeId, body: Body) {
        self.out.persisted_messages.push(Message {
            from: self.config.id,
            to,
            body,
        });
    }

    fn reset_election_deadline(&mut self) {
        let attempt = self
            .election_attempts
            .clamp(1, ELECTION_BACKOFF_ATTEMPTS_MAX);
        let jitter = self.prng.up_to(self.config.election_jitter_ms * attempt);
        self.election_deadline_ms = self.now_ms + self.config.election_timeout_ms + jitter;
    }

    fn lease_granted_to_other(&self, node: NodeId) -> bool {
        self.now_ms < self.lease_grant.until_ms && self.lease_grant.holder != Some(node)
    }

    /// Leaves leader or candidate role; pending commands are dropped (their
    /// clients retry, commands carry their own idempotency ids).
    fn become_follower(&mut self) {
        self.role = Role::Follower;
        self.reset_election_deadline();
    }
}
