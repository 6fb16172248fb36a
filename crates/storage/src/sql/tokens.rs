use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::pagination::{fetch_page, Listing};
use super::{on_pool, BeginWrite, SqlStore};
use crate::model::{Page, PageRequest, Token, TokenKind};
use crate::store::TokenStore;
use crate::{StorageError, StorageResult};

const COLUMNS: &str =
    "id, kind, owner_id, description, secret_hash, created_by, created_at, last_used_at, \
     expires_at, signed_in_with";

/// Keeps a team's described tokens out of replacing and deleting its undescribed one.
const REPLACEABLE: &str = " AND NOT (kind = 'team' AND description IS NOT NULL)";

#[async_trait]
impl TokenStore for SqlStore {
    async fn create_token(&self, token: &Token) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&token.id)
            .bind(token.kind)
            .bind(&token.owner_id)
            .bind(&token.description)
            .bind(&token.secret_hash)
            .bind(&token.created_by)
            .bind(token.created_at)
            .bind(token.last_used_at)
            .bind(token.expires_at)
            .bind(&token.signed_in_with)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "token description"))?;
        Ok(())
    }

    async fn replace_token(&self, token: &Token) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        let delete = format!("DELETE FROM tokens WHERE kind = $1 AND owner_id = $2{REPLACEABLE}");
        on_pool!(&self.pool, |p| {
            let mut tx = p.begin_write().await?;
            sqlx::query(&delete)
                .bind(token.kind)
                .bind(&token.owner_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&sql)
                .bind(&token.id)
                .bind(token.kind)
                .bind(&token.owner_id)
                .bind(&token.description)
                .bind(&token.secret_hash)
                .bind(&token.created_by)
                .bind(token.created_at)
                .bind(token.last_used_at)
                .bind(token.expires_at)
                .bind(&token.signed_in_with)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn token_by_hash(&self, secret_hash: &str) -> StorageResult<Option<Token>> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE secret_hash = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(secret_hash)
            .fetch_optional(p)
            .await)?)
    }

    async fn token_by_id(&self, id: &str) -> StorageResult<Option<Token>> {
        let sql = format!("SELECT {COLUMNS} FROM tokens WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn list_tokens(
        &self,
        kind: TokenKind,
        owner_id: &str,
        page: PageRequest,
    ) -> StorageResult<Page<Token>> {
        let select = format!("SELECT {COLUMNS}");
        let listing = Listing {
            select: &select,
            table: "tokens",
            joins: "",
            key: "tokens.id",
            order: "created_at DESC, id",
        };
        on_pool!(&self.pool, |p| {
            let conditions = |qb: &mut QueryBuilder<'_, _>| {
                qb.push("kind = ")
                    .push_bind(kind)
                    .push(" AND owner_id = ")
                    .push_bind(owner_id.to_string());
            };
            fetch_page!(self, p, &listing, conditions, page)
        })
    }

    async fn delete_token(&self, id: &str) -> StorageResult<bool> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM tokens WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    async fn delete_tokens_of(&self, kind: TokenKind, owner_id: &str) -> StorageResult<u64> {
        let sql = format!("DELETE FROM tokens WHERE kind = $1 AND owner_id = $2{REPLACEABLE}");
        Ok(on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(kind)
            .bind(owner_id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }

    async fn list_organization_team_tokens(&self, org_id: &str) -> StorageResult<Vec<Token>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM tokens WHERE kind = $1 AND owner_id IN \
             (SELECT id FROM teams WHERE organization_id = $2) ORDER BY created_at DESC, id"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(TokenKind::Team)
            .bind(org_id)
            .fetch_all(p)
            .await)?)
    }

    async fn touch_token(&self, id: &str, at: DateTime<Utc>) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE tokens SET last_used_at = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn credential_epoch(&self) -> StorageResult<i64> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT n FROM credential_epoch"
        )
        .fetch_one(p)
        .await)?)
    }
}
