use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::teams::TEAM_COLUMNS;
use super::users::USER_COLUMNS;
use super::{on_pool, SqlStore};
use crate::model::{SsoConfiguration, SsoRequest, Team, User};
use crate::store::SsoStore;
use crate::{StorageError, StorageResult};

#[async_trait]
impl SsoStore for SqlStore {
    async fn create_sso_request(&self, request: &SsoRequest) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO sso_requests (state_hash, nonce, pkce_verifier, return_to, expires_at, \
             protocol, organization_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&request.state_hash)
        .bind(&request.nonce)
        .bind(&request.pkce_verifier)
        .bind(&request.return_to)
        .bind(request.expires_at)
        .bind(&request.protocol)
        .bind(&request.organization_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn take_sso_request(&self, state_hash: &str) -> StorageResult<Option<SsoRequest>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(
            "DELETE FROM sso_requests WHERE state_hash = $1 RETURNING state_hash, nonce, \
             pkce_verifier, return_to, expires_at, protocol, organization_id"
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

    async fn sso_configuration(
        &self,
        organization_id: &str,
    ) -> StorageResult<Option<SsoConfiguration>> {
        let sql = format!(
            "SELECT {SSO_CONFIGURATION_COLUMNS} FROM organization_sso_configurations \
             WHERE organization_id = $1"
        );
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(organization_id)
            .fetch_optional(p)
            .await)?)
    }

    async fn put_sso_configuration(&self, config: &SsoConfiguration) -> StorageResult<()> {
        let sql = format!(
            "INSERT INTO organization_sso_configurations ({SSO_CONFIGURATION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             ON CONFLICT (organization_id) DO UPDATE SET protocol = $2, enabled = $3, \
             enforced = $4, oidc_issuer = $5, oidc_client_id = $6, \
             oidc_client_secret_ciphertext = $7, oidc_scopes = $8, oidc_groups_claim = $9, \
             oidc_username_claim = $10, saml_idp_metadata = $11, saml_username_attribute = $12, \
             saml_email_attribute = $13, saml_groups_attribute = $14, updated_at = $16"
        );
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&config.organization_id)
            .bind(&config.protocol)
            .bind(config.enabled)
            .bind(config.enforced)
            .bind(&config.oidc_issuer)
            .bind(&config.oidc_client_id)
            .bind(&config.oidc_client_secret_ciphertext)
            .bind(&config.oidc_scopes)
            .bind(&config.oidc_groups_claim)
            .bind(&config.oidc_username_claim)
            .bind(&config.saml_idp_metadata)
            .bind(&config.saml_username_attribute)
            .bind(&config.saml_email_attribute)
            .bind(&config.saml_groups_attribute)
            .bind(config.created_at)
            .bind(config.updated_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn delete_sso_configuration(&self, organization_id: &str) -> StorageResult<bool> {
        let deleted = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM organization_sso_configurations WHERE organization_id = $1"
        )
        .bind(organization_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    async fn site_sso_organizations(&self) -> StorageResult<Vec<String>> {
        Ok(on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT id FROM organizations WHERE follows_site_sso_groups = TRUE AND id NOT IN \
             (SELECT organization_id FROM organization_sso_configurations WHERE enabled = TRUE) \
             ORDER BY id"
        )
        .fetch_all(p)
        .await)?)
    }
}

const SSO_CONFIGURATION_COLUMNS: &str = "organization_id, protocol, enabled, enforced, \
    oidc_issuer, oidc_client_id, oidc_client_secret_ciphertext, oidc_scopes, oidc_groups_claim, \
    oidc_username_claim, saml_idp_metadata, saml_username_attribute, saml_email_attribute, \
    saml_groups_attribute, created_at, updated_at";
