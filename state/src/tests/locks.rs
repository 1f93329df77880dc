use super::{bulk, err, group, run, run_full};
use crate::{Effect, Group, Limits, Reply};

/// Applies a lock command with `waiter`, returning the reply and effects.
fn lock(g: &mut Group, now_ms: u64, line: &str, waiter: u64) -> (Option<Reply>, Vec<Effect>) {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    let mut effects = Vec::new();
    let reply = run_full(g, now_ms, &args, waiter, &mut effects);
    (reply, effects)
}

fn lease(name: &str, token: u64, lease_seq: u64, ttl_ms: u64) -> Effect {
    Effect::LeaseStarted {
        name: name.as_bytes().to_vec(),
        token,
        lease_seq,
        ttl_ms,
    }
}

fn token_of(reply: Option<Reply>) -> u64 {
    match reply {
        Some(Reply::Int(token)) if token > 0 => token as u64,
        other => panic!("expected a token, got {other:?}"),
    }
}

#[test]
fn acquire_grants_and_reports() {
    let mut g = group();
    let (reply, effects) = lock(&mut g, 1000, "LOCK.ACQUIRE l alice 500", 0);
    let token = token_of(reply);
    assert_eq!(effects, vec![lease("l", token, 1, 500)]);
    assert_eq!(
        run(&mut g, 1200, "LOCK.INFO l"),
        Reply::Map(vec![
            (bulk("owner"), bulk("alice")),
            (bulk("token"), Reply::Int(token as i64)),
            (bulk("ttl_ms"), Reply::Int(300)),
            (bulk("waiters"), Reply::Int(0)),
        ])
    );
    assert_eq!(run(&mut g, 0, "LOCK.INFO other"), Reply::Nil);
    assert_eq!(g.len(), 0, "a lock is not a key");
    assert_eq!(run(&mut g, 0, "GET l"), Reply::Nil);
}

#[test]
fn busy_lock_without_wait_is_nil() {
    let mut g = group();
    lock(&mut g, 0, "LOCK.ACQUIRE l alice 500", 0);
    let (reply, effects) = lock(&mut g, 0, "LOCK.ACQUIRE l bob 500", 9);
    assert_eq!(reply, Some(Reply::Nil));
    assert!(effects.is_empty());
    // WAIT without a waiter id cannot park: nil at once.
    let (reply, effects) = lock(&mut g, 0, "LOCK.ACQUIRE l bob 500 WAIT 100", 0);
    assert_eq!(reply, Some(Reply::Nil));
    assert!(effects.is_empty());
    // WAIT 0 does not wait either.
    let (reply, _) = lock(&mut g, 0, "LOCK.ACQUIRE l bob 500 WAIT 0", 9);
    assert_eq!(reply, Some(Reply::Nil));
}

#[test]
fn same_owner_reacquire_keeps_token_and_extends() {
    let mut g = group();
    let token = token_of(lock(&mut g, 0, "LOCK.ACQUIRE l alice 500", 0).0);
    let (reply, effects) = lock(&mut g, 400, "LOCK.ACQUIRE l alice 1000 WAIT 50", 3);
    assert_eq!(token_of(reply), token);
    assert_eq!(effects, vec![lease("l", token, 2, 1000)]);
    assert!(matches!(run(&mut g, 400, "LOCK.INFO l"),
        Reply::Map(fields) if fields[2].1 == Reply::Int(1000)));
}

/// The case: a 5 s grant, then a 100 ms re-acquire by the same
/// owner. The re-acquire must not end the 5 s lease early, so 300 ms later
/// another owner is refused and the first token still releases.
#[test]
fn same_owner_reacquire_never_shortens_the_lease() {
    let mut g = group();
    let token = token_of(lock(&mut g, 1_000, "LOCK.ACQUIRE l o 5000", 0).0);
    let (reply, effects) = lock(&mut g, 1_000, "LOCK.ACQUIRE l o 100", 0);
    assert_eq!(token_of(reply), token);
    // A new lease (so the old timer's expiry is stale), ending at 6 000.
    assert_eq!(effects, vec![lease("l", token, 2, 5000)]);
    let (reply, _) = lock(&mut g, 1_300, "LOCK.ACQUIRE l p 1000", 0);
    assert_eq!(reply, Some(Reply::Nil), "the 5 s lease is still live");
    // The timer armed from the re-acquire's effect fires at 6 000.
    let (reply, _) = lock(&mut g, 1_100, &format!("LOCK.EXPIRE l {token} 1"), 0);
    assert_eq!(
        reply,
        Some(Reply::Int(0)),
        "the first lease's timer is stale"
    );
    assert!(matches!(run(&mut g, 1_300, "LOCK.INFO l"),
        Reply::Map(fields) if fields[2].1 == Reply::Int(4700)));
    let (reply, _) = lock(&mut g, 1_300, &format!("LOCK.RELEASE l {token}"), 0);
    assert_eq!(reply, Some(Reply::Int(1)));
}

