//! The web UI: a real Chromium (tests/browser/web_ui.mjs, playwright-core) signs in, lists and
//! searches workspaces, reads a workspace's overview (its latest run, resources, outputs with
//! the sensitive one masked) and a run's logs, watches a plan's and an apply's logs stream in
//! live, cancels a slow run, discards one, sees a read-only member without the buttons
//! (refused when posting anyway), with axe-core finding no serious accessibility violation
//! in light or dark mode, nothing wider than 360 px, and another organization's member
//! getting 404s. HTTP-level checks cover what a browser would never
//! send: forged sign-outs, open redirects, and pages without a session.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use terrace_tests::access::{add_member, create_team, grant_workspace};
use terrace_tests::listener::ListenerProcess;
use terrace_tests::providers;
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::web::Visitor;
use terrace_tests::{Db, Server};

const PASSWORD: &str = "user-password-1";
const SECRET: &str = "s3cr3t-value-7d1f";
/// `web`'s configuration's README: markdown with a table, a script and a javascript: link.
const README: &str = "# The web site\n\nServes [the site](https://web.example).\n\n\
    | region | size |\n|---|---|\n| eu | 2 |\n\n<script>document.title = 'owned'</script>\n\n\
    [bad link](javascript:alert(1))\n";

/// A server with alice owning acme, bob owning bobco, and carol (a member of nothing yet);
/// with alice's API token.
fn with_organizations() -> (Server, String) {
    // Signed-in browsers are counted by their address, like requests without a token: here
    // every visitor is 127.0.0.1 and clicks faster than people, so the address quota is raised
    // (limits are tested in abuse_limits.rs).
    let server = Server::builder(Db::Sqlite)
        .args(&[
            "--rate-limit-anonymous",
            "1000",
            "--rate-limit-anonymous-burst",
            "1000",
        ])
        .start();
    let alices_token = server.user_token("alice");
    let alice = server.api(&alices_token);
    let bob = server.api(&server.user_token("bob"));
    server.user_token("carol");
    for (api, org) in [(&alice, "acme"), (&bob, "bobco")] {
        api.post(
            "organizations",
            &json!({"data": {"type": "organizations",
                "attributes": {"name": org, "email": format!("{org}@example.com")}}}),
        )
        .expect(201);
    }
    (server, alices_token)
}

/// acme with `web` (an applied run with two outputs, one sensitive) and `db`, owned by
/// alice; bob in an organization of his own.
fn prepared() -> Server {
    let (server, alices_token) = with_organizations();
    let alice = server.api(&alices_token);
    // dave administers the site.
    server.user_token("dave");
    server.admin(&["user", "grant-admin", "dave"]);
    // alice has a second organization to switch to.
    alice
        .post(
            "organizations",
            &json!({"data": {"type": "organizations",
                "attributes": {"name": "labs", "email": "labs@example.com"}}}),
        )
        .expect(201);
    let mut web = String::new();
    for name in ["web", "db"] {
        let id = alice
            .post(
                "organizations/acme/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": name},
                    "relationships": {"tags": {"data": [
                        {"type": "tags", "attributes": {"name": format!("tier-{name}")}}]}}}}),
            )
            .expect(201)
            .id();
        if name == "web" {
            web = id;
        }
    }
    let config = format!(
        "resource \"terraform_data\" \"site\" {{\n  input = {{ name = \"web\", tags = {{ tier = \"front\" }} }}\n}}\n\
         output \"endpoint\" {{\n  value = \"https://web.example\"\n}}\n\
         output \"password\" {{\n  value     = \"{SECRET}\"\n  sensitive = true\n}}\n"
    );
    upload_configuration(&alice, &web, &[("main.tf", config.as_str())], false);
    let run = create_run(&alice, &web, None, json!({"auto-apply": true})).id();
    wait_for_run(&alice, &run, &["applied"], Duration::from_secs(120));
    // A second state: one resource changed, one added; the configuration has a README.
    // (a nested attribute: the plan view shows `input.name`, not `input.tags.tier`)
    let config = config.replace("name = \"web\"", "name = \"web2\"")
        + "resource \"terraform_data\" \"extra\" {}\n";
    upload_configuration(
        &alice,
        &web,
        &[("main.tf", config.as_str()), ("README.md", README)],
        false,
    );
    let run = create_run(&alice, &web, None, json!({"auto-apply": true})).id();
    wait_for_run(&alice, &run, &["applied"], Duration::from_secs(120));

    // Runs waiting for confirmation: one applies slowly (its log streams into the page),
    // one sleeps until canceled, one is discarded; carol may only read them.
    let team = create_team(&alice, "acme", "readers", json!({}));
    add_member(&alice, "acme", &team, "carol");
    for (name, seconds) in [("slow", 6), ("stuck", 300), ("gated", 1)] {
        let ws = alice
            .post(
                "organizations/acme/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
            )
            .expect(201)
            .id();
        grant_workspace(&alice, &team, &ws, json!({"access": "read"}));
        let config = format!(
            "resource \"terraform_data\" \"wait\" {{\n  provisioner \"local-exec\" {{\n    \
             command = \"for i in $(seq 1 {seconds}); do echo tick $i; sleep 1; done\"\n  }}\n}}\n"
        );
        upload_configuration(&alice, &ws, &[("main.tf", config.as_str())], false);
        let run = create_run(&alice, &ws, None, json!({})).id();
        wait_for_run(&alice, &run, &["planned"], Duration::from_secs(120));
    }
    // A module in the private registry.
    create_network_module(&alice);
    module_version(
        &alice,
        "1.0.0",
        Some("# Network\n\nA `vpc` and its subnets.\n"),
    );
    // An agent pool with a token (no agent connects).
    let pool = alice
        .post(
            "organizations/acme/agent-pools",
            &json!({"data": {"type": "agent-pools", "attributes": {"name": "edge"}}}),
        )
        .expect(201)
        .id();
    alice
        .post(
            &format!("agent-pools/{pool}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": "edge host"}}}),
        )
        .expect(201);
    // A run that waits for its workspace's lock: the browser unlocks it and watches the plan.
    let queued = alice
        .post(
            "organizations/acme/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "queued"}}}),
        )
        .expect(201)
        .id();
    alice
        .post(
            &format!("workspaces/{queued}/actions/lock"),
            &json!({"reason": "held for the test"}),
        )
        .expect(200);
    let config = "resource \"terraform_data\" \"later\" {}\n";
    upload_configuration(&alice, &queued, &[("main.tf", config)], false);
    let run = create_run(&alice, &queued, None, json!({})).id();
    std::thread::sleep(Duration::from_secs(1));
    let pending = alice.get(&format!("runs/{run}")).ok();
    assert_eq!(pending.attr("status"), "pending", "{}", pending.text);
    server
}

/// The browser scenario's folder, with its node_modules installed by the test command.
fn browser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/browser"))
}

#[test]
fn a_browser_signs_in_and_reads_workspaces_and_runs() {
    let server = prepared();
    let shots = std::env::var("TERRACE_SCREENSHOTS").unwrap_or_default();
    let output = Command::new("node")
        .arg(browser_dir().join("web_ui.mjs"))
        .current_dir(browser_dir())
        .env("TERRACE_URL", &server.url)
        .env("TERRACE_CERT", server.data_dir.join("tls/server.pem"))
        // Playwright's own requests (forged forms) go through Node's TLS: Terrace's CA.
        .env("NODE_EXTRA_CA_CERTS", &server.ca_bundle)
        .env("TERRACE_PASSWORD", PASSWORD)
        .env("TERRACE_SECRET", SECRET)
        .env("TERRACE_SCREENSHOTS", shots)
        .output()
        .expect(
            "node runs (scripts/install-test-deps.sh installs it, chromium and playwright-core)",
        );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "{stdout}\n{stderr}"
    );
}

