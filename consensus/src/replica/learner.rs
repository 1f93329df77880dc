//! Learner side: commit notices, catch-up, snapshot install, delivery.

use super::{Replica, Role};
use crate::log::LogSlot;
use crate::message::{Body, CatchUp, Chosen, InstallSnapshot};
use crate::types::{Ballot, Committed, NodeId, Slot, SlotEntry};

impl Replica {
    /// A commit notice from `from` at `ballot`: slots up to `notice` are
    /// chosen. We may mark a slot committed only if we hold the value that
    /// ballot's leader proposed there (same ballot), or know it chosen;
    /// anything else we fetch.
    pub(super) fn learn_commit(&mut self, from: NodeId, notice: Slot, ballot: Ballot) {
        self.commit_known = self.commit_known.max(notice);
        self.learn_chosen_prefix_upto(notice, ballot);
        if self.commit < self.commit_known {
            self.request_catch_up(from);
        }
    }

    /// Commits through every slot already known chosen.
    pub(super) fn learn_chosen_prefix(&mut self, ballot: Ballot) {
        self.learn_chosen_prefix_upto(Slot::MAX, ballot);
    }

    fn learn_chosen_prefix_upto(&mut self, notice: Slot, ballot: Ballot) {
        while self.commit < notice {
            let slot = self.commit + 1;
            match self.log.get(slot) {
                Some(value) if value.ballot == ballot || value.ballot.is_chosen() => {
                    self.commit = slot
                }
                _ => break,
            }
        }
        self.deliver();
    }

    /// Hands newly committed entries to the state machine.
    pub(super) fn deliver(&mut self) {
        while self.delivered < self.commit {
            let slot = self.delivered + 1;
            let value = self.log.get(slot).expect("committed slot is in the log");
            self.out.committed.push(Committed {
                slot,
                entry: value.entry.clone(),
            });
            self.delivered = slot;
        }
        let held = self.delivered + 1 - self.log.start();
        if held >= self.config.compact_slots && !self.snapshot_wanted_pending {
            self.snapshot_wanted_pending = true;
            self.out.snapshot_wanted = Some(self.delivered);
        }
    }

    fn request_catch_up(&mut self, to: NodeId) {
        if self.now_ms < self.catchup_next_ms {
            return self.ignore("catch-up already requested recently");
        }
        self.catchup_next_ms = self.now_ms + self.config.catchup_retry_ms;
        let from_slot = self.commit + 1;
        self.send(to, Body::CatchUp(CatchUp { from_slot }));
    }

    pub(super) fn on_catch_up(&mut self, from: NodeId, request: CatchUp) {
        if request.from_slot < self.log.start() {
            let Some(snapshot) = self.snapshot.clone() else {
                return self.ignore("catch-up from slot 0");
            };
            debug_assert!(snapshot.slot + 1 == self.log.start());
            return self.send(from, Body::InstallSnapshot(InstallSnapshot { snapshot }));
        }
        if request.from_slot > self.commit {
            return self.ignore("catch-up for slots we do not know chosen");
        }
        let last = self
            .commit
            .min(request.from_slot + self.config.message_entries_max as Slot - 1);
        let entries = (request.from_slot..=last)
            .map(|slot| {
                self.log
                    .get(slot)
                    .expect("committed slot is in the log")
                    .entry
                    .clone()
            })
            .collect();
        let chosen = Chosen {
            first_slot: request.from_slot,
            entries,
        };
        self.send(from, Body::Chosen(chosen));
    }

    pub(super) fn on_chosen(&mut self, from: NodeId, chosen: Chosen) {
        if matches!(self.role, Role::Leader(_)) {
            // A leader learned every slot below its commit at election and
            // owns the values above it.
            return self.ignore("chosen entries sent to a leader");
        }
        let commit_before = self.commit;
        for (i, entry) in chosen.entries.into_iter().enumerate() {
            let slot = chosen.first_slot.saturating_add(i as Slot);
            if slot <= self.commit || slot < self.log.start() {
                continue;
            }
            self.out.persist.entries.push(SlotEntry {
                slot,
                ballot: Ballot::CHOSEN,
                entry: entry.clone(),
            });
            self.log.set(
                slot,
                LogSlot {
                    ballot: Ballot::CHOSEN,
                    entry,
                },
            );
        }
        self.learn_chosen_prefix(Ballot::CHOSEN);
        self.after_learning(from, commit_before);
    }

    pub(super) fn on_install_snapshot(&mut self, from: NodeId, install: InstallSnapshot) {
        if matches!(self.role, Role::Leader(_)) {
            return self.ignore("snapshot sent to a leader");
        }
        let snapshot = install.snapshot;
        if snapshot.slot <= self.commit {
            return self.ignore("snapshot not ahead of our commit");
        }
        let commit_before = self.commit;
        // Accepted values above the snapshot stay: they are votes we cast.
        self.log.compact(snapshot.slot);
        debug_assert!(self.out.committed.iter().all(|c| c.slot <= snapshot.slot));
        self.out.committed.clear();
        self.commit = snapshot.slot;
        self.delivered = snapshot.slot;
        self.commit_known = self.commit_known.max(snapshot.slot);
        self.snapshot_wanted_pending = false;
        self.out.install_snapshot = Some(snapshot.clone());
        self.out.persist.snapshot = Some(snapshot.clone());
        self.snapshot = Some(snapshot);
        self.learn_chosen_prefix(Ballot::CHOSEN);
        self.after_learning(from, commit_before);
    }

    /// After catch-up moved our commit: a candidacy based on the old commit
    /// point is stale, and if still behind, ask for the next chunk at once.
    fn after_learning(&mut self, from: NodeId, commit_before: Slot) {
        if self.commit > commit_before && matches!(self.role, Role::Candidate(_)) {
            self.become_follower();
        }
        if self.commit < self.commit_known {
            self.catchup_next_ms = self.now_ms;
            self.request_catch_up(from);
        }
    }
}
