//! Least privilege inside one organization: teams hold read, plan, write, admin or custom
//! access to workspaces (`team-workspaces`), access to projects that their workspaces
//! inherit (`team-projects`) and organization-wide permissions (`organization-access`). Each
//! member sees exactly the workspaces their teams were given, each workspace's `permissions`
//! object tells the truth, and every request beyond a level is refused with a message that
//! says what is missing, on SQLite and on PostgreSQL.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use terrace_tests::access::{
    add_member, create_team, create_workspace, grant_project, grant_workspace,
};
use terrace_tests::{both_databases, Api, Db, Server};

const ORG: &str = "default";

fn server(db: Db) -> (Server, Api) {
    let server = Server::builder(db).without_rate_limits().start();
    let owner = server.api(&server.admin_token());
    (server, owner)
}

/// A user on a new team of the organization; returns their API client and the team.
fn member(
    server: &Server,
    owner: &Api,
    username: &str,
    organization_access: Value,
) -> (Api, String) {
    let token = server.user_token(username);
    let team = create_team(owner, ORG, &format!("{username}-team"), organization_access);
    add_member(owner, ORG, &team, username);
    (server.api(&token), team)
}

fn listed_names(api: &Api, path: &str) -> BTreeSet<String> {
    let reply = api.get(path).ok();
    let names: BTreeSet<String> = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["attributes"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        reply.body["meta"]["pagination"]["total-count"],
        names.len(),
        "the count counts only what the caller sees: {}",
        reply.text
    );
    names
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn permissions(api: &Api, ws: &str) -> Value {
    api.get(&format!("workspaces/{ws}"))
        .ok()
        .attr("permissions")
        .clone()
}

fn configuration_version(api: &Api, ws: &str) -> terrace_tests::Reply {
    api.post(
        &format!("workspaces/{ws}/configuration-versions"),
        &json!({"data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": false}}}),
    )
}

fn variable(api: &Api, ws: &str, key: &str) -> terrace_tests::Reply {
    api.post(
        &format!("workspaces/{ws}/vars"),
        &json!({"data": {"type": "vars", "attributes": {"key": key, "value": "v", "category": "terraform"}}}),
    )
}

