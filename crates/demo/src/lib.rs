//! The local demo of the whole loop: [`stack::Stack`] starts kubesim (with deploy/samples),
//! emulated vLLM servers following its pods, Prometheus when installed, the four Inferno
//! services and the load emulator, all on 127.0.0.1, each logging to `logs/<container>.log`;
//! [`display::render`] shows each cycle.
//!
//! # Layout
//! `stack` (processes and ports), `display` (the live table).

pub mod display;
pub mod stack;
