//! Bad input around remote runs: runs on a locked workspace follow HCP Terraform's rules,
//! actions on a run in the wrong state answer 409 and change nothing, tarballs that are not
//! gzip'd tar (or are too large) are refused, variable keys are validated. On both databases.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::runs::{
    create_run, escaping_tarball, tarball, upload_configuration, wait_for_run,
};
use terrace_tests::{both_databases, Api, Db, Server};

const CONFIG: &str = r#"
resource "terraform_data" "a" {
  input = "a"
}
"#;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn admin_api(server: &Server) -> Api {
    server.api(&server.admin_token())
}

fn create_workspace(api: &Api, name: &str) -> String {
    api.post(
        "organizations/default/workspaces",
        &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
    )
    .expect(201)
    .id()
}

fn status(api: &Api, run: &str) -> String {
    api.get(&format!("runs/{run}"))
        .ok()
        .attr("status")
        .as_str()
        .unwrap()
        .to_string()
}

fn workspace(api: &Api, ws: &str) -> Value {
    api.get(&format!("workspaces/{ws}")).ok().body["data"].clone()
}

both_databases!(runs_wait_while_a_user_holds_the_lock, |db: Db| {
    let server = Server::start(db);
    let api = admin_api(&server);
    let ws = create_workspace(&api, "held");
    upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
    api.post(
        &format!("workspaces/{ws}/actions/lock"),
        &json!({"reason": "maintenance"}),
    )
    .ok();

    // A run is accepted but waits; a speculative plan changes nothing and goes ahead.
    let run = create_run(&api, &ws, None, json!({})).id();
    assert_eq!(status(&api, &run), "pending");
    let speculative = create_run(&api, &ws, None, json!({"plan-only": true})).id();
    wait_for_run(&api, &speculative, &["planned_and_finished"], RUN_TIMEOUT);
    assert_eq!(status(&api, &run), "pending", "the lock holds the run");
    api.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .expect_error(409, "locked");

    // Unlocked, the run starts and takes the lock itself: users cannot take it or release it.
    api.post(&format!("workspaces/{ws}/actions/unlock"), &json!({}))
        .ok();
    wait_for_run(&api, &run, &["planned"], RUN_TIMEOUT);
    let held = workspace(&api, &ws);
    assert_eq!(held["attributes"]["locked"], true, "{held}");
    assert_eq!(
        held["relationships"]["locked-by"]["data"]["id"],
        run.as_str()
    );
    api.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .expect_error(409, "locked");
    api.post(&format!("workspaces/{ws}/actions/unlock"), &json!({}))
        .expect(409);
    assert_eq!(workspace(&api, &ws)["attributes"]["locked"], true);

    // Discarding the run lets go of the lock.
    api.post(&format!("runs/{run}/actions/discard"), &json!({}))
        .expect(202);
    assert_eq!(status(&api, &run), "discarded");
    let released = workspace(&api, &ws);
    assert_eq!(released["attributes"]["locked"], false);
    // It stays the workspace's current run once it ended, as in TFE; the speculative plan,
    // which never took the workspace, never was.
    assert_eq!(
        released["relationships"]["current-run"]["data"]["id"],
        run.as_str(),
        "{released}"
    );
});

both_databases!(actions_in_the_wrong_state_answer_409, |db: Db| {
    let server = Server::start(db);
    let api = admin_api(&server);
    let ws = create_workspace(&api, "actions");
    upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);

    let refused = |run: &str, action: &str, now: &str| {
        api.post(&format!("runs/{run}/actions/{action}"), &json!({}))
            .expect_error(409, now);
        assert_eq!(status(&api, run), now, "{action} changed the run");
    };

    // A finished plan-only run takes no action at all.
    let speculative = create_run(&api, &ws, None, json!({"plan-only": true})).id();
    wait_for_run(&api, &speculative, &["planned_and_finished"], RUN_TIMEOUT);
    for action in ["apply", "discard", "cancel", "force-cancel"] {
        refused(&speculative, action, "planned_and_finished");
    }

    // A planned run cannot be force-canceled before it was canceled.
    let run = create_run(&api, &ws, None, json!({})).id();
    wait_for_run(&api, &run, &["planned"], RUN_TIMEOUT);
    refused(&run, "force-cancel", "planned");
    api.post(
        &format!("runs/{run}/actions/apply"),
        &json!({"comment": "ship it"}),
    )
    .expect(202);
    wait_for_run(&api, &run, &["applied"], RUN_TIMEOUT);
    for action in ["apply", "discard", "cancel", "force-cancel"] {
        refused(&run, action, "applied");
    }
    // The applied run stays current: the status filter finds the workspace by it.
    create_workspace(&api, "never-run");
    for list in [
        "organizations/default/workspaces?filter[current-run][status]=applied&include=current_run",
        "admin/workspaces?filter[current_run][status]=applied&include=current_run",
    ] {
        let found = api.get(list).ok();
        let ids: Vec<&str> = found
            .data()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|w| w["id"].as_str())
            .collect();
        assert_eq!(ids, [ws.as_str()], "{list}: {}", found.text);
        assert_eq!(
            found.body["included"][0]["id"],
            run.as_str(),
            "{}",
            found.text
        );
    }
    let versions = api
        .get("state-versions?filter[organization][name]=default&filter[workspace][name]=actions")
        .ok();
    assert_eq!(
        versions.data().as_array().unwrap().len(),
        1,
        "{}",
        versions.text
    );

    // Unknown filter values are refused, not ignored.
    for filter in [
        "filter[status]=sideways",
        "filter[operation]=plan_only,teleport",
    ] {
        let name = filter.split('=').next().unwrap();
        api.get(&format!("workspaces/{ws}/runs?{filter}"))
            .expect_error(400, name);
    }
    let listed = api
        .get(&format!("workspaces/{ws}/runs?filter[operation]=plan_only"))
        .ok();
    assert_eq!(
        listed.data()[0]["id"],
        speculative.as_str(),
        "plan-only runs are listed when asked for: {}",
        listed.text
    );

    // Unknown runs, malformed bodies.
    api.post("runs/run-doesnotexist00000/actions/apply", &json!({}))
        .expect_error(404, "not found");
    let reply = api.send_raw(
        "POST",
        &format!("runs/{run}/actions/discard"),
        b"{\"comment\":",
    );
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(status(&api, &run), "applied");
});

