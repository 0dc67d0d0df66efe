//! What the actuator agrees to act on: pure checks of an Apply request against the watched
//! namespaces and the live Deployment. A Deployment that fails any check is refused: nothing is
//! patched, and the refusal carries a [`Code`] for results, logs, Events and metrics.
//!
//! The checks, in the order they are reported (the first failing one names the refusal):
//! the request names a Deployment (`invalid-target`), in a watched namespace
//! (`namespace-not-watched`; both before any API call), the live Deployment carries
//! `inferno.server.managed=true` (`not-managed`), the request carries its uid (`uid-missing`)
//! and it is the live one (`uid-mismatch`), its `inferno.server.name` label is the request's
//! server name (`name-mismatch`), and the request's allocation is within `inferno_api::limits`
//! (`out-of-range`).

use inferno_api::limits::{self, MAX_BATCH_SIZE, MAX_REPLICAS};
use inferno_api::AllocationData;
use inferno_core::contract::keys;
use inferno_core::ServerRef;
use std::collections::{BTreeMap, BTreeSet};

/// Why a Deployment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The request names no Deployment (empty name or namespace).
    InvalidTarget,
    /// The Deployment's namespace is not one the actuator watches.
    NamespaceNotWatched,
    /// The live Deployment does not carry `inferno.server.managed=true`.
    NotManaged,
    /// The request carries no uid for the Deployment.
    UidMissing,
    /// The request's uid is not the live Deployment's (it was replaced, or the request is forged).
    UidMismatch,
    /// The live Deployment's `inferno.server.name` label is not the request's server name.
    NameMismatch,
    /// A number of the request's allocation is outside `inferno_api::limits`.
    OutOfRange,
}

impl Code {
    /// Every code, in the order the checks run.
    pub const ALL: [Code; 7] = [
        Code::InvalidTarget,
        Code::NamespaceNotWatched,
        Code::NotManaged,
        Code::UidMissing,
        Code::UidMismatch,
        Code::NameMismatch,
        Code::OutOfRange,
    ];

    /// The code as results, Events and metrics spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidTarget => "invalid-target",
            Code::NamespaceNotWatched => "namespace-not-watched",
            Code::NotManaged => "not-managed",
            Code::UidMissing => "uid-missing",
            Code::UidMismatch => "uid-mismatch",
            Code::NameMismatch => "name-mismatch",
            Code::OutOfRange => "out-of-range",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused Deployment: the code and the reason in words (naming the field, label or value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Machine-friendly reason.
    pub code: Code,
    /// The reason in words.
    pub message: String,
}

impl Refusal {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused ({}): {}; nothing patched",
            self.code, self.message
        )
    }
}

/// The namespaces the actuator acts in (`--namespace`); empty = all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    namespaces: BTreeSet<String>,
}

impl Scope {
    /// Every namespace.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only `namespaces` (blank entries are ignored; none left = all).
    pub fn namespaces<I, S>(namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            namespaces: namespaces
                .into_iter()
                .map(|n| n.as_ref().trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
        }
    }

    /// Whether the actuator acts in `namespace`.
    pub fn watches(&self, namespace: &str) -> bool {
        self.namespaces.is_empty() || self.namespaces.contains(namespace)
    }

    fn describe(&self) -> String {
        let list: Vec<&str> = self.namespaces.iter().map(String::as_str).collect();
        list.join(", ")
    }
}

/// What the checks need of the live Deployment.
#[derive(Debug, Clone, Copy)]
pub struct Live<'a> {
    /// `metadata.uid`.
    pub uid: &'a str,
    /// `metadata.labels`.
    pub labels: &'a BTreeMap<String, String>,
}