/// A later re-acquire that reaches past the old deadline moves it; one that
/// falls short keeps it, measured from its own time, whatever came first.
#[test]
fn reacquire_keeps_the_later_deadline() {
    let mut g = group();
    let token = token_of(lock(&mut g, 0, "LOCK.ACQUIRE l o 1000", 0).0);
    let (_, effects) = lock(&mut g, 600, "LOCK.ACQUIRE l o 1000", 0);
    assert_eq!(
        effects,
        vec![lease("l", token, 2, 1000)],
        "now ends at 1 600"
    );
    let (_, effects) = lock(&mut g, 700, "LOCK.ACQUIRE l o 10", 0);
    assert_eq!(
        effects,
        vec![lease("l", token, 3, 900)],
        "still ends at 1 600"
    );
    let (_, effects) = lock(&mut g, 1_599, "LOCK.ACQUIRE l o 1", 0);
    assert_eq!(
        effects,
        vec![lease("l", token, 4, 1)],
        "still ends at 1 600"
    );
    // Re-arming after a leader change uses the lease as it now stands.
    let mut current = Vec::new();
    g.current_leases(&mut current);
    assert_eq!(current, vec![lease("l", token, 4, 1)]);
    let (reply, _) = lock(&mut g, 1_600, &format!("LOCK.EXPIRE l {token} 3"), 0);
    assert_eq!(
        reply,
        Some(Reply::Int(0)),
        "an older lease's timer is stale"
    );
    let (reply, _) = lock(&mut g, 1_600, &format!("LOCK.EXPIRE l {token} 4"), 0);
    assert_eq!(reply, Some(Reply::Int(1)));
}

/// A deliberate `LOCK.RENEW` sets the lease to exactly `ttl_ms` from now,
/// shorter than before if asked: the holder decides how long it needs.
#[test]
fn renew_may_shorten_the_lease() {
    let mut g = group();
    let token = token_of(lock(&mut g, 0, "LOCK.ACQUIRE l o 5000", 0).0);
    let (reply, effects) = lock(&mut g, 100, &format!("LOCK.RENEW l {token} 200"), 0);
    assert_eq!(reply, Some(Reply::Int(1)));
    assert_eq!(effects, vec![lease("l", token, 2, 200)]);
    assert!(matches!(run(&mut g, 100, "LOCK.INFO l"),
        Reply::Map(fields) if fields[2].1 == Reply::Int(200)));
    let (reply, _) = lock(&mut g, 300, &format!("LOCK.EXPIRE l {token} 2"), 0);
    assert_eq!(reply, Some(Reply::Int(1)));
    let (reply, _) = lock(&mut g, 300, "LOCK.ACQUIRE l p 1000", 0);
    assert_eq!(token_of(reply), token + 1);
}

#[test]
fn waiters_are_granted_in_fifo_order_on_release() {
    let mut g = group();
    let first = token_of(lock(&mut g, 0, "LOCK.ACQUIRE l alice 500", 0).0);
    for (waiter, owner) in [(11, "bob"), (12, "carol"), (13, "dave")] {
        let line = format!("LOCK.ACQUIRE l {owner} 700 WAIT 1000");
        let (reply, effects) = lock(&mut g, 10, &line, waiter);
        assert_eq!(reply, None, "parked");
        assert_eq!(
            effects,
            vec![Effect::Parked {
                waiter,
                name: b"l".to_vec(),
                wait_ms: 1000
            }]
        );
    }
    let mut previous = first;
    for (waiter, owner) in [(11, "bob"), (12, "carol"), (13, "dave")] {
        let (reply, effects) = lock(&mut g, 20, &format!("LOCK.RELEASE l {previous}"), 0);
        assert_eq!(reply, Some(Reply::Int(1)));
        let [Effect::Granted {
            waiter: granted,
            token,
        }, started] = effects.as_slice()
        else {
            panic!("expected a grant and a lease, got {effects:?}");
        };
        assert_eq!(*granted, waiter);
        assert!(*token > previous, "tokens strictly increase");
        assert_eq!(*started, lease("l", *token, 1, 700));
        assert!(matches!(run(&mut g, 20, "LOCK.INFO l"),
            Reply::Map(fields) if fields[0].1 == bulk(owner)));
        previous = *token;
    }
    let (reply, effects) = lock(&mut g, 30, &format!("LOCK.RELEASE l {previous}"), 0);
    assert_eq!(reply, Some(Reply::Int(1)));
    assert!(effects.is_empty());
    assert_eq!(run(&mut g, 30, "LOCK.INFO l"), Reply::Nil);
    assert_eq!(g.locks_len(), 0);
}

