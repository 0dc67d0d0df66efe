//! What should run: one server per Running and Ready pod of a managed Deployment, with the
//! model, allocation and load its Deployment's labels say. Pure: objects in, servers out.

use crate::labels;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Prompt tokens of driven requests when neither `.load.intokens` nor `.load.numtokens` is set.
pub(crate) const DEFAULT_IN_TOKENS: u32 = 128;
/// Generated tokens of driven requests when neither `.load.outtokens` nor `.load.numtokens` is
/// set.
pub(crate) const DEFAULT_OUT_TOKENS: u32 = 1024;

/// The internal load one pod's server gets with `--drive`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Drive {
    /// Requests per emulated second: `rpm / 60 / ready pods`.
    pub(crate) rate: f64,
    /// Prompt tokens per request.
    pub(crate) in_tokens: u32,
    /// Generated tokens per request.
    pub(crate) out_tokens: u32,
}

/// One server that should run, for one pod.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PodServer {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) deployment: String,
    /// `inferno.server.model`.
    pub(crate) model: String,
    /// `inferno.server.allocation.accelerator` ("" when missing).
    pub(crate) accelerator: String,
    /// `inferno.server.allocation.maxbatchsize` (0 when missing or not positive).
    pub(crate) max_batch: u32,
    /// The pod's share of the Deployment's load; `None` when `.load.rpm` is missing or <= 0.
    pub(crate) drive: Option<Drive>,
}

impl PodServer {
    /// The server name: `<namespace>/<pod>`.
    pub(crate) fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.pod)
    }
}

/// A listed pod that is being deleted (`metadata.deletionTimestamp` set): Terminating.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Terminating {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) uid: String,
    /// Selected by a managed Deployment: the follower is its kubelet and removes it once its
    /// server (if any) has stopped.
    pub(crate) managed: bool,
}

/// Every server that should run, by name, and what prevented others.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Desired {
    pub(crate) servers: BTreeMap<String, PodServer>,
    /// Every listed pod being deleted, by server name (`<namespace>/<pod>`).
    pub(crate) terminating: BTreeMap<String, Terminating>,
    /// One line per Deployment or pod that was skipped, stable across calls while the cause
    /// stays (so the caller can log each once).
    pub(crate) problems: Vec<String>,
}

/// Running, Ready and not being deleted.
pub(crate) fn is_ready(pod: &Pod) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .as_ref()
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether `labels` satisfy `selector` (matchLabels and matchExpressions); an empty selector
/// matches nothing here (apps/v1 requires a non-empty one).
pub(crate) fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let match_labels = selector.match_labels.as_ref().filter(|m| !m.is_empty());
    let expressions = selector
        .match_expressions
        .as_ref()
        .filter(|e| !e.is_empty());
    if match_labels.is_none() && expressions.is_none() {
        return false;
    }
    let labels_ok = match_labels.is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    let expressions_ok = expressions.is_none_or(|es| {
        es.iter().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
    });
    labels_ok && expressions_ok
}

