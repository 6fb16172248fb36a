//! The terraform CLI under least privilege: with a team token's or a member's own token, a
//! read-level user reads outputs but cannot plan, a plan-level user plans but cannot apply,
//! a write-level user applies. The CLI decides from the workspace's `permissions` object
//! before it starts a run, and the server refuses the same requests itself, so the refusals
//! are the CLI's clear messages, not stack traces.

use serde_json::json;
use terrace_tests::access::{add_member, create_team, grant_workspace};
use terrace_tests::{Db, Server, Terraform};

const ORG: &str = "default";
const WORKSPACE: &str = "levels";

const CONFIG: &str = r#"
resource "terraform_data" "a" {
  input = "shared"
}
output "greeting" {
  value = "hello from ${terraform_data.a.output}"
}
"#;

fn configured(server: &Server, token: &str) -> Terraform {
    let tf = Terraform::new(server, token);
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"{ORG}\"\n    workspaces {{\n      name = \"{WORKSPACE}\"\n    }}\n  }}\n}}\n{CONFIG}",
            server.hostname
        ),
    );
    tf.ok(&["init", "-input=false"]);
    tf
}

#[test]
fn levels_decide_what_the_cli_may_do() {
    let server = Server::builder(Db::Sqlite).without_rate_limits().start();
    let admin_token = server.admin_token();
    let owner = server.api(&admin_token);
    // The owner applies once, so there is state with an output.
    let admin = configured(&server, &admin_token);
    let applied = admin.ok(&["apply", "-auto-approve", "-input=false"]);
    assert!(applied.contains("1 added"), "{applied}");
    let ws = owner
        .get(&format!("organizations/{ORG}/workspaces/{WORKSPACE}"))
        .ok()
        .id();

    let user = |name: &str, level: &str| {
        let token = server.user_token(name);
        let team = create_team(&owner, ORG, &format!("{name}s"), json!({}));
        add_member(&owner, ORG, &team, name);
        grant_workspace(&owner, &team, &ws, json!({"access": level}));
        configured(&server, &token)
    };

    let reader = user("reader", "read");
    let out = reader.ok(&["output", "-raw", "greeting"]);
    assert_eq!(out.trim(), "hello from shared");
    let refused = reader.fails(&["plan", "-input=false"]);
    assert!(
        refused.contains("Insufficient rights to generate a plan"),
        "{refused}"
    );
    assert!(!refused.contains("panic"), "{refused}");

    let planner = user("planner", "plan");
    let plan = planner.ok(&["plan", "-input=false"]);
    assert!(plan.contains("No changes"), "{plan}");
    let refused = planner.fails(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        refused.contains("Insufficient rights to apply changes"),
        "{refused}"
    );

    let writer = user("writer", "write");
    writer.write(
        "main.tf",
        &writer.read("main.tf").replace("\"shared\"", "\"changed\""),
    );
    let applied = writer.ok(&["apply", "-auto-approve", "-input=false"]);
    assert!(
        applied.contains("1 added, 0 changed, 1 destroyed") || applied.contains("1 changed"),
        "{applied}"
    );
    let out = reader.ok(&["output", "-raw", "greeting"]);
    assert_eq!(
        out.trim(),
        "hello from changed",
        "the reader sees the writer's apply"
    );
}
