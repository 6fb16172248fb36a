//! SSH keys (HCP Terraform's `ssh-keys`): the API's shape and refusals (the value is never
//! in a response, sealed at rest, another organization's keys are unknown), and a real
//! `git::ssh://` module source served by a real sshd started here: a remote run through the
//! built-in listener fetches the module with the workspace's key, fails at init without it
//! (before the key is assigned and after it is unassigned), and the key is left in no file
//! under the runs directory and in no log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::access::{add_member, create_team, create_workspace};
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, free_port, Api, Db, Server};

const ORG: &str = "default";
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// An ed25519 key pair made by ssh-keygen: (private key text, public key line).
fn keygen(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs (install openssh-client)");
    assert!(status.success());
    (
        std::fs::read_to_string(&path).unwrap(),
        std::fs::read_to_string(path.with_extension("pub")).unwrap(),
    )
}

/// A line of the key's body: what would show if the key leaked anywhere.
fn body_line(private: &str) -> String {
    private
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() > 40)
        .expect("a key body")
        .to_string()
}

fn key_body(name: &str, value: &str) -> Value {
    json!({"data": {"type": "ssh-keys", "attributes": {"name": name, "value": value}}})
}

fn assign(api: &Api, workspace: &str, key: Option<&str>) -> terrace_tests::Reply {
    api.patch(
        &format!("workspaces/{workspace}/relationships/ssh-key"),
        &json!({"data": {"type": "workspaces", "attributes": {"id": key}}}),
    )
}

fn assigned(api: &Api, workspace: &str) -> Value {
    api.get(&format!("workspaces/{workspace}")).ok().body["data"]["relationships"]["ssh-key"]
        ["data"]
        .clone()
}

