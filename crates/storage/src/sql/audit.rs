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
    async fn append_audit_events(&self, events: &[AuditEvent]) -> StorageResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!("INSERT INTO audit_events ({COLUMNS}) "));
            qb.push_values(events, |mut row, e| {
                row.push_bind(e.id.clone())
                    .push_bind(e.occurred_at)
                    .push_bind(e.organization_id.clone())
                    .push_bind(e.actor_kind.clone())
                    .push_bind(e.actor_id.clone())
                    .push_bind(e.actor_name.clone())
                    .push_bind(e.token_id.clone())
                    .push_bind(e.action.clone())
                    .push_bind(e.method.clone())
                    .push_bind(e.route.clone())
                    .push_bind(e.resource_type.clone())
                    .push_bind(e.resource_id.clone())
                    .push_bind(e.status)
                    .push_bind(e.client_address.clone())
                    .push_bind(e.reason.clone());
            });
            qb.build().execute(p).await.map(|r| r.rows_affected())
        })?;
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
