//! The live loop: a cycle every period, with the managed Deployments read before and after it,
//! printed as a table (the legend under the first); when the time is up or on shutdown, the
//! summary of the run, with what the servers served read from Prometheus.

use crate::deployed::{self, Deployed};
use crate::display::{self, Measured};
use crate::stack::{Result, Stack};
use crate::summary::{self, Served, Tally};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct Live {
    /// Time between cycles.
    pub period: Duration,
    /// Stop after this long (None: only on shutdown).
    pub deadline: Option<Duration>,
    /// Where the measured values come from.
    pub measured: Measured,
}

/// Runs cycles until the deadline or `shutdown`, printing each, then prints the summary. An
/// error when a cycle could not be invoked (the summary is printed first).
pub async fn run(stack: &Stack, live: &Live, shutdown: impl Future<Output = ()>) -> Result<()> {
    let start = Instant::now();
    let mut tally = Tally::default();
    let result = cycles(stack, live, start, &mut tally, shutdown).await;
    let elapsed = start.elapsed().as_secs_f64();
    let served = served(stack, elapsed).await;
    print!(
        "\n{}",
        summary::render(&tally, elapsed, served.as_ref().map_err(String::as_str))
    );
    result
}

async fn cycles(
    stack: &Stack,
    live: &Live,
    start: Instant,
    tally: &mut Tally,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        let cycle = async {
            let before = deployments(stack).await;
            let report = stack.invoke().await?;
            Ok::<_, crate::stack::Error>((before, report, deployments(stack).await))
        };
        let (before, report, after) = tokio::select! {
            c = cycle => c?,
            () = &mut shutdown => return Ok(()),
        };
        let changes = display::changes(&report, &before, &after);
        let elapsed = start.elapsed().as_secs_f64();
        print!(
            "{}",
            display::render(&report, &before, &changes, &live.measured, elapsed)
        );
        if tally.cycles() == 0 {
            print!("{}", display::legend(&live.measured));
        }
        println!();
        tally.add(&report, &changes, &after);
        if live
            .deadline
            .is_some_and(|d| start.elapsed() + live.period > d)
        {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(live.period) => {}
            () = &mut shutdown => return Ok(()),
        }
    }
}

/// The managed Deployments by server; empty when kubesim does not answer (the table then
/// shows no driven load and the report's replicas).
async fn deployments(stack: &Stack) -> BTreeMap<String, Deployed> {
    stack
        .deployments()
        .await
        .map(|list| deployed::by_server(&list))
        .unwrap_or_default()
}

/// What each Deployment's pods served since the start, from Prometheus; or why not.
async fn served(stack: &Stack, elapsed_s: f64) -> Result<BTreeMap<String, Served>, String> {
    let mut answers = Vec::new();
    // The whole run and a margin: Prometheus' data directory is new with each run.
    for (part, query) in summary::queries("infer", elapsed_s as u64 + 60) {
        let answer = stack
            .prometheus_query(&query)
            .await
            .map_err(|e| e.to_string())?;
        answers.push((part, answer));
    }
    Ok(summary::served(&answers))
}
