//! `terrace admin migrate`: moves an embedded installation (the SQLite database and the blobs
//! of its data directory) into PostgreSQL and an object store, the production shape.
//!
//! - The database is read from a `VACUUM INTO` snapshot (storage's `snapshot_sqlite`), so the
//!   live file is never written, and copied table by table by storage's `sql::transfer`, which
//!   creates the schema with PostgreSQL's own migrations first. The server must be stopped:
//!   what it writes after the snapshot would not be carried over.
//! - Blobs are copied byte for byte (they are encrypted with the installation's key, which the
//!   new deployment must be given), and each copy is read back and its SHA-256 compared with
//!   the source's.
//! - Only an empty target is written to. Progress is recorded in the target, so a re-run with
//!   the same arguments resumes an interrupted migration (tables copied are checked, not copied
//!   again; blobs already there with the source's SHA-256 are skipped), and checks a completed
//!   one against the source, changing nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};
use terrace_storage::sql::transfer::{TableDigest, Transfer, TABLES};
use terrace_storage::sql::{redact_url, snapshot_sqlite, Backend};

use crate::config::DatabaseConfig;

/// A test hook, and only that: `tables:N` or `blobs:N` makes the command exit at once, as a
/// crash would, after it handled N tables or N blobs, so that tests can check a re-run resumes.
const EXIT_AFTER: &str = "TERRACE_MIGRATE_TEST_EXIT_AFTER";
/// The exit status of [`EXIT_AFTER`]'s exit.
const EXIT_AFTER_STATUS: i32 = 75;
/// Blobs up to this size are copied in one request; larger ones in parts of this size (S3's
/// minimum), a few in flight, so no blob is ever held in memory whole.
const PART_SIZE: usize = 5 << 20;
const PARTS_IN_FLIGHT: usize = 2;

/// Where the installation goes.
pub struct Target {
    pub database_url: String,
    /// As `serve --storage-url`: s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    pub storage_url: String,
    /// As `serve --storage-option`.
    pub storage_options: Vec<(String, String)>,
}

/// What a migration did.
pub struct Summary {
    pub tables: usize,
    pub rows: u64,
    pub blobs: usize,
    pub bytes: u64,
    /// Blobs written by this run (the others were in the target already, checked).
    pub blobs_copied: usize,
    /// The target recorded a completed migration: it was only checked.
    pub checked_only: bool,
    /// The data directory's encryption key file, if the installation has one.
    pub key_file: Option<PathBuf>,
}

/// Copies the installation of `source` (whose blob store, if configured elsewhere than the
/// data directory, is `source_storage`: refused) into `target`.
pub async fn migrate(
    source: &DatabaseConfig,
    source_storage: Option<&str>,
    target: &Target,
) -> Result<Summary> {
    let blobs_dir = check_embedded_source(source, source_storage)?;
    if Backend::of_url(&target.database_url)? != Backend::Postgres {
        bail!("--to-database-url must be a PostgreSQL URL (postgres://...)");
    }
    let mut exit_after = ExitAfter::from_env()?;
    let identity = source_identity(&source.database_url)?;
    let stores = Stores {
        source: open_source_store(&blobs_dir)?,
        target: open_target_store(&target.storage_url, &target.storage_options)
            .with_context(|| format!("opening the object store {}", target.storage_url))?,
    };

    let scratch = tempfile::tempdir().context("a temporary directory for the snapshot")?;
    let snapshot = scratch.path().join("terrace.db");
    snapshot_sqlite(&source.database_url, &snapshot)
        .await
        .with_context(|| format!("taking a snapshot of {identity}"))?;
    println!(
        "Snapshot of {identity} taken. Keep the server stopped until the migration ends: what \
         it writes after the snapshot is not carried over."
    );
    let transfer = Transfer::open(&snapshot, &target.database_url)
        .await
        .with_context(|| format!("opening {}", redact_url(&target.database_url)))?;
    let migrated = run(&transfer, &stores, &identity, target, &mut exit_after).await;
    transfer.close().await;
    let (rows, blobs, checked_only) = migrated?;
    let key_file = std::fs::canonicalize(source.data_dir.join("encryption.key")).ok();
    Ok(Summary {
        tables: TABLES.len(),
        rows,
        blobs: blobs.total,
        bytes: blobs.bytes,
        blobs_copied: blobs.copied,
        checked_only,
        key_file,
    })
}

