//! Lock histories: hand-written cases, a simulated correct lock server
//! whose histories must pass, and simulated buggy servers whose histories
//! must mostly fail.

mod common;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use common::Rng;
use pinwheel_lincheck::{
    check_locks, HistoryError, LockCheckOptions, LockCommand, LockHistory, LockReport,
    LockViolationKind, OpId, Reply,
};

/// Milliseconds as the history's nanoseconds.
fn ms(value: u64) -> u64 {
    value * 1_000_000
}

fn check(history: &LockHistory) -> LockReport {
    check_locks(history, &LockCheckOptions::default()).expect("history is well formed")
}

fn assert_clean(history: &LockHistory) {
    let report = check(history);
    assert!(report.is_ok(), "expected no violation:\n{report}");
}

/// Asserts exactly one violation, of `kind`, naming `ops`.
fn assert_one(history: &LockHistory, kind: LockViolationKind, ops: &[OpId]) -> String {
    let report = check(history);
    assert_eq!(report.violations.len(), 1, "{report}");
    assert_eq!(report.violations[0].kind, kind, "{report}");
    assert_eq!(report.violations[0].ops, ops, "{report}");
    report.to_string()
}

fn acquire(h: &mut LockHistory, client: u64, at: (u64, u64), ttl_ms: u64, reply: Reply) -> OpId {
    let owner = format!("owner-{client}");
    let command = LockCommand::acquire(owner, ttl_ms);
    h.record(client, "L", command, at.0, at.1, reply)
}

fn token(t: i64) -> Reply {
    Reply::Int(t)
}

#[test]
fn acquire_release_acquire_is_clean() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    acquire(&mut h, 2, (ms(2), ms(3)), 100, Reply::Nil);
    h.record(
        1,
        "L",
        LockCommand::release(1),
        ms(10),
        ms(11),
        Reply::Int(1),
    );
    acquire(&mut h, 2, (ms(12), ms(13)), 100, token(2));
    h.record(
        2,
        "L",
        LockCommand::renew(2, 100),
        ms(50),
        ms(51),
        Reply::Int(1),
    );
    h.record(
        2,
        "L",
        LockCommand::release(2),
        ms(60),
        ms(61),
        Reply::Int(1),
    );
    let report = check(&h);
    assert!(report.is_ok(), "{report}");
    assert_eq!((report.locks, report.grants), (1, 2));
}

#[test]
fn a_later_grant_with_a_smaller_token() {
    let mut h = LockHistory::new();
    let first = acquire(&mut h, 1, (0, ms(1)), 100, token(5));
    h.record(
        1,
        "L",
        LockCommand::release(5),
        ms(10),
        ms(11),
        Reply::Int(1),
    );
    let second = acquire(&mut h, 2, (ms(12), ms(13)), 100, token(3));
    assert_one(&h, LockViolationKind::TokenOrder, &[first, second]);
}

#[test]
fn tokens_after_a_restart_must_exceed_those_before() {
    let mut h = LockHistory::new();
    let before = acquire(&mut h, 1, (0, ms(1)), 10, token(7));
    h.restart(ms(50));
    let after = acquire(&mut h, 2, (ms(60), ms(61)), 10, token(1));
    let text = assert_one(
        &h,
        LockViolationKind::TokenNotAboveRestart,
        &[before, after],
    );
    assert!(
        text.contains("across the restart marked at 50000000"),
        "{text}"
    );
}

#[test]
fn one_token_for_two_owners() {
    let mut h = LockHistory::new();
    let first = acquire(&mut h, 1, (0, ms(10)), 1, token(4));
    let second = acquire(&mut h, 2, (ms(1), ms(9)), 1, token(4));
    let report = check(&h);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.kind == LockViolationKind::TokenShared && v.ops == [first, second]),
        "{report}"
    );
}

#[test]
fn re_acquire_by_the_holder_keeps_its_token() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(3));
    acquire(&mut h, 1, (ms(50), ms(51)), 100, token(3));
    // The re-acquire extended the lease to 150 ms.
    acquire(&mut h, 2, (ms(120), ms(121)), 100, Reply::Nil);
    acquire(&mut h, 2, (ms(160), ms(161)), 100, token(4));
    assert_clean(&h);
}

#[test]
fn two_holders_at_once() {
    let mut h = LockHistory::new();
    let first = acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    let second = acquire(&mut h, 2, (ms(50), ms(51)), 100, token(2));
    let text = assert_one(&h, LockViolationKind::LeaseOverlap, &[first, second]);
    assert!(text.contains("two holders at once"), "{text}");
}

