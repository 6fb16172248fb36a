//! Notification configurations and their outbox. The outbox rows themselves are written by
//! [`enqueue_notifications`], inside the transactions that change a run's status (runs.rs).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{on_pool, BeginWrite, DbPool, SqlStore};
use crate::model::{JsonText, NotificationConfiguration, OutboxNotification};
use crate::store::NotificationConfigurationStore;
use crate::StorageResult;

const COLUMNS: &str = "id, workspace_id, name, destination_type, url, token_ciphertext, enabled, \
    triggers, email_addresses, email_user_ids, delivery_responses, created_at, updated_at";

const OUTBOX_COLUMNS: &str =
    "seq, configuration_id, run_id, trigger_name, run_status, run_updated_at, attempts";

/// Queues, in the caller's transaction, one notification per enabled configuration of the
/// run's workspace that subscribes to the trigger of the run's (new) status. The same
/// (configuration, run, trigger) is queued once whatever happens (a unique key).
macro_rules! enqueue_notifications {
    ($tx:expr, $run:expr) => {
        if let Some(trigger) = $run.status.notification_trigger() {
            sqlx::query(
                "INSERT INTO notification_outbox (configuration_id, run_id, trigger_name, \
                 run_status, run_updated_at, attempts, next_attempt_at) \
                 SELECT c.id, $1, $2, $3, $4, 0, $4 FROM notification_configurations c \
                 WHERE c.workspace_id = $5 AND c.enabled = TRUE AND c.triggers LIKE $6 \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&$run.id)
            .bind(trigger)
            .bind($run.status)
            .bind($run.updated_at)
            .bind(&$run.workspace_id)
            .bind(format!("%\"{trigger}\"%"))
            .execute(&mut **$tx)
            .await?;
        }
    };
}
pub(crate) use enqueue_notifications;

#[async_trait]
impl NotificationConfigurationStore for SqlStore {
    async fn create_notification_configuration(
        &self,
        c: &NotificationConfiguration,
        max: u64,
    ) -> StorageResult<bool> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let sql = format!(
            "INSERT INTO notification_configurations ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            // Holds the workspace's row so concurrent creations cannot pass the limit together.
            sqlx::query("UPDATE workspaces SET id = id WHERE id = $1")
                .bind(&c.workspace_id)
                .execute(&mut *tx)
                .await?;
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM notification_configurations WHERE workspace_id = $1",
            )
            .bind(&c.workspace_id)
            .fetch_one(&mut *tx)
            .await?;
            if count >= max {
                return Ok(false);
            }
            sqlx::query(&sql)
                .bind(&c.id)
                .bind(&c.workspace_id)
                .bind(&c.name)
                .bind(&c.destination_type)
                .bind(&c.url)
                .bind(&c.token_ciphertext)
                .bind(c.enabled)
                .bind(&c.triggers)
                .bind(&c.email_addresses)
                .bind(&c.email_user_ids)
                .bind(&c.delivery_responses)
                .bind(c.created_at)
                .bind(c.updated_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn notification_configuration_by_id(
        &self,
        id: &str,
    ) -> StorageResult<Option<NotificationConfiguration>> {
        let sql = format!("SELECT {COLUMNS} FROM notification_configurations WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_notification_configurations(
        &self,
        workspace_id: &str,
    ) -> StorageResult<Vec<NotificationConfiguration>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM notification_configurations WHERE workspace_id = $1 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(workspace_id)
            .fetch_all(p)
            .await)?)
    }

    async fn update_notification_configuration(
        &self,
        c: &NotificationConfiguration,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| {
            sqlx::query(
            "UPDATE notification_configurations SET name = $2, destination_type = $3, url = $4, \
             token_ciphertext = $5, enabled = $6, triggers = $7, email_addresses = $8, \
             email_user_ids = $9, updated_at = $10 WHERE id = $1"
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.destination_type)
        .bind(&c.url)
        .bind(&c.token_ciphertext)
        .bind(c.enabled)
        .bind(&c.triggers)
        .bind(&c.email_addresses)
        .bind(&c.email_user_ids)
        .bind(c.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(done > 0)
    }

    async fn delete_notification_configuration(&self, id: &str) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM notification_configurations WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn record_delivery_response(
        &self,
        id: &str,
        response: &serde_json::Value,
        keep: usize,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let lock = match self.pool {
                DbPool::Sqlite(_) => "",
                DbPool::Postgres(_) => " FOR UPDATE",
            };
            let current: Option<JsonText<Vec<serde_json::Value>>> = sqlx::query_scalar(&format!(
                "SELECT delivery_responses FROM notification_configurations WHERE id = $1{lock}"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(JsonText(mut responses)) = current else {
                return Ok(());
            };
            responses.push(response.clone());
            let excess = responses.len().saturating_sub(keep);
            responses.drain(..excess);
            sqlx::query(
                "UPDATE notification_configurations SET delivery_responses = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(JsonText(responses))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn claim_notification(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StorageResult<Option<OutboxNotification>> {
        // One statement picks and leases the row; PostgreSQL's SKIP LOCKED lets replicas
        // pass over a row another one is taking, SQLite serialises writers.
        let lock = match self.pool {
            DbPool::Sqlite(_) => "",
            DbPool::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE notification_outbox SET lease_owner = $1, lease_until = $3 \
             WHERE done_at IS NULL AND (lease_until IS NULL OR lease_until < $2) AND seq = \
             (SELECT o.seq FROM notification_outbox o WHERE o.done_at IS NULL \
              AND o.next_attempt_at <= $2 AND (o.lease_until IS NULL OR o.lease_until < $2) \
              AND NOT EXISTS (SELECT 1 FROM notification_outbox e \
                WHERE e.configuration_id = o.configuration_id AND e.done_at IS NULL \
                AND e.seq < o.seq) \
              ORDER BY o.seq LIMIT 1{lock}) \
             RETURNING {OUTBOX_COLUMNS}"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(owner)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(p)
            .await)?)
    }

    async fn settle_notification(
        &self,
        seq: i64,
        owner: &str,
        outcome: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| match retry_at {
            Some(at) => sqlx::query(
                "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = $3, \
                 outcome = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE seq = $1 AND lease_owner = $2 AND done_at IS NULL"
            )
            .bind(seq)
            .bind(owner)
            .bind(at)
            .bind(outcome)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
            None => sqlx::query(
                "UPDATE notification_outbox SET attempts = attempts + 1, done_at = $3, \
                 outcome = $4, lease_owner = NULL, lease_until = NULL \
                 WHERE seq = $1 AND lease_owner = $2 AND done_at IS NULL"
            )
            .bind(seq)
            .bind(owner)
            .bind(now)
            .bind(outcome)
            .execute(p)
            .await
            .map(|r| r.rows_affected()),
        })?;
        Ok(done > 0)
    }
}
