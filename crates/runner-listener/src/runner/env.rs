//! Terraform's environment. It is built from nothing (never inherited), so the runner's own
//! variables (its job token, the server's address, whatever the listener or the pod had) cannot
//! reach terraform, its providers or `local-exec` provisioners.

use std::collections::BTreeMap;
use std::path::PathBuf;

use terrace_protocol::JobSpec;

/// What the runner provides, whatever the workspace says.
#[derive(Debug, Clone)]
pub(crate) struct BaseEnv {
    /// The runner's PATH (to find the tools a provisioner runs).
    pub path: String,
    /// A private HOME and TMPDIR inside the job's directory.
    pub home: PathBuf,
    pub tmp: PathBuf,
    /// The job's own CLI configuration file (`cli_config`), so no user configuration applies.
    pub cli_config: PathBuf,
    /// The CAs terraform trusts when the server's certificate needs one of its own (to reach
    /// the server's registry); `None`: the system's.
    pub ca_bundle: Option<PathBuf>,
}

impl BaseEnv {
    /// The runner's variables: for every terraform command, including `version`.
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_string(), v);
        };
        set("PATH", self.path.clone());
        set("HOME", self.home.display().to_string());
        set("TMPDIR", self.tmp.display().to_string());
        set("TF_IN_AUTOMATION", "1".into());
        set("TF_INPUT", "0".into());
        set("CHECKPOINT_DISABLE", "1".into());
        set("TF_CLI_CONFIG_FILE", self.cli_config.display().to_string());
        if let Some(bundle) = &self.ca_bundle {
            set("SSL_CERT_FILE", bundle.display().to_string());
        }
        vars
    }
}

/// Variables the runner owns: a workspace cannot set them. Most would break the run (another
/// workspace, data dir or CLI config; extra CLI arguments; a backend other than the local one
/// the runner configures); the others are set by the runner itself.
pub(crate) fn is_reserved(key: &str) -> bool {
    matches!(
        key,
        "TF_WORKSPACE"
            | "TF_DATA_DIR"
            | "TF_CLI_CONFIG_FILE"
            | "TF_CLI_ARGS"
            | "TF_FORCE_LOCAL_BACKEND"
            | "TF_IN_AUTOMATION"
            | "TF_INPUT"
            | "PATH"
            | "HOME"
            | "TMPDIR"
            | "CHECKPOINT_DISABLE"
            | "TFC_RUN_ID"
            | "TFC_WORKSPACE_NAME"
            | "TFC_WORKSPACE_SLUG"
            | "TFC_WORKSPACE_ID"
    ) || key.starts_with("TF_CLI_ARGS_")
}

/// The environment and the warnings for the job log.
#[derive(Debug, Default)]
pub(crate) struct TerraformEnv {
    pub vars: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

/// The workspace's environment variables (except reserved and malformed ones), the runner's
/// own, and the `TFC_*` variables HCP Terraform provides.
pub(crate) fn terraform_env(spec: &JobSpec, base: &BaseEnv) -> TerraformEnv {
    let mut env = TerraformEnv::default();
    for var in &spec.env {
        if var.key.is_empty() || var.key.contains(['=', '\0']) || var.value.contains('\0') {
            env.warnings.push(format!(
                "Warning: skipped the environment variable {:?}: not a valid name or value",
                var.key
            ));
        } else if is_reserved(&var.key) {
            env.warnings.push(format!(
                "Warning: skipped the environment variable {}: the runner sets it",
                var.key
            ));
        } else {
            env.vars.insert(var.key.clone(), var.value.clone());
        }
    }
    env.vars.extend(base.vars());
    let tfc = [
        ("TFC_RUN_ID", spec.run_id.clone()),
        ("TFC_WORKSPACE_NAME", spec.workspace_name.clone()),
        (
            "TFC_WORKSPACE_SLUG",
            format!("{}/{}", spec.organization, spec.workspace_name),
        ),
        ("TFC_WORKSPACE_ID", spec.workspace_id.clone()),
    ];
    for (key, value) in tfc {
        env.vars.insert(key.to_string(), value);
    }
    env
}

/// `TFE_PARALLELISM` (1-256), as HCP Terraform reads it: terraform's `-parallelism`.
pub(crate) fn parallelism(spec: &JobSpec) -> Option<u32> {
    let var = spec.env.iter().rev().find(|v| v.key == "TFE_PARALLELISM")?;
    var.value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=256).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use terrace_protocol::{EnvVar, JobKind, Operation};

