//! Schema checks of single objects, what `kubectl apply --validate=strict` and the API server
//! would reject (and a few things they would accept but that are mistakes here).
//!
//! Each object is decoded into its `k8s-openapi` type (Kubernetes 1.33): a missing required
//! field or a value of the wrong type fails the decoding. The decoded object is encoded again
//! and compared with the original: a field that did not survive is unknown to the type (a
//! typo, or a field at the wrong level). Then names, labels and namespaces are checked as the
//! API server does, and the references inside one object (selectors to template labels, probe
//! and Service ports to container ports, mounts to volumes).

use crate::manifest::Object;
use crate::Problem;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// The kinds this module knows: `(apiVersion, kind, namespaced)`.
pub const KINDS: [(&str, &str, bool); 13] = [
    ("v1", "Namespace", false),
    ("v1", "ServiceAccount", true),
    ("v1", "ConfigMap", true),
    ("v1", "Service", true),
    ("v1", "Pod", true),
    ("apps/v1", "Deployment", true),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", false),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", false),
    ("rbac.authorization.k8s.io/v1", "Role", true),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", true),
    ("coordination.k8s.io/v1", "Lease", true),
    ("v1", "Secret", true),
    ("networking.k8s.io/v1", "NetworkPolicy", true),
];

/// Every problem of one object on its own.
pub fn check(obj: &Object) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut report = |message: String| {
        out.push(Problem::new(&obj.file, obj.id(), message));
    };
    let Some(&(_, _, namespaced)) = KINDS
        .iter()
        .find(|(v, k, _)| *v == obj.api_version() && *k == obj.kind())
    else {
        report(format!(
            "unsupported apiVersion/kind {}/{} (known: {})",
            obj.api_version(),
            obj.kind(),
            KINDS
                .iter()
                .map(|(v, k, _)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return out;
    };
    use k8s_openapi::api::{apps, coordination, core, networking, rbac};
    let decoded = match obj.kind() {
        "Namespace" => strict::<core::v1::Namespace>(&obj.value),
        "ServiceAccount" => strict::<core::v1::ServiceAccount>(&obj.value),
        "ConfigMap" => strict::<core::v1::ConfigMap>(&obj.value),
        "Secret" => strict::<core::v1::Secret>(&obj.value),
        "Service" => strict::<core::v1::Service>(&obj.value),
        "Pod" => strict::<core::v1::Pod>(&obj.value),
        "Deployment" => strict::<apps::v1::Deployment>(&obj.value),
        "ClusterRole" => strict::<rbac::v1::ClusterRole>(&obj.value),
        "ClusterRoleBinding" => strict::<rbac::v1::ClusterRoleBinding>(&obj.value),
        "Role" => strict::<rbac::v1::Role>(&obj.value),
        "RoleBinding" => strict::<rbac::v1::RoleBinding>(&obj.value),
        "NetworkPolicy" => strict::<networking::v1::NetworkPolicy>(&obj.value),
        _ => strict::<coordination::v1::Lease>(&obj.value),
    };
    for e in decoded {
        report(e);
    }
    // k8s-openapi fills absent required fields with defaults: look for them here.
    for path in REQUIRED
        .iter()
        .filter(|(kind, _)| *kind == obj.kind())
        .flat_map(|(_, paths)| paths.iter())
    {
        for missing in missing(&obj.value, path) {
            report(format!("missing required field {missing}"));
        }
    }
    for e in metadata(obj, namespaced) {
        report(e);
    }
    let v = &obj.value;
    let mut errs = Vec::new();
    match obj.kind() {
        "Deployment" => deployment(v, &mut errs),
        "Pod" => pod_spec(&v["spec"], "spec", &mut errs),
        "Service" => service(v, &mut errs),
        "ClusterRoleBinding" | "RoleBinding" => binding(obj, &mut errs),
        _ => {}
    }
    for e in errs {
        report(e);
    }
    out
}

/// Pod spec fields the API server requires (below `spec` of a Pod, `spec.template.spec` of a
/// Deployment).
const POD_REQUIRED: [&str; 8] = [
    "containers",
    "containers[].name",
    "containers[].image",
    "containers[].ports[].containerPort",
    "containers[].env[].name",
    "containers[].volumeMounts[].name",
    "containers[].volumeMounts[].mountPath",
    "volumes[].name",
];

/// Required fields per kind (`[]`: every element of a list), beyond metadata.name.
const REQUIRED: [(&str, &[&str]); 8] = [
    (
        "Deployment",
        &[
            "spec",
            "spec.selector",
            "spec.template",
            "spec.template.spec",
        ],
    ),
    ("Pod", &["spec"]),
    ("NetworkPolicy", &["spec", "spec.podSelector"]),
    ("Service", &["spec.ports[].port"]),
    ("ClusterRole", &["rules[].verbs"]),
    ("Role", &["rules[].verbs"]),
    (
        "ClusterRoleBinding",
        &[
            "roleRef.apiGroup",
            "roleRef.kind",
            "roleRef.name",
            "subjects[].kind",
            "subjects[].name",
        ],
    ),
    (
        "RoleBinding",
        &[
            "roleRef.apiGroup",
            "roleRef.kind",
            "roleRef.name",
            "subjects[].kind",
            "subjects[].name",
        ],
    ),
];

/// The concrete paths matching `path` that are absent or null in `v`; at a pod spec, also
/// those of [`POD_REQUIRED`].
fn missing(v: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    walk(v, path, "", &mut out);
    let pod_spec_at = match (v["kind"].as_str(), path) {
        (Some("Deployment"), "spec.template.spec") | (Some("Pod"), "spec") => Some(path),
        _ => None,
    };
    if let Some(at) = pod_spec_at {
        let spec = at.split('.').fold(v, |v, k| &v[k]);
        if !spec.is_null() {
            for p in POD_REQUIRED {
                walk(spec, p, at, &mut out);
            }
        }
    }
    out
}

fn walk(v: &Value, path: &str, at: &str, out: &mut Vec<String>) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let join = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    if let Some(list) = head.strip_suffix("[]") {
        // Absent lists are not required here; each present element must have the rest.
        if let (Some(items), Some(rest)) = (v[list].as_array(), rest) {
            for (i, item) in items.iter().enumerate() {
                walk(item, rest, &format!("{}[{i}]", join(list)), out);
            }
        }
        return;
    }
    let child = &v[head];
    match rest {
        _ if child.is_null() => out.push(join(head)),
        Some(rest) => walk(child, rest, &join(head), out),
        None => {}
    }
}

/// Decodes `value` as `T`, then reports what did not survive the round trip.
fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> Vec<String> {
    let typed: T = match serde_json::from_value(value.clone()) {
        Ok(t) => t,
        Err(e) => return vec![format!("does not decode: {e}")],
    };
    let back = match serde_json::to_value(&typed) {
        Ok(b) => b,
        Err(e) => return vec![format!("does not encode again: {e}")],
    };
    let mut out = Vec::new();
    lost(value, &back, "", &mut out);
    out
}

/// Fields of `orig` that are absent or different in `back`.
fn lost(orig: &Value, back: &Value, path: &str, out: &mut Vec<String>) {
    let at = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (orig, back) {
        (Value::Object(o), Value::Object(b)) => {
            for (k, v) in o {
                match b.get(k) {
                    Some(bv) => lost(v, bv, &at(k), out),
                    None if v.is_null() => out.push(format!("{}: null value", at(k))),
                    None => out.push(format!("{}: unknown field", at(k))),
                }
            }
        }
        (Value::Array(o), Value::Array(b)) if o.len() == b.len() => {
            for (i, (ov, bv)) in o.iter().zip(b).enumerate() {
                lost(ov, bv, &format!("{path}[{i}]"), out);
            }
        }
        // Quantities and IntOrString accept numbers and keep them as text.
        (Value::Number(n), Value::String(s)) if n.to_string() == *s => {}
        (o, b) if o == b => {}
        (o, b) => out.push(format!("{path}: {o} reads as {b}")),
    }
}

fn metadata(obj: &Object, namespaced: bool) -> Vec<String> {
    let mut out = Vec::new();
    let name = obj.name();
    let name_ok = match obj.kind() {
        "Namespace" => is_dns_label(name),
        "Service" => is_dns1035_label(name),
        "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" => {
            !name.is_empty() && !name.contains(['/', '%'])
        }
        _ => is_dns_subdomain(name),
    };
    if !name_ok {
        out.push(format!(
            "metadata.name {name:?} is not a valid {} name",
            obj.kind()
        ));
    }
    match (namespaced, obj.namespace()) {
        (true, None) => out.push(
            "metadata.namespace is not set: the object would land in the current namespace of \
             whoever applies it"
                .into(),
        ),
        (true, Some(ns)) if !is_dns_label(ns) => out.push(format!(
            "metadata.namespace {ns:?} is not a valid namespace name"
        )),
        (false, Some(ns)) => out.push(format!(
            "metadata.namespace {ns:?} is set on a cluster-scoped kind"
        )),
        _ => {}
    }
    labels(
        &obj.value["metadata"]["labels"],
        "metadata.labels",
        &mut out,
    );
    if let Some(ann) = obj.value["metadata"]["annotations"].as_object() {
        for k in ann.keys() {
            if let Err(e) = label_key(k) {
                out.push(format!("metadata.annotations key {k:?}: {e}"));
            }
        }
    }
    out
}

fn labels(v: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(map) = v.as_object() {
        for (k, val) in map {
            if let Err(e) = label_key(k) {
                out.push(format!("{at} key {k:?}: {e}"));
            }
            match val.as_str() {
                Some(s) if is_label_value(s) => {}
                Some(s) => out.push(format!(
                    "{at}[{k}] = {s:?}: at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends"
                )),
                None => out.push(format!("{at}[{k}] = {val}: must be a string (quote it)")),
            }
        }
    }
}

/// Checks a label or annotation key: optional DNS-subdomain prefix and `/`, then a name of at
/// most 63 characters.
pub fn label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if !is_dns_subdomain(p) {
            return Err(format!("prefix {p:?} is not a DNS subdomain"));
        }
    }
    if name.is_empty() || !is_label_value(name) {
        return Err(format!(
            "name {name:?} must be 1-63 of [A-Za-z0-9_.-], alphanumeric at both ends"
        ));
    }
    Ok(())
}

