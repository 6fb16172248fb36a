//! Single sign-on with a real SAML 2.0 identity provider: Debian's SimpleSAMLphp
//! (tests/src/saml_idp.rs), whose users carry groups. The test plays the browser through
//! Terrace's consent page, the identity provider's login form and its auto-posting form to
//! Terrace's ACS, then runs the real `terraform login` and `plan`.
//!
//! Responses that must not be believed are genuine responses of that identity provider,
//! altered after signing (NameID, a group), or re-signed with `xmlsec1` by the identity
//! provider's own key (the test generated it: expired, another audience, a replayed assertion
//! cited for a new request) or by a key Terrace does not trust (forged).

use serde_json::json;
use terrace_tests::access::{create_team, create_workspace, grant_workspace};
use terrace_tests::saml_idp::{
    attribute_of, key_pair, sign_assertion, strip_signatures, SamlFlow, SamlIdp,
};
use terrace_tests::sso::{
    assert_passwords_only_for_site_administrators, assert_refused, form, free_port, start_login,
    team_usernames, unescape, urlencode, Browser,
};
use terrace_tests::{Db, Server, Terraform};

const ORG: &str = "default";
const ACS: &str = "/app/sso/saml/acs";

fn saml_server(db: Db, idp_port: u16, extra: &[&str]) -> Server {
    let metadata = format!("http://127.0.0.1:{idp_port}/saml2/idp/metadata.php");
    let mut args = vec!["--saml-idp-metadata-url", &metadata];
    args.extend_from_slice(extra);
    Server::builder(db)
        .without_rate_limits()
        .args(&args)
        .start()
}

fn start_url(server: &Server) -> String {
    format!("{}/app/sso/saml/start?return_to=/", server.url)
}

/// `xml` with every `name="..."` attribute set to `value`.
fn set_attributes(xml: &str, name: &str, value: &str) -> String {
    let marker = format!(" {name}=\"");
    let mut out = String::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&marker) {
        out.push_str(&rest[..at + marker.len()]);
        out.push_str(value);
        rest = &rest[at + marker.len()..];
        rest = &rest[rest.find('"').unwrap()..];
    }
    out.push_str(rest);
    out
}

/// Who the browser's session is signed in as, as the consent page says.
fn signed_in_as(browser: &mut Browser, server: &Server) -> Option<String> {
    let page = browser.get(&format!(
        "{}/app/oauth/authorization?client_id=terraform-cli&redirect_uri={}&response_type=code&state=s&code_challenge_method=S256&code_challenge={}",
        server.url,
        urlencode("http://localhost:10000/login"),
        "a".repeat(43)
    ));
    let marker = "Signed in as <strong>";
    let at = page.text.find(marker)? + marker.len();
    Some(page.text[at..].split('<').next()?.to_string())
}

terrace_tests::both_databases!(single_sign_on_with_a_real_saml_identity_provider, |db| {
    saml_sign_on(db)
});

