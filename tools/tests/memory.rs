//! `INFO memory`: its fields over a real socket, and memory coming back
//! after a connection storm (the server's RSS, read from /proc).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{encode, Server, TIMEOUT};

fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

fn number(info: &str, name: &str) -> u64 {
    field(info, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} in {info}"))
}

/// A `/proc/PID/status` figure, in KiB.
fn status_kib(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap()
}

#[test]
fn info_memory_reports_the_allocator_and_rss() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    raw.cmd(&["SET", "k", &"v".repeat(100_000)]);
    let info = raw.cmd(&["INFO", "memory"]);
    assert!(info.contains("# Memory\r\n"), "{info}");
    let used = number(&info, "used_memory");
    let rss = number(&info, "used_memory_rss");
    let peak = number(&info, "used_memory_peak");
    assert!(used > 100_000, "the value alone is 100 kB: {info}");
    assert!(rss > 1024 * 1024, "{info}");
    assert!(peak >= used, "{info}");
    assert_eq!(field(&info, "mem_allocator"), "libc");
    // The human forms agree with the byte counts.
    let human = field(&info, "used_memory_human");
    let mib: f64 = human
        .trim_end_matches('M')
        .parse()
        .unwrap_or_else(|_| panic!("{human}"));
    assert!(
        (mib * 1048576.0 - used as f64).abs() < 0.01 * 1048576.0,
        "{human} vs {used}"
    );
    assert!(field(&info, "used_memory_rss_human").ends_with('M'));
    // RSS as the server reports it is the process's, as /proc shows it.
    let proc_rss = status_kib(server.child.id(), "VmRSS") * 1024;
    assert!(
        rss.abs_diff(proc_rss) < proc_rss / 4,
        "{rss} vs /proc {proc_rss}"
    );
    // The default INFO has the section too.
    assert!(raw.cmd(&["INFO"]).contains("# Memory\r\n"));
}

/// `count` connections at once, each pipelining `gets` GETs of a large
/// value and reading every reply, then all closing.
fn storm(server: &Server, count: usize, gets: usize, value_bytes: usize) {
    let reply_bytes = format!("${value_bytes}\r\n").len() + value_bytes + 2;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let mut streams: Vec<TcpStream> = (0..count / 8)
                    .map(|_| TcpStream::connect_timeout(&addr, TIMEOUT).unwrap())
                    .collect();
                let pipeline: Vec<u8> = (0..gets)
                    .flat_map(|i| encode(&["GET", &format!("big:{}", i % 4)]))
                    .collect();
                for stream in &mut streams {
                    stream.write_all(&pipeline).unwrap();
                }
                let mut buf = vec![0; 1 << 16];
                for stream in &mut streams {
                    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                    let mut got = 0;
                    while got < gets * reply_bytes {
                        let n = stream.read(&mut buf).unwrap();
                        assert!(n > 0, "the server answers every GET");
                        got += n;
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn memory_freed_after_a_connection_storm_goes_back_to_the_system() {
    let server = Server::start(&["--cores", "2"]);
    let pid = server.child.id();
    let mut raw = server.raw();
    let value = "x".repeat(64 * 1024);
    for i in 0..4 {
        raw.cmd(&["SET", &format!("big:{i}"), &value]);
    }
    let before = status_kib(pid, "VmRSS");
    storm(&server, 800, 8, value.len());
    let peak = status_kib(pid, "VmHWM");
    assert!(
        peak > before + 60 * 1024,
        "the storm took memory: {before} -> {peak} KiB"
    );
    // Without giving memory back, RSS stayed within a few percent of its
    // peak for good; it must fall most of the way back.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let rss = status_kib(pid, "VmRSS");
        if rss < before + (peak - before) / 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "RSS stays at {rss} KiB (before {before}, peak {peak})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let info = raw.cmd(&["INFO", "memory"]);
    let rss = number(&info, "used_memory_rss");
    let used = number(&info, "used_memory");
    assert!(rss < peak * 1024, "{info}");
    assert!(number(&info, "used_memory_peak") >= used);
}
