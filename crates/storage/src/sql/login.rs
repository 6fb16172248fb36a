use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{on_pool, SqlStore};
use crate::model::{OAuthCode, Session};
use crate::store::LoginStore;
use crate::StorageResult;

#[async_trait]
impl LoginStore for SqlStore {
    async fn create_oauth_code(&self, code: &OAuthCode) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO oauth_codes \
             (code_hash, user_id, client_id, redirect_uri, code_challenge, expires_at, \
             signed_in_with) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&code.code_hash)
        .bind(&code.user_id)
        .bind(&code.client_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(code.expires_at)
        .bind(&code.signed_in_with)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn take_oauth_code(&self, code_hash: &str) -> StorageResult<Option<OAuthCode>> {
        // DELETE .. RETURNING makes the exchange single-use even under concurrent requests.
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(
            "DELETE FROM oauth_codes WHERE code_hash = $1 RETURNING code_hash, user_id, \
             client_id, redirect_uri, code_challenge, expires_at, signed_in_with"
        )
        .bind(code_hash)
        .fetch_optional(p)
        .await)?)
    }

    async fn create_session(&self, session: &Session) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            sqlx::query(
                "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, last_seen_at, \
                 signed_in_with) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&session.id_hash)
            .bind(&session.user_id)
            .bind(session.created_at)
            .bind(session.expires_at)
            .bind(session.last_seen_at)
            .bind(&session.signed_in_with)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    async fn session_by_hash(&self, id_hash: &str) -> StorageResult<Option<Session>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT id_hash, user_id, created_at, expires_at, last_seen_at, signed_in_with \
             FROM sessions \
             WHERE id_hash = $1"
        )
        .bind(id_hash)
        .fetch_optional(p)
        .await)?)
    }

    async fn delete_session(&self, id_hash: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM sessions WHERE id_hash = $1"
        )
        .bind(id_hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn create_login_form(
        &self,
        csrf_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO login_forms (csrf_hash, expires_at) VALUES ($1, $2)"
        )
        .bind(csrf_hash)
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn take_login_form(&self, csrf_hash: &str) -> StorageResult<Option<DateTime<Utc>>> {
        // DELETE .. RETURNING: of two submissions of one form, one finds it.
        let row: Option<(DateTime<Utc>,)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "DELETE FROM login_forms WHERE csrf_hash = $1 RETURNING expires_at"
        )
        .bind(csrf_hash)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(expires_at,)| expires_at))
    }

    async fn touch_session(&self, id_hash: &str, at: DateTime<Utc>) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE sessions SET last_seen_at = $2 WHERE id_hash = $1"
        )
        .bind(id_hash)
        .bind(at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StorageResult<u64> {
        Ok(on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1"
        )
        .bind(user_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StorageResult<()> {
        on_pool!(&self.pool, |p| {
            sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
                .bind(now)
                .execute(p)
                .await?;
            sqlx::query("DELETE FROM sso_requests WHERE expires_at < $1")
                .bind(now)
                .execute(p)
                .await?;
            sqlx::query("DELETE FROM saml_assertions WHERE expires_at < $1")
                .bind(now)
                .execute(p)
                .await?;
            sqlx::query("DELETE FROM login_forms WHERE expires_at < $1")
                .bind(now)
                .execute(p)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
                .bind(now)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}
