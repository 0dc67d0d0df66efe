//! In-process requests through `ServerHandle::complete`: the same timings as HTTP and as the
//! iteration model, the in-flight count, refusals and cut-offs, and `drain`.

use crate::http::spec;
use crate::support::{init_logs, post};
use inferno_emulator::{Error, Host, LoadSpec, PerfParms, ServerSpec, TokenDist};
use inferno_testkit::wait;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// alpha 10 ms, beta 0.01 ms/token, gamma 0.001 ms/KV token.
fn perf() -> PerfParms {
    PerfParms {
        alpha: 10.0,
        beta: 0.01,
        gamma: 0.001,
    }
}

/// A lone request of `p` prompt tokens and `n` output tokens, from admission: the prefill
/// (p tokens computed and read), then n decodes reading contexts p+1 .. p+n (the first token
/// comes with the first decode). Returns (to first token, to last token).
fn alone(perf: PerfParms, p: u32, n: u32) -> (f64, f64) {
    let PerfParms { alpha, beta, gamma } = perf;
    let prefill = alpha + (beta + gamma) * f64::from(p);
    let decode = |j: u32| alpha + beta + gamma * f64::from(p + j);
    let first = prefill + decode(1);
    let last = first + (2..=n).map(decode).sum::<f64>();
    (first, last)
}

#[tokio::test]
async fn complete_matches_http_and_the_iteration_model() {
    init_logs();
    let host = Host::loopback(None);
    let mk = |name: &str| ServerSpec {
        perf: Some(perf()),
        ..spec(name)
    };
    let by_http = host.start_server(mk("by-http")).await.unwrap();
    let in_process = host.start_server(mk("in-process")).await.unwrap();

    let v = post(
        by_http.addr(),
        "/v1/completions",
        r#"{"prompt":"x","prompt_tokens":100,"max_tokens":5}"#,
    )
    .await
    .json();
    let e = &v["emulator"];
    let f = |k: &str| e[k].as_f64().unwrap();
    let c = in_process.complete(100, 5).await.unwrap();
    assert_eq!((c.prompt_tokens, c.completion_tokens), (100, 5));
    assert_eq!(c.preemptions, 0);
    // Arrival stamping differs by at most a boundary; from admission on both are exact.
    let (first, last) = alone(perf(), 100, 5);
    for (ttft, e2e, queue) in [
        (c.ttft_ms, c.e2e_ms, c.queue_ms),
        (f("ttft_ms"), f("e2e_ms"), f("queue_ms")),
    ] {
        assert!((ttft - queue - first).abs() < 1e-9, "{c:?} {e}");
        assert!((e2e - queue - last).abs() < 1e-9, "{c:?} {e}");
    }
    assert!((c.itl_ms - f("itl_ms")).abs() < 1e-9, "{c:?} {e}");
    assert!((c.itl_ms - (last - first) / 4.0).abs() < 1e-9, "{c:?}");
    assert!(
        (c.itl_ms - (c.e2e_ms - c.ttft_ms) / 4.0).abs() < 1e-9,
        "{c:?}"
    );

    // One output token: no inter-token gap.
    let one = in_process.complete(3, 1).await.unwrap();
    let (first, last) = alone(perf(), 3, 1);
    assert_eq!(first, last);
    assert!((one.e2e_ms - one.queue_ms - first).abs() < 1e-9, "{one:?}");
    assert_eq!(one.itl_ms, 0.0);

    // Same metrics as HTTP requests: counted once each, with their tokens.
    let s = in_process.snapshot();
    assert_eq!(
        (s.requests, s.prompt_tokens, s.generation_tokens),
        (2, 103, 6)
    );
    assert_eq!(s.itl.count, 1, "the single-token request has no ITL sample");
    assert!((s.itl.sum - c.itl_ms / 1000.0).abs() < 1e-12, "{:?}", s.itl);
    assert_eq!(by_http.snapshot().requests, 1);
    host.shutdown().await;
}

