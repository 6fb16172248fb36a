//! Custom project access, part by part: moving a project's workspaces and deleting them are
//! separate grants (`workspace-access.move`, `.delete`), and `project-access.variable-sets`
//! reads or manages the variable sets the project owns. Another organization reaches none of
//! it. On SQLite and on PostgreSQL.

use serde_json::{json, Value};
use terrace_tests::access::{add_member, create_team, create_workspace, grant_project};
use terrace_tests::{both_databases, Api, Server};

const ORG: &str = "default";

fn create_project(owner: &Api, org: &str, name: &str) -> String {
    owner
        .post(
            &format!("organizations/{org}/projects"),
            &json!({"data": {"type": "projects", "attributes": {"name": name}}}),
        )
        .expect(201)
        .id()
}

/// A user on a new team with no organization-wide permission; returns their client and team.
fn member(server: &Server, owner: &Api, username: &str) -> (Api, String) {
    let token = server.user_token(username);
    let team = create_team(owner, ORG, &format!("{username}-team"), json!({}));
    add_member(owner, ORG, &team, username);
    (server.api(&token), team)
}

fn custom(project_access: Value, workspace_access: Value) -> Value {
    json!({"access": "custom", "project-access": project_access,
        "workspace-access": workspace_access})
}

fn move_to(api: &Api, workspace: &str, project: &str) -> terrace_tests::Reply {
    api.patch(
        &format!("workspaces/{workspace}"),
        &json!({"data": {"type": "workspaces", "relationships": {"project": {"data":
            {"type": "projects", "id": project}}}}}),
    )
}

