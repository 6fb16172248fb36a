use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, BeginWrite, SqlStore};
use crate::model::{ConfigurationStatus, ConfigurationVersion, Page, PageRequest, UploadOutcome};
use crate::store::ConfigurationStore;
use crate::StorageResult;

const COLUMNS: &str = "id, workspace_id, status, source, speculative, provisional, \
    auto_queue_runs, size, error, error_message, created_at, uploaded_at, archived_at, \
    tarball_key";

/// A version that may lose its backing data: not its workspace's current configuration (the
/// newest that is not provisional), and no unfinished run uses it.
const NOT_IN_USE: &str = "configuration_versions.id <> COALESCE((SELECT c.id \
    FROM configuration_versions c WHERE c.workspace_id = configuration_versions.workspace_id \
    AND NOT c.provisional ORDER BY c.created_at DESC, c.id LIMIT 1), '') \
    AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.configuration_version_id = configuration_versions.id \
    AND r.status NOT IN ('planned_and_finished', 'applied', 'discarded', 'errored', 'canceled'))";

#[async_trait]
impl ConfigurationStore for SqlStore {
    async fn create_configuration_version(&self, cv: &ConfigurationVersion) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO configuration_versions ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&cv.id)
            .bind(&cv.workspace_id)
            .bind(cv.status)
            .bind(&cv.source)
            .bind(cv.speculative)
            .bind(cv.provisional)
            .bind(cv.auto_queue_runs)
            .bind(cv.size)
            .bind(&cv.error)
            .bind(&cv.error_message)
            .bind(cv.created_at)
            .bind(cv.uploaded_at)
            .bind(cv.archived_at)
            .bind(&cv.tarball_key)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn configuration_version_by_id(
        &self,
        id: &str,
    ) -> StorageResult<Option<ConfigurationVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM configuration_versions WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_configuration_versions(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ConfigurationVersion>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "configuration_versions",
            joins: "",
            key: "configuration_versions.id",
            order: "created_at DESC, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("workspace_id = ")
                    .push_bind(workspace_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn current_configuration_version(
        &self,
        workspace_id: &str,
    ) -> StorageResult<Option<ConfigurationVersion>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM configuration_versions WHERE workspace_id = $1 \
             AND NOT provisional ORDER BY created_at DESC, id LIMIT 1"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(workspace_id)
            .fetch_optional(p)
            .await)?)
    }

    async fn finish_configuration_upload(
        &self,
        id: &str,
        outcome: UploadOutcome<'_>,
        at: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let (status, size, key, error_message) = match outcome {
            UploadOutcome::Uploaded { size, tarball_key } => {
                (ConfigurationStatus::Uploaded, size, Some(tarball_key), None)
            }
            UploadOutcome::Errored { message } => {
                (ConfigurationStatus::Errored, 0, None, Some(message))
            }
        };
        let error = error_message.map(|_| "invalid-configuration");
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE configuration_versions SET status = $2, size = $3, error = $4, \
             error_message = $5, uploaded_at = $6, tarball_key = $7 \
             WHERE id = $1 AND status = 'pending'"
        )
        .bind(id)
        .bind(status)
        .bind(size)
        .bind(error)
        .bind(error_message)
        .bind(at)
        .bind(key)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn archive_configuration_version(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE configuration_versions SET status = 'archived', archived_at = $2 \
             WHERE id = $1 AND status = 'uploaded'"
        )
        .bind(id)
        .bind(at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn replace_configuration_tarball(
        &self,
        id: &str,
        old_key: Option<&str>,
        outcome: UploadOutcome<'_>,
        at: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let UploadOutcome::Uploaded { size, tarball_key } = outcome else {
            return Ok(false);
        };
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            // The update locks the row first: a run created meanwhile (which locks it too,
            // see `create_run`) is either seen below or created after this commits.
            let replaced = sqlx::query(
                "UPDATE configuration_versions SET size = $3, uploaded_at = $4, tarball_key = $5 \
                 WHERE id = $1 AND status = 'uploaded' AND tarball_key IS NOT DISTINCT FROM $2",
            )
            .bind(id)
            .bind(old_key)
            .bind(size)
            .bind(at)
            .bind(tarball_key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if replaced == 0 {
                return Ok(false);
            }
            let used: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM runs WHERE configuration_version_id = $1)",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if used {
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn transition_configuration_version(
        &self,
        id: &str,
        from: ConfigurationStatus,
        to: ConfigurationStatus,
    ) -> StorageResult<bool> {
        let sql = format!(
            "UPDATE configuration_versions SET status = $3 \
             WHERE id = $1 AND status = $2 AND {NOT_IN_USE}"
        );
        let done = on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(id)
            .bind(from)
            .bind(to)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn soft_delete_configurations_before(
        &self,
        workspace_id: &str,
        cutoff: DateTime<Utc>,
    ) -> StorageResult<u64> {
        let sql = format!(
            "UPDATE configuration_versions SET status = 'backing_data_soft_deleted' \
             WHERE workspace_id = $1 AND status = 'uploaded' AND created_at < $2 AND {NOT_IN_USE}"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(workspace_id)
            .bind(cutoff)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
