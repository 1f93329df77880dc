//! `pinwheel serve` under a non-root user's locked-memory limit: it starts
//! within the usual 8 MiB with one warning line, and below what it needs
//! it exits non-zero naming the limit and the fix, instead of printing
//! "serving" with no core running.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{Raw, TIMEOUT};

/// CAP_IPC_LOCK's number: root holds it, and it lifts the limit.
const CAP_IPC_LOCK: u32 = 14;
/// A server started by root runs as this user id plus its pid: one no
/// account uses.
const CHILD_ID_BASE: libc::uid_t = 3_000_000;

/// `pinwheel serve` with `args`, its locked-memory limit at
/// `memlock_kib` and without CAP_IPC_LOCK (see
/// [`limit_memlock_as_own_user`]).
fn serve_limited(memlock_kib: u64, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pinwheel"));
    command
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let bytes = memlock_kib * 1024;
    // Safety: the function makes only async-signal-safe calls.
    unsafe {
        command.pre_exec(move || limit_memlock_as_own_user(bytes));
    }
    command
}

/// Fails the test if the process still holds CAP_IPC_LOCK (the limit
/// would then not apply and the test would prove nothing).
fn assert_without_ipc_lock(pid: u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(
        caps & (1 << CAP_IPC_LOCK),
        0,
        "CAP_IPC_LOCK was not dropped"
    );
}

#[test]
fn below_the_limit_it_needs_serve_exits_naming_the_limit_and_the_fix() {
    for (cores, needed) in [("1", "ulimit -l 512"), ("2", "ulimit -l 728")] {
        let output = serve_limited(64, &["--listen", "127.0.0.1:0", "--cores", cores])
            .output()
            .expect("binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "--cores {cores}: {stderr}");
        assert!(stderr.contains("may lock 64 KiB"), "{stderr}");
        assert!(stderr.contains(needed), "--cores {cores}: {stderr}");
        assert!(!stderr.contains("serving on"), "{stderr}");
    }
}

#[test]
fn an_io_memory_the_limit_cannot_cover_is_refused() {
    let file = common::config_file("io-memory", "io-memory-bytes = 2097152\n");
    let args = ["--listen", "127.0.0.1:0", "--cores", "2"];
    let output = serve_limited(8192, &args)
        .args(["--config", file.to_str().unwrap()])
        .output()
        .expect("binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // 2 × 3 × (2 MiB + 16 KiB) + 3 × 80 KiB for the gateway + 8 KiB.
    assert!(stderr.contains("ulimit -l 12632"), "{stderr}");
    assert!(stderr.contains("lower io-memory-bytes"), "{stderr}");
}

/// The default fits 8 MiB on this machine's cores: the node serves, says
/// once that it registered smaller buffers, and glommio prints nothing.
#[test]
fn the_default_serves_under_8_mib_with_one_warning_line() {
    let cores = pinwheel_runtime::available_cores().min(2).to_string();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--cores",
        &cores,
        "--log-level",
        "info",
    ];
    let mut child = serve_limited(8192, &args).spawn().expect("binary runs");
    assert_without_ipc_lock(child.id());
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut before = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let addr = loop {
        assert!(Instant::now() < deadline, "no start-up line: {before:?}");
        let line = lines.next().expect("serve printed a line").unwrap();
        if let Some(rest) = line.strip_prefix("pinwheel: serving on ") {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        before.push(line);
    };
    let mut raw = Raw::connect(addr);
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(raw.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    let _ = child.kill();
    let _ = child.wait();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let all = [before.clone(), rest].concat();
    assert!(
        !all.iter().any(|l| l.contains("registering buffers")),
        "{all:#?}"
    );
    let warnings = before.iter().filter(|l| l.contains("WARN")).count();
    let expected = if cores == "2" { 1 } else { 0 };
    assert_eq!(warnings, expected, "{before:#?}");
}

/// Between fork and exec: sets the locked-memory limit to `bytes`, then,
/// when running as root, becomes a user id of the child's own (derived
/// from its pid). Root's CAP_IPC_LOCK would lift the limit, and the kernel
/// counts locked memory per user, so a user id no other process has also
/// keeps test runs at the same time from drawing on one allowance. Only
/// async-signal-safe calls.
fn limit_memlock_as_own_user(bytes: u64) -> std::io::Result<()> {
    // Safety: plain system calls on this (forked) process.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: bytes,
        };
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::geteuid() != 0 {
            return Ok(());
        }
        let id = CHILD_ID_BASE + libc::getpid() as libc::uid_t;
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(id) != 0
            || libc::setuid(id) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