#[test]
fn tokens_never_repeat_across_locks_and_regrants() {
    let mut g = group();
    let mut last = 0;
    for round in 0..20 {
        let name = format!("l{}", round % 3);
        let token = token_of(lock(&mut g, 0, &format!("LOCK.ACQUIRE {name} o 10"), 0).0);
        assert!(token > last);
        last = token;
        let (reply, _) = lock(&mut g, 0, &format!("LOCK.RELEASE {name} {token}"), 0);
        assert_eq!(reply, Some(Reply::Int(1)));
    }
}

#[test]
fn stale_tokens_release_and_renew_nothing() {
    let mut g = group();
    let old = token_of(lock(&mut g, 0, "LOCK.ACQUIRE l alice 100", 0).0);
    lock(&mut g, 0, &format!("LOCK.RELEASE l {old}"), 0);
    let new = token_of(lock(&mut g, 0, "LOCK.ACQUIRE l bob 100", 0).0);
    let (reply, effects) = lock(&mut g, 0, &format!("LOCK.RELEASE l {old}"), 0);
    assert_eq!((reply, effects), (Some(Reply::Int(0)), vec![]));
    let (reply, effects) = lock(&mut g, 0, &format!("LOCK.RENEW l {old} 100"), 0);
    assert_eq!((reply, effects), (Some(Reply::Int(0)), vec![]));
    let (reply, _) = lock(&mut g, 0, "LOCK.RELEASE nope 1", 0);
    assert_eq!(reply, Some(Reply::Int(0)));
    let (reply, _) = lock(&mut g, 0, "LOCK.RENEW nope 1 100", 0);
    assert_eq!(reply, Some(Reply::Int(0)));
    let (reply, effects) = lock(&mut g, 50, &format!("LOCK.RENEW l {new} 300"), 0);
    assert_eq!(reply, Some(Reply::Int(1)));
    assert_eq!(effects, vec![lease("l", new, 2, 300)]);
}

#[test]
fn expiry_needs_the_current_lease() {
    let mut g = group();
    lock(&mut g, 0, "LOCK.ACQUIRE l alice 100 WAIT 10", 1);
    let token = 1;
    lock(&mut g, 0, "LOCK.ACQUIRE l bob 200 WAIT 1000", 2);
    lock(&mut g, 50, &format!("LOCK.RENEW l {token} 100"), 0);
    // The timer armed by the first lease fires: stale, a no-op.
    let (reply, effects) = lock(&mut g, 100, &format!("LOCK.EXPIRE l {token} 1"), 0);
    assert_eq!((reply, effects), (Some(Reply::Int(0)), vec![]));
    let (reply, _) = lock(&mut g, 100, &format!("LOCK.EXPIRE l {} 2", token + 1), 0);
    assert_eq!(reply, Some(Reply::Int(0)), "wrong token");
    // Past the deadline but not yet expired through the log: still held.
    assert!(matches!(run(&mut g, 500, "LOCK.INFO l"),
        Reply::Map(fields) if fields[2].1 == Reply::Int(0)));
    let (reply, effects) = lock(&mut g, 150, &format!("LOCK.EXPIRE l {token} 2"), 0);
    assert_eq!(reply, Some(Reply::Int(1)));
    let [Effect::Granted {
        waiter: 2,
        token: granted,
    }, started] = effects.as_slice()
    else {
        panic!("expected bob's grant, got {effects:?}");
    };
    assert_eq!(*started, lease("l", *granted, 1, 200));
    let (reply, effects) = lock(&mut g, 150, &format!("LOCK.EXPIRE l {granted} 1"), 0);
    assert_eq!((reply, effects), (Some(Reply::Int(1)), vec![]));
    assert_eq!(run(&mut g, 150, "LOCK.INFO l"), Reply::Nil);
}

#[test]
fn cancel_dequeues_only_queued_waiters() {
    let mut g = group();
    let token = token_of(lock(&mut g, 0, "LOCK.ACQUIRE l alice 100", 0).0);
    lock(&mut g, 0, "LOCK.ACQUIRE l bob 100 WAIT 50", 7);
    lock(&mut g, 0, "LOCK.ACQUIRE l carol 100 WAIT 50", 8);
    let (reply, effects) = lock(&mut g, 50, "LOCK.CANCEL l 7", 0);
    assert_eq!(reply, Some(Reply::Int(1)));
    assert_eq!(effects, vec![Effect::WaitEnded { waiter: 7 }]);
    let (reply, effects) = lock(&mut g, 50, "LOCK.CANCEL l 7", 0);
    assert_eq!((reply, effects), (Some(Reply::Int(0)), vec![]));
    // Carol is next now that bob left the queue.
    let (_, effects) = lock(&mut g, 60, &format!("LOCK.RELEASE l {token}"), 0);
    assert!(matches!(effects[0], Effect::Granted { waiter: 8, .. }));
    // Cancelling a waiter that was granted already changes nothing.
    let before = g.clone();
    let (reply, effects) = lock(&mut g, 60, "LOCK.CANCEL l 8", 0);
    assert_eq!((reply, effects), (Some(Reply::Int(0)), vec![]));
    assert_eq!(g, before);
    let (reply, _) = lock(&mut g, 60, "LOCK.CANCEL nope 8", 0);
    assert_eq!(reply, Some(Reply::Int(0)));
}

