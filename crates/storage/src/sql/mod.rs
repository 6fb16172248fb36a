//! The store on SQLite (embedded shape) or PostgreSQL (production shape).
//!
//! Both databases run the same SQL: statements use `$N` placeholders, which both accept, and
//! only portable constructs (`RETURNING`, `ON CONFLICT`, `lower(..) LIKE`). Each query is
//! written once inside [`on_pool!`], which expands it for whichever pool the store holds, so
//! the code is checked against both drivers without generic bounds. Each database keeps its
//! own migrations (`migrations/sqlite`, `migrations/postgres`) with native column types.

mod access;
mod agent_pools;
mod audit;
mod configurations;
mod data_retention;
mod jobs;
mod login;
mod memberships;
mod notification_configurations;
mod notifications;
pub use notifications::Notifications;
mod organizations;
mod page_marks;
mod pagination;
pub use pagination::{QueryPlan, QueryPlans};
mod projects;
mod provider_mirror;
mod providers;
mod registry_modules;
mod remote_state_consumers;
mod rows;
mod run_tasks;
mod run_triggers;
mod runs;
pub mod sealed;
mod site_admin;
mod ssh_keys;
mod sso;
mod state_versions;
mod tags;
mod task_stages;
mod teams;
mod tokens;
mod tool_archives;
mod tool_versions;
pub mod transfer;
mod users;
mod variables;
mod workspaces;

use std::str::FromStr;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Executor as _;

use crate::{store::Store, StorageError, StorageResult};

/// Runs `$body` with `$p` bound to the concrete pool the store holds.
macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::sql::DbPool::Sqlite($p) => $body,
            $crate::sql::DbPool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

#[derive(Clone, Debug)]
pub enum DbPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> StorageResult<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(StorageError::Config(format!(
                "database URL must start with sqlite: or postgres:// (got {})",
                redact_url(url)
            )))
        }
    }
}

/// Writes a consistent copy of the SQLite database at `url` to `into` (which must not
/// exist), while other connections go on reading and writing (`VACUUM INTO`).
pub async fn snapshot_sqlite(url: &str, into: &std::path::Path) -> StorageResult<()> {
    use sqlx::Connection;
    if Backend::of_url(url)? != Backend::Sqlite {
        return Err(StorageError::Config(
            "only a SQLite database can be snapshotted".into(),
        ));
    }
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30));
    let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::query("VACUUM INTO ?1")
        .bind(into.display().to_string())
        .execute(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

/// The URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) pool: DbPool,
    /// Where the plans of list statements go, when a test asks (see [`SqlStore::record_query_plans`]).
    pub(crate) plans: Option<QueryPlans>,
    /// Marks in long workspace lists that deep pages start from (see [`page_marks`]).
    pub(crate) page_marks: std::sync::Arc<page_marks::PageMarks>,
}

/// Pooled connections idle this long are pinged before use: a restarted database or a dropped
/// TCP connection shows there. Busier ones are used as they are: sqlx's default, a ping at
/// every acquire, costs a round trip (on SQLite, a hand-off to the connection's thread) as
/// dear as the statement itself. A busy connection found broken fails its statement, and the
/// ping sqlx makes whenever a connection returns to the pool then closes it.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for >= PING_AFTER_IDLE {
        conn.ping().await?;
    }
    Ok(true)
}

/// Whether a connection going back to the pool is out of any transaction; one still in a
/// transaction is closed instead (which rolls it back). sqlx's SQLite driver counts a custom
/// `BEGIN` (ours: `BEGIN IMMEDIATE`) before it checks that it took effect, so a request
/// dropped in between (its client went away) left the connection in the transaction, holding
/// the write lock, with nothing to end it: every other write then waited for `busy_timeout`
/// and failed. A transaction dropped the ordinary way has its rollback queued on the
/// connection: the ping lets it run first.
async fn close_if_in_transaction<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}

