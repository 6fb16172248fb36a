//! `terrace admin rotate-key`, online: a server given a new key before its old one keeps
//! serving while the command seals everything written under the old key (state, outputs, a
//! sensitive variable, a run's variables and log, configuration and log blobs) again with the
//! new one. Afterwards a server with only the new key reads and runs everything as before,
//! and one with only the old key cannot read it: the data really moved. On SQLite with the
//! data directory's blobs, and on PostgreSQL with S3.

use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::access::create_workspace;
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, s3_settings, states, Api, Db, Server, ServerBuilder};

const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const OLD: &str = terrace_tests::FIXED_KEY;
const NEW: &str = "Z3Ra8Jq0bqT8W6b2cGk3d0o2m9yV4pQ1xR7sT5uW8yA=";
const SECRET: &str = "s3cr3t-value";

/// A configuration that only plans with the right value of the sensitive variable.
const CONFIG: &str = r#"
variable "secret" {
  type = string
  validation {
    condition     = var.secret == "s3cr3t-value"
    error_message = "the secret did not arrive intact"
  }
}
resource "terraform_data" "a" {
  input = "a"
}
"#;

/// The installation: a data directory, and for PostgreSQL a database and an S3 prefix.
struct Installation {
    db: Db,
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    prefix: String,
}

impl Installation {
    fn server(&self, keys: &str) -> Server {
        let mut builder: ServerBuilder = Server::builder(self.db)
            .data_dir(self.data_dir.path())
            .env("TERRACE_ENCRYPTION_KEY", keys);
        if self.db == Db::Postgres {
            builder = builder.s3_storage(&self.prefix);
        }
        if let Some(url) = &self.database_url {
            builder = builder.database_url(url);
        }
        builder.start()
    }

    /// The environment `serve` has, for the admin command.
    fn settings(&self, keys: &str) -> Vec<(&'static str, String)> {
        let mut settings = vec![("TERRACE_ENCRYPTION_KEY", keys.to_string())];
        if self.db == Db::Postgres {
            settings.extend(s3_settings(&self.prefix));
        }
        settings
    }

    fn rotate(&self, server: &Server, keys: &str) -> String {
        let settings = self.settings(keys);
        let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
        server.admin_with_env(&["rotate-key"], &env)
    }
}

/// `resealed` of the report's line for `what`.
fn resealed(report: &str, what: &str) -> u64 {
    let line = report
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{what}:")))
        .unwrap_or_else(|| panic!("no line for {what}:\n{report}"));
    line.split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn state_bytes(api: &Api, ws: &str) -> Result<Vec<u8>, String> {
    let current = api.get(&format!("workspaces/{ws}/current-state-version"));
    if current.status != 200 {
        return Err(format!("{}: {}", current.status, current.text));
    }
    let url = current
        .attr("hosted-state-download-url")
        .as_str()
        .unwrap()
        .to_string();
    let reply = api.raw("GET", &url, None);
    match reply.status().as_u16() {
        200 => Ok(reply.bytes().unwrap().to_vec()),
        status => Err(format!("{status}: {}", reply.text().unwrap_or_default())),
    }
}

both_databases!(
    rotate_key_reseals_everything_while_the_server_runs,
    |db: Db| {
        let mut installation = Installation {
            db,
            data_dir: tempfile::tempdir().unwrap(),
            database_url: None,
            prefix: format!("rotate-{}-{db:?}", std::process::id()),
        };

        // Everything written under the old key.
        let mut server = installation.server(OLD);
        installation.database_url = server.database_url.clone();
        let token = server.admin_token();
        let api = server.api(&token);
        let ws = create_workspace(&api, "default", "rotated", None);
        // No resources: the runs plan it with no provider to fetch.
        let mut state = states::with_resources("lineage-rotate", &[]);
        state["outputs"] = json!({"address": {"value": "10.0.0.7", "type": "string"}});
        states::push(&api, &ws, &state);
        let before = state_bytes(&api, &ws).unwrap();
        api.post(
            &format!("workspaces/{ws}/vars"),
            &json!({"data": {"type": "vars", "attributes": {
            "key": "secret", "value": SECRET, "category": "terraform", "sensitive": true}}}),
        )
        .expect(201);
        upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
        let first_run = create_run(&api, &ws, None, json!({"plan-only": true})).id();
        wait_for_run(&api, &first_run, &["planned_and_finished"], RUN_TIMEOUT);
        let first_log = phase_log(&api, &first_run, "plan");
        server.stop();

        // The new key first, the old one after it: the server writes with the new one.
        let both = format!("{NEW},{OLD}");
        let server = installation.server(&both);
        let api = server.api(&token);
        let report = installation.rotate(&server, &both);
        for what in [
            "variables.value_ciphertext",
            "state_version_outputs.value_ciphertext",
            "runs.variables_ciphertext",
            "blobs",
        ] {
            assert!(
                resealed(&report, what) > 0,
                "nothing of {what} resealed:\n{report}"
            );
        }
        assert!(!report.contains("FAILED"), "{report}");
        // Served throughout.
        assert_eq!(state_bytes(&api, &ws).unwrap(), before);
        // A second pass finds nothing left.
        let again = installation.rotate(&server, &both);
        for line in again.lines().filter(|l| l.contains("resealed")) {
            assert!(line.contains(": 0 resealed"), "{again}");
        }
        drop(server);

        // The new key alone reads everything, and the variable still reaches a run.
        let server = installation.server(NEW);
        let api = server.api(&token);
        assert_eq!(
            state_bytes(&api, &ws).unwrap(),
            before,
            "the state, byte for byte"
        );
        let outputs = api
            .get(&format!(
                "workspaces/{ws}/current-state-version?include=outputs"
            ))
            .ok();
        let values: Vec<&Value> = outputs.body["included"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| &o["attributes"]["value"])
            .collect();
        assert_eq!(values, [&json!("10.0.0.7")], "{}", outputs.text);
        assert_eq!(phase_log(&api, &first_run, "plan"), first_log);
        let run = create_run(&api, &ws, None, json!({"plan-only": true})).id();
        wait_for_run(&api, &run, &["planned_and_finished"], RUN_TIMEOUT);
        drop(server);

        // The old key alone no longer opens the state.
        let server = installation.server(OLD);
        let api = server.api(&token);
        let refused = state_bytes(&api, &ws).expect_err("the old key still opens the state");
        assert!(!refused.starts_with("200"), "{refused}");
    }
);
