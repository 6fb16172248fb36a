//! The chart through Helm itself: `tests/helm/check_chart.py` (Helm 4 from the
//! `helm-python-sdk` package, offline, and `kubernetes-validate`) renders, lints and validates
//! the value sets of a request and answers with its report (see the script).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::workspace_root;

/// Runs check_chart.py over `request` (release name, namespace, value sets); its report.
pub fn check_chart(request: &Value) -> Value {
    let root = workspace_root();
    let mut child = Command::new("python3")
        .arg(root.join("tests/helm/check_chart.py"))
        .arg(root.join("helm/terrace"))
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "check_chart.py failed (scripts/install-test-deps.sh installs helm-python-sdk and \
         kubernetes-validate):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the report is JSON")
}
