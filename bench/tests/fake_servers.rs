//! The benchmark against fake servers written here: these always run,
//! whatever is installed.

mod common;

use std::process::Command;

use common::{
    config, etcd_server, keeps_rate, resp_server, run, shares_the_machine, temp_path,
    timing_sensitive, Behaviour,
};
use pinwheel_bench::report;

const SHORT: [&str; 4] = ["--duration", "1s", "--warmup", "200ms"];
/// The run of a test that checks an open loop keeps its rate: long enough
/// that one late wake-up at the end is a small part of it, and with room in
/// flight, so a slow wake-up delays requests rather than capping how many
/// can be sent.
const RATE_CHECK: [&str; 6] = ["--duration", "2s", "--warmup", "200ms", "--pipeline", "16"];

fn with(args: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(SHORT.iter().map(|s| s.to_string()));
    all
}

fn run_with(args: &[&str]) -> Vec<pinwheel_bench::Report> {
    let all = with(args);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    run(&refs)
}

#[test]
fn json_report_has_every_field() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::Good);
    let json = temp_path("report.json");
    let all = with(&[
        "--target",
        &server.url(),
        "--connections",
        "4",
        "--pipeline",
        "4",
        "--json",
        json.to_str().unwrap(),
    ]);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let cfg = config(&refs);
    let reports = pinwheel_bench::run_all(&cfg, &mut |_| {}).unwrap();
    report::write_json(&json, &reports).unwrap();
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &value[0];
    for field in [
        "target",
        "workload",
        "connections",
        "pipeline",
        "rate",
        "duration_s",
        "throughput_ops",
        "latency_us",
        "errors",
        "histogram",
    ] {
        assert!(r.get(field).is_some(), "missing {field} in {r}");
    }
    for field in ["p50", "p90", "p99", "p999", "p9999", "max"] {
        assert!(
            r["latency_us"][field].as_f64().unwrap() > 0.0,
            "latency_us.{field} in {r}"
        );
    }
    assert_eq!(r["target"], server.url());
    assert_eq!(r["workload"], "set");
    assert_eq!(r["connections"], 4);
    assert_eq!(r["pipeline"], 4);
    assert!(r["rate"].is_null());
    assert_eq!(r["duration_s"], 1.0);
    assert!(r["throughput_ops"].as_f64().unwrap() > 100.0, "{r}");
    assert_eq!(r["errors"], serde_json::json!({}));
    let hist = reports[0].decode_histogram().unwrap();
    assert_eq!(
        hist.len(),
        reports[0].ops,
        "the histogram holds every measured operation"
    );
    assert!(server.commands.load(std::sync::atomic::Ordering::Relaxed) >= reports[0].ops);
}

#[test]
fn error_replies_are_counted_by_kind() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::Errors);
    let reports = run_with(&[
        "--target",
        &server.url(),
        "--connections",
        "2",
        "--pipeline",
        "8",
    ]);
    let r = &reports[0];
    assert!(r.errors["ERR"] > 100, "{:?}", r.errors);
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert_eq!(r.ops, 0);
    assert_eq!(r.throughput_ops, 0.0);
}

#[test]
fn open_loop_shows_a_stall_that_the_closed_loop_hides() {
    let _alone = timing_sensitive();
    // The server stalls 1 s once, 1.5 s into the run. At 1,000 ops/s on
    // one connection, about 1,000 requests fall due during the stall; the
    // open loop charges each with its wait from when it was due. It may
    // have 64 requests outstanding, so the backlog drains in a few round
    // trips even where every wake-up from idle is slow (this VM's are).
    // The run lasts 4 s so that a client whose first command goes out up to
    // 1.5 s late on a loaded machine still sees the whole stall end.
    let args = ["--connections", "1", "--duration", "4s", "--warmup", "0s"];
    let server = resp_server(Behaviour::StallOnce);
    let url = server.url();
    let mut open_args = vec!["--target", &url, "--rate", "1000", "--pipeline", "64"];
    open_args.extend_from_slice(&args);
    let open = &run(&open_args)[0];
    assert!(
        open.latency_us.p999 > 500_000.0,
        "open loop p99.9 {} µs",
        open.latency_us.p999
    );
    assert!(
        open.latency_us.p99 > 200_000.0,
        "open loop p99 {} µs",
        open.latency_us.p99
    );
    assert!(
        open.ops >= 2_500,
        "the backlog is sent after the stall: {} ops",
        open.ops
    );

    let server = resp_server(Behaviour::StallOnce);
    let url = server.url();
    let mut closed_args = vec!["--target", &url];
    closed_args.extend_from_slice(&args);
    let closed = &run(&closed_args)[0];
    assert!(
        closed.latency_us.max > 900_000.0,
        "the stall itself is seen once: {:?}",
        closed.latency_us
    );
    assert!(
        closed.latency_us.p999 < 100_000.0,
        "closed loop hides it from p99.9: {:?}",
        closed.latency_us
    );
}