fn saml_sign_on(db: Db) {
    let idp_port = free_port();
    let server = saml_server(db, idp_port, &[]);
    let entity_id = format!("{}/app/sso/saml/metadata", server.url);
    let acs_url = format!("{}{ACS}", server.url);
    // The banner says what to register at the identity provider.
    assert!(
        server.stdout.contains(&format!(
            "SAML (register SP entity ID {entity_id}, ACS URL {acs_url}"
        )),
        "{}",
        server.stdout
    );
    let mut browser = Browser::new(&server);
    // Our metadata, for the identity provider.
    let metadata = browser.get(&entity_id);
    assert_eq!(metadata.status, 200);
    assert!(
        metadata.text.contains(&format!("entityID=\"{entity_id}\"")),
        "{}",
        metadata.text
    );
    assert!(metadata.text.contains(&format!("Location=\"{acs_url}\"")));
    // The identity provider is down: the server runs, and a sign-in says why it cannot start.
    let down = browser.get(&start_url(&server));
    assert_eq!(down.status, 502, "{}", down.text);
    assert!(
        down.text.contains("identity provider is unavailable"),
        "{}",
        down.text
    );
    let evil = browser.get(&format!(
        "{}/app/sso/saml/start?return_to={}",
        server.url,
        urlencode("https://evil.example/")
    ));
    assert_eq!(evil.status, 400, "{}", evil.text);

    let idp = SamlIdp::start(idp_port, &entity_id, &acs_url);

    // An owner maps the group "devs" to a team that may plan one workspace and read another.
    let owner = server.api(&server.admin_token());
    let devs = create_team(&owner, ORG, "devs", json!({}));
    owner
        .patch(
            &format!("teams/{devs}"),
            &json!({"data": {"type": "teams", "attributes": {"sso-team-id": "devs"}}}),
        )
        .ok();
    let plans = create_workspace(&owner, ORG, "saml-plans", None);
    grant_workspace(&owner, &devs, &plans, json!({"access": "plan"}));
    let reads = create_workspace(&owner, ORG, "saml-reads", None);
    grant_workspace(&owner, &devs, &reads, json!({"access": "read"}));
    let manual = create_team(&owner, ORG, "manual", json!({}));

    // `terraform login`: the consent page offers SAML.
    let tf = Terraform::without_credentials(&server);
    let (child, login_url, rest) = start_login(&tf, &server);
    let consent = browser.get(&login_url);
    assert_eq!(consent.status, 200);
    assert!(
        consent.text.contains("Sign in with SAML"),
        "{}",
        consent.text
    );
    let marker = "<a class=\"button secondary\" href=\"";
    let at = consent.text.find(marker).unwrap();
    let href = unescape(consent.text[at + marker.len()..].split('"').next().unwrap());
    assert!(href.starts_with("/app/sso/saml/start?return_to="), "{href}");
    let posted = browser.to_acs(&format!("{}{href}", server.url), "alice", "alicepass");
    assert_eq!(posted.acs, acs_url);
    let signed_in = browser.post_acs(&posted);
    assert_eq!(signed_in.status, 302, "{}", signed_in.text);
    assert!(signed_in.sets_session());
    let back = signed_in.location.clone().unwrap();
    assert!(
        back.starts_with(&format!("{}/app/oauth/authorization?", server.url)),
        "{back}"
    );
    // The same genuine response again: refused (its sign-in is used up).
    let replayed = browser.post_acs(&posted);
    assert_refused(&replayed, "no sign-in started in this browser");

    let consent = browser.get(&back);
    assert!(
        consent.text.contains("Signed in as <strong>alice</strong>"),
        "{}",
        consent.text
    );
    let (_, mut fields) = form(&consent.text);
    fields.retain(|(k, _)| k != "decision");
    fields.push(("decision".into(), "approve".into()));
    let approved = browser.post(&format!("{}/app/oauth/authorization", server.url), &fields);
    assert_eq!(approved.status, 302, "{}", approved.text);
    let _ = reqwest::blocking::get(approved.location.unwrap());
    let output = child.wait_with_output().unwrap();
    let stdout = rest.try_iter().collect::<Vec<_>>().join("\n");
    assert!(output.status.success(), "terraform login: {stdout}");
    let credentials: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tf.home().join(".terraform.d/credentials.tfrc.json")).unwrap(),
    )
    .unwrap();
    let token = credentials["credentials"][&server.hostname]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let me = server.api(&token).get("account/details").ok();
    assert_eq!(me.attr("username"), "alice");
    assert_eq!(me.attr("email"), "alice@example.test");
    assert_eq!(team_usernames(&owner, &devs), ["alice"]);
    assert!(team_usernames(&owner, &manual).is_empty());

    // Her team may plan one workspace, and only read the other.
    let alice = Terraform::new(&server, &token);
    let cloud = |workspace: &str| {
        format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"{ORG}\"\n    workspaces {{ name = \"{workspace}\" }}\n  }}\n}}\nresource \"terraform_data\" \"x\" {{}}\n",
            server.hostname
        )
    };
    alice.write("main.tf", &cloud("saml-plans"));
    alice.ok(&["init", "-input=false"]);
    let plan = alice.ok(&["plan", "-input=false"]);
    assert!(plan.contains("1 to add"), "{plan}");
    let reader = Terraform::new(&server, &token);
    reader.write("main.tf", &cloud("saml-reads"));
    reader.ok(&["init", "-input=false"]);
    let refused = reader.fails(&["plan", "-input=false"]);
    assert!(
        refused.contains("Insufficient rights to generate a plan"),
        "{refused}"
    );

    // Responses that must not be believed. Each starts a real sign-in in a fresh browser.
    let fresh = || {
        let mut b = Browser::new(&server);
        let posted = b.to_acs(&start_url(&server), "bob", "bobpass");
        (b, posted)
    };
    let scratch = idp.scratch();
    let (idp_key, idp_cert) = idp.signing_key();
    let (evil_key, evil_cert) = key_pair(&scratch, "evil");

    // Unsolicited: a genuine response posted by a browser that started no sign-in.
    let (_, posted) = fresh();
    let stranger = Browser::new(&server).post_acs(&posted);
    assert_refused(&stranger, "no sign-in started in this browser");

    // The site's SAML as /admin/saml-settings shows it: as configured, no private key.
    let settings = owner.get("admin/saml-settings").ok();
    assert_eq!(settings.attr("enabled"), true);
    assert_eq!(settings.attr("debug"), false);
    assert_eq!(settings.attr("provider-type"), "saml");
    assert_eq!(settings.attr("acs-consumer-url"), acs_url.as_str());
    assert_eq!(settings.attr("metadata-url"), entity_id.as_str());
    assert_eq!(settings.attr("attr-username"), "uid");
    assert_eq!(settings.attr("attr-groups"), "groups");
    assert_eq!(settings.attr("private-key"), "");
    let sso_url = settings.attr("sso-endpoint-url");
    assert!(
        sso_url
            .as_str()
            .unwrap()
            .starts_with(&format!("http://127.0.0.1:{idp_port}/")),
        "{sso_url}"
    );
    let shown_cert = settings.attr("idp-cert");
    assert!(
        shown_cert
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----\n"),
        "{shown_cert}"
    );

    // Without debug, a refused answer does not say why (the audit trail does) ...
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    let page =
        b.post_acs(&posted.with_xml(&xml.replace(">bob</saml:NameID>", ">alice</saml:NameID>")));
    assert_refused(&page, "answer was refused");
    assert!(!page.text.contains("not signed"), "{}", page.text);
    // ... with debug, it does (every refusal below).
    let debug = owner
        .patch(
            "admin/saml-settings",
            &json!({"data": {"type": "saml-settings", "attributes": {"debug": true}}}),
        )
        .ok();
    assert_eq!(debug.attr("debug"), true);

    // Altered after signing: the NameID, then a group.
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    assert!(xml.contains(">bob</saml:NameID>"), "{xml}");
    let page =
        b.post_acs(&posted.with_xml(&xml.replace(">bob</saml:NameID>", ">alice</saml:NameID>")));
    assert_refused(&page, "not signed by the identity provider");
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    assert!(xml.contains(">devs<"), "{xml}");
    let page = b.post_acs(&posted.with_xml(&xml.replacen(">devs<", ">admins<", 1)));
    assert_refused(&page, "not signed by the identity provider");

    // Unsigned: the identity provider's signatures removed.
    let (mut b, posted) = fresh();
    let unsigned = strip_signatures(&posted.xml());
    assert!(!unsigned.contains("Signature"));
    assert_refused(
        &b.post_acs(&posted.with_xml(&unsigned)),
        "not signed by the identity provider",
    );

    // Signature wrapping: an unsigned assertion for alice put before bob's signed one (only
    // the assertion is signed here, so the response around it can be edited). Only signed
    // content is read: this signs bob in, never alice.
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    let assertion_id = attribute_of(&xml, "saml:Assertion", "ID");
    let signed = sign_assertion(&xml, &assertion_id, &idp_key, &idp_cert, &scratch);
    let start = signed.find("<saml:Assertion").unwrap();
    let end = signed.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let evil = strip_signatures(&signed[start..end])
        .replace(&assertion_id, "_evil")
        .replace(">bob<", ">alice<");
    let wrapped = format!("{}{evil}{}", &signed[..start], &signed[start..]);
    let page = b.post_acs(&posted.with_xml(&wrapped));
    assert_eq!(page.status, 302, "{}", page.text);
    assert_eq!(signed_in_as(&mut b, &server).as_deref(), Some("bob"));

    // Forged: signed by a key Terrace does not trust.
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    let assertion_id = attribute_of(&xml, "saml:Assertion", "ID");
    let forged = sign_assertion(
        &xml.replace(">bob</saml:NameID>", ">alice</saml:NameID>"),
        &assertion_id,
        &evil_key,
        &evil_cert,
        &scratch,
    );
    assert_refused(
        &b.post_acs(&posted.with_xml(&forged)),
        "not signed by the identity provider",
    );

    // Re-signed by the identity provider's own key: unaltered, it is accepted (the signing
    // here is right) ...
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    let assertion_id = attribute_of(&xml, "saml:Assertion", "ID");
    let resigned = sign_assertion(&xml, &assertion_id, &idp_key, &idp_cert, &scratch);
    let accepted = b.post_acs(&posted.with_xml(&resigned));
    assert_eq!(accepted.status, 302, "{}", accepted.text);
    assert_eq!(signed_in_as(&mut b, &server).as_deref(), Some("bob"));
    // ... and its assertion, cited for another sign-in, is a replay.
    let (mut b, next) = fresh();
    let old_request = attribute_of(&resigned, "samlp:Response", "InResponseTo");
    let new_request = attribute_of(&next.xml(), "samlp:Response", "InResponseTo");
    let replay = sign_assertion(
        &xml.replace(&old_request, &new_request),
        &assertion_id,
        &idp_key,
        &idp_cert,
        &scratch,
    );
    assert_refused(&b.post_acs(&next.with_xml(&replay)), "already used");

    // Expired (both windows in the past).
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    let assertion_id = attribute_of(&xml, "saml:Assertion", "ID");
    let past = set_attributes(
        &set_attributes(&xml, "NotOnOrAfter", "2020-01-01T00:05:00Z"),
        "NotBefore",
        "2020-01-01T00:00:00Z",
    );
    let expired = sign_assertion(&past, &assertion_id, &idp_key, &idp_cert, &scratch);
    assert_refused(&b.post_acs(&posted.with_xml(&expired)), "expired");

    // For another service provider.
    let (mut b, posted) = fresh();
    let xml = posted.xml();
    let assertion_id = attribute_of(&xml, "saml:Assertion", "ID");
    let audience = format!("<saml:Audience>{entity_id}</saml:Audience>");
    assert!(xml.contains(&audience), "{xml}");
    let other = sign_assertion(
        &xml.replace(
            &audience,
            "<saml:Audience>https://other.example/sp</saml:Audience>",
        ),
        &assertion_id,
        &idp_key,
        &idp_cert,
        &scratch,
    );
    assert_refused(
        &b.post_acs(&posted.with_xml(&other)),
        "another service provider",
    );

    // Nothing of this signed bob in: he has no user.
    let bob = owner.get("admin/users?q=bob").ok();
    let bobs: Vec<_> = bob
        .data()
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["attributes"]["username"] == "bob")
        .collect();
    assert_eq!(
        bobs.len(),
        1,
        "the one genuine re-signed sign-in created bob"
    );

    // Alice again, in another browser: the same user (identity = the identity provider's
    // entity ID and the NameID), no second account.
    let again = Browser::new(&server).saml_sign_in(&server, "alice", "alicepass");
    assert_eq!(again.status, 302, "{}", again.text);
    assert!(again.sets_session());
    let alices = owner.get("admin/users?q=alice").ok();
    let names: Vec<&str> = alices
        .data()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["attributes"]["username"].as_str())
        .collect();
    assert_eq!(names, ["alice"]);

    // Every ACS post is on the site's audit trail, each refusal with its reason.
    let trail = owner.get("admin/audit-trail?page[size]=1000").ok();
    let reasons: Vec<&str> = trail.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["action"] == "sso-sign-in-failed")
        .filter_map(|e| e["resource"]["meta"]["reason"].as_str())
        .collect();
    for reason in [
        "in-response-to",
        "signature",
        "replayed",
        "expired",
        "audience",
    ] {
        assert!(reasons.contains(&reason), "{reason} in {reasons:?}");
    }
    assert_eq!(
        reasons.iter().filter(|r| **r == "signature").count(),
        5,
        "{reasons:?}"
    );
    let text = trail.text.to_lowercase();
    assert!(
        !text.contains("samlresponse") && !text.contains("assertion"),
        "nothing of the responses is kept"
    );

    // Switched off by a site administrator: a sign-in started before neither finishes nor
    // can another start, and the sign-in page offers no SAML ...
    let (mut b, pending) = fresh();
    let switch = |enabled: bool| {
        owner
            .patch(
                "admin/saml-settings",
                &json!({"data": {"type": "saml-settings", "attributes": {"enabled": enabled}}}),
            )
            .ok()
    };
    assert_eq!(switch(false).attr("enabled"), false);
    let page = b.post_acs(&pending);
    assert_eq!(page.status, 404, "{}", page.text);
    assert!(
        page.text.contains("switched sign-in with SAML off"),
        "{}",
        page.text
    );
    assert!(!page.sets_session());
    let start = Browser::new(&server).get(&start_url(&server));
    assert_eq!(start.status, 404, "{}", start.text);
    assert!(
        start.text.contains("switched sign-in with SAML off"),
        "{}",
        start.text
    );
    let (consent, _) = terrace_tests::browser::Browser::new(&server).page(None);
    assert!(!consent.contains("Sign in with SAML"), "{consent}");
    let trail = owner.get("admin/audit-trail?page[size]=1000").ok();
    assert!(
        trail.text.contains("switched-off"),
        "the refused sign-in is on the trail"
    );
    // ... switched on again, it signs people in.
    assert_eq!(switch(true).attr("enabled"), true);
    let (consent, _) = terrace_tests::browser::Browser::new(&server).page(None);
    assert!(consent.contains("Sign in with SAML"), "{consent}");
    let again = Browser::new(&server).saml_sign_in(&server, "alice", "alicepass");
    assert_eq!(again.status, 302, "{}", again.text);
    assert!(again.sets_session());
}

