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
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod argv;
mod clock;
mod config;
mod core;
mod embed;
mod exec;
mod handoff;
mod locks;
mod mesh;
mod node;
mod pipeline;
mod ring;
mod server;
mod session;
mod stats;
mod timers;
pub mod wal;

pub use config::{available_cores, Config, ConfigError, LISTEN_DEFAULT};
pub use embed::{Handle, HandleError};
pub use handoff::HANDOFF_AFTER_COMMANDS;
pub use locks::{LockError, LockGuard};
pub use node::{Node, NodeBuilder, StartError, EMBED_QUEUE_CAPACITY, SHUTDOWN_GRACE};
pub use pinwheel_state::Reply;
pub use ring::{core_of, hash_tag, HashRing, GROUPS_MAX, VIRTUAL_NODES_PER_GROUP};
pub use server::REDIS_COMPATIBLE_VERSION;
pub use session::write_reply;
pub use stats::decode_histogram;
