//! A real `pinwheel serve` process for tests, and a raw RESP client.

#![allow(dead_code)] // each test binary uses part of this

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for the server to start or answer.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A server process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The start-up line (`pinwheel: serving on ADDR ...`).
    pub banner: String,
}

impl Server {
    /// Starts `pinwheel serve --listen 127.0.0.1:0` with extra flags.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_at("127.0.0.1:0", extra)
    }

    /// Starts `pinwheel serve --listen LISTEN` with extra flags.
    pub fn start_at(listen: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinwheel"))
            .args(["serve", "--listen", listen, "--log-level", "warn"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pinwheel binary runs");
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = BufReader::new(stderr).lines();
        let (addr, banner) = loop {
            let line = lines
                .next()
                .expect("server printed its address before exiting")
                .expect("stderr is text");
            if let Some(rest) = line.strip_prefix("pinwheel: serving on ") {
                let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
                break (addr, line);
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            banner,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn redis(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection_with_timeout(TIMEOUT)
            .expect("connects")
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw socket speaking bytes, for exact protocol checks.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connects");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("server reads");
    }

    /// Reads exactly `n` bytes.
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.stream.read_exact(&mut buf).expect("server answers");
        buf
    }

    /// Sends a command as a multibulk array and reads one whole reply.
    pub fn cmd(&mut self, args: &[&str]) -> String {
        self.send(&encode(args));
        self.reply()
    }

    /// Reads one complete RESP reply (any type, nested) as text.
    pub fn reply(&mut self) -> String {
        let mut out = Vec::new();
        self.read_value(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn read_line(&mut self, out: &mut Vec<u8>) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            self.stream
                .read_exact(&mut byte)
                .expect("server answers a whole line");
            line.push(byte[0]);
        }
        out.extend_from_slice(&line);
        String::from_utf8_lossy(&line[..line.len() - 2]).into_owned()
    }

    fn read_value(&mut self, out: &mut Vec<u8>) {
        let line = self.read_line(out);
        let (kind, rest) = line.split_at(1);
        let n: i64 = rest.parse().unwrap_or(0);
        match kind {
            "$" | "=" if n >= 0 => {
                let body = self.read_exact(n as usize + 2);
                out.extend_from_slice(&body);
            }
            "*" | "~" | ">" => (0..n.max(0)).for_each(|_| self.read_value(out)),
            "%" => (0..n * 2).for_each(|_| self.read_value(out)),
            _ => {}
        }
    }

    /// True once the server has closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Writes `text` to a config file of this test process's own, named after
/// `test` so tests running at once do not share one; returns its path.
pub fn config_file(test: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pinwheel-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pinwheel.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// A command as a RESP multibulk array.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n{arg}\r\n", arg.len()).bytes());
    }
    out
}

/// True under CI (`CI=true`, which `.ci/run` sets), where a test must not
/// skip for want of a tool.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether `tool` can be used. Outside CI its absence skips the test
/// (saying so); under CI it fails it, since `.ci/run` installs every tool
/// the tests need.
pub fn tool_present(found: bool, tool: &str) -> bool {
    assert!(
        found || !in_ci(),
        "{tool} is missing under CI=true; .ci/run installs it"
    );
    if !found {
        eprintln!("{tool} is not installed: skipping (.ci/run installs it)");
    }
    found
}

/// Whether `program args...` runs and exits 0, checked as [`tool_present`].
pub fn command_present(program: &str, args: &[&str], tool: &str) -> bool {
    let found = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success());
    tool_present(found, tool)
}

/// A redis-server 7 on a free loopback port, killed when dropped.
pub struct RedisServer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl RedisServer {
    /// Starts one; `None` when redis-server is missing outside CI.
    pub fn start() -> Option<RedisServer> {
        if !command_present("redis-server", &["--version"], "redis-server") {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let server = RedisServer { child, addr };
        let deadline = Instant::now() + TIMEOUT;
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key whose group core `core` of `cores` owns, with the default 64
/// groups (the ring is a contract, so the test can compute it).
pub fn key_on_core(core: usize, cores: usize) -> String {
    let ring = pinwheel_runtime::HashRing::new(64);
    (0..)
        .map(|i| format!("on-core-{core}-{i}"))
        .find(|key| pinwheel_runtime::core_of(ring.group_of(key.as_bytes()), cores) == core)
        .expect("some key lives on every core")
}

/// The core serving this connection, from `CLIENT INFO`.
pub fn serving_core(raw: &mut Raw) -> usize {
    let info = raw.cmd(&["CLIENT", "INFO"]);
    info.split_whitespace()
        .find_map(|f| f.strip_prefix("core="))
        .unwrap_or_else(|| panic!("no core in {info}"))
        .parse()
        .unwrap()
}

/// Moves a connection to core `core` of a `cores`-core server the way a
/// client would: by using a key that core owns until the connection is
/// handed there (`HANDOFF_AFTER_COMMANDS` in a row), whichever core the
/// kernel gave it to.
pub fn move_to_core(raw: &mut Raw, core: usize, cores: usize) {
    let key = key_on_core(core, cores);
    let deadline = Instant::now() + TIMEOUT;
    while serving_core(raw) != core {
        assert!(
            Instant::now() < deadline,
            "the connection never moved to core {core}"
        );
        for _ in 0..pinwheel_runtime::HANDOFF_AFTER_COMMANDS {
            raw.cmd(&["INCR", &key]);
        }
    }
}
