//! The kubeconfig kubesim writes: one cluster, context and user named `kubesim`, plain HTTP,
//! no credentials.

use crate::error::{Error, Result};
use std::path::Path;

/// The kubeconfig text for a server at `url` (e.g. `http://127.0.0.1:6443`).
pub(crate) fn render(url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: kubesim
  cluster:
    server: {url}
contexts:
- name: kubesim
  context:
    cluster: kubesim
    user: kubesim
    namespace: default
current-context: kubesim
preferences: {{}}
users:
- name: kubesim
  user: {{}}
"
    )
}

/// Writes the kubeconfig for `url` to `path`, atomically (a reader never sees half a file).
pub(crate) fn write(path: &Path, url: &str) -> Result<()> {
    let io = |context: String| move |source| Error::Io { context, source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    }
    let tmp = path.with_extension("kubesim-tmp");
    std::fs::write(&tmp, render(url)).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_is_yaml_with_the_server() {
        let v: serde_json::Value = serde_yaml_ng::from_str(&render("http://127.0.0.1:1")).unwrap();
        assert_eq!(v["clusters"][0]["cluster"]["server"], "http://127.0.0.1:1");
        assert_eq!(v["current-context"], "kubesim");
    }
}
