//! `terrace admin backup` and `restore`: the embedded shape's whole data directory (the SQLite
//! database, the blobs, the encryption key, the TLS files) in one `tar.gz`, taken while the
//! server runs, with a manifest of every file's size and SHA-256 that a restore checks before
//! anything becomes a data directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use terrace_storage::sql::Backend;

use crate::config::DatabaseConfig;

/// The archive's last entry: what every other entry must be.
const MANIFEST: &str = "terrace-backup.json";
/// Where the database goes in the archive and in a restored data directory.
const DATABASE: &str = "terrace.db";
const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    terrace_version: String,
    created_at: chrono::DateTime<chrono::Utc>,
    files: BTreeMap<String, FileDigest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FileDigest {
    size: u64,
    sha256: String,
}

/// What a backup or restore handled.
pub struct Summary {
    pub files: usize,
    pub bytes: u64,
    /// The encryption key was in the data directory (so it is in the archive).
    pub has_key: bool,
}

/// Writes the archive to `output` (a new file, readable by its owner only: it holds the
/// encryption key). `storage_url` is the blob store the server is given, if any.
pub async fn backup(
    database: &DatabaseConfig,
    storage_url: Option<&str>,
    output: &Path,
) -> Result<Summary> {
    if database.backend != Backend::Sqlite {
        bail!(
            "backup covers the embedded shape (SQLite and blobs in the data directory); back up \
             PostgreSQL and the object store with their own tools"
        );
    }
    let blobs = database.data_dir.join("blobs");
    if let Some(url) = storage_url.filter(|url| Path::new(url) != blobs) {
        bail!(
            "the blobs are in {url}, not in the data directory: backup covers the embedded \
             shape only"
        );
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .with_context(|| format!("cannot create {} (it must not exist)", output.display()))?;
    let written = write_archive(database, file).await;
    if written.is_err() {
        let _ = std::fs::remove_file(output);
    }
    written
}

async fn write_archive(database: &DatabaseConfig, file: File) -> Result<Summary> {
    let scratch = tempfile::tempdir().context("a temporary directory for the snapshot")?;
    let snapshot = scratch.path().join(DATABASE);
    terrace_storage::sql::snapshot_sqlite(&database.database_url, &snapshot)
        .await
        .context("snapshotting the database")?;
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::default(),
    ));
    let mut files = BTreeMap::new();
    files.insert(
        DATABASE.to_string(),
        append(&mut archive, &snapshot, DATABASE)?,
    );
    for (path, name) in data_files(&database.data_dir)? {
        files.insert(name.clone(), append(&mut archive, &path, &name)?);
    }
    let manifest = Manifest {
        format: FORMAT,
        terrace_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: chrono::Utc::now(),
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(manifest.created_at.timestamp().max(0) as u64);
    archive.append_data(&mut header, MANIFEST, json.as_slice())?;
    let file = archive.into_inner()?.finish()?;
    file.sync_all()?;
    Ok(summary(&manifest.files))
}

