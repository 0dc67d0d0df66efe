//! Waiting for a condition instead of sleeping for a guessed time: the check runs at once and
//! then every [`POLL`] until it holds; the limit is a guard that only a broken system reaches,
//! never a timing the test depends on. The clock is tokio's, so the waits also run under a
//! paused clock (`#[tokio::test(start_paused = true)]`).

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How often a condition is checked again.
pub const POLL: Duration = Duration::from_millis(20);

/// Awaits `check` until it returns `Some`, and returns its value; panics naming `what` when
/// `limit` has passed.
pub async fn until<T, F, Fut>(what: &str, limit: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    within(limit, check)
        .await
        .unwrap_or_else(|| panic!("gave up waiting after {limit:?}: {what}"))
}

/// [`until`] that returns `None` when `limit` has passed, for a caller that says more than
/// `what` in its failure (a process's log, the last answer).
pub async fn within<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`until`] for a check that needs no awaiting (it may change what it captures).
pub async fn until_sync<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    until(what, limit, || std::future::ready(check())).await
}

/// [`within`] for a check that needs no awaiting.
pub async fn within_sync<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    within(limit, || std::future::ready(check())).await
}
