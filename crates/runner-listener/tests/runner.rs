//! The runner against a fake server (our own protocol), with the real terraform binary on
//! PATH and a configuration that needs only the built-in `terraform_data` (no internet).

mod support;

use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use support::{job, Fake, Shared};
use terrace_protocol::{
    EnvVar, JobKind, JobOutcome, JobSpec, NewState, Operation, TerraformVar, VarFile,
};
use terrace_runner_listener::runner::{run_job, RunnerConfig};

const MAIN_TF: &str = r#"
terraform {
  # Replaced by the runner's override: the state stays local.
  cloud {
    organization = "acme"
    workspaces { name = "app" }
  }
}

variable "msg" { type = string }
variable "sleep" {
  type    = number
  default = 0
}

resource "terraform_data" "example" {
  input = var.msg
  provisioner "local-exec" {
    command = "env | sed 's/^/EN''V: /'; sleep ${var.sleep}"
  }
}

output "msg" { value = terraform_data.example.output }
"#;

/// A value that breaks naive HCL quoting in every way notes §6.6 lists.
const TRICKY: &str = "a \"q\" \\ ${x} %{y} $${z}\nline2\ttab";

fn var(key: &str, value: &str, hcl: bool) -> TerraformVar {
    TerraformVar {
        key: key.into(),
        value: value.into(),
        hcl,
    }
}

fn spec(kind: JobKind, job_id: &str, structured: bool, sleep: u32) -> JobSpec {
    JobSpec {
        job_id: job_id.into(),
        kind,
        run_id: "run-1".into(),
        workspace_id: "ws-1".into(),
        workspace_name: "app".into(),
        organization: "acme".into(),
        working_directory: "infra".into(),
        terraform_version: "latest".into(),
        operation: Operation {
            refresh: true,
            ..Operation::default()
        },
        structured_output: structured,
        var_files: vec![
            VarFile {
                name: "workspace.tfvars".into(),
                variables: vec![
                    var("msg", "overridden below", false),
                    var("0b3a9a7e-not-an-identifier", "x", false),
                ],
            },
            VarFile {
                name: "run.tfvars".into(),
                variables: vec![var("sleep", &sleep.to_string(), true)],
            },
            VarFile {
                name: "priority.tfvars".into(),
                variables: vec![var("msg", TRICKY, false)],
            },
        ],
        env: vec![
            EnvVar {
                key: "MY_ENV".into(),
                value: "hello".into(),
            },
            EnvVar {
                key: "TF_WORKSPACE".into(),
                value: "nope".into(),
            },
        ],
        has_state: false,
        has_ssh_key: false,
        log_offset: 0,
        engine: "terraform".into(),
        tool: None,
        tool_error: None,
    }
}

struct Setup {
    server: Shared,
    work: tempfile::TempDir,
}

async fn setup() -> Setup {
    let work = tempfile::tempdir().unwrap();
    let fake = Fake {
        tarball: support::tarball(&[("infra/main.tf", MAIN_TF), ("README.md", "not terraform\n")]),
        ..Fake::default()
    };
    Setup {
        server: support::start(fake).await,
        work,
    }
}

impl Setup {
    fn add_job(&self, token: &str, spec: JobSpec) {
        self.server
            .lock()
            .unwrap()
            .jobs
            .insert(token.into(), job(spec));
    }

    fn config(&self, token: &str) -> RunnerConfig {
        let mut config = RunnerConfig::new(self.server.lock().unwrap().base_url.clone(), token);
        config.work_dir = self.work.path().join("jobs");
        // Kept between jobs (binaries, versions), so outside the directory that must be left
        // empty.
        config.tools_cache_dir = Some(self.work.path().join("tools"));
        config.grace_period = Duration::from_secs(10);
        config
    }