#[test]
fn a_grant_after_the_lease_ran_out_is_fine() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    acquire(&mut h, 2, (ms(101), ms(102)), 100, token(2));
    assert_clean(&h);
}

#[test]
fn the_lease_counts_from_the_invocation_not_the_reply() {
    // A slow grant: sent at 0, answered at 60 ms, 100 ms lease. The server
    // may have started the lease at once, so the holder may rely on it
    // only until 100 ms, not 160 ms: another grant at 110 ms is correct.
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(60)), 100, token(1));
    acquire(&mut h, 2, (ms(105), ms(110)), 100, token(2));
    assert_clean(&h);
    // But one that completed at 95 ms is inside the lease.
    let mut h = LockHistory::new();
    let first = acquire(&mut h, 1, (0, ms(60)), 100, token(1));
    let second = acquire(&mut h, 2, (ms(90), ms(95)), 100, token(2));
    assert_one(&h, LockViolationKind::LeaseOverlap, &[first, second]);
}

#[test]
fn a_round_trip_longer_than_the_lease_gives_nothing_to_rely_on() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(30)), 20, token(1));
    acquire(&mut h, 2, (ms(20), ms(31)), 100, token(2));
    assert_clean(&h);
}

#[test]
fn a_release_ends_reliance_when_sent() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    h.record(
        1,
        "L",
        LockCommand::release(1),
        ms(20),
        ms(30),
        Reply::Int(1),
    );
    // Granted while the release was still on its way back: fine, the
    // holder stopped relying on the lock when it sent the release.
    acquire(&mut h, 2, (ms(21), ms(25)), 100, token(2));
    assert_clean(&h);
}

#[test]
fn a_release_of_unknown_outcome_ends_reliance_too() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    h.record_unknown(1, "L", LockCommand::release(1), ms(20));
    acquire(&mut h, 2, (ms(21), ms(25)), 100, token(2));
    assert_clean(&h);
}

#[test]
fn renewal_extends_the_lease() {
    let mut h = LockHistory::new();
    let grant = acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    let renew = h.record(
        1,
        "L",
        LockCommand::renew(1, 100),
        ms(90),
        ms(91),
        Reply::Int(1),
    );
    acquire(&mut h, 2, (ms(120), ms(121)), 100, Reply::Nil);
    acquire(&mut h, 2, (ms(191), ms(192)), 100, token(2));
    assert_clean(&h);
    let early = acquire(&mut h, 3, (ms(150), ms(151)), 100, token(3));
    let report = check(&h);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.kind == LockViolationKind::LeaseOverlap && v.ops == [renew, early]),
        "{report}"
    );
    let _ = grant;
}

#[test]
fn a_shorter_renewal_shortens_the_lease() {
    // LOCK.RENEW replaces the lease: renewing a 100 ms lease for 10 ms at
    // 20 ms leaves the lock free from about 31 ms on.
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    h.record(
        1,
        "L",
        LockCommand::renew(1, 10),
        ms(20),
        ms(21),
        Reply::Int(1),
    );
    acquire(&mut h, 2, (ms(40), ms(41)), 100, token(2));
    assert_clean(&h);
    // Likewise a renewal whose reply was lost: it may have applied.
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    h.record_unknown(1, "L", LockCommand::renew(1, 10), ms(20));
    acquire(&mut h, 2, (ms(40), ms(41)), 100, token(2));
    assert_clean(&h);
    // A renewal that failed changed nothing, so the lease still held.
    let mut h = LockHistory::new();
    let grant = acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    let renew = h.record(
        1,
        "L",
        LockCommand::renew(1, 10),
        ms(20),
        ms(21),
        Reply::Int(0),
    );
    let report = check(&h);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.kind == LockViolationKind::LeaseLostEarly && v.ops == [grant, renew]),
        "{report}"
    );
}

#[test]
fn clock_drift_shortens_what_a_holder_may_rely_on() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    acquire(&mut h, 2, (ms(92), ms(95)), 100, token(2));
    assert_eq!(check(&h).violations.len(), 1);
    let drifting = LockCheckOptions {
        clock_drift_ppm: 100_000,
    };
    let report = check_locks(&h, &drifting).unwrap();
    assert!(report.is_ok(), "{report}");
}

#[test]
fn stale_release_after_a_newer_grant() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 10, token(1));
    let newer = acquire(&mut h, 2, (ms(20), ms(21)), 100, token(2));
    let stale = h.record(
        1,
        "L",
        LockCommand::release(1),
        ms(30),
        ms(31),
        Reply::Int(1),
    );
    assert_one(&h, LockViolationKind::StaleSuccess, &[newer, stale]);
}

