//! Teams, organization memberships, invitations, team tokens and organization tokens, end to
//! end against the real server: what owners, members, team managers, membership managers,
//! outsiders and tokens can and cannot do, and that one organization never reaches another.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

fn start(db: Db) -> Server {
    Server::builder(db).without_rate_limits().start()
}

fn create_org(api: &Api, name: &str) {
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": name, "email": format!("admin@{name}.example")}}}),
    )
    .expect(201);
}

fn team_body(attributes: Value) -> Value {
    json!({"data": {"type": "teams", "attributes": attributes}})
}

fn create_team(api: &Api, org: &str, attributes: Value) -> Reply {
    api.post(
        &format!("organizations/{org}/teams"),
        &team_body(attributes),
    )
}

fn invite(api: &Api, org: &str, email: &str) -> Reply {
    api.post(
        &format!("organizations/{org}/organization-memberships"),
        &json!({"data": {"type": "organization-memberships", "attributes": {"email": email}}}),
    )
}

fn members(kind: &str, ids: &[&str]) -> Value {
    json!({"data": ids.iter().map(|id| json!({"type": kind, "id": id})).collect::<Vec<_>>()})
}

/// Adds users (by username) to a team.
fn add_users(api: &Api, team_id: &str, usernames: &[&str]) -> Reply {
    api.post(
        &format!("teams/{team_id}/relationships/users"),
        &members("users", usernames),
    )
}

