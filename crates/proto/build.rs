//! Compiles proto/inferno/v1/*.proto with protox (pure Rust, no protoc) and generates the prost
//! messages (each with `prost::Name`, so a message finds its own descriptor) and tonic
//! clients/servers; also writes the encoded descriptor set for reflection and JSON.

use prost::Message;
use std::path::PathBuf;

fn main() -> anyhow_free::Result {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["types", "optimizer", "collector", "actuator", "controller"]
        .map(|f| root.join(format!("inferno/v1/{f}.proto")));
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("inferno_descriptor.bin"), fds.encode_to_vec())?;
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure().compile_fds_with_config(fds, config)?;
    Ok(())
}

/// Build scripts may use any error type; a boxed error keeps this one dependency-free.
mod anyhow_free {
    pub(crate) type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
