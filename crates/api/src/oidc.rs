//! OpenID Connect, the protocol side of single sign-on (the rules are in
//! `terrace_domain::sso`): discovery (lazy and cached, so a provider that is down does not
//! stop the server), the authorization request with PKCE (S256), `state` and `nonce`, the code
//! exchange, the ID token's validation (signature against the provider's JWKS, issuer,
//! audience, expiry, nonce) and, optionally, userinfo. HTTP goes through the workspace's
//! reqwest with redirects off and the platform's roots plus `--oidc-ca-file`.

use std::time::{Duration, Instant};

use base64::Engine;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreProviderMetadata,
};
use openidconnect::http;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::{Map, Value};
use terrace_domain::org_sso::OrganizationProvider;
use terrace_domain::sso::{PendingSso, SsoIdentity, SsoProtocol};
use tokio::sync::Mutex;

use crate::config::OidcConfig;

/// The path of the callback, under the server's external URL.
pub const CALLBACK_PATH: &str = "/app/sso/oidc/callback";
/// How long discovered metadata (and the JWKS with it) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// Largest answer read from the provider.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Why a sign-in failed, worded for the person signing in (never with a code or a token).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense: nobody's fault at the browser.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider or its answer was refused: a short reason for the audit trail
    /// (`nonce`, `issuer`, `audience`, `expired`, `signature`, ...) and what the page says.
    #[error("{1}")]
    Refused(&'static str, String),
}

/// The audit trail's short reason for an ID token the verifier refused.
fn claims_reason(err: &openidconnect::ClaimsVerificationError) -> &'static str {
    use openidconnect::ClaimsVerificationError as E;
    match err {
        E::Expired(_) => "expired",
        E::InvalidAudience(_) => "audience",
        E::InvalidIssuer(_) => "issuer",
        E::InvalidNonce(_) => "nonce",
        E::SignatureVerification(_) => "signature",
        _ => "id-token",
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

pub struct Oidc {
    config: OidcConfig,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: Mutex<Option<(CoreProviderMetadata, Instant)>>,
}

/// The HTTP client for identity providers: the platform's roots plus `extra`, no redirects.
fn provider_http(
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(20))
        // Never follow the provider's redirects: a request goes where discovery said.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("terrace/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(terrace_runner_listener::trust::client_config(extra)?)
        .build()?)
}

impl Oidc {
    /// Prepares single sign-on for a server reached at `base_url`; contacts nobody yet.
    pub fn new(config: OidcConfig, base_url: &str) -> anyhow::Result<Oidc> {
        let extra = match &config.ca_file {
            Some(path) => terrace_runner_listener::trust::read_pem_certificates(path)?,
            None => Vec::new(),
        };
        Oidc::with_http(config, base_url, provider_http(extra)?)
    }

    fn with_http(
        config: OidcConfig,
        base_url: &str,
        http: reqwest::Client,
    ) -> anyhow::Result<Oidc> {
        let redirect =
            RedirectUrl::new(format!("{}{CALLBACK_PATH}", base_url.trim_end_matches('/')))?;
        Ok(Oidc {
            config,
            redirect,
            http,
            metadata: Mutex::new(None),
        })
    }

    /// The HTTP client the openidconnect crate calls (owning what it uses: its futures must
    /// be `Send` for any lifetime).
    fn http_client(
        &self,
    ) -> impl Fn(
        openidconnect::HttpRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send,
        >,
    > {
        let client = self.http.clone();
        move |request| {
            let client = client.clone();
            Box::pin(async move { send(&client, request).await })
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    /// The provider's metadata and keys, discovered on first use and every [`METADATA_TTL`].
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some((metadata, at)) = cached.as_ref() {
            if !refresh && at.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Unavailable(format!("issuer URL: {e}")))?;
        let http = self.http_client();
        match CoreProviderMetadata::discover_async(issuer, &http).await {
            Ok(metadata) => {
                *cached = Some((metadata.clone(), Instant::now()));
                Ok(metadata)
            }
            Err(err) => {
                let reason = error_chain(&err);
                tracing::warn!(issuer = %self.config.issuer, error = %reason, "OpenID Connect discovery failed");
                Err(OidcError::Unavailable(format!(
                    "discovery at {} failed: {reason}",
                    self.config.issuer
                )))
            }
        }
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// A new authorization request: the URL to send the browser to, and what the callback
    /// will need (to be stored until then).
    pub async fn start(&self, return_to: &str) -> Result<(String, PendingSso), OidcError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            PendingSso {
                protocol: SsoProtocol::Oidc,
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                return_to: return_to.to_string(),
                organization_id: None,
            },
        ))
    }

