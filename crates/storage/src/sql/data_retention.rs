use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::{on_pool, SqlStore};
use crate::model::DataRetentionPolicy;
use crate::store::{DataRetentionStore, RetentionSubject};
use crate::StorageResult;

const COLUMNS: &str =
    "id, organization_id, workspace_id, kind, delete_older_than_n_days, updated_at";

#[async_trait]
impl DataRetentionStore for SqlStore {
    async fn data_retention_policies(
        &self,
        owner_ids: &[String],
    ) -> StorageResult<Vec<DataRetentionPolicy>> {
        if owner_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {COLUMNS} FROM data_retention_policies WHERE owner_id IN ("
            ));
            let mut ids = qb.separated(", ");
            for id in owner_ids {
                ids.push_bind(id.clone());
            }
            qb.push(")");
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    async fn set_data_retention_policy(
        &self,
        policy: &DataRetentionPolicy,
    ) -> StorageResult<DataRetentionPolicy> {
        let owner = policy
            .workspace_id
            .clone()
            .unwrap_or_else(|| policy.organization_id.clone());
        let sql = format!(
            "INSERT INTO data_retention_policies (owner_id, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (owner_id) DO UPDATE SET \
             id = CASE WHEN data_retention_policies.kind = excluded.kind \
                  THEN data_retention_policies.id ELSE excluded.id END, \
             kind = excluded.kind, \
             delete_older_than_n_days = excluded.delete_older_than_n_days, \
             updated_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(&owner)
            .bind(&policy.id)
            .bind(&policy.organization_id)
            .bind(&policy.workspace_id)
            .bind(policy.kind)
            .bind(policy.delete_older_than_n_days)
            .bind(policy.updated_at)
            .fetch_one(p)
            .await)?)
    }

    async fn delete_data_retention_policy(&self, owner_id: &str) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM data_retention_policies WHERE owner_id = $1"
        )
        .bind(owner_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn retention_subjects(&self) -> StorageResult<Vec<RetentionSubject>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT w.id AS workspace_id, \
             op.kind AS organization_kind, op.delete_older_than_n_days AS organization_days, \
             wp.kind AS workspace_kind, wp.delete_older_than_n_days AS workspace_days \
             FROM workspaces w \
             LEFT JOIN data_retention_policies op ON op.owner_id = w.organization_id \
             LEFT JOIN data_retention_policies wp ON wp.owner_id = w.id \
             WHERE op.owner_id IS NOT NULL OR wp.owner_id IS NOT NULL \
             ORDER BY w.id"
        )
        .fetch_all(p)
        .await)?)
    }
}
