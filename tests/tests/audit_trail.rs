//! The audit trail against the real server: changes are recorded with their actor, token ID,
//! route template and status; sign-ins (failed ones with the username, never the password);
//! no secret reaches an event; an organization's events are its own; `since`, `until` and
//! pages; retention. Events are written after the response, so reads poll briefly.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::browser::consent_sign_in;
use terrace_tests::providers::{self, this_platform, Gpg};
use terrace_tests::runs::tarball;
use terrace_tests::{both_databases, Api, Db, Server};

/// Reads `path` until `done` holds for its events (they are written just after the response).
fn events_until(api: &Api, path: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = api.get(path).expect(200);
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "not JSON:API: {:?}",
            reply.headers["content-type"]
        );
        let events = reply.body["data"].as_array().unwrap().clone();
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: the events never arrived: {events:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn find<'a>(events: &'a [Value], route: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["resource"]["meta"]["route"] == route)
        .unwrap_or_else(|| panic!("no event for {route} in {events:#?}"))
}

fn has_route(events: &[Value], route: &str) -> bool {
    events
        .iter()
        .any(|e| e["resource"]["meta"]["route"] == route)
}

/// The caller's user ID and the ID of its only token.
fn identity(api: &Api) -> (String, String) {
    let user = api.get("account/details").ok().id();
    let tokens = api.get(&format!("users/{user}/authentication-tokens")).ok();
    let token = tokens.data()[0]["id"].as_str().unwrap().to_string();
    (user, token)
}

fn create_org(api: &Api, name: &str) {
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": name, "email": format!("{name}@example.com")}}}),
    )
    .ok();
}

both_databases!(
    changes_are_recorded_and_stay_in_their_organization,
    |db: Db| {
        let server = Server::builder(db).without_rate_limits().start();
        let alice_token = server.user_token("alice");
        let alice = server.api(&alice_token);
        let (alice_id, alice_token_id) = identity(&alice);
        create_org(&alice, "acme");
        let ws = alice
            .post(
                "organizations/acme/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": "web"}}}),
            )
            .expect(201)
            .id();
        alice
            .patch(
                &format!("workspaces/{ws}"),
                &json!({"data": {"type": "workspaces", "attributes": {"description": "shop"}}}),
            )
            .expect(200);
        // A signed upload URL: the event names the object its token grants, never the token.
        let cv = alice
            .post(
                &format!("workspaces/{ws}/configuration-versions"),
                &json!({"data": {"type": "configuration-versions",
                    "attributes": {"auto-queue-runs": false}}}),
            )
            .expect(201);
        let upload_url = cv.attr("upload-url").as_str().unwrap().to_string();
        alice
            .put_unauthenticated(&upload_url, &tarball(&[("main.tf", "")]))
            .expect(200);
        alice.delete(&format!("workspaces/{ws}")).expect(204);

        let trail = "organizations/acme/audit-trail";
        let events = events_until(&alice, trail, |events| {
            has_route(events, "DELETE /api/v2/workspaces/:workspace_id")
        });
        let created = find(
            &events,
            "POST /api/v2/organizations/:organization/workspaces",
        );
        let org_id = created["auth"]["organization_id"].as_str().unwrap();
        for (event, action, status) in [
            (created, "create", 201),
            (
                find(&events, "PATCH /api/v2/workspaces/:workspace_id"),
                "update",
                200,
            ),
            (
                find(&events, "DELETE /api/v2/workspaces/:workspace_id"),
                "delete",
                204,
            ),
        ] {
            assert_eq!(event["type"], "Resource");
            assert_eq!(event["version"], "0");
            assert_eq!(event["auth"]["type"], "user");
            assert_eq!(event["auth"]["accessor_id"], alice_id.as_str());
            assert_eq!(event["auth"]["description"], "alice");
            assert_eq!(event["auth"]["organization_id"], org_id);
            assert_eq!(event["resource"]["type"], "workspace");
            assert_eq!(event["resource"]["id"], ws.as_str());
            assert_eq!(event["resource"]["action"], action);
            assert_eq!(event["resource"]["meta"]["status"], status);
            assert_eq!(
                event["resource"]["meta"]["token_id"],
                alice_token_id.as_str()
            );
            assert!(event["timestamp"].as_str().unwrap().ends_with('Z'));
        }
        let upload = find(&events, "PUT /_uploads/configuration/:token");
        assert_eq!(upload["resource"]["id"], cv.id().as_str());
        assert_eq!(upload["auth"]["type"], "anonymous");
        assert_eq!(upload["auth"]["organization_id"], org_id);
        let capability = upload_url.rsplit('/').next().unwrap();
        assert!(!serde_json::to_string(&events).unwrap().contains(capability));
        // The organization's creation is the organization's own first event.
        let org_created = find(&events, "POST /api/v2/organizations");
        assert_eq!(org_created["resource"]["id"], "acme");
        assert_eq!(org_created["auth"]["organization_id"], org_id);
        // Reads are not changes.
        assert!(!events.iter().any(|e| e["resource"]["meta"]["route"]
            .as_str()
            .unwrap_or_default()
            .starts_with("GET ")));

        // A new token: its creation is a site event naming its ID, never its secret.
        let admin = server.api(&server.admin_token());
        let new_token = alice
        .post(
            &format!("users/{alice_id}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "ci"}}}),
        )
        .expect(201);
        let (new_id, secret) = (
            new_token.id(),
            new_token.attr("token").as_str().unwrap().to_string(),
        );
        alice
            .delete(&format!("authentication-tokens/{new_id}"))
            .expect(204);
        let site = events_until(&admin, "admin/audit-trail", |events| {
            has_route(events, "DELETE /api/v2/authentication-tokens/:token_id")
        });
        let made = find(&site, "POST /api/v2/users/:user_id/authentication-tokens");
        assert_eq!(made["resource"]["type"], "authentication_token");
        assert_eq!(made["resource"]["id"], new_id.as_str());
        assert_eq!(made["auth"]["organization_id"], Value::Null);
        let deleted = find(&site, "DELETE /api/v2/authentication-tokens/:token_id");
        assert_eq!(deleted["resource"]["id"], new_id.as_str());
        let everything = format!(
            "{}{}",
            admin.get("admin/audit-trail").text,
            alice.get(trail).text
        );
        for secret in [&secret, &alice_token] {
            assert!(
                !everything.contains(secret.as_str()),
                "a token's secret leaked"
            );
        }
        // Only site administrators read site events.
        alice.get("admin/audit-trail").expect(404);

        // Another organization's owner does not see acme's trail, and theirs holds nothing of it.
        let bob = server.api(&server.user_token("bob"));
        create_org(&bob, "bobco");
        bob.get(trail).expect(404);
        let bobs = events_until(&bob, "organizations/bobco/audit-trail", |events| {
            !events.is_empty()
        });
        let text = serde_json::to_string(&bobs).unwrap();
        assert!(!text.contains(org_id) && !text.contains(&ws) && !text.contains("acme"));
        // HCP Terraform's endpoint is read with an organization token, not a user's.
        alice.get("organization/audit-trail").expect(404);
        alice.get("organizations/nowhere/audit-trail").expect(404);
    }
);

