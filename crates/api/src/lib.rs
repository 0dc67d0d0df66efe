//! Inferno data model: the JSON data files of the optimizer and control loop.
//!
//! PLACEHOLDER: loader and validation are being written.

mod types;

pub use types::*;
