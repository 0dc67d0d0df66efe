//! Integration tests of the emulator crate: the HTTP API, the host, the program, agreement with
//! the queueing model, and a real Prometheus scraping two emulated servers.

mod cli;
mod host;
mod http;
mod model;
mod prometheus;
mod support;
