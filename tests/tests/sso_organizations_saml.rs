//! SAML 2.0 as an organization's own single sign-on, with the real SimpleSAMLphp of
//! tests/src/saml_idp.rs (alice in groups admins and devs, bob in devs). The server has no
//! site-wide identity provider: olive's organization acme pastes the identity provider's
//! metadata; mallory, another organization's owner (every owner is a possible attacker),
//! pastes the very same metadata for hers.
//!
//! Proven: the configuration API (validated metadata, nothing stored when refused, the
//! service provider's entity ID per organization and its metadata); a member signing in at
//! the sign-in URL through `terraform login`'s consent page, created on acme's team of their
//! group, then planning with the real `terraform`; the same person through mallory's
//! organization is another user with no access to acme; an assertion made for acme cannot
//! finish a sign-in started for evil (audience); replays refused, each refusal on the trail
//! of the organization it concerns; `enforced`: a password token refused, the SAML one
//! accepted.

use serde_json::{json, Value};
use terrace_tests::access::{add_member, create_workspace, grant_workspace};
use terrace_tests::browser::Browser as Consent;
use terrace_tests::saml_idp::{attribute_of, sign_assertion, SamlFlow, SamlIdp};
use terrace_tests::sso::{
    assert_refused, finish_login, free_port, map_team, sorted, start_login, team_usernames,
    urlencode, username, Browser,
};
use terrace_tests::{Api, Db, Server, Terraform};

const ACS: &str = "/app/sso/saml/acs";

fn config(attributes: Value) -> Value {
    json!({"data": {"type": "sso-configurations", "attributes": attributes}})
}

fn entity_id(server: &Server, org: &str) -> String {
    format!("{}/app/sso/organizations/{org}/saml/metadata", server.url)
}

fn start(server: &Server, org: &str) -> String {
    format!(
        "{}/app/sso/organizations/{org}/start?return_to=/",
        server.url
    )
}

/// Signs `user` in at `org`'s sign-in URL in a fresh browser; returns its session cookie.
fn sign_in(server: &Server, org: &str, user: &str, password: &str) -> String {
    let mut browser = Browser::new(server);
    let posted = browser.to_acs(&start(server, org), user, password);
    let page = browser.post_acs(&posted);
    assert_eq!(page.status, 302, "{user} at {org}: {}", page.text);
    assert!(page.sets_session());
    browser.session(server).expect("a session")
}

terrace_tests::both_databases!(saml_single_sign_on_per_organization, |db| {
    organization_saml(db)
});