/// PostgreSQL planner settings for the server's sessions (`SET` statements run as each
/// connection opens; a startup parameter would be refused by connection poolers), unless the
/// database URL sets them (`?options=-c random_page_cost=4`). Every statement of the server
/// reads a page or a few rows through indexes over data that stays in memory, so
/// - an index probe costs about what a sequential page read does (`random_page_cost` 1.1, the
///   usual setting for SSDs, rather than 4.0, which assumes spinning disks): at 4.0 a tag's
///   2,000 workspaces were counted by scanning all 100,000 of its organization (20 ms, not 5);
/// - a statement runs in one process: parallel workers, each started for one statement, took
///   a 7 ms page walk to 17-24 ms on two cores.
fn planner_settings(url: &str) -> String {
    const SETTINGS: [(&str, &str); 2] = [
        ("random_page_cost", "1.1"),
        ("max_parallel_workers_per_gather", "0"),
    ];
    SETTINGS
        .iter()
        .filter(|(name, _)| !url.contains(name))
        .map(|(name, value)| format!("SET {name} = {value};"))
        .collect::<Vec<_>>()
        .join(" ")
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

impl SqlStore {
    /// Connects to `url` (`sqlite:PATH` or `postgres://...`) and applies pending migrations.
    pub async fn connect(url: &str) -> StorageResult<SqlStore> {
        let pool = match Backend::of_url(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(30))
                    // 512 KiB of pages per connection rather than SQLite's 2 MiB: the
                    // operating system caches the file too, and eight connections' caches
                    // were the largest part of the server's memory (a quarter less at the
                    // API benchmark's peak, lists no slower; docs/benchmarks.md, tenth round).
                    .pragma("cache_size", "-512")
                    // Pages read through a mapping of the file rather than copied by `pread`
                    // into that cache, which took a tenth of the server's CPU on a list's page
                    // (lists 8-28% cheaper; docs/benchmarks.md, fourteenth round). The pages
                    // are the kernel's page cache either way, but each connection maps them,
                    // so the process's RSS counts them once per connection. The first 128 MiB
                    // of the file, as Rails maps by default.
                    .pragma("mmap_size", "134217728")
                    // sqlx's SQLite worker thread hands rows over a channel of 50: a page of
                    // 100 made it block and be woken halfway through every page.
                    .row_buffer_size(256);
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                    .after_release(|conn, _| Box::pin(close_if_in_transaction(conn)))
                    .connect_with(options)
                    .await?;
                SQLITE_MIGRATIONS.run(&pool).await?;
                DbPool::Sqlite(pool)
            }
            Backend::Postgres => {
                let settings = planner_settings(url);
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| Box::pin(ping_if_idle(conn, meta)))
                    .after_release(|conn, _| Box::pin(close_if_in_transaction(conn)))
                    .after_connect(move |conn, _| {
                        let settings = settings.clone();
                        Box::pin(async move {
                            if !settings.is_empty() {
                                conn.execute(settings.as_str()).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?;
                // Replicas starting together serialise on the migrator's advisory lock.
                POSTGRES_MIGRATIONS.run(&pool).await?;
                DbPool::Postgres(pool)
            }
        };
        Ok(SqlStore {
            pool,
            plans: None,
            page_marks: Default::default(),
        })
    }

    /// From now on, every list statement (a page and its count) is first `EXPLAIN`ed and its
    /// plan kept in the returned log: tests read it to prove each list uses its indexes.
    pub fn record_query_plans(&mut self) -> QueryPlans {
        let plans = QueryPlans::default();
        self.plans = Some(plans.clone());
        plans
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            DbPool::Sqlite(_) => Backend::Sqlite,
            DbPool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        on_pool!(&self.pool, |p| p.close().await)
    }
}

/// Starts a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes can fail with
/// "database is locked" when another writer got in between, and busy_timeout cannot help it.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(&self) -> BoxFuture<'_, sqlx::Result<sqlx::Transaction<'static, Self::Db>>>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(&self) -> BoxFuture<'_, sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>>> {
        Box::pin(self.begin_with("BEGIN IMMEDIATE"))
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> BoxFuture<'_, sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>>> {
        Box::pin(self.begin())
    }
}

/// SQL's word for an order.
pub(crate) fn direction(descending: bool) -> &'static str {
    if descending {
        "DESC"
    } else {
        "ASC"
    }
}

/// `%text%` for a case-insensitive substring match with `lower(col) LIKE`, with the LIKE
/// wildcards in `text` escaped (queries add `ESCAPE '\'`).
pub(crate) fn contains_pattern(text: &str) -> String {
    format!("%{}%", escape_like(&text.to_lowercase()))
}

pub(crate) fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Keys bound in one `IN (...)` list at most: well under either database's limit on a
/// statement's parameters (SQLite 32,766, PostgreSQL 65,535); longer lists go in chunks.
pub(crate) const KEYS_PER_STATEMENT: usize = 500;

/// `(a, b, ...)` with each ID bound, for `IN`; `(NULL)`, which matches nothing, when empty.
pub(crate) fn push_in_list<'a, DB>(qb: &mut sqlx::QueryBuilder<'a, DB>, ids: &[String])
where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if ids.is_empty() {
        qb.push("(NULL)");
        return;
    }
    qb.push("(");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id.clone());
    }
    list.push_unseparated(")");
}

/// ` AND (workspace visible to one of the teams)` for a query over `w` (workspaces): granted
/// directly or through the workspace's project.
pub(crate) fn push_visible_workspaces<'a, DB>(
    qb: &mut sqlx::QueryBuilder<'a, DB>,
    team_ids: &[String],
) where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" AND (w.id IN (SELECT workspace_id FROM team_workspaces WHERE team_id IN ");
    push_in_list(qb, team_ids);
    qb.push(") OR w.project_id IN (SELECT project_id FROM team_projects WHERE team_id IN ");
    push_in_list(qb, team_ids);
    qb.push("))");
}

pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store for SqlStore {
    fn ping(&self) -> BoxFuture<'_, StorageResult<()>> {
        Box::pin(async move {
            on_pool!(&self.pool, |p| sqlx::query("SELECT 1")
                .execute(p)
                .await
                .map(|r| r.rows_affected()))?;
            Ok(())
        })
    }
}
