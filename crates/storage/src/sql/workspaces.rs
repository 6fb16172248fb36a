use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::page_marks::{Key, Marks, MARKED_FROM, STRIDE};
use super::pagination::{fetch_page, record_plan, Listing, Walk};
use super::rows::from_row_by_position;
use super::tags::upsert_workspace_tags;
use super::{
    contains_pattern, direction, escape_like, on_pool, push_in_list, push_visible_workspaces,
    Backend, BeginWrite, DbPool, SqlStore, KEYS_PER_STATEMENT,
};
use crate::model::{LockHolder, Page, PageRequest, TagBinding, Workspace};
use crate::store::{RelatedIds, WorkspaceFilter, WorkspaceOrder, WorkspaceStore};
use crate::{StorageError, StorageResult};

/// Settings columns: written by create and update alike, in this order.
const SETTINGS: [&str; 25] = [
    "project_id",
    "name",
    "description",
    "execution_mode",
    "agent_pool_id",
    "auto_apply",
    "allow_destroy_plan",
    "file_triggers_enabled",
    "global_remote_state",
    "project_remote_state",
    "queue_all_runs",
    "speculative_enabled",
    "structured_run_output_enabled",
    "assessments_enabled",
    "source_name",
    "source_url",
    "terraform_version",
    "engine",
    "trigger_prefixes",
    "trigger_patterns",
    "working_directory",
    "auto_destroy_at",
    "auto_destroy_activity_duration",
    "inherits_project_auto_destroy",
    "auto_apply_run_trigger",
];

/// Binds the [`SETTINGS`] columns of `$ws`, in order.
macro_rules! bind_settings {
    ($query:expr, $ws:expr) => {
        $query
            .bind(&$ws.project_id)
            .bind(&$ws.name)
            .bind(&$ws.description)
            .bind($ws.execution_mode)
            .bind(&$ws.agent_pool_id)
            .bind($ws.auto_apply)
            .bind($ws.allow_destroy_plan)
            .bind($ws.file_triggers_enabled)
            .bind($ws.global_remote_state)
            .bind($ws.project_remote_state)
            .bind($ws.queue_all_runs)
            .bind($ws.speculative_enabled)
            .bind($ws.structured_run_output_enabled)
            .bind($ws.assessments_enabled)
            .bind(&$ws.source_name)
            .bind(&$ws.source_url)
            .bind(&$ws.terraform_version)
            .bind($ws.engine)
            .bind(&$ws.trigger_prefixes)
            .bind(&$ws.trigger_patterns)
            .bind(&$ws.working_directory)
            .bind($ws.auto_destroy_at)
            .bind(&$ws.auto_destroy_activity_duration)
            .bind($ws.inherits_project_auto_destroy)
            .bind($ws.auto_apply_run_trigger)
    };
}

/// Workspace rows, in [`Workspace`]'s field order (it is read by position), with the resource
/// count and time of their current state and their project's auto-destroy duration.
pub(super) const SELECT: &str = "SELECT w.id, w.organization_id, w.project_id, w.name, w.description, \
    w.execution_mode, w.agent_pool_id, w.auto_apply, w.allow_destroy_plan, \
    w.file_triggers_enabled, w.global_remote_state, w.project_remote_state, w.queue_all_runs, w.speculative_enabled, \
    w.structured_run_output_enabled, w.assessments_enabled, w.source_name, w.source_url, \
    w.terraform_version, w.engine, w.trigger_prefixes, w.trigger_patterns, w.working_directory, \
    w.auto_destroy_at, w.auto_destroy_activity_duration, w.inherits_project_auto_destroy, \
    w.auto_destroy_queued_at, \
    (SELECT p.auto_destroy_activity_duration FROM projects p WHERE p.id = w.project_id) \
    AS project_auto_destroy_activity_duration, sv.created_at AS state_updated_at, \
    w.auto_apply_run_trigger, w.lock_kind, w.lock_holder_id, w.lock_reason, w.locked_at, \
    w.current_state_version_id, w.current_run_id, w.latest_run_id, COALESCE(sv.resource_count, 0) AS resource_count, \
    w.runs_count, \
    (SELECT k.ssh_key_id FROM workspace_ssh_keys k WHERE k.workspace_id = w.id) AS ssh_key_id, \
    EXISTS (SELECT 1 FROM data_retention_policies r WHERE r.owner_id = w.id) AS has_retention_policy, \
    w.created_at, w.updated_at";