both_databases!(workspace_levels, |db| {
    let (server, owner) = server(db);
    let ws: Vec<(&str, String)> = [
        "ws-read",
        "ws-plan",
        "ws-write",
        "ws-admin",
        "ws-custom",
        "ws-hidden",
    ]
    .into_iter()
    .map(|name| (name, create_workspace(&owner, ORG, name, None)))
    .collect();
    let id = |name: &str| ws.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let (dev, team) = member(&server, &owner, "dev", json!({}));
    for level in ["read", "plan", "write", "admin"] {
        grant_workspace(
            &owner,
            &team,
            &id(&format!("ws-{level}")),
            json!({"access": level}),
        );
    }
    grant_workspace(
        &owner,
        &team,
        &id("ws-custom"),
        json!({"access": "custom", "runs": "plan", "state-versions": "read-outputs", "variables": "none"}),
    );

    // The member sees the organization and exactly the five workspaces, nothing of the sixth.
    let org = dev.get(&format!("organizations/{ORG}")).ok();
    assert_eq!(
        org.attr("permissions")["can-create-workspace"],
        false,
        "{}",
        org.text
    );
    assert_eq!(org.attr("permissions")["can-update"], false);
    assert_eq!(
        listed_names(&dev, &format!("organizations/{ORG}/workspaces")),
        names(&["ws-read", "ws-plan", "ws-write", "ws-admin", "ws-custom"])
    );
    dev.get(&format!("workspaces/{}", id("ws-hidden")))
        .expect(404);
    dev.get(&format!("organizations/{ORG}/workspaces/ws-hidden"))
        .expect(404);
    dev.get(&format!("workspaces/{}/vars", id("ws-hidden")))
        .expect(404);
    dev.post(
        &format!("workspaces/{}/actions/lock", id("ws-hidden")),
        &json!({}),
    )
    .expect(404);

    // What each level advertises.
    let expect = [
        // (workspace, queue-run, queue-apply, lock, update, read-state-versions, read-variable, update-variable)
        ("ws-read", false, false, false, false, true, true, false),
        ("ws-plan", true, false, false, false, true, true, false),
        ("ws-write", true, true, true, false, true, true, true),
        ("ws-admin", true, true, true, true, true, true, true),
        ("ws-custom", true, false, false, false, false, false, false),
    ];
    for (name, run, apply, lock, update, state, read_var, write_var) in expect {
        let p = permissions(&dev, &id(name));
        let got = (
            p["can-queue-run"] == true,
            p["can-queue-apply"] == true,
            p["can-lock"] == true,
            p["can-update"] == true,
            p["can-read-state-versions"] == true,
            p["can-read-variable"] == true,
            p["can-update-variable"] == true,
        );
        assert_eq!(
            got,
            (run, apply, lock, update, state, read_var, write_var),
            "{name}: {p}"
        );
    }
    assert_eq!(
        permissions(&dev, &id("ws-custom"))["can-read-state-outputs"],
        true
    );

    // And what each level enforces, with messages that say what is missing.
    configuration_version(&dev, &id("ws-read")).expect_error(403, "not allowed to queue plans");
    variable(&dev, &id("ws-read"), "nope").expect_error(403, "not allowed to update variables");
    dev.get(&format!("workspaces/{}/vars", id("ws-read"))).ok();
    configuration_version(&dev, &id("ws-plan")).expect(201);
    dev.post(
        &format!("workspaces/{}/actions/lock", id("ws-plan")),
        &json!({}),
    )
    .expect_error(403, "not allowed to lock workspaces");
    dev.post(
        &format!("workspaces/{}/actions/lock", id("ws-write")),
        &json!({}),
    )
    .expect(200);
    dev.post(
        &format!("workspaces/{}/actions/unlock", id("ws-write")),
        &json!({}),
    )
    .expect(200);
    variable(&dev, &id("ws-write"), "region").expect(201);
    let rename = json!({"data": {"type": "workspaces", "attributes": {"description": "mine now"}}});
    dev.patch(&format!("workspaces/{}", id("ws-write")), &rename)
        .expect_error(403, "not allowed to update workspace settings");
    dev.patch(&format!("workspaces/{}", id("ws-admin")), &rename)
        .ok();
    dev.get(&format!("workspaces/{}/vars", id("ws-custom")))
        .expect_error(403, "not allowed to read variables");
    let uploaded = configuration_version(&dev, &id("ws-custom"))
        .expect(201)
        .id();

    // A workspace read names its variables and its current configuration version, each only
    // to a caller who may read them.
    let hidden_var = variable(&owner, &id("ws-custom"), "hidden")
        .expect(201)
        .id();
    let related = |api: &Api, name: &str| {
        let reply = api.get(&format!("workspaces/{}", id(name))).ok();
        reply.body["data"]["relationships"].clone()
    };
    let seen = related(&owner, "ws-custom");
    assert_eq!(seen["vars"]["data"][0]["id"], hidden_var.as_str(), "{seen}");
    assert_eq!(
        seen["current-configuration-version"]["data"]["id"],
        uploaded.as_str()
    );
    let seen = related(&dev, "ws-custom");
    assert!(seen.get("vars").is_none(), "variables: none: {seen}");
    assert_eq!(
        seen["current-configuration-version"]["data"]["id"],
        uploaded.as_str()
    );
    let region = owner
        .get(&format!("workspaces/{}/vars", id("ws-write")))
        .ok();
    let seen = related(&dev, "ws-write");
    assert_eq!(
        seen["vars"]["data"][0]["id"], region.body["data"][0]["id"],
        "{seen}"
    );
    dev.post(
        &format!("organizations/{ORG}/workspaces"),
        &json!({"data": {"type": "workspaces", "attributes": {"name": "sneaky"}}}),
    )
    .expect_error(403, "not allowed to create workspaces");

    // Team access is for workspace administrators: the member may share ws-admin, not
    // ws-write, and cannot raise its own level where it is not an administrator.
    let (_, other_team) = member(&server, &owner, "other", json!({}));
    let share = |ws: &str, access: &str| {
        dev.post(
            "team-workspaces",
            &json!({"data": {"type": "team-workspaces", "attributes": {"access": access},
                "relationships": {"team": {"data": {"type": "teams", "id": other_team}},
                    "workspace": {"data": {"type": "workspaces", "id": ws}}}}}),
        )
    };
    share(&id("ws-admin"), "read").expect(201);
    share(&id("ws-write"), "read").expect_error(403, "manage team access");
    let own = dev
        .get(&format!(
            "team-workspaces?filter[workspace][id]={}",
            id("ws-read")
        ))
        .ok();
    let own_id = own.body["data"][0]["id"].as_str().unwrap().to_string();
    dev.patch(
        &format!("team-workspaces/{own_id}"),
        &json!({"data": {"type": "team-workspaces", "attributes": {"access": "admin"}}}),
    )
    .expect_error(403, "manage team access");

    // Preset levels are what they are: their parts are set through `custom`.
    owner
        .patch(
            &format!("team-workspaces/{own_id}"),
            &json!({"data": {"type": "team-workspaces", "attributes": {"access": "read", "runs": "apply"}}}),
        )
        .expect_error(422, "Runs is read-only when access level is 'read'");
    // One entry per team and workspace.
    let again = owner.post(
        "team-workspaces",
        &json!({"data": {"type": "team-workspaces", "attributes": {"access": "write"},
            "relationships": {"team": {"data": {"type": "teams", "id": team}},
                "workspace": {"data": {"type": "workspaces", "id": id("ws-read")}}}}}),
    );
    assert!(matches!(again.status, 409 | 422), "{}", again.text);

    // Removing the access hides the workspace again, at once.
    owner
        .delete(&format!("team-workspaces/{own_id}"))
        .expect(204);
    dev.get(&format!("workspaces/{}", id("ws-read")))
        .expect(404);
    owner.get(&format!("team-workspaces/{own_id}")).expect(404);
});

