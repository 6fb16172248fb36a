use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{on_pool, to_u64, SqlStore};
use crate::model::{AuditEvent, AuditFilter, Page, PageRequest};
use crate::store::AuditStore;
use crate::StorageResult;

const COLUMNS: &str = "id, occurred_at, organization_id, actor_kind, actor_id, actor_name, \
     token_id, action, method, route, resource_type, resource_id, status, client_address, reason";

/// The filter of a listing: one organization's events (or the site's, `$1` NULL) within the
/// optional bounds `$2` < occurred_at < `$3`.
const WHERE: &str = "WHERE organization_id IS NOT DISTINCT FROM $1 \
     AND ($2 IS NULL OR occurred_at > $2) AND ($3 IS NULL OR occurred_at < $3)";

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
        let list = format!(
            "SELECT {COLUMNS} FROM audit_events {WHERE} \
             ORDER BY occurred_at, id LIMIT $4 OFFSET $5"
        );
        let count = format!("SELECT COUNT(*) FROM audit_events {WHERE}");
        on_pool!(&self.pool, |p| {
            let items = sqlx::query_as(&list)
                .bind(&filter.organization_id)
                .bind(filter.since)
                .bind(filter.until)
                .bind(i64::from(page.size))
                .bind(page.offset())
                .fetch_all(p)
                .await?;
            let total: i64 = sqlx::query_scalar(&count)
                .bind(&filter.organization_id)
                .bind(filter.since)
                .bind(filter.until)
                .fetch_one(p)
                .await?;
            Ok(Page {
                items,
                total: to_u64(total),
            })
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
