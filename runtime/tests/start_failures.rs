//! A node that cannot start says so: `start()` returns an error naming the
//! executor and the cause (a locked-memory limit too low for the io_uring
//! buffers, a core that cannot pin itself) instead of
//! returning a node whose cores never came up.
//!
//! Each case runs in a child process (this test binary again) with lowered
//! limits. Root holds CAP_IPC_LOCK, which lifts the locked-memory limit,
//! so a child started by root runs as an unprivileged user id of its own;
//! it checks that it holds no CAP_IPC_LOCK and fails if it does.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pinwheel_runtime::{available_cores, Config, Node, Reply};

/// Names the case a child process runs.
const CHILD_ENV: &str = "PINWHEEL_START_FAILURE_CHILD";
/// How long a child may take: a start that hangs fails the test.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
/// CAP_IPC_LOCK's number.
const CAP_IPC_LOCK: u32 = 14;
/// A child run as root switches to this user id plus its pid: one no
/// account uses.
const CHILD_ID_BASE: libc::uid_t = 3_000_000;
const KIB: u64 = 1024;
const MIB: usize = 1024 * 1024;

/// Runs `test` (this file's test of that name) in a child process whose
/// locked-memory limit is `memlock_bytes` and that holds no CAP_IPC_LOCK
/// (see [`limit_memlock_as_own_user`]); returns what it printed. The child plays its part when it sees
/// `CHILD_ENV`.
fn run_child(test: &str, memlock_bytes: u64) -> String {
    run_child_with(test, move || limit_memlock_as_own_user(memlock_bytes))
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

/// Runs `test` in a child process prepared by `setup`, which runs between
/// fork and exec (so it may only make async-signal-safe calls).
fn run_child_with(
    test: &str,
    setup: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Safety: `setup` makes only async-signal-safe calls.
    unsafe {
        command.pre_exec(setup);
    }
    let mut child = command.spawn().expect("the test binary runs again");
    let deadline = Instant::now() + CHILD_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "{test}: the child hung: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{test}: the child failed: {text}");
    text
}

/// True in the child process of `test`.
fn in_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(test)
}

/// True in the child process of `test`, after checking that it really
/// runs without CAP_IPC_LOCK (which would lift the limit under test).
fn in_child_without_ipc_lock(test: &str) -> bool {
    if !in_child(test) {
        return false;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    assert_eq!(caps & (1 << CAP_IPC_LOCK), 0, "could not drop CAP_IPC_LOCK");
    true
}

fn start(cores: usize, io_memory_bytes: usize) -> Result<Node, pinwheel_runtime::StartError> {
    let config = Config {
        cores,
        io_memory_bytes,
        ..Config::default()
    };
    Node::builder().config(config).start()
}

/// Prints what the child saw, for the parent to check.
fn report(result: &Result<Node, pinwheel_runtime::StartError>) {
    match result {
        Ok(node) => {
            let reply = node.handle().call_blocking(&["PING"]).unwrap();
            assert_eq!(reply, Reply::Status("PONG".into()));
            println!("RESULT: ok");
        }
        Err(error) => println!("RESULT: error: {error}"),
    }
}

#[test]
fn an_io_memory_the_limit_cannot_cover_is_an_error() {
    let test = "an_io_memory_the_limit_cannot_cover_is_an_error";
    if in_child_without_ipc_lock(test) {
        report(&start(1, 4 * MIB));
        return;
    }
    let out = run_child(test, 1024 * KIB);
    assert!(
        out.contains("RESULT: error: cannot lock io_uring memory"),
        "{out}"
    );
    // 3 × (4 MiB + 16 KiB) for the core, 3 × 80 KiB for the gateway, 8 KiB.
    assert!(out.contains("ulimit -l 12584"), "{out}");
    assert!(out.contains("may lock 1024 KiB"), "{out}");
    assert!(out.contains("lower io-memory-bytes"), "{out}");
}

#[test]
fn a_limit_below_the_smallest_buffers_is_an_error() {
    let test = "a_limit_below_the_smallest_buffers_is_an_error";
    if in_child_without_ipc_lock(test) {
        report(&start(1, 0));
        return;
    }
    let out = run_child(test, 64 * KIB);
    assert!(
        out.contains("RESULT: error: cannot lock io_uring memory"),
        "{out}"
    );
    // glommio itself refuses under 512 KiB.
    assert!(out.contains("ulimit -l 512"), "{out}");
}

/// The default asks for no more than the limit allows, so a non-root
/// user's usual 8 MiB starts a node on every core count this machine has.
#[test]
fn the_default_starts_under_8_mib_on_every_core_count() {
    let test = "the_default_starts_under_8_mib_on_every_core_count";
    if in_child_without_ipc_lock(test) {
        for cores in 1..=available_cores() {
            let result = start(cores, 0);
            print!("cores={cores} ");
            report(&result);
            // The kernel frees a stopped node's rings in the background:
            // wait for that before the next node draws on the same limit.
            drop(result);
            std::thread::sleep(Duration::from_secs(2));
        }
        return;
    }
    let out = run_child(test, 8192 * KIB);
    let oks = out.matches("RESULT: ok").count();
    assert_eq!(oks, available_cores(), "{out}");
    assert!(!out.contains("registering buffers"), "{out}");
}

/// A core whose executor cannot be created fails `start()`, naming the
/// core and the cause. Here the sandbox refuses `sched_setaffinity`, so
/// the pinned core cannot pin itself (the unpinned gateway could); before,
/// `start()` returned a node whose core had already exited, and the first
/// call never came back.
#[test]
fn a_core_that_cannot_start_fails_start() {
    let test = "a_core_that_cannot_start_fails_start";
    if in_child(test) {
        report(&start(1, 0));
        return;
    }
    let out = run_child_with(test, deny_sched_setaffinity);
    assert!(out.contains("RESULT: error: cannot start core 0"), "{out}");
    assert!(out.contains("permission denied"), "{out}");
    assert!(out.contains("pin the core's thread"), "{out}");
}

/// Installs a seccomp filter that makes `sched_setaffinity` fail with
/// EPERM and allows everything else (the syscall number is the one of the
/// architecture this test is built for).
fn deny_sched_setaffinity() -> std::io::Result<()> {
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JEQ_K: u16 = 0x15;
    const BPF_RET_K: u16 = 0x06;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let statement = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let filter = [
        // The syscall number is the first field of `seccomp_data`.
        statement(BPF_LD_W_ABS, 0),
        libc::sock_filter {
            code: BPF_JMP_JEQ_K,
            jt: 0,
            jf: 1,
            k: libc::SYS_sched_setaffinity as u32,
        },
        statement(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EPERM as u32),
        statement(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // Safety: the filter outlives the call, which copies it.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
