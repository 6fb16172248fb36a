//! A real Kubernetes control plane for the tests (`scripts/kube.sh`: etcd, kube-apiserver
//! 1.20.2 with its controller-manager and scheduler) on free loopback ports, stopped when
//! dropped. Needs `scripts/kube.sh build` (which `scripts/test.sh` runs): without it, it
//! fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, workspace_root};

pub struct ControlPlane {
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// A client authenticated as the cluster's administrator.
    pub admin: reqwest::blocking::Client,
}

impl ControlPlane {
    pub fn start() -> ControlPlane {
        let dir = tempfile::tempdir().unwrap();
        let etcd_port = loop {
            // etcd takes this port and the next.
            let port = free_port();
            if TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
                break port;
            }
        };
        let api_port = free_port();
        let out = Command::new(workspace_root().join("scripts/kube.sh"))
            .arg("up")
            .arg(dir.path().join("k8s"))
            .env("ETCD_PORT", etcd_port.to_string())
            .env("API_PORT", api_port.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("scripts/kube.sh runs");
        let ca = std::fs::read(dir.path().join("k8s/pki/ca.crt")).unwrap_or_default();
        // Made before the check, so that a failed start is still stopped when dropped.
        let plane = ControlPlane {
            url: format!("https://127.0.0.1:{api_port}"),
            admin: client(&ca, "admin-token"),
            dir,
        };
        assert!(
            out.status.success(),
            "the Kubernetes control plane did not start (run scripts/kube.sh build first):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        plane
    }

    /// The test's working directory (the control plane's files are under `k8s/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its certificates and keys: `ca.crt`, `admin.crt`, `admin.key`, `kubelet.crt`, ...
    pub fn pki(&self) -> PathBuf {
        self.dir.path().join("k8s/pki")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new(workspace_root().join("scripts/kube.sh"))
            .arg("down")
            .arg(self.dir.path().join("k8s"))
            .status();
    }
}

/// A client of the apiserver trusting `ca`, with a bearer `token`.
pub fn client(ca: &[u8], token: &str) -> reqwest::blocking::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("Authorization", format!("Bearer {token}").parse().unwrap());
    crate::http_client(ca)
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl ControlPlane {
    /// `method path` as the administrator, with an optional (content type, body); the status
    /// and the answer (JSON, or the text as a JSON string).
    pub fn request(
        &self,
        client: &reqwest::blocking::Client,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> (u16, serde_json::Value) {
        let mut request = client.request(method.parse().unwrap(), format!("{}{path}", self.url));
        if let Some((content_type, body)) = body {
            request = request.header("Content-Type", content_type).body(body);
        }
        let response = request.send().expect("the apiserver answers");
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// GET as the administrator; `Null` for a 404.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.request(&self.admin, "GET", path, None);
        if status == 404 {
            return serde_json::Value::Null;
        }
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// POST as the administrator (JSON or YAML); the object created.
    pub fn create(&self, path: &str, content_type: &str, body: String) -> serde_json::Value {
        let (status, reply) = self.request(&self.admin, "POST", path, Some((content_type, body)));
        assert!(
            status == 201 || status == 200,
            "POST {path}: {status} {reply}"
        );
        reply
    }

    /// Waits (polling every 200 ms) until `done`, failing after `timeout` with `what`.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + timeout;
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `tests/kube/fake_node.py`, the test node of a [`ControlPlane`] (registered as
/// `fake-node-1`, Ready when [`FakeNode::start`] returns): it executes each pod bound to it as a
/// local process, `terrace` found where the binary under test is. Stopped when dropped (SIGTERM:
/// it kills its pods and removes its volumes), its log printed if the test is failing.
pub struct FakeNode {
    child: std::process::Child,
    /// Its log (`fake-node.log` in the control plane's directory).
    pub log: PathBuf,
}

impl FakeNode {
    /// Starts the node with `extra` arguments (e.g. `--home DIR`).
    pub fn start(plane: &ControlPlane, extra: &[&str]) -> FakeNode {
        let pki = plane.pki();
        let bin_dir = crate::terrace_bin().parent().unwrap().to_path_buf();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let log = plane.dir().join("fake-node.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new("python3")
            .arg(workspace_root().join("tests/kube/fake_node.py"))
            .args(["--api", &plane.url])
            .arg("--ca")
            .arg(pki.join("ca.crt"))
            .arg("--cert")
            .arg(pki.join("admin.crt"))
            .arg("--key")
            .arg(pki.join("admin.key"))
            .arg("--serving-cert")
            .arg(pki.join("kubelet.crt"))
            .arg("--serving-key")
            .arg(pki.join("kubelet.key"))
            .args(["--port", &free_port().to_string()])
            .arg("--work-dir")
            .arg(plane.dir().join("node"))
            .args(["--path", &path])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("python3 runs the fake node");
        let node = FakeNode { child, log };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status = plane.get("/api/v1/nodes/fake-node-1");
            let ready = status["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            if ready {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the fake node is not Ready:\n{}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        node
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline && self.child.try_wait().ok().flatten().is_none()
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- fake node log\n{}", self.log());
        }
    }
}
