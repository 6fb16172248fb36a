//! A hostile tenant: anyone may create an organization, so every user is a possible attacker
//! of every other tenant and of the server. Each test here is an attack that must fail while
//! ordinary use keeps working; it fails if the hole comes back.
//!
//! Runs: a run's code (`file()`, `fileset()`, `local-exec`) reaches nothing of the server
//! (data directory, environment, command lines) or of another organization's job running at
//! the same time (its directory, its environment with sensitive variables).

use std::time::Duration;

use serde_json::json;
use terrace_tests::runs::{phase_log, upload_configuration, wait_for_run, SilentSource};
use terrace_tests::{running_as_root, Api, Db, Server};

const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// Secrets planted where an escaping run would find them.
const SERVER_SECRET: &str = "canary-server-cloud-secret";
const VICTIM_SECRET: &str = "canary-victim-sensitive-env";
const VICTIM_CONFIG_MARK: &str = "canary-victim-configuration";

fn create_workspace(api: &Api, org: &str, name: &str, attributes: serde_json::Value) -> String {
    let mut attributes = attributes;
    attributes["name"] = json!(name);
    api.post(
        &format!("organizations/{org}/workspaces"),
        &json!({"data": {"type": "workspaces", "attributes": attributes}}),
    )
    .expect(201)
    .id()
}

fn create_organization(api: &Api, name: &str) {
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": name, "email": format!("{name}@example.com")}}}),
    )
    .expect(201);
}

/// The run's configuration: it tries every way out it knows and prints what it found; it
/// also proves that ordinary provisioners still work. Its patterns are written so that they
/// do not match themselves (`c[a]nary`): the script's own command line is visible to it.
fn escaping_configuration(data_dir: &str, tmp: &str) -> String {
    format!(
        r#"
output "key" {{
  value = try(file("{data_dir}/encryption.key"), "denied")
}}
output "database" {{
  value = try(filebase64("{data_dir}/terrace.db"), "denied")
}}
output "data_listing" {{
  value = try(fileset("{data_dir}", "**"), ["denied"])
}}
output "jobs_listing" {{
  value = try(fileset("{tmp}", "terrace-runs-*/**"), ["denied"])
}}
resource "terraform_data" "probe" {{
  provisioner "local-exec" {{
    command = <<-EOT
      echo "local-exec works: $(echo ordinary) as uid $(id -u)"
      environ=$(for f in /proc/[0-9]*/environ; do cat "$f" 2>/dev/null | tr '\0' '\n'; done)
      echo "$environ" | grep -E 'c[a]nary|TERRAC[E]_|PASSWOR[D]'
      echo "environ lines read: $(echo "$environ" | grep -c =)"
      echo "environ hits: $(echo "$environ" | grep -c -E 'c[a]nary|TERRAC[E]_|PASSWOR[D]')"
      cmdlines=$(for f in /proc/[0-9]*/cmdline; do cat "$f" 2>/dev/null | tr '\0' ' '; echo; done)
      echo "$cmdlines" | grep -E 'c[a]nary|admi[n]-'
      echo "cmdline hits: $(echo "$cmdlines" | grep -c -E 'c[a]nary|admi[n]-')"
      echo "other jobs: $(cat {tmp}/terrace-runs-*/terrace-job-*/config/*.tf 2>/dev/null | wc -c) bytes"
      echo "data dir: $(cat '{data_dir}/encryption.key' 2>/dev/null | wc -c) bytes"
      echo "probe done"
    EOT
  }}
}}
"#
    )
}

