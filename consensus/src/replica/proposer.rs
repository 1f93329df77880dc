//! Proposer side: elections (phase 1), batching and phase 2, heartbeats,
//! leases, retransmission and check-quorum.

use std::collections::{BTreeMap, VecDeque};

use super::{
    Candidate, HeartbeatRound, Leader, Replica, Role, SelfAck, SlotVotes, HEARTBEAT_ROUNDS_MAX,
};
use crate::log::LogSlot;
use crate::message::{Accept, Accepted, Body, Heartbeat, HeartbeatAck, Prepare, Promise, Reject};
use crate::types::{Ballot, Entry, NodeId, Slot};

impl Replica {
    pub(super) fn on_election_timeout(&mut self) {
        let id = self.config.id;
        if self.lease_granted_to_other(id) {
            // We promised someone (or, after a restart, anyone) not to back a
            // rival yet; campaigning would break that promise.
            self.election_deadline_ms = self.lease_grant.until_ms;
            return self.ignore("election timeout inside a lease grant");
        }
        self.campaign();
    }

    /// Phase 1a with a ballot above any seen. The promise to ourselves and
    /// the prepares leave only once that ballot is durable, so a crash can
    /// never reuse it.
    fn campaign(&mut self) {
        let round = self.promised.round.max(self.round_seen_max) + 1;
        let ballot = Ballot {
            round,
            node: self.config.id,
        };
        assert!(ballot > self.promised);
        self.round_seen_max = round;
        self.promised = ballot;
        self.out.persist.promised = Some(ballot);
        let from_slot = self.commit + 1;
        self.role = Role::Candidate(Candidate {
            ballot,
            from_slot,
            promises: 0,
            merged: BTreeMap::new(),
        });
        self.self_acks.push(SelfAck::Promise(ballot));
        let peers: Vec<NodeId> = self.peers().collect();
        for peer in peers {
            self.send_after_persist(peer, Body::Prepare(Prepare { ballot, from_slot }));
        }
        self.election_attempts += 1;
        self.reset_election_deadline();
    }

    pub(super) fn on_self_promise(&mut self, ballot: Ballot) {
        let Role::Candidate(candidate) = &self.role else {
            return;
        };
        if candidate.ballot != ballot {
            return self.ignore("self promise for an abandoned candidacy");
        }
        let promise = Promise {
            ballot,
            from_slot: candidate.from_slot,
            log_start: self.log.start(),
            accepted: Vec::new(),
        };
        let own: Vec<(Slot, LogSlot)> = self
            .log
            .iter_from(candidate.from_slot)
            .map(|(slot, value)| (slot, value.clone()))
            .collect();
        let id = self.config.id;
        self.count_promise(id, promise, own);
    }

    pub(super) fn on_promise(&mut self, from: NodeId, promise: Promise) {
        let Role::Candidate(candidate) = &self.role else {
            return self.ignore("promise while not a candidate");
        };
        if candidate.ballot != promise.ballot {
            return self.ignore("promise for another ballot");
        }
        if promise.log_start > candidate.from_slot {
            // It compacted slots we have not learned; it cannot vouch for
            // them. Learn them first, then campaign again.
            self.catchup_next_ms = self.now_ms;
            self.commit_known = self.commit_known.max(promise.log_start - 1);
            let from_slot = self.commit + 1;
            return self.send(from, Body::CatchUp(crate::message::CatchUp { from_slot }));
        }
        let values = promise
            .accepted
            .iter()
            .map(|e| {
                (
                    e.slot,
                    LogSlot {
                        ballot: e.ballot,
                        entry: e.entry.clone(),
                    },
                )
            })
            .collect();
        self.count_promise(from, promise, values);
    }

    fn count_promise(&mut self, from: NodeId, promise: Promise, values: Vec<(Slot, LogSlot)>) {
        let bit = self.bit_of(from);
        let quorum = self.quorum;
        let Role::Candidate(candidate) = &mut self.role else {
            unreachable!("checked by callers")
        };
        debug_assert_eq!(candidate.ballot, promise.ballot);
        if candidate.promises & bit != 0 {
            return self.ignore("duplicate promise");
        }
        candidate.promises |= bit;
        for (slot, value) in values {
            if slot < candidate.from_slot {
                continue;
            }
            // Phase 1 rule: keep the value of the highest ballot per slot.
            let keep = candidate
                .merged
                .get(&slot)
                .is_none_or(|held| held.ballot < value.ballot);
            if keep {
                candidate.merged.insert(slot, value);
            }
        }
        if candidate.promises.count_ones() as usize >= quorum {
            self.become_leader();
        }
    }

