use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, SqlStore};
use crate::model::{Engine, Page, PageRequest, ToolArchive};
use crate::store::ToolArchiveStore;
use crate::{StorageError, StorageResult};

const COLUMNS: &str =
    "id, engine, version, os, arch, filename, sha256, size, origin, blob_key, created_at";

#[async_trait]
impl ToolArchiveStore for SqlStore {
    async fn create_tool_archive(&self, a: &ToolArchive) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO tool_archives ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&a.id)
            .bind(a.engine)
            .bind(&a.version)
            .bind(&a.os)
            .bind(&a.arch)
            .bind(&a.filename)
            .bind(&a.sha256)
            .bind(a.size)
            .bind(a.origin)
            .bind(&a.blob_key)
            .bind(a.created_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "tool archive"))?;
        Ok(())
    }

    async fn tool_archive(
        &self,
        engine: Engine,
        version: &str,
        os: &str,
        arch: &str,
    ) -> StorageResult<Option<ToolArchive>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tool_archives \
             WHERE engine = $1 AND version = $2 AND os = $3 AND arch = $4"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(engine)
            .bind(version)
            .bind(os)
            .bind(arch)
            .fetch_optional(p)
            .await)?)
    }

    async fn tool_archive_by_id(&self, id: &str) -> StorageResult<Option<ToolArchive>> {
        let sql = format!("SELECT {COLUMNS} FROM tool_archives WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_tool_archives(&self, page: PageRequest) -> StorageResult<Page<ToolArchive>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "tool_archives",
            joins: "",
            key: "tool_archives.id",
            order: "engine, version, os, arch, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("1 = 1");
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn delete_tool_archive(&self, id: &str) -> StorageResult<bool> {
        let n = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM tool_archives WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}
