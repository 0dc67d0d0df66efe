//! Shared helpers: the repository root; temporary directories and the CI rule come from the
//! test kit.

pub(crate) use inferno_testkit::tools::in_ci;
pub(crate) use inferno_testkit::TempDir;
use std::path::{Path, PathBuf};

/// The repository root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}
