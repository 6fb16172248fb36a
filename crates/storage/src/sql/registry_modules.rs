use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{contains_pattern, on_pool, push_in_list, BeginWrite, SqlStore};
use crate::model::{ModuleVersionStatus, Page, PageRequest, RegistryModule, RegistryModuleVersion};
use crate::store::{RegistryModuleFilter, RegistryModuleStore};
use crate::{StorageError, StorageResult};

const MODULE_COLUMNS: &str = "id, organization_id, name, provider, created_at, updated_at";
const VERSION_COLUMNS: &str =
    "id, module_id, version, status, size, tarball_key, created_at, updated_at";

#[async_trait]
impl RegistryModuleStore for SqlStore {
    async fn create_registry_module(&self, m: &RegistryModule) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO registry_modules ({MODULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&m.id)
            .bind(&m.organization_id)
            .bind(&m.name)
            .bind(&m.provider)
            .bind(m.created_at)
            .bind(m.updated_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "module"))?;
        Ok(())
    }

    async fn registry_module_by_id(&self, id: &str) -> StorageResult<Option<RegistryModule>> {
        let sql = format!("SELECT {MODULE_COLUMNS} FROM registry_modules WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn registry_module(
        &self,
        org_id: &str,
        name: &str,
        provider: &str,
    ) -> StorageResult<Option<RegistryModule>> {
        let sql = format!(
            "SELECT {MODULE_COLUMNS} FROM registry_modules \
             WHERE organization_id = $1 AND name = $2 AND provider = $3"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(name)
            .bind(provider)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_registry_modules(
        &self,
        org_id: &str,
        filter: &RegistryModuleFilter,
        page: PageRequest,
    ) -> StorageResult<Page<RegistryModule>> {
        let select = format!("SELECT {MODULE_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "registry_modules",
            joins: "",
            key: "registry_modules.id",
            order: "name, provider",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ").push_bind(org_id.to_string());
                if let Some(query) = &filter.query {
                    qb.push(" AND lower(name) LIKE ")
                        .push_bind(contains_pattern(query))
                        .push(" ESCAPE '\\'");
                }
                if let Some(provider) = &filter.provider {
                    qb.push(" AND provider = ").push_bind(provider.clone());
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn delete_registry_modules(
        &self,
        org_id: &str,
        name: &str,
        provider: Option<&str>,
    ) -> StorageResult<Option<Vec<String>>> {
        const MATCHING: &str = "SELECT id FROM registry_modules WHERE organization_id = $1 \
             AND name = $2 AND ($3 IS NULL OR provider = $3)";
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let keys: Vec<Option<String>> = sqlx::query_scalar(&format!(
                "SELECT tarball_key FROM registry_module_versions WHERE module_id IN ({MATCHING})"
            ))
            .bind(org_id)
            .bind(name)
            .bind(provider)
            .fetch_all(&mut *tx)
            .await?;
            let deleted = sqlx::query(&format!(
                "DELETE FROM registry_modules WHERE id IN ({MATCHING})"
            ))
            .bind(org_id)
            .bind(name)
            .bind(provider)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok::<_, StorageError>((deleted > 0).then(|| keys.into_iter().flatten().collect()))
        })
    }

    async fn create_module_version(&self, v: &RegistryModuleVersion) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO registry_module_versions ({VERSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&v.id)
            .bind(&v.module_id)
            .bind(&v.version)
            .bind(v.status)
            .bind(v.size)
            .bind(&v.tarball_key)
            .bind(v.created_at)
            .bind(v.updated_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "module version"))?;
        Ok(())
    }

    async fn module_version_by_id(&self, id: &str) -> StorageResult<Option<RegistryModuleVersion>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM registry_module_versions WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn module_versions(
        &self,
        module_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<RegistryModuleVersion>>> {
        let mut result: HashMap<String, Vec<RegistryModuleVersion>> = module_ids
            .iter()
            .map(|id| (id.clone(), Vec::new()))
            .collect();
        let rows: Vec<RegistryModuleVersion> = on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {VERSION_COLUMNS} FROM registry_module_versions WHERE module_id IN "
            ));
            push_in_list(&mut qb, module_ids);
            qb.push(" ORDER BY created_at, id");
            qb.build_query_as().fetch_all(p).await
        })?;
        for row in rows {
            result.entry(row.module_id.clone()).or_default().push(row);
        }
        Ok(result)
    }

    async fn finish_module_version_upload(
        &self,
        id: &str,
        tarball_key: &str,
        size: i64,
        at: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE registry_module_versions SET status = $2, tarball_key = $3, size = $4, \
             updated_at = $5 WHERE id = $1 AND status = $6"
        )
        .bind(id)
        .bind(ModuleVersionStatus::Ok)
        .bind(tarball_key)
        .bind(size)
        .bind(at)
        .bind(ModuleVersionStatus::Pending)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn delete_module_version(
        &self,
        module_id: &str,
        version: &str,
    ) -> StorageResult<Option<Option<String>>> {
        let sql = "DELETE FROM registry_module_versions WHERE module_id = $1 AND version = $2 \
                   RETURNING tarball_key";
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(sql)
            .bind(module_id)
            .bind(version)
            .fetch_optional(p)
            .await)?)
    }
}
