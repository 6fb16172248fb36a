//! Signing in: passwords, browser sessions, and the OAuth 2 authorization-code flow with
//! PKCE that `terraform login` speaks (the server advertises it as `login.v1`).

use std::sync::Mutex;

use chrono::Duration;
use terrace_auth::throttle::{Backoff, BoundedMap, Clock, Failures, DEFAULT_MAX_KEYS};
use terrace_auth::{password, pkce, secret};
use terrace_storage::clock;
use terrace_storage::model::{OAuthCode, User};

use crate::org_sso::SignedInWith;
use crate::sessions::StartedSession;
use crate::{DomainError, DomainResult, Services};

/// The OAuth client ID the Terraform CLI uses.
pub const CLI_CLIENT_ID: &str = "terraform-cli";
const CODE_TTL_MINUTES: i64 = 5;
/// How long a sign-in form (its CSRF token) can be submitted.
pub const LOGIN_FORM_TTL_MINUTES: i64 = 60;
/// An address may fail this many times as often as one account before it waits: several
/// people may sign in from behind one address.
pub const ADDRESS_FAILURE_FACTOR: u32 = 4;

/// How failed sign-ins are throttled, and how much password hashing may run at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLimits {
    /// Failed sign-ins of one account before each further attempt must wait (an address gets
    /// [`ADDRESS_FAILURE_FACTOR`] times as many); 0 turns the throttling off.
    pub free_failures: u32,
    /// The first wait; it doubles with every further failure...
    pub backoff: std::time::Duration,
    /// ...up to this.
    pub max_backoff: std::time::Duration,
    /// Password checks running at once (each takes 19 MiB and a core for tens of ms).
    pub hash_concurrency: usize,
    /// How long a sign-in waits for a hashing slot before it is turned away as busy.
    pub hash_wait: std::time::Duration,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            free_failures: 5,
            backoff: std::time::Duration::from_secs(30),
            max_backoff: std::time::Duration::from_secs(15 * 60),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_wait: std::time::Duration::from_secs(5),
        }
    }
}

/// Failed sign-ins per account and per client address (in this process), and the gate
/// that bounds concurrent password hashing. An attempt counts as failed from the moment it
/// is admitted until it succeeds, so parallel guesses cannot slip past the count.
pub(crate) struct SignInGuard {
    accounts: Option<Backoff>,
    addresses: Option<Backoff>,
    clock: Clock,
    tally: Mutex<Tally>,
    hashing: tokio::sync::Semaphore,
    hash_wait: std::time::Duration,
}

struct Tally {
    accounts: BoundedMap<Failures>,
    addresses: BoundedMap<Failures>,
}

