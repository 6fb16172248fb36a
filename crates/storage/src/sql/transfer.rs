//! Copying the embedded shape's database (SQLite) into PostgreSQL, for `terrace admin
//! migrate`: every table of [`TABLES`], parents before children, each value read the way the
//! server reads it (sqlx's decoding for the PostgreSQL column's type) and written in
//! PostgreSQL's native type, one transaction per table.
//!
//! The target keeps the migration's progress in two tables of its own, `terrace_migration`
//! (the source it comes from, whether it completed) and `terrace_migration_tables` (the
//! tables copied): a table's rows and the row saying it is copied commit together, so an
//! interrupted copy resumes where it stopped. Each table is summarised by a [`TableDigest`]
//! of its converted values, computed on both sides: a copy is checked against its source
//! before it commits, and a later run notices a source or a target that changed since.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgArguments, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::Row;

use super::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

/// Every table of the schema, each after the tables its foreign keys point at. The one list
/// the copy follows: a table of the source missing here stops a migration before it writes
/// anything, and a unit test holds it to both schemas.
pub const TABLES: &[&str] = &[
    "organizations",
    "users",
    "teams",
    "tokens",
    "projects",
    "workspaces",
    "tags",
    "workspace_tags",
    "state_versions",
    "state_version_outputs",
    "oauth_codes",
    "sessions",
    "configuration_versions",
    "variable_sets",
    "variable_set_workspaces",
    "variable_set_projects",
    "variables",
    "runs",
    "run_phases",
    "run_events",
    "log_chunks",
    "listeners",
    "agent_pools",
    "agent_pool_allowed_workspaces",
    "login_forms",
    "organization_memberships",
    "team_memberships",
    "team_workspaces",
    "team_projects",
    "audit_events",
    "sso_requests",
    "user_identities",
    "saml_assertions",
    "organization_sso_configurations",
    "tool_versions",
    "agent_pool_allowed_projects",
    "agent_pool_excluded_workspaces",
    "run_comments",
    "project_tag_bindings",
    "site_settings",
    "reserved_tag_keys",
    "data_retention_policies",
    "registry_modules",
    "registry_module_versions",
    "registry_gpg_keys",
    "registry_providers",
    "registry_provider_versions",
    "registry_provider_platforms",
    "provider_mirror_archives",
    "tool_archives",
    "run_triggers",
    "notification_configurations",
    "notification_outbox",
    "ssh_keys",
    "workspace_ssh_keys",
    "remote_state_consumers",
    "smtp_settings",
    "run_tasks",
    "workspace_run_tasks",
    "task_stages",
    "task_results",
];

