use super::*;

const IDP: &str = "https://idp.example/metadata";
const SP: &str = "https://terrace.example/app/sso/saml/metadata";
const ACS: &str = "https://terrace.example/app/sso/saml/acs";
const REQUEST: &str = "_req1";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// An assertion as an identity provider would write it, with `edit` applied to its text.
fn assertion(edit: &[(&str, &str)]) -> Assertion {
    let mut xml = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0" IssueInstant="2026-01-01T10:00:00Z">
  <saml:Issuer>https://idp.example/metadata</saml:Issuer>
  <saml:Subject>
    <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice-id</saml:NameID>
    <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
      <saml:SubjectConfirmationData NotOnOrAfter="2026-01-01T10:05:00Z" Recipient="https://terrace.example/app/sso/saml/acs" InResponseTo="_req1"/>
    </saml:SubjectConfirmation>
  </saml:Subject>
  <saml:Conditions NotBefore="2026-01-01T09:59:30Z" NotOnOrAfter="2026-01-01T10:05:00Z">
    <saml:AudienceRestriction><saml:Audience>https://terrace.example/app/sso/saml/metadata</saml:Audience></saml:AudienceRestriction>
  </saml:Conditions>
  <saml:AttributeStatement>
    <saml:Attribute Name="uid"><saml:AttributeValue>alice</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="groups"><saml:AttributeValue>admins</saml:AttributeValue><saml:AttributeValue>devs</saml:AttributeValue></saml:Attribute>
  </saml:AttributeStatement>
</saml:Assertion>"#
        .to_string();
    for (from, to) in edit {
        assert!(xml.contains(from), "{from}");
        xml = xml.replace(from, to);
    }
    xml.parse().unwrap()
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: IDP,
        audience: SP,
        recipient: ACS,
        request_id: REQUEST,
    }
}

fn check(edit: &[(&str, &str)], now: &str) -> Result<VerifiedAssertion, Refusal> {
    check_assertion(&assertion(edit), &expected(), at(now))
}

#[test]
fn a_good_assertion_names_its_subject_and_attributes() {
    let verified = check(&[], "2026-01-01T10:00:05Z").unwrap();
    assert_eq!(verified.name_id, "alice-id");
    assert_eq!(verified.id, "_a1");
    assert_eq!(verified.issuer, IDP);
    assert_eq!(verified.first("uid").as_deref(), Some("alice"));
    assert_eq!(verified.values("groups"), vec!["admins", "devs"]);
    assert!(verified.values("email").is_empty());
    // The replay cache keeps its ID past its end, skew included.
    assert_eq!(verified.valid_until, at("2026-01-01T10:07:00Z"));
}

#[test]
fn the_time_window_allows_two_minutes_of_skew() {
    let nbf = Some(at("2026-01-01T10:00:00Z"));
    let end = Some(at("2026-01-01T10:05:00Z"));
    assert_eq!(
        check_time_window(nbf, end, at("2026-01-01T09:58:00Z")),
        Ok(())
    );
    assert_eq!(
        check_time_window(nbf, end, at("2026-01-01T09:57:59Z")),
        Err(Refusal::NotYetValid)
    );
    assert_eq!(
        check_time_window(nbf, end, at("2026-01-01T10:06:59Z")),
        Ok(())
    );
    assert_eq!(
        check_time_window(nbf, end, at("2026-01-01T10:07:00Z")),
        Err(Refusal::Expired)
    );
    assert_eq!(
        check_time_window(None, None, at("2030-01-01T00:00:00Z")),
        Ok(())
    );
}

