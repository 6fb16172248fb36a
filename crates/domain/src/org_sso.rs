//! Single sign-on per organization, and "passwords off" for an organization.
//!
//! An organization's owners may give it its own identity provider
//! (`/organizations/:org/sso-configuration`). Anyone may create an organization, so every
//! owner is a possible attacker, and the rules are:
//! - the identities an organization's provider vouches for are namespaced by the
//!   organization ([`identity_issuer`]): whatever issuer and subject it sends, it signs in only
//!   users first created through that same configuration, never a local user, a site SSO user
//!   or another organization's;
//! - its groups fill only its own teams; the site's provider leaves alone the teams of
//!   organizations with an enabled configuration of their own;
//! - `enforced`: the organization's members (its owners excepted: break-glass) reach it only
//!   with credentials that came from single sign-on through its provider, or the site's when
//!   it has none enabled. Sessions record how they signed in ([`SignedInWith`]) and user
//!   tokens made from them inherit it. The rule is [`credential_allowed`]; it is applied in
//!   the one access resolution (`Services::standing`).
//!
//! Two protocols: OpenID Connect (`oidc_*` fields) and SAML 2.0 (`saml_*`). SAML's identity
//! provider metadata is pasted by the owners, never fetched from a URL (no request toward
//! internal addresses on an owner's behalf), and checked here ([`check_saml_metadata`]).
//!
//! The client secret is encrypted with the server's keyring and never shown.

use chrono::Utc;
use terrace_auth::policy::Action;
use terrace_storage::clock;
use terrace_storage::model::{Organization, SsoConfiguration};

use crate::{Caller, DomainError, DomainResult, Services};

pub const OIDC: &str = "oidc";
pub const SAML: &str = "saml";
pub const DEFAULT_SAML_USERNAME_ATTRIBUTE: &str = "uid";
pub const DEFAULT_SAML_EMAIL_ATTRIBUTE: &str = "email";
pub const DEFAULT_SAML_GROUPS_ATTRIBUTE: &str = "groups";
/// The largest identity provider metadata an owner may paste.
pub const MAX_SAML_METADATA_BYTES: usize = 256 * 1024;
pub const DEFAULT_SCOPES: &str = "profile email groups";
pub const DEFAULT_GROUPS_CLAIM: &str = "groups";
pub const DEFAULT_USERNAME_CLAIM: &str = "preferred_username";

/// How a credential came to be: how its session signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedInWith {
    /// A password (and every credential from before this was recorded).
    Password,
    /// The site's identity provider.
    Site,
    /// The identity provider of the organization with this ID.
    Organization(String),
}

impl SignedInWith {
    /// From the stored column (`NULL`, `password`, `sso`, `sso:<organization id>`).
    pub fn from_stored(stored: Option<&str>) -> SignedInWith {
        match stored {
            Some("sso") => SignedInWith::Site,
            Some(other) => match other.strip_prefix("sso:") {
                Some(id) if !id.is_empty() => SignedInWith::Organization(id.to_string()),
                _ => SignedInWith::Password,
            },
            None => SignedInWith::Password,
        }
    }

    pub fn stored(&self) -> String {
        match self {
            SignedInWith::Password => "password".into(),
            SignedInWith::Site => "sso".into(),
            SignedInWith::Organization(id) => format!("sso:{id}"),
        }
    }
}

/// The issuer under which an organization's provider's subjects are linked to users: its own
/// namespace, which no other configuration and not the site's provider can reach.
pub fn identity_issuer(organization_id: &str, issuer: &str) -> String {
    format!("org:{organization_id}:{issuer}")
}

/// Whether a credential may reach an organization: always, unless the organization enforces
/// single sign-on; then only one from its own provider (or the site's when it has none
/// enabled). Owners are exempt (break-glass).
pub fn credential_allowed(
    config: Option<&SsoConfiguration>,
    organization_id: &str,
    is_owner: bool,
    with: &SignedInWith,
) -> bool {
    let Some(config) = config.filter(|c| c.enforced) else {
        return true;
    };
    if is_owner {
        return true;
    }
    if config.enabled {
        *with == SignedInWith::Organization(organization_id.to_string())
    } else {
        *with == SignedInWith::Site
    }
}