fn location(response: &reqwest::blocking::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

#[test]
fn pages_need_a_session_and_forms_need_their_token() {
    let server = prepared();
    let alice = Visitor::new(&server);
    // Without a session, a page sends to the sign-in form, which comes back to it.
    let page = alice.get("/app/acme/workspaces?q=w");
    assert_eq!(page.status(), 303);
    assert_eq!(
        location(&page),
        "/app/sign-in?return_to=%2Fapp%2Facme%2Fworkspaces%3Fq%3Dw"
    );
    // A wrong password is the form again, saying so, and no session.
    let wrong = alice.sign_in("alice", "nope", "/app/organizations");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().unwrap().contains("Wrong username or password"));
    assert_eq!(alice.get("/app/organizations").status(), 303);
    // The form never sends anyone to another site.
    let signed_in = alice.sign_in("alice", PASSWORD, "https://evil.example/app/");
    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/app/organizations");
    let alice = Visitor::new(&server);
    let signed_in = alice.sign_in("alice", PASSWORD, "/app/acme/workspaces");
    assert_eq!(location(&signed_in), "/app/acme/workspaces");
    let list = alice.get("/app/acme/workspaces");
    assert_eq!(list.status(), 200);
    assert!(list.text().unwrap().contains(">web</a>"));
    // A sign-out without the session's form token (another site's form) is refused.
    let forged = alice.post("/app/sign-out", &[("csrf", &"0".repeat(64))]);
    assert_eq!(forged.status(), 403);
    assert_eq!(alice.get("/app/organizations").status(), 200);
    // Another organization's member: 404 on every acme page, as the API answers.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    for path in [
        "/app/acme/workspaces",
        "/app/acme/workspaces/web",
        "/app/acme/workspaces/web/runs",
    ] {
        let reply = bob.get(path);
        assert_eq!(reply.status(), 404, "{path}");
        assert!(!reply.text().unwrap().contains("web.example"));
    }
    // A run of one workspace is not shown under another's address.
    let runs = alice.get("/app/acme/workspaces/web/runs").text().unwrap();
    let run_id = runs
        .split("/runs/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(
        alice
            .get(&format!("/app/acme/workspaces/web/runs/{run_id}"))
            .status(),
        200
    );
    assert_eq!(
        alice
            .get(&format!("/app/acme/workspaces/db/runs/{run_id}"))
            .status(),
        404
    );

    // Every page and form of acme's, as bob: 404, and nothing changes.
    let states = alice.get("/app/acme/workspaces/web/states").text().unwrap();
    let sv_id = states
        .split("/states/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let bobs_token = bob.form_token();
    for path in [
        "/app/acme/workspaces/web/states".to_string(),
        format!("/app/acme/workspaces/web/states/{sv_id}"),
        format!("/app/acme/workspaces/web/states/{sv_id}/download"),
        "/app/acme/workspaces/web/settings".to_string(),
        "/app/acme/workspaces/web/variables".to_string(),
        "/app/acme/resources?q=terraform_data".to_string(),
        format!("/app/acme/workspaces/web/runs/{run_id}"),
        format!("/app/acme/workspaces/web/runs/{run_id}/logs/plan"),
    ] {
        let reply = bob.get(&path);
        assert_eq!(reply.status(), 404, "{path}");
        assert!(!reply.text().unwrap().contains(SECRET), "{path}");
    }
    // The state file itself is for acme's readers.
    let file = alice.get(&format!("/app/acme/workspaces/web/states/{sv_id}/download"));
    assert_eq!(file.status(), 200);
    assert!(file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".tfstate"));
    for path in [
        "/app/acme/workspaces".to_string(),
        "/app/acme/workspaces/web/variables".to_string(),
        "/app/acme/workspaces/web/actions/lock".to_string(),
        "/app/acme/workspaces/web/settings".to_string(),
        "/app/acme/workspaces/web/settings/delete".to_string(),
        format!("/app/acme/workspaces/gated/runs/{run_id}/actions/discard"),
    ] {
        let reply = bob.post(
            &path,
            &[
                ("csrf", bobs_token.as_str()),
                ("name", "bobs"),
                ("key", "bobs"),
                ("value", "x"),
                ("category", "env"),
                ("confirm", "web"),
                ("mode", "force"),
            ],
        );
        assert_eq!(reply.status(), 404, "{path}");
    }
    // Tokens are their owner's alone: bob cannot revoke alice's, and a new one's page is
    // kept by no cache.
    let made = alice.post(
        "/app/account/tokens",
        &[
            ("csrf", alice.form_token().as_str()),
            ("description", "mine"),
        ],
    );
    assert_eq!(made.status(), 200);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let listed = made.text().unwrap();
    let token_id = listed
        .split("/app/account/tokens/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    let revoke = format!("/app/account/tokens/{token_id}/delete");
    assert_eq!(
        bob.post(&revoke, &[("csrf", bobs_token.as_str())]).status(),
        404
    );
    assert!(!bob
        .get("/app/account/tokens")
        .text()
        .unwrap()
        .contains(&token_id));
    assert!(alice
        .get("/app/account/tokens")
        .text()
        .unwrap()
        .contains(&token_id));

    // Alice's own forms need her session's token: another session's is refused.
    for path in [
        "/app/acme/workspaces",
        "/app/acme/workspaces/web/variables",
        "/app/acme/workspaces/web/actions/lock",
        "/app/acme/workspaces/web/settings",
        "/app/acme/workspaces/web/settings/delete",
        "/app/account/tokens",
    ] {
        let reply = alice.post(
            path,
            &[
                ("csrf", bobs_token.as_str()),
                ("name", "forged"),
                ("key", "forged"),
                ("value", "x"),
                ("category", "env"),
                ("confirm", "web"),
                ("mode", "force"),
            ],
        );
        assert_eq!(reply.status(), 403, "{path}");
    }
    let page = alice.get("/app/acme/workspaces/web");
    assert_eq!(page.status(), 200, "a forged deletion took");
    let page = page.text().unwrap();
    assert!(!page.contains("locked in the web UI"), "a forged lock took");
    // The README is shown as markdown, its script as text.
    assert!(page.contains("<h3>The web site</h3>") && page.contains("&lt;script&gt;"));
    assert!(!page.contains("<script>document.title"));
    let variables = alice
        .get("/app/acme/workspaces/web/variables")
        .text()
        .unwrap();
    assert!(!variables.contains("forged") && !variables.contains("bobs"));
    assert!(!alice
        .get("/app/acme/workspaces")
        .text()
        .unwrap()
        .contains(">forged<"));
}

#[test]
fn static_files_are_linked_by_fingerprint_and_cached_for_good() {
    let server = Server::start(Db::Sqlite);
    let visitor = Visitor::new(&server);
    let form = visitor.get("/app/sign-in").text().unwrap();
    let linked = form
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.starts_with("/static/terrace.") && href.ends_with(".css"))
        .expect("the page links its stylesheet")
        .to_string();
    assert_ne!(linked, "/static/terrace.css", "not fingerprinted");
    let fingerprinted = visitor.get(&linked);
    assert_eq!(fingerprinted.status(), 200);
    let cache = fingerprinted.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cache.contains("immutable"), "{cache}");
    let body = fingerprinted.text().unwrap();
    // The plain name serves the same file, briefly cached; a wrong fingerprint nothing.
    let plain = visitor.get("/static/terrace.css");
    assert!(!plain.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(plain.text().unwrap(), body);
    assert_eq!(
        visitor.get("/static/terrace.000000000000.css").status(),
        404
    );
}

/// The text between `before` and the next `after` in `page`.
fn between<'p>(page: &'p str, before: &str, after: &str) -> &'p str {
    let rest = &page[page
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in:\n{page}"))
        + before.len()..];
    &rest[..rest.find(after).unwrap()]
}