#[test]
fn expired_or_early_assertions_are_refused() {
    assert_eq!(check(&[], "2026-01-01T11:00:00Z"), Err(Refusal::Expired));
    assert_eq!(
        check(&[], "2026-01-01T09:50:00Z"),
        Err(Refusal::NotYetValid)
    );
    // The confirmation's own window counts too.
    assert_eq!(
        check(
            &[(
                r#"SubjectConfirmationData NotOnOrAfter="2026-01-01T10:05:00Z""#,
                r#"SubjectConfirmationData NotOnOrAfter="2026-01-01T09:00:00Z""#
            )],
            "2026-01-01T10:00:05Z"
        ),
        Err(Refusal::Expired)
    );
    // A bearer confirmation without an end is refused.
    assert_eq!(
        check(
            &[(
                r#"SubjectConfirmationData NotOnOrAfter="2026-01-01T10:05:00Z""#,
                "SubjectConfirmationData"
            )],
            "2026-01-01T10:00:05Z"
        ),
        Err(Refusal::Expired)
    );
}

#[test]
fn the_audience_must_be_us() {
    assert_eq!(
        check(
            &[(
                "<saml:Audience>https://terrace.example/app/sso/saml/metadata</saml:Audience>",
                "<saml:Audience>https://other.example/sp</saml:Audience>"
            )],
            "2026-01-01T10:00:05Z"
        ),
        Err(Refusal::Audience)
    );
    // No audience restriction at all: refused too.
    assert_eq!(
        check(
            &[(
                "<saml:AudienceRestriction><saml:Audience>https://terrace.example/app/sso/saml/metadata</saml:Audience></saml:AudienceRestriction>",
                ""
            )],
            "2026-01-01T10:00:05Z"
        ),
        Err(Refusal::Audience)
    );
}