impl SignInGuard {
    pub(crate) fn new(limits: &SignInLimits) -> SignInGuard {
        let rule = |free| {
            (limits.free_failures > 0).then_some(Backoff {
                free,
                base: limits.backoff,
                max: limits.max_backoff.max(limits.backoff),
            })
        };
        SignInGuard {
            accounts: rule(limits.free_failures),
            addresses: rule(limits.free_failures.saturating_mul(ADDRESS_FAILURE_FACTOR)),
            clock: Clock::new(),
            tally: Mutex::new(Tally {
                accounts: BoundedMap::new(DEFAULT_MAX_KEYS),
                addresses: BoundedMap::new(DEFAULT_MAX_KEYS),
            }),
            hashing: tokio::sync::Semaphore::new(limits.hash_concurrency.max(1)),
            hash_wait: limits.hash_wait,
        }
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits an attempt (counting it as failed), or says how long it must wait.
    fn admit(&self, account: &str, address: Option<&str>) -> Result<(), std::time::Duration> {
        self.admit_at(account, address, self.clock.now())
    }

    fn admit_at(
        &self,
        account: &str,
        address: Option<&str>,
        now: std::time::Duration,
    ) -> Result<(), std::time::Duration> {
        let mut tally = self.tally();
        let tally = &mut *tally;
        let wait = waiting(self.accounts, &mut tally.accounts, Some(account), now).max(waiting(
            self.addresses,
            &mut tally.addresses,
            address,
            now,
        ));
        if !wait.is_zero() {
            return Err(wait);
        }
        for (rule, map, key) in [
            (self.accounts, &mut tally.accounts, Some(account)),
            (self.addresses, &mut tally.addresses, address),
        ] {
            if let (Some(rule), Some(key)) = (rule, key) {
                let failures = map.entry(key, now, |f, now| rule.idle(f, now), Failures::default);
                rule.fail(failures, now);
            }
        }
        Ok(())
    }

    /// The admitted attempt succeeded: the account starts afresh, and the address's count
    /// loses the attempt it was charged.
    fn succeeded(&self, account: &str, address: Option<&str>) {
        let mut tally = self.tally();
        tally.accounts.remove(account);
        if let Some(failures) = address.and_then(|a| tally.addresses.get_mut(a)) {
            failures.count = failures.count.saturating_sub(1);
        }
    }

    /// The admitted attempt was never judged (no hashing slot): it is not charged.
    fn withdrawn(&self, account: &str, address: Option<&str>) {
        let mut tally = self.tally();
        let tally = &mut *tally;
        for (map, key) in [
            (&mut tally.accounts, Some(account)),
            (&mut tally.addresses, address),
        ] {
            if let Some(failures) = key.and_then(|k| map.get_mut(k)) {
                failures.count = failures.count.saturating_sub(1);
            }
        }
    }

    /// Checks `password` against `hash` (the dummy hash when there is none, so unknown users
    /// cost the same) on the blocking pool, once one of the few hashing slots is free; `None`
    /// if none came free in time.
    async fn verify(&self, password: String, hash: Option<String>) -> Option<bool> {
        let _permit = tokio::time::timeout(self.hash_wait, self.hashing.acquire())
            .await
            .ok()?
            .ok()?;
        let matches = tokio::task::spawn_blocking(move || {
            password::verify(&password, hash.as_deref().unwrap_or(password::dummy_hash()))
        })
        .await
        .unwrap_or(false);
        Some(matches)
    }
}

/// How long an attempt for `key` must wait under `rule` (zero without a rule or key).
fn waiting(
    rule: Option<Backoff>,
    map: &mut BoundedMap<Failures>,
    key: Option<&str>,
    now: std::time::Duration,
) -> std::time::Duration {
    match (rule, key) {
        (Some(rule), Some(key)) => {
            let failures = map.entry(key, now, |f, now| rule.idle(f, now), Failures::default);
            rule.retry_after(failures, now)
        }
        _ => std::time::Duration::ZERO,
    }
}

/// "5 minutes", "40 seconds": a wait as people say it, rounded up.
pub fn describe_wait(seconds: u64) -> String {
    match seconds {
        0..=1 => "1 second".to_string(),
        2..=119 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

/// Why a suspended user's sign-in is refused.
pub const SUSPENDED: &str =
    "This account is suspended. A site administrator of this server can unsuspend it.";

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
    /// Checks a username and password for a sign-in from `address` (the client's, so
    /// guessing is throttled per address as well as per account). Unknown users cost the same
    /// time as wrong passwords and are throttled the same. After too many failures the
    /// attempt is refused without looking at the password (`Throttled`); when every hashing
    /// slot stays busy it is turned away (`Busy`). Every outcome goes into the audit trail
    /// with the username and `client` (the full address; `address` is the throttling key).
    pub async fn password_login(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
        client: Option<&str>,
    ) -> DomainResult<User> {
        let result = self.check_password(username, password, address).await;
        let status = match &result {
            Ok(_) => 200,
            Err(DomainError::Unauthorized) => 401,
            Err(DomainError::Throttled { .. }) => 429,
            Err(DomainError::Busy(_)) => 503,
            Err(_) => 500,
        };
        self.record_sign_in(result.as_ref().ok(), username, status, client)
            .await;
        result
    }

    async fn check_password(
        &self,
        username: &str,
        password: &str,
        address: Option<&str>,
    ) -> DomainResult<User> {
        let guard = &self.sign_in;
        // Counted by a hash: a fixed size per key, whatever was typed.
        let account = secret::hash(username);
        if let Err(wait) = guard.admit(&account, address) {
            let seconds = (wait.as_secs_f64().ceil() as u64).max(1);
            return Err(DomainError::Throttled {
                detail: format!(
                    "Too many failed sign-ins. Try again in {}.",
                    describe_wait(seconds)
                ),
                retry_after: seconds,
            });
        }
        let user = match self.store.user_by_username(username).await {
            Ok(user) => user,
            Err(err) => {
                guard.withdrawn(&account, address);
                return Err(err.into());
            }
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let Some(matches) = guard.verify(password.to_string(), hash).await else {
            guard.withdrawn(&account, address);
            return Err(DomainError::Busy(
                "The server is busy signing people in; try again in a moment.".into(),
            ));
        };
        match user {
            // Said only to whoever knows the password, so it reveals nothing to guessers.
            Some(user) if matches && user.password_hash.is_some() && user.is_suspended() => {
                guard.withdrawn(&account, address);
                Err(DomainError::Forbidden(SUSPENDED.into()))
            }
            Some(user) if matches && user.password_hash.is_some() => {
                guard.succeeded(&account, address);
                self.accept_invitations(&user).await?;
                Ok(user)
            }
            _ => Err(DomainError::Unauthorized),
        }
    }

    /// A new sign-in form token (the value of the form's CSRF pair), good for one submission
    /// within [`LOGIN_FORM_TTL_MINUTES`].
    pub async fn issue_login_form(&self) -> DomainResult<String> {
        let token = secret::new_opaque();
        self.store
            .create_login_form(
                &secret::hash(&token),
                clock::now() + Duration::minutes(LOGIN_FORM_TTL_MINUTES),
            )
            .await?;
        Ok(token)
    }

    /// Uses up a sign-in form token: true if this server issued it, it was not used before
    /// and it has not expired.
    pub async fn redeem_login_form(&self, token: &str) -> DomainResult<bool> {
        if token.is_empty() {
            return Ok(false);
        }
        let expires_at = self.store.take_login_form(&secret::hash(token)).await?;
        Ok(expires_at.is_some_and(|at| at > clock::now()))
    }

    /// Starts a browser session (its rules are in [`crate::sessions`]).
    pub async fn start_session(
        &self,
        user: &User,
        signed_in_with: &SignedInWith,
    ) -> DomainResult<StartedSession> {
        self.open_session(user, signed_in_with).await
    }

    /// The user a session cookie signs in and how it signed in, if the session has not ended.
    pub async fn session_user(&self, cookie: &str) -> DomainResult<Option<(User, SignedInWith)>> {
        self.signed_in_user(cookie).await
    }

    pub async fn end_session(&self, cookie: &str, client: Option<&str>) -> DomainResult<()> {
        if let Some((user, _)) = self.signed_in_user(cookie).await.ok().flatten() {
            self.record_user_event("sign-out", &user, client).await;
        }
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

    /// Issues a one-time code for `user` (signed in as `signed_in_with` says, which the token
    /// inherits) after they approved the request from `client` (an address, for the audit
    /// trail).
    pub async fn issue_authorization_code(
        &self,
        (user, signed_in_with): (&User, &SignedInWith),
        client_id: &str,
        redirect_uri: &str,
        challenge_method: &str,
        challenge: &str,
        client: Option<&str>,
    ) -> DomainResult<String> {
        self.check_authorization_request(client_id, redirect_uri, challenge_method, challenge)?;
        self.record_user_event("consent", user, client).await;
        let code = secret::new_opaque();
        self.store
            .create_oauth_code(&OAuthCode {
                code_hash: secret::hash(&code),
                user_id: user.id.clone(),
                client_id: client_id.to_string(),
                redirect_uri: redirect_uri.to_string(),
                code_challenge: challenge.to_string(),
                expires_at: clock::now() + Duration::minutes(CODE_TTL_MINUTES),
                signed_in_with: Some(signed_in_with.stored()),
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
        // Suspended since the code was issued: the token would answer 401 anyway.
        let user = self
            .store
            .user_by_id(&code.user_id)
            .await
            .map_err(DomainError::from)?;
        if user.as_ref().is_none_or(User::is_suspended) {
            return Err(OAuthError::InvalidGrant(SUSPENDED.into()));
        }
        let expires_at = self.settings.login_token_ttl.map(|ttl| clock::now() + ttl);
        let (token, secret) = self
            .issue_user_token(
                &code.user_id,
                Some("terraform login".into()),
                expires_at,
                Some(&code.user_id),
                &SignedInWith::from_stored(code.signed_in_with.as_deref()),
            )
            .await?;
        let user = self.store.user_by_id(&code.user_id).await.ok().flatten();
        self.record_outside_api("create", user.as_ref(), "authentication_token", &token.id)
            .await;
        Ok(secret)
    }

    /// Removes expired codes and sessions (run periodically).
    pub async fn purge_expired_logins(&self) -> DomainResult<()> {
        Ok(self.store.purge_expired(clock::now()).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn guard(free_failures: u32) -> SignInGuard {
        SignInGuard::new(&SignInLimits {
            free_failures,
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(40),
            hash_concurrency: 1,
            hash_wait: Duration::from_millis(50),
        })
    }

    const T0: Duration = Duration::from_secs(1000);

    #[test]
    fn an_account_waits_after_its_free_failures_and_starts_afresh_after_a_success() {
        let guard = guard(3);
        for _ in 0..3 {
            guard.admit_at("alice", Some("10.0.0.1"), T0).unwrap();
        }
        // The fourth attempt waits 10 s from the third, whatever its password.
        assert_eq!(
            guard.admit_at("alice", Some("10.0.0.2"), T0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        // Another account is not affected.
        guard.admit_at("bob", Some("10.0.0.1"), T0).unwrap();
        // After the wait one more attempt; if it fails too the next wait doubles.
        guard
            .admit_at("alice", None, T0 + Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            guard.admit_at("alice", None, T0 + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );
        // A success resets the account.
        guard.succeeded("alice", None);
        for _ in 0..3 {
            guard
                .admit_at("alice", None, T0 + Duration::from_secs(11))
                .unwrap();
        }
    }

    #[test]
    fn an_address_waits_after_more_failures_across_accounts() {
        let guard = guard(1);
        let free = ADDRESS_FAILURE_FACTOR;
        for i in 0..free {
            guard
                .admit_at(&format!("user-{i}"), Some("10.0.0.1"), T0)
                .unwrap();
        }
        assert_eq!(
            guard.admit_at("someone-new", Some("10.0.0.1"), T0),
            Err(Duration::from_secs(10))
        );
        guard.admit_at("someone-new", Some("10.0.0.2"), T0).unwrap();
        // A success from elsewhere does not clear the address.
        guard.succeeded("someone-new", Some("10.0.0.2"));
        assert!(guard.admit_at("other", Some("10.0.0.1"), T0).is_err());
    }

    #[test]
    fn unjudged_attempts_are_not_charged_and_zero_turns_throttling_off() {
        let guard = guard(1);
        guard.admit_at("alice", Some("a"), T0).unwrap();
        guard.withdrawn("alice", Some("a"));
        guard.admit_at("alice", Some("a"), T0).unwrap();
        assert!(guard.admit_at("alice", Some("a"), T0).is_err());
        let off = self::guard(0);
        for _ in 0..100 {
            off.admit_at("alice", Some("a"), T0).unwrap();
        }
    }

    #[tokio::test]
    async fn password_checks_wait_for_a_free_slot_and_give_up_in_time() {
        let guard = guard(5);
        let hash = password::hash("right");
        assert_eq!(
            guard.verify("right".into(), Some(hash.clone())).await,
            Some(true)
        );
        assert_eq!(guard.verify("wrong".into(), None).await, Some(false));
        // With the only slot taken, a check waits 50 ms and gives up.
        let _busy = guard.hashing.acquire().await.unwrap();
        assert_eq!(guard.verify("right".into(), Some(hash)).await, None);
    }

    #[test]
    fn waits_read_as_people_say_them() {
        assert_eq!(describe_wait(1), "1 second");
        assert_eq!(describe_wait(30), "30 seconds");
        assert_eq!(describe_wait(900), "15 minutes");
        assert_eq!(describe_wait(121), "3 minutes");
    }
}