/// A label value: empty, or at most 63 of `[A-Za-z0-9_.-]` starting and ending alphanumeric.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// RFC 1123 label: at most 63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1035 label (Service names): an RFC 1123 label starting with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// RFC 1123 subdomain: at most 253 characters, dot-separated RFC 1123 labels.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A port name (IANA service name): 1-15 of `[a-z0-9-]` with a letter, no `--`, no `-` at
/// either end.
pub fn is_port_name(s: &str) -> bool {
    is_dns_label(s)
        && s.len() <= 15
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.contains("--")
}

fn deployment(v: &Value, out: &mut Vec<String>) {
    let spec = &v["spec"];
    let selector = &spec["selector"];
    if selector.get("matchExpressions").is_some() {
        out.push("spec.selector.matchExpressions: use matchLabels only".into());
    }
    let template_labels = &spec["template"]["metadata"]["labels"];
    match selector["matchLabels"].as_object() {
        None => out.push("spec.selector.matchLabels is empty".into()),
        Some(m) if m.is_empty() => out.push("spec.selector.matchLabels is empty".into()),
        Some(m) => {
            for (k, val) in m {
                if template_labels[k] != *val {
                    out.push(format!(
                        "spec.selector.matchLabels[{k}] = {val} is not a label of the pod \
                         template: the Deployment would own no pods"
                    ));
                }
            }
        }
    }
    labels(template_labels, "spec.template.metadata.labels", out);
    if let Some(r) = spec["replicas"].as_i64() {
        if r < 0 {
            out.push(format!("spec.replicas = {r} < 0"));
        }
    }
    pod_spec(&spec["template"]["spec"], "spec.template.spec", out);
}

