//! The private provider registry end to end, on SQLite and PostgreSQL: a provider published
//! through the TFE API the way CI publishes one (GPG key, provider, version, SHA256SUMS and
//! its detached signature, platform, zip), then installed by the real `terraform init` from
//! `HOST/ORGANIZATION/NAME`, its checksums recorded in `.terraform.lock.hcl`. What must be
//! refused is: a garbage key, a signature by a key the organization does not have, a version
//! naming an unknown key, a zip whose SHA-256 is not the announced one, files too large, and
//! binaries before the signature; each leaves nothing published. Another organization's user
//! never sees the providers, their packages or the keys (404), through the API or terraform.

use std::path::Path;

use serde_json::{json, Value};
use terrace_tests::providers::{self, add_gpg_key as add_key, link, sha256, this_platform, Gpg};
use terrace_tests::{both_databases, texts, Api, Db, Server, Terraform};

const PROVIDER: &str = "hello";
const VERSION: &str = "1.0.0";

fn provider_path(org: &str) -> String {
    providers::provider_path(org, PROVIDER)
}

fn package(marker: &str) -> Vec<u8> {
    providers::package(PROVIDER, VERSION, marker)
}

fn create_version(api: &Api, org: &str, version: &str, key_id: &str) -> Value {
    providers::create_version(api, org, PROVIDER, version, key_id)
}

fn create_platform(api: &Api, org: &str, version: &str, filename: &str, shasum: &str) -> Value {
    let (os, arch) = this_platform();
    providers::create_platform(api, org, PROVIDER, version, (&os, &arch), filename, shasum)
}

/// The published versions terraform would see, as `token`'s holder.
fn published(api: &Api, org: &str) -> terrace_tests::Reply {
    api.get(&format!(
        "/api/registry/v1/providers/{org}/{PROVIDER}/versions"
    ))
}