#[test]
fn an_owner_runs_agent_pools_from_the_browser_and_others_only_read_or_see_nothing() {
    let (server, alices_token) = with_organizations();
    let api = server.api(&alices_token);
    let alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD, "/app").status(), 303);
    let token = alice.form_token();

    // A pool, made with the form, and a token for it: the secret shown once, on a page no
    // cache keeps.
    let made = alice.post(
        "/app/acme/agent-pools",
        &[
            ("csrf", &token),
            ("name", "edge"),
            ("organization_scoped", "on"),
        ],
    );
    assert_eq!(made.status(), 303);
    let pool_page = location(&made);
    let pool_id = pool_page.rsplit('/').next().unwrap().to_string();
    assert!(pool_id.starts_with("apool-"), "{pool_page}");
    let listed = alice.get("/app/acme/agent-pools").text().unwrap();
    assert!(
        listed.contains(&format!("href=\"{pool_page}\">edge</a>")),
        "{listed}"
    );
    let with_secret = alice.post(
        &format!("{pool_page}/tokens"),
        &[("csrf", &token), ("description", "edge host")],
    );
    assert_eq!(with_secret.status(), 200);
    assert_eq!(with_secret.headers()["cache-control"], "no-store");
    let with_secret = with_secret.text().unwrap();
    let secret = between(
        between(&with_secret, "id=\"secret\"", ">"),
        "value=\"",
        "\"",
    )
    .to_string();
    assert!(secret.len() > 20, "{secret}");
    let page = alice.get(&pool_page).text().unwrap();
    assert!(
        page.contains("edge host") && !page.contains(&secret),
        "shown again"
    );
    let token_id = between(&page, "/tokens/", "/delete").to_string();

    // A real listener with that token appears as the pool's agent, idle.
    let listener = ListenerProcess::start(&server, &secret, "edge-1");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = alice.get(&pool_page).text().unwrap();
        if page.contains("edge-1") && page.contains(">idle</span>") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no idle agent shown:\n{page}\n{}",
            listener.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // A workspace on the pool: the pool names it, its overview names the pool.
    let ws = api
        .post(
            "organizations/acme/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "edge-app"}}}),
        )
        .expect(201)
        .id();
    api.patch(
        &format!("workspaces/{ws}"),
        &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "agent"},
            "relationships": {"agent-pool": {"data": {"type": "agent-pools", "id": pool_id}}}}}),
    )
    .expect(200);
    assert!(alice
        .get(&pool_page)
        .text()
        .unwrap()
        .contains(">edge-app</a>"));
    let overview = alice.get("/app/acme/workspaces/edge-app").text().unwrap();
    assert!(
        overview.contains(&format!("agent on <a href=\"{pool_page}\">edge</a>")),
        "{overview}"
    );
    // A pool in use is not deleted: the page says why.
    let refused = alice.post(&format!("{pool_page}/delete"), &[("csrf", &token)]);
    assert_eq!(refused.status(), 422);
    assert!(refused.text().unwrap().contains("still used by workspaces"));

    // Which workspaces it serves: a workspace that uses it cannot be shut out.
    let scope = |action: &str, field: &str, value: &str| {
        alice.post(
            &format!("{pool_page}/scope/{action}"),
            &[("csrf", token.as_str()), (field, value)],
        )
    };
    let refused = scope("exclude-workspace", "workspace", "edge-app");
    assert_eq!(refused.status(), 422);
    assert!(refused
        .text()
        .unwrap()
        .contains("workspace edge-app uses this agent pool"));
    assert_eq!(
        scope("exclude-workspace", "workspace", "nowhere").status(),
        422
    );
    assert_eq!(
        scope("allow-workspace", "workspace", "edge-app").status(),
        303
    );
    let project = api
        .post(
            "organizations/acme/projects",
            &json!({"data": {"type": "projects", "attributes": {"name": "Edge project"}}}),
        )
        .expect(201)
        .id();
    assert_eq!(scope("allow-project", "project", &project).status(), 303);
    let only_chosen = alice.post(&pool_page, &[("csrf", &token), ("name", "edge")]);
    assert_eq!(only_chosen.status(), 303);
    let other = terrace_tests::access::create_workspace(&api, "acme", "other", Some(&project));
    assert_eq!(
        scope("exclude-workspace", "workspace", "other").status(),
        303
    );
    let page = alice.get(&pool_page).text().unwrap();
    let listed = |heading: &str| between(&page, &format!(">{heading}</h3>"), "</ul>").to_string();
    assert!(listed("Allowed workspaces").contains(">edge-app</a>"));
    assert!(listed("Allowed projects").contains(">Edge project</a>"));
    assert!(listed("Excluded workspaces").contains(">other</a>"));
    let seen = api.get(&format!("agent-pools/{pool_id}")).ok();
    assert_eq!(seen.attr("organization-scoped"), false);
    let ids = |relationship: &str| -> Vec<String> {
        seen.body["data"]["relationships"][relationship]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("allowed-workspaces"), std::slice::from_ref(&ws));
    assert_eq!(ids("allowed-projects"), std::slice::from_ref(&project));
    assert_eq!(ids("excluded-workspaces"), std::slice::from_ref(&other));
    let refused = scope("disallow-workspace", "workspace", &ws);
    assert_eq!(refused.status(), 422);
    assert_eq!(
        scope("include-workspace", "workspace", &other).status(),
        303
    );
    assert_eq!(scope("disallow-project", "project", &project).status(), 303);
    let seen = api.get(&format!("agent-pools/{pool_id}")).ok();
    assert_eq!(
        seen.body["data"]["relationships"]["excluded-workspaces"]["data"],
        json!([])
    );
    assert_eq!(
        seen.body["data"]["relationships"]["allowed-projects"]["data"],
        json!([])
    );
    assert_eq!(
        scope("allow-everything", "workspace", "other").status(),
        404
    );

    // carol, a member who may read: the pool without the buttons, refused if she posts.
    let team = create_team(&api, "acme", "readers", json!({}));
    add_member(&api, "acme", &team, "carol");
    let carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol", PASSWORD, "/app").status(), 303);
    let seen = carol.get(&pool_page).text().unwrap();
    assert!(seen.contains("edge host") && seen.contains("edge-1"));
    for button in [
        "Revoke",
        "Create token",
        "Delete agent pool",
        "Save",
        "Remove",
        "Allow workspace",
        "Exclude workspace",
    ] {
        assert!(
            !seen.contains(&format!("{button}</button>")),
            "carol sees {button}"
        );
    }
    let carols_token = carol.form_token();
    for path in [
        format!("{pool_page}/tokens/{token_id}/delete"),
        format!("{pool_page}/tokens"),
        format!("{pool_page}/delete"),
        pool_page.clone(),
        format!("{pool_page}/scope/disallow-workspace"),
        format!("{pool_page}/scope/allow-workspace"),
    ] {
        let reply = carol.post(
            &path,
            &[
                ("csrf", &carols_token),
                ("name", "carols"),
                ("description", "carols"),
                ("workspace", &ws),
            ],
        );
        assert_eq!(reply.status(), 403, "{path}");
    }
    // bob, of another organization: nothing of acme's pools, not even under his own name.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    let bobs_token = bob.form_token();
    for path in [
        "/app/acme/agent-pools".to_string(),
        pool_page.clone(),
        format!("/app/bobco/agent-pools/{pool_id}"),
    ] {
        assert_eq!(bob.get(&path).status(), 404, "{path}");
    }
    for path in [
        format!("{pool_page}/tokens/{token_id}/delete"),
        format!("/app/bobco/agent-pools/{pool_id}/tokens/{token_id}/delete"),
        format!("{pool_page}/tokens"),
        format!("{pool_page}/delete"),
        "/app/acme/agent-pools".to_string(),
        format!("{pool_page}/scope/disallow-workspace"),
        format!("/app/bobco/agent-pools/{pool_id}/scope/disallow-workspace"),
    ] {
        let reply = bob.post(
            &path,
            &[
                ("csrf", &bobs_token),
                ("name", "bobs"),
                ("description", "bobs"),
                ("workspace", &ws),
            ],
        );
        assert_eq!(reply.status(), 404, "{path}");
    }
    // Nor is one of alice's user tokens revoked through a pool's page.
    let users = api.get("account/details").ok().id();
    let user_token = api
        .post(
            &format!("users/{users}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {}}}),
        )
        .expect(201)
        .id();
    let reply = alice.post(
        &format!("{pool_page}/tokens/{user_token}/delete"),
        &[("csrf", &token)],
    );
    assert_eq!(reply.status(), 404);
    let page = alice.get(&pool_page).text().unwrap();
    assert!(page.contains("edge host") && page.contains(">edge-app</a>"));
    let names = alice.get("/app/acme/agent-pools").text().unwrap();
    assert!(!names.contains("carols") && !names.contains("bobs"));

    // alice revokes the token and, once the workspace has moved, deletes the pool.
    let revoked = alice.post(
        &format!("{pool_page}/tokens/{token_id}/delete"),
        &[("csrf", &token)],
    );
    assert_eq!(revoked.status(), 303);
    assert!(!alice.get(&pool_page).text().unwrap().contains("edge host"));
    api.patch(
        &format!("workspaces/{ws}"),
        &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "remote"}}}),
    )
    .expect(200);
    let deleted = alice.post(&format!("{pool_page}/delete"), &[("csrf", &token)]);
    assert_eq!(deleted.status(), 303);
    assert_eq!(location(&deleted), "/app/acme/agent-pools");
    assert_eq!(alice.get(&pool_page).status(), 404);
}

