//! The resource types kubesim serves: one static descriptor per type, used by discovery, routing,
//! storage and validation alike.

/// A resource type: what discovery advertises and what the store keys objects by.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Plural lower-case name used in URLs (`deployments`).
    pub plural: &'static str,
    /// Singular lower-case name (`deployment`).
    pub singular: &'static str,
    /// Object kind (`Deployment`).
    pub kind: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`deploy`).
    pub short_names: &'static [&'static str],
    /// Categories (`all`).
    pub categories: &'static [&'static str],
    /// Whether the type has a `status` subresource (updates of the main resource keep status).
    pub status: bool,
    /// Whether the type has a `scale` subresource.
    pub scale: bool,
    /// Whether `metadata.generation` tracks changes of `spec`.
    pub generation: bool,
}

impl ResourceType {
    /// `apiVersion` of objects of this type (`apps/v1`, or `v1` for the core group).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name used in error messages: `deployments.apps`, or `pods` for the core group.
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Kind of the list object (`DeploymentList`).
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

macro_rules! resource {
    ($name:ident, $group:literal, $plural:literal, $singular:literal, $kind:literal,
     namespaced: $ns:literal, short: [$($short:literal),*], categories: [$($cat:literal),*],
     status: $status:literal, scale: $scale:literal, generation: $generation:literal) => {
        resource!($name, $group, "v1", $plural, $singular, $kind, namespaced: $ns,
            short: [$($short),*], categories: [$($cat),*], status: $status, scale: $scale,
            generation: $generation);
    };
    ($name:ident, $group:literal, $version:literal, $plural:literal, $singular:literal,
     $kind:literal, namespaced: $ns:literal, short: [$($short:literal),*],
     categories: [$($cat:literal),*], status: $status:literal, scale: $scale:literal,
     generation: $generation:literal) => {
        #[doc = concat!("`", $plural, "` (", $kind, ").")]
        pub static $name: ResourceType = ResourceType {
            group: $group,
            version: $version,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            namespaced: $ns,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            status: $status,
            scale: $scale,
            generation: $generation,
        };
    };
}

resource!(NAMESPACES, "", "namespaces", "namespace", "Namespace", namespaced: false,
    short: ["ns"], categories: [], status: true, scale: false, generation: false);
resource!(PODS, "", "pods", "pod", "Pod", namespaced: true,
    short: ["po"], categories: ["all"], status: true, scale: false, generation: false);
resource!(CONFIGMAPS, "", "configmaps", "configmap", "ConfigMap", namespaced: true,
    short: ["cm"], categories: [], status: false, scale: false, generation: false);
resource!(EVENTS, "", "events", "event", "Event", namespaced: true,
    short: ["ev"], categories: [], status: false, scale: false, generation: false);
resource!(SECRETS, "", "secrets", "secret", "Secret", namespaced: true,
    short: [], categories: [], status: false, scale: false, generation: false);
resource!(SERVICES, "", "services", "service", "Service", namespaced: true,
    short: ["svc"], categories: ["all"], status: true, scale: false, generation: false);
resource!(SERVICE_ACCOUNTS, "", "serviceaccounts", "serviceaccount", "ServiceAccount",
    namespaced: true, short: ["sa"], categories: [], status: false, scale: false,
    generation: false);
resource!(EVENTS_V1, "events.k8s.io", "events", "event", "Event", namespaced: true,
    short: ["ev"], categories: [], status: false, scale: false, generation: false);
resource!(DEPLOYMENTS, "apps", "deployments", "deployment", "Deployment", namespaced: true,
    short: ["deploy"], categories: ["all"], status: true, scale: true, generation: true);
resource!(REPLICA_SETS, "apps", "replicasets", "replicaset", "ReplicaSet", namespaced: true,
    short: ["rs"], categories: ["all"], status: true, scale: true, generation: true);
// autoscaling/v2 only: the HPA kubesim's HPA controller (`crate::hpa`) runs; `autoscaling/v1`
// stays the kind of the scale subresource's `Scale`, as in a real server.
resource!(HORIZONTAL_POD_AUTOSCALERS, "autoscaling", "v2", "horizontalpodautoscalers",
    "horizontalpodautoscaler", "HorizontalPodAutoscaler", namespaced: true, short: ["hpa"],
    categories: ["all"], status: true, scale: false, generation: true);
resource!(LEASES, "coordination.k8s.io", "leases", "lease", "Lease", namespaced: true,
    short: [], categories: [], status: false, scale: false, generation: false);
resource!(NETWORK_POLICIES, "networking.k8s.io", "networkpolicies", "networkpolicy",
    "NetworkPolicy", namespaced: true, short: ["netpol"], categories: [], status: false,
    scale: false, generation: true);
resource!(CLUSTER_ROLES, "rbac.authorization.k8s.io", "clusterroles", "clusterrole",
    "ClusterRole", namespaced: false, short: [], categories: [], status: false, scale: false,
    generation: false);
resource!(CLUSTER_ROLE_BINDINGS, "rbac.authorization.k8s.io", "clusterrolebindings",
    "clusterrolebinding", "ClusterRoleBinding", namespaced: false, short: [], categories: [],
    status: false, scale: false, generation: false);
resource!(ROLES, "rbac.authorization.k8s.io", "roles", "role", "Role", namespaced: true,
    short: [], categories: [], status: false, scale: false, generation: false);
resource!(ROLE_BINDINGS, "rbac.authorization.k8s.io", "rolebindings", "rolebinding",
    "RoleBinding", namespaced: true, short: [], categories: [], status: false, scale: false,
    generation: false);

/// Every served type, in discovery order (core group first, as a real server lists it).
pub static ALL: [&ResourceType; 17] = [
    &NAMESPACES,
    &PODS,
    &CONFIGMAPS,
    &EVENTS,
    &SECRETS,
    &SERVICES,
    &SERVICE_ACCOUNTS,
    &DEPLOYMENTS,
    &REPLICA_SETS,
    &EVENTS_V1,
    &HORIZONTAL_POD_AUTOSCALERS,
    &LEASES,
    &NETWORK_POLICIES,
    &CLUSTER_ROLES,
    &CLUSTER_ROLE_BINDINGS,
    &ROLES,
    &ROLE_BINDINGS,
];

/// The type whose objects hold those of `rt`: `events.k8s.io/v1` Events are the `core/v1`
/// Events seen through a conversion (one store, as in a real API server; see
/// `crate::events_v1`), every other type is its own.
pub fn storage(rt: &'static ResourceType) -> &'static ResourceType {
    if std::ptr::eq(rt, &EVENTS_V1) {
        &EVENTS
    } else {
        rt
    }
}

/// The non-core API groups in discovery order.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&'static str> = Vec::new();
    for r in ALL {
        if !r.group.is_empty() && !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups
}

/// The version a group is served in (kubesim serves one per group); `None` for an unknown
/// group.
pub fn group_version(group: &str) -> Option<&'static str> {
    ALL.iter().find(|r| r.group == group).map(|r| r.version)
}

/// The types of one group version.
pub fn of_group_version(group: &str, version: &str) -> Vec<&'static ResourceType> {
    ALL.iter()
        .copied()
        .filter(|r| r.group == group && r.version == version)
        .collect()
}

