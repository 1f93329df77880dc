//! Pinwheel inside a Rust program: a node in-process, no socket, used from
//! several threads, with a lock guard carrying a fencing token.
//!
//! `cargo run -p pinwheel --example embed`

use std::time::Duration;

use pinwheel_runtime::{Node, Reply};

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
    println!("jobs:done = {done:?}");
    assert_eq!(done, Reply::Bulk(b"6".to_vec()));

    let guard = db
        .lock_blocking(b"nightly-report", b"example", Duration::from_secs(10), None)?
        .expect("nobody else holds it");
    println!(
        "holding nightly-report with fencing token {}",
        guard.token()
    );
    let second = db.lock_blocking(
        b"nightly-report",
        b"someone-else",
        Duration::from_secs(10),
        None,
    )?;
    assert!(second.is_none(), "the lock is exclusive");
    drop(guard); // released here
    let again = db
        .lock_blocking(
            b"nightly-report",
            b"someone-else",
            Duration::from_secs(10),
            None,
        )?
        .expect("free again");
    println!("someone-else now holds it with token {}", again.token());
    drop(again);
    node.shutdown();
    Ok(())
}