/// What the 403 says when [`credential_allowed`] refuses.
pub fn sso_required_message(organization: &str) -> String {
    format!(
        "organization {organization} requires single sign-on; sign in through its identity \
         provider, then `terraform login` again"
    )
}

/// A change to a configuration (`PATCH`); absent fields are kept. An empty client secret
/// removes it.
#[derive(Debug, Clone, Default)]
pub struct SsoConfigurationInput {
    pub protocol: Option<String>,
    pub enabled: Option<bool>,
    pub enforced: Option<bool>,
    pub oidc_issuer: Option<String>,
    pub oidc_client_id: Option<String>,
    pub oidc_client_secret: Option<String>,
    pub oidc_scopes: Option<String>,
    pub oidc_groups_claim: Option<String>,
    pub oidc_username_claim: Option<String>,
    /// The identity provider's metadata (XML); empty removes it.
    pub saml_idp_metadata: Option<String>,
    pub saml_username_attribute: Option<String>,
    pub saml_email_attribute: Option<String>,
    pub saml_groups_attribute: Option<String>,
}

/// A configuration as its owners see it: never the secret, only whether there is one.
#[derive(Debug, Clone)]
pub struct SsoConfigurationView {
    pub organization: Organization,
    pub config: SsoConfiguration,
    pub has_client_secret: bool,
}

/// A configuration and its clear client secret, for signing in.
#[derive(Debug, Clone)]
pub struct OrganizationProvider {
    pub organization: Organization,
    pub config: SsoConfiguration,
    pub client_secret: Option<String>,
}

fn blank(organization_id: &str, now: chrono::DateTime<Utc>) -> SsoConfiguration {
    SsoConfiguration {
        organization_id: organization_id.to_string(),
        protocol: OIDC.into(),
        enabled: false,
        enforced: false,
        oidc_issuer: None,
        oidc_client_id: None,
        oidc_client_secret_ciphertext: None,
        oidc_scopes: DEFAULT_SCOPES.into(),
        oidc_groups_claim: DEFAULT_GROUPS_CLAIM.into(),
        oidc_username_claim: DEFAULT_USERNAME_CLAIM.into(),
        saml_idp_metadata: None,
        saml_username_attribute: DEFAULT_SAML_USERNAME_ATTRIBUTE.into(),
        saml_email_attribute: DEFAULT_SAML_EMAIL_ATTRIBUTE.into(),
        saml_groups_attribute: DEFAULT_SAML_GROUPS_ATTRIBUTE.into(),
        created_at: now,
        updated_at: now,
    }
}

/// Scopes as stored: space-separated, from a space- or comma-separated list.
pub fn normalize_scopes(scopes: &str) -> String {
    scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty() && *s != "openid")
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an issuer URL is acceptable: `https`, or `http` on a loopback address; no query,
/// fragment or credentials. Unless `internal` is allowed, loopback, private, link-local and
/// unspecified addresses (and `localhost`) are refused: an organization's owner must not make
/// the server probe its own machine or network. (A public name that resolves to such an
/// address is not caught here.)
pub fn check_issuer(issuer: &str, internal: bool) -> Result<(), String> {
    if issuer.len() > 2048 {
        return Err("is too long".into());
    }
    if issuer.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("must not contain spaces or control characters".into());
    }
    let url = url::Url::parse(issuer).map_err(|e| format!("is not a URL ({e})"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must have no query or fragment".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must carry no credentials".into());
    }
    let (loopback, private) = match url.host() {
        Some(url::Host::Domain(d)) => {
            let local = d.eq_ignore_ascii_case("localhost")
                || d.to_ascii_lowercase().ends_with(".localhost");
            (local, local)
        }
        Some(url::Host::Ipv4(ip)) => (
            ip.is_loopback(),
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast(),
        ),
        Some(url::Host::Ipv6(ip)) => (
            ip.is_loopback(),
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some(),
        ),
        None => return Err("has no host".into()),
    };
    if private && !internal {
        return Err(
            "must name a public host (this server does not let organizations use \
             loopback or private addresses)"
                .into(),
        );
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("must be https (http only on a loopback address)".into()),
    }
}

