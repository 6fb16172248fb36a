use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{contains_pattern, on_pool, BeginWrite, SqlStore};
use crate::model::{Page, PageRequest, ReservedTagKey, Tag, TagBinding};
use crate::store::{TagFilter, TagStore};
use crate::{StorageError, StorageResult};

/// Puts `$tags` on workspace `$ws` inside transaction `$tx`, creating missing organization tags
/// and replacing the value of keys the workspace already has. New keys go after the
/// workspace's others, in the order given. A macro so it runs inside the caller's transaction
/// on either database. Tags are written in key order: two transactions creating the same new
/// tags in different orders would otherwise each wait on the other's uncommitted row, and
/// PostgreSQL aborts one of them as a deadlock.
macro_rules! upsert_workspace_tags {
    // A workspace created in this transaction has no tags yet.
    ($tx:expr, $org_id:expr, $ws_id:expr, $tags:expr, new) => {
        $crate::sql::tags::upsert_workspace_tags!(@after 0, $tx, $org_id, $ws_id, $tags);
    };
    ($tx:expr, $org_id:expr, $ws_id:expr, $tags:expr) => {
        let last: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(MAX(position), 0) AS BIGINT) FROM workspace_tags \
             WHERE workspace_id = $1",
        )
        .bind($ws_id)
        .fetch_one(&mut **$tx)
        .await?;
        $crate::sql::tags::upsert_workspace_tags!(@after last, $tx, $org_id, $ws_id, $tags);
    };
    (@after $last:expr, $tx:expr, $org_id:expr, $ws_id:expr, $tags:expr) => {
        let last: i64 = $last;
        let mut ordered: Vec<(i64, &$crate::model::TagBinding)> = $tags
            .iter()
            .zip(1..)
            .map(|(tag, n)| (last + n, tag))
            .collect();
        ordered.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        for (position, tag) in ordered {
            sqlx::query(
                "INSERT INTO tags (id, organization_id, name, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (organization_id, name) DO NOTHING",
            )
            .bind($crate::ids::new_id($crate::ids::TAG))
            .bind($org_id)
            .bind(&tag.key)
            .bind($crate::clock::now())
            .execute(&mut **$tx)
            .await?;
            sqlx::query(
                "INSERT INTO workspace_tags (workspace_id, tag_id, value, position) \
                 SELECT $1, id, $3, $5 FROM tags WHERE organization_id = $2 AND name = $4 \
                 ON CONFLICT (workspace_id, tag_id) DO UPDATE SET value = excluded.value",
            )
            .bind($ws_id)
            .bind($org_id)
            .bind(&tag.value)
            .bind(&tag.key)
            .bind(position)
            .execute(&mut **$tx)
            .await?;
        }
    };
}
pub(crate) use upsert_workspace_tags;

#[derive(sqlx::FromRow)]
struct WorkspaceTagRow {
    workspace_id: String,
    key: String,
    value: String,
}

const RESERVED_COLUMNS: &str =
    "id, organization_id, key, disable_overrides, created_at, updated_at";

const TAG_COLUMNS: &str = "t.id, t.organization_id, t.name, t.created_at, \
    (SELECT COUNT(*) FROM workspace_tags wt WHERE wt.tag_id = t.id) AS instance_count";

