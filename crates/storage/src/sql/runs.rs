use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::notification_configurations::enqueue_notifications;
use super::pagination::{fetch_page, Listing};
use super::rows::from_row_by_position;
use super::workspaces::push_name_like;
use super::{
    contains_pattern, on_pool, push_in_list, push_visible_workspaces, BeginWrite, SqlStore,
};
use crate::model::{
    Page, PageRequest, PhaseStatus, Run, RunComment, RunEvent, RunPhase, RunStatus,
};
use crate::store::{RunFilter, RunStore};
use crate::{StorageError, StorageResult};

/// [`Run`]'s columns, in its field order (it is read by position).
pub(super) const RUN_COLUMNS: &str = "id, workspace_id, configuration_version_id, status, \
    status_timestamps, message, source, trigger_reason, is_destroy, refresh, refresh_only, \
    plan_only, save_plan, auto_apply, allow_empty_apply, target_addrs, replace_addrs, \
    variables_ciphertext, terraform_version, has_changes, created_by, confirmed_by, \
    input_state_version_id, canceled_at, force_cancel_available_at, created_at, updated_at";

from_row_by_position!(Run {
    id,
    workspace_id,
    configuration_version_id,
    status,
    status_timestamps,
    message,
    source,
    trigger_reason,
    is_destroy,
    refresh,
    refresh_only,
    plan_only,
    save_plan,
    auto_apply,
    allow_empty_apply,
    target_addrs,
    replace_addrs,
    variables_ciphertext,
    terraform_version,
    has_changes,
    created_by,
    confirmed_by,
    input_state_version_id,
    canceled_at,
    force_cancel_available_at,
    created_at,
    updated_at,
});

pub(super) const PHASE_COLUMNS: &str = "id, run_id, kind, status, status_timestamps, \
    has_changes, resource_additions, resource_changes, resource_destructions, resource_imports, \
    pool_id, listener_id, claimed_at, heartbeat_at, cancel_requested, force_cancel, log_size, \
    log_archived, artifacts, error_message, queued_at";

const EVENT_COLUMNS: &str = "id, run_id, action, description, actor_id, created_at, comment_id";
const COMMENT_COLUMNS: &str = "id, run_id, body, author_id, created_at";

/// Binds a run event's columns, in [`EVENT_COLUMNS`] order.
macro_rules! bind_event {
    ($query:expr, $event:expr) => {
        $query
            .bind(&$event.id)
            .bind(&$event.run_id)
            .bind(&$event.action)
            .bind(&$event.description)
            .bind(&$event.actor_id)
            .bind($event.created_at)
            .bind(&$event.comment_id)
    };
}

