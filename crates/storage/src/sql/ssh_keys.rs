//! SSH keys of organizations (their values sealed by the caller) and the key assigned to each
//! workspace (`workspace_ssh_keys`, at most one a workspace).

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, SqlStore};
use crate::model::{Page, PageRequest, SshKey};
use crate::store::SshKeyStore;
use crate::StorageResult;

const COLUMNS: &str = "id, organization_id, name, value_ciphertext, created_at, updated_at";

#[async_trait]
impl SshKeyStore for SqlStore {
    async fn create_ssh_key(&self, key: &SshKey) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO ssh_keys (id, organization_id, name, value_ciphertext, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&key.id)
        .bind(&key.organization_id)
        .bind(&key.name)
        .bind(&key.value_ciphertext)
        .bind(key.created_at)
        .bind(key.updated_at)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    async fn ssh_key_by_id(&self, id: &str) -> StorageResult<Option<SshKey>> {
        let sql = format!("SELECT {COLUMNS} FROM ssh_keys WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_ssh_keys(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<SshKey>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "ssh_keys",
            joins: "",
            key: "ssh_keys.id",
            order: "created_at, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ")
                    .push_bind(organization_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_ssh_key(&self, key: &SshKey) -> StorageResult<bool> {
        let updated = on_pool!(&self.pool, |p| {
            sqlx::query(
            "UPDATE ssh_keys SET name = $2, value_ciphertext = $3, updated_at = $4 WHERE id = $1"
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.value_ciphertext)
        .bind(key.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(updated > 0)
    }

    async fn delete_ssh_key(&self, id: &str) -> StorageResult<bool> {
        // The assignments go with it (ON DELETE CASCADE): HCP unassigns a deleted key.
        let deleted = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM ssh_keys WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    async fn set_workspace_ssh_key(
        &self,
        workspace_id: &str,
        ssh_key_id: Option<&str>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            match ssh_key_id {
                Some(key) => sqlx::query(
                    "INSERT INTO workspace_ssh_keys (workspace_id, ssh_key_id) VALUES ($1, $2) \
                     ON CONFLICT (workspace_id) DO UPDATE SET ssh_key_id = excluded.ssh_key_id",
                )
                .bind(workspace_id)
                .bind(key)
                .execute(p)
                .await?,
                None => {
                    sqlx::query("DELETE FROM workspace_ssh_keys WHERE workspace_id = $1")
                        .bind(workspace_id)
                        .execute(p)
                        .await?
                }
            };
            Ok(())
        })
    }
}
