//! A run's task stages and task results: created with the run, moved on by compare-and-set on
//! their status; each result's request to its service is claimed with a lease (like the
//! notification outbox), and results past their deadline are found for the errored sweep.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{on_pool, push_in_list, BeginWrite, DbPool, SqlStore};
use crate::model::{TaskResult, TaskResultStatus, TaskStage, TaskStageStatus};
use crate::store::TaskStageStore;
use crate::StorageResult;
use sqlx::QueryBuilder;

const STAGE_COLUMNS: &str = "id, run_id, stage, status, status_timestamps, created_at, updated_at";

const RESULT_COLUMNS: &str = "id, task_stage_id, run_id, task_id, task_name, task_url, \
    workspace_task_id, enforcement_level, status, message, url, outcomes, status_timestamps, \
    request_attempts, next_request_at, lease_owner, lease_until, deadline_at, created_at, \
    updated_at";

#[async_trait]
impl TaskStageStore for SqlStore {
    async fn create_task_stages(
        &self,
        stages: &[TaskStage],
        results: &[TaskResult],
    ) -> StorageResult<()> {
        if stages.is_empty() {
            return Ok(());
        }
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            for s in stages {
                sqlx::query(&format!(
                    "INSERT INTO task_stages ({STAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(&s.id)
                .bind(&s.run_id)
                .bind(s.stage)
                .bind(s.status)
                .bind(&s.status_timestamps)
                .bind(s.created_at)
                .bind(s.updated_at)
                .execute(&mut *tx)
                .await?;
            }
            for r in results {
                sqlx::query(&format!(
                    "INSERT INTO task_results ({RESULT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, \
                     $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
                ))
                .bind(&r.id)
                .bind(&r.task_stage_id)
                .bind(&r.run_id)
                .bind(&r.task_id)
                .bind(&r.task_name)
                .bind(&r.task_url)
                .bind(&r.workspace_task_id)
                .bind(r.enforcement_level)
                .bind(r.status)
                .bind(&r.message)
                .bind(&r.url)
                .bind(&r.outcomes)
                .bind(&r.status_timestamps)
                .bind(r.request_attempts)
                .bind(r.next_request_at)
                .bind(&r.lease_owner)
                .bind(r.lease_until)
                .bind(r.deadline_at)
                .bind(r.created_at)
                .bind(r.updated_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(())
    }

    async fn task_stages_of_runs(&self, run_ids: &[String]) -> StorageResult<Vec<TaskStage>> {
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {STAGE_COLUMNS} FROM task_stages WHERE run_id IN "
            ));
            push_in_list(&mut qb, run_ids);
            qb.push(" ORDER BY created_at, id");
            Ok(qb.build_query_as().fetch_all(p).await?)
        })
    }

    async fn task_stage_by_id(&self, id: &str) -> StorageResult<Option<TaskStage>> {
        let sql = format!("SELECT {STAGE_COLUMNS} FROM task_stages WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn task_results_of_stage(&self, stage_id: &str) -> StorageResult<Vec<TaskResult>> {
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM task_results WHERE task_stage_id = $1 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(stage_id)
            .fetch_all(p)
            .await)?)
    }

    async fn task_result_by_id(&self, id: &str) -> StorageResult<Option<TaskResult>> {
        let sql = format!("SELECT {RESULT_COLUMNS} FROM task_results WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn update_task_stage_if(
        &self,
        stage: &TaskStage,
        expected: TaskStageStatus,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE task_stages SET status = $3, status_timestamps = $4, updated_at = $5 \
             WHERE id = $1 AND status = $2"
        )
        .bind(&stage.id)
        .bind(expected)
        .bind(stage.status)
        .bind(&stage.status_timestamps)
        .bind(stage.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn update_task_result_if(
        &self,
        result: &TaskResult,
        expected: TaskResultStatus,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE task_results SET status = $3, message = $4, url = $5, outcomes = $6, \
             status_timestamps = $7, next_request_at = $8, lease_owner = $9, lease_until = $10, \
             deadline_at = $11, updated_at = $12 WHERE id = $1 AND status = $2"
        )
        .bind(&result.id)
        .bind(expected)
        .bind(result.status)
        .bind(&result.message)
        .bind(&result.url)
        .bind(&result.outcomes)
        .bind(&result.status_timestamps)
        .bind(result.next_request_at)
        .bind(&result.lease_owner)
        .bind(result.lease_until)
        .bind(result.deadline_at)
        .bind(result.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn claim_task_result_request(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StorageResult<Option<TaskResult>> {
        // As the notification outbox: one statement picks and leases the row; SKIP LOCKED
        // lets PostgreSQL replicas pass over a row another is taking.
        let lock = match self.pool {
            DbPool::Sqlite(_) => "",
            DbPool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE task_results SET lease_owner = $1, lease_until = $3 \
             WHERE (lease_until IS NULL OR lease_until < $2) AND id = \
             (SELECT r.id FROM task_results r WHERE r.status = 'pending' \
              AND r.next_request_at IS NOT NULL AND r.next_request_at <= $2 \
              AND (r.lease_until IS NULL OR r.lease_until < $2) \
              ORDER BY r.next_request_at, r.id LIMIT 1{lock}) \
             RETURNING {RESULT_COLUMNS}"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(owner)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(p)
            .await)?)
    }

    async fn settle_task_result_request(
        &self,
        id: &str,
        owner: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StorageResult<bool> {
        // Only the request's columns: a callback that came meanwhile keeps its status.
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE task_results SET request_attempts = request_attempts + 1, \
             next_request_at = CASE WHEN status = 'pending' THEN $3 ELSE NULL END, \
             lease_owner = NULL, lease_until = NULL, updated_at = $4 \
             WHERE id = $1 AND lease_owner = $2"
        )
        .bind(id)
        .bind(owner)
        .bind(retry_at)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn overdue_task_results(&self, now: DateTime<Utc>) -> StorageResult<Vec<TaskResult>> {
        let sql = format!(
            "SELECT {RESULT_COLUMNS} FROM task_results WHERE deadline_at IS NOT NULL \
             AND deadline_at < $1 AND status IN ('pending', 'running') ORDER BY deadline_at, id \
             LIMIT 100"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(now)
            .fetch_all(p)
            .await)?)
    }
}
