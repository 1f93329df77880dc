//! A per-core shutdown signal that idle connections and accept loops await.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Fires once; every clone sees it. Lives on one core (not `Send`).
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Rc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Fires the signal and wakes everyone waiting on it.
    pub fn fire(&self) {
        self.0.fired.set(true);
        for waker in self.0.wakers.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// True once the signal has fired.
    pub fn has_fired(&self) -> bool {
        self.0.fired.get()
    }

    /// Resolves when the signal fires.
    pub fn wait(&self) -> impl Future<Output = ()> + '_ {
        Wait { shutdown: self }
    }
}

struct Wait<'a> {
    shutdown: &'a Shutdown,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.shutdown.0;
        if inner.fired.get() {
            return Poll::Ready(());
        }
        let mut wakers = inner.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
