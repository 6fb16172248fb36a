//! Engines and versions: the site's catalogue (`/admin/terraform-versions`,
//! `/admin/opentofu-versions`), workspaces naming their engine and version, and remote runs on
//! the binary the catalogue names: the real terraform 1.5.7 and OpenTofu 1.12.6, fetched from
//! a release zip (over `file://` and over HTTP), verified and cached by the runner.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, strip_ansi, tools, Api, Db, Reply, Server, Terraform};

const SHA: &str = "5d5b09f6dcb2d53a5fffc60c4ac0d55fabdf556069d6631545f42aa6e3500f2e";

fn version_body(kind: &str, attributes: Value) -> Value {
    json!({"data": {"type": kind, "attributes": attributes}})
}

fn add_version(api: &Api, kind: &str, attributes: Value) -> String {
    api.post(&format!("admin/{kind}"), &version_body(kind, attributes))
        .expect(201)
        .id()
}

fn workspace(api: &Api, name: &str, attributes: Value) -> Reply {
    let mut attributes = attributes;
    attributes["name"] = json!(name);
    api.post(
        "organizations/default/workspaces",
        &json!({"data": {"type": "workspaces", "attributes": attributes}}),
    )
}

both_databases!(the_catalogue_api, |db: Db| {
    let server = Server::start(db);
    let admin = server.api(&server.admin_token());
    let user = server.api(&server.user_token("plain"));

    // An empty catalogue: any version goes, and new workspaces ask for `latest`.
    let free = workspace(&admin, "free", json!({"terraform-version": "1.2.3"})).expect(201);
    assert_eq!(free.attr("engine"), "terraform");
    let fresh = workspace(&admin, "fresh", json!({})).expect(201);
    assert_eq!(fresh.attr("terraform-version"), "latest");

    let old = add_version(
        &admin,
        "terraform-versions",
        json!({"version": "1.5.7", "url": "https://example.com/tf157.zip", "sha": SHA,
            "official": true}),
    );
    let id = add_version(
        &admin,
        "terraform-versions",
        json!({"version": "1.11.4", "sha": SHA, "url": "/opt/terraform-1.11.4",
            "deprecated": true, "deprecated-reason": "old"}),
    );
    let shown = admin.get(&format!("admin/terraform-versions/{id}")).ok();
    assert_eq!(shown.data()["type"], "terraform-versions");
    assert_eq!(shown.attr("url"), "/opt/terraform-1.11.4");
    assert_eq!(shown.attr("enabled"), true);
    assert_eq!(shown.attr("official"), false);
    assert_eq!(shown.attr("deprecated-reason"), "old");
    assert_eq!(shown.attr("usage"), 0);
    assert_eq!(
        shown.attr("archs"),
        &json!([{"url": "/opt/terraform-1.11.4", "sha": SHA, "os": "linux", "arch": "amd64"}])
    );

    // Lists: exact filter, substring search, pages.
    let listed = admin
        .get("admin/terraform-versions?filter[version]=1.5.7")
        .ok();
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["data"][0]["id"], old.as_str());
    let searched = admin
        .get("admin/terraform-versions?search[version]=1.")
        .ok();
    assert_eq!(searched.body["data"].as_array().unwrap().len(), 2);
    let paged = admin
        .get("admin/terraform-versions?page[size]=1&page[number]=2")
        .ok();
    assert_eq!(paged.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(paged.body["meta"]["pagination"]["total-count"], 2);

    // The other engine's list is its own.
    assert!(admin.get("admin/opentofu-versions").ok().body["data"]
        .as_array()
        .unwrap()
        .is_empty());
    admin
        .get(&format!("admin/opentofu-versions/{id}"))
        .expect(404);

    // Site administrators only: everyone else is told nothing exists.
    user.get("admin/terraform-versions").expect(404);
    user.get(&format!("admin/terraform-versions/{id}"))
        .expect(404);
    user.post(
        "admin/terraform-versions",
        &version_body("terraform-versions", json!({"version": "9.9.9"})),
    )
    .expect(404);
    user.delete(&format!("admin/terraform-versions/{id}"))
        .expect(404);
    server
        .anonymous()
        .get("admin/terraform-versions")
        .expect(401);

    // Bad input: 422 naming what is wrong, nothing written.
    for (attributes, text) in [
        (json!({"url": "/opt/tf", "sha": SHA}), "version is required"),
        (
            json!({"version": "1.5", "url": "/opt/tf", "sha": SHA}),
            "is not a version",
        ),
        (json!({"version": "1.6.0"}), "url and sha, or archs"),
        (
            json!({"version": "1.6.0", "url": "/opt/tf", "sha": "abc"}),
            "SHA-256",
        ),
        (
            json!({"version": "1.6.0", "url": "ftp://x/tf", "sha": SHA}),
            "not a URL",
        ),
        (
            json!({"version": "1.6.0", "archs": [{"url": "/opt/tf", "sha": SHA, "os": "windows", "arch": "amd64"}]}),
            "not a supported platform",
        ),
        (
            json!({"version": "1.5.7", "url": "/opt/tf", "sha": SHA}),
            "exists already",
        ),
        (json!({"version": 157}), ""),
    ] {
        admin
            .post(
                "admin/terraform-versions",
                &version_body("terraform-versions", attributes),
            )
            .expect_error(422, text);
    }
    admin
        .post(
            "admin/terraform-versions",
            &version_body("opentofu-versions", json!({"version": "1.6.0"})),
        )
        .expect(422);
    admin
        .send_raw("POST", "admin/terraform-versions", b"{")
        .expect(400);
    admin.get("admin/terraform-versions/tool-nope").expect(404);
    assert_eq!(
        admin.get("admin/terraform-versions").ok().body["meta"]["pagination"]["total-count"],
        2
    );

    // With entries, a workspace must ask for an enabled one; new ones get the newest
    // official release.
    let refused = workspace(&admin, "pinned", json!({"terraform-version": "1.9.0"}))
        .expect_error(422, "the available versions are: 1.11.4, 1.5.7");
    assert_eq!(
        refused.body["errors"][0]["source"]["pointer"],
        "/data/attributes/terraform-version"
    );
    let defaulted = workspace(&admin, "defaulted", json!({})).expect(201);
    assert_eq!(defaulted.attr("terraform-version"), "1.5.7");
    let constrained = workspace(
        &admin,
        "constrained",
        json!({"terraform-version": "~> 1.5.0"}),
    )
    .expect(201);
    let ws = constrained.id();
    admin
        .patch(
            &format!("workspaces/{ws}"),
            &json!({"data": {"type": "workspaces", "attributes": {"terraform-version": "2.0.0"}}}),
        )
        .expect_error(422, "not available");
    // A tofu workspace needs an OpenTofu version: that catalogue is empty, so any goes.
    let tofu = workspace(
        &admin,
        "tofu",
        json!({"engine": "tofu", "terraform-version": "1.12.6"}),
    )
    .expect(201);
    assert_eq!(tofu.attr("engine"), "tofu");
    workspace(&admin, "bad-engine", json!({"engine": "pulumi"})).expect_error(422, "pulumi");

    // Usage, and deletion refused while in use or official.
    assert_eq!(
        admin
            .get(&format!("admin/terraform-versions/{old}"))
            .ok()
            .attr("usage"),
        1
    );
    admin
        .delete(&format!("admin/terraform-versions/{old}"))
        .expect_error(422, "official");
    admin
        .patch(
            &format!("admin/terraform-versions/{old}"),
            &version_body("terraform-versions", json!({"official": false})),
        )
        .ok();
    admin
        .delete(&format!("admin/terraform-versions/{old}"))
        .expect_error(422, "used by 1 workspace");
    // An update replaces the platforms, and a reason goes with its deprecation.
    let updated = admin
        .patch(
            &format!("admin/terraform-versions/{id}"),
            &version_body(
                "terraform-versions",
                json!({"deprecated": false,
                    "archs": [{"url": "https://example.com/arm", "sha": SHA, "os": "linux", "arch": "arm64"}]}),
            ),
        )
        .ok();
    assert_eq!(updated.attr("url"), "");
    assert_eq!(updated.attr("deprecated-reason"), &Value::Null);
    admin
        .delete(&format!("admin/terraform-versions/{id}"))
        .expect(204);
    admin
        .get(&format!("admin/terraform-versions/{id}"))
        .expect(404);
});

