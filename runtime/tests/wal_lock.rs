//! A second process is refused the data directory while a node holds it.
//!
//! Its own test binary: a child is forked to run `flock(1)`, and until it
//! execs it shares every open descriptor of this process, so other tests
//! here opening and closing data directories would see their locks held
//! by the child for that moment.

mod wal_support;

use std::process::Command;

use pinwheel_runtime::wal::DataDir;
use wal_support::*;

#[test]
fn another_process_cannot_take_a_held_data_dir() {
    let scratch = Scratch::new("wal-lock-process", None);
    let held = DataDir::open(scratch.path()).unwrap();
    let lock = scratch.path().join("LOCK");
    let status = match Command::new("flock")
        .arg("-n")
        .arg(&lock)
        .arg("true")
        .status()
    {
        Ok(status) => status,
        Err(e) => return cannot_run(&format!("flock(1) is not installed: {e}")),
    };
    assert_eq!(status.code(), Some(1), "a second process took the lock");
    let pid = std::fs::read_to_string(&lock).unwrap();
    assert_eq!(
        pid.trim(),
        std::process::id().to_string(),
        "the lock file names its holder"
    );
    drop(held);
    let status = Command::new("flock")
        .arg("-n")
        .arg(&lock)
        .arg("true")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "the lock outlived the DataDir");
}
