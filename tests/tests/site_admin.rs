//! Site administration: TFE's admin API (users and organizations), suspension, site
//! administrator access, and who may create organizations. The admin API does not exist for
//! anyone but site administrators (404, as from TFE); `terrace admin user` does the same
//! changes from the command line under the same rules.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::{json, Value};
use terrace_tests::browser::Browser;
use terrace_tests::{both_databases, terrace_bin, Api, Db, Server};

const PASSWORD: &str = "user-password-1";

fn server() -> Server {
    Server::builder(Db::Sqlite).without_rate_limits().start()
}

fn create_organization(api: &Api, name: &str) -> u16 {
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": name, "email": format!("ops@{name}.example")}}}),
    )
    .status
}

fn user_id(server: &Server, token: &str) -> String {
    server.api(token).get("account/details").ok().id()
}

fn usernames(reply: &Value) -> Vec<String> {
    reply["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["username"].as_str().unwrap().to_string())
        .collect()
}

fn act(api: &Api, id: &str, action: &str) -> terrace_tests::Reply {
    api.post(&format!("admin/users/{id}/actions/{action}"), &json!({}))
}

/// `terrace admin ARGS` that must fail; returns what it said.
fn admin_fails(server: &Server, args: &[&str]) -> String {
    let mut command = Command::new(terrace_bin());
    command
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(&server.data_dir);
    if let Some(url) = &server.database_url {
        command.env("TERRACE_DATABASE_URL", url);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "terrace admin {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_admin_api_is_not_found_for_anyone_but_site_admins() {
    let server = server();
    let admin = server.api(&server.admin_token());
    let admin_id = admin.get("account/details").ok().id();
    assert_eq!(create_organization(&admin, "acme"), 201);
    let plain = server.api(&server.user_token("pat"));
    // Every admin route of the document, so one added later is covered too.
    let doc = server.anonymous().get("/openapi.json").ok();
    let mut tried = 0;
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v2/admin/") {
            continue;
        }
        let concrete = path
            .replace("{user_id}", &admin_id)
            .replace("{organization}", "acme")
            .replace("{action}", "revoke_admin");
        for method in item.as_object().unwrap().keys() {
            let reply = plain.send_json(&method.to_uppercase(), &concrete, &json!({}));
            assert_eq!(reply.status, 404, "{method} {concrete}: {}", reply.text);
            assert_eq!(reply.body["errors"][0]["status"], "404", "{}", reply.text);
            tried += 1;
        }
    }
    assert!(tried >= 10, "only {tried} admin operations in the document");
    // Nothing happened.
    admin.get("organizations/acme").ok();
    assert_eq!(
        admin.get("account/details").ok().attr("is-site-admin"),
        true
    );

    // Impersonation is refused, explicitly, even to site administrators.
    let pat_id = plain.get("account/details").ok().id();
    admin
        .post(
            &format!("admin/users/{pat_id}/actions/impersonate"),
            &json!({"reason": "debugging"}),
        )
        .expect_error(403, "impersonation is disabled");
    admin
        .post("admin/users/actions/unimpersonate", &json!({}))
        .expect_error(403, "impersonation is disabled");
    act(&admin, "user-missing", "suspend").expect(404);
    act(&admin, &pat_id, "promote").expect(404);
}

