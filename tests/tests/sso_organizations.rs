//! Single sign-on per organization, with the real OpenID provider of tests/oidc (the same one
//! as the site's, which is the interesting case: an organization's owner pointing at the
//! site's issuer must gain nothing). Every organization owner here is a possible attacker:
//! mallory owns an organization of her own and configures it against the same provider.
//!
//! Proven: the configuration API (owners only, validation, the secret never shown and
//! encrypted at rest, on the audit trail); sign-in through an organization's provider
//! filling only that organization's teams; identities namespaced by organization (the same
//! issuer and subject never reach the site's user or another organization's); the site's
//! provider leaving alone the teams of organizations with their own; and `enforced`:
//! password-derived tokens refused (403) in that organization only, SSO-derived tokens (and
//! the tokens made with them) accepted, owners, team tokens and other organizations
//! unaffected.

use serde_json::{json, Value};
use terrace_tests::access::add_member;
use terrace_tests::browser::Browser as Consent;
use terrace_tests::oidc::{Idp, CALLBACK};
use terrace_tests::sso::{
    finish_login, free_port, map_team, sorted, start_login, team_usernames, urlencode, username,
    Browser,
};
use terrace_tests::{Api, Db, Server, Terraform};

const SECRET: &str = "terrace-test-secret";

fn users() -> Value {
    json!({
        "ann": {"preferred_username": "ann", "email": "ann@example.com", "email_verified": true, "groups": ["devs"]},
        "carol": {"preferred_username": "carol", "email": "carol@example.com", "email_verified": true, "groups": ["devs"]},
        "vic": {"preferred_username": "vic", "email": "victim@example.com", "email_verified": true, "groups": []}
    })
}

fn config(attributes: Value) -> Value {
    json!({"data": {"type": "sso-configurations", "attributes": attributes}})
}

/// Signs `login` in through `start` in a fresh browser; returns the session cookie.
fn sign_in(server: &Server, start: &str, login: &str) -> String {
    let mut browser = Browser::new(server);
    let page = browser.sign_in_at(&format!("{}{start}", server.url), login);
    assert_eq!(page.status, 302, "{login} at {start}: {}", page.text);
    assert!(page.sets_session());
    browser.session(server).expect("a session")
}

terrace_tests::both_databases!(single_sign_on_per_organization, |db| {
    organization_sso(db)
});