/// Another organization's run stays in its plan (its terraform process alive, its
/// sensitive variable in its environment) while the attacker's run executes.
#[test]
fn a_run_reaches_nothing_of_the_server_or_of_another_organizations_job() {
    let server = Server::builder(Db::Sqlite)
        .env("AWS_SECRET_ACCESS_KEY", SERVER_SECRET)
        .start();
    let data_dir = server.data_dir.display().to_string();
    // Where the jobs' directories are (the server's /tmp).
    let tmp = server.work_dir.display().to_string();
    let key = std::fs::read_to_string(server.data_dir.join("encryption.key")).unwrap();
    let key = key.trim();

    // The victim: the admin's organization, a sensitive environment variable, a run blocked
    // in its plan.
    let admin = server.api(&server.admin_token());
    let victim_ws = create_workspace(&admin, "default", "victim", json!({}));
    admin
        .post(
            &format!("workspaces/{victim_ws}/vars"),
            &json!({"data": {"type": "vars", "attributes": {
                "key": "VICTIM_TOKEN", "value": VICTIM_SECRET,
                "category": "env", "sensitive": true}}}),
        )
        .expect(201);
    let silent = SilentSource::new();
    let victim_config = format!("# {VICTIM_CONFIG_MARK}\n{}", silent.configuration());
    upload_configuration(&admin, &victim_ws, &[("main.tf", &victim_config)], true);
    let _held = silent.accept();

    // The attacker: a new user with an organization of their own.
    let mallory = server.api(&server.user_token("mallory"));
    create_organization(&mallory, "evil");
    let evil_ws = create_workspace(&mallory, "evil", "probe", json!({"auto-apply": true}));
    upload_configuration(
        &mallory,
        &evil_ws,
        &[("main.tf", &escaping_configuration(&data_dir, &tmp))],
        true,
    );
    let run = mallory.get(&format!("workspaces/{evil_ws}/runs")).ok().body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = wait_for_run(&mallory, &run, &["applied"], RUN_TIMEOUT);
    let log = format!(
        "{}\n{}",
        phase_log(&mallory, &run, "plan"),
        phase_log(&mallory, &run, "apply")
    );

    // Ordinary use works: the provisioner ran (as the unprivileged user), and its probe ran
    // to its end, reading environments where it may (its own processes').
    let uid = if running_as_root() { "65534" } else { "" };
    assert!(
        log.contains(&format!("local-exec works: ordinary as uid {uid}")),
        "{log}"
    );
    assert!(log.contains("probe done"), "{log}");
    assert!(!log.contains("environ lines read: 0"), "{log}");
    assert_eq!(done.attr("status"), "applied");
    // Nothing leaked: not the key, the database, the server's environment or command line,
    // the other job's configuration or environment, anyone's job token.
    for secret in [
        key,
        SERVER_SECRET,
        VICTIM_SECRET,
        VICTIM_CONFIG_MARK,
        server.admin_password.as_str(),
        "TERRACE_JOB_TOKEN",
        "TERRACE_AGENT_TOKEN",
        "SQLite format",
    ] {
        assert!(!log.contains(secret), "the run saw {secret:?}:\n{log}");
    }
    for nothing in [
        "environ hits: 0",
        "cmdline hits: 0",
        "other jobs: 0 bytes",
        "data dir: 0 bytes",
    ] {
        assert!(log.contains(nothing), "expected {nothing:?}:\n{log}");
    }
    let outputs = state_outputs(&mallory, &evil_ws);
    assert_eq!(outputs["key"], "denied", "{outputs}");
    assert_eq!(outputs["database"], "denied", "{outputs}");
    let listing = outputs["data_listing"].to_string();
    assert!(!listing.contains("terrace.db"), "{listing}");
    let jobs = outputs["jobs_listing"].to_string();
    assert!(!jobs.contains("main.tf"), "{jobs}");

    // The victim's run is untouched, and still planning.
    let victim_run = admin.get(&format!("workspaces/{victim_ws}/runs")).ok().body["data"][0]
        ["attributes"]["status"]
        .clone();
    assert_eq!(victim_run, "planning");
}

/// The outputs of the workspace's current state, by name.
fn state_outputs(api: &Api, ws: &str) -> serde_json::Value {
    let current = api
        .get(&format!(
            "workspaces/{ws}/current-state-version?include=outputs"
        ))
        .ok();
    let mut outputs = serde_json::Map::new();
    for output in current.body["included"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let name = output["attributes"]["name"].as_str().unwrap().to_string();
        outputs.insert(name, output["attributes"]["value"].clone());
    }
    serde_json::Value::Object(outputs)
}

