//! Project settings go-tfe's suite does not prove: a project's default agent pool must be one of
//! its own organization's that serves the project (another organization's pool is not found,
//! and its name never echoed) and keeps serving it, a new workspace takes its project's
//! defaults, a pool a project uses cannot be deleted, bad input leaves nothing half-written,
//! and a project's tag bindings (and what its workspaces inherit from them) are invisible to
//! another organization. On both databases.

use serde_json::{json, Value};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

fn create_pool(api: &Api, org: &str, name: &str, scoped: bool) -> String {
    api.post(
        &format!("organizations/{org}/agent-pools"),
        &json!({"data": {"type": "agent-pools",
            "attributes": {"name": name, "organization-scoped": scoped}}}),
    )
    .expect(201)
    .id()
}

fn create_project(api: &Api, org: &str, attributes: Value, relationships: Value) -> Reply {
    api.post(
        &format!("organizations/{org}/projects"),
        &json!({"data": {"type": "projects", "attributes": attributes,
            "relationships": relationships}}),
    )
}

fn agent_defaults(pool: &str) -> Value {
    json!({"default-execution-mode": "agent", "default-agent-pool-id": pool})
}

fn project_names(api: &Api, org: &str) -> Vec<String> {
    api.get(&format!("organizations/{org}/projects"))
        .ok()
        .attrs("name")
}

both_databases!(project_defaults_and_tag_bindings, |db: Db| {
    let server = Server::start(db);
    let alice = server.api(&server.admin_token());
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    let bobs_pool = create_pool(&bob, "bobs", "bobs-secret-basement", true);

    // Another organization's pool is not found, and its name is not echoed back.
    let refused = create_project(
        &alice,
        "default",
        json!({"name": "stolen", "default-execution-mode": "agent",
            "default-agent-pool-id": bobs_pool}),
        json!({}),
    )
    .expect_error(422, "not found");
    assert!(
        !refused.text.contains("bobs-secret-basement"),
        "{}",
        refused.text
    );
    // A pool of her own that does not serve the project is refused until it does.
    let narrow = create_pool(&alice, "default", "narrow", false);
    let project = create_project(&alice, "default", json!({"name": "platform"}), json!({}))
        .expect(201)
        .id();
    alice
        .patch(
            &format!("projects/{project}"),
            &json!({"data": {"type": "projects", "attributes": agent_defaults(&narrow)}}),
        )
        .expect_error(422, "does not serve");
    alice
        .patch(
            &format!("agent-pools/{narrow}"),
            &json!({"data": {"type": "agent-pools", "relationships": {"allowed-projects":
                {"data": [{"type": "projects", "id": project}]}}}}),
        )
        .ok();
    let updated = alice
        .patch(
            &format!("projects/{project}"),
            &json!({"data": {"type": "projects", "attributes": agent_defaults(&narrow)}}),
        )
        .ok();
    assert_eq!(updated.attr("default-execution-mode"), "agent");
    assert_eq!(
        updated.body["data"]["relationships"]["default-agent-pool"]["data"]["id"],
        json!(narrow)
    );
    assert_eq!(
        updated.attr("setting-overwrites"),
        &json!({"default-execution-mode": true, "default-agent-pool": true})
    );

    // The pool keeps serving the project while the project names it.
    alice
        .patch(
            &format!("agent-pools/{narrow}"),
            &json!({"data": {"type": "agent-pools", "relationships": {"allowed-projects":
                {"data": []}}}}),
        )
        .expect_error(422, "uses this agent pool");

    // A workspace created in the project without a mode of its own runs on the project's pool;
    // one that names its mode keeps it.
    let inheriting = alice
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "inherits"},
                "relationships": {"project": {"data": {"type": "projects", "id": project}}}}}),
        )
        .expect(201);
    assert_eq!(inheriting.attr("execution-mode"), "agent");
    assert_eq!(
        inheriting.body["data"]["relationships"]["agent-pool"]["data"]["id"],
        json!(narrow)
    );
    let own = alice
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces",
                "attributes": {"name": "own-mode", "execution-mode": "local"},
                "relationships": {"project": {"data": {"type": "projects", "id": project}}}}}),
        )
        .expect(201);
    assert_eq!(own.attr("execution-mode"), "local");

    // The pool stays while the project names it (and its workspace uses it).
    alice
        .patch(
            &format!("workspaces/{}", inheriting.id()),
            &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "remote"}}}),
        )
        .ok();
    alice.delete(&format!("agent-pools/{narrow}")).expect(422);
    alice
        .patch(
            &format!("projects/{project}"),
            &json!({"data": {"type": "projects", "attributes": {"default-execution-mode": "remote"}}}),
        )
        .ok();
    alice.delete(&format!("agent-pools/{narrow}")).expect(204);

    // Bad input is a 422 that writes nothing.
    create_project(
        &alice,
        "default",
        json!({"name": "bogus-mode", "default-execution-mode": "bogus"}),
        json!({}),
    )
    .expect(422);
    create_project(
        &alice,
        "default",
        json!({"name": "bad-tags"}),
        json!({"tag-bindings": {"data": [{"type": "tag-bindings",
            "attributes": {"key": "no spaces allowed", "value": "x"}}]}}),
    )
    .expect(422);
    let names = project_names(&alice, "default");
    assert!(
        !names.iter().any(|n| n == "bogus-mode" || n == "bad-tags"),
        "{names:?}"
    );

    // The project's bindings: hers to read and merge, and her workspaces inherit them.
    alice
        .patch(
            &format!("projects/{project}/tag-bindings"),
            &json!({"data": [{"type": "tag-bindings",
                "attributes": {"key": "cost-center", "value": "cc-7373"}}]}),
        )
        .ok();
    let effective = alice
        .get(&format!("workspaces/{}/effective-tag-bindings", own.id()))
        .ok();
    let inherited = &effective.body["data"][0];
    assert_eq!(inherited["attributes"]["key"], "cost-center");
    assert!(
        inherited["links"]["inherited-from"]
            .as_str()
            .is_some_and(|link| link.ends_with(&format!("/projects/{project}"))),
        "{inherited}"
    );
    // Bob learns nothing of them and changes nothing.
    for path in [
        format!("projects/{project}/tag-bindings"),
        format!("projects/{project}/effective-tag-bindings"),
        format!("projects/{project}?include=effective_tag_bindings"),
        format!("workspaces/{}/effective-tag-bindings", own.id()),
    ] {
        let reply = bob.get(&path).expect(404);
        assert!(!reply.text.contains("cc-7373"), "{path}: {}", reply.text);
    }
    bob.patch(
        &format!("projects/{project}/tag-bindings"),
        &json!({"data": [{"type": "tag-bindings",
            "attributes": {"key": "cost-center", "value": "bobs"}}]}),
    )
    .expect(404);
    let mine = alice.get(&format!("projects/{project}/tag-bindings")).ok();
    assert_eq!(
        mine.body["data"][0]["attributes"],
        json!({"key": "cost-center", "value": "cc-7373"})
    );
});