#[test]
fn open_loop_keeps_its_rate() {
    let _alone = timing_sensitive();
    let server = resp_server(Behaviour::Good);
    let url = server.url();
    let mut args = vec!["--target", &url, "--rate", "2000", "--connections", "4"];
    args.extend_from_slice(&RATE_CHECK);
    let reports = run(&args);
    let r = &reports[0];
    assert!(keeps_rate(r.throughput_ops, 2000.0), "{}", r.throughput_ops);
    assert_eq!(r.rate, Some(2000.0));
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[test]
fn verify_counts_wrong_values_as_mismatches() {
    let _shared = shares_the_machine();
    let good = resp_server(Behaviour::Good);
    let r = &run_with(&[
        "--target",
        &good.url(),
        "--workload",
        "mixed:50",
        "--keys",
        "500",
        "--value-size",
        "32",
        "--verify",
    ])[0];
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.ops > 100);

    let bad = resp_server(Behaviour::WrongValues);
    let r = &run_with(&[
        "--target",
        &bad.url(),
        "--workload",
        "get",
        "--keys",
        "500",
        "--verify",
    ])[0];
    assert!(r.errors["mismatch"] > 100, "{:?}", r.errors);
    assert_eq!(r.ops, 0);
}

#[test]
fn dropped_connections_are_errors_and_reconnect() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::DropEvery200);
    let r = &run_with(&[
        "--target",
        &server.url(),
        "--connections",
        "2",
        "--pipeline",
        "3",
    ])[0];
    assert!(r.errors["disconnect"] >= 2, "{:?}", r.errors);
    assert!(r.ops > 1000, "work goes on after reconnecting: {}", r.ops);
}

#[test]
fn garbage_replies_are_protocol_errors() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::Garbage);
    let r = &run_with(&["--target", &server.url(), "--connections", "1"])[0];
    assert!(r.errors["protocol"] >= 1, "{:?}", r.errors);
    assert_eq!(r.ops, 0);
}

#[test]
fn workloads_run() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::Good);
    for workload in [
        "set",
        "get",
        "incr",
        "lock",
        "custom:SET __key__ __value__",
        "mixed:90",
    ] {
        let pipeline = if workload == "lock" { "1" } else { "2" };
        let r = &run_with(&[
            "--target",
            &server.url(),
            "--workload",
            workload,
            "--keys",
            "1",
            "--verify",
            "--connections",
            "3",
            "--pipeline",
            pipeline,
        ])[0];
        assert!(r.ops > 50, "{workload}: {} ops", r.ops);
        assert!(r.errors.is_empty(), "{workload}: {:?}", r.errors);
        assert_eq!(r.workload, workload);
    }
}

#[test]
fn several_targets_compare_and_plot() {
    let _shared = shares_the_machine();
    let (a, b) = (resp_server(Behaviour::Good), resp_server(Behaviour::Good));
    let reports = run_with(&[
        "--target",
        &a.url(),
        "--target",
        &b.url(),
        "--key-dist",
        "zipf:0.99",
    ]);
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[1].target, b.url());
    let (first, second) = (temp_path("a.json"), temp_path("b.json"));
    report::write_json(&first, &reports).unwrap();
    report::write_json(&second, &reports[1..]).unwrap();
    let text = report::compare(&[&first, &second]).unwrap();
    assert!(text.contains("ops/s") && text.contains("x)"), "{text}");
    let table = report::table(&reports);
    assert!(
        table.contains(&a.url()) && table.contains("p99.9"),
        "{table}"
    );
    for name in ["spectrum.svg", "spectrum.png"] {
        let path = temp_path(name);
        pinwheel_bench::plot::plot(&path, &reports).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 1000, "{name}");
    }
}

