//! Cooperative cancellation of long computations (sizing, the solvers).
//!
//! A [`Cancel`] is a shared flag: the gRPC handler creates one per request and keeps a
//! [`CancelOnDrop`] guard in its future, so when the future is dropped (a deadline passed, the
//! client went away, the server timed the request out) the flag goes up. The work, on a
//! blocking thread, checks it between units of bounded size (one sizing, one greedy step, one
//! subgradient iteration, one slice of the MILP) and gives up, so the CPU is released within
//! a fraction of a second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A flag shared by whoever may cancel a computation and the computation itself.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    /// How many times the work saw the flag up and stopped (for tests and metrics).
    observed: AtomicU64,
}

impl Cancel {
    /// A flag that is down.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether the flag is up.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    /// Whether the flag is up; counts the observation, so callers that stop because of it
    /// are seen in [`Cancel::observed`].
    pub fn check(&self) -> bool {
        let up = self.is_cancelled();
        if up {
            self.inner.observed.fetch_add(1, Ordering::Relaxed);
        }
        up
    }

    /// Times a computation saw the flag up and stopped.
    pub fn observed(&self) -> u64 {
        self.inner.observed.load(Ordering::Relaxed)
    }

    /// A guard that raises the flag when dropped, unless [`CancelOnDrop::disarm`]ed.
    pub fn on_drop(&self) -> CancelOnDrop {
        CancelOnDrop {
            cancel: Some(self.clone()),
        }
    }
}

/// Raises its [`Cancel`] flag when dropped: held by a request's future, it cancels the work
/// when the future is dropped before the work is done.
#[derive(Debug)]
pub struct CancelOnDrop {
    cancel: Option<Cancel>,
}

impl CancelOnDrop {
    /// The work finished: dropping the guard no longer cancels anything.
    pub fn disarm(mut self) {
        self.cancel = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.cancel.take() {
            c.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_cancels_unless_disarmed() {
        let c = Cancel::new();
        c.on_drop().disarm();
        assert!(!c.is_cancelled());
        drop(c.on_drop());
        assert!(c.is_cancelled());
        assert_eq!(c.observed(), 0);
        assert!(c.check());
        assert_eq!(c.observed(), 1);
        let copy = c.clone();
        assert!(copy.is_cancelled());
    }
}