both_databases!(
    an_audit_trail_token_reads_its_trail_and_nothing_else,
    |db: Db| {
        let server = Server::builder(db).without_rate_limits().start();
        let alice = server.api(&server.user_token("alice"));
        create_org(&alice, "acme");
        let bob = server.api(&server.user_token("bob"));
        create_org(&bob, "bobco");
        let path = "organizations/acme/authentication-token";
        let organization_token = alice.post(path, &json!({})).expect(201);
        let audit = alice
            .post(&format!("{path}?token=audit-trails"), &json!({}))
            .expect(201);
        // Two tokens side by side: each read back by its kind.
        assert_ne!(audit.id(), organization_token.id());
        assert_eq!(alice.get(path).ok().id(), organization_token.id());
        let shown = alice.get(&format!("{path}?token=audit-trails")).ok();
        assert_eq!(shown.id(), audit.id());
        alice
            .get(&format!("{path}?token=team"))
            .expect_error(400, "unknown token type");

        let reader = server.api(audit.attr("token").as_str().unwrap());
        // Its organization's events: the creation of the tokens among them.
        events_until(&reader, "organization/audit-trail", |events| {
            has_route(
                events,
                "POST /api/v2/organizations/:organization/authentication-token",
            )
        });
        reader.get("organizations/acme/audit-trail").ok();
        // Nothing else: not the organization, its workspaces, its tokens, another's trail.
        reader.get("organizations/acme").expect(404);
        reader.get("organizations/acme/workspaces").expect(404);
        reader
            .post(
                "organizations/acme/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": "w"}}}),
            )
            .expect(404);
        reader.get(path).expect(404);
        reader.get("organizations/bobco/audit-trail").expect(404);
        reader.get("admin/audit-trail").expect(404);

        // Revoking one kind leaves the other.
        alice
            .delete(&format!("{path}?token=audit-trails"))
            .expect(204);
        reader.get("organization/audit-trail").expect(401);
        alice.get(path).ok();
        alice
            .delete(&format!("{path}?token=audit-trails"))
            .expect(404);
    }
);