/// `key`'s value among the workspace's `all-vars` (what its runs get).
fn run_value(api: &terrace_tests::Api, ws: &str, key: &str) -> String {
    let all = api.get(&format!("workspaces/{ws}/all-vars")).ok();
    all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["attributes"]["key"] == key)
        .map(|v| v["attributes"]["value"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no {key} in {}", all.text))
}

#[test]
fn variable_sets_are_made_and_applied_in_the_browser_and_the_page_says_which_value_wins() {
    let (server, alices_token) = with_organizations();
    let api = server.api(&alices_token);
    let ws = api
        .post(
            "organizations/acme/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "app"}}}),
        )
        .expect(201)
        .id();
    let alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD, "/app").status(), 303);
    let token = alice.form_token();

    // A set with a plain and a sensitive variable, applied to `app` by name.
    let made = alice.post(
        "/app/acme/variable-sets",
        &[
            ("csrf", &token),
            ("name", "shared"),
            ("description", "for all apps"),
        ],
    );
    assert_eq!(made.status(), 303);
    let set_page = location(&made);
    let set_id = set_page.rsplit('/').next().unwrap().to_string();
    assert!(set_id.starts_with("varset-"), "{set_page}");
    for (key, value, category, sensitive) in [
        ("region", "eu-west-1", "terraform", ""),
        ("TOKEN", SECRET, "env", "on"),
    ] {
        let mut form = vec![
            ("csrf", token.as_str()),
            ("key", key),
            ("value", value),
            ("category", category),
        ];
        if !sensitive.is_empty() {
            form.push(("sensitive", sensitive));
        }
        let added = alice.post(&format!("{set_page}/variables"), &form);
        assert_eq!(added.status(), 303, "{key}");
        assert_eq!(location(&added), set_page);
    }
    let missing = alice.post(
        &format!("{set_page}/targets/apply"),
        &[("csrf", &token), ("workspace", "nope")],
    );
    assert_eq!(missing.status(), 422);
    assert!(missing
        .text()
        .unwrap()
        .contains("There is no workspace named nope"));
    let applied = alice.post(
        &format!("{set_page}/targets/apply"),
        &[("csrf", &token), ("workspace", "app")],
    );
    assert_eq!(applied.status(), 303);
    let page = alice.get(&set_page).text().unwrap();
    assert!(
        page.contains(">app</a>") && page.contains("eu-west-1"),
        "{page}"
    );
    assert!(!page.contains(SECRET), "a sensitive value was shown");
    assert_eq!(run_value(&api, &ws, "region"), "eu-west-1");

    // The workspace's own variable wins, and its page says so.
    let own = alice.post(
        "/app/acme/workspaces/app/variables",
        &[
            ("csrf", &token),
            ("key", "region"),
            ("value", "us-east-2"),
            ("category", "terraform"),
        ],
    );
    assert_eq!(own.status(), 303);
    assert_eq!(run_value(&api, &ws, "region"), "us-east-2");
    let variables = alice
        .get("/app/acme/workspaces/app/variables")
        .text()
        .unwrap();
    let from_sets = between(&variables, "id=\"from-sets\"", "</table>");
    assert!(
        from_sets.contains(&format!("/app/acme/variable-sets/{set_id}\">shared</a>")),
        "{from_sets}"
    );
    let set_region = between(from_sets, "<code>region</code>", "</tr>");
    assert!(set_region.contains("overridden"), "{from_sets}");
    let set_token = between(from_sets, "<code>TOKEN</code>", "</tr>");
    assert!(!set_token.contains("overridden") && set_token.contains("sensitive"));
    assert!(!variables.contains(SECRET), "a sensitive value was shown");

    // A priority set wins over the workspace: the page marks the workspace's own instead.
    let saved = alice.post(
        &set_page,
        &[
            ("csrf", &token),
            ("name", "shared"),
            ("description", "for all apps"),
            ("priority", "on"),
        ],
    );
    assert_eq!(saved.status(), 303);
    assert_eq!(run_value(&api, &ws, "region"), "eu-west-1");
    let variables = alice
        .get("/app/acme/workspaces/app/variables")
        .text()
        .unwrap();
    let own_table = between(&variables, "aria-label=\"Workspace variables\"", "</table>");
    assert!(own_table.contains("overridden"), "{own_table}");
    assert!(!between(&variables, "id=\"from-sets\"", "</table>").contains("overridden"));

    // A set variable edited: the sensitive one keeps its value when left blank.
    let before_label = &page[..page.find("\" aria-label=\"Edit TOKEN\"").unwrap()];
    let token_id = before_label.rsplit("variables/var-").next().unwrap();
    let sensitive_edit = format!("{set_page}/variables/var-{token_id}");
    let form = alice.get(&sensitive_edit).text().unwrap();
    assert!(
        form.contains("Edit variable") && !form.contains(SECRET),
        "{sensitive_edit}: {form}"
    );
    let kept = alice.post(
        &sensitive_edit,
        &[
            ("csrf", &token),
            ("key", "TOKEN"),
            ("value", ""),
            ("category", "env"),
            ("sensitive", "on"),
            ("description", "kept"),
        ],
    );
    assert_eq!(kept.status(), 303);
    let sets = api
        .get(&format!("varsets/{set_id}/relationships/vars"))
        .ok();
    let described = sets.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["attributes"]["key"] == "TOKEN" && v["attributes"]["description"] == "kept");
    assert!(described, "{}", sets.text);

    // carol may read variable sets (her team reads workspaces): no forms, refused if she posts.
    let team = create_team(&api, "acme", "viewers", json!({"read-workspaces": true}));
    add_member(&api, "acme", &team, "carol");
    let carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol", PASSWORD, "/app").status(), 303);
    let seen = carol.get(&set_page);
    assert_eq!(seen.status(), 200);
    let seen = seen.text().unwrap();
    assert!(seen.contains("eu-west-1") && !seen.contains(SECRET));
    for button in [
        "Add variable",
        "Apply to workspace",
        "Delete variable set",
        "Save",
        "Remove",
    ] {
        assert!(
            !seen.contains(&format!("{button}</button>")),
            "carol sees {button}"
        );
    }
    assert!(!carol
        .get("/app/acme/variable-sets")
        .text()
        .unwrap()
        .contains("Create variable set"));
    let carols_token = carol.form_token();
    let forms = |base: &str| {
        [
            base.to_string(),
            format!("{base}/delete"),
            format!("{base}/variables"),
            format!("{base}/variables/var-{token_id}"),
            format!("{base}/variables/var-{token_id}/delete"),
            format!("{base}/targets/apply"),
            format!("{base}/targets/remove"),
        ]
    };
    let hostile = |key: &'static str| {
        move |visitor: &Visitor, csrf: &str, path: &str| {
            visitor.post(
                path,
                &[
                    ("csrf", csrf),
                    ("name", key),
                    ("key", key),
                    ("value", key),
                    ("category", "env"),
                    ("workspace", "app"),
                    ("global", "on"),
                ],
            )
        }
    };
    for path in forms(&set_page) {
        let reply = hostile("carols")(&carol, &carols_token, &path);
        assert_eq!(reply.status(), 403, "{path}");
    }
    // bob, of another organization: nothing, under acme's name or his own.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    let bobs_token = bob.form_token();
    let under_bobco = format!("/app/bobco/variable-sets/{set_id}");
    for path in [
        "/app/acme/variable-sets".to_string(),
        set_page.clone(),
        under_bobco.clone(),
        format!("{set_page}/variables/var-{token_id}"),
    ] {
        let reply = bob.get(&path);
        assert_eq!(reply.status(), 404, "{path}");
        assert!(!reply.text().unwrap().contains("eu-west-1"), "{path}");
    }
    for path in forms(&set_page).into_iter().chain(forms(&under_bobco)) {
        let reply = hostile("bobs")(&bob, &bobs_token, &path);
        assert_eq!(reply.status(), 404, "{path}");
    }
    // And alice's forms need her session's token.
    for path in forms(&set_page) {
        let reply = hostile("forged")(&alice, &bobs_token, &path);
        assert_eq!(reply.status(), 403, "{path}");
    }
    let page = alice.get(&set_page).text().unwrap();
    for intruder in ["carols", "bobs", "forged"] {
        assert!(!page.contains(intruder), "{intruder} changed the set");
    }
    assert!(page.contains(">app</a>"));
    let reach = between(&page, "<dt>Applies to</dt><dd>", "</dd>");
    assert_eq!(reach, "1 workspace");

    // Removed from the workspace, then deleted: the workspace is back to its own value.
    let removed = alice.post(
        &format!("{set_page}/targets/remove"),
        &[("csrf", &token), ("workspace", &ws)],
    );
    assert_eq!(removed.status(), 303);
    assert_eq!(run_value(&api, &ws, "region"), "us-east-2");
    let deleted = alice.post(&format!("{set_page}/delete"), &[("csrf", &token)]);
    assert_eq!(location(&deleted), "/app/acme/variable-sets");
    assert_eq!(alice.get(&set_page).status(), 404);
}

