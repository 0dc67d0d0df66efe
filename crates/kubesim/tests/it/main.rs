//! Integration tests of kubesim: raw HTTP, the controller, kube-rs, concurrent writers, the
//! real kubectl, and the HPA controller against a real Prometheus.

mod common;
mod concurrency;
mod controller;
mod events;
mod hpa;
mod http_api;
mod kube_client;
mod kubectl;
mod lifecycle;
mod rollout;