    /// Phase 1 done: re-propose every slot a promise reported (or a noop
    /// where none did), then a noop that opens our ballot.
    fn become_leader(&mut self) {
        let Role::Candidate(candidate) = std::mem::replace(&mut self.role, Role::Follower) else {
            unreachable!("only a candidate becomes leader")
        };
        assert_eq!(
            candidate.from_slot,
            self.commit + 1,
            "commit moved during candidacy"
        );
        let ballot = candidate.ballot;
        let max_slot = candidate
            .merged
            .keys()
            .next_back()
            .copied()
            .unwrap_or(self.commit);
        // Everything we ourselves accepted is re-proposed (our promise counted).
        assert!(
            max_slot >= self.log.last(),
            "own accepted slot above phase 1 result"
        );
        let start_slot = max_slot + 1;
        let mut merged = candidate.merged;
        let mut slots = Vec::with_capacity((start_slot - self.commit) as usize);
        for slot in candidate.from_slot..=start_slot {
            let entry = merged.remove(&slot).map_or(Entry::Noop, |v| v.entry);
            slots.push((slot, entry));
        }
        self.role = Role::Leader(Leader {
            ballot,
            start_slot,
            next_slot: candidate.from_slot,
            votes: VecDeque::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            pending_since_ms: self.now_ms,
            heartbeat_seq: 0,
            heartbeat_next_ms: self.now_ms,
            heartbeats: VecDeque::new(),
            lease_until_ms: 0,
            heard_ms: vec![self.now_ms; self.config.nodes.len()],
            elected_ms: self.now_ms,
        });
        self.leader_hint = Some(self.config.id);
        self.election_attempts = 0;
        self.propose_slots(slots);
        self.send_heartbeat();
    }

    /// Flushes the pending batch while the window has room and the batch is
    /// full or has waited `batch_delay_ms`.
    pub(super) fn flush_batches(&mut self) {
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        if leader.pending.is_empty() {
            return;
        }
        let in_flight = leader.next_slot - self.commit - 1;
        let full = leader.pending.len() >= self.config.batch_commands_max
            || leader.pending_bytes >= self.config.batch_bytes_max;
        let due = self.now_ms >= leader.pending_since_ms + self.config.batch_delay_ms;
        if in_flight >= self.config.window_slots_max || !(full || due) {
            return;
        }
        let batch = std::mem::take(&mut leader.pending);
        leader.pending_bytes = 0;
        let slot = leader.next_slot;
        self.propose_slots(vec![(slot, Entry::Batch(batch.into()))]);
    }

    /// Phase 2a for consecutive slots starting at the leader's next slot.
    fn propose_slots(&mut self, slots: Vec<(Slot, Entry)>) {
        let now_ms = self.now_ms;
        let Role::Leader(leader) = &mut self.role else {
            unreachable!("leader only")
        };
        let ballot = leader.ballot;
        let first_slot = leader.next_slot;
        for (i, (slot, entry)) in slots.iter().enumerate() {
            assert_eq!(*slot, first_slot + i as Slot);
            leader.votes.push_back(SlotVotes {
                votes: 0,
                sent_ms: now_ms,
            });
            self.out.persist.entries.push(crate::types::SlotEntry {
                slot: *slot,
                ballot,
                entry: entry.clone(),
            });
        }
        leader.next_slot = first_slot + slots.len() as Slot;
        debug_assert_eq!(
            leader.votes.len() as Slot,
            leader.next_slot - self.commit - 1
        );
        let mut entries = Vec::with_capacity(slots.len());
        for (slot, entry) in slots {
            self.self_acks.push(SelfAck::Accepted(ballot, slot));
            entries.push(entry.clone());
            self.log.set(slot, LogSlot { ballot, entry });
        }
        let peers: Vec<NodeId> = self.peers().collect();
        for chunk_start in (0..entries.len()).step_by(self.config.message_entries_max) {
            let chunk_end = (chunk_start + self.config.message_entries_max).min(entries.len());
            let chunk = &entries[chunk_start..chunk_end];
            for &peer in &peers {
                let accept = Accept {
                    ballot,
                    first_slot: first_slot + chunk_start as Slot,
                    entries: chunk.to_vec(),
                    commit: self.commit,
                };
                self.send(peer, Body::Accept(accept));
            }
        }
    }