/// Signature algorithms of SHA-1 (refused by the verifier, see `terrace_auth::saml`).
const SHA1_ALGORITHMS: [&str; 2] = [
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
];

/// The `Algorithm` of every `SigningMethod` an identity provider's metadata declares
/// (the SAML metadata extension for algorithm support).
fn declared_signing_methods(xml: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find("SigningMethod") {
        rest = &rest[at + "SigningMethod".len()..];
        let tag = rest.split('>').next().unwrap_or_default();
        if let Some(start) = tag.find("Algorithm=") {
            let value = &tag[start + "Algorithm=".len()..];
            if let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') {
                if let Some(algorithm) = value[1..].split(quote).next() {
                    found.push(algorithm.trim());
                }
            }
        }
    }
    found
}

/// Checks an identity provider's metadata as an owner pasted it: at most
/// [`MAX_SAML_METADATA_BYTES`], readable SAML metadata with an entity ID, a SingleSignOnService
/// with the HTTP-Redirect binding and a signing certificate, and not declaring SHA-1
/// signatures only. The error says what is wrong.
pub fn check_saml_metadata(xml: &str) -> Result<terrace_auth::saml::IdpDescriptor, String> {
    if xml.len() > MAX_SAML_METADATA_BYTES {
        return Err(format!(
            "is too large (at most {} KiB)",
            MAX_SAML_METADATA_BYTES / 1024
        ));
    }
    let idp = terrace_auth::saml::IdpDescriptor::from_metadata(xml).map_err(|e| {
        e.to_string()
            .trim_start_matches("the identity provider's metadata ")
            .to_string()
    })?;
    let methods = declared_signing_methods(xml);
    if !methods.is_empty() && methods.iter().all(|m| SHA1_ALGORITHMS.contains(m)) {
        return Err(
            "declares SHA-1 signatures only, which this server refuses: configure the \
             identity provider to sign with RSA-SHA256 or stronger"
                .into(),
        );
    }
    Ok(idp)
}

fn check_claim(name: &str, value: &str) -> DomainResult<()> {
    if value.is_empty()
        || value.len() > 128
        || value.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(DomainError::invalid(
            name,
            "must be 1 to 128 characters without spaces",
        ));
    }
    Ok(())
}

