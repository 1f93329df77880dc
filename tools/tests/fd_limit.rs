//! max-connections against the open-file limit: a server started with a
//! low `ulimit -n` lowers its connection limit to fit (one warning), so 400
//! clients are each served or refused, none left hanging, and the log
//! stays short; CONFIG SET refuses more than the limit allows.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{encode, Raw, TIMEOUT};

/// A server started with `RLIMIT_NOFILE` set to `soft`/`hard`, its stderr
/// kept in a file.
struct Limited {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Limited {
    fn start(test: &str, soft: u64, hard: u64) -> Limited {
        let log = std::env::temp_dir().join(format!("pinwheel-{test}-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_pinwheel"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--cores",
                "2",
                "--log-level",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        // Safety: only setrlimit, which is async-signal-safe, runs between
        // fork and exec.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("pinwheel runs");
        let deadline = Instant::now() + TIMEOUT;
        let addr = loop {
            let text = std::fs::read_to_string(&log).unwrap();
            if let Some(rest) = text
                .lines()
                .find_map(|l| l.strip_prefix("pinwheel: serving on "))
            {
                break rest.split_whitespace().next().unwrap().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "no start-up line: {text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        Limited { child, addr, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn info_field(raw: &mut Raw, field: &str) -> String {
    let info = raw.cmd(&["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{info}"))
        .trim()
        .to_string()
}

/// What one client got: served, refused with the error, or neither.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Served,
    Refused,
    Other(String),
}

fn try_client(stream: &mut TcpStream) -> Outcome {
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let _ = stream.write_all(&encode(&["PING"]));
    let mut line = String::new();
    match BufReader::new(stream).read_line(&mut line) {
        Ok(_) if line == "+PONG\r\n" => Outcome::Served,
        Ok(_) if line == "-ERR max number of clients reached\r\n" => Outcome::Refused,
        Ok(_) => Outcome::Other(line),
        Err(error) => Outcome::Other(error.to_string()),
    }
}

#[test]
fn a_low_descriptor_limit_lowers_max_connections_and_no_client_hangs() {
    let server = Limited::start("fd-low", 256, 256);
    let mut observer = Raw::connect(server.addr);
    // 256 descriptors, 32 + 8 per core kept: 208 clients.
    assert_eq!(info_field(&mut observer, "maxclients"), "208");
    let log = server.log();
    let lowered: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("max-connections lowered"))
        .collect();
    assert_eq!(lowered.len(), 1, "{log}");
    assert!(
        lowered[0].contains("from 10000 to 208") && lowered[0].contains("ulimit -n"),
        "{log}"
    );

    let mut clients: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect_timeout(&server.addr, TIMEOUT).expect("the kernel queues it"))
        .collect();
    let outcomes: Vec<Outcome> = clients.iter_mut().map(try_client).collect();
    let served = outcomes.iter().filter(|o| **o == Outcome::Served).count();
    let refused = outcomes.iter().filter(|o| **o == Outcome::Refused).count();
    let other: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Other(_)))
        .collect();
    assert!(other.is_empty(), "neither served nor refused: {other:?}");
    assert_eq!(served, 207, "every place the observer leaves is taken");
    assert_eq!(refused, 193);
    // Nobody ran out of descriptors, so no accept failed; whatever the
    // case, the warnings are bounded.
    drop(clients);
    let log = server.log();
    let warnings = log.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 5, "{warnings} warning lines:\n{log}");

    let set = |raw: &mut Raw, n: &str| raw.cmd(&["CONFIG", "SET", "maxclients", n]);
    assert_eq!(
        set(&mut observer, "99999999"),
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 208\r\n"
    );
    assert!(set(&mut observer, "209").contains("try with 208"));
    assert_eq!(set(&mut observer, "208"), "+OK\r\n");
    assert_eq!(set(&mut observer, "100"), "+OK\r\n");
    assert_eq!(info_field(&mut observer, "maxclients"), "100");
}

#[test]
fn the_soft_limit_is_raised_toward_the_hard_one_first() {
    let server = Limited::start("fd-raise", 256, 4096);
    let mut observer = Raw::connect(server.addr);
    assert_eq!(
        info_field(&mut observer, "maxclients"),
        (4096 - 48).to_string()
    );
    let pid = server.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        open_files
            .split_whitespace()
            .filter(|w| *w == "4096")
            .count()
            == 2,
        "{open_files}"
    );
    // CONFIG SET raises it as far as the hard limit allows, no further.
    assert!(observer
        .cmd(&["CONFIG", "SET", "maxclients", "5000"])
        .contains("try with 4048"));
}

#[test]
fn a_hard_limit_with_room_gives_max_connections_untouched() {
    let server = Limited::start("fd-room", 256, 20_000);
    let mut observer = Raw::connect(server.addr);
    assert_eq!(info_field(&mut observer, "maxclients"), "10000");
    let mut log = String::new();
    std::fs::File::open(&server.log)
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!log.contains("max-connections lowered"), "{log}");
}
