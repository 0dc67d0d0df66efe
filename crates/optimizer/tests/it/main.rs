//! Integration tests of the optimizer crate: spec test vectors and properties.

mod cli;
mod fuzz;
mod grpc;
mod grpcurl;
mod listen;
mod queue_props;
mod queue_vectors;
mod robustness;
mod solver_cases;
mod solver_exact;
mod solver_props;
mod solver_vectors;
