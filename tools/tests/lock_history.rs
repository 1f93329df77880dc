//! Lease safety from a recorded history: clients over real sockets acquire,
//! re-acquire, renew, release and abandon locks with long and short leases,
//! each writing down what it was promised; a checker then asserts that no
//! two holders' leases overlapped and that tokens grew with every grant.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Raw, Server};

fn int(reply: &str) -> Option<i64> {
    reply.strip_prefix(':')?.trim_end().parse().ok()
}

/// The case, step by step: a 5 s grant, a 100 ms re-acquire by the
/// same owner, and 300 ms later another owner asks. The first lease is
/// still live, so the other owner is refused and token 1 still releases.
#[test]
fn a_short_reacquire_keeps_the_long_lease() {
    let server = Server::start(&["--cores", "2"]);
    let mut first = server.raw();
    let mut second = server.raw();
    assert_eq!(first.cmd(&["LOCK.ACQUIRE", "L", "o", "5000"]), ":1\r\n");
    assert_eq!(first.cmd(&["LOCK.ACQUIRE", "L", "o", "100"]), ":1\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(second.cmd(&["LOCK.ACQUIRE", "L", "p", "1000"]), "$-1\r\n");
    assert_eq!(first.cmd(&["LOCK.RELEASE", "L", "1"]), ":1\r\n");
    assert_eq!(second.cmd(&["LOCK.ACQUIRE", "L", "p", "1000"]), ":2\r\n");
}

/// What one client saw, in the order it happened to that client. Times are
/// the client's: `sent` before the request was written, `answered` after
/// the reply was read.
#[derive(Debug, Clone)]
enum Event {
    /// `LOCK.ACQUIRE` granted a token this client did not hold before.
    Grant {
        sent: Instant,
        answered: Instant,
        ttl_ms: u64,
    },
    /// `LOCK.ACQUIRE` by the holder answered its own token again.
    Reacquire { sent: Instant, ttl_ms: u64 },
    /// `LOCK.RENEW` answered 1.
    Renew { sent: Instant, ttl_ms: u64 },
    /// `LOCK.RELEASE` answered 1.
    Release { sent: Instant },
}

/// Every event of one grant (one lock, one token), in order.
#[derive(Debug, Default)]
struct Tenure {
    owner: String,
    events: Vec<Event>,
}

/// Recorded history: lock name → token → tenure.
type History = BTreeMap<String, BTreeMap<i64, Tenure>>;

/// Slack for the server's whole-millisecond timestamps: a lease deadline
/// is computed from a Unix time in milliseconds, so it may end up to a
/// millisecond or two before the instant the client measured from.
const CLOCK_SLACK: Duration = Duration::from_millis(5);

/// The first and the last instant of a tenure, as a lower bound the
/// server must honour: from the grant's answer, until the lease it last
/// promised ends (a renew replaces the promise, a re-acquire may only
/// lengthen it), or until a release was sent.
fn tenure_bounds(token: i64, tenure: &Tenure) -> (Instant, Instant) {
    let Some(Event::Grant {
        sent,
        answered,
        ttl_ms,
    }) = tenure.events.first()
    else {
        panic!("token {token} has no grant first: {:?}", tenure.events);
    };
    let mut end = *sent + Duration::from_millis(*ttl_ms);
    for event in &tenure.events[1..] {
        match event {
            Event::Grant { .. } => panic!("token {token} was granted twice"),
            Event::Reacquire { sent, ttl_ms } => {
                end = end.max(*sent + Duration::from_millis(*ttl_ms))
            }
            Event::Renew { sent, ttl_ms } => end = *sent + Duration::from_millis(*ttl_ms),
            Event::Release { sent } => {
                end = end.min(*sent);
                break;
            }
        }
    }
    (*answered, end)
}

/// Asserts that, per lock, tokens grow in grant order and each grant came
/// only after every earlier token's lease had ended or been released.
fn check_history(history: &History) {
    for (name, tenures) in history {
        // The previous token's grant, and the latest-ending lease so far.
        let mut previous: Option<(i64, Instant)> = None;
        let mut latest: Option<(i64, &str, Instant)> = None;
        for (&token, tenure) in tenures {
            let (start, end) = tenure_bounds(token, tenure);
            if let Some((before, before_start)) = previous {
                assert!(
                    start > before_start,
                    "{name}: token {token} was granted before the smaller token {before}"
                );
            }
            if let Some((before, owner, before_end)) = latest {
                assert!(
                    start + CLOCK_SLACK >= before_end,
                    "{name}: token {token} ({}) was granted {:?} before the lease of \
                     token {before} ({owner}) ended, which was neither released nor over",
                    tenure.owner,
                    before_end - start,
                );
            }
            previous = Some((token, start));
            if latest.is_none_or(|(_, _, before_end)| end > before_end) {
                latest = Some((token, &tenure.owner, end));
            }
        }
    }
}

/// Lease lengths the clients ask for: some shorter than a round of work,
/// so leases run out while held, some long enough to be cut short only by
/// a release.
const TTLS_MS: [u64; 6] = [20, 60, 150, 400, 1000, 2500];
/// How long clients run.
const HISTORY_RUN: Duration = Duration::from_secs(6);
const CLIENTS: usize = 6;
const LOCK_NAMES: [&str; 2] = ["hist-a", "hist-b"];

/// A client's seeded xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Counts of what the run exercised, so a run that never tested the
/// interesting cases fails instead of passing quietly.
#[derive(Debug, Default)]
struct Exercised {
    shorter_reacquires: u64,
    releases: u64,
    abandoned: u64,
}

/// One client's history as it is written.
struct Recorder {
    owner: String,
    history: History,
}

impl Recorder {
    /// Records an event of `name`'s `token`; a grant of a token this client
    /// already holds is its re-acquire. Returns the lease end as the
    /// client now knows it.
    fn record(&mut self, name: &str, token: i64, event: Event) -> Instant {
        let tenure = self
            .history
            .entry(name.to_string())
            .or_default()
            .entry(token)
            .or_default();
        tenure.owner = self.owner.clone();
        let event = match event {
            Event::Grant { sent, ttl_ms, .. } if !tenure.events.is_empty() => {
                Event::Reacquire { sent, ttl_ms }
            }
            event => event,
        };
        tenure.events.push(event);
        tenure_bounds(token, tenure).1
    }
}

/// One client: acquire (usually waiting), then a few of re-acquire, renew
/// and pause while holding, then release or walk away and let it expire.
fn run_client(
    addr: std::net::SocketAddr,
    client: usize,
    deadline: Instant,
) -> (History, Exercised) {
    let mut raw = Raw::connect(addr);
    let owner = format!("owner-{client}");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (client as u64 + 1).wrapping_mul(0xff51_afd7));
    let mut recorder = Recorder {
        owner: owner.clone(),
        history: History::new(),
    };
    let mut seen = Exercised::default();
    while Instant::now() < deadline {
        let name = rng.pick(&LOCK_NAMES);
        let ttl_ms = rng.pick(&TTLS_MS);
        let (ttl, wait) = (ttl_ms.to_string(), (500 + rng.next() % 2000).to_string());
        let sent = Instant::now();
        let reply = raw.cmd(&["LOCK.ACQUIRE", name, &owner, &ttl, "WAIT", &wait]);
        let answered = Instant::now();
        let Some(mut token) = int(&reply) else {
            assert_eq!(reply, "$-1\r\n", "{owner}");
            continue;
        };
        let grant = Event::Grant {
            sent,
            answered,
            ttl_ms,
        };
        let mut promised = recorder.record(name, token, grant);
        for _ in 0..rng.next() % 4 {
            let ttl_ms = rng.pick(&TTLS_MS);
            let ttl = ttl_ms.to_string();
            let sent = Instant::now();
            match rng.next() % 3 {
                0 => {
                    let shorter = sent + Duration::from_millis(ttl_ms) < promised;
                    let reply = raw.cmd(&["LOCK.ACQUIRE", name, &owner, &ttl]);
                    let answered = Instant::now();
                    let Some(granted) = int(&reply) else {
                        assert_eq!(reply, "$-1\r\n", "{owner}");
                        break; // Lost it: the lease ran out, another holds it.
                    };
                    // A new token when the old lease had run out and the
                    // lock was free.
                    seen.shorter_reacquires += u64::from(shorter && granted == token);
                    token = granted;
                    let grant = Event::Grant {
                        sent,
                        answered,
                        ttl_ms,
                    };
                    promised = recorder.record(name, token, grant);
                }
                1 => {
                    let reply = raw.cmd(&["LOCK.RENEW", name, &token.to_string(), &ttl]);
                    if reply != ":1\r\n" {
                        assert_eq!(reply, ":0\r\n", "{owner}");
                        break;
                    }
                    promised = recorder.record(name, token, Event::Renew { sent, ttl_ms });
                }
                _ => std::thread::sleep(Duration::from_millis(rng.next() % 120)),
            }
        }
        if rng.next().is_multiple_of(3) {
            seen.abandoned += 1; // Walk away: the lease must run out.
            continue;
        }
        let sent = Instant::now();
        let reply = raw.cmd(&["LOCK.RELEASE", name, &token.to_string()]);
        if reply == ":1\r\n" {
            seen.releases += 1;
            recorder.record(name, token, Event::Release { sent });
        } else {
            assert_eq!(reply, ":0\r\n", "{owner}");
        }
    }
    (recorder.history, seen)
}