/// Every regular file of the data directory but the live database's (the snapshot stands
/// in for it), by its path inside the directory, in a stable order.
fn data_files(data_dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let live = [
        DATABASE,
        "terrace.db-wal",
        "terrace.db-shm",
        "terrace.db-journal",
    ];
    let mut found = Vec::new();
    let mut pending = vec![data_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            let name = path
                .strip_prefix(data_dir)
                .expect("inside the data directory")
                .to_string_lossy()
                .into_owned();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && !live.contains(&name.as_str()) && !name.contains('#') {
                // (`#`: a blob still being written, under the temporary name the local
                // store gives it until it is whole)
                found.push((path, name));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

/// Appends the file at `path` as `name`, hashing what goes in. Blob files are written
/// whole under a temporary name and renamed, so a named one no longer changes.
fn append<W: Write>(archive: &mut tar::Builder<W>, path: &Path, name: &str) -> Result<FileDigest> {
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let metadata = file.metadata()?;
    let mut header = tar::Header::new_gnu();
    header.set_size(metadata.len());
    header.set_mode(0o600);
    header.set_mtime(
        metadata
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    let mut reader = Hashing::new(file);
    archive
        .append_data(&mut header, name, &mut reader)
        .with_context(|| format!("archiving {}", path.display()))?;
    Ok(reader.digest())
}

/// A reader that hashes and counts what is read through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    fn digest(self) -> FileDigest {
        FileDigest {
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

fn summary(files: &BTreeMap<String, FileDigest>) -> Summary {
    Summary {
        files: files.len(),
        bytes: files.values().map(|f| f.size).sum(),
        has_key: files.contains_key("encryption.key"),
    }
}

/// Makes `data_dir` (absent or empty) from the archive at `input`, once every file of the
/// manifest has arrived whole and nothing else has.
pub fn restore(input: &Path, data_dir: &Path) -> Result<Summary> {
    if let Ok(mut entries) = std::fs::read_dir(data_dir) {
        if entries.next().is_some() {
            bail!(
                "{} is not empty: restore makes a new data directory and overwrites nothing",
                data_dir.display()
            );
        }
    }
    let parent = match data_dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    // Unpacked next to the target and renamed into place: a failed restore leaves nothing.
    let staging = tempfile::Builder::new()
        .prefix(".terrace-restore-")
        .tempdir_in(&parent)
        .with_context(|| format!("a temporary directory in {}", parent.display()))?;
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut received = BTreeMap::new();
    let mut manifest: Option<Manifest> = None;
    for entry in archive
        .entries()
        .with_context(|| format!("reading {}", input.display()))?
    {
        let entry = entry.with_context(|| format!("reading {}", input.display()))?;
        let name = entry_name(&entry)?;
        if name == MANIFEST {
            manifest = Some(
                serde_json::from_reader(entry).context("the archive's manifest is unreadable")?,
            );
            continue;
        }
        let path = staging.path().join(&name);
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mut reader = Hashing::new(entry);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut file| {
                std::io::copy(&mut reader, &mut file)?;
                file.sync_all()
            })
            .with_context(|| format!("restoring {name} to {}", path.display()))?;
        if received.insert(name.clone(), reader.digest()).is_some() {
            bail!("the archive holds {name} twice");
        }
    }
    let manifest = manifest.context("the archive has no manifest: not a terrace backup")?;
    if manifest.format != FORMAT {
        bail!(
            "the archive's format is {}, this terrace reads {FORMAT}",
            manifest.format
        );
    }
    check_against(&manifest.files, &received)?;
    if !received.contains_key(DATABASE) {
        bail!("the archive holds no database");
    }
    std::fs::set_permissions(
        staging.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )?;
    // An empty directory may stand where the data directory goes.
    let _ = std::fs::remove_dir(data_dir);
    let staged = staging.keep();
    std::fs::rename(&staged, data_dir).with_context(|| {
        format!(
            "moving the restored files from {} to {}",
            staged.display(),
            data_dir.display()
        )
    })?;
    Ok(summary(&received))
}

/// The entry's path if it is a regular file with a plain relative path (no `..`, no root, no
/// link: nothing may land outside the new data directory).
fn entry_name<R: Read>(entry: &tar::Entry<R>) -> Result<String> {
    let path = entry.path().context("an entry's path is unreadable")?;
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if entry.header().entry_type() != tar::EntryType::Regular || !plain {
        bail!(
            "the archive holds {} ({:?}): a backup holds only plain files",
            path.display(),
            entry.header().entry_type()
        );
    }
    Ok(path.to_string_lossy().into_owned())
}

/// Every file the manifest names arrived with its size and digest, and no other.
fn check_against(
    expected: &BTreeMap<String, FileDigest>,
    received: &BTreeMap<String, FileDigest>,
) -> Result<()> {
    for (name, digest) in expected {
        match received.get(name) {
            None => bail!("the archive lacks {name}, which its manifest lists"),
            Some(got) if got != digest => bail!(
                "{name} is damaged: {} bytes with SHA-256 {}, the manifest says {} bytes with {}",
                got.size,
                got.sha256,
                digest.size,
                digest.sha256
            ),
            Some(_) => {}
        }
    }
    if let Some(extra) = received.keys().find(|name| !expected.contains_key(*name)) {
        bail!("the archive holds {extra}, which its manifest does not list");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(size: u64, sha: &str) -> FileDigest {
        FileDigest {
            size,
            sha256: sha.into(),
        }
    }

    #[test]
    fn a_restore_takes_exactly_the_manifests_files() {
        let expected: BTreeMap<String, FileDigest> = [
            ("terrace.db".to_string(), digest(10, "aa")),
            ("blobs/x".to_string(), digest(3, "bb")),
        ]
        .into();
        assert!(check_against(&expected, &expected).is_ok());

        let mut damaged = expected.clone();
        damaged.insert("blobs/x".into(), digest(3, "cc"));
        let err = check_against(&expected, &damaged).unwrap_err().to_string();
        assert!(err.contains("blobs/x is damaged"), "{err}");

        let mut short = expected.clone();
        short.remove("blobs/x");
        let err = check_against(&expected, &short).unwrap_err().to_string();
        assert!(err.contains("lacks blobs/x"), "{err}");

        let mut extra = expected.clone();
        extra.insert("blobs/planted".into(), digest(1, "dd"));
        let err = check_against(&expected, &extra).unwrap_err().to_string();
        assert!(err.contains("blobs/planted"), "{err}");
    }
}
