//! Inferno's domain core: what one control cycle works on, with no gRPC and no Kubernetes
//! client in sight.
//!
//! The services talk gRPC (`inferno-proto`), but the cycle itself only needs three abilities:
//! observe the managed servers ([`ports::Collect`]), decide an allocation
//! ([`ports::Optimize`]) and apply it ([`ports::Apply`]). The controller's cycle is generic
//! over these ports, so it is tested against in-memory fakes; the gRPC clients and servers are
//! adapters at the edges, each holding the only two conversions of its RPC.
//!
//! # Layout
//! `collected` (what the collector saw), `decision` (what the optimizer chose), `apply` (what
//! the actuator is asked and what it did), `ports` (the three traits and their error),
//! `contract` (the Kubernetes label contract shared by collector, actuator, emulator and
//! manifests), `rollout` (what a Deployment's rollout takes down).

pub mod apply;
pub mod collected;
pub mod contract;
pub mod decision;
pub mod ports;
pub mod rollout;

pub use apply::{Applied, ApplyRequest, DeploymentResult, Move, MoveCause, Outcome};
pub use collected::{
    Collected, Demand, FieldSource, Observation, PodLoad, Problem, ServerRef, Source, UnknownName,
    Unplaced,
};
pub use decision::{
    AllocationPart, Decision, Explained, GpuPrice, Headroom, Heterogeneous, SolveStats,
    SolveSummary, TypeUsage, UnservedFloor,
};
pub use ports::{Apply, Collect, Optimize, PortError};
pub use rollout::{Budget, Strategy};
