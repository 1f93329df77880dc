//! Lock histories: fencing tokens and leases as the clients observed them.
//!
//! # What a holder may rely on
//!
//! The server starts a lease when it applies the grant (or the renewal),
//! at some instant between the client's invocation (taken before the
//! request is sent) and its completion (taken after the reply arrives),
//! and ends it no earlier than `ttl` later on its own clock (a new leader
//! restarts every lease at its full TTL, which only lengthens it). The
//! client cannot know that instant, only that it is no earlier than its
//! invocation. So the holder may rely on the lock during
//!
//! ```text
//! [completion, invocation + ttl × (1 − drift))
//! ```
//!
//! and not until `completion + ttl`, which would count the request's own
//! trip as lease time. `drift` ([`LockCheckOptions::clock_drift_ppm`]) is
//! how much faster the server's clock may run than the test's; 0 on one
//! machine, where both read the same monotonic clock. The interval is empty
//! when the round trip took longer than the lease (for a `WAIT` acquire,
//! when the wait did). A renewal that returned 1, and a re-acquire by the
//! same owner that returned the same token, add their own interval by the
//! same rule.
//!
//! A renewal or re-acquire *replaces* the lease (`LOCK.RENEW` sets it to
//! `ttl` from when it applies, shorter or longer than before), so another
//! one of the same token that may apply later caps an interval: if `x` did
//! not complete before `o` was sent, `o`'s interval ends by
//! `max(x.invocation, o.invocation) + x.ttl` (less drift). This counts renewals and
//! re-acquires of unknown outcome (an acquire of unknown outcome by the
//! token's owner may have been a re-acquire), not those that returned 0 or
//! nil, which changed nothing. A client stops relying on a token the
//! moment it sends a release: every interval of a token is cut at the
//! earliest invocation of a release of it that did not return 0.
//!
//! # The checks (per lock)
//!
//! - **Token order**: a grant that completed before another was invoked
//!   has the smaller token (equal only for the same owner's re-acquire);
//!   one token never goes to two owners. Across a restart mark this is
//!   "tokens after a restart exceed every token before it", and is
//!   reported as such. Tokens are compared within one lock only: each
//!   shard group has its own counter, so two locks' tokens are unrelated.
//! - **No two holders**: relied-upon intervals of different tokens never
//!   overlap.
//! - **No stale success**: a release or renewal returns 1 only for a token
//!   whose tenure had not visibly ended when it was sent (no grant of a
//!   larger token completed, no release of it returned 1, before), and
//!   only for a token some grant handed out (or an unknown-outcome acquire
//!   could have).
//! - **No lease lost early**: a holder's release or renewal that returned
//!   0, or its own re-acquire that returned nil, inside an interval it was
//!   relying on since before it sent the request, means the server dropped
//!   the lease early.
//!
//! An acquire of unknown outcome may have been granted with a token nobody
//! saw: it explains gaps in the tokens and a later success of a token no
//! observed grant returned; nobody relies on it. It is listed in
//! [`LockReport::possible_grants`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::error::HistoryError;
use crate::history::{History, OpId, Record};
use crate::reply::{Reply, Shown};

/// A lock command (`LOCK.ACQUIRE`, `LOCK.RELEASE`, `LOCK.RENEW`) on the
/// record's lock name. `WAIT` needs no field: the lease rule is the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockCommand {
    /// `LOCK.ACQUIRE name owner ttl_ms [WAIT ms]`: a token, or nil.
    Acquire {
        /// The owner string (distinct per client for the checks to hold).
        owner: Vec<u8>,
        /// The lease asked for, in milliseconds.
        ttl_ms: u64,
    },
    /// `LOCK.RELEASE name token`: 1 if that token held the lock, else 0.
    Release {
        /// The token released.
        token: u64,
    },
    /// `LOCK.RENEW name token ttl_ms`: 1 if that token held the lock.
    Renew {
        /// The token renewed.
        token: u64,
        /// The new lease, in milliseconds.
        ttl_ms: u64,
    },
}

impl LockCommand {
    /// `LOCK.ACQUIRE name owner ttl_ms`.
    pub fn acquire(owner: impl AsRef<[u8]>, ttl_ms: u64) -> LockCommand {
        LockCommand::Acquire {
            owner: owner.as_ref().to_vec(),
            ttl_ms,
        }
    }

    /// `LOCK.RELEASE name token`.
    pub fn release(token: u64) -> LockCommand {
        LockCommand::Release { token }
    }