/// The migration proper, once both sides are open: returns the rows, the blobs, and whether
/// the target was only checked.
async fn run(
    transfer: &Transfer,
    stores: &Stores,
    identity: &str,
    target: &Target,
    exit_after: &mut ExitAfter,
) -> Result<(u64, BlobCounts, bool)> {
    let unknown = transfer.unknown_source_tables().await?;
    if !unknown.is_empty() {
        bail!(
            "the source has tables this migration does not know ({}): this terrace is older \
             than the data, or the migration was not taught a new table; nothing was written",
            unknown.join(", ")
        );
    }
    let source_blobs = listing(&*stores.source)
        .await
        .context("listing the source's blobs")?;
    let target_blobs = listing(&*stores.target)
        .await
        .with_context(|| format!("listing {}", target.storage_url))?;
    let marker = transfer.marker().await?;
    let (recorded, checked_only) = match marker {
        None => {
            refuse_occupied_target(transfer, &target_blobs, target).await?;
            transfer.start(identity).await?;
            println!(
                "Migrating into {} and {}.",
                redact_url(&target.database_url),
                target.storage_url
            );
            (BTreeMap::new(), false)
        }
        Some(marker) if marker.source != identity => bail!(
            "{} holds a migration from {}, not from {identity}: migrate into a new, empty \
             database and object store",
            redact_url(&target.database_url),
            marker.source
        ),
        Some(marker) if marker.completed => {
            println!("The target holds this source's completed migration: checking it.");
            (marker.tables, true)
        }
        Some(marker) => {
            println!(
                "Resuming the interrupted migration ({} of {} tables copied).",
                marker.tables.len(),
                TABLES.len()
            );
            (marker.tables, false)
        }
    };
    let rows = copy_tables(transfer, &recorded, checked_only, exit_after).await?;
    if !checked_only {
        for sequence in transfer.adjust_sequences().await? {
            println!("Sequence of {sequence} moved past the rows copied.");
        }
    }
    let blobs = copy_blobs(
        stores,
        &source_blobs,
        &target_blobs,
        checked_only,
        exit_after,
    )
    .await?;
    if !checked_only {
        transfer.complete().await?;
    }
    Ok((rows, blobs, checked_only))
}

/// The blob directory of an embedded source: its database SQLite, its blobs in the data
/// directory.
fn check_embedded_source(source: &DatabaseConfig, storage: Option<&str>) -> Result<PathBuf> {
    if source.backend != Backend::Sqlite {
        bail!(
            "the source must be an embedded installation (SQLite in the data directory): give \
             its --data-dir (or --database-url sqlite:...), the target with --to-database-url"
        );
    }
    let blobs = source.data_dir.join("blobs");
    if let Some(url) = storage.filter(|url| Path::new(url) != blobs) {
        bail!("the source's blobs are in {url}, not in the data directory: migrate moves the embedded shape only");
    }
    Ok(blobs)
}

/// The source as the target records it: its database file's absolute path.
fn source_identity(database_url: &str) -> Result<String> {
    let rest = database_url.trim_start_matches("sqlite:");
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let file = rest.split('?').next().unwrap_or(rest);
    let path = std::fs::canonicalize(file)
        .with_context(|| format!("the source database {file} (is the data directory right?)"))?;
    Ok(format!("sqlite:{}", path.display()))
}

/// Refuses a target that holds anything this migration did not write.
async fn refuse_occupied_target(
    transfer: &Transfer,
    target_blobs: &BTreeMap<Key, u64>,
    target: &Target,
) -> Result<()> {
    let contents = transfer.target_contents().await?;
    if !contents.is_empty() {
        bail!(
            "the target database {} is not empty ({}): migrate writes only into a new database \
             (or one with only Terrace's schema); nothing was changed",
            redact_url(&target.database_url),
            contents.join("; ")
        );
    }
    if let Some(first) = target_blobs.keys().next() {
        bail!(
            "the object store {} already holds {} objects (such as {first}): migrate writes only \
             into an empty bucket or prefix; nothing was changed",
            target.storage_url,
            target_blobs.len()
        );
    }
    Ok(())
}

