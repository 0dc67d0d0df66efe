//! The collector against kubesim, with a scripted Prometheus (tests of every failure mode) and
//! without one (labels only).

mod discovery;
mod fake_prometheus;
mod labels;
mod real_prometheus;
mod robustness;
