//! Replica configuration: every timeout and limit, with its default and why.

use crate::types::NodeId;

/// Largest shard group: votes are tracked in a `u32` bit mask.
pub const NODES_MAX: usize = 32;

/// Bugs planted on purpose so the simulator can prove its checks bite.
/// Never set outside the simulator's self-tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// An acceptor answers a prepare without persisting its promise, so a
    /// crash makes it forget and later accept a lower ballot.
    SkipPersistPromise,
    /// An acceptor accepts entries from a ballot lower than its promise.
    AcceptLowerBallot,
    /// The leader's lease ignores clock drift: it lasts as long as the
    /// followers' grants, so a slow leader clock overlaps the next leader.
    LeaseIgnoresDrift,
}

/// Everything a replica needs to know besides its inputs.
///
/// Time is whatever monotonic millisecond clock the caller passes to
/// `tick`. The lease is safe only if every replica's clock runs within
/// `clock_drift_ppm_max` of real time (see [`Config::leader_lease_ms`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// This replica.
    pub id: NodeId,
    /// All voters of the group, this replica included.
    pub nodes: Vec<NodeId>,
    /// Seeds the election back-off; give every replica a different one.
    pub seed: u64,
    /// Leader heartbeat period. Default 50 ms: a tenth of the election
    /// timeout, so several heartbeats must be lost before anyone campaigns.
    pub heartbeat_interval_ms: u64,
    /// Failure detection: a follower that hears no leader for this long
    /// (plus jitter) campaigns; a leader that hears no majority for this
    /// long steps down. Default 500 ms. Must be at least `lease_grant_ms`.
    pub election_timeout_ms: u64,
    /// Randomized back-off added to each election timeout, drawn from
    /// `0..=election_jitter_ms * attempt` (attempt capped at 4) so duelling
    /// candidates spread apart. Default 250 ms.
    pub election_jitter_ms: u64,
    /// How long a follower, on its own clock, refuses other candidates after
    /// acknowledging a heartbeat. Default 400 ms.
    pub lease_grant_ms: u64,
    /// Bound on any clock's rate error, in parts per million. Default
    /// 10,000 (1 %): far above real quartz drift, so the bound holds even
    /// for badly behaved virtualized clocks.
    pub clock_drift_ppm_max: u64,
    /// Leader resends unacknowledged accepts after this long. Default 100 ms.
    pub accept_retry_ms: u64,
    /// A lagging replica repeats a catch-up request after this long.
    /// Default 100 ms.
    pub catchup_retry_ms: u64,
    /// Most commands in one batch (one slot). Default 1,024.
    pub batch_commands_max: usize,
    /// Most bytes of commands in one batch. Default 1 MiB.
    pub batch_bytes_max: usize,
    /// Longest a command waits for its batch to fill. Default 1 ms.
    pub batch_delay_ms: u64,
    /// Most slots a leader has in flight (proposed, not yet committed).
    /// Default 32.
    pub window_slots_max: u64,
    /// Most entries in one Accept, Chosen or retransmission. Default 64.
    pub message_entries_max: usize,
    /// An acceptor ignores accepts further than this beyond its commit
    /// point; it catches up first. Bounds a follower's log gaps. Default
    /// 4,096.
    pub accept_ahead_slots_max: u64,
    /// Ask the state machine for a snapshot once this many applied slots
    /// sit in the log. Default 10,000.
    pub compact_slots: u64,
    /// Largest single command, in bytes. Default 1 MiB.
    pub command_bytes_max: usize,
    /// Simulator self-test only.
    pub planted_bug: Option<PlantedBug>,
}

