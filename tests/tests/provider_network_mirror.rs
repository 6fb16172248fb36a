//! The provider network mirror (`/v1/providers/`), on SQLite and PostgreSQL, against a
//! public registry the test starts (standing in for registry.terraform.io): the real
//! `terraform init` installs a public provider through the mirror, which pulls it through,
//! verifies it (signed SHA256SUMS, archive SHA-256) and caches it, so a second `init` works
//! with the upstream gone (terraform 1.5.7 and OpenTofu too, whose `hashicorp/...` means
//! registry.opentofu.org); a tampered archive or a SHA256SUMS signed by another key than the
//! upstream names is refused and nothing is cached; remote runs install public providers
//! through the mirror by default; private providers are served to their organization only.

use std::time::Duration;

use serde_json::{json, Value};
use sha2::Digest;
use terrace_tests::providers::{self, sha256, this_platform, Gpg};
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::upstream_registry::UpstreamRegistry;
use terrace_tests::{both_databases, each_client, Api, Client, Db, Server, Terraform};

/// A server pulling registry.terraform.io's and registry.opentofu.org's providers through
/// from `upstream`.
fn server_with(db: Db, upstream: &UpstreamRegistry) -> Server {
    Server::builder(db)
        .arg(&format!(
            "--provider-mirror-upstream=registry.terraform.io={0},registry.opentofu.org={0}",
            upstream.url
        ))
        .start()
}

fn requires(source: &str, version: &str) -> String {
    format!(
        "terraform {{\n  required_providers {{\n    p = {{\n      source  = \"{source}\"\n      \
         version = \"{version}\"\n    }}\n  }}\n}}\n"
    )
}

/// A terraform CLI installing every provider through the server's network mirror.
fn terraform_via_mirror(server: &Server, token: &str) -> Terraform {
    client_via_mirror(Client::terraform(), server, token)
}

fn client_via_mirror(client: Client, server: &Server, token: &str) -> Terraform {
    let tf = Terraform::with_client(client, server, token);
    tf.add_cli_config(&format!(
        "provider_installation {{\n  network_mirror {{\n    url = \"https://{}/v1/providers/\"\n  }}\n}}\n",
        server.hostname
    ));
    tf
}

fn mirror_doc(
    api: &Api,
    host: &str,
    namespace: &str,
    kind: &str,
    file: &str,
) -> terrace_tests::Reply {
    api.get(&format!("/v1/providers/{host}/{namespace}/{kind}/{file}"))
}