both_databases!(the_api_has_hcp_terraforms_shape_and_refusals, |db: Db| {
    let server = Server::builder(db).without_rate_limits().start();
    let alice = server.api(&server.admin_token());
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = keygen(keys.path(), "deploy");
    let (other_private, _) = keygen(keys.path(), "other");
    let secret = body_line(&private);
    let other_secret = body_line(&other_private);
    let ws = create_workspace(&alice, ORG, "app", None);

    let created = alice
        .post(
            &format!("organizations/{ORG}/ssh-keys"),
            &key_body("deploy", &private),
        )
        .expect(201);
    let key = created.id();
    assert!(key.starts_with("sshkey-"), "{}", created.text);
    assert_eq!(created.data()["type"], "ssh-keys");
    assert_eq!(
        created.data()["attributes"],
        json!({"name": "deploy"}),
        "only the name is shown: {}",
        created.text
    );
    assert!(created.data()["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/v2/ssh-keys/{key}")));
    let mut seen = vec![created.text.clone()];

    // Read, list, rename, replace the value.
    let shown = alice.get(&format!("ssh-keys/{key}")).ok();
    assert_eq!(shown.attr("name"), "deploy");
    seen.push(shown.text.clone());
    let listed = alice.get(&format!("organizations/{ORG}/ssh-keys")).ok();
    let ids: Vec<&str> = listed
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![key.as_str()]);
    assert_eq!(listed.body["meta"]["pagination"]["total-count"], 1);
    seen.push(listed.text.clone());
    let renamed = alice
        .patch(
            &format!("ssh-keys/{key}"),
            &json!({"data": {"type": "ssh-keys", "attributes": {"name": "deploy-2"}}}),
        )
        .ok();
    assert_eq!(renamed.attr("name"), "deploy-2");
    let replaced = alice
        .patch(
            &format!("ssh-keys/{key}"),
            &json!({"data": {"type": "ssh-keys", "attributes": {"value": other_private}}}),
        )
        .ok();
    assert_eq!(replaced.attr("name"), "deploy-2");
    seen.extend([renamed.text, replaced.text]);

    // Values that are not a private key, or too big; names missing.
    let refused = |body: Value, pointer: &str| {
        let reply = alice
            .post(&format!("organizations/{ORG}/ssh-keys"), &body)
            .expect(422);
        assert_eq!(
            reply.body["errors"][0]["source"]["pointer"], pointer,
            "{}",
            reply.text
        );
    };
    const VALUE: &str = "/data/attributes/value";
    refused(key_body("pub", &public), VALUE);
    let truncated: String = private.lines().take(2).collect::<Vec<_>>().join("\n");
    refused(key_body("cut", &truncated), VALUE);
    refused(key_body("empty", ""), VALUE);
    refused(key_body("huge", &"A".repeat(17 * 1024)), VALUE);
    refused(
        json!({"data": {"type": "ssh-keys", "attributes": {"value": private}}}),
        "/data/attributes/name",
    );
    alice
        .patch(
            &format!("ssh-keys/{key}"),
            &json!({"data": {"type": "ssh-keys", "attributes": {"value": public}}}),
        )
        .expect_error(422, "public key");

    // Sealed at rest: the database holds neither key's text.
    let holding = |text: &str| {
        server.sql(&format!(
            "UPDATE ssh_keys SET name = name WHERE value_ciphertext LIKE '%{}%'",
            &text[..30]
        ))
    };
    assert_eq!(holding(&secret) + holding(&other_secret), 0);
    assert_eq!(
        server.sql(&format!(
            "UPDATE ssh_keys SET name = name WHERE id = '{key}'"
        )),
        1
    );

    // Assigning and unassigning, go-tfe's way.
    assert_eq!(assigned(&alice, &ws), Value::Null);
    let with_key = assign(&alice, &ws, Some(&key)).ok();
    assert_eq!(
        with_key.data()["relationships"]["ssh-key"]["data"],
        json!({"type": "ssh-keys", "id": key})
    );
    assert_eq!(assigned(&alice, &ws)["id"], key.as_str());
    assign(&alice, &ws, Some("sshkey-missing")).expect(404);
    let without = assign(&alice, &ws, None).ok();
    assert_eq!(
        without.data()["relationships"]["ssh-key"]["data"],
        Value::Null
    );

    // Another organization's owner finds nothing, and cannot assign Alice's key.
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bob-corp", "email": "b@bob.example"}}}),
    )
    .expect(201);
    let bob_ws = create_workspace(&bob, "bob-corp", "bobs", None);
    bob.get(&format!("ssh-keys/{key}")).expect(404);
    bob.patch(
        &format!("ssh-keys/{key}"),
        &json!({"data": {"type": "ssh-keys", "attributes": {"name": "mine"}}}),
    )
    .expect(404);
    bob.delete(&format!("ssh-keys/{key}")).expect(404);
    bob.get(&format!("organizations/{ORG}/ssh-keys"))
        .expect(404);
    assign(&bob, &bob_ws, Some(&key)).expect_error(404, "not found");
    assert_eq!(assigned(&bob, &bob_ws), Value::Null);
    assign(&bob, &ws, Some(&key)).expect(404);

    // Members: managing keys takes manage-vcs-settings; assigning, administering the workspace.
    let plain = {
        let team = create_team(&alice, ORG, "plain", json!({}));
        let token = server.user_token("carol");
        add_member(&alice, ORG, &team, "carol");
        server.api(&token)
    };
    plain
        .post(
            &format!("organizations/{ORG}/ssh-keys"),
            &key_body("c", &private),
        )
        .expect(403);
    plain.get(&format!("ssh-keys/{key}")).expect(403);
    assign(&plain, &ws, Some(&key)).expect(404);
    let vcs = {
        let team = create_team(&alice, ORG, "vcs", json!({"manage-vcs-settings": true}));
        let token = server.user_token("dave");
        add_member(&alice, ORG, &team, "dave");
        server.api(&token)
    };
    let daves = vcs
        .post(
            &format!("organizations/{ORG}/ssh-keys"),
            &key_body("d", &private),
        )
        .expect(201);
    seen.push(daves.text.clone());
    vcs.delete(&format!("ssh-keys/{}", daves.id())).expect(204);
    let org_token = alice
        .post(
            &format!("organizations/{ORG}/authentication-token"),
            &json!({}),
        )
        .expect(201);
    server
        .api(org_token.attr("token").as_str().unwrap())
        .get(&format!("organizations/{ORG}/ssh-keys"))
        .expect(403);

    // Deleting a key in use unassigns it (as HCP Terraform does).
    assign(&alice, &ws, Some(&key)).ok();
    alice.delete(&format!("ssh-keys/{key}")).expect(204);
    alice.get(&format!("ssh-keys/{key}")).expect(404);
    assert_eq!(assigned(&alice, &ws), Value::Null);

    for text in seen {
        assert!(
            !text.contains(&secret) && !text.contains(&other_secret),
            "{text}"
        );
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
});

