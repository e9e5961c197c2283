//! The Kubernetes objects of a distributed run, as JSON values (pure):
//!
//! * a ConfigMap with the scenario file and every file it (or a flag) refers to,
//!   mounted read-only at [`MOUNT`] in every pod;
//! * the coordinator: a Job of one pod (`stampede coordinator`) and a Service the
//!   workers report to;
//! * the workers: an Indexed Job (`completionMode: Indexed`, completions = parallelism
//!   = N), each pod `stampede run ... --shard auto/N` (Kubernetes sets
//!   `JOB_COMPLETION_INDEX` in it), with resource requests and pod anti-affinity so
//!   that workers spread over nodes.
//!
//! No pod is retried (`backoffLimit: 0`): a worker that started late would not share
//! the run's time zero, so a failed worker is reported lost by the coordinator instead.

use base64::Engine;
use serde_json::{json, Map, Value};

pub(crate) use crate::args::Spread;

/// Where the ConfigMap's files appear in every pod.
pub(crate) const MOUNT: &str = "/scenario";

/// Where a results volume is mounted in the coordinator's pod.
pub(crate) const RESULTS: &str = "/results";

/// CPU and memory a container asks for (Kubernetes quantities, e.g. `500m`, `1Gi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resources {
    pub cpu: String,
    pub memory: String,
}

/// One file in the ConfigMap: its key and its path under [`MOUNT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigFile {
    pub key: String,
    pub path: String,
    pub content: Vec<u8>,
}

/// Everything the manifests say.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub name: String,
    pub namespace: Option<String>,
    pub image: String,
    pub workers: usize,
    /// The port the coordinator listens on for workers.
    pub port: u16,
    /// The coordinator's Prometheus port, when it serves one.
    pub metrics_port: Option<u16>,
    /// `stampede run ...` for every worker (without the program name).
    pub worker_args: Vec<String>,
    /// `stampede coordinator ...` (without the program name).
    pub coordinator_args: Vec<String>,
    pub worker_resources: Resources,
    pub coordinator_resources: Resources,
    pub spread: Spread,
    pub files: Vec<ConfigFile>,
    /// A PersistentVolumeClaim mounted at [`RESULTS`] in the coordinator's pod.
    pub results_pvc: Option<String>,
    /// `activeDeadlineSeconds` of both Jobs.
    pub deadline_s: u64,
}

impl Spec {
    fn labels(&self, component: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("app.kubernetes.io/name".into(), "stampede".into());
        m.insert(
            "app.kubernetes.io/instance".into(),
            self.name.clone().into(),
        );
        if let Some(c) = component {
            m.insert("app.kubernetes.io/component".into(), c.into());
        }
        Value::Object(m)
    }

    fn metadata(&self, name: String, component: Option<&str>) -> Value {
        let mut m = json!({ "name": name, "labels": self.labels(component) });
        if let Some(ns) = &self.namespace {
            m["namespace"] = ns.clone().into();
        }
        m
    }

    fn config_map_name(&self) -> String {
        format!("{}-scenario", self.name)
    }

    /// The coordinator's Service name, which is also its host name for the workers.
    pub(crate) fn coordinator_host(&self) -> String {
        format!("{}-coordinator", self.name)
    }

    fn scenario_volume(&self) -> Option<(Value, Value)> {
        if self.files.is_empty() {
            return None;
        }
        let items: Vec<Value> = self
            .files
            .iter()
            .map(|f| json!({ "key": f.key, "path": f.path }))
            .collect();
        Some((
            json!({ "name": "scenario", "configMap": { "name": self.config_map_name(), "items": items } }),
            json!({ "name": "scenario", "mountPath": MOUNT, "readOnly": true }),
        ))
    }

    fn resources(r: &Resources) -> Value {
        // Memory is also the limit (a load generator over its memory is better stopped
        // than swapping); CPU is not limited, so throttling never delays sends.
        json!({
            "requests": { "cpu": r.cpu, "memory": r.memory },
            "limits": { "memory": r.memory },
        })
    }
}

/// The manifests, in the order to apply them.
pub(crate) fn manifests(spec: &Spec) -> Vec<Value> {
    let mut out = Vec::new();
    if !spec.files.is_empty() {
        out.push(config_map(spec));
    }
    out.push(service(spec));
    out.push(coordinator(spec));
    out.push(workers(spec));
    out
}

fn config_map(spec: &Spec) -> Value {
    let mut data = Map::new();
    let mut binary = Map::new();
    for f in &spec.files {
        match std::str::from_utf8(&f.content) {
            Ok(text) => data.insert(f.key.clone(), text.into()),
            Err(_) => binary.insert(
                f.key.clone(),
                base64::engine::general_purpose::STANDARD
                    .encode(&f.content)
                    .into(),
            ),
        };
    }
    let mut cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": spec.metadata(spec.config_map_name(), None),
    });
    if !data.is_empty() {
        cm["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        cm["binaryData"] = Value::Object(binary);
    }
    cm
}

fn service(spec: &Spec) -> Value {
    let mut ports = vec![
        json!({ "name": "report", "port": spec.port, "targetPort": spec.port, "protocol": "TCP" }),
    ];
    if let Some(p) = spec.metrics_port {
        ports.push(json!({ "name": "metrics", "port": p, "targetPort": p, "protocol": "TCP" }));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": spec.metadata(spec.coordinator_host(), Some("coordinator")),
        "spec": {
            "selector": spec.labels(Some("coordinator")),
            "ports": ports,
        },
    })
}