/// Terraform's `h1:` hash of the upstream's package for this platform: over the sorted
/// `SHA256  NAME` lines of the files it unpacks to (one script here).
fn h1_of_package(kind: &str, version: &str) -> String {
    use base64::Engine;
    let script = format!("#!/bin/sh\n# upstream {}\nexit 1\n", platform_key());
    let lines = format!(
        "{}  terraform-provider-{kind}_v{version}\n",
        sha256(script.as_bytes())
    );
    let digest = sha2::Sha256::digest(lines.as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn platform_key() -> String {
    let (os, arch) = this_platform();
    format!("{os}_{arch}")
}

each_client!(
    terraform_installs_public_providers_through_the_mirror_which_caches_them,
    |db: Db, client: Client| {
        // The registry a bare `hashicorp/hello` means to this client.
        let host = if client.is_tofu() {
            "registry.opentofu.org"
        } else {
            "registry.terraform.io"
        };
        let mut upstream = UpstreamRegistry::start();
        let gpg = Gpg::new("upstream-registry");
        let platforms = [this_platform(), ("darwin".to_string(), "arm64".to_string())];
        let zips = upstream.publish("hashicorp", "hello", "1.0.0", &platforms, &gpg, &gpg);
        upstream.publish("hashicorp", "hello", "1.1.0", &platforms, &gpg, &gpg);
        let server = server_with(db, &upstream);
        let token = server.admin_token();
        let api = server.api(&token);

        // The mirror lists what the upstream offers, each version's archives with its hash.
        let index = mirror_doc(&api, host, "hashicorp", "hello", "index.json").expect(200);
        assert_eq!(index.body, json!({"versions": {"1.0.0": {}, "1.1.0": {}}}));
        let doc = mirror_doc(&api, host, "hashicorp", "hello", "1.0.0.json").expect(200);
        let archive = &doc.body["archives"][platform_key()];
        assert_eq!(
            archive["hashes"],
            json!([format!("zh:{}", sha256(&zips[0]))]),
            "{}",
            doc.text
        );
        assert!(
            doc.body["archives"]["darwin_arm64"].is_object(),
            "{}",
            doc.text
        );
        // Listing fetched no archive: archives are pulled on first download.
        let zip_path = format!(
            "/files/terraform-provider-hello_1.0.0_{}.zip",
            platform_key()
        );
        assert_eq!(upstream.hits(&zip_path), 0);

        let tf = client_via_mirror(client.clone(), &server, &token);
        tf.write("main.tf", &requires("hashicorp/hello", "1.0.0"));
        tf.ok(&["init", "-input=false"]);
        // Terraform records the hash of what it unpacked (a mirror's hashes are not signed):
        // the upstream's package, byte for byte.
        let lock = tf.read(".terraform.lock.hcl");
        assert!(
            lock.contains(&format!("{host}/hashicorp/hello"))
                && lock.contains(&h1_of_package("hello", "1.0.0")),
            "{lock}"
        );
        assert_eq!(upstream.hits(&zip_path), 1);

        // With the upstream gone, what was cached still installs; the rest is not offered.
        upstream.stop();
        let again = client_via_mirror(client, &server, &token);
        again.write("main.tf", &requires("hashicorp/hello", ">= 1.0.0"));
        again.ok(&["init", "-input=false"]);
        assert!(again
            .read(".terraform.lock.hcl")
            .contains("version     = \"1.0.0\""));
        let index = mirror_doc(&api, host, "hashicorp", "hello", "index.json").expect(200);
        assert_eq!(index.body, json!({"versions": {"1.0.0": {}}}));
        // Nothing cached and nobody to ask: the gateway says so.
        let gone = mirror_doc(&api, host, "hashicorp", "other", "index.json");
        assert_eq!(gone.status, 502, "{}", gone.text);
        assert!(gone.text.contains("cannot be reached"), "{}", gone.text);
    }
);

both_databases!(
    a_tampered_archive_or_a_forged_signature_is_refused_and_not_cached,
    |db: Db| {
        let upstream = UpstreamRegistry::start();
        let gpg = Gpg::new("upstream-registry");
        let platforms = [this_platform()];
        let zips = upstream.publish("hashicorp", "evil", "1.0.0", &platforms, &gpg, &gpg);
        let zip_path = format!(
            "/files/terraform-provider-evil_1.0.0_{}.zip",
            platform_key()
        );
        upstream.replace(&zip_path, providers::package("evil", "1.0.0", "tampered"));
        // Signed by another key than the one the upstream names.
        let forger = Gpg::new("forger");
        upstream.publish("hashicorp", "forged", "1.0.0", &platforms, &forger, &gpg);
        let server = server_with(db, &upstream);
        let token = server.admin_token();
        let api = server.api(&token);

        let tf = terraform_via_mirror(&server, &token);
        tf.write("main.tf", &requires("hashicorp/evil", "1.0.0"));
        let err = tf.fails(&["init", "-input=false"]);
        assert!(err.contains("502") || err.contains("Bad Gateway"), "{err}");
        // The server refused it, terraform did not get it, and it was not cached: once the
        // upstream serves the genuine archive, it installs.
        let doc = mirror_doc(
            &api,
            "registry.terraform.io",
            "hashicorp",
            "evil",
            "1.0.0.json",
        )
        .expect(200);
        let url = doc.body["archives"][platform_key()]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let refused = server.anonymous().get(&url);
        assert_eq!(refused.status, 502, "{}", refused.text);
        assert!(refused.text.contains("not cached"), "{}", refused.text);
        assert!(server.blob_files("provider-mirror").is_empty());
        upstream.replace(&zip_path, zips[0].clone());
        tf.ok(&["init", "-input=false"]);
        assert_eq!(server.blob_files("provider-mirror").len(), 1);

        let forged = mirror_doc(
            &api,
            "registry.terraform.io",
            "hashicorp",
            "forged",
            "1.0.0.json",
        );
        assert_eq!(forged.status, 502, "{}", forged.text);
        assert!(forged.text.contains("not signed"), "{}", forged.text);
        let forged_tf = terraform_via_mirror(&server, &token);
        forged_tf.write("main.tf", &requires("hashicorp/forged", "1.0.0"));
        forged_tf.fails(&["init", "-input=false"]);
    }
);

both_databases!(
    remote_runs_install_public_providers_through_the_mirror,
    |db: Db| {
        let upstream = UpstreamRegistry::start();
        let gpg = Gpg::new("upstream-registry");
        upstream.publish(
            "hashicorp",
            "hello",
            "1.0.0",
            &[this_platform()],
            &gpg,
            &gpg,
        );
        let server = server_with(db, &upstream);
        let api = server.api(&server.admin_token());
        let ws = api
            .post(
                "organizations/default/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": "public-provider"}}}),
            )
            .expect(201)
            .id();
        let config = requires("hashicorp/hello", "1.0.0");
        upload_configuration(&api, &ws, &[("main.tf", config.as_str())], false);
        let run = create_run(&api, &ws, None, json!({"plan-only": true})).id();
        wait_for_run(
            &api,
            &run,
            &["errored", "planned_and_finished"],
            Duration::from_secs(120),
        );
        // `init` installed it (registry.terraform.io is not reachable from here: only the mirror
        // could give it); the plan then starts the stand-in, which stops it.
        let log = phase_log(&api, &run, "plan");
        assert!(
        log.contains(&format!(
            ".terraform/providers/registry.terraform.io/hashicorp/hello/1.0.0/{}/terraform-provider-hello_v1.0.0",
            platform_key()
        )) && !log.contains("terraform init failed"),
        "{log}"
    );
        assert_eq!(
            upstream.hits(&format!(
                "/files/terraform-provider-hello_1.0.0_{}.zip",
                platform_key()
            )),
            1
        );
    }
);

