//! The Prometheus `file_sd` targets file: one target per emulated pod, labelled with its
//! namespace, pod, Deployment and model, written atomically (temporary file + rename).

use serde::Serialize;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// One `file_sd` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Target {
    targets: [String; 1],
    labels: TargetLabels,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct TargetLabels {
    namespace: String,
    pod: String,
    deployment: String,
    model_name: String,
}

impl Target {
    pub(crate) fn new(
        addr: SocketAddr,
        namespace: &str,
        pod: &str,
        deployment: &str,
        model: &str,
    ) -> Self {
        Self {
            targets: [addr.to_string()],
            labels: TargetLabels {
                namespace: namespace.into(),
                pod: pod.into(),
                deployment: deployment.into(),
                model_name: model.into(),
            },
        }
    }
}

/// The file's text: a JSON list, one entry per line.
pub(crate) fn render(targets: &[Target]) -> String {
    let mut out = String::from("[");
    for (i, t) in targets.iter().enumerate() {
        out.push_str(if i == 0 { "\n  " } else { ",\n  " });
        out.push_str(&serde_json::to_string(t).unwrap_or_default());
    }
    out.push_str(if targets.is_empty() { "]\n" } else { "\n]\n" });
    out
}

/// Writes `text` to `path` through a temporary file in the same directory and a rename, so a
/// reader (Prometheus) never sees a partial file.
pub(crate) fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "targets.json".into());
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_file_sd_json() {
        assert_eq!(render(&[]), "[]\n");
        let t = Target::new(
            "127.0.0.1:8000".parse().unwrap(),
            "infer",
            "p-1",
            "dep",
            "granite_13b",
        );
        let text = render(&[t.clone(), t]);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[1]["targets"][0], "127.0.0.1:8000");
        assert_eq!(
            v[0]["labels"],
            serde_json::json!({"namespace": "infer", "pod": "p-1", "deployment": "dep",
                               "model_name": "granite_13b"})
        );
        assert_eq!(text.lines().count(), 4);
    }

    #[test]
    fn atomic_write_replaces_the_file() {
        let dir = std::env::temp_dir().join(format!("inferno-targets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("targets.json");
        write_atomic(&path, "[]\n").unwrap();
        write_atomic(&path, "[1]\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[1]\n");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
