//! The private module registry: modules published through TFE's `registry-modules` API and
//! consumed by the real terraform through the registry protocol (`modules.v1`), at the
//! server's `127.0.0.1:PORT` address (terraform wants a dot in a registry hostname). Another
//! organization's members reach none of it; bad uploads publish nothing.

use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::providers::{self, this_platform};
use terrace_tests::runs::{
    create_run, escaping_tarball, phase_log, tarball, upload_configuration, wait_for_run,
};
use terrace_tests::{both_databases, Api, Db, Server, Terraform};

/// The registry's host for module sources: the server's port on 127.0.0.1.
fn registry_host(server: &Server) -> String {
    let port = server.hostname.rsplit(':').next().unwrap();
    format!("127.0.0.1:{port}")
}

fn create_module(api: &Api, org: &str, name: &str, provider: &str) -> Value {
    api.post(
        &format!("organizations/{org}/registry-modules"),
        &json!({"data": {"type": "registry-modules",
            "attributes": {"name": name, "provider": provider, "registry-name": "private"}}}),
    )
    .expect(201)
    .body["data"]
        .clone()
}

/// Creates a version and returns its upload link.
fn create_version(api: &Api, org: &str, name: &str, provider: &str, version: &str) -> String {
    let created = api
        .post(
            &format!("registry-modules/{org}/{name}/{provider}/versions"),
            &json!({"data": {"type": "registry-module-versions",
                "attributes": {"version": version}}}),
        )
        .expect(201);
    assert_eq!(created.attr("status"), "pending", "{}", created.text);
    created.body["data"]["links"]["upload"]
        .as_str()
        .expect("an upload link")
        .to_string()
}

fn greeting_module(word: &str) -> Vec<u8> {
    tarball(&[
        ("variables.tf", "variable \"name\" {\n  type = string\n}\n"),
        (
            "main.tf",
            &format!("output \"greeting\" {{\n  value = \"{word} ${{var.name}}\"\n}}\n"),
        ),
    ])
}

fn publish(api: &Api, org: &str, version: &str, word: &str) {
    let upload = create_version(api, org, "greeting", "local", version);
    api.put_unauthenticated(&upload, &greeting_module(word))
        .expect(200);
}

fn consumer(host: &str, org: &str, constraint: &str) -> String {
    format!(
        "module \"g\" {{\n  source  = \"{host}/{org}/greeting/local\"\n  version = \"{constraint}\"\n  name    = \"terrace\"\n}}\n\
         output \"greeting\" {{\n  value = module.g.greeting\n}}\n"
    )
}

both_databases!(terraform_installs_published_versions, |db: Db| {
    let server = Server::start(db);
    let token = server.admin_token();
    let api = server.api(&token);
    let module = create_module(&api, "default", "greeting", "local");
    assert_eq!(module["attributes"]["namespace"], "default");
    assert_eq!(module["attributes"]["status"], "pending");
    publish(&api, "default", "1.0.0", "hello");
    publish(&api, "default", "1.1.0", "bonjour");
    // A version created but never uploaded is not offered.
    create_version(&api, "default", "greeting", "local", "2.0.0");

    let shown = api
        .get("organizations/default/registry-modules/private/default/greeting/local")
        .ok();
    assert_eq!(shown.attr("status"), "setup_complete", "{}", shown.text);
    assert_eq!(
        shown.attr("version-statuses"),
        &json!([{"version": "1.0.0", "status": "ok"}, {"version": "1.1.0", "status": "ok"},
            {"version": "2.0.0", "status": "pending"}])
    );
    // A list carries each module's own versions.
    create_module(&api, "default", "another", "local");
    let listed = api.get("organizations/default/registry-modules").ok();
    let statuses: Vec<(Value, usize)> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let count = m["attributes"]["version-statuses"]
                .as_array()
                .unwrap()
                .len();
            (m["attributes"]["name"].clone(), count)
        })
        .collect();
    assert_eq!(statuses, [(json!("another"), 0), (json!("greeting"), 3)]);
    let discovery = server.anonymous().get("/.well-known/terraform.json").ok();
    assert_eq!(discovery.body["modules.v1"], "/api/registry/v1/modules/");

    let host = registry_host(&server);
    let tf = Terraform::new(&server, &token);
    tf.add_credentials(&host, &token);
    tf.write("main.tf", &consumer(&host, "default", "1.0.0"));
    let init = tf.ok(&["init", "-input=false"]);
    assert!(init.contains("Downloading"), "{init}");
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
    assert_eq!(
        tf.ok(&["output", "-raw", "greeting"]).trim(),
        "hello terrace"
    );

    // A constraint picks the newest published version.
    tf.write("main.tf", &consumer(&host, "default", "~> 1.0"));
    tf.ok(&["init", "-upgrade", "-input=false"]);
    tf.ok(&["apply", "-auto-approve", "-input=false"]);
    assert_eq!(
        tf.ok(&["output", "-raw", "greeting"]).trim(),
        "bonjour terrace"
    );

    // A deleted version is gone for terraform too, and so is its tarball.
    let module_id = shown.id();
    assert_eq!(server.blob_files(&module_id).len(), 2);
    api.delete("organizations/default/registry-modules/private/default/greeting/local/1.1.0")
        .expect(204);
    assert_eq!(server.blob_files(&module_id).len(), 1);
    let versions = api
        .get("/api/registry/v1/modules/default/greeting/local/versions")
        .ok();
    assert_eq!(
        versions.body,
        json!({"modules": [{"versions": [{"version": "1.0.0"}]}]})
    );
    tf.write("main.tf", &consumer(&host, "default", "1.1.0"));
    let failed = tf.fails(&["init", "-upgrade", "-input=false"]);
    assert!(
        failed.contains("The newest available version is 1.0.0"),
        "{failed}"
    );

    // Deleting the organization deletes its modules' tarballs.
    api.delete("organizations/default").expect(204);
    assert_eq!(server.blob_files(&module_id), Vec::<String>::new());
});