    fn spec(env: &[(&str, &str)]) -> JobSpec {
        JobSpec {
            job_id: "plan-1".into(),
            kind: JobKind::Plan,
            run_id: "run-1".into(),
            workspace_id: "ws-1".into(),
            workspace_name: "app".into(),
            organization: "acme".into(),
            working_directory: String::new(),
            terraform_version: "latest".into(),
            operation: Operation::default(),
            structured_output: true,
            var_files: vec![],
            env: env
                .iter()
                .map(|(k, v)| EnvVar {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            has_state: false,
            has_ssh_key: false,
            log_offset: 0,
            engine: "terraform".into(),
            tool: None,
            tool_error: None,
        }
    }

    fn base() -> BaseEnv {
        BaseEnv {
            path: "/usr/bin:/bin".into(),
            home: "/w/home".into(),
            tmp: "/w/tmp".into(),
            cli_config: "/w/terraformrc".into(),
            ca_bundle: None,
        }
    }

    #[test]
    fn reserved_keys_are_dropped_with_a_warning() {
        let env = terraform_env(
            &spec(&[
                ("AWS_REGION", "eu-west-1"),
                ("TF_WORKSPACE", "prod"),
                ("TF_DATA_DIR", "/x"),
                ("TF_CLI_CONFIG_FILE", "/etc/evil"),
                ("TF_CLI_ARGS", "-lock=false"),
                ("TF_CLI_ARGS_plan", "-refresh=false"),
                ("TF_FORCE_LOCAL_BACKEND", "1"),
                ("TF_IN_AUTOMATION", "0"),
                ("TF_INPUT", "1"),
                ("PATH", "/evil"),
                ("TFC_RUN_ID", "run-forged"),
                ("TF_LOG", "INFO"),
                ("TF_VAR_x", "1"),
                ("BAD=KEY", "v"),
            ]),
            &base(),
        );
        assert_eq!(env.vars["AWS_REGION"], "eu-west-1");
        assert_eq!(env.vars["TF_LOG"], "INFO");
        assert_eq!(env.vars["TF_VAR_x"], "1");
        assert!(!env.vars.contains_key("TF_WORKSPACE"));
        assert!(!env.vars.contains_key("TF_DATA_DIR"));
        assert!(!env.vars.contains_key("TF_CLI_ARGS"));
        assert!(!env.vars.contains_key("TF_CLI_ARGS_plan"));
        assert!(!env.vars.contains_key("TF_FORCE_LOCAL_BACKEND"));
        assert!(!env.vars.contains_key("BAD=KEY"));
        assert_eq!(env.vars["TF_CLI_CONFIG_FILE"], "/w/terraformrc");
        assert_eq!(env.vars["TF_IN_AUTOMATION"], "1");
        assert_eq!(env.vars["TF_INPUT"], "0");
        assert_eq!(env.vars["PATH"], "/usr/bin:/bin");
        assert_eq!(env.vars["TFC_RUN_ID"], "run-1");
        assert_eq!(env.warnings.len(), 11, "{:#?}", env.warnings);
        assert!(env.warnings.iter().any(|w| w.contains("TF_WORKSPACE")));
    }

    #[test]
    fn only_the_runner_variables_and_the_workspace_ones_are_set() {
        // Whatever the runner process has (its job token above all) must not show up.
        let env = terraform_env(&spec(&[("MY_VAR", "x")]), &base());
        let keys: Vec<&str> = env.vars.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "CHECKPOINT_DISABLE",
                "HOME",
                "MY_VAR",
                "PATH",
                "TFC_RUN_ID",
                "TFC_WORKSPACE_ID",
                "TFC_WORKSPACE_NAME",
                "TFC_WORKSPACE_SLUG",
                "TF_CLI_CONFIG_FILE",
                "TF_INPUT",
                "TF_IN_AUTOMATION",
                "TMPDIR",
            ]
        );
        assert_eq!(env.vars["TFC_WORKSPACE_SLUG"], "acme/app");
        assert_eq!(env.vars["TFC_WORKSPACE_ID"], "ws-1");
        assert_eq!(env.vars["TFC_WORKSPACE_NAME"], "app");
        assert_eq!(env.vars["HOME"], "/w/home");
        assert!(env.warnings.is_empty());
    }

    #[test]
    fn parallelism_from_tfe_parallelism() {
        assert_eq!(parallelism(&spec(&[])), None);
        assert_eq!(parallelism(&spec(&[("TFE_PARALLELISM", "4")])), Some(4));
        assert_eq!(parallelism(&spec(&[("TFE_PARALLELISM", "0")])), None);
        assert_eq!(parallelism(&spec(&[("TFE_PARALLELISM", "257")])), None);
        assert_eq!(parallelism(&spec(&[("TFE_PARALLELISM", "x")])), None);
    }
}