    /// Exchanges the code, validates the ID token and reads the claims.
    pub async fn finish(&self, code: &str, pending: &PendingSso) -> Result<SsoIdentity, OidcError> {
        let metadata = self.metadata(false).await?;
        let userinfo_url = metadata.userinfo_endpoint().map(|u| u.url().clone());
        let client = self.client(metadata);
        let http = self.http_client();
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Unavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|err| match err {
                openidconnect::RequestTokenError::ServerResponse(response) => OidcError::Refused(
                    "code",
                    format!(
                        "the identity provider refused the code ({})",
                        response.error()
                    ),
                ),
                other => OidcError::Unavailable(format!(
                    "the token request failed: {}",
                    error_chain(&other)
                )),
            })?;
        let id_token = token.id_token().ok_or_else(|| {
            OidcError::Refused("id-token", "the identity provider sent no ID token".into())
        })?;
        let nonce = Nonce::new(pending.nonce.clone());
        let verified = {
            let verifier: CoreIdTokenVerifier = client.id_token_verifier();
            match id_token.claims(&verifier, &nonce) {
                Ok(claims) => Ok(claims.clone()),
                Err(first) => {
                    // A key the cached JWKS does not know: the provider may have rotated.
                    let metadata = self.metadata(true).await?;
                    let client = self.client(metadata);
                    let verifier: CoreIdTokenVerifier = client.id_token_verifier();
                    let claims = id_token
                        .claims(&verifier, &nonce)
                        .cloned()
                        .map_err(|_| first);
                    claims
                }
            }
        }
        .map_err(|e| {
            OidcError::Refused(claims_reason(&e), format!("the ID token was refused: {e}"))
        })?;
        // The token's signature covers exactly this payload: its claims, all of them.
        let mut claims = payload(&id_token.to_string())?;
        if self.config.use_userinfo {
            if let Some(url) = userinfo_url {
                let info = self.userinfo(url, token.access_token().secret()).await?;
                if info.get("sub").and_then(Value::as_str) != Some(verified.subject().as_str()) {
                    return Err(OidcError::Refused(
                        "userinfo",
                        "userinfo names another subject than the ID token".into(),
                    ));
                }
                for (key, value) in info {
                    if !matches!(
                        key.as_str(),
                        "iss" | "sub" | "aud" | "nonce" | "exp" | "iat"
                    ) {
                        claims.insert(key, value);
                    }
                }
            }
        }
        Ok(identity(
            verified.issuer().as_str(),
            verified.subject().as_str(),
            &claims,
            &self.config,
        ))
    }

    async fn userinfo(
        &self,
        url: url::Url,
        access_token: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("userinfo: {}", error_chain(&e))))?;
        if !response.status().is_success() {
            return Err(OidcError::Refused(
                "userinfo",
                format!("userinfo answered {}", response.status()),
            ));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| OidcError::Unavailable(format!("userinfo: {}", error_chain(&e))))?;
        serde_json::from_slice(&body).map_err(|_| {
            OidcError::Refused(
                "userinfo",
                "userinfo is not a JSON object (signed userinfo is not supported)".into(),
            )
        })
    }
}

/// The organizations' providers: one [`Oidc`] per configuration, built from the stored record
/// and kept (with its discovery cache) until the configuration changes.
pub struct OrganizationClients {
    base_url: String,
    /// The platform's roots only: an organization's owner cannot widen the server's trust.
    http: reqwest::Client,
    clients: std::sync::Mutex<std::collections::HashMap<String, CachedClient>>,
}

/// A configuration's client, with the `updated_at` of the configuration it was built from.
type CachedClient = (chrono::DateTime<chrono::Utc>, std::sync::Arc<Oidc>);

/// Most organizations' clients kept at once; past this the cache starts afresh.
const MAX_ORGANIZATION_CLIENTS: usize = 1000;

