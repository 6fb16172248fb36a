//! Run triggers: pairs of workspaces of one organization, read with both names.

use async_trait::async_trait;

use super::{on_pool, BeginWrite, SqlStore};
use crate::model::RunTrigger;
use crate::store::{RunTriggerDirection, RunTriggerStore};
use crate::{StorageError, StorageResult};

const SELECT: &str = "SELECT t.id, t.workspace_id, t.sourceable_id, t.created_at, \
    w.name AS workspace_name, s.name AS sourceable_name \
    FROM run_triggers t JOIN workspaces w ON w.id = t.workspace_id \
    JOIN workspaces s ON s.id = t.sourceable_id";

#[async_trait]
impl RunTriggerStore for SqlStore {
    async fn create_run_trigger(
        &self,
        trigger: &RunTrigger,
        max_sources: u64,
    ) -> StorageResult<bool> {
        let max = i64::try_from(max_sources).unwrap_or(i64::MAX);
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            // Holds the target's row until the end (SQLite's writer lock holds everything).
            sqlx::query("UPDATE workspaces SET id = id WHERE id = $1")
                .bind(&trigger.workspace_id)
                .execute(&mut *tx)
                .await?;
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM run_triggers WHERE workspace_id = $1")
                    .bind(&trigger.workspace_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if count >= max {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO run_triggers (id, workspace_id, sourceable_id, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&trigger.id)
            .bind(&trigger.workspace_id)
            .bind(&trigger.sourceable_id)
            .bind(trigger.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StorageError::from_write(e, "run trigger"))?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn run_trigger_by_id(&self, id: &str) -> StorageResult<Option<RunTrigger>> {
        let sql = format!("{SELECT} WHERE t.id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_run_triggers(
        &self,
        workspace_id: &str,
        direction: RunTriggerDirection,
    ) -> StorageResult<Vec<RunTrigger>> {
        let column = match direction {
            RunTriggerDirection::Inbound => "t.workspace_id",
            RunTriggerDirection::Outbound => "t.sourceable_id",
        };
        let sql = format!("{SELECT} WHERE {column} = $1 ORDER BY t.created_at, t.id");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(workspace_id)
            .fetch_all(p)
            .await)?)
    }

    async fn delete_run_trigger(&self, id: &str) -> StorageResult<bool> {
        let deleted = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM run_triggers WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }
}