fn project_of(api: &Api, workspace: &str) -> String {
    api.get(&format!("workspaces/{workspace}")).ok().body["data"]["relationships"]["project"]
        ["data"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

both_databases!(moving_and_deleting_are_separate_grants, |db| {
    let server = Server::builder(db).without_rate_limits().start();
    let owner = server.api(&server.admin_token());
    let apps = create_project(&owner, ORG, "apps");
    let landing = create_project(&owner, ORG, "landing");
    let elsewhere = create_project(&owner, ORG, "elsewhere");
    let web = create_workspace(&owner, ORG, "web", Some(&apps));
    let api_ws = create_workspace(&owner, ORG, "api", Some(&apps));

    // Mover: may move the project's workspaces, not delete them; may create in `landing`.
    let (mover, movers) = member(&server, &owner, "mover");
    let grant = grant_project(
        &owner,
        &movers,
        &apps,
        custom(json!({}), json!({"move": true, "delete": false})),
    );
    let shown = owner.get(&format!("team-projects/{grant}")).ok();
    assert_eq!(
        shown.attr("workspace-access")["move"],
        true,
        "{}",
        shown.text
    );
    assert_eq!(shown.attr("workspace-access")["delete"], false);
    grant_project(
        &owner,
        &movers,
        &landing,
        custom(json!({}), json!({"create": true})),
    );
    let permissions = mover.get(&format!("workspaces/{api_ws}")).ok();
    assert_eq!(permissions.attr("permissions")["can-destroy"], false);
    assert_eq!(permissions.attr("permissions")["can-update"], false);
    mover
        .post(
            &format!("workspaces/{api_ws}/actions/safe-delete"),
            &json!({}),
        )
        .expect_error(403, "not allowed to delete workspaces");
    // Moving is not changing settings: a rename is still refused.
    mover
        .patch(
            &format!("workspaces/{web}"),
            &json!({"data": {"type": "workspaces", "attributes": {"name": "renamed"},
                "relationships": {"project": {"data": {"type": "projects", "id": landing}}}}}),
        )
        .expect_error(403, "not allowed to update workspace settings");
    // Not into a project the mover may not create workspaces in.
    move_to(&mover, &web, &elsewhere).expect_error(403, "not allowed to create workspaces");
    assert_eq!(project_of(&owner, &web), apps);
    move_to(&mover, &web, &landing).ok();
    assert_eq!(project_of(&owner, &web), landing);
    // In `landing` (create only) the mover may not move it on.
    move_to(&mover, &web, &apps).expect_error(403, "not allowed to move workspaces");

    // Deleter: may delete the project's workspaces, not move them anywhere.
    let (deleter, deleters) = member(&server, &owner, "deleter");
    grant_project(
        &owner,
        &deleters,
        &apps,
        custom(
            json!({}),
            json!({"move": false, "delete": true, "create": true}),
        ),
    );
    grant_project(
        &owner,
        &deleters,
        &landing,
        custom(json!({}), json!({"create": true})),
    );
    let permissions = deleter.get(&format!("workspaces/{api_ws}")).ok();
    assert_eq!(permissions.attr("permissions")["can-destroy"], true);
    move_to(&deleter, &api_ws, &landing).expect_error(403, "not allowed to move workspaces");
    assert_eq!(project_of(&owner, &api_ws), apps);
    deleter
        .post(
            &format!("workspaces/{api_ws}/actions/safe-delete"),
            &json!({}),
        )
        .expect(204);
    owner.get(&format!("workspaces/{api_ws}")).expect(404);

    // Stored grants load back as given, and presets keep their meaning.
    let admin = grant_project(
        &owner,
        &create_team(&owner, ORG, "admins", json!({})),
        &apps,
        json!({"access": "admin"}),
    );
    let shown = owner.get(&format!("team-projects/{admin}")).ok();
    assert_eq!(shown.attr("workspace-access")["move"], true);
    assert_eq!(shown.attr("workspace-access")["delete"], true);
    assert_eq!(shown.attr("project-access")["variable-sets"], "write");
    let read = grant_project(
        &owner,
        &create_team(&owner, ORG, "readers", json!({})),
        &apps,
        json!({"access": "read"}),
    );
    let shown = owner.get(&format!("team-projects/{read}")).ok();
    assert_eq!(shown.attr("workspace-access")["move"], false);
    assert_eq!(shown.attr("workspace-access")["delete"], false);
    assert_eq!(shown.attr("project-access")["variable-sets"], "none");
});

fn create_set(
    api: &Api,
    org: &str,
    name: &str,
    parent: Option<&str>,
    extra: Value,
) -> terrace_tests::Reply {
    let mut relationships = json!({});
    if let Some(project) = parent {
        relationships["parent"] = json!({"data": {"type": "projects", "id": project}});
    }
    if let Some(map) = extra.as_object() {
        for (k, v) in map {
            relationships[k] = v.clone();
        }
    }
    api.post(
        &format!("organizations/{org}/varsets"),
        &json!({"data": {"type": "varsets", "attributes": {"name": name, "global": false},
            "relationships": relationships}}),
    )
}

fn set_variable(api: &Api, set: &str, key: &str, sensitive: bool) -> terrace_tests::Reply {
    api.post(
        &format!("varsets/{set}/relationships/vars"),
        &json!({"data": {"type": "vars", "attributes": {"key": key, "value": "s3cr3t-value",
            "category": "env", "sensitive": sensitive}}}),
    )
}

both_databases!(project_variable_sets_read_and_write, |db| {
    let server = Server::builder(db).without_rate_limits().start();
    let owner = server.api(&server.admin_token());
    let apps = create_project(&owner, ORG, "apps");
    let other = create_project(&owner, ORG, "other");
    let inside = create_workspace(&owner, ORG, "inside", Some(&apps));
    let outside = create_workspace(&owner, ORG, "outside", Some(&other));
    let (writer, writers) = member(&server, &owner, "writer");
    let (reader, readers) = member(&server, &owner, "reader");
    let (stranger, strangers) = member(&server, &owner, "stranger");
    grant_project(
        &owner,
        &writers,
        &apps,
        custom(json!({"variable-sets": "write"}), json!({})),
    );
    grant_project(
        &owner,
        &readers,
        &apps,
        custom(json!({"variable-sets": "read"}), json!({})),
    );
    grant_project(&owner, &strangers, &apps, custom(json!({}), json!({})));
    let org_set = create_set(&owner, ORG, "org-wide", None, json!({}))
        .expect(201)
        .id();

    // The writer creates a set the project owns, applied to the project, with variables.
    let created = create_set(
        &writer,
        ORG,
        "apps-creds",
        Some(&apps),
        json!({"projects": {"data": [{"type": "projects", "id": apps}]}}),
    )
    .expect(201);
    assert_eq!(
        created.body["data"]["relationships"]["parent"]["data"],
        json!({"type": "projects", "id": apps}),
        "{}",
        created.text
    );
    let set = created.id();
    set_variable(&writer, &set, "PLAIN", false).expect(201);
    let secret = set_variable(&writer, &set, "SECRET", true).expect(201).id();
    writer
        .patch(
            &format!("varsets/{set}"),
            &json!({"data": {"type": "varsets", "attributes": {"description": "for apps"},
                "relationships": {"workspaces": {"data": [{"type": "workspaces", "id": inside}]}}}}),
        )
        .ok();
    // It reaches the project's workspaces and nothing else.
    let applied = owner.get(&format!("workspaces/{inside}/varsets")).ok();
    assert!(applied.text.contains(&set), "{}", applied.text);
    let not_applied = owner.get(&format!("workspaces/{outside}/varsets")).ok();
    assert!(!not_applied.text.contains(&set), "{}", not_applied.text);
    // A project's set stays in its project: never global, never on others' workspaces.
    writer
        .patch(
            &format!("varsets/{set}"),
            &json!({"data": {"type": "varsets", "attributes": {"global": true}}}),
        )
        .expect_error(422, "cannot be global");
    writer
        .post(
            &format!("varsets/{set}/relationships/workspaces"),
            &json!({"data": [{"type": "workspaces", "id": outside}]}),
        )
        .expect_error(422, "workspaces of its own project");
    writer
        .post(
            &format!("varsets/{set}/relationships/projects"),
            &json!({"data": [{"type": "projects", "id": other}]}),
        )
        .expect_error(422, "its own project");
    // The organization's own sets are not the project's.
    create_set(&writer, ORG, "mine", None, json!({})).expect(403);
    writer.get(&format!("varsets/{org_set}")).expect(403);
    writer
        .get(&format!("organizations/{ORG}/varsets"))
        .expect(403);
    let listed = writer.get(&format!("projects/{apps}/varsets")).ok();
    assert!(listed.text.contains(&set), "{}", listed.text);
    assert!(!listed.text.contains(&org_set), "{}", listed.text);

    // The reader sees the set and its variables, sensitive values write-only, and changes
    // nothing.
    let listed = reader.get(&format!("projects/{apps}/varsets")).ok();
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        1,
        "{}",
        listed.text
    );
    reader.get(&format!("varsets/{set}")).ok();
    let vars = reader
        .get(&format!("varsets/{set}/relationships/vars"))
        .ok();
    assert!(
        vars.text.contains("PLAIN") && vars.text.contains("SECRET"),
        "{}",
        vars.text
    );
    assert_eq!(
        vars.text.matches("s3cr3t-value").count(),
        1,
        "{}",
        vars.text
    );
    let secret_var = reader
        .get(&format!("varsets/{set}/relationships/vars/{secret}"))
        .ok();
    assert!(
        !secret_var.text.contains("s3cr3t-value"),
        "{}",
        secret_var.text
    );
    set_variable(&reader, &set, "MORE", false)
        .expect_error(403, "manage the project's variable sets");
    reader
        .patch(
            &format!("varsets/{set}"),
            &json!({"data": {"type": "varsets", "attributes": {"name": "taken-over"}}}),
        )
        .expect(403);
    reader
        .delete(&format!("varsets/{set}/relationships/vars/{secret}"))
        .expect(403);
    create_set(&reader, ORG, "readers-own", Some(&apps), json!({})).expect(403);
    reader.delete(&format!("varsets/{set}")).expect(403);

    // A team with no variable-sets access on the project: refused.
    stranger
        .get(&format!("projects/{apps}/varsets"))
        .expect_error(403, "read the project's variable sets");
    stranger.get(&format!("varsets/{set}")).expect(403);
    // A project the member sees nothing of: not found.
    stranger
        .get(&format!("projects/{other}/varsets"))
        .expect(404);

    // Deleting: the writer may.
    writer.delete(&format!("varsets/{set}")).expect(204);
    owner.get(&format!("varsets/{set}")).expect(404);
});

both_databases!(project_variable_sets_stay_in_their_organization, |db| {
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
    let a_project = create_project(&alice, "alice-org", "vault");
    let a_ws = create_workspace(&alice, "alice-org", "vault-ws", Some(&a_project));
    let a_set = create_set(
        &alice,
        "alice-org",
        "vault-creds",
        Some(&a_project),
        json!({}),
    )
    .expect(201)
    .id();
    let a_var = set_variable(&alice, &a_set, "TOKEN", true).expect(201).id();
    let b_project = create_project(&bob, "bob-org", "decoy");

    // Bob owns his organization, not Alice's project: a set of his naming her project, in
    // either organization, is refused without telling what exists.
    for org in ["bob-org", "alice-org"] {
        let reply = create_set(&bob, org, "planted", Some(&a_project), json!({}));
        assert_eq!(reply.status, 404, "{org}: {}", reply.text);
    }
    // His own project's set cannot reach her workspace.
    let b_set = create_set(&bob, "bob-org", "mine", Some(&b_project), json!({}))
        .expect(201)
        .id();
    bob.post(
        &format!("varsets/{b_set}/relationships/workspaces"),
        &json!({"data": [{"type": "workspaces", "id": a_ws}]}),
    )
    .expect(404);
    bob.get(&format!("projects/{a_project}/varsets"))
        .expect(404);
    for path in [
        format!("varsets/{a_set}"),
        format!("varsets/{a_set}/relationships/vars"),
        format!("varsets/{a_set}/relationships/vars/{a_var}"),
    ] {
        let reply = bob.get(&path).expect(404);
        assert!(!reply.text.contains("vault"), "{}", reply.text);
    }
    bob.patch(
        &format!("varsets/{a_set}"),
        &json!({"data": {"type": "varsets", "attributes": {"name": "mine-now"}}}),
    )
    .expect(404);
    bob.delete(&format!("varsets/{a_set}")).expect(404);
    let kept = alice.get(&format!("varsets/{a_set}")).ok();
    assert_eq!(kept.attr("name"), "vault-creds");
    // A project's sets go with it.
    bob.delete(&format!("projects/{b_project}")).expect(204);
    bob.get(&format!("varsets/{b_set}")).expect(404);
});