from_row_by_position!(Workspace {
    id,
    organization_id,
    project_id,
    name,
    description,
    execution_mode,
    agent_pool_id,
    auto_apply,
    allow_destroy_plan,
    file_triggers_enabled,
    global_remote_state,
    project_remote_state,
    queue_all_runs,
    speculative_enabled,
    structured_run_output_enabled,
    assessments_enabled,
    source_name,
    source_url,
    terraform_version,
    engine,
    trigger_prefixes,
    trigger_patterns,
    working_directory,
    auto_destroy_at,
    auto_destroy_activity_duration,
    inherits_project_auto_destroy,
    auto_destroy_queued_at,
    project_auto_destroy_activity_duration,
    state_updated_at,
    auto_apply_run_trigger,
    lock_kind,
    lock_holder_id,
    lock_reason,
    locked_at,
    current_state_version_id,
    current_run_id,
    latest_run_id,
    resource_count,
    runs_count,
    ssh_key_id,
    has_retention_policy,
    created_at,
    updated_at,
});
/// The joins [`SELECT`] needs beyond `workspaces w`.
macro_rules! joins {
    () => {
        " LEFT JOIN state_versions sv ON sv.id = w.current_state_version_id"
    };
}
pub(super) const JOINS: &str = joins!();
pub(super) const FROM: &str = concat!(" FROM workspaces w", joins!());

/// ` <workspace w's lower-cased name> LIKE pattern`, as every name search of workspaces tests
/// it (`pattern` lower-cased, a backslash its escape). PostgreSQL keeps the lower-cased name
/// in the row and its indexes (migration 0050): `lower()` of each candidate cost more than the
/// search's index reads. SQLite's `LIKE` itself ignores the case of ASCII letters, the only
/// ones its `lower()` folds, so the name is tested as it is: `lower()` of each name was half
/// the cost of counting a search (docs/benchmarks.md, fourteenth round).
pub(super) fn push_name_like<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    backend: Backend,
    pattern: String,
) where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(match backend {
        Backend::Postgres => " w.name_lower LIKE ",
        Backend::Sqlite => " w.name LIKE ",
    })
    .push_bind(pattern)
    .push(" ESCAPE '\\'");
}

/// How a tag condition is tested, in the statement that counts a list and in the one that
/// walks to its page.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TagTest {
    /// As a join the database may drive from the tag: counting costs what the tagged
    /// workspaces do.
    Joined,
    /// Against a hash of the tagged workspaces, built once, while the organization's list is
    /// walked in order. PostgreSQL's planner, left to itself, turns the `IN` into a join and,
    /// under a `LIMIT`, probes the tag's index once per workspace walked (thousands of probes
    /// for a page of a tag on 2% of 100,000 workspaces; 300 ms for a rare tag). A sub-query
    /// under `OR` is not turned into a join, so `OR FALSE` keeps it a hashed test.
    Hashed,
}

/// ` w.id IN (the workspaces of organization `org_id` tagged `key`[=`value`])`: the tag found
/// by its unique name, then its workspaces by the tag's index, so that the set costs what
/// the tagged workspaces do, not all of the organization's.
fn push_tagged<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    org_id: &str,
    key: &str,
    value: Option<&str>,
    test: TagTest,
) where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push(" (w.id IN (SELECT wt.workspace_id FROM workspace_tags wt WHERE ");
    push_tag_rows(qb, org_id, key, value);
    qb.push(")");
    if test == TagTest::Hashed {
        qb.push(" OR FALSE");
    }
    qb.push(")");
}

/// The condition on `workspace_tags wt` of the rows of tag `key`[=`value`] of organization
/// `org_id`: the tag found by its unique name, then its rows by the tag's index.
fn push_tag_rows<'a, DB>(
    qb: &mut QueryBuilder<'a, DB>,
    org_id: &str,
    key: &str,
    value: Option<&str>,
) where
    DB: sqlx::Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    qb.push("wt.tag_id = (SELECT t.id FROM tags t WHERE t.organization_id = ")
        .push_bind(org_id.to_string())
        .push(" AND t.name = ")
        .push_bind(key.to_string())
        .push(")");
    if let Some(value) = value {
        qb.push(" AND wt.value = ").push_bind(value.to_string());
    }
}

