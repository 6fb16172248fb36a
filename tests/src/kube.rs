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