/// A gzip stream of `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Bytes gzip cannot shrink.
fn incompressible(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

both_databases!(bad_tarballs_are_refused_and_error_the_version, |db: Db| {
    let server = Server::builder(db)
        .config("max_configuration_megabytes = 1\n")
        .start();
    let api = admin_api(&server);
    let ws = create_workspace(&api, "tarballs");
    let big = {
        let content = String::from_utf8_lossy(&incompressible(1_500_000)).into_owned();
        tarball(&[("main.tf", CONFIG), ("blob.txt", content.as_str())])
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "plain text",
            b"resource \"x\" \"y\" {}".to_vec(),
            422,
            "gzip",
        ),
        ("gzip'd text", gzip(&[b'x'; 4000]), 422, "tar"),
        (
            "a path out of the configuration",
            escaping_tarball(),
            422,
            "escape.tf",
        ),
        ("over the limit", big, 413, "limit"),
    ];
    for (what, body, code, mentions) in cases {
        let created = api
            .post(
                &format!("workspaces/{ws}/configuration-versions"),
                &json!({"data": {"type": "configuration-versions",
                    "attributes": {"auto-queue-runs": true}}}),
            )
            .expect(201);
        let cv = created.id();
        let url = created.attr("upload-url").as_str().unwrap().to_string();
        api.put_unauthenticated(&url, &body)
            .expect_error(code, mentions);
        let shown = api.get(&format!("configuration-versions/{cv}")).ok();
        assert_eq!(shown.attr("status"), "errored", "{what}: {}", shown.text);
        assert!(
            shown
                .attr("error-message")
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {}",
            shown.text
        );
        // The URL is spent, and the version cannot be run or downloaded.
        api.put_unauthenticated(&url, &tarball(&[("main.tf", CONFIG)]))
            .expect(409);
        let run = api.post(
            "runs",
            &json!({"data": {"type": "runs", "relationships": {
                "workspace": {"data": {"type": "workspaces", "id": ws}},
                "configuration-version": {"data": {"type": "configuration-versions", "id": cv}}}}}),
        );
        assert_eq!(run.status, 422, "{what}: {}", run.text);
        assert_eq!(
            api.get(&format!("configuration-versions/{cv}/download"))
                .status,
            404,
            "{what}"
        );
    }
    // auto-queue-runs queued nothing, and without an uploaded version no run can start.
    let runs = api.get(&format!("workspaces/{ws}/runs")).ok();
    assert_eq!(runs.data(), &json!([]), "{}", runs.text);
    api.post(
        "runs",
        &json!({"data": {"type": "runs", "relationships": {
            "workspace": {"data": {"type": "workspaces", "id": ws}}}}}),
    )
    .expect_error(422, "no uploaded configuration");
    // A good tarball still works.
    upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
});

