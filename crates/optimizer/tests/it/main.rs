//! Integration tests of the optimizer crate: spec test vectors and properties. The numeric
//! ones run with or without the `server` feature; the command line's and the service's need it.

#[cfg(feature = "server")]
mod cli;
mod explain;
#[cfg(feature = "server")]
mod fuzz;
#[cfg(feature = "server")]
mod grpc;
#[cfg(feature = "server")]
mod grpcurl;
#[cfg(feature = "server")]
mod listen;
mod options;
#[cfg(feature = "server")]
mod python_client;
mod queue_props;
mod queue_vectors;
#[cfg(feature = "server")]
mod robustness;
mod solver_cases;
mod solver_change;
mod solver_exact;
mod solver_improve;
mod solver_props;
mod solver_vectors;
