//! Starting, configuring and stopping the server as an operator would.

mod common;

use std::process::Command;

use common::{encode, Server};

fn serve(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pinwheel"))
        .arg("serve")
        .args(args)
        .output()
        .expect("binary runs")
}

#[test]
fn bad_flags_and_settings_exit_2_naming_them() {
    let cases: [(&[&str], &str); 4] = [
        (&["--cores", "abc"], "--cores"),
        (&["--cores", "9999"], "'cores'"),
        (&["--listen", "nowhere"], "--listen"),
        (&["--groups", "0"], "'groups'"),
    ];
    for (args, named) in cases {
        let output = serve(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} should name {named}: {stderr}"
        );
    }
}

#[test]
fn bad_config_file_keys_exit_2_naming_them() {
    let file = common::config_file("config", "listen = \"127.0.0.1:0\"\nmax-bogus = 3\n");
    let output = serve(&["--config", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("max-bogus"), "{stderr}");
    std::fs::write(&file, "cores = \"many\"\n").unwrap();
    let output = serve(&["--config", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let missing = serve(&["--config", "/nonexistent/pinwheel.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn sigterm_answers_what_was_sent_then_exits_0() {
    let server = Server::start(&["--cores", "2"]);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SET", "k", "v"]), "+OK\r\n");
    let mut batch = Vec::new();
    for _ in 0..2000 {
        batch.extend(encode(&["INCR", "n"]));
    }
    raw.send(&batch);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    // Every command sent before the signal was answered.
    for i in 1..=2000 {
        assert_eq!(raw.reply(), format!(":{i}\r\n"));
    }
}

#[test]
fn port_in_use_is_a_clear_failure() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let output = serve(&["--listen", &addr, "--cores", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("cannot listen"), "{stderr}");
}