/// A decompression bomb hidden behind a pax `size` record: the basic header of `bomb` says
/// 0 bytes, its pax record says `size`, and `size` zero bytes follow. The `tar` crate (like
/// GNU tar and Go) honours the pax size and unpacks `size` bytes; a reader of the basic
/// header sees an empty file followed by zero blocks, the end of the archive.
fn pax_size_bomb(size: usize) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(CONFIG.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "main.tf", CONFIG.as_bytes())
        .unwrap();
    // A pax record is `<length> size=<size>\n`, its length counting itself.
    let record = format!("size={size}\n");
    let mut len = record.len() + 2;
    while format!("{len} {record}").len() != len {
        len += 1;
    }
    let pax = format!("{len} {record}");
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_size(pax.len() as u64);
    header.set_mode(0o644);
    builder
        .append_data(&mut header, "PaxHeaders/bomb", pax.as_bytes())
        .unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_size(0);
    header.set_mode(0o644);
    builder.append_data(&mut header, "bomb", &b""[..]).unwrap();
    let mut tar = builder.into_inner().unwrap();
    // `into_inner` wrote the end-of-archive marker: the bomb's data goes before it.
    tar.truncate(tar.len() - 1024);
    tar.resize(tar.len() + size, 0);
    tar.extend_from_slice(&[0; 1024]);
    gzip(&tar)
}

both_databases!(a_pax_size_bomb_is_refused_and_queues_nothing, |db: Db| {
    let server = Server::builder(db)
        .config("max_configuration_unpacked_megabytes = 1\n")
        .start();
    let api = admin_api(&server);
    let ws = create_workspace(&api, "bomb");
    let bomb = pax_size_bomb(16 << 20);
    assert!(bomb.len() < 256 << 10, "{} bytes", bomb.len());
    let created = api
        .post(
            &format!("workspaces/{ws}/configuration-versions"),
            &json!({"data": {"type": "configuration-versions",
                "attributes": {"auto-queue-runs": true}}}),
        )
        .expect(201);
    let cv = created.id();
    let url = created.attr("upload-url").as_str().unwrap().to_string();
    api.put_unauthenticated(&url, &bomb)
        .expect_error(422, "the archive unpacks to more than 1048576 bytes");
    let shown = api.get(&format!("configuration-versions/{cv}")).ok();
    assert_eq!(shown.attr("status"), "errored", "{}", shown.text);
    assert_eq!(
        shown.attr("error-message"),
        "the archive unpacks to more than 1048576 bytes",
        "{}",
        shown.text
    );
    let runs = api.get(&format!("workspaces/{ws}/runs")).ok();
    assert_eq!(runs.data(), &json!([]), "{}", runs.text);
    // An ordinary configuration is still welcome under the lowered limit.
    upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
});

both_databases!(variable_keys_and_values_are_validated, |db: Db| {
    let server = Server::start(db);
    let api = admin_api(&server);
    let ws = create_workspace(&api, "vars");
    let vars = format!("workspaces/{ws}/vars");
    let create = |attributes: Value| {
        api.post(
            &vars,
            &json!({"data": {"type": "vars", "attributes": attributes}}),
        )
    };
    create(json!({"key": "region", "value": "eu-west-1", "category": "terraform"})).expect(201);

    let long = "k".repeat(129);
    let refused: Vec<(Value, &str)> = vec![
        (
            json!({"key": "", "value": "x", "category": "terraform"}),
            "key",
        ),
        (json!({"value": "x", "category": "terraform"}), "key"),
        (
            json!({"key": long, "value": "x", "category": "terraform"}),
            "key",
        ),
        (
            json!({"key": "A=B", "value": "x", "category": "env"}),
            "environment variable",
        ),
        (json!({"key": "ok", "value": "x"}), "category"),
        (
            json!({"key": "ok", "value": "x", "category": "shell"}),
            "category",
        ),
        (
            json!({"key": "ok", "value": 5, "category": "terraform"}),
            "value",
        ),
        (
            json!({"key": "ok", "value": "x", "category": "terraform", "hcl": "yes"}),
            "hcl",
        ),
        (
            json!({"key": "region", "value": "again", "category": "terraform"}),
            "taken",
        ),
    ];
    for (attributes, mentions) in refused {
        let reply = create(attributes.clone());
        // What is wrong is said in the detail or pointed at in the source.
        let pointer = reply.body["errors"][0]["source"]["pointer"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let reply = reply.expect(422);
        let detail = reply.body["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default();
        assert!(
            detail.contains(mentions) || pointer == format!("/data/attributes/{mentions}"),
            "{attributes}: {}",
            reply.text
        );
    }
    // Nothing but the first variable was written.
    let listed = api.get(&vars).ok();
    let keys: Vec<&str> = listed
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["attributes"]["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["region"], "{}", listed.text);

    // Updates are validated the same way, and change nothing when refused.
    let id = listed.data()[0]["id"].as_str().unwrap().to_string();
    api.patch(
        &format!("{vars}/{id}"),
        &json!({"data": {"type": "vars", "id": id, "attributes": {"key": ""}}}),
    )
    .expect_error(422, "key");
    let shown = api.get(&format!("{vars}/{id}")).ok();
    assert_eq!(shown.attr("key"), "region");
    assert_eq!(shown.attr("value"), "eu-west-1");
});