#[test]
fn owners_invite_members_build_teams_and_grant_workspaces_in_the_browser() {
    let (server, alices_token) = with_organizations();
    let api = server.api(&alices_token);
    api.post(
        "organizations/acme/workspaces",
        &json!({"data": {"type": "workspaces", "attributes": {"name": "app"}}}),
    )
    .expect(201);
    let alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD, "/app").status(), 303);
    let token = alice.form_token();
    let people = alice.get("/app/acme/people").text().unwrap();
    assert!(
        people.contains("alice") && people.contains(">owners</a>"),
        "{people}"
    );

    // Members: an existing user joins at once, anyone else is invited; bad or repeated
    // emails are the page again with the reason.
    for email in ["carol@terrace.local", "newcomer@example.com"] {
        let invited = alice.post(
            "/app/acme/people/invite",
            &[("csrf", &token), ("email", email)],
        );
        assert_eq!(invited.status(), 303, "{email}");
    }
    let people = alice.get("/app/acme/people").text().unwrap();
    let carol_row = between(&people, "<td>carol ", "</tr>");
    assert!(!carol_row.contains("invited"), "{carol_row}");
    let newcomer_row = between(&people, "<td>newcomer@example.com", "</tr>");
    assert!(newcomer_row.contains("invited"), "{newcomer_row}");
    for email in ["not-an-email", "carol@terrace.local"] {
        let refused = alice.post(
            "/app/acme/people/invite",
            &[("csrf", &token), ("email", email)],
        );
        assert_eq!(refused.status(), 422, "{email}");
        assert!(refused.text().unwrap().contains("role=\"alert\""));
    }

    // A team with carol on it, and what it may do on `app`.
    let made = alice.post(
        "/app/acme/teams",
        &[("csrf", &token), ("name", "deployers")],
    );
    assert_eq!(made.status(), 303);
    let team_page = location(&made);
    let team_id = team_page.rsplit('/').next().unwrap().to_string();
    let added = alice.post(
        &format!("{team_page}/members/add"),
        &[("csrf", &token), ("username", "carol")],
    );
    assert_eq!(added.status(), 303);
    assert!(alice.get(&team_page).text().unwrap().contains("<li>carol"));
    let carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol", PASSWORD, "/app").status(), 303);
    assert_eq!(carol.get("/app/acme/workspaces/app").status(), 404);
    let granted = alice.post(
        "/app/acme/workspaces/app/access",
        &[("csrf", &token), ("team", &team_id), ("access", "read")],
    );
    assert_eq!(granted.status(), 303);
    let overview = carol.get("/app/acme/workspaces/app");
    assert_eq!(overview.status(), 200);
    assert!(!overview.text().unwrap().contains(">Lock</button>"));
    let access = alice.get("/app/acme/workspaces/app/access").text().unwrap();
    let grant_id = between(&access, "/access/", "/update").to_string();
    let raised = alice.post(
        &format!("/app/acme/workspaces/app/access/{grant_id}/update"),
        &[("csrf", &token), ("access", "write")],
    );
    assert_eq!(raised.status(), 303);
    assert!(carol
        .get("/app/acme/workspaces/app")
        .text()
        .unwrap()
        .contains(">Lock</button>"));
    let bad_level = alice.post(
        &format!("/app/acme/workspaces/app/access/{grant_id}/update"),
        &[("csrf", &token), ("access", "everything")],
    );
    assert_eq!(bad_level.status(), 422);

    // carol, a member who manages nothing: no forms, and refused when she posts them.
    let seen = carol.get("/app/acme/people").text().unwrap();
    for button in ["Invite", "Remove", "Create team"] {
        assert!(
            !seen.contains(&format!("{button}</button>")),
            "carol sees {button}"
        );
    }
    let seen = carol.get(&team_page).text().unwrap();
    assert!(!seen.contains("Save team</button>") && !seen.contains("Delete team</button>"));
    let carols_token = carol.form_token();
    let membership_id = between(&people, "/people/", "/remove").to_string();
    let forms = |team_page: &str, workspace_access: &str| {
        [
            "/app/acme/people/invite".to_string(),
            format!("/app/acme/people/{membership_id}/remove"),
            "/app/acme/teams".to_string(),
            team_page.to_string(),
            format!("{team_page}/delete"),
            format!("{team_page}/members/add"),
            format!("{team_page}/members/remove"),
            workspace_access.to_string(),
            format!("{workspace_access}/{grant_id}/update"),
            format!("{workspace_access}/{grant_id}/delete"),
        ]
    };
    let hostile = |visitor: &Visitor, csrf: &str, path: &str| {
        visitor.post(
            path,
            &[
                ("csrf", csrf),
                ("email", "intruder@example.com"),
                ("name", "intruders"),
                ("username", "carol"),
                ("team", &team_id),
                ("access", "admin"),
                ("manage-teams", "on"),
            ],
        )
    };
    for path in forms(&team_page, "/app/acme/workspaces/app/access") {
        let reply = hostile(&carol, &carols_token, &path);
        assert_eq!(reply.status(), 403, "{path}");
    }
    // bob, of another organization: nothing of acme's people, teams or grants.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    let bobs_token = bob.form_token();
    let bobco_team = format!("/app/bobco/teams/{team_id}");
    for path in [
        "/app/acme/people".to_string(),
        team_page.clone(),
        bobco_team.clone(),
        "/app/acme/workspaces/app/access".to_string(),
    ] {
        assert_eq!(bob.get(&path).status(), 404, "{path}");
    }
    for path in forms(&team_page, "/app/acme/workspaces/app/access")
        .into_iter()
        .chain([
            format!("{bobco_team}/members/add"),
            format!("{bobco_team}/delete"),
        ])
    {
        let reply = hostile(&bob, &bobs_token, &path);
        assert_eq!(reply.status(), 404, "{path}");
    }
    // And alice's forms need her session's token.
    for path in forms(&team_page, "/app/acme/workspaces/app/access") {
        let reply = hostile(&alice, &bobs_token, &path);
        assert_eq!(reply.status(), 403, "{path}");
    }
    let people = alice.get("/app/acme/people").text().unwrap();
    assert!(!people.contains("intruder"), "{people}");
    let team = alice.get(&team_page).text().unwrap();
    assert!(team.contains("<li>carol") && !team.contains("checked> Manage teams"));

    // The owners team keeps its last owner and cannot be deleted.
    let before_owners = &people[..people.find("\">owners</a>").unwrap()];
    let owners_id = before_owners.rsplit("/teams/").next().unwrap().to_string();
    let owners = format!("/app/acme/teams/{owners_id}");
    let kept = alice.post(
        &format!("{owners}/members/remove"),
        &[("csrf", &token), ("username", "alice")],
    );
    assert_eq!(kept.status(), 422);
    assert!(kept.text().unwrap().contains("at least one active member"));
    assert!(!alice
        .get(&owners)
        .text()
        .unwrap()
        .contains("Delete team</button>"));
    let kept = alice.post(&format!("{owners}/delete"), &[("csrf", &token)]);
    assert_eq!(kept.status(), 422);

    // Organization-wide permissions: the team reads every workspace, even without a grant.
    let removed = alice.post(
        &format!("/app/acme/workspaces/app/access/{grant_id}/delete"),
        &[("csrf", &token)],
    );
    assert_eq!(removed.status(), 303);
    assert_eq!(carol.get("/app/acme/workspaces/app").status(), 404);
    let saved = alice.post(
        &team_page,
        &[
            ("csrf", &token),
            ("name", "deployers"),
            ("access", "on"),
            ("read-workspaces", "on"),
        ],
    );
    assert_eq!(saved.status(), 303);
    assert_eq!(carol.get("/app/acme/workspaces/app").status(), 200);
    // Deleting the team takes that away; carol stays a member.
    let deleted = alice.post(&format!("{team_page}/delete"), &[("csrf", &token)]);
    assert_eq!(location(&deleted), "/app/acme/people");
    assert_eq!(carol.get("/app/acme/workspaces/app").status(), 404);
    assert_eq!(carol.get("/app/acme/people").status(), 200);
}

