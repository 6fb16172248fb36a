use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{escape_like, on_pool, to_u64, SqlStore};
use crate::model::{Engine, Page, PageRequest, ToolVersion};
use crate::store::{ToolVersionFilter, ToolVersionStore};
use crate::{StorageError, StorageResult};

const COLUMNS: &str = "id, engine, version, official, enabled, beta, deprecated, \
    deprecated_reason, archs, created_at";

#[async_trait]
impl ToolVersionStore for SqlStore {
    async fn create_tool_version(&self, v: &ToolVersion) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO tool_versions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&v.id)
            .bind(v.engine)
            .bind(&v.version)
            .bind(v.official)
            .bind(v.enabled)
            .bind(v.beta)
            .bind(v.deprecated)
            .bind(&v.deprecated_reason)
            .bind(&v.archs)
            .bind(v.created_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "version"))?;
        Ok(())
    }

    async fn tool_version_by_id(&self, id: &str) -> StorageResult<Option<ToolVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM tool_versions WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_tool_versions(
        &self,
        engine: Engine,
        filter: &ToolVersionFilter,
        page: PageRequest,
    ) -> StorageResult<Page<ToolVersion>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "tool_versions",
            joins: "",
            key: "tool_versions.id",
            order: "created_at DESC, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("engine = ").push_bind(engine.as_str());
                if let Some(version) = &filter.version {
                    qb.push(" AND version = ").push_bind(version.clone());
                }
                if let Some(search) = &filter.search {
                    qb.push(" AND version LIKE ")
                        .push_bind(format!("%{}%", escape_like(search)))
                        .push(" ESCAPE '\\'");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn all_tool_versions(&self, engine: Engine) -> StorageResult<Vec<ToolVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM tool_versions WHERE engine = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(engine)
            .fetch_all(p)
            .await)?)
    }

    async fn update_tool_version(&self, v: &ToolVersion) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE tool_versions SET version = $2, official = $3, enabled = $4, beta = $5, \
             deprecated = $6, deprecated_reason = $7, archs = $8 WHERE id = $1"
        )
        .bind(&v.id)
        .bind(&v.version)
        .bind(v.official)
        .bind(v.enabled)
        .bind(v.beta)
        .bind(v.deprecated)
        .bind(&v.deprecated_reason)
        .bind(&v.archs)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "version"))?;
        Ok(())
    }

    async fn delete_tool_version(&self, id: &str) -> StorageResult<bool> {
        let n = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM tool_versions WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    async fn tool_version_usage(&self, engine: Engine, version: &str) -> StorageResult<u64> {
        let n: i64 = on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM workspaces WHERE engine = $1 AND terraform_version = $2"
        )
        .bind(engine)
        .bind(version)
        .fetch_one(p)
        .await)?;
        Ok(to_u64(n))
    }
}
