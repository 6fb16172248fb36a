//! The provider mirror's cache of other registries' archives.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{on_pool, SqlStore};
use crate::model::MirrorArchive;
use crate::store::ProviderMirrorStore;
use crate::StorageResult;

const COLUMNS: &str = "id, hostname, namespace, type, version, os, arch, filename, sha256, \
     blob_key, size, created_at, cached_at";

#[async_trait]
impl ProviderMirrorStore for SqlStore {
    async fn record_mirror_archives(&self, archives: &[MirrorArchive]) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO provider_mirror_archives ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (hostname, namespace, type, version, os, arch) DO NOTHING"
        );
        for a in archives {
            on_pool!(&self.pool, |p| sqlx::query(&sql)
                .bind(&a.id)
                .bind(&a.hostname)
                .bind(&a.namespace)
                .bind(&a.kind)
                .bind(&a.version)
                .bind(&a.os)
                .bind(&a.arch)
                .bind(&a.filename)
                .bind(&a.sha256)
                .bind(&a.blob_key)
                .bind(a.size)
                .bind(a.created_at)
                .bind(a.cached_at)
                .execute(p)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    async fn mirror_archives(
        &self,
        hostname: &str,
        namespace: &str,
        kind: &str,
        version: &str,
    ) -> StorageResult<Vec<MirrorArchive>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM provider_mirror_archives \
             WHERE hostname = $1 AND namespace = $2 AND type = $3 AND version = $4 \
             ORDER BY os, arch"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(hostname)
            .bind(namespace)
            .bind(kind)
            .bind(version)
            .fetch_all(p)
            .await)?)
    }

    async fn mirror_archive_by_id(&self, id: &str) -> StorageResult<Option<MirrorArchive>> {
        let sql = format!("SELECT {COLUMNS} FROM provider_mirror_archives WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn mirror_cached_versions(
        &self,
        hostname: &str,
        namespace: &str,
        kind: &str,
    ) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT DISTINCT version FROM provider_mirror_archives \
             WHERE hostname = $1 AND namespace = $2 AND type = $3 AND blob_key IS NOT NULL \
             ORDER BY version"
        )
        .bind(hostname)
        .bind(namespace)
        .bind(kind)
        .fetch_all(p)
        .await)?)
    }

    async fn finish_mirror_archive(
        &self,
        id: &str,
        blob_key: &str,
        size: i64,
        now: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE provider_mirror_archives SET blob_key = $2, size = $3, cached_at = $4 \
             WHERE id = $1 AND blob_key IS NULL"
        )
        .bind(id)
        .bind(blob_key)
        .bind(size)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
