//! The local demo of the whole loop: [`stack::Stack`] starts kubesim (with deploy/samples),
//! emulated vLLM servers following its pods, Prometheus when installed, the four Inferno
//! services and the load emulator, all on 127.0.0.1, each logging to `logs/<container>.log`;
//! [`live::run`] invokes a cycle every period and prints it ([`display::render`]), and the run
//! when it stops ([`summary::render`]).
//!
//! # Layout
//! `stack` (processes and ports), `deployed` (what each Deployment runs and is driven with),
//! `display` (the live table, its legend and the changes of a cycle), `summary` (the run:
//! cycles, cost, changes by kind, requests served against the targets), `live` (the loop).

pub mod deployed;
pub mod display;
pub mod live;
pub mod stack;
pub mod summary;