/// sqlx's record of the migrations applied: each database has its own, never copied.
const SQLX_MIGRATIONS: &str = "_sqlx_migrations";
/// Tables of each database's own, never copied: sqlx's record of migrations, and what the
/// target's triggers keep as the copy writes (the count of credential changes, migration 0043;
/// the organizations' and the projects' workspace counts, migrations 0045 and 0048).
const OWN_TABLES: [&str; 4] = [
    SQLX_MIGRATIONS,
    "credential_epoch",
    "workspace_counts",
    "project_workspace_counts",
];
/// The migrator's own tables in the target.
const MARKER: &str = "terrace_migration";
const MARKER_TABLES: &str = "terrace_migration_tables";
/// Bind parameters of one INSERT stay under PostgreSQL's limit of 65535.
const MAX_PARAMETERS: usize = 30_000;
const MAX_BATCH_ROWS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The source or the target is not one a migration may use as it is.
    #[error("{0}")]
    Refused(String),
    #[error("{what}: {source}")]
    Database {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{what}: {source}")]
    Migration {
        what: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

pub type TransferResult<T> = Result<T, TransferError>;

/// Names what failed for a database error.
fn failed(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> TransferError {
    let what = what.into();
    move |source| TransferError::Database { what, source }
}

/// A table's contents as a number of rows and a SHA-256 over them that does not depend on
/// their order (the sorted hashes of the rows' converted values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    pub rows: u64,
    pub sha256: String,
}

impl TableDigest {
    fn of(mut row_hashes: Vec<[u8; 32]>) -> TableDigest {
        row_hashes.sort_unstable();
        let mut hasher = Sha256::new();
        for hash in &row_hashes {
            hasher.update(hash);
        }
        TableDigest {
            rows: row_hashes.len() as u64,
            sha256: hex(&hasher.finalize()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the target says of an earlier migration into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The source it copies, as [`Transfer::start`] was given it.
    pub source: String,
    pub completed: bool,
    /// The tables copied so far, with their digests.
    pub tables: BTreeMap<String, TableDigest>,
}

/// How a column's values are carried, from PostgreSQL's type for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    BigInt,
    Int,
    Bool,
    Timestamp,
    Bytes,
}

impl Kind {
    fn of_postgres(data_type: &str) -> Option<Kind> {
        Some(match data_type {
            "text" | "character varying" => Kind::Text,
            "bigint" => Kind::BigInt,
            "integer" => Kind::Int,
            "boolean" => Kind::Bool,
            "timestamp with time zone" => Kind::Timestamp,
            "bytea" => Kind::Bytes,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
}

/// One value, as both databases' rows are compared and written.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    Bytes(Vec<u8>),
}

impl Value {
    fn from_sqlite(row: &SqliteRow, index: usize, kind: Kind) -> sqlx::Result<Value> {
        Ok(match kind {
            Kind::Text => row.try_get::<Option<String>, _>(index)?.map(Value::Text),
            Kind::BigInt | Kind::Int => row.try_get::<Option<i64>, _>(index)?.map(Value::Int),
            Kind::Bool => row.try_get::<Option<bool>, _>(index)?.map(Value::Bool),
            // PostgreSQL keeps microseconds; SQLite's text may hold nanoseconds.
            Kind::Timestamp => row
                .try_get::<Option<DateTime<Utc>>, _>(index)?
                .map(|t| Value::Time(to_microseconds(t))),
            Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(index)?.map(Value::Bytes),
        }
        .unwrap_or(Value::Null))
    }

    fn from_postgres(row: &PgRow, index: usize, kind: Kind) -> sqlx::Result<Value> {
        Ok(match kind {
            Kind::Text => row.try_get::<Option<String>, _>(index)?.map(Value::Text),
            Kind::BigInt => row.try_get::<Option<i64>, _>(index)?.map(Value::Int),
            Kind::Int => row
                .try_get::<Option<i32>, _>(index)?
                .map(|n| Value::Int(n.into())),
            Kind::Bool => row.try_get::<Option<bool>, _>(index)?.map(Value::Bool),
            Kind::Timestamp => row
                .try_get::<Option<DateTime<Utc>>, _>(index)?
                .map(Value::Time),
            Kind::Bytes => row.try_get::<Option<Vec<u8>>, _>(index)?.map(Value::Bytes),
        }
        .unwrap_or(Value::Null))
    }

    /// Binds the value as the column's PostgreSQL type (a NULL too: it is typed). The value
    /// was read for that column, so its variant matches the column's kind.
    fn bind<'q>(
        self,
        query: Query<'q, Postgres, PgArguments>,
        column: &Column,
    ) -> TransferResult<Query<'q, Postgres, PgArguments>> {
        Ok(match (self, column.kind) {
            (Value::Null, Kind::Text) => query.bind(None::<String>),
            (Value::Null, Kind::BigInt) => query.bind(None::<i64>),
            (Value::Null, Kind::Int) => query.bind(None::<i32>),
            (Value::Null, Kind::Bool) => query.bind(None::<bool>),
            (Value::Null, Kind::Timestamp) => query.bind(None::<DateTime<Utc>>),
            (Value::Null, Kind::Bytes) => query.bind(None::<Vec<u8>>),
            (Value::Int(n), Kind::Int) => query.bind(i32::try_from(n).map_err(|_| {
                TransferError::Refused(format!(
                    "column {} holds {n}, too large for PostgreSQL's integer",
                    column.name
                ))
            })?),
            (Value::Int(n), _) => query.bind(n),
            (Value::Text(s), _) => query.bind(s),
            (Value::Bool(b), _) => query.bind(b),
            (Value::Time(t), _) => query.bind(t),
            (Value::Bytes(b), _) => query.bind(b),
        })
    }

    /// An unambiguous encoding of the value (a tag, then a length where the size varies).
    fn feed(&self, hasher: &mut Sha256) {
        match self {
            Value::Null => hasher.update(b"n"),
            Value::Text(s) => {
                hasher.update(b"t");
                hasher.update((s.len() as u64).to_be_bytes());
                hasher.update(s.as_bytes());
            }
            Value::Int(n) => {
                hasher.update(b"i");
                hasher.update(n.to_be_bytes());
            }
            Value::Bool(b) => hasher.update(if *b { b"b1" } else { b"b0" }),
            Value::Time(t) => {
                hasher.update(b"d");
                hasher.update(t.timestamp_micros().to_be_bytes());
            }
            Value::Bytes(b) => {
                hasher.update(b"x");
                hasher.update((b.len() as u64).to_be_bytes());
                hasher.update(b);
            }
        }
    }
}

fn to_microseconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn row_hash(values: &[Value]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for value in values {
        value.feed(&mut hasher);
    }
    hasher.finalize().into()
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| quoted(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A copy from one SQLite database (a snapshot, never the live file) into one PostgreSQL
/// database.
pub struct Transfer {
    source: SqlitePool,
    target: PgPool,
}

impl Transfer {
    /// Opens the SQLite database at `snapshot`, bringing it to this binary's schema (so source
    /// and target have the same tables), and connects to the PostgreSQL database at
    /// `target_url`, which is left as it is until [`Transfer::start`].
    pub async fn open(snapshot: &Path, target_url: &str) -> TransferResult<Transfer> {
        let options = SqliteConnectOptions::new()
            .filename(snapshot)
            .create_if_missing(false)
            .foreign_keys(true);
        let source = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(failed(format!("opening {}", snapshot.display())))?;
        SQLITE_MIGRATIONS
            .run(&source)
            .await
            .map_err(|source| TransferError::Migration {
                what: "bringing the source's snapshot to this version's schema".into(),
                source,
            })?;
        let target = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(std::time::Duration::from_secs(30))
            .connect(target_url)
            .await
            .map_err(failed("connecting to the target database"))?;
        Ok(Transfer { source, target })
    }

    /// Tables of the source that [`TABLES`] does not list: a migration must not leave them
    /// behind unnoticed.
    pub async fn unknown_source_tables(&self) -> TransferResult<Vec<String>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .fetch_all(&self.source)
        .await
        .map_err(failed("listing the source's tables"))?;
        Ok(names
            .into_iter()
            .filter(|name| !OWN_TABLES.contains(&name.as_str()) && !TABLES.contains(&name.as_str()))
            .collect())
    }

    /// The earlier migration the target records, if any.
    pub async fn marker(&self) -> TransferResult<Option<Marker>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(MARKER)
            .fetch_one(&self.target)
            .await
            .map_err(failed("looking for an earlier migration in the target"))?;
        if !exists {
            return Ok(None);
        }
        let row: Option<(String, Option<DateTime<Utc>>)> = sqlx::query_as(&format!(
            "SELECT source, completed_at FROM {MARKER} WHERE id = 1"
        ))
        .fetch_optional(&self.target)
        .await
        .map_err(failed("reading the target's migration record"))?;
        let Some((source, completed_at)) = row else {
            return Ok(None);
        };
        let tables: Vec<(String, i64, String)> = sqlx::query_as(&format!(
            "SELECT name, row_count, sha256 FROM {MARKER_TABLES}"
        ))
        .fetch_all(&self.target)
        .await
        .map_err(failed("reading the tables the target has copied"))?;
        Ok(Some(Marker {
            source,
            completed: completed_at.is_some(),
            tables: tables
                .into_iter()
                .map(|(name, rows, sha256)| {
                    (
                        name,
                        TableDigest {
                            rows: rows as u64,
                            sha256,
                        },
                    )
                })
                .collect(),
        }))
    }

    /// What the target database holds that a migration did not write: tables with rows, and
    /// tables that are not Terrace's. Empty for a new database, or one with only the schema.
    pub async fn target_contents(&self) -> TransferResult<Vec<String>> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY table_name",
        )
        .fetch_all(&self.target)
        .await
        .map_err(failed("listing the target's tables"))?;
        let mut found = Vec::new();
        for table in tables {
            if OWN_TABLES.contains(&table.as_str()) {
                continue;
            }
            if !TABLES.contains(&table.as_str()) {
                found.push(format!("table {table}, not one of Terrace's"));
                continue;
            }
            let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quoted(&table)))
                .fetch_one(&self.target)
                .await
                .map_err(failed(format!("counting the target's {table}")))?;
            if rows > 0 {
                found.push(format!("{table}: {rows} rows"));
            }
        }
        Ok(found)
    }

    /// Creates the schema (PostgreSQL's migrations) and records that the target now receives
    /// `source`. Run once, on a target with nothing in it; a crash before the record commits
    /// leaves an empty schema, which the next run takes as a new target.
    pub async fn start(&self, source: &str) -> TransferResult<()> {
        POSTGRES_MIGRATIONS
            .run(&self.target)
            .await
            .map_err(|source| TransferError::Migration {
                what: "creating the schema in the target database".into(),
                source,
            })?;
        let mut tx = self
            .target
            .begin()
            .await
            .map_err(failed("starting the migration record"))?;
        for statement in [
            format!(
                "CREATE TABLE IF NOT EXISTS {MARKER} (id INTEGER PRIMARY KEY CHECK (id = 1), \
                 source TEXT NOT NULL, started_at TIMESTAMPTZ NOT NULL, completed_at TIMESTAMPTZ)"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {MARKER_TABLES} (name TEXT PRIMARY KEY, \
                 row_count BIGINT NOT NULL, sha256 TEXT NOT NULL, copied_at TIMESTAMPTZ NOT NULL)"
            ),
        ] {
            sqlx::query(&statement)
                .execute(&mut *tx)
                .await
                .map_err(failed("creating the migration record"))?;
        }
        sqlx::query(&format!(
            "INSERT INTO {MARKER} (id, source, started_at) VALUES (1, $1, $2)"
        ))
        .bind(source)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await
        .map_err(failed("writing the migration record"))?;
        tx.commit()
            .await
            .map_err(failed("writing the migration record"))
    }

    /// Records that every table and blob is in the target.
    pub async fn complete(&self) -> TransferResult<()> {
        sqlx::query(&format!(
            "UPDATE {MARKER} SET completed_at = $1 WHERE id = 1"
        ))
        .bind(Utc::now())
        .execute(&self.target)
        .await
        .map_err(failed("recording the migration as complete"))?;
        Ok(())
    }

    /// The columns of `table`, typed from the target, which must have the same names as the
    /// source's. Columns the target computes itself (generated) are not copied: SQLite's
    /// `table_info` does not list its own either.
    async fn columns(&self, table: &str) -> TransferResult<Vec<Column>> {
        let target: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 \
             AND is_generated = 'NEVER' ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&self.target)
        .await
        .map_err(failed(format!("reading the target's columns of {table}")))?;
        let mut source: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
            .bind(table)
            .fetch_all(&self.source)
            .await
            .map_err(failed(format!("reading the source's columns of {table}")))?;
        let mut names: Vec<String> = target.iter().map(|(name, _)| name.clone()).collect();
        source.sort();
        names.sort();
        if source != names {
            return Err(TransferError::Refused(format!(
                "table {table} has columns {source:?} in the source but {names:?} in the \
                 target: the two schemas differ"
            )));
        }
        target
            .into_iter()
            .map(|(name, data_type)| match Kind::of_postgres(&data_type) {
                Some(kind) => Ok(Column { name, kind }),
                None => Err(TransferError::Refused(format!(
                    "column {table}.{name} is a {data_type} in PostgreSQL, a type the \
                     migration does not convert"
                ))),
            })
            .collect()
    }

    /// The source's `table`, summarised.
    pub async fn source_digest(&self, table: &str) -> TransferResult<TableDigest> {
        let columns = self.columns(table).await?;
        let select = format!("SELECT {} FROM {}", column_list(&columns), quoted(table));
        let mut rows = sqlx::query(&select).fetch(&self.source);
        let mut hashes = Vec::new();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(failed(format!("reading the source's {table}")))?
        {
            hashes.push(row_hash(&source_values(&row, &columns, table)?));
        }
        Ok(TableDigest::of(hashes))
    }

    /// The target's `table`, summarised.
    pub async fn target_digest(&self, table: &str) -> TransferResult<TableDigest> {
        let columns = self.columns(table).await?;
        let mut connection = self
            .target
            .acquire()
            .await
            .map_err(failed("connecting to the target database"))?;
        target_digest(&mut connection, table, &columns).await
    }

    /// Copies the source's `table` into the target's, which must be empty, in one
    /// transaction that also records the table as copied, once the copy's digest is the
    /// source's. Returns that digest.
    pub async fn copy_table(&self, table: &str) -> TransferResult<TableDigest> {
        let columns = self.columns(table).await?;
        let mut tx = self
            .target
            .begin()
            .await
            .map_err(failed(format!("starting the copy of {table}")))?;
        let occupied: bool =
            sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {})", quoted(table)))
                .fetch_one(&mut *tx)
                .await
                .map_err(failed(format!("reading the target's {table}")))?;
        if occupied {
            return Err(TransferError::Refused(format!(
                "the target's {table} has rows this migration did not write (was a server \
                 started on the target?): migrate into a new, empty database"
            )));
        }
        let select = format!("SELECT {} FROM {}", column_list(&columns), quoted(table));
        let mut rows = sqlx::query(&select).fetch(&self.source);
        let batch_rows = (MAX_PARAMETERS / columns.len().max(1)).clamp(1, MAX_BATCH_ROWS);
        let mut batch = Vec::with_capacity(batch_rows);
        let mut hashes = Vec::new();
        while let Some(row) = rows
            .try_next()
            .await
            .map_err(failed(format!("reading the source's {table}")))?
        {
            let values = source_values(&row, &columns, table)?;
            hashes.push(row_hash(&values));
            batch.push(values);
            if batch.len() == batch_rows {
                insert_rows(&mut tx, table, &columns, std::mem::take(&mut batch)).await?;
            }
        }
        insert_rows(&mut tx, table, &columns, batch).await?;
        let source = TableDigest::of(hashes);
        let copied = target_digest(&mut tx, table, &columns).await?;
        if copied != source {
            return Err(TransferError::Refused(format!(
                "the copy of {table} reads back differently from the source ({} rows, SHA-256 \
                 {}; the source has {} rows, {}): nothing of it was kept",
                copied.rows, copied.sha256, source.rows, source.sha256
            )));
        }
        sqlx::query(&format!(
            "INSERT INTO {MARKER_TABLES} (name, row_count, sha256, copied_at) VALUES ($1, $2, $3, $4)"
        ))
        .bind(table)
        .bind(source.rows as i64)
        .bind(&source.sha256)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await
        .map_err(failed(format!("recording {table} as copied")))?;
        tx.commit()
            .await
            .map_err(failed(format!("committing the copy of {table}")))?;
        Ok(source)
    }

    /// Moves every sequence behind a column (serial or identity) past the largest value
    /// copied, so the next row the server inserts does not collide. Returns the columns.
    pub async fn adjust_sequences(&self) -> TransferResult<Vec<String>> {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() \
             AND (is_identity = 'YES' OR column_default LIKE 'nextval(%') \
             AND table_name NOT IN ($1, $2)",
        )
        .bind(MARKER)
        .bind(MARKER_TABLES)
        .fetch_all(&self.target)
        .await
        .map_err(failed("listing the target's sequences"))?;
        let mut adjusted = Vec::new();
        for (table, column) in columns {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), \
                 COALESCE((SELECT max({}) FROM {}), 0) + 1, false)",
                quoted(&column),
                quoted(&table)
            ))
            .bind(quoted(&table))
            .bind(&column)
            .execute(&self.target)
            .await
            .map_err(failed(format!(
                "adjusting the sequence of {table}.{column}"
            )))?;
            adjusted.push(format!("{table}.{column}"));
        }
        Ok(adjusted)
    }

    pub async fn close(&self) {
        self.source.close().await;
        self.target.close().await;
    }
}

