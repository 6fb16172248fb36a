//! The Helm chart's listener-only mode, installed: `helm/terrace` rendered with Helm 4 (the
//! `helm-python-sdk` package, through `tests/helm/check_chart.py`) for an agent pool of a
//! running Terrace server, its objects created in a real kube-apiserver 1.20.2
//! (`scripts/kube.sh`), and the listener's Deployment brought up by the cluster itself: the
//! Deployment and ReplicaSet controllers make its pod, the ServiceAccount admission mounts the
//! chart's ServiceAccount token into it, the scheduler binds it to the fake node
//! (`tests/kube/fake_node.py`), which executes `terrace listener ...` from the pod's command
//! with the pod's environment, Secrets, volumes (bound at their mount paths in a private mount
//! namespace) and hostname. That listener reads the in-cluster configuration like in any
//! cluster, registers with the server under the pod's name with the agent token of an existing
//! Secret, trusts the server's CA from another (`listener.caSecret`), and runs a real
//! `terraform apply`'s plan and apply as Jobs in the chart's runs namespace, with the Role the
//! chart gives its ServiceAccount.
//!
//! Needs `scripts/kube.sh build`, the Python packages of `scripts/install-test-deps.sh`, and
//! root (the fake node binds the ServiceAccount token at its fixed path with `unshare`):
//! without them this test fails.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::kube::{ControlPlane, FakeNode};
use terrace_tests::{Api, Db, Server, Terraform};

const RELEASE: &str = "pool";
/// The release's namespace (the listener's Deployment and ServiceAccount).
const NAMESPACE: &str = "terrace-agents";
/// The runner Jobs' namespace, which the chart creates.
const RUNS: &str = "pool-runs";
/// The chart's appVersion: its default image is `terrace:VERSION`, the executor's default.
const VERSION: &str = env!("CARGO_PKG_VERSION");
const LISTENER: &str = "pool-terrace-listener";

const CONFIG: &str = r#"
resource "terraform_data" "greeting" {
  input = "hello from a Job"
}
output "greeting" {
  value = terraform_data.greeting.output
}
"#;

/// The chart rendered for `values` by Helm (tests/helm/check_chart.py): its objects.
fn render(values: Value) -> Vec<Value> {
    let request = json!({
        "name": RELEASE,
        "namespace": NAMESPACE,
        // helm_chart.rs validates the objects against the schemas; here the API server does.
        "kube_versions": [],
        "good": {"install": values},
        "bad": {},
    });
    let report = terrace_tests::helm::check_chart(&request);
    report["rendered"]["install"]
        .as_array()
        .expect("the rendered objects")
        .iter()
        .map(|item| item["object"].clone())
        .collect()
}

/// Where the API server takes an object of this kind, in its namespace.
fn collection(object: &Value) -> String {
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or(NAMESPACE);
    match object["kind"].as_str().unwrap() {
        "Namespace" => "/api/v1/namespaces".to_string(),
        "ServiceAccount" => format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
        "Role" => format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles"),
        "RoleBinding" => {
            format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings")
        }
        "NetworkPolicy" => {
            format!("/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies")
        }
        "Deployment" => format!("/apis/apps/v1/namespaces/{namespace}/deployments"),
        other => panic!("the listener-only chart rendered an unexpected {other}"),
    }
}

/// Helm's install order for the kinds the chart renders.
fn install_order(object: &Value) -> usize {
    [
        "Namespace",
        "NetworkPolicy",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
    ]
    .iter()
    .position(|k| object["kind"] == *k)
    .unwrap_or(usize::MAX)
}

fn secret(name: &str, key: &str, value: &str) -> String {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
           "type": "Opaque", "stringData": {key: value}})
    .to_string()
}