    pub(super) fn on_accepted(&mut self, from: NodeId, accepted: Accepted) {
        self.record_vote(from, accepted.ballot, accepted.first_slot, accepted.count);
    }

    /// Counts `from`'s acceptance of `count` slots from `first_slot` at
    /// `ballot`, then commits every slot a majority accepted, in order.
    pub(super) fn record_vote(
        &mut self,
        from: NodeId,
        ballot: Ballot,
        first_slot: Slot,
        count: u32,
    ) {
        let bit = self.bit_of(from);
        let node_index = self.index_of(from).expect("node in group");
        let now_ms = self.now_ms;
        let commit = self.commit;
        let Role::Leader(leader) = &mut self.role else {
            return self.ignore("accepted while not leader");
        };
        if leader.ballot != ballot {
            return self.ignore("accepted for another ballot");
        }
        leader.heard_ms[node_index] = now_ms;
        let end = first_slot
            .saturating_add(count as Slot)
            .min(leader.next_slot);
        for slot in first_slot.max(commit + 1)..end {
            leader.votes[(slot - commit - 1) as usize].votes |= bit;
        }
        self.advance_leader_commit();
    }

    fn advance_leader_commit(&mut self) {
        let quorum = self.quorum;
        let Role::Leader(leader) = &mut self.role else {
            return;
        };
        let mut commit = self.commit;
        while leader
            .votes
            .front()
            .is_some_and(|v| v.votes.count_ones() as usize >= quorum)
        {
            leader.votes.pop_front();
            commit += 1;
        }
        if commit == self.commit {
            return;
        }
        debug_assert!(commit < leader.next_slot);
        self.commit = commit;
        self.commit_known = self.commit_known.max(commit);
        self.deliver();
        self.flush_batches();
    }

    pub(super) fn tick_leader(&mut self) {
        let Role::Leader(leader) = &self.role else {
            unreachable!("leader only")
        };
        if self.now_ms >= leader.heartbeat_next_ms {
            self.send_heartbeat();
            self.retransmit();
            self.check_quorum();
        }
        self.flush_batches();
    }

    /// Heartbeat: liveness, commit notice and lease renewal in one message.
    fn send_heartbeat(&mut self) {
        let now_ms = self.now_ms;
        let self_bit = self.bit_of(self.config.id);
        let Role::Leader(leader) = &mut self.role else {
            unreachable!("leader only")
        };
        leader.heartbeat_seq += 1;
        leader.heartbeat_next_ms = now_ms + self.config.heartbeat_interval_ms;
        let seq = leader.heartbeat_seq;
        let ballot = leader.ballot;
        leader.heartbeats.push_back(HeartbeatRound {
            seq,
            sent_ms: now_ms,
            acks: 0,
        });
        if leader.heartbeats.len() > HEARTBEAT_ROUNDS_MAX {
            leader.heartbeats.pop_front();
        }
        // We grant ourselves too: no rival gets our promise meanwhile.
        self.lease_grant = super::LeaseGrant {
            holder: Some(self.config.id),
            until_ms: now_ms + self.config.lease_grant_ms,
        };
        let commit = self.commit;
        let peers: Vec<NodeId> = self.peers().collect();
        for peer in peers {
            self.send(
                peer,
                Body::Heartbeat(Heartbeat {
                    ballot,
                    commit,
                    seq,
                }),
            );
        }
        self.count_heartbeat_ack(self_bit, ballot, seq);
    }

    pub(super) fn on_heartbeat_ack(&mut self, from: NodeId, ack: HeartbeatAck) {
        let now_ms = self.now_ms;
        let node_index = self.index_of(from).expect("node in group");
        if let Role::Leader(leader) = &mut self.role {
            if leader.ballot == ack.ballot {
                leader.heard_ms[node_index] = now_ms;
            }
        }
        let bit = self.bit_of(from);
        self.count_heartbeat_ack(bit, ack.ballot, ack.seq);
    }