#[test]
fn projects_are_made_filled_shared_and_deleted_in_the_browser_and_others_see_only_theirs() {
    let (server, alices_token) = with_organizations();
    let api = server.api(&alices_token);
    let pool = api
        .post(
            "organizations/acme/agent-pools",
            &json!({"data": {"type": "agent-pools", "attributes": {"name": "edge"}}}),
        )
        .expect(201)
        .id();
    let team = create_team(&api, "acme", "platformers", json!({}));
    add_member(&api, "acme", &team, "carol");
    let alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD, "/app").status(), 303);
    let token = alice.form_token();
    let list = alice.get("/app/acme/projects").text().unwrap();
    assert!(
        list.contains("Default Project</a> <span class=\"tag\">default"),
        "{list}"
    );

    // Created from the list (a bad name is the list again with the reason).
    let refused = alice.post(
        "/app/acme/projects",
        &[("csrf", &token), ("name", "x"), ("description", "")],
    );
    assert_eq!(refused.status(), 422);
    assert!(refused.text().unwrap().contains("Name may only contain"));
    let made = alice.post(
        "/app/acme/projects",
        &[
            ("csrf", &token),
            ("name", "Platform team"),
            ("description", "shared things"),
        ],
    );
    assert_eq!(made.status(), 303);
    let project_page = location(&made);
    let project_id = project_page.rsplit('/').next().unwrap().to_string();
    let seen = api.get(&format!("projects/{project_id}")).ok();
    assert_eq!(seen.attr("name"), "Platform team");
    assert_eq!(seen.attr("description"), "shared things");

    // A workspace made in it is the project's.
    let created = alice.post(
        &format!("{project_page}/workspaces"),
        &[("csrf", &token), ("name", "svc")],
    );
    assert_eq!(location(&created), "/app/acme/workspaces/svc");
    let ws = api.get("organizations/acme/workspaces/svc").ok();
    assert_eq!(
        ws.body["data"]["relationships"]["project"]["data"]["id"],
        project_id.as_str()
    );
    let page = alice.get(&project_page).text().unwrap();
    assert!(
        page.contains("href=\"/app/acme/workspaces/svc\">svc</a>"),
        "{page}"
    );

    // Its defaults: agent execution needs a pool; with one, new workspaces take both.
    let settings = |mode: &str, pool: &str| {
        alice.post(
            &project_page,
            &[
                ("csrf", token.as_str()),
                ("name", "Platform team"),
                ("description", "shared things"),
                ("execution_mode", mode),
                ("agent_pool", pool),
                ("tags", "team:platform"),
            ],
        )
    };
    let refused = settings("agent", "");
    assert_eq!(refused.status(), 422);
    let refused = refused.text().unwrap();
    assert!(
        refused.contains("agent pool must be specified"),
        "{refused}"
    );
    assert!(refused.contains("<option value=\"agent\" selected>"));
    let saved = settings("agent", &pool);
    assert_eq!(location(&saved), format!("{project_page}?saved=1"));
    let page = alice.get(&project_page).text().unwrap();
    assert!(page.contains("agent on agent pool edge"), "{page}");
    assert!(page.contains("<span class=\"tag\">team:platform</span>"));
    alice.post(
        &format!("{project_page}/workspaces"),
        &[("csrf", &token), ("name", "svc-agent")],
    );
    let ws = api.get("organizations/acme/workspaces/svc-agent").ok();
    assert_eq!(ws.attr("execution-mode"), "agent");
    assert_eq!(
        ws.body["data"]["relationships"]["agent-pool"]["data"]["id"],
        pool.as_str()
    );

    // Team access: carol's team sees nothing of it until granted, then reads without forms.
    let carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol", PASSWORD, "/app").status(), 303);
    assert_eq!(carol.get(&project_page).status(), 404);
    let access = format!("{project_page}/access");
    let granted = alice.post(
        &access,
        &[("csrf", &token), ("team", &team), ("access", "read")],
    );
    assert_eq!(location(&granted), access);
    let read = carol.get(&project_page);
    assert_eq!(read.status(), 200);
    let read = read.text().unwrap();
    assert!(read.contains(">svc</a>"));
    for button in ["Save settings", "Delete project", "Create workspace"] {
        assert!(
            !read.contains(&format!("{button}</button>")),
            "carol sees {button}"
        );
    }
    assert_eq!(carol.get("/app/acme/workspaces/svc").status(), 200);
    let carols_token = carol.form_token();
    let access_page = alice.get(&access).text().unwrap();
    let grant_id = between(&access_page, "/access/", "/update").to_string();
    let hostile = |visitor: &Visitor, csrf: &str, path: &str| {
        visitor.post(
            path,
            &[
                ("csrf", csrf),
                ("name", "svc-intruder"),
                ("description", "owned"),
                ("team", &team),
                ("access", "admin"),
            ],
        )
    };
    let forms = [
        project_page.clone(),
        format!("{project_page}/delete"),
        format!("{project_page}/workspaces"),
        access.clone(),
        format!("{access}/{grant_id}/update"),
        format!("{access}/{grant_id}/delete"),
    ];
    for path in &forms {
        assert_eq!(hostile(&carol, &carols_token, path).status(), 403, "{path}");
    }
    // Maintain: she may create workspaces in it, and nowhere else.
    let raised = alice.post(
        &format!("{access}/{grant_id}/update"),
        &[("csrf", &token), ("access", "maintain")],
    );
    assert_eq!(raised.status(), 303);
    assert!(carol
        .get(&project_page)
        .text()
        .unwrap()
        .contains("Create workspace</button>"));
    let hers = carol.post(
        &format!("{project_page}/workspaces"),
        &[("csrf", &carols_token), ("name", "carols")],
    );
    assert_eq!(location(&hers), "/app/acme/workspaces/carols");
    let elsewhere = carol.post(
        "/app/acme/workspaces",
        &[("csrf", &carols_token), ("name", "carols-default")],
    );
    assert_eq!(elsewhere.status(), 403);

    // bob, of another organization: not found, also under his own organization's name.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    let bobs_token = bob.form_token();
    let under_bobco = format!("/app/bobco/projects/{project_id}");
    for path in [project_page.clone(), access.clone(), under_bobco.clone()] {
        assert_eq!(bob.get(&path).status(), 404, "{path}");
    }
    for path in forms
        .iter()
        .cloned()
        .chain([format!("{under_bobco}/delete")])
    {
        assert_eq!(hostile(&bob, &bobs_token, &path).status(), 404, "{path}");
    }
    // And alice's forms need her session's token.
    for path in &forms {
        assert_eq!(hostile(&alice, &bobs_token, path).status(), 403, "{path}");
    }

    // Deletion: the name typed, and only once it holds no workspace.
    let delete = |name: &str| {
        alice.post(
            &format!("{project_page}/delete"),
            &[("csrf", token.as_str()), ("name", name)],
        )
    };
    let refused = delete("Platform");
    assert_eq!(refused.status(), 422);
    let refused = delete("Platform team");
    assert_eq!(refused.status(), 422);
    assert!(refused
        .text()
        .unwrap()
        .contains("still contains workspaces"));
    // Moved out (svc through its settings page), then deleted.
    let default_id = between(&list, "/app/acme/projects/", "\">Default Project").to_string();
    let ws_settings = alice
        .get("/app/acme/workspaces/svc/settings")
        .text()
        .unwrap();
    assert!(ws_settings.contains(&format!(
        "<option value=\"{project_id}\" selected>Platform team</option>"
    )));
    let version = between(
        &ws_settings,
        "name=\"terraform_version\" type=\"text\" value=\"",
        "\"",
    );
    let tags = between(&ws_settings, "name=\"tags\" type=\"text\" value=\"", "\"");
    let moved = alice.post(
        "/app/acme/workspaces/svc/settings",
        &[
            ("csrf", token.as_str()),
            ("name", "svc"),
            ("engine", "terraform"),
            ("terraform_version", version),
            ("tags", tags),
            ("project", &default_id),
        ],
    );
    assert_eq!(moved.status(), 303);
    for name in ["svc", "svc-agent", "carols"] {
        let ws = api
            .get(&format!("organizations/acme/workspaces/{name}"))
            .ok();
        if name != "svc" {
            api.patch(
                &format!("workspaces/{}", ws.id()),
                &json!({"data": {"type": "workspaces", "relationships": {"project":
                    {"data": {"type": "projects", "id": default_id}}}}}),
            )
            .expect(200);
            continue;
        }
        assert_eq!(
            ws.body["data"]["relationships"]["project"]["data"]["id"],
            default_id.as_str()
        );
    }
    assert_eq!(location(&delete("Platform team")), "/app/acme/projects");
    api.get(&format!("projects/{project_id}")).expect(404);
    // The default project has no deletion form, and refuses the post.
    let default_page = format!("/app/acme/projects/{default_id}");
    assert!(!alice
        .get(&default_page)
        .text()
        .unwrap()
        .contains("Delete project</button>"));
    let kept = alice.post(
        &format!("{default_page}/delete"),
        &[("csrf", &token), ("name", "Default Project")],
    );
    assert_eq!(kept.status(), 422);
    assert!(kept
        .text()
        .unwrap()
        .contains("default project cannot be deleted"));
}

fn create_network_module(api: &terrace_tests::Api) {
    api.post(
        "organizations/acme/registry-modules",
        &json!({"data": {"type": "registry-modules",
            "attributes": {"name": "network", "provider": "aws", "registry-name": "private"}}}),
    )
    .expect(201);
}

/// Creates version `version` of acme's `network/aws` module; uploads it (with `readme`) unless
/// `None`.
fn module_version(api: &terrace_tests::Api, version: &str, readme: Option<&str>) {
    let created = api
        .post(
            "registry-modules/acme/network/aws/versions",
            &json!({"data": {"type": "registry-module-versions",
                "attributes": {"version": version}}}),
        )
        .expect(201);
    if let Some(readme) = readme {
        let upload = created.body["data"]["links"]["upload"].as_str().unwrap();
        let files = [("main.tf", "variable \"cidr\" {}\n"), ("README.md", readme)];
        api.put_unauthenticated(upload, &terrace_tests::runs::tarball(&files))
            .expect(200);
    }
}

