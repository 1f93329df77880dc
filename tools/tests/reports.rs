//! `pinwheel hist` and `pinwheel sim` as reports: `hist --addr` with
//! addresses, names and URLs, against Pinwheel and against Redis 7, and
//! both piped into a reader that has stopped reading.

mod common;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{RedisServer, Server, TIMEOUT};

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

/// `hist --addr` takes HOST:PORT with an IP or a name, and redis:// URLs.
#[test]
fn hist_accepts_addresses_names_and_urls() {
    let server = Server::start(&["--cores", "1"]);
    let mut raw = server.raw();
    for i in 0..20 {
        raw.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    let port = server.addr.port();
    for addr in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("redis://127.0.0.1:{port}"),
        format!("redis://localhost:{port}/0"),
    ] {
        let output = run_to_exit(pinwheel(&["hist", "--addr", &addr]));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{addr}: {stderr}");
        let set = stdout
            .lines()
            .find(|l| l.starts_with("set "))
            .expect(&stdout);
        assert_eq!(set.split_whitespace().nth(1), Some("20"), "{stdout}");
        assert!(
            stdout.contains("(from exact HDR histograms (LATENCY DUMP))"),
            "{stdout}"
        );
    }
}

/// Redis 7 has no LATENCY DUMP: `hist` reads its LATENCY HISTOGRAM.
#[test]
fn hist_reads_redis_7_latency_histogram() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let client = redis::Client::open(format!("redis://{}", redis.addr)).unwrap();
    let mut connection = client.get_connection_with_timeout(TIMEOUT).unwrap();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut connection)
            .unwrap();
    }
    let addr = format!("redis://{}", redis.addr);
    let output = run_to_exit(pinwheel(&["hist", "--addr", &addr]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let set = stdout
        .lines()
        .find(|l| l.starts_with("set "))
        .expect(&stdout);
    let fields: Vec<&str> = set.split_whitespace().collect();
    assert_eq!(fields[1], "100", "{stdout}");
    // Each percentile is a bucket bound: a power of two, or (from 16 µs
    // on, as Redis rounds them) a little above one: 33, 66, 132...
    for field in &fields[2..] {
        let bound: u64 = field.strip_prefix('≤').expect(field).parse().unwrap();
        let power = 1u64 << (63 - bound.leading_zeros());
        assert!(bound - power <= power / 16, "{field} in {stdout}");
    }
    assert!(stdout.contains("LATENCY HISTOGRAM"), "{stdout}");
}

/// A pipe whose reading end is already closed, as `| head -1` leaves it
/// once `head` has its line: every write to it fails with EPIPE.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // Safety: pipe fills the two descriptors, which are then owned here.
    let (read, write) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(read);
    Stdio::from(write)
}

/// Exit status and stderr of a report command whose output goes into a
/// closed pipe: it stops quietly, by SIGPIPE or with status 0, with no
/// panic message.
fn assert_quiet_on_a_closed_pipe(args: &[&str]) {
    let mut command = pinwheel(args);
    command.stdout(closed_pipe()).stderr(Stdio::piped());
    let child = command.spawn().expect("binary runs");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    use std::os::unix::process::ExitStatusExt;
    let quiet = output.status.code() == Some(0) || output.status.signal() == Some(libc::SIGPIPE);
    assert!(quiet, "{args:?}: {:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn hist_into_a_closed_pipe_exits_quietly() {
    let server = Server::start(&["--cores", "1"]);
    server.raw().cmd(&["SET", "k", "v"]);
    let addr = server.addr.to_string();
    assert_quiet_on_a_closed_pipe(&["hist", "--addr", &addr]);
}

#[test]
fn sim_trace_into_a_closed_pipe_exits_quietly() {
    assert_quiet_on_a_closed_pipe(&["sim", "--seed", "1", "--trace"]);
}
