//! Abuse limits at the HTTP edge, so a flood from one client reaches nothing beyond it:
//!
//! - rate limits ([`enforce`]): every request is counted against one key, chosen by who
//!   sends it. A user API token is counted by its token ID (30 requests per second by
//!   default, as HCP Terraform allows); an agent or job token (listeners and runners) and a
//!   signed URL (the CLI's log reads and uploads) get a more generous quota of their own, so
//!   a runner streaming logs and a CLI following them are not held back; everything else
//!   (no token, an invalid token, sign-in pages) is counted by client address
//!   ([`client`]); discovery and the ping fall back to it when their token is over its
//!   limit. Responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//!   `X-RateLimit-Reset` (seconds until the whole burst is back); a request over the limit is
//!   answered 429 with `Retry-After` and a JSON:API error. The counting itself is behind
//!   [`RateLimiter`]: in this process ([`LocalRateLimiter`]), or in Redis, shared by every
//!   replica (`crate::replicas`).
//! - connections ([`conn`]): at most so many at once, TLS handshakes and request headers
//!   within a timeout, idle connections closed.
//! - request bodies ([`body`]): an upload that stops sending is abandoned; and ([`unread`])
//!   what a refused request still sends is read, up to a limit, so its client gets the answer.
//!
//! The password sign-in has its own throttle (per account and per address, with backoff) in
//! the domain's login module.

pub mod body;
pub mod client;
pub mod conn;
pub mod unread;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use terrace_auth::throttle::{LocalLimiter, Quota, Verdict, DEFAULT_MAX_KEYS};
use terrace_domain::{Caller, Principal};

pub use client::{client_address, Cidr, ClientAddr};

use crate::app::AppState;
use crate::config::Limits;
use crate::error::ApiError;
use crate::extract::{bearer_token, Authenticated};
use crate::routes::discovery::is_discovery;

pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Whose requests are counted together; each class has its own quota and its own keys, so a
/// flood of one class (many addresses) cannot crowd out another (tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// A user API token, by token ID.
    Token,
    /// An agent token (a listener) or a job token (a runner), by token ID.
    Runner,
    /// A genuine signed URL, by what it grants (`purpose:resource`).
    Capability,
    /// Everything else, by client address.
    Anonymous,
}

impl Class {
    const ALL: [Class; 4] = [
        Class::Token,
        Class::Runner,
        Class::Capability,
        Class::Anonymous,
    ];

    /// Its name in metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Class::Token => "token",
            Class::Runner => "runner",
            Class::Capability => "capability",
            Class::Anonymous => "anonymous",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Class::Token => "this API token",
            Class::Runner => "this agent or job token",
            Class::Capability => "this URL",
            Class::Anonymous => "requests without a valid token from this address",
        }
    }
}

/// What one request is counted against. `id` is a token ID, a capability's subject or an
/// address: never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub class: Class,
    pub id: String,
}

/// Counts requests per key: here ([`LocalRateLimiter`]) or shared between replicas
/// (`crate::replicas::RedisRateLimiter`), [`enforce`] is the same.
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `key` against `quota` and says whether it may proceed.
    fn acquire<'a>(&'a self, key: &'a Key, quota: Quota) -> BoxFuture<'a, Verdict>;
}

/// Counts in this process: a GCRA bucket per key, in bounded maps (one per class).
pub struct LocalRateLimiter {
    classes: Vec<(Class, LocalLimiter)>,
}

impl LocalRateLimiter {
    pub fn new() -> LocalRateLimiter {
        LocalRateLimiter {
            classes: Class::ALL
                .into_iter()
                .map(|class| (class, LocalLimiter::new(DEFAULT_MAX_KEYS)))
                .collect(),
        }
    }
}

impl Default for LocalRateLimiter {
    fn default() -> Self {
        LocalRateLimiter::new()
    }
}

impl RateLimiter for LocalRateLimiter {
    fn acquire<'a>(&'a self, key: &'a Key, quota: Quota) -> BoxFuture<'a, Verdict> {
        let (_, limiter) = self
            .classes
            .iter()
            .find(|(class, _)| *class == key.class)
            .expect("a limiter per class");
        let verdict = limiter.check(&key.id, quota);
        Box::pin(std::future::ready(verdict))
    }
}

/// The rate limits of this server: quotas per class, who counts, which proxies are believed.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    token: Option<Quota>,
    runner: Option<Quota>,
    anonymous: Option<Quota>,
    trusted_proxies: Arc<[Cidr]>,
}

impl RateLimits {
    pub fn new(limits: &Limits, limiter: Arc<dyn RateLimiter>) -> RateLimits {
        RateLimits {
            limiter,
            token: limits.token,
            runner: limits.runner,
            anonymous: limits.anonymous,
            trusted_proxies: limits.trusted_proxies.clone().into(),
        }
    }

    fn quota(&self, class: Class) -> Option<Quota> {
        match class {
            Class::Token => self.token,
            Class::Runner | Class::Capability => self.runner,
            Class::Anonymous => self.anonymous,
        }
    }
}