both_databases!(another_organization_reaches_nothing, |db: Db| {
    let server = Server::start(db);
    let api = server.api(&server.admin_token());
    create_module(&api, "default", "greeting", "local");
    publish(&api, "default", "1.0.0", "hello");
    let mallory = server.api(&server.user_token("mallory"));
    mallory
        .post(
            "organizations",
            &json!({"data": {"type": "organizations",
                "attributes": {"name": "mallory-org", "email": "m@example.com"}}}),
        )
        .expect(201);

    for path in [
        "organizations/default/registry-modules",
        "organizations/default/registry-modules/private/default/greeting/local",
        "organizations/default/registry-modules/private/default/greeting/local/version?module_version=1.0.0",
        "/api/registry/v1/modules/default/greeting/local/versions",
        "/api/registry/v1/modules/default/greeting/local/1.0.0/download",
    ] {
        mallory.get(path).expect(404);
    }
    let id = api
        .get("organizations/default/registry-modules/private/default/greeting/local")
        .ok()
        .id();
    mallory.get(&format!("registry-modules/{id}")).expect(404);
    // Naming the module under their own organization finds nothing either.
    mallory
        .get("organizations/mallory-org/registry-modules/private/default/greeting/local")
        .expect(404);
    mallory
        .post(
            "registry-modules/default/greeting/local/versions",
            &json!({"data": {"type": "registry-module-versions", "attributes": {"version": "9.9.9"}}}),
        )
        .expect(404);
    mallory
        .delete("organizations/default/registry-modules/private/default/greeting")
        .expect(404);
    assert_eq!(
        api.get("organizations/default/registry-modules").ok().body["meta"]["pagination"]
            ["total-count"],
        1
    );
    // Their own list is empty, and no token reads nothing.
    let theirs = mallory
        .get("organizations/mallory-org/registry-modules")
        .ok();
    assert_eq!(theirs.body["data"], json!([]));
    server
        .anonymous()
        .get("/api/registry/v1/modules/default/greeting/local/versions")
        .expect(401);
});