/// `binary` in a release zip (stored: the test need not spend time compressing) in a
/// directory the runner's user can read.
fn release_zip(dir: &Path, name: &str, binary: &Path) -> (PathBuf, String) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join(format!("{name}.zip"));
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false)
        .unix_permissions(0o755);
    zip.start_file(name, options).unwrap();
    std::io::copy(&mut std::fs::File::open(binary).unwrap(), &mut zip).unwrap();
    zip.finish().unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sha = hex::encode(Sha256::digest(std::fs::read(&path).unwrap()));
    (path, sha)
}

/// Serves `file` over plain HTTP on a local port, for every request, until the test ends.
fn serve_file(file: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let file = file.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = reader.into_inner();
                let body = std::fs::read(&file).unwrap();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            });
        }
    });
    format!("http://127.0.0.1:{port}/tofu_1.12.6_linux_amd64.zip")
}

const CONFIG: &str = "resource \"terraform_data\" \"a\" {\n  input = \"engines\"\n}\n\
    output \"tool\" {\n  value = terraform_data.a.output\n}\n";

/// Plans a run on the workspace and returns its plan log once it settles in `status`.
fn plan(api: &Api, ws: &str, attributes: Value, status: &str) -> String {
    upload_configuration(api, ws, &[("main.tf", CONFIG)], false);
    let run = create_run(api, ws, None, attributes).id();
    wait_for_run(api, &run, &[status], Duration::from_secs(300));
    phase_log(api, &run, "plan")
}

