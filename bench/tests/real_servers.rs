//! The benchmark against real servers: Pinwheel in-process, and
//! redis-server where it is installed (skipped with a printed reason when
//! it is not).

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{keeps_rate, run, shares_the_machine, timing_sensitive};

const SHORT: [&str; 4] = ["--duration", "1s", "--warmup", "200ms"];

fn short(args: &[&str]) -> Vec<String> {
    args.iter()
        .chain(SHORT.iter())
        .map(|s| s.to_string())
        .collect()
}

fn run_short(args: &[&str]) -> pinwheel_bench::Report {
    let all = short(args);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run(&refs).remove(0)
}

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts redis-server on a free 127.0.0.1 port, or says why not.
fn redis_server() -> Option<(Redis, u16)> {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: redis-server is not installed (apt package redis-server)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    let server = Redis(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((server, port))
}

#[test]
fn redis_server_workloads() {
    let Some((_server, port)) = redis_server() else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    for workload in [
        "set",
        "get",
        "mixed:80",
        "incr",
        "custom:HSET h __key__ __value__",
    ] {
        let r = run_short(&[
            "--target",
            &url,
            "--workload",
            workload,
            "--keys",
            "1000",
            "--verify",
            "--value-size",
            "64",
            "--connections",
            "8",
            "--pipeline",
            "4",
        ]);
        assert!(r.ops > 1000, "{workload}: {}", r.ops);
        assert!(r.errors.is_empty(), "{workload}: {:?}", r.errors);
    }
    // Redis has no LOCK.ACQUIRE: every request is an `ERR`, counted as such,
    // under Redis's own message (its list of the arguments cut off).
    let r = run_short(&["--target", &url, "--workload", "lock", "--connections", "2"]);
    assert!(r.errors["ERR"] > 100, "{:?}", r.errors);
    assert_eq!(r.error_messages.len(), 1, "{:?}", r.error_messages);
    assert_eq!(
        r.error_messages[0].text,
        "ERR unknown command 'LOCK.ACQUIRE'"
    );
    assert_eq!(r.error_messages[0].count, r.errors["ERR"]);
    assert!(pinwheel_bench::report::verdict(&[r], 1.0).is_err());
    // The open loop holds its rate against a real server. Alone on the
    // machine, and with room for 160 requests in flight, so a slow wake-up
    // delays requests instead of capping how many can be sent.
    let _alone = timing_sensitive();
    // 3 s, so one late wake-up at the end of the run is a small part of it.
    let r = &run(&[
        "--target",
        &url,
        "--rate",
        "5000",
        "--connections",
        "10",
        "--pipeline",
        "16",
        "--duration",
        "3s",
        "--warmup",
        "200ms",
    ])[0];
    assert!(keeps_rate(r.throughput_ops, 5000.0), "{}", r.throughput_ops);
}

#[test]
fn pinwheel_in_process() {
    let _shared = shares_the_machine();
    let node = pinwheel_runtime::Node::builder()
        .listen("127.0.0.1:0".parse().unwrap())
        .cores(1)
        .start()
        .expect("an in-process node starts");
    let url = format!("redis://{}", node.local_addr().unwrap());
    for workload in ["set", "get", "mixed:50", "incr", "lock"] {
        // A waiting lock acquire blocks its connection, so lock pairs are
        // never pipelined.
        let pipeline = if workload == "lock" { "1" } else { "2" };
        let r = run_short(&[
            "--target",
            &url,
            "--workload",
            workload,
            "--keys",
            "100",
            "--verify",
            "--value-size",
            "32",
            "--connections",
            "4",
            "--pipeline",
            pipeline,
        ]);
        assert!(r.ops > 100, "{workload}: {}", r.ops);
        assert!(r.errors.is_empty(), "{workload}: {:?}", r.errors);
    }
    // One contended lock: every pair still completes, queued FIFO.
    let r = run_short(&[
        "--target",
        &url,
        "--workload",
        "lock",
        "--keys",
        "1",
        "--connections",
        "4",
    ]);
    assert!(r.ops > 50, "{}", r.ops);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    node.shutdown();
}
