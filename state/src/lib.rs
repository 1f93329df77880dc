//! Pinwheel's state machine: the key-value store and lock table of one shard
//! group, as a pure function of the commands applied to it.
//!
//! Nothing here reads a clock, draws a random number or does I/O. Time comes
//! in with each command (`now_ms`, stamped by whoever put the command in the
//! log), so every replica that applies the same commands in the same order
//! ends in the same state and gives the same replies. That is what lets a
//! Paxos log drive it and a seeded simulation replay it.
#![deny(missing_docs)]

mod command;
mod group;
mod reply;

pub use command::{lookup, Cmd, CommandSpec, Keys, Kind, COMMANDS, COMMAND_COUNT};
pub use group::{Group, Limits};
pub use reply::Reply;
