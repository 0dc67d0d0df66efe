//! `inferno-probe`, the images' health check: healthy only on a 2xx answer, unhealthy on any
//! other status, a refused connection or no URL; `--write` says whether a path can be written.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inferno-probe"))
        .args(args)
        .env_remove("INFERNO_PROBE_URL")
        .output()
        .expect("inferno-probe runs")
}

/// A server on 127.0.0.1 answering one request with `status`; its address.
fn answer_once(status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // The whole request head, which may come in several writes: answering after the first
        // and closing made the probe's next write fail now and then (broken pipe).
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
    });
    addr
}

#[test]
fn healthy_only_on_2xx() {
    let ok = probe(&[&format!("http://{}/healthz", answer_once("200 OK"))]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("200 OK"));

    let bad = probe(&[&format!(
        "http://{}/healthz",
        answer_once("503 Service Unavailable")
    )]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("503"),
        "{bad:?}"
    );

    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = probe(&[&format!("http://127.0.0.1:{port}/healthz")]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refused"),
        "{refused:?}"
    );
}

#[test]
fn the_url_comes_from_the_environment_when_not_given() {
    let none = probe(&[]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("INFERNO_PROBE_URL"));

    let out = Command::new(env!("CARGO_BIN_EXE_inferno-probe"))
        .env(
            "INFERNO_PROBE_URL",
            format!("http://{}/", answer_once("204 No Content")),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let https = probe(&["https://127.0.0.1:1/"]);
    assert!(!https.status.success());
    assert!(String::from_utf8_lossy(&https.stderr).contains("only http://"));
}

#[test]
fn write_says_whether_a_path_can_be_written() {
    let dir = std::env::temp_dir().join(format!("inferno-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("x");
    let ok = probe(&["--write", file.to_str().unwrap()]);
    assert!(ok.status.success(), "{ok:?}");
    assert!(!file.exists(), "the probe removes what it wrote");
    let missing = dir.join("no-such-dir/x");
    let failed = probe(&["--write", missing.to_str().unwrap()]);
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("cannot write") && said.contains("as uid"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