#[test]
fn argument_validation() {
    let mut g = group();
    let not_int = "ERR value is not an integer or out of range";
    let cases = [
        ("LOCK.ACQUIRE l o x", not_int),
        ("LOCK.ACQUIRE l o 1.5", not_int),
        ("LOCK.ACQUIRE l o 0", "ERR ttl_ms must be positive"),
        ("LOCK.ACQUIRE l o -3", "ERR ttl_ms must be positive"),
        (
            "LOCK.ACQUIRE l o 86400001",
            "ERR ttl_ms exceeds the maximum of 86400000 ms",
        ),
        (
            "LOCK.ACQUIRE l o 10 WAIT -1",
            "ERR WAIT must not be negative",
        ),
        ("LOCK.ACQUIRE l o 10 WAIT x", not_int),
        (
            "LOCK.ACQUIRE l o 10 WAIT 3600001",
            "ERR WAIT exceeds the maximum of 3600000 ms",
        ),
        ("LOCK.ACQUIRE l o 10 WAIT", "ERR syntax error"),
        ("LOCK.ACQUIRE l o 10 NOWAIT 5", "ERR syntax error"),
        ("LOCK.ACQUIRE l o 10 WAIT 5 6", "ERR syntax error"),
        ("LOCK.RELEASE l x", not_int),
        ("LOCK.RENEW l 1 0", "ERR ttl_ms must be positive"),
        ("LOCK.RENEW l x 10", not_int),
        ("LOCK.EXPIRE l 1 -1", not_int),
        ("LOCK.CANCEL l x", not_int),
        (
            "LOCK.ACQUIRE l",
            "ERR wrong number of arguments for 'lock.acquire' command",
        ),
    ];
    for (line, expected) in cases {
        assert_eq!(lock(&mut g, 0, line, 1).0, Some(err(expected)), "{line}");
    }
    assert_eq!(g.locks_len(), 0);
    let long = "n".repeat(1025);
    assert_eq!(
        lock(&mut g, 0, &format!("LOCK.ACQUIRE {long} o 10"), 0).0,
        Some(err("ERR lock name is too long (max 1024 bytes)"))
    );
    assert_eq!(
        lock(&mut g, 0, &format!("LOCK.ACQUIRE l {long} 10"), 0).0,
        Some(err("ERR lock owner is too long (max 1024 bytes)"))
    );
}

#[test]
fn lock_count_limits() {
    let mut g = Group::new(Limits {
        locks_max: 2,
        lock_waiters_max: 1,
        ..Limits::default()
    });
    lock(&mut g, 0, "LOCK.ACQUIRE a o 10", 0);
    lock(&mut g, 0, "LOCK.ACQUIRE b o 10", 0);
    assert_eq!(
        lock(&mut g, 0, "LOCK.ACQUIRE c o 10", 0).0,
        Some(err("ERR too many locks in this shard group (locks_max 2)"))
    );
    assert_eq!(lock(&mut g, 0, "LOCK.ACQUIRE a p 10 WAIT 5", 1).0, None);
    assert_eq!(
        lock(&mut g, 0, "LOCK.ACQUIRE a q 10 WAIT 5", 2).0,
        Some(err(
            "ERR too many waiters on this lock (lock_waiters_max 1)"
        ))
    );
    assert_eq!(
        lock(&mut g, 0, "LOCK.ACQUIRE a p 10 WAIT 5", 1).0,
        Some(err("ERR this waiter is already queued on the lock"))
    );
}

#[test]
fn current_leases_lists_every_held_lock() {
    let mut g = group();
    lock(&mut g, 0, "LOCK.ACQUIRE b o 20", 0);
    lock(&mut g, 0, "LOCK.ACQUIRE a o 10", 0);
    lock(&mut g, 5, "LOCK.RENEW a 2 30", 0);
    let mut effects = Vec::new();
    g.current_leases(&mut effects);
    assert_eq!(effects, vec![lease("a", 2, 2, 30), lease("b", 1, 1, 20)]);
}

#[test]
fn internal_commands_are_internal() {
    use crate::{lookup, Kind};
    assert_eq!(lookup(b"lock.expire").unwrap().kind, Kind::Internal);
    assert_eq!(lookup(b"LOCK.CANCEL").unwrap().kind, Kind::Internal);
}
