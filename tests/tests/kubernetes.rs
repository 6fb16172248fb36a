//! The listener's `kubernetes` executor, end to end: runs executed through a real
//! kube-apiserver 1.20 (with the real Job controller, scheduler, garbage collector and RBAC,
//! see `scripts/kube.sh`), on a fake node (`tests/kube/fake_node.py`) that executes each
//! pod's command as a local process with the pod's environment (the job token read from its
//! Secret through the API) and reports its status and log back through the API.
//!
//! The listener is a separate `terrace listener --executor kubernetes` process on the server's
//! own pool, authenticated to Kubernetes as a ServiceAccount bound to exactly the Role of
//! `deploy/kubernetes/listener-rbac.yaml`. Runner pods are restricted (non-root, read-only
//! root filesystem, ...); the fake node runs them as their user when the test runs as root.
//! The runner NetworkPolicy of `deploy/kubernetes/runner-networkpolicy.yaml` is created too,
//! though nothing enforces it here (there is no network plugin).
//!
//! Needs the control plane built (`scripts/kube.sh build`, which `scripts/test.sh` runs):
//! without it this test fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::kube::{self, ControlPlane, FakeNode};
use terrace_tests::runs::{
    create_run, phase_log, upload_configuration, wait_for_run, SilentSource,
};
use terrace_tests::{running_as_root, terrace_bin, workspace_root, Api, Db, Server, Terraform};

const NAMESPACE: &str = "terrace-runs";
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const MANAGED: &str = "app.kubernetes.io/managed-by=terrace-listener";
/// The runner pods' user, group and volume group (the listener's default).
const RUNNER_ID: u32 = 65532;

const CONFIG: &str = r#"
resource "terraform_data" "a" {
  input = "a-hello"
}
resource "terraform_data" "b" {
  input = "b-hello"
}
output "a" {
  value = terraform_data.a.output
}
"#;

/// etcd, kube-apiserver, kube-controller-manager and kube-scheduler on loopback, and the
/// fake node (Ready); all stopped when dropped, the node first.
struct Cluster {
    node: FakeNode,
    plane: ControlPlane,
}

