//! Checks of the pods Inferno runs: the `inferno` Deployment and its Services (the users' and
//! the metrics one), the sample inference servers, the load emulator; and the security context
//! and resources they share.

use crate::contract::{
    labels, metrics_ports, ApiAccess, Listen, Service, APP, AUTH_TOKEN_ENV, DATA_CONFIGMAPS,
    IMAGE_PREFIX, LOAD_EMULATOR_FILE, METRICS_SERVICE, NUMERIC_LABELS, REQUIRED_LABELS,
    SCRAPE_ANNOTATIONS, SELECTOR, SERVICES, TOKEN_MOUNT_PATH, TOKEN_VOLUME,
};
use crate::manifest::Object;
use crate::{schema, Problem};
use inferno_core::contract::keys;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The pod spec of a Deployment or Pod.
pub fn pod_spec(o: &Object) -> Option<&Value> {
    match o.kind() {
        "Deployment" => Some(&o.value["spec"]["template"]["spec"]),
        "Pod" => Some(&o.value["spec"]),
        _ => None,
    }
}

/// The pod labels of a Deployment (template) or Pod.
pub fn pod_labels(o: &Object) -> &Value {
    match o.kind() {
        "Deployment" => &o.value["spec"]["template"]["metadata"]["labels"],
        _ => &o.value["metadata"]["labels"],
    }
}

pub(crate) fn containers(spec: &Value) -> &[Value] {
    spec["containers"].as_array().map_or(&[], Vec::as_slice)
}

/// `env` of a container as name -> plain value (`None` for `valueFrom`).
pub fn env_of(container: &Value) -> BTreeMap<String, Option<String>> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or("").to_string(),
                e["value"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| e.get("valueFrom").is_none().then(String::new)),
            )
        })
        .collect()
}

pub(crate) fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `requests` <= `limits` for cpu and memory, both set.
fn resources(c: &Value, out: &mut Vec<String>) {
    for res in ["cpu", "memory"] {
        let req = c["resources"]["requests"][res].as_str().and_then(quantity);
        let lim = c["resources"]["limits"][res].as_str().and_then(quantity);
        match (req, lim) {
            (Some(r), Some(l)) if r <= l => {}
            (Some(_), Some(_)) => out.push(format!("resources: {res} request above its limit")),
            _ => out.push(format!(
                "resources: {res} request and limit must both be set (as strings)"
            )),
        }
    }
}

/// A Kubernetes quantity in base units (`100m` = 0.1, `1Gi` = 2^30).
pub fn quantity(s: &str) -> Option<f64> {
    let suffixes: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("n", 1e-9),
        ("u", 1e-6),
        ("", 1.0),
    ];
    suffixes.iter().find_map(|(suffix, factor)| {
        let number = s.strip_suffix(suffix)?;
        let v: f64 = number.parse().ok()?;
        (v.is_finite() && v >= 0.0).then_some(v * factor)
    })
}

/// The non-root, read-only, no-privilege security context and resources of a pod we run.
pub fn check_pod_security(o: &Object) -> Vec<Problem> {
    let Some(spec) = pod_spec(o) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let sc = &spec["securityContext"];
    if sc["runAsNonRoot"] != true {
        out.push("securityContext.runAsNonRoot must be true".to_string());
    }
    if sc["runAsUser"].as_i64().is_none_or(|u| u == 0) {
        out.push("securityContext.runAsUser must be a non-zero uid".to_string());
    }
    if sc["seccompProfile"]["type"] != "RuntimeDefault" {
        out.push("securityContext.seccompProfile.type must be RuntimeDefault".to_string());
    }
    for c in containers(spec) {
        let name = c["name"].as_str().unwrap_or("");
        let mut errs = Vec::new();
        let csc = &c["securityContext"];
        if csc["allowPrivilegeEscalation"] != false {
            errs.push("securityContext.allowPrivilegeEscalation must be false".to_string());
        }
        if csc["readOnlyRootFilesystem"] != true {
            errs.push("securityContext.readOnlyRootFilesystem must be true".to_string());
        }
        if csc["privileged"] == true {
            errs.push("securityContext.privileged must not be true".to_string());
        }
        if !strings(&csc["capabilities"]["drop"])
            .iter()
            .any(|d| d == "ALL")
        {
            errs.push("securityContext.capabilities.drop must contain ALL".to_string());
        }
        if !strings(&csc["capabilities"]["add"]).is_empty() {
            errs.push("securityContext.capabilities.add must be empty".to_string());
        }
        resources(c, &mut errs);
        out.extend(errs.into_iter().map(|e| format!("container {name}: {e}")));
    }
    out.into_iter()
        .map(|m| Problem::new(&o.file, o.id(), m))
        .collect()
}