#[test]
fn users_are_listed_filtered_and_paginated() {
    let server = server();
    let admin = server.api(&server.admin_token());
    let alice = server.api(&server.user_token("alice"));
    server.user_token("bob");
    let carol = server.user_token("carol");
    assert_eq!(create_organization(&alice, "alpha"), 201);
    let bob_id = admin.get("admin/users?q=bob").ok().body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    act(&admin, &bob_id, "suspend").ok();
    act(&admin, &user_id(&server, &carol), "grant_admin").ok();

    let all = admin.get("admin/users").ok();
    assert_eq!(usernames(&all.body), ["admin", "alice", "bob", "carol"]);
    assert_eq!(all.body["meta"]["pagination"]["total-count"], 4);
    let bob = &all.body["data"][2];
    assert_eq!(bob["type"], "users");
    assert_eq!(bob["attributes"]["email"], "bob@terrace.local");
    assert_eq!(bob["attributes"]["is-suspended"], true);
    assert_eq!(bob["attributes"]["is-admin"], false);
    assert_eq!(bob["attributes"]["two-factor"]["enabled"], false);

    // There is no two-factor authentication to disable: the user, unchanged.
    let same = act(&admin, &bob_id, "disable_two_factor").ok();
    assert_eq!(same.attr("two-factor")["enabled"], false);
    assert_eq!(same.attr("is-suspended"), true);

    // q matches a substring of the username or the email, whatever the case.
    assert_eq!(
        usernames(&admin.get("admin/users?q=LIC").ok().body),
        ["alice"]
    );
    assert_eq!(
        usernames(&admin.get("admin/users?q=terrace.local").ok().body).len(),
        4
    );
    assert_eq!(
        usernames(&admin.get("admin/users?filter%5Badmin%5D=true").ok().body),
        ["admin", "carol"]
    );
    assert_eq!(
        usernames(
            &admin
                .get("admin/users?filter%5Bsuspended%5D=true")
                .ok()
                .body
        ),
        ["bob"]
    );
    assert_eq!(
        usernames(
            &admin
                .get("admin/users?filter%5Badmin%5D=false&filter%5Bsuspended%5D=false")
                .ok()
                .body
        ),
        ["alice"]
    );
    admin
        .get("admin/users?filter%5Badmin%5D=maybe")
        .expect_error(400, "filter[admin]");

    let second = admin
        .get("admin/users?page%5Bnumber%5D=2&page%5Bsize%5D=3")
        .ok();
    assert_eq!(usernames(&second.body), ["carol"]);
    let pagination = &second.body["meta"]["pagination"];
    assert_eq!(pagination["total-count"], 4);
    assert_eq!(pagination["total-pages"], 2);
    assert_eq!(pagination["prev-page"], 1);

    // The users' organizations, and included on request.
    let with = admin.get("admin/users?q=alice&include=organizations").ok();
    assert_eq!(
        with.body["data"][0]["relationships"]["organizations"]["data"],
        json!([{"type": "organizations", "id": "alpha"}])
    );
    assert_eq!(with.body["included"][0]["type"], "organizations");
    assert_eq!(with.body["included"][0]["attributes"]["name"], "alpha");
    assert!(admin.get("admin/users?q=alice").ok().body["included"].is_null());
}

both_databases!(suspension_ends_tokens_sessions_and_sign_in, |db: Db| {
    let server = Server::builder(db).without_rate_limits().start();
    let browser = Browser::new(&server);
    let admin = server.api(&server.admin_token());
    let sam_token = server.user_token("sam");
    let sam = server.api(&sam_token);
    let sam_id = sam.get("account/details").ok().id();
    let (session, _) = browser.sign_in("sam", PASSWORD);
    assert!(browser.session_works(&session));

    let suspended = act(&admin, &sam_id, "suspend").ok();
    assert_eq!(suspended.attr("is-suspended"), true);
    sam.get("account/details").expect(401);
    assert!(!browser.session_works(&session), "the session ended");
    let refused = browser.approve(Some(("sam", PASSWORD)), None);
    assert_eq!(refused.status(), 403);
    let page = refused.text().unwrap();
    assert!(page.contains("This account is suspended"), "{page}");
    // Without the password, a suspended account looks like any other.
    let wrong = browser.approve(Some(("sam", "not-the-password")), None);
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.text().unwrap().contains("suspended"));
    // Suspending again changes nothing; site administrators cannot be suspended.
    act(&admin, &sam_id, "suspend").ok();
    let admin_id = admin.get("account/details").ok().id();
    act(&admin, &admin_id, "suspend").expect_error(422, "revoke their admin access");

    let back = act(&admin, &sam_id, "unsuspend").ok();
    assert_eq!(back.attr("is-suspended"), false);
    sam.get("account/details").ok();
    let (again, _) = browser.sign_in("sam", PASSWORD);
    assert!(browser.session_works(&again));

    // The command line does the same.
    let said = server.admin(&["user", "suspend", "sam"]);
    assert!(said.contains("sam is suspended"), "{said}");
    sam.get("account/details").expect(401);
    assert!(!browser.session_works(&again));
    server.admin(&["user", "unsuspend", "sam"]);
    sam.get("account/details").ok();
    let said = admin_fails(&server, &["user", "suspend", "admin"]);
    assert!(said.contains("site administrator"), "{said}");
});