/// The servers that should run for these managed Deployments and these pods.
///
/// A pod selected by several Deployments belongs to the first by (namespace, name). The rate
/// of each pod is the Deployment's `.load.rpm` / 60 split evenly over its ready pods.
pub(crate) fn desired(deployments: &[Arc<Deployment>], pods: &[Arc<Pod>]) -> Desired {
    let mut deployments: Vec<&Deployment> = deployments
        .iter()
        .map(Arc::as_ref)
        .filter(|d| {
            d.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::MANAGED))
                .is_some_and(|v| v == "true")
        })
        .collect();
    deployments.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    let mut out = Desired::default();
    for p in pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
    {
        let t = Terminating {
            namespace: p.metadata.namespace.clone().unwrap_or_default(),
            pod: p.metadata.name.clone().unwrap_or_default(),
            uid: p.metadata.uid.clone().unwrap_or_default(),
            managed: false,
        };
        out.terminating
            .insert(format!("{}/{}", t.namespace, t.pod), t);
    }
    let mut pods: Vec<&Pod> = pods
        .iter()
        .map(Arc::as_ref)
        .filter(|p| is_ready(p) || p.metadata.deletion_timestamp.is_some())
        .collect();
    pods.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    let empty = BTreeMap::new();
    for d in deployments {
        let namespace = d.metadata.namespace.clone().unwrap_or_default();
        let name = d.metadata.name.clone().unwrap_or_default();
        let l = d.metadata.labels.as_ref().unwrap_or(&empty);
        let Some(model) = l.get(labels::MODEL).filter(|m| !m.trim().is_empty()) else {
            out.problems.push(format!(
                "deployment {namespace}/{name} has no {} label; no servers for it",
                labels::MODEL
            ));
            continue;
        };
        let Some(selector) = d.spec.as_ref().map(|s| &s.selector) else {
            continue;
        };
        let (mine, leaving): (Vec<&Pod>, Vec<&Pod>) = pods
            .iter()
            .copied()
            .filter(|p| p.metadata.namespace.as_deref().unwrap_or_default() == namespace)
            .filter(|p| selects(selector, p.metadata.labels.as_ref().unwrap_or(&empty)))
            .partition(|p| is_ready(p));
        for p in leaving {
            let key = format!(
                "{namespace}/{}",
                p.metadata.name.as_deref().unwrap_or_default()
            );
            if let Some(t) = out.terminating.get_mut(&key) {
                t.managed = true;
            }
        }
        let drive = drive(l, mine.len());
        for p in mine {
            let server = PodServer {
                namespace: namespace.clone(),
                pod: p.metadata.name.clone().unwrap_or_default(),
                deployment: name.clone(),
                model: model.clone(),
                accelerator: l.get(labels::ACCELERATOR).cloned().unwrap_or_default(),
                max_batch: labels::number(l, labels::MAX_BATCH)
                    .filter(|n| *n >= 1.0)
                    .map_or(0, |n| n.min(f64::from(u32::MAX)) as u32),
                drive: drive.clone(),
            };
            let key = server.key();
            match out.servers.get(&key) {
                Some(first) => out.problems.push(format!(
                    "pod {key} is selected by deployments {} and {name}; it follows {}",
                    first.deployment, first.deployment
                )),
                None => {
                    out.servers.insert(key, server);
                }
            }
        }
    }
    out
}