/// An sshd of our own on 127.0.0.1, serving the repositories of `dir` to `public`'s key.
struct Sshd {
    child: Child,
    port: u16,
    user: String,
}

impl Sshd {
    fn start(dir: &Path, public: &str) -> Sshd {
        let port = free_port();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let host_key = dir.join("host_key");
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key)
            .status()
            .unwrap();
        assert!(status.success());
        let authorized = dir.join("authorized_keys");
        std::fs::write(&authorized, public).unwrap();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
                 StrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nAllowUsers {user}\nLogLevel VERBOSE\n",
                host_key.display(),
                authorized.display(),
                dir.join("sshd.pid").display()
            ),
        )
        .unwrap();
        if user == "root" {
            // sshd's privilege separation directory, which a service install would make.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd runs (install openssh-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Sshd { child, port, user }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare repository `mod.git` under `dir` holding a module with one output.
fn module_repository(dir: &Path) -> PathBuf {
    let work = dir.join("module-src");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("main.tf"),
        "output \"greeting\" {\n  value = \"hello-over-ssh\"\n}\n",
    )
    .unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "main.tf"]);
    git(&work, &["commit", "-q", "-m", "module"]);
    let bare = dir.join("mod.git");
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    bare
}

/// Every file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_under(&path));
        } else if kind.is_file() {
            out.push(path);
        }
    }
    out
}

fn plan(api: &Api, ws: &str, expect: &[&str]) -> (String, String) {
    let run = create_run(api, ws, None, json!({"plan-only": true})).id();
    wait_for_run(api, &run, expect, RUN_TIMEOUT);
    let log = phase_log(api, &run, "plan");
    (run, log)
}

#[test]
fn a_git_ssh_module_source_is_fetched_with_the_workspaces_key() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(dir.path(), "client");
    let secret = body_line(&private);
    let sshd = Sshd::start(dir.path(), &public);
    let repo = module_repository(dir.path());

    let server = Server::builder(Db::Sqlite).without_rate_limits().start();
    let api = server.api(&server.admin_token());
    let ws = create_workspace(&api, ORG, "uses-ssh", None);
    let source = format!(
        "git::ssh://{}@127.0.0.1:{}{}",
        sshd.user,
        sshd.port,
        repo.display()
    );
    let config = format!(
        "module \"m\" {{\n  source = \"{source}\"\n}}\n\
         output \"greeting\" {{\n  value = module.m.greeting\n}}\n"
    );
    upload_configuration(&api, &ws, &[("main.tf", &config)], false);

    // No key assigned: init cannot fetch the module.
    let (_, without) = plan(&api, &ws, &["errored"]);
    assert!(
        without.contains("Failed to download module")
            && without.contains("Permission denied (publickey)"),
        "init should fail to fetch the module:\n{without}"
    );

    let key = api
        .post(
            &format!("organizations/{ORG}/ssh-keys"),
            &key_body("client", &private),
        )
        .expect(201)
        .id();
    assign(&api, &ws, Some(&key)).ok();
    let (with_run, with_key) = plan(&api, &ws, &["planned_and_finished", "planned"]);
    assert!(
        // The output reads the module's: init fetched it (the structured log names outputs,
        // not their values).
        with_key.contains("\"outputs\":{\"greeting\"") && !with_key.contains("Error"),
        "the module's output should be planned:\n{with_key}"
    );

    // Unassigned: refused again.
    assign(&api, &ws, None).ok();
    let (_, after) = plan(&api, &ws, &["errored"]);
    assert!(after.contains("Permission denied (publickey)"), "{after}");

    // The key is in no log and in no file under the runs directory.
    for log in [&without, &with_key, &after] {
        assert!(
            !log.contains(&secret) && !log.contains("PRIVATE KEY"),
            "{log}"
        );
    }
    // The listener's runs directory is there (so the sweep below looks at the right place).
    let runs_dirs = std::fs::read_dir(&server.work_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("terrace-runs-"))
        .count();
    assert_eq!(runs_dirs, 1, "{}", server.work_dir.display());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let leftovers: Vec<PathBuf> = files_under(&server.work_dir)
            .into_iter()
            .filter(|f| {
                f.parent().is_some_and(|p| p.ends_with("ssh"))
                    || std::fs::read_to_string(f).is_ok_and(|t| t.contains(&secret))
            })
            .collect();
        if leftovers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the key outlived run {with_run}: {leftovers:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(sshd);
}
