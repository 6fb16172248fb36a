use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, SqlStore};
use crate::model::{AuditEvent, AuditFilter, Page, PageRequest};
use crate::store::AuditStore;
use crate::StorageResult;

const COLUMNS: &str = "id, occurred_at, organization_id, actor_kind, actor_id, actor_name, \
     token_id, action, method, route, resource_type, resource_id, status, client_address, reason";

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit_event(&self, e: &AuditEvent) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO audit_events ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&e.id)
            .bind(e.occurred_at)
            .bind(&e.organization_id)
            .bind(&e.actor_kind)
            .bind(&e.actor_id)
            .bind(&e.actor_name)
            .bind(&e.token_id)
            .bind(&e.action)
            .bind(&e.method)
            .bind(&e.route)
            .bind(&e.resource_type)
            .bind(&e.resource_id)
            .bind(e.status)
            .bind(&e.client_address)
            .bind(&e.reason)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> StorageResult<Page<AuditEvent>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "audit_events",
            joins: "",
            key: "audit_events.id",
            order: "occurred_at, id",
        };
        on_pool!(&self.pool, |p| {
            // One organization's events, or the site's (no organization), within the optional
            // bounds since < occurred_at < until.
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                match &filter.organization_id {
                    Some(org_id) => qb.push("organization_id = ").push_bind(org_id.clone()),
                    None => qb.push("organization_id IS NULL"),
                };
                if let Some(since) = filter.since {
                    qb.push(" AND occurred_at > ").push_bind(since);
                }
                if let Some(until) = filter.until {
                    qb.push(" AND occurred_at < ").push_bind(until);
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn purge_audit_events(&self, cutoff: DateTime<Utc>) -> StorageResult<u64> {
        Ok(on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM audit_events WHERE occurred_at < $1"
        )
        .bind(cutoff)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
