//! Team access to workspaces and projects, and the grants a caller's teams hold.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, push_in_list, SqlStore, KEYS_PER_STATEMENT};
use crate::model::{
    JsonText, Page, PageRequest, ProjectAccess, TeamProject, TeamWorkspace, WorkspaceGrant,
};
use crate::store::AccessStore;
use crate::{StorageError, StorageResult};

const TW_COLUMNS: &str = "id, team_id, workspace_id, access, grants, created_at";
const TP_COLUMNS: &str = "id, team_id, project_id, access, grants, created_at";

#[async_trait]
impl AccessStore for SqlStore {
    async fn create_team_workspace(&self, tw: &TeamWorkspace) -> StorageResult<()> {
        let sql =
            format!("INSERT INTO team_workspaces ({TW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&tw.id)
            .bind(&tw.team_id)
            .bind(&tw.workspace_id)
            .bind(&tw.access)
            .bind(&tw.grants)
            .bind(tw.created_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "team access to this workspace"))?;
        Ok(())
    }

    async fn team_workspace_by_id(&self, id: &str) -> StorageResult<Option<TeamWorkspace>> {
        let sql = format!("SELECT {TW_COLUMNS} FROM team_workspaces WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_team_workspaces(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<TeamWorkspace>> {
        let select = format!("SELECT {TW_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "team_workspaces",
            joins: "",
            key: "team_workspaces.id",
            order: "created_at, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("workspace_id = ")
                    .push_bind(workspace_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_team_workspace(&self, tw: &TeamWorkspace) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE team_workspaces SET access = $2, grants = $3 WHERE id = $1"
        )
        .bind(&tw.id)
        .bind(&tw.access)
        .bind(&tw.grants)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn delete_team_workspace(&self, id: &str) -> StorageResult<bool> {
        let deleted = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM team_workspaces WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    async fn create_team_project(&self, tp: &TeamProject) -> StorageResult<()> {
        let sql =
            format!("INSERT INTO team_projects ({TP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&tp.id)
            .bind(&tp.team_id)
            .bind(&tp.project_id)
            .bind(&tp.access)
            .bind(&tp.grants)
            .bind(tp.created_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "team access to this project"))?;
        Ok(())
    }

    async fn team_project_by_id(&self, id: &str) -> StorageResult<Option<TeamProject>> {
        let sql = format!("SELECT {TP_COLUMNS} FROM team_projects WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_team_projects(
        &self,
        project_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<TeamProject>> {
        let select = format!("SELECT {TP_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "team_projects",
            joins: "",
            key: "team_projects.id",
            order: "created_at, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("project_id = ").push_bind(project_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_team_project(&self, tp: &TeamProject) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE team_projects SET access = $2, grants = $3 WHERE id = $1"
        )
        .bind(&tp.id)
        .bind(&tp.access)
        .bind(&tp.grants)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn delete_team_project(&self, id: &str) -> StorageResult<bool> {
        let deleted = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM team_projects WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    async fn workspace_grants(
        &self,
        team_ids: &[String],
        workspaces: &[(String, String)],
    ) -> StorageResult<HashMap<String, (Vec<WorkspaceGrant>, Vec<ProjectAccess>)>> {
        let mut found: HashMap<String, (Vec<WorkspaceGrant>, Vec<ProjectAccess>)> = workspaces
            .iter()
            .map(|(id, _)| (id.clone(), Default::default()))
            .collect();
        if team_ids.is_empty() || workspaces.is_empty() {
            return Ok(found);
        }
        let workspace_ids: Vec<String> = workspaces.iter().map(|(id, _)| id.clone()).collect();
        let mut project_ids: Vec<String> = workspaces.iter().map(|(_, p)| p.clone()).collect();
        project_ids.sort();
        project_ids.dedup();
        // The teams are a caller's few; the workspaces may be a whole organization's.
        let direct: Vec<(String, WorkspaceGrant)> = self
            .grants_on("team_workspaces", "workspace_id", &workspace_ids, team_ids)
            .await?;
        let inherited: Vec<(String, ProjectAccess)> = self
            .grants_on("team_projects", "project_id", &project_ids, team_ids)
            .await?;
        for (workspace_id, grant) in direct {
            if let Some((grants, _)) = found.get_mut(&workspace_id) {
                grants.push(grant);
            }
        }
        let mut by_project: HashMap<String, Vec<ProjectAccess>> = HashMap::new();
        for (project_id, grant) in inherited {
            by_project.entry(project_id).or_default().push(grant);
        }
        for (workspace_id, project_id) in workspaces {
            if let (Some((_, grants)), Some(on_project)) =
                (found.get_mut(workspace_id), by_project.get(project_id))
            {
                grants.clone_from(on_project);
            }
        }
        Ok(found)
    }

    async fn project_grants(
        &self,
        team_ids: &[String],
        project_id: &str,
    ) -> StorageResult<Vec<ProjectAccess>> {
        if team_ids.is_empty() {
            return Ok(Vec::new());
        }
        let grants: Vec<(String, ProjectAccess)> = self
            .grants_on(
                "team_projects",
                "project_id",
                &[project_id.to_string()],
                team_ids,
            )
            .await?;
        Ok(grants.into_iter().map(|(_, grant)| grant).collect())
    }
}

impl SqlStore {
    /// The grants of the teams in `table` (`team_workspaces`, `team_projects`) on the
    /// workspaces or projects `keys` (its `column`), with the key each is on.
    async fn grants_on<T: serde::de::DeserializeOwned + Send + Unpin>(
        &self,
        table: &str,
        column: &str,
        keys: &[String],
        team_ids: &[String],
    ) -> StorageResult<Vec<(String, T)>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let rows: Vec<(String, JsonText<T>)> = on_pool!(&self.pool, |p| {
                let mut qb = QueryBuilder::new(format!(
                    "SELECT {column}, grants FROM {table} WHERE {column} IN "
                ));
                push_in_list(&mut qb, chunk);
                qb.push(" AND team_id IN ");
                push_in_list(&mut qb, team_ids);
                qb.build_query_as().fetch_all(p).await
            })?;
            found.extend(rows.into_iter().map(|(key, grant)| (key, grant.0)));
        }
        Ok(found)
    }
}
