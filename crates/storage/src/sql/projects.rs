use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{
    contains_pattern, on_pool, push_in_list, push_visible_workspaces, to_u64, BeginWrite, SqlStore,
};
use crate::model::{Page, PageRequest, Project, TagBinding};
use crate::store::{ProjectFilter, ProjectStore};
use crate::{StorageError, StorageResult};

pub(crate) const COLUMNS: &str = "id, organization_id, name, description, is_default, created_at, \
    default_execution_mode, default_agent_pool_id, auto_destroy_activity_duration";

/// Puts `$tags` on project `$project_id` inside transaction `$tx`, replacing the value of keys
/// it has (which keep their place); new keys go last. A macro so it runs inside the caller's
/// transaction on either database.
macro_rules! upsert_project_tags {
    ($tx:expr, $project_id:expr, $tags:expr) => {
        for tag in $tags {
            sqlx::query(
                "INSERT INTO project_tag_bindings (project_id, key, value, position) \
                 SELECT $1, $2, $3, COALESCE(MAX(position), 0) + 1 FROM project_tag_bindings \
                 WHERE project_id = $1 \
                 ON CONFLICT (project_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind($project_id)
            .bind(&tag.key)
            .bind(&tag.value)
            .execute(&mut **$tx)
            .await?;
        }
    };
}

#[async_trait]
impl ProjectStore for SqlStore {
    async fn create_project(&self, project: &Project, tags: &[TagBinding]) -> StorageResult<()> {
        let sql =
            format!("INSERT INTO projects ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(&sql)
                .bind(&project.id)
                .bind(&project.organization_id)
                .bind(&project.name)
                .bind(&project.description)
                .bind(project.is_default)
                .bind(project.created_at)
                .bind(project.default_execution_mode)
                .bind(&project.default_agent_pool_id)
                .bind(&project.auto_destroy_activity_duration)
                .execute(&mut *tx)
                .await
                .map_err(|e| StorageError::from_write(e, "project name"))?;
            upsert_project_tags!(&mut tx, &project.id, tags);
            tx.commit().await?;
            Ok(())
        })
    }

    async fn project_by_id(&self, id: &str) -> StorageResult<Option<Project>> {
        let sql = format!("SELECT {COLUMNS} FROM projects WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn default_project(&self, org_id: &str) -> StorageResult<Option<Project>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM projects WHERE organization_id = $1 AND is_default = TRUE"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_projects(
        &self,
        org_id: &str,
        filter: &ProjectFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Project>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "projects",
            joins: "",
            key: "projects.id",
            order: "name",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ").push_bind(org_id.to_string());
                if !filter.names.is_empty() {
                    qb.push(" AND name IN (");
                    let mut names = qb.separated(", ");
                    for name in &filter.names {
                        names.push_bind(name.clone());
                    }
                    qb.push(")");
                }
                if let Some(query) = &filter.query {
                    qb.push(" AND lower(name) LIKE ")
                        .push_bind(contains_pattern(query))
                        .push(" ESCAPE '\\'");
                }
                for tag in &filter.tagged {
                    qb.push(
                        " AND EXISTS (SELECT 1 FROM project_tag_bindings b \
                         WHERE b.project_id = projects.id AND b.key = ",
                    )
                    .push_bind(tag.key.clone());
                    if !tag.value.is_empty() {
                        qb.push(" AND b.value = ").push_bind(tag.value.clone());
                    }
                    qb.push(")");
                }
                if let Some(teams) = &filter.visible_to_teams {
                    qb.push(" AND (id IN (SELECT project_id FROM team_projects WHERE team_id IN ");
                    push_in_list(qb, teams);
                    qb.push(") OR id IN (SELECT w.project_id FROM workspaces w WHERE 1 = 1");
                    push_visible_workspaces(qb, teams);
                    qb.push("))");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_project(
        &self,
        project: &Project,
        tags: Option<&[TagBinding]>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(
                "UPDATE projects SET name = $2, description = $3, default_execution_mode = $4, \
                 default_agent_pool_id = $5, auto_destroy_activity_duration = $6 WHERE id = $1",
            )
            .bind(&project.id)
            .bind(&project.name)
            .bind(&project.description)
            .bind(project.default_execution_mode)
            .bind(&project.default_agent_pool_id)
            .bind(&project.auto_destroy_activity_duration)
            .execute(&mut *tx)
            .await
            .map_err(|e| StorageError::from_write(e, "project name"))?;
            if let Some(tags) = tags {
                sqlx::query("DELETE FROM project_tag_bindings WHERE project_id = $1")
                    .bind(&project.id)
                    .execute(&mut *tx)
                    .await?;
                upsert_project_tags!(&mut tx, &project.id, tags);
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn count_project_workspaces(&self, project_id: &str) -> StorageResult<u64> {
        let n: i64 = on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM workspaces WHERE project_id = $1"
        )
        .bind(project_id)
        .fetch_one(p)
        .await)?;
        Ok(to_u64(n))
    }

    async fn delete_project(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM projects WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn project_tag_bindings(&self, project_id: &str) -> StorageResult<Vec<TagBinding>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT key, value FROM project_tag_bindings WHERE project_id = $1 ORDER BY position"
        )
        .bind(project_id)
        .fetch_all(p)
        .await)?)
    }

    async fn merge_project_tag_bindings(
        &self,
        project_id: &str,
        tags: &[TagBinding],
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            upsert_project_tags!(&mut tx, project_id, tags);
            tx.commit().await?;
            Ok(())
        })
    }
}