fn probe_port(p: &Value, c: &Value) -> Option<i64> {
    let port = ["httpGet", "grpc", "tcpSocket"]
        .iter()
        .map(|h| &p[*h]["port"])
        .find(|v| !v.is_null())?;
    match port {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => c["ports"]
            .as_array()?
            .iter()
            .find(|q| q["name"] == *name.as_str())?["containerPort"]
            .as_i64(),
        _ => None,
    }
}

fn is_loopback(addr: &str) -> bool {
    let host = addr.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn container_ports(c: &Value) -> Vec<(Option<String>, i64)> {
    c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["name"].as_str().map(str::to_string),
                p["containerPort"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

/// Where a container of the `inferno` pod listens: the API on the pod IP (controller) or on
/// loopback only, with its ops listener the one containerPort on the pod IP.
fn check_listeners(s: &Service, c: &Value, env: &BTreeMap<String, Option<String>>) -> Vec<String> {
    let mut errs = Vec::new();
    let ports = container_ports(c);
    match (s.listen, s.ops) {
        (
            Listen::Loopback {
                host_env,
                listen_env,
            },
            Some(ops),
        ) => {
            match env.get(host_env) {
                Some(Some(h)) if is_loopback(h) => {}
                other => errs.push(format!(
                    "env {host_env} must be 127.0.0.1, is {other:?}: its gRPC API (port {}) \
                     stays off the pod IP",
                    s.port
                )),
            }
            if let Some(v) = env.get(listen_env) {
                let host = v
                    .as_deref()
                    .and_then(|a| a.rsplit_once(':'))
                    .map(|(h, _)| h);
                if !host.is_some_and(is_loopback) {
                    errs.push(format!(
                        "env {listen_env} = {v:?}: the gRPC API must listen on loopback in the \
                         pod (a non-loopback address needs a token and a reason)"
                    ));
                }
            }
            if ports.iter().any(|(_, n)| *n == i64::from(s.port)) {
                errs.push(format!(
                    "containerPort {} is its gRPC port, which listens on 127.0.0.1: nothing \
                     reaches it on the pod IP; declare only the ops port {}",
                    s.port, ops.port
                ));
            }
            if ports != [(Some(ops.port_name.to_string()), i64::from(ops.port))] {
                errs.push(format!(
                    "ports {ports:?}, expected one: {} {} (the ops listener)",
                    ops.port_name, ops.port
                ));
            }
            let want = format!("0.0.0.0:{}", ops.port);
            match env.get(ops.env) {
                Some(Some(v)) if *v == want => {}
                other => errs.push(format!(
                    "env {} must be {want:?} (probes and Prometheus reach the pod IP), is \
                     {other:?}",
                    ops.env
                )),
            }
        }
        _ => {
            if ports.iter().map(|(_, n)| *n).collect::<Vec<_>>() != [i64::from(s.port)] {
                errs.push(format!("ports {ports:?}, expected [{}]", s.port));
            }
        }
    }
    errs
}

fn mount<'a>(c: &'a Value, volume: &str) -> Option<&'a Value> {
    c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == volume)
}

fn truthy(v: Option<&Option<String>>) -> bool {
    v.cloned()
        .flatten()
        .is_some_and(|v| !matches!(v.as_str(), "" | "false" | "0" | "no" | "off"))
}

/// Whether container `s` (with environment `env`) calls the API server, and why.
pub fn needs_api(s: &Service, env: &BTreeMap<String, Option<String>>) -> Option<String> {
    match s.api_access {
        ApiAccess::Always(why) => Some(why.to_string()),
        ApiAccess::Never => None,
        ApiAccess::LeaseOrApiData => {
            if truthy(env.get("INFERNO_LEADER_ELECT")) {
                Some("INFERNO_LEADER_ELECT=true: it holds a Lease".into())
            } else if !env.contains_key("INFERNO_DATA_PATH") {
                Some("INFERNO_DATA_PATH is unset: it reads the ConfigMaps through the API".into())
            } else {
                None
            }
        }
    }
}

