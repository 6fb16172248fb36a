//! API tokens: issued to users (through the API, `terraform login` or the admin CLI), stored
//! only as hashes, and turned back into a [`Caller`] on every request.

use chrono::{DateTime, Months, Utc};
use terrace_auth::secret;
use terrace_storage::model::{Page, PageRequest, Token, TokenKind};
use terrace_storage::{clock, ids};

use crate::org_sso::SignedInWith;
use crate::{Caller, DomainError, DomainResult, Principal, Services};

/// Owner of the built-in listener's agent tokens (the server's own pool).
pub const SERVER_POOL: &str = "server";

/// `last-used-at` is refreshed at most this often, so reads do not become writes.
const TOUCH_INTERVAL: i64 = 60;

/// How long a user, team or organization token made through the API lasts when its maker
/// names no `expired-at` (TFE's default: no token lives forever by accident).
const DEFAULT_LIFETIME_MONTHS: u32 = 24;

/// The expiry of a token made through the API: the one asked for, which must lie ahead,
/// or two years from `now`.
pub(crate) fn api_token_expiry(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DomainResult<DateTime<Utc>> {
    match requested {
        Some(at) if at <= now => Err(DomainError::invalid("expired-at", "must be in the future")),
        Some(at) => Ok(at),
        None => now
            .checked_add_months(Months::new(DEFAULT_LIFETIME_MONTHS))
            .ok_or_else(|| DomainError::invalid("expired-at", "is out of range")),
    }
}

impl Services {
    /// Resolves a bearer secret to the caller it stands for. A token kept at the current
    /// credential epoch is not read again (crate::credentials); a job's token, never kept,
    /// costs no epoch read.
    pub async fn authenticate(&self, bearer: &str) -> DomainResult<Caller> {
        let hash = secret::hash(bearer);
        let mut epoch = None;
        if let Some((kept_at, (token, principal))) = self.credentials.tokens.latest(&hash) {
            let current = self.store.credential_epoch().await?;
            if kept_at == current {
                return self.signed_in(hash, token, principal, current, true).await;
            }
            epoch = Some(current);
        }
        let mut token = self.token_named(&hash).await?;
        if epoch.is_none() && kept_between_requests(token.kind) {
            // What is kept must have been read after the epoch it is stamped with.
            epoch = Some(self.store.credential_epoch().await?);
            token = self.token_named(&hash).await?;
        }
        let principal = self.principal_of(&token).await?;
        match epoch {
            Some(epoch) if kept_between_requests(token.kind) => {
                self.signed_in(hash, token, principal, epoch, false).await
            }
            _ => {
                self.touch(&token).await?;
                Ok(token_caller(token, principal, None))
            }
        }
    }

    /// The caller of a token of a kind kept between requests, read at `epoch`; kept for the
    /// next request unless it already is (`kept`) as it is now.
    async fn signed_in(
        &self,
        hash: String,
        token: Token,
        principal: Principal,
        epoch: i64,
        kept: bool,
    ) -> DomainResult<Caller> {
        let touched = self.touch(&token).await?;
        let changed = touched.is_some();
        let token = touched.unwrap_or(token);
        if !kept || changed {
            let entry = (token.clone(), principal.clone());
            self.credentials.tokens.put(hash, epoch, entry);
        }
        Ok(token_caller(token, principal, Some(epoch)))
    }

    /// Refuses an expired token and records its use (at most once a minute: reads do not
    /// become writes); returns the token as recorded, if it was.
    async fn touch(&self, token: &Token) -> DomainResult<Option<Token>> {
        let now = clock::now();
        if expired(token, now) {
            return Err(DomainError::Unauthorized);
        }
        // A job token lives as long as its job, which records its own signs of life (the
        // reaper reads those): recording the token's use would be one more write per job.
        if token.kind == TokenKind::Job {
            return Ok(None);
        }
        if token
            .last_used_at
            .is_some_and(|at| (now - at).num_seconds() < TOUCH_INTERVAL)
        {
            return Ok(None);
        }
        self.store.touch_token(&token.id, now).await?;
        Ok(Some(Token {
            last_used_at: Some(now),
            ..token.clone()
        }))
    }

    async fn token_named(&self, hash: &str) -> DomainResult<Token> {
        self.store
            .token_by_hash(hash)
            .await?
            .ok_or(DomainError::Unauthorized)
    }

    /// The caller a stored token stands for, unless it has expired.
    pub(crate) async fn caller_for_token(&self, token: Token) -> DomainResult<Caller> {
        if expired(&token, clock::now()) {
            return Err(DomainError::Unauthorized);
        }
        let principal = self.principal_of(&token).await?;
        Ok(token_caller(token, principal, None))
    }

    /// Who a stored token acts as, read from the database; `Unauthorized` when that is gone.
    async fn principal_of(&self, token: &Token) -> DomainResult<Principal> {
        Ok(match token.kind {
            TokenKind::User => Principal::User(
                self.store
                    .user_by_id(&token.owner_id)
                    .await?
                    // A suspended user's tokens sign nothing in until they are unsuspended.
                    .filter(|user| !user.is_suspended())
                    .ok_or(DomainError::Unauthorized)?,
            ),
            TokenKind::Agent => Principal::Agent {
                pool_id: (token.owner_id != SERVER_POOL).then(|| token.owner_id.clone()),
            },
            TokenKind::Job => Principal::Job(Box::new(self.job_identity(&token.owner_id).await?)),
            // A team or organization token lasts as long as its team or organization.
            TokenKind::Team => Principal::Team(
                self.store
                    .team_by_id(&token.owner_id)
                    .await?
                    .ok_or(DomainError::Unauthorized)?,
            ),
            TokenKind::Organization => Principal::Organization {
                organization_id: self
                    .store
                    .organization_by_id(&token.owner_id)
                    .await?
                    .ok_or(DomainError::Unauthorized)?
                    .id,
            },
            // A task result's token lasts while its result waits for an answer.
            TokenKind::TaskResult => {
                let result = self
                    .store
                    .task_result_by_id(&token.owner_id)
                    .await?
                    .ok_or(DomainError::Unauthorized)?;
                Principal::TaskResult {
                    result_id: result.id,
                    run_id: result.run_id,
                }
            }
            TokenKind::AuditTrail => Principal::AuditTrail {
                organization_id: self
                    .store
                    .organization_by_id(&token.owner_id)
                    .await?
                    .ok_or(DomainError::Unauthorized)?
                    .id,
            },
        })
    }

    /// Creates an API token for the caller's own user; returns it with its secret, which is
    /// shown this once.
    pub async fn create_user_token(
        &self,
        caller: &Caller,
        user_id: &str,
        description: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> DomainResult<(Token, String)> {
        let user = self.current_user(caller)?;
        if user.id != user_id {
            return Err(DomainError::NotFound("user"));
        }
        let expires_at = api_token_expiry(expires_at, clock::now())?;
        // A token made with another token signed in as that one did.
        self.issue_user_token(
            user_id,
            description,
            Some(expires_at),
            Some(user_id),
            &caller.signed_in_with,
        )
        .await
    }

    /// Issues a token for `username` without a caller (admin CLI).
    pub async fn create_token_for_username(
        &self,
        username: &str,
        description: Option<String>,
    ) -> DomainResult<String> {
        let user = self.user_by_username(username).await?;
        let (token, secret) = self
            .issue_user_token(&user.id, description, None, None, &SignedInWith::Password)
            .await?;
        self.record_outside_api("create", None, "authentication_token", &token.id)
            .await;
        Ok(secret)
    }

    pub(crate) async fn issue_user_token(
        &self,
        user_id: &str,
        description: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        created_by: Option<&str>,
        signed_in_with: &SignedInWith,
    ) -> DomainResult<(Token, String)> {
        let (mut token, secret) = new_token(
            TokenKind::User,
            user_id,
            description,
            expires_at,
            created_by,
        )?;
        token.signed_in_with = Some(signed_in_with.stored());
        self.store.create_token(&token).await?;
        Ok((token, secret))
    }

    /// Stores a new token of any kind (only its hash); returns it with its secret, which is
    /// never available again.
    pub(crate) async fn issue_token(
        &self,
        kind: TokenKind,
        owner_id: &str,
        description: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        created_by: Option<&str>,
    ) -> DomainResult<(Token, String)> {
        let (token, secret) = new_token(kind, owner_id, description, expires_at, created_by)?;
        self.store.create_token(&token).await?;
        Ok((token, secret))
    }

    pub async fn list_user_tokens(
        &self,
        caller: &Caller,
        user_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<Token>> {
        if self.current_user(caller)?.id != user_id {
            return Err(DomainError::NotFound("user"));
        }
        Ok(self
            .store
            .list_tokens(TokenKind::User, user_id, page)
            .await?)
    }
}

/// A token of any kind with a fresh secret (the token holds only its hash).
pub(crate) fn new_token(
    kind: TokenKind,
    owner_id: &str,
    description: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    created_by: Option<&str>,
) -> DomainResult<(Token, String)> {
    if description.as_ref().is_some_and(|d| d.len() > 1024) {
        return Err(DomainError::invalid(
            "description",
            "may be at most 1024 characters",
        ));
    }
    let secret = secret::new_token();
    let token = Token {
        id: ids::new_id(ids::TOKEN),
        kind,
        owner_id: owner_id.to_string(),
        description,
        secret_hash: secret::hash(&secret),
        created_by: created_by.map(str::to_string),
        created_at: clock::now(),
        last_used_at: None,
        expires_at,
        signed_in_with: None,
    };
    Ok((token, secret))
}

fn expired(token: &Token, now: DateTime<Utc>) -> bool {
    token.expires_at.is_some_and(|at| at <= now)
}

/// The caller of a request made with `token`, which stands for `principal`.
fn token_caller(token: Token, principal: Principal, credentials_epoch: Option<i64>) -> Caller {
    Caller {
        principal,
        signed_in_with: SignedInWith::from_stored(token.signed_in_with.as_deref()),
        token_id: Some(token.id),
        credentials_epoch,
    }
}

/// Whether what a token of `kind` stands for is kept between requests: it is, when the
/// credential epoch covers everything it was read from. A job's token stands for a job, a task
/// result's for a result; neither is counted by the epoch (and each lives for minutes).
fn kept_between_requests(kind: TokenKind) -> bool {
    !matches!(kind, TokenKind::Job | TokenKind::TaskResult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn api_tokens_expire_in_two_years_unless_told() {
        let now = Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap();
        assert_eq!(
            api_token_expiry(None, now).unwrap(),
            Utc.with_ymd_and_hms(2028, 2, 28, 12, 0, 0).unwrap()
        );
        let tomorrow = now + chrono::Duration::days(1);
        assert_eq!(api_token_expiry(Some(tomorrow), now).unwrap(), tomorrow);
        assert!(api_token_expiry(Some(now), now).is_err());
    }
}
