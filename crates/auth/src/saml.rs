//! SAML 2.0, the service provider side of single sign-on: AuthnRequests sent with the
//! HTTP-Redirect binding, and responses (HTTP-POST binding) parsed and verified.
//!
//! A [`ServiceProvider`] is a value built from an identity provider's descriptor (its
//! metadata), our entity ID and our ACS URL, so that several (one per organization, say) can
//! live side by side.
//!
//! Verifying a response, in this order, each failure a distinct [`Refusal`]:
//! 1. a status other than Success, or a Destination other than our ACS URL (read before the
//!    signature: they only ever refuse);
//! 2. the XML signature, by one of the identity provider's signing certificates, of the
//!    response or of the assertion; everything unsigned is then dropped (samael's
//!    reduce-to-signed), so only signed content is read afterwards (no signature wrapping);
//! 3. the signed response's Destination and InResponseTo, when the response itself is signed;
//! 4. the assertion ([`check_assertion`], pure): Issuer, Conditions' time window and
//!    Audience, a bearer SubjectConfirmation whose data has our ACS URL as Recipient, the
//!    request's ID as InResponseTo and a time window, and a NameID.
//!
//! Replays (the same assertion posted twice) are the caller's: the verified assertion's ID
//! and how long it is valid are in [`VerifiedAssertion`].

use std::io::Write;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::schema::{Assertion, AuthnRequest, Issuer, Response};
use samael::traits::ToXml;

/// The clock skew allowed between us and the identity provider.
pub const CLOCK_SKEW_SECONDS: i64 = 120;
/// The largest response accepted (base64-decoded).
pub const MAX_RESPONSE_BYTES: usize = 512 * 1024;

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Why the identity provider's metadata cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("the identity provider's metadata {0}")]
pub struct MetadataError(String);

/// Why a response was refused, worded for the person signing in and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the SAML response is not a readable SAML response")]
    Malformed,
    #[error("the identity provider did not sign anyone in (status {0})")]
    Status(String),
    #[error("the SAML response is not signed by the identity provider (bad, missing or untrusted signature)")]
    Signature,
    #[error("the SAML response was sent to another destination")]
    Destination,
    #[error("the SAML response answers no sign-in started here (InResponseTo)")]
    InResponseTo,
    #[error("the SAML assertion comes from another issuer")]
    Issuer,
    #[error("the SAML assertion is for another service provider (audience)")]
    Audience,
    #[error("the SAML assertion is for another recipient")]
    Recipient,
    #[error("the SAML assertion has expired")]
    Expired,
    #[error("the SAML assertion is not valid yet")]
    NotYetValid,
    #[error("the SAML assertion names nobody (no NameID)")]
    NoSubject,
    #[error("the SAML response carries no (unencrypted) assertion")]
    NoAssertion,
    #[error("the SAML assertion was already used")]
    Replayed,
}

impl Refusal {
    /// A short, stable name for logs and the audit trail.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Status(_) => "status",
            Refusal::Signature => "signature",
            Refusal::Destination => "destination",
            Refusal::InResponseTo => "in-response-to",
            Refusal::Issuer => "issuer",
            Refusal::Audience => "audience",
            Refusal::Recipient => "recipient",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not-yet-valid",
            Refusal::NoSubject => "no-subject",
            Refusal::NoAssertion => "no-assertion",
            Refusal::Replayed => "replayed",
        }
    }
}

/// What we use of an identity provider's metadata.
#[derive(Clone)]
pub struct IdpDescriptor {
    pub entity_id: String,
    /// Its SingleSignOnService with the HTTP-Redirect binding.
    pub sso_url: String,
    certificates: Vec<CertificateDer>,
}

impl std::fmt::Debug for IdpDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpDescriptor")
            .field("entity_id", &self.entity_id)
            .field("sso_url", &self.sso_url)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

