//! Pinwheel's consensus: one Multi-Paxos replica per shard group, as a pure
//! state machine with no I/O.
//!
//! Inputs: [`Replica::step`] (a message from a peer), [`Replica::tick`]
//! (local monotonic time in ms) and [`Replica::propose`] (a command, opaque
//! bytes). Output: a [`Ready`], which separates what must be durable before
//! anything is sent from what may be sent at once, committed entries to
//! apply and snapshots to install. [`Replica::advance`] tells the replica
//! the caller did that I/O.
//!
//! The protocol, the Ready contract, the lease inequality and the timeouts
//! are described in `docs/consensus.md`. The `pinwheel-sim` crate drives
//! replicas through a seeded fault simulator and checks safety continuously.
#![deny(missing_docs)]

mod config;
mod log;
mod message;
mod prng;
mod ready;
mod replica;
mod types;

pub use config::{Config, PlantedBug, NODES_MAX};
pub use message::{
    decode, encode, Accept, Accepted, Body, CatchUp, Chosen, DecodeError, Heartbeat, HeartbeatAck,
    InstallSnapshot, Message, Prepare, Promise, Reject, MESSAGE_BYTES_MAX,
};
pub use prng::Prng;
pub use ready::{Persist, Ready};
pub use replica::{Durable, ProposeError, Replica, RoleKind, Status};
pub use types::{Ballot, Committed, Entry, Membership, NodeId, Slot, SlotEntry, Snapshot};
