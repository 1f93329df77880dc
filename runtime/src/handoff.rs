//! Connections follow their keys.
//!
//! A connection lives on the core that accepted it, and a command whose key
//! another core owns crosses the core queue and back. A client that keeps
//! to a few keys (a lock holder, a counter, a benchmark on one key) pays
//! that crossing on every command, and two cores end up doing the work of
//! one plus the traffic between them. So a connection whose commands have
//! all gone to one other core for a while is handed to that core: at a
//! quiet moment (nothing unanswered, no input left over) its socket and
//! session cross the queue once, and from then on its commands run where
//! their keys are. Its effects stay in order because nothing of it is in
//! flight when it moves.

use pinwheel_net::resp::Protocol;
use pinwheel_net::Handoff;

use crate::session::ClientRecord;

/// Consecutive single-key commands for one other core's groups after which
/// a connection moves to that core. Small enough that a pipelining client
/// moves within a few reads, large enough that a client alternating between
/// cores moves at most once per this many commands.
pub const HANDOFF_AFTER_COMMANDS: u32 = 32;

/// Where a connection's recent commands went.
#[derive(Debug)]
pub(crate) struct Affinity {
    here: usize,
    core: usize,
    streak: u32,
}

impl Affinity {
    /// A connection on core `here`, with no history yet.
    pub fn new(here: usize) -> Affinity {
        Affinity {
            here,
            core: here,
            streak: 0,
        }
    }

    /// A single-key command went to a group core `owner` owns.
    pub fn note(&mut self, owner: usize) {
        if owner == self.here {
            self.streak = 0;
        } else if owner == self.core {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.core = owner;
            self.streak = 1;
        }
    }

    /// A command touched keys of several groups: it gives no direction.
    pub fn reset(&mut self) {
        self.streak = 0;
    }

    /// The core the connection should move to, if any.
    pub fn destination(&self) -> Option<usize> {
        (self.streak >= HANDOFF_AFTER_COMMANDS).then_some(self.core)
    }
}

/// A connection crossing to another core: its socket and its session.
pub(crate) struct Arrival {
    pub connection: Handoff,
    pub record: ClientRecord,
    pub protocol: Protocol,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_commands_for_one_other_core_picks_it() {
        let mut affinity = Affinity::new(0);
        for _ in 1..HANDOFF_AFTER_COMMANDS {
            affinity.note(1);
        }
        assert_eq!(affinity.destination(), None);
        affinity.note(1);
        assert_eq!(affinity.destination(), Some(1));
    }

    #[test]
    fn a_local_or_mixed_command_starts_the_count_again() {
        let mut affinity = Affinity::new(0);
        for owner in [1, 1, 0, 1, 2, 1] {
            affinity.note(owner);
        }
        assert_eq!(affinity.streak, 1);
        for _ in 0..HANDOFF_AFTER_COMMANDS {
            affinity.note(2);
        }
        affinity.reset();
        assert_eq!(affinity.destination(), None);
    }
}