#[tokio::test]
async fn in_flight_counts_outside_requests_until_they_are_answered() {
    init_logs();
    let host = Host::loopback(None);
    // Real time and a batch cap of 1: the first request (10 s) holds the others in the queue.
    let h = host
        .start_server(ServerSpec {
            max_batch_size: 1,
            time_scale: 1.0,
            ..spec("count")
        })
        .await
        .unwrap();
    assert_eq!(h.in_flight(), 0);
    let first = {
        let h = h.clone();
        tokio::spawn(async move { h.complete(1, 1000).await })
    };
    wait::until("the first request runs", WAIT, || async {
        (h.snapshot().running == 1).then_some(())
    })
    .await;
    let mut queued = Vec::new();
    for _ in 0..2 {
        let h = h.clone();
        queued.push(tokio::spawn(async move { h.complete(2, 3).await }));
    }
    let addr = h.addr();
    let http = tokio::spawn(async move {
        post(
            addr,
            "/v1/completions",
            r#"{"prompt":"a b","max_tokens":3}"#,
        )
        .await
    });
    let s = wait::until("four in flight, three waiting", WAIT, || async {
        let s = h.snapshot();
        (h.in_flight() == 4 && s.waiting == 3).then_some(s)
    })
    .await;
    assert_eq!(s.running, 1);

    // Faster iterations let everything finish; each answered request leaves the count.
    h.set_perf(
        "fast",
        PerfParms {
            alpha: 0.01,
            beta: 0.0,
            gamma: 0.0,
        },
    )
    .unwrap();
    let c = first.await.unwrap().unwrap();
    assert_eq!(c.completion_tokens, 1000);
    assert!(h.in_flight() <= 3);
    for t in queued {
        let c = t.await.unwrap().unwrap();
        assert_eq!(c.completion_tokens, 3);
        assert!(c.queue_ms > 0.0, "{c:?}");
    }
    let r = http.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(h.in_flight(), 0);
    assert_eq!(h.snapshot().requests, 4);

    // The internal load is not counted.
    h.set_max_batch_size(8).unwrap();
    h.start_load(LoadSpec {
        rate: 200.0,
        in_tokens: TokenDist::Fixed(5),
        out_tokens: TokenDist::Fixed(200),
        seed: 2,
    })
    .unwrap();
    wait::until("internal requests running", WAIT, || async {
        let s = h.snapshot();
        assert_eq!(h.in_flight(), 0, "{s:?}");
        (s.running > 0 && s.requests > 10).then_some(())
    })
    .await;
    // `drain` stops the load and waits for every request, outside or internal.
    tokio::time::timeout(WAIT, h.drain())
        .await
        .expect("drained in time")
        .unwrap();
    let s = h.snapshot();
    assert_eq!((s.running, s.waiting, h.in_flight()), (0, 0, 0), "{s:?}");
    assert!(h.load().is_none());
    host.shutdown().await;
}

#[tokio::test]
async fn refusals_and_cut_offs_are_told_apart() {
    init_logs();
    let host = Host::loopback(None);
    let h = host
        .start_server(ServerSpec {
            kv_cache_tokens: 1000,
            time_scale: 1.0,
            ..spec("errors")
        })
        .await
        .unwrap();
    // Never fits: refused at once, nothing queued, nothing counted.
    for (prompt, max_tokens, message) in [
        (990, 20, "maximum context length is 1000"),
        (5, 0, "max_tokens"),
        (0, 5, "prompt"),
    ] {
        match h.complete(prompt, max_tokens).await {
            Err(Error::Refused { server, message: m }) => {
                assert_eq!(server, "errors");
                assert!(m.contains(message), "{m}");
            }
            other => panic!("({prompt}, {max_tokens}): {other:?}"),
        }
    }
    assert_eq!(h.in_flight(), 0);
    assert_eq!(h.snapshot().requests, 0);

    // 500 decodes of 10 ms in real time: still running when the server stops.
    let pending = {
        let h = h.clone();
        tokio::spawn(async move { h.complete(10, 500).await })
    };
    wait::until("the request runs", WAIT, || async {
        (h.in_flight() == 1 && h.snapshot().running == 1).then_some(())
    })
    .await;
    tokio::time::timeout(WAIT, host.stop_server("errors"))
        .await
        .expect("stop is bounded")
        .unwrap();
    let err = pending.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::CutOff(name) if name == "errors"),
        "{err}"
    );
    assert_eq!(h.in_flight(), 0);
    // After the stop: not cut off, refused to start.
    assert!(matches!(h.complete(1, 1).await, Err(Error::Stopped(_))));
}

#[tokio::test]
async fn a_request_that_no_longer_fits_after_a_smaller_batch_cap_is_refused() {
    init_logs();
    let host = Host::loopback(None);
    // Derived KV capacity: 8 x 8192 tokens, then 1 x 8192 after the cap drops to 1.
    let h = host
        .start_server(ServerSpec {
            time_scale: 1.0,
            ..spec("shrink")
        })
        .await
        .unwrap();
    let pending = {
        let h = h.clone();
        tokio::spawn(async move { h.complete(20_000, 1000).await })
    };
    wait::until("the request runs", WAIT, || async {
        (h.snapshot().running == 1).then_some(())
    })
    .await;
    h.set_max_batch_size(1).unwrap();
    let err = tokio::time::timeout(WAIT, pending)
        .await
        .expect("answered")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert_eq!(h.in_flight(), 0);
    host.shutdown().await;
}