#[test]
fn recorded_lease_history_never_overlaps() {
    let server = Server::start(&["--cores", "2"]);
    let deadline = Instant::now() + HISTORY_RUN;
    let results: Arc<Mutex<Vec<(History, Exercised)>>> = Arc::default();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (addr, results) = (server.addr, results.clone());
            std::thread::spawn(move || {
                let result = run_client(addr, client, deadline);
                results.lock().unwrap().push(result);
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    let mut history = History::new();
    let mut seen = Exercised::default();
    for (part, exercised) in results.lock().unwrap().drain(..) {
        for (name, tenures) in part {
            for (token, tenure) in tenures {
                let clash = history
                    .entry(name.clone())
                    .or_default()
                    .insert(token, tenure);
                assert!(clash.is_none(), "{name}: token {token} went to two clients");
            }
        }
        seen.shorter_reacquires += exercised.shorter_reacquires;
        seen.releases += exercised.releases;
        seen.abandoned += exercised.abandoned;
    }
    let grants: usize = history.values().map(BTreeMap::len).sum();
    assert!(grants >= 50, "only {grants} grants: {seen:?}");
    assert!(
        seen.shorter_reacquires >= 5 && seen.releases >= 5 && seen.abandoned >= 5,
        "the run missed a case: {seen:?}"
    );
    eprintln!("{grants} grants, {seen:?}");
    check_history(&history);
}