/// The statement reading the marks of organization `org_id`'s list on PostgreSQL (see
/// `page_marks.rs`): the key of every [`STRIDE`]-th workspace in the default order, each found
/// by walking [`STRIDE`] index entries from the one before, with the list's generation in the
/// same snapshot.
fn push_marks_statement(qb: &mut QueryBuilder<'_, sqlx::Postgres>, org_id: &str) {
    // One walk of STRIDE entries from after `after` (a key in `m`, or none: the list's start).
    let walk = |qb: &mut QueryBuilder<'_, sqlx::Postgres>, after: &str| {
        qb.push("(SELECT w.created_at, w.id FROM workspaces w WHERE w.organization_id = ")
            .push_bind(org_id.to_string())
            .push(after)
            .push(format!(
                " ORDER BY w.created_at, w.id LIMIT 1 OFFSET {})",
                STRIDE - 1
            ));
    };
    qb.push("WITH RECURSIVE marks (created_at, id) AS (");
    walk(qb, "");
    qb.push(" UNION ALL SELECT next.created_at, next.id FROM marks m CROSS JOIN LATERAL ");
    walk(qb, " AND (w.created_at, w.id) > (m.created_at, m.id)");
    qb.push(
        " next) SELECT created_at, id, (SELECT CAST(COALESCE(SUM(changes), 0) AS BIGINT) \
         FROM workspace_counts WHERE organization_id = ",
    )
    .push_bind(org_id.to_string())
    .push(") FROM marks");
}

impl SqlStore {
    /// The mark of organization `org_id`'s list at `generation` that a page starting at row
    /// `offset` is read after, with the rows up to it (see `page_marks.rs`): from the marks
    /// kept, or read now if none are kept for this generation.
    async fn mark_before(
        &self,
        p: &sqlx::PgPool,
        org_id: &str,
        generation: i64,
        offset: u64,
    ) -> StorageResult<Option<(Key, u64)>> {
        let marks = match self.page_marks.current(org_id, generation) {
            Some(marks) => marks,
            None => {
                let read = |prefix: &str| {
                    let mut qb = QueryBuilder::new(prefix);
                    push_marks_statement(&mut qb, org_id);
                    qb
                };
                record_plan!(self, p, read);
                let rows: Vec<(DateTime<Utc>, String, i64)> =
                    read("").build_query_as().fetch_all(p).await?;
                let Some(read_at) = rows.first().map(|row| row.2) else {
                    return Ok(None);
                };
                let marks = Marks {
                    generation: read_at,
                    keys: Arc::new(rows.into_iter().map(|(at, id, _)| (at, id)).collect()),
                };
                self.page_marks.keep(org_id, marks.clone());
                if read_at != generation {
                    // The list changed since it was counted: not this page's marks.
                    return Ok(None);
                }
                marks
            }
        };
        Ok(marks.before(offset).map(|(key, rows)| (key.clone(), rows)))
    }
}

