//! The fast path: one text straight into its typed value, with no `serde_json::Value` between
//! (for a 27,000-server system file, about a tenth of the walk's time).
//!
//! It accepts a text only when the walk would read it without a warning, a legacy rewrite or
//! a Go rule that serde lacks, and then both give the same value:
//! - every key is spelt exactly as its field (no other case, no legacy or obsolete field, no
//!   unknown key), and no field appears twice in one object; so nothing is dropped, folded or
//!   rewritten, and the walk's "exact spelling wins" never applies;
//! - no `null` anywhere (the walk drops it, serde refuses it);
//! - every struct is an object, every list an array, every leaf of its field's type (the
//!   walk's checks, which serde_json makes too; `strict`);
//! - a system file is `{"system": {...}}` alone or the bare fields without `system`: beside
//!   `system`, the walk reports the bare fields.
//!
//! Legacy shapes are all keys that the types do not have (flat `alpha`/`beta`, `avgLength`,
//! flat class rows, `slo-ttw`), so a legacy file always takes the walk. Anything else (a
//! wrong type, a syntax error) takes the walk too, which reports it with its position.
//! In a solution, an allocation's name given twice keeps the last one, on both paths.

use super::strict;
use crate::types::{AcceleratorData, CapacityData, ModelData, OptimizerData, ServerData};
use crate::types::{ServiceClassData, SystemSpec};
use serde::{Deserialize, Deserializer};

/// The value of `text`, or `None` when the walk must read it.
pub(super) fn read<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    strict::from_str(text)
}

/// A system file, wrapped in `system` or bare; `None` when the walk must read it.
pub(super) fn system(text: &str) -> Option<SystemSpec> {
    let SystemRoot {
        system,
        accelerator_data,
        model_data,
        service_class_data,
        server_data,
        optimizer_data,
        capacity_data,
    } = read(text)?;
    let beside = accelerator_data.is_some()
        || model_data.is_some()
        || service_class_data.is_some()
        || server_data.is_some()
        || optimizer_data.is_some()
        || capacity_data.is_some();
    match system {
        // The walk warns that these are not read.
        Some(_) if beside => None,
        Some(spec) => Some(spec),
        None => Some(SystemSpec {
            accelerator_data: accelerator_data.unwrap_or_default(),
            model_data: model_data.unwrap_or_default(),
            service_class_data: service_class_data.unwrap_or_default(),
            server_data: server_data.unwrap_or_default(),
            optimizer_data: optimizer_data.unwrap_or_default(),
            capacity_data: capacity_data.unwrap_or_default(),
        }),
    }
}

/// The top level of a system file (the walk's `SYSTEM_ROOT`), with which keys are there.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SystemRoot {
    #[serde(default, deserialize_with = "present")]
    system: Option<SystemSpec>,
    #[serde(default, deserialize_with = "present")]
    accelerator_data: Option<AcceleratorData>,
    #[serde(default, deserialize_with = "present")]
    model_data: Option<ModelData>,
    #[serde(default, deserialize_with = "present")]
    service_class_data: Option<ServiceClassData>,
    #[serde(default, deserialize_with = "present")]
    server_data: Option<ServerData>,
    #[serde(default, deserialize_with = "present")]
    optimizer_data: Option<OptimizerData>,
    #[serde(default, deserialize_with = "present")]
    capacity_data: Option<CapacityData>,
}

/// A key that is there; `null` is not read as absent (it is refused, as everywhere here).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}
