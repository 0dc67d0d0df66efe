//! Reading the data from disk: a directory of the six data files or one system file, each read
//! as text, parsed, then validated into a [`Loaded`] system. Separate from the parsing so that
//! everything below it works on text alone, without the filesystem.

use super::read::read;
use super::unknown::dropped_problems;
use crate::error::{Error, Result};
use crate::types::{
    AcceleratorData, CapacityData, ModelData, OptimizerData, ServerData, ServiceClassData,
    SystemSpec,
};
use crate::validate::{self, FileNames, Problem};
use std::path::Path;

/// A validated system and the warnings found while reading and validating it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// The system, normalised (see [`crate::validate()`]).
    pub spec: SystemSpec,
    /// Problems of severity [`Severity::Warning`] (unknown fields first, then validation);
    /// empty when the data is clean.
    ///
    /// [`Severity::Warning`]: crate::Severity::Warning
    pub warnings: Vec<Problem>,
}

/// How [`load_dir_with`] and [`load_path_with`] treat what they cannot use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Unknown fields are errors: loading fails with [`Error::Invalid`] listing each of them and
    /// every validation problem. Otherwise (the default) each is a warning and is ignored.
    pub strict: bool,
}

/// [`load_dir_with`] with the default options (unknown fields are warnings).
pub fn load_dir(dir: &Path) -> Result<Loaded> {
    load_dir_with(dir, LoadOptions::default())
}

/// Reads the six data files of `dir`, then validates and normalises the system.
///
/// The files are `accelerator-data.json`, `capacity-data.json`, `model-data.json`,
/// `optimizer-data.json`, `server-data.json` and `serviceclass-data.json`; all must exist.
/// Fails on the first unreadable or malformed file, else with every problem at once: the
/// validation errors, and under [`LoadOptions::strict`] the unknown fields of every file.
pub fn load_dir_with(dir: &Path, options: LoadOptions) -> Result<Loaded> {
    let files = FileNames::in_dir(dir);
    let base = FileNames::default();
    let text = |name: &str| read_text(&dir.join(name));
    let accelerators = read::<AcceleratorData>(&text(&base.accelerators)?, &files.accelerators)?;
    let capacity = read::<CapacityData>(&text(&base.capacity)?, &files.capacity)?;
    let models = read::<ModelData>(&text(&base.models)?, &files.models)?;
    let optimizer = read::<OptimizerData>(&text(&base.optimizer)?, &files.optimizer)?;
    let servers = read::<ServerData>(&text(&base.servers)?, &files.servers)?;
    let classes = read::<ServiceClassData>(&text(&base.service_classes)?, &files.service_classes)?;
    let mut dropped = accelerators.dropped;
    dropped.extend(capacity.dropped);
    dropped.extend(models.dropped);
    dropped.extend(optimizer.dropped);
    dropped.extend(servers.dropped);
    dropped.extend(classes.dropped);
    let mut problems = dropped_problems(dropped, options);
    problems.extend(classes.legacy);
    let spec = SystemSpec {
        accelerator_data: accelerators.value,
        model_data: models.value,
        service_class_data: classes.value,
        server_data: servers.value,
        optimizer_data: optimizer.value,
        capacity_data: capacity.value,
    };
    validate::finish(spec, &files, problems)
}

/// [`load_path_with`] with the default options (unknown fields are warnings).
pub fn load_path(path: &Path) -> Result<Loaded> {
    load_path_with(path, LoadOptions::default())
}

/// Loads a directory of data files (see [`load_dir_with`]) or one system JSON file (see
/// [`parse_system`]), then validates and normalises the system.
///
/// [`parse_system`]: crate::parse_system
pub fn load_path_with(path: &Path, options: LoadOptions) -> Result<Loaded> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return load_dir_with(path, options);
    }
    let text = read_text(path)?;
    load_text_with(&text, &path.display().to_string(), options)
}

/// Loads one system JSON document held in `text` (e.g. read from stdin), named `file` in
/// messages, as [`load_path_with`] loads a system file.
pub fn load_text_with(text: &str, file: &str, options: LoadOptions) -> Result<Loaded> {
    let system = read::<SystemSpec>(text, file)?;
    let mut problems = dropped_problems(system.dropped, options);
    problems.extend(system.legacy);
    validate::finish(system.value, &FileNames::single(file), problems)
}

/// Reads a file as text; invalid UTF-8 becomes U+FFFD, as Go's decoder does in strings.
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_system;

    #[test]
    fn invalid_utf8_is_replaced() {
        let dir = std::env::temp_dir().join(format!("inferno-api-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sys.json");
        std::fs::write(
            &path,
            b"{\"capacityData\":{\"count\":[{\"type\":\"A\xff\",\"count\":1}]}}",
        )
        .unwrap();
        let text = read_text(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let spec = parse_system(&text, "sys.json").unwrap();
        assert_eq!(spec.capacity_data.count[0].acc_type, "A\u{fffd}");
    }
}
