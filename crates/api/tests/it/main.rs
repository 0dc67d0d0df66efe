//! Integration tests of `inferno-api`: the sample data, files on disk, legacy data, unknown
//! fields and property tests of the parsers.

mod files;
mod legacy;
mod props;
mod samples;
mod unknown;

use std::path::{Path, PathBuf};

/// `samples/<name>` of the workspace.
fn sample_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}

/// The six file names of a data directory, in load order.
const FILES: [&str; 6] = [
    "accelerator-data.json",
    "capacity-data.json",
    "model-data.json",
    "optimizer-data.json",
    "server-data.json",
    "serviceclass-data.json",
];

/// A scratch directory under Cargo's target tmpdir, removed on drop (the test kit's), with
/// the data-directory helpers of these tests.
struct TempDir(inferno_testkit::TempDir);

impl TempDir {
    /// An empty directory named after `name` (unique per test and process).
    fn new(name: &str) -> Self {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        TempDir(inferno_testkit::TempDir::new_in(
            tmp,
            &format!("api-{name}"),
        ))
    }

    /// A copy of sample directory `sample`.
    fn copy_of(name: &str, sample: &str) -> Self {
        let dir = Self::new(name);
        for file in FILES {
            std::fs::copy(sample_dir(sample).join(file), dir.path().join(file)).unwrap();
        }
        dir
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.path().join(file);
        std::fs::write(&path, text).unwrap();
        path
    }
}
