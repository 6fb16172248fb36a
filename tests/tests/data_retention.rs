//! Backing data and data retention policies (Terraform Enterprise's): soft-deleting,
//! restoring and permanently deleting the state of a state version and the tarball of a
//! configuration version (never the workspace's current ones), organization and workspace
//! policies, and the housekeeping sweep that enforces them; a second upload of a
//! configuration version before a run uses it. On SQLite and on PostgreSQL.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use terrace_tests::runs::{create_run, tarball, upload_configuration};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

const ORG: &str = "default";

fn server(db: Db) -> (Server, Api) {
    let server = Server::builder(db).without_rate_limits().start();
    let owner = server.api(&server.admin_token());
    (server, owner)
}

fn create_workspace(api: &Api, org: &str, name: &str) -> String {
    api.post(
        &format!("organizations/{org}/workspaces"),
        &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
    )
    .expect(201)
    .id()
}

fn state(serial: i64) -> Vec<u8> {
    format!(r#"{{"version":4,"terraform_version":"1.11.4","serial":{serial},"lineage":"l-1","outputs":{{}},"resources":[]}}"#)
        .into_bytes()
}

/// Writes states with serials `1..=count` (the last is current); returns their IDs.
fn write_states(api: &Api, ws: &str, count: i64) -> Vec<String> {
    api.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .ok();
    let ids = (1..=count)
        .map(|serial| {
            let bytes = state(serial);
            api.post(
                &format!("workspaces/{ws}/state-versions"),
                &json!({"data": {"type": "state-versions", "attributes": {
                    "serial": serial,
                    "md5": hex::encode(Md5::digest(&bytes)),
                    "lineage": "l-1",
                    "state": base64::engine::general_purpose::STANDARD.encode(&bytes),
                }}}),
            )
            .expect(201)
            .id()
        })
        .collect();
    api.post(&format!("workspaces/{ws}/actions/unlock"), &json!({}))
        .ok();
    ids
}

fn action(api: &Api, kind: &str, id: &str, action: &str) -> Reply {
    api.post(&format!("{kind}/{id}/actions/{action}"), &json!({}))
}

both_databases!(state_backing_data, |db: Db| {
    let (server, owner) = server(db);
    let ws = create_workspace(&owner, ORG, "state");
    let ids = write_states(&owner, &ws, 2);
    let (old, current) = (&ids[0], &ids[1]);
    let sv = |id: &str| format!("state-versions/{id}");
    let download = |id: &str| owner.get(&format!("state-versions/{id}/download"));

    // The current state keeps its backing data.
    action(
        &owner,
        "state-versions",
        current,
        "soft_delete_backing_data",
    )
    .expect_error(409, "current state");
    // Permanent deletion needs a soft deletion first; there is nothing to restore yet.
    action(
        &owner,
        "state-versions",
        old,
        "permanently_delete_backing_data",
    )
    .expect_error(409, "transition not allowed");
    action(&owner, "state-versions", old, "restore_backing_data")
        .expect_error(409, "transition not allowed");

    action(&owner, "state-versions", old, "soft_delete_backing_data").expect(204);
    download(old).expect(404);
    let shown = owner.get(&sv(old)).ok();
    assert_eq!(shown.attr("status"), "backing_data_soft_deleted");
    assert!(shown.attr("hosted-state-download-url").is_null());
    let listed = owner.get(&format!("workspaces/{ws}/state-versions")).ok();
    assert_eq!(
        listed.body["data"].as_array().unwrap().len(),
        2,
        "still listed"
    );
    assert!(
        !server.blob_files(old).is_empty(),
        "soft deletion keeps the blob"
    );
    // Nothing rolls back to it meanwhile.
    owner
        .post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .ok();
    owner
        .patch(
            &format!("workspaces/{ws}/state-versions"),
            &json!({"data": {"type": "state-versions", "relationships": {"rollback-state-version":
                {"data": {"type": "state-versions", "id": old}}}}}),
        )
        .expect(422);
    owner
        .post(&format!("workspaces/{ws}/actions/unlock"), &json!({}))
        .ok();

    action(&owner, "state-versions", old, "restore_backing_data").expect(204);
    assert_eq!(download(old).expect(200).text.as_bytes(), state(1));
    assert_eq!(owner.get(&sv(old)).ok().attr("status"), "finalized");

    action(&owner, "state-versions", old, "soft_delete_backing_data").expect(204);
    action(
        &owner,
        "state-versions",
        old,
        "permanently_delete_backing_data",
    )
    .expect(204);
    action(&owner, "state-versions", old, "restore_backing_data")
        .expect_error(409, "transition not allowed");
    download(old).expect(404);
    assert_eq!(
        owner.get(&sv(old)).ok().attr("status"),
        "backing_data_permanently_deleted"
    );
    assert!(server.blob_files(old).is_empty(), "the blob is gone");
    // The current state is untouched.
    assert_eq!(download(current).expect(200).text.as_bytes(), state(2));

    // Another organization's owner cannot reach any of it.
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    for name in [
        "soft_delete_backing_data",
        "restore_backing_data",
        "permanently_delete_backing_data",
    ] {
        action(&bob, "state-versions", current, name).expect(404);
    }
    download(current).expect(200);
    action(
        &owner,
        "state-versions",
        "sv-doesnotexist",
        "soft_delete_backing_data",
    )
    .expect(404);
});

both_databases!(configuration_backing_data, |db: Db| {
    let (server, owner) = server(db);
    let ws = create_workspace(&owner, ORG, "configurations");
    let old = upload_configuration(&owner, &ws, &[("main.tf", "# old\n")], false);
    let current = upload_configuration(&owner, &ws, &[("main.tf", "# current\n")], false);
    let download = |id: &str| owner.get(&format!("configuration-versions/{id}/download"));
    let kind = "configuration-versions";

    action(&owner, kind, &current, "soft_delete_backing_data").expect_error(409, "current");
    action(&owner, kind, &old, "permanently_delete_backing_data")
        .expect_error(409, "transition not allowed");

    action(&owner, kind, &old, "soft_delete_backing_data").expect(204);
    download(&old).expect(404);
    assert_eq!(
        owner.get(&format!("{kind}/{old}")).ok().attr("status"),
        "backing_data_soft_deleted"
    );
    // No run starts from a configuration without its tarball.
    owner
        .post(
            "runs",
            &json!({"data": {"type": "runs", "relationships": {
                "workspace": {"data": {"type": "workspaces", "id": ws}},
                "configuration-version": {"data": {"type": "configuration-versions", "id": old}}}}}),
        )
        .expect(422);

    action(&owner, kind, &old, "restore_backing_data").expect(204);
    assert_eq!(
        download(&old).expect(200).text,
        String::from_utf8_lossy(&tarball(&[("main.tf", "# old\n")]))
    );

    action(&owner, kind, &old, "soft_delete_backing_data").expect(204);
    action(&owner, kind, &old, "permanently_delete_backing_data").expect(204);
    action(&owner, kind, &old, "restore_backing_data").expect_error(409, "transition not allowed");
    download(&old).expect(404);
    assert!(server.blob_files(&old).is_empty(), "the tarball is gone");
    download(&current).expect(200);

    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    action(&bob, kind, &current, "soft_delete_backing_data").expect(404);
});

both_databases!(second_upload_until_a_run_uses_it, |db: Db| {
    let (server, owner) = server(db);
    let ws = create_workspace(&owner, ORG, "uploads");
    let created = owner
        .post(
            &format!("workspaces/{ws}/configuration-versions"),
            &json!({"data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": false}}}),
        )
        .expect(201);
    let cv = created.id();
    let url = created.attr("upload-url").as_str().unwrap().to_string();
    let first = tarball(&[("main.tf", "# first\n")]);
    let second = tarball(&[("main.tf", "# second\n"), ("extra.tf", "# more\n")]);
    let download = || owner.get(&format!("configuration-versions/{cv}/download"));

    owner.put_unauthenticated(&url, &first).expect(200);
    let first_blobs = server.blob_files(&cv);
    assert_eq!(first_blobs.len(), 1, "{first_blobs:?}");
    owner.put_unauthenticated(&url, &second).expect(200);
    assert_eq!(
        download().expect(200).text,
        String::from_utf8_lossy(&second)
    );
    let shown = owner.get(&format!("configuration-versions/{cv}")).ok();
    assert_eq!(shown.attr("status"), "uploaded");
    let blobs = server.blob_files(&cv);
    assert_eq!(blobs.len(), 1, "the replaced tarball is deleted: {blobs:?}");
    assert_ne!(blobs, first_blobs);

    // A bad archive changes nothing: the version keeps the tarball it has.
    owner
        .put_unauthenticated(&url, b"not a tarball")
        .expect(422);
    assert_eq!(
        download().expect(200).text,
        String::from_utf8_lossy(&second)
    );
    assert_eq!(
        owner
            .get(&format!("configuration-versions/{cv}"))
            .ok()
            .attr("status"),
        "uploaded"
    );

    // Once a run uses it, the configuration never changes.
    create_run(&owner, &ws, Some(&cv), json!({"plan-only": true}));
    owner
        .put_unauthenticated(&url, &first)
        .expect_error(409, "used by a run");
    assert_eq!(
        download().expect(200).text,
        String::from_utf8_lossy(&second)
    );
    assert_eq!(
        server.blob_files(&cv).len(),
        1,
        "the refused upload left nothing"
    );
});

