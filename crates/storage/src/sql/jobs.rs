use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::runs::PHASE_COLUMNS;
use super::{on_pool, BeginWrite, DbPool, SqlStore};
use crate::model::{Listener, RunPhase};
use crate::store::JobStore;
use crate::{StorageError, StorageResult};

const LISTENER_COLUMNS: &str =
    "id, pool_id, name, hostname, version, executor, capacity, last_heartbeat_at, created_at, ip_address";

#[async_trait]
impl JobStore for SqlStore {
    async fn claim_job(
        &self,
        pool_id: Option<&str>,
        listener_id: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<Option<RunPhase>> {
        // One statement picks and takes the job. On PostgreSQL, SKIP LOCKED lets concurrent
        // claimers pass over a row another transaction is taking; SQLite serialises writers.
        let lock = match self.pool {
            DbPool::Sqlite(_) => "",
            DbPool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE run_phases SET status = 'running', listener_id = $2, claimed_at = $3, heartbeat_at = $3 \
             WHERE status = 'queued' AND id = (SELECT id FROM run_phases WHERE status = 'queued' \
             AND pool_id IS NOT DISTINCT FROM $1 ORDER BY queued_at, id LIMIT 1{lock}) \
             RETURNING {PHASE_COLUMNS}"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(pool_id)
            .bind(listener_id)
            .bind(at)
            .fetch_optional(p)
            .await)?)
    }

    async fn heartbeat_jobs(
        &self,
        listener_id: &str,
        job_ids: &[String],
        at: DateTime<Utc>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            sqlx::query("UPDATE listeners SET last_heartbeat_at = $2 WHERE id = $1")
                .bind(listener_id)
                .bind(at)
                .execute(p)
                .await?;
            if !job_ids.is_empty() {
                let mut qb = QueryBuilder::new("UPDATE run_phases SET heartbeat_at = ");
                qb.push_bind(at)
                    .push(" WHERE status = 'running' AND listener_id = ")
                    .push_bind(listener_id.to_string());
                qb.push(" AND id IN (");
                let mut ids = qb.separated(", ");
                for id in job_ids {
                    ids.push_bind(id.clone());
                }
                qb.push(")");
                qb.build().execute(p).await?;
            }
            Ok(())
        })
    }

    async fn touch_job(&self, job_id: &str, at: DateTime<Utc>) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "UPDATE run_phases SET heartbeat_at = $2 WHERE id = $1 AND status = 'running'",
            )
            .bind(job_id)
            .bind(at)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    async fn stale_jobs(&self, before: DateTime<Utc>) -> StorageResult<Vec<RunPhase>> {
        let sql = format!(
            "SELECT {PHASE_COLUMNS} FROM run_phases WHERE status = 'running' AND heartbeat_at < $1"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(before)
            .fetch_all(p)
            .await)?)
    }

    async fn canceled_jobs(&self, listener_id: &str) -> StorageResult<Vec<RunPhase>> {
        let sql = format!(
            "SELECT {PHASE_COLUMNS} FROM run_phases WHERE listener_id = $1 AND status = 'running' \
             AND cancel_requested = TRUE"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(listener_id)
            .fetch_all(p)
            .await)?)
    }

    async fn waiting_jobs(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StorageResult<Vec<RunPhase>> {
        let sql = format!(
            "SELECT {PHASE_COLUMNS} FROM run_phases WHERE status = 'queued' AND queued_at < $1 \
             ORDER BY queued_at, id LIMIT $2"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(before)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }

    async fn append_waiting_log(
        &self,
        phase_id: &str,
        len: i64,
        ciphertext: &str,
    ) -> StorageResult<bool> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            // Growing the log and checking the job is unclaimed in one statement: it locks the
            // row, so a claim comes wholly before (nothing appended) or after (the runner
            // starts its log behind this).
            let size: Option<i64> = sqlx::query_scalar(
                "UPDATE run_phases SET log_size = log_size + $2 \
                 WHERE id = $1 AND status = 'queued' RETURNING log_size",
            )
            .bind(phase_id)
            .bind(len)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(size) = size else {
                return Ok(false);
            };
            sqlx::query(
                r#"INSERT INTO log_chunks (phase_id, "offset", ciphertext) VALUES ($1, $2, $3)"#,
            )
            .bind(phase_id)
            .bind(size - len)
            .bind(ciphertext)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn append_log(
        &self,
        phase_id: &str,
        offset: i64,
        len: i64,
        ciphertext: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<bool> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let size: Option<i64> =
                sqlx::query_scalar("SELECT log_size FROM run_phases WHERE id = $1")
                    .bind(phase_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(size) = size else {
                return Err(StorageError::Conflict("log of an unknown job".into()));
            };
            if offset + len <= size {
                return Ok(false);
            }
            if offset != size {
                return Err(StorageError::Conflict(format!(
                    "log chunk at offset {offset} does not continue the log (it has {size} bytes)"
                )));
            }
            sqlx::query(
                r#"INSERT INTO log_chunks (phase_id, "offset", ciphertext) VALUES ($1, $2, $3)"#,
            )
            .bind(phase_id)
            .bind(offset)
            .bind(ciphertext)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE run_phases SET log_size = $2, heartbeat_at = $3 WHERE id = $1")
                .bind(phase_id)
                .bind(offset + len)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn log_chunks(&self, phase_id: &str, from: i64) -> StorageResult<Vec<(i64, String)>> {
        // The chunk containing `from` starts at the largest offset not above it.
        Ok(on_pool!(&self.pool, |p| {
            sqlx::query_as(
            r#"SELECT "offset", ciphertext FROM log_chunks WHERE phase_id = $1 AND "offset" >= COALESCE(
                (SELECT MAX("offset") FROM log_chunks WHERE phase_id = $1 AND "offset" <= $2), 0)
               ORDER BY "offset""#
        )
        .bind(phase_id)
        .bind(from)
        .fetch_all(p)
        .await
        })?)
    }

    async fn mark_log_archived(&self, phase_id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query("UPDATE run_phases SET log_archived = TRUE WHERE id = $1")
                .bind(phase_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM log_chunks WHERE phase_id = $1")
                .bind(phase_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn upsert_listener(&self, l: &Listener) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO listeners ({LISTENER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, hostname = excluded.hostname, \
             version = excluded.version, executor = excluded.executor, capacity = excluded.capacity, \
             last_heartbeat_at = excluded.last_heartbeat_at, ip_address = excluded.ip_address"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&l.id)
            .bind(&l.pool_id)
            .bind(&l.name)
            .bind(&l.hostname)
            .bind(&l.version)
            .bind(&l.executor)
            .bind(l.capacity)
            .bind(l.last_heartbeat_at)
            .bind(l.created_at)
            .bind(&l.ip_address)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn listener_by_id(&self, id: &str) -> StorageResult<Option<Listener>> {
        let sql = format!("SELECT {LISTENER_COLUMNS} FROM listeners WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_listeners(&self, pool_id: Option<&str>) -> StorageResult<Vec<Listener>> {
        let sql = format!(
            "SELECT {LISTENER_COLUMNS} FROM listeners WHERE pool_id IS NOT DISTINCT FROM $1 ORDER BY name, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(pool_id)
            .fetch_all(p)
            .await)?)
    }

    async fn delete_stale_listeners(&self, before: DateTime<Utc>) -> StorageResult<u64> {
        Ok(on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM listeners WHERE last_heartbeat_at < $1"
        )
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }

    async fn delete_listener(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM listeners WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
