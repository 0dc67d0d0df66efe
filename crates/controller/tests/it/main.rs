//! The controller against fake collector and actuator servers and the real optimizer service,
//! all on 127.0.0.1.

mod cycles;
mod fakes;
mod invoke;
mod kube;
mod services;
mod unknown;
