//! `terrace admin rotate-key`: seals every encrypted value of the database and every blob
//! again with the newest encryption key, while the servers run, so that the older keys can
//! then be removed. The servers must already have the new key first in their keys (they
//! then write with it, and read with all): this only moves what was written before.
//!
//! Values are replaced only while they are what was read (a server rewriting a row in the
//! meantime wins); a blob is replaced once its new version is written whole. What no key
//! opens is reported, never replaced, and makes the command fail.

use anyhow::{bail, Result};
use futures::StreamExt;
use terrace_storage::blob::{BlobStore, Resealed};
use terrace_storage::sql::sealed::{SealedColumn, SEALED_COLUMNS};
use terrace_storage::SqlStore;

/// Rows read at once.
const PAGE: i64 = 500;
/// Failures named in the report (then only counted).
const NAMED_FAILURES: usize = 20;

/// What a rotation did with one column or with the blobs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    /// Sealed again with the newest key.
    pub resealed: u64,
    /// Already sealed with it.
    pub current: u64,
    /// Rewritten or deleted by a server meantime (so already current, or gone).
    pub changed: u64,
}

#[derive(Debug, Default)]
pub struct Rotation {
    pub columns: Vec<(String, Counts)>,
    pub blobs: Counts,
    /// What no key opens, or could not be written: `table.column key` or `blob key`.
    pub failures: Vec<String>,
    pub failure_count: usize,
}

impl Rotation {
    fn fail(&mut self, what: String) {
        self.failure_count += 1;
        if self.failures.len() < NAMED_FAILURES {
            self.failures.push(what);
        }
    }

    /// The report printed at the end.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let line = |name: &str, c: &Counts| {
            format!(
                "  {name}: {} resealed, {} already with the newest key, {} changed meanwhile\n",
                c.resealed, c.current, c.changed
            )
        };
        for (name, counts) in &self.columns {
            out.push_str(&line(name, counts));
        }
        out.push_str(&line("blobs", &self.blobs));
        for failure in &self.failures {
            out.push_str(&format!("  FAILED: {failure}\n"));
        }
        if self.failure_count > self.failures.len() {
            out.push_str(&format!(
                "  ... and {} more failures\n",
                self.failure_count - self.failures.len()
            ));
        }
        out
    }
}

/// Seals everything again with the newest key of `blobs`' keyring.
pub async fn rotate(store: &SqlStore, blobs: &BlobStore) -> Result<Rotation> {
    let mut rotation = Rotation::default();
    for column in SEALED_COLUMNS {
        let counts = reseal_column(store, blobs, column, &mut rotation).await?;
        rotation
            .columns
            .push((format!("{}.{}", column.table, column.column), counts));
    }
    rotation.blobs = reseal_blobs(blobs, &mut rotation).await?;
    Ok(rotation)
}

/// Fails unless everything was sealed with the newest key.
pub fn complete(rotation: &Rotation) -> Result<()> {
    if rotation.failure_count > 0 {
        bail!(
            "{} values or blobs could not be sealed again (above): keep the older keys until \
             they are dealt with",
            rotation.failure_count
        );
    }
    Ok(())
}

async fn reseal_column(
    store: &SqlStore,
    blobs: &BlobStore,
    column: &SealedColumn,
    rotation: &mut Rotation,
) -> Result<Counts> {
    let keyring = blobs.keyring();
    let mut counts = Counts::default();
    let mut after = None;
    loop {
        let page = store.sealed_page(column, after.as_ref(), PAGE).await?;
        let Some((last, _)) = page.last() else {
            return Ok(counts);
        };
        after = Some(last.clone());
        for (key, token) in page {
            match keyring.reseal(&token) {
                Ok(None) => counts.current += 1,
                Ok(Some(new)) => match store.replace_sealed(column, &key, &token, &new).await? {
                    true => counts.resealed += 1,
                    false => counts.changed += 1,
                },
                Err(err) => rotation.fail(format!(
                    "{}.{} of {}{}: {err}",
                    column.table,
                    column.column,
                    key.text,
                    key.number.map(|n| format!(" at {n}")).unwrap_or_default()
                )),
            }
        }
    }
}

async fn reseal_blobs(blobs: &BlobStore, rotation: &mut Rotation) -> Result<Counts> {
    let mut counts = Counts::default();
    // Listed first: the listing must not see the blobs this writes.
    let keys: Vec<String> = blobs
        .keys()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    for key in keys {
        match blobs.reseal(&key).await {
            Ok(Resealed::Resealed) => counts.resealed += 1,
            Ok(Resealed::AlreadyNewest) => counts.current += 1,
            Ok(Resealed::Gone) => counts.changed += 1,
            Err(err) => rotation.fail(format!("blob {key}: {err}")),
        }
    }
    Ok(counts)
}
