use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, record_plan, Listing};
use super::{contains_pattern, on_pool, BeginWrite, SqlStore};
use crate::model::{Page, PageRequest, Variable, VariableSet};
use crate::store::{VariableOwner, VariableStore};
use crate::{StorageError, StorageResult};

const COLUMNS: &str = "id, workspace_id, varset_id, key, value_ciphertext, description, \
    category, hcl, sensitive, version_id, created_at, updated_at";
const SET_COLUMNS: &str =
    "id, organization_id, name, description, global, priority, project_id, created_at, updated_at";

/// Inserts or deletes `(varset, target)` links for each target, inside the caller's
/// transaction.
macro_rules! link_targets {
    ($tx:expr, $sql:expr, $set:expr, $targets:expr) => {
        for target in $targets {
            sqlx::query($sql)
                .bind($set)
                .bind(target)
                .execute(&mut **$tx)
                .await?;
        }
    };
}

#[async_trait]
impl VariableStore for SqlStore {
    async fn create_variable(&self, v: &Variable) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO variables ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&v.id)
            .bind(&v.workspace_id)
            .bind(&v.varset_id)
            .bind(&v.key)
            .bind(&v.value_ciphertext)
            .bind(&v.description)
            .bind(v.category)
            .bind(v.hcl)
            .bind(v.sensitive)
            .bind(&v.version_id)
            .bind(v.created_at)
            .bind(v.updated_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "variable key"))?;
        Ok(())
    }

    async fn variable_by_id(&self, id: &str) -> StorageResult<Option<Variable>> {
        let sql = format!("SELECT {COLUMNS} FROM variables WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_variables(&self, owner: &VariableOwner) -> StorageResult<Vec<Variable>> {
        let (column, id) = match owner {
            VariableOwner::Workspace(id) => ("workspace_id", id),
            VariableOwner::VariableSet(id) => ("varset_id", id),
        };
        on_pool!(&self.pool, |p| {
            let statement = |prefix: &str| {
                let mut qb = QueryBuilder::new(format!(
                    "{prefix}SELECT {COLUMNS} FROM variables WHERE {column} = "
                ));
                qb.push_bind(id.clone()).push(" ORDER BY key, category");
                qb
            };
            // Not paged (a workspace has tens of variables), but guarded like the pages.
            record_plan!(self, p, statement);
            Ok(statement("").build_query_as().fetch_all(p).await?)
        })
    }

    async fn variables_of_sets(&self, set_ids: &[String]) -> StorageResult<Vec<Variable>> {
        if set_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {COLUMNS} FROM variables WHERE varset_id IN ("
            ));
            let mut ids = qb.separated(", ");
            for id in set_ids {
                ids.push_bind(id.clone());
            }
            qb.push(") ORDER BY key");
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    async fn update_variable(&self, v: &Variable) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE variables SET key = $2, value_ciphertext = $3, description = $4, \
             category = $5, hcl = $6, sensitive = $7, version_id = $8, updated_at = $9 WHERE id = $1"
        )
        .bind(&v.id)
        .bind(&v.key)
        .bind(&v.value_ciphertext)
        .bind(&v.description)
        .bind(v.category)
        .bind(v.hcl)
        .bind(v.sensitive)
        .bind(&v.version_id)
        .bind(v.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "variable key"))?;
        Ok(())
    }

    async fn delete_variable(&self, id: &str) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM variables WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn create_variable_set(&self, set: &VariableSet) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO variable_sets ({SET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&set.id)
            .bind(&set.organization_id)
            .bind(&set.name)
            .bind(&set.description)
            .bind(set.global)
            .bind(set.priority)
            .bind(&set.project_id)
            .bind(set.created_at)
            .bind(set.updated_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "variable set name"))?;
        Ok(())
    }

    async fn variable_set_by_id(&self, id: &str) -> StorageResult<Option<VariableSet>> {
        let sql = format!("SELECT {SET_COLUMNS} FROM variable_sets WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_variable_sets(
        &self,
        org_id: &str,
        query: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<VariableSet>> {
        let select = format!("SELECT {SET_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "variable_sets",
            joins: "",
            key: "variable_sets.id",
            order: "name",
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

    async fn update_variable_set(&self, set: &VariableSet) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE variable_sets SET name = $2, description = $3, global = $4, priority = $5, \
             updated_at = $6 WHERE id = $1"
        )
        .bind(&set.id)
        .bind(&set.name)
        .bind(&set.description)
        .bind(set.global)
        .bind(set.priority)
        .bind(set.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "variable set name"))?;
        Ok(())
    }

    async fn delete_variable_set(&self, id: &str) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM variable_sets WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn attach_variable_set(
        &self,
        id: &str,
        workspace_ids: &[String],
        project_ids: &[String],
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            link_targets!(
                &mut tx,
                "INSERT INTO variable_set_workspaces (varset_id, workspace_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                id,
                workspace_ids
            );
            link_targets!(
                &mut tx,
                "INSERT INTO variable_set_projects (varset_id, project_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
                id,
                project_ids
            );
            tx.commit().await?;
            Ok(())
        })
    }

    async fn detach_variable_set(
        &self,
        id: &str,
        workspace_ids: &[String],
        project_ids: &[String],
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            link_targets!(
                &mut tx,
                "DELETE FROM variable_set_workspaces WHERE varset_id = $1 AND workspace_id = $2",
                id,
                workspace_ids
            );
            link_targets!(
                &mut tx,
                "DELETE FROM variable_set_projects WHERE varset_id = $1 AND project_id = $2",
                id,
                project_ids
            );
            tx.commit().await?;
            Ok(())
        })
    }

    async fn variable_set_targets(&self, id: &str) -> StorageResult<(Vec<String>, Vec<String>)> {
        on_pool!(&self.pool, |p| {
            let workspaces = sqlx::query_scalar(
                "SELECT workspace_id FROM variable_set_workspaces WHERE varset_id = $1 ORDER BY workspace_id",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            let projects = sqlx::query_scalar(
                "SELECT project_id FROM variable_set_projects WHERE varset_id = $1 ORDER BY project_id",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            Ok((workspaces, projects))
        })
    }

    async fn variable_sets_for_workspace(
        &self,
        org_id: &str,
        workspace_id: &str,
        project_id: &str,
    ) -> StorageResult<Vec<VariableSet>> {
        let sql = format!(
            "SELECT {SET_COLUMNS} FROM variable_sets s WHERE s.organization_id = $1 AND (s.global \
             OR EXISTS (SELECT 1 FROM variable_set_workspaces w WHERE w.varset_id = s.id AND w.workspace_id = $2) \
             OR EXISTS (SELECT 1 FROM variable_set_projects x WHERE x.varset_id = s.id AND x.project_id = $3)) \
             AND (s.project_id IS NULL OR s.project_id = $3) \
             ORDER BY s.name"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(workspace_id)
            .bind(project_id)
            .fetch_all(p)
            .await)?)
    }

    async fn variable_sets_for_project(
        &self,
        org_id: &str,
        project_id: &str,
    ) -> StorageResult<Vec<VariableSet>> {
        let sql = format!(
            "SELECT {SET_COLUMNS} FROM variable_sets s WHERE s.organization_id = $1 AND (s.global \
             OR s.project_id = $2 \
             OR EXISTS (SELECT 1 FROM variable_set_projects x WHERE x.varset_id = s.id AND x.project_id = $2)) \
             ORDER BY s.name"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(project_id)
            .fetch_all(p)
            .await)?)
    }
}