/// Copies every table the target has not recorded, and checks those it has against the
/// source and the target (with `checked_only`, there must be none to copy). Returns the rows.
async fn copy_tables(
    transfer: &Transfer,
    recorded: &BTreeMap<String, TableDigest>,
    checked_only: bool,
    exit_after: &mut ExitAfter,
) -> Result<u64> {
    println!("Tables:");
    let mut rows = 0;
    for table in TABLES {
        let (digest, how) = match recorded.get(*table) {
            Some(recorded) => {
                check_copied_table(transfer, table, recorded).await?;
                (recorded.clone(), "copied before, unchanged")
            }
            None if checked_only => {
                bail!("the target records a completed migration without table {table}")
            }
            None => {
                let digest = transfer
                    .copy_table(table)
                    .await
                    .with_context(|| format!("copying table {table}"))?;
                (digest, "copied")
            }
        };
        println!("  {table:<34} {:>9} rows {how}", digest.rows);
        rows += digest.rows;
        exit_after.count(Stage::Tables);
    }
    Ok(rows)
}

/// A table copied by an earlier run must still be what it was, on both sides.
async fn check_copied_table(
    transfer: &Transfer,
    table: &str,
    recorded: &TableDigest,
) -> Result<()> {
    let source = transfer.source_digest(table).await?;
    if &source != recorded {
        bail!(
            "the source's {table} changed since it was copied ({} rows then, {} now): the server \
             must stay stopped during a migration; start again into a new, empty target",
            recorded.rows,
            source.rows
        );
    }
    let target = transfer.target_digest(table).await?;
    if &target != recorded {
        bail!(
            "the target's {table} changed since it was copied ({} rows then, {} now): something \
             else writes to the target (a server started on it?)",
            recorded.rows,
            target.rows
        );
    }
    Ok(())
}

struct Stores {
    source: Arc<dyn ObjectStore>,
    target: Arc<dyn ObjectStore>,
}

#[derive(Default)]
struct BlobCounts {
    total: usize,
    bytes: u64,
    copied: usize,
}

/// A blob's size and SHA-256, as read.
#[derive(Debug, PartialEq, Eq)]
struct Checksum {
    size: u64,
    sha256: String,
}

/// Copies every source blob that the target lacks or holds differently, and reads each copy
/// back; with `checked_only`, a blob missing or different is an error instead.
async fn copy_blobs(
    stores: &Stores,
    source: &BTreeMap<Key, u64>,
    target: &BTreeMap<Key, u64>,
    checked_only: bool,
    exit_after: &mut ExitAfter,
) -> Result<BlobCounts> {
    if let Some(foreign) = target.keys().find(|key| !source.contains_key(*key)) {
        bail!(
            "the object store holds {foreign}, which is not one of the source's blobs: something \
             else writes there (a server started on the target?)"
        );
    }
    let mut counts = BlobCounts {
        total: source.len(),
        bytes: source.values().sum(),
        copied: 0,
    };
    println!("Blobs: {} ({})", counts.total, bytes(counts.bytes));
    let mut done_bytes = 0;
    for (done, (key, size)) in source.iter().enumerate() {
        if copy_blob(stores, key, target.contains_key(key), checked_only).await? {
            counts.copied += 1;
        }
        done_bytes += size;
        if (done + 1) % 100 == 0 || done + 1 == source.len() {
            println!(
                "  {} of {} blobs ({} of {}), {} copied by this run",
                done + 1,
                counts.total,
                bytes(done_bytes),
                bytes(counts.bytes),
                counts.copied
            );
        }
        exit_after.count(Stage::Blobs);
    }
    Ok(counts)
}

