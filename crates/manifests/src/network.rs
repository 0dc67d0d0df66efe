//! The NetworkPolicy of the `inferno` pod ([`crate::contract::NETWORK_POLICY`]): it selects the
//! pod, restricts both directions, admits traffic only to the ports the pod serves on its IP
//! (the controller's and the ops listeners, [`Service::pod_port`]) from named sources, and lets
//! the pod open connections only to [`EGRESS_PORTS`] (DNS, the API server, Prometheus).

use crate::contract::{Service, EGRESS_PORTS, NETWORK_POLICY, SERVICES};
use crate::manifest::Object;
use crate::pods::pod_labels;
use crate::Problem;
use serde_json::Value;
use std::collections::BTreeSet;

/// A rule's port as `(number, protocol)`, resolving names against the pod's containerPorts;
/// `Err` says why it cannot be used.
fn rule_port(p: &Value, pod: &[(Option<String>, i64)]) -> Result<(i64, String), String> {
    let protocol = p["protocol"].as_str().unwrap_or("TCP").to_string();
    if !p["endPort"].is_null() {
        return Err(format!(
            "port {} has an endPort: name single ports",
            p["port"]
        ));
    }
    let number = match &p["port"] {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => pod
            .iter()
            .find(|(n, _)| n.as_deref() == Some(name.as_str()))
            .map(|(_, number)| *number),
        Value::Null => return Err("a port entry without port admits every port".into()),
        _ => None,
    };
    number
        .map(|n| (n, protocol))
        .ok_or_else(|| format!("port {} is no port of the inferno pod", p["port"]))
}

/// Whether `s` is a CIDR the API server accepts (`10.0.0.10/32`, `fd00::/8`).
pub fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let (Ok(ip), Ok(bits)) = (ip.parse::<std::net::IpAddr>(), bits.parse::<u8>()) else {
        return false;
    };
    bits <= if ip.is_ipv4() { 32 } else { 128 }
}

/// Problems of the peers (`from` / `to`) of rule `at`: CIDRs the API server would refuse.
fn peers(rule: &Value, field: &str, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (j, peer) in rule[field].as_array().into_iter().flatten().enumerate() {
        let block = &peer["ipBlock"];
        if block.is_null() {
            continue;
        }
        let cidrs =
            std::iter::once(&block["cidr"]).chain(block["except"].as_array().into_iter().flatten());
        for c in cidrs {
            if !c.as_str().is_some_and(is_cidr) {
                out.push(format!(
                    "{at}.{field}[{j}].ipBlock: {c} is not a CIDR (address/bits)"
                ));
            }
        }
    }
    out
}