    /// `LOCK.RENEW name token ttl_ms`.
    pub fn renew(token: u64, ttl_ms: u64) -> LockCommand {
        LockCommand::Renew { token, ttl_ms }
    }
}

impl fmt::Display for LockCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockCommand::Acquire { owner, ttl_ms } => {
                write!(f, "LOCK.ACQUIRE {} {ttl_ms}", Shown(owner))
            }
            LockCommand::Release { token } => write!(f, "LOCK.RELEASE {token}"),
            LockCommand::Renew { token, ttl_ms } => write!(f, "LOCK.RENEW {token} {ttl_ms}"),
        }
    }
}

/// Most clock drift [`LockCheckOptions::clock_drift_ppm`] takes: a clock
/// running twice as fast as another.
pub const CLOCK_DRIFT_PPM_MAX: u64 = 1_000_000;

/// Tuning of the lease rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockCheckOptions {
    /// How much faster the server's clock may run than the test's, in
    /// parts per million (clamped to [`CLOCK_DRIFT_PPM_MAX`]); 0 when both
    /// are one machine's monotonic clock.
    pub clock_drift_ppm: u64,
}

/// Which rule a lock violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockViolationKind {
    /// One token went to two owners.
    TokenShared,
    /// A grant invoked after another completed got a token not above it.
    TokenOrder,
    /// As `TokenOrder`, with a restart marked between the two grants.
    TokenNotAboveRestart,
    /// Two tokens' relied-upon intervals overlap: two live holders.
    LeaseOverlap,
    /// A release or renewal of an ended tenure returned 1.
    StaleSuccess,
    /// A release or renewal of a token never handed out returned 1.
    NeverGranted,
    /// The holder was told it lost the lock inside its lease.
    LeaseLostEarly,
}

/// One broken rule on one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockViolation {
    /// The rule.
    pub kind: LockViolationKind,
    /// The lock's name.
    pub lock: Vec<u8>,
    /// The operations involved, the later one last.
    pub ops: Vec<OpId>,
    /// What happened, with times, for a person.
    pub message: String,
}

/// An acquire whose outcome is unknown: the lock may have been granted to
/// it with a token nobody saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PossibleGrant {
    /// The acquire.
    pub op: OpId,
    /// The lock.
    pub lock: Vec<u8>,
    /// Its owner string.
    pub owner: Vec<u8>,
    /// When it was sent.
    pub invoked_ns: u64,
}

/// What [`check_locks`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockReport {
    /// Locks in the history.
    pub locks: usize,
    /// Operations in the history.
    pub ops: usize,
    /// Acquires that returned a token.
    pub grants: usize,
    /// Acquires of unknown outcome.
    pub possible_grants: Vec<PossibleGrant>,
    /// Every broken rule, by lock.
    pub violations: Vec<LockViolation>,
}

impl LockReport {
    /// True when no rule was broken.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for LockReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_ok() { "ok" } else { "VIOLATED" };
        writeln!(
            f,
            "locks {verdict}: {} operations on {} locks, {} grants seen, {} acquires of unknown \
             outcome, {} violations",
            self.ops,
            self.locks,
            self.grants,
            self.possible_grants.len(),
            self.violations.len()
        )?;
        for violation in &self.violations {
            writeln!(
                f,
                "  lock {}: {}",
                Shown(&violation.lock),
                violation.message
            )?;
        }
        Ok(())
    }
}

/// A lock operation with its reply understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Granted(u64),
    Refused,
    Succeeded,
    Failed,
    Unknown,
}

/// One lock operation, normalized.
struct LockOp<'a> {
    id: usize,
    record: &'a Record<LockCommand>,
    outcome: Outcome,
}

impl LockOp<'_> {
    fn invoked(&self) -> u64 {
        self.record.invoked_ns
    }

    /// Completion time; only called for operations that returned.
    fn completed(&self) -> u64 {
        self.record.returned.as_ref().map_or(u64::MAX, |r| r.at_ns)
    }

    /// `#id (client c, [i, r])` for messages.
    fn describe(&self) -> String {
        let returned = match &self.record.returned {
            Some(r) => format!("{} -> {}", r.at_ns, r.reply),
            None => "? -> unknown".to_string(),
        };
        format!(
            "#{} (client {}, {} at [{}, {returned}])",
            self.id, self.record.client, self.record.command, self.record.invoked_ns
        )
    }
}

