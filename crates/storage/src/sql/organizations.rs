use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::teams::{insert_team, TEAM_COLUMNS};
use super::{on_pool, BeginWrite, SqlStore};
use crate::ids;
use crate::model::{MembershipStatus, Organization, Page, PageRequest, Project, Team};
use crate::store::OrganizationStore;
use crate::{StorageError, StorageResult};

/// The stored columns, in the order inserts bind them.
macro_rules! stored_columns {
    () => {
        "id, name, email, default_execution_mode, session_timeout, session_remember, \
         collaborator_auth_policy, cost_estimation_enabled, assessments_enforced, \
         allow_force_delete_workspaces, default_agent_pool_id, follows_site_sso_groups, \
         created_at, updated_at, user_tokens_enabled"
    };
}

const COLUMNS: &str = stored_columns!();

/// What reads select: the stored columns and the default project's ID.
pub(crate) const SELECT_COLUMNS: &str = concat!(
    stored_columns!(),
    ", (SELECT p.id FROM projects p WHERE p.organization_id = organizations.id \
     AND p.is_default) AS default_project_id"
);

#[async_trait]
impl OrganizationStore for SqlStore {
    async fn create_organization(
        &self,
        org: &Organization,
        owners: &Team,
        default_project: &Project,
        owner: Option<&str>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(&format!(
                "INSERT INTO organizations ({COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ))
            .bind(&org.id)
            .bind(&org.name)
            .bind(&org.email)
            .bind(org.default_execution_mode)
            .bind(org.session_timeout)
            .bind(org.session_remember)
            .bind(&org.collaborator_auth_policy)
            .bind(org.cost_estimation_enabled)
            .bind(org.assessments_enforced)
            .bind(org.allow_force_delete_workspaces)
            .bind(&org.default_agent_pool_id)
            .bind(org.follows_site_sso_groups)
            .bind(org.created_at)
            .bind(org.updated_at)
            .bind(org.user_tokens_enabled)
            .execute(&mut *tx)
            .await
            .map_err(|e| StorageError::from_write(e, "organization name"))?;
            insert_team!(&mut *tx, owners)?;
            sqlx::query(
                "INSERT INTO projects (id, organization_id, name, description, is_default, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&default_project.id)
            .bind(&default_project.organization_id)
            .bind(&default_project.name)
            .bind(&default_project.description)
            .bind(default_project.is_default)
            .bind(default_project.created_at)
            .execute(&mut *tx)
            .await?;
            if let Some(user_id) = owner {
                let membership_id = ids::new_id(ids::MEMBERSHIP);
                sqlx::query(
                    "INSERT INTO organization_memberships \
                     (id, organization_id, user_id, email, status, created_at) \
                     SELECT $1, $2, id, email, $3, $4 FROM users WHERE id = $5",
                )
                .bind(&membership_id)
                .bind(&org.id)
                .bind(MembershipStatus::Active)
                .bind(org.created_at)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO team_memberships (team_id, membership_id) VALUES ($1, $2)",
                )
                .bind(&owners.id)
                .bind(&membership_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn organization_by_name(&self, name: &str) -> StorageResult<Option<Organization>> {
        let sql = format!("SELECT {SELECT_COLUMNS} FROM organizations WHERE name = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(p)
            .await)?)
    }

    async fn organization_by_id(&self, id: &str) -> StorageResult<Option<Organization>> {
        let sql = format!("SELECT {SELECT_COLUMNS} FROM organizations WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_organizations(
        &self,
        member: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<Organization>> {
        let select = format!("SELECT {SELECT_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "organizations",
            joins: "",
            key: "organizations.id",
            order: "name",
        };
        on_pool!(&self.pool, |p| {
            // All (site admins), or the organizations `member` is an active member of.
            let conditions = |qb: &mut QueryBuilder<'_, _>| match member {
                None => {
                    qb.push("1 = 1");
                }
                Some(user_id) => {
                    qb.push(
                        "id IN (SELECT organization_id FROM organization_memberships \
                         WHERE status = 'active' AND user_id = ",
                    )
                    .push_bind(user_id.to_string())
                    .push(")");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_organization(&self, org: &Organization) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE organizations SET name = $2, email = $3, default_execution_mode = $4, \
             session_timeout = $5, session_remember = $6, collaborator_auth_policy = $7, \
             cost_estimation_enabled = $8, assessments_enforced = $9, \
             allow_force_delete_workspaces = $10, updated_at = $11, default_agent_pool_id = $12, \
             follows_site_sso_groups = $13, user_tokens_enabled = $14 WHERE id = $1"
        )
        .bind(&org.id)
        .bind(&org.name)
        .bind(&org.email)
        .bind(org.default_execution_mode)
        .bind(org.session_timeout)
        .bind(org.session_remember)
        .bind(&org.collaborator_auth_policy)
        .bind(org.cost_estimation_enabled)
        .bind(org.assessments_enforced)
        .bind(org.allow_force_delete_workspaces)
        .bind(org.updated_at)
        .bind(&org.default_agent_pool_id)
        .bind(org.follows_site_sso_groups)
        .bind(org.user_tokens_enabled)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "organization name"))?;
        Ok(())
    }

    async fn delete_organization(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            // Workspaces reference projects without a cascade (a project in use cannot be
            // deleted on its own), so they go first.
            sqlx::query("DELETE FROM workspaces WHERE organization_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            // Agent tokens and listeners of its pools (the pools themselves cascade).
            sqlx::query(
                "DELETE FROM tokens WHERE kind = 'agent' AND owner_id IN \
                 (SELECT id FROM agent_pools WHERE organization_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM listeners WHERE pool_id IN \
                 (SELECT id FROM agent_pools WHERE organization_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM tokens WHERE kind IN ('organization', 'audit-trail') AND owner_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "DELETE FROM tokens WHERE kind = 'team' AND owner_id IN \
                 (SELECT id FROM teams WHERE organization_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM organizations WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn member_teams(&self, org_id: &str, user_id: &str) -> StorageResult<Option<Vec<Team>>> {
        let member = "SELECT id FROM organization_memberships \
            WHERE organization_id = $1 AND user_id = $2 AND status = 'active'";
        let teams = format!(
            "SELECT {TEAM_COLUMNS} FROM teams WHERE id IN (SELECT team_id FROM team_memberships \
             WHERE membership_id = $1) ORDER BY name"
        );
        on_pool!(&self.pool, |p| {
            let membership: Option<String> = sqlx::query_scalar(member)
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(p)
                .await?;
            match membership {
                None => Ok(None),
                Some(id) => Ok(Some(sqlx::query_as(&teams).bind(id).fetch_all(p).await?)),
            }
        })
    }
}