impl Config {
    /// A config with every default, for replica `id` of group `nodes`.
    pub fn new(id: NodeId, nodes: Vec<NodeId>, seed: u64) -> Config {
        Config {
            id,
            nodes,
            seed,
            heartbeat_interval_ms: 50,
            election_timeout_ms: 500,
            election_jitter_ms: 250,
            lease_grant_ms: 400,
            clock_drift_ppm_max: 10_000,
            accept_retry_ms: 100,
            catchup_retry_ms: 100,
            batch_commands_max: 1024,
            batch_bytes_max: 1 << 20,
            batch_delay_ms: 1,
            window_slots_max: 32,
            message_entries_max: 64,
            accept_ahead_slots_max: 4096,
            compact_slots: 10_000,
            command_bytes_max: 1 << 20,
            planted_bug: None,
        }
    }

    /// Votes needed for a majority.
    pub fn quorum(&self) -> usize {
        self.nodes.len() / 2 + 1
    }

    /// How long, on its own clock from the moment it *sent* a heartbeat, a
    /// leader may serve reads once a majority acknowledged that heartbeat.
    ///
    /// With drift bound ρ, a follower's grant of `G = lease_grant_ms` on its
    /// clock lasts at least `(G - 1) / (1 + ρ)` real ms after it received the
    /// heartbeat (1 ms for clock granularity), and a leader lease `L` on the
    /// leader's clock lasts at most `(L + 1) / (1 - ρ)` real ms after it sent
    /// it. Leases never overlap when
    ///
    /// `L + 1 <= (G - 1) * (1 - ρ) / (1 + ρ)`  and  `G <= election_timeout_ms`.
    ///
    /// A new leader needs a promise from a majority, which shares a member
    /// with the old lease's majority, and that member refuses candidates
    /// until its grant expires.
    pub fn leader_lease_ms(&self) -> u64 {
        if self.planted_bug == Some(PlantedBug::LeaseIgnoresDrift) {
            return self.lease_grant_ms;
        }
        let ppm = 1_000_000u64;
        let rho = self.clock_drift_ppm_max;
        let scaled = self.lease_grant_ms.saturating_sub(1) * (ppm - rho) / (ppm + rho);
        scaled.saturating_sub(1)
    }

    /// Checks every relation the protocol relies on.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.nodes.len();
        if n == 0 || n > NODES_MAX {
            return Err(format!("group of {n} nodes; must be 1..={NODES_MAX}"));
        }
        if !self.nodes.contains(&self.id) {
            return Err(format!(
                "node {} is not in its group {:?}",
                self.id, self.nodes
            ));
        }
        let mut sorted = self.nodes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != n {
            return Err(format!("duplicate node ids in {:?}", self.nodes));
        }
        if self.clock_drift_ppm_max >= 500_000 {
            return Err("clock_drift_ppm_max must be below 500,000".into());
        }
        if self.lease_grant_ms > self.election_timeout_ms {
            return Err("lease_grant_ms must not exceed election_timeout_ms".into());
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_interval_ms >= self.leader_lease_ms() {
            return Err("heartbeat_interval_ms must be in 1..leader_lease_ms()".into());
        }
        if self.batch_commands_max == 0
            || self.window_slots_max == 0
            || self.message_entries_max == 0
        {
            return Err(
                "batch_commands_max, window_slots_max and message_entries_max must be > 0".into(),
            );
        }
        if self.accept_ahead_slots_max < self.window_slots_max {
            return Err("accept_ahead_slots_max must be at least window_slots_max".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_lease_is_shorter_than_grant() {
        let config = Config::new(0, vec![0, 1, 2], 1);
        config.validate().unwrap();
        assert!(config.leader_lease_ms() < config.lease_grant_ms);
        assert!(config.lease_grant_ms <= config.election_timeout_ms);
        // 399 * 0.99 / 1.01 = 391.09 -> 391, minus 1.
        assert_eq!(config.leader_lease_ms(), 390);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let mut config = Config::new(7, vec![0, 1, 2], 1);
        assert!(config.validate().is_err());
        config.id = 0;
        config.lease_grant_ms = config.election_timeout_ms + 1;
        assert!(config.validate().is_err());
    }
}
