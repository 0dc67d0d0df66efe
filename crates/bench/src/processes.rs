//! Child processes of a run (Prometheus and the four Inferno services), each logging to
//! `logs/<name>.log`, killed together at the end.

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// How long a wait for a child polls, and how often: 300 x 100 ms.
const WAIT_ROUNDS: u32 = 300;
const WAIT_STEP: Duration = Duration::from_millis(100);

/// The running processes.
#[derive(Debug)]
pub struct Processes {
    children: Vec<(String, Child)>,
    bin_dir: PathBuf,
    logs: PathBuf,
    kubeconfig: PathBuf,
}

impl Processes {
    /// Processes run from `bin_dir`, logging into `logs`, with `KUBECONFIG=kubeconfig`.
    pub fn new(bin_dir: PathBuf, logs: PathBuf, kubeconfig: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&logs).map_err(|e| Error::Io {
            path: logs.clone(),
            source: e,
        })?;
        Ok(Self {
            children: Vec::new(),
            bin_dir,
            logs,
            kubeconfig,
        })
    }

    /// One of our binaries.
    pub fn binary(&self, name: &str) -> Result<PathBuf> {
        let p = self.bin_dir.join(name);
        if p.exists() {
            Ok(p)
        } else {
            Err(Error::run(
                name,
                format!(
                    "not found in {}: build the binaries first (cargo build --workspace --bins)",
                    self.bin_dir.display()
                ),
            ))
        }
    }

    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }

    /// Starts `program` as `name`.
    pub fn spawn(&mut self, name: &str, program: &Path, args: &[String]) -> Result<()> {
        let log = self.log(name);
        let file = std::fs::File::create(&log).map_err(|e| Error::Io {
            path: log.clone(),
            source: e,
        })?;
        let err = file.try_clone().map_err(|e| Error::Io {
            path: log.clone(),
            source: e,
        })?;
        let child = Command::new(program)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .envs(inferno_demo::stack::child_log_env())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .map_err(|e| Error::run(name, format!("cannot start {}: {e}", program.display())))?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Waits until `addr` accepts connections, or fails when the process died or 30 s passed.
    pub async fn wait_port(&mut self, name: &str, addr: &str) -> Result<()> {
        for _ in 0..WAIT_ROUNDS {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            self.alive(name)?;
            tokio::time::sleep(WAIT_STEP).await;
        }
        Err(self.gave_up(name, &format!("{addr} did not answer")))
    }

    /// Waits until the service `name`, started on port 0, announces its listener; returns the
    /// address (why: `inferno_demo::stack::announced_address`). An error when it exited or said
    /// nothing within 30 s.
    pub async fn wait_serving(&mut self, name: &str) -> Result<String> {
        for _ in 0..WAIT_ROUNDS {
            if let Some(addr) = inferno_demo::stack::announced_address(&self.log(name)) {
                return Ok(addr.to_string());
            }
            self.alive(name)?;
            tokio::time::sleep(WAIT_STEP).await;
        }
        Err(self.gave_up(name, "announced no listener"))
    }

    /// An error naming the exit status and the log when the process `name` has exited.
    fn alive(&mut self, name: &str) -> Result<()> {
        let log = self.log(name);
        match self.children.iter_mut().find(|(n, _)| n == name) {
            Some((_, child)) => match child.try_wait() {
                Ok(Some(status)) => Err(Error::run(
                    name,
                    format!("exited with {status} (log: {})", log.display()),
                )),
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// The error of a wait for `name` that ran out of time.
    fn gave_up(&self, name: &str, what: &str) -> Error {
        Error::run(
            name,
            format!("{what} within 30 s (log: {})", self.log(name).display()),
        )
    }

    /// Names of processes that have exited.
    pub fn exited(&mut self) -> Vec<String> {
        self.children
            .iter_mut()
            .filter_map(|(n, c)| matches!(c.try_wait(), Ok(Some(_))).then(|| n.clone()))
            .collect()
    }

    /// Stops everything.
    pub async fn stop(mut self) {
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill().await;
        }
        self.children.clear();
    }
}

/// A plain HTTP/1.1 GET on loopback; the body of any status, or None when nothing answers
/// within 5 s.
pub async fn http_get(addr: &str, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await.ok()?;
        response.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()?
}

/// A free port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::run("ports", e))
}

/// The `prometheus` binary, when installed (found as the demo finds it).
pub use inferno_demo::stack::prometheus_binary;
