//! Pinwheel's network layer: the RESP2/RESP3 codec and the io_uring client
//! connection loop (through glommio). It frames bytes into commands and
//! replies into bytes; what a command means is the runtime's business,
//! reached through the [`Handler`] trait.
#![deny(missing_docs)]

pub mod client;
mod conn;
mod limits;
mod listener;
pub mod resp;
mod shutdown;

pub use conn::{
    serve_connection, Ending, Flow, Handler, Queued, READ_CHUNK_BYTES, REPLY_FLUSH_BYTES,
};
pub use limits::*;
pub use listener::{accept_loop, Admission, ConnInfo, ConnectionGate, Connections, Handoff};
pub use shutdown::Shutdown;
