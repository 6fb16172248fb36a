//! The binary cache (`/admin/tool-archives`, `/_downloads/tool-archive/...`): runners get the
//! catalogue's terraform from the server, which pulls it from upstream once (an HTTP server
//! started here, counting its requests), verifies it against the catalogue's SHA-256 and keeps
//! it; runs go on when the upstream is gone; a tampered upstream archive errors the run and
//! nothing is cached; site administrators upload archives, and nobody else can.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, tools, Api, Db, Server};

/// A release zip (stored, not compressed) holding `name` with `content`.
fn zipped(name: &str, content: &[u8]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(content.len() > u32::MAX as usize / 2)
        .unix_permissions(0o755);
    zip.start_file(name, options).unwrap();
    zip.write_all(content).unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An upstream of release archives on a local port: serves `files` by path, counts the
/// requests for archives, and answers 503 to everything once `down` is set.
struct Upstream {
    base: String,
    hits: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

impl Upstream {
    fn start(files: HashMap<String, Vec<u8>>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let files = Arc::new(files);
        let (counted, stopped) = (hits.clone(), down.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (files, counted, stopped) = (files.clone(), counted.clone(), stopped.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    let mut request = String::new();
                    let _ = reader.read_line(&mut request);
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                    if path.ends_with(".zip") {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    let mut stream = reader.into_inner();
                    let (status, body): (&str, &[u8]) = if stopped.load(Ordering::SeqCst) {
                        ("503 Service Unavailable", b"down")
                    } else {
                        match files.get(&path) {
                            Some(body) => ("200 OK", body),
                            None => ("404 Not Found", b"no such file"),
                        }
                    };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(body);
                });
            }
        });
        Upstream { base, hits, down }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Requests for archives (`.zip`) so far.
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn add_version(api: &Api, kind: &str, version: &str, url: &str, sha: &str) -> String {
    api.post(
        &format!("admin/{kind}"),
        &json!({"data": {"type": kind, "attributes":
            {"version": version, "url": url, "sha": sha}}}),
    )
    .expect(201)
    .id()
}

fn workspace(api: &Api, name: &str, version: &str) -> String {
    api.post(
        "organizations/default/workspaces",
        &json!({"data": {"type": "workspaces", "attributes":
            {"name": name, "terraform-version": version}}}),
    )
    .expect(201)
    .id()
}

const CONFIG: &str = "resource \"terraform_data\" \"a\" {\n  input = \"cache\"\n}\n";

/// Plans a plan-only run on the workspace (which leaves it free for the next) and returns
/// its plan log once it settles in `status`.
fn plan(api: &Api, ws: &str, status: &str) -> String {
    upload_configuration(api, ws, &[("main.tf", CONFIG)], false);
    let run = create_run(api, ws, None, json!({"plan-only": true})).id();
    wait_for_run(api, &run, &[status], Duration::from_secs(300));
    phase_log(api, &run, "plan")
}

fn archives(api: &Api) -> Vec<Value> {
    api.get("admin/tool-archives").ok().body["data"]
        .as_array()
        .unwrap()
        .clone()
}

/// Empties the runner's own cache, so that the next run fetches from the server again.
fn forget_runner_cache(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        std::fs::remove_dir_all(entry.path()).unwrap();
    }
}

#[test]
fn runs_fetch_terraform_through_the_binary_cache() {
    let release = zipped(
        "terraform",
        &std::fs::read(tools::path("terraform-1.5.7/terraform")).unwrap(),
    );
    let sha = sha256(&release);
    let tampered = zipped("terraform", b"#!/bin/sh\necho tampered\n");
    let shasums = format!(
        "{sha}  terraform_1.5.7_linux_amd64.zip\n{}  terraform_1.5.7_darwin_arm64.zip\n",
        sha256(b"darwin")
    );
    let upstream = Upstream::start(HashMap::from([
        (
            "/terraform/1.5.7/terraform_1.5.7_linux_amd64.zip".to_string(),
            release.clone(),
        ),
        (
            "/terraform/1.5.7/terraform_1.5.7_SHA256SUMS".to_string(),
            shasums.into_bytes(),
        ),
        (
            "/terraform/1.5.6/terraform_1.5.6_linux_amd64.zip".to_string(),
            tampered,
        ),
    ]));

    let runner_cache = tempfile::tempdir().unwrap();
    // Runs (and their fetches) may be another user's (`nobody` under a root server).
    std::fs::set_permissions(runner_cache.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let server = Server::builder(Db::Sqlite)
        .arg("--tools-cache-dir")
        .arg(runner_cache.path().to_str().unwrap())
        .arg("--tool-archive-upstream")
        .arg(&format!("terraform={}", upstream.url("/terraform")))
        .start();
    let api = server.api(&server.admin_token());

    // The upstream fills a version given alone: each Linux platform its SHA256SUMS lists.
    let entry = api
        .post(
            "admin/terraform-versions",
            &json!({"data": {"type": "terraform-versions", "attributes": {"version": "1.5.7"}}}),
        )
        .expect(201);
    assert_eq!(
        entry.attr("archs"),
        &json!([{"url": upstream.url("/terraform/1.5.7/terraform_1.5.7_linux_amd64.zip"),
            "sha": sha, "os": "linux", "arch": "amd64"}])
    );
    // A SHA-256 the upstream's SHA256SUMS contradicts; a version it does not have.
    api.post(
        "admin/terraform-versions",
        &json!({"data": {"type": "terraform-versions", "attributes": {"version": "1.5.8",
            "archs": [{"url": "", "sha": sha256(b"other"), "os": "linux", "arch": "amd64"}]}}}),
    )
    .expect_error(422, "is 1.5.8 released?");
    api.patch(
        &format!("admin/terraform-versions/{}", entry.id()),
        &json!({"data": {"type": "terraform-versions", "attributes": {
            "archs": [{"url": "", "sha": sha256(b"other"), "os": "linux", "arch": "amd64"}]}}}),
    )
    .expect_error(422, "the upstream's SHA256SUMS says");
    assert_eq!(
        upstream.hits(),
        0,
        "filling the catalogue fetched no archive"
    );

    // The first run: the server pulls the archive once, verifies and keeps it.
    let ws = workspace(&api, "cached", "1.5.7");
    let log = plan(&api, &ws, "planned_and_finished");
    assert!(log.contains("Terraform v1.5.7"), "{log}");
    assert!(log.contains("Plan: 1 to add"), "{log}");
    assert_eq!(upstream.hits(), 1);
    let cached = archives(&api);
    assert_eq!(cached.len(), 1, "{cached:?}");
    let attributes = &cached[0]["attributes"];
    assert_eq!(attributes["engine"], "terraform");
    assert_eq!(attributes["version"], "1.5.7");
    assert_eq!(attributes["os"], "linux");
    assert_eq!(attributes["arch"], "amd64");
    assert_eq!(attributes["origin"], "pulled");
    assert_eq!(attributes["sha256"], sha.as_str());
    assert_eq!(attributes["size"], release.len());
    assert_eq!(attributes["filename"], "terraform_1.5.7_linux_amd64.zip");
    assert_eq!(server.blob_files("tool-archives/terraform/1.5.7/").len(), 1);

    // The upstream is gone and the runner forgot its copy: the server's is enough.
    upstream.down.store(true, Ordering::SeqCst);
    forget_runner_cache(runner_cache.path());
    let log = plan(&api, &ws, "planned_and_finished");
    assert!(log.contains("Terraform v1.5.7"), "{log}");
    assert_eq!(upstream.hits(), 1, "the second run went upstream");

    // Deleted from the cache, with the upstream down: the run errors, saying why.
    let id = cached[0]["id"].as_str().unwrap().to_string();
    api.delete(&format!("admin/tool-archives/{id}")).expect(204);
    api.delete(&format!("admin/tool-archives/{id}")).expect(404);
    assert!(server
        .blob_files("tool-archives/terraform/1.5.7/")
        .is_empty());
    forget_runner_cache(runner_cache.path());
    let log = plan(&api, &ws, "errored");
    assert!(
        log.contains("cannot fetch Terraform 1.5.7 from the server's binary cache: 502"),
        "{log}"
    );
    assert!(log.contains("503 Service Unavailable"), "{log}");
    // The signed URL is not in the log.
    assert!(!log.contains("/_downloads/"), "{log}");

    // A site administrator uploads the release: runs need no upstream at all.
    let uploaded = api
        .request(
            "PUT",
            "admin/tool-archives/terraform/1.5.7/linux_amd64",
            Some(release.clone()),
            "application/zip",
        )
        .expect(201);
    assert_eq!(uploaded.attr("origin"), "uploaded");
    assert_eq!(uploaded.attr("sha256"), sha.as_str());
    let log = plan(&api, &ws, "planned_and_finished");
    assert!(log.contains("Terraform v1.5.7"), "{log}");
    assert_eq!(upstream.hits(), 2);

    // A tampered upstream archive: the run errors naming both digests, nothing is cached.
    upstream.down.store(false, Ordering::SeqCst);
    add_version(
        &api,
        "terraform-versions",
        "1.5.6",
        &upstream.url("/terraform/1.5.6/terraform_1.5.6_linux_amd64.zip"),
        &sha,
    );
    let bad = workspace(&api, "tampered", "1.5.6");
    let log = plan(&api, &bad, "errored");
    assert!(
        log.contains("the upstream archive of Terraform 1.5.6 for linux/amd64 has the SHA-256"),
        "{log}"
    );
    assert!(
        log.contains(&format!("but the catalogue says {sha}: not caching it")),
        "{log}"
    );
    assert!(!log.contains("tampered\n"), "{log}");
    assert_eq!(upstream.hits(), 3);
    let cached = archives(&api);
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert_eq!(cached[0]["attributes"]["version"], "1.5.7");
    assert!(server
        .blob_files("tool-archives/terraform/1.5.6/")
        .is_empty());
}

both_databases!(uploads_are_for_site_administrators_and_checked, |db: Db| {
    let server = Server::start(db);
    let admin = server.api(&server.admin_token());
    let user = server.api(&server.user_token("plain"));
    let put = |api: &Api, path: &str, body: &[u8]| {
        api.request(
            "PUT",
            &format!("admin/tool-archives/{path}"),
            Some(body.to_vec()),
            "application/zip",
        )
    };

    let release = zipped("tofu", b"#!/bin/sh\necho tofu\n");
    let not_a_zip = b"#!/bin/sh\necho tofu\n".to_vec();
    let no_binary = zipped("bin/tofu", b"#!/bin/sh\n");
    let other = zipped("tofu", b"#!/bin/sh\necho other\n");
    add_version(
        &admin,
        "opentofu-versions",
        "1.12.6",
        "https://upstream.invalid/tofu_1.12.6_linux_amd64.zip",
        &sha256(&release),
    );
    add_version(
        &admin,
        "opentofu-versions",
        "1.12.5",
        "https://upstream.invalid/tofu_1.12.5.zip",
        &sha256(&not_a_zip),
    );
    add_version(
        &admin,
        "opentofu-versions",
        "1.12.4",
        "https://upstream.invalid/tofu_1.12.4.zip",
        &sha256(&no_binary),
    );

    // Everyone but site administrators is told nothing exists, whatever they send.
    put(&user, "tofu/1.12.6/linux_amd64", &release).expect(404);
    user.get("admin/tool-archives").expect(404);
    server.anonymous().get("admin/tool-archives").expect(401);
    put(&server.anonymous(), "tofu/1.12.6/linux_amd64", &release).expect(401);

    // Bad uploads: a 4xx saying what is wrong, nothing stored.
    put(&admin, "tofu/1.12.6/linux_amd64", &other).expect_error(422, "but the catalogue says");
    put(&admin, "tofu/1.12.5/linux_amd64", &not_a_zip).expect_error(422, "not a zip");
    put(&admin, "tofu/1.12.4/linux_amd64", &no_binary)
        .expect_error(422, "no file named tofu at its top");
    put(&admin, "tofu/1.12.6/linux_arm64", &release)
        .expect_error(422, "lists no linux/arm64 binary");
    put(&admin, "tofu/1.12.6/linux", &release).expect_error(422, "not a platform");
    put(&admin, "tofu/9.9.9/linux_amd64", &release).expect(404);
    put(&admin, "pulumi/1.12.6/linux_amd64", &release).expect(404);
    // terraform's catalogue is not OpenTofu's.
    put(&admin, "terraform/1.12.6/linux_amd64", &release).expect(404);
    assert!(archives(&admin).is_empty());
    assert!(server.blob_files("tool-archives").is_empty());

    // A good one, once.
    let stored = put(&admin, "tofu/1.12.6/linux_amd64", &release).expect(201);
    assert_eq!(stored.data()["type"], "tool-archives");
    assert_eq!(stored.attr("engine"), "tofu");
    assert_eq!(stored.attr("version"), "1.12.6");
    assert_eq!(stored.attr("filename"), "tofu_1.12.6_linux_amd64.zip");
    assert_eq!(stored.attr("origin"), "uploaded");
    assert_eq!(stored.attr("size"), release.len());
    put(&admin, "tofu/1.12.6/linux_amd64", &release).expect_error(409, "cached already");
    let listed = archives(&admin);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], stored.id().as_str());
    assert_eq!(server.blob_files("tool-archives/tofu/1.12.6/").len(), 1);
    // Encrypted like state: the script's text is nowhere in the blob.
    let blob = std::fs::read(
        server
            .data_dir
            .join("blobs")
            .join(&server.blob_files("tool-archives/tofu/1.12.6/")[0]),
    )
    .unwrap();
    assert!(!blob.windows(9).any(|w| w == b"echo tofu"));

    // Deleting: site administrators only.
    user.delete(&format!("admin/tool-archives/{}", stored.id()))
        .expect(404);
    admin
        .delete(&format!("admin/tool-archives/{}", stored.id()))
        .expect(204);
    assert!(archives(&admin).is_empty());
    assert!(server.blob_files("tool-archives").is_empty());
    admin.delete("admin/tool-archives/toolarc-nope").expect(404);
});

