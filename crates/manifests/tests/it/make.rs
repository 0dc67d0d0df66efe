//! `make images-dockerfiles` with a fake `docker` that records its arguments: it builds every
//! Dockerfile with the tag the manifests use, stops at the first failed build; it, `make images`
//! and `make pod-down`, without Docker (or without its daemon), fail with a message that says so
//! and build nothing. (`make images` itself, for real: tests/it/containers.rs.)

use super::common::{root, TempDir};
use inferno_manifests::contract::{IMAGES, IMAGE_PREFIX};
use inferno_manifests::Repository;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A fake docker: appends "BUILDKIT=<$DOCKER_BUILDKIT> <args>" to `log`; `info` exits with
/// `info_status`; `build` of a file containing `fail_on` exits 1.
fn fake_docker(dir: &Path, info_status: u8, fail_on: &str) -> std::path::PathBuf {
    let log = dir.join("docker.log");
    let script = dir.join("docker");
    let text = format!(
        "#!/bin/sh\n\
         echo \"BUILDKIT=$DOCKER_BUILDKIT $*\" >> '{log}'\n\
         if [ \"$1\" = info ]; then exit {info_status}; fi\n\
         case \"$*\" in *'{fail_on}'*) echo 'build failed' >&2; exit 1;; esac\n\
         exit 0\n",
        log = log.display(),
    );
    std::fs::write(&script, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    script
}

fn make_images(docker: &Path) -> Output {
    make(docker, "images-dockerfiles")
}

fn make(docker: &Path, target: &str) -> Output {
    Command::new("make")
        .current_dir(root())
        .arg("--no-print-directory")
        .arg(target)
        .arg(format!("DOCKER={}", docker.display()))
        // Not the jobserver of a make that may be running these tests.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("DOCKER_BUILDKIT")
        .stdin(Stdio::null())
        .output()
        .expect("make runs")
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("docker.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn make_images_builds_every_dockerfile_with_the_manifests_tags() {
    let repo = Repository::load(&root()).unwrap();
    let dir = TempDir::new("make");
    let docker = fake_docker(dir.path(), 0, "never");
    let out = make_images(&docker);
    assert!(out.status.success(), "{out:?}");
    let mut want = vec!["BUILDKIT= info".to_string()];
    let revision = Command::new("git")
        .current_dir(root())
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    for img in IMAGES {
        assert!(repo.dockerfiles.contains_key(img.name), "{}", img.name);
        let version = &repo.workspace.packages[img.package].version;
        want.push(format!(
            "BUILDKIT=1 build -f deploy/docker/{}.Dockerfile -t {IMAGE_PREFIX}{}:{version} \
             --build-arg VERSION={version} --build-arg REVISION={revision} .",
            img.name, img.name
        ));
    }
    assert_eq!(log(dir.path()), want);
    assert_eq!(repo.dockerfiles.len(), IMAGES.len());
    // Every image the manifests run is one of those tags.
    for o in &repo.objects {
        let Some(spec) = inferno_manifests::pods::pod_spec(o) else {
            continue;
        };
        for c in spec["containers"].as_array().unwrap() {
            let image = c["image"].as_str().unwrap();
            assert!(
                want.iter().any(|w| w.contains(&format!(" -t {image} "))),
                "{}: {image} is not built by make images",
                o.id()
            );
        }
    }
}

#[test]
fn make_images_stops_at_the_first_failed_build() {
    let dir = TempDir::new("make-fail");
    let docker = fake_docker(dir.path(), 0, IMAGES[1].name);
    let out = make_images(&docker);
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(
        log(dir.path()).len(),
        3,
        "info, the first build, the failed one"
    );
}

#[test]
fn make_images_without_docker_says_so_and_builds_nothing() {
    for target in ["images-dockerfiles", "images", "pod-down"] {
        let dir = TempDir::new("make-nodocker");
        let out = make(&dir.path().join("no-such-docker"), target);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains(&format!("make {target} needs Docker"))
                && stderr.contains("is not installed"),
            "{stderr}"
        );

        let docker = fake_docker(dir.path(), 1, "never");
        let out = make(&docker, target);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains(&format!("make {target} needs a running Docker daemon")),
            "{stderr}"
        );
        assert_eq!(log(dir.path()), ["BUILDKIT= info"], "nothing built");
    }
}
