//! Starting, configuring and stopping the server as an operator would.

mod common;

use std::process::Command;

use common::{encode, Server};

fn serve(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pinwheel"))
        .arg("serve")
        .args(args)
        .output()
        .expect("binary runs")
}

#[test]
fn bad_flags_and_settings_exit_2_naming_them() {
    let cases: [(&[&str], &str); 4] = [
        (&["--cores", "abc"], "--cores"),
        (&["--cores", "9999"], "'cores'"),
        (&["--listen", "nowhere"], "--listen"),
        (&["--groups", "0"], "'groups'"),
    ];
    for (args, named) in cases {
        let output = serve(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} should name {named}: {stderr}"
        );
    }
}

#[test]
fn bad_config_file_keys_exit_2_naming_them() {
    let file = common::config_file("config", "listen = \"127.0.0.1:0\"\nmax-bogus = 3\n");
    let output = serve(&["--config", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("max-bogus"), "{stderr}");
    std::fs::write(&file, "cores = \"many\"\n").unwrap();
    let output = serve(&["--config", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let missing = serve(&["--config", "/nonexistent/pinwheel.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn sigterm_answers_what_was_sent_then_exits_0() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    let mut batch = Vec::new();
    for _ in 0..2000 {
        batch.extend(encode(&["INCR", "n"]));
    }
    raw.send(&batch);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    // Every command sent before the signal was answered.
    for i in 1..=2000 {
        assert_eq!(raw.reply(), format!(":{i}\r\n"));
    }
}

/// A client that sends command after command, never pausing, cannot hold
/// the server up after SIGTERM: its connection is answered through the
/// grace period, then closed, and the server exits 0. Before, the server
/// stayed up for as long as the client kept sending.
#[test]
fn sigterm_is_not_held_up_by_a_client_that_never_pauses() {
    use std::io::Write;
    let server = Server::start(&["--cores", "2"]);
    let addr = server.addr;
    let (started_tx, started) = std::sync::mpsc::channel();
    let client = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(common::TIMEOUT)).unwrap();
        let command = encode(&["INCR", "busy"]);
        // Bounded, so the test ends even if the server never closes.
        let give_up = std::time::Instant::now() + 3 * common::TIMEOUT;
        let mut answered = 0u64;
        let mut reply = Vec::new();
        while std::time::Instant::now() < give_up {
            if stream.write_all(&command).is_err() {
                return (answered, true);
            }
            let Some(line) = read_line_or_close(&mut stream, &mut reply) else {
                return (answered, true);
            };
            answered += 1;
            assert_eq!(line, format!(":{answered}\r\n"), "answers stay in order");
            if answered == 100 {
                started_tx.send(()).unwrap();
            }
        }
        (answered, false)
    });
    started.recv().unwrap();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let (answered, closed) = client.join().unwrap();
    assert!(closed, "the server closed the busy client's connection");
    assert!(answered >= 100);
}

/// Reads one `\r\n`-ended reply line; `None` when the server closed the
/// connection (EOF or reset). A read that times out fails the test: the
/// server neither answered nor closed.
fn read_line_or_close(stream: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    use std::io::Read;
    buf.clear();
    let mut byte = [0u8];
    while !buf.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) => buf.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("the server neither answered nor closed: {e}"),
        }
    }
    Some(String::from_utf8_lossy(buf).into_owned())
}

/// Clients parked in lock waits (on both cores: several names) are answered
/// `-ERR server is shutting down` as soon as SIGTERM arrives, leave their
/// queues, and the server exits 0 without waiting out the 5 s grace period.
#[test]
fn sigterm_answers_parked_lock_waiters_at_once() {
    let server = Server::start(&["--cores", "2"]);
    let mut holder = server.raw();
    let mut waiters = Vec::new();
    for name in ["parked-1", "parked-2", "parked-3", "parked-4"] {
        let reply = holder.cmd(&["LOCK.ACQUIRE", name, "holder", "60000"]);
        assert!(reply.starts_with(':'), "{reply}");
        let mut waiter = server.raw();
        waiter.send(&encode(&[
            "LOCK.ACQUIRE",
            name,
            "waiter",
            "60000",
            "WAIT",
            "600000",
        ]));
        // Signal only once the wait is parked in the lock's queue.
        let deadline = std::time::Instant::now() + common::TIMEOUT;
        while !holder
            .cmd(&["LOCK.INFO", name])
            .contains("waiters\r\n:1\r\n")
        {
            assert!(std::time::Instant::now() < deadline, "{name}: never queued");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        waiters.push(waiter);
    }
    let signalled = std::time::Instant::now();
    let status = server.terminate();
    let exited = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    // The grace period is 5 s; a waiter left parked would hold the server
    // that long. The bound is generous: this checks behaviour, not speed.
    assert!(
        exited < std::time::Duration::from_secs(4),
        "exited {exited:?} after SIGTERM"
    );
    for waiter in &mut waiters {
        assert_eq!(waiter.reply(), "-ERR server is shutting down\r\n");
        assert!(waiter.closed(), "the waiter's connection was closed");
    }
    assert!(holder.closed(), "the holder's connection was closed");
}