both_databases!(
    private_providers_in_the_mirror_are_their_organizations_only,
    |db: Db| {
        let server = Server::builder(db)
            .arg("--provider-mirror-upstream=none")
            .start();
        let admin = server.api(&server.admin_token());
        let gpg = Gpg::new("private-mirror");
        let (os, arch) = this_platform();
        let published = providers::publish(&admin, "default", "hello", "1.0.0", (&os, &arch), &gpg);
        assert_eq!(published.version["attributes"]["shasums-uploaded"], true);
        let port = server.hostname.rsplit(':').next().unwrap();
        let host = format!("127.0.0.1:{port}");

        let index = mirror_doc(&admin, &host, "default", "hello", "index.json").expect(200);
        assert_eq!(index.body, json!({"versions": {"1.0.0": {}}}));
        let doc = mirror_doc(&admin, &host, "default", "hello", "1.0.0.json").expect(200);
        let url = doc.body["archives"][platform_key()]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let zip = server.anonymous().raw("GET", &url, None);
        assert_eq!(zip.status(), 200);
        let bytes = zip.bytes().unwrap();
        let hashes: Value = doc.body["archives"][platform_key()]["hashes"].clone();
        assert_eq!(hashes, json!([format!("zh:{}", sha256(&bytes))]));

        // Another organization's user, no token, unknown hosts and paths that are no names.
        let outsider = server.api(&server.user_token("outsider"));
        for file in ["index.json", "1.0.0.json"] {
            let reply = mirror_doc(&outsider, &host, "default", "hello", file);
            assert_eq!(reply.status, 404, "{file}: {}", reply.text);
        }
        assert_eq!(
            mirror_doc(&server.anonymous(), &host, "default", "hello", "index.json").status,
            401
        );
        assert_eq!(
            mirror_doc(
                &admin,
                "registry.terraform.io",
                "hashicorp",
                "null",
                "index.json"
            )
            .status,
            404,
            "no upstream is configured"
        );
        for (h, ns, kind, file) in [
            ("..", "default", "hello", "index.json"),
            (host.as_str(), "default", "hello", "..%2F1.0.0.json"),
            (host.as_str(), "default", "hello", "index.txt"),
            (host.as_str(), "default", "hello", "9.9.9.json"),
        ] {
            let reply = mirror_doc(&admin, h, ns, kind, file);
            assert_eq!(reply.status, 404, "{h}/{ns}/{kind}/{file}: {}", reply.text);
        }
    }
);
