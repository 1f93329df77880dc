//! Until storage lands a node keeps nothing across a restart, fencing
//! tokens included, and it says so where an operator looks: the start-up
//! line and `INFO server`.

mod common;

use common::Server;

#[test]
fn a_restart_loses_everything_and_the_node_says_so() {
    let server = Server::start(&["--cores", "2"]);
    assert!(
        server.banner.contains("in memory only")
            && server.banner.contains("fencing tokens start again at 1"),
        "{}",
        server.banner
    );
    let mut raw = server.raw();
    let info = raw.cmd(&["INFO", "server"]);
    assert!(info.contains("\r\npersistence:none\r\n"), "{info}");
    assert!(
        info.contains(
            "\r\ndurability:memory-only-nothing-survives-restart-lock-tokens-restart-at-1\r\n"
        ),
        "{info}"
    );
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    for (owner, token) in [("a", "1"), ("b", "2"), ("c", "3")] {
        let granted = raw.cmd(&["LOCK.ACQUIRE", "L", owner, "60000"]);
        assert_eq!(granted, format!(":{token}\r\n"));
        assert_eq!(raw.cmd(&["LOCK.RELEASE", "L", token]), ":1\r\n");
    }
    // The same port again, after a clean stop.
    let addr = server.addr.to_string();
    assert!(server.terminate().success());
    let again = Server::start_at(&addr, &["--cores", "2"]);
    let mut raw = again.raw();
    assert_eq!(raw.cmd(&["GET", "k"]), "$-1\r\n");
    // Token 1 again: a holder of token 3 from before the restart would
    // pass a fencing check meant for this new holder.
    assert_eq!(raw.cmd(&["LOCK.ACQUIRE", "L", "e", "60000"]), ":1\r\n");
}
