//! `inferno-probe`: the health check of Inferno's container images, which have no shell and no
//! curl (Docker's `HEALTHCHECK` runs a command inside the container).
//!
//! - `inferno-probe [URL]`: HTTP GET of `URL` (default: `$INFERNO_PROBE_URL`); exit 0 on a 2xx
//!   answer within 3 s, 1 otherwise, with the reason on stderr. Plain `http://host:port/path`
//!   only: the ops listeners and probes are plain HTTP.
//! - `inferno-probe --write PATH`: creates and removes the file `PATH` and says whether it could,
//!   with the user it runs as; exit 0 when it could. A check of the container's posture (a
//!   read-only root, a non-root user) from inside, as `docker exec` or `kubectl exec` run it.
//!
//! Only the standard library: it ships in every image beside the service's binary.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [flag, path] if flag == "--write" => write(path),
        [url] if !url.starts_with('-') => get(url),
        [] => match std::env::var("INFERNO_PROBE_URL") {
            Ok(url) if !url.is_empty() => get(&url),
            _ => Err("no URL: give one or set INFERNO_PROBE_URL".into()),
        },
        _ => Err("usage: inferno-probe [http://HOST:PORT/PATH] | --write PATH".into()),
    };
    match result {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("inferno-probe: {e}");
            ExitCode::FAILURE
        }
    }
}

/// GET `url`; Ok with the status line on 2xx.
fn get(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{url}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("{url}: {e}"))?;
    // One write: `write!` on a socket may send the request in pieces.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    // The status line is enough; the body may be long (/metrics) or streamed. It may arrive
    // in pieces: read until its end (or 256 bytes, or the end of the answer).
    let mut head = [0u8; 256];
    let mut n = 0;
    while n < head.len() && !head[..n].contains(&b'\n') {
        match stream
            .read(&mut head[n..])
            .map_err(|e| format!("{url}: {e}"))?
        {
            0 => break,
            read => n += read,
        }
    }
    let status_line = String::from_utf8_lossy(&head[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    match status_line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => Ok(format!("{url}: {status_line}")),
        Some(_) => Err(format!("{url}: {status_line}")),
        None => Err(format!("{url}: no HTTP answer")),
    }
}

/// Creates and removes `path`.
fn write(path: &str) -> Result<String, String> {
    let user = uid().unwrap_or_else(|| "unknown".into());
    match std::fs::write(path, b"inferno-probe\n") {
        Ok(()) => {
            let _ = std::fs::remove_file(path);
            Ok(format!("wrote {path} as uid {user}"))
        }
        Err(e) => Err(format!("cannot write {path} as uid {user}: {e}")),
    }
}

/// The real user id, from /proc (no libc binding needed for one number).
fn uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1).map(str::to_string)
}
