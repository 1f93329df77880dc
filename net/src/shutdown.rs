//! A per-core shutdown signal that idle connections and accept loops await.
//!
//! Every connection waits on it at each read, and connections come and go
//! for the life of the server, so a waiter leaves the list as soon as it
//! stops waiting: the list holds the connections waiting now, not every
//! connection ever served, and registering costs the same on the first day
//! as on the hundredth.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

/// Fires once; every clone sees it. Lives on one core (not `Send`).
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Rc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    fired: Cell<bool>,
    waiters: RefCell<Slab<Waker>>,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Fires the signal and wakes everyone waiting on it.
    pub fn fire(&self) {
        if self.0.fired.replace(true) {
            return;
        }
        let waiters = std::mem::take(&mut *self.0.waiters.borrow_mut());
        for (_, waker) in waiters {
            waker.wake();
        }
    }

    /// True once the signal has fired.
    pub fn has_fired(&self) -> bool {
        self.0.fired.get()
    }

    /// Resolves when the signal fires.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        Wait {
            shutdown: self,
            key: None,
        }
    }

    /// Tasks waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.0.waiters.borrow().len()
    }
}

/// One task's wait; registered at its first poll, withdrawn when dropped.
struct Wait<'a> {
    shutdown: &'a Shutdown,
    key: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let inner = &this.shutdown.0;
        if inner.fired.get() {
            return Poll::Ready(());
        }
        let mut waiters = inner.waiters.borrow_mut();
        match this.key {
            Some(key) if !waiters[key].will_wake(cx.waker()) => {
                waiters[key] = cx.waker().clone();
            }
            Some(_) => {}
            None => this.key = Some(waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        // After firing the list was emptied, and no key is handed out again.
        if let (Some(key), false) = (self.key, self.shutdown.has_fired()) {
            self.shutdown.0.waiters.borrow_mut().remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn poll_once(future: Pin<&mut impl Future<Output = ()>>, waker: &Waker) -> Poll<()> {
        future.poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_dropped_wait_leaves_the_list() {
        let shutdown = Shutdown::new();
        let waker = Waker::noop();
        for _ in 0..1_000 {
            let mut wait = std::pin::pin!(shutdown.wait());
            assert_eq!(poll_once(wait.as_mut(), waker), Poll::Pending);
            assert_eq!(poll_once(wait.as_mut(), waker), Poll::Pending);
            assert_eq!(shutdown.waiting(), 1, "polled twice, listed once");
        }
        assert_eq!(shutdown.waiting(), 0);
    }

    #[test]
    fn firing_wakes_every_waiter_and_later_waits_end_at_once() {
        let shutdown = Shutdown::new();
        let flags: Vec<_> = (0..3)
            .map(|_| std::sync::Arc::new(Flag(AtomicBool::new(false))))
            .collect();
        let wakers: Vec<Waker> = flags.iter().map(|f| Waker::from(f.clone())).collect();
        let mut waits: Vec<_> = (0..3).map(|_| Box::pin(shutdown.wait())).collect();
        for (wait, waker) in waits.iter_mut().zip(&wakers) {
            assert_eq!(poll_once(wait.as_mut(), waker), Poll::Pending);
        }
        shutdown.fire();
        assert!(flags.iter().all(|f| f.0.load(Ordering::SeqCst)));
        for (wait, waker) in waits.iter_mut().zip(&wakers) {
            assert_eq!(poll_once(wait.as_mut(), waker), Poll::Ready(()));
        }
        drop(waits);
        let mut late = std::pin::pin!(shutdown.wait());
        assert_eq!(poll_once(late.as_mut(), Waker::noop()), Poll::Ready(()));
    }
}