#[test]
fn admin_access_is_granted_and_revoked() {
    let server = server();
    let admin = server.api(&server.admin_token());
    let admin_id = admin.get("account/details").ok().id();
    assert_eq!(create_organization(&admin, "hq"), 201);
    let gus_token = server.user_token("gus");
    let gus = server.api(&gus_token);
    let gus_id = user_id(&server, &gus_token);
    gus.get("organizations/hq").expect(404);

    assert_eq!(
        act(&admin, &gus_id, "grant_admin").ok().attr("is-admin"),
        true
    );
    assert_eq!(gus.get("organizations/hq").ok().attr("name"), "hq");
    gus.get("admin/users").ok();
    assert_eq!(gus.get("account/details").ok().attr("is-site-admin"), true);
    assert_eq!(
        act(&admin, &gus_id, "revoke_admin").ok().attr("is-admin"),
        false
    );
    gus.get("organizations/hq").expect(404);
    gus.get("admin/users").expect(404);

    // Nobody revokes their own access: the site never loses its last administrator.
    act(&admin, &admin_id, "revoke_admin").expect_error(422, "your own");
    let said = admin_fails(&server, &["user", "revoke-admin", "admin"]);
    assert!(said.contains("only site administrator"), "{said}");

    // The command line does the same.
    assert!(server
        .admin(&["user", "grant-admin", "gus"])
        .contains("gus is a site administrator"));
    gus.get("organizations/hq").ok();
    // Now gus may take the first admin's access, but still not his own.
    act(&gus, &gus_id, "revoke_admin").expect_error(422, "your own");
    act(&gus, &admin_id, "revoke_admin").ok();
    admin.get("admin/users").expect(404);
    server.admin(&["user", "grant-admin", "admin"]);
    server.admin(&["user", "revoke-admin", "gus"]);
    gus.get("organizations/hq").expect(404);
    admin.get("admin/users").ok();
}