impl IdpDescriptor {
    /// Reads an identity provider's metadata (an EntityDescriptor with an IDPSSODescriptor).
    pub fn from_metadata(xml: &str) -> Result<IdpDescriptor, MetadataError> {
        let entity: EntityDescriptor = xml
            .parse()
            .map_err(|e| MetadataError(format!("is not SAML metadata: {e}")))?;
        let entity_id = entity
            .entity_id
            .clone()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| MetadataError("has no entityID".into()))?;
        // samael's own readers of the descriptor (signing keys, or keys of no declared use).
        let reader = samael::service_provider::ServiceProvider {
            idp_metadata: entity,
            ..Default::default()
        };
        let sso_url = reader
            .sso_binding_location(HTTP_REDIRECT_BINDING)
            .ok_or_else(|| {
                MetadataError("has no SingleSignOnService with the HTTP-Redirect binding".into())
            })?;
        let certificates = reader
            .idp_signing_certs()
            .map_err(|e| MetadataError(format!("has an unreadable certificate: {e}")))?
            .unwrap_or_default();
        if certificates.is_empty() {
            return Err(MetadataError("has no signing certificate".into()));
        }
        Ok(IdpDescriptor {
            entity_id,
            sso_url,
            certificates,
        })
    }

    /// The signing certificates trusted for this identity provider, as PEM (public data: it
    /// is in the provider's metadata).
    pub fn certificates_pem(&self) -> Vec<String> {
        self.certificates
            .iter()
            .map(|cert| {
                let encoded = base64::engine::general_purpose::STANDARD.encode(cert.der_data());
                let lines: Vec<&str> = encoded
                    .as_bytes()
                    .chunks(64)
                    .map(|line| std::str::from_utf8(line).unwrap_or_default())
                    .collect();
                format!(
                    "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                    lines.join("\n")
                )
            })
            .collect()
    }
}

/// Who a verified assertion names, and what else it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// The assertion's ID (for the replay cache).
    pub id: String,
    pub issuer: String,
    pub name_id: String,
    /// Until when the assertion could be presented (the replay cache keeps its ID this long).
    pub valid_until: DateTime<Utc>,
    /// Attribute name → values.
    pub attributes: Vec<(String, Vec<String>)>,
}

impl VerifiedAssertion {
    /// The values of the attribute named `name` (by Name or FriendlyName).
    pub fn values(&self, name: &str) -> Vec<String> {
        self.attributes
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.iter().cloned())
            .collect()
    }

    pub fn first(&self, name: &str) -> Option<String> {
        self.values(name).into_iter().find(|v| !v.is_empty())
    }
}

/// One service provider: ours, toward one identity provider.
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    pub idp: IdpDescriptor,
    pub entity_id: String,
    pub acs_url: String,
}

impl ServiceProvider {
    pub fn new(idp: IdpDescriptor, entity_id: String, acs_url: String) -> ServiceProvider {
        ServiceProvider {
            idp,
            entity_id,
            acs_url,
        }
    }

    /// A new request ID (an NCName: a letter first).
    pub fn new_request_id() -> String {
        format!("_{}", hex::encode(rand::random::<[u8; 20]>()))
    }

    /// The URL sending the browser to the identity provider with an AuthnRequest of ID
    /// `request_id` (HTTP-Redirect binding, unsigned) and `relay_state`.
    pub fn redirect_url(&self, request_id: &str, relay_state: &str, now: DateTime<Utc>) -> String {
        let request = AuthnRequest {
            id: request_id.to_string(),
            issue_instant: now,
            version: "2.0".into(),
            destination: Some(self.idp.sso_url.clone()),
            assertion_consumer_service_url: Some(self.acs_url.clone()),
            protocol_binding: Some(POST_BINDING.into()),
            issuer: Some(Issuer {
                value: Some(self.entity_id.clone()),
                ..Issuer::default()
            }),
            ..AuthnRequest::default()
        };
        let xml = request.to_string().unwrap_or_default();
        let mut deflater =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let deflated = deflater
            .write_all(xml.as_bytes())
            .and_then(|()| deflater.finish())
            .unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(deflated);
        let mut url = url::Url::parse(&self.idp.sso_url)
            .unwrap_or_else(|_| url::Url::parse("invalid:").expect("a URL"));
        url.query_pairs_mut()
            .append_pair("SAMLRequest", &encoded)
            .append_pair("RelayState", relay_state);
        url.to_string()
    }