#[test]
fn renewal_after_a_release() {
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    let release = h.record(1, "L", LockCommand::release(1), ms(5), ms(6), Reply::Int(1));
    let stale = h.record(
        1,
        "L",
        LockCommand::renew(1, 100),
        ms(7),
        ms(8),
        Reply::Int(1),
    );
    assert_one(&h, LockViolationKind::StaleSuccess, &[release, stale]);
    // A stale release that fails is what should happen.
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    h.record(1, "L", LockCommand::release(1), ms(5), ms(6), Reply::Int(1));
    h.record(1, "L", LockCommand::release(1), ms(7), ms(8), Reply::Int(0));
    assert_clean(&h);
}

#[test]
fn success_for_a_token_never_granted() {
    let mut h = LockHistory::new();
    let bogus = h.record(1, "L", LockCommand::release(99), 0, ms(1), Reply::Int(1));
    assert_one(&h, LockViolationKind::NeverGranted, &[bogus]);
}

#[test]
fn an_unknown_acquire_may_have_granted_an_unseen_token() {
    let mut h = LockHistory::new();
    let lost = h.record_unknown(1, "L", LockCommand::acquire("owner-1", 50), 0);
    // The lock is busy: the unseen grant holds it.
    acquire(&mut h, 2, (ms(10), ms(11)), 50, Reply::Nil);
    // The first client got its token some other way (LOCK.INFO, a retry).
    h.record(
        1,
        "L",
        LockCommand::release(1),
        ms(20),
        ms(21),
        Reply::Int(1),
    );
    acquire(&mut h, 2, (ms(30), ms(31)), 50, token(2));
    let report = check(&h);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.possible_grants.len(), 1);
    assert_eq!(report.possible_grants[0].op, lost);
    assert_eq!(report.possible_grants[0].owner, b"owner-1");
    assert!(
        report.to_string().contains("1 acquires of unknown outcome"),
        "{report}"
    );
}

#[test]
fn a_holder_refused_inside_its_lease() {
    let mut h = LockHistory::new();
    let grant = acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    let renew = h.record(
        1,
        "L",
        LockCommand::renew(1, 100),
        ms(10),
        ms(11),
        Reply::Int(0),
    );
    assert_one(&h, LockViolationKind::LeaseLostEarly, &[grant, renew]);

    let mut h = LockHistory::new();
    let grant = acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    let again = acquire(&mut h, 1, (ms(10), ms(11)), 100, Reply::Nil);
    assert_one(&h, LockViolationKind::LeaseLostEarly, &[grant, again]);

    // After the lease, a refusal is expected.
    let mut h = LockHistory::new();
    acquire(&mut h, 1, (0, ms(1)), 100, token(1));
    h.record(
        1,
        "L",
        LockCommand::renew(1, 100),
        ms(100),
        ms(101),
        Reply::Int(0),
    );
    assert_clean(&h);
}

#[test]
fn locks_are_checked_separately() {
    let mut h = LockHistory::new();
    h.record(1, "a", LockCommand::acquire("o1", 100), 0, ms(1), token(1));
    h.record(2, "b", LockCommand::acquire("o2", 100), 0, ms(1), token(2));
    let report = check(&h);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.locks, 2);
}

#[test]
fn malformed_lock_histories_are_refused() {
    let mut h = LockHistory::new();
    h.record(1, "L", LockCommand::acquire("o", 10), 0, 1, Reply::Int(0));
    assert!(matches!(
        check_locks(&h, &LockCheckOptions::default()),
        Err(HistoryError::ReplyDoesNotFit { op: 0, .. })
    ));
    let mut h = LockHistory::new();
    h.record(1, "L", LockCommand::release(3), 0, 1, Reply::Int(2));
    assert!(check_locks(&h, &LockCheckOptions::default()).is_err());
    let mut h = LockHistory::new();
    h.record(1, "L", LockCommand::release(3), 5, 1, Reply::Int(0));
    assert!(matches!(
        check_locks(&h, &LockCheckOptions::default()),
        Err(HistoryError::ReturnedBeforeInvoked { .. })
    ));
}

// A simulated lock server, correct or with one bug.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// Leases end at half their TTL.
    ShortLease,
    /// A restart forgets every lock and the token counter (memory mode).
    ForgetsOnRestart,
    /// A release frees the lock whatever token it names.
    ReleaseIgnoresToken,
}

