//! Run tasks of organizations (HCP's `tasks`, their HMAC keys sealed by the caller) and their
//! attachments to workspaces (`workspace-tasks`).

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, SqlStore};
use crate::model::{Page, PageRequest, RunTask, WorkspaceRunTask};
use crate::store::RunTaskStore;
use crate::{StorageError, StorageResult};

const TASK_COLUMNS: &str = "id, organization_id, name, url, description, category, \
                            hmac_key_ciphertext, enabled, created_at, updated_at";
const ATTACHMENT_COLUMNS: &str =
    "id, workspace_id, task_id, enforcement_level, stages, created_at, updated_at";

#[async_trait]
impl RunTaskStore for SqlStore {
    async fn create_run_task(&self, task: &RunTask) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO run_tasks (id, organization_id, name, url, description, category, \
             hmac_key_ciphertext, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(&task.id)
        .bind(&task.organization_id)
        .bind(&task.name)
        .bind(&task.url)
        .bind(&task.description)
        .bind(&task.category)
        .bind(&task.hmac_key_ciphertext)
        .bind(task.enabled)
        .bind(task.created_at)
        .bind(task.updated_at)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(|e| StorageError::from_write(e, "run task name"))
    }

    async fn run_task_by_id(&self, id: &str) -> StorageResult<Option<RunTask>> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM run_tasks WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_run_tasks(
        &self,
        organization_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<RunTask>> {
        let select = format!("SELECT {TASK_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "run_tasks",
            joins: "",
            key: "run_tasks.id",
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

    async fn update_run_task(&self, task: &RunTask) -> StorageResult<bool> {
        let updated = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE run_tasks SET name = $2, url = $3, description = $4, category = $5, \
             hmac_key_ciphertext = $6, enabled = $7, updated_at = $8 WHERE id = $1"
        )
        .bind(&task.id)
        .bind(&task.name)
        .bind(&task.url)
        .bind(&task.description)
        .bind(&task.category)
        .bind(&task.hmac_key_ciphertext)
        .bind(task.enabled)
        .bind(task.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "run task name"))?;
        Ok(updated > 0)
    }

    async fn delete_run_task(&self, id: &str) -> StorageResult<bool> {
        // Its attachments go with it (ON DELETE CASCADE), as in HCP.
        let deleted = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM run_tasks WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    async fn create_workspace_run_task(&self, attachment: &WorkspaceRunTask) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO workspace_run_tasks (id, workspace_id, task_id, enforcement_level, \
             stages, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&attachment.id)
        .bind(&attachment.workspace_id)
        .bind(&attachment.task_id)
        .bind(attachment.enforcement_level)
        .bind(&attachment.stages)
        .bind(attachment.created_at)
        .bind(attachment.updated_at)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(|e| StorageError::from_write(e, "run task attachment to this workspace"))
    }

    async fn workspace_run_task_by_id(&self, id: &str) -> StorageResult<Option<WorkspaceRunTask>> {
        let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM workspace_run_tasks WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_workspace_run_tasks(
        &self,
        workspace_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<WorkspaceRunTask>> {
        let select = format!("SELECT {ATTACHMENT_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "workspace_run_tasks",
            joins: "",
            key: "workspace_run_tasks.id",
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

    async fn run_task_attachments(&self, task_id: &str) -> StorageResult<Vec<WorkspaceRunTask>> {
        let sql = format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM workspace_run_tasks WHERE task_id = $1 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(task_id)
            .fetch_all(p)
            .await)?)
    }

    async fn update_workspace_run_task(
        &self,
        attachment: &WorkspaceRunTask,
    ) -> StorageResult<bool> {
        let updated = on_pool!(&self.pool, |p| {
            sqlx::query(
            "UPDATE workspace_run_tasks SET enforcement_level = $2, stages = $3, updated_at = $4 \
             WHERE id = $1"
        )
        .bind(&attachment.id)
        .bind(attachment.enforcement_level)
        .bind(&attachment.stages)
        .bind(attachment.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(updated > 0)
    }

    async fn delete_workspace_run_task(&self, id: &str) -> StorageResult<bool> {
        let deleted = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM workspace_run_tasks WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    async fn attached_run_tasks(
        &self,
        workspace_id: &str,
    ) -> StorageResult<Vec<(WorkspaceRunTask, RunTask)>> {
        let attachments_sql = format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM workspace_run_tasks WHERE workspace_id = $1 \
             ORDER BY created_at, id"
        );
        let tasks_sql = format!(
            "SELECT {TASK_COLUMNS} FROM run_tasks WHERE id IN \
             (SELECT task_id FROM workspace_run_tasks WHERE workspace_id = $1)"
        );
        let (attachments, tasks): (Vec<WorkspaceRunTask>, Vec<RunTask>) =
            on_pool!(&self.pool, |p| {
                let attachments = sqlx::query_as(&attachments_sql)
                    .bind(workspace_id)
                    .fetch_all(p)
                    .await?;
                let tasks = sqlx::query_as(&tasks_sql)
                    .bind(workspace_id)
                    .fetch_all(p)
                    .await?;
                Ok::<_, sqlx::Error>((attachments, tasks))
            })?;
        // Two reads, not a join: an attachment whose task went in between is skipped.
        let mut tasks: HashMap<String, RunTask> =
            tasks.into_iter().map(|t| (t.id.clone(), t)).collect();
        Ok(attachments
            .into_iter()
            .filter_map(|a| tasks.remove(&a.task_id).map(|t| (a, t)))
            .collect())
    }
}