/// Checks the NetworkPolicy against the `inferno` Deployment in `objects`.
pub fn check_network_policy(objects: &[Object]) -> Vec<Problem> {
    let (file, name) = NETWORK_POLICY;
    let Some(dep) = objects
        .iter()
        .find(|o| o.is("Deployment", Some("inferno"), "inferno"))
    else {
        return Vec::new();
    };
    let Some(np) = objects
        .iter()
        .find(|o| o.is("NetworkPolicy", Some("inferno"), name))
    else {
        return vec![Problem::new(
            file,
            format!("NetworkPolicy inferno/{name}"),
            "missing: nothing restricts who reaches the inferno pod, or where it connects",
        )];
    };
    let mut out = Vec::new();
    let mut report = |m: String| out.push(Problem::new(&np.file, np.id(), m));
    let spec = &np.value["spec"];
    let labels = pod_labels(dep);
    let selector = &spec["podSelector"];
    if selector.get("matchExpressions").is_some() {
        report("podSelector.matchExpressions: use matchLabels only".into());
    }
    match selector["matchLabels"].as_object() {
        Some(m) if !m.is_empty() => {
            for (k, v) in m {
                if labels[k] != *v {
                    report(format!(
                        "podSelector {k}={v} does not select the inferno pods (Deployment \
                         inferno/inferno)"
                    ));
                }
            }
        }
        _ => report(
            "podSelector must name the inferno pods (matchLabels app=inferno), not every pod \
             of the namespace"
                .into(),
        ),
    }
    let types = crate::pods::strings(&spec["policyTypes"]);
    for t in ["Ingress", "Egress"] {
        if !types.iter().any(|x| x == t) {
            report(format!(
                "policyTypes must list {t}: without it every {} connection is allowed",
                t.to_lowercase()
            ));
        }
    }
    let pod_ports = crate::schema::pod_ports(&dep.value["spec"]["template"]["spec"]);
    // Ingress: only the ports served on the pod IP, from named sources.
    let served: Vec<(u16, &Service)> = SERVICES.iter().map(|s| (s.pod_port(), s)).collect();
    let mut admitted = BTreeSet::new();
    for (i, rule) in spec["ingress"].as_array().into_iter().flatten().enumerate() {
        peers(rule, "from", &format!("ingress[{i}]"))
            .into_iter()
            .for_each(&mut report);
        if rule["from"].as_array().is_none_or(Vec::is_empty) {
            report(format!(
                "ingress[{i}] has no from: it admits every source, in and outside the cluster"
            ));
        }
        let ports = rule["ports"].as_array().map_or(&[][..], Vec::as_slice);
        if ports.is_empty() {
            report(format!("ingress[{i}] has no ports: it admits every port"));
        }
        for p in ports {
            match rule_port(p, &pod_ports) {
                Err(e) => report(format!("ingress[{i}]: {e}")),
                Ok((n, proto)) => {
                    if proto != "TCP" {
                        report(format!(
                            "ingress[{i}]: port {n}/{proto}: the pod serves TCP only"
                        ));
                    }
                    if !served.iter().any(|(port, _)| i64::from(*port) == n) {
                        report(format!(
                            "ingress[{i}]: port {n} is not one the pod serves on its IP \
                             (the controller's 3300 and the ops ports)"
                        ));
                    }
                    admitted.insert(n);
                }
            }
        }
    }
    for (port, s) in &served {
        if !admitted.contains(&i64::from(*port)) {
            let who = if s.ops.is_some() {
                "Prometheus cannot scrape its /metrics"
            } else {
                "users and Prometheus cannot reach it"
            };
            report(format!(
                "no ingress rule admits port {port} ({}): {who}",
                s.container
            ));
        }
    }
    // Egress: only DNS, the API server and Prometheus.
    let mut allowed = BTreeSet::new();
    for (i, rule) in spec["egress"].as_array().into_iter().flatten().enumerate() {
        peers(rule, "to", &format!("egress[{i}]"))
            .into_iter()
            .for_each(&mut report);
        let ports = rule["ports"].as_array().map_or(&[][..], Vec::as_slice);
        if ports.is_empty() {
            report(format!("egress[{i}] has no ports: it allows every port"));
        }
        for p in ports {
            match rule_port(p, &[]) {
                Err(e) => report(format!("egress[{i}]: {e}")),
                Ok((n, proto)) => {
                    if !EGRESS_PORTS
                        .iter()
                        .any(|(port, pr, _)| i64::from(*port) == n && *pr == proto)
                    {
                        report(format!(
                            "egress[{i}]: port {n}/{proto} is none of DNS, the API server, \
                             Prometheus (contract::EGRESS_PORTS)"
                        ));
                    }
                    allowed.insert((n, proto));
                }
            }
        }
    }
    for (port, proto, why) in EGRESS_PORTS {
        if !allowed.contains(&(i64::from(port), proto.to_string())) {
            report(format!("no egress rule allows {port}/{proto}: {why}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        for ok in ["0.0.0.0/0", "10.0.0.10/32", "fd00::/8"] {
            assert!(is_cidr(ok), "{ok}");
        }
        for bad in ["10.0.0.10", "10.0.0.10/33", "10.0.0/8", "x/1", "::/129"] {
            assert!(!is_cidr(bad), "{bad}");
        }
    }
}