#[test]
fn balancing_spreads_requests_as_asked() {
    let _shared = shares_the_machine();
    let (a, b) = (resp_server(Behaviour::Good), resp_server(Behaviour::Good));
    let url = format!("redis://{},{}", a.addr, b.addr);
    let r = &run_with(&[
        "--target",
        &url,
        "--balance",
        "weighted:3,1",
        "--connections",
        "4",
    ])[0];
    let (x, y) = (r.addresses[0].ops as f64, r.addresses[1].ops as f64);
    assert!((2.5..3.5).contains(&(x / y)), "{x} vs {y}");
    for balance in ["random", "round-robin", "least-latency"] {
        let r = &run_with(&["--target", &url, "--balance", balance, "--connections", "4"])[0];
        assert!(
            r.addresses.iter().all(|a| a.ops > 0),
            "{balance}: {:?}",
            r.addresses
        );
        assert!(r.errors.is_empty());
    }
}

#[test]
fn etcd_gateway_put_and_get() {
    let _shared = shares_the_machine();
    let server = etcd_server();
    let url = format!("etcd://{}", server.addr);
    for workload in ["set", "get", "mixed:50"] {
        let r = &run_with(&[
            "--target",
            &url,
            "--workload",
            workload,
            "--keys",
            "200",
            "--value-size",
            "40",
            "--verify",
            "--connections",
            "2",
            "--pipeline",
            "2",
        ])[0];
        assert!(r.ops > 50, "{workload}: {}", r.ops);
        assert!(r.errors.is_empty(), "{workload}: {:?}", r.errors);
    }
}

#[test]
fn threads_share_the_load() {
    let _alone = timing_sensitive();
    let server = resp_server(Behaviour::Good);
    let url = server.url();
    let mut args = vec![
        "--target",
        &url,
        "--threads",
        "2",
        "--connections",
        "4",
        "--rate",
        "1000",
    ];
    args.extend_from_slice(&RATE_CHECK);
    let r = &run(&args)[0];
    assert!(keeps_rate(r.throughput_ops, 1000.0), "{}", r.throughput_ops);
}

#[test]
fn binary_rejects_bad_flags_by_name() {
    let _shared = shares_the_machine();
    let bin = env!("CARGO_BIN_EXE_pinwheel-bench");
    for (flag, value) in [
        ("--pipeline", "0"),
        ("--balance", "fastest"),
        ("--key-dist", "zipf:-1"),
        ("--rate", "0"),
    ] {
        let out = Command::new(bin)
            .args(["--target", "redis://127.0.0.1:1", flag, value])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(flag), "{flag}: {stderr}");
    }
    let out = Command::new(bin)
        .args(["--target", "etcd://127.0.0.1:1", "--workload", "lock"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workload"));
}

#[test]
fn binary_runs_and_writes_json() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::Good);
    let json = temp_path("bin.json");
    let bin = env!("CARGO_BIN_EXE_pinwheel-bench");
    let out = Command::new(bin)
        .args([
            "--target",
            &server.url(),
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ops/s") && stdout.contains(&server.url()),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ops/s, p99"),
        "a line per second off a terminal: {stderr}"
    );
    assert!(report::read_json(&json).unwrap()[0].ops > 0);
    let out = Command::new(bin)
        .args(["compare", json.to_str().unwrap(), json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("(1.00x)"));
}

/// Runs the binary with `args` (plus a short run) and returns its status,
/// stdout and stderr.
fn bench_binary(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pinwheel-bench"))
        .args(args)
        .args(["--duration", "1s", "--warmup", "0s"])
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status, text(&out.stdout), text(&out.stderr))
}