#[async_trait]
impl WorkspaceStore for SqlStore {
    async fn create_workspace(&self, ws: &Workspace, tags: &[TagBinding]) -> StorageResult<()> {
        let columns = SETTINGS.join(", ");
        let placeholders: Vec<String> = (5..5 + SETTINGS.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "INSERT INTO workspaces (id, organization_id, created_at, updated_at, {columns}) \
             VALUES ($1, $2, $3, $4, {})",
            placeholders.join(", ")
        );
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let query = sqlx::query(&sql)
                .bind(&ws.id)
                .bind(&ws.organization_id)
                .bind(ws.created_at)
                .bind(ws.updated_at);
            bind_settings!(query, ws)
                .execute(&mut *tx)
                .await
                .map_err(|e| StorageError::from_write(e, "workspace name"))?;
            upsert_workspace_tags!(&mut tx, &ws.organization_id, &ws.id, tags, new);
            tx.commit().await?;
            Ok(())
        })
    }

    async fn workspace_by_id(&self, id: &str) -> StorageResult<Option<Workspace>> {
        let sql = format!("{SELECT}{FROM} WHERE w.id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn workspace_by_name(
        &self,
        org_id: &str,
        name: &str,
    ) -> StorageResult<Option<Workspace>> {
        let sql = format!("{SELECT}{FROM} WHERE w.organization_id = $1 AND w.name = $2");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(name)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_workspaces(
        &self,
        org_id: &str,
        filter: &WorkspaceFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>> {
        let backend = self.backend();
        let sqlite = backend == Backend::Sqlite;
        // PostgreSQL walks to a page of a tag with the hashed test (see [`TagTest`]). SQLite,
        // which has no statistics (nothing runs `ANALYZE`), would walk the organization's
        // index and probe the tag's workspaces for each (10,000 probes to count a tag on 200
        // of 10,000); a unary `+` keeps that index out of the plan (SQLite's way to
        // disqualify a term), so the tag's workspaces drive both statements, then are sorted.
        let page_tag_test = if sqlite {
            TagTest::Joined
        } else {
            TagTest::Hashed
        };
        let tag_drives = sqlite && !(filter.tags.is_empty() && filter.tagged.is_empty());
        let organization = if tag_drives {
            "+w.organization_id = "
        } else {
            "w.organization_id = "
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>, tag_test: TagTest| {
                qb.push(organization).push_bind(org_id.to_string());
                if let Some(text) = &filter.name_contains {
                    qb.push(" AND");
                    push_name_like(qb, backend, contains_pattern(text));
                }
                if let Some(pattern) = &filter.name_wildcard {
                    let like = escape_like(&pattern.to_lowercase()).replace('*', "%");
                    qb.push(" AND");
                    push_name_like(qb, backend, like);
                }
                if let Some(project) = &filter.project_id {
                    qb.push(" AND w.project_id = ").push_bind(project.clone());
                }
                if let Some(status) = &filter.current_run_status {
                    qb.push(CURRENT_RUN_STATUS)
                        .push_bind(status.clone())
                        .push(")");
                }
                if let Some(teams) = &filter.visible_to_teams {
                    push_visible_workspaces(qb, teams);
                }
                for key in &filter.tags {
                    qb.push(" AND");
                    push_tagged(qb, org_id, key, None, tag_test);
                }
                for key in &filter.exclude_tags {
                    // A negated sub-query is never turned into a join: hashed already.
                    qb.push(" AND NOT");
                    push_tagged(qb, org_id, key, None, TagTest::Joined);
                }
                for (key, value) in &filter.tagged {
                    qb.push(" AND");
                    push_tagged(qb, org_id, key, value.as_deref(), tag_test);
                }
            };
            let order = filter
                .order
                .map_or_else(|| "w.created_at, w.id".to_string(), order_by);
            let listing = Listing {
                select: SELECT,
                table: "workspaces w",
                joins: JOINS,
                key: "w.id",
                order: &order,
            };
            // A lone tag's page in the default order walks the tag's rows, which carry their
            // workspace's creation time in an index in the list's order (migration 0049):
            // 100 index entries, not the organization's list tested against the tag.
            let tag_rows = Listing {
                select: "",
                table: "workspace_tags wt",
                joins: "",
                key: "wt.workspace_id",
                order: "wt.workspace_created_at, wt.workspace_id",
            };
            let walks_tag = filter.only_tag().filter(|_| filter.order.is_none());
            // All of the organization's workspaces: their number is kept (migration 0045).
            // One tag's: they are its rows in workspace_tags, which name only workspaces of
            // the tag's organization (a tag is bound only within its organization), so they
            // are counted from the tag's index alone, not joined to the workspaces.
            // One project's: their number is kept too (migration 0048), and is none when the
            // project is another organization's.
            // A deep page of the whole list in its default order starts after a mark (see
            // `page_marks.rs`; PostgreSQL only).
            let mut mark: Option<(Key, u64)> = None;
            let known = if filter.selects_all() {
                let (total, generation): (i64, i64) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(changes), 0) AS BIGINT) FROM workspace_counts \
                     WHERE organization_id = $1",
                )
                .bind(org_id)
                .fetch_one(p)
                .await?;
                let total = super::to_u64(total);
                let far = Walk::to(page, total).offset >= i64::try_from(STRIDE).unwrap_or(0);
                if let (DbPool::Postgres(pg), None, true) = (&self.pool, filter.order, far) {
                    if total >= MARKED_FROM {
                        let offset = u64::try_from(page.offset()).unwrap_or(0);
                        mark = self.mark_before(pg, org_id, generation, offset).await?;
                    }
                }
                Some(total)
            } else if let Some((key, value)) = filter.only_tag() {
                let count = |prefix: &str| {
                    let mut qb = QueryBuilder::new(format!(
                        "{prefix}SELECT COUNT(*) FROM workspace_tags wt WHERE "
                    ));
                    push_tag_rows(&mut qb, org_id, key, value);
                    qb
                };
                record_plan!(self, p, count);
                let total: i64 = count("").build_query_scalar().fetch_one(p).await?;
                Some(super::to_u64(total))
            } else if let Some(project) = filter.only_project() {
                let total: i64 = sqlx::query_scalar(
                    "SELECT CAST(COALESCE(SUM(c.n), 0) AS BIGINT) FROM project_workspace_counts c \
                     JOIN projects p ON p.id = c.project_id \
                     WHERE c.project_id = $1 AND p.organization_id = $2",
                )
                .bind(project)
                .bind(org_id)
                .fetch_one(p)
                .await?;
                Some(super::to_u64(total))
            } else {
                None
            };
            fetch_page!(
                self,
                p,
                &listing,
                count: |qb: &mut QueryBuilder<'_, _>| conditions(qb, TagTest::Joined),
                page: |qb: &mut QueryBuilder<'_, _>| {
                    if let Some((key, value)) = walks_tag {
                        push_tag_rows(qb, org_id, key, value);
                        return;
                    }
                    conditions(qb, page_tag_test);
                    if let Some(((at, id), _)) = &mark {
                        qb.push(" AND (w.created_at, w.id) > (")
                            .push_bind(*at)
                            .push(", ")
                            .push_bind(id.clone())
                            .push(")");
                    }
                },
                walked: if walks_tag.is_some() { &tag_rows } else { &listing },
                page,
                known,
                mark.as_ref().map_or(0, |(_, skipped)| *skipped)
            )
        })
    }

    async fn workspace_related(
        &self,
        workspace_id: &str,
        wanted: RelatedIds<bool>,
    ) -> StorageResult<(Vec<TagBinding>, RelatedIds<Option<String>, Vec<String>>)> {
        // Kind 0: the configuration version; 1: the variables, in their order; 2: the tags, in
        // theirs (`ord`), the value as `id` and the key as `k1`.
        let mut parts = vec![
            "SELECT 2 AS kind, wt.value AS id, t.name AS k1, '' AS k2, wt.position AS ord \
             FROM workspace_tags wt JOIN tags t ON t.id = wt.tag_id WHERE wt.workspace_id = $1",
        ];
        if wanted.configuration_version {
            parts.push(
                "SELECT 0 AS kind, id, '' AS k1, '' AS k2, 0 AS ord FROM (SELECT id \
                 FROM configuration_versions WHERE workspace_id = $1 AND NOT provisional \
                 ORDER BY created_at DESC, id LIMIT 1) c",
            );
        }
        if wanted.variables {
            parts.push(
                "SELECT 1 AS kind, id, key AS k1, category AS k2, 0 AS ord FROM variables \
                 WHERE workspace_id = $1",
            );
        }
        let sql = format!(
            "SELECT kind, id, k1 FROM ({}) related ORDER BY kind, ord, k1, k2",
            parts.join(" UNION ALL ")
        );
        let rows: Vec<(i32, String, String)> = on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(workspace_id)
            .fetch_all(p)
            .await)?;
        let mut tags = Vec::new();
        let mut found: RelatedIds<Option<String>, Vec<String>> = RelatedIds::default();
        for (kind, id, key) in rows {
            match kind {
                0 => found.configuration_version = Some(id),
                1 => found.variables.push(id),
                _ => tags.push(TagBinding { key, value: id }),
            }
        }
        Ok((tags, found))
    }

    async fn update_workspace(&self, ws: &Workspace) -> StorageResult<()> {
        let assignments: Vec<String> = SETTINGS
            .iter()
            .enumerate()
            .map(|(i, column)| format!("{column} = ${}", i + 3))
            .collect();
        let sql = format!(
            "UPDATE workspaces SET updated_at = $2, {} WHERE id = $1",
            assignments.join(", ")
        );
        on_pool!(&self.pool, |p| {
            let query = sqlx::query(&sql).bind(&ws.id).bind(ws.updated_at);
            bind_settings!(query, ws)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(|e| StorageError::from_write(e, "workspace name"))?;
        Ok(())
    }

    async fn delete_workspace(&self, id: &str) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM workspaces WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn lock_workspace(
        &self,
        id: &str,
        holder: &LockHolder,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE workspaces SET lock_kind = $2, lock_holder_id = $3, lock_reason = $4, \
             locked_at = $5 WHERE id = $1 AND lock_kind IS NULL"
        )
        .bind(id)
        .bind(holder.kind)
        .bind(&holder.id)
        .bind(reason)
        .bind(at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn unlock_workspace(&self, id: &str, holder: Option<&LockHolder>) -> StorageResult<bool> {
        let kind = holder.map(|h| h.kind);
        let holder_id = holder.map(|h| h.id.as_str());
        let done = on_pool!(&self.pool, |p| {
            sqlx::query(
            "UPDATE workspaces SET lock_kind = NULL, lock_holder_id = NULL, lock_reason = NULL, \
             locked_at = NULL WHERE id = $1 AND lock_kind IS NOT NULL \
             AND ($2 IS NULL OR (lock_kind = $2 AND lock_holder_id = $3))"
        )
        .bind(id)
        .bind(kind)
        .bind(holder_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn auto_destroy_candidates(&self, now: DateTime<Utc>) -> StorageResult<Vec<Workspace>> {
        // The sweep runs every few seconds on every replica, mostly finding nothing. First the
        // candidates' keys, each condition read from a partial index of the few workspaces it
        // names (migration 0042); then their rows, by key. (As one statement, a planner
        // without fresh statistics, after a bulk load, joined every workspace to the keys.)
        // The inherited condition is an `IN` rather than a join: SQLite, which has no
        // statistics, scanned every workspace to join it to the few projects that set a duration.
        on_pool!(&self.pool, |p| {
            let keys = |prefix: &str| {
                let mut qb = QueryBuilder::new(format!(
                    "{prefix}SELECT id FROM workspaces \
                     WHERE auto_destroy_at IS NOT NULL AND auto_destroy_at <= "
                ));
                qb.push_bind(now).push(
                    " UNION SELECT id FROM workspaces \
                     WHERE NOT inherits_project_auto_destroy AND auto_destroy_activity_duration IS NOT NULL \
                     UNION SELECT id FROM workspaces WHERE inherits_project_auto_destroy AND project_id IN \
                     (SELECT id FROM projects WHERE auto_destroy_activity_duration IS NOT NULL)",
                );
                qb
            };
            record_plan!(self, p, keys);
            let mut ids: Vec<String> = keys("").build_query_scalar().fetch_all(p).await?;
            ids.sort();
            let mut found = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(KEYS_PER_STATEMENT) {
                let rows = |prefix: &str| {
                    let mut qb =
                        QueryBuilder::new(format!("{prefix}{SELECT}{FROM} WHERE w.id IN "));
                    push_in_list(&mut qb, chunk);
                    qb.push(" ORDER BY w.id");
                    qb
                };
                record_plan!(self, p, rows);
                found.extend(rows("").build_query_as::<Workspace>().fetch_all(p).await?);
            }
            Ok(found)
        })
    }

    async fn claim_auto_destroy(
        &self,
        id: &str,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE workspaces SET auto_destroy_queued_at = $3, \
             auto_destroy_at = CASE WHEN auto_destroy_at <= $3 THEN NULL ELSE auto_destroy_at END \
             WHERE id = $1 AND (auto_destroy_queued_at = $2 \
                 OR (auto_destroy_queued_at IS NULL AND $2 IS NULL))"
        )
        .bind(id)
        .bind(seen)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }
}

/// The `ORDER BY` of a workspace list (the workspaces are `w`).
pub(super) fn order_by(order: WorkspaceOrder) -> String {
    const RUN_CREATED: &str = "(SELECT r.created_at FROM runs r WHERE r.id = w.latest_run_id)";
    match order {
        WorkspaceOrder::Name { descending } => format!("w.name {}, w.id", direction(descending)),
        // Portable "nulls last": SQLite and PostgreSQL sort NULL differently.
        WorkspaceOrder::CurrentRunCreatedAt { descending } => format!(
            "{RUN_CREATED} IS NULL, {RUN_CREATED} {}, w.name, w.id",
            direction(descending)
        ),
    }
}

/// Only workspaces whose current run has the status bound after it (close with `)`): each
/// workspace's run is read by its key, so the cost follows the workspaces, not all runs.
pub(super) const CURRENT_RUN_STATUS: &str =
    " AND EXISTS (SELECT 1 FROM runs cr WHERE cr.id = w.latest_run_id AND cr.status = ";