both_databases!(project_and_organization_access, |db| {
    let (server, owner) = server(db);
    let project = owner
        .post(
            &format!("organizations/{ORG}/projects"),
            &json!({"data": {"type": "projects", "attributes": {"name": "payments"}}}),
        )
        .expect(201)
        .id();
    create_workspace(&owner, ORG, "pay-api", Some(&project));
    create_workspace(&owner, ORG, "elsewhere", None);

    // Maintain on a project: its workspaces are administered, new ones can be made there.
    let (pat, payers) = member(&server, &owner, "pat", json!({}));
    grant_project(&owner, &payers, &project, json!({"access": "maintain"}));
    assert_eq!(
        listed_names(&pat, &format!("organizations/{ORG}/workspaces")),
        names(&["pay-api"])
    );
    assert_eq!(
        listed_names(&pat, &format!("organizations/{ORG}/projects")),
        names(&["payments"])
    );
    let made = create_workspace(&pat, ORG, "pay-worker", Some(&project));
    assert_eq!(permissions(&pat, &made)["can-update"], true);
    pat.post(
        &format!("organizations/{ORG}/workspaces"),
        &json!({"data": {"type": "workspaces", "attributes": {"name": "outside"}}}),
    )
    .expect_error(403, "not allowed to create workspaces");
    pat.patch(
        &format!("projects/{project}"),
        &json!({"data": {"type": "projects", "attributes": {"name": "renamed"}}}),
    )
    .expect_error(403, "not allowed to update projects");
    // Moving a workspace out of the project is creating it elsewhere: refused.
    pat.patch(
        &format!("workspaces/{made}"),
        &json!({"data": {"type": "workspaces", "relationships": {"project": {"data":
            {"type": "projects", "id": owner.get(&format!("organizations/{ORG}/projects?filter[names]=Default Project")).ok().body["data"][0]["id"]}}}}}),
    )
    .expect(403);
    pat.post(
        &format!("workspaces/{made}/actions/safe-delete"),
        &json!({}),
    )
    .expect(204);

    // Organization-wide: managing workspaces reaches every workspace, and nothing else.
    let (olga, _) = member(&server, &owner, "olga", json!({"manage-workspaces": true}));
    assert_eq!(
        listed_names(&olga, &format!("organizations/{ORG}/workspaces")),
        names(&["pay-api", "elsewhere"])
    );
    create_workspace(&olga, ORG, "olgas", None);
    let org = olga.get(&format!("organizations/{ORG}")).ok();
    assert_eq!(org.attr("permissions")["can-create-workspace"], true);
    assert_eq!(org.attr("permissions")["can-update"], false);
    olga.patch(
        &format!("organizations/{ORG}"),
        &json!({"data": {"type": "organizations", "attributes": {"email": "olga@example.com"}}}),
    )
    .expect_error(403, "not allowed to update the organization");

    // Reading workspaces: every workspace, read-only.
    let (ada, _) = member(&server, &owner, "ada", json!({"read-workspaces": true}));
    assert_eq!(
        listed_names(&ada, &format!("organizations/{ORG}/workspaces")),
        names(&["pay-api", "elsewhere", "olgas"])
    );
    let ws = owner
        .get(&format!("organizations/{ORG}/workspaces/elsewhere"))
        .ok()
        .id();
    assert_eq!(permissions(&ada, &ws)["can-queue-run"], false);
    configuration_version(&ada, &ws).expect_error(403, "not allowed to queue plans");
});