#[test]
fn deleting_users_spares_the_last_owner_of_an_organization() {
    let server = server();
    let admin = server.api(&server.admin_token());
    let admin_id = admin.get("account/details").ok().id();
    let olga_token = server.user_token("olga");
    let olga = server.api(&olga_token);
    let olga_id = user_id(&server, &olga_token);
    assert_eq!(create_organization(&olga, "olgas"), 201);
    let pete_token = server.user_token("pete");
    let pete = server.api(&pete_token);

    admin
        .delete(&format!("admin/users/{olga_id}"))
        .expect_error(422, "only owner of organization \"olgas\"");
    olga.get("account/details").ok();
    admin
        .delete(&format!("admin/users/{admin_id}"))
        .expect_error(422, "your own account");
    admin.delete("admin/users/user-missing").expect(404);

    // With pete as a second owner (there is no team API yet), olga can go.
    server.sql(
        "INSERT INTO organization_memberships (id, organization_id, user_id, email, status, created_at) \
         SELECT 'ou-second-owner', o.id, u.id, u.email, 'active', o.created_at \
         FROM organizations o, users u WHERE o.name = 'olgas' AND u.username = 'pete'",
    );
    server.sql(
        "INSERT INTO team_memberships (team_id, membership_id) SELECT t.id, 'ou-second-owner' \
         FROM teams t JOIN organizations o ON o.id = t.organization_id \
         WHERE o.name = 'olgas' AND t.is_owners",
    );
    let owners = admin.get("admin/organizations/olgas?include=owners").ok();
    let mut names: Vec<&str> = owners.body["included"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["attributes"]["username"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["olga", "pete"]);

    admin.delete(&format!("admin/users/{olga_id}")).expect(204);
    olga.get("account/details").expect(401);
    assert!(usernames(&admin.get("admin/users?q=olga").ok().body).is_empty());
    pete.get("organizations/olgas").ok();
    let owners = admin.get("admin/organizations/olgas").ok();
    assert_eq!(
        owners.body["data"]["relationships"]["owners"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn organizations_are_listed_shown_and_deleted() {
    let server = server();
    let admin = server.api(&server.admin_token());
    let ann_token = server.user_token("ann");
    let ann = server.api(&ann_token);
    let ann_id = user_id(&server, &ann_token);
    for name in ["apple", "banana", "cherry"] {
        assert_eq!(create_organization(&ann, name), 201);
    }
    let all = admin.get("admin/organizations").ok();
    let names: Vec<&str> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    // The first start made the admin's "default".
    assert_eq!(names, ["apple", "banana", "cherry", "default"]);
    let apple = &all.body["data"][0];
    assert_eq!(
        apple["attributes"]["notification-email"],
        "ops@apple.example"
    );
    assert_eq!(apple["attributes"]["is-disabled"], false);
    assert_eq!(
        apple["relationships"]["owners"]["data"],
        json!([{"type": "users", "id": ann_id}])
    );
    let found = admin.get("admin/organizations?q=ANAN&include=owners").ok();
    assert_eq!(found.body["data"][0]["id"], "banana");
    assert_eq!(found.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(found.body["included"][0]["attributes"]["username"], "ann");
    let page = admin
        .get("admin/organizations?page%5Bsize%5D=2&page%5Bnumber%5D=2")
        .ok();
    assert_eq!(page.body["data"][0]["id"], "cherry");
    assert_eq!(page.body["data"][1]["id"], "default");
    assert_eq!(page.body["meta"]["pagination"]["total-count"], 4);

    assert_eq!(
        admin.get("admin/organizations/cherry").ok().attr("name"),
        "cherry"
    );
    admin.get("admin/organizations/durian").expect(404);
    // TFE's admin settings: accepted only as this server has them.
    let settings =
        |attributes: Value| json!({"data": {"type": "organizations", "attributes": attributes}});
    let same = admin
        .patch(
            "admin/organizations/cherry",
            &settings(json!({"is-disabled": false, "access-beta-tools": false})),
        )
        .ok();
    assert_eq!(same.attr("is-disabled"), false);
    admin
        .patch(
            "admin/organizations/cherry",
            &settings(json!({"is-disabled": true})),
        )
        .expect_error(422, "cannot be disabled");
    admin
        .patch(
            "admin/organizations/cherry",
            &settings(json!({"access-beta-tools": true})),
        )
        .expect_error(422, "no beta tools");
    admin.delete("admin/organizations/cherry").expect(204);
    ann.get("organizations/cherry").expect(404);
    admin.get("admin/organizations/cherry").expect(404);
}

#[test]
fn organization_creation_can_be_limited_to_site_admins() {
    let open = server();
    let user = open.api(&open.user_token("una"));
    let permissions = user.get("account/details").ok();
    assert_eq!(
        permissions.attr("permissions")["can-create-organizations"],
        true
    );
    assert_eq!(create_organization(&user, "una-org"), 201);
    let admin = open.api(&open.admin_token());
    assert_eq!(
        admin
            .get("admin/general-settings")
            .ok()
            .attr("limit-user-organization-creation"),
        false
    );
    drop(open);

    let closed = Server::builder(Db::Sqlite)
        .without_rate_limits()
        .args(&["--organization-creation", "site-admins"])
        .start();
    let user_token = closed.user_token("una");
    let user = closed.api(&user_token);
    assert_eq!(
        user.get("account/details").ok().attr("permissions")["can-create-organizations"],
        false
    );
    user.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "una-org", "email": "una@example.com"}}}),
    )
    .expect_error(403, "only site administrators may create organizations");
    let admin = closed.api(&closed.admin_token());
    assert_eq!(
        admin.get("account/details").ok().attr("permissions")["can-create-organizations"],
        true
    );
    assert_eq!(
        admin
            .get("admin/general-settings")
            .ok()
            .attr("limit-user-organization-creation"),
        true
    );
    assert_eq!(create_organization(&admin, "admins-org"), 201);
    // A user made a site administrator may create them too.
    closed.admin(&["user", "grant-admin", "una"]);
    assert_eq!(create_organization(&user, "una-org"), 201);
}

