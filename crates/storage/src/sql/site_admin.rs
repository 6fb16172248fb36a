//! What site administrators do across organizations: users' standing on the server (site
//! administrator, suspended, deleted) and every organization at once.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::organizations::SELECT_COLUMNS as ORGANIZATION_COLUMNS;
use super::pagination::{fetch_page, Listing};
use super::users::USER_COLUMNS;
use super::workspaces::push_name_like;
use super::{contains_pattern, on_pool, push_in_list, BeginWrite, SqlStore};
use crate::model::{Organization, Page, PageRequest, User, Workspace};
use crate::store::{AdminWorkspaceFilter, SiteAdminStore, UserDeletion, UserFilter};
use crate::StorageResult;

/// Names of the organizations whose owners team has `$1` as its only active member.
const SOLE_OWNED: &str = "SELECT o.name FROM organizations o \
    JOIN teams t ON t.organization_id = o.id AND t.is_owners \
    WHERE EXISTS (SELECT 1 FROM team_memberships tm \
        JOIN organization_memberships om ON om.id = tm.membership_id \
        WHERE tm.team_id = t.id AND om.status = 'active' AND om.user_id = $1) \
    AND NOT EXISTS (SELECT 1 FROM team_memberships tm \
        JOIN organization_memberships om ON om.id = tm.membership_id \
        WHERE tm.team_id = t.id AND om.status = 'active' AND om.user_id <> $1) \
    ORDER BY o.name";

