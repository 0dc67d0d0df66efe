//! What the collector saw of the managed servers in one cycle.

use inferno_api::ServerSpec;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The Deployment behind a server, as discovered (the actuator touches only this one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerRef {
    /// Deployment name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Deployment uid (the actuator refuses a Deployment recreated under the same name).
    pub uid: String,
}

/// Where an observed value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Measured by Prometheus over every ready pod.
    Prometheus,
    /// Measured by Prometheus, but not every ready pod reported yet.
    PrometheusPartial,
    /// From the Deployment's load label.
    Label,
    /// Nothing known: 0.
    Default,
    /// Not known because what was there is invalid; the value is 0 and a problem says why.
    Unknown,
}

impl Source {
    /// Every source, in report order.
    pub const ALL: [Source; 5] = [
        Self::Prometheus,
        Self::PrometheusPartial,
        Self::Label,
        Self::Default,
        Self::Unknown,
    ];

    /// The name used in reports and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::PrometheusPartial => "prometheus-partial",
            Self::Label => "label",
            Self::Default => "default",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name the contract does not know (a field source, an apply outcome), as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {name:?}")]
pub struct UnknownName {
    /// What kind of name (`field source`, `apply outcome`).
    pub what: &'static str,
    /// The name given.
    pub name: String,
}

/// The value of `all` whose `name` is `s`, else an [`UnknownName`] saying `what` it should be:
/// the one parser of the wire's enum names (field sources, apply outcomes).
pub(crate) fn by_name<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    what: &'static str,
    s: &str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| UnknownName {
            what,
            name: s.into(),
        })
}

impl FromStr for Source {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        by_name(&Self::ALL, Self::name, "field source", s)
    }
}

/// The source of one field of an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSource {
    /// Field name, e.g. `arrivalRate`.
    pub field: String,
    /// Where its value came from.
    pub source: Source,
}

/// What was observed of one server beyond its [`ServerSpec`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observation {
    /// Server name.
    pub server: String,
    /// Ready pods counted.
    pub ready_replicas: u32,
    /// Source of each load field.
    pub sources: Vec<FieldSource>,
    /// Mean requests running per pod.
    pub running: f64,
    /// Mean requests waiting per pod.
    pub waiting: f64,
    /// Mean KV-cache usage, 0..1.
    pub kv_cache_usage: f64,
    /// What the demand estimate rests on (window, requests seen, error); default when the
    /// rate is not measured.
    pub demand: Demand,
    /// Outstanding requests per ready pod, for choosing which pods go on a scale-down, and how
    /// long each took to start.
    pub pods: Vec<PodLoad>,
    /// A rollout is under way: pods of an older pod template still run beside the new ones
    /// (or the Deployment's controller has not yet seen its last change). Its ready pods are
    /// then no measurement of one kind.
    pub rolling: bool,
    /// How the Deployment rolls out a new pod template: what a change of batch cap or
    /// accelerator takes down while the new pods load.
    pub strategy: crate::Strategy,
}

/// How much evidence the measured arrival rate of a server rests on: the decision uses it to
/// plan for the upper end of what the rate may be, not for a noisy point.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    /// The window the rate and token means were measured over, seconds of the servers' clock
    /// (0: not measured).
    pub window_seconds: f64,
    /// Requests that arrived in the window (completions plus the change in running and
    /// waiting), the sample the rate rests on.
    pub requests: f64,
    /// Standard error of the arrival rate, requests per minute (Poisson: sqrt(n) / window).
    pub rate_error: f64,
}

/// The load on one ready pod when it was observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodLoad {
    /// Pod name.
    pub pod: String,
    /// Requests running plus waiting on it.
    pub outstanding: f64,
    /// How long it took to start: seconds of the servers' clock (like
    /// [`Demand::window_seconds`]) from its creation to its `Ready=True` condition, scheduling,
    /// image pull and model load included; 0 when not known. What a scale-up of this server
    /// on this accelerator waits for before the new pod serves.
    pub startup_seconds: f64,
}

/// A problem met on the way (the cycle goes on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problem {
    /// Server or Deployment concerned ("" for the whole cycle).
    pub subject: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subject.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.subject, self.message)
        }
    }
}

/// A server left without an allocation, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unplaced {
    /// Server name.
    pub server: String,
    /// Machine-friendly code (`invalid-load`, `out-of-capacity`, `slo-unattainable`, ...).
    pub code: String,
    /// Why, for people.
    pub reason: String,
}

/// One observation of every managed server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    /// The servers with their current allocation and load.
    pub servers: Vec<ServerSpec>,
    /// One entry per reporting pod, named `server/pod`, with one replica.
    pub replicas: Vec<ServerSpec>,
    /// The Deployment of each server, by server name (unplaced ones included).
    pub refs: BTreeMap<String, ServerRef>,
    /// Observations by server.
    pub observations: Vec<Observation>,
    /// Problems met.
    pub problems: Vec<Problem>,
    /// Servers left out of `servers` because their load cannot be used.
    pub unplaced: Vec<Unplaced>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_round_trip() {
        for s in Source::ALL {
            assert_eq!(s.name().parse::<Source>(), Ok(s));
        }
        assert_eq!(
            "prom".parse::<Source>().unwrap_err().to_string(),
            "unknown field source \"prom\""
        );
    }

    #[test]
    fn a_problem_names_its_subject() {
        let p = |subject: &str| Problem {
            subject: subject.into(),
            message: "no pods".into(),
        };
        assert_eq!(p("").to_string(), "no pods");
        assert_eq!(p("llama").to_string(), "llama: no pods");
    }
}
