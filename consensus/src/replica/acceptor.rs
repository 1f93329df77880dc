//! Acceptor side: promises, acceptances, lease grants.

use super::{LeaseGrant, Replica, Role};
use crate::config::PlantedBug;
use crate::log::LogSlot;
use crate::message::{Accept, Accepted, Body, Heartbeat, HeartbeatAck, Prepare, Promise, Reject};
use crate::types::{Ballot, NodeId, SlotEntry};

impl Replica {
    pub(super) fn on_prepare(&mut self, from: NodeId, prepare: Prepare) {
        debug_assert_eq!(prepare.ballot.node, from);
        if prepare.ballot < self.promised {
            return self.reject(from, prepare.ballot);
        }
        if prepare.ballot > self.promised {
            if self.lease_granted_to_other(from) {
                // Promising now could let a second leader overlap the lease
                // we granted; the candidate will retry after it expires.
                return self.ignore("prepare during a lease granted to another node");
            }
            self.round_seen_max = self.round_seen_max.max(prepare.ballot.round);
            self.promised = prepare.ballot;
            if self.config.planted_bug != Some(PlantedBug::SkipPersistPromise) {
                self.out.persist.promised = Some(prepare.ballot);
            }
            if !matches!(self.role, Role::Follower) {
                self.become_follower();
            }
            // Give the candidate time to finish before we campaign ourselves.
            self.reset_election_deadline();
        }
        let promise = Body::Promise(self.build_promise(&prepare));
        if self.config.planted_bug == Some(PlantedBug::SkipPersistPromise) {
            self.send(from, promise);
        } else {
            self.send_after_persist(from, promise);
        }
    }

    fn build_promise(&self, prepare: &Prepare) -> Promise {
        let accepted = self
            .log
            .iter_from(prepare.from_slot)
            .map(|(slot, value)| SlotEntry {
                slot,
                // What we know chosen, we report as chosen.
                ballot: if slot <= self.commit {
                    Ballot::CHOSEN
                } else {
                    value.ballot
                },
                entry: value.entry.clone(),
            })
            .collect();
        Promise {
            ballot: prepare.ballot,
            from_slot: prepare.from_slot,
            log_start: self.log.start(),
            accepted,
        }
    }

    pub(super) fn on_accept(&mut self, from: NodeId, accept: Accept) {
        debug_assert_eq!(accept.ballot.node, from);
        if accept.ballot < self.promised
            && self.config.planted_bug != Some(PlantedBug::AcceptLowerBallot)
        {
            return self.reject(from, accept.ballot);
        }
        if accept.ballot > self.promised {
            self.promised = accept.ballot;
            self.out.persist.promised = Some(accept.ballot);
        }
        self.follow(from, accept.ballot);
        let ahead_max = self.commit + self.config.accept_ahead_slots_max;
        let mut count = 0u32;
        for (i, entry) in accept.entries.into_iter().enumerate() {
            let slot = accept.first_slot.saturating_add(i as u64);
            if slot > ahead_max {
                self.ignore("accept too far ahead of our commit; catching up first");
                break;
            }
            // A slot we know chosen holds the same value any later ballot
            // proposes, so acknowledging it without storing is safe.
            if slot > self.commit && slot >= self.log.start() {
                self.out.persist.entries.push(SlotEntry {
                    slot,
                    ballot: accept.ballot,
                    entry: entry.clone(),
                });
                self.log.set(
                    slot,
                    LogSlot {
                        ballot: accept.ballot,
                        entry,
                    },
                );
            }
            count += 1;
        }
        if count > 0 {
            let accepted = Accepted {
                ballot: accept.ballot,
                first_slot: accept.first_slot,
                count,
            };
            self.send_after_persist(from, Body::Accepted(accepted));
        }
        self.learn_commit(from, accept.commit, accept.ballot);
    }

    pub(super) fn on_heartbeat(&mut self, from: NodeId, heartbeat: Heartbeat) {
        debug_assert_eq!(heartbeat.ballot.node, from);
        if heartbeat.ballot < self.promised {
            return self.reject(from, heartbeat.ballot);
        }
        self.follow(from, heartbeat.ballot);
        self.lease_grant = LeaseGrant {
            holder: Some(from),
            until_ms: self.now_ms + self.config.lease_grant_ms,
        };
        let ack = HeartbeatAck {
            ballot: heartbeat.ballot,
            seq: heartbeat.seq,
        };
        self.send(from, Body::HeartbeatAck(ack));
        self.learn_commit(from, heartbeat.commit, heartbeat.ballot);
    }

    /// A leader at `ballot` (at least our promise) is alive: follow it.
    fn follow(&mut self, leader: NodeId, ballot: Ballot) {
        let own_ballot = match &self.role {
            Role::Leader(l) => Some(l.ballot),
            Role::Candidate(c) => Some(c.ballot),
            Role::Follower => None,
        };
        if let Some(own) = own_ballot {
            assert!(own != ballot, "two leaders share ballot {ballot:?}");
            self.role = Role::Follower;
        }
        self.leader_hint = Some(leader);
        self.election_attempts = 0;
        self.reset_election_deadline();
    }

    fn reject(&mut self, to: NodeId, ballot: Ballot) {
        debug_assert!(ballot < self.promised);
        let reject = Reject {
            ballot,
            promised: self.promised,
        };
        self.send(to, Body::Reject(reject));
    }

    /// Our own acceptance, durable now, counts as a vote (leader only).
    pub(super) fn on_self_accepted(&mut self, ballot: Ballot, slot: u64) {
        let id = self.config.id;
        self.record_vote(id, ballot, slot, 1);
    }
}