fn ids(reply: &Reply) -> BTreeSet<String> {
    reply
        .data()
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn names(reply: &Reply) -> BTreeSet<String> {
    reply
        .data()
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["attributes"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn total(reply: &Reply) -> u64 {
    reply.body["meta"]["pagination"]["total-count"]
        .as_u64()
        .expect("a total count")
}

/// The caller's membership of `org`.
fn own_membership(api: &Api, org: &str) -> String {
    let own = api.get("organization-memberships").ok();
    let found = own
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["relationships"]["organization"]["data"]["id"] == org)
        .unwrap_or_else(|| panic!("no membership of {org}: {}", own.text));
    found["id"].as_str().unwrap().to_string()
}

fn owners_team(api: &Api, org: &str) -> String {
    let list = api
        .get(&format!("organizations/{org}/teams?filter[names]=owners"))
        .ok();
    list.data()[0]["id"].as_str().unwrap().to_string()
}

/// Makes `username` (created now) a member of `org` on a new team with `access`; returns the
/// user's token and the team's ID.
fn member_on_team(
    server: &Server,
    owner: &Api,
    org: &str,
    username: &str,
    team: &str,
    access: Value,
) -> (Api, String) {
    let token = server.user_token(username);
    invite(owner, org, &format!("{username}@terrace.local")).expect(201);
    let team_id = create_team(
        owner,
        org,
        json!({"name": team, "organization-access": access, "visibility": "secret"}),
    )
    .expect(201)
    .id();
    add_users(owner, &team_id, &[username]).expect(204);
    (server.api(&token), team_id)
}

both_databases!(owners_manage_teams, |db| {
    let server = start(db);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");

    let entitlements = owner.get("organizations/acme/entitlement-set").ok();
    assert_eq!(entitlements.attr("teams"), true, "{}", entitlements.text);
    let created = create_team(
        &owner,
        "acme",
        json!({"name": "developers", "visibility": "organization",
            "organization-access": {"manage-workspaces": true}, "sso-team-id": "grp-1"}),
    )
    .expect(201);
    let id = created.id();
    assert_eq!(created.attr("name"), "developers");
    assert_eq!(created.attr("visibility"), "organization");
    assert_eq!(
        created.attr("organization-access")["manage-workspaces"],
        true
    );
    assert_eq!(created.attr("organization-access")["manage-teams"], false);
    assert_eq!(created.attr("sso-team-id"), "grp-1");
    assert_eq!(created.attr("users-count"), 0);
    assert_eq!(created.attr("permissions")["can-destroy"], true);
    assert_eq!(created.attr("permissions")["can-update-membership"], true);
    assert_eq!(
        created.data()["relationships"]["organization"]["data"]["id"],
        "acme"
    );

    // Names are unique in the organization; bad visibility and bad permissions are refused.
    create_team(&owner, "acme", json!({"name": "developers"})).expect_error(422, "taken");
    create_team(&owner, "acme", json!({"name": "x", "visibility": "public"}))
        .expect_error(422, "visibility");
    create_team(
        &owner,
        "acme",
        json!({"name": "x", "organization-access": {"manage-teams": "yes"}}),
    )
    .expect_error(422, "organization-access");
    create_team(&owner, "acme", json!({"visibility": "secret"})).expect_error(422, "name");

    // A partial organization-access changes only the permissions it names.
    let updated = owner
        .patch(
            &format!("teams/{id}"),
            &team_body(
                json!({"name": "builders", "organization-access": {"manage-projects": true}}),
            ),
        )
        .ok();
    assert_eq!(updated.attr("name"), "builders");
    assert_eq!(
        updated.attr("organization-access")["manage-workspaces"],
        true
    );
    assert_eq!(updated.attr("organization-access")["manage-projects"], true);
    assert_eq!(
        owner.get(&format!("teams/{id}")).ok().attr("name"),
        "builders"
    );

    let list = owner.get("organizations/acme/teams").ok();
    assert_eq!(
        names(&list),
        ["builders", "owners"].map(String::from).into()
    );
    assert_eq!(total(&list), 2);
    let filtered = owner.get("organizations/acme/teams?q=BUILD").ok();
    assert_eq!(names(&filtered), ["builders"].map(String::from).into());

    // The owners team is never deleted, renamed or narrowed.
    let owners = owners_team(&owner, "acme");
    let owners_view = owner.get(&format!("teams/{owners}?include=users")).ok();
    assert_eq!(owners_view.attr("users-count"), 1);
    assert_eq!(owners_view.attr("permissions")["can-destroy"], false);
    assert_eq!(
        owners_view.body["included"][0]["attributes"]["username"],
        "admin"
    );
    owner
        .delete(&format!("teams/{owners}"))
        .expect_error(422, "owners team");
    owner
        .patch(
            &format!("teams/{owners}"),
            &team_body(json!({"name": "bosses"})),
        )
        .expect_error(422, "renamed");
    owner
        .patch(
            &format!("teams/{owners}"),
            &team_body(json!({"organization-access": {"manage-teams": false}})),
        )
        .expect_error(422, "owners team");
    assert_eq!(
        owner.get(&format!("teams/{owners}")).ok().attr("name"),
        "owners"
    );

    // Its last member cannot leave it, through either relationship.
    add_users(&owner, &owners, &["admin"]).expect(204);
    owner
        .send_json(
            "DELETE",
            &format!("teams/{owners}/relationships/users"),
            &members("users", &["admin"]),
        )
        .expect_error(422, "at least one active member");
    let admin_membership = own_membership(&owner, "acme");
    owner
        .send_json(
            "DELETE",
            &format!("teams/{owners}/relationships/organization-memberships"),
            &members("organization-memberships", &[&admin_membership]),
        )
        .expect_error(422, "at least one active member");
    owner
        .delete(&format!("organization-memberships/{admin_membership}"))
        .expect_error(422, "last owner");
    assert_eq!(
        owner
            .get(&format!("teams/{owners}"))
            .ok()
            .attr("users-count"),
        1
    );

    owner.delete(&format!("teams/{id}")).expect(204);
    owner.get(&format!("teams/{id}")).expect(404);
    owner.delete(&format!("teams/{id}")).expect(404);
});

both_databases!(memberships_and_invitations, |db| {
    let server = start(db);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    let team = create_team(&owner, "acme", json!({"name": "devs"}))
        .expect(201)
        .id();

    invite(&owner, "acme", "not-an-email").expect_error(422, "email");
    // An existing user joins at once, with the user included in the response.
    server.user_token("bob");
    let bob = invite(&owner, "acme", "BOB@terrace.local").expect(201);
    assert_eq!(bob.attr("status"), "active");
    assert_eq!(bob.body["included"][0]["attributes"]["username"], "bob");
    invite(&owner, "acme", "bob@terrace.local").expect_error(422, "already");

    // An unknown email is invited, possibly straight onto a team, and becomes an active
    // member when that user is created.
    let carol = owner
        .post(
            "organizations/acme/organization-memberships",
            &json!({"data": {"type": "organization-memberships",
                "attributes": {"email": "carol@terrace.local"},
                "relationships": {"teams": {"data": [{"type": "teams", "id": team}]}}}}),
        )
        .expect(201);
    assert_eq!(carol.attr("status"), "invited");
    let carol_id = carol.id();
    assert_eq!(
        carol.data()["relationships"]["teams"]["data"][0]["id"],
        team.as_str()
    );
    invite(&owner, "acme", "Carol@terrace.local").expect_error(422, "already");
    let invited = owner
        .get("organizations/acme/organization-memberships?filter[status]=invited")
        .ok();
    assert_eq!(ids(&invited), [carol_id.clone()].into());
    // Emails are not verified: nobody may take an invited email, or another user's, to
    // collect the invitation.
    let mallory = server.api(&server.user_token("mallory"));
    for email in ["CAROL@terrace.local", "bob@terrace.local"] {
        mallory
            .patch(
                "account/update",
                &json!({"data": {"type": "users", "attributes": {"email": email}}}),
            )
            .expect_error(422, "already in use");
    }
    mallory.get("organizations/acme").expect(404);
    let carol_token = server.user_token("carol");
    let carol_api = server.api(&carol_token);
    let accepted = owner
        .get(&format!("organization-memberships/{carol_id}?include=user"))
        .ok();
    assert_eq!(accepted.attr("status"), "active");
    assert_eq!(
        accepted.body["included"][0]["attributes"]["username"],
        "carol"
    );
    carol_api.get("organizations/acme").ok();
    let team_users = owner.get(&format!("teams/{team}?include=users")).ok();
    assert_eq!(team_users.attr("users-count"), 1);
    assert_eq!(
        team_users.body["included"][0]["attributes"]["username"],
        "carol"
    );
    let own = carol_api.get("organization-memberships").ok();
    assert_eq!(ids(&own), [carol_id.clone()].into());

    // Members read the list (q matches username or email) but do not manage it.
    let all = carol_api
        .get("organizations/acme/organization-memberships")
        .ok();
    assert_eq!(total(&all), 3);
    let q = carol_api
        .get("organizations/acme/organization-memberships?q=bo")
        .ok();
    assert_eq!(q.data().as_array().unwrap().len(), 1);
    invite(&carol_api, "acme", "dave@terrace.local").expect(403);
    carol_api
        .delete(&format!("organization-memberships/{}", bob.id()))
        .expect(403);

    // Removing a member ends their access and takes them off every team.
    owner
        .delete(&format!("organization-memberships/{carol_id}"))
        .expect(204);
    carol_api.get("organizations/acme").expect(404);
    assert_eq!(
        owner.get(&format!("teams/{team}")).ok().attr("users-count"),
        0
    );
    owner
        .get(&format!("organization-memberships/{carol_id}"))
        .expect(404);
});

both_databases!(members_see_and_do_what_their_teams_allow, |db| {
    let server = start(db);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    let secret = create_team(&owner, "acme", json!({"name": "secret-ops"}))
        .expect(201)
        .id();
    let open = create_team(
        &owner,
        "acme",
        json!({"name": "everyone", "visibility": "organization"}),
    )
    .expect(201)
    .id();
    let (member, own_team) = member_on_team(&server, &owner, "acme", "mia", "mias-team", json!({}));

    // A plain member sees organization teams and their own, never other secret ones.
    let list = member.get("organizations/acme/teams").ok();
    assert_eq!(ids(&list), [open.clone(), own_team.clone()].into());
    assert_eq!(total(&list), 2);
    member.get(&format!("teams/{secret}")).expect(404);
    member.get(&format!("teams/{own_team}")).ok();
    member.delete(&format!("teams/{secret}")).expect(404);
    add_users(&member, &secret, &["mia"]).expect(404);
    create_team(&member, "acme", json!({"name": "mine"})).expect(403);
    member.delete(&format!("teams/{open}")).expect(403);
    let open_view = member.get(&format!("teams/{open}")).ok();
    assert_eq!(open_view.attr("permissions")["can-destroy"], false);
    assert_eq!(
        open_view.attr("permissions")["can-update-membership"],
        false
    );
    // Memberships list only the teams the caller sees.
    owner
        .post(
            &format!("teams/{secret}/relationships/users"),
            &members("users", &["mia"]),
        )
        .expect(204);
    let mine = member.get("organization-memberships?include=teams").ok();
    let team_ids: BTreeSet<String> = mine.data()[0]["relationships"]["teams"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        team_ids,
        [secret.clone(), own_team.clone()].into(),
        "she is on both now"
    );
    owner
        .send_json(
            "DELETE",
            &format!("teams/{secret}/relationships/users"),
            &members("users", &["mia"]),
        )
        .expect(204);
    member.get(&format!("teams/{secret}")).expect(404);

    // Membership managers put people on teams, but do not run the organization.
    let (manager, _) = member_on_team(
        &server,
        &owner,
        "acme",
        "max",
        "people",
        json!({"manage-membership": true}),
    );
    let org = manager.get("organizations/acme").ok();
    assert_eq!(org.attr("permissions")["can-manage-users"], true);
    assert_eq!(org.attr("permissions")["can-create-team"], false);
    assert_eq!(org.attr("permissions")["can-update"], false);
    add_users(&manager, &open, &["mia"]).expect(204);
    assert_eq!(
        owner.get(&format!("teams/{open}")).ok().attr("users-count"),
        1
    );
    invite(&manager, "acme", "newbie@terrace.local").expect(201);
    manager
        .patch(
            "organizations/acme",
            &json!({"data": {"type": "organizations", "attributes": {"email": "x@evil.example"}}}),
        )
        .expect(403);
    create_team(&manager, "acme", json!({"name": "nope"})).expect(403);
    // Users outside the organization are refused, not silently added.
    server.user_token("stranger");
    add_users(&manager, &open, &["stranger"]).expect_error(422, "not a member");

    // Team managers see secret teams and manage them.
    let (teams_manager, _) = member_on_team(
        &server,
        &owner,
        "acme",
        "tom",
        "team-admins",
        json!({"manage-teams": true}),
    );
    teams_manager.get(&format!("teams/{secret}")).ok();
    teams_manager
        .patch(
            &format!("teams/{secret}"),
            &team_body(json!({"visibility": "organization"})),
        )
        .ok();
    member.get(&format!("teams/{secret}")).ok();
});

both_databases!(organizations_do_not_reach_each_other, |db| {
    let server = start(db);
    let alice = server.api(&server.user_token("alice"));
    let bob = server.api(&server.user_token("bob"));
    create_org(&alice, "alpha");
    create_org(&bob, "bravo");
    let team = create_team(
        &alice,
        "alpha",
        json!({"name": "alpha-devs", "visibility": "organization"}),
    )
    .expect(201)
    .id();
    let membership = invite(&alice, "alpha", "someone@alpha.example")
        .expect(201)
        .id();
    let owners = owners_team(&alice, "alpha");
    let alice_membership = own_membership(&alice, "alpha");

    // Bob, owner of bravo, reaches nothing of alpha: 404 everywhere, as if it did not exist.
    bob.get("organizations/alpha/teams").expect(404);
    bob.get("organizations/alpha/organization-memberships")
        .expect(404);
    create_team(&bob, "alpha", json!({"name": "intruders"})).expect(404);
    invite(&bob, "alpha", "bob@terrace.local").expect(404);
    for id in [&team, &owners] {
        bob.get(&format!("teams/{id}")).expect(404);
        bob.patch(&format!("teams/{id}"), &team_body(json!({"name": "mine"})))
            .expect(404);
        bob.delete(&format!("teams/{id}")).expect(404);
        add_users(&bob, id, &["bob"]).expect(404);
        bob.post(&format!("teams/{id}/authentication-token"), &json!({}))
            .expect(404);
        bob.get(&format!("teams/{id}/authentication-token"))
            .expect(404);
    }
    for id in [&membership, &alice_membership] {
        bob.get(&format!("organization-memberships/{id}"))
            .expect(404);
        bob.delete(&format!("organization-memberships/{id}"))
            .expect(404);
    }
    bob.post("organizations/alpha/authentication-token", &json!({}))
        .expect(404);
    // Bob's own team cannot take alpha's memberships, nor his memberships alpha's teams.
    let bravo_team = create_team(&bob, "bravo", json!({"name": "b"}))
        .expect(201)
        .id();
    bob.post(
        &format!("teams/{bravo_team}/relationships/organization-memberships"),
        &members("organization-memberships", &[&alice_membership]),
    )
    .expect_error(422, "not found");
    bob.post(
        "organizations/bravo/organization-memberships",
        &json!({"data": {"type": "organization-memberships", "attributes": {"email": "x@bravo.example"},
            "relationships": {"teams": {"data": [{"type": "teams", "id": team}]}}}}),
    )
    .expect_error(422, "not found");
    // Nothing of alpha in any of Bob's lists, includes or counts.
    for path in [
        "organizations/bravo/teams?include=users,organization-memberships",
        "organizations/bravo/organization-memberships?include=user,teams",
        "organization-memberships?include=user,teams",
    ] {
        let reply = bob.get(path).ok();
        for secret in [
            &team,
            &owners,
            &membership,
            &alice_membership,
            &"alpha".to_string(),
        ] {
            assert!(
                !reply.text.contains(secret.as_str()),
                "{path} mentions {secret}"
            );
        }
    }
    assert_eq!(total(&bob.get("organizations/bravo/teams").ok()), 2);
    assert_eq!(
        alice.get(&format!("teams/{team}")).ok().attr("name"),
        "alpha-devs"
    );
});

both_databases!(team_and_organization_tokens, |db| {
    let server = start(db);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    create_org(&owner, "other");
    let team = create_team(
        &owner,
        "acme",
        json!({"name": "ci", "organization-access": {"manage-workspaces": true}}),
    )
    .expect(201)
    .id();

    owner
        .get(&format!("teams/{team}/authentication-token"))
        .expect(404);
    let created = owner
        .post(&format!("teams/{team}/authentication-token"), &json!({}))
        .expect(201);
    assert_eq!(created.data()["type"], "authentication-tokens");
    let secret = created.attr("token").as_str().unwrap().to_string();
    let shown = owner
        .get(&format!("teams/{team}/authentication-token"))
        .ok();
    assert_eq!(shown.id(), created.id());
    assert!(shown.attr("token").is_null(), "the secret is shown once");
    assert!(!shown.text.contains(&secret));

    // The team token acts with the team's permissions, in its organization only.
    let ci = server.api(&secret);
    ci.post(
        "organizations/acme/workspaces",
        &json!({"data": {"type": "workspaces", "attributes": {"name": "from-ci"}}}),
    )
    .expect(201);
    ci.delete("organizations/acme").expect(403);
    ci.patch(
        "organizations/acme",
        &json!({"data": {"type": "organizations", "attributes": {"email": "x@evil.example"}}}),
    )
    .expect(403);
    create_team(&ci, "acme", json!({"name": "more"})).expect(403);
    ci.get("organizations/other").expect(404);
    ci.get("organizations/other/workspaces").expect(404);
    ci.post("organizations/acme/authentication-token", &json!({}))
        .expect(403);

    // Described tokens are more tokens of the team: each works, a description is unique
    // within the team (TFE's words), and the undescribed token's endpoints leave them be.
    let described = |description: &str| {
        owner.post(
            &format!("teams/{team}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": description}}}),
        )
    };
    let deploy = described("deploy").expect(201);
    assert_eq!(deploy.attr("description"), "deploy");
    let deploy_ci = server.api(deploy.attr("token").as_str().unwrap());
    let nightly = server.api(
        described("nightly")
            .expect(201)
            .attr("token")
            .as_str()
            .unwrap(),
    );
    let taken = described("deploy");
    assert_eq!(taken.status, 422, "{}", taken.text);
    assert!(
        taken
            .text
            .contains("Validation failed: Description has already been taken"),
        "{}",
        taken.text
    );
    owner
        .post(
            &format!("teams/{team}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {}}}),
        )
        .expect_error(422, "description");
    owner
        .post(
            &format!("teams/{team}/authentication-token"),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": "sneaky"}}}),
        )
        .expect_error(422, "authentication-tokens");
    assert_eq!(
        owner
            .get(&format!("teams/{team}/authentication-token"))
            .ok()
            .id(),
        created.id(),
        "the undescribed token is still the one read here"
    );
    ci.post(
        &format!("teams/{team}/authentication-tokens"),
        &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "x"}}}),
    )
    .expect(403);

    // Regenerating replaces the token: the old one stops working at once.
    let again = owner
        .post(&format!("teams/{team}/authentication-token"), &json!({}))
        .expect(201);
    let secret2 = again.attr("token").as_str().unwrap().to_string();
    assert_ne!(secret, secret2);
    ci.get("organizations/acme").expect(401);
    let ci2 = server.api(&secret2);
    ci2.get("organizations/acme").ok();
    owner
        .delete(&format!("teams/{team}/authentication-token"))
        .expect(204);
    ci2.get("organizations/acme").expect(401);
    owner
        .delete(&format!("teams/{team}/authentication-token"))
        .expect(404);
    deploy_ci.get("organizations/acme").ok();
    owner
        .delete(&format!("authentication-tokens/{}", deploy.id()))
        .expect(204);
    deploy_ci.get("organizations/acme").expect(401);
    nightly.get("organizations/acme").ok();

    // Deleting the team revokes its token.
    let ci3 = owner
        .post(&format!("teams/{team}/authentication-token"), &json!({}))
        .expect(201)
        .attr("token")
        .as_str()
        .unwrap()
        .to_string();
    server.api(&ci3).get("organizations/acme").ok();
    owner.delete(&format!("teams/{team}")).expect(204);
    server.api(&ci3).get("organizations/acme").expect(401);
    nightly.get("organizations/acme").expect(401);

    // An expired token is refused; a past expiry is refused when asked for.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let past = (chrono::Utc::now() - chrono::Duration::seconds(60)).to_rfc3339();
    let team2 = create_team(&owner, "acme", json!({"name": "short"}))
        .expect(201)
        .id();
    owner
        .post(
            &format!("teams/{team2}/authentication-token"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {"expired-at": past}}}),
        )
        .expect_error(422, "future");
    let short = owner
        .post(
            &format!("teams/{team2}/authentication-token"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {"expired-at": soon}}}),
        )
        .expect(201);
    assert!(short.attr("expired-at").is_string());
    let short = server.api(short.attr("token").as_str().unwrap());
    short.get("organizations/acme").ok();
    std::thread::sleep(Duration::from_secs(3));
    short.get("organizations/acme").expect(401);

    // The organization token: owners only; it configures but never operates.
    let org_token = owner
        .post("organizations/acme/authentication-token", &json!({}))
        .expect(201);
    let org_secret = org_token.attr("token").as_str().unwrap().to_string();
    assert!(owner
        .get("organizations/acme/authentication-token")
        .ok()
        .attr("token")
        .is_null());
    let org_api = server.api(&org_secret);
    let ws = org_api
        .post(
            "organizations/acme/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "by-org-token"}}}),
        )
        .expect(201)
        .id();
    org_api
        .post(
            "runs",
            &json!({"data": {"type": "runs", "attributes": {},
                "relationships": {"workspace": {"data": {"type": "workspaces", "id": ws}}}}}),
        )
        .expect(403);
    org_api
        .patch(
            "organizations/acme",
            &json!({"data": {"type": "organizations", "attributes": {"email": "x@evil.example"}}}),
        )
        .expect(403);
    org_api
        .post("organizations/acme/authentication-token", &json!({}))
        .expect(403);
    org_api.get("organizations/other").expect(404);
    // Regenerating it revokes the old one.
    owner
        .post("organizations/acme/authentication-token", &json!({}))
        .expect(201);
    org_api.get("organizations/acme").expect(401);
    owner
        .delete("organizations/acme/authentication-token")
        .expect(204);
    owner
        .get("organizations/acme/authentication-token")
        .expect(404);
});

