//! Integration tests of the emulator crate: the HTTP API, the host, the program, agreement with
//! the queueing model, a real Prometheus scraping two emulated servers, follow mode and the
//! load emulator against kubesim.

mod cli;
mod cluster;
mod complete;
mod follow;
mod host;
mod http;
mod load;
mod model;
mod prometheus;
mod support;
