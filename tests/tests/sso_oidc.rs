//! Single sign-on with a real OpenID provider: node's `oidc-provider` (OpenID-certified;
//! tests/oidc/idp.mjs, installed by scripts/install-test-deps.sh) with its development login
//! form. The test plays the browser (cookies, redirects and forms by hand) through Terrace's
//! consent page, the provider's login and consent and Terrace's callback, then runs the real
//! `terraform login`, `plan` and `apply`.
//!
//! Real provider throughout, except the ID-token tampering cases (wrong nonce, issuer,
//! audience, expired, bad signature): there a middleware inside the same provider rewrites
//! the ID token of its own token response before it leaves (re-signed with the provider's key,
//! or with another key for the signature case), as an attacker in the middle or a broken
//! provider would. Code and state swapping and replays use the real provider unaltered.

use serde_json::json;
use terrace_tests::access::{create_workspace, grant_workspace};
use terrace_tests::oidc::{Idp, CALLBACK};
use terrace_tests::page::hidden_input;
use terrace_tests::sso::{
    assert_passwords_only_for_site_administrators, assert_refused, finish_login, free_port,
    start_login, team_usernames, unescape, urlencode, Browser,
};
use terrace_tests::{Db, Server, Terraform};

const ORG: &str = "default";

fn users(groups: &[&str]) -> serde_json::Value {
    json!({
        "ann": {"preferred_username": "ann", "email": "ann@example.com", "email_verified": true, "groups": groups},
        "bob": {"email": "bob.smith@example.com", "email_verified": true, "groups": ["planners"]}
    })
}

terrace_tests::both_databases!(single_sign_on_with_a_real_openid_provider, |db| {
    single_sign_on(db)
});

