//! Integration tests of kubesim: raw HTTP, the controller, kube-rs, concurrent writers and the
//! real kubectl.

mod common;
mod concurrency;
mod controller;
mod events;
mod http_api;
mod kube_client;
mod kubectl;
mod lifecycle;
mod rollout;