    /// A majority granted heartbeat `seq`: the lease runs from its send time.
    fn count_heartbeat_ack(&mut self, bit: u32, ballot: Ballot, seq: u64) {
        let quorum = self.quorum;
        let lease_ms = self.config.leader_lease_ms();
        let Role::Leader(leader) = &mut self.role else {
            return self.ignore("heartbeat ack while not leader");
        };
        if leader.ballot != ballot {
            return self.ignore("heartbeat ack for another ballot");
        }
        let Some(round) = leader.heartbeats.iter_mut().find(|r| r.seq == seq) else {
            return self.ignore("heartbeat ack for a forgotten round");
        };
        round.acks |= bit;
        if round.acks.count_ones() as usize >= quorum {
            leader.lease_until_ms = leader.lease_until_ms.max(round.sent_ms + lease_ms);
        }
    }

    /// Resends accepts that peers have not acknowledged within
    /// `accept_retry_ms`, at most `message_entries_max` slots per peer.
    fn retransmit(&mut self) {
        let now_ms = self.now_ms;
        let retry_ms = self.config.accept_retry_ms;
        let entries_max = self.config.message_entries_max;
        let nodes = self.config.nodes.clone();
        let id = self.config.id;
        let commit = self.commit;
        let Role::Leader(leader) = &mut self.role else {
            unreachable!("leader only")
        };
        let ballot = leader.ballot;
        let mut resends: Vec<(NodeId, Slot, Vec<Entry>)> = Vec::new();
        for (index, &peer) in nodes.iter().enumerate() {
            if peer == id {
                continue;
            }
            let bit = 1u32 << index;
            let stale = leader
                .votes
                .iter()
                .enumerate()
                .filter(|(_, v)| v.votes & bit == 0 && v.sent_ms + retry_ms <= now_ms)
                .map(|(i, _)| commit + 1 + i as Slot)
                .take(entries_max);
            for slot in stale {
                let entry = self
                    .log
                    .get(slot)
                    .expect("in-flight slot is in the log")
                    .entry
                    .clone();
                match resends.last_mut() {
                    Some((p, first, run)) if *p == peer && *first + run.len() as Slot == slot => {
                        run.push(entry)
                    }
                    _ => resends.push((peer, slot, vec![entry])),
                }
            }
        }
        for v in leader
            .votes
            .iter_mut()
            .filter(|v| v.sent_ms + retry_ms <= now_ms)
        {
            v.sent_ms = now_ms;
        }
        for (peer, first_slot, entries) in resends {
            self.send(
                peer,
                Body::Accept(Accept {
                    ballot,
                    first_slot,
                    entries,
                    commit,
                }),
            );
        }
    }

    /// Failure detection on the leader side: step down when no majority
    /// answered within `election_timeout_ms`, so a leader cut off from its
    /// followers (even one-way) stops blocking a new election.
    fn check_quorum(&mut self) {
        let now_ms = self.now_ms;
        let timeout_ms = self.config.election_timeout_ms;
        let self_index = self.index_of(self.config.id).expect("self in group");
        let Role::Leader(leader) = &mut self.role else {
            unreachable!("leader only")
        };
        leader.heard_ms[self_index] = now_ms;
        if now_ms < leader.elected_ms + timeout_ms {
            return;
        }
        let heard = leader
            .heard_ms
            .iter()
            .filter(|&&t| t + timeout_ms > now_ms)
            .count();
        if heard < self.quorum {
            self.ignore("leader lost its quorum; stepping down");
            self.become_follower();
        }
    }

    pub(super) fn on_reject(&mut self, _from: NodeId, reject: Reject) {
        self.round_seen_max = self.round_seen_max.max(reject.promised.round);
        let own = match &self.role {
            Role::Leader(l) => l.ballot,
            Role::Candidate(c) => c.ballot,
            Role::Follower => return self.ignore("reject while follower"),
        };
        if reject.ballot != own || reject.promised <= own {
            return self.ignore("stale reject");
        }
        if matches!(self.role, Role::Leader(_)) {
            // Someone promised a higher ballot, typically a node returning
            // from a partition where it campaigned alone. Our followers still
            // grant us the lease, so campaigning above that ballot at once
            // keeps leadership here instead of handing the group an election.
            return self.campaign();
        }
        self.become_follower();
    }
}
