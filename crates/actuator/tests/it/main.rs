//! The actuator against kubesim (and the real kubectl reading the result).

mod apply;
mod hpa_follows;
mod order;
mod refuse;
mod serve;
mod support;
