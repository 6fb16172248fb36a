//! The private provider registry: GPG keys, providers, versions and platforms.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{contains_pattern, on_pool, push_in_list, SqlStore};
use crate::model::{
    GpgKey, Page, PageRequest, ProviderPlatform, ProviderVersion, RegistryProvider,
};
use crate::store::ProviderRegistryStore;
use crate::{StorageError, StorageResult};

const KEY_COLUMNS: &str = "id, organization_id, key_id, ascii_armor, created_at, updated_at";
const PROVIDER_COLUMNS: &str = "id, organization_id, name, created_at, updated_at";
const VERSION_COLUMNS: &str = "id, provider_id, version, key_id, protocols, shasums, \
     shasums_signature, created_at, updated_at";
const PLATFORM_COLUMNS: &str =
    "id, version_id, os, arch, filename, shasum, binary_key, created_at, updated_at";

#[async_trait]
impl ProviderRegistryStore for SqlStore {
    async fn create_gpg_key(&self, key: &GpgKey) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO registry_gpg_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&key.id)
            .bind(&key.organization_id)
            .bind(&key.key_id)
            .bind(&key.ascii_armor)
            .bind(key.created_at)
            .bind(key.updated_at)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| StorageError::from_write(e, "GPG key"))
    }

    async fn gpg_key(&self, org_id: &str, key_id: &str) -> StorageResult<Option<GpgKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM registry_gpg_keys WHERE organization_id = $1 AND key_id = $2"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(key_id)
            .fetch_optional(p)
            .await)?)
    }

    async fn gpg_key_by_id(&self, id: &str) -> StorageResult<Option<GpgKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM registry_gpg_keys WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_gpg_keys(
        &self,
        org_ids: &[String],
        page: PageRequest,
    ) -> StorageResult<Page<GpgKey>> {
        let select = format!("SELECT {KEY_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "registry_gpg_keys",
            joins: "",
            key: "registry_gpg_keys.id",
            order: "created_at, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id IN ");
                push_in_list(qb, org_ids);
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn move_gpg_key(&self, id: &str, org_id: &str, now: DateTime<Utc>) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE registry_gpg_keys SET organization_id = $2, updated_at = $3 WHERE id = $1"
        )
        .bind(id)
        .bind(org_id)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(|e| StorageError::from_write(e, "GPG key"))
    }

    async fn delete_gpg_key(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM registry_gpg_keys WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn create_registry_provider(&self, provider: &RegistryProvider) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO registry_providers ({PROVIDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&provider.id)
            .bind(&provider.organization_id)
            .bind(&provider.name)
            .bind(provider.created_at)
            .bind(provider.updated_at)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| StorageError::from_write(e, "registry provider"))
    }

    async fn registry_provider(
        &self,
        org_id: &str,
        name: &str,
    ) -> StorageResult<Option<RegistryProvider>> {
        let sql = format!(
            "SELECT {PROVIDER_COLUMNS} FROM registry_providers WHERE organization_id = $1 AND name = $2"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(name)
            .fetch_optional(p)
            .await)?)
    }

    async fn registry_provider_by_id(&self, id: &str) -> StorageResult<Option<RegistryProvider>> {
        let sql = format!("SELECT {PROVIDER_COLUMNS} FROM registry_providers WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_registry_providers(
        &self,
        org_id: &str,
        query: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<RegistryProvider>> {
        let select = format!("SELECT {PROVIDER_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "registry_providers",
            joins: "",
            key: "registry_providers.id",
            order: "name, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ")
                    .push_bind(org_id.to_string())
                    .push(" AND lower(name) LIKE ")
                    .push_bind(contains_pattern(query.unwrap_or_default()))
                    .push(" ESCAPE '\\'");
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn delete_registry_provider(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM registry_providers WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn create_provider_version(&self, version: &ProviderVersion) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO registry_provider_versions ({VERSION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&version.id)
            .bind(&version.provider_id)
            .bind(&version.version)
            .bind(&version.key_id)
            .bind(&version.protocols)
            .bind(&version.shasums)
            .bind(&version.shasums_signature)
            .bind(version.created_at)
            .bind(version.updated_at)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| StorageError::from_write(e, "provider version"))
    }

    async fn provider_version(
        &self,
        provider_id: &str,
        version: &str,
    ) -> StorageResult<Option<ProviderVersion>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM registry_provider_versions \
             WHERE provider_id = $1 AND version = $2"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(provider_id)
            .bind(version)
            .fetch_optional(p)
            .await)?)
    }

    async fn provider_version_by_id(&self, id: &str) -> StorageResult<Option<ProviderVersion>> {
        let sql = format!("SELECT {VERSION_COLUMNS} FROM registry_provider_versions WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_provider_versions(
        &self,
        provider_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ProviderVersion>> {
        let select = format!("SELECT {VERSION_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "registry_provider_versions",
            joins: "",
            key: "registry_provider_versions.id",
            order: "created_at, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("provider_id = ").push_bind(provider_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn delete_provider_version(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM registry_provider_versions WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn set_provider_shasums(
        &self,
        version_id: &str,
        shasums: &str,
        now: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE registry_provider_versions SET shasums = $2, updated_at = $3 \
             WHERE id = $1 AND shasums_signature IS NULL"
        )
        .bind(version_id)
        .bind(shasums)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    async fn set_provider_shasums_signature(
        &self,
        version_id: &str,
        shasums: &str,
        signature: &[u8],
        now: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE registry_provider_versions SET shasums_signature = $3, updated_at = $4 \
             WHERE id = $1 AND shasums = $2 AND shasums_signature IS NULL"
        )
        .bind(version_id)
        .bind(shasums)
        .bind(signature)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    async fn create_provider_platform(&self, platform: &ProviderPlatform) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO registry_provider_platforms ({PLATFORM_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&platform.id)
            .bind(&platform.version_id)
            .bind(&platform.os)
            .bind(&platform.arch)
            .bind(&platform.filename)
            .bind(&platform.shasum)
            .bind(&platform.binary_key)
            .bind(platform.created_at)
            .bind(platform.updated_at)
            .execute(p)
            .await
            .map(|_| ()))
        .map_err(|e| StorageError::from_write(e, "provider platform"))
    }

    async fn provider_platform(
        &self,
        version_id: &str,
        os: &str,
        arch: &str,
    ) -> StorageResult<Option<ProviderPlatform>> {
        let sql = format!(
            "SELECT {PLATFORM_COLUMNS} FROM registry_provider_platforms \
             WHERE version_id = $1 AND os = $2 AND arch = $3"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(version_id)
            .bind(os)
            .bind(arch)
            .fetch_optional(p)
            .await)?)
    }

    async fn provider_platform_by_id(&self, id: &str) -> StorageResult<Option<ProviderPlatform>> {
        let sql =
            format!("SELECT {PLATFORM_COLUMNS} FROM registry_provider_platforms WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_provider_platforms(
        &self,
        version_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ProviderPlatform>> {
        let select = format!("SELECT {PLATFORM_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "registry_provider_platforms",
            joins: "",
            key: "registry_provider_platforms.id",
            order: "os, arch",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("version_id = ").push_bind(version_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn delete_provider_platform(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM registry_provider_platforms WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn finish_provider_binary(
        &self,
        platform_id: &str,
        binary_key: &str,
        now: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE registry_provider_platforms SET binary_key = $2, updated_at = $3 \
             WHERE id = $1 AND binary_key IS NULL"
        )
        .bind(platform_id)
        .bind(binary_key)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}