/// Applies `input` to `config` and checks the result (a pure function: no secret is read).
/// `site_sso`: whether the server has a site identity provider (which `enforced` falls back
/// to when the configuration is disabled); `internal`: whether issuers may name loopback and
/// private addresses ([`check_issuer`]).
pub fn apply(
    config: &mut SsoConfiguration,
    input: &SsoConfigurationInput,
    site_sso: bool,
    internal: bool,
) -> DomainResult<()> {
    if let Some(protocol) = &input.protocol {
        if protocol != OIDC && protocol != SAML {
            return Err(DomainError::invalid("protocol", "must be oidc or saml"));
        }
        config.protocol = protocol.clone();
    }
    if let Some(enabled) = input.enabled {
        config.enabled = enabled;
    }
    if let Some(enforced) = input.enforced {
        config.enforced = enforced;
    }
    if let Some(issuer) = &input.oidc_issuer {
        let issuer = issuer.trim_end_matches('/');
        config.oidc_issuer = (!issuer.is_empty()).then(|| issuer.to_string());
    }
    if let Some(client_id) = &input.oidc_client_id {
        if client_id.len() > 255 || client_id.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "oidc-client-id",
                "must be at most 255 characters, without control characters",
            ));
        }
        config.oidc_client_id = (!client_id.is_empty()).then(|| client_id.clone());
    }
    if let Some(secret) = &input.oidc_client_secret {
        if secret.len() > 4096 {
            return Err(DomainError::invalid(
                "oidc-client-secret",
                "must be at most 4096 characters",
            ));
        }
    }
    if let Some(scopes) = &input.oidc_scopes {
        let scopes = normalize_scopes(scopes);
        if scopes.len() > 1024
            || scopes
                .chars()
                .any(|c| c != ' ' && (!c.is_ascii_graphic() || c == '"' || c == '\\'))
        {
            return Err(DomainError::invalid(
                "oidc-scopes",
                "must be scope names (printable ASCII) separated by spaces or commas",
            ));
        }
        config.oidc_scopes = scopes;
    }
    if let Some(claim) = &input.oidc_groups_claim {
        check_claim("oidc-groups-claim", claim)?;
        config.oidc_groups_claim = claim.clone();
    }
    if let Some(claim) = &input.oidc_username_claim {
        check_claim("oidc-username-claim", claim)?;
        config.oidc_username_claim = claim.clone();
    }
    if let Some(metadata) = &input.saml_idp_metadata {
        let metadata = metadata.trim();
        if !metadata.is_empty() {
            check_saml_metadata(metadata)
                .map_err(|e| DomainError::invalid("saml-idp-metadata", e))?;
        }
        config.saml_idp_metadata = (!metadata.is_empty()).then(|| metadata.to_string());
    }
    for (name, value, field) in [
        (
            "saml-username-attribute",
            &input.saml_username_attribute,
            &mut config.saml_username_attribute,
        ),
        (
            "saml-email-attribute",
            &input.saml_email_attribute,
            &mut config.saml_email_attribute,
        ),
        (
            "saml-groups-attribute",
            &input.saml_groups_attribute,
            &mut config.saml_groups_attribute,
        ),
    ] {
        if let Some(value) = value {
            check_claim(name, value)?;
            *field = value.clone();
        }
    }
    if let Some(issuer) = &config.oidc_issuer {
        check_issuer(issuer, internal).map_err(|e| DomainError::invalid("oidc-issuer", e))?;
    }
    if config.enabled && config.protocol == SAML {
        if config.saml_idp_metadata.is_none() {
            return Err(DomainError::invalid(
                "saml-idp-metadata",
                "is required to enable single sign-on with SAML",
            ));
        }
    } else if config.enabled {
        if config.oidc_issuer.is_none() {
            return Err(DomainError::invalid(
                "oidc-issuer",
                "is required to enable single sign-on",
            ));
        }
        if config.oidc_client_id.is_none() {
            return Err(DomainError::invalid(
                "oidc-client-id",
                "is required to enable single sign-on",
            ));
        }
    }
    if config.enforced && !config.enabled && !site_sso {
        return Err(DomainError::invalid(
            "enforced",
            "needs an identity provider: enable this configuration first (the server has no \
             site-wide one)",
        ));
    }
    Ok(())
}

impl Services {
    async fn owned_organization(&self, caller: &Caller, name: &str) -> DomainResult<Organization> {
        let (org, _) = self
            .organization_for(caller, name, Action::UpdateOrganization)
            .await?;
        Ok(org)
    }

    /// The organization's configuration (owners only); 404 when it has none.
    pub async fn sso_configuration(
        &self,
        caller: &Caller,
        organization: &str,
    ) -> DomainResult<SsoConfigurationView> {
        let org = self.owned_organization(caller, organization).await?;
        let config = self
            .store
            .sso_configuration(&org.id)
            .await?
            .ok_or(DomainError::NotFound("sso configuration"))?;
        Ok(SsoConfigurationView {
            has_client_secret: config.oidc_client_secret_ciphertext.is_some(),
            organization: org,
            config,
        })
    }