/// A `--json` or `--plot` path that cannot be written is refused before
/// the run starts (the server sees no command), naming the flag, the path
/// and why.
#[test]
fn unwritable_output_paths_fail_before_the_run() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::Good);
    let file = temp_path("a-file");
    std::fs::write(&file, "x").unwrap();
    let dir = file.parent().unwrap();
    let missing = dir.join("no-such-dir");
    let dir_named_like_a_plot = dir.join("dir.svg");
    std::fs::create_dir_all(&dir_named_like_a_plot).unwrap();
    let cases = [
        ("--json", missing.join("r.json"), "does not exist"),
        ("--plot", missing.join("p.svg"), "does not exist"),
        ("--json", file.join("r.json"), "is not a directory"),
        ("--plot", dir_named_like_a_plot, "is a directory"),
        // sysfs refuses new files even to root.
        (
            "--json",
            "/sys/pinwheel-bench.json".into(),
            "is not writable",
        ),
    ];
    for (flag, path, why) in cases {
        let path = path.to_str().unwrap();
        let (status, _, stderr) = bench_binary(&["--target", &server.url(), flag, path]);
        assert_eq!(status.code(), Some(1), "{flag} {path}: {stderr}");
        let named = stderr.contains(&format!("{flag} {path}: "));
        assert!(named && stderr.contains(why), "{flag} {path}: {stderr}");
    }
    assert_eq!(
        server.commands.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no run started"
    );
}

/// The case: a lock workload against a server without LOCK.*
/// printed `ERR=90805` and exited 0. Now the table shows the server's
/// message with its count, and the exit status is 1.
#[test]
fn a_run_where_every_request_failed_shows_why_and_exits_1() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::NoLocks);
    let json = temp_path("failed.json");
    let (status, stdout, stderr) = bench_binary(&[
        "--target",
        &format!("redis-7={}", server.url()),
        "--workload",
        "lock",
        "--connections",
        "4",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("redis-7: every request failed"), "{stderr}");
    let report = &report::read_json(&json).unwrap()[0];
    let errors = report.errors["ERR"];
    assert!(errors > 10, "{:?}", report.errors);
    // One message, the arguments (lock names, owners) cut off, so every
    // error counts under it.
    assert_eq!(
        report.error_messages.len(),
        1,
        "{:?}",
        report.error_messages
    );
    let message = &report.error_messages[0];
    assert_eq!(message.text, "ERR unknown command 'LOCK.ACQUIRE'");
    assert_eq!(message.count, errors);
    let line = format!("error {errors:>10} × ERR unknown command 'LOCK.ACQUIRE'");
    assert!(stdout.contains(&line), "{stdout}");
}

/// Errors above `--max-error-pct` (1% by default) make the exit status 1,
/// after the table; below it the run passes.
#[test]
fn the_error_share_decides_the_exit_status() {
    let _shared = shares_the_machine();
    let server = resp_server(Behaviour::ErrorEveryTenth);
    let (status, stdout, stderr) = bench_binary(&["--target", &server.url()]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("× ERR busy, try again"), "{stdout}");
    assert!(
        stderr.contains("% of requests failed") && stderr.contains("--max-error-pct 1"),
        "{stderr}"
    );
    let (status, stdout, stderr) =
        bench_binary(&["--target", &server.url(), "--max-error-pct", "20"]);
    assert!(status.success(), "{stdout}{stderr}");
    let (status, _, stderr) = bench_binary(&["--target", &server.url(), "--max-error-pct", "200"]);
    assert_eq!(
        status.code(),
        Some(2),
        "a bad percentage is a usage error: {stderr}"
    );
    assert!(stderr.contains("--max-error-pct"), "{stderr}");
}

/// Plot lines carry the targets' names, the title the run's settings, and
/// the table gives p99.99 its unit.
#[test]
fn plots_and_tables_name_targets_and_settings() {
    let _shared = shares_the_machine();
    let (a, b) = (resp_server(Behaviour::Good), resp_server(Behaviour::Good));
    let plot = temp_path("named.svg");
    let (status, stdout, stderr) = bench_binary(&[
        "--target",
        &format!("first-server={}", a.url()),
        "--target",
        &format!("second-server={}", b.url()),
        "--connections",
        "3",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(status.success(), "{stdout}{stderr}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    for text in [
        "first-server",
        "second-server",
        "workload set, 3 connections, pipeline 1, 1 threads, closed loop",
    ] {
        assert!(svg.contains(text), "the plot lacks {text:?}");
    }
    assert!(!svg.contains(&a.url()), "lines are labelled by name");
    assert!(stdout.contains("p99.99 µs"), "{stdout}");
    assert!(
        stdout.contains("first-server") && stdout.contains(&a.url()),
        "{stdout}"
    );
}
