//! The `inferno` pod of `deploy/inferno/deploy.yaml` run as Docker containers (`make pod`), the
//! way a kubelet would run it, beside stand-ins for the rest of a cluster.
//!
//! Every container of the pod becomes one `docker run` of its image, with the manifest's args,
//! environment, user, read-only root, dropped capabilities, `no-new-privileges`, CPU and memory
//! limits and mounts. The first container owns the pod's network namespace; the others join it
//! (`--network container:`), so they share one loopback as a pod's containers do. The readiness
//! probe becomes the container's health check (`inferno-probe`, through `INFERNO_PROBE_URL`).
//!
//! Beside the pod, on the same private network: `kubesim` (the API server, loaded with the
//! sample Deployments), `vllm-emulator` in `follow` mode (one emulated server per Ready pod, on
//! its own loopback) and Prometheus sharing the emulator's network namespace (it scrapes those
//! servers on 127.0.0.1). Where a kubelet would mount the service-account token, the container
//! gets a kubeconfig pointing at kubesim (plain HTTP; the in-cluster config needs TLS).

use crate::contract::DATA_FILES;
use crate::manifest::{self, Object};
use crate::pods::{containers, pod_spec, quantity, strings};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Where the pod's containers find the API server's kubeconfig.
const KUBECONFIG_PATH: &str = "/var/run/inferno/kubeconfig";
/// kubesim's port on the private network.
const KUBESIM_PORT: u16 = 6443;
/// Prometheus' port (in the emulator's network namespace).
const PROMETHEUS_PORT: u16 = 9090;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest does not say what is needed, or says something this runner cannot do.
    #[error("{file}: {message}")]
    Manifest {
        /// The manifest file.
        file: PathBuf,
        /// What.
        message: String,
    },
    /// A docker command failed.
    #[error("{command}: {message}")]
    Docker {
        /// The command line.
        command: String,
        /// Its stderr, or why it could not run.
        message: String,
    },
    /// Files.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A container did not become healthy.
    #[error("{0}")]
    Unhealthy(String),
    /// Loading the manifests.
    #[error(transparent)]
    Load(#[from] crate::Error),
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to run the pod.
#[derive(Debug, Clone)]
pub struct PodConfig {
    /// The docker CLI.
    pub docker: String,
    /// Name of the run: the containers are `<name>-<container>`, the network `<name>-net`.
    pub name: String,
    /// The pod's manifest (the `inferno` Deployment).
    pub manifest: PathBuf,
    /// The load emulator's manifest, when it runs too.
    pub load_emulator: Option<PathBuf>,
    /// The data directory (its five ConfigMap files are mounted at the manifest's path).
    pub data: PathBuf,
    /// The sample Deployments kubesim starts with.
    pub samples: PathBuf,
    /// Working directory (kubeconfig, Prometheus configuration, the targets file).
    pub work: PathBuf,
    /// Image prefix and tag replacing the manifest's (`inferno/`, `0.1.0`).
    pub image_prefix: String,
    /// Image tag.
    pub image_tag: String,
    /// The controller's port on the host's 127.0.0.1 (0: any free port).
    pub controller_port: u16,
    /// Prometheus' port on the host's 127.0.0.1 (0: any free port).
    pub prometheus_port: u16,
    /// Environment overrides: (container, variable, value).
    pub env: Vec<(String, String, String)>,
    /// How long to wait for every container to be healthy.
    pub timeout: Duration,
}

/// One `docker run -d` (without those two words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The container's name.
    pub name: String,
    /// The arguments.
    pub args: Vec<String>,
}

/// The running pod.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Container names: the pod's (in manifest order), then the stand-ins.
    pub containers: Vec<String>,
    /// The pod's containers, by their manifest name, with their Docker names.
    pub pod: Vec<(String, String)>,
    /// The private network.
    pub network: String,
    /// The controller on the host (`127.0.0.1:port`).
    pub controller: String,
    /// Prometheus on the host.
    pub prometheus: String,
}

impl PodConfig {
    fn container(&self, part: &str) -> String {
        format!("{}-{part}", self.name)
    }

    fn network(&self) -> String {
        format!("{}-net", self.name)
    }

    fn image(&self, manifest_image: &str) -> String {
        let last = manifest_image.rsplit('/').next().unwrap_or(manifest_image);
        let base = last.split([':', '@']).next().unwrap_or(last);
        format!("{}{base}:{}", self.image_prefix, self.image_tag)
    }
}

