use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::{contains_pattern, on_pool, to_u64, BeginWrite, SqlStore};
use crate::model::{AgentPool, Page, PageRequest};
use crate::store::AgentPoolStore;
use crate::{StorageError, StorageResult};

const COLUMNS: &str = "id, organization_id, name, organization_scoped, created_at";

#[async_trait]
impl AgentPoolStore for SqlStore {
    async fn create_agent_pool(&self, pool: &AgentPool, allowed: &[String]) -> StorageResult<()> {
        let sql = format!("INSERT INTO agent_pools ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(&sql)
                .bind(&pool.id)
                .bind(&pool.organization_id)
                .bind(&pool.name)
                .bind(pool.organization_scoped)
                .bind(pool.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| StorageError::from_write(e, "agent pool name"))?;
            for workspace_id in allowed {
                sqlx::query(
                    "INSERT INTO agent_pool_allowed_workspaces (pool_id, workspace_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&pool.id)
                .bind(workspace_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn agent_pool_by_id(&self, id: &str) -> StorageResult<Option<AgentPool>> {
        let sql = format!("SELECT {COLUMNS} FROM agent_pools WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_agent_pools(
        &self,
        org_id: &str,
        query: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<AgentPool>> {
        on_pool!(&self.pool, |p| {
            let where_clause = |qb: &mut QueryBuilder<'_, _>| {
                qb.push(" FROM agent_pools WHERE organization_id = ")
                    .push_bind(org_id.to_string());
                if let Some(query) = query {
                    qb.push(" AND lower(name) LIKE ")
                        .push_bind(contains_pattern(query))
                        .push(" ESCAPE '\\'");
                }
            };
            let mut list = QueryBuilder::new(format!("SELECT {COLUMNS}"));
            where_clause(&mut list);
            list.push(" ORDER BY name, id LIMIT ")
                .push_bind(i64::from(page.size))
                .push(" OFFSET ")
                .push_bind(page.offset());
            let items = list.build_query_as().fetch_all(p).await?;
            let mut count = QueryBuilder::new("SELECT COUNT(*)");
            where_clause(&mut count);
            let total: i64 = count.build_query_scalar().fetch_one(p).await?;
            Ok(Page {
                items,
                total: to_u64(total),
            })
        })
    }

    async fn update_agent_pool(
        &self,
        pool: &AgentPool,
        allowed: Option<&[String]>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query("UPDATE agent_pools SET name = $2, organization_scoped = $3 WHERE id = $1")
                .bind(&pool.id)
                .bind(&pool.name)
                .bind(pool.organization_scoped)
                .execute(&mut *tx)
                .await
                .map_err(|e| StorageError::from_write(e, "agent pool name"))?;
            if let Some(allowed) = allowed {
                sqlx::query("DELETE FROM agent_pool_allowed_workspaces WHERE pool_id = $1")
                    .bind(&pool.id)
                    .execute(&mut *tx)
                    .await?;
                for workspace_id in allowed {
                    sqlx::query(
                        "INSERT INTO agent_pool_allowed_workspaces (pool_id, workspace_id) \
                         VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .bind(&pool.id)
                    .bind(workspace_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn delete_agent_pool(&self, id: &str) -> StorageResult<bool> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            // Used by a workspace, or by a job still waiting for (or running on) its agents.
            let in_use: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM workspaces WHERE agent_pool_id = $1) \
                 + (SELECT COUNT(*) FROM organizations WHERE default_agent_pool_id = $1) \
                 + (SELECT COUNT(*) FROM run_phases WHERE pool_id = $1 \
                    AND status IN ('queued', 'running'))",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if in_use > 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM tokens WHERE kind = 'agent' AND owner_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM listeners WHERE pool_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM agent_pools WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn agent_pool_allowed_workspaces(&self, pool_id: &str) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT workspace_id FROM agent_pool_allowed_workspaces WHERE pool_id = $1 \
             ORDER BY workspace_id"
        )
        .bind(pool_id)
        .fetch_all(p)
        .await)?)
    }

    async fn agent_pool_workspaces(&self, pool_id: &str) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT id FROM workspaces WHERE agent_pool_id = $1 ORDER BY id"
        )
        .bind(pool_id)
        .fetch_all(p)
        .await)?)
    }

    async fn running_jobs_by_listener(
        &self,
        listener_ids: &[String],
    ) -> StorageResult<HashMap<String, u64>> {
        if listener_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<(String, i64)> = on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(
                "SELECT listener_id, COUNT(*) FROM run_phases WHERE status = 'running' \
                 AND listener_id IN (",
            );
            let mut ids = qb.separated(", ");
            for id in listener_ids {
                ids.push_bind(id.clone());
            }
            qb.push(") GROUP BY listener_id");
            qb.build_query_as().fetch_all(p).await
        })?;
        Ok(rows.into_iter().map(|(id, n)| (id, to_u64(n))).collect())
    }
}