/// The containers of a pod spec (regular and init).
fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers"]
        .into_iter()
        .filter_map(|f| spec[f].as_array())
        .flatten()
}

fn pod_spec(spec: &Value, at: &str, out: &mut Vec<String>) {
    if spec["containers"].as_array().is_none_or(Vec::is_empty) {
        out.push(format!("{at}.containers is empty"));
    }
    let mut volumes = BTreeSet::new();
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let name = v["name"].as_str().unwrap_or("");
        if !is_dns_label(name) {
            out.push(format!(
                "{at}.volumes: name {name:?} is not an RFC 1123 label"
            ));
        }
        if !volumes.insert(name) {
            out.push(format!("{at}.volumes: {name:?} appears twice"));
        }
    }
    let mut names = BTreeSet::new();
    for c in containers(spec) {
        let name = c["name"].as_str().unwrap_or("");
        let at = format!("{at} container {name:?}");
        if !is_dns_label(name) {
            out.push(format!("{at}: the name is not an RFC 1123 label"));
        }
        if !names.insert(name) {
            out.push(format!("{at}: the name appears twice"));
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            out.push(format!("{at}: no image"));
        }
        let mut port_names = BTreeSet::new();
        let mut port_numbers = BTreeSet::new();
        for p in c["ports"].as_array().into_iter().flatten() {
            let number = p["containerPort"].as_i64().unwrap_or(0);
            if !(1..=65535).contains(&number) {
                out.push(format!("{at}: containerPort {number} is not in 1..65535"));
            }
            if !port_numbers.insert(number) {
                out.push(format!("{at}: containerPort {number} appears twice"));
            }
            if let Some(n) = p["name"].as_str() {
                if !is_port_name(n) {
                    out.push(format!("{at}: port name {n:?} is not a valid port name"));
                }
                if !port_names.insert(n.to_string()) {
                    out.push(format!("{at}: port name {n:?} appears twice"));
                }
            }
        }
        let mut env = BTreeSet::new();
        for e in c["env"].as_array().into_iter().flatten() {
            let n = e["name"].as_str().unwrap_or("");
            if !env.insert(n) {
                out.push(format!("{at}: env {n} appears twice"));
            }
            if e.get("value").is_some() && e.get("valueFrom").is_some() {
                out.push(format!("{at}: env {n} has both value and valueFrom"));
            }
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let p = &c[probe];
            if p.is_null() {
                continue;
            }
            let handlers: Vec<&str> = ["httpGet", "grpc", "tcpSocket", "exec"]
                .into_iter()
                .filter(|h| !p[*h].is_null())
                .collect();
            if handlers.len() != 1 {
                out.push(format!(
                    "{at}: {probe} needs exactly one handler, has {handlers:?}"
                ));
            }
            for h in ["httpGet", "grpc", "tcpSocket"] {
                let port = &p[h]["port"];
                if port.is_null() {
                    continue;
                }
                let known = match port {
                    Value::String(s) => port_names.contains(s),
                    Value::Number(n) => port_numbers.contains(&n.as_i64().unwrap_or(0)),
                    _ => false,
                };
                if !known {
                    out.push(format!(
                        "{at}: {probe}.{h}.port {port} is not one of the container's ports"
                    ));
                }
                if h == "grpc" && !port.is_number() {
                    out.push(format!("{at}: {probe}.grpc.port must be a number"));
                }
            }
        }
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let n = m["name"].as_str().unwrap_or("");
            if !volumes.contains(n) {
                out.push(format!(
                    "{at}: volumeMount {n:?} names no volume of the pod"
                ));
            }
        }
    }
}

