//! Starting Terrace: the first-start banner, health and readiness, the API description, the
//! configuration rules, and the production shape with blobs in a real S3 server.

use std::process::Command;

use md5::{Digest, Md5};
use serde_json::json;
use terrace_tests::{proc_status_kib, Db, Server, Terraform};

#[test]
fn first_start_prints_what_a_newcomer_needs() {
    // Without TERRACE_ADMIN_PASSWORD the password is generated and shown once. The data
    // directory is the test's own, so it outlives the server for the restart below.
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let server = Server::builder(Db::Sqlite)
        .data_dir(&data_dir)
        .env("TERRACE_ADMIN_PASSWORD", "")
        .start();
    let banner = &server.stdout;
    assert!(
        banner.contains(&format!("is listening on {}", server.url)),
        "{banner}"
    );
    assert!(
        banner.contains("CA certificate: ") && banner.contains("tls/ca.pem"),
        "{banner}"
    );
    assert!(
        banner.contains(&format!(
            "export SSL_CERT_FILE={}",
            server.ca_bundle.display()
        )),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("terraform login {}", server.hostname)),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("hostname     = \"{}\"", server.hostname)),
        "{banner}"
    );
    assert!(banner.contains("organization = \"default\""), "{banner}");
    // The generated password is in a file only its owner reads, never on stdout.
    let password_file = data_dir.join("admin-password");
    assert!(
        banner.contains(&format!("with the password in {}", password_file.display())),
        "{banner}"
    );
    let password = std::fs::read_to_string(&password_file).unwrap();
    let password = password.trim();
    assert!(password.len() >= 20, "{password}");
    assert!(
        !banner.contains(password),
        "the password is on stdout:\n{banner}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&password_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = std::fs::metadata(&data_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the data directory is private");

    // The printed password signs the admin in on the login page.
    let client =
        terrace_tests::http_client(&std::fs::read(server.data_dir.join("tls/ca.pem")).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
    let query = format!(
        "client_id=terraform-cli&redirect_uri=http%3A%2F%2Flocalhost%3A10001%2Flogin&response_type=code&state=s&code_challenge_method=S256&code_challenge={}",
        "A".repeat(43)
    );
    let page = client
        .get(format!("{}/app/oauth/authorization?{query}", server.url))
        .send()
        .unwrap();
    let csrf_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = page.text().unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let signed_in = client
        .post(format!("{}/app/oauth/authorization?{query}", server.url))
        .header("cookie", csrf_cookie)
        .body(format!(
            "{query}&username=admin&password={password}&csrf={csrf}&decision=approve"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 302, "the printed password works");

    // The encryption key was generated into the data directory, readable by its owner only.
    let key = std::fs::read_to_string(data_dir.join("encryption.key")).unwrap();
    assert_eq!(key.trim().len(), 44, "a Fernet key");
    let mode = std::fs::metadata(data_dir.join("encryption.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A restart on the same data creates nothing again and keeps what was there.
    let token = server.admin_token();
    drop(server);
    let again = Server::builder(Db::Sqlite).data_dir(&data_dir).start();
    assert!(!again.stdout.contains("First start"), "{}", again.stdout);
    assert_eq!(
        again
            .api(&token)
            .get("account/details")
            .ok()
            .attr("username"),
        "admin"
    );
}

#[test]
fn health_readiness_and_the_api_description() {
    let server = Server::start(Db::Sqlite);
    let api = server.anonymous();
    assert_eq!(api.get("/healthz").ok().body["status"], "ok");
    assert_eq!(api.get("/readyz").ok().body["status"], "ready");

    let ping = api.get("/api/v2/ping");
    assert_eq!(ping.status, 204);
    let version: f64 = ping.headers["tfp-api-version"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(version >= 2.5, "the cloud block needs 2.5 or later");

    let discovery = api.get("/.well-known/terraform.json").ok();
    assert_eq!(discovery.headers["content-type"], "application/json");
    assert_eq!(discovery.body["tfe.v2"], "/api/v2/");
    assert_eq!(discovery.body["login.v1"]["client"], "terraform-cli");

    // The OpenAPI document describes every route the issue names, with its schemas.
    let openapi = api.get("/openapi.json").ok().body;
    let paths = openapi["paths"].as_object().unwrap();
    for path in [
        "/api/v2/organizations",
        "/api/v2/organizations/{organization}/entitlement-set",
        "/api/v2/account/details",
        "/api/v2/users/{user_id}/authentication-tokens",
        "/api/v2/organizations/{organization}/workspaces",
        "/api/v2/organizations/{organization}/workspaces/{name}/actions/safe-delete",
        "/api/v2/workspaces/{workspace_id}/actions/lock",
        "/api/v2/workspaces/{workspace_id}/actions/force-unlock",
        "/api/v2/workspaces/{workspace_id}/tag-bindings",
        "/api/v2/organizations/{organization}/projects",
        "/api/v2/workspaces/{workspace_id}/state-versions",
        "/api/v2/state-versions/{state_version_id}/download",
        "/api/v2/workspaces/{workspace_id}/current-state-version-outputs",
        "/api/v2/state-version-outputs/{output_id}",
        "/_uploads/state/{token}",
        "/oauth/token",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} is missing from /openapi.json"
        );
    }
    assert!(openapi["components"]["schemas"]["WorkspaceAttributes"].is_object());
    assert!(openapi["components"]["securitySchemes"]["bearer"].is_object());
    let swagger = api.get("/swagger-ui/");
    assert_eq!(swagger.status, 200);
    assert!(
        swagger.text.contains("swagger-ui"),
        "the Swagger UI page is served"
    );
    // The UI reads the document from the one route that serves it.
    let initializer = api.get("/swagger-ui/swagger-initializer.js");
    assert_eq!(initializer.status, 200);
    assert!(
        initializer.text.contains("\"url\": \"/openapi.json\""),
        "the Swagger UI reads /openapi.json: {}",
        initializer.text
    );
}

/// A homelab runs Terrace next to everything else: the idle server holds what it needs, not
/// its OpenAPI document's structure (about 18 MiB, served as bytes built once) nor the pages
/// that building it freed. The debug build holds about 14 MiB after start; 28 when it kept them.
#[test]
fn the_idle_server_holds_little_memory() {
    let server = Server::start(Db::Sqlite);
    let api = server.anonymous();
    for _ in 0..3 {
        assert!(api.get("/openapi.json").ok().body["paths"].is_object());
    }
    let pid = server.pid().expect("the server runs");
    let allocated = proc_status_kib(pid, "RssAnon").expect("/proc/PID/status has RssAnon");
    assert!(
        allocated < 24 * 1024,
        "the idle server holds {} MiB of allocated memory",
        allocated / 1024
    );
}

#[test]
fn postgres_without_an_encryption_key_refuses_to_start() {
    let url = std::env::var("TERRACE_TEST_POSTGRES_URL")
        .expect("TERRACE_TEST_POSTGRES_URL (scripts/test.sh sets it)");
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(terrace_tests::terrace_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("TERRACE_ENCRYPTION_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("encryption key is required with PostgreSQL"),
        "{stderr}"
    );
}

/// The production shape: PostgreSQL and blobs in a real S3 server (SeaweedFS, with real SigV4
/// checks). State written by the CLI lands in the bucket encrypted and reads back intact.
#[test]
fn state_in_s3_is_encrypted_and_round_trips() {
    let env = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is required (scripts/test.sh starts SeaweedFS and sets it)")
        })
    };
    let (endpoint, bucket) = (
        env("TERRACE_TEST_S3_ENDPOINT"),
        env("TERRACE_TEST_S3_BUCKET"),
    );
    let prefix = format!("e2e-{}", std::process::id());
    let server = Server::builder(Db::Postgres).s3_storage(&prefix).start();
    assert!(
        server
            .stdout
            .contains(&format!("blobs     s3://{bucket}/{prefix}")),
        "{}",
        server.stdout
    );
    let token = server.admin_token();
    let tf = Terraform::new(&server, &token);
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{ name = \"in-s3\" }}\n  }}\n}}\nresource \"terraform_data\" \"x\" {{ input = \"marker-in-the-state\" }}\n",
            server.hostname
        ),
    );
    tf.ok(&["init", "-input=false"]);
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
    let pulled = tf.ok(&["state", "pull"]);
    assert!(pulled.contains("marker-in-the-state"));

    // Read the objects straight from the bucket with the S3 API: the state is there, but
    // never in plaintext.
    let objects = s3_objects(&endpoint, &bucket, &prefix);
    assert!(
        objects.iter().any(|(key, _)| key.ends_with("/state")),
        "state objects in the bucket: {:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (key, body) in &objects {
        assert!(
            !body
                .windows(b"marker-in-the-state".len())
                .any(|w| w == b"marker-in-the-state"),
            "{key} holds plaintext"
        );
        assert!(body.starts_with(b"TRCBLOB2"), "{key} is an encrypted blob");
    }

    // Deleting the workspace deletes its objects.
    server
        .api(&token)
        .delete("organizations/default/workspaces/in-s3")
        .expect(204);
    assert!(
        s3_objects(&endpoint, &bucket, &prefix).is_empty(),
        "the workspace's blobs are gone"
    );
}