struct Holder {
    owner: Vec<u8>,
    token: u64,
    lease_end: u64,
    ttl_ns: u64,
}

struct Server {
    bug: Bug,
    locks: BTreeMap<Vec<u8>, Holder>,
    last_token: u64,
}

impl Server {
    fn apply(&mut self, lock: &[u8], command: &LockCommand, now: u64) -> Reply {
        if self.locks.get(lock).is_some_and(|h| h.lease_end <= now) {
            self.locks.remove(lock);
        }
        let lease = |ttl_ms: u64| {
            let ttl_ns = ms(ttl_ms);
            let effective = if self.bug == Bug::ShortLease {
                ttl_ns / 2
            } else {
                ttl_ns
            };
            (now + effective, ttl_ns)
        };
        match command {
            LockCommand::Acquire { owner, ttl_ms } => {
                let (lease_end, ttl_ns) = lease(*ttl_ms);
                match self.locks.get_mut(lock) {
                    Some(holder) if &holder.owner == owner => {
                        holder.lease_end = lease_end;
                        Reply::Int(holder.token as i64)
                    }
                    Some(_) => Reply::Nil,
                    None => {
                        self.last_token += 1;
                        let holder = Holder {
                            owner: owner.clone(),
                            token: self.last_token,
                            lease_end,
                            ttl_ns,
                        };
                        self.locks.insert(lock.to_vec(), holder);
                        Reply::Int(self.last_token as i64)
                    }
                }
            }
            LockCommand::Release { token } => {
                let matches = self
                    .locks
                    .get(lock)
                    .is_some_and(|h| h.token == *token || self.bug == Bug::ReleaseIgnoresToken);
                if matches {
                    self.locks.remove(lock);
                }
                Reply::Int(i64::from(matches))
            }
            LockCommand::Renew { token, ttl_ms } => {
                let (lease_end, _) = lease(*ttl_ms);
                match self.locks.get_mut(lock) {
                    Some(holder) if holder.token == *token => {
                        holder.lease_end = lease_end;
                        Reply::Int(1)
                    }
                    _ => Reply::Int(0),
                }
            }
        }
    }