// `PATCH /admin/general-settings` changes who may create organizations, over the server's
// flag, for good (a restart keeps it); TFE's settings that mean nothing here are refused
// whole, naming the attribute, and change nothing.
both_databases!(
    general_settings_change_who_creates_organizations,
    |db: Db| {
        let mut server = Server::builder(db).without_rate_limits().start();
        let admin_token = server.admin_token();
        let user_token = server.user_token("una");
        let admin = server.api(&admin_token);
        let user = server.api(&user_token);
        let limit = |value: Value| {
            json!({"data": {"type": "general-settings",
            "attributes": {"limit-user-organization-creation": value}}})
        };
        let can_create = |api: &Api| {
            api.get("account/details").ok().attr("permissions")["can-create-organizations"].clone()
        };

        user.patch("admin/general-settings", &limit(json!(true)))
            .expect(404);
        assert_eq!(can_create(&user), true);
        let reply = admin
            .patch("admin/general-settings", &limit(json!(true)))
            .ok();
        assert_eq!(reply.attr("limit-user-organization-creation"), true);
        assert_eq!(can_create(&user), false);
        user.post(
            "organizations",
            &json!({"data": {"type": "organizations",
            "attributes": {"name": "una-org", "email": "una@example.com"}}}),
        )
        .expect_error(403, "only site administrators may create organizations");
        assert_eq!(create_organization(&admin, "admins-org"), 201);

        // Nothing of a refused update is applied.
        let refused = admin.patch(
            "admin/general-settings",
            &json!({"data": {"type": "general-settings",
            "attributes": {"limit-user-organization-creation": false, "api-rate-limit": 50}}}),
        );
        let refused = refused.expect_error(422, "api-rate-limit is not a setting of this server");
        assert_eq!(
            refused.body["errors"][0]["source"]["pointer"],
            "/data/attributes/api-rate-limit"
        );
        admin
            .patch("admin/general-settings", &limit(json!("yes")))
            .expect_error(422, "must be true or false");
        assert_eq!(
            admin
                .get("admin/general-settings")
                .ok()
                .attr("limit-user-organization-creation"),
            true
        );

        // Stored: a restart (without the flag) keeps it.
        server.stop();
        let builder = Server::builder(db)
            .without_rate_limits()
            .data_dir(std::path::Path::new(&server.data_dir));
        let server = match &server.database_url {
            Some(url) => builder.database_url(url).start(),
            None => builder.start(),
        };
        let admin = server.api(&admin_token);
        let user = server.api(&user_token);
        assert_eq!(can_create(&user), false);
        admin
            .patch("admin/general-settings", &limit(json!(false)))
            .ok();
        assert_eq!(can_create(&user), true);
        assert_eq!(create_organization(&user, "una-org"), 201);
    }
);

/// HCP's plans, for clients that move an organization to one before using a feature: one
/// feature set whatever plan is asked for, and a subscription that changes nothing.
#[test]
fn plans_are_one_feature_set_and_subscribing_changes_nothing() {
    let server = server();
    let admin = server.api(&server.admin_token());
    assert_eq!(create_organization(&admin, "acme"), 201);
    let before = admin.get("organizations/acme").ok();
    let sets = admin.get("admin/feature-sets?q=Business").ok();
    let sets = sets.data().as_array().unwrap().clone();
    assert_eq!(sets.len(), 1, "{sets:?}");
    let set = sets[0]["id"].as_str().unwrap();
    let subscription = |feature_set: &str| {
        json!({"data": {"type": "subscription", "attributes": {"runs-ceiling": 10},
            "relationships": {"feature-set": {"data": {"type": "feature-sets", "id": feature_set}}}}})
    };
    let reply = admin
        .post("admin/organizations/acme/subscription", &subscription(set))
        .ok();
    assert_eq!(
        reply.data()["relationships"]["feature-set"]["data"]["id"],
        set
    );
    admin
        .post(
            "admin/organizations/acme/subscription",
            &subscription("fs-premium"),
        )
        .expect_error(422, "no feature set");
    admin
        .post(
            "admin/organizations/nowhere/subscription",
            &subscription(set),
        )
        .expect(404);
    let after = admin.get("organizations/acme").ok();
    assert_eq!(
        before.body["data"]["attributes"],
        after.body["data"]["attributes"]
    );
    let entitlements = admin.get("organizations/acme/entitlement-set").ok();
    for (name, entitled) in [
        ("agents", true),
        ("audit-logging", true),
        ("sentinel", false),
    ] {
        assert_eq!(entitlements.attr(name), entitled, "{name}");
    }
}

/// An error page of `server` (the site's SAML sign-in, which it does not have: 404).
fn error_page(server: &Server) -> String {
    let mut browser = terrace_tests::sso::Browser::new(server);
    let page = browser.get(&format!("{}/app/sso/saml/start", server.url));
    assert_eq!(page.status, 404, "{}", page.text);
    page.text
}

