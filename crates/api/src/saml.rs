//! SAML 2.0, the HTTP side of single sign-on (the protocol rules are in
//! `terrace_auth::saml`, what a sign-in does in `terrace_domain::sso`): the identity
//! provider's metadata (read from a file at start, or fetched from a URL at the first sign-in
//! and cached for ten minutes, so a provider that is down does not stop the server), and the
//! service provider built from it. An organization's own service provider
//! ([`organization_provider`]) is built from the metadata its owners pasted, with its own
//! entity ID ([`organization_entity_path`]) and the same ACS.

use std::time::{Duration, Instant};

use terrace_auth::saml::{IdpDescriptor, Refusal, ServiceProvider, VerifiedAssertion};
use terrace_domain::org_sso::OrganizationProvider;
use terrace_domain::sso::SsoIdentity;
use tokio::sync::Mutex;

use crate::config::{SamlConfig, SamlMetadataSource};

pub const ACS_PATH: &str = "/app/sso/saml/acs";
pub const METADATA_PATH: &str = "/app/sso/saml/metadata";
const METADATA_TTL: Duration = Duration::from_secs(600);
const MAX_METADATA_BYTES: usize = 1 << 20;

/// The path of an organization's service provider entity ID, where its metadata is served:
/// distinct per organization, since identity providers know service providers by entity ID.
pub fn organization_entity_path(organization: &str) -> String {
    format!("/app/sso/organizations/{organization}/saml/metadata")
}

/// The service provider of an organization whose configuration uses SAML, toward the
/// identity provider of the metadata its owners pasted.
pub fn organization_provider(
    provider: &OrganizationProvider,
    base_url: &str,
) -> Result<ServiceProvider, SamlError> {
    let base = base_url.trim_end_matches('/');
    let xml = provider
        .config
        .saml_idp_metadata
        .as_deref()
        .ok_or_else(|| SamlError::Unavailable("it has no metadata".into()))?;
    let idp =
        IdpDescriptor::from_metadata(xml).map_err(|e| SamlError::Unavailable(e.to_string()))?;
    Ok(ServiceProvider::new(
        idp,
        format!(
            "{base}{}",
            organization_entity_path(&provider.organization.name)
        ),
        format!("{base}{ACS_PATH}"),
    ))
}

/// The assertion attributes a service provider reads.
#[derive(Debug, Clone)]
pub struct Attributes {
    pub username: String,
    pub email: String,
    pub groups: String,
}

impl Attributes {
    pub fn of_organization(provider: &OrganizationProvider) -> Attributes {
        Attributes {
            username: provider.config.saml_username_attribute.clone(),
            email: provider.config.saml_email_attribute.clone(),
            groups: provider.config.saml_groups_attribute.clone(),
        }
    }

    /// Who a verified assertion names, read with these attributes. The identity is the
    /// identity provider's entity ID and the NameID.
    pub fn identity(&self, assertion: &VerifiedAssertion) -> SsoIdentity {
        SsoIdentity {
            issuer: assertion.issuer.clone(),
            subject: assertion.name_id.clone(),
            username: assertion.first(&self.username),
            email: assertion.first(&self.email),
            // A SAML identity provider vouches for the addresses it sends.
            email_verified: None,
            groups: assertion
                .values(&self.groups)
                .into_iter()
                .filter(|g| !g.is_empty())
                .collect(),
        }
    }
}

/// Why a sign-in failed, worded for the person signing in.
#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Refused(#[from] Refusal),
}

pub struct Saml {
    config: SamlConfig,
    entity_id: String,
    acs_url: String,
    http: reqwest::Client,
    /// The service provider built from the identity provider's current metadata.
    provider: Mutex<Option<(ServiceProvider, Option<Instant>)>>,
}

impl Saml {
    /// Prepares SAML sign-in for a server reached at `base_url`: a metadata file is read now
    /// (a bad one stops the server), a metadata URL is fetched at the first sign-in.
    pub fn new(config: SamlConfig, base_url: &str) -> anyhow::Result<Saml> {
        let base = base_url.trim_end_matches('/');
        let acs_url = format!("{base}{ACS_PATH}");
        let entity_id = config
            .sp_entity_id
            .clone()
            .unwrap_or_else(|| format!("{base}{METADATA_PATH}"));
        let provider = match &config.idp_metadata {
            SamlMetadataSource::File(path) => {
                let xml = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("--saml-idp-metadata-file {}: {e}", path.display())
                })?;
                let idp = IdpDescriptor::from_metadata(&xml).map_err(|e| {
                    anyhow::anyhow!("--saml-idp-metadata-file {}: {e}", path.display())
                })?;
                Some((
                    ServiceProvider::new(idp, entity_id.clone(), acs_url.clone()),
                    None,
                ))
            }
            SamlMetadataSource::Url(_) => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("terrace/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(terrace_runner_listener::trust::client_config(Vec::new())?)
            .build()?;
        Ok(Saml {
            config,
            entity_id,
            acs_url,
            http,
            provider: Mutex::new(provider),
        })
    }

    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    pub fn acs_url(&self) -> &str {
        &self.acs_url
    }

