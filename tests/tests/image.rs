//! The container image (`scripts/build-image.sh`, docs/image.md), built without a Docker
//! daemon from the binary under test: twice, to the same manifest digest (a reproducible
//! build: the two stagings have different files' times), inspected with `skopeo` (user,
//! entrypoint, labels, architecture), its layer read entry by entry (sorted, fixed times,
//! numeric owners, nothing setuid or writable by others but `/tmp`), unpacked with `umoci`
//! and run: `terrace --version`, `terrace-runner --version` and `terraform version` inside
//! the unpacked root filesystem, as the image's user with only the image's environment
//! (`chroot` as root; else through the image's own loader and libraries), so the image holds
//! everything they need.
//!
//! Needs `skopeo` and `umoci` (`scripts/install-test-deps.sh`): without them this test fails.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use terrace_tests::{running_as_root, terrace_bin, workspace_root};

/// The workspace's version: the image's tag, as the Kubernetes executor's default image is
/// `terrace:VERSION`.
const VERSION: &str = env!("CARGO_PKG_VERSION");
const EPOCH: &str = "1700000000";
const CREATED: &str = "2023-11-14T22:13:20Z";
const NONROOT: u64 = 65532;

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Builds the image into `layout` (the terraform on PATH baked in unless `slim`) and returns
/// the manifest digest the script prints.
fn build(layout: &Path, tag: Option<&str>, slim: bool) -> String {
    let mut command = Command::new(workspace_root().join("scripts/build-image.sh"));
    command
        .arg("--binary")
        .arg(terrace_bin())
        .arg("--output")
        .arg(layout)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("REVISION", "0123456789abcdef");
    if let Some(tag) = tag {
        command.args(["--tag", tag]);
    }
    if !slim {
        command.arg("--terraform").arg(which("terraform"));
    }
    let digest = run(&mut command).trim().to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    digest
}

fn which(name: &str) -> PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap()
}

/// The manifest of `tag` in the layout's index.
fn manifest_digest(layout: &Path, tag: &str) -> String {
    let index = read_json(&layout.join("index.json"));
    let found: Vec<&Value> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .collect();
    assert_eq!(found.len(), 1, "{index}");
    found[0]["digest"].as_str().unwrap().to_string()
}

fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("unexpected architecture {other}"),
    }
}

/// Runs `argv` of the unpacked image as its user with only its environment.
fn run_in_image(rootfs: &Path, env: &[(String, String)], argv: &[&str]) -> String {
    let mut command = if running_as_root() {
        // Found on the test's PATH: the child's is the image's.
        let mut c = Command::new(which("chroot"));
        c.arg(format!("--userspec={NONROOT}:{NONROOT}"))
            .arg(rootfs)
            .args(argv);
        c
    } else {
        // The image's loader, with the image's libraries only (no host cache or paths).
        let mut c = Command::new(rootfs.join("usr/lib64/ld-linux-x86-64.so.2"));
        c.arg("--inhibit-cache")
            .arg("--library-path")
            .arg(rootfs.join("usr/lib/x86_64-linux-gnu"))
            .arg(rootfs.join(argv[0].trim_start_matches('/')))
            .args(&argv[1..]);
        c
    };
    command.env_clear().envs(env.iter().cloned());
    run(&mut command)
}

