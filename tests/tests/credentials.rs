//! The server keeps the credentials it has read between requests (crates/domain/src/
//! credentials.rs). These tests use each credential until it is kept, change what it stands
//! for (through the API, and behind the server's back in SQL, as an operator would), and
//! check the very next request obeys the change. replicas.rs does the same across replicas.

use serde_json::json;
use terrace_tests::access::{add_member, create_team};
use terrace_tests::{both_databases, Api, Db, Server};

fn start(db: Db) -> Server {
    Server::builder(db).without_rate_limits().start()
}

fn create_org(owner: &Api, name: &str) {
    owner
        .post(
            "organizations",
            &json!({"data": {"type": "organizations",
                "attributes": {"name": name, "email": format!("admin@{name}.example")}}}),
        )
        .expect(201);
}

/// Uses `api` on `path` a few times, each answered `status`: what it is read from is kept.
fn use_until_kept(api: &Api, path: &str, status: u16) {
    for _ in 0..3 {
        api.get(path).expect(status);
    }
}

/// A new API token of the user `bob`'s own, made with `bob`; returns its ID and secret.
fn new_token(bob: &Api, user_id: &str) -> (String, String) {
    let made = bob
        .post(
            &format!("users/{user_id}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "second"}}}),
        )
        .expect(201);
    (made.id(), made.attr("token").as_str().unwrap().to_string())
}

both_databases!(tokens_revoked_are_refused_at_once, |db| {
    let server = start(db);
    let bob = server.api(&server.user_token("bob"));
    let bob_id = bob.get("account/details").expect(200).id();

    // Revoked through the API.
    let (id, secret) = new_token(&bob, &bob_id);
    let second = server.api(&secret);
    use_until_kept(&second, "account/details", 200);
    bob.delete(&format!("authentication-tokens/{id}"))
        .expect(204);
    second.get("account/details").expect(401);

    // Deleted behind the server's back.
    let (id, secret) = new_token(&bob, &bob_id);
    let third = server.api(&secret);
    use_until_kept(&third, "account/details", 200);
    assert_eq!(
        server.sql(&format!("DELETE FROM tokens WHERE id = '{id}'")),
        1
    );
    third.get("account/details").expect(401);

    // Expired behind the server's back.
    let (id, secret) = new_token(&bob, &bob_id);
    let fourth = server.api(&secret);
    use_until_kept(&fourth, "account/details", 200);
    let past = match db {
        Db::Postgres => "NOW() - INTERVAL '1 minute'",
        Db::Sqlite => "'2020-01-01T00:00:00+00:00'",
    };
    server.sql(&format!(
        "UPDATE tokens SET expires_at = {past} WHERE id = '{id}'"
    ));
    fourth.get("account/details").expect(401);

    // The first token was used all along and still works.
    bob.get("account/details").expect(200);
});

both_databases!(users_suspended_are_refused_at_once, |db| {
    let server = start(db);
    let admin = server.api(&server.admin_token());
    let bob = server.api(&server.user_token("bob"));
    let bob_id = bob.get("account/details").expect(200).id();
    use_until_kept(&bob, "account/details", 200);

    admin
        .post(&format!("admin/users/{bob_id}/actions/suspend"), &json!({}))
        .expect(200);
    bob.get("account/details").expect(401);
    admin
        .post(
            &format!("admin/users/{bob_id}/actions/unsuspend"),
            &json!({}),
        )
        .expect(200);
    bob.get("account/details").expect(200);

    // Made a site administrator in SQL: the next request is an administrator's.
    bob.get("admin/users").expect(404);
    server.sql(&format!(
        "UPDATE users SET is_site_admin = TRUE WHERE id = '{bob_id}'"
    ));
    bob.get("admin/users").expect(200);
});

both_databases!(members_removed_lose_access_at_once, |db| {
    let server = start(db);
    let owner = server.api(&server.admin_token());
    create_org(&owner, "acme");
    let team = create_team(
        &owner,
        "acme",
        "builders",
        json!({"manage-workspaces": true}),
    );
    let bob = server.api(&server.user_token("bob"));
    let bob_id = bob.get("account/details").expect(200).id();
    add_member(&owner, "acme", &team, "bob");
    let workspaces = "organizations/acme/workspaces";
    use_until_kept(&bob, workspaces, 200);

    // Out of the team: still a member, without its permission to manage workspaces.
    let create = |api: &Api, name: &str| {
        api.post(
            workspaces,
            &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
        )
    };
    create(&bob, "first").expect(201);
    owner
        .send_json(
            "DELETE",
            &format!("teams/{team}/relationships/users"),
            &json!({"data": [{"type": "users", "id": "bob"}]}),
        )
        .expect(204);
    create(&bob, "second").expect(403);
    use_until_kept(&bob, workspaces, 200);

    // Out of the organization: it is not found.
    let memberships = owner
        .get("organizations/acme/organization-memberships")
        .expect(200);
    let membership = memberships
        .data()
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["relationships"]["user"]["data"]["id"] == bob_id.as_str())
        .expect("bob's membership")["id"]
        .as_str()
        .unwrap()
        .to_string();
    owner
        .delete(&format!("organization-memberships/{membership}"))
        .expect(204);
    bob.get(workspaces).expect(404);
});

both_databases!(
    organizations_renamed_are_found_by_their_new_name_at_once,
    |db| {
        let server = start(db);
        let owner = server.api(&server.admin_token());
        create_org(&owner, "acme");
        use_until_kept(&owner, "organizations/acme", 200);
        use_until_kept(&owner, "organizations/acme/workspaces", 200);
        owner
            .patch(
                "organizations/acme",
                &json!({"data": {"type": "organizations", "attributes": {"name": "acme-two"}}}),
            )
            .expect(200);
        owner.get("organizations/acme/workspaces").expect(404);
        owner.get("organizations/acme-two/workspaces").expect(200);
        // A new organization takes the old name: it is the new one that is found.
        owner
            .post(
                "organizations",
                &json!({"data": {"type": "organizations",
                "attributes": {"name": "acme", "email": "new@acme.example"}}}),
            )
            .expect(201);
        assert_eq!(
            owner.get("organizations/acme").expect(200).attr("email"),
            "new@acme.example"
        );
        owner.get("organizations/acme/workspaces").expect(200);
    }
);
