//! Fake servers for the tests: tiny RESP and HTTP servers on 127.0.0.1
//! whose misbehaviour (errors, stalls, drops, wrong values) is chosen by
//! the test. Every thread they start ends by itself within
//! `SERVER_LIFETIME`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use pinwheel_bench::{Cli, Report, RunConfig};
use pinwheel_net::client::{Reply, ReplyDecoder};

/// A fake server stops accepting and serving after this long.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(5);

/// What a fake RESP server does with a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// A small in-memory Redis: SET, GET, INCR, LOCK.ACQUIRE/RELEASE.
    Good,
    /// `-ERR` to everything.
    Errors,
    /// Good, but once, 1.5 s after its first command, stops answering for 1 s.
    StallOnce,
    /// Good, but closes the connection after every 200 commands.
    DropEvery200,
    /// Good, but GET returns a value nobody wrote.
    WrongValues,
    /// Answers with bytes that are not RESP.
    Garbage,
    /// Good, but every tenth command is answered `-ERR busy, try again`.
    ErrorEveryTenth,
    /// Good, but knows no LOCK.* command and says so as Redis 7 does,
    /// listing the arguments.
    NoLocks,
}

/// A running fake server.
pub struct Fake {
    /// `host:port`.
    pub addr: String,
    /// Commands answered.
    pub commands: Arc<AtomicU64>,
}

impl Fake {
    /// The target URL.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

/// Starts a fake RESP server.
pub fn resp_server(behaviour: Behaviour) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let commands = Arc::new(AtomicU64::new(0));
    let store: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
    let stall = Arc::new(Stall::default());
    let started = Instant::now();
    let counter = commands.clone();
    std::thread::spawn(move || {
        accept_loop(listener, move |socket| {
            let (store, counter, stall) = (store.clone(), counter.clone(), stall.clone());
            std::thread::spawn(move || {
                serve_resp(socket, behaviour, &store, &counter, &stall, started)
            });
        })
    });
    Fake { addr, commands }
}

/// Taken alone by the tests that check timing (a rate kept, a stall
/// seen), so that no other benchmark run competes with them for the 2 cores
/// a CI machine has.
pub fn timing_sensitive() -> std::sync::RwLockWriteGuard<'static, ()> {
    MACHINE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Taken, shared, by every other test that runs a benchmark: they may run
/// beside each other but not beside a timing-sensitive one.
pub fn shares_the_machine() -> std::sync::RwLockReadGuard<'static, ()> {
    MACHINE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

static MACHINE: RwLock<()> = RwLock::new(());

/// The one stall of `Behaviour::StallOnce`. It is timed from the first
/// command, not from the server's start, so a client that starts late on a
/// loaded machine still meets it in the middle of its run.
#[derive(Default)]
pub struct Stall {
    first_command: OnceLock<Instant>,
    done: AtomicBool,
}