/// With a release key configured, an upstream's SHA256SUMS counts only with a valid detached
/// signature by it (OpenTofu's `.gpgsig`, under the `v` directory of its GitHub releases).
#[test]
fn upstream_shasums_must_carry_the_release_key_signature() {
    let gpg = terrace_tests::providers::Gpg::new("releases");
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("tofu.asc");
    std::fs::write(&key_file, gpg.armor()).unwrap();
    let sums = |version: &str, arch: &str| {
        format!(
            "{}  tofu_{version}_linux_{arch}.zip\n",
            sha256(version.as_bytes())
        )
    };
    let (good, forged, unsigned) = (
        sums("1.12.6", "arm64"),
        sums("1.12.5", "amd64"),
        sums("1.12.4", "amd64"),
    );
    let upstream = Upstream::start(HashMap::from([
        (
            "/tofu/v1.12.6/tofu_1.12.6_SHA256SUMS".to_string(),
            good.clone().into_bytes(),
        ),
        (
            "/tofu/v1.12.6/tofu_1.12.6_SHA256SUMS.gpgsig".to_string(),
            gpg.sign(good.as_bytes()),
        ),
        (
            "/tofu/v1.12.5/tofu_1.12.5_SHA256SUMS".to_string(),
            forged.into_bytes(),
        ),
        (
            "/tofu/v1.12.5/tofu_1.12.5_SHA256SUMS.gpgsig".to_string(),
            gpg.sign(b"something else"),
        ),
        (
            "/tofu/v1.12.4/tofu_1.12.4_SHA256SUMS".to_string(),
            unsigned.into_bytes(),
        ),
    ]));
    let server = Server::builder(Db::Sqlite)
        .arg("--tool-archive-upstream")
        .arg(&format!("tofu={}", upstream.url("/tofu")))
        .arg("--tool-archive-upstream-key")
        .arg(&format!("tofu={}", key_file.display()))
        .start();
    let api = server.api(&server.admin_token());
    let create = |version: &str| {
        api.post(
            "admin/opentofu-versions",
            &json!({"data": {"type": "opentofu-versions", "attributes": {"version": version}}}),
        )
    };
    let created = create("1.12.6").expect(201);
    assert_eq!(
        created.attr("archs"),
        &json!([{"url": upstream.url("/tofu/v1.12.6/tofu_1.12.6_linux_arm64.zip"),
            "sha": sha256(b"1.12.6"), "os": "linux", "arch": "arm64"}])
    );
    create("1.12.5").expect_error(502, "does not verify with the configured release key");
    create("1.12.4").expect_error(502, "cannot be verified");
    let listed = api.get("admin/opentofu-versions").ok();
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
}