// `/admin/customization-settings`: texts a site administrator adds to the sign-in and error
// pages, stored (a restart keeps them), shown as text (escaped), refused whole when one is
// wrong; everyone else gets 404.
both_databases!(customization_shows_on_the_pages, |db: Db| {
    let mut server = Server::builder(db).without_rate_limits().start();
    let admin_token = server.admin_token();
    let admin = server.api(&admin_token);
    let user = server.api(&server.user_token("una"));
    let texts = json!({
        "support-email-address": "help@example.com",
        "login-help": "<div>Use your corp account</div>",
        "footer": "<p>Custom Footer Content</p>",
        "error": "<em>Custom Error Instructions</em>",
        "new-user": "New user? <a href=\"#\">Click Here</a>",
    });
    let update = |attributes: &Value| json!({"data": {"type": "customization-settings", "attributes": attributes}});

    user.get("admin/customization-settings").expect(404);
    user.patch("admin/customization-settings", &update(&texts))
        .expect(404);
    let empty = admin.get("admin/customization-settings").ok();
    assert_eq!(empty.data()["id"], "customization");
    assert_eq!(empty.data()["type"], "customization-settings");
    for (name, _) in texts.as_object().unwrap() {
        assert_eq!(empty.attr(name), "", "{name}");
    }
    let (consent, _) = Browser::new(&server).page(None);
    assert!(!consent.contains("corp account"), "{consent}");
    assert!(!consent.contains("<footer"), "{consent}");

    let updated = admin
        .patch("admin/customization-settings", &update(&texts))
        .ok();
    for (name, value) in texts.as_object().unwrap() {
        assert_eq!(updated.attr(name), value, "{name}");
    }
    // The sign-in page shows the login help, the new-user text, the support address and the
    // footer, as text.
    let shows_texts = |server: &Server| {
        let (consent, _) = Browser::new(server).page(None);
        for shown in [
            "&lt;div&gt;Use your corp account&lt;&#x2f;div&gt;",
            "New user? &lt;a href=&quot;#&quot;&gt;Click Here&lt;&#x2f;a&gt;",
            "mailto:help@example.com",
            "&lt;p&gt;Custom Footer Content&lt;&#x2f;p&gt;",
        ] {
            assert!(consent.contains(shown), "{shown} in {consent}");
        }
        assert!(!consent.contains("<div>Use"), "{consent}");
        // Error pages show the error instructions, the support address and the footer.
        let error = error_page(server);
        for shown in [
            "&lt;em&gt;Custom Error Instructions&lt;&#x2f;em&gt;",
            "mailto:help@example.com",
            "&lt;p&gt;Custom Footer Content",
        ] {
            assert!(error.contains(shown), "{shown} in {error}");
        }
        assert!(!error.contains("corp account"), "{error}");
    };
    shows_texts(&server);

    // A wrong value refuses the whole update.
    let refused = admin
        .patch(
            "admin/customization-settings",
            &update(&json!({"footer": "other", "support-email-address": "nobody"})),
        )
        .expect_error(422, "not a valid e-mail address");
    assert_eq!(
        refused.body["errors"][0]["source"]["pointer"],
        "/data/attributes/support-email-address"
    );
    admin
        .patch(
            "admin/customization-settings",
            &update(&json!({"footer": "x".repeat(4097)})),
        )
        .expect_error(422, "at most 4096 characters");
    admin
        .patch(
            "admin/customization-settings",
            &update(&json!({"logo": "x.png"})),
        )
        .expect_error(422, "logo is not a customization setting");
    admin
        .patch(
            "admin/customization-settings",
            &update(&json!({"footer": 7})),
        )
        .expect_error(422, "must be a string");
    assert_eq!(
        admin
            .get("admin/customization-settings")
            .ok()
            .attr("footer"),
        "<p>Custom Footer Content</p>"
    );

    // Stored: a restart shows them.
    server.stop();
    let builder = Server::builder(db)
        .without_rate_limits()
        .data_dir(std::path::Path::new(&server.data_dir));
    let server = match &server.database_url {
        Some(url) => builder.database_url(url).start(),
        None => builder.start(),
    };
    shows_texts(&server);
    // An empty text removes it.
    let admin = server.api(&admin_token);
    admin
        .patch(
            "admin/customization-settings",
            &update(&json!({"footer": "", "login-help": null})),
        )
        .ok();
    let (consent, _) = Browser::new(&server).page(None);
    assert!(!consent.contains("<footer"), "{consent}");
    assert!(!consent.contains("corp account"), "{consent}");
    assert!(consent.contains("Click Here"), "{consent}");
});

