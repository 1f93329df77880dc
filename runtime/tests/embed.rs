//! The embedding API as a Rust service would use it: no socket, a handle
//! shared by threads, a lock guard, and a clean shutdown.

use std::time::Duration;

use pinwheel_runtime::{HandleError, Node, Reply};

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