    /// Our metadata, to register at the identity provider.
    pub fn metadata_xml(&self) -> String {
        sp_metadata(&self.entity_id, &self.acs_url)
    }

    /// Verifies a `SAMLResponse` (base64, as posted) answering the request `request_id`.
    /// Blocking (libxmlsec1): call it off the async runtime.
    pub fn verify(
        &self,
        saml_response: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<VerifiedAssertion, Refusal> {
        let compact: String = saml_response
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        if compact.len() > MAX_RESPONSE_BYTES * 4 / 3 + 4 {
            return Err(Refusal::Malformed);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|_| Refusal::Malformed)?;
        let xml = String::from_utf8(bytes).map_err(|_| Refusal::Malformed)?;
        // Unsigned yet, so only ever reasons to refuse: an error status usually comes
        // unsigned, and a response sent elsewhere is refused whatever was signed in it.
        if root_element(&xml) == Some("Response") {
            if let Ok(raw) = xml.parse::<Response>() {
                check_status(&raw)?;
                if raw
                    .destination
                    .as_deref()
                    .is_some_and(|d| d != self.acs_url)
                {
                    return Err(Refusal::Destination);
                }
            }
        }
        let signed = Crypto::reduce_xml_to_signed_with_allowed_algorithms(
            &xml,
            &self.idp.certificates,
            ReduceMode::ValidateAndMarkNoAncestors,
            Some(ALLOWED_ALGORITHMS),
        )
        .map_err(|_| Refusal::Signature)?;
        // What is left is the signed element: the response, or only its assertion.
        let assertion = match root_element(&signed) {
            Some("Response") => {
                let response = signed.parse::<Response>().map_err(|_| Refusal::Malformed)?;
                check_status(&response)?;
                check_response(&response, &self.acs_url, request_id)?;
                if response.encrypted_assertion.is_some() {
                    return Err(Refusal::NoAssertion);
                }
                response.assertion.ok_or(Refusal::NoAssertion)?
            }
            Some("Assertion") => signed
                .parse::<Assertion>()
                .map_err(|_| Refusal::Malformed)?,
            _ => return Err(Refusal::NoAssertion),
        };
        check_assertion(&assertion, &self.expectations(request_id), now)
    }

    fn expectations<'a>(&'a self, request_id: &'a str) -> Expected<'a> {
        Expected {
            issuer: &self.idp.entity_id,
            audience: &self.entity_id,
            recipient: &self.acs_url,
            request_id,
        }
    }
}

/// Signature algorithms accepted (no SHA-1, no DSA).
const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
    AllowedSignatureAlgorithm::EcdsaSha512,
];

/// What a response must say to be ours.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub recipient: &'a str,
    pub request_id: &'a str,
}

fn check_status(response: &Response) -> Result<(), Refusal> {
    match response
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.as_deref())
    {
        Some(STATUS_SUCCESS) => Ok(()),
        Some(other) => Err(Refusal::Status(
            other.rsplit(':').next().unwrap_or(other).to_string(),
        )),
        None => Err(Refusal::Status("none".into())),
    }
}

/// The rules on a signed response's envelope: Destination and InResponseTo.
pub fn check_response(response: &Response, acs_url: &str, request_id: &str) -> Result<(), Refusal> {
    if response.destination.as_deref() != Some(acs_url) {
        return Err(Refusal::Destination);
    }
    check_in_response_to(response.in_response_to.as_deref(), request_id)
}

/// InResponseTo must name the request this browser started.
pub fn check_in_response_to(in_response_to: Option<&str>, request_id: &str) -> Result<(), Refusal> {
    match in_response_to {
        Some(id) if !request_id.is_empty() && id == request_id => Ok(()),
        _ => Err(Refusal::InResponseTo),
    }
}

/// `now` must fall in `[not_before - skew, not_on_or_after + skew)`.
pub fn check_time_window(
    not_before: Option<DateTime<Utc>>,
    not_on_or_after: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let skew = Duration::seconds(CLOCK_SKEW_SECONDS);
    if let Some(not_before) = not_before {
        if now < not_before - skew {
            return Err(Refusal::NotYetValid);
        }
    }
    if let Some(not_on_or_after) = not_on_or_after {
        if now >= not_on_or_after + skew {
            return Err(Refusal::Expired);
        }
    }
    Ok(())
}