/// The checks that need no API call: the request names a Deployment in a watched namespace.
/// The actuator reads nothing and writes nothing (no Event either) in a namespace it does not
/// watch, so its RBAC can be limited to those namespaces.
pub fn check_target(target: &ServerRef, scope: &Scope) -> Result<(), Refusal> {
    if target.name.is_empty() || target.namespace.is_empty() {
        return Err(Refusal::new(
            Code::InvalidTarget,
            format!(
                "the request names no Deployment (name {:?}, namespace {:?})",
                target.name, target.namespace
            ),
        ));
    }
    if !scope.watches(&target.namespace) {
        return Err(Refusal::new(
            Code::NamespaceNotWatched,
            format!(
                "namespace {:?} is not watched (--namespace {})",
                target.namespace,
                scope.describe()
            ),
        ));
    }
    Ok(())
}

/// The checks of a Deployment named by the request for `server`: against the live Deployment
/// (`None` when it does not exist: only the request's own values are checked then) and of the
/// request's allocation for the server.
pub fn check(
    server: &str,
    target: &ServerRef,
    allocation: Option<&AllocationData>,
    live: Option<Live<'_>>,
) -> Result<(), Refusal> {
    let what = format!("deployment {}/{}", target.namespace, target.name);
    if let Some(live) = live {
        let managed = live.labels.get(keys::MANAGED).map(String::as_str);
        if managed != Some("true") {
            return Err(Refusal::new(
                Code::NotManaged,
                match managed {
                    None => format!("{what} has no label {}=true", keys::MANAGED),
                    Some(v) => format!("{what} has label {}={v:?}, not \"true\"", keys::MANAGED),
                },
            ));
        }
    }
    if target.uid.is_empty() {
        return Err(Refusal::new(
            Code::UidMissing,
            format!("the request gives no uid for {what} (server {server:?})"),
        ));
    }
    if let Some(live) = live {
        if live.uid != target.uid {
            return Err(Refusal::new(
                Code::UidMismatch,
                format!(
                    "{what} has uid {}, the request gives {} (replaced since it was collected?)",
                    live.uid, target.uid
                ),
            ));
        }
        let name = live.labels.get(keys::NAME).map_or("", String::as_str);
        if name != server {
            return Err(Refusal::new(
                Code::NameMismatch,
                format!(
                    "{what} has label {}={name:?}, the request names server {server:?}",
                    keys::NAME
                ),
            ));
        }
    }
    if let Some(a) = allocation {
        check_allocation(server, a)?;
    }
    Ok(())
}

