//! `terrace admin backup` and `restore` on the embedded shape: a backup taken while the server
//! runs restores into a new data directory on which a server starts with everything it had
//! (users and tokens, a workspace's state byte for byte, a sensitive variable still sealed
//! with the restored key) and nothing written after the backup. A restore overwrites nothing
//! and refuses a damaged or doctored archive before any data directory appears; a backup
//! overwrites no file and refuses the production shape it does not cover.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use terrace_tests::access::create_workspace;
use terrace_tests::{states, terrace_bin, Db, Server};

fn admin(args: &[&str]) -> Output {
    Command::new(terrace_bin())
        .arg("admin")
        .args(args)
        .env_remove("TERRACE_DATABASE_URL")
        .output()
        .expect("terrace admin runs")
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "not refused: {stderr}");
    assert!(stderr.contains(says), "{stderr}");
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A copy of the archive at `from` with one byte of the first blob changed (`doctor`), or an
/// entry added that its manifest does not list (`plant`).
fn tampered(from: &Path, to: &Path, change: &str) {
    let mut source = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(from).unwrap(),
    ));
    let mut out = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::default(),
    ));
    let mut changed = false;
    for entry in source.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if change == "doctor" && !changed && name.starts_with("blobs/") && !bytes.is_empty() {
            bytes[0] ^= 1;
            changed = true;
        }
        if change == "plant" && !changed {
            let mut header = tar::Header::new_gnu();
            header.set_size(4);
            header.set_mode(0o600);
            out.append_data(&mut header, "blobs/planted", &b"evil"[..])
                .unwrap();
            changed = true;
        }
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        out.append_data(&mut header, &name, bytes.as_slice())
            .unwrap();
    }
    assert!(changed, "nothing to tamper with in the archive");
    out.into_inner().unwrap().finish().unwrap();
}

#[test]
fn a_backup_taken_while_serving_restores_into_a_server_with_everything() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::builder(Db::Sqlite).data_dir(&data).start();
    let token = server.admin_token();
    let api = server.api(&token);
    let ws = create_workspace(&api, "default", "kept", None);
    let state = states::with_resources("kept", &[("aws_s3_bucket", "logs")]);
    states::push(&api, &ws, &state);
    api.post(
        &format!("workspaces/{ws}/vars"),
        &json!({"data": {"type": "vars", "attributes": {
            "key": "SECRET", "value": "s3cr3t-kept", "category": "env", "sensitive": true}}}),
    )
    .expect(201);

    // While the server runs.
    let archive = dir.path().join("backup.tar.gz");
    let said = succeeded(&admin(&[
        "backup",
        "--data-dir",
        path(&data),
        "--output",
        path(&archive),
    ]));
    assert!(said.contains("backed up"), "{said}");
    assert!(!said.contains("encryption key is not"), "{said}");
    let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the archive holds the key");
    refused(
        &admin(&[
            "backup",
            "--data-dir",
            path(&data),
            "--output",
            path(&archive),
        ]),
        "must not exist",
    );
    create_workspace(&api, "default", "after-the-backup", None);
    drop(server);

    // Damaged or doctored: refused, and no data directory appears.
    let restored = dir.path().join("restored");
    for change in ["doctor", "plant"] {
        let bad = dir.path().join(format!("{change}.tar.gz"));
        tampered(&archive, &bad, change);
        let says = if change == "doctor" {
            "is damaged"
        } else {
            "blobs/planted"
        };
        refused(
            &admin(&[
                "restore",
                "--input",
                path(&bad),
                "--data-dir",
                path(&restored),
            ]),
            says,
        );
        assert!(!restored.exists());
    }
    // Nothing is overwritten.
    refused(
        &admin(&[
            "restore",
            "--input",
            path(&archive),
            "--data-dir",
            path(&data),
        ]),
        "is not empty",
    );

    let said = succeeded(&admin(&[
        "restore",
        "--input",
        path(&archive),
        "--data-dir",
        path(&restored),
    ]));
    assert!(said.contains("restored"), "{said}");
    let server = Server::builder(Db::Sqlite).data_dir(&restored).start();
    // The same token, the same state byte for byte, the variable still sealed.
    let api = server.api(&token);
    let current = api
        .get(&format!("workspaces/{ws}/current-state-version"))
        .ok();
    let url = current.attr("hosted-state-download-url").as_str().unwrap();
    let downloaded = api.raw("GET", url, None).bytes().unwrap();
    assert_eq!(downloaded.to_vec(), serde_json::to_vec(&state).unwrap());
    let vars = api.get(&format!("workspaces/{ws}/vars")).ok();
    assert_eq!(vars.body["data"][0]["attributes"]["key"], "SECRET");
    assert!(vars.body["data"][0]["attributes"]["value"].is_null());
    assert!(!vars.text.contains("s3cr3t-kept"));
    api.get("organizations/default/workspaces/kept").expect(200);
    api.get("organizations/default/workspaces/after-the-backup")
        .expect(404);
}

#[test]
fn a_backup_covers_the_embedded_shape_only() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("backup.tar.gz");
    refused(
        &admin(&[
            "backup",
            "--data-dir",
            path(dir.path()),
            "--database-url",
            "postgres://terrace@127.0.0.1:1/terrace",
            "--output",
            path(&output),
        ]),
        "PostgreSQL",
    );
    refused(
        &admin(&[
            "backup",
            "--data-dir",
            path(dir.path()),
            "--storage-url",
            "s3://bucket/terrace",
            "--output",
            path(&output),
        ]),
        "not in the data directory",
    );
    assert!(!output.exists(), "a refused backup leaves no file");
}
