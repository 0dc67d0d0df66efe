//! RBAC as sets of permissions: each rule of a Role or ClusterRole expands to atomic
//! `(apiGroup, resource, verb)` permissions, so that two roles compare as sets whatever the
//! grouping of their rules; bindings resolve to the service accounts they grant.

use crate::contract::{EXPECTED_ROLES, WATCH_NAMESPACE_ENV};
use crate::manifest::Object;
use crate::pods::{containers, env_of, pod_spec};
use crate::Problem;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

/// One permission.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// API group (`""` for core).
    pub group: String,
    /// Resource (plural, possibly with a subresource: `deployments/scale`).
    pub resource: String,
    /// Verb.
    pub verb: String,
}

impl Permission {
    /// A permission.
    pub fn new(group: &str, resource: &str, verb: &str) -> Self {
        Self {
            group: group.into(),
            resource: resource.into(),
            verb: verb.into(),
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{} {}/{}", self.verb, group, self.resource)
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// The permissions of a Role or ClusterRole, and the problems of its rules (wildcards,
/// non-resource URLs, rules that grant nothing).
pub fn permissions(role: &Value) -> (BTreeSet<Permission>, Vec<String>) {
    let mut out = BTreeSet::new();
    let mut problems = Vec::new();
    for (i, rule) in role["rules"].as_array().into_iter().flatten().enumerate() {
        let (groups, resources, verbs) = (
            strings(&rule["apiGroups"]),
            strings(&rule["resources"]),
            strings(&rule["verbs"]),
        );
        if [&groups, &resources, &verbs]
            .iter()
            .any(|l| l.iter().any(|s| s.contains('*')))
        {
            problems.push(format!("rules[{i}] uses a wildcard"));
        }
        if !rule["nonResourceURLs"].is_null() {
            problems.push(format!("rules[{i}] grants nonResourceURLs"));
        }
        if groups.is_empty() || resources.is_empty() || verbs.is_empty() {
            problems.push(format!(
                "rules[{i}] grants nothing (empty apiGroups, resources or verbs)"
            ));
        }
        for g in &groups {
            for r in &resources {
                for v in &verbs {
                    out.insert(Permission::new(g, r, v));
                }
            }
        }
    }
    (out, problems)
}

/// The service accounts (`namespace/name`) a RoleBinding or ClusterRoleBinding grants.
pub fn subjects(binding: &Object) -> Vec<String> {
    binding.value["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["kind"] == "ServiceAccount")
        .map(|s| {
            format!(
                "{}/{}",
                s["namespace"]
                    .as_str()
                    .or(binding.namespace())
                    .unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Which role a binding refers to: `(kind, namespace, name)`; a RoleBinding's Role is in the
/// binding's namespace.
pub fn role_ref(binding: &Object) -> (String, Option<String>, String) {
    let r = &binding.value["roleRef"];
    let kind = r["kind"].as_str().unwrap_or("").to_string();
    let ns = (kind == "Role").then(|| binding.namespace().unwrap_or("").to_string());
    (kind, ns, r["name"].as_str().unwrap_or("").to_string())
}

/// Roles grant exactly [`EXPECTED_ROLES`], bound to the intended service accounts only, and
/// every service account a pod uses exists.
pub fn check_rbac(objects: &[Object]) -> Vec<Problem> {
    let mut out = Vec::new();
    let roles: Vec<&Object> = objects
        .iter()
        .filter(|o| matches!(o.kind(), "Role" | "ClusterRole"))
        .collect();
    let accounts: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.kind() == "ServiceAccount")
        .map(|o| format!("{}/{}", o.namespace().unwrap_or(""), o.name()))
        .collect();
    for expected in EXPECTED_ROLES {
        let found = roles.iter().find(|r| {
            r.kind() == expected.kind
                && r.name() == expected.name
                && r.namespace() == expected.namespace
        });
        let Some(role) = found else {
            out.push(Problem::new(
                expected.file,
                format!("{} {}", expected.kind, expected.name),
                "missing",
            ));
            continue;
        };
        let mut report = |m: String| out.push(Problem::new(&role.file, role.id(), m));
        if role.file != Path::new(expected.file) {
            report(format!("expected in {}", expected.file));
        }
        let (have, problems) = permissions(&role.value);
        problems.into_iter().for_each(&mut report);
        let want = expected.permissions();
        for extra in have.difference(&want) {
            report(format!(
                "grants {extra}, which nothing needs (least privilege)"
            ));
        }
        for missing in want.difference(&have) {
            let why = expected
                .needs
                .iter()
                .find(|n| {
                    n.group == missing.group
                        && n.resource == missing.resource
                        && n.verbs.contains(&missing.verb.as_str())
                })
                .map_or("", |n| n.why);
            report(format!("does not grant {missing}, needed by {why}"));
        }
    }
    for r in &roles {
        let known = EXPECTED_ROLES
            .iter()
            .any(|e| e.kind == r.kind() && e.name == r.name() && e.namespace == r.namespace());
        if !known {
            out.push(Problem::new(
                &r.file,
                r.id(),
                "not in contract::EXPECTED_ROLES: say who needs it",
            ));
        }
    }
    for b in objects
        .iter()
        .filter(|o| matches!(o.kind(), "RoleBinding" | "ClusterRoleBinding"))
    {
        let mut report = |m: String| out.push(Problem::new(&b.file, b.id(), m));
        let (kind, ns, name) = role_ref(b);
        let Some(expected) = EXPECTED_ROLES
            .iter()
            .find(|e| e.kind == kind && e.name == name && e.namespace.map(str::to_string) == ns)
        else {
            report(format!(
                "binds {kind} {name}, which is not in contract::EXPECTED_ROLES"
            ));
            continue;
        };
        let subjects = subjects(b);
        if subjects != [expected.subject] {
            report(format!(
                "binds {subjects:?}; {kind} {name} is for {} only",
                expected.subject
            ));
        }
        for s in &subjects {
            if !accounts.contains(s) {
                report(format!("ServiceAccount {s} is not created by any manifest"));
            }
        }
        if b.value["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["kind"] != "ServiceAccount")
        {
            report("only ServiceAccount subjects are expected".into());
        }
    }
    for o in objects {
        let Some(spec) = pod_spec(o) else { continue };
        if let Some(sa) = spec["serviceAccountName"].as_str() {
            let id = format!("{}/{sa}", o.namespace().unwrap_or(""));
            if !accounts.contains(&id) {
                out.push(Problem::new(
                    &o.file,
                    o.id(),
                    format!("ServiceAccount {id} is not created by any manifest"),
                ));
            }
        }
    }
    out
}

/// The namespaces the collector and the actuator of the `inferno` pod work in
/// ([`WATCH_NAMESPACE_ENV`]: the same list on both, or unset on both for all) have their
/// rights: a RoleBinding of Role `inferno` (or ClusterRole `inferno`) for `inferno/inferno` in
/// each, or the ClusterRoleBinding when they watch every namespace.
pub fn check_watch_scope(objects: &[Object]) -> Vec<Problem> {
    let Some(dep) = objects
        .iter()
        .find(|o| o.is("Deployment", Some("inferno"), "inferno"))
    else {
        return Vec::new();
    };
    let Some(spec) = pod_spec(dep) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut report = |m: String| out.push(Problem::new(&dep.file, dep.id(), m));
    let scope = |name: &str| -> Option<BTreeSet<String>> {
        let c = containers(spec).iter().find(|c| c["name"] == name)?;
        let v = env_of(c).get(WATCH_NAMESPACE_ENV).cloned().flatten()?;
        let set: BTreeSet<String> = v
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        (!set.is_empty()).then_some(set)
    };
    let (collector, actuator) = (scope("collector"), scope("actuator"));
    if collector != actuator {
        report(format!(
            "{WATCH_NAMESPACE_ENV}: the collector watches {} but the actuator acts in {}: set \
             the same list on both",
            show(&collector),
            show(&actuator)
        ));
    }
    let account = "inferno/inferno";
    let bound = |kind: &str, ns: Option<&str>| {
        objects.iter().any(|o| {
            o.kind() == kind
                && (ns.is_none() || o.namespace() == ns)
                && subjects(o).iter().any(|s| s == account)
                && matches!(
                    role_ref(o),
                    (k, _, n) if n == "inferno" && (k == "ClusterRole" || k == "Role")
                )
        })
    };
    let cluster_wide = bound("ClusterRoleBinding", None);
    let namespaces: BTreeSet<String> = collector
        .iter()
        .chain(actuator.iter())
        .flatten()
        .cloned()
        .collect();
    if (collector.is_none() || actuator.is_none()) && !cluster_wide {
        report(format!(
            "{WATCH_NAMESPACE_ENV} is unset (all namespaces) but no ClusterRoleBinding \
                 grants ClusterRole inferno to {account} (sa.yaml)"
        ));
    }
    if !cluster_wide {
        for ns in &namespaces {
            if !bound("RoleBinding", Some(ns)) {
                report(format!(
                    "{WATCH_NAMESPACE_ENV} lists {ns} but no RoleBinding there grants Role \
                     inferno to {account} (rbac-namespaced.yaml)"
                ));
            }
        }
    }
    out
}

fn show(scope: &Option<BTreeSet<String>>) -> String {
    match scope {
        None => "all namespaces".into(),
        Some(s) => format!("{:?}", s.iter().collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_expand_to_permissions() {
        let role = json!({"rules": [
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
            {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
        ]});
        let (p, problems) = permissions(&role);
        assert!(problems.is_empty());
        let text: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "list core/events",
                "list core/pods",
                "get apps/deployments",
                "patch apps/deployments"
            ]
        );
        let wild = json!({"rules": [{"apiGroups": ["*"], "resources": ["pods"], "verbs": []},
                                    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]});
        let (_, problems) = permissions(&wild);
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