    /// Our metadata (needs no identity provider).
    pub fn metadata_xml(&self) -> String {
        terrace_auth::saml::sp_metadata(&self.entity_id, &self.acs_url)
    }

    /// The service provider toward the identity provider as its metadata is now.
    pub async fn provider(&self) -> Result<ServiceProvider, SamlError> {
        let mut cached = self.provider.lock().await;
        if let Some((provider, fetched)) = cached.as_ref() {
            if fetched.is_none_or(|at| at.elapsed() < METADATA_TTL) {
                return Ok(provider.clone());
            }
        }
        let SamlMetadataSource::Url(url) = &self.config.idp_metadata else {
            return Err(SamlError::Unavailable("no metadata".into()));
        };
        match self.fetch(url).await {
            Ok(idp) => {
                let provider =
                    ServiceProvider::new(idp, self.entity_id.clone(), self.acs_url.clone());
                *cached = Some((provider.clone(), Some(Instant::now())));
                Ok(provider)
            }
            Err(reason) => {
                tracing::warn!(url = %url, error = %reason, "SAML metadata could not be fetched");
                Err(SamlError::Unavailable(format!(
                    "its metadata at {url} could not be read: {reason}"
                )))
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<IdpDescriptor, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| crate::oidc::error_chain(&e))?;
        if !response.status().is_success() {
            return Err(format!("it answered {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
        {
            return Err("the answer is too large".into());
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| crate::oidc::error_chain(&e))?;
        if body.len() > MAX_METADATA_BYTES {
            return Err("the answer is too large".into());
        }
        let xml = String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8".to_string())?;
        IdpDescriptor::from_metadata(&xml).map_err(|e| e.to_string())
    }

    /// The attributes read from assertions, as configured.
    pub fn attributes(&self) -> Attributes {
        Attributes {
            username: self.config.username_attribute.clone(),
            email: self.config.email_attribute.clone(),
            groups: self.config.groups_attribute.clone(),
        }
    }

    /// Who a verified assertion names, read as configured.
    pub fn identity(&self, assertion: &VerifiedAssertion) -> SsoIdentity {
        self.attributes().identity(assertion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saml(groups: &str) -> Saml {
        Saml::new(
            SamlConfig {
                idp_metadata: SamlMetadataSource::Url("http://127.0.0.1:1/md".into()),
                sp_entity_id: None,
                username_attribute: "uid".into(),
                email_attribute: "mail".into(),
                groups_attribute: groups.into(),
            },
            "https://terrace.example/",
        )
        .unwrap()
    }

    #[test]
    fn identity_is_the_entity_id_and_name_id_with_the_configured_attributes() {
        let saml = saml("memberOf");
        assert_eq!(
            saml.entity_id(),
            "https://terrace.example/app/sso/saml/metadata"
        );
        assert_eq!(saml.acs_url(), "https://terrace.example/app/sso/saml/acs");
        let assertion = VerifiedAssertion {
            id: "_a".into(),
            issuer: "https://idp.example/".into(),
            name_id: "n-1".into(),
            valid_until: chrono::Utc::now(),
            attributes: vec![
                ("uid".into(), vec!["ann".into()]),
                ("mail".into(), vec!["".into(), "ann@example.com".into()]),
                ("groups".into(), vec!["ignored".into()]),
                (
                    "memberOf".into(),
                    vec!["dev".into(), "".into(), "ops".into()],
                ),
            ],
        };
        let identity = saml.identity(&assertion);
        assert_eq!(identity.issuer, "https://idp.example/");
        assert_eq!(identity.subject, "n-1");
        assert_eq!(identity.username.as_deref(), Some("ann"));
        assert_eq!(identity.email.as_deref(), Some("ann@example.com"));
        assert_eq!(identity.groups, ["dev", "ops"]);
        assert!(saml
            .metadata_xml()
            .contains("https://terrace.example/app/sso/saml/acs"));
    }
}