/// Checks a lock history's tokens and leases, lock by lock.
pub fn check_locks(
    history: &History<LockCommand>,
    options: &LockCheckOptions,
) -> Result<LockReport, HistoryError> {
    history.validate()?;
    let mut by_lock: BTreeMap<&[u8], Vec<LockOp<'_>>> = BTreeMap::new();
    for (id, record) in history.records().iter().enumerate() {
        let outcome = outcome(id, record)?;
        by_lock.entry(&record.key).or_default().push(LockOp {
            id,
            record,
            outcome,
        });
    }
    let mut restarts = history.restarts_ns().to_vec();
    restarts.sort_unstable();
    let drift_ppm = options.clock_drift_ppm.min(CLOCK_DRIFT_PPM_MAX);
    let mut report = LockReport {
        locks: by_lock.len(),
        ops: history.len(),
        ..LockReport::default()
    };
    for (lock, ops) in &by_lock {
        let mut found = Vec::new();
        check_token_order(ops, &restarts, &mut found);
        let leases = relied_leases(ops, drift_ppm);
        check_overlaps(ops, &leases, &mut found);
        check_stale_success(ops, &mut found);
        check_lost_early(ops, &leases, &mut found);
        report
            .violations
            .extend(found.into_iter().map(|(kind, ids, message)| LockViolation {
                kind,
                lock: lock.to_vec(),
                ops: ids.into_iter().map(OpId).collect(),
                message,
            }));
        report.grants += ops
            .iter()
            .filter(|op| matches!(op.outcome, Outcome::Granted(_)))
            .count();
        report.possible_grants.extend(possible_grants(lock, ops));
    }
    Ok(report)
}

/// A violation before it is attached to its lock.
type Found = (LockViolationKind, Vec<usize>, String);

fn outcome(id: usize, record: &Record<LockCommand>) -> Result<Outcome, HistoryError> {
    let Some(returned) = &record.returned else {
        return Ok(Outcome::Unknown);
    };
    let acquire = matches!(record.command, LockCommand::Acquire { .. });
    match (&returned.reply, acquire) {
        (Reply::Int(token), true) if *token > 0 => Ok(Outcome::Granted(*token as u64)),
        (Reply::Nil, true) => Ok(Outcome::Refused),
        (Reply::Int(1), false) => Ok(Outcome::Succeeded),
        (Reply::Int(0), false) => Ok(Outcome::Failed),
        (reply, _) => Err(HistoryError::ReplyDoesNotFit {
            op: id,
            command: record.command.to_string(),
            reply: reply.clone(),
        }),
    }
}

fn owner<'a>(op: &LockOp<'a>) -> &'a [u8] {
    match &op.record.command {
        LockCommand::Acquire { owner, .. } => owner,
        _ => &[],
    }
}

fn granted(op: &LockOp<'_>) -> Option<u64> {
    match op.outcome {
        Outcome::Granted(token) => Some(token),
        _ => None,
    }
}