#[test]
fn remote_runs_on_catalogue_binaries() {
    let server = Server::start(Db::Sqlite);
    let api = server.api(&server.admin_token());
    let scratch = tempfile::tempdir().unwrap();

    let (tf_zip, tf_sha) = release_zip(
        scratch.path(),
        "terraform",
        &tools::path("terraform-1.5.7/terraform"),
    );
    add_version(
        &api,
        "terraform-versions",
        json!({"version": "1.5.7", "official": true,
            "url": format!("file://{}", tf_zip.display()), "sha": tf_sha}),
    );
    let tofu_dir = scratch.path().join("tofu");
    std::fs::create_dir(&tofu_dir).unwrap();
    let (tofu_zip, tofu_sha) = release_zip(&tofu_dir, "tofu", &tools::path("tofu-1.12.6/tofu"));
    add_version(
        &api,
        "opentofu-versions",
        json!({"version": "1.12.6", "url": serve_file(tofu_zip), "sha": tofu_sha}),
    );

    // terraform 1.5.7 from the file:// zip.
    let ws = workspace(&api, "tf157", json!({"terraform-version": "1.5.7"}))
        .expect(201)
        .id();
    let log = plan(&api, &ws, json!({}), "planned");
    assert!(log.contains("Terraform v1.5.7"), "{log}");
    assert!(log.contains("Plan: 1 to add"), "{log}");

    // OpenTofu 1.12.6 from the zip over HTTP; new tofu workspaces get the newest OpenTofu.
    let tofu = workspace(&api, "tofu", json!({"engine": "tofu"})).expect(201);
    assert_eq!(tofu.attr("terraform-version"), "1.12.6");
    let log = plan(&api, &tofu.id(), json!({}), "planned");
    assert!(log.contains("OpenTofu v1.12.6"), "{log}");
    // tofu's own structured log follows the preamble.
    assert!(log.contains(r#""@message":"OpenTofu 1.12.6""#), "{log}");
    assert!(log.contains("Plan: 1 to add"), "{log}");

    // A plan-only run asking for a version the catalogue lacks errors, naming what it has.
    let log = plan(
        &api,
        &ws,
        json!({"plan-only": true, "terraform-version": "1.9.0"}),
        "errored",
    );
    assert!(
        log.contains(
            "Terraform 1.9.0 is not available on this server; the available versions are: 1.5.7"
        ),
        "{log}"
    );

    // A binary that does not match its SHA-256 never runs.
    let (_, wrong) = release_zip(scratch.path(), "other", &tools::path("tofu-1.12.6/tofu"));
    let bad = add_version(
        &api,
        "terraform-versions",
        json!({"version": "1.5.6", "url": format!("file://{}", tf_zip.display()), "sha": wrong}),
    );
    let ws_bad = workspace(&api, "bad-sha", json!({"terraform-version": "1.5.6"}))
        .expect(201)
        .id();
    let log = plan(&api, &ws_bad, json!({}), "errored");
    assert!(
        log.contains(&format!("the catalogue says {wrong}: not running it")),
        "{log}"
    );
    assert!(!log.contains("Terraform v1.5.6"), "{log}");
    let _ = bad;
}

/// terraform's `cloud {}` creates the workspace, then asks for its own version (1.11.4, not
/// in the catalogue): refused, it warns and the workspace keeps an allowed version.
#[test]
fn a_cloud_client_of_another_version_gets_an_allowed_one() {
    let server = Server::start(Db::Sqlite);
    let token = server.admin_token();
    let api = server.api(&token);
    add_version(
        &api,
        "terraform-versions",
        json!({"version": "1.5.7", "official": true, "url": "https://example.com/tf.zip", "sha": SHA}),
    );
    let tf = Terraform::new(&server, &token);
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{\n      name = \"client\"\n    }}\n  }}\n}}\n",
            server.hostname
        ),
    );
    let out = strip_ansi(&tf.ok(&["init", "-input=false"]));
    assert!(out.contains("The new workspace will use 1.5.7"), "{out}");
    let ws = api.get("organizations/default/workspaces/client").ok();
    assert_eq!(ws.attr("terraform-version"), "1.5.7", "{}", ws.text);
    assert_eq!(ws.attr("engine"), "terraform");
}

/// OpenTofu's `cloud {}` creates a tofu workspace (tofu announces itself in its User-Agent),
/// asks for its own version, which the OpenTofu catalogue has, and plans remotely on it.
#[test]
fn an_opentofu_client_gets_a_tofu_workspace_and_runs_on_tofu() {
    let server = Server::start(Db::Sqlite);
    let token = server.admin_token();
    let api = server.api(&token);
    // A bare binary by absolute path; the runner's user must reach it.
    let scratch = tempfile::tempdir().unwrap();
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let tofu_bin = scratch.path().join("tofu");
    std::fs::copy(tools::path("tofu-1.12.6/tofu"), &tofu_bin).unwrap();
    let sha = hex::encode(Sha256::digest(std::fs::read(&tofu_bin).unwrap()));
    let listed = server.admin(&[
        "tool-version",
        "--engine",
        "tofu",
        "--version",
        "1.12.6",
        "--file",
        tofu_bin.to_str().unwrap(),
    ]);
    let shown = api
        .get(&format!("admin/opentofu-versions/{}", listed.trim()))
        .ok();
    assert_eq!(shown.attr("sha"), sha.as_str());
    assert_eq!(shown.attr("url"), tofu_bin.to_str().unwrap());

    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let rc = work.path().join("cli.tfrc");
    std::fs::write(
        &rc,
        format!(
            "credentials \"{}\" {{\n  token = \"{token}\"\n}}\n",
            server.hostname
        ),
    )
    .unwrap();
    std::fs::write(
        work.path().join("main.tf"),
        format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{\n      name = \"tofu-client\"\n    }}\n  }}\n}}\n{CONFIG}",
            server.hostname
        ),
    )
    .unwrap();
    let tofu = |args: &[&str]| {
        let out = std::process::Command::new(tools::path("tofu-1.12.6/tofu"))
            .args(args)
            .current_dir(work.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("SSL_CERT_FILE", &server.ca_bundle)
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("TF_IN_AUTOMATION", "1")
            .output()
            .unwrap();
        let text = strip_ansi(&format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        assert!(out.status.success(), "tofu {args:?}: {text}");
        text
    };
    tofu(&["init", "-input=false", "-no-color"]);
    let ws = api.get("organizations/default/workspaces/tofu-client").ok();
    assert_eq!(ws.attr("engine"), "tofu", "{}", ws.text);
    assert_eq!(ws.attr("terraform-version"), "1.12.6", "{}", ws.text);
    let out = tofu(&["plan", "-input=false", "-no-color"]);
    assert!(out.contains("Plan: 1 to add"), "{out}");
    // The plan's log, streamed back to the CLI, shows the engine that ran it.
    assert!(out.contains("OpenTofu v1.12.6"), "{out}");
}
