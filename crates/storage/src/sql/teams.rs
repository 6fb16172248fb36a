//! Teams and who is on them.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::memberships::MEMBERSHIP_COLUMNS;
use super::pagination::{fetch_page, Listing};
use super::users::USER_COLUMNS;
use super::{contains_pattern, on_pool, push_in_list, BeginWrite, SqlStore};
use crate::model::{OrganizationMembership, Page, PageRequest, Team, User};
use crate::store::{TeamFilter, TeamStore};
use crate::{StorageError, StorageResult};

pub(crate) const TEAM_COLUMNS: &str = "id, organization_id, name, is_owners, visibility, \
    organization_access, sso_team_id, allow_member_token_management, created_at";

pub(crate) const INSERT_TEAM: &str = "INSERT INTO teams (id, organization_id, name, is_owners, \
    visibility, organization_access, sso_team_id, allow_member_token_management, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Inserts `$team` on `$conn` (a pool or a transaction, of either database).
macro_rules! insert_team {
    ($conn:expr, $team:expr) => {{
        let team: &$crate::model::Team = $team;
        sqlx::query($crate::sql::teams::INSERT_TEAM)
            .bind(&team.id)
            .bind(&team.organization_id)
            .bind(&team.name)
            .bind(team.is_owners)
            .bind(&team.visibility)
            .bind(&team.organization_access)
            .bind(&team.sso_team_id)
            .bind(team.allow_member_token_management)
            .bind(team.created_at)
            .execute($conn)
            .await
    }};
}
pub(crate) use insert_team;

#[async_trait]
impl TeamStore for SqlStore {
    async fn create_team(&self, team: &Team) -> StorageResult<()> {
        on_pool!(&self.pool, |p| insert_team!(p, team)
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "team name"))?;
        Ok(())
    }

    async fn team_by_id(&self, id: &str) -> StorageResult<Option<Team>> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_teams(
        &self,
        org_id: &str,
        filter: &TeamFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Team>> {
        let select = format!("SELECT {TEAM_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "teams",
            joins: "",
            key: "teams.id",
            order: "name, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ").push_bind(org_id.to_string());
                if !filter.names.is_empty() {
                    qb.push(" AND name IN ");
                    push_in_list(qb, &filter.names);
                }
                if let Some(query) = &filter.query {
                    qb.push(" AND lower(name) LIKE ")
                        .push_bind(contains_pattern(query))
                        .push(" ESCAPE '\\'");
                }
                if let Some(own) = &filter.secret_visible {
                    qb.push(" AND (visibility = 'organization' OR id IN ");
                    push_in_list(qb, own);
                    qb.push(")");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn update_team(&self, team: &Team) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE teams SET name = $2, visibility = $3, organization_access = $4, \
             sso_team_id = $5, allow_member_token_management = $6 WHERE id = $1"
        )
        .bind(&team.id)
        .bind(&team.name)
        .bind(&team.visibility)
        .bind(&team.organization_access)
        .bind(&team.sso_team_id)
        .bind(team.allow_member_token_management)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "team name"))?;
        Ok(())
    }

    async fn delete_team(&self, id: &str) -> StorageResult<bool> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let deleted = sqlx::query("DELETE FROM teams WHERE id = $1 AND is_owners = FALSE")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted > 0 {
                sqlx::query("DELETE FROM tokens WHERE kind = 'team' AND owner_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(deleted > 0)
        })
    }

    async fn add_team_memberships(
        &self,
        team_id: &str,
        membership_ids: &[String],
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(
                "INSERT INTO team_memberships (team_id, membership_id) SELECT t.id, m.id \
                 FROM teams t JOIN organization_memberships m \
                 ON m.organization_id = t.organization_id WHERE t.id = ",
            );
            qb.push_bind(team_id.to_string()).push(" AND m.id IN ");
            push_in_list(&mut qb, membership_ids);
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(p).await?;
            Ok(())
        })
    }

    async fn remove_team_memberships(
        &self,
        team_id: &str,
        membership_ids: &[String],
        keep_one: bool,
    ) -> StorageResult<bool> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let mut qb = QueryBuilder::new("DELETE FROM team_memberships WHERE team_id = ");
            qb.push_bind(team_id.to_string())
                .push(" AND membership_id IN ");
            push_in_list(&mut qb, membership_ids);
            qb.build().execute(&mut *tx).await?;
            if keep_one {
                let left: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM team_memberships tm JOIN organization_memberships m \
                     ON m.id = tm.membership_id WHERE tm.team_id = $1 AND m.status = 'active'",
                )
                .bind(team_id)
                .fetch_one(&mut *tx)
                .await?;
                if left == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn team_memberships(&self, team_id: &str) -> StorageResult<Vec<OrganizationMembership>> {
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM organization_memberships WHERE id IN \
             (SELECT membership_id FROM team_memberships WHERE team_id = $1) ORDER BY email, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(team_id)
            .fetch_all(p)
            .await)?)
    }

    async fn team_users(&self, team_id: &str) -> StorageResult<Vec<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id IN (SELECT m.user_id \
             FROM organization_memberships m JOIN team_memberships tm ON tm.membership_id = m.id \
             WHERE tm.team_id = $1 AND m.status = 'active') ORDER BY username"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(team_id)
            .fetch_all(p)
            .await)?)
    }
}
