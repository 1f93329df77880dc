//! The README's compatibility claims about redis-py, checked with redis-py
//! itself: its `r.lock()` helper cannot release on Pinwheel, and the
//! README's `LOCK.*` snippet, run as written, can. `.ci/run` installs
//! redis-py; without it these tests say so and pass, except under
//! `CI=true`, where a missing redis-py is a failure.

mod common;

use std::process::Command;

use common::Server;

/// True when `python3` can import redis-py (a failure under CI when not).
fn redis_py_present() -> bool {
    common::command_present("python3", &["-c", "import redis"], "redis-py")
}

/// Runs a Python program; its stdout, or a failure with its stderr.
fn python(program: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", program])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed:\n{program}\n{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first ```python block of the README's Compatibility section,
/// without the indentation of the list item it sits in.
fn readme_lock_snippet() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md is readable");
    let section = readme
        .split("\n## Compatibility\n")
        .nth(1)
        .expect("the README has a Compatibility section");
    let block = section
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the Compatibility section has a python block");
    block
        .lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn redis_py_lock_helper_cannot_release_as_the_readme_says() {
    if !redis_py_present() {
        return;
    }
    let server = Server::start(&["--cores", "2"]);
    let out = python(&format!(
        r#"
import redis
r = redis.Redis(port={port})
lock = r.lock("helper", timeout=10)
print("acquired", lock.acquire(blocking=False))
try:
    lock.release()
    print("released")
except redis.exceptions.ResponseError as e:
    print("release failed:", e)
print("pttl", r.pttl("helper"))
print("again", r.lock("helper", timeout=10).acquire(blocking=False))
"#,
        port = server.addr.port()
    ));
    assert!(out.contains("acquired True"), "{out}");
    assert!(
        out.contains("release failed: unknown command 'EVALSHA'"),
        "{out}"
    );
    let pttl: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("pttl "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(pttl > 5_000, "the lock stays held for its timeout: {out}");
    assert!(out.contains("again False"), "{out}");
}

#[test]
fn the_readme_lock_snippet_runs_as_written() {
    if !redis_py_present() {
        return;
    }
    let server = Server::start(&["--cores", "2"]);
    let snippet = readme_lock_snippet();
    assert!(snippet.contains("port=7379"), "{snippet}");
    let program = snippet.replace("port=7379", &format!("port={}", server.addr.port()));
    python(&program);
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["LOCK.INFO", "nightly-report"]),
        "$-1\r\n",
        "the snippet released its lock"
    );
    let next = raw.cmd(&["LOCK.ACQUIRE", "nightly-report", "checker", "60000"]);
    assert_eq!(next, ":2\r\n", "the snippet was granted token 1");
    // Held by someone else, the snippet waits, then says so and exits.
    let out = Command::new("python3")
        .args(["-c", &program.replace("5000", "100")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("held by someone else"), "{stderr}");
}