/// The type served at `group/version/plural`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    ALL.iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The type of an object with this `apiVersion` and `kind`.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ALL.iter()
        .copied()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(find("apps", "v1", "deployments"), Some(&DEPLOYMENTS));
        assert_eq!(by_kind("apps/v1", "Deployment"), Some(&DEPLOYMENTS));
        assert_eq!(by_kind("v1", "Pod"), Some(&PODS));
        assert_eq!(by_kind("v1", "Deployment"), None);
        assert_eq!(DEPLOYMENTS.qualified_plural(), "deployments.apps");
        assert_eq!(PODS.api_version(), "v1");
        assert_eq!(
            groups(),
            [
                "apps",
                "events.k8s.io",
                "autoscaling",
                "coordination.k8s.io",
                "networking.k8s.io",
                "rbac.authorization.k8s.io"
            ]
        );
        assert_eq!(
            by_kind("networking.k8s.io/v1", "NetworkPolicy"),
            Some(&NETWORK_POLICIES)
        );
        assert_eq!(by_kind("events.k8s.io/v1", "Event"), Some(&EVENTS_V1));
        assert_eq!(by_kind("v1", "Event"), Some(&EVENTS));
        assert!(std::ptr::eq(storage(&EVENTS_V1), &EVENTS));
        assert!(std::ptr::eq(storage(&EVENTS), &EVENTS));
        assert_eq!(
            by_kind("autoscaling/v2", "HorizontalPodAutoscaler"),
            Some(&HORIZONTAL_POD_AUTOSCALERS)
        );
        assert_eq!(by_kind("autoscaling/v1", "HorizontalPodAutoscaler"), None);
        assert_eq!(group_version("autoscaling"), Some("v2"));
        assert_eq!(group_version("apps"), Some("v1"));
        assert_eq!(group_version("batch"), None);
    }
}