fn organization_sso(db: Db) {
    let port = free_port();
    let (dir, issuer) = Idp::files(port);
    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let server = Server::builder(db)
        .without_rate_limits()
        .args(&[
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            "terrace",
            "--oidc-client-secret-file",
            secret_file.to_str().unwrap(),
            // The test's provider is on loopback.
            "--oidc-organization-loopback",
        ])
        .start();
    let _idp = Idp::start(port, dir, &format!("{}{CALLBACK}", server.url), users());
    let admin = server.api(&server.admin_token());

    // olive owns acme, mallory owns evil: both ordinary password users.
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

    // The configuration API: owners only, validated, the secret never shown.
    olive.get(path).expect(404);
    mallory
        .patch(path, &config(json!({"enabled": false})))
        .expect(404);
    for (bad, pointer) in [
        (json!({"oidc-issuer": "http://idp.example"}), "oidc-issuer"),
        (json!({"protocol": "ldap"}), "protocol"),
        (json!({"enabled": true}), "oidc-issuer"),
        (
            json!({"oidc-groups-claim": "two words"}),
            "oidc-groups-claim",
        ),
        // A misspelt `enforced` is refused, never silently ignored.
        (json!({"enforce": true}), "enforce"),
    ] {
        let reply = olive.patch(path, &config(bad.clone())).expect(422);
        assert!(reply.text.contains(pointer), "{bad}: {}", reply.text);
    }
    olive.get(path).expect(404); // nothing half-written
    let created = olive
        .patch(
            path,
            &config(json!({
                "enabled": true, "oidc-issuer": issuer, "oidc-client-id": "terrace",
                "oidc-client-secret": SECRET, "oidc-scopes": "profile,email groups"
            })),
        )
        .ok();
    assert!(!created.text.contains(SECRET), "{}", created.text);
    assert_eq!(created.data()["type"], "sso-configurations");
    assert_eq!(created.attr("oidc-client-secret-set"), true);
    assert_eq!(created.attr("oidc-scopes"), "profile email groups");
    assert_eq!(
        created.attr("redirect-uri").as_str().unwrap(),
        format!("{}{CALLBACK}", server.url)
    );
    assert_eq!(
        created.attr("sign-in-url").as_str().unwrap(),
        format!("{}/app/sso/organizations/acme/start", server.url)
    );
    let shown = olive.get(path).ok();
    assert!(!shown.text.contains(SECRET), "{}", shown.text);
    // Encrypted at rest: the clear secret is nowhere in the row.
    let touch = "UPDATE organization_sso_configurations SET protocol = protocol";
    assert_eq!(server.sql(touch), 1);
    assert_eq!(
        server.sql(&format!(
            "{touch} WHERE oidc_client_secret_ciphertext LIKE '%{SECRET}%'"
        )),
        0
    );
    // On the audit trail, without the secret.
    let trail = olive.get("organizations/acme/audit-trail").ok();
    assert!(trail.text.contains("sso-configuration"), "{}", trail.text);
    assert!(!trail.text.contains(SECRET));

    // Teams mapped to the group "devs" in three organizations.
    let acme_devs = map_team(&olive, "acme", "devs", "devs");
    let evil_devs = map_team(&mallory, "evil", "devs", "devs");
    let site_devs = map_team(&admin, "default", "devs", "devs");

    // The site's provider fills the site's mapped teams, not acme's (it has its own).
    let ann_site = sign_in(&server, "/app/sso/oidc/start?return_to=/", "ann");
    assert_eq!(team_usernames(&admin, &site_devs), ["ann"]);
    assert!(team_usernames(&olive, &acme_devs).is_empty());

    // acme's provider: carol lands on acme's team only.
    let acme_start = "/app/sso/organizations/acme/start?return_to=/";
    let carol = sign_in(&server, acme_start, "carol");
    assert_eq!(team_usernames(&olive, &acme_devs), ["carol"]);
    assert_eq!(team_usernames(&admin, &site_devs), ["ann"]);
    let consent = Consent::new(&server);
    let carol_token = consent.session_token(&carol);
    assert_eq!(username(&server, &carol_token), "carol");

    // Attack: acme points at the site's issuer, whose "ann" is a site user. The same subject
    // through acme is someone else: a new user, never the site's ann.
    let acme_ann = sign_in(&server, acme_start, "ann");
    let acme_ann_token = consent.session_token(&acme_ann);
    assert_eq!(username(&server, &acme_ann_token), "ann-2");
    assert_eq!(username(&server, &consent.session_token(&ann_site)), "ann");
    assert_eq!(
        sorted(team_usernames(&olive, &acme_devs)),
        ["ann-2", "carol"]
    );

    // Attack: mallory configures evil against the same provider and the same group name.
    // Her provider's "carol" is a new user on evil's team; acme's team is untouched.
    mallory
        .patch(
            "organizations/evil/sso-configuration",
            &config(
                json!({"enabled": true, "oidc-issuer": issuer, "oidc-client-id": "terrace",
                "oidc-client-secret": SECRET}),
            ),
        )
        .ok();
    let evil_carol = sign_in(
        &server,
        "/app/sso/organizations/evil/start?return_to=/",
        "carol",
    );
    assert_eq!(
        username(&server, &consent.session_token(&evil_carol)),
        "carol-2"
    );
    // (The site's ann did not join evil's team at her site sign-in, although it was mapped to
    // her group before evil had a provider of its own: no site administrator vouched for
    // evil, so the site's groups never fill its teams.)
    assert_eq!(sorted(team_usernames(&mallory, &evil_devs)), ["carol-2"]);
    assert_eq!(
        sorted(team_usernames(&olive, &acme_devs)),
        ["ann-2", "carol"]
    );
    assert_eq!(team_usernames(&admin, &site_devs), ["ann"]);
    // Each organization's sign-ins are on its own trail, nobody else's.
    let sign_ins = |api: &Api, org: &str| -> Vec<String> {
        let trail = api
            .get(&format!("organizations/{org}/audit-trail?page[size]=100"))
            .ok();
        trail.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["resource"]["action"] == "sso-sign-in")
            .filter_map(|e| e["auth"]["description"].as_str().map(str::to_string))
            .collect()
    };
    let acme_sign_ins = sign_ins(&olive, "acme");
    assert!(
        acme_sign_ins.contains(&"carol".to_string()),
        "{acme_sign_ins:?}"
    );
    assert!(
        !acme_sign_ins.contains(&"carol-2".to_string()),
        "{acme_sign_ins:?}"
    );
    assert_eq!(sign_ins(&mallory, "evil"), ["carol-2"]);
    // Attack: default invited victim@example.com; mallory's provider asserts that email
    // (verified) for her own account. It accepts no invitation: her user gets no email.
    admin
        .post(
            "organizations/default/organization-memberships",
            &json!({"data": {"type": "organization-memberships",
                "attributes": {"email": "victim@example.com"}}}),
        )
        .expect(201);
    let vic = sign_in(
        &server,
        "/app/sso/organizations/evil/start?return_to=/",
        "vic",
    );
    let vic_api = server.api(&consent.session_token(&vic));
    vic_api.get("organizations/default").expect(404);
    let me = vic_api.get("account/details").ok();
    assert_eq!(me.attr("email"), "", "{}", me.text);
    let invited = admin
        .get("organizations/default/organization-memberships?q=victim")
        .ok();
    assert_eq!(invited.data()[0]["attributes"]["status"], "invited");

    // And acme's carol signing in again through acme is still acme's carol.
    let again = sign_in(&server, acme_start, "carol");
    assert_eq!(username(&server, &consent.session_token(&again)), "carol");

    // A changed configuration takes effect at once (the cached client is rebuilt): a wrong
    // client secret is refused by the provider, the right one works again.
    olive
        .patch(path, &config(json!({"oidc-client-secret": "wrong-secret"})))
        .ok();
    let mut browser = Browser::new(&server);
    let refused = browser.sign_in_at(&format!("{}{acme_start}", server.url), "carol");
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("refused the code"),
        "{}",
        refused.text
    );
    olive
        .patch(path, &config(json!({"oidc-client-secret": SECRET})))
        .ok();
    sign_in(&server, acme_start, "carol");

    // Passwords off in acme. pat is a password user on acme's team and in default.
    let pat_token = server.user_token("pat");
    add_member(&olive, "acme", &acme_devs, "pat");
    add_member(&admin, "default", &site_devs, "pat");
    let pat = server.api(&pat_token);
    pat.get("organizations/acme").ok();
    // A member who is not an owner neither reads nor changes the configuration.
    pat.get(path).expect(403);
    pat.patch(path, &config(json!({"enforced": false})))
        .expect(403);
    olive.patch(path, &config(json!({"enforced": true}))).ok();
    let refused = pat.get("organizations/acme").expect(403);
    assert!(
        refused
            .text
            .contains("organization acme requires single sign-on"),
        "{}",
        refused.text
    );
    pat.get("organizations/acme/workspaces").expect(403);
    // ...still fine elsewhere, and acme stays listed.
    pat.get("organizations/default").ok();
    let listed = pat.get("organizations").ok();
    assert!(listed.text.contains("\"acme\""), "{}", listed.text);
    pat.get("organization-memberships").ok();
    // A password session's `terraform login` token is refused as well.
    let (pat_session, _) = consent.sign_in("pat", "user-password-1");
    let pat_login = server.api(&consent.session_token(&pat_session));
    pat_login.get("organizations/acme").expect(403);
    // acme's own sign-ins work, and so do the tokens made with them.
    let carol_api = server.api(&carol_token);
    carol_api.get("organizations/acme").ok();
    let carol_id = carol_api.get("account/details").ok().id();
    let derived = carol_api
        .post(
            &format!("users/{carol_id}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "ci"}}}),
        )
        .expect(201);
    let derived_token = derived.attr("token").as_str().unwrap().to_string();
    server.api(&derived_token).get("organizations/acme").ok();
    // The real `terraform login` through acme's provider: its token is acme's sign-in too.
    let tf = Terraform::without_credentials(&server);
    let (child, login_url, rest) = start_login(&tf, &server);
    let consent_path = login_url.strip_prefix(&server.url).unwrap().to_string();
    let mut cli_browser = Browser::new(&server);
    let signed_in = cli_browser.sign_in_at(
        &format!(
            "{}/app/sso/organizations/acme/start?return_to={}",
            server.url,
            urlencode(&consent_path)
        ),
        "carol",
    );
    assert_eq!(signed_in.status, 302, "{}", signed_in.text);
    let back = signed_in.location.clone().unwrap();
    assert_eq!(back, login_url);
    let cli_token = finish_login(&mut cli_browser, &server, &tf, &back, (child, rest));
    assert_eq!(username(&server, &cli_token), "carol");
    server.api(&cli_token).get("organizations/acme").ok();

    // Owners are exempt (break-glass); team tokens are unaffected.
    olive.get("organizations/acme").ok();
    let team_token = olive
        .post(
            &format!("teams/{acme_devs}/authentication-token"),
            &json!({"data": {"type": "authentication-tokens"}}),
        )
        .expect(201)
        .attr("token")
        .as_str()
        .unwrap()
        .to_string();
    server
        .api(&team_token)
        .get("organizations/acme/workspaces")
        .ok();

    // Without the configuration, acme's sign-in is gone and passwords work again.
    olive.delete(path).expect(204);
    let mut browser = Browser::new(&server);
    let gone = browser.get(&format!("{}{acme_start}", server.url));
    assert_eq!(gone.status, 404, "{}", gone.text);
    pat.get("organizations/acme").ok();
}

/// By default an organization's owner cannot point the server at its own machine or network
/// (the start is anonymous, so anyone could make it probe them).
#[test]
fn organizations_cannot_point_at_internal_addresses() {
    let server = Server::builder(Db::Sqlite).start();
    let owner = server.api(&server.admin_token());
    for issuer in [
        "http://127.0.0.1:5432",
        "https://localhost",
        "https://169.254.169.254/latest",
        "https://10.0.0.8",
        "https://[::1]",
    ] {
        let reply = owner
            .patch(
                "organizations/default/sso-configuration",
                &config(json!({"enabled": true, "oidc-issuer": issuer, "oidc-client-id": "x"})),
            )
            .expect(422);
        assert!(
            reply.text.contains("public host"),
            "{issuer}: {}",
            reply.text
        );
    }
    owner
        .get("organizations/default/sso-configuration")
        .expect(404);
    owner
        .patch(
            "organizations/default/sso-configuration",
            &config(json!({"enabled": true, "oidc-issuer": "https://idp.example", "oidc-client-id": "x"})),
        )
        .ok();
}
