//! Remote state consumers: which workspaces' runs may read a workspace's state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::workspaces::{FROM, JOINS, SELECT};
use super::{on_pool, to_u64, BeginWrite, SqlStore};
use crate::model::{Page, PageRequest, Workspace};
use crate::store::RemoteStateConsumerStore;
use crate::StorageResult;

const INSERT: &str = "INSERT INTO remote_state_consumers (workspace_id, consumer_id, created_at) \
    VALUES ($1, $2, $3) ON CONFLICT (workspace_id, consumer_id) DO NOTHING";

#[async_trait]
impl RemoteStateConsumerStore for SqlStore {
    async fn list_remote_state_consumers(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>> {
        let sql = format!(
            "{SELECT}{FROM} JOIN remote_state_consumers c ON c.consumer_id = w.id \
             WHERE c.workspace_id = $1 ORDER BY c.created_at, w.name LIMIT $2 OFFSET $3"
        );
        on_pool!(&self.pool, |p| {
            let items = sqlx::query_as(&sql)
                .bind(workspace_id)
                .bind(i64::from(page.size))
                .bind(page.offset())
                .fetch_all(p)
                .await?;
            let total: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM remote_state_consumers WHERE workspace_id = $1",
            )
            .bind(workspace_id)
            .fetch_one(p)
            .await?;
            Ok(Page {
                items,
                total: to_u64(total),
            })
        })
    }

    async fn list_project_neighbours(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>> {
        let listing = Listing {
            select: SELECT,
            table: "workspaces w",
            joins: JOINS,
            key: "w.id",
            order: "w.name",
        };
        on_pool!(&self.pool, |p| {
            // The other workspaces of its project (none if it has no project).
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push(
                    "w.project_id = (SELECT src.project_id FROM workspaces src WHERE src.id = ",
                )
                .push_bind(workspace_id.to_string())
                .push(") AND w.id <> ")
                .push_bind(workspace_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn add_remote_state_consumers(
        &self,
        workspace_id: &str,
        consumer_ids: &[String],
        replace: bool,
        at: DateTime<Utc>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            if replace {
                sqlx::query("DELETE FROM remote_state_consumers WHERE workspace_id = $1")
                    .bind(workspace_id)
                    .execute(&mut *tx)
                    .await?;
            }
            for consumer in consumer_ids {
                sqlx::query(INSERT)
                    .bind(workspace_id)
                    .bind(consumer)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn remove_remote_state_consumers(
        &self,
        workspace_id: &str,
        consumer_ids: &[String],
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            for consumer in consumer_ids {
                sqlx::query(
                    "DELETE FROM remote_state_consumers WHERE workspace_id = $1 AND consumer_id = $2",
                )
                .bind(workspace_id)
                .bind(consumer)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn is_remote_state_consumer(
        &self,
        workspace_id: &str,
        consumer_id: &str,
    ) -> StorageResult<bool> {
        // COUNT(*) is a BIGINT on both databases (a bare `1` would be an INT4 on PostgreSQL).
        let found: i64 = on_pool!(&self.pool, |p| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM remote_state_consumers \
                 WHERE workspace_id = $1 AND consumer_id = $2",
            )
            .bind(workspace_id)
            .bind(consumer_id)
            .fetch_one(p)
            .await
        })?;
        Ok(found > 0)
    }
}