/// The named and numbered ports of the containers of a pod spec.
pub fn pod_ports(spec: &Value) -> Vec<(Option<String>, i64)> {
    containers(spec)
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .map(|p| {
            (
                p["name"].as_str().map(str::to_string),
                p["containerPort"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

fn service(v: &Value, out: &mut Vec<String>) {
    let spec = &v["spec"];
    if spec["selector"].as_object().is_none_or(|m| m.is_empty()) {
        out.push("spec.selector is empty: the Service would select no pods".into());
    }
    let ports = spec["ports"].as_array().map_or(&[][..], Vec::as_slice);
    if ports.is_empty() {
        out.push("spec.ports is empty".into());
    }
    let mut names = BTreeSet::new();
    for p in ports {
        let name = p["name"].as_str();
        if ports.len() > 1 && name.is_none_or(str::is_empty) {
            out.push("spec.ports: every port needs a name when there are several".into());
        }
        if let Some(n) = name {
            if !names.insert(n) {
                out.push(format!("spec.ports: name {n:?} appears twice"));
            }
        }
    }
}

fn binding(obj: &Object, out: &mut Vec<String>) {
    let v = &obj.value;
    let role_ref = &v["roleRef"];
    if role_ref["apiGroup"] != "rbac.authorization.k8s.io" {
        out.push("roleRef.apiGroup must be rbac.authorization.k8s.io".into());
    }
    let kinds: &[&str] = if obj.kind() == "ClusterRoleBinding" {
        &["ClusterRole"]
    } else {
        &["ClusterRole", "Role"]
    };
    if !kinds.iter().any(|k| role_ref["kind"] == *k) {
        out.push(format!("roleRef.kind must be one of {kinds:?}"));
    }
    let subjects = v["subjects"].as_array().map_or(&[][..], Vec::as_slice);
    if subjects.is_empty() {
        out.push("no subjects".into());
    }
    for s in subjects {
        if s["kind"] == "ServiceAccount" && s["namespace"].as_str().is_none_or(str::is_empty) {
            out.push(format!(
                "subject ServiceAccount {} has no namespace",
                s["name"].as_str().unwrap_or("")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::parse;
    use std::path::Path;

    fn problems(yaml: &str) -> Vec<String> {
        let objs = parse(yaml, Path::new("t.yaml")).unwrap();
        objs.iter().flat_map(check).map(|p| p.message).collect()
    }

    const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: n, labels: {app: d}}
spec:
  replicas: 1
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      volumes: [{name: data, emptyDir: {}}]
      containers:
        - name: c
          image: i
          ports: [{name: http, containerPort: 80}]
          resources: {limits: {cpu: 1, memory: 1Gi}}
          readinessProbe: {httpGet: {path: /, port: http}}
          livenessProbe: {grpc: {port: 80}}
          volumeMounts: [{name: data, mountPath: /d}]
"#;

    #[test]
    fn a_good_deployment_passes() {
        assert_eq!(problems(DEPLOYMENT), Vec::<String>::new());
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_found() {
        let typo = DEPLOYMENT.replace("readinessProbe", "readinesProbe");
        assert_eq!(
            problems(&typo),
            ["spec.template.spec.containers[0].readinesProbe: unknown field"]
        );
        let misplaced =
            DEPLOYMENT.replace("  replicas: 1", "  replicas: 1\n  serviceAccountName: x");
        assert_eq!(
            problems(&misplaced),
            ["spec.serviceAccountName: unknown field"]
        );
        let wrong_type = DEPLOYMENT.replace("replicas: 1", "replicas: one");
        assert!(
            problems(&wrong_type)[0].starts_with("does not decode"),
            "{:?}",
            problems(&wrong_type)
        );
        let no_name = DEPLOYMENT.replace("name: c\n          image", "image");
        assert!(
            problems(&no_name).contains(
                &"missing required field spec.template.spec.containers[0].name".to_string()
            ),
            "{:?}",
            problems(&no_name)
        );
        let bool_label = DEPLOYMENT.replace("labels: {app: d}}", "labels: {app: d, on: true}}");
        assert!(problems(&bool_label)[0].starts_with("does not decode"));
    }

    #[test]
    fn references_inside_the_object_are_checked() {
        let cases = [
            (
                "selector: {matchLabels: {app: d}}",
                "selector: {matchLabels: {app: e}}",
                "is not a label of the pod template",
            ),
            (
                "port: http}",
                "port: web}",
                "readinessProbe.httpGet.port \"web\" is not one of",
            ),
            (
                "grpc: {port: 80}",
                "grpc: {port: 81}",
                "livenessProbe.grpc.port 81",
            ),
            (
                "[{name: data, mountPath",
                "[{name: other, mountPath",
                "volumeMount \"other\" names no volume",
            ),
            ("namespace: n, ", "", "metadata.namespace is not set"),
            (
                "name: http,",
                "name: http_port,",
                "is not a valid port name",
            ),
        ];
        for (from, to, expect) in cases {
            let p = problems(&DEPLOYMENT.replace(from, to));
            assert!(p.iter().any(|m| m.contains(expect)), "{to}: {p:?}");
        }
    }

    #[test]
    fn other_kinds() {
        let ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b}\n";
        assert_eq!(
            problems(ns),
            ["metadata.namespace \"b\" is set on a cluster-scoped kind"]
        );
        let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: 1s, namespace: n}\nspec:\n  ports: [{port: 80}, {port: 81, name: b}]\n";
        let p = problems(svc);
        assert_eq!(p.len(), 3, "{p:?}");
        let crb = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\nsubjects: [{kind: ServiceAccount, name: s}]\n";
        assert_eq!(problems(crb).len(), 2, "{:?}", problems(crb));
        let unknown = "apiVersion: v1\nkind: Widget\nmetadata: {name: w}\n";
        assert!(problems(unknown)[0].starts_with("unsupported apiVersion/kind v1/Widget"));
        let wrong_version = "apiVersion: apps/v1beta1\nkind: Deployment\nmetadata: {name: w}\n";
        assert!(problems(wrong_version)[0].starts_with("unsupported"));
    }

    #[test]
    fn names_and_labels() {
        assert!(is_dns_subdomain("a.b-c"));
        assert!(!is_dns_subdomain("A"));
        assert!(is_dns1035_label("inferno") && !is_dns1035_label("1nferno"));
        assert!(is_port_name("grpc-collector") && !is_port_name("grpc-collector-x"));
        assert!(label_key("inferno.server.allocation.maxbatchsize").is_ok());
        assert!(label_key("app.kubernetes.io/part-of").is_ok());
        assert!(label_key("a/b/c").is_err());
        assert!(is_label_value("") && is_label_value("vllm-001") && !is_label_value("-x"));
    }
}