fn single_sign_on(db: Db) {
    let port = free_port();
    let (dir, issuer) = Idp::files(port);
    let secret_file = dir.path().join("client-secret");
    std::fs::write(&secret_file, "terrace-test-secret\n").unwrap();
    let server = Server::builder(db)
        .without_rate_limits()
        .args(&[
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            "terrace",
            "--oidc-client-secret-file",
            secret_file.to_str().unwrap(),
        ])
        .start();
    let mut browser = Browser::new(&server);

    // The provider is down: the server runs, and a sign-in says why it cannot start.
    let down = browser.get(&format!("{}/app/sso/oidc/start?return_to=/", server.url));
    assert_eq!(down.status, 502, "{}", down.text);
    assert!(
        down.text.contains("identity provider is unavailable"),
        "{}",
        down.text
    );
    // Only paths on this server are returned to.
    for evil in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
    ] {
        let page = browser.get(&format!(
            "{}/app/sso/oidc/start?return_to={}",
            server.url,
            urlencode(evil)
        ));
        assert_eq!(page.status, 400, "{evil}: {}", page.text);
    }

    let idp = Idp::start(
        port,
        dir,
        &format!("{}{CALLBACK}", server.url),
        users(&["planners", "auditors", "unmapped"]),
    );
    assert_eq!(idp.issuer, issuer);

    // An owner maps the provider's group "planners" to a team that may plan one workspace.
    let owner = server.api(&server.admin_token());
    let team = terrace_tests::access::create_team(&owner, ORG, "planners", json!({}));
    owner
        .patch(
            &format!("teams/{team}"),
            &json!({"data": {"type": "teams", "attributes": {"sso-team-id": "planners"}}}),
        )
        .ok();
    let ws = create_workspace(&owner, ORG, "sso-plans", None);
    grant_workspace(&owner, &team, &ws, json!({"access": "plan"}));
    // A second mapped team in the same organization (filled at the same first sign-in).
    let auditors = terrace_tests::access::create_team(&owner, ORG, "auditors", json!({}));
    owner
        .patch(
            &format!("teams/{auditors}"),
            &json!({"data": {"type": "teams", "attributes": {"sso-team-id": "auditors"}}}),
        )
        .ok();
    // A team without sso-team-id is left alone.
    let manual = terrace_tests::access::create_team(&owner, ORG, "manual", json!({}));

    // `terraform login`: the consent page offers single sign-on.
    let tf = Terraform::without_credentials(&server);
    let (child, login_url, rest) = start_login(&tf, &server);
    let consent = browser.get(&login_url);
    assert_eq!(consent.status, 200);
    let marker = "<a class=\"button secondary\" href=\"";
    let at = consent
        .text
        .find(marker)
        .unwrap_or_else(|| panic!("no SSO link: {}", consent.text));
    let href = unescape(consent.text[at + marker.len()..].split('"').next().unwrap());
    assert!(href.starts_with("/app/sso/oidc/start?return_to="), "{href}");
    assert!(consent.text.contains("Sign in with single sign-on"));
    let callback = browser.through_idp(&format!("{}{href}", server.url), "ann");
    let signed_in = browser.get(&callback);
    assert_eq!(signed_in.status, 302, "{}", signed_in.text);
    assert!(signed_in.sets_session());
    let back = signed_in.location.clone().unwrap();
    assert!(
        back.starts_with(&format!("{}/app/oauth/authorization?", server.url)),
        "{back}"
    );

    // Back on the consent page, signed in as the new user: approve.
    let consent = browser.get(&back);
    assert!(
        consent.text.contains("Signed in as <strong>ann</strong>"),
        "{}",
        consent.text
    );
    assert!(!hidden_input(&consent.text, "csrf").is_empty());
    let token = finish_login(&mut browser, &server, &tf, &back, (child, rest));
    let me = server.api(&token).get("account/details").ok();
    assert_eq!(me.attr("username"), "ann");
    assert_eq!(team_usernames(&owner, &team), ["ann"]);
    assert_eq!(team_usernames(&owner, &auditors), ["ann"]);
    assert!(team_usernames(&owner, &manual).is_empty());

    // The team may plan that workspace, not apply.
    let ann = Terraform::new(&server, &token);
    ann.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"{ORG}\"\n    workspaces {{ name = \"sso-plans\" }}\n  }}\n}}\nresource \"terraform_data\" \"x\" {{}}\n",
            server.hostname
        ),
    );
    ann.ok(&["init", "-input=false"]);
    let plan = ann.ok(&["plan", "-input=false"]);
    assert!(plan.contains("1 to add"), "{plan}");
    let refused = ann.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        refused.contains("Insufficient rights to apply changes"),
        "{refused}"
    );

    // A second user without a username claim gets the email's local part; same team.
    let mut bob_browser = Browser::new(&server);
    let bob = bob_browser.sign_in(&server, "/", "bob");
    assert_eq!(bob.status, 302, "{}", bob.text);
    let mut members = team_usernames(&owner, &team);
    members.sort();
    assert_eq!(members, ["ann", "bob.smith"]);

    // Anyone may create an organization and name a site group on a team: the site's groups
    // do not pull their people into it until a site administrator vouches for it.
    let mallory = server.api(&server.user_token("mallory"));
    mallory
        .post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": {"name": "lure", "email": "m@lure.example"}}}),
        )
        .expect(201);
    let catch = terrace_tests::access::create_team(&mallory, "lure", "catch", json!({}));
    mallory
        .patch(
            &format!("teams/{catch}"),
            &json!({"data": {"type": "teams", "attributes": {"sso-team-id": "planners"}}}),
        )
        .ok();
    let lure_members = |api: &terrace_tests::Api| {
        let list = api
            .get("organizations/lure/organization-memberships?include=user")
            .ok();
        list.text
    };
    assert_eq!(
        Browser::new(&server).sign_in(&server, "/", "bob").status,
        302
    );
    assert!(team_usernames(&mallory, &catch).is_empty());
    let seen = lure_members(&mallory);
    assert!(
        !seen.contains("bob") && !seen.contains("smith@example.com"),
        "{seen}"
    );
    let lure = owner.get("admin/organizations/lure").ok();
    assert_eq!(lure.attr("follows-site-sso-groups"), false);
    let vouched = owner
        .patch(
            "admin/organizations/lure",
            &json!({"data": {"type": "organizations", "attributes": {"follows-site-sso-groups": true}}}),
        )
        .ok();
    assert_eq!(vouched.attr("follows-site-sso-groups"), true);
    assert_eq!(
        Browser::new(&server).sign_in(&server, "/", "bob").status,
        302
    );
    assert_eq!(team_usernames(&mallory, &catch), ["bob.smith"]);

    // The provider takes ann out of the group: her next sign-in takes her off the team
    // (she stays a member of the organization; "manual" is untouched).
    owner
        .post(
            &format!("teams/{manual}/relationships/users"),
            &json!({"data": [{"type": "users", "id": "ann"}]}),
        )
        .expect(204);
    idp.set_users(users(&["auditors", "unmapped"]));
    let mut later = Browser::new(&server);
    let again = later.sign_in(&server, "/", "ann");
    assert_eq!(again.status, 302, "{}", again.text);
    assert_eq!(team_usernames(&owner, &team), ["bob.smith"]);
    assert_eq!(team_usernames(&owner, &auditors), ["ann"]);
    assert_eq!(team_usernames(&owner, &manual), ["ann"]);

    // An owners team mapped to a group never loses its last member this way.
    owner
        .post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": {"name": "acme", "email": "ops@acme.example"}}}),
        )
        .expect(201);
    let teams = owner.get("organizations/acme/teams").ok();
    let acme_owners = teams
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["attributes"]["name"] == "owners")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner
        .patch(
            &format!("teams/{acme_owners}"),
            &json!({"data": {"type": "teams", "attributes": {"sso-team-id": "acme-owners"}}}),
        )
        .ok();
    let mut bob_users = users(&["auditors", "unmapped"]);
    bob_users["bob"]["groups"] = json!(["planners", "acme-owners"]);
    idp.set_users(bob_users.clone());
    assert_eq!(
        Browser::new(&server).sign_in(&server, "/", "bob").status,
        302
    );
    let mut acme = team_usernames(&owner, &acme_owners);
    acme.sort();
    assert_eq!(acme, ["admin", "bob.smith"]);
    owner
        .send_json(
            "DELETE",
            &format!("teams/{acme_owners}/relationships/users"),
            &json!({"data": [{"type": "users", "id": "admin"}]}),
        )
        .expect(204);
    bob_users["bob"]["groups"] = json!(["planners"]);
    idp.set_users(bob_users);
    assert_eq!(
        Browser::new(&server).sign_in(&server, "/", "bob").status,
        302
    );
    assert_eq!(
        team_usernames(&owner, &acme_owners),
        ["bob.smith"],
        "the last owner stays"
    );
    idp.set_users(users(&["auditors", "unmapped"]));

    // Replaying the callback (same browser, same state and code) is refused.
    let used = later.through_idp(
        &format!("{}/app/sso/oidc/start?return_to=/", server.url),
        "ann",
    );
    let first = later.get(&used);
    assert_eq!(first.status, 302);
    let replay = later.get(&used);
    assert_refused(&replay, "already used");
    // A state Terrace never issued.
    let url = url::Url::parse(&used).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let forged = later.get(&format!(
        "{}{CALLBACK}?code={}&state=forged",
        server.url,
        urlencode(&code)
    ));
    assert_refused(&forged, "unknown");
    // The provider's error.
    let error = later.get(&format!(
        "{}{CALLBACK}?error=access_denied&state=x",
        server.url
    ));
    assert_refused(&error, "access_denied");

    // Swapped state: the code of sign-in A presented with the state of sign-in B (both of
    // this browser) fails at the provider, as B's PKCE verifier does not match A's code.
    let mut swapper = Browser::new(&server);
    let a = swapper.through_idp(
        &format!("{}/app/sso/oidc/start?return_to=/", server.url),
        "ann",
    );
    let b = swapper.through_idp(
        &format!("{}/app/sso/oidc/start?return_to=/", server.url),
        "ann",
    );
    let code_a = url::Url::parse(&a)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let state_b = url::Url::parse(&b)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let swapped = swapper.get(&format!(
        "{}{CALLBACK}?code={}&state={}",
        server.url,
        urlencode(&code_a),
        urlencode(&state_b)
    ));
    assert_refused(&swapped, "refused the code");
    // A's own callback now comes without its browser cookie (B's replaced it).
    let orphan = swapper.get(&a);
    assert_refused(&orphan, "another browser");

    // ID tokens that must not be believed.
    for (mode, says) in [
        ("nonce", "nonce"),
        ("issuer", "issuer"),
        ("audience", "audience"),
        ("expired", "expired"),
        ("signature", "signature"),
    ] {
        idp.set_tamper(mode);
        let mut victim = Browser::new(&server);
        let page = victim.sign_in(&server, "/", "ann");
        assert_refused(&page, says);
        assert!(
            page.text.contains("ID token was refused"),
            "{mode}: {}",
            page.text
        );
    }
    idp.set_tamper("");
    let mut fine = Browser::new(&server);
    assert_eq!(fine.sign_in(&server, "/", "ann").status, 302);

    // Every callback is on the site's audit trail: the refusals too, never a token.
    let trail = owner.get("admin/audit-trail?page[size]=1000").ok();
    let actions: Vec<&str> = trail.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["resource"]["action"].as_str())
        .collect();
    let failed = actions
        .iter()
        .filter(|a| **a == "sso-sign-in-failed")
        .count();
    assert!(
        failed >= 9,
        "each refused callback is recorded: {actions:?}"
    );
    assert!(actions.contains(&"sso-sign-in"), "{actions:?}");
    // Each refusal with its reason.
    let reasons: Vec<&str> = trail.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["action"] == "sso-sign-in-failed")
        .filter_map(|e| e["resource"]["meta"]["reason"].as_str())
        .collect();
    for reason in [
        "state",
        "provider-error",
        "code",
        "browser",
        "nonce",
        "issuer",
        "audience",
        "expired",
        "signature",
    ] {
        assert!(reasons.contains(&reason), "{reason} in {reasons:?}");
    }
    assert_eq!(
        reasons.len(),
        failed,
        "every refusal has a reason: {reasons:?}"
    );
}

/// `--oidc-disable-passwords`: the consent page refuses passwords to everyone but site
/// administrators (break-glass), even while the provider is unreachable.
#[test]
fn disabled_passwords_leave_site_administrators_a_way_in() {
    let server = Server::builder(Db::Sqlite)
        .without_rate_limits()
        .args(&[
            "--oidc-issuer",
            &format!("http://127.0.0.1:{}", free_port()),
            "--oidc-client-id",
            "terrace",
            "--oidc-disable-passwords",
        ])
        .start();
    // The banner names the provider and the redirect URI to register there.
    assert!(
        server.stdout.contains(&format!(
            "redirect URI {}/app/sso/oidc/callback); passwords for site administrators only",
            server.url
        )),
        "{}",
        server.stdout
    );
    assert_passwords_only_for_site_administrators(&server, "Sign in with single sign-on");
}