/// Makes the target's `key` the source's, verified; returns whether it had to be written.
async fn copy_blob(stores: &Stores, key: &Key, present: bool, checked_only: bool) -> Result<bool> {
    if present {
        let wanted = checksum(&*stores.source, key).await?;
        let found = checksum(&*stores.target, key).await?;
        if wanted == found {
            return Ok(false);
        }
        if checked_only {
            bail!(
                "blob {key} differs in the target ({} bytes, SHA-256 {}) from the source ({} \
                 bytes, SHA-256 {}): the object store altered it, or something wrote over it",
                found.size,
                found.sha256,
                wanted.size,
                wanted.sha256
            );
        }
        println!("  {key}: the target's copy differs from the source, copying it again");
    } else if checked_only {
        bail!("blob {key} is missing from the target");
    }
    let written = copy_object(stores, key)
        .await
        .with_context(|| format!("copying blob {key}"))?;
    let read_back = checksum(&*stores.target, key).await?;
    if read_back != written {
        bail!(
            "blob {key} reads back from the target as {} bytes with SHA-256 {}, but {} bytes with \
             SHA-256 {} were written: the object store altered it (re-run to copy it again)",
            read_back.size,
            read_back.sha256,
            written.size,
            written.sha256
        );
    }
    Ok(true)
}

/// Streams the source's `key` into the target, hashing what goes through.
async fn copy_object(stores: &Stores, key: &Key) -> Result<Checksum> {
    let mut hashing = Hashing::default();
    let mut stream = stores.source.get(key).await?.into_stream();
    let mut small = Vec::new();
    while small.len() <= PART_SIZE {
        match stream.try_next().await? {
            Some(bytes) => {
                hashing.update(&bytes);
                small.extend_from_slice(&bytes);
            }
            None => {
                stores.target.put(key, PutPayload::from(small)).await?;
                return Ok(hashing.finish());
            }
        }
    }
    let upload = stores.target.put_multipart(key).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    writer.write(&small);
    let streamed: Result<()> = async {
        while let Some(bytes) = stream.try_next().await? {
            hashing.update(&bytes);
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            writer.write(&bytes);
        }
        Ok(())
    }
    .await;
    match streamed {
        Ok(()) => {
            writer.finish().await?;
            Ok(hashing.finish())
        }
        Err(err) => {
            let _ = writer.abort().await;
            Err(err)
        }
    }
}

/// The size and SHA-256 of `key` in `store`, read whole.
async fn checksum(store: &dyn ObjectStore, key: &Key) -> Result<Checksum> {
    let mut stream = store
        .get(key)
        .await
        .with_context(|| format!("reading blob {key}"))?
        .into_stream();
    let mut hashing = Hashing::default();
    while let Some(bytes) = stream
        .try_next()
        .await
        .with_context(|| format!("reading blob {key}"))?
    {
        hashing.update(&bytes);
    }
    Ok(hashing.finish())
}

#[derive(Default)]
struct Hashing {
    hasher: Sha256,
    size: u64,
}

impl Hashing {
    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
    }

    fn finish(self) -> Checksum {
        Checksum {
            size: self.size,
            sha256: hex::encode(self.hasher.finalize()),
        }
    }
}

/// Every object of `store` with its size, in key order.
async fn listing(store: &dyn ObjectStore) -> Result<BTreeMap<Key, u64>> {
    let mut objects = BTreeMap::new();
    let mut list = store.list(None);
    while let Some(meta) = list.next().await {
        let meta = meta?;
        objects.insert(meta.location, meta.size);
    }
    Ok(objects)
}

/// The data directory's blobs (none yet if it has no blob directory).
fn open_source_store(blobs: &Path) -> Result<Arc<dyn ObjectStore>> {
    if !blobs.exists() {
        return Ok(Arc::new(InMemory::new()));
    }
    Ok(Arc::new(
        LocalFileSystem::new_with_prefix(blobs)
            .with_context(|| format!("opening the source's blobs in {}", blobs.display()))?,
    ))
}