#[test]
fn members_manage_their_team_token_when_the_team_allows_it() {
    let server = start(Db::Sqlite);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    let (member, team) = member_on_team(&server, &owner, "acme", "mia", "mias", json!({}));
    let other = create_team(
        &owner,
        "acme",
        json!({"name": "others", "visibility": "organization"}),
    )
    .expect(201)
    .id();

    let view = member.get(&format!("teams/{team}")).ok();
    assert_eq!(view.attr("allow-member-token-management"), true);
    assert_eq!(view.attr("permissions")["can-update-api-token"], true);
    let token = member
        .post(&format!("teams/{team}/authentication-token"), &json!({}))
        .expect(201);
    assert!(token.attr("token").is_string());
    member
        .get(&format!("teams/{team}/authentication-token"))
        .ok();
    // Not on the other team: no token of it.
    member
        .post(&format!("teams/{other}/authentication-token"), &json!({}))
        .expect(403);

    owner
        .patch(
            &format!("teams/{team}"),
            &team_body(json!({"allow-member-token-management": false})),
        )
        .ok();
    assert_eq!(
        member
            .get(&format!("teams/{team}"))
            .ok()
            .attr("permissions")["can-update-api-token"],
        false
    );
    member
        .post(&format!("teams/{team}/authentication-token"), &json!({}))
        .expect(403);
    member
        .delete(&format!("teams/{team}/authentication-token"))
        .expect(403);
    owner
        .get(&format!("teams/{team}/authentication-token"))
        .ok();
}

