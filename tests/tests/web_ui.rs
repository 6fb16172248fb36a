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
use std::time::Duration;

use serde_json::json;
use terrace_tests::access::{add_member, create_team, grant_workspace};
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::web::Visitor;
use terrace_tests::{Db, Server};

const PASSWORD: &str = "user-password-1";
const SECRET: &str = "s3cr3t-value-7d1f";

/// acme with `web` (an applied run with two outputs, one sensitive) and `db`, owned by
/// alice; bob in an organization of his own.
fn prepared() -> Server {
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
    let alice = server.api(&server.user_token("alice"));
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
        "resource \"terraform_data\" \"site\" {{\n  input = \"web\"\n}}\n\
         output \"endpoint\" {{\n  value = \"https://web.example\"\n}}\n\
         output \"password\" {{\n  value     = \"{SECRET}\"\n  sensitive = true\n}}\n"
    );
    upload_configuration(&alice, &web, &[("main.tf", config.as_str())], false);
    let run = create_run(&alice, &web, None, json!({"auto-apply": true})).id();
    wait_for_run(&alice, &run, &["applied"], Duration::from_secs(120));
    // A second state: one resource changed, one added.
    let config = config.replace("input = \"web\"", "input = \"web2\"")
        + "resource \"terraform_data\" \"extra\" {}\n";
    upload_configuration(&alice, &web, &[("main.tf", config.as_str())], false);
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