/// An `out-of-range` refusal naming the field and value when a number of `a` is outside
/// `inferno_api::limits`.
fn check_allocation(server: &str, a: &AllocationData) -> Result<(), Refusal> {
    let field = |f: &str| format!("allocations[{server:?}].{f}");
    let out_of_range =
        |f: &str, why: String| Refusal::new(Code::OutOfRange, format!("{}: {why}", field(f)));
    let counts = [
        ("numReplicas", a.num_replicas, MAX_REPLICAS),
        ("maxBatch", a.max_batch, MAX_BATCH_SIZE),
    ];
    for (f, v, max) in counts {
        if let Some(why) = limits::count_out_of_range(v, max) {
            return Err(out_of_range(f, why));
        }
    }
    if !a.cost.is_finite() {
        let why = format!("must be a finite number, got {}", limits::show(a.cost));
        return Err(out_of_range("cost", why));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uid: &str) -> ServerRef {
        ServerRef {
            uid: uid.into(),
            name: "web".into(),
            namespace: "infer".into(),
        }
    }

    fn managed(name: &str) -> BTreeMap<String, String> {
        [
            (keys::MANAGED.to_string(), "true".to_string()),
            (keys::NAME.to_string(), name.to_string()),
        ]
        .into()
    }

    fn alloc(n: i64, batch: i64, cost: f64) -> AllocationData {
        AllocationData {
            num_replicas: n,
            max_batch: batch,
            cost,
            ..AllocationData::default()
        }
    }

    fn code(r: Result<(), Refusal>) -> Option<&'static str> {
        r.err().map(|r| r.code.as_str())
    }

    #[test]
    fn targets_outside_the_watched_namespaces_are_refused() {
        let scope = Scope::namespaces(["infer", " other "]);
        assert!(check_target(&target("u"), &scope).is_ok());
        assert!(check_target(&target("u"), &Scope::all()).is_ok());
        let elsewhere = ServerRef {
            namespace: "victim".into(),
            ..target("u")
        };
        let r = check_target(&elsewhere, &scope).unwrap_err();
        assert_eq!(r.code, Code::NamespaceNotWatched);
        assert!(r.message.contains("\"victim\""), "{r}");
        assert!(r.message.contains("infer, other"), "{r}");
        let nameless = ServerRef {
            name: String::new(),
            ..target("u")
        };
        assert_eq!(
            code(check_target(&nameless, &Scope::all())),
            Some("invalid-target")
        );
        assert!(Scope::namespaces([""]).watches("anything"));
    }

    #[test]
    fn the_live_deployment_must_be_managed_and_the_one_collected() {
        let labels = managed("s");
        let live = Some(Live {
            uid: "u1",
            labels: &labels,
        });
        assert_eq!(code(check("s", &target("u1"), None, live)), None);
        assert_eq!(
            code(check("s", &target(""), None, live)),
            Some("uid-missing")
        );
        assert_eq!(
            code(check("s", &target("u2"), None, live)),
            Some("uid-mismatch")
        );
        assert_eq!(
            code(check("other", &target("u1"), None, live)),
            Some("name-mismatch")
        );
        let unlabelled = BTreeMap::new();
        let r = check(
            "s",
            &target("u1"),
            None,
            Some(Live {
                uid: "u1",
                labels: &unlabelled,
            }),
        )
        .unwrap_err();
        assert_eq!(r.code, Code::NotManaged);
        assert!(r
            .message
            .contains("infer/web has no label inferno.server.managed=true"));
        let mut falsy = managed("s");
        falsy.insert(keys::MANAGED.into(), "True".into());
        let r = check(
            "s",
            &target("u1"),
            None,
            Some(Live {
                uid: "u1",
                labels: &falsy,
            }),
        )
        .unwrap_err();
        assert!(r.message.contains("\"True\", not \"true\""), "{r}");
        // Not managed wins over everything else about the request.
        assert_eq!(
            code(check(
                "x",
                &target(""),
                Some(&alloc(i64::from(i32::MAX), 8, 1.0)),
                Some(Live {
                    uid: "u1",
                    labels: &unlabelled
                })
            )),
            Some("not-managed")
        );
        // A Deployment that does not exist: only the request's own values are checked.
        assert_eq!(code(check("s", &target("u1"), None, None)), None);
        assert_eq!(
            code(check("s", &target(""), None, None)),
            Some("uid-missing")
        );
    }

    #[test]
    fn allocations_outside_the_limits_are_refused_naming_field_and_value() {
        let labels = managed("s");
        let live = Some(Live {
            uid: "u",
            labels: &labels,
        });
        let run = |a: AllocationData| check("s", &target("u"), Some(&a), live);
        assert!(run(alloc(MAX_REPLICAS, MAX_BATCH_SIZE, 0.0)).is_ok());
        assert!(run(alloc(0, 0, 1e12)).is_ok());
        let r = run(alloc(2_147_483_647, 8, 1.0)).unwrap_err();
        assert_eq!(r.code, Code::OutOfRange);
        assert_eq!(
            r.message,
            "allocations[\"s\"].numReplicas: must be an integer in [0, 10000], got 2147483647"
        );
        assert!(run(alloc(-1, 8, 1.0))
            .unwrap_err()
            .message
            .contains("numReplicas: must be an integer in [0, 10000], got -1"));
        assert!(run(alloc(1, 4097, 1.0))
            .unwrap_err()
            .message
            .contains("maxBatch: must be an integer in [0, 4096], got 4097"));
        assert!(run(alloc(1, 8, f64::NAN))
            .unwrap_err()
            .message
            .contains("cost: must be a finite number, got NaN"));
        assert_eq!(
            run(alloc(1, 8, f64::INFINITY)).unwrap_err().to_string(),
            "refused (out-of-range): allocations[\"s\"].cost: must be a finite number, got inf; \
             nothing patched"
        );
    }

    #[test]
    fn codes_are_distinct() {
        let names: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
    }
}