/// The per-pod load of a Deployment with `ready` pods.
fn drive(l: &BTreeMap<String, String>, ready: usize) -> Option<Drive> {
    let rpm = labels::number(l, labels::LOAD_RPM).filter(|r| *r > 0.0)?;
    if ready == 0 {
        return None;
    }
    let num = labels::tokens(l, labels::LOAD_NUM_TOKENS);
    Some(Drive {
        rate: rpm / 60.0 / ready as f64,
        in_tokens: labels::tokens(l, labels::LOAD_IN_TOKENS)
            .or(num)
            .unwrap_or(DEFAULT_IN_TOKENS),
        out_tokens: labels::tokens(l, labels::LOAD_OUT_TOKENS)
            .or(num)
            .unwrap_or(DEFAULT_OUT_TOKENS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(name: &str, extra: serde_json::Value) -> Arc<Deployment> {
        let mut labels = json!({
            "inferno.server.managed": "true",
            "inferno.server.model": "m",
            "inferno.server.allocation.accelerator": "A100",
            "inferno.server.allocation.maxbatchsize": "16",
            "inferno.server.load.rpm": "120",
        });
        for (k, v) in extra.as_object().unwrap() {
            labels[k] = v.clone();
        }
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "labels": labels},
                "spec": {"selector": {"matchLabels": {"app": name}}, "template": {}},
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, app: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "labels": {"app": app}},
                "status": {"phase": if ready { "Running" } else { "Pending" },
                           "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
            }))
            .unwrap(),
        )
    }

    #[test]
    fn one_server_per_ready_pod_with_the_rate_split() {
        let ds = [
            deployment("a", json!({"inferno.server.load.numtokens": "300"})),
            deployment(
                "b",
                json!({"inferno.server.load.intokens": "10", "inferno.server.load.rpm": "0"}),
            ),
        ];
        let ps = [
            pod("a-1", "a", true),
            pod("a-2", "a", true),
            pod("a-3", "a", false),
            pod("b-1", "b", true),
            pod("x-1", "x", true),
        ];
        let d = desired(&ds, &ps);
        assert_eq!(
            d.servers.keys().collect::<Vec<_>>(),
            ["ns/a-1", "ns/a-2", "ns/b-1"]
        );
        let a1 = &d.servers["ns/a-1"];
        assert_eq!((a1.model.as_str(), a1.accelerator.as_str()), ("m", "A100"));
        assert_eq!(a1.max_batch, 16);
        assert_eq!(
            a1.drive,
            Some(Drive {
                rate: 1.0,
                in_tokens: 300,
                out_tokens: 300
            })
        );
        assert_eq!(d.servers["ns/b-1"].drive, None);
        assert!(d.problems.is_empty());
    }

    #[test]
    fn defaults_overlaps_and_missing_models() {
        let ds = [
            deployment("a", json!({"inferno.server.allocation.maxbatchsize": "0"})),
            deployment("b", json!({"inferno.server.model": ""})),
        ];
        let mut twice = (*deployment("c", json!({}))).clone();
        twice.spec.as_mut().unwrap().selector.match_labels =
            Some([("app".to_string(), "a".to_string())].into());
        let ds = [ds[0].clone(), ds[1].clone(), Arc::new(twice)];
        let d = desired(&ds, &[pod("a-1", "a", true), pod("b-1", "b", true)]);
        assert_eq!(d.servers.len(), 1);
        let a = &d.servers["ns/a-1"];
        assert_eq!(a.deployment, "a");
        assert_eq!(a.max_batch, 0);
        let drive = a.drive.as_ref().unwrap();
        assert_eq!((drive.in_tokens, drive.out_tokens), (128, 1024));
        assert_eq!(d.problems.len(), 2, "{:?}", d.problems);
    }

    #[test]
    fn terminating_pods_get_no_server_and_are_listed() {
        let mut leaving = (*pod("a-2", "a", true)).clone();
        leaving.metadata.uid = Some("u-2".into());
        leaving.metadata.deletion_timestamp =
            Some(serde_json::from_value(json!("2030-01-01T00:00:00Z")).unwrap());
        let mut stray = leaving.clone();
        stray.metadata.name = Some("x-1".into());
        stray.metadata.labels = Some([("app".to_string(), "x".to_string())].into());
        let ps = [pod("a-1", "a", true), Arc::new(leaving), Arc::new(stray)];
        let d = desired(&[deployment("a", json!({}))], &ps);
        assert_eq!(d.servers.keys().collect::<Vec<_>>(), ["ns/a-1"]);
        // The rate is split over the ready pods only: the terminating one has left.
        assert_eq!(d.servers["ns/a-1"].drive.as_ref().unwrap().rate, 2.0);
        let t = &d.terminating["ns/a-2"];
        assert_eq!(
            (t.pod.as_str(), t.uid.as_str(), t.managed),
            ("a-2", "u-2", true)
        );
        assert!(
            !d.terminating["ns/x-1"].managed,
            "not selected by a managed deployment"
        );
        assert_eq!(d.terminating.len(), 2);
    }

    #[test]
    fn selectors_with_expressions() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "a"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]},
                                 {"key": "gone", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        let l = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selects(&sel, &l(&[("app", "a"), ("tier", "y")])));
        assert!(!selects(&sel, &l(&[("app", "a"), ("tier", "z")])));
        assert!(!selects(
            &sel,
            &l(&[("app", "a"), ("tier", "x"), ("gone", "1")])
        ));
        assert!(!selects(&LabelSelector::default(), &l(&[("app", "a")])));
    }
}