/// Every object under `prefix` with its bytes, fetched with curl's own SigV4 signing.
fn s3_objects(endpoint: &str, bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let user = format!(
        "{}:{}",
        std::env::var("TERRACE_TEST_S3_ACCESS_KEY_ID").unwrap(),
        std::env::var("TERRACE_TEST_S3_SECRET_ACCESS_KEY").unwrap()
    );
    let region = std::env::var("TERRACE_TEST_S3_REGION").unwrap();
    let curl = |url: &str| {
        let output = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                "--aws-sigv4",
                &format!("aws:amz:{region}:s3"),
                "--user",
                &user,
                url,
            ])
            .output()
            .expect("curl runs");
        assert!(
            output.status.success(),
            "GET {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    // The query is signed as sent: encode the slash as S3 canonicalises it.
    let listing = String::from_utf8(curl(&format!(
        "{endpoint}/{bucket}?list-type=2&prefix={prefix}%2F"
    )))
    .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .map(|part| part.split("</Key>").next().unwrap().to_string())
        .map(|key| {
            let body = curl(&format!("{endpoint}/{bucket}/{key}"));
            (key, body)
        })
        .collect()
}

#[test]
fn configuration_file_and_flags_layer() {
    // The file sets the upload URL lifetime; a flag would win over it, the file over defaults.
    let server = Server::builder(Db::Sqlite)
        .config("upload_url_ttl_seconds = 1\n")
        .start();
    let token = server.admin_token();
    let api = server.api(&token);
    let ws = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "ttl"}}}),
        )
        .expect(201)
        .id();
    api.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .ok();
    let state = br#"{"version":4,"serial":1,"lineage":"l","outputs":{},"resources":[]}"#;
    let md5 = hex::encode(Md5::digest(state));
    let created = api
        .post(
            &format!("workspaces/{ws}/state-versions"),
            &json!({"data": {"type": "state-versions", "attributes": {"serial": 1, "md5": md5, "lineage": "l"}}}),
        )
        .expect(201);
    let url = created
        .attr("hosted-state-upload-url")
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(2200));
    api.put_unauthenticated(&url, state)
        .expect_error(410, "expired");
}

/// Secrets can come from files (`--token-file`, `--password-file`, ...); a missing one stops
/// the command with the option and the path named, before anything else happens.
#[test]
fn a_missing_secret_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file");
    let run = |args: &[&str]| {
        let output = Command::new(terrace_tests::terrace_bin())
            .args(args)
            .arg(&missing)
            .env_remove("TERRACE_AGENT_TOKEN")
            .env_remove("TERRACE_NEW_USER_PASSWORD")
            .env("TERRACE_DATA_DIR", dir.path())
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let listener = run(&[
        "listener",
        "--server-url",
        "https://x.invalid",
        "--token-file",
    ]);
    assert!(listener.contains("reading --token-file"), "{listener}");
    assert!(listener.contains("no-such-file"), "{listener}");
    let admin = run(&["admin", "user", "create", "pat", "--password-file"]);
    assert!(admin.contains("reading --password-file"), "{admin}");
}
