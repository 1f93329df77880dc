//! Histories from a simulated, correct store: clients with overlapping
//! requests against a sequential register applied at an instant inside
//! each request's interval. Seeded, so a failing case replays.
//!
//! The register here is written from the Redis rules directly, on bytes,
//! and shares no code with the checker's model, so each checks the other.

#![allow(dead_code)]

use pinwheel_lincheck::{Command, ErrorKind, KvHistory, Reply, SetCondition};

/// SplitMix64: small, seeded, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn percent(&mut self, p: u32) -> bool {
        self.below(100) < u64::from(p)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The values commands write and compare against; integers among them so
/// INCR meets both integers and non-integers.
pub const VALUES: &[&str] = &["a", "b", "c", "0", "1", "7", "-3", "x1", "010"];

/// Shape of a simulated run.
#[derive(Debug, Clone, Copy)]
pub struct Sim {
    pub clients: u64,
    pub keys: usize,
    pub ops: usize,
    /// Longest time from invocation to the effect, and from the effect to
    /// the reply, in ns.
    pub latency_ns: u64,
    /// Longest pause between a client's reply and its next request.
    pub think_ns: u64,
    /// Operations per thousand whose reply is lost (half of them took
    /// effect).
    pub unknown_permille: u32,
}

impl Default for Sim {
    fn default() -> Self {
        Sim {
            clients: 8,
            keys: 4,
            ops: 200,
            latency_ns: 1_000,
            think_ns: 500,
            unknown_permille: 20,
        }
    }
}

pub fn random_command(rng: &mut Rng) -> Command {
    let value = *rng.pick(VALUES);
    let other = *rng.pick(VALUES);
    match rng.below(100) {
        0..=29 => Command::get(),
        30..=44 => Command::set(value),
        45..=49 => Command::set_nx(value),
        50..=54 => Command::set_xx(value),
        55..=64 => Command::set_ifeq(value, other),
        65..=67 => Command::set(value).with_get(),
        68..=72 => Command::del(),
        73..=76 => Command::del_ifeq(value),
        77..=86 => Command::incr(),
        87..=91 => Command::incr_by(rng.below(11) as i64 - 5),
        92..=95 => Command::getset(value),
        _ => Command::getdel(),
    }
}

/// Redis's `string2ll`: an optional `-`, then digits without a leading
/// zero (`0` alone is fine), within `i64`.
fn redis_integer(bytes: &[u8]) -> Option<i64> {
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits[0] == b'0' || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: i128 = 0;
    for &digit in digits {
        value = value * 10 + i128::from(digit - b'0');
        if value > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).ok()
}

fn bulk_or_nil(value: Option<Vec<u8>>) -> Reply {
    value.map_or(Reply::Nil, Reply::Bulk)
}

/// One command on a real register, by the Redis rules.
pub fn apply(register: &mut Option<Vec<u8>>, command: &Command) -> Reply {
    match command {
        Command::Get => bulk_or_nil(register.clone()),
        Command::Set {
            value,
            condition,
            get,
        } => {
            let allowed = match condition {
                SetCondition::Always => true,
                SetCondition::IfAbsent => register.is_none(),
                SetCondition::IfPresent => register.is_some(),
                SetCondition::IfEqual(expected) => register.as_ref() == Some(expected),
            };
            let old = register.clone();
            if allowed {
                *register = Some(value.clone());
            }
            match (get, allowed) {
                (true, _) => bulk_or_nil(old),
                (false, true) => Reply::Ok,
                (false, false) => Reply::Nil,
            }
        }
        Command::Del => Reply::Int(i64::from(register.take().is_some())),
        Command::DelIfEq(expected) => {
            if register.as_ref() == Some(expected) {
                *register = None;
                Reply::Int(1)
            } else {
                Reply::Int(0)
            }
        }
        Command::IncrBy(delta) => {
            let current = match register {
                None => 0,
                Some(bytes) => match redis_integer(bytes) {
                    Some(n) => n,
                    None => return Reply::Error(ErrorKind::NotAnInteger),
                },
            };
            match current.checked_add(*delta) {
                Some(new) => {
                    *register = Some(new.to_string().into_bytes());
                    Reply::Int(new)
                }
                None => Reply::Error(ErrorKind::Overflow),
            }
        }
        Command::GetSet(value) => bulk_or_nil(register.replace(value.clone())),
        Command::GetDel => bulk_or_nil(register.take()),
    }
}