impl Stall {
    fn maybe_stall(&self) {
        let first = *self.first_command.get_or_init(Instant::now);
        if first.elapsed() > Duration::from_millis(1500) && !self.done.swap(true, Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn accept_loop(listener: TcpListener, mut on_accept: impl FnMut(TcpStream)) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + SERVER_LIFETIME;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((socket, _)) => {
                socket.set_nonblocking(false).unwrap();
                socket.set_nodelay(true).unwrap();
                socket.set_read_timeout(Some(POLL * 20)).unwrap();
                on_accept(socket);
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// Waits for the client's next bytes and appends them to `buf`: false once
/// the client has closed, the socket failed, or `deadline` passed. The
/// socket's read timeout (set at accept) is how the deadline is noticed
/// while the client is quiet.
fn read_more(socket: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match socket.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return false,
        }
    }
    false
}

fn serve_resp(
    mut socket: TcpStream,
    behaviour: Behaviour,
    store: &Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    counter: &AtomicU64,
    stall: &Stall,
    started: Instant,
) {
    let decoder = ReplyDecoder::default();
    let deadline = started + SERVER_LIFETIME;
    let mut buf = Vec::new();
    let mut served = 0u64;
    let mut tokens = 0u64;
    while read_more(&mut socket, &mut buf, deadline) {
        let mut out = Vec::new();
        while let Ok(Some((Reply::Array(args), len))) = decoder.decode(&buf) {
            buf.drain(..len);
            let args: Vec<Vec<u8>> = args
                .into_iter()
                .map(|a| match a {
                    Reply::Bulk(b) => b,
                    _ => Vec::new(),
                })
                .collect();
            if behaviour == Behaviour::StallOnce {
                stall.maybe_stall();
            }
            let n = counter.fetch_add(1, Ordering::Relaxed);
            if behaviour == Behaviour::ErrorEveryTenth && n % 10 == 9 {
                out.extend_from_slice(b"-ERR busy, try again\r\n");
            } else {
                answer(&args, behaviour, store, &mut tokens, &mut out);
            }
            served += 1;
            if behaviour == Behaviour::DropEvery200 && served.is_multiple_of(200) {
                let _ = socket.write_all(&out);
                return;
            }
        }
        if socket.write_all(&out).is_err() {
            return;
        }
    }
}

fn answer(
    args: &[Vec<u8>],
    behaviour: Behaviour,
    store: &Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    tokens: &mut u64,
    out: &mut Vec<u8>,
) {
    let name = args
        .first()
        .map(|a| a.to_ascii_uppercase())
        .unwrap_or_default();
    match (behaviour, name.as_slice()) {
        (Behaviour::Errors, _) => out.extend_from_slice(b"-ERR this server says no\r\n"),
        (Behaviour::Garbage, _) => out.extend_from_slice(b"?garbage\r\n"),
        (Behaviour::NoLocks, name) if name.starts_with(b"LOCK.") => {
            let mut text = format!(
                "-ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(&args[0])
            );
            for arg in &args[1..] {
                text.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
            }
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        (_, b"SET") if args.len() >= 3 => {
            store
                .lock()
                .unwrap()
                .insert(args[1].clone(), args[2].clone());
            out.extend_from_slice(b"+OK\r\n");
        }
        (Behaviour::WrongValues, b"GET") => bulk(out, b"not what you wrote"),
        (_, b"GET") if args.len() >= 2 => match store.lock().unwrap().get(&args[1]) {
            Some(value) => bulk(out, value),
            None => out.extend_from_slice(b"$-1\r\n"),
        },
        (_, b"INCR") => out.extend_from_slice(b":1\r\n"),
        (_, b"LOCK.ACQUIRE") => {
            *tokens += 1;
            out.extend_from_slice(format!(":{tokens}\r\n").as_bytes());
        }
        (_, b"LOCK.RELEASE") => out.extend_from_slice(b":1\r\n"),
        (_, b"PING") => out.extend_from_slice(b"+PONG\r\n"),
        _ => out.extend_from_slice(b"-ERR unknown command\r\n"),
    }
}

fn bulk(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Starts a fake etcd JSON gateway: /v3/kv/put and /v3/kv/range over
/// HTTP/1.1 keep-alive, answered with Content-Length or, for every other
/// range, chunked (as Go's server may).
pub fn etcd_server() -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let commands = Arc::new(AtomicU64::new(0));
    let store: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let counter = commands.clone();
    std::thread::spawn(move || {
        accept_loop(listener, move |socket| {
            let (store, counter) = (store.clone(), counter.clone());
            std::thread::spawn(move || serve_http(socket, &store, &counter));
        })
    });
    Fake { addr, commands }
}

fn serve_http(mut socket: TcpStream, store: &Mutex<HashMap<String, String>>, counter: &AtomicU64) {
    let deadline = Instant::now() + SERVER_LIFETIME;
    let mut buf = Vec::new();
    while read_more(&mut socket, &mut buf, deadline) {
        let mut out = Vec::new();
        while let Some((path, body, len)) = http_request(&buf) {
            buf.drain(..len);
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let key = json["key"].as_str().unwrap_or_default().to_string();
            let reply = if path.ends_with("/put") {
                store
                    .lock()
                    .unwrap()
                    .insert(key, json["value"].as_str().unwrap_or_default().to_string());
                r#"{"header":{"revision":"1"}}"#.to_string()
            } else {
                match store.lock().unwrap().get(&key) {
                    Some(v) => format!(
                        r#"{{"header":{{}},"kvs":[{{"key":"{key}","value":"{v}"}}],"count":"1"}}"#
                    ),
                    None => r#"{"header":{}}"#.to_string(),
                }
            };
            if n.is_multiple_of(2) {
                out.extend_from_slice(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}", reply.len()).as_bytes());
            } else {
                let (a, b) = reply.split_at(reply.len() / 2);
                out.extend_from_slice(
                    format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len()).as_bytes(),
                );
            }
        }
        if socket.write_all(&out).is_err() {
            return;
        }
    }
}

fn http_request(buf: &[u8]) -> Option<(String, Vec<u8>, usize)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    if buf.len() < head_end + length {
        return None;
    }
    Some((
        path,
        buf[head_end..head_end + length].to_vec(),
        head_end + length,
    ))
}

/// A run configuration from command-line words, as the binary parses them.
pub fn config(args: &[&str]) -> RunConfig {
    let mut words = vec!["pinwheel-bench", "--quiet"];
    words.extend_from_slice(args);
    use clap::Parser;
    Cli::try_parse_from(words).unwrap().run
}

/// Runs every target of `args` and returns the reports.
pub fn run(args: &[&str]) -> Vec<Report> {
    pinwheel_bench::run_all(&config(args), &mut |_| {}).unwrap()
}

/// A path in a fresh temporary directory.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pinwheel-bench-test-{}-{}",
        std::process::id(),
        name
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// True when a measured open-loop throughput is the asked rate, within
/// what this machine's noise allows: below it when a wake-up at the end of
/// the run comes late (this VM's can be 300 ms late), a little above when
/// the warm-up's backlog lands in the measured window, and never near
/// double (the rate split wrongly over threads or connections).
pub fn keeps_rate(measured_ops: f64, rate_ops: f64) -> bool {
    (0.6 * rate_ops..1.15 * rate_ops).contains(&measured_ops)
}
