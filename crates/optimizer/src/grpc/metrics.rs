//! Prometheus metrics of the optimizer service, rendered in the text exposition format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the solve-latency histogram buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Counters and gauges of one server process.
#[derive(Debug, Default)]
pub struct Metrics {
    solves: AtomicU64,
    errors: AtomicU64,
    cancelled: AtomicU64,
    rejected: AtomicU64,
    busy: AtomicU64,
    latency: Mutex<Histogram>,
    last: Mutex<Last>,
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Last {
    total_cost: f64,
    placed: u64,
    unplaced: u64,
}

impl Metrics {
    /// Records a successful solve.
    pub fn solved(&self, took: Duration, total_cost: f64, placed: usize, unplaced: usize) {
        self.solves.fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        {
            let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = Last {
            total_cost,
            placed: placed as u64,
            unplaced: unplaced as u64,
        };
    }

    /// Records a failed request (invalid input, deadline, ...).
    pub fn failed(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Solves recorded so far.
    pub fn solve_count(&self) -> u64 {
        self.solves.load(Ordering::Relaxed)
    }

    /// Records a computation that saw its cancellation flag (deadline, client gone) and stopped.
    pub fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    /// Computations stopped by their cancellation flag so far.
    pub fn cancelled_count(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Records servers set aside because their own data is invalid.
    pub fn rejected(&self, servers: usize) {
        self.rejected.fetch_add(servers as u64, Ordering::Relaxed);
    }

    /// Marks a computation running on the blocking pool until the guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Busy(&self.busy)
    }

    /// Computations running now (a cancelled one counts until it has stopped).
    pub fn busy_count(&self) -> u64 {
        self.busy.load(Ordering::Relaxed)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_solves_total Solves completed."
        );
        let _ = writeln!(out, "# TYPE inferno_optimizer_solves_total counter");
        let _ = writeln!(
            out,
            "inferno_optimizer_solves_total {}",
            self.solves.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_errors_total Requests that failed."
        );
        let _ = writeln!(out, "# TYPE inferno_optimizer_errors_total counter");
        let _ = writeln!(
            out,
            "inferno_optimizer_errors_total {}",
            self.errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_cancelled_total Computations stopped early because their \
             request's deadline passed or its client went away."
        );
        let _ = writeln!(out, "# TYPE inferno_optimizer_cancelled_total counter");
        let _ = writeln!(
            out,
            "inferno_optimizer_cancelled_total {}",
            self.cancelled.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_rejected_servers_total Servers left unplaced because their \
             own data is invalid (the others were solved)."
        );
        let _ = writeln!(
            out,
            "# TYPE inferno_optimizer_rejected_servers_total counter"
        );
        let _ = writeln!(
            out,
            "inferno_optimizer_rejected_servers_total {}",
            self.rejected.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_computations_in_flight Solves and queue computations running \
             now."
        );
        let _ = writeln!(out, "# TYPE inferno_optimizer_computations_in_flight gauge");
        let _ = writeln!(
            out,
            "inferno_optimizer_computations_in_flight {}",
            self.busy.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_solve_duration_seconds Time to solve a system."
        );
        let _ = writeln!(
            out,
            "# TYPE inferno_optimizer_solve_duration_seconds histogram"
        );
        for (bound, count) in BUCKETS.iter().zip(h.counts) {
            let _ = writeln!(
                out,
                "inferno_optimizer_solve_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "inferno_optimizer_solve_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "inferno_optimizer_solve_duration_seconds_sum {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "inferno_optimizer_solve_duration_seconds_count {}",
            h.count
        );
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_last_total_cost Total cost of the last solution, cents/hour."
        );
        let _ = writeln!(out, "# TYPE inferno_optimizer_last_total_cost gauge");
        let _ = writeln!(out, "inferno_optimizer_last_total_cost {}", last.total_cost);
        let _ = writeln!(
            out,
            "# HELP inferno_optimizer_last_servers Servers of the last solution by outcome."
        );
        let _ = writeln!(out, "# TYPE inferno_optimizer_last_servers gauge");
        let _ = writeln!(
            out,
            "inferno_optimizer_last_servers{{outcome=\"placed\"}} {}",
            last.placed
        );
        let _ = writeln!(
            out,
            "inferno_optimizer_last_servers{{outcome=\"unplaced\"}} {}",
            last.unplaced
        );
        out
    }
}

/// A computation in flight; dropping it ends it (see [`Metrics::busy`]).
#[derive(Debug)]
pub struct Busy<'a>(&'a AtomicU64);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
