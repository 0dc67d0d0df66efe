//! Inferno's gRPC contract: the messages and services generated from `proto/inferno/v1`
//! (package `inferno.v1`) and the conversions between them and the `inferno-api` data types
//! and the domain core (`inferno-core`).
//!
//! # Layout
//! [`v1`] (generated code), [`FILE_DESCRIPTOR_SET`] (for server reflection), `convert`
//! (`inferno-api` <-> `v1`, [`ConvertError`]), `domain` (`inferno-core` <-> `v1` for the
//! Collect, OptimizeOne and Apply RPCs, [`DecodeError`]).

mod convert;
mod domain;

pub use convert::ConvertError;
pub use domain::DecodeError;

/// Generated code of package `inferno.v1`.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    rust_2018_idioms,
    rustdoc::all
)]
pub mod v1 {
    tonic::include_proto!("inferno.v1");
}

/// The encoded descriptor set of every `inferno.v1` file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/inferno_descriptor.bin"));