/// An audience restriction is required, and every one must name us.
pub fn check_audience(assertion: &Assertion, audience: &str) -> Result<(), Refusal> {
    let restrictions = assertion
        .conditions
        .as_ref()
        .and_then(|c| c.audience_restrictions.as_ref())
        .filter(|r| !r.is_empty())
        .ok_or(Refusal::Audience)?;
    if restrictions
        .iter()
        .all(|r| r.audience.iter().any(|a| a == audience))
    {
        Ok(())
    } else {
        Err(Refusal::Audience)
    }
}

/// The rules on a signed assertion (see the module's documentation).
pub fn check_assertion(
    assertion: &Assertion,
    expected: &Expected<'_>,
    now: DateTime<Utc>,
) -> Result<VerifiedAssertion, Refusal> {
    if assertion.issuer.value.as_deref() != Some(expected.issuer) {
        return Err(Refusal::Issuer);
    }
    let conditions = assertion.conditions.as_ref();
    check_time_window(
        conditions.and_then(|c| c.not_before),
        conditions.and_then(|c| c.not_on_or_after),
        now,
    )?;
    check_audience(assertion, expected.audience)?;
    let subject = assertion.subject.as_ref().ok_or(Refusal::NoSubject)?;
    let data = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .find_map(|c| c.subject_confirmation_data.as_ref())
        .ok_or(Refusal::Recipient)?;
    if data.recipient.as_deref() != Some(expected.recipient) {
        return Err(Refusal::Recipient);
    }
    // A bearer confirmation must say until when.
    let confirmation_until = data.not_on_or_after.ok_or(Refusal::Expired)?;
    check_time_window(data.not_before, Some(confirmation_until), now)?;
    check_in_response_to(data.in_response_to.as_deref(), expected.request_id)?;
    let name_id = subject
        .name_id
        .as_ref()
        .map(|n| n.value.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or(Refusal::NoSubject)?;
    if assertion.id.is_empty() {
        return Err(Refusal::Malformed);
    }
    let valid_until = conditions
        .and_then(|c| c.not_on_or_after)
        .map_or(confirmation_until, |c| c.max(confirmation_until))
        + Duration::seconds(CLOCK_SKEW_SECONDS);
    let mut attributes = Vec::new();
    for statement in assertion.attribute_statements.iter().flatten() {
        for attribute in &statement.attributes {
            let values: Vec<String> = attribute
                .values
                .iter()
                .filter_map(|v| v.value.clone())
                .collect();
            for name in [&attribute.name, &attribute.friendly_name]
                .into_iter()
                .flatten()
            {
                attributes.push((name.clone(), values.clone()));
            }
        }
    }
    Ok(VerifiedAssertion {
        id: assertion.id.clone(),
        issuer: expected.issuer.to_string(),
        name_id,
        valid_until,
        attributes,
    })
}

/// A service provider's metadata: its entity ID and ACS URL (HTTP-POST), signed assertions wanted.
pub fn sp_metadata(entity_id: &str, acs_url: &str) -> String {
    format!(
            concat!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
                "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"{entity}\">\n",
                "  <md:SPSSODescriptor AuthnRequestsSigned=\"false\" WantAssertionsSigned=\"true\" protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n",
                "    <md:NameIDFormat>{persistent}</md:NameIDFormat>\n",
                "    <md:AssertionConsumerService Binding=\"{post}\" Location=\"{acs}\" index=\"0\" isDefault=\"true\"/>\n",
                "  </md:SPSSODescriptor>\n",
                "</md:EntityDescriptor>\n"
            ),
            entity = xml_escape(entity_id),
            persistent = PERSISTENT,
            post = POST_BINDING,
            acs = xml_escape(acs_url),
        )
}

/// The local name of a document's root element (`Response` for `<samlp:Response ...>`).
pub fn root_element(xml: &str) -> Option<&str> {
    let mut rest = xml;
    loop {
        let at = rest.find('<')?;
        rest = &rest[at + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let name = rest
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()?;
        return Some(name.rsplit(':').next().unwrap_or(name));
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