fn abs(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn manifest_error(file: &Path, message: impl Into<String>) -> Error {
    Error::Manifest {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// The `docker run` arguments of every container of the pod in `object` (a Deployment or a
/// Pod): the first owns the network namespace (on `network`), the others join it.
pub fn pod_runs(config: &PodConfig, object: &Object, network: &str) -> Result<Vec<Run>> {
    let file = &object.file;
    let spec = pod_spec(object)
        .ok_or_else(|| manifest_error(file, format!("{}: not a Deployment or Pod", object.id())))?;
    let pod_name = object.name().to_string();
    let namespace = object.namespace().unwrap_or("default").to_string();
    let security = &spec["securityContext"];
    let automount = spec["automountServiceAccountToken"].as_bool() != Some(false);
    let volumes: Vec<&Value> = spec["volumes"].as_array().into_iter().flatten().collect();
    let mut runs = Vec::new();
    let mut owner: Option<String> = None;
    for c in containers(spec) {
        let cname = c["name"].as_str().unwrap_or("");
        let place = |m: String| manifest_error(file, format!("container {cname}: {m}"));
        let name = config.container(cname);
        let mut args: Vec<String> = vec![
            "--name".into(),
            name.clone(),
            "--label".into(),
            format!("inferno.pod={}", config.name),
            "--label".into(),
            format!("io.kubernetes.pod.name={pod_name}"),
            "--label".into(),
            format!("io.kubernetes.container.name={cname}"),
            "--restart".into(),
            "always".into(),
            // Docker's health status every 2 s (the image's default is 10 s), to start fast.
            "--health-interval".into(),
            "2s".into(),
        ];
        match &owner {
            None => {
                args.extend([
                    "--network".into(),
                    network.into(),
                    "--hostname".into(),
                    pod_name.clone(),
                    "--network-alias".into(),
                    config.container("pod"),
                ]);
                // The ports users reach: the controller's, published on the host's loopback.
                if let Some(port) = c["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find_map(|p| p["containerPort"].as_u64())
                    .filter(|_| cname == "controller")
                {
                    let host = match config.controller_port {
                        0 => String::new(),
                        p => p.to_string(),
                    };
                    args.extend(["--publish".into(), format!("127.0.0.1:{host}:{port}")]);
                }
            }
            Some(first) => args.extend(["--network".into(), format!("container:{first}")]),
        }
        // Security: the pod's user and group, then the container's own context.
        let user = c["securityContext"]["runAsUser"]
            .as_i64()
            .or_else(|| security["runAsUser"].as_i64());
        let group = c["securityContext"]["runAsGroup"]
            .as_i64()
            .or_else(|| security["runAsGroup"].as_i64());
        if let Some(u) = user {
            let user = group.map_or(u.to_string(), |g| format!("{u}:{g}"));
            args.extend(["--user".into(), user]);
        }
        let sc = &c["securityContext"];
        if sc["readOnlyRootFilesystem"].as_bool() == Some(true) {
            args.push("--read-only".into());
        }
        if sc["allowPrivilegeEscalation"].as_bool() == Some(false) {
            args.extend(["--security-opt".into(), "no-new-privileges".into()]);
        }
        for cap in strings(&sc["capabilities"]["drop"]) {
            args.extend(["--cap-drop".into(), cap]);
        }
        if let Some(cpu) = c["resources"]["limits"]["cpu"].as_str().and_then(quantity) {
            args.extend(["--cpus".into(), format!("{cpu}")]);
        }
        if let Some(mem) = c["resources"]["limits"]["memory"]
            .as_str()
            .and_then(quantity)
        {
            args.extend(["--memory".into(), format!("{}b", mem as u64)]);
        }
        // Environment: values as written, the downward API's pod name and namespace.
        let mut env: Vec<(String, String)> = Vec::new();
        for e in c["env"].as_array().into_iter().flatten() {
            let key = e["name"].as_str().unwrap_or("").to_string();
            let value = match (
                e["value"].as_str(),
                e["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            ) {
                (Some(v), _) => v.to_string(),
                (None, Some("metadata.name")) => pod_name.clone(),
                (None, Some("metadata.namespace")) => namespace.clone(),
                (None, None) if e.get("valueFrom").is_none() => String::new(),
                _ => {
                    return Err(place(format!(
                        "env {key}: only values and the pod's name and namespace"
                    )))
                }
            };
            env.push((key, value));
        }
        // Mounts: the data ConfigMaps as the data directory; the token as a kubeconfig.
        let mut api = automount;
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let vname = m["name"].as_str().unwrap_or("");
            let path = m["mountPath"].as_str().unwrap_or("");
            let volume = volumes
                .iter()
                .find(|v| v["name"] == vname)
                .ok_or_else(|| place(format!("volumeMount {vname}: no such volume")))?;
            let sources = volume["projected"]["sources"].as_array();
            let configmaps =
                sources.is_some_and(|s| s.iter().all(|s| s.get("configMap").is_some()));
            let token =
                sources.is_some_and(|s| s.iter().any(|s| s.get("serviceAccountToken").is_some()));
            if configmaps || volume.get("configMap").is_some() {
                let data = config.work.join("data");
                args.extend(["--volume".into(), format!("{}:{path}:ro", data.display())]);
            } else if token {
                api = true;
            } else {
                return Err(place(format!(
                    "volume {vname}: only projected ConfigMaps and the service-account token \
                     can be run here"
                )));
            }
        }
        if api {
            let kubeconfig = config.work.join("kubeconfig");
            args.extend([
                "--volume".into(),
                format!("{}:{KUBECONFIG_PATH}:ro", kubeconfig.display()),
            ]);
            env.push(("KUBECONFIG".into(), KUBECONFIG_PATH.into()));
        }
        if let Some(probe) = probe_url(c) {
            env.push(("INFERNO_PROBE_URL".into(), probe));
        }
        for (container, key, value) in &config.env {
            if container == cname {
                env.retain(|(k, _)| k != key);
                env.push((key.clone(), value.clone()));
            }
        }
        for (k, v) in env {
            args.extend(["--env".into(), format!("{k}={v}")]);
        }
        let command = strings(&c["command"]);
        if let Some(entry) = command.first() {
            args.extend(["--entrypoint".into(), entry.clone()]);
        }
        let image = c["image"]
            .as_str()
            .ok_or_else(|| place("no image".into()))?;
        args.push(config.image(image));
        args.extend(command.into_iter().skip(1));
        args.extend(strings(&c["args"]));
        if owner.is_none() {
            owner = Some(name.clone());
        }
        runs.push(Run { name, args });
    }
    if runs.is_empty() {
        return Err(manifest_error(
            file,
            format!("{}: no containers", object.id()),
        ));
    }
    Ok(runs)
}

/// The readiness probe (or else the liveness probe) as a URL on the pod's loopback.
fn probe_url(c: &Value) -> Option<String> {
    let get = [&c["readinessProbe"], &c["livenessProbe"]]
        .into_iter()
        .map(|p| &p["httpGet"])
        .find(|g| g.is_object())?;
    let port = match &get["port"] {
        Value::Number(n) => n.as_u64()?,
        Value::String(name) => c["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == *name.as_str())?["containerPort"]
            .as_u64()?,
        _ => return None,
    };
    let path = get["path"].as_str().unwrap_or("/");
    Some(format!("http://127.0.0.1:{port}{path}"))
}

/// The object of `kind` in `file`.
fn find(file: &Path, kind: &str) -> Result<Object> {
    manifest::load_file(file)?
        .into_iter()
        .find(|o| o.kind() == kind)
        .ok_or_else(|| manifest_error(file, format!("no {kind}")))
}

/// Runs `docker args...`; its stdout.
pub fn docker(docker: &str, args: &[String]) -> Result<String> {
    let line = format!("{docker} {}", args.join(" "));
    let out = Command::new(docker)
        .args(args)
        .output()
        .map_err(|e| Error::Docker {
            command: line.clone(),
            message: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Docker {
            command: line,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn run(config: &PodConfig, r: &Run) -> Result<()> {
    let mut args = vec!["run".to_string(), "--detach".into()];
    args.extend(r.args.iter().cloned());
    docker(&config.docker, &args).map(|_| ())
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Removes every container and the network of the run `name` (nothing when there are none).
pub fn down(docker_cli: &str, name: &str) -> Result<Vec<String>> {
    let ids = docker(
        docker_cli,
        &strs(&[
            "ps",
            "--all",
            "--quiet",
            "--filter",
            &format!("label=inferno.pod={name}"),
        ]),
    )?;
    let ids: Vec<String> = ids.lines().map(str::to_string).collect();
    if !ids.is_empty() {
        let mut args = strs(&["rm", "--force", "--volumes"]);
        args.extend(ids.iter().cloned());
        docker(docker_cli, &args)?;
    }
    let network = format!("{name}-net");
    if docker(docker_cli, &strs(&["network", "inspect", &network])).is_ok() {
        docker(docker_cli, &strs(&["network", "rm", &network]))?;
    }
    Ok(ids)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Starts the pod and its stand-ins (after removing any earlier run of the same name) and waits
/// until every container with a health check is healthy.
pub fn up(config: &PodConfig) -> Result<Pod> {
    down(&config.docker, &config.name)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(&config.work).map_err(io(&config.work))?;
    let work = abs(&config.work)?;
    let config = &PodConfig {
        work: work.clone(),
        ..config.clone()
    };
    let samples = abs(&config.samples)?;
    let data_dir = abs(&config.data)?;
    // The ConfigMaps' files, as the projected volume holds them.
    let data = work.join("data");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(io(&data))?;
    for f in DATA_FILES.iter().flat_map(|(_, files)| files.iter()) {
        std::fs::copy(data_dir.join(f), data.join(f)).map_err(io(&data_dir.join(f)))?;
    }
    // The emulator writes the targets file here (as user 65532), Prometheus reads it.
    let shared = work.join("shared");
    std::fs::create_dir_all(&shared).map_err(io(&shared))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777))
        .map_err(io(&shared))?;
    write(&shared.join("targets.json"), "[]")?;
    let network = config.network();
    let kubesim = config.container("kubesim");
    write(
        &work.join("kubeconfig"),
        &format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: \
             http://{kubesim}:{KUBESIM_PORT}\ncontexts:\n- name: kubesim\n  context:\n    \
             cluster: kubesim\n    user: kubesim\ncurrent-context: kubesim\nusers:\n- name: \
             kubesim\n  user: {{}}\n"
        ),
    )?;
    write(
        &work.join("prometheus.yml"),
        "global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\n  evaluation_interval: 5s\n\
         scrape_configs:\n  - job_name: vllm\n    file_sd_configs:\n      - files: \
         ['/shared/targets.json']\n        refresh_interval: 5s\n",
    )?;
    for f in ["kubeconfig", "prometheus.yml", "targets.json"] {
        let p = if f == "targets.json" {
            shared.join(f)
        } else {
            work.join(f)
        };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(io(&p))?;
    }

    docker(
        &config.docker,
        &strs(&[
            "network",
            "create",
            "--label",
            &format!("inferno.pod={}", config.name),
            &network,
        ]),
    )?;
    let label = format!("inferno.pod={}", config.name);
    let base = |name: &str| {
        strs(&[
            "--name",
            name,
            "--label",
            &label,
            "--network",
            &network,
            "--read-only",
            "--health-interval",
            "2s",
        ])
    };
    let mut stand_ins = Vec::new();
    let mut a = base(&kubesim);
    a.extend(strs(&[
        "--tmpfs",
        "/tmp:mode=1777",
        "--volume",
        &format!("{}:/samples:ro", samples.display()),
        &format!("{}kubesim:{}", config.image_prefix, config.image_tag),
        "--listen",
        &format!("0.0.0.0:{KUBESIM_PORT}"),
        "--kubeconfig",
        "/tmp/kubeconfig",
        "--load",
        "/samples",
        "--pod-ready-delay",
        "2",
    ]));
    stand_ins.push(Run {
        name: kubesim.clone(),
        args: a,
    });
    let vllm = config.container("vllm-emulator");
    let mut a = base(&vllm);
    let prom_host = match config.prometheus_port {
        0 => String::new(),
        p => p.to_string(),
    };
    a.extend(strs(&[
        "--publish",
        &format!("127.0.0.1:{prom_host}:{PROMETHEUS_PORT}"),
        "--volume",
        &format!("{}:/shared", shared.display()),
        "--volume",
        &format!("{}:/data:ro", data.display()),
        "--volume",
        &format!("{}:{KUBECONFIG_PATH}:ro", work.join("kubeconfig").display()),
        "--env",
        &format!("KUBECONFIG={KUBECONFIG_PATH}"),
        &format!("{}vllm-emulator:{}", config.image_prefix, config.image_tag),
        "follow",
        "--model-data",
        "/data/model-data.json",
        "--targets-file",
        "/shared/targets.json",
        "--namespace",
        "infer",
        "--drive",
    ]));
    stand_ins.push(Run {
        name: vllm.clone(),
        args: a,
    });
    let prometheus = config.container("prometheus");
    stand_ins.push(Run {
        name: prometheus.clone(),
        args: strs(&[
            "--name",
            &prometheus,
            "--label",
            &label,
            "--network",
            &format!("container:{vllm}"),
            "--read-only",
            "--health-interval",
            "2s",
            "--tmpfs",
            "/prometheus:mode=1777",
            "--volume",
            &format!(
                "{}:/etc/prometheus/prometheus.yml:ro",
                work.join("prometheus.yml").display()
            ),
            "--volume",
            &format!("{}:/shared:ro", shared.display()),
            &format!("{}prometheus:{}", config.image_prefix, config.image_tag),
            "--config.file=/etc/prometheus/prometheus.yml",
            "--storage.tsdb.path=/prometheus",
            &format!("--web.listen-address=0.0.0.0:{PROMETHEUS_PORT}"),
        ]),
    });

    let deployment = find(&config.manifest, "Deployment")?;
    let mut pod_config = config.clone();
    // The collector reads load from this Prometheus (the manifest leaves the URL to the site).
    if !config
        .env
        .iter()
        .any(|(c, k, _)| c == "collector" && k == "INFERNO_PROMETHEUS_URL")
    {
        pod_config.env.push((
            "collector".into(),
            "INFERNO_PROMETHEUS_URL".into(),
            format!("http://{vllm}:{PROMETHEUS_PORT}"),
        ));
    }
    let runs = pod_runs(&pod_config, &deployment, &network)?;
    let mut extra = Vec::new();
    if let Some(file) = &config.load_emulator {
        let pod = find(file, "Pod")?;
        extra = pod_runs(config, &pod, &network)?;
    }

    let mut started: Vec<String> = Vec::new();
    for r in stand_ins.iter().take(1) {
        run(config, r)?;
        started.push(r.name.clone());
    }
    wait_healthy(&config.docker, &started, config.timeout)?;
    for r in stand_ins.iter().skip(1).chain(&runs).chain(&extra) {
        run(config, r)?;
        started.push(r.name.clone());
    }
    wait_healthy(&config.docker, &started, config.timeout)?;
    let controller = port(&config.docker, &runs[0].name, "3300").unwrap_or_else(|_| String::new());
    let prometheus = port(&config.docker, &vllm, &PROMETHEUS_PORT.to_string())?;
    let pod = deployment_containers(&deployment)
        .into_iter()
        .map(|c| {
            let n = config.container(&c);
            (c, n)
        })
        .collect();
    let mut containers: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    containers.extend(stand_ins.iter().chain(&extra).map(|r| r.name.clone()));
    Ok(Pod {
        containers,
        pod,
        network,
        controller,
        prometheus,
    })
}

fn deployment_containers(o: &Object) -> Vec<String> {
    pod_spec(o)
        .map(containers)
        .unwrap_or(&[])
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The host address (`127.0.0.1:port`) a container's port is published on.
pub fn port(docker_cli: &str, container: &str, port: &str) -> Result<String> {
    let out = docker(docker_cli, &strs(&["port", container, port]))?;
    out.lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .map(str::to_string)
        .ok_or_else(|| Error::Docker {
            command: format!("{docker_cli} port {container} {port}"),
            message: format!("not published on 127.0.0.1: {out}"),
        })
}

/// Each container's state and health (`none` without a health check).
pub fn health(docker_cli: &str, names: &[String]) -> Result<Vec<(String, String, String)>> {
    let mut args = strs(&[
        "inspect",
        "--format",
        "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
    ]);
    args.extend(names.iter().cloned());
    let out = docker(docker_cli, &args)?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((
                w.next()?.trim_start_matches('/').to_string(),
                w.next()?.to_string(),
                w.next()?.to_string(),
            ))
        })
        .collect())
}

/// Waits until every container in `names` runs and is healthy (or has no health check); an
/// error naming the ones that are not, with the end of their logs.
pub fn wait_healthy(docker_cli: &str, names: &[String], timeout: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        let states = health(docker_cli, names)?;
        let waiting: Vec<&(String, String, String)> = states
            .iter()
            .filter(|(_, status, health)| {
                status != "running" || !(health == "healthy" || health == "none")
            })
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let dead = waiting
            .iter()
            .find(|(_, s, _)| s == "exited" || s == "dead");
        if dead.is_some() || start.elapsed() > timeout {
            let mut message = String::from("not healthy:");
            for (name, status, health) in &waiting {
                let logs = Command::new(docker_cli)
                    .args(["logs", "--tail", "15", name])
                    .output()
                    .map(|o| {
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        )
                    })
                    .unwrap_or_default();
                message.push_str(&format!("\n  {name}: {status}, {health}; log:\n{logs}"));
            }
            return Err(Error::Unhealthy(message));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
