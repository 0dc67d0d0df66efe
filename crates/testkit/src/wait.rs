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

#[cfg(test)]
mod tests {
    use super::*;

    // The paused clock: the limits pass at once, the polls counted exactly.
    #[tokio::test(start_paused = true)]
    async fn a_condition_is_polled_until_it_holds_or_the_limit_passes() {
        let mut polls = 0;
        let v = until_sync("the third poll", Duration::from_secs(1), || {
            polls += 1;
            (polls == 3).then_some(polls)
        })
        .await;
        assert_eq!(v, 3);
        let start = Instant::now();
        let never = within_sync(Duration::from_secs(1), || None::<()>).await;
        assert_eq!(never, None);
        assert!(start.elapsed() >= Duration::from_secs(1));
        assert!(start.elapsed() < Duration::from_secs(1) + 2 * POLL);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "gave up waiting after 1s: the impossible")]
    async fn until_names_what_it_waited_for() {
        until("the impossible", Duration::from_secs(1), || async {
            None::<()>
        })
        .await;
    }
}
