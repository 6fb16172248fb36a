//! Signing in: passwords, browser sessions, and the OAuth 2 authorization-code flow with
//! PKCE that `terraform login` speaks (the server advertises it as `login.v1`).

use chrono::Duration;
use terrace_auth::{password, pkce, secret};
use terrace_storage::clock;
use terrace_storage::model::{OAuthCode, User};

use crate::sessions::StartedSession;
use crate::{DomainError, DomainResult, Services};

/// The OAuth client ID the Terraform CLI uses.
pub const CLI_CLIENT_ID: &str = "terraform-cli";
const CODE_TTL_MINUTES: i64 = 5;

/// Failures of the token endpoint, named as RFC 6749 §5.2 names them.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidClient(String),
    #[error("{0}")]
    InvalidGrant(String),
    #[error("only the authorization_code grant is supported")]
    UnsupportedGrantType,
    #[error(transparent)]
    Server(#[from] DomainError),
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::Server(_) => "server_error",
        }
    }
}

/// A token request as the CLI posts it.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub grant_type: String,
    pub client_id: String,
    pub code: String,
    pub code_verifier: String,
    pub redirect_uri: String,
}

impl Services {
    /// Checks a username and password. Unknown users cost the same time as wrong passwords.
    pub async fn password_login(&self, username: &str, password: &str) -> DomainResult<User> {
        let user = self.store.user_by_username(username).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.as_deref())
            .unwrap_or(password::dummy_hash())
            .to_string();
        let password = password.to_string();
        let matches = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
            .await
            .unwrap_or(false);
        match user {
            Some(user) if matches && user.password_hash.is_some() => Ok(user),
            _ => Err(DomainError::Unauthorized),
        }
    }

    /// Starts a browser session (its rules are in [`crate::sessions`]).
    pub async fn start_session(&self, user: &User) -> DomainResult<StartedSession> {
        self.open_session(user).await
    }

    /// The user a session cookie signs in, if the session has not ended.
    pub async fn session_user(&self, cookie: &str) -> DomainResult<Option<User>> {
        self.signed_in_user(cookie).await
    }

    pub async fn end_session(&self, cookie: &str) -> DomainResult<()> {
        Ok(self.store.delete_session(&secret::hash(cookie)).await?)
    }

    /// Checks an authorization request before anyone is asked to sign in: the client is the
    /// Terraform CLI and the redirect goes to its loopback listener within the advertised
    /// ports, so a code can never be sent elsewhere.
    pub fn check_authorization_request(
        &self,
        client_id: &str,
        redirect_uri: &str,
        challenge_method: &str,
        challenge: &str,
    ) -> DomainResult<()> {
        if client_id != CLI_CLIENT_ID {
            return Err(DomainError::bad_request(format!(
                "unknown OAuth client {client_id:?}"
            )));
        }
        if !self.is_cli_redirect(redirect_uri) {
            return Err(DomainError::bad_request(format!(
                "redirect_uri {redirect_uri:?} is not the Terraform CLI's loopback address"
            )));
        }
        if challenge_method != "S256" || challenge.len() < 43 {
            return Err(DomainError::bad_request(
                "a PKCE code_challenge with method S256 is required",
            ));
        }
        Ok(())
    }

    fn is_cli_redirect(&self, redirect_uri: &str) -> bool {
        let Some(rest) = redirect_uri.strip_prefix("http://") else {
            return false;
        };
        let Some((authority, path)) = rest.split_once('/') else {
            return false;
        };
        let Some((host, port)) = authority.rsplit_once(':') else {
            return false;
        };
        let (low, high) = self.settings.login_ports;
        matches!(host, "localhost" | "127.0.0.1")
            && path == "login"
            && port.parse::<u16>().is_ok_and(|p| (low..=high).contains(&p))
    }

    /// Issues a one-time code for `user` after they approved the request.
    pub async fn issue_authorization_code(
        &self,
        user: &User,
        client_id: &str,
        redirect_uri: &str,
        challenge_method: &str,
        challenge: &str,
    ) -> DomainResult<String> {
        self.check_authorization_request(client_id, redirect_uri, challenge_method, challenge)?;
        let code = secret::new_opaque();
        self.store
            .create_oauth_code(&OAuthCode {
                code_hash: secret::hash(&code),
                user_id: user.id.clone(),
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                code_challenge: challenge.to_string(),
                expires_at: clock::now() + Duration::minutes(CODE_TTL_MINUTES),
            })
            .await?;
        Ok(code)
    }

    /// Exchanges a code for a new user API token.
    pub async fn exchange_authorization_code(
        &self,
        request: TokenRequest,
    ) -> Result<String, OAuthError> {
        if request.grant_type != "authorization_code" {
            return Err(OAuthError::UnsupportedGrantType);
        }
        if request.code.is_empty() || request.code_verifier.is_empty() {
            return Err(OAuthError::InvalidRequest(
                "code and code_verifier are required".into(),
            ));
        }
        // Taking the code consumes it, whatever happens next: a code works once.
        let code = self
            .store
            .take_oauth_code(&secret::hash(&request.code))
            .await
            .map_err(DomainError::from)?
            .ok_or_else(|| OAuthError::InvalidGrant("unknown or already used code".into()))?;
        if code.expires_at <= clock::now() {
            return Err(OAuthError::InvalidGrant("the code expired".into()));
        }
        if code.client_id != request.client_id {
            return Err(OAuthError::InvalidClient(
                "the code was issued to another client".into(),
            ));
        }
        if code.redirect_uri != request.redirect_uri {
            return Err(OAuthError::InvalidGrant(
                "redirect_uri differs from the authorization request".into(),
            ));
        }
        if !pkce::verify_s256(&request.code_verifier, &code.code_challenge) {
            return Err(OAuthError::InvalidGrant(
                "code_verifier does not match the code challenge".into(),
            ));
        }
        let expires_at = self.settings.login_token_ttl.map(|ttl| clock::now() + ttl);
        let (_, token) = self
            .issue_user_token(
                &code.user_id,
                Some("terraform login".into()),
                expires_at,
                Some(&code.user_id),
            )
            .await?;
        Ok(token)
    }

    /// Removes expired codes and sessions (run periodically).
    pub async fn purge_expired_logins(&self) -> DomainResult<()> {
        Ok(self.store.purge_expired(clock::now()).await?)
    }
}
