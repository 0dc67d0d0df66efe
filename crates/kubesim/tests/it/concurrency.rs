//! 20 kube-rs clients increment a counter annotation on one Deployment concurrently, each
//! write conditioned on the resourceVersion it read (half by merge patch, half by PUT),
//! retrying on 409: no increment is lost and each value was written exactly once.

use super::common::{bounded, deployment, server};
use super::kube_client::client;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kubesim::resource::DEPLOYMENTS;
use kubesim::ChangeType;
use serde_json::json;
use std::collections::BTreeMap;

const CLIENTS: usize = 20;
const INCREMENTS: usize = 5;
const KEY: &str = "test/counter";

async fn increment(api: Api<Deployment>, by_put: bool) -> usize {
    let mut conflicts = 0;
    for _ in 0..INCREMENTS {
        loop {
            let d = api.get("shared").await.unwrap();
            let rv = d.metadata.resource_version.clone().unwrap();
            let n: usize = d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(KEY))
                .map_or(0, |v| v.parse().unwrap());
            let next = (n + 1).to_string();
            let result = if by_put {
                let mut d = d;
                d.metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(KEY.to_string(), next);
                api.replace("shared", &PostParams::default(), &d).await
            } else {
                let patch = json!({"metadata": {"resourceVersion": rv,
                                                "annotations": {KEY: next}}});
                api.patch("shared", &PatchParams::default(), &Patch::Merge(patch))
                    .await
            };
            match result {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    assert_eq!(s.reason, "Conflict");
                    conflicts += 1;
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    }
    conflicts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_writers_lose_nothing() {
    let k = server().await;
    let rv_before = k.store().resource_version();
    let c = client(&k);
    let api = Api::<Deployment>::namespaced(c, "default");
    let d: Deployment = serde_json::from_value(deployment("shared", 1)).unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();

    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            // One client (and connection pool) per writer.
            let api = Api::<Deployment>::namespaced(client(&k), "default");
            tokio::spawn(increment(api, i % 2 == 1))
        })
        .collect();
    let mut conflicts = 0;
    for t in tasks {
        conflicts += bounded("writer", t).await.unwrap();
    }
    let total = CLIENTS * INCREMENTS;
    let d = api.get("shared").await.unwrap();
    assert_eq!(d.metadata.annotations.unwrap()[KEY], total.to_string());
    // Annotations are metadata: the generation did not move.
    assert_eq!(d.metadata.generation, Some(1));
    eprintln!("{total} increments by {CLIENTS} writers, {conflicts} conflicts retried");

    // Every value 1..=total was written exactly once, in order.
    let changes = k.store().changes_since(rv_before).unwrap();
    let mut last = 0;
    for c in changes
        .iter()
        .filter(|c| std::ptr::eq(c.resource, &DEPLOYMENTS) && c.kind == ChangeType::Modified)
    {
        let now: usize = c.object["metadata"]["annotations"][KEY]
            .as_str()
            .map_or(0, |v| v.parse().unwrap());
        let before: usize = c.previous.as_ref().unwrap()["metadata"]["annotations"][KEY]
            .as_str()
            .map_or(0, |v| v.parse().unwrap());
        if now != before {
            assert_eq!((before, now), (last, last + 1));
            last = now;
        }
    }
    assert_eq!(last, total);
}