/// Every Job seen in the runs' namespace (they are deleted when their job ends), by name, as
/// first seen; polled by a thread until stopped.
struct JobWatch {
    seen: Arc<Mutex<BTreeMap<String, Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JobWatch {
    fn start(plane: &ControlPlane) -> JobWatch {
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (client, url) = (plane.admin.clone(), plane.url.clone());
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let list: Option<Value> = client
                        .get(format!("{url}/apis/batch/v1/namespaces/{RUNS}/jobs"))
                        .send()
                        .ok()
                        .and_then(|r| r.json().ok());
                    for job in list
                        .as_ref()
                        .and_then(|l| l["items"].as_array())
                        .into_iter()
                        .flatten()
                    {
                        let name = job["metadata"]["name"].as_str().unwrap().to_string();
                        seen.lock().unwrap().entry(name).or_insert(job.clone());
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        JobWatch {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> BTreeMap<String, Value> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn the_listener_only_chart_runs_plans_and_applies_as_jobs() {
    // Dropped in reverse: the server, then the node (which kills the listener's pod and
    // removes its volumes and mount points), then the control plane.
    let plane = ControlPlane::start();
    // The pods' HOME, as in the image (docs/image.md): there is no ~/.kube/config there, so
    // the listener takes the in-cluster configuration.
    let node = FakeNode::start(&plane, &["--home", "/home/nonroot"]);
    let server = Server::builder(Db::Sqlite).arg("--no-listener").start();
    let token = server.admin_token();
    let api = server.api(&token);

    // An agent pool with a token, and a workspace that runs on it.
    let pool = api
        .post(
            "organizations/default/agent-pools",
            &json!({"data": {"type": "agent-pools", "attributes": {"name": "kubernetes"}}}),
        )
        .expect(201)
        .id();
    let agent_token = api
        .post(
            &format!("agent-pools/{pool}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": "helm listener"}}}),
        )
        .expect(201)
        .attr("token")
        .as_str()
        .unwrap()
        .to_string();
    let workspace = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "helm-pool"}}}),
        )
        .expect(201)
        .id();
    api.patch(
        &format!("workspaces/{workspace}"),
        &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "agent"},
            "relationships": {"agent-pool": {"data": {"type": "agent-pools", "id": pool}}}}}),
    )
    .ok();

    // The release's namespace and the Secrets the values name: the pool's token, and the
    // server's CA (Terrace's local CA, which nothing else trusts).
    plane.create(
        "/api/v1/namespaces",
        "application/json",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            .to_string(),
    );
    let secrets = format!("/api/v1/namespaces/{NAMESPACE}/secrets");
    plane.create(
        &secrets,
        "application/json",
        secret("pool-token", "token", &agent_token),
    );
    let ca = std::fs::read_to_string(server.data_dir.join("tls/ca.pem")).unwrap();
    plane.create(
        &secrets,
        "application/json",
        secret("terrace-ca", "ca.pem", &ca),
    );

    // The chart, listener only, as docs/helm.md installs it.
    let mut objects = render(json!({
        "listenerOnly": true,
        "listener": {
            "serverUrl": server.url,
            "tokenSecret": {"name": "pool-token"},
            "caSecret": {"name": "terrace-ca"},
            "runs": {"namespace": RUNS, "pendingTimeoutSeconds": 60}
        }
    }));
    let kinds: std::collections::BTreeSet<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "Namespace",
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "ServiceAccount"
        ]
        .into(),
        "{objects:?}"
    );
    objects.sort_by_key(install_order);
    for object in &objects {
        plane.create(&collection(object), "application/json", object.to_string());
    }

    // The cluster makes the listener's pod; the fake node runs it.
    let pods_path = format!(
        "/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=listener"
    );
    let mut pod = Value::Null;
    plane.wait_for("the listener's pod to run", Duration::from_secs(90), || {
        let pods = plane.get(&pods_path);
        pod = pods["items"][0].clone();
        pod["status"]["phase"] == "Running"
    });
    let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
    assert!(pod_name.starts_with(&format!("{LISTENER}-")), "{pod_name}");
    assert_eq!(pod["spec"]["serviceAccountName"], LISTENER, "{pod}");
    // The ServiceAccount admission mounted the chart's ServiceAccount's token.
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["image"], format!("terrace:{VERSION}"), "{pod}");
    let token_mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount")
        .unwrap_or_else(|| panic!("no ServiceAccount token mount: {pod}"));
    let token_volume = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == token_mount["name"])
        .unwrap();
    assert!(
        token_volume["secret"]["secretName"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{LISTENER}-token-")),
        "{pod}"
    );

    // It registers with the server under the pod's name (the pod's hostname), on the pool.
    let agents_path = format!("agent-pools/{pool}/agents");
    let waited = std::time::Instant::now();
    let agent = loop {
        let agents = api.get(&agents_path).ok();
        if let Some(found) = agents.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["attributes"]["name"] == pod_name.as_str())
        {
            break found.clone();
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the pod's listener did not register: {}\nlistener log:\n{}",
            agents.text,
            pod_log(&plane, &pod_name)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(agent["attributes"]["executor"], "kubernetes", "{agent}");
    assert_eq!(agent["attributes"]["capacity"], 2, "{agent}");
    let node_log = node.log();
    assert!(
        node_log.contains("as uid 65532 gid 65532 groups [65532]"),
        "{node_log}"
    );
    assert!(
        node_log.contains("/var/run/secrets/kubernetes.io/serviceaccount"),
        "{node_log}"
    );

    // A real terraform apply on the pool's workspace: its plan and apply run as Jobs.
    let jobs = JobWatch::start(&plane);
    let tf = Terraform::new(&server, &token);
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{\n      name = \"helm-pool\"\n    }}\n  }}\n}}\n{CONFIG}",
            server.hostname
        ),
    );
    tf.ok(&["init", "-input=false"]);
    let out = tf.ok(&["apply", "-auto-approve", "-input=false"]);
    assert!(out.contains("Plan: 1 to add"), "{out}");
    assert!(out.contains("Apply complete! Resources: 1 added"), "{out}");
    assert!(out.contains("greeting = \"hello from a Job\""), "{out}");
    let output = tf.ok(&["output", "-raw", "greeting"]);
    assert_eq!(output.trim(), "hello from a Job");
    let run = latest_run(&api, &workspace);
    assert_eq!(run["attributes"]["status"], "applied", "{run}");
    let run_id = run["id"].as_str().unwrap();

    // Both phases were Jobs of this run, created in the chart's runs namespace by the pod's
    // listener (its log names them), with the chart's runner image.
    plane.wait_for("the Jobs to be deleted", Duration::from_secs(60), || {
        plane.get(&format!("/apis/batch/v1/namespaces/{RUNS}/jobs"))["items"]
            .as_array()
            .is_some_and(|items| items.is_empty())
    });
    let seen = jobs.stop();
    assert_eq!(seen.len(), 2, "a plan and an apply: {seen:?}");
    let log = pod_log(&plane, &pod_name);
    let mut job_ids = std::collections::BTreeSet::new();
    for (name, job) in &seen {
        let labels = &job["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "terrace-listener",
            "{job}"
        );
        assert_eq!(labels["terrace.io/run"], run_id, "{job}");
        job_ids.insert(labels["terrace.io/job"].as_str().unwrap().to_string());
        assert_eq!(job["metadata"]["namespace"], RUNS, "{job}");
        let spec = &job["spec"]["template"]["spec"];
        assert_eq!(
            spec["containers"][0]["image"],
            format!("terrace:{VERSION}"),
            "{job}"
        );
        assert_eq!(spec["automountServiceAccountToken"], false, "{job}");
        assert!(
            log.lines()
                .any(|l| l.contains("created the Job") && l.contains(name.as_str())),
            "the pod's listener did not create {name}:\n{log}"
        );
    }
    assert_eq!(job_ids.len(), 2, "{seen:?}");
    assert!(log.contains("deleted the finished Job"), "{log}");
    // The runners' own logs reached the listener's through the API server.
    assert!(log.contains("terrace::runner_pod"), "{log}");

    // The listener holds exactly the chart's Role: Jobs in the runs' namespace, nothing else.
    let sa = plane.get(&format!(
        "/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{LISTENER}"
    ));
    let token_secret = plane.get(&format!(
        "/api/v1/namespaces/{NAMESPACE}/secrets/{}",
        sa["secrets"][0]["name"].as_str().unwrap()
    ));
    use base64::Engine;
    let sa_token = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(token_secret["data"]["token"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let listener_client = terrace_tests::kube::client(
        &std::fs::read(plane.pki().join("ca.crt")).unwrap(),
        &sa_token,
    );
    for (path, allowed) in [
        (format!("/apis/batch/v1/namespaces/{RUNS}/jobs"), true),
        (format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs"), false),
        (format!("/api/v1/namespaces/{RUNS}/secrets"), false),
    ] {
        let (status, body) = plane.request(&listener_client, "GET", &path, None);
        assert_eq!(status == 200, allowed, "{path}: {status} {body}");
    }
}

fn pod_log(plane: &ControlPlane, pod: &str) -> String {
    let (_, log) = plane.request(
        &plane.admin,
        "GET",
        &format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log"),
        None,
    );
    match log {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

fn latest_run(api: &Api, workspace: &str) -> Value {
    api.get(&format!("workspaces/{workspace}/runs")).ok().body["data"][0].clone()
}