// Changes made at the same moment are written together (one statement for those waiting):
// each is recorded once, with its own resource, none lost.
both_databases!(concurrent_changes_are_each_recorded_once, |db: Db| {
    let server = Server::builder(db).without_rate_limits().start();
    let token = server.user_token("alice");
    let api = server.api(&token);
    create_org(&api, "acme");
    let created: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let api = server.api(&token);
                scope.spawn(move || {
                    (0..6)
                        .map(|i| {
                            api.post(
                                "organizations/acme/workspaces",
                                &json!({"data": {"type": "workspaces",
                                    "attributes": {"name": format!("ws-{t}-{i}")}}}),
                            )
                            .expect(201)
                            .id()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let route = "POST /api/v2/organizations/:organization/workspaces";
    let creations = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["resource"]["meta"]["route"] == route)
            .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let events = events_until(
        &api,
        "organizations/acme/audit-trail?page[size]=100",
        |events| creations(events).len() >= created.len(),
    );
    let mut recorded = creations(&events);
    let mut expected = created.clone();
    recorded.sort();
    expected.sort();
    assert_eq!(recorded, expected);
});

both_databases!(since_until_and_pages, |db: Db| {
    let server = Server::builder(db).without_rate_limits().start();
    let api = server.api(&server.user_token("alice"));
    create_org(&api, "acme");
    for name in ["a", "b", "c", "d"] {
        api.post(
            "organizations/acme/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
        )
        .expect(201);
    }
    let trail = "organizations/acme/audit-trail";
    let all = events_until(&api, trail, |events| events.len() >= 5);
    assert_eq!(all.len(), 5, "{all:#?}");
    let stamps: Vec<&str> = all
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {stamps:?}"
    );

    let first = api.get(&format!("{trail}?page[size]=2")).expect(200);
    assert_eq!(
        first.body["pagination"],
        json!({"current_page": 1, "prev_page": null, "next_page": 2, "total_pages": 3, "total_count": 5})
    );
    let last = api
        .get(&format!("{trail}?page[size]=2&page[number]=3"))
        .expect(200);
    assert_eq!(last.body["data"].as_array().unwrap(), &all[4..]);
    assert_eq!(last.body["pagination"]["next_page"], Value::Null);
    assert_eq!(last.body["pagination"]["prev_page"], 2);

    // `since` and `until` are exclusive bounds on the timestamps shown.
    let since = stamps[1];
    let after = api.get(&format!("{trail}?since={since}")).expect(200);
    let expected: Vec<&Value> = all
        .iter()
        .filter(|e| e["timestamp"].as_str().unwrap() > since)
        .collect();
    assert_eq!(
        after.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        expected
    );
    let until = stamps[3];
    let before = api.get(&format!("{trail}?until={until}")).expect(200);
    let expected: Vec<&Value> = all
        .iter()
        .filter(|e| e["timestamp"].as_str().unwrap() < until)
        .collect();
    assert_eq!(
        before.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        expected
    );
    api.get(&format!("{trail}?since=yesterday"))
        .expect_error(400, "since");
    api.get(&format!("{trail}?until="))
        .expect_error(400, "until");
});

/// Failed sign-ins name the username tried and never the password: not in the API's answer,
/// not anywhere in the database's files.
#[test]
fn sign_ins_are_recorded_without_passwords() {
    let server = Server::builder(Db::Sqlite).without_rate_limits().start();
    let admin = server.api(&server.admin_token());
    server.user_token("alice");
    const WRONG: &str = "Wrong-Horse-Battery-Staple-4711";
    assert_eq!(consent_sign_in(&server, "alice", WRONG).status(), 401);
    assert_eq!(consent_sign_in(&server, "nobody", WRONG).status(), 401);
    assert_eq!(
        consent_sign_in(&server, "alice", "user-password-1").status(),
        302
    );

    let site = events_until(&admin, "admin/audit-trail", |events| {
        events.iter().any(|e| e["resource"]["action"] == "consent")
    });
    let failed: Vec<&Value> = site
        .iter()
        .filter(|e| e["resource"]["action"] == "sign-in-failed")
        .collect();
    let tried: Vec<&str> = failed
        .iter()
        .map(|e| e["auth"]["description"].as_str().unwrap())
        .collect();
    assert_eq!(tried, ["alice", "nobody"]);
    for event in &failed {
        assert_eq!(event["type"], "Authentication");
        assert_eq!(event["resource"]["meta"]["status"], 401);
        assert_eq!(event["auth"]["type"], "anonymous");
        assert!(event["resource"]["meta"]["client_address"]
            .as_str()
            .is_some_and(|a| !a.is_empty()));
    }
    let signed_in = site
        .iter()
        .find(|e| e["resource"]["action"] == "sign-in")
        .expect("a sign-in");
    assert_eq!(signed_in["auth"]["description"], "alice");
    assert_eq!(signed_in["auth"]["type"], "user");

    let answered = admin.get("admin/audit-trail").text;
    for password in [WRONG, "user-password-1"] {
        assert!(!answered.contains(password), "a password in the trail");
        for file in ["terrace.db", "terrace.db-wal"] {
            let path = server.data_dir.join(file);
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert!(
                !bytes
                    .windows(password.len())
                    .any(|w| w == password.as_bytes()),
                "{password:?} is in {}",
                path.display()
            );
        }
    }
}

// Events older than the retention are purged by the housekeeping, which also runs at start.
both_databases!(old_events_are_purged, |db: Db| {
    let mut server = Server::builder(db)
        .without_rate_limits()
        .arg("--audit-retention-days")
        .arg("1")
        .start();
    let token = server.user_token("alice");
    let api = server.api(&token);
    create_org(&api, "acme");
    create_org(&api, "old");
    let trail = "organizations/old/audit-trail";
    events_until(&api, trail, |events| events.len() == 1);
    // Long ago, for the organization `old` only.
    let changed = server.sql(
        "UPDATE audit_events SET occurred_at = '2000-01-01T00:00:00+00:00' \
         WHERE organization_id = (SELECT id FROM organizations WHERE name = 'old')",
    );
    assert_eq!(changed, 1);
    server.stop();
    let builder = Server::builder(db)
        .without_rate_limits()
        .args(&["--audit-retention-days", "1"])
        .data_dir(Path::new(&server.data_dir));
    let server = match &server.database_url {
        Some(url) => builder.database_url(url).start(),
        None => builder.start(),
    };
    let api = server.api(&token);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !api.get(trail).expect(200).body["data"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the old event was never purged");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        api.get("organizations/acme/audit-trail").expect(200).body["pagination"]["total_count"],
        1,
        "recent events stay"
    );
});

both_databases!(registry_changes_are_their_organizations_events, |db: Db| {
    let server = Server::builder(db).without_rate_limits().start();
    let alice = server.api(&server.user_token("alice"));
    create_org(&alice, "acme");
    // A provider published the way CI does (key, provider, version, signed sums, zip)...
    let gpg = Gpg::new("audit-signer");
    let (os, arch) = this_platform();
    providers::publish(&alice, "acme", "hello", "1.0.0", (&os, &arch), &gpg);
    // ... a module version uploaded, and the key's removal.
    alice
        .post(
            "organizations/acme/registry-modules",
            &json!({"data": {"type": "registry-modules",
                    "attributes": {"name": "vpc", "provider": "aws", "registry-name": "private"}}}),
        )
        .expect(201);
    let version = alice
        .post(
            "registry-modules/acme/vpc/aws/versions",
            &json!({"data": {"type": "registry-module-versions",
                    "attributes": {"version": "1.0.0"}}}),
        )
        .expect(201);
    let upload = version.body["data"]["links"]["upload"]
        .as_str()
        .unwrap()
        .to_string();
    alice
        .put_unauthenticated(&upload, &tarball(&[("main.tf", "")]))
        .expect(200);
    alice
        .delete(&format!(
            "/api/registry/private/v2/gpg-keys/acme/{}",
            gpg.key_id
        ))
        .ok();

    let routes = [
        "POST /api/registry/:registry_name/v2/gpg-keys",
        "POST /api/v2/organizations/:organization/registry-providers",
        "PUT /_uploads/provider-shasums/:token",
        "PUT /_uploads/provider-shasums-sig/:token",
        "PUT /_uploads/provider-binary/:token",
        "PUT /_uploads/modules/object/:token",
        "DELETE /api/registry/:registry_name/v2/gpg-keys/:namespace/:key_id",
    ];
    let events = events_until(&alice, "organizations/acme/audit-trail", |events| {
        routes.iter().all(|route| has_route(events, route))
    });
    let org_id = find(&events, routes[1])["auth"]["organization_id"].clone();
    for route in routes {
        assert_eq!(
            find(&events, route)["auth"]["organization_id"],
            org_id,
            "{route}"
        );
    }
    // None of it is a site event.
    let admin = server.api(&server.admin_token());
    let site = admin.get("admin/audit-trail").expect(200);
    let site_events = site.body["data"].as_array().unwrap();
    for route in routes {
        assert!(
            !site_events
                .iter()
                .any(|e| e["resource"]["meta"]["route"] == route
                    && e["auth"]["organization_id"].is_null()),
            "{route} recorded without its organization"
        );
    }
});
