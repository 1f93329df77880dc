//! The client port: a port held by any other process is refused, so one
//! port never holds two lock tables.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::FromRawFd;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Raw, Server, TIMEOUT};

/// Runs `pinwheel serve` with `args` to its exit. A server that starts
/// serving instead of exiting is killed after the deadline and fails the
/// test.
fn serve_until_exit(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pinwheel"))
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "pinwheel serve {args:?} kept running: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Asserts that `serve --listen addr --cores N` exits non-zero naming the
/// address, for one and two cores.
fn assert_refused(addr: SocketAddr) {
    for cores in ["1", "2"] {
        let output = serve_until_exit(&["--listen", &addr.to_string(), "--cores", cores]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "--cores {cores}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot listen on {addr}")),
            "--cores {cores} should name {addr}: {stderr}"
        );
        assert!(!stderr.contains("serving on"), "{stderr}");
    }
}

#[test]
fn a_second_node_on_a_port_in_use_exits_and_the_first_keeps_serving() {
    let first = Server::start(&["--cores", "2"]);
    let mut clients: Vec<Raw> = (0..8).map(|_| first.raw()).collect();
    assert_eq!(
        clients[0].cmd(&["LOCK.ACQUIRE", "splitbrain", "owner-1", "60000"]),
        ":1\r\n"
    );
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.cmd(&["SET", &format!("k{i}"), "v"]), "+OK\r\n");
    }
    assert_refused(first.addr);
    // Every connection opened before the attempts still answers.
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(client.cmd(&["GET", &format!("k{i}")]), "$1\r\nv\r\n");
    }
    // New connections reach the same node, and so the same lock table:
    // before the fix some of them reached a second one and got token 1.
    for owner in 2..=17 {
        let mut raw = first.raw();
        let owner = format!("owner-{owner}");
        assert_eq!(
            raw.cmd(&["LOCK.ACQUIRE", "splitbrain", &owner, "60000"]),
            "$-1\r\n",
            "{owner} was granted a lock owner-1 holds"
        );
    }
}

#[test]
fn a_port_held_by_a_plain_listener_is_refused() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    assert_refused(holder.local_addr().unwrap());
}

/// A program that listens with SO_REUSEPORT could have been joined by
/// Pinwheel's listeners before; now Pinwheel never sets it, so it cannot.
#[test]
fn a_port_held_by_a_reuseport_listener_is_refused() {
    let holder = reuseport_listener();
    assert_refused(holder.local_addr().unwrap());
}

/// Two nodes started at the same moment on one free port: exactly one
/// serves. A check before binding would let both through.
#[test]
fn two_nodes_started_at_once_on_one_port_one_serves() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let spawn = |cores: &str| {
        Command::new(env!("CARGO_BIN_EXE_pinwheel"))
            .args(["serve", "--listen", &addr, "--cores", cores])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs")
    };
    let mut children = [spawn("2"), spawn("1")];
    // One exits with the error; the other keeps running.
    let deadline = Instant::now() + TIMEOUT;
    let exited = loop {
        let statuses: Vec<_> = children.iter_mut().map(|c| c.try_wait().unwrap()).collect();
        assert!(
            statuses.iter().any(|s| s.is_none()),
            "both nodes exited: {statuses:?}"
        );
        if let Some(i) = statuses.iter().position(|s| s.is_some()) {
            assert!(!statuses[i].unwrap().success());
            break i;
        }
        assert!(Instant::now() < deadline, "neither node was refused");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Give the survivor time to answer, then make sure it is alone.
    let survivor = &mut children[1 - exited];
    let mut raw = Raw::connect(addr.parse().unwrap());
    assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");
    assert!(survivor.try_wait().unwrap().is_none());
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A listener on 127.0.0.1 with SO_REUSEPORT set, as a program that
/// shares its port between its own threads would have.
fn reuseport_listener() -> TcpListener {
    // Safety: plain socket calls on a descriptor this function owns until
    // the TcpListener takes it.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let one: libc::c_int = 1;
        let set = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(set, 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_in).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 16), 0);
        TcpListener::from_raw_fd(fd)
    }
}