/// Token order, with restarts named.
fn check_token_order(ops: &[LockOp<'_>], restarts: &[u64], found: &mut Vec<Found>) {
    let grants: Vec<&LockOp<'_>> = ops.iter().filter(|op| granted(op).is_some()).collect();
    check_token_owners(&grants, found);
    let mut by_completion = grants.clone();
    by_completion.sort_by_key(|op| (op.completed(), op.id));
    let mut by_invocation = grants;
    by_invocation.sort_by_key(|op| (op.invoked(), op.id));
    let mut done = 0;
    let mut highest: Option<&LockOp<'_>> = None;
    for later in by_invocation {
        while done < by_completion.len() && by_completion[done].completed() < later.invoked() {
            let candidate = by_completion[done];
            if highest.is_none_or(|h| granted(candidate) > granted(h)) {
                highest = Some(candidate);
            }
            done += 1;
        }
        let Some(earlier) = highest else { continue };
        if granted(earlier) <= granted(later) {
            continue;
        }
        let after = restarts.partition_point(|&at| at <= earlier.completed());
        let restart = restarts.get(after).filter(|&&at| at < later.invoked());
        let (kind, between) = match restart {
            Some(at) => (
                LockViolationKind::TokenNotAboveRestart,
                format!(", across the restart marked at {at}"),
            ),
            None => (LockViolationKind::TokenOrder, String::new()),
        };
        found.push((
            kind,
            vec![earlier.id, later.id],
            format!(
                "{} completed before {} was sent{between}, yet the later grant's token is \
                 not above {}",
                earlier.describe(),
                later.describe(),
                granted(earlier).unwrap_or(0)
            ),
        ));
    }
}

/// One token never goes to two owners.
fn check_token_owners(grants: &[&LockOp<'_>], found: &mut Vec<Found>) {
    let mut first_owner: BTreeMap<u64, &LockOp<'_>> = BTreeMap::new();
    for grant in grants {
        let token = granted(grant).unwrap_or(0);
        let first = *first_owner.entry(token).or_insert(grant);
        if owner(first) != owner(grant) {
            found.push((
                LockViolationKind::TokenShared,
                vec![first.id, grant.id],
                format!(
                    "token {token} went to two owners: {} and {}",
                    first.describe(),
                    grant.describe()
                ),
            ));
        }
    }
}

/// One interval a holder could rely on.
#[derive(Debug, Clone, Copy)]
struct Lease {
    token: u64,
    /// The grant or renewal that gave it.
    op: usize,
    from_ns: u64,
    until_ns: u64,
}

/// A grant, renewal or re-acquire that may have (re)started a token's
/// lease, in the units the interval rule needs.
#[derive(Debug, Clone, Copy)]
struct LeaseStart {
    op: usize,
    invoked_ns: u64,
    /// `None` for an unknown outcome.
    completed_ns: Option<u64>,
    /// The TTL less the drift allowance.
    reliable_ns: u64,
    /// Whether the client saw it succeed (only then does it give an interval).
    seen: bool,
}

/// Every non-empty relied-upon interval (module docs): from each seen
/// grant or renewal `o` of token `t`, `[completed, invoked + ttl)`, capped
/// by every other start `x` of `t` that may have applied after `o` (it did
/// not complete before `o` was sent): `x` replaces the lease with one of at
/// least `max(x.invoked, o.invoked) + x.ttl`, shorter or longer. Then cut at
/// the token's first release that did not fail.
fn relied_leases(ops: &[LockOp<'_>], drift_ppm: u64) -> Vec<Lease> {
    let mut released_at: BTreeMap<u64, u64> = BTreeMap::new();
    for op in ops {
        if let LockCommand::Release { token } = op.record.command {
            if op.outcome != Outcome::Failed {
                let at = released_at.entry(token).or_insert(u64::MAX);
                *at = (*at).min(op.invoked());
            }
        }
    }
    let mut leases = Vec::new();
    for (token, starts) in lease_starts(ops, drift_ppm) {
        let released = released_at.get(&token).copied().unwrap_or(u64::MAX);
        for o in starts.iter().filter(|o| o.seen) {
            let mut until = o.invoked_ns.saturating_add(o.reliable_ns).min(released);
            for x in &starts {
                if x.completed_ns.is_none_or(|done| done >= o.invoked_ns) {
                    let floor = x.invoked_ns.max(o.invoked_ns);
                    until = until.min(floor.saturating_add(x.reliable_ns));
                }
            }
            let from = o.completed_ns.unwrap_or(u64::MAX);
            if from < until {
                leases.push(Lease {
                    token,
                    op: o.op,
                    from_ns: from,
                    until_ns: until,
                });
            }
        }
    }
    leases
}

/// Per token, every operation that may have started one of its leases: its
/// grants and re-acquires, renewals that did not fail, and acquires of
/// unknown outcome by an owner it was granted to.
fn lease_starts(ops: &[LockOp<'_>], drift_ppm: u64) -> BTreeMap<u64, Vec<LeaseStart>> {
    let mut owner_tokens: BTreeMap<&[u8], Vec<u64>> = BTreeMap::new();
    for op in ops {
        if let Some(token) = granted(op) {
            owner_tokens.entry(owner(op)).or_default().push(token);
        }
    }
    let mut starts: BTreeMap<u64, Vec<LeaseStart>> = BTreeMap::new();
    for op in ops {
        let (tokens, ttl_ms): (Vec<u64>, u64) = match (&op.record.command, op.outcome) {
            (LockCommand::Acquire { ttl_ms, .. }, Outcome::Granted(token)) => {
                (vec![token], *ttl_ms)
            }
            (LockCommand::Acquire { owner, ttl_ms }, Outcome::Unknown) => (
                owner_tokens
                    .get(owner.as_slice())
                    .cloned()
                    .unwrap_or_default(),
                *ttl_ms,
            ),
            (LockCommand::Renew { token, ttl_ms }, Outcome::Succeeded | Outcome::Unknown) => {
                (vec![*token], *ttl_ms)
            }
            _ => continue,
        };
        let ttl_ns = ttl_ms.saturating_mul(1_000_000);
        let slack = (u128::from(ttl_ns) * u128::from(drift_ppm) / 1_000_000) as u64;
        let start = LeaseStart {
            op: op.id,
            invoked_ns: op.invoked(),
            completed_ns: op.record.returned.as_ref().map(|r| r.at_ns),
            reliable_ns: ttl_ns - slack,
            seen: op.outcome != Outcome::Unknown,
        };
        for token in tokens {
            starts.entry(token).or_default().push(start);
        }
    }
    starts
}

/// No two tokens' intervals overlap: a sweep by start keeping the latest
/// end seen for two different tokens.
fn check_overlaps(ops: &[LockOp<'_>], leases: &[Lease], found: &mut Vec<Found>) {
    let mut sorted = leases.to_vec();
    sorted.sort_by_key(|lease| (lease.from_ns, lease.until_ns, lease.op));
    let mut best: Option<Lease> = None;
    let mut best_other: Option<Lease> = None;
    for lease in sorted {
        let rival = if best.is_some_and(|b| b.token != lease.token) {
            best
        } else {
            best_other
        };
        if let Some(rival) = rival.filter(|r| lease.from_ns < r.until_ns) {
            let (first, second) = (op_by_id(ops, rival.op), op_by_id(ops, lease.op));
            found.push((
                LockViolationKind::LeaseOverlap,
                vec![rival.op, lease.op],
                format!(
                    "two holders at once: token {} could be relied on during [{}, {}) after {}, \
                     and token {} from {} after {}",
                    rival.token,
                    rival.from_ns,
                    rival.until_ns,
                    first.describe(),
                    lease.token,
                    lease.from_ns,
                    second.describe()
                ),
            ));
        }
        match best {
            Some(b) if b.token == lease.token => {
                if lease.until_ns > b.until_ns {
                    best = Some(lease);
                }
            }
            Some(b) if lease.until_ns > b.until_ns => {
                best_other = best;
                best = Some(lease);
            }
            Some(_) => {
                if best_other.is_none_or(|o| lease.until_ns > o.until_ns) {
                    best_other = Some(lease);
                }
            }
            None => best = Some(lease),
        }
    }
}

fn op_by_id<'a, 'b>(ops: &'b [LockOp<'a>], id: usize) -> &'b LockOp<'a> {
    // `ops` is in history order, so ids are increasing.
    let at = ops.partition_point(|op| op.id < id);
    &ops[at]
}

/// What ends a tenure, indexed for the stale-success check.
struct Tenures<'o, 'r> {
    /// Grants by completion.
    grants: Vec<&'o LockOp<'r>>,
    /// `highest[k]`: the grant with the largest token among `grants[..=k]`.
    highest: Vec<&'o LockOp<'r>>,
    /// Per token, the release that returned 1 and completed first.
    first_release: BTreeMap<u64, &'o LockOp<'r>>,
    /// When the first acquire of unknown outcome was sent.
    first_unknown_acquire: Option<u64>,
    /// Every token a grant returned.
    tokens: BTreeSet<u64>,
}

impl<'o, 'r> Tenures<'o, 'r> {
    fn new(ops: &'o [LockOp<'r>]) -> Self {
        let mut grants: Vec<&LockOp<'_>> = ops.iter().filter(|op| granted(op).is_some()).collect();
        grants.sort_by_key(|op| (op.completed(), op.id));
        let mut highest: Vec<&LockOp<'_>> = Vec::with_capacity(grants.len());
        for &grant in &grants {
            let top = match highest.last() {
                Some(&top) if granted(top) >= granted(grant) => top,
                _ => grant,
            };
            highest.push(top);
        }
        let mut first_release: BTreeMap<u64, &LockOp<'_>> = BTreeMap::new();
        for op in ops.iter().filter(|op| op.outcome == Outcome::Succeeded) {
            if let LockCommand::Release { token } = op.record.command {
                let first = first_release.entry(token).or_insert(op);
                if op.completed() < first.completed() {
                    *first = op;
                }
            }
        }
        let first_unknown_acquire = ops
            .iter()
            .filter(|op| {
                op.outcome == Outcome::Unknown
                    && matches!(op.record.command, LockCommand::Acquire { .. })
            })
            .map(|op| op.invoked())
            .min();
        let tokens = grants.iter().filter_map(|g| granted(g)).collect();
        Tenures {
            tokens,
            grants,
            highest,
            first_release,
            first_unknown_acquire,
        }
    }

    /// An operation that completed before `at` and ended `token`'s tenure:
    /// a grant of a larger token, or a release of it that returned 1.
    fn ended_before(&self, token: u64, at: u64) -> Option<&'o LockOp<'r>> {
        let before = self.grants.partition_point(|g| g.completed() < at);
        let newer = before
            .checked_sub(1)
            .map(|k| self.highest[k])
            .filter(|top| granted(top) > Some(token));
        let released = self
            .first_release
            .get(&token)
            .copied()
            .filter(|release| release.completed() < at);
        newer.or(released)
    }

    /// Whether `token` could exist by `at`: some grant returned it, or an
    /// acquire of unknown outcome sent by then may have.
    fn may_exist(&self, token: u64, at: u64) -> bool {
        self.first_unknown_acquire.is_some_and(|sent| sent <= at) || self.tokens.contains(&token)
    }
}

/// Releases and renewals that returned 1 for an ended or unknown tenure.
fn check_stale_success(ops: &[LockOp<'_>], found: &mut Vec<Found>) {
    let tenures = Tenures::new(ops);
    for op in ops.iter().filter(|op| op.outcome == Outcome::Succeeded) {
        let token = match op.record.command {
            LockCommand::Release { token } | LockCommand::Renew { token, .. } => token,
            LockCommand::Acquire { .. } => continue,
        };
        if let Some(ended_by) = tenures.ended_before(token, op.invoked()) {
            found.push((
                LockViolationKind::StaleSuccess,
                vec![ended_by.id, op.id],
                format!(
                    "{} succeeded although token {token}'s tenure had ended: {} completed \
                     before it was sent",
                    op.describe(),
                    ended_by.describe()
                ),
            ));
        }
        if !tenures.may_exist(token, op.completed()) {
            found.push((
                LockViolationKind::NeverGranted,
                vec![op.id],
                format!(
                    "{} succeeded, but no acquire of this lock returned token {token} or \
                     could have",
                    op.describe()
                ),
            ));
        }
    }
}

/// A holder told "not yours" (release or renewal returned 0, its own
/// acquire returned nil) inside an interval it relied on before asking.
fn check_lost_early(ops: &[LockOp<'_>], leases: &[Lease], found: &mut Vec<Found>) {
    let mut by_token: BTreeMap<u64, Vec<&Lease>> = BTreeMap::new();
    for lease in leases {
        by_token.entry(lease.token).or_default().push(lease);
    }
    let mut owner_tokens: BTreeMap<&[u8], Vec<u64>> = BTreeMap::new();
    for op in ops {
        if let Some(token) = granted(op) {
            owner_tokens.entry(owner(op)).or_default().push(token);
        }
    }
    let no_tokens = Vec::new();
    for op in ops {
        let tokens: &[u64] = match (&op.record.command, op.outcome) {
            (
                LockCommand::Release { token } | LockCommand::Renew { token, .. },
                Outcome::Failed,
            ) => std::slice::from_ref(token),
            (LockCommand::Acquire { owner: asker, .. }, Outcome::Refused) => {
                owner_tokens.get(asker.as_slice()).unwrap_or(&no_tokens)
            }
            _ => continue,
        };
        let broken = tokens
            .iter()
            .filter_map(|token| by_token.get(token))
            .flatten()
            .find(|lease| lease.from_ns <= op.invoked() && op.completed() < lease.until_ns);
        if let Some(lease) = broken {
            found.push((
                LockViolationKind::LeaseLostEarly,
                vec![lease.op, op.id],
                format!(
                    "{} was refused while token {} could still be relied on until {} after {}",
                    op.describe(),
                    lease.token,
                    lease.until_ns,
                    op_by_id(ops, lease.op).describe()
                ),
            ));
        }
    }
}

fn possible_grants<'a>(
    lock: &'a [u8],
    ops: &'a [LockOp<'_>],
) -> impl Iterator<Item = PossibleGrant> + 'a {
    ops.iter()
        .filter(|op| {
            op.outcome == Outcome::Unknown
                && matches!(op.record.command, LockCommand::Acquire { .. })
        })
        .map(move |op| PossibleGrant {
            op: OpId(op.id),
            lock: lock.to_vec(),
            owner: owner(op).to_vec(),
            invoked_ns: op.invoked(),
        })
}