fn policy_body(kind: &str, days: Option<i64>) -> Value {
    match days {
        Some(days) => {
            json!({"data": {"type": kind, "attributes": {"delete-older-than-n-days": days}}})
        }
        None => json!({"data": {"type": kind}}),
    }
}

both_databases!(retention_policies, |db: Db| {
    let (server, owner) = server(db);
    let ws = create_workspace(&owner, ORG, "kept");
    let org_policy = format!("organizations/{ORG}/relationships/data-retention-policy");
    let ws_policy = format!("workspaces/{ws}/relationships/data-retention-policy");

    assert!(owner.get(&org_policy).ok().body["data"].is_null());
    assert!(
        owner.get(&format!("organizations/{ORG}")).ok().data()["relationships"]
            ["data-retention-policy"]["data"]
            .is_null()
    );

    let set = owner
        .post(
            &org_policy,
            &policy_body("data-retention-policy-delete-olders", Some(33)),
        )
        .ok();
    let id = set.id();
    assert!(id.starts_with("drp-"), "{}", set.text);
    assert_eq!(set.attr("delete-older-than-n-days"), 33);
    // Changing the days keeps the policy; changing its kind makes a new one.
    let again = owner
        .post(
            &org_policy,
            &policy_body("data-retention-policy-delete-olders", Some(1)),
        )
        .ok();
    assert_eq!(again.id(), id);
    let linked = owner.get(&format!("organizations/{ORG}")).ok();
    assert_eq!(
        linked.data()["relationships"]["data-retention-policy"]["data"],
        json!({"type": "data-retention-policy-delete-olders", "id": id})
    );
    let keep = owner
        .post(
            &ws_policy,
            &policy_body("data-retention-policy-dont-deletes", None),
        )
        .ok();
    assert_ne!(keep.id(), id);
    assert_eq!(
        owner.get(&ws_policy).ok().data()["type"],
        "data-retention-policy-dont-deletes"
    );
    assert_eq!(
        owner.get(&format!("workspaces/{ws}")).ok().data()["relationships"]
            ["data-retention-policy"]["data"]["id"],
        keep.id()
    );
    // A list shows each workspace's own, and none for one without.
    let plain = create_workspace(&owner, ORG, "plain");
    let listed = owner.get(&format!("organizations/{ORG}/workspaces")).ok();
    let policy_of = |id: &str| {
        let found = listed.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["id"] == id);
        found.unwrap()["relationships"]["data-retention-policy"]["data"].clone()
    };
    assert_eq!(policy_of(&ws)["id"], keep.id().as_str(), "{}", listed.text);
    assert!(policy_of(&plain).is_null(), "{}", listed.text);

    // Bad input is refused and changes nothing.
    for (body, message, pointer) in [
        (
            policy_body("data-retention-policy-delete-olders", Some(0)),
            "between 1 and 36500",
            "/data/attributes/delete-older-than-n-days",
        ),
        (
            policy_body("data-retention-policy-delete-olders", Some(100_000)),
            "between 1 and 36500",
            "/data/attributes/delete-older-than-n-days",
        ),
        (
            policy_body("data-retention-policy-delete-olders", None),
            "is required",
            "/data/attributes/delete-older-than-n-days",
        ),
        (policy_body("workspaces", Some(3)), "expected", "/data/type"),
    ] {
        let refused = owner.post(&org_policy, &body).expect_error(422, message);
        assert_eq!(
            refused.body["errors"][0]["source"]["pointer"], pointer,
            "{}",
            refused.text
        );
    }
    assert_eq!(
        owner.get(&org_policy).ok().attr("delete-older-than-n-days"),
        1
    );

    // Another organization's owner reaches neither.
    let bob = server.api(&server.user_token("bob"));
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    bob.get(&org_policy).expect(404);
    bob.post(
        &org_policy,
        &policy_body("data-retention-policy-dont-deletes", None),
    )
    .expect(404);
    bob.delete(&ws_policy).expect(404);
    bob.get(&ws_policy).expect(404);
    assert_eq!(owner.get(&org_policy).ok().id(), id);

    owner.delete(&ws_policy).expect(204);
    assert!(owner.get(&ws_policy).ok().body["data"].is_null());
    owner.delete(&org_policy).expect(204);
    assert!(owner.get(&org_policy).ok().body["data"].is_null());
});

