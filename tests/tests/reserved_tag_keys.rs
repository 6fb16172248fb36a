//! Reserved tag keys and the tag bindings rules go-tfe's suite does not prove: keys are kept by
//! the organization's owners (a member reads them, cannot change them), another
//! organization's user never reaches them (404), a key reserved with overrides disabled keeps
//! a project's value on its workspaces through every way a workspace is tagged, and a
//! workspace's bindings keep the order they were added in, at most 10 per request, a refused
//! request writing nothing. On both databases.

use serde_json::{json, Value};
use terrace_tests::access::{add_member, create_team, create_workspace};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

fn reserve(api: &Api, org: &str, key: &str, disable_overrides: bool) -> Reply {
    api.post(
        &format!("organizations/{org}/reserved-tag-keys"),
        &json!({"data": {"type": "reserved-tag-keys",
            "attributes": {"key": key, "disable-overrides": disable_overrides}}}),
    )
}

fn reserved_keys(api: &Api, org: &str) -> Vec<String> {
    api.get(&format!("organizations/{org}/reserved-tag-keys"))
        .ok()
        .body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["attributes"]["key"].as_str().unwrap().to_string())
        .collect()
}

fn bindings(list: &[(&str, &str)]) -> Value {
    Value::Array(
        list.iter()
            .map(|(k, v)| json!({"type": "tag-bindings", "attributes": {"key": k, "value": v}}))
            .collect(),
    )
}

fn set_bindings(api: &Api, ws: &str, list: &[(&str, &str)]) -> Reply {
    api.patch(
        &format!("workspaces/{ws}/tag-bindings"),
        &json!({ "data": bindings(list) }),
    )
}