/// A terraform CLI whose credentials name the registry host `127.0.0.1:PORT` (a dotted
/// host: a source address needs one), in a configuration requiring the provider.
fn terraform_for(server: &Server, token: &str, org: &str) -> (Terraform, String) {
    let port = server.hostname.rsplit(':').next().unwrap();
    let host = format!("127.0.0.1:{port}");
    let mut tf = Terraform::without_credentials(server);
    let config = tf.dir().join("registry.tfrc");
    std::fs::write(
        &config,
        format!("credentials \"{host}\" {{\n  token = \"{token}\"\n}}\n"),
    )
    .unwrap();
    tf.env("TF_CLI_CONFIG_FILE", config.to_str().unwrap());
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  required_providers {{\n    {PROVIDER} = {{\n      source  = \"{host}/{org}/{PROVIDER}\"\n      version = \"{VERSION}\"\n    }}\n  }}\n}}\n"
        ),
    );
    (tf, host)
}

fn put(api: &Api, url: &str, body: &[u8]) -> terrace_tests::Reply {
    api.put_unauthenticated(url, body)
}

both_databases!(a_private_provider_is_published_and_installed, |db: Db| {
    let server = Server::start(db);
    let alice = server.api(&server.admin_token());
    let org = "default";
    let signer = Gpg::new("signer");
    let stranger = Gpg::new("stranger");

    // Keys: garbage is refused; the real one is stored under its long key ID.
    add_key(
        &alice,
        org,
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n",
    )
    .expect_error(422, "OpenPGP public key");
    add_key(&alice, org, "hello").expect(422);
    let key = add_key(&alice, org, &signer.armor()).expect(201);
    assert_eq!(key.attr("key-id"), signer.key_id.as_str());
    assert_eq!(key.attr("namespace"), org);
    add_key(&alice, org, &signer.armor()).expect(409);

    // A public provider is not hosted here.
    alice
        .post(
            &format!("organizations/{org}/registry-providers"),
            &json!({"data": {"type": "registry-providers",
                "attributes": {"name": PROVIDER, "namespace": "hashicorp", "registry-name": "public"}}}),
        )
        .expect_error(422, "not hosted here");
    alice
        .post(
            &format!("organizations/{org}/registry-providers"),
            &json!({"data": {"type": "registry-providers",
                "attributes": {"name": PROVIDER, "namespace": org, "registry-name": "private"}}}),
        )
        .expect(201);

    // The zip, SHA256SUMS and its signature, as goreleaser makes them.
    let (os, arch) = this_platform();
    let filename = format!("terraform-provider-{PROVIDER}_{VERSION}_{os}_{arch}.zip");
    let zip = package("genuine");
    let shasums = format!("{}  {filename}\n", sha256(&zip));
    let signature = signer.sign(shasums.as_bytes());

    let version = create_version(&alice, org, VERSION, &signer.key_id);
    assert_eq!(version["attributes"]["shasums-uploaded"], false);
    assert!(version["links"]["shasums-download"].is_null());
    // A second version with the same number.
    alice
        .post(
            &format!("{}/versions", provider_path(org)),
            &json!({"data": {"type": "registry-provider-versions",
                "attributes": {"version": VERSION, "key-id": signer.key_id, "protocols": ["5.0"]}}}),
        )
        .expect_error(422, "already been taken");
    let platform = create_platform(&alice, org, VERSION, &filename, &sha256(&zip));

    // Binaries wait for the signed SHA256SUMS; a signature waits for SHA256SUMS.
    put(&alice, &link(&platform, "provider-binary-upload"), &zip).expect(409);
    put(&alice, &link(&version, "shasums-sig-upload"), &signature).expect(409);
    // Too large, and not SHA256SUMS at all.
    put(
        &alice,
        &link(&version, "shasums-upload"),
        &vec![b'a'; 65 << 10],
    )
    .expect(413);
    put(&alice, &link(&version, "shasums-upload"), b"not shasums\n").expect(422);
    put(
        &alice,
        &link(&version, "shasums-upload"),
        shasums.as_bytes(),
    )
    .ok();
    // The stranger's signature does not verify with the version's key; garbage is no signature.
    put(
        &alice,
        &link(&version, "shasums-sig-upload"),
        &stranger.sign(shasums.as_bytes()),
    )
    .expect_error(422, "does not verify");
    put(&alice, &link(&version, "shasums-sig-upload"), b"garbage").expect(422);
    put(
        &alice,
        &link(&version, "shasums-sig-upload"),
        &vec![0u8; 17 << 10],
    )
    .expect(413);
    // Nothing is published yet.
    assert_eq!(published(&alice, org).ok().body["versions"], json!([]));
    put(&alice, &link(&version, "shasums-sig-upload"), &signature).ok();
    // Signed: SHA256SUMS can no longer change.
    put(
        &alice,
        &link(&version, "shasums-upload"),
        shasums.as_bytes(),
    )
    .expect(409);

    // A tampered zip is refused and leaves the platform unpublished.
    put(
        &alice,
        &link(&platform, "provider-binary-upload"),
        &package("tampered"),
    )
    .expect_error(422, "SHA-256");
    assert_eq!(published(&alice, org).ok().body["versions"], json!([]));
    put(&alice, &link(&platform, "provider-binary-upload"), &zip).ok();
    put(&alice, &link(&platform, "provider-binary-upload"), &zip).expect(409);

    let read = alice
        .get(&format!("{}/versions/{VERSION}", provider_path(org)))
        .ok();
    assert_eq!(read.attr("shasums-uploaded"), true);
    assert_eq!(read.attr("shasums-sig-uploaded"), true);
    assert!(read.data()["links"]["shasums-upload"].is_null());
    let listed = published(&alice, org).ok();
    assert_eq!(
        listed.body["versions"],
        json!([{"version": VERSION, "protocols": ["5.0"], "platforms": [{"os": os, "arch": arch}]}])
    );

    // A version naming a key the organization does not have can never be signed.
    let orphan = create_version(&alice, org, "1.0.1", &stranger.key_id);
    put(&alice, &link(&orphan, "shasums-upload"), shasums.as_bytes()).ok();
    put(
        &alice,
        &link(&orphan, "shasums-sig-upload"),
        &stranger.sign(shasums.as_bytes()),
    )
    .expect_error(422, "not one of the organization's GPG keys");

    // terraform init installs it and records its checksums.
    let token = server.admin_token();
    let (tf, host) = terraform_for(&server, &token, org);
    tf.ok(&["init", "-input=false"]);
    let lock = tf.read(".terraform.lock.hcl");
    assert!(
        lock.contains(&format!("provider \"{host}/{org}/{PROVIDER}\"")),
        "{lock}"
    );
    assert!(
        lock.contains(&format!("version     = \"{VERSION}\"")),
        "{lock}"
    );
    assert!(
        lock.contains(&format!("\"zh:{}\"", sha256(&zip))),
        "the lock file records the signed checksum: {lock}"
    );
    let installed = tf.path(&format!(
        ".terraform/providers/{host}/{org}/{PROVIDER}/{VERSION}/{os}_{arch}/terraform-provider-{PROVIDER}_v{VERSION}"
    ));
    assert!(installed.exists(), "installed at {}", installed.display());

    // Another organization's user sees nothing of it.
    let bob_token = server.user_token("bob");
    let bob = server.api(&bob_token);
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    published(&bob, org).expect(404);
    bob.get(&format!(
        "/api/registry/v1/providers/{org}/{PROVIDER}/{VERSION}/download/{os}/{arch}"
    ))
    .expect(404);
    bob.get(&format!("organizations/{org}/registry-providers"))
        .expect(404);
    bob.get(&provider_path(org)).expect(404);
    bob.get(&format!("{}/versions", provider_path(org)))
        .expect(404);
    bob.get(&format!(
        "/api/registry/private/v2/gpg-keys?filter[namespace]={org}"
    ))
    .expect(404);
    bob.get(&format!(
        "/api/registry/private/v2/gpg-keys/{org}/{}",
        signer.key_id
    ))
    .expect(404);
    bob.delete(&provider_path(org)).expect(404);
    add_key(&bob, org, &stranger.armor()).expect(404);
    let (bobs_tf, _) = terraform_for(&server, &bob_token, org);
    let failed = bobs_tf.fails(&["init", "-input=false"]);
    assert!(
        failed.contains("provider") && !failed.contains("Installed"),
        "{failed}"
    );
    // Bob's own organization has no such provider either.
    published(&bob, "bobs").expect(404);

    // Deleting the version unpublishes it.
    alice
        .delete(&format!("{}/versions/{VERSION}", provider_path(org)))
        .expect(204);
    assert_eq!(published(&alice, org).ok().body["versions"], json!([]));
});

// A platform whose `shasum` is not the one the signed SHA256SUMS lists for its file never
// gets a binary (the upload is refused), so the version is not offered and `terraform init`
// finds nothing to install.
both_databases!(a_platform_must_match_the_signed_shasums, |db: Db| {
    let server = Server::start(db);
    let alice = server.api(&server.admin_token());
    let org = "default";
    let signer = Gpg::new("signer");
    add_key(&alice, org, &signer.armor()).expect(201);
    alice
        .post(
            &format!("organizations/{org}/registry-providers"),
            &json!({"data": {"type": "registry-providers",
                "attributes": {"name": PROVIDER, "namespace": org, "registry-name": "private"}}}),
        )
        .expect(201);
    let (os, arch) = this_platform();
    let filename = format!("terraform-provider-{PROVIDER}_{VERSION}_{os}_{arch}.zip");
    let zip = package("genuine");
    let other = package("other");
    let shasums = format!("{}  {filename}\n", sha256(&zip));
    let version = create_version(&alice, org, VERSION, &signer.key_id);
    put(
        &alice,
        &link(&version, "shasums-upload"),
        shasums.as_bytes(),
    )
    .ok();
    put(
        &alice,
        &link(&version, "shasums-sig-upload"),
        &signer.sign(shasums.as_bytes()),
    )
    .ok();
    // The platform announces the other zip's checksum: SHA256SUMS does not list it.
    let platform = create_platform(&alice, org, VERSION, &filename, &sha256(&other));
    put(&alice, &link(&platform, "provider-binary-upload"), &other)
        .expect_error(422, "not the one SHA256SUMS lists");
    let read = alice
        .get(&format!(
            "{}/versions/{VERSION}/platforms/{os}/{arch}",
            provider_path(org)
        ))
        .ok();
    assert_eq!(read.attr("provider-binary-uploaded"), false);
    assert_eq!(published(&alice, org).ok().body["versions"], json!([]));
    let (tf, _) = terraform_for(&server, &server.admin_token(), org);
    let output = tf.run(&["init", "-input=false"]);
    let (stdout, stderr) = texts(&output);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(!Path::new(&tf.path(".terraform.lock.hcl")).exists());
});
