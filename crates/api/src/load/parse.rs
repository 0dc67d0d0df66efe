//! The public face of parsing one text: the [`DataFile`] trait implemented by each kind of file,
//! [`parse_file`] (content and unknown fields) and the `parse_*` shortcuts (content only). Kept
//! apart from the reading machinery so the API a caller sees fits on one page.

use super::read::read;
use crate::error::Result;
use crate::types::{
    AcceleratorData, AllocationSolution, CapacityData, ModelData, OptimizerData, ServerData,
    ServiceClassData, SystemSpec,
};
use crate::validate::Problem;

/// One file's content and the unknown fields that reading it ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed<T> {
    /// The content.
    pub value: T,
    /// One [`Severity::Warning`] per ignored key: the file, the entity holding it (named as
    /// validation names it), its JSON path as the field (`servers[2].currentAlloc.load.arivalRate`)
    /// and, in the message, the closest known field of the same object when one is close.
    ///
    /// [`Severity::Warning`]: crate::Severity::Warning
    pub unknown: Vec<Problem>,
}

/// A type read from one JSON text: the six data files, a whole system, a solution.
///
/// `parse` reports unknown fields in [`Parsed::unknown`]; the `parse_*` functions drop them.
pub trait DataFile: Sized {
    /// Parses `text`; `file` labels errors and problems.
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>>;
}

impl DataFile for AcceleratorData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

impl DataFile for CapacityData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

impl DataFile for ModelData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

impl DataFile for OptimizerData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

impl DataFile for ServerData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

/// Fails with [`Error::Invalid`] if legacy rows of one class disagree on its priority.
///
/// [`Error::Invalid`]: crate::Error::Invalid
impl DataFile for ServiceClassData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

/// `{"system": {...}}` (as `system-data.json`) or a bare `SystemSpec`. If the top-level object
/// has a `system` key, only that key is read (the others are reported as ignored). Fails with
/// [`Error::Invalid`] if legacy service-class rows disagree on a priority.
///
/// [`Error::Invalid`]: crate::Error::Invalid
impl DataFile for SystemSpec {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

/// `{"allocations": {"<server>": AllocationData}}`.
impl DataFile for AllocationSolution {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file)?.parsed()
    }
}

/// Parses one file's text as `T`, with the unknown fields it ignored; `file` labels problems.
pub fn parse_file<T: DataFile>(text: &str, file: &str) -> Result<Parsed<T>> {
    T::parse(text, file)
}

/// Parses `accelerator-data.json`; `file` labels errors. Unknown fields are dropped (see
/// [`parse_file`]).
pub fn parse_accelerators(text: &str, file: &str) -> Result<AcceleratorData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `capacity-data.json`; `file` labels errors. Unknown fields are dropped (see
/// [`parse_file`]).
pub fn parse_capacity(text: &str, file: &str) -> Result<CapacityData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `model-data.json` (legacy flat `alpha`/`beta` rows included); `file` labels errors.
/// Unknown fields are dropped (see [`parse_file`]).
pub fn parse_models(text: &str, file: &str) -> Result<ModelData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `optimizer-data.json`; `file` labels errors. Unknown fields are dropped (see
/// [`parse_file`]).
pub fn parse_optimizer(text: &str, file: &str) -> Result<OptimizerData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `server-data.json` (legacy `avgLength` included); `file` labels errors. Unknown fields
/// are dropped (see [`parse_file`]).
pub fn parse_servers(text: &str, file: &str) -> Result<ServerData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `serviceclass-data.json` (legacy flat rows included); `file` labels errors. Unknown
/// fields are dropped (see [`parse_file`]).
///
/// Fails with [`Error::Invalid`] if legacy rows of one class disagree on its priority.
///
/// [`Error::Invalid`]: crate::Error::Invalid
pub fn parse_service_classes(text: &str, file: &str) -> Result<ServiceClassData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses a whole system: `{"system": {...}}` (as `system-data.json`) or a bare `SystemSpec`.
/// Unknown fields are dropped (see [`parse_file`]).
///
/// If the top-level object has a `system` key, only that key is read. Fails with
/// [`Error::Invalid`] if legacy service-class rows disagree on a priority.
///
/// [`Error::Invalid`]: crate::Error::Invalid
pub fn parse_system(text: &str, file: &str) -> Result<SystemSpec> {
    Ok(parse_file(text, file)?.value)
}

/// Parses an optimizer solution `{"allocations": {"<server>": AllocationData}}`. Unknown fields
/// are dropped (see [`parse_file`]).
pub fn parse_solution(text: &str, file: &str) -> Result<AllocationSolution> {
    Ok(parse_file(text, file)?.value)
}