fn keys_and_values(reply: &Reply) -> Vec<(String, String)> {
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["attributes"]["key"].as_str().unwrap().to_string(),
                b["attributes"]["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn own_bindings(api: &Api, ws: &str) -> Vec<(String, String)> {
    keys_and_values(&api.get(&format!("workspaces/{ws}/tag-bindings")).ok())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

both_databases!(reserved_tag_keys_belong_to_their_organization, |db: Db| {
    let server = Server::start(db);
    let alice = server.api(&server.admin_token());
    let bob = server.api(&server.user_token("bob"));
    let carol = server.api(&server.user_token("carol"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);

    let created = reserve(&alice, "default", "cost-center", true).expect(201);
    let id = created.id();
    assert_eq!(created.attr("key"), "cost-center");
    assert_eq!(created.attr("disable-overrides"), true);
    assert!(created.attr("created-at").is_string());
    let env = reserve(&alice, "default", "env", false).expect(201).id();
    // Listed oldest first, paginated.
    let page = alice
        .get("organizations/default/reserved-tag-keys?page[size]=1&page[number]=2")
        .ok();
    assert_eq!(page.body["data"][0]["id"], env.as_str());
    assert_eq!(page.body["meta"]["pagination"]["total-count"], 2);
    assert_eq!(page.body["meta"]["pagination"]["current-page"], 2);

    // Unique per organization, valid like tag keys, given at all.
    reserve(&alice, "default", "cost-center", false)
        .expect_error(422, "Key has already been taken");
    reserve(&alice, "default", "! / nope", false).expect_error(422, "Key is invalid");
    alice
        .post(
            "organizations/default/reserved-tag-keys",
            &json!({"data": {"type": "reserved-tag-keys", "attributes": {}}}),
        )
        .expect_error(422, "Key can't be blank");
    alice
        .patch(
            &format!("reserved-tag-keys/{env}"),
            &json!({"data": {"type": "reserved-tag-keys", "attributes": {"key": "cost-center"}}}),
        )
        .expect_error(422, "Key has already been taken");
    alice
        .patch(
            &format!("reserved-tag-keys/{env}"),
            &json!({"data": {"type": "reserved-tag-keys", "attributes": {"key": "hc:x"}}}),
        )
        .expect_error(422, "Key is invalid");
    assert_eq!(reserved_keys(&alice, "default"), ["cost-center", "env"]);
    let renamed = alice
        .patch(
            &format!("reserved-tag-keys/{env}"),
            &json!({"data": {"type": "reserved-tag-keys",
                "attributes": {"key": "environment", "disable-overrides": true}}}),
        )
        .ok();
    assert_eq!(renamed.attr("key"), "environment");
    assert_eq!(renamed.attr("disable-overrides"), true);

    // The same key in another organization is another key.
    reserve(&bob, "bobs", "cost-center", false).expect(201);
    // Another organization's user reaches none of it.
    bob.get("organizations/default/reserved-tag-keys")
        .expect(404);
    reserve(&bob, "default", "stolen", false).expect(404);
    bob.patch(
        &format!("reserved-tag-keys/{id}"),
        &json!({"data": {"type": "reserved-tag-keys", "attributes": {"key": "stolen"}}}),
    )
    .expect(404);
    bob.delete(&format!("reserved-tag-keys/{id}")).expect(404);
    alice
        .delete("reserved-tag-keys/rtk-nonexistent")
        .expect(404);

    // A member who manages workspaces reads them but keeps them no more than owners let him.
    let team = create_team(
        &alice,
        "default",
        "devs",
        json!({"manage-workspaces": true}),
    );
    add_member(&alice, "default", &team, "carol");
    assert_eq!(
        reserved_keys(&carol, "default"),
        ["cost-center", "environment"]
    );
    reserve(&carol, "default", "mine", false).expect(403);
    carol.delete(&format!("reserved-tag-keys/{id}")).expect(403);
    assert_eq!(
        reserved_keys(&alice, "default"),
        ["cost-center", "environment"]
    );

    alice.delete(&format!("reserved-tag-keys/{id}")).expect(204);
    alice.delete(&format!("reserved-tag-keys/{id}")).expect(404);
    assert_eq!(reserved_keys(&alice, "default"), ["environment"]);
});

both_databases!(disabled_overrides_keep_the_project_value, |db: Db| {
    let server = Server::start(db);
    let alice = server.api(&server.admin_token());
    let project = alice
        .post(
            "organizations/default/projects",
            &json!({"data": {"type": "projects", "attributes": {"name": "platform"},
                "relationships": {"tag-bindings": {"data": bindings(&[("env", "prod"), ("team", "core")])}}}}),
        )
        .expect(201)
        .id();
    let ws = create_workspace(&alice, "default", "api", Some(&project));
    let env = reserve(&alice, "default", "env", true).expect(201).id();

    // Through the tag-bindings endpoint: refused, naming the key; nothing written.
    let refused =
        set_bindings(&alice, &ws, &[("region", "eu"), ("env", "dev")]).expect_error(422, "\"env\"");
    assert!(
        refused.text.contains("overrides disabled"),
        "{}",
        refused.text
    );
    assert!(own_bindings(&alice, &ws).is_empty());
    // The project's own value, an unlocked key, or a key the project does not bind are fine.
    set_bindings(&alice, &ws, &[("env", "prod"), ("team", "edge")]).ok();
    // A key-only tag overrides as well.
    alice
        .post(
            &format!("workspaces/{ws}/relationships/tags"),
            &json!({"data": [{"type": "tags", "attributes": {"name": "env"}}]}),
        )
        .expect_error(422, "\"env\"");
    // Creating a workspace in the project, or updating one, with an override.
    let create = |name: &str, value: &str| {
        alice.post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": name},
                "relationships": {
                    "project": {"data": {"type": "projects", "id": project}},
                    "tag-bindings": {"data": bindings(&[("env", value)])}}}}),
        )
    };
    create("web", "dev").expect_error(422, "\"env\"");
    alice
        .get("organizations/default/workspaces/web")
        .expect(404);
    alice
        .patch(
            &format!("workspaces/{ws}"),
            &json!({"data": {"type": "workspaces", "relationships": {
                "tag-bindings": {"data": bindings(&[("env", "staging")])}}}}),
        )
        .expect_error(422, "\"env\"");
    assert_eq!(
        own_bindings(&alice, &ws),
        pairs(&[("env", "prod"), ("team", "edge")])
    );
    // A workspace elsewhere binds the key as it likes; moving it here with an override is
    // refused.
    let elsewhere = create_workspace(&alice, "default", "batch", None);
    set_bindings(&alice, &elsewhere, &[("env", "dev")]).ok();
    alice
        .patch(
            &format!("workspaces/{elsewhere}"),
            &json!({"data": {"type": "workspaces", "relationships": {
                "project": {"data": {"type": "projects", "id": project}}}}}),
        )
        .expect_error(422, "\"env\"");

    // With overrides enabled again, the workspace may bind its own value.
    alice
        .patch(
            &format!("reserved-tag-keys/{env}"),
            &json!({"data": {"type": "reserved-tag-keys", "attributes": {"disable-overrides": false}}}),
        )
        .ok();
    set_bindings(&alice, &ws, &[("env", "dev")]).ok();
    create("web", "dev").expect(201);
});

both_databases!(workspace_bindings_keep_their_order_and_limit, |db: Db| {
    let server = Server::start(db);
    let alice = server.api(&server.admin_token());
    let ws = create_workspace(&alice, "default", "ordered", None);

    let added = set_bindings(&alice, &ws, &[("foo", "bar"), ("baz", "qux")]).ok();
    assert_eq!(
        keys_and_values(&added),
        pairs(&[("foo", "bar"), ("baz", "qux")])
    );
    // New keys go last; a changed value keeps its key's place.
    let added = set_bindings(&alice, &ws, &[("alpha", ""), ("foo", "changed")]).ok();
    assert_eq!(
        keys_and_values(&added),
        pairs(&[("foo", "changed"), ("baz", "qux"), ("alpha", "")])
    );
    let names = alice.get(&format!("workspaces/{ws}")).ok();
    assert_eq!(names.attr("tag-names"), &json!(["alpha"]));

    // More than 10 in one request: refused, nothing written.
    let many: Vec<(String, String)> = (0..11).map(|n| (format!("k{n}"), String::new())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    set_bindings(&alice, &ws, &many).expect_error(422, "cannot exceed 10");
    alice
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "crowded"},
                "relationships": {"tag-bindings": {"data": bindings(&many)}}}}),
        )
        .expect_error(422, "cannot exceed 10");
    alice
        .get("organizations/default/workspaces/crowded")
        .expect(404);
    assert_eq!(own_bindings(&alice, &ws).len(), 3);
    // Ten are fine.
    set_bindings(&alice, &ws, &many[..10]).ok();
    assert_eq!(own_bindings(&alice, &ws).len(), 13);
});
