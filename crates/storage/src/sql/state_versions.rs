use std::collections::HashMap;

use async_trait::async_trait;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, push_in_list, BeginWrite, SqlStore, KEYS_PER_STATEMENT};
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::model::{
    CurrentResources, JsonText, Page, PageRequest, ResourceSummary, StateSummary, StateVersion,
    StateVersionOutput, StateVersionStatus,
};
use crate::store::StateVersionStore;
use crate::StorageResult;

/// Without `resources`: up to 10,000 summaries (a megabyte or two of JSON), which only a
/// version's own document shows (`resources_of_state_versions`), not the version's every use.
const COLUMNS: &str = "id, workspace_id, serial, lineage, md5, size, status, \
    json_state_uploaded, terraform_version, resource_count, run_id, created_by, created_at";
/// The versions a workspace lists: finalized ones, with or without their backing data.
const LISTED: &str = "status IN ('finalized', 'backing_data_soft_deleted', \
    'backing_data_permanently_deleted')";
/// A version that is not its workspace's current state (whose backing data must stay).
const NOT_CURRENT: &str = "NOT EXISTS (SELECT 1 FROM workspaces w \
    WHERE w.current_state_version_id = state_versions.id)";
const OUTPUT_COLUMNS: &str = "id, state_version_id, name, sensitive, type_json, value_ciphertext";

/// Inserts state version outputs inside the caller's transaction.
macro_rules! insert_outputs {
    ($tx:expr, $sql:expr, $outputs:expr) => {
        for output in $outputs {
            sqlx::query($sql)
                .bind(&output.id)
                .bind(&output.state_version_id)
                .bind(&output.name)
                .bind(output.sensitive)
                .bind(&output.type_json)
                .bind(&output.value_ciphertext)
                .execute(&mut **$tx)
                .await?;
        }
    };
}

