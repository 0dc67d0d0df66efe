//! Child processes under a time bound: a command that hangs is killed and fails the test with
//! its command line, instead of holding the test binary forever. Output pipes are drained while
//! the child runs, so a large output cannot block it.

use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Runs `cmd` to its end with `input` on its stdin (else none) and its stdout and stderr
/// captured; panics, the child killed, when it runs longer than `limit`. `cmd` is spent (left
/// as a bare command for the same program), so that a builder chain can be passed as it is.
pub async fn output(cmd: &mut Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    let what = describe(cmd);
    let spent = Command::new(cmd.get_program());
    let mut cmd = tokio::process::Command::from(std::mem::replace(cmd, spent));
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    // Dropping the child when the time is up kills it.
    .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdin = child.stdin.take();
    let feed = async {
        if let (Some(input), Some(mut stdin)) = (input, stdin) {
            stdin
                .write_all(&input)
                .await
                .unwrap_or_else(|e| panic!("{what} reads its input: {e}"));
        }
    };
    let (_, done) = tokio::join!(feed, tokio::time::timeout(limit, child.wait_with_output()));
    match done {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => panic!("`{what}` took longer than {limit:?}"),
    }
}

/// [`output`] for a test that has no runtime of its own.
pub fn output_blocking(cmd: &mut Command, input: Option<Vec<u8>>, limit: Duration) -> Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(output(cmd, input, limit))
}

/// Sends SIGTERM to `child` and waits for it to exit; panics, the child killed, when it is
/// still running after `limit`.
pub async fn terminate(child: &mut Child, limit: Duration) -> ExitStatus {
    // `kill`, the program: signals need no unsafe code that way.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -TERM {} failed", child.id());
    let exited =
        crate::wait::within_sync(limit, || child.try_wait().expect("the child's status")).await;
    exited.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no exit within {limit:?} of SIGTERM");
    })
}

/// A child process killed (and reaped) when dropped, so that a failing test leaves none behind.
#[derive(Debug)]
pub struct Guard(pub Child);

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The command line, for messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_feeds_stdin_and_captures_both_pipes() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo oops >&2"]);
        let out = output(&mut cmd, Some(b"fed".to_vec()), Duration::from_secs(30)).await;
        assert!(out.status.success());
        assert_eq!(out.stdout, b"fed");
        assert_eq!(out.stderr, b"oops\n");
    }

    #[test]
    #[should_panic(expected = "`sleep 30` took longer than 200ms")]
    fn a_command_that_overruns_fails_the_test() {
        output_blocking(
            Command::new("sleep").arg("30"),
            None,
            Duration::from_millis(200),
        );
    }

    #[tokio::test]
    async fn terminate_sends_sigterm_and_waits() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let status = terminate(&mut child, Duration::from_secs(30)).await;
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(15));
    }
}