#[async_trait]
impl SiteAdminStore for SqlStore {
    async fn search_workspaces(
        &self,
        filter: &AdminWorkspaceFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Workspace>> {
        let order = super::workspaces::order_by(filter.order);
        let listing = Listing {
            select: super::workspaces::SELECT,
            table: "workspaces w",
            joins: super::workspaces::JOINS,
            key: "w.id",
            order: &order,
        };
        let backend = self.backend();
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("1 = 1");
                if let Some(query) = &filter.query {
                    qb.push(" AND");
                    push_name_like(qb, backend, contains_pattern(query));
                }
                if let Some(status) = &filter.current_run_status {
                    qb.push(super::workspaces::CURRENT_RUN_STATUS)
                        .push_bind(status.clone())
                        .push(")");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        page: PageRequest,
    ) -> StorageResult<Page<User>> {
        let select = format!("SELECT {USER_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "users",
            joins: "",
            key: "users.id",
            order: "username",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("1 = 1");
                if let Some(query) = &filter.query {
                    let pattern = contains_pattern(query);
                    qb.push(" AND (lower(username) LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR lower(email) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\')");
                }
                if let Some(admin) = filter.admin {
                    qb.push(" AND is_site_admin = ").push_bind(admin);
                }
                match filter.suspended {
                    Some(true) => qb.push(" AND suspended_at IS NOT NULL"),
                    Some(false) => qb.push(" AND suspended_at IS NULL"),
                    None => qb,
                };
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn set_site_admin(&self, user_id: &str, admin: bool) -> StorageResult<bool> {
        // One statement, so two revocations cannot each leave the other as the last admin
        // and together leave none.
        let changed = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE users SET is_site_admin = $2 WHERE id = $1 \
             AND ($2 OR NOT is_site_admin OR (SELECT COUNT(*) FROM users WHERE is_site_admin) > 1)"
        )
        .bind(user_id)
        .bind(admin)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    async fn set_suspended(&self, user_id: &str, at: Option<DateTime<Utc>>) -> StorageResult<bool> {
        let changed = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE users SET suspended_at = $2 WHERE id = $1"
        )
        .bind(user_id)
        .bind(at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(changed == 1)
    }

    async fn sole_owned_organizations(&self, user_id: &str) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(SOLE_OWNED)
            .bind(user_id)
            .fetch_all(p)
            .await)?)
    }

    async fn delete_user(&self, user_id: &str) -> StorageResult<UserDeletion> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            let sole: Vec<String> = sqlx::query_scalar(SOLE_OWNED)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
            if !sole.is_empty() {
                return Ok(UserDeletion::SoleOwner(sole));
            }
            // Tokens name their owner without a foreign key; memberships, sessions and
            // authorization codes cascade with the user.
            sqlx::query("DELETE FROM tokens WHERE kind = 'user' AND owner_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(if deleted == 1 {
                UserDeletion::Deleted
            } else {
                UserDeletion::NotFound
            })
        })
    }

    async fn search_organizations(
        &self,
        query: Option<&str>,
        page: PageRequest,
    ) -> StorageResult<Page<Organization>> {
        let select = format!("SELECT {ORGANIZATION_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "organizations",
            joins: "",
            key: "organizations.id",
            order: "name",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("1 = 1");
                if let Some(query) = query {
                    let pattern = contains_pattern(query);
                    qb.push(" AND (lower(name) LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR lower(email) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\')");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn organizations_of_users(
        &self,
        user_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<Organization>>> {
        let pairs: Vec<(String, String)> = on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(
                "SELECT user_id, organization_id FROM organization_memberships \
                 WHERE status = 'active' AND user_id IN ",
            );
            push_in_list(&mut qb, user_ids);
            qb.build_query_as().fetch_all(p).await
        })?;
        let org_ids: Vec<String> = pairs.iter().map(|(_, org)| org.clone()).collect();
        let orgs: Vec<Organization> = on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id IN "
            ));
            push_in_list(&mut qb, &org_ids);
            qb.push(" ORDER BY name");
            qb.build_query_as().fetch_all(p).await
        })?;
        Ok(group(&pairs, orgs, |org| &org.id))
    }

    async fn owners_of_organizations(
        &self,
        org_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<User>>> {
        let pairs: Vec<(String, String)> = on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(
                "SELECT t.organization_id, om.user_id FROM teams t \
                 JOIN team_memberships tm ON tm.team_id = t.id \
                 JOIN organization_memberships om ON om.id = tm.membership_id \
                 WHERE t.is_owners AND om.status = 'active' AND t.organization_id IN ",
            );
            push_in_list(&mut qb, org_ids);
            qb.build_query_as().fetch_all(p).await
        })?;
        let user_ids: Vec<String> = pairs.iter().map(|(_, user)| user.clone()).collect();
        let users: Vec<User> = on_pool!(&self.pool, |p| {
            let mut qb =
                QueryBuilder::new(format!("SELECT {USER_COLUMNS} FROM users WHERE id IN "));
            push_in_list(&mut qb, &user_ids);
            qb.push(" ORDER BY username");
            qb.build_query_as().fetch_all(p).await
        })?;
        Ok(group(&pairs, users, |user| &user.id))
    }

    async fn site_setting(&self, name: &str) -> StorageResult<Option<String>> {
        on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT value FROM site_settings WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(p)
        .await)
        .map_err(Into::into)
    }

    async fn set_site_setting(
        &self,
        name: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            sqlx::query(
            "INSERT INTO site_settings (name, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
        )
        .bind(name)
        .bind(value)
        .bind(at)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    async fn smtp_settings(&self) -> StorageResult<Option<(String, Option<String>)>> {
        on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT settings, password_ciphertext FROM smtp_settings WHERE id = 'smtp'"
        )
        .fetch_optional(p)
        .await)
        .map_err(Into::into)
    }

    async fn set_smtp_settings(
        &self,
        settings: &str,
        password_ciphertext: Option<&str>,
        at: DateTime<Utc>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO smtp_settings (id, settings, password_ciphertext, updated_at) \
                 VALUES ('smtp', $1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
                 settings = excluded.settings, password_ciphertext = excluded.password_ciphertext, \
                 updated_at = excluded.updated_at",
            )
            .bind(settings)
            .bind(password_ciphertext)
            .bind(at)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }
}

/// `(key, item ID)` pairs turned into each key's items, in the order of `items`.
fn group<T: Clone>(
    pairs: &[(String, String)],
    items: Vec<T>,
    id: impl Fn(&T) -> &String,
) -> HashMap<String, Vec<T>> {
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for item in &items {
        for (key, _) in pairs.iter().filter(|(_, item_id)| item_id == id(item)) {
            grouped.entry(key.clone()).or_default().push(item.clone());
        }
    }
    grouped
}