// `/admin/saml-settings` without SAML configured: TFE's shape, nothing enabled; SAML cannot
// be switched on (no identity provider), debug can be set; configured settings are not
// changed here; everyone else gets 404.
#[test]
fn saml_settings_without_an_identity_provider() {
    let server = server();
    let admin = server.api(&server.admin_token());
    let user = server.api(&server.user_token("una"));
    let update =
        |attributes: Value| json!({"data": {"type": "saml-settings", "attributes": attributes}});
    user.get("admin/saml-settings").expect(404);
    user.patch("admin/saml-settings", &update(json!({"enabled": false})))
        .expect(404);
    let read = admin.get("admin/saml-settings").ok();
    assert_eq!(read.data()["id"], "saml");
    assert_eq!(read.attr("enabled"), false);
    assert_eq!(read.attr("debug"), false);
    assert_eq!(read.attr("private-key"), "");
    assert_eq!(read.attr("provider-type"), "unknown");
    assert_eq!(read.attr("sso-endpoint-url"), "");
    let off = admin
        .patch(
            "admin/saml-settings",
            &update(json!({"enabled": false, "debug": true})),
        )
        .ok();
    assert_eq!(off.attr("enabled"), false);
    assert_eq!(off.attr("debug"), true);
    let refused = admin
        .patch("admin/saml-settings", &update(json!({"enabled": true})))
        .expect_error(422, "no SAML identity provider is configured");
    assert_eq!(
        refused.body["errors"][0]["source"]["pointer"],
        "/data/attributes/enabled"
    );
    admin
        .patch(
            "admin/saml-settings",
            &update(json!({"idp-cert": "testCert", "debug": false})),
        )
        .expect_error(422, "comes from the server's configuration");
    admin
        .patch(
            "admin/saml-settings",
            &update(json!({"private-key": "testPrivateKey"})),
        )
        .expect_error(422, "keeps no private key");
    // Nothing of a refused update was applied.
    assert_eq!(admin.get("admin/saml-settings").ok().attr("debug"), true);
}

// The site administrator's run and workspace lists search every organization by a part of
// a workspace's name in any case (PostgreSQL matches it on the kept lower-cased name), and the
// run list by a run's ID; LIKE's wildcards are plain text.
both_databases!(
    runs_and_workspaces_are_searched_across_organizations,
    |db| {
        let server = Server::builder(db)
            .without_rate_limits()
            .arg("--no-listener")
            .start();
        let admin = server.api(&server.admin_token());
        for org in ["acme", "beta"] {
            assert_eq!(create_organization(&admin, org), 201);
        }
        let run_in = |org: &str, name: &str| {
            let ws = terrace_tests::access::create_workspace(&admin, org, name, None);
            let cv = terrace_tests::runs::upload_configuration(
                &admin,
                &ws,
                &[("main.tf", "terraform {}\n")],
                false,
            );
            terrace_tests::runs::create_run(&admin, &ws, Some(&cv), json!({})).id()
        };
        let prod = run_in("acme", "Edge-PROD");
        let dev = run_in("acme", "app-dev");
        let lab = run_in("beta", "edge-lab");
        // Sets: the databases' collations order capitals differently.
        let set = |items: Vec<String>| items.into_iter().collect::<BTreeSet<String>>();
        let runs = |q: &str| set(admin.get(&format!("admin/runs?q={q}")).ok().ids());
        let workspaces = |q: &str| {
            set(admin
                .get(&format!("admin/workspaces?q={q}"))
                .ok()
                .attrs("name"))
        };
        let of = |items: &[&str]| set(items.iter().map(|s| s.to_string()).collect());
        assert_eq!(runs("edge-p"), of(&[&prod]));
        assert_eq!(runs("EDGE"), of(&[&prod, &lab]));
        assert_eq!(runs(&dev), of(&[&dev]));
        assert_eq!(runs("%25"), of(&[]));
        assert_eq!(workspaces("prod"), of(&["Edge-PROD"]));
        assert_eq!(workspaces("EDGE-"), of(&["edge-lab", "Edge-PROD"]));
    }
);
