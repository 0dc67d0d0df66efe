//! [`FileNames`]: which file each section of a system came from, to label its problems (the
//! six data files of a directory, or one label for a whole system file). Separate because
//! reading and validation both use it and neither owns it.

use std::path::Path;

/// The file names used to label problems, one per data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNames {
    /// Label of the accelerator data (`accelerator-data.json`).
    pub accelerators: String,
    /// Label of the capacity data (`capacity-data.json`).
    pub capacity: String,
    /// Label of the model data (`model-data.json`).
    pub models: String,
    /// Label of the optimizer data (`optimizer-data.json`).
    pub optimizer: String,
    /// Label of the server data (`server-data.json`).
    pub servers: String,
    /// Label of the service-class data (`serviceclass-data.json`).
    pub service_classes: String,
}

impl Default for FileNames {
    /// The bare file names of the data files.
    fn default() -> Self {
        let s = str::to_owned;
        FileNames {
            accelerators: s("accelerator-data.json"),
            capacity: s("capacity-data.json"),
            models: s("model-data.json"),
            optimizer: s("optimizer-data.json"),
            servers: s("server-data.json"),
            service_classes: s("serviceclass-data.json"),
        }
    }
}

impl FileNames {
    /// The data files of directory `dir` (its path joined with each bare name).
    pub fn in_dir(dir: &Path) -> Self {
        let d = |name: &str| dir.join(name).display().to_string();
        let base = FileNames::default();
        FileNames {
            accelerators: d(&base.accelerators),
            capacity: d(&base.capacity),
            models: d(&base.models),
            optimizer: d(&base.optimizer),
            servers: d(&base.servers),
            service_classes: d(&base.service_classes),
        }
    }

    /// One label for everything, e.g. a combined `system-data.json`.
    pub fn single(file: &str) -> Self {
        let s = || file.to_owned();
        FileNames {
            accelerators: s(),
            capacity: s(),
            models: s(),
            optimizer: s(),
            servers: s(),
            service_classes: s(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let files = FileNames::in_dir(Path::new("data"));
        assert_eq!(
            files.models,
            Path::new("data")
                .join("model-data.json")
                .display()
                .to_string()
        );
        assert_eq!(
            FileNames::default().service_classes,
            "serviceclass-data.json"
        );
    }
}