    /// Creates or changes the organization's configuration (owners only).
    pub async fn update_sso_configuration(
        &self,
        caller: &Caller,
        organization: &str,
        input: SsoConfigurationInput,
    ) -> DomainResult<SsoConfigurationView> {
        let org = self.owned_organization(caller, organization).await?;
        let now = clock::now();
        let mut config = self
            .store
            .sso_configuration(&org.id)
            .await?
            .unwrap_or_else(|| blank(&org.id, now));
        apply(
            &mut config,
            &input,
            self.settings.site_sso,
            self.settings.organization_sso_loopback,
        )?;
        if let Some(secret) = &input.oidc_client_secret {
            config.oidc_client_secret_ciphertext =
                (!secret.is_empty()).then(|| self.blobs.keyring().encrypt(secret.as_bytes()));
        }
        config.updated_at = now;
        self.store.put_sso_configuration(&config).await?;
        tracing::info!(organization = %org.id, enabled = config.enabled, enforced = config.enforced,
            "single sign-on of the organization changed");
        Ok(SsoConfigurationView {
            has_client_secret: config.oidc_client_secret_ciphertext.is_some(),
            organization: org,
            config,
        })
    }

    /// Removes the organization's configuration (owners only). Users created through it stay
    /// (an administrator can remove them); they can no longer sign in.
    pub async fn delete_sso_configuration(
        &self,
        caller: &Caller,
        organization: &str,
    ) -> DomainResult<()> {
        let org = self.owned_organization(caller, organization).await?;
        if !self.store.delete_sso_configuration(&org.id).await? {
            return Err(DomainError::NotFound("sso configuration"));
        }
        Ok(())
    }

    /// The enabled provider of the organization named `organization`, for signing in
    /// (nobody is signed in yet). `None` when it has none enabled.
    pub async fn organization_provider(
        &self,
        organization: &str,
    ) -> DomainResult<Option<OrganizationProvider>> {
        let Some(org) = self.store.organization_by_name(organization).await? else {
            return Ok(None);
        };
        self.organization_provider_by_id(org).await
    }

    /// [`organization_provider`](Self::organization_provider) by the organization's ID.
    pub async fn organization_provider_of(
        &self,
        organization_id: &str,
    ) -> DomainResult<Option<OrganizationProvider>> {
        let Some(org) = self.store.organization_by_id(organization_id).await? else {
            return Ok(None);
        };
        self.organization_provider_by_id(org).await
    }

