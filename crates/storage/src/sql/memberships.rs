//! Organization memberships and invitations.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::teams::TEAM_COLUMNS;
use super::users::USER_COLUMNS;
use super::{contains_pattern, on_pool, push_in_list, BeginWrite, SqlStore};
use crate::model::{OrganizationMembership, Page, PageRequest, Team, User};
use crate::store::{MembershipFilter, MembershipStore};
use crate::{StorageError, StorageResult};

pub(crate) const MEMBERSHIP_COLUMNS: &str =
    "id, organization_id, user_id, email, status, created_at";

/// Active memberships on the owners team of the organization of membership `$1`, other than
/// `$1` itself.
const OTHER_ACTIVE_OWNERS: &str = "SELECT COUNT(*) FROM team_memberships tm \
    JOIN teams t ON t.id = tm.team_id JOIN organization_memberships m ON m.id = tm.membership_id \
    WHERE t.is_owners = TRUE AND m.status = 'active' AND tm.membership_id <> $1 \
    AND t.organization_id = (SELECT organization_id FROM organization_memberships WHERE id = $1)";

/// Whether membership `$1` is on its organization's owners team.
const IS_OWNER: &str =
    "SELECT COUNT(*) FROM team_memberships tm JOIN teams t ON t.id = tm.team_id \
    WHERE tm.membership_id = $1 AND t.is_owners = TRUE";

#[async_trait]
impl MembershipStore for SqlStore {
    async fn create_membership(
        &self,
        membership: &OrganizationMembership,
        team_ids: &[String],
    ) -> StorageResult<()> {
        let insert = format!(
            "INSERT INTO organization_memberships ({MEMBERSHIP_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6)"
        );
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(&insert)
                .bind(&membership.id)
                .bind(&membership.organization_id)
                .bind(&membership.user_id)
                .bind(&membership.email)
                .bind(membership.status)
                .bind(membership.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| StorageError::from_write(e, "membership"))?;
            if !team_ids.is_empty() {
                let mut qb = QueryBuilder::new(
                    "INSERT INTO team_memberships (team_id, membership_id) SELECT id, ",
                );
                qb.push_bind(membership.id.clone())
                    .push(" FROM teams WHERE organization_id = ")
                    .push_bind(membership.organization_id.clone())
                    .push(" AND id IN ");
                push_in_list(&mut qb, team_ids);
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StorageError>(())
        })
    }

    async fn membership_by_id(&self, id: &str) -> StorageResult<Option<OrganizationMembership>> {
        let sql =
            format!("SELECT {MEMBERSHIP_COLUMNS} FROM organization_memberships WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn membership_for(
        &self,
        org_id: &str,
        user_id: Option<&str>,
        email: &str,
    ) -> StorageResult<Option<OrganizationMembership>> {
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM organization_memberships WHERE organization_id = $1 \
             AND (user_id = $2 OR (status = 'invited' AND lower(email) = lower($3))) \
             ORDER BY id LIMIT 1"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(org_id)
            .bind(user_id)
            .bind(email)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_memberships(
        &self,
        org_id: &str,
        filter: &MembershipFilter,
        page: PageRequest,
    ) -> StorageResult<Page<OrganizationMembership>> {
        let select = format!("SELECT {MEMBERSHIP_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "organization_memberships",
            joins: "",
            key: "organization_memberships.id",
            order: "email, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ").push_bind(org_id.to_string());
                if let Some(query) = &filter.query {
                    let pattern = contains_pattern(query);
                    qb.push(" AND (lower(email) LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR user_id IN (SELECT id FROM users WHERE lower(username) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\'))");
                }
                if !filter.statuses.is_empty() {
                    let statuses: Vec<String> = filter
                        .statuses
                        .iter()
                        .map(|s| s.as_str().to_string())
                        .collect();
                    qb.push(" AND status IN ");
                    push_in_list(qb, &statuses);
                }
                if !filter.emails.is_empty() {
                    let emails: Vec<String> =
                        filter.emails.iter().map(|e| e.to_lowercase()).collect();
                    qb.push(" AND lower(email) IN ");
                    push_in_list(qb, &emails);
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn user_memberships(&self, user_id: &str) -> StorageResult<Vec<OrganizationMembership>> {
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM organization_memberships WHERE user_id = $1 \
             ORDER BY created_at, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_all(p)
            .await)?)
    }

    async fn delete_membership(&self, id: &str) -> StorageResult<bool> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let owner: i64 = sqlx::query_scalar(IS_OWNER)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            if owner > 0 {
                let others: i64 = sqlx::query_scalar(OTHER_ACTIVE_OWNERS)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                if others == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            sqlx::query("DELETE FROM organization_memberships WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StorageError>(true)
        })
    }

    async fn membership_teams(&self, membership_id: &str) -> StorageResult<Vec<Team>> {
        let sql = format!(
            "SELECT {TEAM_COLUMNS} FROM teams WHERE id IN \
             (SELECT team_id FROM team_memberships WHERE membership_id = $1) ORDER BY name, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(membership_id)
            .fetch_all(p)
            .await)?)
    }

    async fn users_with_email(&self, email: &str) -> StorageResult<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1) ORDER BY id");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(email)
            .fetch_all(p)
            .await)?)
    }

    async fn email_invited(&self, email: &str) -> StorageResult<bool> {
        let n: i64 = on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM organization_memberships \
             WHERE status = 'invited' AND lower(email) = lower($1)"
        )
        .bind(email)
        .fetch_one(p)
        .await)?;
        Ok(n > 0)
    }

    async fn accept_invitations(&self, user_id: &str, email: &str) -> StorageResult<u64> {
        // One invitation per organization, and none where the user already is a member:
        // a user has at most one membership of an organization.
        Ok(on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE organization_memberships SET user_id = $1, status = 'active' \
             WHERE id IN (SELECT MIN(id) FROM organization_memberships \
                 WHERE status = 'invited' AND lower(email) = lower($2) GROUP BY organization_id) \
             AND organization_id NOT IN \
                 (SELECT organization_id FROM organization_memberships WHERE user_id = $1)"
        )
        .bind(user_id)
        .bind(email)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
