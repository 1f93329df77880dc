//! `redis-cli`, interactively and with `--pipe`, against the real server.
//! CI installs redis-tools (`.ci/run`); without it these tests say so and
//! skip, except under `CI=true`, where they fail.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::Server;

fn redis_cli_present() -> bool {
    common::command_present("redis-cli", &["--version"], "redis-cli")
}

#[test]
fn redis_cli_interactive_session() {
    if !redis_cli_present() {
        return;
    }
    let server = Server::start(&["--cores", "2"]);
    let mut cli = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cli.stdin
        .as_mut()
        .unwrap()
        .write_all(
            b"SET greeting hello\nGET greeting\nINCR n\nLOCK.ACQUIRE l me 1000\nBOGUS\nQUIT\n",
        )
        .unwrap();
    let output = cli.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(&lines[..4], &["OK", "hello", "1", "1"], "{stdout}");
    assert!(stdout.contains("ERR unknown command 'BOGUS'"), "{stdout}");
}

#[test]
fn redis_cli_pipe_mass_insert() {
    if !redis_cli_present() {
        return;
    }
    let server = Server::start(&["--cores", "2"]);
    let mut input = Vec::new();
    for i in 0..5000 {
        input.extend(common::encode(&[
            "SET",
            &format!("bulk:{i}"),
            &i.to_string(),
        ]));
    }
    let mut cli = Command::new("redis-cli")
        .args(["-p", &server.addr.port().to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cli.stdin.take().unwrap().write_all(&input).unwrap();
    let output = cli.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("errors: 0, replies: 5000"), "{stdout}");
    assert_eq!(server.raw().cmd(&["DBSIZE"]), ":5000\r\n");
}
