//! Pinwheel's thread-per-core runtime.
//!
//! A [`Node`] runs one pinned glommio executor per core. A consistent-hash
//! ring maps each key to one of a fixed number of shard groups, and each
//! group to the core that owns it; a group's key-value map and lock table
//! (a [`pinwheel_state::Group`]) are touched only by that core. Cores ask
//! each other through bounded lock-free queues, never shared maps or locks.
//!
//! ```no_run
//! let node = pinwheel_runtime::Node::builder().cores(1).start()?;
//! let db = node.handle();
//! db.call_blocking(&["SET", "greeting", "hello"])?;
//! let greeting = db.call_blocking(&["GET", "greeting"])?;
//! assert_eq!(greeting.as_str(), Some("hello"));
//! let guard = db.lock_blocking(b"jobs", b"me", std::time::Duration::from_secs(10), None)?;
//! println!("fencing token {}", guard.token());
//! guard.release_blocking()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod argv;
mod clients;
mod clock;
mod config;
mod core;
mod docs;
mod embed;
mod exec;
mod fdlimit;
mod handoff;
mod help;
mod io_memory;
mod locks;
mod memory;
mod mesh;
mod node;
mod pipeline;
mod ring;
mod server;
mod session;
mod stats;
mod timers;
mod transaction;
pub mod wal;

// Every type a public function here takes or returns is reachable from
// this crate, so a user needs no direct dependency to name it.
pub use config::{available_cores, resolve_listen, Config, ConfigError, LISTEN_DEFAULT};
pub use embed::{Handle, HandleError};
pub use handoff::HANDOFF_AFTER_COMMANDS;
pub use hdrhistogram::Histogram;
pub use locks::{LockError, LockGuard};
pub use node::{Node, NodeBuilder, StartError, EMBED_QUEUE_CAPACITY, SHUTDOWN_GRACE};
pub use pinwheel_net::{resp::RespWriter, ProtocolLimits};
pub use pinwheel_state::{Limits, Reply};
pub use ring::{core_of, hash_tag, HashRing, GROUPS_MAX, VIRTUAL_NODES_PER_GROUP};
pub use server::REDIS_COMPATIBLE_VERSION;
pub use session::write_reply;
pub use stats::decode_histogram;
pub use transaction::{TRANSACTION_ARG_BYTES_MAX, TRANSACTION_COMMANDS_MAX, WATCHED_KEYS_MAX};