both_databases!(team_access_stays_in_its_organization, |db| {
    let server = Server::builder(db).without_rate_limits().start();
    let alice = server.api(&server.user_token("alice"));
    let bob = server.api(&server.user_token("bob"));
    for (api, org) in [(&alice, "alice-org"), (&bob, "bob-org")] {
        api.post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": {"name": org, "email": "o@example.com"}}}),
        )
        .expect(201);
    }
    let a_ws = create_workspace(&alice, "alice-org", "vault", None);
    let b_ws = create_workspace(&bob, "bob-org", "decoy", None);
    let a_team = create_team(&alice, "alice-org", "a-team", json!({}));
    let b_team = create_team(&bob, "bob-org", "b-team", json!({}));
    let a_grant = grant_workspace(&alice, &a_team, &a_ws, json!({"access": "read"}));
    let a_project = alice.get("organizations/alice-org/projects").ok().body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a_project_grant = grant_project(&alice, &a_team, &a_project, json!({"access": "read"}));

    let body = |kind: &str, team: &str, target_kind: &str, rel: &str, target: &str| {
        json!({"data": {"type": kind, "attributes": {"access": "admin"},
            "relationships": {"team": {"data": {"type": "teams", "id": team}},
                rel: {"data": {"type": target_kind, "id": target}}}}})
    };
    // Bob's team onto Alice's workspace or project, and Alice's team onto Bob's workspace.
    bob.post(
        "team-workspaces",
        &body("team-workspaces", &b_team, "workspaces", "workspace", &a_ws),
    )
    .expect_error(404, "workspace");
    bob.post(
        "team-workspaces",
        &body("team-workspaces", &a_team, "workspaces", "workspace", &b_ws),
    )
    .expect_error(404, "team");
    bob.post(
        "team-projects",
        &body("team-projects", &b_team, "projects", "project", &a_project),
    )
    .expect_error(404, "project");
    // Alice's grants are invisible and untouchable to Bob.
    bob.get(&format!("team-workspaces?filter[workspace][id]={a_ws}"))
        .expect(404);
    bob.get(&format!("team-projects?filter[project][id]={a_project}"))
        .expect(404);
    for path in [
        format!("team-workspaces/{a_grant}"),
        format!("team-projects/{a_project_grant}"),
    ] {
        let reply = bob.get(&path).expect(404);
        assert!(!reply.text.contains(&a_team), "{}", reply.text);
        bob.patch(&path, &json!({"data": {"attributes": {"access": "admin"}}}))
            .expect(404);
        bob.delete(&path).expect(404);
    }
    let kept = alice.get(&format!("team-workspaces/{a_grant}")).ok();
    assert_eq!(kept.attr("access"), "read");
    // Bob's token gives nothing in Alice's organization, whatever her teams hold.
    bob.get(&format!("workspaces/{a_ws}")).expect(404);
});