/// Inserts a phase inside the caller's transaction.
macro_rules! insert_phase {
    ($tx:expr, $phase:expr) => {
        sqlx::query(&format!(
            "INSERT INTO run_phases ({PHASE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        ))
        .bind(&$phase.id)
        .bind(&$phase.run_id)
        .bind($phase.kind)
        .bind($phase.status)
        .bind(&$phase.status_timestamps)
        .bind($phase.has_changes)
        .bind($phase.resource_additions)
        .bind($phase.resource_changes)
        .bind($phase.resource_destructions)
        .bind($phase.resource_imports)
        .bind(&$phase.pool_id)
        .bind(&$phase.listener_id)
        .bind($phase.claimed_at)
        .bind($phase.heartbeat_at)
        .bind($phase.cancel_requested)
        .bind($phase.force_cancel)
        .bind($phase.log_size)
        .bind($phase.log_archived)
        .bind(&$phase.artifacts)
        .bind(&$phase.error_message)
        .bind($phase.queued_at)
        .execute(&mut **$tx)
        .await?
    };
}

#[async_trait]
impl RunStore for SqlStore {
    async fn create_run(
        &self,
        run: &Run,
        plan: &RunPhase,
        apply: &RunPhase,
        event: &RunEvent,
    ) -> StorageResult<()> {
        let insert_run = format!(
            "INSERT INTO runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)"
        );
        let insert_event =
            format!("INSERT INTO run_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            // Locks the configuration version's row while it is still uploaded, so its
            // tarball is not replaced, soft-deleted or archived under a run being created.
            let uploaded = sqlx::query(
                "UPDATE configuration_versions SET status = status \
                 WHERE id = $1 AND status = 'uploaded'",
            )
            .bind(&run.configuration_version_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if uploaded == 0 {
                return Err(StorageError::Conflict(format!(
                    "configuration version {} is no longer uploaded",
                    run.configuration_version_id
                )));
            }
            sqlx::query(&insert_run)
                .bind(&run.id)
                .bind(&run.workspace_id)
                .bind(&run.configuration_version_id)
                .bind(run.status)
                .bind(&run.status_timestamps)
                .bind(&run.message)
                .bind(&run.source)
                .bind(&run.trigger_reason)
                .bind(run.is_destroy)
                .bind(run.refresh)
                .bind(run.refresh_only)
                .bind(run.plan_only)
                .bind(run.save_plan)
                .bind(run.auto_apply)
                .bind(run.allow_empty_apply)
                .bind(&run.target_addrs)
                .bind(&run.replace_addrs)
                .bind(&run.variables_ciphertext)
                .bind(&run.terraform_version)
                .bind(run.has_changes)
                .bind(&run.created_by)
                .bind(&run.confirmed_by)
                .bind(&run.input_state_version_id)
                .bind(run.canceled_at)
                .bind(run.force_cancel_available_at)
                .bind(run.created_at)
                .bind(run.updated_at)
                .execute(&mut *tx)
                .await?;
            // Counted as they are made (runs go only with their workspace), so that showing a
            // workspace does not count its runs.
            sqlx::query("UPDATE workspaces SET runs_count = runs_count + 1 WHERE id = $1")
                .bind(&run.workspace_id)
                .execute(&mut *tx)
                .await?;
            insert_phase!(&mut tx, plan);
            insert_phase!(&mut tx, apply);
            bind_event!(sqlx::query(&insert_event), event)
                .execute(&mut *tx)
                .await?;
            enqueue_notifications!(&mut tx, run);
            tx.commit().await?;
            Ok(())
        })
    }

    async fn run_by_id(&self, id: &str) -> StorageResult<Option<Run>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn run_counts_by_status(&self) -> StorageResult<Vec<(String, i64)>> {
        let sql = "SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status";
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(sql)
            .fetch_all(p)
            .await)?)
    }

    async fn list_runs(&self, filter: &RunFilter, page: PageRequest) -> StorageResult<Page<Run>> {
        let backend = self.backend();
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("1 = 1");
                if let Some(ws) = &filter.workspace_id {
                    qb.push(" AND workspace_id = ").push_bind(ws.clone());
                }
                if let Some(org) = &filter.organization_id {
                    qb.push(
                        " AND workspace_id IN (SELECT id FROM workspaces WHERE organization_id = ",
                    )
                    .push_bind(org.clone())
                    .push(")");
                }
                if let Some(teams) = &filter.visible_to_teams {
                    qb.push(" AND workspace_id IN (SELECT w.id FROM workspaces w WHERE 1 = 1");
                    push_visible_workspaces(qb, teams);
                    qb.push(")");
                }
                if !filter.statuses.is_empty() {
                    qb.push(" AND status IN (");
                    let mut list = qb.separated(", ");
                    for status in &filter.statuses {
                        list.push_bind(status.as_str());
                    }
                    qb.push(")");
                }
                if let Some(after) = filter.created_after {
                    qb.push(" AND created_at >= ").push_bind(after);
                }
                if let Some(before) = filter.created_before {
                    qb.push(" AND created_at <= ").push_bind(before);
                }
                if let Some(query) = &filter.query {
                    qb.push(" AND (id = ")
                        .push_bind(query.clone())
                        .push(" OR workspace_id IN (SELECT w.id FROM workspaces w WHERE");
                    push_name_like(qb, backend, contains_pattern(query));
                    qb.push("))");
                }
                if !filter.sources.is_empty() {
                    qb.push(" AND source IN (");
                    let mut list = qb.separated(", ");
                    for source in &filter.sources {
                        list.push_bind(source.clone());
                    }
                    qb.push(")");
                }
                if let Some(user) = &filter.user {
                    qb.push(" AND created_by IN (SELECT id FROM users WHERE lower(username) = ")
                        .push_bind(user.to_lowercase())
                        .push(")");
                }
                if filter.commit.is_some() {
                    qb.push(" AND 1 = 0");
                }
                if let Some(basic) = &filter.basic {
                    let pattern = contains_pattern(basic);
                    qb.push(" AND (id = ")
                        .push_bind(basic.clone())
                        .push(" OR lower(message) LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR created_by IN (SELECT id FROM users WHERE lower(username) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\'))");
                }
                if filter.operations.is_empty() {
                    qb.push(" AND plan_only = FALSE");
                } else {
                    qb.push(
                        " AND CASE WHEN plan_only THEN 'plan_only' WHEN save_plan THEN 'save_plan' \
                         WHEN refresh_only THEN 'refresh_only' WHEN is_destroy THEN 'destroy' \
                         WHEN allow_empty_apply THEN 'empty_apply' ELSE 'plan_and_apply' END IN (",
                    );
                    let mut list = qb.separated(", ");
                    for operation in &filter.operations {
                        list.push_bind(operation.as_str());
                    }
                    qb.push(")");
                }
            };
            let select = format!("SELECT {RUN_COLUMNS}");
            let listing = Listing {
                select: &select,
                table: "runs",
                joins: "",
                key: "runs.id",
                order: "created_at DESC, id DESC",
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_run_if(&self, run: &Run, expected: RunStatus) -> StorageResult<bool> {
        // The status change and its notifications commit together: none is lost to a crash.
        let done = on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(
                "UPDATE runs SET status = $3, status_timestamps = $4, has_changes = $5, \
                 confirmed_by = $6, input_state_version_id = $7, canceled_at = $8, \
                 force_cancel_available_at = $9, auto_apply = $10, updated_at = $11 \
                 WHERE id = $1 AND status = $2",
            )
            .bind(&run.id)
            .bind(expected)
            .bind(run.status)
            .bind(&run.status_timestamps)
            .bind(run.has_changes)
            .bind(&run.confirmed_by)
            .bind(&run.input_state_version_id)
            .bind(run.canceled_at)
            .bind(run.force_cancel_available_at)
            .bind(run.auto_apply)
            .bind(run.updated_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done > 0 && run.status != expected {
                enqueue_notifications!(&mut tx, run);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done)
        })?;
        Ok(done > 0)
    }

    async fn waiting_runs(&self, workspace_id: &str) -> StorageResult<Vec<Run>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r WHERE r.workspace_id = $1 AND r.plan_only = FALSE \
             AND (r.status = 'pending' OR r.status = 'confirmed') \
             AND r.id <> COALESCE((SELECT current_run_id FROM workspaces WHERE id = $1), '') \
             ORDER BY r.created_at, r.id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(workspace_id)
            .fetch_all(p)
            .await)?)
    }

    async fn active_runs(&self, workspace_id: &str) -> StorageResult<Vec<Run>> {
        let finals: Vec<&str> = RunStatus::ALL
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE workspace_id = "
            ));
            qb.push_bind(workspace_id.to_string())
                .push(" AND status NOT IN (");
            let mut list = qb.separated(", ");
            for status in &finals {
                list.push_bind(status.to_string());
            }
            qb.push(") ORDER BY created_at, id");
            Ok(qb.build_query_as().fetch_all(p).await?)
        })
    }

    async fn phase_by_id(&self, id: &str) -> StorageResult<Option<RunPhase>> {
        let sql = format!("SELECT {PHASE_COLUMNS} FROM run_phases WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn phases_of_runs(&self, run_ids: &[String]) -> StorageResult<Vec<RunPhase>> {
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {PHASE_COLUMNS} FROM run_phases WHERE run_id IN "
            ));
            push_in_list(&mut qb, run_ids);
            qb.push(" ORDER BY run_id, kind DESC");
            Ok(qb.build_query_as().fetch_all(p).await?)
        })
    }

    async fn update_phase_if(
        &self,
        phase: &RunPhase,
        expected: PhaseStatus,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE run_phases SET status = $3, status_timestamps = $4, has_changes = $5, \
             resource_additions = $6, resource_changes = $7, resource_destructions = $8, \
             resource_imports = $9, pool_id = $10, listener_id = $11, claimed_at = $12, \
             heartbeat_at = $13, cancel_requested = $14, force_cancel = $15, artifacts = $16, \
             error_message = $17, queued_at = $18 WHERE id = $1 AND status = $2"
        )
        .bind(&phase.id)
        .bind(expected)
        .bind(phase.status)
        .bind(&phase.status_timestamps)
        .bind(phase.has_changes)
        .bind(phase.resource_additions)
        .bind(phase.resource_changes)
        .bind(phase.resource_destructions)
        .bind(phase.resource_imports)
        .bind(&phase.pool_id)
        .bind(&phase.listener_id)
        .bind(phase.claimed_at)
        .bind(phase.heartbeat_at)
        .bind(phase.cancel_requested)
        .bind(phase.force_cancel)
        .bind(&phase.artifacts)
        .bind(&phase.error_message)
        .bind(phase.queued_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn add_run_event(&self, event: &RunEvent) -> StorageResult<()> {
        let sql =
            format!("INSERT INTO run_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        on_pool!(&self.pool, |p| bind_event!(sqlx::query(&sql), event)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn run_event_by_id(&self, id: &str) -> StorageResult<Option<RunEvent>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM run_events WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn add_run_comment(&self, comment: &RunComment, event: &RunEvent) -> StorageResult<()> {
        let insert_comment =
            format!("INSERT INTO run_comments ({COMMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        let insert_event =
            format!("INSERT INTO run_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(&insert_comment)
                .bind(&comment.id)
                .bind(&comment.run_id)
                .bind(&comment.body)
                .bind(&comment.author_id)
                .bind(comment.created_at)
                .execute(&mut *tx)
                .await?;
            bind_event!(sqlx::query(&insert_event), event)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn run_comment_by_id(&self, id: &str) -> StorageResult<Option<RunComment>> {
        let sql = format!("SELECT {COMMENT_COLUMNS} FROM run_comments WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn comments_of_runs(&self, run_ids: &[String]) -> StorageResult<Vec<RunComment>> {
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {COMMENT_COLUMNS} FROM run_comments WHERE run_id IN "
            ));
            push_in_list(&mut qb, run_ids);
            qb.push(" ORDER BY created_at, id");
            Ok(qb.build_query_as().fetch_all(p).await?)
        })
    }

    async fn run_events(&self, run_id: &str) -> StorageResult<Vec<RunEvent>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM run_events WHERE run_id = $1 ORDER BY created_at, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(run_id)
            .fetch_all(p)
            .await)?)
    }

    async fn set_current_run(&self, workspace_id: &str, run_id: Option<&str>) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            sqlx::query(
            "UPDATE workspaces SET current_run_id = $2, latest_run_id = COALESCE($2, latest_run_id) \
             WHERE id = $1"
        )
        .bind(workspace_id)
        .bind(run_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