#[async_trait]
impl TagStore for SqlStore {
    async fn workspace_tags(
        &self,
        workspace_ids: &[String],
    ) -> StorageResult<HashMap<String, Vec<TagBinding>>> {
        let mut result: HashMap<String, Vec<TagBinding>> = workspace_ids
            .iter()
            .map(|id| (id.clone(), Vec::new()))
            .collect();
        if workspace_ids.is_empty() {
            return Ok(result);
        }
        let rows: Vec<WorkspaceTagRow> = on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(
                "SELECT wt.workspace_id, t.name AS key, wt.value FROM workspace_tags wt \
                 JOIN tags t ON t.id = wt.tag_id WHERE wt.workspace_id IN (",
            );
            let mut ids = qb.separated(", ");
            for id in workspace_ids {
                ids.push_bind(id.clone());
            }
            qb.push(") ORDER BY wt.position, t.name");
            qb.build_query_as().fetch_all(p).await
        })?;
        for row in rows {
            result
                .entry(row.workspace_id)
                .or_default()
                .push(TagBinding {
                    key: row.key,
                    value: row.value,
                });
        }
        Ok(result)
    }

    async fn add_workspace_tags(
        &self,
        org_id: &str,
        workspace_id: &str,
        tags: &[TagBinding],
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            upsert_workspace_tags!(&mut tx, org_id, workspace_id, tags);
            tx.commit().await?;
            Ok(())
        })
    }

    async fn remove_workspace_tags(
        &self,
        workspace_id: &str,
        keys: &[String],
    ) -> StorageResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new("DELETE FROM workspace_tags WHERE workspace_id = ");
            qb.push_bind(workspace_id.to_string())
                .push(" AND tag_id IN (SELECT id FROM tags WHERE name IN (");
            let mut names = qb.separated(", ");
            for key in keys {
                names.push_bind(key.clone());
            }
            qb.push("))");
            qb.build().execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    async fn list_tags(
        &self,
        org_id: &str,
        filter: &TagFilter,
        page: PageRequest,
    ) -> StorageResult<Page<Tag>> {
        let select = format!("SELECT {TAG_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "tags t",
            joins: "",
            key: "t.id",
            order: "t.name",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("t.organization_id = ")
                    .push_bind(org_id.to_string());
                if let Some(query) = &filter.query {
                    qb.push(" AND lower(t.name) LIKE ")
                        .push_bind(contains_pattern(query))
                        .push(" ESCAPE '\\'");
                }
                if let Some(ws) = &filter.exclude_workspace {
                    qb.push(
                        " AND NOT EXISTS (SELECT 1 FROM workspace_tags x \
                         WHERE x.tag_id = t.id AND x.workspace_id = ",
                    )
                    .push_bind(ws.clone())
                    .push(")");
                }
                if let Some(ws) = &filter.on_workspace {
                    qb.push(
                        " AND EXISTS (SELECT 1 FROM workspace_tags x \
                         WHERE x.tag_id = t.id AND x.value = '' AND x.workspace_id = ",
                    )
                    .push_bind(ws.clone())
                    .push(")");
                }
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn tags_by_ids(&self, org_id: &str, ids: &[String]) -> StorageResult<Vec<Tag>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new(format!(
                "SELECT {TAG_COLUMNS} FROM tags t WHERE t.organization_id = "
            ));
            qb.push_bind(org_id.to_string()).push(" AND t.id IN (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(id.clone());
            }
            qb.push(") ORDER BY t.name");
            qb.build_query_as().fetch_all(p).await
        })?)
    }

    async fn tag_by_id(&self, id: &str) -> StorageResult<Option<Tag>> {
        let sql = format!("SELECT {TAG_COLUMNS} FROM tags t WHERE t.id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn delete_tags(&self, org_id: &str, ids: &[String]) -> StorageResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        on_pool!(&self.pool, |p| {
            let mut qb = QueryBuilder::new("DELETE FROM tags WHERE organization_id = ");
            qb.push_bind(org_id.to_string()).push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(id.clone());
            }
            qb.push(")");
            qb.build().execute(p).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    async fn tag_workspaces(&self, tag_id: &str, workspace_ids: &[String]) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            for ws in workspace_ids {
                sqlx::query(
                    "INSERT INTO workspace_tags (workspace_id, tag_id, value, position) \
                     SELECT $1, $2, '', COALESCE(MAX(position), 0) + 1 FROM workspace_tags \
                     WHERE workspace_id = $1 \
                     ON CONFLICT (workspace_id, tag_id) DO NOTHING",
                )
                .bind(ws)
                .bind(tag_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn list_reserved_tag_keys(
        &self,
        org_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<ReservedTagKey>> {
        let select = format!("SELECT {RESERVED_COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "reserved_tag_keys",
            joins: "",
            key: "reserved_tag_keys.id",
            order: "created_at, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("organization_id = ").push_bind(org_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn override_locked_tag_keys(&self, org_id: &str) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT key FROM reserved_tag_keys WHERE organization_id = $1 AND disable_overrides \
             ORDER BY key"
        )
        .bind(org_id)
        .fetch_all(p)
        .await)?)
    }

    async fn reserved_tag_key_by_id(&self, id: &str) -> StorageResult<Option<ReservedTagKey>> {
        let sql = format!("SELECT {RESERVED_COLUMNS} FROM reserved_tag_keys WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn create_reserved_tag_key(&self, key: &ReservedTagKey) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO reserved_tag_keys ({RESERVED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&key.id)
            .bind(&key.organization_id)
            .bind(&key.key)
            .bind(key.disable_overrides)
            .bind(key.created_at)
            .bind(key.updated_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "reserved tag key"))?;
        Ok(())
    }

    async fn update_reserved_tag_key(&self, key: &ReservedTagKey) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE reserved_tag_keys SET key = $2, disable_overrides = $3, updated_at = $4 \
             WHERE id = $1"
        )
        .bind(&key.id)
        .bind(&key.key)
        .bind(key.disable_overrides)
        .bind(key.updated_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "reserved tag key"))?;
        Ok(())
    }

    async fn delete_reserved_tag_key(&self, id: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM reserved_tag_keys WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