/// The service-account token: not mounted automatically, but through [`TOKEN_VOLUME`] (laid
/// out as the automatic mount is) into exactly the containers that call the API server.
fn check_token(spec: &Value, cs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    if spec["automountServiceAccountToken"] != false {
        out.push(format!(
            "automountServiceAccountToken must be false: the token goes only into the \
             containers that call the API server (volume {TOKEN_VOLUME})"
        ));
    }
    let volumes: Vec<&Value> = spec["volumes"].as_array().into_iter().flatten().collect();
    let sources = |v: &Value| -> Vec<Value> {
        v["projected"]["sources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for v in &volumes {
        let has_token = sources(v)
            .iter()
            .any(|s| !s["serviceAccountToken"].is_null());
        if has_token && v["name"] != TOKEN_VOLUME {
            out.push(format!(
                "volume {} carries a service-account token; only {TOKEN_VOLUME} should",
                v["name"]
            ));
        }
    }
    let Some(volume) = volumes.iter().find(|v| v["name"] == TOKEN_VOLUME) else {
        out.push(format!(
            "no volume {TOKEN_VOLUME} (projected serviceAccountToken, kube-root-ca.crt, \
             namespace) for the containers that call the API server"
        ));
        return out;
    };
    let srcs = sources(volume);
    let token = srcs.iter().find(|s| !s["serviceAccountToken"].is_null());
    match token.map(|t| &t["serviceAccountToken"]) {
        None => out.push(format!(
            "volume {TOKEN_VOLUME}: no serviceAccountToken source"
        )),
        Some(t) => {
            if t["path"] != "token" {
                out.push(format!(
                    "volume {TOKEN_VOLUME}: serviceAccountToken.path must be token (the \
                     in-cluster config reads {TOKEN_MOUNT_PATH}/token)"
                ));
            }
            if t["audience"].as_str().is_some_and(|a| !a.is_empty()) {
                out.push(format!(
                    "volume {TOKEN_VOLUME}: serviceAccountToken.audience must be unset (the \
                     API server's audience)"
                ));
            }
            if t["expirationSeconds"]
                .as_i64()
                .is_some_and(|e| !(600..=86_400).contains(&e))
            {
                out.push(format!(
                    "volume {TOKEN_VOLUME}: serviceAccountToken.expirationSeconds {} outside \
                     600..=86400 (the API server refuses under 600)",
                    t["expirationSeconds"]
                ));
            }
        }
    }
    let ca = srcs.iter().any(|s| {
        s["configMap"]["name"] == "kube-root-ca.crt"
            && s["configMap"]["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["key"] == "ca.crt" && i["path"] == "ca.crt")
    });
    if !ca {
        out.push(format!(
            "volume {TOKEN_VOLUME}: no configMap kube-root-ca.crt with item ca.crt -> ca.crt \
             (the API server's CA)"
        ));
    }
    let ns = srcs.iter().any(|s| {
        s["downwardAPI"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["path"] == "namespace" && i["fieldRef"]["fieldPath"] == "metadata.namespace")
    });
    if !ns {
        out.push(format!(
            "volume {TOKEN_VOLUME}: no downwardAPI item namespace <- metadata.namespace"
        ));
    }
    for s in SERVICES {
        let Some(c) = cs.iter().find(|c| c["name"] == s.container) else {
            continue;
        };
        let name = s.container;
        let m = mount(c, TOKEN_VOLUME);
        match (needs_api(&s, &env_of(c)), m) {
            (Some(why), None) => out.push(format!(
                "container {name} does not mount {TOKEN_VOLUME} at {TOKEN_MOUNT_PATH}, but it \
                 calls the API server: {why}"
            )),
            (Some(_), Some(m)) => {
                if m["mountPath"] != TOKEN_MOUNT_PATH {
                    out.push(format!(
                        "container {name}: {TOKEN_VOLUME} must be mounted at {TOKEN_MOUNT_PATH} \
                         (where the in-cluster config reads it), not {}",
                        m["mountPath"]
                    ));
                }
                if m["readOnly"] != true {
                    out.push(format!(
                        "container {name}: the {TOKEN_VOLUME} mount must be readOnly"
                    ));
                }
            }
            (None, Some(_)) => out.push(format!(
                "container {name} mounts the service-account token ({TOKEN_VOLUME}) but never \
                 calls the API server"
            )),
            (None, None) => {}
        }
    }
    out
}

/// The optional bearer token ([`AUTH_TOKEN_ENV`]): where set, its file is in a mounted Secret;
/// when a server requires it, the controller (their client) has it too.
fn check_auth_token(spec: &Value, cs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    let secret_volumes: BTreeSet<&str> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| {
            !v["secret"].is_null()
                || v["projected"]["sources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| !s["secret"].is_null())
        })
        .filter_map(|v| v["name"].as_str())
        .collect();
    let mut files = BTreeMap::new();
    for c in cs {
        let name = c["name"].as_str().unwrap_or("");
        let Some(file) = env_of(c).get(AUTH_TOKEN_ENV).cloned() else {
            continue;
        };
        let Some(file) = file.filter(|f| !f.is_empty()) else {
            out.push(format!("container {name}: env {AUTH_TOKEN_ENV} is empty"));
            continue;
        };
        let in_secret = c["volumeMounts"].as_array().into_iter().flatten().any(|m| {
            m["name"]
                .as_str()
                .is_some_and(|v| secret_volumes.contains(v))
                && m["mountPath"].as_str().is_some_and(|at| {
                    std::path::Path::new(&file).starts_with(at.trim_end_matches('/'))
                })
        });
        if !in_secret {
            out.push(format!(
                "container {name}: {AUTH_TOKEN_ENV} {file} is not in a mounted Secret volume"
            ));
        }
        files.insert(name.to_string(), file);
    }
    let servers: Vec<&String> = files.keys().filter(|n| *n != "controller").collect();
    if !servers.is_empty() && !files.contains_key("controller") {
        out.push(format!(
            "{servers:?} require a bearer token ({AUTH_TOKEN_ENV}) but the controller, their \
             client, has none: its calls would be refused (UNAUTHENTICATED)"
        ));
    }
    out
}

/// The `inferno` Deployment and Service: the seed's four containers, ports, variables,
/// probes, data volume, service account and security.
pub fn check_inferno(objects: &[Object]) -> Vec<Problem> {
    let mut out = Vec::new();
    let Some(dep) = objects
        .iter()
        .find(|o| o.is("Deployment", Some("inferno"), "inferno"))
    else {
        return vec![Problem::new(
            "deploy/inferno/deploy.yaml",
            "",
            "no Deployment inferno/inferno",
        )];
    };
    let mut report = |m: String| out.push(Problem::new(&dep.file, dep.id(), m));
    let spec = &dep.value["spec"]["template"]["spec"];
    if pod_labels(dep)["app"] != "inferno" {
        report(
            "the pod template needs label app=inferno (`kubectl get pod -l app=inferno`)".into(),
        );
    }
    let selector = &dep.value["spec"]["selector"];
    if *selector != serde_json::json!({"matchLabels": {SELECTOR.0: SELECTOR.1}}) {
        report(format!(
            "the selector must stay {{matchLabels: {{{}: {}}}}}, is {selector}: a Deployment's \
             selector is immutable, so a changed one breaks `kubectl apply` over an existing \
             install",
            SELECTOR.0, SELECTOR.1
        ));
    }
    let annotations = &dep.value["spec"]["template"]["metadata"]["annotations"];
    for (key, value) in SCRAPE_ANNOTATIONS {
        if annotations[key] != value {
            report(format!(
                "pod template: annotation {key} must be {value:?} (Prometheus discovering pods \
                 by annotation scrapes the controller), is {}",
                annotations[key]
            ));
        }
    }
    if spec["serviceAccountName"] != "inferno" {
        report("serviceAccountName must be inferno".into());
    }
    let cs = containers(spec);
    let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
    let expected: Vec<&str> = SERVICES.iter().map(|s| s.container).collect();
    if names != expected {
        report(format!(
            "containers {names:?}, expected {expected:?} (`kubectl logs -c`)"
        ));
    }
    let leader_elect = cs
        .iter()
        .find(|c| c["name"] == "controller")
        .map(env_of)
        .and_then(|e| e.get("INFERNO_LEADER_ELECT").cloned().flatten())
        .is_some_and(|v| !matches!(v.as_str(), "" | "false" | "0" | "no" | "off"));
    match dep.value["spec"]["replicas"].as_i64() {
        Some(1) => {}
        Some(_) if leader_elect => {}
        r => report(format!(
            "replicas {r:?}: one decision maker unless INFERNO_LEADER_ELECT=true"
        )),
    }
    for s in SERVICES {
        let Some(c) = cs.iter().find(|c| c["name"] == s.container) else {
            continue;
        };
        let env = env_of(c);
        let mut errs = Vec::new();
        if c["image"]
            .as_str()
            .and_then(|i| i.strip_prefix(IMAGE_PREFIX))
            .and_then(|i| i.split(':').next())
            != Some(s.image)
        {
            errs.push(format!("image must be {IMAGE_PREFIX}{}:<version>", s.image));
        }
        if strings(&c["args"]) != s.args {
            errs.push(format!("args must be {:?}", s.args));
        }
        for (k, v) in s.seed_env {
            match env.get(*k) {
                Some(Some(have)) if have == v => {}
                other => errs.push(format!("env {k} must be {v:?} (seed), is {other:?}")),
            }
        }
        errs.extend(check_listeners(&s, c, &env));
        // Every port variable it sets (its own, or a sibling's as a client) is that port.
        for other in SERVICES {
            if let Some(v) = env.get(other.port_env) {
                if v.as_deref() != Some(other.port.to_string().as_str()) {
                    errs.push(format!(
                        "env {} = {v:?}, but {} listens on {}",
                        other.port_env, other.container, other.port
                    ));
                }
            }
        }
        let pod_port = s.pod_port();
        for kind in ["readinessProbe", "livenessProbe"] {
            let p = &c[kind];
            if p.is_null() {
                errs.push(format!("no {kind}"));
                continue;
            }
            if probe_port(p, c) != Some(i64::from(pod_port)) {
                let what = if s.ops.is_some() {
                    "its ops port; the kubelet reaches the pod IP, not the loopback gRPC port"
                } else {
                    "its port"
                };
                errs.push(format!("{kind} is not on port {pod_port} ({what})"));
            }
            let path = if kind == "readinessProbe" {
                s.probes.readiness
            } else {
                s.probes.liveness
            };
            if p["httpGet"]["path"] != path {
                errs.push(format!("{kind} must be httpGet {path}"));
            }
        }
        for e in errs {
            report(format!("container {}: {e}", s.container));
        }
    }
    for m in check_token(spec, cs) {
        report(m);
    }
    for m in check_auth_token(spec, cs) {
        report(m);
    }
    // The data volume: both ConfigMaps, projected, mounted read-only where INFERNO_DATA_PATH
    // points, in the controller only.
    let data_volume = spec["volumes"].as_array().into_iter().flatten().find(|v| {
        let sources: BTreeSet<&str> = v["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["configMap"]["name"].as_str())
            .collect();
        sources == DATA_CONFIGMAPS.into_iter().collect()
    });
    match data_volume {
        None => report(format!(
            "no projected volume of the ConfigMaps {DATA_CONFIGMAPS:?}"
        )),
        Some(v) => {
            if v["projected"]["sources"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["configMap"]["optional"] == true)
            {
                report(
                    "the data ConfigMaps must not be optional: the controller needs them".into(),
                );
            }
            let vname = v["name"].as_str().unwrap_or("");
            for c in cs {
                let cname = c["name"].as_str().unwrap_or("");
                let mount = c["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["name"] == vname);
                let data_path = env_of(c).get("INFERNO_DATA_PATH").cloned().flatten();
                match (cname, mount) {
                    ("controller", None) => report(format!(
                        "container controller does not mount volume {vname}"
                    )),
                    ("controller", Some(m)) => {
                        let at = m["mountPath"].as_str().unwrap_or("");
                        if data_path.as_deref().map(|p| p.trim_end_matches('/'))
                            != Some(at.trim_end_matches('/'))
                        {
                            report(format!(
                                "container controller: INFERNO_DATA_PATH {data_path:?} is not the mount path {at}"
                            ));
                        }
                        if m["readOnly"] != true {
                            report("container controller: the data mount must be readOnly".into());
                        }
                    }
                    (other, Some(_)) => report(format!(
                        "container {other} mounts the data volume; only the controller reads it"
                    )),
                    _ => {}
                }
            }
        }
    }
    out.extend(check_pod_security(dep));
    // The Service for users: port 80 (and 3300) to the controller's port.
    match objects
        .iter()
        .find(|o| o.is("Service", Some("inferno"), "inferno"))
    {
        None => out.push(Problem::new(
            &dep.file,
            "Service inferno/inferno",
            "missing: users reach the controller through it",
        )),
        Some(svc) => {
            let mut report = |m: String| out.push(Problem::new(&svc.file, svc.id(), m));
            let labels = pod_labels(dep);
            for (k, v) in svc.value["spec"]["selector"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if labels[k] != *v {
                    report(format!("selector {k}={v} does not select the inferno pods"));
                }
            }
            let ports = schema::pod_ports(spec);
            let mut to_controller = BTreeSet::new();
            for p in svc.value["spec"]["ports"].as_array().into_iter().flatten() {
                let port = p["port"].as_i64().unwrap_or(0);
                let target = match &p["targetPort"] {
                    Value::Null => Some(port),
                    Value::Number(n) => n.as_i64(),
                    Value::String(name) => ports
                        .iter()
                        .find(|(n, _)| n.as_deref() == Some(name.as_str()))
                        .map(|(_, number)| *number),
                    _ => None,
                };
                match target {
                    Some(t) if ports.iter().any(|(_, n)| *n == t) => {
                        if t == 3300 {
                            to_controller.insert(port);
                        }
                    }
                    _ => report(format!(
                        "port {port}: targetPort {} is no port of the inferno pod",
                        p["targetPort"]
                    )),
                }
            }
            if !to_controller.contains(&80) {
                report("no port 80 to the controller's 3300".into());
            }
        }
    }
    out
}

/// The Service [`METRICS_SERVICE`]: labelled for a ServiceMonitor (name inferno, component
/// metrics), selecting the inferno pods, with exactly the ports of [`metrics_ports`], each
/// named as the container port it targets by that name.
pub fn check_metrics(objects: &[Object]) -> Vec<Problem> {
    let Some(dep) = objects
        .iter()
        .find(|o| o.is("Deployment", Some("inferno"), "inferno"))
    else {
        return Vec::new();
    };
    let Some(svc) = objects
        .iter()
        .find(|o| o.is("Service", Some("inferno"), METRICS_SERVICE))
    else {
        return vec![Problem::new(
            &dep.file,
            format!("Service inferno/{METRICS_SERVICE}"),
            "missing: a ServiceMonitor scrapes the pod's four /metrics through it",
        )];
    };
    let mut out = Vec::new();
    let mut report = |m: String| out.push(Problem::new(&svc.file, svc.id(), m));
    let component = crate::contract::component("Service", METRICS_SERVICE);
    for (key, value) in [(labels::NAME, Some(APP)), (labels::COMPONENT, component)] {
        if svc.label(key) != value {
            report(format!(
                "label {key} must be {:?} (what the ServiceMonitor selects)",
                value.unwrap_or_default()
            ));
        }
    }
    let pod = pod_labels(dep);
    let selector = svc.value["spec"]["selector"].as_object();
    if selector.is_none_or(|s| s.is_empty() || s.iter().any(|(k, v)| pod[k] != *v)) {
        report("its selector does not select the inferno pods".into());
    }
    let container_ports = schema::pod_ports(&dep.value["spec"]["template"]["spec"]);
    let mut have = Vec::new();
    for p in svc.value["spec"]["ports"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or("");
        let port = p["port"].as_u64().unwrap_or(0);
        have.push((name.to_string(), port));
        if p["targetPort"] != name {
            report(format!(
                "port {name}: targetPort must be the container port's name {name:?}, is {}",
                p["targetPort"]
            ));
        }
        if !container_ports.iter().any(|(n, number)| {
            n.as_deref() == Some(name) && u64::try_from(*number).ok() == Some(port)
        }) {
            report(format!(
                "port {name} ({port}) is no container port of that name and number"
            ));
        }
    }
    let want: Vec<(String, u64)> = metrics_ports()
        .into_iter()
        .map(|(n, p)| (n.to_string(), u64::from(p)))
        .collect();
    if have != want {
        report(format!(
            "ports {have:?}, expected {want:?} (the controller's and the ops ports, named as \
             the container ports)"
        ));
    }
    out
}

fn model_perf<'a>(model_data: &'a Value, model: &str, acc: &str) -> Option<&'a Value> {
    model_data["models"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == model && m["acc"] == acc)
        .map(|m| &m["perfParms"])
}

/// The managed inference-server Deployments: labels the collector reads, distinct selectors,
/// and (for the emulated vLLM image) an emulation of exactly the labelled allocation.
pub fn check_samples(objects: &[Object], model_data: Option<&Value>) -> Vec<Problem> {
    let mut out = Vec::new();
    let managed: Vec<&Object> = objects
        .iter()
        .filter(|o| o.kind() == "Deployment" && o.label(keys::MANAGED).is_some())
        .collect();
    let mut names: BTreeMap<&str, &Object> = BTreeMap::new();
    for (i, o) in managed.iter().enumerate() {
        let mut report = |m: String| out.push(Problem::new(&o.file, o.id(), m));
        if o.label(keys::MANAGED) != Some("true") {
            report(format!("label {} must be \"true\"", keys::MANAGED));
        }
        for l in REQUIRED_LABELS {
            if o.label(l).is_none_or(str::is_empty) {
                report(format!("label {l} is required"));
            }
        }
        for (l, integer) in NUMERIC_LABELS {
            if let Some(v) = o.label(l) {
                let ok = if integer {
                    v.parse::<u32>().is_ok()
                } else {
                    v.parse::<f64>().is_ok_and(|x| x.is_finite() && x >= 0.0)
                };
                if !ok {
                    report(format!("label {l} = {v:?} is not a valid number"));
                }
            }
        }
        if let Some(n) = o.label(keys::NAME) {
            if let Some(first) = names.insert(n, o) {
                report(format!("{} {n} is also used by {}", keys::NAME, first.id()));
            }
        }
        // Distinct selectors: no other Deployment's selector picks these pods.
        for other in &managed[i + 1..] {
            if other.namespace() != o.namespace() {
                continue;
            }
            for (a, b) in [(*o, *other), (*other, *o)] {
                let sel = a.value["spec"]["selector"]["matchLabels"].as_object();
                let labels = pod_labels(b);
                if sel.is_some_and(|s| s.iter().all(|(k, v)| labels[k] == *v)) {
                    report(format!(
                        "the selector of {} also selects the pods of {}",
                        a.id(),
                        b.id()
                    ));
                }
            }
        }
        if let Some(spec) = pod_spec(o) {
            let emulated_only = !containers(spec).is_empty()
                && containers(spec).iter().all(|c| {
                    c["image"]
                        .as_str()
                        .is_some_and(|i| i.starts_with(&format!("{IMAGE_PREFIX}vllm-emulator:")))
                });
            if emulated_only && spec["automountServiceAccountToken"] != false {
                report(
                    "automountServiceAccountToken must be false: the emulated vLLM server never \
                     calls the API server"
                        .into(),
                );
            }
            for c in containers(spec) {
                if c["readinessProbe"].is_null() || c["livenessProbe"].is_null() {
                    report(format!(
                        "container {}: readiness and liveness probes are required",
                        c["name"].as_str().unwrap_or("")
                    ));
                }
                if c["image"]
                    .as_str()
                    .is_some_and(|i| i.starts_with(&format!("{IMAGE_PREFIX}vllm-emulator:")))
                {
                    for e in emulated(o, c, model_data) {
                        report(format!(
                            "container {}: {e}",
                            c["name"].as_str().unwrap_or("")
                        ));
                    }
                }
            }
        }
        out.extend(check_pod_security(o));
    }
    out
}

/// The emulated server of a sample runs the allocation its labels describe.
fn emulated(o: &Object, c: &Value, model_data: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let labels = pod_labels(o);
    // A variable's value: plain, or the pod label it takes through the downward API.
    let value = |name: &str| -> Option<String> {
        let e = c["env"].as_array()?.iter().find(|e| e["name"] == name)?;
        if let Some(v) = e["value"].as_str() {
            return Some(v.to_string());
        }
        let path = e["valueFrom"]["fieldRef"]["fieldPath"].as_str()?;
        let key = path.strip_prefix("metadata.labels['")?.strip_suffix("']")?;
        labels[key].as_str().map(str::to_string)
    };
    let must_equal = |out: &mut Vec<String>, var: &str, label: &str| {
        let want = o.label(label);
        if value(var).as_deref() != want {
            out.push(format!(
                "{var} = {:?}, the label {label} is {want:?}",
                value(var)
            ));
        }
    };
    must_equal(&mut out, "INFERNO_EMULATOR_NAME", keys::NAME);
    must_equal(&mut out, "INFERNO_EMULATOR_MODEL", keys::MODEL);
    must_equal(&mut out, "INFERNO_EMULATOR_ACCELERATOR", keys::ACCELERATOR);
    must_equal(&mut out, "INFERNO_EMULATOR_MAX_BATCH_SIZE", keys::MAX_BATCH);
    must_equal(&mut out, "INFERNO_EMULATOR_IN_TOKENS", keys::LOAD_IN);
    must_equal(&mut out, "INFERNO_EMULATOR_OUT_TOKENS", keys::LOAD_OUT);
    if value("INFERNO_EMULATOR_HOST").as_deref() != Some("0.0.0.0") {
        out.push("INFERNO_EMULATOR_HOST must be 0.0.0.0 (the default, loopback, is unreachable from other pods)".into());
    }
    let port = value("INFERNO_EMULATOR_PORT").and_then(|p| p.parse::<i64>().ok());
    let ports: Vec<i64> = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    if port.is_none() || ports != [port.unwrap_or(0)] {
        out.push(format!(
            "INFERNO_EMULATOR_PORT {port:?} must be the one containerPort {ports:?}"
        ));
    }
    for kind in ["readinessProbe", "livenessProbe"] {
        let p = &c[kind];
        if p["httpGet"]["path"] != "/health" || probe_port(p, c) != port {
            out.push(format!(
                "{kind} must be httpGet /health on the server's port"
            ));
        }
    }
    // Internal load: rpm / 60 / replicas requests per second, within 1%.
    let rate = value("INFERNO_EMULATOR_RATE").and_then(|r| r.parse::<f64>().ok());
    let rpm = o.label(keys::LOAD_RPM).and_then(|r| r.parse::<f64>().ok());
    let replicas = o.value["spec"]["replicas"].as_f64().unwrap_or(1.0).max(1.0);
    if let (Some(rate), Some(rpm)) = (rate, rpm) {
        let want = rpm / 60.0 / replicas;
        if (rate - want).abs() > 0.01 * want {
            out.push(format!(
                "INFERNO_EMULATOR_RATE {rate} is not load.rpm / 60 / replicas = {want:.4}"
            ));
        }
    }
    if let Some(md) = model_data {
        let (model, acc) = (
            o.label(keys::MODEL).unwrap_or(""),
            o.label(keys::ACCELERATOR).unwrap_or(""),
        );
        match model_perf(md, model, acc) {
            None => out.push(format!(
                "samples/large/model-data.json has no {model} on {acc}"
            )),
            Some(perf) => {
                for p in ["alpha", "beta", "gamma"] {
                    let var = format!("INFERNO_EMULATOR_{}", p.to_ascii_uppercase());
                    let have = value(&var).and_then(|v| v.parse::<f64>().ok());
                    if have != perf[p].as_f64() {
                        out.push(format!(
                            "{var} = {have:?}, samples/large/model-data.json has {} for {model} on {acc}",
                            perf[p]
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The load emulator: Pod `load-emulator` in `inferno` with its own service account.
pub fn check_load_emulator(objects: &[Object]) -> Vec<Problem> {
    let Some(pod) = objects
        .iter()
        .find(|o| o.is("Pod", Some("inferno"), "load-emulator"))
    else {
        return vec![Problem::new(
            LOAD_EMULATOR_FILE,
            "",
            "no Pod inferno/load-emulator (`kubectl logs -f load-emulator -n inferno`)",
        )];
    };
    let mut out = check_pod_security(pod);
    let spec = &pod.value["spec"];
    if spec["serviceAccountName"] != "load-emulator" {
        out.push(Problem::new(
            &pod.file,
            pod.id(),
            "serviceAccountName must be load-emulator (its own rights: it updates Deployments)",
        ));
    }
    // Its rights cover the namespaces it changes: a RoleBinding in each, or a
    // ClusterRoleBinding when it changes all.
    let namespaces: Vec<String> = containers(spec)
        .iter()
        .filter_map(|c| env_of(c).get("INFERNO_LOAD_NAMESPACES").cloned().flatten())
        .flat_map(|v| {
            v.split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
        })
        .collect();
    let bound_in = |kind: &str, ns: Option<&str>| {
        objects.iter().any(|o| {
            o.kind() == kind
                && (ns.is_none() || o.namespace() == ns)
                && crate::rbac::subjects(o)
                    .iter()
                    .any(|s| s == "inferno/load-emulator")
        })
    };
    if namespaces.is_empty() {
        if !bound_in("ClusterRoleBinding", None) {
            out.push(Problem::new(
                &pod.file,
                pod.id(),
                "it changes all namespaces (INFERNO_LOAD_NAMESPACES empty) but has no ClusterRoleBinding",
            ));
        }
    } else {
        for ns in &namespaces {
            if !bound_in("RoleBinding", Some(ns)) {
                out.push(Problem::new(
                    &pod.file,
                    pod.id(),
                    format!("it changes namespace {ns} but has no RoleBinding there"),
                ));
            }
        }
    }
    let images: Vec<&str> = containers(spec)
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    if images.len() != 1 || !images[0].starts_with(&format!("{IMAGE_PREFIX}load-emulator:")) {
        out.push(Problem::new(
            &pod.file,
            pod.id(),
            format!(
                "one container of image {IMAGE_PREFIX}load-emulator expected, found {images:?}"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(quantity("100m"), Some(0.1));
        assert_eq!(quantity("1"), Some(1.0));
        assert_eq!(quantity("64Mi"), Some(64.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("1G"), Some(1e9));
        assert!(quantity("1Gi").unwrap() > quantity("1G").unwrap());
        assert_eq!(quantity("lots"), None);
        assert_eq!(quantity("-1"), None);
    }
}
