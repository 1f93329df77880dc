//! `pinwheel serve`'s command line as an operator meets it: log levels,
//! config file errors, log output, the start-up line, host names.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Raw, TIMEOUT};

fn pinwheel(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pinwheel"));
    command.args(args).stdin(Stdio::null());
    command
}

/// Runs a command that must exit, killing it after the deadline.
fn run_to_exit(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let deadline = Instant::now() + TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A server started with `args`: its process, the stderr lines before the
/// start-up line, the start-up line, and the address it names.
struct Started {
    child: Child,
    before: Vec<String>,
    banner: String,
    addr: SocketAddr,
    after: Arc<Mutex<Vec<String>>>,
}

impl Started {
    /// The stderr lines after the start-up line, so far.
    fn later(&self) -> Vec<String> {
        self.after.lock().unwrap().clone()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Started {
    let mut child = pinwheel(&["serve"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let (banner, addr) = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("serve exited before serving: {before:?}"))
            .unwrap();
        if let Some(rest) = line.strip_prefix("pinwheel: serving on ") {
            let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
            break (line.clone(), addr);
        }
        before.push(line);
    };
    let after = Arc::new(Mutex::new(Vec::new()));
    let collected = after.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            collected.lock().unwrap().push(line);
        }
    });
    Started {
        child,
        before,
        banner,
        addr,
        after,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_misspelt_log_level_exits_2_naming_it() {
    let output = run_to_exit(pinwheel(&["serve", "--log-level", "loud"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("'log-level'") && stderr.contains("'loud'"),
        "{stderr}"
    );
    let file = common::config_file("log-level", "log-level = \"verbose\"\n");
    let output = run_to_exit(pinwheel(&["serve", "--config", file.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'verbose'"), "{stderr}");
    let output = run_to_exit(pinwheel(&["serve", "--log-level", "pinwheel_runtime=loud"]));
    assert_eq!(output.status.code(), Some(2));
}

/// A tracing filter still works: a per-target level reaches the log.
#[test]
fn a_tracing_filter_is_accepted() {
    let args = ["--listen", "127.0.0.1:0", "--cores", "1"];
    let server = start(&[&args[..], &["--log-level", "warn,pinwheel_net=debug"]].concat());
    let mut raw = Raw::connect(server.addr);
    assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");
    drop(raw);
    // pinwheel_net logs each connection's end at debug.
    let deadline = Instant::now() + TIMEOUT;
    while !server
        .later()
        .iter()
        .any(|l| l.contains("connection loop ended"))
    {
        assert!(Instant::now() < deadline, "{:?}", server.later());
        std::thread::sleep(Duration::from_millis(20));
    }
    let server = start(&[&args[..], &["--log-level", "pinwheel_runtime=debug"]].concat());
    assert_eq!(Raw::connect(server.addr).cmd(&["PING"]), "+PONG\r\n");
}

#[test]
fn malformed_toml_names_the_line_and_column() {
    let file = common::config_file("malformed", "cores = 1\ngroups = = 4\n");
    let output = run_to_exit(pinwheel(&["serve", "--config", file.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 2, column 10"), "{stderr}");
    // A value of the wrong type is placed too.
    std::fs::write(&file, "cores = 1\n\nmax-keys = \"lots\"\n").unwrap();
    let output = run_to_exit(pinwheel(&["serve", "--config", file.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 3, column 12"), "{stderr}");
}

/// Logs written to a pipe (a file, a journal) carry no colour codes, and
/// the start-up line comes once, in words.
#[test]
fn logs_off_a_terminal_are_plain_and_the_start_up_line_comes_once() {
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--cores",
        "1",
        "--log-level",
        "debug",
    ];
    let server = start(&args);
    assert!(
        server.banner.contains("with 1 core") && !server.banner.contains("1 cores"),
        "{}",
        server.banner
    );
    let mut raw = Raw::connect(server.addr);
    assert_eq!(raw.cmd(&["PING"]), "+PONG\r\n");
    let before = server.before.join("\n");
    assert!(
        !before.contains('\u{1b}'),
        "ANSI codes in a piped log: {before}"
    );
    assert!(
        !before.contains("serving"),
        "the start-up line twice: {before}"
    );
    let two = start(&["--listen", "127.0.0.1:0", "--cores", "2"]);
    assert!(two.banner.contains("with 2 cores"), "{}", two.banner);
}

#[test]
fn listen_accepts_a_host_name() {
    let port = free_port();
    let listen = format!("localhost:{port}");
    let server = start(&["--listen", &listen, "--cores", "1"]);
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    assert_eq!(server.addr.port(), port);
    assert_eq!(Raw::connect(server.addr).cmd(&["PING"]), "+PONG\r\n");
    // In the config file as well.
    let text = format!("listen = \"localhost:{}\"\n", free_port());
    let file = common::config_file("listen-name", &text);
    let server = start(&["--config", file.to_str().unwrap(), "--cores", "1"]);
    assert!(server.addr.ip().is_loopback());
    // A name that does not resolve is a usage error naming it.
    let output = run_to_exit(pinwheel(&[
        "serve",
        "--listen",
        "no-such-host.invalid:7379",
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-host.invalid"), "{stderr}");
}
