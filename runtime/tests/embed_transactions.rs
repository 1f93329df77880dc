//! The embedding API has no connection to hold a transaction: MULTI and
//! its family answer an error that says so, and change nothing.

use pinwheel_runtime::{Node, Reply};

#[test]
fn a_handle_refuses_transaction_commands_with_a_clear_error() {
    let node = Node::builder().cores(1).start().unwrap();
    let db = node.handle();
    for command in ["MULTI", "EXEC", "DISCARD", "UNWATCH"] {
        let expected = format!(
            "ERR {command} needs a client connection; the embedding API runs each call on its own"
        );
        assert_eq!(
            db.call_blocking(&[command]).unwrap(),
            Reply::Error(expected.into())
        );
    }
    assert!(matches!(
        db.call_blocking(&["WATCH", "k"]).unwrap(),
        Reply::Error(text) if text.starts_with("ERR WATCH needs a client connection")
    ));
    // Nothing was queued: the next command runs at once.
    assert_eq!(db.call_blocking(&["SET", "k", "v"]).unwrap(), Reply::Ok);
    node.shutdown();
}