/// Makes every version look created in 2000, configurations in the order they were made (the
/// newest is the current one).
fn age_everything(server: &Server, configurations: &[String]) {
    server.sql("UPDATE state_versions SET created_at = '2000-01-01T00:00:00+00:00'");
    for (day, id) in configurations.iter().enumerate() {
        server.sql(&format!(
            "UPDATE configuration_versions SET created_at = '2000-01-{:02}T00:00:00+00:00' \
             WHERE id = '{id}'",
            day + 1
        ));
    }
}

/// A new server on the stopped one's database and data directory (which the stopped one, kept
/// by the caller, owns).
fn restart(server: &mut Server, db: Db) -> Server {
    server.stop();
    let builder = Server::builder(db)
        .without_rate_limits()
        .data_dir(Path::new(&server.data_dir));
    match &server.database_url {
        Some(url) => builder.database_url(url).start(),
        None => builder.start(),
    }
}

// The housekeeping (hourly, and at start) soft-deletes what a policy says is too old: the
// organization's policy where the workspace has none, the workspace's own where it has one;
// never the current state or configuration.
both_databases!(policies_are_enforced, |db: Db| {
    let (server, owner) = server(db);
    let token = server.admin_token();
    let follows = create_workspace(&owner, ORG, "follows");
    let keeps = create_workspace(&owner, ORG, "keeps");
    let longer = create_workspace(&owner, ORG, "longer");
    let unset = create_workspace(&owner, ORG, "unset");
    let mut states = std::collections::BTreeMap::new();
    let mut configurations = std::collections::BTreeMap::new();
    for ws in [&follows, &keeps, &longer, &unset] {
        states.insert(ws.clone(), write_states(&owner, ws, 2));
        configurations.insert(
            ws.clone(),
            [
                upload_configuration(&owner, ws, &[("main.tf", "# 1\n")], false),
                upload_configuration(&owner, ws, &[("main.tf", "# 2\n")], false),
            ],
        );
    }
    owner
        .post(
            &format!("organizations/{ORG}/relationships/data-retention-policy"),
            &policy_body("data-retention-policy-delete-olders", Some(30)),
        )
        .ok();
    owner
        .post(
            &format!("workspaces/{keeps}/relationships/data-retention-policy"),
            &policy_body("data-retention-policy-dont-deletes", None),
        )
        .ok();
    // 100 years: nothing of 2000 is that old yet.
    owner
        .post(
            &format!("workspaces/{longer}/relationships/data-retention-policy"),
            &policy_body("data-retention-policy-delete-olders", Some(36_500)),
        )
        .ok();
    // Another organization without a policy.
    let bob_token = server.user_token("bob");
    let bob = server.api(&bob_token);
    bob.post(
        "organizations",
        &json!({"data": {"type": "organizations", "attributes": {"name": "bobs", "email": "bob@example.com"}}}),
    )
    .expect(201);
    let bobs = create_workspace(&bob, "bobs", "theirs");
    let bob_states = write_states(&bob, &bobs, 2);
    let in_order: Vec<String> = configurations.values().flatten().cloned().collect();
    age_everything(&server, &in_order);

    let mut stopped = server;
    let server = restart(&mut stopped, db);
    let owner = server.api(&token);
    let bob = server.api(&bob_token);
    let status = |api: &Api, kind: &str, id: &str| {
        api.get(&format!("{kind}/{id}"))
            .ok()
            .attr("status")
            .as_str()
            .unwrap()
            .to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(&owner, "state-versions", &states[&follows][0]) != "backing_data_soft_deleted" {
        assert!(
            Instant::now() < deadline,
            "the old state was never soft-deleted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        status(
            &owner,
            "configuration-versions",
            &configurations[&follows][0]
        ),
        "backing_data_soft_deleted"
    );
    owner
        .get(&format!("state-versions/{}/download", states[&follows][0]))
        .expect(404);
    // The current ones stay.
    assert_eq!(
        status(&owner, "state-versions", &states[&follows][1]),
        "finalized"
    );
    owner
        .get(&format!("state-versions/{}/download", states[&follows][1]))
        .expect(200);
    assert_eq!(
        status(
            &owner,
            "configuration-versions",
            &configurations[&follows][1]
        ),
        "uploaded"
    );
    // Overridden by the workspace, or not old enough, or under no policy at all.
    for ws in [&keeps, &longer] {
        for id in &states[ws] {
            assert_eq!(status(&owner, "state-versions", id), "finalized", "{ws}");
        }
        for id in &configurations[ws] {
            assert_eq!(
                status(&owner, "configuration-versions", id),
                "uploaded",
                "{ws}"
            );
        }
    }
    assert_eq!(
        status(&owner, "state-versions", &states[&unset][0]),
        "backing_data_soft_deleted",
        "a workspace without a policy follows its organization's"
    );
    for id in &bob_states {
        assert_eq!(status(&bob, "state-versions", id), "finalized");
    }
    // What the sweep soft-deleted is restorable.
    action(
        &owner,
        "state-versions",
        &states[&follows][0],
        "restore_backing_data",
    )
    .expect(204);
    owner
        .get(&format!("state-versions/{}/download", states[&follows][0]))
        .expect(200);
});
