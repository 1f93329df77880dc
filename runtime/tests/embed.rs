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
    let first = db.lock_blocking(b"job", b"a", ttl, None).unwrap();
    assert_eq!(
        db.lock_blocking(b"job", b"b", ttl, None).unwrap_err(),
        LockError::NotGranted
    );
    let waiter = {
        let db = db.clone();
        std::thread::spawn(move || {
            db.lock_blocking(b"job", b"b", ttl, Some(Duration::from_secs(10)))
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    first.renew_blocking(ttl).unwrap();
    let first_token = first.token();
    drop(first);
    let second = waiter.join().unwrap().expect("granted after the drop");
    assert!(second.token() > first_token);
    assert!(second.release_blocking().unwrap());
    let too_long = vec![b'x'; 5000];
    assert!(matches!(
        db.lock_blocking(&too_long, b"a", ttl, None),
        Err(LockError::Refused(text)) if text.contains("too long")
    ));
}

/// The async forms work on another executor; a renew after the lease ran
/// out is `Lost`, and a release then answers false.
#[test]
fn async_renew_and_release_and_a_lost_lease() {
    let node = Node::builder().cores(2).start().unwrap();
    let db = node.handle();
    futures::executor::block_on(async {
        let guard = db
            .lock(b"async", b"a", Duration::from_secs(30), None)
            .await
            .unwrap();
        guard.renew(Duration::from_secs(60)).await.unwrap();
        let info = db.call(&["LOCK.INFO", "async"]).await.unwrap();
        let ttl = info.as_map().unwrap()[2].1.as_int().unwrap();
        assert!(ttl > 50_000, "renewed to 60 s: {info}");
        assert!(guard.release().await.unwrap());
        assert!(db.call(&["LOCK.INFO", "async"]).await.unwrap().is_nil());

        let short = db
            .lock(b"short", b"a", Duration::from_millis(50), None)
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !db.call(&["LOCK.INFO", "short"]).await.unwrap().is_nil() {
            assert!(
                std::time::Instant::now() < deadline,
                "the lease never ended"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            short.renew(Duration::from_secs(1)).await,
            Err(LockError::Lost)
        );
        assert!(!short.release().await.unwrap());
    });
}

/// A guard dropped without a release still releases, also when the async
/// release is started and then abandoned.
#[test]
fn a_dropped_or_abandoned_release_still_releases() {
    let node = Node::builder().cores(2).start().unwrap();
    let db = node.handle();
    let ttl = Duration::from_secs(60);
    let guard = db.lock_blocking(b"dropped", b"a", ttl, None).unwrap();
    let release = guard.release();
    drop(release); // Never polled: the guard inside it is dropped.
    let next = db.lock_blocking(b"dropped", b"b", ttl, Some(Duration::from_secs(10)));
    assert!(next.is_ok(), "released by the drop: {next:?}");
}

/// Replies read as a Redis client user expects: text, integers, nil, and
/// output that shows strings rather than lists of numbers.
#[test]
fn replies_are_readable() {
    let node = Node::builder().cores(1).start().unwrap();
    let db = node.handle();
    db.call_blocking(&["SET", "greeting", "hello"]).unwrap();
    let greeting = db.call_blocking(&["GET", "greeting"]).unwrap();
    assert_eq!(greeting.as_str(), Some("hello"));
    assert_eq!(greeting.as_bytes(), Some(&b"hello"[..]));
    assert_eq!(format!("{greeting}"), "\"hello\"");
    assert_eq!(format!("{greeting:?}"), "Bulk(\"hello\")");
    assert_eq!(greeting.into_bytes(), Some(b"hello".to_vec()));
    db.call_blocking(&["INCRBY", "n", "41"]).unwrap();
    let n = db.call_blocking(&["INCR", "n"]).unwrap();
    assert_eq!(
        (n.as_int(), n.to_string()),
        (Some(42), "(integer) 42".into())
    );
    let read_back = db.call_blocking(&["GET", "n"]).unwrap();
    assert_eq!(read_back.as_int(), Some(42), "a counter read with GET");
    let missing = db.call_blocking(&["GET", "nope"]).unwrap();
    assert!(missing.is_nil());
    assert_eq!(missing.to_string(), "(nil)");
    db.call_blocking(&["SET", "raw", "\u{0}\u{1}é"]).unwrap();
    let raw = db.call_blocking(&["GET", "raw"]).unwrap();
    assert_eq!(format!("{raw:?}"), "Bulk(\"\\x00\\x01é\")");
    let pong = db.call_blocking(&["PING"]).unwrap();
    assert_eq!(pong.as_str(), Some("PONG"));
    let error = db.call_blocking(&["INCR", "greeting"]).unwrap();
    assert_eq!(
        error.as_error(),
        Some("ERR value is not an integer or out of range")
    );
    let list = db.call_blocking(&["MGET", "greeting", "nope"]).unwrap();
    assert_eq!(list.to_string(), "1) \"hello\"\n2) (nil)");
    let items = list.into_array().unwrap();
    assert_eq!(items[0].as_str(), Some("hello"));
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
                .map(|g| g.token())
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
