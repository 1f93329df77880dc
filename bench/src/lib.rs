//! `pinwheel-bench`: a latency benchmark for any Redis-protocol server
//! (Pinwheel, Redis, Valkey, Dragonfly) and for etcd through its JSON
//! gateway, with the same histograms for all of them.
//!
//! Trustworthy first: latency goes into HDR histograms per request; the
//! open loop (`--rate`) measures from when a request was due, so a stall
//! is not hidden by the senders waiting on it (coordinated omission);
//! `--verify` checks replies; a dropped connection is an error. Fast
//! second: each load thread is one epoll loop over non-blocking sockets,
//! like redis-benchmark, so the tool measures the server and not itself.
//!
//! The binary is a thin shell over [`run_all`], [`report`] and
//! [`plot::plot`], which tests drive in-process.
#![deny(missing_docs)]

pub mod config;
mod driver;
pub mod plot;
mod proto;
pub mod report;
pub mod rng;
mod run;
pub mod target;
mod timer;
pub mod workload;

pub use config::{Cli, Command, RunConfig};
pub use report::Report;
pub use run::{run_all, run_target, Progress, CONNECT_TIMEOUT, PRELOAD_KEYS_MAX};
