use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{contains_pattern, on_pool, to_u64, BeginWrite, SqlStore};
use crate::model::{AgentPool, AgentPoolScope, AgentPoolSort, Page, PageRequest, Project};
use crate::store::AgentPoolStore;
use crate::{StorageError, StorageResult};

const COLUMNS: &str = "id, organization_id, name, organization_scoped, created_at";

/// The tables of a pool's scope, and the column each links the pool to, in the order of
/// [`AgentPoolScope`]'s fields.
const SCOPE_TABLES: [&str; 3] = [
    "agent_pool_allowed_workspaces",
    "agent_pool_allowed_projects",
    "agent_pool_excluded_workspaces",
];
const SCOPE_COLUMNS: [&str; 3] = ["workspace_id", "project_id", "workspace_id"];

/// Inserts a pool's scope, inside the caller's transaction.
macro_rules! write_scope {
    ($tx:expr, $pool_id:expr, $scope:expr) => {
        let lists = [
            &$scope.allowed_workspaces,
            &$scope.allowed_projects,
            &$scope.excluded_workspaces,
        ];
        for ((table, column), ids) in SCOPE_TABLES.iter().zip(SCOPE_COLUMNS).zip(lists) {
            let sql = format!(
                "INSERT INTO {table} (pool_id, {column}) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            );
            for id in ids {
                sqlx::query(&sql)
                    .bind($pool_id)
                    .bind(id)
                    .execute(&mut **$tx)
                    .await?;
            }
        }
    };
}

#[async_trait]
impl AgentPoolStore for SqlStore {
    async fn create_agent_pool(
        &self,
        pool: &AgentPool,
        scope: &AgentPoolScope,
    ) -> StorageResult<()> {
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
            write_scope!(&mut tx, &pool.id, scope);
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
        sort: AgentPoolSort,
        page: PageRequest,
    ) -> StorageResult<Page<AgentPool>> {
        let order = match sort {
            AgentPoolSort::Name => "name, id",
            AgentPoolSort::NameDesc => "name DESC, id DESC",
            AgentPoolSort::CreatedAt => "created_at, id",
            AgentPoolSort::CreatedAtDesc => "created_at DESC, id DESC",
        };
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "agent_pools",
            joins: "",
            key: "agent_pools.id",
            order,
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ").push_bind(org_id.to_string());
                if let Some(query) = query {
                    qb.push(" AND lower(name) LIKE ")
                        .push_bind(contains_pattern(query))
                        .push(" ESCAPE '\\'");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_agent_pool(
        &self,
        pool: &AgentPool,
        scope: Option<&AgentPoolScope>,
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
            if let Some(scope) = scope {
                for table in SCOPE_TABLES {
                    sqlx::query(&format!("DELETE FROM {table} WHERE pool_id = $1"))
                        .bind(&pool.id)
                        .execute(&mut *tx)
                        .await?;
                }
                write_scope!(&mut tx, &pool.id, scope);
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
                 + (SELECT COUNT(*) FROM projects WHERE default_agent_pool_id = $1) \
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

    async fn agent_pool_scope(&self, pool_id: &str) -> StorageResult<AgentPoolScope> {
        on_pool!(&self.pool, |p| {
            let mut lists = Vec::with_capacity(SCOPE_TABLES.len());
            for (table, column) in SCOPE_TABLES.iter().zip(SCOPE_COLUMNS) {
                let ids: Vec<String> = sqlx::query_scalar(&format!(
                    "SELECT {column} FROM {table} WHERE pool_id = $1 ORDER BY {column}"
                ))
                .bind(pool_id)
                .fetch_all(p)
                .await?;
                lists.push(ids);
            }
            let [allowed_workspaces, allowed_projects, excluded_workspaces]: [Vec<String>; 3] =
                lists.try_into().expect("one list per scope table");
            Ok(AgentPoolScope {
                allowed_workspaces,
                allowed_projects,
                excluded_workspaces,
            })
        })
    }

    async fn agent_pool_workspaces(&self, pool_id: &str) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT id FROM workspaces WHERE agent_pool_id = $1 ORDER BY id"
        )
        .bind(pool_id)
        .fetch_all(p)
        .await)?)
    }

    async fn agent_pool_projects(&self, pool_id: &str) -> StorageResult<Vec<Project>> {
        let sql = format!(
            "SELECT {} FROM projects WHERE default_agent_pool_id = $1 ORDER BY id",
            super::projects::COLUMNS
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
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