    /// Recovery: leases restart at their full TTL; tokens go on.
    fn recover(&mut self, now: u64) {
        if self.bug == Bug::ForgetsOnRestart {
            self.locks.clear();
            self.last_token = 0;
        }
        for holder in self.locks.values_mut() {
            holder.lease_end = holder.lease_end.max(now + holder.ttl_ns);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Send { client: usize },
    Apply { op: usize },
    Reply { op: usize },
    Crash,
    Recover,
}

/// One request in flight.
struct InFlight {
    op: OpId,
    lock: Vec<u8>,
    command: LockCommand,
    client: usize,
    applied: Option<Reply>,
    /// The incarnation of the server it was sent to.
    epoch: u32,
}

const SIM_CLIENTS: usize = 5;
const SIM_OPS: usize = 300;

/// Clients sending random lock commands to a `Server`, event by event.
struct LockSim {
    rng: Rng,
    server: Server,
    history: LockHistory,
    events: BinaryHeap<Reverse<(u64, Event)>>,
    /// Per client, the last token it was granted on each lock.
    tokens: Vec<BTreeMap<Vec<u8>, u64>>,
    flights: Vec<InFlight>,
    up: bool,
    epoch: u32,
}

impl LockSim {
    fn at(&mut self, time: u64, event: Event) {
        self.events.push(Reverse((time, event)));
    }

    fn send(&mut self, now: u64, client: usize) {
        if self.history.len() >= SIM_OPS {
            return;
        }
        let lock = vec![b'A' + self.rng.below(2) as u8];
        let held = self.tokens[client].get(&lock).copied();
        let command = choose(&mut self.rng, client, held);
        let op = self
            .history
            .invoke(client as u64, &lock, command.clone(), now);
        if self.up {
            let at = now + self.rng.below(ms(1));
            self.at(
                at,
                Event::Apply {
                    op: self.flights.len(),
                },
            );
        } else {
            // Connection refused: the client tries again a little later.
            self.at(now + ms(1), Event::Send { client });
        }
        let epoch = self.epoch;
        self.flights.push(InFlight {
            op,
            lock,
            command,
            client,
            applied: None,
            epoch,
        });
    }

    fn apply(&mut self, now: u64, index: usize) {
        let flight = &mut self.flights[index];
        if self.up && flight.epoch == self.epoch {
            flight.applied = Some(self.server.apply(&flight.lock, &flight.command, now));
            let at = now + self.rng.below(ms(1));
            self.at(at, Event::Reply { op: index });
        } else {
            let client = flight.client;
            self.at(now + ms(2), Event::Send { client });
        }
    }

    fn reply(&mut self, now: u64, index: usize) {
        let flight = &self.flights[index];
        let client = flight.client;
        // A reply lost in a crash stays unknown; the client moves on.
        if self.up && flight.epoch == self.epoch {
            let reply = flight.applied.clone().expect("applied before the reply");
            if let (LockCommand::Acquire { .. }, Reply::Int(t)) = (&flight.command, &reply) {
                self.tokens[client].insert(flight.lock.clone(), *t as u64);
            }
            self.history.returned(flight.op, now, reply);
        }
        let at = now + self.rng.below(ms(4));
        self.at(at, Event::Send { client });
    }
}

/// A history of clients against a server with `bug`; one crash and
/// recovery when `restart` is set.
fn simulate_locks(seed: u64, bug: Bug, restart: bool) -> LockHistory {
    let mut sim = LockSim {
        rng: Rng::new(seed),
        server: Server {
            bug,
            locks: BTreeMap::new(),
            last_token: 0,
        },
        history: LockHistory::new(),
        events: BinaryHeap::new(),
        tokens: vec![BTreeMap::new(); SIM_CLIENTS],
        flights: Vec::new(),
        up: true,
        epoch: 0,
    };
    for client in 0..SIM_CLIENTS {
        let at = sim.rng.below(ms(1));
        sim.at(at, Event::Send { client });
    }
    if restart {
        let crash = ms(20) + sim.rng.below(ms(60));
        sim.at(crash, Event::Crash);
        sim.at(crash + ms(5), Event::Recover);
    }
    while let Some(Reverse((now, event))) = sim.events.pop() {
        match event {
            Event::Send { client } => sim.send(now, client),
            Event::Apply { op } => sim.apply(now, op),
            Event::Reply { op } => sim.reply(now, op),
            Event::Crash => {
                sim.up = false;
                sim.epoch += 1;
            }
            Event::Recover => {
                sim.server.recover(now);
                sim.history.restart(now);
                sim.up = true;
            }
        }
    }
    sim.history
}

/// A client's next command: mostly acquire when it holds nothing; renew,
/// release or re-acquire when it does; sometimes a stale token.
fn choose(rng: &mut Rng, client: usize, held: Option<u64>) -> LockCommand {
    let owner = format!("owner-{client}");
    let ttl_ms = 2 + rng.below(15);
    match (held, rng.below(10)) {
        (Some(token), 0..=3) => LockCommand::renew(token, ttl_ms),
        (Some(token), 4..=6) => LockCommand::release(token),
        (Some(token), 7) => LockCommand::release(token.saturating_sub(1).max(1)),
        _ => LockCommand::acquire(owner, ttl_ms),
    }
}

#[test]
fn a_correct_server_passes() {
    for seed in 0..300 {
        for restart in [false, true] {
            let history = simulate_locks(seed, Bug::None, restart);
            let report = check(&history);
            assert!(report.is_ok(), "seed {seed} restart {restart}:\n{report}");
            assert!(
                report.grants > 10,
                "seed {seed}: too few grants to mean much"
            );
        }
    }
}

/// Each bug is caught in most runs (a run where the bug never mattered
/// cannot be caught); rates over fixed seeds, so deterministic.
#[test]
fn buggy_servers_are_caught() {
    for (bug, restart, expected, floor) in [
        (Bug::ShortLease, false, LockViolationKind::LeaseOverlap, 0.9),
        (
            Bug::ForgetsOnRestart,
            true,
            LockViolationKind::TokenNotAboveRestart,
            0.9,
        ),
        (
            Bug::ReleaseIgnoresToken,
            false,
            LockViolationKind::StaleSuccess,
            0.5,
        ),
    ] {
        let (mut caught, mut with_kind) = (0, 0);
        let runs = 200;
        for seed in 0..runs {
            let report = check(&simulate_locks(seed, bug, restart));
            caught += usize::from(!report.is_ok());
            with_kind += usize::from(report.violations.iter().any(|v| v.kind == expected));
        }
        let rate = caught as f64 / runs as f64;
        println!("{bug:?}: caught in {caught} of {runs} runs ({with_kind} with {expected:?})");
        assert!(
            rate >= floor,
            "{bug:?} caught in only {caught} of {runs} runs"
        );
        assert!(with_kind > 0, "{bug:?} never reported as {expected:?}");
    }
}