#[async_trait]
impl StateVersionStore for SqlStore {
    async fn create_state_version(
        &self,
        sv: &StateVersion,
        outputs: &[StateVersionOutput],
    ) -> StorageResult<()> {
        // Resources (none until then) are recorded as the version is finalized.
        let insert = format!(
            "INSERT INTO state_versions ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        let insert_output = format!(
            "INSERT INTO state_version_outputs ({OUTPUT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "UPDATE state_versions SET status = 'discarded' \
                 WHERE workspace_id = $1 AND status = 'pending'",
            )
            .bind(&sv.workspace_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&insert)
                .bind(&sv.id)
                .bind(&sv.workspace_id)
                .bind(sv.serial)
                .bind(&sv.lineage)
                .bind(&sv.md5)
                .bind(sv.size)
                .bind(sv.status)
                .bind(sv.json_state_uploaded)
                .bind(&sv.terraform_version)
                .bind(sv.resource_count)
                .bind(&sv.run_id)
                .bind(&sv.created_by)
                .bind(sv.created_at)
                .execute(&mut *tx)
                .await?;
            insert_outputs!(&mut tx, &insert_output, outputs);
            tx.commit().await?;
            Ok(())
        })
    }

    async fn state_version_by_id(&self, id: &str) -> StorageResult<Option<StateVersion>> {
        let sql = format!("SELECT {COLUMNS} FROM state_versions WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn resources_of_state_versions(
        &self,
        ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<ResourceSummary>>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(KEYS_PER_STATEMENT) {
            let rows: Vec<(String, JsonText<Vec<ResourceSummary>>)> = on_pool!(&self.pool, |p| {
                let mut qb =
                    QueryBuilder::new("SELECT id, resources FROM state_versions WHERE id IN ");
                push_in_list(&mut qb, chunk);
                qb.build_query_as().fetch_all(p).await
            })?;
            found.extend(rows.into_iter().map(|(id, resources)| (id, resources.0)));
        }
        Ok(found)
    }

    async fn current_resources(
        &self,
        org_id: &str,
        visible_to_teams: Option<&[String]>,
    ) -> StorageResult<Vec<CurrentResources>> {
        Ok(on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(
                "SELECT w.id AS workspace_id, w.name AS workspace_name, w.project_id, sv.resources \
                 FROM workspaces w JOIN state_versions sv ON sv.id = w.current_state_version_id \
                 WHERE w.organization_id = ",
            );
            qb.push_bind(org_id.to_string());
            if let Some(teams) = visible_to_teams {
                super::push_visible_workspaces(&mut qb, teams);
            }
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    async fn list_state_versions(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<StateVersion>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "state_versions",
            joins: "",
            key: "state_versions.id",
            order: "created_at DESC, serial DESC",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("workspace_id = ")
                    .push_bind(workspace_id.to_string())
                    .push(" AND ")
                    .push(LISTED);
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn finalize_state_version(
        &self,
        id: &str,
        summary: &StateSummary,
    ) -> StorageResult<bool> {
        let insert_output = format!(
            "INSERT INTO state_version_outputs ({OUTPUT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let finalized = sqlx::query(
                "UPDATE state_versions SET status = 'finalized', size = $2, resource_count = $3, \
                 resources = $4, terraform_version = COALESCE($5, terraform_version) \
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id)
            .bind(summary.size)
            .bind(summary.resource_count)
            .bind(JsonText(&summary.resources))
            .bind(&summary.terraform_version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if finalized == 0 {
                return Ok(false);
            }
            if let Some(outputs) = &summary.outputs {
                sqlx::query("DELETE FROM state_version_outputs WHERE state_version_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                insert_outputs!(&mut tx, &insert_output, outputs);
            }
            sqlx::query(
                "UPDATE workspaces SET current_state_version_id = $1 \
                 WHERE id = (SELECT workspace_id FROM state_versions WHERE id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn mark_json_state_uploaded(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE state_versions SET json_state_uploaded = TRUE WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn outputs_of_state_versions(
        &self,
        ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<StateVersionOutput>>> {
        let mut found: HashMap<String, Vec<StateVersionOutput>> = HashMap::new();
        for chunk in ids.chunks(KEYS_PER_STATEMENT) {
            let rows: Vec<StateVersionOutput> = on_pool!(&self.pool, |p| {
                let mut qb = QueryBuilder::new(format!(
                    "SELECT {OUTPUT_COLUMNS} FROM state_version_outputs WHERE state_version_id IN "
                ));
                push_in_list(&mut qb, chunk);
                qb.push(" ORDER BY state_version_id, name");
                qb.build_query_as().fetch_all(p).await
            })?;
            for output in rows {
                found
                    .entry(output.state_version_id.clone())
                    .or_default()
                    .push(output);
            }
        }
        Ok(found)
    }

    async fn state_version_output_by_id(
        &self,
        id: &str,
    ) -> StorageResult<Option<StateVersionOutput>> {
        let sql = format!("SELECT {OUTPUT_COLUMNS} FROM state_version_outputs WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn state_version_ids(&self, workspace_id: &str) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT id FROM state_versions WHERE workspace_id = $1"
        )
        .bind(workspace_id)
        .fetch_all(p)
        .await)?)
    }

    async fn transition_state_version(
        &self,
        id: &str,
        from: StateVersionStatus,
        to: StateVersionStatus,
    ) -> StorageResult<bool> {
        let sql = format!(
            "UPDATE state_versions SET status = $3 WHERE id = $1 AND status = $2 AND {NOT_CURRENT}"
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

    async fn soft_delete_state_versions_before(
        &self,
        workspace_id: &str,
        cutoff: DateTime<Utc>,
    ) -> StorageResult<u64> {
        let sql = format!(
            "UPDATE state_versions SET status = 'backing_data_soft_deleted' \
             WHERE workspace_id = $1 AND status = 'finalized' AND created_at < $2 AND {NOT_CURRENT}"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(workspace_id)
            .bind(cutoff)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