/// One simulated operation before replies are known.
struct Planned {
    client: u64,
    key: usize,
    command: Command,
    invoked: u64,
    effect: u64,
    returned: Option<u64>,
    /// False for a lost request that never took effect.
    applied: bool,
}

/// A linearizable history: each operation takes effect at one instant in
/// its interval, in that order, on a real register per key.
pub fn simulate(seed: u64, sim: &Sim) -> KvHistory {
    let mut rng = Rng::new(seed);
    let mut clock: Vec<u64> = (0..sim.clients)
        .map(|_| rng.below(sim.think_ns + 1))
        .collect();
    let mut planned = Vec::with_capacity(sim.ops);
    for _ in 0..sim.ops {
        let client = rng.below(sim.clients);
        let invoked = clock[client as usize];
        let effect = invoked + rng.below(sim.latency_ns + 1);
        let lost = rng.below(1_000) < u64::from(sim.unknown_permille);
        let returned = effect + rng.below(sim.latency_ns + 1);
        // A client whose reply is lost gives up after its timeout.
        let done = if lost {
            invoked + 2 * sim.latency_ns
        } else {
            returned
        };
        clock[client as usize] = done + 1 + rng.below(sim.think_ns + 1);
        planned.push(Planned {
            client,
            key: rng.below(sim.keys as u64) as usize,
            command: random_command(&mut rng),
            invoked,
            effect,
            returned: (!lost).then_some(returned),
            applied: !lost || rng.percent(50),
        });
    }
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].effect, i));
    let mut registers: Vec<Option<Vec<u8>>> = vec![None; sim.keys];
    let mut replies: Vec<Option<Reply>> = vec![None; planned.len()];
    for i in order {
        let op = &planned[i];
        if op.applied {
            replies[i] = Some(apply(&mut registers[op.key], &op.command));
        }
    }
    let mut history = KvHistory::new();
    for (op, reply) in planned.into_iter().zip(replies) {
        let key = format!("key{}", op.key);
        match (op.returned, reply) {
            (Some(at), Some(reply)) => {
                history.record(op.client, key, op.command, op.invoked, at, reply);
            }
            _ => {
                history.record_unknown(op.client, key, op.command, op.invoked);
            }
        }
    }
    history
}

/// A reply of the same type as `reply` to `command`, but different.
pub fn wrong_reply(command: &Command, reply: &Reply, rng: &mut Rng) -> Reply {
    let other_value = |rng: &mut Rng, not: Option<&[u8]>| loop {
        let candidate = rng.pick(VALUES).as_bytes();
        if Some(candidate) != not {
            return Reply::Bulk(candidate.to_vec());
        }
    };
    match (command, reply) {
        (Command::Set { get: false, .. }, Reply::Ok) => Reply::Nil,
        (Command::Set { get: false, .. }, Reply::Nil) => Reply::Ok,
        (_, Reply::Nil) => other_value(rng, None),
        (_, Reply::Bulk(value)) if rng.percent(20) => {
            let _ = value;
            Reply::Nil
        }
        (_, Reply::Bulk(value)) => other_value(rng, Some(value)),
        (Command::IncrBy(_), Reply::Int(n)) if rng.percent(50) => Reply::Int(n + 1),
        (Command::IncrBy(_), Reply::Int(n)) => Reply::Int(n - 1),
        (_, Reply::Int(n)) => Reply::Int(1 - n),
        (_, Reply::Error(_)) => Reply::Int(rng.below(5) as i64),
        (_, Reply::Ok) => Reply::Nil,
    }
}

/// `history` with one returned operation's reply changed; `None` when no
/// operation returned.
pub fn corrupt_one(history: &KvHistory, rng: &mut Rng) -> Option<(KvHistory, usize)> {
    let returned: Vec<usize> = (0..history.len())
        .filter(|&i| history.records()[i].returned.is_some())
        .collect();
    if returned.is_empty() {
        return None;
    }
    let target = *rng.pick(&returned);
    let mut corrupted = KvHistory::new();
    for (i, record) in history.records().iter().enumerate() {
        let op = corrupted.invoke(
            record.client,
            &record.key,
            record.command.clone(),
            record.invoked_ns,
        );
        if let Some(returned) = &record.returned {
            let reply = if i == target {
                wrong_reply(&record.command, &returned.reply, rng)
            } else {
                returned.reply.clone()
            };
            corrupted.returned(op, returned.at_ns, reply);
        }
    }
    Some((corrupted, target))
}