#[test]
fn the_image_is_reproducible_minimal_and_self_sufficient() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));

    // Twice from the same binary: the same digest, though every staged file differs in time.
    let first = build(&a, None, false);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = build(&b, None, false);
    assert_eq!(first, second, "two builds of one binary differ");
    assert_eq!(manifest_digest(&a, VERSION), first);
    for file in ["index.json", "oci-layout"] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }
    // A second tag in the same layout keeps the first; a slim image has no terraform.
    let slim = build(&a, Some("slim"), true);
    assert_ne!(slim, first);
    assert_eq!(manifest_digest(&a, VERSION), first);
    assert_eq!(manifest_digest(&a, "slim"), slim);

    // Tagged as the executor's and the chart's default reference.
    let executor =
        std::fs::read_to_string(workspace_root().join("crates/runner-listener/src/kubernetes.rs"))
            .unwrap();
    assert!(
        executor.contains(r#"image: concat!("terrace:", env!("CARGO_PKG_VERSION"))"#),
        "the executor's default image is no longer terrace:VERSION: update build-image.sh's tag"
    );
    let values =
        std::fs::read_to_string(workspace_root().join("helm/terrace/values.yaml")).unwrap();
    assert!(values.contains("\n  repository: terrace\n"), "{values}");

    // skopeo reads the layout as any registry client would.
    let reference = format!("oci:{}:{VERSION}", a.display());
    let inspect: Value =
        serde_json::from_str(&run(Command::new("skopeo").args(["inspect", &reference]))).unwrap();
    assert_eq!(inspect["Digest"], first, "{inspect}");
    assert_eq!(inspect["Architecture"], oci_arch(), "{inspect}");
    assert_eq!(inspect["Os"], "linux", "{inspect}");
    assert_eq!(inspect["Created"], CREATED, "{inspect}");
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1, "{inspect}");
    let labels = &inspect["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"], VERSION,
        "{inspect}"
    );
    assert_eq!(
        labels["org.opencontainers.image.title"], "terrace",
        "{inspect}"
    );
    assert_eq!(
        labels["org.opencontainers.image.created"], CREATED,
        "{inspect}"
    );
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        "0123456789abcdef"
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert_eq!(labels["io.terrace.image.terraform"], "baked-in");
    let config: Value = serde_json::from_str(&run(
        Command::new("skopeo").args(["inspect", "--config", &reference])
    ))
    .unwrap();
    let settings = &config["config"];
    assert_eq!(settings["User"], "65532:65532", "{config}");
    assert_eq!(
        settings["Entrypoint"],
        serde_json::json!(["/usr/local/bin/terrace"]),
        "{config}"
    );
    let env: Vec<(String, String)> = settings["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (k, v) = e.as_str().unwrap().split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(var("HOME"), Some("/home/nonroot"), "{config}");
    assert_eq!(var("PATH"), Some("/usr/local/bin"), "{config}");
    let slim_labels: Value = serde_json::from_str(&run(
        Command::new("skopeo").args(["inspect", &format!("oci:{}:slim", a.display())])
    ))
    .unwrap();
    assert!(
        slim_labels["Labels"]["io.terrace.image.terraform"]
            .as_str()
            .unwrap()
            .starts_with("none"),
        "{slim_labels}"
    );

    // The layer, entry by entry.
    let manifest: Value = serde_json::from_slice(&blob(&a, &first)).unwrap();
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer = blob(&a, manifest["layers"][0]["digest"].as_str().unwrap());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..])
        .read_to_end(&mut tar)
        .unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let mut paths = Vec::new();
    let mut files = BTreeSet::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        let path = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let mode = header.mode().unwrap();
        assert_eq!(
            header.mtime().unwrap(),
            EPOCH.parse::<u64>().unwrap(),
            "{path}"
        );
        let owner = if path == "home/nonroot" { NONROOT } else { 0 };
        assert_eq!(header.uid().unwrap(), owner, "{path}");
        assert_eq!(header.gid().unwrap(), owner, "{path}");
        assert!(
            header.username().unwrap().unwrap_or("").is_empty(),
            "{path}: a user name"
        );
        assert_eq!(mode & 0o6000, 0, "{path}: setuid or setgid ({mode:o})");
        if header.entry_type() != tar::EntryType::Symlink {
            if path == "tmp" {
                assert_eq!(mode, 0o1777, "{path}");
            } else {
                assert_eq!(mode & 0o022, 0, "{path}: writable by others ({mode:o})");
            }
        }
        files.insert(path.clone());
        paths.push(path);
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "the layer's entries are not sorted");
    for needed in [
        "usr/local/bin/terrace",
        "usr/local/bin/terrace-runner",
        "usr/local/bin/terraform",
        "etc/passwd",
        "etc/group",
        "etc/ssl/certs/ca-certificates.crt",
        "tmp",
        "home/nonroot",
        "lib",
        "lib64",
    ] {
        assert!(
            files.contains(needed),
            "{needed} is not in the image: {files:?}"
        );
    }
    // Nothing else: the binary, terraform, libraries and the few files above.
    for path in &files {
        assert!(
            [
                "usr",
                "usr/local",
                "usr/local/bin",
                "usr/lib",
                "usr/lib64",
                "etc",
                "etc/ssl",
                "etc/ssl/certs",
                "home"
            ]
            .contains(&path.as_str())
                || path.starts_with("usr/lib/")
                || path.starts_with("usr/lib64/")
                || path.starts_with("usr/local/bin/")
                || [
                    "etc/passwd",
                    "etc/group",
                    "etc/ssl/certs/ca-certificates.crt",
                    "tmp",
                    "home/nonroot",
                    "lib",
                    "lib64"
                ]
                .contains(&path.as_str()),
            "unexpected {path} in the image"
        );
    }

    // Unpacked as a runtime would, and run as the image's user.
    let bundle = dir.path().join("bundle");
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    if !running_as_root() {
        unpack.arg("--rootless");
    }
    run(unpack
        .arg("--image")
        .arg(format!("{}:{VERSION}", a.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(
        passwd.contains("nonroot:x:65532:65532:nonroot:/home/nonroot:"),
        "{passwd}"
    );
    let bundle_ca =
        std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(bundle_ca.contains("BEGIN CERTIFICATE"));
    if running_as_root() {
        use std::os::unix::fs::MetadataExt;
        let home = std::fs::metadata(rootfs.join("home/nonroot")).unwrap();
        assert_eq!((home.uid(), home.gid()), (65532, 65532));
        let bin = std::fs::metadata(rootfs.join("usr/local/bin/terrace")).unwrap();
        assert_eq!((bin.uid(), bin.mode() & 0o7777), (0, 0o755));
    }
    let out = run_in_image(&rootfs, &env, &["/usr/local/bin/terrace", "--version"]);
    assert_eq!(out.trim(), format!("terrace {VERSION}"));
    // The crypto and XML libraries load and work, not just the loader.
    let key = run_in_image(
        &rootfs,
        &env,
        &["/usr/local/bin/terrace", "admin", "generate-key"],
    );
    assert!(key.trim().len() >= 40, "{key}");
    // Listeners start the runner's own binary; it runs in the image too.
    let out = run_in_image(
        &rootfs,
        &env,
        &["/usr/local/bin/terrace-runner", "--version"],
    );
    assert_eq!(out.trim(), format!("terrace-runner {VERSION}"));
    let out = run_in_image(&rootfs, &env, &["/usr/local/bin/terraform", "version"]);
    assert!(out.starts_with("Terraform v"), "{out}");
}
