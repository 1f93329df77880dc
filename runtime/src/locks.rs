//! The embedding API's lock guard: a held lock that is released when the
//! guard is dropped.
//!
//! Every operation comes as an `async` method that works on any executor
//! and a `_blocking` one for plain threads, as [`Handle::call`] and
//! [`Handle::call_blocking`] do.

use std::time::Duration;

use pinwheel_state::Reply;

use crate::embed::{Handle, HandleError};

/// Why a lock operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    /// Another owner holds the lock, and it did not come free within the
    /// wait (or no wait was asked for). Like `std`'s `try_lock`, this is an
    /// error so that `let guard = db.lock_blocking(...)?;` holds the lock
    /// or leaves.
    #[error("the lock is held by another owner")]
    NotGranted,
    /// The lease had already ended when a renew arrived: the lock may be
    /// someone else's now, and the work it protected must stop.
    #[error("the lease had already ended")]
    Lost,
    /// The node could not be reached.
    #[error(transparent)]
    Handle(#[from] HandleError),
    /// The node refused the arguments (too long a name, ttl out of range...)
    /// or answered `ERR server is shutting down` to a wait.
    #[error("{0}")]
    Refused(String),
}

fn refused(reply: Reply) -> LockError {
    match reply {
        Reply::Error(text) => LockError::Refused(text.into_owned()),
        other => LockError::Refused(format!("unexpected reply {other:?}")),
    }
}

/// A lock held through a [`Handle`], with its fencing token. Dropping it
/// releases the lock: the release is sent at once (waiting only while the
/// node's request queue is full) and not waited for, so a drop is safe on
/// any thread. [`LockGuard::release`] waits and tells whether the lease
/// was still current.
///
/// A guard that is not kept is a lock given straight back, so it is
/// `#[must_use]`, and acquiring without keeping it is warned about:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// fn work(db: &pinwheel_runtime::Handle) -> Result<(), pinwheel_runtime::LockError> {
///     db.lock_blocking(b"jobs", b"me", std::time::Duration::from_secs(10), None)?;
///     Ok(())
/// }
/// ```
///
/// The same with the guard kept compiles:
///
/// ```
/// #![deny(unused_must_use)]
/// fn work(db: &pinwheel_runtime::Handle) -> Result<(), pinwheel_runtime::LockError> {
///     let _guard = db.lock_blocking(b"jobs", b"me", std::time::Duration::from_secs(10), None)?;
///     Ok(())
/// }
/// ```
#[derive(Debug)]
#[must_use = "dropping a LockGuard releases the lock at once"]
pub struct LockGuard {
    handle: Handle,
    name: Vec<u8>,
    token: u64,
    released: bool,
}

impl Handle {
    /// Acquires lock `name` for `owner` with a lease of `ttl`, waiting up
    /// to `wait` in the lock's first-in-first-out queue if another owner
    /// holds it; [`LockError::NotGranted`] if it was not granted in time.
    /// Asked again by the owner holding it, it answers the same token and
    /// never shortens the lease.
    pub async fn lock(
        &self,
        name: &[u8],
        owner: &[u8],
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<LockGuard, LockError> {
        let ttl_ms = ttl.as_millis().to_string();
        let reply = match wait {
            Some(wait) => {
                let wait_ms = wait.as_millis().to_string();
                let args: [&[u8]; 6] = [
                    b"LOCK.ACQUIRE",
                    name,
                    owner,
                    ttl_ms.as_bytes(),
                    b"WAIT",
                    wait_ms.as_bytes(),
                ];
                self.call(&args).await?
            }
            None => {
                let args: [&[u8]; 4] = [b"LOCK.ACQUIRE", name, owner, ttl_ms.as_bytes()];
                self.call(&args).await?
            }
        };
        match reply {
            Reply::Int(token) if token > 0 => Ok(LockGuard {
                handle: self.clone(),
                name: name.to_vec(),
                token: token as u64,
                released: false,
            }),
            Reply::Nil => Err(LockError::NotGranted),
            other => Err(refused(other)),
        }
    }

    /// [`Handle::lock`], blocking this thread. Do not call it from a
    /// node's own executor threads.
    pub fn lock_blocking(
        &self,
        name: &[u8],
        owner: &[u8],
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<LockGuard, LockError> {
        futures::executor::block_on(self.lock(name, owner, ttl, wait))
    }
}

impl LockGuard {
    /// The fencing token of this grant: pass it to whatever the lock
    /// protects, which must refuse requests with a smaller token.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// The lock's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// Sets the lease to `ttl` from now (shorter than what is left, if
    /// asked); [`LockError::Lost`] if the lease had already ended.
    pub async fn renew(&self, ttl: Duration) -> Result<(), LockError> {
        let (token, ttl_ms) = (self.token.to_string(), ttl.as_millis().to_string());
        let args: [&[u8]; 4] = [
            b"LOCK.RENEW",
            &self.name,
            token.as_bytes(),
            ttl_ms.as_bytes(),
        ];
        match self.handle.call(&args).await? {
            Reply::Int(1) => Ok(()),
            Reply::Int(0) => Err(LockError::Lost),
            other => Err(refused(other)),
        }
    }

    /// [`LockGuard::renew`], blocking this thread.
    pub fn renew_blocking(&self, ttl: Duration) -> Result<(), LockError> {
        futures::executor::block_on(self.renew(ttl))
    }

    /// Releases the lock and waits for the answer: `true` if this grant
    /// still held it, `false` if its lease had already ended (the work it
    /// protected may have overlapped the next holder's). If the future is
    /// dropped before it finishes, the guard's drop releases instead.
    pub async fn release(mut self) -> Result<bool, LockError> {
        let token = self.token.to_string();
        let args: [&[u8]; 3] = [b"LOCK.RELEASE", &self.name, token.as_bytes()];
        let reply = self.handle.call(&args).await;
        self.released = true;
        match reply? {
            Reply::Int(n) => Ok(n == 1),
            other => Err(refused(other)),
        }
    }

    /// [`LockGuard::release`], blocking this thread.
    pub fn release_blocking(self) -> Result<bool, LockError> {
        futures::executor::block_on(self.release())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            let token = self.token.to_string();
            let args: [&[u8]; 3] = [b"LOCK.RELEASE", &self.name, token.as_bytes()];
            // The release is queued before anything this thread asks next,
            // and the gateway keeps that order to the lock's core. A node
            // that has stopped holds no locks.
            let _ = self.handle.send_only(&args);
        }
    }
}
