//! The real kubectl against a kubeconfig (kubesim's, in our tests), each command bounded.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// kubectl with a kubeconfig; find the binary with [`crate::tools::kubectl`].
#[derive(Debug, Clone)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: Option<PathBuf>,
    cwd: Option<PathBuf>,
    bound: Duration,
    quiet: bool,
}

/// What one kubectl command did.
#[derive(Debug)]
pub struct Out {
    /// Whether it exited successfully.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Out {
    /// The standard output as JSON; panics (showing the output) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("kubectl printed no JSON ({e}): {self:?}"))
    }
}

impl Kubectl {
    /// kubectl `bin` with `kubeconfig`; each command is killed (and fails the test) after 30 s.
    pub fn new(bin: PathBuf, kubeconfig: PathBuf) -> Self {
        Self {
            bin,
            kubeconfig,
            cache: None,
            cwd: None,
            bound: Duration::from_secs(30),
            quiet: false,
        }
    }

    /// Keeps kubectl's discovery cache in `dir` (not in the user's home).
    pub fn cache_dir(mut self, dir: PathBuf) -> Self {
        self.cache = Some(dir);
        self
    }

    /// Runs the commands in `dir` (relative paths in arguments are read from there).
    pub fn current_dir(mut self, dir: PathBuf) -> Self {
        self.cd(dir);
        self
    }

    /// Runs the later commands in `dir`: the `cd` of a README's workflow.
    pub fn cd(&mut self, dir: PathBuf) {
        self.cwd = Some(dir);
    }

    /// The longest one command may take.
    pub fn bound(mut self, bound: Duration) -> Self {
        self.bound = bound;
        self
    }

    /// [`Kubectl::ok`] also requires nothing on stderr (no warning either).
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Runs `kubectl args`.
    pub async fn run(&self, args: &[&str]) -> Out {
        self.run_with_input(args, None).await
    }

    /// [`Kubectl::run`] with `input` on kubectl's stdin (`-f -`).
    pub async fn run_with_input(&self, args: &[&str], input: Option<Vec<u8>>) -> Out {
        let mut cmd = Command::new(&self.bin);
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST");
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(cache) = &self.cache {
            cmd.arg(format!("--cache-dir={}", cache.display()));
        }
        cmd.arg("--request-timeout=15s").args(args);
        let out = crate::process::output(&mut cmd, input, self.bound).await;
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// Runs `kubectl args`, requires success (and with [`Kubectl::quiet`] an empty stderr),
    /// and returns the standard output.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.ok && (!self.quiet || out.stderr.trim().is_empty()),
            "kubectl {} failed: {out:?}",
            args.join(" ")
        );
        out.stdout
    }

    /// [`Kubectl::ok`], the output parsed as JSON.
    pub async fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("no JSON from {args:?} ({e}): {out}"))
    }
}