fn source_values(row: &SqliteRow, columns: &[Column], table: &str) -> TransferResult<Vec<Value>> {
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            Value::from_sqlite(row, index, column.kind).map_err(failed(format!(
                "reading {table}.{} from the source as {:?}",
                column.name, column.kind
            )))
        })
        .collect()
}

async fn target_digest(
    connection: &mut sqlx::PgConnection,
    table: &str,
    columns: &[Column],
) -> TransferResult<TableDigest> {
    let select = format!("SELECT {} FROM {}", column_list(columns), quoted(table));
    let mut rows = sqlx::query(&select).fetch(&mut *connection);
    let mut hashes = Vec::new();
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(failed(format!("reading the target's {table}")))?
    {
        let values = columns
            .iter()
            .enumerate()
            .map(|(index, column)| Value::from_postgres(&row, index, column.kind))
            .collect::<sqlx::Result<Vec<_>>>()
            .map_err(failed(format!("reading the target's {table}")))?;
        hashes.push(row_hash(&values));
    }
    Ok(TableDigest::of(hashes))
}

/// One multi-row INSERT of `rows`.
async fn insert_rows(
    connection: &mut sqlx::PgConnection,
    table: &str,
    columns: &[Column],
    rows: Vec<Vec<Value>>,
) -> TransferResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let width = columns.len();
    let tuples: Vec<String> = (0..rows.len())
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let statement = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quoted(table),
        column_list(columns),
        tuples.join(", ")
    );
    let mut query = sqlx::query(&statement);
    for row in rows {
        for (value, column) in row.into_iter().zip(columns) {
            query = value.bind(query, column)?;
        }
    }
    query
        .execute(&mut *connection)
        .await
        .map_err(failed(format!("writing rows of {table} into the target")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables a schema's migrations leave, read from its migration files.
    fn tables_created_by(dir: &str) -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../migrations")
            .join(dir);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut tables = Vec::new();
        for file in files {
            let sql = std::fs::read_to_string(&file).unwrap();
            for line in sql.lines().map(str::trim) {
                let name = |rest: &str| {
                    rest.trim_start_matches("IF NOT EXISTS ")
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap()
                        .to_string()
                };
                if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                    tables.push(name(rest));
                } else if let Some(rest) = line.strip_prefix("DROP TABLE ") {
                    let dropped = name(rest);
                    tables.retain(|t| *t != dropped);
                }
            }
        }
        tables.retain(|t| !OWN_TABLES.contains(&t.as_str()));
        tables.sort();
        tables
    }

    fn listed() -> Vec<String> {
        let mut listed: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        listed.sort();
        listed
    }

    #[test]
    fn the_migrator_lists_every_table_of_both_schemas() {
        assert_eq!(listed(), tables_created_by("sqlite"), "SQLite's schema");
        assert_eq!(
            listed(),
            tables_created_by("postgres"),
            "PostgreSQL's schema"
        );
        let mut unique = listed();
        unique.dedup();
        assert_eq!(unique.len(), TABLES.len(), "a table is listed twice");
    }

    /// The real SQLite schema: every table is listed, after every table it references.
    #[tokio::test]
    async fn the_tables_come_after_the_tables_they_reference() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schema.db");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        SQLITE_MIGRATIONS.run(&pool).await.unwrap();
        let mut actual: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        actual.retain(|t| !OWN_TABLES.contains(&t.as_str()));
        actual.sort();
        assert_eq!(listed(), actual);
        let references: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.name, f.\"table\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let position = |t: &str| TABLES.iter().position(|l| *l == t).unwrap();
        // Tables of the database's own are not copied (their triggers fill them in the target).
        let copied = references
            .into_iter()
            .filter(|(table, _)| !OWN_TABLES.contains(&table.as_str()));
        for (table, parent) in copied {
            assert!(
                position(&parent) < position(&table),
                "{table} references {parent}, listed after it"
            );
        }
    }

    #[test]
    fn a_digest_depends_on_the_rows_not_their_order() {
        let a = row_hash(&[Value::Text("a".into()), Value::Int(1)]);
        let b = row_hash(&[Value::Text("a".into()), Value::Null]);
        assert_eq!(TableDigest::of(vec![a, b]), TableDigest::of(vec![b, a]));
        assert_ne!(TableDigest::of(vec![a, b]), TableDigest::of(vec![a, a]));
        // The encoding keeps values apart: "ab","c" is not "a","bc"; NULL is not "".
        assert_ne!(
            row_hash(&[Value::Text("ab".into()), Value::Text("c".into())]),
            row_hash(&[Value::Text("a".into()), Value::Text("bc".into())])
        );
        assert_ne!(
            row_hash(&[Value::Null]),
            row_hash(&[Value::Text(String::new())])
        );
    }

    #[test]
    fn timestamps_keep_the_microseconds_postgresql_keeps() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            to_microseconds(t).to_rfc3339(),
            "2026-01-02T03:04:05.123456+00:00"
        );
    }
}