both_databases!(bad_input_publishes_nothing, |db: Db| {
    let server = Server::start(db);
    let api = server.api(&server.admin_token());
    create_module(&api, "default", "greeting", "local");

    for (attributes, complaint) in [
        (
            json!({"name": "bad name", "provider": "local"}),
            "not a module name",
        ),
        (
            json!({"name": "ok", "provider": "Local"}),
            "not a module provider",
        ),
        (json!({"provider": "local"}), "needs a name"),
        (
            json!({"name": "greeting", "provider": "local"}),
            "already been taken",
        ),
        (
            json!({"name": "x", "provider": "local", "registry-name": "public"}),
            "only private",
        ),
        (
            json!({"name": "x", "provider": "local", "namespace": "other"}),
            "namespace",
        ),
    ] {
        api.post(
            "organizations/default/registry-modules",
            &json!({"data": {"type": "registry-modules", "attributes": attributes}}),
        )
        .expect_error(422, complaint);
    }
    for version in ["1.0", "v1.0.0", "01.0.0", "1.0.0/../x"] {
        api.post(
            "registry-modules/default/greeting/local/versions",
            &json!({"data": {"type": "registry-module-versions", "attributes": {"version": version}}}),
        )
        .expect_error(422, "not a version");
    }

    // Not a tarball, and a tarball reaching outside itself: refused, the version stays
    // pending and unpublished; the same link then takes a good tarball, once.
    let upload = create_version(&api, "default", "greeting", "local", "1.0.0");
    api.put_unauthenticated(&upload, b"not a tarball")
        .expect_error(422, "not a gzip-compressed tar archive");
    api.put_unauthenticated(&upload, &escaping_tarball())
        .expect(422);
    let versions = "/api/registry/v1/modules/default/greeting/local/versions";
    assert_eq!(
        api.get(versions).ok().body,
        json!({"modules": [{"versions": []}]})
    );
    api.put_unauthenticated(&upload, &greeting_module("hello"))
        .expect(200);
    api.put_unauthenticated(&upload, &greeting_module("changed"))
        .expect_error(409, "cannot be uploaded again");
    api.post(
        "registry-modules/default/greeting/local/versions",
        &json!({"data": {"type": "registry-module-versions", "attributes": {"version": "1.0.0"}}}),
    )
    .expect_error(422, "exists already");
    // A tampered link is refused.
    let mut tampered = upload.clone();
    tampered.pop();
    tampered.push('x');
    let status = api
        .put_unauthenticated(&tampered, &greeting_module("x"))
        .status;
    assert!(status == 403 || status == 404, "{status}");
    assert_eq!(
        api.get(versions).ok().body,
        json!({"modules": [{"versions": [{"version": "1.0.0"}]}]})
    );
    // The download link is signed; an altered one fetches nothing.
    let download = api.raw(
        "GET",
        "/api/registry/v1/modules/default/greeting/local/1.0.0/download",
        None,
    );
    assert_eq!(download.status(), 204);
    let url = download.headers()["x-terraform-get"]
        .to_str()
        .unwrap()
        .to_string();
    let archive = server.anonymous().get(&url);
    assert_eq!(archive.status, 200);
    let altered = url.replacen("/modules/", "/modules/x", 1);
    let refused = server.anonymous().get(&altered).status;
    assert!(refused == 403 || refused == 404, "{refused}");
});

both_databases!(
    a_remote_run_installs_modules_from_localterraform_com,
    |db: Db| {
        let server = Server::start(db);
        let api = server.api(&server.admin_token());
        create_module(&api, "default", "greeting", "local");
        publish(&api, "default", "1.0.0", "hello");

        // A private provider too: `init` inside the runner installs it from the registry
        // (the test's provider is a stand-in only `init` handles: the plan then stops at it).
        let gpg = providers::Gpg::new("registry-run");
        let (os, arch) = this_platform();
        providers::publish(&api, "default", "hello", "1.0.0", (&os, &arch), &gpg);
        let with_provider = api
            .post(
                "organizations/default/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": "with-provider"}}}),
            )
            .expect(201)
            .id();
        let config = "terraform {\n  required_providers {\n    hello = {\n      source  = \"localterraform.com/default/hello\"\n      version = \"1.0.0\"\n    }\n  }\n}\n";
        upload_configuration(&api, &with_provider, &[("main.tf", config)], false);
        let run = create_run(&api, &with_provider, None, json!({"plan-only": true})).id();
        wait_for_run(
            &api,
            &run,
            &["errored", "planned_and_finished"],
            Duration::from_secs(120),
        );
        // `init` (silent when it succeeds) installed it; the plan then starts it.
        let log = phase_log(&api, &run, "plan");
        assert!(
            log.contains(&format!(
                ".terraform/providers/localterraform.com/default/hello/1.0.0/{os}_{arch}/terraform-provider-hello_v1.0.0"
            )) && !log.contains("terraform init failed"),
            "{log}"
        );

        let ws = api
            .post(
                "organizations/default/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": "consumer"}}}),
            )
            .expect(201)
            .id();
        // The registry's own address works in runs too, not only TFE's generic name.
        let config = format!(
        "{}module \"direct\" {{\n  source  = \"{}/default/greeting/local\"\n  version = \"1.0.0\"\n  name    = \"direct\"\n}}\n",
        consumer("localterraform.com", "default", "1.0.0"),
        registry_host(&server)
    );
        upload_configuration(&api, &ws, &[("main.tf", config.as_str())], false);
        let run = create_run(&api, &ws, None, json!({"auto-apply": true})).id();
        wait_for_run(&api, &run, &["applied"], Duration::from_secs(120));
        let version = api
            .get(&format!("workspaces/{ws}/current-state-version"))
            .ok();
        let state = api
            .get(&format!("state-versions/{}/download", version.id()))
            .ok();
        assert_eq!(
            state.body["outputs"]["greeting"]["value"], "hello terrace",
            "{}",
            state.text
        );
    }
);
