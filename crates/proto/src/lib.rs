//! Inferno's gRPC contract: the messages and services generated from `proto/inferno/v1`
//! (package `inferno.v1`) and the conversions between them and the `inferno-api` data types
//! and the domain core (`inferno-core`).
//!
//! # Layout
//! [`v1`] (generated code), [`FILE_DESCRIPTOR_SET`] (for server reflection), `convert`
//! (`inferno-api` <-> `v1`, [`ConvertError`]), `domain` (`inferno-core` <-> `v1` for the
//! Collect, OptimizeOne and Apply RPCs, [`DecodeError`]), [`json`] (the proto3 JSON mapping),
//! [`status`] (INVALID_ARGUMENT with `google.rpc.BadRequest` field violations), [`time`]
//! (`google.protobuf.Duration` and `Timestamp` from and to the domain's numbers).

mod convert;
mod domain;
pub mod json;
pub mod status;
pub mod time;

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

/// What a server's reflection describes: the contract, and the `google.rpc` error details its
/// INVALID_ARGUMENT statuses carry (so that grpcurl prints a `BadRequest`'s violations).
pub const REFLECTION_DESCRIPTORS: &[&[u8]] =
    &[FILE_DESCRIPTOR_SET, tonic_types::pb::FILE_DESCRIPTOR_SET];
