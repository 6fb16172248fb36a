use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::{contains_pattern, on_pool, push_in_list, push_visible_workspaces, to_u64, SqlStore};
use crate::model::{Page, PageRequest, Project};
use crate::store::{ProjectFilter, ProjectStore};
use crate::{StorageError, StorageResult};

const COLUMNS: &str = "id, organization_id, name, description, is_default, created_at";

#[async_trait]
impl ProjectStore for SqlStore {
    async fn create_project(&self, project: &Project) -> StorageResult<()> {
        let sql = format!("INSERT INTO projects ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&project.id)
            .bind(&project.organization_id)
            .bind(&project.name)
            .bind(&project.description)
            .bind(project.is_default)
            .bind(project.created_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "project name"))?;
        Ok(())
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
        on_pool!(&self.pool, |p| {
            let where_clause = |qb: &mut QueryBuilder<'_, _>| {
                qb.push(" FROM projects WHERE organization_id = ")
                    .push_bind(org_id.to_string());
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
                if let Some(teams) = &filter.visible_to_teams {
                    qb.push(" AND (id IN (SELECT project_id FROM team_projects WHERE team_id IN ");
                    push_in_list(qb, teams);
                    qb.push(") OR id IN (SELECT w.project_id FROM workspaces w WHERE 1 = 1");
                    push_visible_workspaces(qb, teams);
                    qb.push("))");
                }
            };
            let mut list = QueryBuilder::new(format!("SELECT {COLUMNS}"));
            where_clause(&mut list);
            list.push(" ORDER BY name LIMIT ")
                .push_bind(i64::from(page.size))
                .push(" OFFSET ")
                .push_bind(page.offset());
            let items = list.build_query_as().fetch_all(p).await?;
            let mut count = QueryBuilder::new("SELECT COUNT(*)");
            where_clause(&mut count);
            let total: i64 = count.build_query_scalar().fetch_one(p).await?;
            Ok(Page {
                items,
                total: to_u64(total),
            })
        })
    }

    async fn update_project(&self, project: &Project) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE projects SET name = $2, description = $3 WHERE id = $1"
        )
        .bind(&project.id)
        .bind(&project.name)
        .bind(&project.description)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "project name"))?;
        Ok(())
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
}