/// Where the kernel cannot confine runs (simulated: the machines here have Landlock), the
/// server says so at start, and runs only the jobs of its one organization: a tenant who
/// arrives later gets a clear error instead of the run of a machine it could read.
#[test]
fn without_landlock_only_the_sole_organization_runs() {
    let config = r#"resource "terraform_data" "a" {
  input = "a"
}
"#;
    let server = Server::builder(Db::Sqlite)
        .env("TERRACE_SIMULATE_NO_LANDLOCK", "1")
        .start();
    assert!(
        server.stdout.contains("NOT CONFINED")
            && server
                .stdout
                .contains("only runs of the organization \"default\""),
        "{}",
        server.stdout
    );

    let admin = server.api(&server.admin_token());
    let ws = create_workspace(&admin, "default", "home", json!({}));
    upload_configuration(&admin, &ws, &[("main.tf", config)], true);
    let run = first_run(&admin, &ws);
    wait_for_run(&admin, &run, &["planned"], RUN_TIMEOUT);
    let log = phase_log(&admin, &run, "plan");
    assert!(log.contains("this run is not confined"), "{log}");

    let mallory = server.api(&server.user_token("mallory"));
    create_organization(&mallory, "evil");
    let evil_ws = create_workspace(&mallory, "evil", "probe", json!({}));
    upload_configuration(&mallory, &evil_ws, &[("main.tf", config)], true);
    let evil_run = first_run(&mallory, &evil_ws);
    wait_for_run(&mallory, &evil_run, &["errored"], RUN_TIMEOUT);
    let log = phase_log(&mallory, &evil_run, "plan");
    assert!(
        log.contains("cannot confine runs") && log.contains("\"default\" only"),
        "{log}"
    );
}

/// A root listener runs jobs as `nobody` (65534).
fn first_run(api: &Api, ws: &str) -> String {
    api.get(&format!("workspaces/{ws}/runs")).ok().body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Pages and API answers carry the headers that keep a browser from framing them, sniffing
/// them, running injected script or leaking capability URLs through `Referer`.
#[test]
fn responses_carry_security_headers() {
    let server = Server::start(Db::Sqlite);
    let anonymous = server.anonymous();
    let login = format!(
        "/app/oauth/authorization?client_id=terraform-cli&redirect_uri=http%3A%2F%2Flocalhost%3A10001%2Flogin\
         &response_type=code&state=s&code_challenge_method=S256&code_challenge={}",
        "A".repeat(43)
    );
    let admin = server.api(&server.admin_token());
    for (what, reply) in [
        ("the consent page", anonymous.get(&login)),
        ("an API answer", admin.get("organizations")),
        ("an API error", anonymous.get("organizations")),
        ("the stylesheet", anonymous.get("/static/terrace.css")),
    ] {
        let header = |name: &str| {
            reply
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let csp = header("content-security-policy");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{what}: {csp:?}"
        );
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp:?}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
        // The server's own name is localhost: HSTS there would pin every local service.
        assert_eq!(header("strict-transport-security"), "", "{what}");
    }
    // The page styles itself from the stylesheet, with no inline style the policy forbids.
    let page = anonymous.get(&login).text;
    assert!(page.contains("href=\"/static/terrace."), "{page}");
    assert!(
        !page.contains("<style") && !page.contains("<script"),
        "{page}"
    );
}

/// A body that sends its first half at once and the rest after a pause, so that another
/// request can start and end while it is under way.
struct SlowBody {
    bytes: Vec<u8>,
    sent: usize,
    pause: Option<Duration>,
}