impl OrganizationClients {
    pub fn new(base_url: &str) -> anyhow::Result<OrganizationClients> {
        Ok(OrganizationClients {
            base_url: base_url.to_string(),
            http: provider_http(Vec::new())?,
            clients: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The client of an organization's enabled provider.
    pub fn client(
        &self,
        provider: &OrganizationProvider,
    ) -> Result<std::sync::Arc<Oidc>, OidcError> {
        let config = &provider.config;
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, client)) = clients.get(&config.organization_id) {
            if *at == config.updated_at {
                return Ok(client.clone());
            }
        }
        let oidc = OidcConfig {
            issuer: config.oidc_issuer.clone().unwrap_or_default(),
            client_id: config.oidc_client_id.clone().unwrap_or_default(),
            client_secret: provider.client_secret.clone(),
            groups_claim: config.oidc_groups_claim.clone(),
            username_claim: config.oidc_username_claim.clone(),
            scopes: config
                .oidc_scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            use_userinfo: false,
            ca_file: None,
        };
        let client = std::sync::Arc::new(
            Oidc::with_http(oidc, &self.base_url, self.http.clone())
                .map_err(|e| OidcError::Unavailable(e.to_string()))?,
        );
        if clients.len() >= MAX_ORGANIZATION_CLIENTS {
            clients.clear();
        }
        clients.insert(
            config.organization_id.clone(),
            (config.updated_at, client.clone()),
        );
        Ok(client)
    }
}

/// The claims of a JWT, whose signature was checked already.
fn payload(jwt: &str) -> Result<Map<String, Value>, OidcError> {
    let part = jwt
        .split('.')
        .nth(1)
        .ok_or_else(|| OidcError::Refused("id-token", "malformed ID token".into()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| OidcError::Refused("id-token", "malformed ID token".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| OidcError::Refused("id-token", "malformed ID token".into()))
}

/// Who the claims name, read as configured.
pub fn identity(
    issuer: &str,
    subject: &str,
    claims: &Map<String, Value>,
    config: &OidcConfig,
) -> SsoIdentity {
    let text = |key: &str| {
        claims
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let groups = match claims.get(&config.groups_claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    SsoIdentity {
        issuer: issuer.to_string(),
        subject: subject.to_string(),
        username: text(&config.username_claim),
        email: text("email"),
        email_verified: claims.get("email_verified").and_then(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => Some(s == "true"),
            _ => None,
        }),
        groups,
    }
}

/// One HTTP exchange for the openidconnect crate, with the workspace's reqwest.
async fn send(
    client: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(error_chain(&e)))?;
    let status = response.status();
    let headers = response.headers().clone();
    if response
        .content_length()
        .is_some_and(|n| n > MAX_RESPONSE_BYTES as u64)
    {
        return Err(HttpError("the answer is too large".into()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| HttpError(error_chain(&e)))?;
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(HttpError("the answer is too large".into()));
    }
    let mut built = http::Response::builder()
        .status(status)
        .body(body.to_vec())
        .map_err(|e| HttpError(e.to_string()))?;
    *built.headers_mut() = headers;
    Ok(built)
}

/// An error with its causes, on one line.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OidcConfig {
        OidcConfig {
            issuer: "http://127.0.0.1:1".into(),
            client_id: "terrace".into(),
            client_secret: None,
            groups_claim: "groups".into(),
            username_claim: "preferred_username".into(),
            scopes: vec![],
            use_userinfo: false,
            ca_file: None,
        }
    }

    #[test]
    fn claims_are_read_as_configured() {
        let claims: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "preferred_username": "ann", "email": "ann@example.com", "email_verified": true,
            "groups": ["dev", 3, "ops"], "roles": "admin"
        }))
        .unwrap();
        let id = identity("https://idp", "s1", &claims, &config());
        assert_eq!(id.username.as_deref(), Some("ann"));
        assert_eq!(id.groups, ["dev", "ops"]);
        assert_eq!(id.email_verified, Some(true));
        let mut other = config();
        other.groups_claim = "roles".into();
        other.username_claim = "nickname".into();
        let id = identity("https://idp", "s1", &claims, &other);
        assert_eq!(id.groups, ["admin"]);
        assert_eq!(id.username, None);
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_reported_not_fatal() {
        let oidc = Oidc::new(config(), "https://terrace.example").unwrap();
        assert_eq!(
            oidc.redirect_uri(),
            "https://terrace.example/app/sso/oidc/callback"
        );
        match oidc.start("/").await {
            Err(OidcError::Unavailable(message)) => {
                assert!(
                    message.contains("discovery at http://127.0.0.1:1"),
                    "{message}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
