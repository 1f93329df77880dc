//! The embedding API's lock guard: a held lock that is released when the
//! guard is dropped.

use std::time::Duration;

use pinwheel_state::Reply;

use crate::embed::{Handle, HandleError};

/// Why a lock operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    /// The node could not be reached.
    #[error(transparent)]
    Handle(#[from] HandleError),
    /// The node refused the arguments (too long a name, ttl out of range...).
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
/// releases the lock (blocking the dropping thread for one round trip);
/// so do not drop one on a node's own executor threads.
#[derive(Debug)]
pub struct LockGuard {
    handle: Handle,
    name: Vec<u8>,
    token: u64,
    released: bool,
}

impl Handle {
    /// Acquires lock `name` for `owner` with a lease of `ttl`, waiting up
    /// to `wait` in the lock's first-in-first-out queue if another owner
    /// holds it. `None` if it was not granted in time.
    pub async fn lock(
        &self,
        name: &[u8],
        owner: &[u8],
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<LockGuard>, LockError> {
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
            Reply::Int(token) => Ok(Some(LockGuard {
                handle: self.clone(),
                name: name.to_vec(),
                token: token as u64,
                released: false,
            })),
            Reply::Nil => Ok(None),
            other => Err(refused(other)),
        }
    }

    /// [`Handle::lock`], blocking this thread.
    pub fn lock_blocking(
        &self,
        name: &[u8],
        owner: &[u8],
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<Option<LockGuard>, LockError> {
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

    /// Extends the lease to `ttl` from now; `false` if the lease had
    /// already ended (the lock may be someone else's now).
    pub fn renew(&self, ttl: Duration) -> Result<bool, LockError> {
        let (token, ttl_ms) = (self.token.to_string(), ttl.as_millis().to_string());
        let args: [&[u8]; 4] = [
            b"LOCK.RENEW",
            &self.name,
            token.as_bytes(),
            ttl_ms.as_bytes(),
        ];
        match self.handle.call_blocking(&args)? {
            Reply::Int(n) => Ok(n == 1),
            other => Err(refused(other)),
        }
    }

    /// Releases the lock; `false` if the lease had already ended.
    pub fn release(mut self) -> Result<bool, LockError> {
        self.released = true;
        self.release_now()
    }

    fn release_now(&self) -> Result<bool, LockError> {
        let token = self.token.to_string();
        let args: [&[u8]; 3] = [b"LOCK.RELEASE", &self.name, token.as_bytes()];
        match self.handle.call_blocking(&args)? {
            Reply::Int(n) => Ok(n == 1),
            other => Err(refused(other)),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_now();
        }
    }
}
