//! Lock deadlines on one core: lease expiries and `WAIT` ends, in one
//! ordered queue served by a single task, so a renew-heavy workload costs a
//! map update per renew rather than a sleeping task per lease.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// What a deadline is for; a lock has at most one lease deadline and a
/// waiter at most one wait deadline, so setting one replaces the old.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TimerKey {
    /// The lease of lock `name` in `group`.
    Lease { group: u32, name: Vec<u8> },
    /// The wait of parked client `waiter`.
    Wait { waiter: u64 },
}

/// What to propose when a deadline passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimerAction {
    /// `LOCK.EXPIRE name token lease_seq`.
    Expire {
        group: u32,
        name: Vec<u8>,
        token: u64,
        lease_seq: u64,
    },
    /// `LOCK.CANCEL name waiter`.
    Cancel {
        group: u32,
        name: Vec<u8>,
        waiter: u64,
    },
}

type Slot = (Instant, u64);

/// Deadlines in time order.
#[derive(Default)]
pub(crate) struct Timers {
    queue: BTreeMap<Slot, TimerKey>,
    entries: ahash::AHashMap<TimerKey, (Slot, TimerAction)>,
    next_unique: u64,
    wake: Notify,
}

impl Timers {
    /// Sets `key`'s deadline, replacing any earlier one for the same key.
    pub fn set(&mut self, key: TimerKey, at: Instant, action: TimerAction) {
        self.remove(&key);
        self.next_unique += 1;
        let slot = (at, self.next_unique);
        let earliest = self
            .queue
            .first_key_value()
            .is_none_or(|(first, _)| slot < *first);
        self.queue.insert(slot, key.clone());
        self.entries.insert(key, (slot, action));
        if earliest {
            self.wake.notify();
        }
    }

    /// Drops `key`'s deadline, if any.
    pub fn remove(&mut self, key: &TimerKey) {
        if let Some((slot, _)) = self.entries.remove(key) {
            self.queue.remove(&slot);
        }
    }

    /// Takes every action whose deadline is at or before `now`, earliest
    /// first.
    pub fn take_due(&mut self, now: Instant) -> Vec<TimerAction> {
        let mut due = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            if let Some((_, action)) = self.entries.remove(&key) {
                due.push(action);
            }
        }
        due
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    /// Deadlines pending.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The signal that an earlier deadline was set.
    pub fn notifier(&self) -> Notify {
        self.wake.clone()
    }
}

/// A re-armable wake-up for one waiting task on this core.
#[derive(Clone, Default)]
pub(crate) struct Notify(std::rc::Rc<NotifyInner>);

#[derive(Default)]
struct NotifyInner {
    pending: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Notify {
    pub fn notify(&self) {
        self.0.pending.set(true);
        if let Some(waker) = self.0.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Resolves at the next `notify` (or at once if one came since the last
    /// wait ended).
    pub fn notified(&self) -> impl Future<Output = ()> + '_ {
        Notified(self)
    }
}

struct Notified<'a>(&'a Notify);

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.0 .0;
        if inner.pending.replace(false) {
            return Poll::Ready(());
        }
        *inner.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lease(name: &str) -> TimerKey {
        TimerKey::Lease {
            group: 0,
            name: name.into(),
        }
    }

    fn expire(name: &str, lease_seq: u64) -> TimerAction {
        TimerAction::Expire {
            group: 0,
            name: name.into(),
            token: 1,
            lease_seq,
        }
    }

    #[test]
    fn replacing_a_deadline_keeps_only_the_new_one() {
        let start = Instant::now();
        let mut timers = Timers::default();
        timers.set(
            lease("a"),
            start + Duration::from_millis(10),
            expire("a", 1),
        );
        timers.set(
            lease("b"),
            start + Duration::from_millis(20),
            expire("b", 1),
        );
        timers.set(
            lease("a"),
            start + Duration::from_millis(30),
            expire("a", 2),
        );
        assert_eq!(timers.len(), 2);
        assert_eq!(
            timers.take_due(start + Duration::from_millis(25)),
            vec![expire("b", 1)]
        );
        assert_eq!(
            timers.next_deadline(),
            Some(start + Duration::from_millis(30))
        );
        assert_eq!(
            timers.take_due(start + Duration::from_millis(30)),
            vec![expire("a", 2)]
        );
        assert_eq!(timers.len(), 0);
    }
}