// Team and membership managers who are not owners cannot make anyone an owner, nor widen
// what teams may do without `manage-organization-access`: every way into the owners team
// (its members, its token, its settings and IdP group) is for owners only.
both_databases!(managers_cannot_make_themselves_owners, |db| {
    let server = start(db);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    let (mia, mia_team) = member_on_team(
        &server,
        &owner,
        "acme",
        "mia",
        "people-ops",
        json!({"manage-teams": true, "manage-membership": true}),
    );
    let owners = owners_team(&owner, "acme");
    add_users(&mia, &owners, &["mia"]).expect_error(403, "owners team");
    mia.post(
        &format!("teams/{owners}/relationships/organization-memberships"),
        &members("organization-memberships", &[&own_membership(&mia, "acme")]),
    )
    .expect_error(403, "owners team");
    mia.post(&format!("teams/{owners}/authentication-token"), &json!({}))
        .expect_error(403, "owners team");
    mia.patch(
        &format!("teams/{owners}"),
        &team_body(json!({"sso-team-id": "everyone"})),
    )
    .expect_error(403, "owners team");
    let shown = mia.get(&format!("teams/{owners}")).ok();
    let p = &shown.attr("permissions");
    assert_eq!(p["can-update-membership"], false, "{}", shown.text);
    assert_eq!(p["can-update-api-token"], false, "{}", shown.text);

    // Widening a team's organization-wide permissions needs manage-organization-access.
    mia.patch(
        &format!("teams/{mia_team}"),
        &team_body(json!({"organization-access": {"manage-workspaces": true}})),
    )
    .expect_error(403, "change what teams may do");
    create_team(
        &mia,
        "acme",
        json!({"name": "shadow", "organization-access": {"manage-workspaces": true}}),
    )
    .expect_error(403, "change what teams may do");
    let plain = create_team(&mia, "acme", json!({"name": "plain"})).expect(201);
    assert_eq!(
        plain.attr("permissions")["can-update-organization-access"],
        false
    );
    // Nothing changed: mia is not an owner and her team holds what it held.
    let acme = mia.get("organizations/acme").ok();
    assert_eq!(acme.attr("permissions")["can-update"], false);
    let team = owner.get(&format!("teams/{mia_team}")).ok();
    assert_eq!(team.attr("organization-access")["manage-workspaces"], false);
    let owners_members = owner.get(&format!("teams/{owners}?include=users")).ok();
    assert!(
        !owners_members.text.contains("\"mia\""),
        "{}",
        owners_members.text
    );
});