#[test]
fn members_browse_the_private_registry_and_nobody_else_finds_it() {
    let (server, alices_token) = with_organizations();
    let api = server.api(&alices_token);
    create_network_module(&api);
    module_version(&api, "1.2.0", Some("# Network 1.2\n"));
    module_version(
        &api,
        "1.10.0",
        Some("# Network 1.10\n\n<script>alert(1)</script>\n"),
    );
    module_version(&api, "2.0.0", None);
    let gpg = providers::Gpg::new("web");
    let platform = providers::this_platform();
    let (os, arch) = (platform.0.as_str(), platform.1.as_str());
    providers::publish(&api, "acme", "tools", "0.3.0", (os, arch), &gpg);
    providers::create_version(&api, "acme", "tools", "0.4.0", &gpg.key_id);
    let team = create_team(&api, "acme", "readers", json!({}));
    add_member(&api, "acme", &team, "carol");
    let port = server.hostname.rsplit(':').next().unwrap();

    let carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol", PASSWORD, "/app").status(), 303);
    let list = carol.get("/app/acme/registry").text().unwrap();
    let row = between(&list, ">network</a>", "</tr>");
    assert!(
        row.contains("<td>aws</td>") && row.contains("<td>1.10.0</td>"),
        "{row}"
    );
    let row = between(&list, ">tools</a>", "</tr>");
    assert!(
        row.contains("<td>2</td>") && row.contains("<td>0.4.0</td>"),
        "{row}"
    );
    let found = carol.get("/app/acme/registry?q=netw").text().unwrap();
    assert!(found.contains(">network</a>") && !found.contains(">tools</a>"));
    assert!(found.contains("No providers found."));

    // A module: the newest published version, how to use it, and its README (made harmless).
    let module = carol.get("/app/acme/registry/modules/network/aws");
    assert_eq!(module.status(), 200);
    // (what the page escapes, a browser shows and copies as the character)
    let module = module.text().unwrap().replace("&#x2f;", "/");
    assert!(
        module.contains(&format!("source  = \"127.0.0.1:{port}/acme/network/aws\""))
            && module.contains("version = \"1.10.0\""),
        "{module}"
    );
    assert!(module.contains("<h3>Network 1.10</h3>"), "{module}");
    assert!(!module.contains("<script>alert") && module.contains("&lt;script&gt;"));
    assert!(module.contains("href=\"/app/acme/registry/modules/network/aws?version=1.2.0\""));
    assert!(module.contains("Waiting for their upload: 2.0.0"));
    let older = carol
        .get("/app/acme/registry/modules/network/aws?version=1.2.0")
        .text()
        .unwrap();
    assert!(older.contains("<h3>Network 1.2</h3>") && older.contains("version = \"1.2.0\""));
    for missing in ["?version=2.0.0", "?version=9.9.9", "/../azure"] {
        let path = format!("/app/acme/registry/modules/network/aws{missing}");
        assert_eq!(carol.get(&path).status(), 404, "{path}");
    }

    // A provider: each version with its state and platforms, newest first.
    let provider = carol
        .get("/app/acme/registry/providers/tools")
        .text()
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(provider.contains(&format!("source  = \"127.0.0.1:{port}/acme/tools\"")));
    let newest = between(&provider, "<h3 id=\"v-1\">", "</section>");
    assert!(
        newest.starts_with("0.4.0") && newest.contains("not signed yet"),
        "{newest}"
    );
    let published = between(&provider, "<h3 id=\"v-2\">", "</section>");
    assert!(published.starts_with("0.3.0") && published.contains(">published</span>"));
    assert!(published.contains(&format!("{os}_{arch}")) && published.contains(&gpg.key_id));
    assert!(!published.contains("not uploaded"), "{published}");

    // bob, of another organization: none of it, also under his own organization's name.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    for path in [
        "/app/acme/registry",
        "/app/acme/registry/modules/network/aws",
        "/app/acme/registry/providers/tools",
        "/app/bobco/registry/modules/network/aws",
        "/app/bobco/registry/providers/tools",
    ] {
        assert_eq!(bob.get(path).status(), 404, "{path}");
    }
    let own = bob.get("/app/bobco/registry").text().unwrap();
    assert!(own.contains("No modules.") && own.contains("No providers."));
}

#[test]
fn an_owner_changes_and_deletes_an_organization_in_the_browser_and_members_only_read() {
    let (server, alices_token) = with_organizations();
    let api = server.api(&alices_token);
    let alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD, "/app").status(), 303);
    let token = alice.form_token();
    let settings = alice.get("/app/acme/settings").text().unwrap();
    assert!(
        settings.contains("value=\"acme@example.com\""),
        "{settings}"
    );
    let form = |extra: &[(&'static str, &'static str)]| {
        let mut fields = vec![
            ("csrf", token.clone()),
            ("name", "acme".to_string()),
            ("email", "acme@example.com".to_string()),
            ("execution_mode", "remote".to_string()),
            ("user_tokens_enabled", "on".to_string()),
        ];
        for (k, v) in extra {
            fields.retain(|(key, _)| key != k);
            if !v.is_empty() {
                fields.push((k, v.to_string()));
            }
        }
        fields
    };
    let post = |path: &str, fields: Vec<(&str, String)>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        alice.post(path, &fields)
    };

    // A bad value is the form again, as typed, and changes nothing.
    let refused = post(
        "/app/acme/settings",
        form(&[("session_timeout", "soon"), ("email", "new@example.com")]),
    );
    assert_eq!(refused.status(), 422);
    let refused = refused.text().unwrap();
    assert!(refused.contains("number of minutes") && refused.contains("value=\"new@example.com\""));
    let org = api.get("organizations/acme").ok();
    assert_eq!(org.attr("email"), "acme@example.com");
    // Saved: the email and the session lifetime change; users' tokens stop reaching it.
    let saved = post(
        "/app/acme/settings",
        form(&[
            ("email", "ops@example.com"),
            ("session_timeout", "30"),
            ("user_tokens_enabled", ""),
        ]),
    );
    assert_eq!(saved.status(), 200);
    assert!(saved.text().unwrap().contains("Settings saved."));
    let refused_token = api.get("organizations/acme");
    assert_eq!(refused_token.status, 401, "{}", refused_token.text);
    let page = alice.get("/app/acme/settings").text().unwrap();
    assert!(page.contains("value=\"ops@example.com\"") && page.contains("value=\"30\""));
    let saved = post(
        "/app/acme/settings",
        form(&[("email", "ops@example.com"), ("session_timeout", "30")]),
    );
    assert_eq!(saved.status(), 200);
    assert_eq!(
        api.get("organizations/acme").ok().attr("session-timeout"),
        30
    );
    // A new name moves the pages.
    let renamed = post(
        "/app/acme/settings",
        form(&[
            ("name", "acme-corp"),
            ("email", "ops@example.com"),
            ("session_timeout", "30"),
        ]),
    );
    assert_eq!(renamed.status(), 303);
    assert_eq!(location(&renamed), "/app/acme-corp/settings");
    assert_eq!(alice.get("/app/acme/settings").status(), 404);
    assert_eq!(alice.get("/app/acme-corp/workspaces").status(), 200);

    // carol, a member: reads the settings, changes nothing.
    let team = create_team(&api, "acme-corp", "members", json!({}));
    add_member(&api, "acme-corp", &team, "carol");
    let carol = Visitor::new(&server);
    assert_eq!(carol.sign_in("carol", PASSWORD, "/app").status(), 303);
    let seen = carol.get("/app/acme-corp/settings").text().unwrap();
    assert!(seen.contains("ops@example.com"));
    assert!(
        !seen.contains("Save settings</button>") && !seen.contains("Delete organization</button>")
    );
    let carols_token = carol.form_token();
    // bob, of another organization: nothing at all.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    let bobs_token = bob.form_token();
    assert_eq!(bob.get("/app/acme-corp/settings").status(), 404);
    for (visitor, csrf, expected) in [(&carol, &carols_token, 403), (&bob, &bobs_token, 404)] {
        for path in ["/app/acme-corp/settings", "/app/acme-corp/settings/delete"] {
            let reply = visitor.post(
                path,
                &[
                    ("csrf", csrf.as_str()),
                    ("name", "taken"),
                    ("email", "x@example.com"),
                    ("confirm", "acme-corp"),
                ],
            );
            assert_eq!(reply.status(), expected, "{path}");
        }
    }
    let forged = alice.post(
        "/app/acme-corp/settings/delete",
        &[("csrf", bobs_token.as_str()), ("confirm", "acme-corp")],
    );
    assert_eq!(forged.status(), 403);
    assert_eq!(alice.get("/app/acme-corp/settings").status(), 200);

    // Deleting needs the name typed.
    let wrong = alice.post(
        "/app/acme-corp/settings/delete",
        &[("csrf", token.as_str()), ("confirm", "acme")],
    );
    assert_eq!(wrong.status(), 422);
    let deleted = alice.post(
        "/app/acme-corp/settings/delete",
        &[("csrf", token.as_str()), ("confirm", "acme-corp")],
    );
    assert_eq!(location(&deleted), "/app/organizations");
    assert_eq!(alice.get("/app/acme-corp/workspaces").status(), 404);
    assert_eq!(bob.get("/app/bobco/workspaces").status(), 200);
}

