//! The actuator against kubesim (and the real kubectl reading the result).

mod apply;
mod refuse;
mod serve;
mod support;