    async fn run(&self, token: &str) -> JobOutcome {
        run_job(self.config(token)).await.unwrap();
        // Nothing is left behind.
        let left: Vec<_> = std::fs::read_dir(self.work.path().join("jobs"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "job directories left: {left:?}");
        self.outcome(token)
    }

    fn outcome(&self, token: &str) -> JobOutcome {
        let fake = self.server.lock().unwrap();
        let job = &fake.jobs[token];
        job.outcome
            .clone()
            .unwrap_or_else(|| panic!("no outcome; log:\n{}", String::from_utf8_lossy(&job.log)))
    }

    fn log(&self, token: &str) -> String {
        String::from_utf8(self.server.lock().unwrap().jobs[token].log.clone()).unwrap()
    }

    fn artifact(&self, name: &str) -> Option<Vec<u8>> {
        self.server.lock().unwrap().artifacts["run-1"]
            .get(name)
            .cloned()
    }

    fn state_versions(&self) -> Vec<(String, NewState, Option<Vec<u8>>)> {
        self.server.lock().unwrap().state_versions.clone()
    }
}

fn terraform_version() -> String {
    let out = std::process::Command::new("terraform")
        .args(["version", "-json"])
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .expect("terraform must be on PATH for these tests");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["terraform_version"].as_str().unwrap().to_string()
}

fn assert_state_matches(new: &NewState, bytes: &[u8]) {
    assert_eq!(new.md5, hex::encode(Md5::digest(bytes)));
    let state: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(state["serial"].as_i64().unwrap(), new.serial);
    assert_eq!(state["lineage"].as_str().unwrap(), new.lineage);
}

/// The variables the provisioner printed (`ENV: KEY=VALUE` lines, in a JSON or text log):
/// a run writes nothing outside its job directory, so its environment comes back in its log.
fn dumped_env(log: &str) -> Vec<(String, String)> {
    log.lines()
        .map(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(json) => json["@message"].as_str().unwrap_or_default().to_string(),
                Err(_) => line.to_string(),
            },
        )
        .filter_map(|message| {
            let (_, var) = message.split_once("ENV: ")?;
            var.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_then_apply_with_json_logs() {
    let s = setup().await;
    let version = terraform_version();

    // The plan.
    s.add_job("plan-token", spec(JobKind::Plan, "plan-1", true, 0));
    let plan = s.run("plan-token").await;
    assert_eq!(plan.status, "finished", "{plan:?}\n{}", s.log("plan-token"));
    assert!(plan.has_changes);
    assert_eq!(
        (
            plan.additions,
            plan.changes,
            plan.destructions,
            plan.imports
        ),
        (1, 0, 0, 0)
    );
    let log = s.log("plan-token");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], format!("Terraform v{version}"));
    assert!(lines[1].starts_with("on "), "{log}");
    // A warning follows, so a 3rd preamble line precedes it (the CLI drops 3 lines).
    assert_eq!(lines[2], "Initializing plugins and modules...");
    assert!(lines[3].contains("0b3a9a7e-not-an-identifier"), "{log}");
    assert!(lines[4].contains("TF_WORKSPACE"), "{log}");
    assert!(lines[5].contains(r#""type":"version""#), "{log}");
    assert!(log.contains("1 to add, 0 to change, 0 to destroy"), "{log}");

    let plan_json: serde_json::Value =
        serde_json::from_slice(&s.artifact("plan-json").expect("plan-json")).unwrap();
    assert_eq!(plan_json["variables"]["msg"]["value"], TRICKY);
    assert_eq!(
        plan_json["resource_changes"][0]["change"]["actions"],
        serde_json::json!(["create"])
    );
    let schemas: serde_json::Value =
        serde_json::from_slice(&s.artifact("provider-schemas").expect("schemas")).unwrap();
    assert!(schemas["provider_schemas"]
        .get("terraform.io/builtin/terraform")
        .is_some());
    let plan_file = s.artifact("plan-file").expect("plan-file");
    assert!(
        plan_file.starts_with(b"PK"),
        "the plan file is a zip archive"
    );
    assert!(s.state_versions().is_empty(), "a plan writes no state");

    // The apply of that plan.
    s.add_job("apply-token", spec(JobKind::Apply, "apply-1", true, 0));
    let apply = s.run("apply-token").await;
    assert_eq!(
        apply.status,
        "finished",
        "{apply:?}\n{}",
        s.log("apply-token")
    );
    assert_eq!(
        (
            apply.additions,
            apply.changes,
            apply.destructions,
            apply.imports
        ),
        (1, 0, 0, 0)
    );
    let log = s.log("apply-token");
    // What the CLI shows: everything after the first 3 lines, the warnings included.
    let shown: Vec<&str> = log.lines().skip(3).collect();
    assert!(shown[0].contains("0b3a9a7e-not-an-identifier"), "{log}");
    assert!(log.contains("1 added, 0 changed, 0 destroyed"), "{log}");
    // The apply's runner had the binary's version from the plan's, kept on the node.
    assert_eq!(
        log.lines().next(),
        Some(format!("Terraform v{version}").as_str())
    );
    let kept = std::fs::read_dir(s.work.path().join("tools/versions")).unwrap();
    assert_eq!(kept.count(), 1, "one binary, one version kept");

    let versions = s.state_versions();
    assert_eq!(versions.len(), 1);
    let (_, new, bytes) = &versions[0];
    let bytes = bytes.as_ref().expect("the state was uploaded");
    assert_state_matches(new, bytes);
    let state: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(state["outputs"]["msg"]["value"], TRICKY);

    // Terraform's environment: the workspace's and the runner's variables, nothing else.
    let env = dumped_env(&s.log("apply-token"));
    let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(get("MY_ENV"), Some("hello"));
    assert_eq!(get("TFC_WORKSPACE_SLUG"), Some("acme/app"));
    assert_eq!(get("TFC_RUN_ID"), Some("run-1"));
    assert_eq!(get("TF_IN_AUTOMATION"), Some("1"));
    assert_eq!(get("TF_WORKSPACE"), None);
    for (key, value) in &env {
        assert!(!key.starts_with("TERRACE_"), "{key}");
        assert!(!key.starts_with("CARGO"), "{key} leaked from the runner");
        assert!(
            !value.contains("apply-token"),
            "the job token leaked in {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_then_apply_with_text_logs() {
    let s = setup().await;
    let mut plan_spec = spec(JobKind::Plan, "plan-1", false, 0);
    // No warnings this time: the preamble alone is the 3 lines the CLI drops.
    plan_spec.var_files[0].variables.pop();
    plan_spec.env.pop();
    let mut apply_spec = plan_spec.clone();
    apply_spec.kind = JobKind::Apply;
    apply_spec.job_id = "apply-1".into();

    s.server.lock().unwrap().flaky_logs = true;
    s.add_job("plan-token", plan_spec);
    let plan = s.run("plan-token").await;
    assert_eq!(plan.status, "finished", "{plan:?}\n{}", s.log("plan-token"));
    assert_eq!(plan.additions, 1);
    let log = s.log("plan-token");
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].starts_with("Terraform v"), "{log}");
    assert!(lines[1].starts_with("on "), "{log}");
    assert_eq!(lines[2], "Initializing plugins and modules...");
    assert!(!lines[3].starts_with('{'), "text, not JSON: {log}");
    // Retried chunks are not repeated.
    assert_eq!(
        log.matches("Plan: 1 to add, 0 to change, 0 to destroy.")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("Terraform v").count(), 1, "{log}");
    assert!(
        s.server.lock().unwrap().log_requests >= 2,
        "the flaky path was taken"
    );
    assert!(!log.contains("\u{1b}["), "no colours: {log}");

    s.add_job("apply-token", apply_spec);
    let apply = s.run("apply-token").await;
    assert_eq!(
        apply.status,
        "finished",
        "{apply:?}\n{}",
        s.log("apply-token")
    );
    // Counted from "Apply complete! Resources: 1 added, 0 changed, 0 destroyed."
    assert_eq!(apply.additions, 1);
    let versions = s.state_versions();
    assert_eq!(versions.len(), 1);
    assert_state_matches(&versions[0].1, versions[0].2.as_ref().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speculative_plan_keeps_no_plan_file() {
    let s = setup().await;
    let mut speculative = spec(JobKind::Plan, "plan-1", true, 0);
    speculative.operation.plan_only = true;
    s.add_job("plan-token", speculative);
    let plan = s.run("plan-token").await;
    assert_eq!(plan.status, "finished", "{plan:?}\n{}", s.log("plan-token"));
    assert!(plan.has_changes);
    // What the UI and the CLI show is there; what only an apply reads is not.
    assert!(s.artifact("plan-json").is_some());
    assert!(s.artifact("provider-schemas").is_some());
    assert_eq!(s.artifact("plan-file"), None);
    assert_eq!(s.artifact("lock-file"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_apply_stops_and_keeps_the_state_terraform_wrote() {
    let s = setup().await;
    s.add_job("plan-token", spec(JobKind::Plan, "plan-1", true, 60));
    assert_eq!(s.run("plan-token").await.status, "finished");
    s.add_job("apply-token", spec(JobKind::Apply, "apply-1", true, 60));
    // The server asks the runner to stop once the provisioner (sleeping 60 s) runs.
    s.server
        .lock()
        .unwrap()
        .jobs
        .get_mut("apply-token")
        .unwrap()
        .cancel_when_log_contains = Some("Provisioning with 'local-exec'".into());
    let started = Instant::now();
    let apply = s.run("apply-token").await;
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        apply.status,
        "canceled",
        "{apply:?}\n{}",
        s.log("apply-token")
    );
    // The resource was created (then tainted by the interrupted provisioner): its state
    // must not be lost.
    let versions = s.state_versions();
    assert_eq!(versions.len(), 1, "{}", s.log("apply-token"));
    let bytes = versions[0].2.as_ref().expect("the state was uploaded");
    assert_state_matches(&versions[0].1, bytes);
    assert!(String::from_utf8_lossy(bytes).contains("tainted"));
}

#[tokio::test]
async fn an_unsafe_tarball_fails_the_job() {
    let s = setup().await;
    s.add_job("plan-token", spec(JobKind::Plan, "plan-1", true, 0));
    // An entry that climbs out of the directory (written by hand: `tar` refuses to).
    let mut header = tar::Header::new_ustar();
    header.as_old_mut().name[..9].copy_from_slice(b"../evil.t");
    header.set_size(0);
    header.set_mode(0o644);
    header.set_cksum();
    let mut raw = header.as_bytes().to_vec();
    raw.extend_from_slice(&[0; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    s.server
        .lock()
        .unwrap()
        .jobs
        .get_mut("plan-token")
        .unwrap()
        .tarball = Some(gz.finish().unwrap());
    let outcome = s.run("plan-token").await;
    assert_eq!(outcome.status, "errored");
    let error = outcome.error.unwrap();
    assert!(error.contains("unsafe path"), "{error}");
    assert!(s.log("plan-token").contains("unsafe path"));
}

#[tokio::test]
async fn a_configuration_over_the_runners_limits_fails_the_job() {
    let s = setup().await;
    s.add_job("plan-token", spec(JobKind::Plan, "plan-1", true, 0));
    // The configuration has two files.
    let mut config = s.config("plan-token");
    config.configuration_limits.max_entries = 1;
    run_job(config).await.unwrap();
    let outcome = s.outcome("plan-token");
    assert_eq!(outcome.status, "errored");
    let error = outcome.error.unwrap();
    assert_eq!(
        error,
        "cannot unpack the configuration: the archive has more than 1 entries"
    );
}

#[tokio::test]
async fn an_exact_version_the_runner_lacks_fails_the_job() {
    let s = setup().await;
    let mut plan = spec(JobKind::Plan, "plan-1", true, 0);
    plan.terraform_version = "0.12.31".into();
    s.add_job("plan-token", plan);
    let outcome = s.run("plan-token").await;
    assert_eq!(outcome.status, "errored");
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("Terraform 0.12.31 is not available on this runner (it has "),
        "{error}"
    );
}

#[tokio::test]
async fn a_job_that_is_gone_is_not_an_error() {
    let s = setup().await;
    run_job(s.config("unknown-token")).await.unwrap();
}