/// `--sso-disable-passwords` with SAML: the consent page refuses passwords to everyone but
/// site administrators; the identity provider's metadata can be a file.
#[test]
fn disabled_passwords_leave_site_administrators_a_way_in() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert) = key_pair(dir.path(), "idp");
    let pem = std::fs::read_to_string(&cert).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let metadata = dir.path().join("idp.xml");
    std::fs::write(
        &metadata,
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        ),
    )
    .unwrap();
    let server = Server::builder(Db::Sqlite)
        .without_rate_limits()
        .args(&[
            "--saml-idp-metadata-file",
            metadata.to_str().unwrap(),
            "--saml-sp-entity-id",
            "urn:terrace:test",
            "--sso-disable-passwords",
        ])
        .start();
    assert!(
        server.stdout.contains(&format!(
            "SAML (register SP entity ID urn:terrace:test, ACS URL {}{ACS}",
            server.url
        )) && server
            .stdout
            .contains("; passwords for site administrators only"),
        "{}",
        server.stdout
    );
    // The start goes to the identity provider named by the file, with an AuthnRequest.
    let mut browser = Browser::new(&server);
    let start = browser.get(&start_url(&server));
    assert_eq!(start.status, 302, "{}", start.text);
    let to = start.location.unwrap();
    assert!(
        to.starts_with("https://idp.example/sso?SAMLRequest="),
        "{to}"
    );
    // The identity provider posts back from its own site: the cookie binding the sign-in to
    // this browser must come along (SameSite=None, so Secure), out of scripts' reach.
    let binding = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("terrace_saml="))
        .expect("a terrace_saml cookie");
    for attribute in ["HttpOnly", "SameSite=None", "Secure"] {
        assert!(binding.contains(attribute), "{binding}");
    }

    assert_passwords_only_for_site_administrators(&server, "Sign in with SAML");
}
