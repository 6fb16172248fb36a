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
        let ordered = $crate::sql::tags::positioned($tags, $last);
        let now = $crate::clock::now();
        // Two statements for each chunk of tags: the organization's missing tags, then the
        // workspace's bindings to them. Chunks keep a statement's parameters under SQLite's
        // and PostgreSQL's limits, however many tags a request names.
        for ordered in ordered.chunks($crate::sql::tags::TAGS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO tags (id, organization_id, name, created_at) ",
            );
            qb.push_values(ordered, |mut row, (_, tag)| {
                row.push_bind($crate::ids::new_id($crate::ids::TAG))
                    .push_bind($org_id.to_string())
                    .push_bind(tag.key.clone())
                    .push_bind(now);
            });
            qb.push(" ON CONFLICT (organization_id, name) DO NOTHING");
            qb.build().execute(&mut **$tx).await?;
            // `v(name, value, position)` as a common table expression: SQLite cannot name
            // the columns of a `VALUES` in `FROM`. The `WHERE` keeps SQLite from reading the
            // upsert's `ON` as the join's.
            let mut qb = sqlx::QueryBuilder::new("WITH v(name, value, position) AS (");
            qb.push_values(ordered, |mut row, (position, tag)| {
                row.push_bind(tag.key.clone())
                    .push_bind(tag.value.clone())
                    .push_bind(*position);
            });
            // Each binding carries its workspace's creation time (the tag's index is in the
            // list's order, migration 0049).
            qb.push(
                ") INSERT INTO workspace_tags \
                 (workspace_id, tag_id, value, position, workspace_created_at) SELECT ",
            )
            .push_bind($ws_id.to_string())
            .push(", t.id, v.value, v.position, (SELECT w.created_at FROM workspaces w WHERE w.id = ")
            .push_bind($ws_id.to_string())
            .push(") FROM v JOIN tags t ON t.name = v.name WHERE t.organization_id = ")
            .push_bind($org_id.to_string())
            .push(" ON CONFLICT (workspace_id, tag_id) DO UPDATE SET value = excluded.value");
            qb.build().execute(&mut **$tx).await?;
        }
    };
}
pub(crate) use upsert_workspace_tags;

/// Tags written per statement: four parameters each, well under the 32,766 SQLite takes.
pub(crate) const TAGS_PER_STATEMENT: usize = 1000;

/// The tags to write, each key once, in key order (see [`upsert_workspace_tags`]), with the
/// position each new key takes after the workspace's `last`: a key given twice keeps the
/// position of its first mention and the value of its last, as writing them one by one did
/// (one statement may not update the same binding twice).
pub(crate) fn positioned(tags: &[TagBinding], last: i64) -> Vec<(i64, &TagBinding)> {
    let mut by_key: std::collections::BTreeMap<&str, (i64, &TagBinding)> =
        std::collections::BTreeMap::new();
    for (tag, n) in tags.iter().zip(1..) {
        by_key
            .entry(tag.key.as_str())
            .and_modify(|entry| entry.1 = tag)
            .or_insert((last + n, tag));
    }
    by_key.into_values().collect()
}

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
                    "INSERT INTO workspace_tags \
                     (workspace_id, tag_id, value, position, workspace_created_at) \
                     SELECT $1, $2, '', COALESCE(MAX(position), 0) + 1, \
                     (SELECT w.created_at FROM workspaces w WHERE w.id = $1) FROM workspace_tags \
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

#[cfg(test)]
mod tests {
    use super::positioned;
    use crate::model::TagBinding;

    fn tag(key: &str, value: &str) -> TagBinding {
        TagBinding {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn tags_are_written_once_per_key_in_key_order() {
        let tags = [tag("zone", "a"), tag("env", "dev"), tag("zone", "b")];
        let written: Vec<(i64, &str, &str)> = positioned(&tags, 4)
            .into_iter()
            .map(|(position, t)| (position, t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(written, [(6, "env", "dev"), (5, "zone", "b")]);
        assert!(positioned(&[], 0).is_empty());
    }
}