/// The object store at `url`, configured as `serve` configures its own (the raw store: blobs
/// are copied as they are, never decrypted). Only an object store: the embedded shape's
/// directory is what is being moved away from.
fn open_target_store(url: &str, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>> {
    let parsed = url::Url::parse(url).context("--to-storage-url is not a URL")?;
    if !matches!(
        parsed.scheme(),
        "s3" | "s3a" | "gs" | "az" | "azure" | "abfs" | "abfss"
    ) {
        bail!(
            "--to-storage-url must name an object store (s3://, gs:// or az://), not {}:",
            parsed.scheme()
        );
    }
    Ok(terrace_storage::blob::open_object_store(url, options)?)
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Tables,
    Blobs,
}

/// [`EXIT_AFTER`], counting what this run handled.
struct ExitAfter {
    limit: Option<(Stage, u64)>,
    seen: u64,
}

impl ExitAfter {
    fn from_env() -> Result<ExitAfter> {
        let limit = match std::env::var(EXIT_AFTER) {
            Ok(text) => {
                Some(parse_exit_after(&text).with_context(|| format!("{EXIT_AFTER}={text}"))?)
            }
            Err(_) => None,
        };
        Ok(ExitAfter { limit, seen: 0 })
    }

    fn count(&mut self, stage: Stage) {
        let Some((at, limit)) = self.limit else {
            return;
        };
        if at != stage {
            return;
        }
        self.seen += 1;
        if self.seen == limit {
            eprintln!(
                "{EXIT_AFTER}: exiting after {limit} {stage:?} as a crash would (a test hook)"
            );
            std::process::exit(EXIT_AFTER_STATUS);
        }
    }
}

fn parse_exit_after(text: &str) -> Result<(Stage, u64)> {
    let (stage, count) = text.split_once(':').context("use tables:N or blobs:N")?;
    let stage = match stage {
        "tables" => Stage::Tables,
        "blobs" => Stage::Blobs,
        _ => bail!("use tables:N or blobs:N"),
    };
    Ok((stage, count.parse().context("N is a number")?))
}

/// What to tell the operator once done: the figures, and the key the new deployment needs.
pub fn report(summary: &Summary, target: &Target) -> String {
    let mut out = if summary.checked_only {
        format!(
            "Checked: {} tables ({} rows) and {} blobs ({}) in the target are the source's.\n",
            summary.tables,
            summary.rows,
            summary.blobs,
            bytes(summary.bytes)
        )
    } else {
        format!(
            "Migrated: {} tables ({} rows) into {}, {} blobs ({}) into {} ({} copied by this \
             run, each read back and its SHA-256 checked).\n",
            summary.tables,
            summary.rows,
            redact_url(&target.database_url),
            summary.blobs,
            bytes(summary.bytes),
            target.storage_url,
            summary.blobs_copied
        )
    };
    out.push_str(
        "The blobs and the database's secrets are still encrypted with this installation's \
         key: give the new deployment the same encryption key, ",
    );
    match &summary.key_file {
        Some(path) => out.push_str(&format!(
            "the one in {} (e.g. TERRACE_ENCRYPTION_KEY_FILE={}).\n",
            path.display(),
            path.display()
        )),
        None => out.push_str(
            "the one the embedded server was given (--encryption-key or \
             TERRACE_ENCRYPTION_KEY[_FILE]; the data directory holds no key file).\n",
        ),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_is_known_by_its_database_files_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("terrace.db"), b"").unwrap();
        let canonical = std::fs::canonicalize(dir.path().join("terrace.db")).unwrap();
        let expected = format!("sqlite:{}", canonical.display());
        let url = format!("sqlite:{}/./terrace.db?mode=rwc", dir.path().display());
        assert_eq!(source_identity(&url).unwrap(), expected);
        let url = format!("sqlite://{}/terrace.db", dir.path().display());
        assert_eq!(source_identity(&url).unwrap(), expected);
    }

    #[test]
    fn the_exit_hook_names_a_stage_and_a_count() {
        assert_eq!(parse_exit_after("tables:3").unwrap(), (Stage::Tables, 3));
        assert_eq!(parse_exit_after("blobs:10").unwrap(), (Stage::Blobs, 10));
        assert!(parse_exit_after("rows:1").is_err());
        assert!(parse_exit_after("blobs").is_err());
    }

    #[test]
    fn the_report_names_the_key_file_never_the_key() {
        let summary = Summary {
            tables: 50,
            rows: 10,
            blobs: 2,
            bytes: 2048,
            blobs_copied: 2,
            checked_only: false,
            key_file: Some(PathBuf::from("/data/encryption.key")),
        };
        let target = Target {
            database_url: "postgres://u:hunter2@db/terrace".into(),
            storage_url: "s3://bucket/terrace".into(),
            storage_options: Vec::new(),
        };
        let text = report(&summary, &target);
        assert!(text.contains("/data/encryption.key"), "{text}");
        assert!(text.contains("2.0 KiB"), "{text}");
        assert!(!text.contains("hunter2"), "the database's password: {text}");
    }
}
