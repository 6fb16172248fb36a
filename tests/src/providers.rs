//! The private provider registry's test helpers: a throwaway GnuPG key, provider packages,
//! and publishing a version through the TFE API the way CI does (key, provider, version,
//! SHA256SUMS and its detached signature, platform, zip).

use std::io::Write;
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{Api, Reply};

/// A throwaway GnuPG home with one RSA signing key (RSA: terraform's OpenPGP reader knows it).
pub struct Gpg {
    home: tempfile::TempDir,
    /// The key's long ID, upper case.
    pub key_id: String,
}

impl Gpg {
    pub fn new(name: &str) -> Gpg {
        let mut gpg = Gpg {
            home: tempfile::tempdir().unwrap(),
            key_id: String::new(),
        };
        gpg.run(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            &format!("{name} <{name}@example.com>"),
            "rsa2048",
            "sign",
            "never",
        ]);
        let listing = String::from_utf8(gpg.run(&["--with-colons", "--list-keys"])).unwrap();
        gpg.key_id = listing
            .lines()
            .find(|l| l.starts_with("pub:"))
            .and_then(|l| l.split(':').nth(4))
            .expect("a public key")
            .to_string();
        gpg
    }

    fn run(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("gpg")
            .args(["--batch", "--yes", "--pinentry-mode", "loopback"])
            .args(args)
            .env("GNUPGHOME", self.home.path())
            .output()
            .expect("gpg runs (scripts/install-test-deps.sh installs it)");
        assert!(
            output.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// The public key, ASCII-armored.
    pub fn armor(&self) -> String {
        String::from_utf8(self.run(&["--armor", "--export", &self.key_id])).unwrap()
    }

    /// A binary detached signature over `data`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let input = self.home.path().join("input");
        std::fs::write(&input, data).unwrap();
        let out = self.home.path().join("input.sig");
        self.run(&[
            "--local-user",
            &self.key_id,
            "--output",
            out.to_str().unwrap(),
            "--detach-sign",
            input.to_str().unwrap(),
        ]);
        std::fs::read(out).unwrap()
    }
}

/// A provider package: a zip holding `terraform-provider-NAME_vVERSION` (a script: `init`
/// only installs it), marked so that two packages differ.
pub fn package(name: &str, version: &str, marker: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o755);
    zip.start_file(format!("terraform-provider-{name}_v{version}"), options)
        .unwrap();
    zip.write_all(format!("#!/bin/sh\n# {marker}\nexit 1\n").as_bytes())
        .unwrap();
    zip.finish().unwrap().into_inner()
}

/// The platform this machine's terraform installs for (`linux`, `amd64`).
pub fn this_platform() -> (String, String) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (std::env::consts::OS.to_string(), arch.to_string())
}

pub fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The API path of a private provider.
pub fn provider_path(org: &str, name: &str) -> String {
    format!("organizations/{org}/registry-providers/private/{org}/{name}")
}

pub fn add_gpg_key(api: &Api, org: &str, armor: &str) -> Reply {
    api.post(
        "/api/registry/private/v2/gpg-keys",
        &json!({"data": {"type": "gpg-keys",
            "attributes": {"namespace": org, "ascii-armor": armor}}}),
    )
}

pub fn create_provider(api: &Api, org: &str, name: &str) -> Reply {
    api.post(
        &format!("organizations/{org}/registry-providers"),
        &json!({"data": {"type": "registry-providers",
            "attributes": {"name": name, "namespace": org, "registry-name": "private"}}}),
    )
}

pub fn create_version(api: &Api, org: &str, name: &str, version: &str, key_id: &str) -> Value {
    api.post(
        &format!("{}/versions", provider_path(org, name)),
        &json!({"data": {"type": "registry-provider-versions",
            "attributes": {"version": version, "key-id": key_id, "protocols": ["5.0"]}}}),
    )
    .expect(201)
    .body["data"]
        .clone()
}

pub fn create_platform(
    api: &Api,
    org: &str,
    name: &str,
    version: &str,
    (os, arch): (&str, &str),
    filename: &str,
    shasum: &str,
) -> Value {
    api.post(
        &format!("{}/versions/{version}/platforms", provider_path(org, name)),
        &json!({"data": {"type": "registry-provider-platforms",
            "attributes": {"os": os, "arch": arch, "filename": filename, "shasum": shasum}}}),
    )
    .expect(201)
    .body["data"]
        .clone()
}

/// A resource's link.
pub fn link(resource: &Value, name: &str) -> String {
    resource["links"][name]
        .as_str()
        .unwrap_or_else(|| panic!("a {name} link in {resource}"))
        .to_string()
}

/// A version published by [`publish`]: the responses that carried its URLs.
pub struct Published {
    /// The version as created (with its upload links).
    pub created: Value,
    /// The platform as created (with its upload link).
    pub platform: Value,
    /// The version and the platform read again once uploaded (with download links).
    pub version: Value,
    pub uploaded_platform: Value,
}

/// Publishes `name` `version` for `(os, arch)` in `org`, signed by `gpg` (whose key is added
/// to the organization unless it has it).
pub fn publish(
    api: &Api,
    org: &str,
    name: &str,
    version: &str,
    (os, arch): (&str, &str),
    gpg: &Gpg,
) -> Published {
    let added = add_gpg_key(api, org, &gpg.armor());
    assert!(matches!(added.status, 201 | 409), "{}", added.text);
    let provider = create_provider(api, org, name);
    assert!(matches!(provider.status, 201 | 422), "{}", provider.text);
    let filename = format!("terraform-provider-{name}_{version}_{os}_{arch}.zip");
    let zip = package(name, version, "published");
    let shasums = format!("{}  {filename}\n", sha256(&zip));
    let created = create_version(api, org, name, version, &gpg.key_id);
    api.put_unauthenticated(&link(&created, "shasums-upload"), shasums.as_bytes())
        .ok();
    api.put_unauthenticated(
        &link(&created, "shasums-sig-upload"),
        &gpg.sign(shasums.as_bytes()),
    )
    .ok();
    let platform = create_platform(
        api,
        org,
        name,
        version,
        (os, arch),
        &filename,
        &sha256(&zip),
    );
    api.put_unauthenticated(&link(&platform, "provider-binary-upload"), &zip)
        .ok();
    let path = format!("{}/versions/{version}", provider_path(org, name));
    Published {
        created,
        platform,
        version: api.get(&path).ok().body["data"].clone(),
        uploaded_platform: api.get(&format!("{path}/platforms/{os}/{arch}")).ok().body["data"]
            .clone(),
    }
}