/// An invitation waits while its email names no single user, and is accepted when the user
/// with that email signs in.
#[test]
fn invitations_are_accepted_at_sign_in() {
    let server = start(Db::Sqlite);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    for name in ["twin-a", "twin-b"] {
        server.admin_with_env(
            &["user", "create", name, "--email", "twins@terrace.local"],
            &[("TERRACE_NEW_USER_PASSWORD", "user-password-1")],
        );
    }
    let invited = invite(&owner, "acme", "twins@terrace.local").expect(201);
    assert_eq!(
        invited.attr("status"),
        "invited",
        "two users share the email"
    );
    let twin = server.api(&server.admin(&["token", "create", "--user", "twin-b"]));
    twin.get("organizations/acme").expect(404);

    terrace_tests::browser::Browser::new(&server).sign_in("twin-b", "user-password-1");
    let accepted = owner
        .get(&format!(
            "organization-memberships/{}?include=user",
            invited.id()
        ))
        .ok();
    assert_eq!(accepted.attr("status"), "active");
    assert_eq!(
        accepted.body["included"][0]["attributes"]["username"],
        "twin-b"
    );
    twin.get("organizations/acme").ok();
}

/// `user-tokens-enabled: false` refuses the organization's members' user tokens (401) but
/// tells an outsider nothing (404), and leaves team tokens working. A team token is reached
/// by its ID and in the organization's list only by those who may manage it.
#[test]
fn organizations_may_refuse_user_tokens() {
    let server = start(Db::Sqlite);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    let (member, team) = member_on_team(&server, &owner, "acme", "mia", "mias", json!({}));
    let stranger = server.api(&server.user_token("stranger"));
    let token = owner
        .post(&format!("teams/{team}/authentication-token"), &json!({}))
        .expect(201);
    let team_api = server.api(token.attr("token").as_str().unwrap());
    let token_id = token.id();
    let owners = owners_team(&owner, "acme");
    let owners_token = owner
        .post(&format!("teams/{owners}/authentication-token"), &json!({}))
        .expect(201);
    let owners_api = server.api(owners_token.attr("token").as_str().unwrap());

    let settings = |enabled: bool| json!({"data": {"type": "organizations", "attributes": {"user-tokens-enabled": enabled}}});
    let updated = owner.patch("organizations/acme", &settings(false)).ok();
    assert_eq!(updated.attr("user-tokens-enabled"), false);
    member.get("organizations/acme").expect(401);
    owner.get("organizations/acme").expect(401);
    stranger.get("organizations/acme").expect(404);
    team_api.get("organizations/acme").ok();

    // The owners' team token turns the setting back.
    owners_api.patch("organizations/acme", &settings(true)).ok();
    owner.get("organizations/acme").ok();

    stranger
        .get(&format!("authentication-tokens/{token_id}"))
        .expect(404);
    stranger.get("organizations/acme/team-tokens").expect(404);
    let listed = owner.get("organizations/acme/team-tokens?q=MIA").ok();
    assert_eq!(ids(&listed), BTreeSet::from([token_id.clone()]));
    assert_eq!(
        owner
            .get(&format!("authentication-tokens/{token_id}"))
            .ok()
            .body["data"]["relationships"]["team"]["data"]["id"],
        json!(team)
    );
}