fn coordinator(spec: &Spec) -> Value {
    let mut ports = vec![json!({ "name": "report", "containerPort": spec.port })];
    if let Some(p) = spec.metrics_port {
        ports.push(json!({ "name": "metrics", "containerPort": p }));
    }
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if let Some(claim) = &spec.results_pvc {
        volumes.push(json!({ "name": "results", "persistentVolumeClaim": { "claimName": claim } }));
        mounts.push(json!({ "name": "results", "mountPath": RESULTS }));
    }
    let container = with_list(
        json!({
            "name": "coordinator",
            "image": spec.image,
            "args": spec.coordinator_args,
            "ports": ports,
            "resources": Spec::resources(&spec.coordinator_resources),
        }),
        "volumeMounts",
        mounts,
    );
    job(
        spec,
        "coordinator",
        json!({ "backoffLimit": 0 }),
        with_list(
            json!({ "restartPolicy": "Never", "containers": [container] }),
            "volumes",
            volumes,
        ),
    )
}

fn workers(spec: &Spec) -> Value {
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    if let Some((v, m)) = spec.scenario_volume() {
        volumes.push(v);
        mounts.push(m);
    }
    let term = json!({
        "labelSelector": { "matchLabels": spec.labels(Some("worker")) },
        "topologyKey": "kubernetes.io/hostname",
    });
    let anti_affinity = match spec.spread {
        Spread::Preferred => json!({
            "preferredDuringSchedulingIgnoredDuringExecution": [
                { "weight": 100, "podAffinityTerm": term }
            ]
        }),
        Spread::Required => json!({ "requiredDuringSchedulingIgnoredDuringExecution": [term] }),
    };
    let container = with_list(
        json!({
            "name": "worker",
            "image": spec.image,
            "args": spec.worker_args,
            "resources": Spec::resources(&spec.worker_resources),
        }),
        "volumeMounts",
        mounts,
    );
    job(
        spec,
        "workers",
        json!({
            "completionMode": "Indexed",
            "completions": spec.workers,
            "parallelism": spec.workers,
            "backoffLimit": 0,
        }),
        with_list(
            json!({
                "restartPolicy": "Never",
                "affinity": { "podAntiAffinity": anti_affinity },
                "containers": [container],
            }),
            "volumes",
            volumes,
        ),
    )
}

/// `object` with `key: list`, unless the list is empty.
fn with_list(mut object: Value, key: &str, list: Vec<Value>) -> Value {
    if !list.is_empty() {
        object[key] = Value::Array(list);
    }
    object
}

/// A Job named `NAME-suffix` with `fields` in its spec and `pod` as its pod spec.
fn job(spec: &Spec, suffix: &str, fields: Value, pod: Value) -> Value {
    let component = match suffix {
        "workers" => "worker",
        other => other,
    };
    let mut job_spec = fields;
    job_spec["activeDeadlineSeconds"] = spec.deadline_s.into();
    job_spec["template"] = json!({
        "metadata": { "labels": spec.labels(Some(component)) },
        "spec": pod,
    });
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": spec.metadata(format!("{}-{suffix}", spec.name), Some(component)),
        "spec": job_spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            name: "load".into(),
            namespace: Some("perf".into()),
            image: "registry.example/stampede:1".into(),
            workers: 4,
            port: 7070,
            metrics_port: None,
            worker_args: vec!["run".into(), "/scenario/s.toml".into()],
            coordinator_args: vec!["coordinator".into()],
            worker_resources: Resources {
                cpu: "2".into(),
                memory: "1Gi".into(),
            },
            coordinator_resources: Resources {
                cpu: "500m".into(),
                memory: "256Mi".into(),
            },
            spread: Spread::Preferred,
            files: vec![ConfigFile {
                key: "s.toml".into(),
                path: "s.toml".into(),
                content: b"duration = \"10s\"\n".to_vec(),
            }],
            results_pvc: None,
            deadline_s: 600,
        }
    }

    #[test]
    fn indexed_workers_spread_over_nodes() {
        let all = manifests(&spec());
        let kinds: Vec<&str> = all.iter().map(|m| m["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ConfigMap", "Service", "Job", "Job"]);
        let w = &all[3]["spec"];
        assert_eq!(w["completionMode"], "Indexed");
        assert_eq!(
            (w["completions"].as_u64(), w["parallelism"].as_u64()),
            (Some(4), Some(4))
        );
        let pod = &w["template"]["spec"];
        let term = &pod["affinity"]["podAntiAffinity"]
            ["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"];
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
        assert_eq!(
            term["labelSelector"]["matchLabels"],
            w["template"]["metadata"]["labels"]
        );
        assert_eq!(pod["containers"][0]["resources"]["requests"]["cpu"], "2");
        assert_eq!(all[0]["data"]["s.toml"], "duration = \"10s\"\n");
        assert!(all.iter().all(|m| m["metadata"]["namespace"] == "perf"));
        // The Service selects the coordinator's pod.
        let selector = &all[1]["spec"]["selector"];
        assert_eq!(selector, &all[2]["spec"]["template"]["metadata"]["labels"]);
    }

    #[test]
    fn binary_files_and_required_spread() {
        let mut s = spec();
        s.files.push(ConfigFile {
            key: "blob.bin".into(),
            path: "data/blob.bin".into(),
            content: vec![0xff, 0x00],
        });
        s.spread = Spread::Required;
        let all = manifests(&s);
        assert_eq!(all[0]["binaryData"]["blob.bin"], "/wA=");
        let anti = &all[3]["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"];
        assert!(anti["requiredDuringSchedulingIgnoredDuringExecution"].is_array());
    }
}