#[test]
fn recipient_issuer_request_and_subject_are_required() {
    let now = "2026-01-01T10:00:05Z";
    assert_eq!(
        check(
            &[(
                r#"Recipient="https://terrace.example/app/sso/saml/acs""#,
                r#"Recipient="https://evil.example/acs""#
            )],
            now
        ),
        Err(Refusal::Recipient)
    );
    assert_eq!(
        check(
            &[(
                "<saml:Issuer>https://idp.example/metadata</saml:Issuer>",
                "<saml:Issuer>https://evil.example</saml:Issuer>"
            )],
            now
        ),
        Err(Refusal::Issuer)
    );
    assert_eq!(
        check(
            &[(r#"InResponseTo="_req1""#, r#"InResponseTo="_other""#)],
            now
        ),
        Err(Refusal::InResponseTo)
    );
    assert_eq!(
        check(&[(r#" InResponseTo="_req1""#, "")], now),
        Err(Refusal::InResponseTo)
    );
    assert_eq!(
        check(
            &[(
                "urn:oasis:names:tc:SAML:2.0:cm:bearer",
                "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
            )],
            now
        ),
        Err(Refusal::Recipient)
    );
    assert_eq!(
        check(
            &[(
                r#"<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">alice-id</saml:NameID>"#,
                ""
            )],
            now
        ),
        Err(Refusal::NoSubject)
    );
}

#[test]
fn in_response_to_never_matches_an_empty_request() {
    assert_eq!(
        check_in_response_to(Some(""), ""),
        Err(Refusal::InResponseTo)
    );
    assert_eq!(check_in_response_to(None, "_r"), Err(Refusal::InResponseTo));
    assert_eq!(check_in_response_to(Some("_r"), "_r"), Ok(()));
}

#[test]
fn refusals_have_distinct_codes() {
    let all = [
        Refusal::Malformed,
        Refusal::Status("x".into()),
        Refusal::Signature,
        Refusal::Destination,
        Refusal::InResponseTo,
        Refusal::Issuer,
        Refusal::Audience,
        Refusal::Recipient,
        Refusal::Expired,
        Refusal::NotYetValid,
        Refusal::NoSubject,
        Refusal::NoAssertion,
        Refusal::Replayed,
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(Refusal::code).collect();
    assert_eq!(codes.len(), all.len());
}

const METADATA: &str = r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/metadata">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>MIIBszCCAVmgAwIBAgIUYw==</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#;

#[test]
fn metadata_gives_the_entity_id_and_sso_url() {
    let idp = IdpDescriptor::from_metadata(METADATA).unwrap();
    assert_eq!(idp.entity_id, IDP);
    assert_eq!(idp.sso_url, "https://idp.example/sso");
    assert_eq!(
        idp.certificates_pem(),
        ["-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUYw==\n-----END CERTIFICATE-----\n"]
    );
    let no_key = METADATA.replace("use=\"signing\"", "use=\"encryption\"");
    assert!(IdpDescriptor::from_metadata(&no_key).is_err());
    let no_redirect = METADATA.replace("HTTP-Redirect", "HTTP-POST");
    assert!(IdpDescriptor::from_metadata(&no_redirect).is_err());
    assert!(IdpDescriptor::from_metadata("<html/>").is_err());
}

#[test]
fn the_redirect_carries_a_deflated_request_and_the_relay_state() {
    let sp = ServiceProvider::new(
        IdpDescriptor::from_metadata(METADATA).unwrap(),
        SP.into(),
        ACS.into(),
    );
    let url = url::Url::parse(&sp.redirect_url("_r9", "rs", at("2026-01-01T10:00:00Z"))).unwrap();
    assert!(url.as_str().starts_with("https://idp.example/sso?"));
    let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs["RelayState"], "rs");
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(&pairs["SAMLRequest"])
        .unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(&deflated[..]),
        &mut xml,
    )
    .unwrap();
    assert!(xml.contains(r#"ID="_r9""#), "{xml}");
    assert!(xml.contains(ACS), "{xml}");
    assert!(xml.contains(SP), "{xml}");
    assert!(ServiceProvider::new_request_id().starts_with('_'));
    assert!(sp.metadata_xml().contains(ACS));
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    let sp = ServiceProvider::new(
        IdpDescriptor::from_metadata(METADATA).unwrap(),
        SP.into(),
        ACS.into(),
    );
    let now = at("2026-01-01T10:00:00Z");
    assert_eq!(sp.verify("%%%", REQUEST, now), Err(Refusal::Malformed));
    let unsigned = base64::engine::general_purpose::STANDARD.encode("<x/>");
    assert_eq!(sp.verify(&unsigned, REQUEST, now), Err(Refusal::Signature));
}

#[test]
fn the_root_element_is_read_past_declarations_and_comments() {
    assert_eq!(
        root_element("<?xml version=\"1.0\"?>\n<!-- x --><samlp:Response ID=\"a\">"),
        Some("Response")
    );
    assert_eq!(root_element("<saml:Assertion>"), Some("Assertion"));
    assert_eq!(root_element("<Assertion/>"), Some("Assertion"));
    assert_eq!(root_element("no xml"), None);
}

fn response(destination: &str, in_response_to: &str, status: &str) -> Response {
    format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="2026-01-01T10:00:00Z" Destination="{destination}" InResponseTo="{in_response_to}">
  <saml:Issuer>https://idp.example/metadata</saml:Issuer>
  <samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>
</samlp:Response>"#
    )
    .parse()
    .unwrap()
}

#[test]
fn a_signed_response_must_be_sent_to_us_for_our_request() {
    let ok = response(ACS, REQUEST, STATUS_SUCCESS);
    assert_eq!(check_status(&ok), Ok(()));
    assert_eq!(check_response(&ok, ACS, REQUEST), Ok(()));
    assert_eq!(
        check_response(
            &response("https://evil.example/acs", REQUEST, STATUS_SUCCESS),
            ACS,
            REQUEST
        ),
        Err(Refusal::Destination)
    );
    assert_eq!(
        check_response(&response(ACS, "_other", STATUS_SUCCESS), ACS, REQUEST),
        Err(Refusal::InResponseTo)
    );
    assert_eq!(
        check_status(&response(
            ACS,
            REQUEST,
            "urn:oasis:names:tc:SAML:2.0:status:Requester"
        )),
        Err(Refusal::Status("Requester".into()))
    );
}