impl Cluster {
    fn start() -> Cluster {
        let plane = ControlPlane::start();
        Cluster {
            node: FakeNode::start(&plane, &[]),
            plane,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.plane.dir().join(name)
    }

    fn ca(&self) -> PathBuf {
        self.plane.pki().join("ca.crt")
    }

    /// The names of the listener's Jobs, pods or Secrets left in the namespace.
    fn leftovers(&self, resource: &str) -> Vec<String> {
        let group = if resource == "jobs" {
            "apis/batch/v1"
        } else {
            "api/v1"
        };
        let list = self.plane.get(&format!(
            "/{group}/namespaces/{NAMESPACE}/{resource}?labelSelector={MANAGED}"
        ));
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn assert_cleaned_up(&self) {
        self.plane.wait_for(
            "the Jobs, pods and Secrets to be deleted",
            Duration::from_secs(60),
            || {
                ["jobs", "secrets", "pods"]
                    .iter()
                    .all(|r| self.leftovers(r).is_empty())
            },
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // (The fake node stops after this, printing its log, then the control plane.)
        if std::thread::panicking() {
            for log in ["k8s/logs/kcm.log", "k8s/logs/scheduler.log"] {
                let text = std::fs::read_to_string(self.path(log)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("--- {log} (last lines)");
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// The namespace and the listener's RBAC (`deploy/kubernetes/listener-rbac.yaml`); returns
/// a kubeconfig for the listener's ServiceAccount, and its token.
fn set_up_rbac(cluster: &Cluster) -> (PathBuf, String) {
    let plane = &cluster.plane;
    plane.create(
        "/api/v1/namespaces",
        "application/json",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            .to_string(),
    );
    let rbac =
        std::fs::read_to_string(workspace_root().join("deploy/kubernetes/listener-rbac.yaml"))
            .unwrap();
    for document in rbac.split("\n---\n") {
        let kind = document
            .lines()
            .find_map(|l| l.strip_prefix("kind: "))
            .expect("a kind");
        let path = match kind {
            "ServiceAccount" => format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"),
            "Role" => format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/roles"),
            "RoleBinding" => {
                format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings")
            }
            other => panic!("unexpected {other} in the RBAC manifest"),
        };
        // The API server reads YAML.
        plane.create(&path, "application/yaml", document.to_string());
    }
    // The token controller gives the ServiceAccount a token Secret (Kubernetes 1.20).
    let mut token = String::new();
    plane.wait_for(
        "the ServiceAccount's token",
        Duration::from_secs(30),
        || {
            let sa = plane.get(&format!(
                "/api/v1/namespaces/{NAMESPACE}/serviceaccounts/terrace-listener"
            ));
            let Some(secret) = sa["secrets"][0]["name"].as_str() else {
                return false;
            };
            let secret = plane.get(&format!("/api/v1/namespaces/{NAMESPACE}/secrets/{secret}"));
            let Some(encoded) = secret["data"]["token"].as_str() else {
                return false;
            };
            use base64::Engine;
            token = String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap(),
            )
            .unwrap();
            true
        },
    );
    // Pods need the namespace's default ServiceAccount.
    plane.wait_for(
        "the default ServiceAccount",
        Duration::from_secs(30),
        || {
            !plane
                .get(&format!(
                    "/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"
                ))
                .is_null()
        },
    );
    let kubeconfig = cluster.path("listener.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{}\", certificate-authority: \"{}\"}}\nusers:\n- name: listener\n  user: {{token: \"{token}\"}}\ncontexts:\n- name: test\n  context: {{cluster: test, user: listener, namespace: {NAMESPACE}}}\ncurrent-context: test\n",
            plane.url,
            cluster.ca().display()
        ),
    )
    .unwrap();
    (kubeconfig, token)
}

/// The runner pods' NetworkPolicy (`deploy/kubernetes/runner-networkpolicy.yaml`), created
/// as it is, after a server-side dry run of it and of its "own namespace only" option; returns
/// the policy as stored. The API server validates it; nothing enforces it here.
fn create_network_policy(cluster: &Cluster) -> Value {
    let plane = &cluster.plane;
    let manifest = std::fs::read_to_string(
        workspace_root().join("deploy/kubernetes/runner-networkpolicy.yaml"),
    )
    .unwrap();
    // The option, as its comment says to choose it.
    let option = manifest
        .lines()
        .filter(|l| !l.trim_end().ends_with("# delete for own-namespace-only"))
        .map(|l| l.replacen("#own-namespace-only# ", "", 1))
        .collect::<Vec<_>>()
        .join("\n");
    let path = format!("/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies");
    let dry_run = |yaml: &str| {
        let policy = plane.create(
            &format!("{path}?dryRun=All"),
            "application/yaml",
            yaml.to_string(),
        );
        assert_eq!(policy["kind"], "NetworkPolicy", "{policy}");
        policy["spec"].clone()
    };
    // The option: egress to pods only by the namespaces it names, none to the pod CIDR.
    let spec = dry_run(&option);
    let egress = spec["egress"].as_array().unwrap();
    assert_eq!(egress.len(), 2, "{spec}");
    assert!(
        egress[0]["to"][0]["ipBlock"]["except"]
            .as_array()
            .unwrap()
            .contains(&json!("10.244.0.0/16")),
        "{spec}"
    );
    for peer in egress
        .iter()
        .flat_map(|rule| rule["to"].as_array().unwrap())
    {
        if let Some(namespaces) = peer.get("namespaceSelector") {
            assert!(namespaces["matchLabels"].is_object(), "{spec}");
        }
    }
    // The default, dry run and then for real: a 1.20 API server drops fields it does not
    // know, so what it keeps must be the whole manifest.
    let expected = json!({
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/managed-by": "terrace-listener"},
            "matchExpressions": [{"key": "terrace.io/job", "operator": "Exists"}]
        },
        "policyTypes": ["Ingress", "Egress"],
        "egress": [{"to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}},
            {"ipBlock": {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}},
            {"namespaceSelector": {}}
        ]}]
    });
    assert_eq!(dry_run(&manifest), expected);
    assert!(plane.get(&format!("{path}/terrace-runner")).is_null());
    plane.create(&path, "application/yaml", manifest);
    let stored = plane.get(&format!("{path}/terrace-runner"));
    assert_eq!(stored["spec"], expected, "{stored}");
    stored
}

/// Whether this process runs as root (and so the fake node, which can then switch users).
/// A `terrace listener --executor kubernetes`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Listener {
    child: Child,
    log: PathBuf,
}

impl Listener {
    fn start(
        server: &Server,
        token: &str,
        kubeconfig: &Path,
        dir: &Path,
        name: &str,
        extra: &[&str],
    ) -> Listener {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(terrace_bin())
            .args(["listener", "--server-url", &server.url, "--ca-file"])
            // Terrace's CA alone: it goes to the pods (the system's they have).
            .arg(server.data_dir.join("tls/ca.pem"))
            .args([
                "--name",
                name,
                "--executor",
                "kubernetes",
                "--kube-kubeconfig",
            ])
            .arg(kubeconfig)
            .args(if extra.contains(&"--kube-image") {
                &[][..]
            } else {
                &["--kube-image", "terrace:test"][..]
            })
            .args(["--kube-pending-timeout", "5"])
            .args([
                "--kube-delete-grace-period",
                "5",
                "--kube-label",
                "suite=e2e",
            ])
            .args(["--kube-request", "cpu=100m", "--kube-limit", "memory=1Gi"])
            .args(extra)
            .env("TERRACE_AGENT_TOKEN", token)
            .env("TERRACE_LOG", "info")
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("terrace listener starts");
        let mut listener = Listener { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = listener.log();
            if text.contains("registered") {
                break;
            }
            if let Ok(Some(status)) = listener.child.try_wait() {
                panic!("the listener exited ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "the listener did not register:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        listener
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- listener log\n{}", self.log());
        }
    }
}

fn cloud_block(server: &Server, workspace: &str) -> String {
    format!(
        "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{\n      name = \"{workspace}\"\n    }}\n  }}\n}}\n",
        server.hostname
    )
}

fn latest_run(api: &Api, workspace: &str) -> Value {
    let id = api
        .get(&format!("organizations/default/workspaces/{workspace}"))
        .ok()
        .id();
    api.get(&format!("workspaces/{id}/runs")).ok().body["data"][0].clone()
}

#[test]
fn runs_execute_in_kubernetes_jobs() {
    let cluster = Cluster::start();
    let plane = &cluster.plane;
    let (kubeconfig, sa_token) = set_up_rbac(&cluster);

    // The listener's RBAC: exactly the Role.
    let restricted = kube::client(&std::fs::read(cluster.ca()).unwrap(), &sa_token);
    for (method, path, allowed) in [
        (
            "GET",
            format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs"),
            true,
        ),
        ("GET", format!("/api/v1/namespaces/{NAMESPACE}/pods"), true),
        (
            "GET",
            format!("/api/v1/namespaces/{NAMESPACE}/secrets"),
            false,
        ),
        (
            "GET",
            "/apis/batch/v1/namespaces/default/jobs".to_string(),
            false,
        ),
        ("GET", "/api/v1/nodes".to_string(), false),
    ] {
        let (status, body) = plane.request(&restricted, method, &path, None);
        assert_eq!(status == 200, allowed, "{method} {path}: {status} {body}");
        if !allowed {
            assert_eq!(status, 403, "{method} {path}: {body}");
        }
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sneaky"},
        "spec": {"containers": [{"name": "c", "image": "x", "command": ["true"]}]}});
    let (status, body) = plane.request(
        &restricted,
        "POST",
        &format!("/api/v1/namespaces/{NAMESPACE}/pods"),
        Some(("application/json", pod.to_string())),
    );
    assert_eq!(status, 403, "the listener may not create pods: {body}");
    let policy = create_network_policy(&cluster);

    let server = Server::builder(Db::Sqlite).arg("--no-listener").start();
    let agent_token = server.admin(&["listener-token", "--description", "kubernetes"]);
    let agent_token = agent_token.trim();
    let token = server.admin_token();
    let api = server.api(&token);
    let listener = Listener::start(
        &server,
        agent_token,
        &kubeconfig,
        plane.dir(),
        "kube-1",
        &[],
    );

    // A remote plan and apply with the real terraform CLI, each phase a Kubernetes Job.
    let tf = Terraform::new(&server, &token);
    tf.write(
        "main.tf",
        &format!("{}{CONFIG}", cloud_block(&server, "kube")),
    );
    tf.ok(&["init", "-input=false"]);
    let out = tf.ok(&["apply", "-auto-approve", "-input=false"]);
    assert!(out.contains("Plan: 2 to add"), "{out}");
    assert!(out.contains("Apply complete! Resources: 2 added"), "{out}");
    assert!(out.contains("a = \"a-hello\""), "{out}");
    let run = latest_run(&api, "kube");
    assert_eq!(run["attributes"]["status"], "applied", "{run}");
    let log = listener.log();
    assert!(log.contains("created the Job"), "{log}");
    // The pods' logs (the runners' own) reach the listener's log through the API server.
    assert!(log.contains("terrace::runner_pod"), "{log}");
    assert!(log.contains("running a job"), "{log}");
    assert!(log.contains("deleted the finished Job"), "{log}");
    // The runner ran as the pods' user: it wrote only to its emptyDir (the fake node has no
    // read-only root filesystem, but that user can write almost nowhere else).
    let node_log = cluster.node.log();
    if running_as_root() {
        let as_runner = format!("as uid {RUNNER_ID} gid {RUNNER_ID} groups [{RUNNER_ID}]");
        assert!(node_log.contains(&as_runner), "{node_log}");
    }
    cluster.assert_cleaned_up();

    // A failing run: terraform's error reaches the CLI, the run is errored.
    tf.write(
        "main.tf",
        &format!(
            "{}resource \"terraform_data\" \"x\" {{\n  input = file(\"/nonexistent/terrace\")\n}}\n",
            cloud_block(&server, "kube")
        ),
    );
    let out = tf.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        out.contains("Error") && out.contains("nonexistent"),
        "{out}"
    );
    let run = latest_run(&api, "kube");
    assert_eq!(run["attributes"]["status"], "errored", "{run}");
    cluster.assert_cleaned_up();

    // A cancel: the runner in its pod sees it and interrupts terraform.
    let silent = SilentSource::new();
    let workspace_id = api.get("organizations/default/workspaces/kube").ok().id();
    let slow = silent.configuration();
    let cv = upload_configuration(&api, &workspace_id, &[("main.tf", &slow)], false);
    let run_id = create_run(&api, &workspace_id, Some(&cv), json!({})).id();
    let _held = silent.accept();
    let jobs = cluster.leftovers("jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    // The Job as configured, its token in a Secret that the Job owns.
    let job = plane.get(&format!(
        "/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{}",
        jobs[0]
    ));
    assert_eq!(job["spec"]["backoffLimit"], 0, "{job}");
    assert_eq!(job["metadata"]["labels"]["suite"], "e2e", "{job}");
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["restartPolicy"], "Never", "{job}");
    assert_eq!(pod_spec["automountServiceAccountToken"], false, "{job}");
    let container = &pod_spec["containers"][0];
    assert_eq!(container["image"], "terrace:test", "{job}");
    assert_eq!(container["resources"]["requests"]["cpu"], "100m", "{job}");
    assert_eq!(container["resources"]["limits"]["memory"], "1Gi", "{job}");
    // Restricted, as the API server (1.20) stored it in the Job and in the pod it made.
    let pods = plane.get(&format!(
        "/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=job-name={}",
        jobs[0]
    ));
    let pod = &pods["items"][0];
    assert_eq!(pods["items"].as_array().unwrap().len(), 1, "{pods}");
    for spec in [pod_spec, &pod["spec"]] {
        assert_eq!(
            spec["securityContext"],
            json!({
                "runAsNonRoot": true,
                "runAsUser": RUNNER_ID,
                "runAsGroup": RUNNER_ID,
                "fsGroup": RUNNER_ID,
                "seccompProfile": {"type": "RuntimeDefault"}
            }),
            "{spec}"
        );
        assert_eq!(spec["automountServiceAccountToken"], false, "{spec}");
        assert_eq!(
            spec["volumes"],
            json!([{"name": "scratch", "emptyDir": {}}]),
            "{spec}"
        );
        let container = &spec["containers"][0];
        assert_eq!(
            container["securityContext"],
            json!({
                "runAsNonRoot": true,
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
                "readOnlyRootFilesystem": true
            }),
            "{spec}"
        );
        assert_eq!(
            container["volumeMounts"],
            json!([{"name": "scratch", "mountPath": "/tmp"}]),
            "{spec}"
        );
        let env = container["env"].as_array().unwrap();
        for name in ["HOME", "TMPDIR", "TERRACE_WORK_DIR"] {
            let values: Vec<&Value> = env
                .iter()
                .filter(|e| e["name"] == name)
                .map(|e| &e["value"])
                .collect();
            assert_eq!(values, [&json!("/tmp")], "{name}: {spec}");
        }
    }
    // The NetworkPolicy's selector picks the runner pod.
    let selector = &policy["spec"]["podSelector"];
    let (label, value) = selector["matchLabels"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let selected = plane.get(&format!(
        "/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={label}={},{}",
        value.as_str().unwrap(),
        selector["matchExpressions"][0]["key"].as_str().unwrap()
    ));
    assert_eq!(
        selected["items"][0]["metadata"]["name"], pod["metadata"]["name"],
        "{selected}"
    );
    let env = container["env"].as_array().unwrap();
    let token = env
        .iter()
        .find(|e| e["name"] == "TERRACE_JOB_TOKEN")
        .expect("the job token");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], jobs[0], "{job}");
    assert!(token.get("value").is_none(), "{job}");
    let secret = plane.get(&format!(
        "/api/v1/namespaces/{NAMESPACE}/secrets/{}",
        jobs[0]
    ));
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "Job", "{secret}");
    assert_eq!(owner["uid"], job["metadata"]["uid"], "{secret}");
    api.post(&format!("runs/{run_id}/actions/cancel"), &json!({}))
        .expect(202);
    wait_for_run(&api, &run_id, &["canceled"], RUN_TIMEOUT);
    cluster.assert_cleaned_up();

    // A listener that shuts down deletes its Jobs: the pods get SIGTERM, and their runners
    // end their jobs errored (nobody asked for a cancel).
    let run_id = create_run(&api, &workspace_id, Some(&cv), json!({})).id();
    let _held = silent.accept();
    drop(listener);
    let run = wait_for_run(&api, &run_id, &["errored"], RUN_TIMEOUT);
    let log = phase_log(&api, &run_id, "plan");
    assert!(log.contains("shut down"), "{log}\n{}", run.text);
    cluster.assert_cleaned_up();
    drop(silent);

    // A pod nobody can schedule fails its run with the reason, instead of hanging.
    let listener = Listener::start(
        &server,
        agent_token,
        &kubeconfig,
        plane.dir(),
        "kube-2",
        &["--kube-node-selector", "pool=nobody"],
    );
    let cv = upload_configuration(&api, &workspace_id, &[("main.tf", CONFIG)], false);
    let run_id = create_run(&api, &workspace_id, Some(&cv), json!({})).id();
    let started = Instant::now();
    wait_for_run(&api, &run_id, &["errored"], RUN_TIMEOUT);
    let log = phase_log(&api, &run_id, "plan");
    assert!(log.contains("cannot be scheduled"), "{log}");
    assert!(
        log.contains("node selector") || log.contains("node(s)"),
        "{log}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    cluster.assert_cleaned_up();
    drop(listener);

    // Nor does an image that cannot be pulled.
    let listener = Listener::start(
        &server,
        agent_token,
        &kubeconfig,
        plane.dir(),
        "kube-3",
        &["--kube-image", "missing.invalid/terrace:1"],
    );
    let cv = upload_configuration(&api, &workspace_id, &[("main.tf", CONFIG)], false);
    let run_id = create_run(&api, &workspace_id, Some(&cv), json!({})).id();
    wait_for_run(&api, &run_id, &["errored"], RUN_TIMEOUT);
    let log = phase_log(&api, &run_id, "plan");
    assert!(log.contains("cannot start: ImagePullBackOff"), "{log}");
    cluster.assert_cleaned_up();
    drop(listener);
}
