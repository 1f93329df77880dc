//! The embedding API as a Rust service would use it: no socket, a handle
//! shared by threads, a lock guard, and a clean shutdown.

use std::time::Duration;

use pinwheel_runtime::{HandleError, LockError, Node, Reply};

#[test]
fn a_default_node_opens_no_socket_and_serves_every_thread() {
    let node = Node::builder().cores(2).start().unwrap();
    assert_eq!(node.local_addr(), None);
    let db = node.handle();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let key = format!("t{t}:k{i}");
                    assert_eq!(db.call_blocking(&["SET", &key, "v"]).unwrap(), Reply::Ok);
                    db.call_blocking(&["INCR", "total"]).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        db.call_blocking(&["GET", "total"]).unwrap(),
        Reply::Bulk(b"4000".to_vec())
    );
    assert_eq!(db.call_blocking(&["DBSIZE"]).unwrap(), Reply::Int(4001));
    let mget = db
        .call_blocking(&["MGET", "t0:k0", "t7:k499", "nope"])
        .unwrap();
    assert_eq!(
        mget,
        Reply::Array(vec![
            Reply::Bulk(b"v".to_vec()),
            Reply::Bulk(b"v".to_vec()),
            Reply::Nil
        ])
    );
    assert!(db.call_blocking(&["NOSUCH"]).unwrap().is_error());
    let empty: [&str; 0] = [];
    assert_eq!(db.call_blocking(&empty), Err(HandleError::Empty));
    node.shutdown();
    assert_eq!(db.call_blocking(&["PING"]), Err(HandleError::Stopped));
}

#[test]
fn the_async_call_works_on_another_executor() {
    let node = Node::builder().cores(1).start().unwrap();
    let db = node.handle();
    let reply = futures::executor::block_on(async {
        db.call(&["SET", "k", "v"]).await.unwrap();
        db.call(&["GET", "k"]).await.unwrap()
    });
    assert_eq!(reply, Reply::Bulk(b"v".to_vec()));
}

#[test]
fn lock_guards_fence_and_release_on_drop() {
    let node = Node::builder().cores(2).start().unwrap();
    let db = node.handle();
    let ttl = Duration::from_secs(30);
    let first = db.lock_blocking(b"job", b"a", ttl, None).unwrap().unwrap();
    assert!(db.lock_blocking(b"job", b"b", ttl, None).unwrap().is_none());
    let waiter = {
        let db = db.clone();
        std::thread::spawn(move || {
            db.lock_blocking(b"job", b"b", ttl, Some(Duration::from_secs(10)))
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(first.renew(ttl).unwrap());
    let first_token = first.token();
    drop(first);
    let second = waiter
        .join()
        .unwrap()
        .unwrap()
        .expect("granted after the drop");
    assert!(second.token() > first_token);
    assert!(second.release().unwrap());
    let too_long = vec![b'x'; 5000];
    assert!(db.lock_blocking(&too_long, b"a", ttl, None).is_err());
}

/// Lock waits parked at shutdown, a network client's and an embedded
/// caller's, are answered at once with `ERR server is shutting down`, the
/// connection is then closed, and `shutdown` returns without waiting out
/// the grace period.
#[test]
fn shutdown_answers_parked_lock_waits_at_once() {
    use std::io::{Read, Write};
    let node = Node::builder()
        .cores(2)
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .unwrap();
    let addr = node.local_addr().unwrap();
    let send = |stream: &mut std::net::TcpStream, args: &[&str]| {
        let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            bytes.extend(format!("${}\r\n{arg}\r\n", arg.len()).bytes());
        }
        stream.write_all(&bytes).unwrap();
    };
    let timeout = Some(std::time::Duration::from_secs(20));
    let mut holder = std::net::TcpStream::connect(addr).unwrap();
    holder.set_read_timeout(timeout).unwrap();
    send(&mut holder, &["LOCK.ACQUIRE", "L", "holder", "60000"]);
    let mut reply = [0u8; 64];
    let n = holder.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b":1\r\n");
    let mut waiter = std::net::TcpStream::connect(addr).unwrap();
    waiter.set_read_timeout(timeout).unwrap();
    send(
        &mut waiter,
        &["LOCK.ACQUIRE", "L", "waiter", "60000", "WAIT", "600000"],
    );
    let embedded = {
        let db = node.handle();
        let (ttl, wait) = (Duration::from_secs(60), Some(Duration::from_secs(600)));
        std::thread::spawn(move || {
            db.lock_blocking(b"L", b"embedded", ttl, wait)
                .map(|g| g.is_some())
        })
    };
    let queued = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        match node.handle().call_blocking(&["LOCK.INFO", "L"]) {
            Ok(Reply::Map(fields)) => fields.iter().any(|(name, value)| {
                *name == Reply::Bulk(b"waiters".to_vec()) && *value == Reply::Int(2)
            }),
            _ => false,
        }
    });
    assert!(queued, "both waiters are queued");

    let started = std::time::Instant::now();
    node.shutdown();
    // Not a speed bound: a wait left parked would take the 5 s grace.
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(4),
        "shutdown took {took:?}"
    );
    assert_eq!(
        embedded.join().unwrap(),
        Err(LockError::Refused("ERR server is shutting down".into()))
    );
    let mut answer = Vec::new();
    let read = waiter.read_to_end(&mut answer);
    assert!(
        read.is_ok() || read.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the waiter's connection was closed"
    );
    assert_eq!(answer, b"-ERR server is shutting down\r\n");
}
