//! Pinwheel inside a Rust program: a node in-process, no socket, used from
//! several threads, with a lock guard carrying a fencing token.
//!
//! `cargo run -p pinwheel --example embed`

use std::time::Duration;

use pinwheel_runtime::{LockError, Node};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = Node::builder().start()?;
    let db = node.handle();

    db.call_blocking(&["SET", "config:mode", "fast"])?;
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let db = db.clone();
            std::thread::spawn(move || db.call_blocking(&["INCRBY", "jobs:done", &i.to_string()]))
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread")?;
    }
    let done = db.call_blocking(&["GET", "jobs:done"])?;
    println!("jobs:done = {done}");
    assert_eq!(done.as_int(), Some(6));

    let ttl = Duration::from_secs(10);
    let guard = db.lock_blocking(b"nightly-report", b"example", ttl, None)?;
    println!(
        "holding nightly-report with fencing token {}",
        guard.token()
    );
    let second = db.lock_blocking(b"nightly-report", b"someone-else", ttl, None);
    assert_eq!(
        second.unwrap_err(),
        LockError::NotGranted,
        "the lock is exclusive"
    );
    guard.renew_blocking(Duration::from_secs(30))?;
    drop(guard); // released here
    let again = db.lock_blocking(b"nightly-report", b"someone-else", ttl, None)?;
    println!("someone-else now holds it with token {}", again.token());
    assert!(
        again.release_blocking()?,
        "released while its lease was live"
    );
    node.shutdown();
    Ok(())
}