fn organization_saml(db: Db) {
    // No site-wide identity provider: only organizations have one.
    let server = Server::builder(db).without_rate_limits().start();
    let acs_url = format!("{}{ACS}", server.url);
    let acme_entity = entity_id(&server, "acme");
    let evil_entity = entity_id(&server, "evil");
    let idp = SamlIdp::start_for(
        free_port(),
        &[(&acme_entity, &acs_url), (&evil_entity, &acs_url)],
    );
    let metadata = reqwest::blocking::get(idp.metadata_url())
        .unwrap()
        .text()
        .unwrap();
    let olive = server.api(&server.user_token("olive"));
    let mallory = server.api(&server.user_token("mallory"));
    for (owner, org) in [(&olive, "acme"), (&mallory, "evil")] {
        owner
            .post(
                "organizations",
                &json!({"data": {"type": "organizations", "attributes": {"name": org, "email": format!("ops@{org}.example")}}}),
            )
            .expect(201);
    }
    let path = "organizations/acme/sso-configuration";

    // Bad metadata: a clear 422 pointing at it, and nothing stored.
    let too_large = format!("{metadata}<!--{}-->", "x".repeat(300 * 1024));
    for (bad, says) in [
        (json!({"protocol": "saml", "enabled": true}), "is required"),
        (
            json!({"protocol": "saml", "saml-idp-metadata": "<html>hello</html>"}),
            "has no entityID",
        ),
        (
            json!({"protocol": "saml", "saml-idp-metadata": "not XML <"}),
            "is not SAML metadata",
        ),
        (
            json!({"saml-idp-metadata": metadata.replace("use=\"signing\"", "use=\"encryption\"")}),
            "no signing certificate",
        ),
        (
            json!({"saml-idp-metadata": metadata.replace("bindings:HTTP-Redirect", "bindings:HTTP-Artifact")}),
            "HTTP-Redirect",
        ),
        (json!({"saml-idp-metadata": too_large}), "too large"),
        (
            json!({"saml-groups-attribute": "two words"}),
            "saml-groups-attribute",
        ),
    ] {
        let reply = olive.patch(path, &config(bad.clone())).expect(422);
        assert!(reply.text.contains(says), "{says}: {}", reply.text);
        let pointer = if says == "saml-groups-attribute" {
            "/data/attributes/saml-groups-attribute"
        } else {
            "/data/attributes/saml-idp-metadata"
        };
        assert!(reply.text.contains(pointer), "{}", reply.text);
    }
    olive.get(path).expect(404);
    // Nobody's SAML metadata before it is configured.
    let mut anonymous = Browser::new(&server);
    assert_eq!(anonymous.get(&acme_entity).status, 404);

    // olive pastes the identity provider's metadata.
    let created = olive
        .patch(
            path,
            &config(json!({"protocol": "saml", "enabled": true, "saml-idp-metadata": metadata})),
        )
        .ok();
    assert_eq!(created.attr("protocol"), "saml");
    assert_eq!(
        created.attr("saml-idp-entity-id").as_str().unwrap(),
        idp.metadata_url()
    );
    assert_eq!(
        created.attr("saml-sp-entity-id").as_str().unwrap(),
        acme_entity
    );
    assert_eq!(created.attr("saml-acs-url").as_str().unwrap(), acs_url);
    assert_eq!(created.attr("saml-groups-attribute"), "groups");
    assert_eq!(created.attr("saml-username-attribute"), "uid");
    assert_eq!(
        created.attr("sign-in-url").as_str().unwrap(),
        format!("{}/app/sso/organizations/acme/start", server.url)
    );
    // Its service provider metadata, public, for the identity provider.
    let sp = anonymous.get(&acme_entity);
    assert_eq!(sp.status, 200, "{}", sp.text);
    assert!(
        sp.text.contains(&format!("entityID=\"{acme_entity}\"")),
        "{}",
        sp.text
    );
    assert!(sp.text.contains(&format!("Location=\"{acs_url}\"")));
    assert_eq!(anonymous.get(&evil_entity).status, 404);

    // acme's "admins" may plan one workspace; "devs" only read it.
    let admins = map_team(&olive, "acme", "admins", "admins");
    let devs = map_team(&olive, "acme", "devs", "devs");
    let workspace = create_workspace(&olive, "acme", "saml-org", None);
    grant_workspace(&olive, &admins, &workspace, json!({"access": "plan"}));
    grant_workspace(&olive, &devs, &workspace, json!({"access": "read"}));

    // The real `terraform login`: alice signs in at acme's sign-in URL from the consent page.
    let tf = Terraform::without_credentials(&server);
    let (child, login_url, rest) = start_login(&tf, &server);
    let consent_path = login_url.strip_prefix(&server.url).unwrap().to_string();
    let mut browser = Browser::new(&server);
    let posted = browser.to_acs(
        &format!(
            "{}/app/sso/organizations/acme/start?return_to={}",
            server.url,
            urlencode(&consent_path)
        ),
        "alice",
        "alicepass",
    );
    assert_eq!(posted.acs, acs_url);
    let signed_in = browser.post_acs(&posted);
    assert_eq!(signed_in.status, 302, "{}", signed_in.text);
    assert_eq!(signed_in.location.as_deref(), Some(login_url.as_str()));
    // The same genuine response again: its sign-in is used up.
    assert_refused(
        &browser.post_acs(&posted),
        "no sign-in started in this browser",
    );
    let alice_token = finish_login(&mut browser, &server, &tf, &login_url, (child, rest));
    assert_eq!(username(&server, &alice_token), "alice");
    assert_eq!(team_usernames(&olive, &admins), ["alice"]);
    assert_eq!(team_usernames(&olive, &devs), ["alice"]);
    // Her team may plan.
    let alice = Terraform::new(&server, &alice_token);
    alice.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"acme\"\n    workspaces {{ name = \"saml-org\" }}\n  }}\n}}\nresource \"terraform_data\" \"x\" {{}}\n",
            server.hostname
        ),
    );
    alice.ok(&["init", "-input=false"]);
    let plan = alice.ok(&["plan", "-input=false"]);
    assert!(plan.contains("1 to add"), "{plan}");
    // bob (devs only) is on devs, not admins.
    let consent = Consent::new(&server);
    let bob = consent.session_token(&sign_in(&server, "acme", "bob", "bobpass"));
    assert_eq!(username(&server, &bob), "bob");
    assert_eq!(sorted(team_usernames(&olive, &devs)), ["alice", "bob"]);
    assert_eq!(team_usernames(&olive, &admins), ["alice"]);

    // Attack: mallory pastes the same metadata for evil. The same alice through evil is
    // another user, with nothing of acme.
    let evil_admins = map_team(&mallory, "evil", "admins", "admins");
    mallory
        .patch(
            "organizations/evil/sso-configuration",
            &config(json!({"protocol": "saml", "enabled": true, "saml-idp-metadata": metadata})),
        )
        .ok();
    let evil_alice = consent.session_token(&sign_in(&server, "evil", "alice", "alicepass"));
    assert_eq!(username(&server, &evil_alice), "alice-2");
    server
        .api(&evil_alice)
        .get("organizations/acme")
        .expect(404);
    server
        .api(&evil_alice)
        .get(&format!("workspaces/{workspace}"))
        .expect(404);
    assert_eq!(team_usernames(&mallory, &evil_admins), ["alice-2"]);
    assert_eq!(team_usernames(&olive, &admins), ["alice"]);

    // Attack: an assertion made for acme, posted to a sign-in started for evil. As it came,
    // it answers another request ...
    let mut for_acme = Browser::new(&server);
    let acme_posted = for_acme.to_acs(&start(&server, "acme"), "bob", "bobpass");
    let mut at_evil = Browser::new(&server);
    let evil_posted = at_evil.to_acs(&start(&server, "evil"), "bob", "bobpass");
    let acme_xml = acme_posted.xml();
    let assertion_id = attribute_of(&acme_xml, "saml:Assertion", "ID");
    let acme_request = attribute_of(&acme_xml, "samlp:Response", "InResponseTo");
    let evil_request = attribute_of(&evil_posted.xml(), "samlp:Response", "InResponseTo");
    assert!(acme_xml.contains(&format!("<saml:Audience>{acme_entity}</saml:Audience>")));
    // ... and cited for evil's request (re-signed with the identity provider's own key), it
    // is still for acme's service provider: refused by its audience.
    let (idp_key, idp_cert) = idp.signing_key();
    let scratch = idp.scratch();
    let cited = sign_assertion(
        &acme_xml.replace(&acme_request, &evil_request),
        &assertion_id,
        &idp_key,
        &idp_cert,
        &scratch,
    );
    assert_refused(
        &at_evil.post_acs(&evil_posted.with_xml(&cited)),
        "another service provider",
    );

    // Replay: acme's assertion, accepted once, then cited for a new acme sign-in.
    let accepted = for_acme.post_acs(&acme_posted);
    assert_eq!(accepted.status, 302, "{}", accepted.text);
    let mut again = Browser::new(&server);
    let next = again.to_acs(&start(&server, "acme"), "bob", "bobpass");
    let next_request = attribute_of(&next.xml(), "samlp:Response", "InResponseTo");
    let replay = sign_assertion(
        &acme_xml.replace(&acme_request, &next_request),
        &assertion_id,
        &idp_key,
        &idp_cert,
        &scratch,
    );
    assert_refused(&again.post_acs(&next.with_xml(&replay)), "already used");

    // The refusals are on the audit trail with their reasons: an answer to no sign-in on the
    // site's (no organization known) ...
    let admin = server.api(&server.admin_token());
    let trail = admin.get("admin/audit-trail?page[size]=1000").ok();
    let reasons: Vec<&str> = trail.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["action"] == "sso-sign-in-failed")
        .filter_map(|e| e["resource"]["meta"]["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"in-response-to"), "{reasons:?}");
    // ... and on the trail of the organization whose sign-in each answered, only on its.
    let org_reasons = |owner: &Api, org: &str| -> Vec<String> {
        let trail = owner
            .get(&format!("organizations/{org}/audit-trail?page[size]=1000"))
            .ok();
        trail.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["action"] == "sso-sign-in-failed")
            .filter_map(|e| e["resource"]["meta"]["reason"].as_str())
            .map(str::to_string)
            .collect()
    };
    let acme_reasons = org_reasons(&olive, "acme");
    // (site administrators read it too)
    assert_eq!(org_reasons(&admin, "acme"), acme_reasons);
    let evil_reasons = org_reasons(&mallory, "evil");
    assert!(
        acme_reasons.contains(&"replayed".to_string()),
        "{acme_reasons:?}"
    );
    assert!(
        !acme_reasons.contains(&"audience".to_string()),
        "{acme_reasons:?}"
    );
    assert!(
        evil_reasons.contains(&"audience".to_string()),
        "{evil_reasons:?}"
    );
    assert!(
        !evil_reasons.contains(&"replayed".to_string()),
        "{evil_reasons:?}"
    );

    // Enforced: pat, a password user on acme's team, is refused; alice's SAML token is not.
    let pat_token = server.user_token("pat");
    add_member(&olive, "acme", &devs, "pat");
    let pat = server.api(&pat_token);
    pat.get("organizations/acme").ok();
    olive.patch(path, &config(json!({"enforced": true}))).ok();
    let refused = pat.get("organizations/acme").expect(403);
    assert!(
        refused.text.contains("requires single sign-on"),
        "{}",
        refused.text
    );
    let (pat_session, _) = consent.sign_in("pat", "user-password-1");
    server
        .api(&consent.session_token(&pat_session))
        .get("organizations/acme")
        .expect(403);
    server.api(&alice_token).get("organizations/acme").ok();
    server.api(&bob).get("organizations/acme").ok();
    // evil's sign-in of the same person is not acme's.
    server
        .api(&evil_alice)
        .get("organizations/acme")
        .expect(404);

    // Switched back to OpenID Connect (not enabled), acme serves no SAML metadata.
    olive
        .patch(
            path,
            &config(json!({"protocol": "oidc", "enabled": false, "enforced": false})),
        )
        .ok();
    assert_eq!(anonymous.get(&acme_entity).status, 404);
}