#[test]
fn site_admins_manage_users_and_organizations_in_the_browser_and_nobody_else_finds_the_area() {
    let (server, alices_token) = with_organizations();
    server.user_token("dave");
    server.admin(&["user", "grant-admin", "dave"]);
    let api = server.api(&alices_token);
    let dave = Visitor::new(&server);
    assert_eq!(dave.sign_in("dave", PASSWORD, "/app").status(), 303);
    let token = dave.form_token();
    let home = dave.get("/app/organizations").text().unwrap();
    assert!(
        home.contains("href=\"/app/admin/users\""),
        "no way to the admin area"
    );

    // Users: found by a part of the name, with their organizations.
    let users = dave.get("/app/admin/users?q=ali").text().unwrap();
    assert!(users.contains("alice") && users.contains(">acme</a>") && !users.contains("bob"));
    let alice_id = between(&users, "/app/admin/users/", "/").to_string();
    // Suspended, alice's token stops working and her page says so; reinstated, it works again.
    let suspend = format!("/app/admin/users/{alice_id}/suspend");
    assert_eq!(dave.post(&suspend, &[("csrf", &token)]).status(), 303);
    assert_eq!(api.get("account/details").status, 401);
    assert!(dave
        .get("/app/admin/users?q=alice")
        .text()
        .unwrap()
        .contains("suspended</span>"));
    let reinstate = format!("/app/admin/users/{alice_id}/unsuspend");
    assert_eq!(dave.post(&reinstate, &[("csrf", &token)]).status(), 303);
    assert_eq!(api.get("account/details").status, 200);
    // Made an administrator, alice reaches the area too; unmade, she does not.
    let grant = format!("/app/admin/users/{alice_id}/grant-admin");
    assert_eq!(dave.post(&grant, &[("csrf", &token)]).status(), 303);
    let alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD, "/app").status(), 303);
    assert_eq!(alice.get("/app/admin/organizations").status(), 200);
    let revoke = format!("/app/admin/users/{alice_id}/revoke-admin");
    assert_eq!(dave.post(&revoke, &[("csrf", &token)]).status(), 303);
    assert_eq!(alice.get("/app/admin/organizations").status(), 404);

    // Organizations with their owners; who may create them.
    let orgs = dave.get("/app/admin/organizations").text().unwrap();
    assert!(orgs.contains(">acme</a>") && orgs.contains(">bobco</a>") && orgs.contains("alice"));
    let limited = dave.post(
        "/app/admin/organization-creation",
        &[("csrf", &token), ("creation", "site-admins")],
    );
    assert_eq!(limited.status(), 303);
    let refused = api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "another", "email": "a@example.com"}}}),
    );
    assert_ne!(refused.status, 201, "{}", refused.text);
    let opened = dave.post(
        "/app/admin/organization-creation",
        &[("csrf", &token), ("creation", "anyone")],
    );
    assert_eq!(opened.status(), 303);

    // Nobody else finds the area, and its forms change nothing for them.
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    let bobs_token = bob.form_token();
    assert!(!bob
        .get("/app/organizations")
        .text()
        .unwrap()
        .contains("/app/admin/"));
    for path in ["/app/admin/users", "/app/admin/organizations"] {
        assert_eq!(bob.get(path).status(), 404, "{path}");
    }
    for path in [
        suspend.clone(),
        grant.clone(),
        format!("/app/admin/users/{alice_id}/delete"),
        "/app/admin/organization-creation".to_string(),
    ] {
        let reply = bob.post(&path, &[("csrf", &bobs_token), ("creation", "site-admins")]);
        assert_eq!(reply.status(), 404, "{path}");
    }
    // An administrator's forms need the session's token.
    let forged = dave.post(&suspend, &[("csrf", &bobs_token)]);
    assert_eq!(forged.status(), 403);
    assert_eq!(api.get("account/details").status, 200);

    // Deleting a user: alice is acme's only owner, which the domain refuses with its reason;
    // carol, who owns nothing, goes.
    let refused = dave.post(
        &format!("/app/admin/users/{alice_id}/delete"),
        &[("csrf", &token)],
    );
    assert_eq!(refused.status(), 422, "{}", refused.text().unwrap());
    assert_eq!(api.get("account/details").status, 200);
    let carols = dave.get("/app/admin/users?q=carol").text().unwrap();
    let carol_id = between(&carols, "/app/admin/users/", "/").to_string();
    let deleted = dave.post(
        &format!("/app/admin/users/{carol_id}/delete"),
        &[("csrf", &token)],
    );
    assert_eq!(deleted.status(), 303);
    assert!(!dave
        .get("/app/admin/users")
        .text()
        .unwrap()
        .contains("carol@terrace.local"));
    assert_eq!(
        Visitor::new(&server)
            .sign_in("carol", PASSWORD, "/app")
            .status(),
        401
    );
}

/// The rows of a page's table (none without one), their cells' text joined by spaces.
fn table_rows(page: &str) -> Vec<String> {
    if !page.contains("<tbody>") {
        return Vec::new();
    }
    let body = between(page, "<tbody>", "</tbody>");
    body.split("<tr>")
        .skip(1)
        .map(|row| {
            let mut text = String::new();
            let mut in_tag = false;
            for c in row.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => {
                        in_tag = false;
                        text.push(' ');
                    }
                    _ if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

#[test]
fn the_resource_search_pages_its_matches_in_workspace_order() {
    // 78 API requests in a few seconds: no rate limits.
    let server = Server::builder(Db::Sqlite).without_rate_limits().start();
    let api = server.api(&server.user_token("alice"));
    api.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": "acme", "email": "acme@example.com"}}}),
    )
    .expect(201);
    // 25 workspaces manage the bucket (made out of order); one manages only an instance.
    let mut granted = Vec::new();
    for i in (0..25).rev() {
        let name = format!("site-{i:02}");
        let ws = terrace_tests::access::create_workspace(&api, "acme", &name, None);
        if i % 10 == 3 {
            granted.push(ws.clone());
        }
        let state = terrace_tests::states::with_resources(
            &name,
            &[("aws_s3_bucket", "logs"), ("aws_instance", "web")],
        );
        terrace_tests::states::push(&api, &ws, &state);
    }
    let ws = terrace_tests::access::create_workspace(&api, "acme", "compute", None);
    let state = terrace_tests::states::with_resources("compute", &[("aws_instance", "web")]);
    terrace_tests::states::push(&api, &ws, &state);

    let alice = Visitor::new(&server);
    assert_eq!(alice.sign_in("alice", PASSWORD, "/app").status(), 303);
    let first = alice
        .get("/app/acme/resources?q=s3_bucket.logs")
        .text()
        .unwrap();
    assert!(first.contains("25 resources matching"), "{first}");
    assert!(first.contains("Page 1 of 2"), "{first}");
    assert!(
        first.contains("href=\"?q=s3_bucket.logs&amp;page=2\""),
        "{first}"
    );
    // Workspace, address, instances (then the provider).
    let rows: Vec<String> = table_rows(&first)
        .iter()
        .map(|row| row.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    let expected: Vec<String> = (0..20)
        .map(|i| format!("site-{i:02} aws_s3_bucket.logs 1"))
        .collect();
    assert_eq!(rows, expected);

    let second = alice
        .get("/app/acme/resources?q=s3_bucket.logs&page=2")
        .text()
        .unwrap();
    assert!(second.contains("Page 2 of 2"), "{second}");
    let rows = table_rows(&second);
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(
        rows[0].starts_with("site-20 ") && rows[4].starts_with("site-24 "),
        "{rows:?}"
    );
    // A page past the end is empty, not an error; workspace names are not searched.
    let past = alice.get("/app/acme/resources?q=s3_bucket.logs&page=9");
    assert_eq!(past.status(), 200);
    assert!(table_rows(&past.text().unwrap()).is_empty());
    let none = alice.get("/app/acme/resources?q=compute").text().unwrap();
    assert!(none.contains("0 resources matching"), "{none}");
    let instances = alice
        .get("/app/acme/resources?q=aws_instance.web")
        .text()
        .unwrap();
    assert!(instances.contains("26 resources matching"), "{instances}");

    // A member whose team reads three of the workspaces finds their resources alone.
    let team = terrace_tests::access::create_team(&api, "acme", "readers", json!({}));
    server.user_token("bob");
    terrace_tests::access::add_member(&api, "acme", &team, "bob");
    for ws in &granted {
        terrace_tests::access::grant_workspace(&api, &team, ws, json!({"access": "read"}));
    }
    let bob = Visitor::new(&server);
    assert_eq!(bob.sign_in("bob", PASSWORD, "/app").status(), 303);
    let found = bob
        .get("/app/acme/resources?q=s3_bucket.logs")
        .text()
        .unwrap();
    assert!(found.contains("3 resources matching"), "{found}");
    let rows: Vec<String> = table_rows(&found)
        .iter()
        .map(|row| row.split(' ').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(rows, ["site-03", "site-13", "site-23"]);
}
