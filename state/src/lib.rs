//! Pinwheel's state machine: the key-value store and lock table of one shard
//! group, as a pure function of the commands applied to it.
//!
//! Nothing here reads a clock, draws a random number or does I/O. Time comes
//! in with each command (`now_ms`, stamped by whoever put the command in the
//! log), so every replica that applies the same commands in the same order
//! ends in the same state and gives the same replies. That is what lets a
//! Paxos log drive it and a seeded simulation replay it.
//!
//! Where things are: [`Group`] (`group.rs`) dispatches; string commands are
//! in `strings.rs`, TTLs and active expiry in `expiry.rs`, SCAN/KEYS/
//! RANDOMKEY in `scan.rs`, locks in `locks.rs`, the map and its ordered
//! indexes in `keyspace.rs`, every limit in `limits.rs`, the snapshot encoding in `snapshot.rs`,
//! `MULTI`/`EXEC` as one step and what `WATCH` reads in `transaction.rs` (with
//! the removed keys' stamps in `stamps.rs`).
#![deny(missing_docs)]

mod command;
mod expiry;
mod glob;
mod group;
mod hash;
mod keyspace;
pub mod limits;
mod locks;
mod parse;
mod reply;
mod scan;
mod snapshot;
mod stamps;
mod strings;
mod transaction;

pub use command::{lookup, Cmd, CommandSpec, Keys, Kind, COMMANDS, COMMAND_COUNT};
pub use glob::glob_match;
pub use group::{Entry, Group};
pub use limits::Limits;
pub use locks::Effect;
pub use reply::Reply;
pub use scan::{parse_scan_cursor, scan_hash, ScanStep, RANDOMKEY_PROBE_MAX, SCAN_COUNT_MAX};
pub use snapshot::SnapshotError;
pub use stamps::REMOVED_STAMPS_MAX;
pub use transaction::{QueuedCommand, Transaction, WatchStamp, Watched};

#[cfg(test)]
mod tests;