/// The middleware: works out the client and the key, counts the request, and answers 429
/// or adds the rate limit headers to the response. A bearer token is authenticated here
/// once; handlers find the result in the request's extensions.
pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let limits = state.limits.clone();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let client = ClientAddr(client_address(
        peer,
        request.headers(),
        &limits.trusted_proxies,
    ));
    if peer.is_some() {
        request.extensions_mut().insert(client);
    }
    let key = key_of(&state, &mut request, client).await;
    let Some(quota) = limits.quota(key.class) else {
        return next.run(request).await;
    };
    let verdict = limits.limiter.acquire(&key, quota).await;
    if !verdict.allowed && key.class != Class::Anonymous && is_discovery(request.uri().path()) {
        // Clients ask discovery and the ping first, with their token attached, and a refusal
        // there fails the command outright (go-tfe reads the API version from the ping
        // whatever its status, and retries only the requests after it): a CLI started right
        // after its last command used up the token's burst would take the server for an
        // incompatible one. So these fall back to their address's allowance, and still
        // answer with the token's limit, which go-tfe paces itself by.
        let fallback = Key {
            class: Class::Anonymous,
            id: client.key(),
        };
        let allowed = match limits.quota(Class::Anonymous) {
            Some(anonymous) => limits.limiter.acquire(&fallback, anonymous).await.allowed,
            None => true,
        };
        if allowed {
            let mut response = next.run(request).await;
            rate_limit_headers(response.headers_mut(), quota, &verdict);
            return response;
        }
    }
    if !verdict.allowed {
        tracing::debug!(target: "terrace::http", class = ?key.class, "rate limited");
        state.metrics.rate_limited(key.class.label());
        let mut response = too_many_requests(key.class, quota, &verdict);
        rate_limit_headers(response.headers_mut(), quota, &verdict);
        return response;
    }
    let mut response = next.run(request).await;
    rate_limit_headers(response.headers_mut(), quota, &verdict);
    response
}

/// Who the request is counted as (see [`Class`]).
async fn key_of(state: &AppState, request: &mut Request, client: ClientAddr) -> Key {
    if let Some(subject) =
        capability_token(request.uri().path()).and_then(|t| state.services.capability_subject(t))
    {
        return Key {
            class: Class::Capability,
            id: subject,
        };
    }
    if let Some(token) = bearer_token(request.headers()) {
        let result = state.services.authenticate(token).await;
        let key = match &result {
            Ok(caller) => caller.token_id.clone().map(|id| Key {
                class: class_of(caller),
                id,
            }),
            Err(_) => None,
        };
        request
            .extensions_mut()
            .insert(Authenticated(result.map_err(ApiError::from)));
        if let Some(key) = key {
            return key;
        }
    }
    Key {
        class: Class::Anonymous,
        id: client.key(),
    }
}

fn class_of(caller: &Caller) -> Class {
    match caller.principal {
        Principal::User(_)
        | Principal::Team(_)
        | Principal::Organization { .. }
        | Principal::AuditTrail { .. }
        | Principal::TaskResult { .. } => Class::Token,
        Principal::Agent { .. } | Principal::Job(_) => Class::Runner,
    }
}

/// The token of a signed URL's path (`/_logs/TOKEN`, `/_uploads/KIND/TOKEN`).
fn capability_token(path: &str) -> Option<&str> {
    let token = match path.strip_prefix("/_logs/") {
        Some(token) => token,
        None => path.strip_prefix("/_uploads/")?.split_once('/')?.1,
    };
    (!token.is_empty() && !token.contains('/')).then_some(token)
}

fn too_many_requests(class: Class, quota: Quota, verdict: &Verdict) -> Response {
    let wait = retry_after_seconds(verdict.retry_after);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too many requests",
        format!(
            "rate limit exceeded: {} may send {} requests per second (bursts of {}); retry in {wait} s",
            class.describe(),
            quota.rate(),
            quota.burst()
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// Whole seconds, rounded up, at least 1 (`Retry-After` takes no fractions).
fn retry_after_seconds(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// HCP Terraform's headers: the rate per second (go-tfe paces itself by it), what is left
/// of the burst, and the seconds (with fractions) until the whole burst is back.
fn rate_limit_headers(headers: &mut HeaderMap, quota: Quota, verdict: &Verdict) {
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(quota.rate()));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(verdict.remaining));
    let reset = format!("{:.3}", verdict.reset.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&reset) {
        headers.insert(X_RATELIMIT_RESET, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_url_tokens_are_found_in_their_paths() {
        assert_eq!(capability_token("/_logs/abc.def"), Some("abc.def"));
        assert_eq!(capability_token("/_uploads/state/abc.def"), Some("abc.def"));
        assert_eq!(
            capability_token("/_uploads/configuration/abc.def"),
            Some("abc.def")
        );
        for other in [
            "/_logs/",
            "/_uploads/state",
            "/_uploads/state/",
            "/_uploads/state/a/b",
            "/api/v2/_logs/x",
            "/",
        ] {
            assert_eq!(capability_token(other), None, "{other}");
        }
    }

    #[test]
    fn refusals_say_when_to_come_back_in_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
        let quota = Quota::new(30, 60).unwrap();
        let verdict = Verdict {
            allowed: false,
            remaining: 0,
            reset: Duration::from_millis(1234),
            retry_after: Duration::from_millis(33),
        };
        let mut response = too_many_requests(Class::Token, quota, &verdict);
        rate_limit_headers(response.headers_mut(), quota, &verdict);
        assert_eq!(response.status(), 429);
        let headers = response.headers();
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["x-ratelimit-limit"], "30");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
        assert_eq!(headers["x-ratelimit-reset"], "1.234");
    }

    #[tokio::test]
    async fn each_class_counts_its_own_keys() {
        let limiter = LocalRateLimiter::new();
        let quota = Quota::new(1, 1).unwrap();
        let key = |class, id: &str| Key {
            class,
            id: id.to_string(),
        };
        assert!(
            limiter
                .acquire(&key(Class::Token, "at-1"), quota)
                .await
                .allowed
        );
        assert!(
            !limiter
                .acquire(&key(Class::Token, "at-1"), quota)
                .await
                .allowed
        );
        assert!(
            limiter
                .acquire(&key(Class::Token, "at-2"), quota)
                .await
                .allowed
        );
        assert!(
            limiter
                .acquire(&key(Class::Anonymous, "at-1"), quota)
                .await
                .allowed,
            "the same ID in another class is another key"
        );
    }
}