impl std::io::Read for SlowBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let half = self.bytes.len() / 2;
        if self.sent >= half {
            if let Some(pause) = self.pause.take() {
                std::thread::sleep(pause);
            }
        }
        let end = if self.sent < half {
            half
        } else {
            self.bytes.len()
        };
        let n = (end - self.sent).min(buf.len());
        buf[..n].copy_from_slice(&self.bytes[self.sent..self.sent + n]);
        self.sent += n;
        Ok(n)
    }
}

/// Of two PUTs racing on an upload URL, the one that ends first wins, and the loser, answered
/// 409, changes nothing (its tarball is not the version's). (A later upload may replace the
/// tarball until a run uses it: `data_retention.rs`.)
#[test]
fn a_configuration_upload_url_takes_one_upload() {
    let server = Server::start(Db::Sqlite);
    let api = server.api(&server.admin_token());
    let ws = create_workspace(&api, "default", "racy", json!({}));
    let created = api
        .post(
            &format!("workspaces/{ws}/configuration-versions"),
            &json!({"data": {"type": "configuration-versions",
                "attributes": {"auto-queue-runs": false}}}),
        )
        .expect(201);
    let cv = created.id();
    let url = created.attr("upload-url").as_str().unwrap().to_string();
    let first = terrace_tests::runs::tarball(&[("main.tf", "# the first upload\n")]);
    let second = terrace_tests::runs::tarball(&[("main.tf", "# the second upload\n")]);

    let slow = {
        let anonymous = api.anonymous();
        let url = url.clone();
        let body = SlowBody {
            bytes: second,
            sent: 0,
            pause: Some(Duration::from_secs(2)),
        };
        std::thread::spawn(move || {
            let body = reqwest::blocking::Body::new(body);
            anonymous
                .raw("PUT", &url, Some((body, "application/octet-stream")))
                .status()
                .as_u16()
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    let fast = api.put_unauthenticated(&url, &first).status;
    let slow = slow.join().unwrap();
    assert_eq!((fast, slow), (200, 409), "the first to finish wins");

    let stored = api
        .raw(
            "GET",
            &format!("configuration-versions/{cv}/download"),
            None,
        )
        .bytes()
        .unwrap();
    assert_eq!(
        stored.as_ref(),
        first.as_slice(),
        "the loser replaced the tarball"
    );
}

/// A workspace names its project by ID, and IDs can be learned (a shared screen, a log): a
/// tenant's workspace, created or moved, cannot land in another organization's project, and
/// the attempt writes nothing.
#[test]
fn a_workspace_cannot_join_another_organizations_project() {
    let server = Server::start(Db::Sqlite);
    let victim = server.api(&server.user_token("victim"));
    let attacker = server.api(&server.user_token("attacker"));
    create_organization(&victim, "victim");
    create_organization(&attacker, "attacker");
    let project = victim
        .post(
            "organizations/victim/projects",
            &json!({"data": {"type": "projects", "attributes": {"name": "payments"}}}),
        )
        .expect(201)
        .id();
    let into_project = json!({"project": {"data": {"type": "projects", "id": project}}});
    let error = attacker
        .post(
            "organizations/attacker/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "intruder"},
                "relationships": into_project}}),
        )
        .expect_error(422, "not found");
    assert_eq!(
        error.body["errors"][0]["source"]["pointer"],
        "/data/relationships/project"
    );
    let own = create_workspace(&attacker, "attacker", "mine", json!({}));
    attacker
        .patch(
            &format!("workspaces/{own}"),
            &json!({"data": {"type": "workspaces", "relationships": into_project}}),
        )
        .expect_error(422, "not found");

    // Nothing was written: the attacker has its one workspace, in its own project, and the
    // victim's project holds none.
    let listed = attacker.get("organizations/attacker/workspaces").ok();
    assert_eq!(listed.data().as_array().map(Vec::len), Some(1));
    assert_ne!(
        listed.data()[0]["relationships"]["project"]["data"]["id"],
        json!(project)
    );
    let counted = victim.get(&format!("projects/{project}")).ok();
    assert_eq!(counted.attr("workspace-count"), 0);
}