    async fn organization_provider_by_id(
        &self,
        org: Organization,
    ) -> DomainResult<Option<OrganizationProvider>> {
        let Some(config) = self
            .store
            .sso_configuration(&org.id)
            .await?
            .filter(|c| c.enabled)
        else {
            return Ok(None);
        };
        let client_secret = match &config.oidc_client_secret_ciphertext {
            Some(ciphertext) => Some(
                String::from_utf8(self.blobs.keyring().decrypt(ciphertext)?).map_err(|_| {
                    DomainError::bad_request("the stored client secret is unreadable")
                })?,
            ),
            None => None,
        };
        Ok(Some(OrganizationProvider {
            organization: org,
            config,
            client_secret,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(enabled: bool, enforced: bool) -> SsoConfiguration {
        SsoConfiguration {
            enabled,
            enforced,
            oidc_issuer: Some("https://idp.example".into()),
            oidc_client_id: Some("terrace".into()),
            ..blank("org-1", clock::now())
        }
    }

    #[test]
    fn provenance_round_trips_and_unknown_values_count_as_passwords() {
        for with in [
            SignedInWith::Password,
            SignedInWith::Site,
            SignedInWith::Organization("org-1".into()),
        ] {
            assert_eq!(SignedInWith::from_stored(Some(&with.stored())), with);
        }
        assert_eq!(SignedInWith::from_stored(None), SignedInWith::Password);
        assert_eq!(
            SignedInWith::from_stored(Some("sso:")),
            SignedInWith::Password
        );
        assert_eq!(SignedInWith::from_stored(Some("x")), SignedInWith::Password);
    }

    #[test]
    fn enforced_organizations_take_only_their_own_sign_ins() {
        let org = SignedInWith::Organization("org-1".into());
        let other = SignedInWith::Organization("org-2".into());
        let all = [
            SignedInWith::Password,
            SignedInWith::Site,
            org.clone(),
            other,
        ];
        // Not configured, or not enforced: everything goes.
        for with in &all {
            assert!(credential_allowed(None, "org-1", false, with));
            assert!(credential_allowed(
                Some(&config(true, false)),
                "org-1",
                false,
                with
            ));
        }
        // Enforced with its own provider: only that provider's sign-ins.
        let enforced = config(true, true);
        for with in &all {
            assert_eq!(
                credential_allowed(Some(&enforced), "org-1", false, with),
                *with == org,
                "{with:?}"
            );
            // Owners are exempt (break-glass).
            assert!(credential_allowed(Some(&enforced), "org-1", true, with));
        }
        // Enforced without a provider of its own: the site's.
        let site = config(false, true);
        for with in &all {
            assert_eq!(
                credential_allowed(Some(&site), "org-1", false, with),
                *with == SignedInWith::Site,
                "{with:?}"
            );
        }
    }

    #[test]
    fn identities_are_namespaced_by_organization() {
        assert_eq!(
            identity_issuer("org-1", "https://idp"),
            "org:org-1:https://idp"
        );
        assert_ne!(
            identity_issuer("org-1", "https://idp"),
            identity_issuer("org-2", "https://idp")
        );
    }

    #[test]
    fn issuers_are_https_or_loopback() {
        for good in [
            "https://idp.example/realms/x",
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "https://10.0.0.1",
        ] {
            assert!(check_issuer(good, true).is_ok(), "{good}");
        }
        // Without `internal`, only public hosts.
        assert!(check_issuer("https://idp.example/realms/x", false).is_ok());
        assert!(check_issuer("https://8.8.8.8", false).is_ok());
        for internal in [
            "http://127.0.0.1:8080",
            "https://127.0.0.1",
            "https://localhost",
            "https://a.localhost",
            "https://[::1]",
            "https://10.1.2.3",
            "https://192.168.0.1",
            "https://169.254.169.254",
            "https://0.0.0.0",
            "https://[fd00::1]",
            "https://[fe80::1]",
            "https://[::ffff:127.0.0.1]",
        ] {
            assert!(check_issuer(internal, false).is_err(), "{internal}");
        }
        for bad in [
            "http://idp.example",
            "ftp://idp.example",
            "idp.example",
            "https://u:p@idp.example",
            "https://idp.example/?x=1",
            "https://idp.example/#x",
            "http://10.0.0.1",
            "https://idp.example/\0x",
            "https://idp.example/a b",
        ] {
            assert!(check_issuer(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn changes_are_validated() {
        let mut c = blank("org-1", clock::now());
        // Enabling needs an issuer and a client ID.
        let enable = SsoConfigurationInput {
            enabled: Some(true),
            ..Default::default()
        };
        assert!(apply(&mut c.clone(), &enable, false, true).is_err());
        let full = SsoConfigurationInput {
            enabled: Some(true),
            oidc_issuer: Some("https://idp.example/".into()),
            oidc_client_id: Some("terrace".into()),
            oidc_scopes: Some("openid,profile  groups".into()),
            ..Default::default()
        };
        apply(&mut c, &full, false, true).unwrap();
        assert_eq!(c.oidc_issuer.as_deref(), Some("https://idp.example"));
        assert_eq!(c.oidc_scopes, "profile groups");
        for bad in [
            SsoConfigurationInput {
                oidc_issuer: Some("http://idp.example".into()),
                ..Default::default()
            },
            SsoConfigurationInput {
                oidc_groups_claim: Some("a b".into()),
                ..Default::default()
            },
            SsoConfigurationInput {
                oidc_scopes: Some("a\"b".into()),
                ..Default::default()
            },
        ] {
            assert!(apply(&mut c.clone(), &bad, false, true).is_err(), "{bad:?}");
        }
        // Enforcing without any provider is refused; with the site's it is fine.
        let mut off = blank("org-1", clock::now());
        let enforce = SsoConfigurationInput {
            enforced: Some(true),
            ..Default::default()
        };
        assert!(apply(&mut off.clone(), &enforce, false, true).is_err());
        apply(&mut off, &enforce, true, true).unwrap();
    }

    const METADATA: &str = r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:alg="urn:oasis:names:tc:SAML:metadata:algsupport" entityID="https://idp.example/metadata">
  <md:Extensions><alg:SigningMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/></md:Extensions>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>MIIBszCCAVmgAwIBAgIUYw==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;

    #[test]
    fn saml_metadata_is_checked_with_a_reason() {
        let idp = check_saml_metadata(METADATA).unwrap();
        assert_eq!(idp.entity_id, "https://idp.example/metadata");
        let sha1 = METADATA.replace(
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        );
        for (bad, says) in [
            ("<html>not metadata".to_string(), "is not SAML metadata"),
            (
                METADATA.replace("use=\"signing\"", "use=\"encryption\""),
                "no signing certificate",
            ),
            (
                METADATA.replace("HTTP-Redirect", "HTTP-POST"),
                "HTTP-Redirect",
            ),
            (sha1, "SHA-1"),
            (
                format!("{METADATA}<!--{}-->", "x".repeat(MAX_SAML_METADATA_BYTES)),
                "too large",
            ),
        ] {
            let err = check_saml_metadata(&bad).unwrap_err();
            assert!(err.contains(says), "{says:?} in {err:?}");
        }
        // SHA-1 beside a stronger method is fine; no declaration at all is fine.
        let both = METADATA.replace(
            "</md:Extensions>",
            "<alg:SigningMethod Algorithm='http://www.w3.org/2000/09/xmldsig#rsa-sha1'/></md:Extensions>",
        );
        assert!(check_saml_metadata(&both).is_ok());
        assert!(check_saml_metadata(&METADATA.replace("alg:SigningMethod", "alg:Other")).is_ok());
    }

    #[test]
    fn saml_configurations_need_metadata_to_be_enabled() {
        let mut c = blank("org-1", clock::now());
        assert_eq!(c.saml_groups_attribute, "groups");
        let enable = SsoConfigurationInput {
            protocol: Some(SAML.into()),
            enabled: Some(true),
            ..Default::default()
        };
        let err = apply(&mut c.clone(), &enable, false, false).unwrap_err();
        assert!(
            matches!(&err, DomainError::Invalid { pointer: Some(p), .. } if p == "/data/attributes/saml-idp-metadata"),
            "{err:?}"
        );
        // Bad metadata changes nothing.
        let bad = SsoConfigurationInput {
            saml_idp_metadata: Some("<x/>".into()),
            ..enable.clone()
        };
        let before = c.clone();
        assert!(apply(&mut c.clone(), &bad, false, false).is_err());
        assert_eq!(c, before);
        let good = SsoConfigurationInput {
            saml_idp_metadata: Some(format!("\n{METADATA}\n")),
            saml_groups_attribute: Some("memberOf".into()),
            ..enable.clone()
        };
        // No issuer or client ID needed for SAML.
        apply(&mut c, &good, false, false).unwrap();
        assert_eq!(c.protocol, SAML);
        assert_eq!(c.saml_idp_metadata.as_deref(), Some(METADATA));
        assert_eq!(c.saml_groups_attribute, "memberOf");
        // Its metadata cannot be removed while it is enabled.
        let remove = SsoConfigurationInput {
            saml_idp_metadata: Some(String::new()),
            ..Default::default()
        };
        assert!(apply(&mut c.clone(), &remove, false, false).is_err());
        for bad in [
            SsoConfigurationInput {
                protocol: Some("ldap".into()),
                ..Default::default()
            },
            SsoConfigurationInput {
                saml_username_attribute: Some("a b".into()),
                ..Default::default()
            },
            SsoConfigurationInput {
                saml_email_attribute: Some(String::new()),
                ..Default::default()
            },
        ] {
            assert!(
                apply(&mut c.clone(), &bad, false, false).is_err(),
                "{bad:?}"
            );
        }
    }
}
