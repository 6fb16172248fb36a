use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::teams::TEAM_COLUMNS;
use super::users::USER_COLUMNS;
use super::{on_pool, SqlStore};
use crate::model::{SsoRequest, Team, User};
use crate::store::SsoStore;
use crate::{StorageError, StorageResult};

#[async_trait]
impl SsoStore for SqlStore {
    async fn create_sso_request(&self, request: &SsoRequest) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO sso_requests (state_hash, nonce, pkce_verifier, return_to, expires_at, \
             protocol) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&request.state_hash)
        .bind(&request.nonce)
        .bind(&request.pkce_verifier)
        .bind(&request.return_to)
        .bind(request.expires_at)
        .bind(&request.protocol)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn take_sso_request(&self, state_hash: &str) -> StorageResult<Option<SsoRequest>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(
            "DELETE FROM sso_requests WHERE state_hash = $1 RETURNING state_hash, nonce, \
             pkce_verifier, return_to, expires_at, protocol"
        )
        .bind(state_hash)
        .fetch_optional(p)
        .await)?)
    }

    async fn identity_user(&self, issuer: &str, subject: &str) -> StorageResult<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM user_identities \
             WHERE issuer = $1 AND subject = $2)"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(issuer)
            .bind(subject)
            .fetch_optional(p)
            .await)?)
    }

    async fn link_identity(
        &self,
        issuer: &str,
        subject: &str,
        user_id: &str,
        at: DateTime<Utc>,
    ) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO user_identities (issuer, subject, user_id, created_at) \
             VALUES ($1, $2, $3, $4)"
        )
        .bind(issuer)
        .bind(subject)
        .bind(user_id)
        .bind(at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "identity"))?;
        Ok(())
    }

    async fn sso_teams(&self) -> StorageResult<Vec<Team>> {
        let sql = format!(
            "SELECT {TEAM_COLUMNS} FROM teams WHERE sso_team_id IS NOT NULL \
             AND sso_team_id <> '' ORDER BY organization_id, name"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .fetch_all(p)
            .await)?)
    }

    async fn use_saml_assertion(
        &self,
        issuer: &str,
        assertion_id: &str,
        expires_at: DateTime<Utc>,
    ) -> StorageResult<bool> {
        let inserted = on_pool!(&self.pool, |p| {
            sqlx::query(
            "INSERT INTO saml_assertions (issuer, assertion_id, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (issuer, assertion_id) DO NOTHING"
        )
        .bind(issuer)
        .bind(assertion_id)
        .bind(expires_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(inserted == 1)
    }
}
