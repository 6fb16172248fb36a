//! The permission matrix: every route of `/openapi.json` × every kind of caller gets exactly
//! the answer its documented permission (`x-terrace-permission`, crates/api/src/permissions.rs)
//! and the levels of docs/access.md say, and nothing outside the caller's reach appears in any
//! answer. The expectations are written here, from the documentation, independently of the
//! server's policy: a route whose handler checks something else than it documents shows up as
//! a cell that differs.
//!
//! Alice owns an organization with a project holding `main` (state, variables, a configuration
//! version, a planned run) and two workspaces nobody else was given (`hidden-a`, `hidden-b`),
//! a secret team, a variable set, an agent pool and a tag. The columns are members whose team
//! holds read, plan, write, admin or a custom grant on `main`, a member with no grant, the
//! owners, Bob (owner of another organization: the outsider column, which the module
//! `other_organization` sweeps in depth), the write team's token, the organization token, and
//! a revoked and an expired token.
//!
//! Classes: allowed (not 401/403/404: a 2xx or a validation 4xx), forbidden (403), hidden
//! (404) and unauthenticated (401). Every refused call is made first, and then everything
//! they were aimed at must be exactly as before; an allowed call that destroys is aimed at a
//! throwaway target made for it (a workspace granted to the column as `main` is, a team, ...).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};

/// The other-organization column in depth: the isolation sweep (Bob aims every route, query,
/// body, capability URL and his agent's job protocol at Alice's organization).
#[path = "permission_matrix/other_organization.rs"]
mod other_organization;

use terrace_tests::access::{
    add_member, create_team, create_workspace, grant_project, grant_workspace,
};
use terrace_tests::providers::{self, Gpg};
use terrace_tests::runs::{create_run, tarball, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

const ORG: &str = "matrix-corp";
const MAIN: &str = "main";
/// The version of the organization's private provider.
const PROVIDER_VERSION: &str = "1.0.0";
const SECRET_TEAM: &str = "secret-ops-7c1f";
const CONFIGURATION: &str = "output \"greeting\" { value = \"matrix\" }\n";
const SENSITIVE: &str = "sensitive-value-never-returned-3a9d";
const SSO_CLIENT_SECRET: &str = "sso-client-secret-never-returned-7c1e";
/// An SSH key's value: write-only (HCP accepts opaque values; so does Terrace).
const SSH_KEY_VALUE: &str = "matrix-key-value-never-returned-4b8e";
const RUN_TASK_HMAC_KEY: &str = "matrix-task-hmac-key-never-returned-7c1d";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Column {
    None,
    Read,
    Plan,
    Write,
    Admin,
    Custom,
    Owners,
    Outsider,
    TeamToken,
    OrgToken,
    Revoked,
    Expired,
}

const COLUMNS: [Column; 12] = [
    Column::None,
    Column::Read,
    Column::Plan,
    Column::Write,
    Column::Admin,
    Column::Custom,
    Column::Owners,
    Column::Outsider,
    Column::TeamToken,
    Column::OrgToken,
    Column::Revoked,
    Column::Expired,
];

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::None => "none",
            Column::Read => "read",
            Column::Plan => "plan",
            Column::Write => "write",
            Column::Admin => "admin",
            Column::Custom => "custom",
            Column::Owners => "owners",
            Column::Outsider => "other-org",
            Column::TeamToken => "team-tok",
            Column::OrgToken => "org-tok",
            Column::Revoked => "revoked",
            Column::Expired => "expired",
        }
    }

    /// The `team-workspaces` level this column holds on `main` (the team token acts as its
    /// write team).
    fn level(self) -> Option<&'static str> {
        match self {
            Column::Read => Some("read"),
            Column::Plan => Some("plan"),
            Column::Write | Column::TeamToken => Some("write"),
            Column::Admin => Some("admin"),
            Column::Custom => Some("custom"),
            _ => None,
        }
    }

    /// The `team-workspaces` attributes of the column's grant on `main`.
    fn grant(self) -> Option<Value> {
        Some(match self.level()? {
            "custom" => json!({"access": "custom", "runs": "plan", "variables": "read",
                "state-versions": "read-outputs"}),
            level => json!({"access": level}),
        })
    }

    fn is_user(self) -> bool {
        !matches!(
            self,
            Column::TeamToken | Column::OrgToken | Column::Revoked | Column::Expired
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Allowed,
    Forbidden,
    Hidden,
    Unauthenticated,
}

impl Class {
    fn of(status: u16) -> Class {
        match status {
            401 => Class::Unauthenticated,
            403 => Class::Forbidden,
            404 => Class::Hidden,
            _ => Class::Allowed,
        }
    }
}

/// docs/access.md, "Workspace levels": whether `level` (custom: runs=plan, variables=read,
/// state-versions=read-outputs) allows the workspace action.
fn level_allows(level: &str, action: &str) -> bool {
    let rank = |l: &str| match l {
        "read" => 1,
        "plan" => 2,
        "write" => 3,
        "admin" => 4,
        _ => 0,
    };
    if level == "custom" {
        return matches!(
            action,
            "read-workspace" | "read-runs" | "queue-run" | "read-variables" | "read-state-outputs"
        );
    }
    let r = rank(level);
    match action {
        "read-workspace"
        | "read-runs"
        | "read-variables"
        | "read-state-outputs"
        | "read-state-versions" => r >= 1,
        "queue-run" => r >= 2,
        "queue-apply"
        | "queue-destroy"
        | "update-variables"
        | "create-state-version"
        | "lock-workspace"
        | "unlock-workspace" => r >= 3,
        "update-workspace"
        | "delete-workspace"
        | "force-unlock-workspace"
        | "manage-workspace-access"
        | "manage-workspace-run-tasks" => r >= 4,
        // Force deletion: owners only, unless the organization lets administrators.
        _ => false,
    }
}

/// docs/access.md, "Tokens": the organization token configures (administers workspaces,
/// projects, teams, memberships, agent pools, variables) but never operates (runs beyond
/// reading, state writes, locking), and never touches the organization's settings, its own
/// token or variable sets. It reads the audit trail (docs/audit-trail.md) and, administering
/// workspaces, may force-unlock them.
fn org_token_allows(scope: &str, action: &str) -> bool {
    match scope {
        "workspace" => !matches!(
            action,
            "queue-run"
                | "queue-apply"
                | "queue-destroy"
                | "create-state-version"
                | "lock-workspace"
                | "unlock-workspace"
                | "force-delete-workspace"
        ),
        // TFE's registry-modules API refuses organization tokens.
        _ => !matches!(
            action,
            "update-organization"
                | "delete-organization"
                | "manage-organization-token"
                | "manage-variable-sets"
                | "manage-modules"
                // HCP's ssh-keys API refuses organization tokens.
                | "manage-vcs-settings"
                // Nor does the organization token hold "Manage Run Tasks".
                | "manage-run-tasks"
        ),
    }
}

/// The expected class of `column`'s answer on a route documented as `permission`, aimed at
/// Alice's organization, its project and `main`.
fn expected(permission: &str, column: Column) -> Class {
    use Class::*;
    if matches!(column, Column::Revoked | Column::Expired) {
        return if permission == "public" {
            Allowed
        } else {
            Unauthenticated
        };
    }
    match permission {
        "public" | "authenticated" => return Allowed,
        // Team and organization tokens are no user.
        "user" if column.is_user() => return Allowed,
        "user" => return Forbidden,
        // Managers of teams, and the members of a team that lets them manage its token.
        "team-token" => {
            return match column {
                Column::Owners | Column::OrgToken | Column::Write => Allowed,
                Column::Outsider => Hidden,
                _ => Forbidden,
            }
        }
        "site-admin" => return Hidden,
        "organization-token" => {
            return if column == Column::OrgToken {
                Allowed
            } else {
                Hidden
            }
        }
        _ => {}
    }
    let (scope, action) = permission.split_once(':').expect("SCOPE:ACTION");
    match column {
        Column::Outsider => Hidden,
        Column::Owners => Allowed,
        Column::OrgToken => {
            if org_token_allows(scope, action) {
                Allowed
            } else {
                Forbidden
            }
        }
        _ => {
            let level = column.level();
            match scope {
                // A member sees the organization; everything beyond reading it needs an
                // organization-wide permission none of these teams has.
                "organization" if action == "read-organization" => Allowed,
                "organization" => Forbidden,
                // A project holding a workspace the member sees is visible, read-only.
                "project" => match (level, action) {
                    (None, _) => Hidden,
                    (Some(_), "read-project") => Allowed,
                    (Some(_), _) => Forbidden,
                },
                _ => match level {
                    None => Hidden,
                    Some(level) if level_allows(level, action) => Allowed,
                    Some(_) => Forbidden,
                },
            }
        }
    }
}

/// Routes that destroy or consume what the others are aimed at: only the columns that must be
/// refused call them.
fn destructive(method: &str, path: &str) -> bool {
    method == "DELETE"
        || path.ends_with("/actions/safe-delete")
        || path.ends_with("/actions/discard")
        || path.ends_with("/actions/cancel")
        || path.ends_with("/actions/force-cancel")
        || path.ends_with("/actions/apply")
        || path.ends_with("/actions/archive")
        || path.ends_with("/actions/force-unlock")
        || path.ends_with("/authentication-token") && method == "POST"
        || path.ends_with("/relationships/users")
        || path.ends_with("/relationships/organization-memberships")
        || (method == "PATCH" && path.ends_with("/state-versions"))
        || (method == "PATCH" && path.starts_with("/api/v2/team-"))
        || (method == "PATCH" && path.starts_with("/api/v2/teams/"))
        || path.starts_with("/api/v2/registry-modules/actions/delete/")
        // Moving a GPG key (the DELETE before it took the fixture's key away).
        || (method == "PATCH" && path.contains("/gpg-keys/"))
}

/// Routes the matrix does not call, each with the reason and the test that covers it.
const NOT_IN_MATRIX: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/api/v2/task-stages/{task_stage_id}",
        "only runs of workspaces with run tasks have stages (run_tasks.rs)",
    ),
    (
        "POST",
        "/api/v2/task-stages/{task_stage_id}/actions/override",
        "only runs of workspaces with run tasks have stages (run_tasks.rs)",
    ),
    (
        "GET",
        "/api/v2/task-results/{task_result_id}",
        "only runs of workspaces with run tasks have results (run_tasks.rs)",
    ),
    (
        "PATCH",
        "/api/v2/task-results/{task_result_id}/callback",
        "answered with a task result's own access token only (run_tasks.rs forges the others)",
    ),
    (
        "PUT",
        "/api/v2/admin/tool-archives/{engine}/{version}/{platform}",
        "the site administrators' binary cache (tool_archives.rs: 404 to everyone else)",
    ),
    (
        "DELETE",
        "/api/v2/admin/tool-archives/{id}",
        "the site administrators' binary cache (tool_archives.rs: 404 to everyone else)",
    ),
    (
        "GET",
        "/api/v2/admin/opentofu-versions/{id}",
        "a catalogue entry of the site administrators' (engines.rs: 404 to everyone else)",
    ),
    (
        "PATCH",
        "/api/v2/admin/opentofu-versions/{id}",
        "a catalogue entry of the site administrators' (engines.rs: 404 to everyone else)",
    ),
    (
        "DELETE",
        "/api/v2/admin/opentofu-versions/{id}",
        "a catalogue entry of the site administrators' (engines.rs: 404 to everyone else)",
    ),
    (
        "GET",
        "/api/v2/admin/terraform-versions/{id}",
        "a catalogue entry of the site administrators' (engines.rs: 404 to everyone else)",
    ),
    (
        "PATCH",
        "/api/v2/admin/terraform-versions/{id}",
        "a catalogue entry of the site administrators' (engines.rs: 404 to everyone else)",
    ),
    (
        "DELETE",
        "/api/v2/admin/terraform-versions/{id}",
        "a catalogue entry of the site administrators' (engines.rs: 404 to everyone else)",
    ),
    (
        "POST",
        "/app/oauth/authorization",
        "terraform login's form, authenticated by username and password (cli_login.rs)",
    ),
    (
        "POST",
        "/oauth/token",
        "terraform login's code exchange, authenticated by a one-time code (cli_login.rs)",
    ),
    (
        "GET",
        "/app/sso/oidc/start",
        "single sign-on, answers 404 unless a provider is configured (sso_oidc.rs)",
    ),
    (
        "GET",
        "/app/sso/oidc/callback",
        "single sign-on, authenticated by the provider's code (sso_oidc.rs)",
    ),
    (
        "GET",
        "/app/sso/organizations/{organization}/start",
        "an organization's single sign-on, answers 404 unless it has a provider enabled \
         (sso_organizations.rs)",
    ),
    (
        "GET",
        "/app/sso/organizations/{organization}/saml/metadata",
        "an organization's SAML service provider metadata, public by design; answers 404 \
         unless it has SAML enabled (sso_organizations_saml.rs)",
    ),
    (
        "GET",
        "/app/sso/saml/start",
        "SAML sign-on, answers 404 unless an identity provider is configured (sso_saml.rs)",
    ),
    (
        "POST",
        "/app/sso/saml/acs",
        "SAML sign-on, authenticated by the identity provider's signed assertion (sso_saml.rs)",
    ),
    (
        "GET",
        "/app/sso/saml/metadata",
        "SAML's service provider metadata, 404 unless SAML is configured (sso_saml.rs)",
    ),
    (
        "GET",
        "/api/v2/run-triggers/{run_trigger_id}",
        "a trigger joins two workspaces and shows to who reads both, while each column holds \
         one (run_triggers.rs: levels inside the organization; other_organization.rs attacks it)",
    ),
    (
        "DELETE",
        "/api/v2/run-triggers/{run_trigger_id}",
        "a trigger joins two workspaces and shows to who reads both, while each column holds \
         one (run_triggers.rs: levels inside the organization; other_organization.rs attacks it)",
    ),
    (
        "GET",
        "/api/v2/agents/{agent_id}",
        "needs a connected agent (agent_pools.rs; other_organization.rs attacks it)",
    ),
    (
        "GET",
        "/api/v2/authentication-tokens/{token_id}",
        "a token's own route: the caller's own token (sessions.rs, agent_pools.rs; \
         other_organization.rs attacks it)",
    ),
    (
        "DELETE",
        "/api/v2/authentication-tokens/{token_id}",
        "deleting the caller's own token ends the column (sessions.rs, agent_pools.rs; \
         other_organization.rs attacks it)",
    ),
];

/// What a secret is, its text, and which columns may see it.
type Secret = (String, String, fn(Column) -> bool);

struct Fixture {
    ids: BTreeMap<&'static str, String>,
    /// Each user column's own user ID.
    user_ids: BTreeMap<Column, String>,
    /// The team each member column (and the team token) acts through.
    teams: BTreeMap<Column, String>,
    /// Strings each column must never see, unless it put them in its request.
    secrets: Vec<Secret>,
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn state_body(serial: i64) -> Value {
    let json_state = json!({"format_version": "1.0", "terraform_version": "1.11.4",
        "values": {"outputs": {"endpoint": {"sensitive": false, "value": "matrix-endpoint", "type": "string"}},
            "root_module": {}}});
    let state = format!(
        r#"{{"version":4,"terraform_version":"1.11.4","serial":{serial},"lineage":"matrix-lineage","outputs":{{"endpoint":{{"value":"matrix-endpoint","type":"string"}}}},"resources":[],"check_results":null}}"#
    );
    json!({"data": {"type": "state-versions", "attributes": {
        "serial": serial, "md5": md5_hex(state.as_bytes()), "lineage": "matrix-lineage",
        "state": STANDARD.encode(state.as_bytes()),
        "json-state": STANDARD.encode(json_state.to_string())}}})
}

fn first_id(reply: &Reply) -> String {
    reply.body["data"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a list with an item: {}", reply.text))
        .to_string()
}

fn setup(server: &Server) -> (Fixture, BTreeMap<Column, Api>) {
    let alice = server.api(&server.user_token("alice"));
    alice
        .post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": {"name": ORG, "email": "alice@matrix.example"}}}),
        )
        .expect(201);
    let project_id = alice
        .post(
            &format!("organizations/{ORG}/projects"),
            &json!({"data": {"type": "projects", "attributes": {"name": "matrix-platform"}}}),
        )
        .expect(201)
        .id();
    let main = create_workspace(&alice, ORG, MAIN, Some(&project_id));
    let hidden_a = create_workspace(&alice, ORG, "hidden-a-5e2b", None);
    let hidden_b = create_workspace(&alice, ORG, "hidden-b-91c4", Some(&project_id));
    // A tag, state, variables (one sensitive), a configuration and a planned run on main.
    alice
        .post(
            &format!("workspaces/{main}/relationships/tags"),
            &json!({"data": [{"type": "tags", "attributes": {"name": "matrix-tag"}}]}),
        )
        .expect(204);
    let tag_id = first_id(&alice.get(&format!("organizations/{ORG}/tags")).ok());
    alice
        .post(&format!("workspaces/{main}/actions/lock"), &json!({}))
        .ok();
    let state_version_id = alice
        .post(&format!("workspaces/{main}/state-versions"), &state_body(1))
        .expect(201)
        .id();
    alice
        .post(&format!("workspaces/{main}/actions/unlock"), &json!({}))
        .ok();
    let output_id = first_id(
        &alice
            .get(&format!("state-versions/{state_version_id}/outputs"))
            .ok(),
    );
    let var = |key: &str, value: &str, sensitive: bool| {
        alice
            .post(
                &format!("workspaces/{main}/vars"),
                &json!({"data": {"type": "vars", "attributes": {
                    "key": key, "value": value, "category": "terraform", "sensitive": sensitive}}}),
            )
            .expect(201)
            .id()
    };
    let variable_id = var("greeting", "hello", false);
    var("api_key", SENSITIVE, true);
    let configuration_id =
        upload_configuration(&alice, &main, &[("main.tf", CONFIGURATION)], false);
    let run_id = create_run(&alice, &main, Some(&configuration_id), json!({})).id();
    let run = wait_for_run(&alice, &run_id, &["planned"], Duration::from_secs(120));
    let rel = |name: &str| {
        run.body["data"]["relationships"][name]["data"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (plan_id, apply_id) = (rel("plan"), rel("apply"));
    let comment_id = alice
        .post(
            &format!("runs/{run_id}/comments"),
            &json!({"data": {"type": "comments", "attributes": {"body": "matrix comment"}}}),
        )
        .expect(201)
        .id();
    let run_event_id = alice.get(&format!("runs/{run_id}/run-events")).ok().body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let varset_id = alice
        .post(
            &format!("organizations/{ORG}/varsets"),
            &json!({"data": {"type": "varsets", "attributes": {"name": "matrix-varset", "global": false}}}),
        )
        .expect(201)
        .id();
    let varset_variable_id = alice
        .post(
            &format!("varsets/{varset_id}/relationships/vars"),
            &json!({"data": {"type": "vars", "attributes": {"key": "region", "value": "eu", "category": "terraform"}}}),
        )
        .expect(201)
        .id();
    let agent_pool_id = alice
        .post(
            &format!("organizations/{ORG}/agent-pools"),
            &json!({"data": {"type": "agent-pools", "attributes": {"name": "matrix-pool"}}}),
        )
        .expect(201)
        .id();
    let secret_team = alice
        .post(
            &format!("organizations/{ORG}/teams"),
            &json!({"data": {"type": "teams", "attributes": {"name": SECRET_TEAM, "visibility": "secret"}}}),
        )
        .expect(201)
        .id();
    let readers = create_team(&alice, ORG, "project-readers", json!({}));
    let team_project_id = grant_project(&alice, &readers, &project_id, json!({"access": "read"}));
    let secret_grant = grant_workspace(&alice, &secret_team, &hidden_a, json!({"access": "admin"}));

    // The columns.
    let mut apis = BTreeMap::new();
    apis.insert(Column::Owners, alice.clone());
    let mut write_team = String::new();
    let mut teams = BTreeMap::new();
    let mut team_workspace_id = String::new();
    let mut none_membership = String::new();
    for column in COLUMNS.into_iter().filter(|c| c.is_user()) {
        let username = format!("m-{}", column.name());
        match column {
            Column::Owners => continue,
            Column::Outsider => {
                let bob = server.api(&server.user_token("bob"));
                bob.post(
                    "organizations",
                    &json!({"data": {"type": "organizations", "attributes": {"name": "bob-corp", "email": "bob@bob.example"}}}),
                )
                .expect(201);
                apis.insert(column, bob);
                continue;
            }
            _ => {}
        }
        let token = server.user_token(&username);
        let team = create_team(&alice, ORG, &format!("team-{}", column.name()), json!({}));
        add_member(&alice, ORG, &team, &username);
        if let Some(attributes) = column.grant() {
            let grant = grant_workspace(&alice, &team, &main, attributes);
            if column == Column::Read {
                team_workspace_id = grant;
            }
        }
        if column == Column::Write {
            write_team = team.clone();
            teams.insert(Column::TeamToken, team.clone());
        }
        teams.insert(column, team.clone());
        if column == Column::None {
            let memberships = alice
                .get(&format!(
                    "organizations/{ORG}/organization-memberships?q={username}"
                ))
                .ok();
            none_membership = first_id(&memberships);
        }
        apis.insert(column, server.api(&token));
    }
    let team_token = alice
        .post(
            &format!("teams/{write_team}/authentication-token"),
            &json!({}),
        )
        .expect(201)
        .attr("token")
        .as_str()
        .unwrap()
        .to_string();
    apis.insert(Column::TeamToken, server.api(&team_token));
    let org_token = alice
        .post(
            &format!("organizations/{ORG}/authentication-token"),
            &json!({}),
        )
        .expect(201)
        .attr("token")
        .as_str()
        .unwrap()
        .to_string();
    apis.insert(Column::OrgToken, server.api(&org_token));
    let carol = server.api(&server.user_token("carol"));
    let carol_id = carol.get("account/details").ok().id();
    let token = |expires: Option<String>| {
        let mut attributes = json!({"description": "matrix"});
        if let Some(at) = expires {
            attributes["expired-at"] = json!(at);
        }
        carol
            .post(
                &format!("users/{carol_id}/authentication-tokens"),
                &json!({"data": {"type": "authentication-tokens", "attributes": attributes}}),
            )
            .expect(201)
    };
    let revoked = token(None);
    carol
        .delete(&format!("authentication-tokens/{}", revoked.id()))
        .expect(204);
    apis.insert(
        Column::Revoked,
        server.api(revoked.attr("token").as_str().unwrap()),
    );
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let expiring = token(Some(soon.to_rfc3339()));
    apis.insert(
        Column::Expired,
        server.api(expiring.attr("token").as_str().unwrap()),
    );
    std::thread::sleep(Duration::from_secs(3));

    // A private provider named like the main workspace (routes share the `{name}` parameter),
    // published for linux/amd64, signed by the organization's GPG key.
    let gpg = Gpg::new("matrix");
    providers::publish(
        &alice,
        ORG,
        MAIN,
        PROVIDER_VERSION,
        ("linux", "amd64"),
        &gpg,
    );
    let reserved_tag_key_id = alice
        .post(
            &format!("organizations/{ORG}/reserved-tag-keys"),
            &json!({"data": {"type": "reserved-tag-keys", "attributes": {"key": "matrix-reserved"}}}),
        )
        .expect(201)
        .id();
    // A published module named like `main` (the `{name}` of the registry's routes).
    let registry_module_id = publish_module(&alice, MAIN);
    let ssh_key_id = alice
        .post(
            &format!("organizations/{ORG}/ssh-keys"),
            &json!({"data": {"type": "ssh-keys",
                "attributes": {"name": "matrix", "value": SSH_KEY_VALUE}}}),
        )
        .expect(201)
        .id();
    // Disabled (no verification request) and unresolvable: delivery is not under test here.
    let notification_configuration_id = alice
        .post(
            &format!("workspaces/{main}/notification-configurations"),
            &notification_body("matrix-hook"),
        )
        .expect(201)
        .id();
    // A run task whose test request a receiver of the test answers (loopback: the server
    // runs with --allow-private-notification-urls), attached to `main`.
    let task_url = terrace_tests::receiver::Receiver::start(&[200]).url;
    let task_id = alice
        .post(
            &format!("organizations/{ORG}/tasks"),
            &run_task_body("matrix", &task_url),
        )
        .expect(201)
        .id();
    let workspace_task_id = alice
        .post(
            &format!("workspaces/{main}/tasks"),
            &workspace_task_body(&task_id),
        )
        .expect(201)
        .id();
    let ids: BTreeMap<&'static str, String> = [
        ("organization", ORG.to_string()),
        ("task_id", task_id),
        ("task_url", task_url),
        ("workspace_task_id", workspace_task_id),
        ("namespace", ORG.to_string()),
        ("provider", MODULE_PROVIDER.into()),
        // The published version of the module and of the provider.
        ("version", PROVIDER_VERSION.into()),
        ("registry_module_id", registry_module_id),
        ("name", MAIN.to_string()),
        ("workspace_id", main.clone()),
        ("project_id", project_id),
        ("run_id", run_id),
        ("comment_id", comment_id),
        (
            "notification_configuration_id",
            notification_configuration_id,
        ),
        ("run_event_id", run_event_id),
        ("plan_id", plan_id),
        ("apply_id", apply_id),
        ("state_version_id", state_version_id),
        ("output_id", output_id),
        ("configuration_version_id", configuration_id),
        ("variable_id", variable_id),
        ("varset_variable_id", varset_variable_id),
        ("varset_id", varset_id),
        ("agent_pool_id", agent_pool_id),
        ("team_id", write_team),
        ("tag_id", tag_id),
        ("reserved_tag_key_id", reserved_tag_key_id),
        ("ssh_key_id", ssh_key_id),
        ("membership_id", none_membership),
        ("team_workspace_id", team_workspace_id),
        ("team_project_id", team_project_id),
        ("readers_team_id", readers),
        ("action", "suspend".into()),
        ("registry_name", "private".into()),
        ("os", "linux".into()),
        ("arch", "amd64".into()),
        ("key_id", gpg.key_id.clone()),
        ("gpg_armor", gpg.armor()),
        // The provider network mirror: the private provider `main` under the registry host.
        ("hostname", registry_host(server)),
        ("type", MAIN.to_string()),
        ("file", format!("{PROVIDER_VERSION}.json")),
    ]
    .into_iter()
    .collect();
    fn sees_everything(c: Column) -> bool {
        matches!(c, Column::Owners | Column::OrgToken)
    }
    fn nobody(_: Column) -> bool {
        false
    }
    fn sees_main(c: Column) -> bool {
        c.level().is_some() || sees_everything(c)
    }
    fn insider(c: Column) -> bool {
        c != Column::Outsider
    }
    put_sso_configuration(&alice);
    let secrets = vec![
        (
            "the sensitive variable's value".into(),
            SENSITIVE.into(),
            nobody as fn(Column) -> bool,
        ),
        (
            "the organization's identity provider secret".into(),
            SSO_CLIENT_SECRET.into(),
            nobody,
        ),
        ("the organization token".into(), org_token, nobody),
        ("an SSH key's value".into(), SSH_KEY_VALUE.into(), nobody),
        (
            "a run task's HMAC key".into(),
            RUN_TASK_HMAC_KEY.into(),
            nobody,
        ),
        ("the team token".into(), team_token, nobody),
        (
            "a workspace nobody was given".into(),
            "hidden-a-5e2b".into(),
            sees_everything as fn(Column) -> bool,
        ),
        (
            "a workspace nobody was given".into(),
            hidden_a,
            sees_everything,
        ),
        (
            "a workspace nobody was given".into(),
            "hidden-b-91c4".into(),
            sees_everything,
        ),
        (
            "a workspace nobody was given".into(),
            hidden_b,
            sees_everything,
        ),
        ("a secret team".into(), SECRET_TEAM.into(), sees_everything),
        ("a secret team".into(), secret_team, sees_everything),
        (
            "a grant on an invisible workspace".into(),
            secret_grant,
            sees_everything,
        ),
        ("Alice's organization".into(), ORG.into(), insider),
        (
            "Alice's organization's email".into(),
            "alice@matrix.example".into(),
            insider,
        ),
        ("Alice's workspace".into(), main, sees_main),
    ];
    let user_ids = apis
        .iter()
        .filter(|(c, _)| c.is_user())
        .map(|(c, api)| (*c, api.get("account/details").ok().id()))
        .collect();
    (
        Fixture {
            ids,
            user_ids,
            teams,
            secrets,
        },
        apis,
    )
}

/// For a destructive route the column may call: a throwaway target of the same kind, which
/// Alice creates (and grants the column's team as it holds `main`), so the call proves the
/// column allowed without destroying what the other cells are aimed at. `None`: no throwaway
/// for this route (its allowed cells stay unproven here, marked `-`).
fn throwaway(
    template: &str,
    column: Column,
    f: &Fixture,
    alice: &Api,
    n: usize,
) -> Option<Fixture> {
    let mut ids = f.ids.clone();
    let name = format!("throwaway-{}-{n}", column.name());
    let workspace_scoped = template.contains("{workspace_id}")
        || template.starts_with("/api/v2/runs/{run_id}/actions/")
        || template.contains("/workspaces/{name}")
        || template.starts_with("/api/v2/team-workspaces/")
        || template.starts_with("/api/v2/configuration-versions/");
    if workspace_scoped {
        let ws = create_workspace(alice, ORG, &name, Some(&f.ids["project_id"]));
        if let (Some(grant), Some(team)) = (column.grant(), f.teams.get(&column)) {
            grant_workspace(alice, team, &ws, grant);
        }
        let grant = grant_workspace(
            alice,
            &f.ids["readers_team_id"],
            &ws,
            json!({"access": "read"}),
        );
        let variable = alice
            .post(
                &format!("workspaces/{ws}/vars"),
                &json!({"data": {"type": "vars", "attributes": {"key": "doomed", "value": "v", "category": "terraform"}}}),
            )
            .expect(201)
            .id();
        let configuration = alice
            .post(
                &format!("workspaces/{ws}/configuration-versions"),
                &json!({"data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": false}}}),
            )
            .expect(201)
            .id();
        ids.insert("workspace_id", ws.clone());
        ids.insert("name", name);
        ids.insert("variable_id", variable);
        ids.insert("team_workspace_id", grant);
        ids.insert("configuration_version_id", configuration);
        if template.contains("/tasks/{workspace_task_id}") {
            let attached = alice
                .post(
                    &format!("workspaces/{ws}/tasks"),
                    &workspace_task_body(&f.ids["task_id"]),
                )
                .expect(201)
                .id();
            ids.insert("workspace_task_id", attached);
        }
        if template.starts_with("/api/v2/runs/") {
            // A run of its own (in whatever state the runner has it in by then: an action
            // that does not fit the state is a 409, still an allowed answer).
            let configuration =
                upload_configuration(alice, &ws, &[("main.tf", CONFIGURATION)], false);
            let run = create_run(alice, &ws, Some(&configuration), json!({})).id();
            ids.insert("run_id", run);
        }
    } else if template.starts_with("/api/v2/organizations/{organization}/registry-modules/")
        || template.starts_with("/api/v2/registry-modules/actions/delete/")
    {
        publish_module(alice, &name);
        ids.insert("name", name);
    } else if template.starts_with("/api/v2/organizations/{organization}/registry-providers/") {
        if template.ends_with("/{os}/{arch}") {
            let os = format!("os_{n}");
            providers::create_platform(
                alice,
                ORG,
                MAIN,
                PROVIDER_VERSION,
                (&os, "amd64"),
                "p.zip",
                "0",
            );
            ids.insert("os", os);
        } else if template.ends_with("/versions/{version}") {
            let version = format!("3.0.{n}");
            providers::create_version(alice, ORG, MAIN, &version, &f.ids["key_id"]);
            ids.insert("version", version);
        } else {
            providers::create_provider(alice, ORG, &name).expect(201);
            ids.insert("name", name);
        }
    } else if template.starts_with("/api/registry/{registry_name}/v2/gpg-keys/") {
        // The previous allowed caller deleted it: add it again.
        let added = providers::add_gpg_key(alice, ORG, &f.ids["gpg_armor"]);
        assert!(matches!(added.status, 201 | 409), "{}", added.text);
    } else if template == "/api/v2/organizations/{organization}/sso-configuration" {
        // Deleted by the previous allowed caller: put back, in the same organization.
        put_sso_configuration(alice);
    } else if template == "/api/v2/organizations/{organization}/tags" {
        let ws = create_workspace(alice, ORG, &name, None);
        alice
            .post(
                &format!("workspaces/{ws}/relationships/tags"),
                &json!({"data": [{"type": "tags", "attributes": {"name": name}}]}),
            )
            .expect(204);
        let tags = alice
            .get(&format!("organizations/{ORG}/tags?q={name}"))
            .ok();
        let tag = tags.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["attributes"]["name"] == name.as_str())
            .unwrap_or_else(|| panic!("the tag {name}: {}", tags.text))["id"]
            .as_str()
            .unwrap()
            .to_string();
        ids.insert("tag_id", tag);
    } else if template.starts_with("/api/v2/varsets/{varset_id}") {
        let varset = alice
            .post(
                &format!("organizations/{ORG}/varsets"),
                &json!({"data": {"type": "varsets", "attributes": {"name": name, "global": false}}}),
            )
            .expect(201)
            .id();
        let variable = alice
            .post(
                &format!("varsets/{varset}/relationships/vars"),
                &json!({"data": {"type": "vars", "attributes": {"key": "doomed", "value": "v", "category": "terraform"}}}),
            )
            .expect(201)
            .id();
        ids.insert("varset_id", varset);
        ids.insert("varset_variable_id", variable);
    } else if template.starts_with("/api/v2/teams/{team_id}") {
        let team = create_team(alice, ORG, &name, json!({}));
        if column == Column::Write {
            // Its members manage a team's token.
            add_member(alice, ORG, &team, "m-write");
        }
        if template.ends_with("/authentication-token") {
            alice
                .post(&format!("teams/{team}/authentication-token"), &json!({}))
                .expect(201);
        }
        ids.insert("team_id", team);
    } else {
        let (key, path, body) = match template {
            "/api/v2/organizations/{organization}" => (
                "organization",
                "organizations".into(),
                json!({"data": {"type": "organizations", "attributes": {"name": name, "email": "alice@matrix.example"}}}),
            ),
            "/api/v2/organization-memberships/{membership_id}" => (
                "membership_id",
                format!("organizations/{ORG}/organization-memberships"),
                json!({"data": {"type": "organization-memberships", "attributes": {"email": format!("{name}@invite.example")}}}),
            ),
            "/api/v2/teams/{team_id}" => (
                "team_id",
                format!("organizations/{ORG}/teams"),
                json!({"data": {"type": "teams", "attributes": {"name": name}}}),
            ),
            "/api/v2/projects/{project_id}" => (
                "project_id",
                format!("organizations/{ORG}/projects"),
                json!({"data": {"type": "projects", "attributes": {"name": name}}}),
            ),
            "/api/v2/notification-configurations/{notification_configuration_id}" => (
                "notification_configuration_id",
                format!(
                    "workspaces/{}/notification-configurations",
                    f.ids["workspace_id"]
                ),
                notification_body(&name),
            ),
            "/api/v2/reserved-tag-keys/{reserved_tag_key_id}" => (
                "reserved_tag_key_id",
                format!("organizations/{ORG}/reserved-tag-keys"),
                json!({"data": {"type": "reserved-tag-keys", "attributes": {"key": name}}}),
            ),
            "/api/v2/tasks/{task_id}" => (
                "task_id",
                format!("organizations/{ORG}/tasks"),
                run_task_body(&name, &f.ids["task_url"]),
            ),
            "/api/v2/ssh-keys/{ssh_key_id}" => (
                "ssh_key_id",
                format!("organizations/{ORG}/ssh-keys"),
                json!({"data": {"type": "ssh-keys",
                    "attributes": {"name": name, "value": SSH_KEY_VALUE}}}),
            ),
            "/api/v2/agent-pools/{agent_pool_id}" => (
                "agent_pool_id",
                format!("organizations/{ORG}/agent-pools"),
                json!({"data": {"type": "agent-pools", "attributes": {"name": name}}}),
            ),
            "/api/v2/team-projects/{team_project_id}" => {
                let project = alice
                    .post(
                        &format!("organizations/{ORG}/projects"),
                        &json!({"data": {"type": "projects", "attributes": {"name": name}}}),
                    )
                    .expect(201)
                    .id();
                ids.insert("project_id", project.clone());
                (
                    "team_project_id",
                    "team-projects".into(),
                    json!({"data": {"type": "team-projects",
                    "attributes": {"access": "read"}, "relationships": {
                        "team": {"data": {"type": "teams", "id": f.ids["readers_team_id"]}},
                        "project": {"data": {"type": "projects", "id": project}}}}}),
                )
            }
            _ => return None,
        };
        ids.insert(key, alice.post(&path, &body).expect(201).id());
    }
    Some(Fixture {
        ids,
        user_ids: f.user_ids.clone(),
        teams: f.teams.clone(),
        secrets: Vec::new(),
    })
}

const MODULE_PROVIDER: &str = "matrix";

/// A run task of Alice's organization (its URL answers the test request), signed.
fn run_task_body(name: &str, url: &str) -> Value {
    json!({"data": {"type": "tasks", "attributes": {
        "name": name, "url": url, "category": "task", "hmac-key": RUN_TASK_HMAC_KEY}}})
}

/// `task_id` attached to a workspace, advisory after the plan.
fn workspace_task_body(task_id: &str) -> Value {
    json!({"data": {"type": "workspace-tasks", "attributes": {"enforcement-level": "advisory"},
        "relationships": {"task": {"data": {"type": "tasks", "id": task_id}}}}})
}

/// A disabled notification configuration to an unresolvable host.
fn notification_body(name: &str) -> Value {
    json!({"data": {"type": "notification-configurations", "attributes": {
        "name": name, "destination-type": "generic", "enabled": false,
        "url": "https://hooks.invalid/matrix", "triggers": ["run:completed"]}}})
}

/// Creates module `name` of Alice's organization with version 1.0.0 published; its ID.
fn publish_module(alice: &Api, name: &str) -> String {
    let id = alice
        .post(
            &format!("organizations/{ORG}/registry-modules"),
            &json!({"data": {"type": "registry-modules",
                "attributes": {"name": name, "provider": MODULE_PROVIDER}}}),
        )
        .expect(201)
        .id();
    let version = alice
        .post(
            &format!("registry-modules/{ORG}/{name}/{MODULE_PROVIDER}/versions"),
            &json!({"data": {"type": "registry-module-versions", "attributes": {"version": "1.0.0"}}}),
        )
        .expect(201);
    let upload = version.body["data"]["links"]["upload"].as_str().unwrap();
    alice
        .put_unauthenticated(upload, &tarball(&[("main.tf", CONFIGURATION)]))
        .expect(200);
    id
}

/// The organization's own single sign-on, disabled, with a client secret nobody may read back.
fn put_sso_configuration(alice: &Api) {
    alice
        .patch(
            &format!("organizations/{ORG}/sso-configuration"),
            &json!({"data": {"type": "sso-configurations", "attributes": {
                "oidc-issuer": "https://idp.matrix.example", "oidc-client-id": "matrix",
                "oidc-client-secret": SSO_CLIENT_SECRET}}}),
        )
        .expect(200);
}

/// The concrete path of `template` aimed at Alice's resources, or `None` when the route's
/// parameters name nothing the fixture has (noted in the summary).
/// The host registry sources name (`127.0.0.1:PORT`: terraform wants a dot).
fn registry_host(server: &Server) -> String {
    let port = server.hostname.rsplit(':').next().unwrap();
    format!("127.0.0.1:{port}")
}

fn fill(template: &str, f: &Fixture, column: Column) -> Option<String> {
    let mut path = template.to_string();
    while let Some(start) = path.find('{') {
        let end = path[start..].find('}')? + start;
        let name = &path[start + 1..end];
        let key = match name {
            "variable_id" if template.starts_with("/api/v2/varsets") => "varset_variable_id",
            other => other,
        };
        // A user's own routes are aimed at the caller itself (others' are attacked below).
        let value = match key {
            "user_id" => f
                .user_ids
                .get(&column)
                .unwrap_or(&f.user_ids[&Column::Owners]),
            _ => f.ids.get(key)?,
        };
        path.replace_range(start..=end, value);
    }
    // Lists that must be narrowed to one workspace or project.
    let query = match template {
        "/api/v2/state-versions" => {
            format!("?filter[organization][name]={ORG}&filter[workspace][name]={MAIN}")
        }
        "/api/v2/team-workspaces" => format!("?filter[workspace][id]={}", f.ids["workspace_id"]),
        "/api/v2/workspaces/{workspace_id}/run-triggers" => {
            "?filter[run-trigger][type]=inbound".into()
        }
        "/api/v2/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}/version" => {
            "?module_version=1.0.0".into()
        }
        "/api/v2/team-projects" => format!("?filter[project][id]={}", f.ids["project_id"]),
        "/api/registry/{registry_name}/v2/gpg-keys" => format!("?filter[namespace]={ORG}"),
        "/api/v2/organizations/{organization}/organization-memberships" => {
            "?include=user,teams".into()
        }
        "/api/v2/organizations/{organization}/teams" => {
            "?include=users,organization-memberships".into()
        }
        _ => String::new(),
    };
    Some(path + &query)
}

/// A well-formed body for the route, so an allowed caller meets validation at most and a
/// refused one meets nothing but the refusal. `None`: no body.
fn body(method: &str, template: &str, f: &Fixture, column: Column) -> Option<Value> {
    if method == "GET" || method == "DELETE" && !template.contains("/relationships/") {
        return None;
    }
    let unique = format!("matrix-{}", column.name());
    let id = |k: &str| f.ids[k].clone();
    Some(match (method, template) {
        ("POST", "/api/registry/{registry_name}/v2/gpg-keys") => {
            json!({"data": {"type": "gpg-keys",
                "attributes": {"namespace": ORG, "ascii-armor": id("gpg_armor")}}})
        }
        ("PATCH", t) if t.contains("/gpg-keys/") => {
            json!({"data": {"type": "gpg-keys", "attributes": {"namespace": ORG}}})
        }
        ("POST", t) if t.ends_with("/registry-providers") => {
            json!({"data": {"type": "registry-providers",
                "attributes": {"name": unique, "namespace": ORG, "registry-name": "private"}}})
        }
        ("POST", t) if t.contains("/registry-providers/") && t.ends_with("/versions") => {
            json!({"data": {"type": "registry-provider-versions",
                "attributes": {"version": "2.0.0", "key-id": id("key_id"), "protocols": ["5.0"]}}})
        }
        ("POST", t) if t.contains("/registry-providers/") && t.ends_with("/platforms") => {
            json!({"data": {"type": "registry-provider-platforms", "attributes": {
                "os": "linux", "arch": unique.replace('-', "_"), "filename": "p.zip", "shasum": "0"}}})
        }
        (_, t) if t.ends_with("/relationships/ssh-key") => {
            json!({"data": {"type": "workspaces", "attributes": {"id": id("ssh_key_id")}}})
        }
        (_, t) if t.contains("/ssh-keys") => {
            json!({"data": {"type": "ssh-keys",
                "attributes": {"name": unique, "value": SSH_KEY_VALUE}}})
        }
        (_, t) if t.ends_with("/relationships/tags") => {
            json!({"data": [{"type": "tags", "attributes": {"name": unique}}]})
        }
        // The workspace as its own consumer: allowed callers meet the 422 that refuses it (and
        // a DELETE removes nothing).
        (_, t) if t.ends_with("/relationships/remote-state-consumers") => {
            json!({"data": [{"type": "workspaces", "id": id("workspace_id")}]})
        }
        (_, t) if t.ends_with("/relationships/data-retention-policy") => {
            json!({"data": {"type": "data-retention-policy-delete-olders",
                "attributes": {"delete-older-than-n-days": 30}}})
        }
        (_, t) if t.ends_with("/relationships/workspaces") => {
            json!({"data": [{"type": "workspaces", "id": id("workspace_id")}]})
        }
        (_, t) if t.ends_with("/relationships/projects") => {
            json!({"data": [{"type": "projects", "id": id("project_id")}]})
        }
        (_, t) if t.ends_with("/relationships/users") => {
            json!({"data": [{"type": "users", "id": "m-none"}]})
        }
        (_, t) if t.ends_with("/relationships/organization-memberships") => {
            json!({"data": [{"type": "organization-memberships", "id": id("membership_id")}]})
        }
        (_, t) if t.ends_with("/vars") || t.ends_with("/vars/{variable_id}") => {
            json!({"data": {"type": "vars", "attributes": {"key": unique.replace('-', "_"), "value": "v", "category": "terraform"}}})
        }
        ("PATCH", "/api/v2/organizations/{organization}/sso-configuration") => {
            json!({"data": {"type": "sso-configurations", "attributes": {"oidc-scopes": unique}}})
        }
        ("POST", "/api/v2/runs/{run_id}/comments") => {
            json!({"data": {"type": "comments", "attributes": {"body": unique}}})
        }
        ("POST", "/api/v2/workspaces/{workspace_id}/notification-configurations") => {
            notification_body(&unique)
        }
        ("POST", "/api/v2/organizations/{organization}/tasks") => {
            run_task_body(&unique, &id("task_url"))
        }
        ("PATCH", "/api/v2/tasks/{task_id}") => {
            json!({"data": {"type": "tasks", "attributes": {"description": unique}}})
        }
        // Attaching the task `main` already has: allowed callers meet the conflict.
        ("POST", "/api/v2/workspaces/{workspace_id}/tasks") => workspace_task_body(&id("task_id")),
        ("PATCH", "/api/v2/workspaces/{workspace_id}/tasks/{workspace_task_id}") => {
            json!({"data": {"type": "workspace-tasks", "attributes": {"stages": ["pre_plan"]}}})
        }
        ("PATCH", "/api/v2/notification-configurations/{notification_configuration_id}") => {
            json!({"data": {"type": "notification-configurations", "attributes": {"name": unique}}})
        }
        // The workspace itself as its own source: allowed callers meet the 422 that refuses it.
        ("POST", "/api/v2/workspaces/{workspace_id}/run-triggers") => {
            json!({"data": {"type": "run-triggers", "relationships": {
                "sourceable": {"data": {"type": "workspaces", "id": id("workspace_id")}}}}})
        }
        ("POST", "/api/v2/runs") => {
            json!({"data": {"type": "runs", "attributes": {"message": unique},
            "relationships": {"workspace": {"data": {"type": "workspaces", "id": id("workspace_id")}}}}})
        }
        (_, t) if t.contains("/actions/") => json!({}),
        // A team's undescribed token takes no description; its described ones need one.
        (_, "/api/v2/teams/{team_id}/authentication-token") => {
            json!({"data": {"type": "authentication-tokens", "attributes": {}}})
        }
        (_, t) if t.ends_with("/authentication-token") || t.ends_with("/authentication-tokens") => {
            json!({"data": {"type": "authentication-tokens", "attributes": {"description": unique}}})
        }
        ("POST", t) if t.ends_with("/configuration-versions") => {
            json!({"data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": false}}})
        }
        ("POST", t) if t.ends_with("/state-versions") => state_body(2),
        ("PATCH", t) if t.ends_with("/state-versions") => {
            json!({"data": {"type": "state-versions", "relationships": {"rollback-state-version":
                {"data": {"type": "state-versions", "id": id("state_version_id")}}}}})
        }
        (_, t) if t.ends_with("/tag-bindings") => {
            json!({"data": [{"type": "tag-bindings", "attributes": {"key": "env", "value": unique}}]})
        }
        (_, t) if t.contains("/reserved-tag-keys") => {
            // Renames (PATCH) must not take the key a create (POST) just reserved.
            let key = format!("{unique}-{}", method.to_lowercase());
            json!({"data": {"type": "reserved-tag-keys", "attributes": {"key": key}}})
        }
        ("POST", t) if t.ends_with("/workspaces") => {
            json!({"data": {"type": "workspaces", "attributes": {"name": unique}}})
        }
        ("POST", "/api/v2/organizations/{organization}/registry-modules") => {
            json!({"data": {"type": "registry-modules",
                "attributes": {"name": unique, "provider": MODULE_PROVIDER}}})
        }
        ("POST", "/api/v2/registry-modules/{organization}/{name}/{provider}/versions") => {
            let n = COLUMNS.iter().position(|c| *c == column).unwrap_or(0);
            json!({"data": {"type": "registry-module-versions",
                "attributes": {"version": format!("0.0.{n}")}}})
        }
        ("PATCH", t) if t.contains("/workspaces/") => {
            json!({"data": {"type": "workspaces", "attributes": {"description": unique}}})
        }
        ("POST", t) if t.ends_with("/projects") => {
            json!({"data": {"type": "projects", "attributes": {"name": unique}}})
        }
        ("PATCH", t) if t.starts_with("/api/v2/projects/") => {
            json!({"data": {"type": "projects", "attributes": {"description": unique}}})
        }
        ("POST", t) if t.ends_with("/teams") => {
            json!({"data": {"type": "teams", "attributes": {"name": unique}}})
        }
        ("PATCH", t) if t.starts_with("/api/v2/teams/") => {
            json!({"data": {"type": "teams", "attributes": {"visibility": "organization"}}})
        }
        ("POST", t) if t.ends_with("/varsets") => {
            json!({"data": {"type": "varsets", "attributes": {"name": unique}}})
        }
        ("PATCH", t) if t.starts_with("/api/v2/varsets/") => {
            json!({"data": {"type": "varsets", "attributes": {"description": unique}}})
        }
        ("POST", t) if t.ends_with("/agent-pools") => {
            json!({"data": {"type": "agent-pools", "attributes": {"name": unique}}})
        }
        ("PATCH", t) if t.starts_with("/api/v2/agent-pools/") => {
            json!({"data": {"type": "agent-pools", "attributes": {"name": format!("{unique}-pool")}}})
        }
        ("POST", t) if t.ends_with("/organization-memberships") => {
            json!({"data": {"type": "organization-memberships", "attributes": {"email": format!("{unique}@invite.example")}}})
        }
        ("PATCH", "/api/v2/organizations/{organization}") => {
            json!({"data": {"type": "organizations", "attributes": {"email": "alice@matrix.example"}}})
        }
        ("POST", "/api/v2/team-projects") => json!({"data": {"type": "team-projects",
            "attributes": {"access": "read"}, "relationships": {
                "team": {"data": {"type": "teams", "id": id("readers_team_id")}},
                "project": {"data": {"type": "projects", "id": id("project_id")}}}}}),
        ("PATCH", t) if t.starts_with("/api/v2/team-projects/") => {
            json!({"data": {"type": "team-projects", "attributes": {"access": "read"}}})
        }
        ("POST", "/api/v2/organizations") => json!({"data": {"type": "organizations",
            "attributes": {"name": unique, "email": format!("{unique}@new.example")}}}),
        ("PATCH", "/api/v2/account/update") => json!({"data": {"type": "users", "attributes": {}}}),
        ("PATCH", t) if t.starts_with("/api/v2/admin/organizations/") => {
            json!({"data": {"type": "organizations", "attributes": {"global-module-sharing": false}}})
        }
        // Changes nothing, should it ever reach a site administrator.
        ("PATCH", "/api/v2/admin/general-settings") => {
            json!({"data": {"type": "general-settings", "attributes": {}}})
        }
        ("PATCH", "/api/v2/admin/customization-settings") => {
            json!({"data": {"type": "customization-settings", "attributes": {}}})
        }
        ("PATCH", "/api/v2/admin/saml-settings") => {
            json!({"data": {"type": "saml-settings", "attributes": {}}})
        }
        ("PATCH", "/api/v2/admin/smtp-settings") => {
            json!({"data": {"type": "smtp-settings", "attributes": {}}})
        }
        ("POST", t) if t.starts_with("/api/v2/admin/") => json!({}),
        ("POST", "/api/v2/team-workspaces") => json!({"data": {"type": "team-workspaces",
            "attributes": {"access": "read"}, "relationships": {
                "team": {"data": {"type": "teams", "id": id("team_id")}},
                "workspace": {"data": {"type": "workspaces", "id": id("workspace_id")}}}}}),
        ("PATCH", t) if t.starts_with("/api/v2/team-workspaces/") => {
            json!({"data": {"type": "team-workspaces", "attributes": {"access": "read"}}})
        }
        ("DELETE", "/api/v2/organizations/{organization}/tags") => {
            json!({"data": [{"type": "tags", "id": id("tag_id")}]})
        }
        _ => return None,
    })
}

/// Strings of `secrets` outside the column's reach that the answer shows, unless the request
/// itself carried them.
fn leaks(reply: &Reply, request: &str, f: &Fixture, column: Column) -> Vec<String> {
    let text = reply.text.to_lowercase();
    f.secrets
        .iter()
        .filter(|(_, value, may_see)| {
            !may_see(column)
                && !request.to_lowercase().contains(&value.to_lowercase())
                && text.contains(&value.to_lowercase())
        })
        .map(|(what, value, _)| format!("{what} ({value})"))
        .collect()
}

/// What the refused calls were aimed at, as the owners see it (timestamps aside).
fn snapshot(owner: &Api, f: &Fixture) -> Vec<(String, String)> {
    let ws = &f.ids["workspace_id"];
    [
        format!("workspaces/{ws}/tag-bindings"),
        format!("workspaces/{ws}/relationships/tags"),
        format!("workspaces/{ws}/state-versions"),
        format!("workspaces/{ws}/configuration-versions"),
        format!("workspaces/{ws}/runs"),
        format!("team-workspaces?filter[workspace][id]={ws}"),
        format!("team-projects?filter[project][id]={}", f.ids["project_id"]),
        format!("organizations/{ORG}/workspaces"),
        format!("organizations/{ORG}/projects"),
        format!("organizations/{ORG}/tags"),
        format!("organizations/{ORG}/reserved-tag-keys"),
        format!("organizations/{ORG}/varsets"),
        format!("organizations/{ORG}/agent-pools"),
        format!("varsets/{}/relationships/vars", f.ids["varset_id"]),
        format!("teams/{}/authentication-token", f.ids["team_id"]),
        format!("workspaces/{ws}"),
        format!("workspaces/{ws}/vars"),
        format!("workspaces/{ws}/current-state-version"),
        format!("runs/{}", f.ids["run_id"]),
        format!("projects/{}", f.ids["project_id"]),
        format!("varsets/{}", f.ids["varset_id"]),
        format!("agent-pools/{}", f.ids["agent_pool_id"]),
        format!("teams/{}", f.ids["team_id"]),
        format!("organizations/{ORG}/teams"),
        format!("organizations/{ORG}/organization-memberships"),
        format!(
            "configuration-versions/{}",
            f.ids["configuration_version_id"]
        ),
        format!("organizations/{ORG}"),
    ]
    .into_iter()
    .map(|path| {
        let mut reply = owner.get(&path);
        strip_times(&mut reply.body);
        let seen = format!("{} {}", reply.status, reply.body);
        (path, seen)
    })
    .collect()
}

/// Drops `…-at` attributes (`last-used-at` moves whenever a token is used, refused or not).
fn strip_times(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.ends_with("-at") && !k.ends_with("_at"));
            map.values_mut().for_each(strip_times);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_times),
        _ => {}
    }
}

fn matrix(db: Db) {
    let server = Server::builder(db)
        .without_rate_limits()
        .arg("--allow-private-notification-urls")
        .start();
    let (f, apis) = setup(&server);
    let owner = &apis[&Column::Owners];
    let doc = owner.get("/openapi.json").ok().body;
    let mut routes: Vec<(String, String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(permission) = op["x-terrace-permission"].as_str() else {
                continue;
            };
            routes.push((method.to_uppercase(), path.clone(), permission.to_string()));
        }
    }
    assert!(routes.len() > 150, "the document lists every route");
    // Reads first, so lists are counted before mutations add to them.
    routes.sort_by_key(|(m, p, _)| (m != "GET", p.clone()));

    let mut failures = Vec::new();
    // Lists count only what the caller sees: of three workspaces (two in the project), one
    // run and two projects (the default one and `main`'s), a member given `main` sees `main`,
    // its run and its project; a member given nothing sees none of them.
    for (list, everything) in [("workspaces", 3), ("runs", 1), ("projects", 2)] {
        for column in COLUMNS {
            let reply = apis[&column].get(&format!("organizations/{ORG}/{list}"));
            let want = match column {
                Column::Owners | Column::OrgToken => everything,
                Column::None => 0,
                Column::Outsider | Column::Revoked | Column::Expired => continue,
                _ => 1,
            };
            let count = reply.body["meta"]["pagination"]["total-count"].as_u64();
            let listed = reply.body["data"].as_array().map(Vec::len);
            if count != Some(want) || listed != Some(want as usize) {
                failures.push(format!(
                    "{} lists {listed:?} {list} (count {count:?}), expected {want}: {}",
                    column.name(),
                    clip(&reply.text)
                ));
            }
        }
    }

    let mut uncovered = Vec::new();
    let mut cells = 0;
    let mut throwaways = 0;
    let mut grid: BTreeMap<(bool, String, String), Vec<String>> = BTreeMap::new();
    let mut covered = Vec::new();
    for (method, template, permission) in &routes {
        if ["runner", "capability"].contains(&permission.as_str()) {
            // Not reached with API tokens: listener_trust.rs, log_urls.rs and
            // other_organization.rs attack them with the tokens that do reach them.
            continue;
        }
        if NOT_IN_MATRIX
            .iter()
            .any(|(m, t, _)| m == method && t == template)
        {
            continue;
        }
        if fill(template, &f, Column::Owners).is_none() {
            uncovered.push(format!(
                "{method} {template} (no fixture for its parameters)"
            ));
            continue;
        }
        if COLUMNS.iter().any(|c| {
            expected(permission, *c) != Class::Allowed
                && body(method, template, &f, *c).is_none()
                && matches!(method.as_str(), "POST" | "PATCH" | "PUT")
        }) {
            uncovered.push(format!("{method} {template} (no body)"));
            continue;
        }
        covered.push((method, template, permission));
        grid.insert(
            (method != "GET", template.clone(), method.clone()),
            vec![format!("{:>9}", "-"); COLUMNS.len()],
        );
    }
    // Every refused call first, then a look at everything they were aimed at (it must be
    // exactly as before), then the allowed calls.
    let before = snapshot(owner, &f);
    for allowed_pass in [false, true] {
        if allowed_pass {
            let after = snapshot(owner, &f);
            for (b, a) in before.iter().zip(&after) {
                if b != a {
                    failures.push(format!(
                        "refused calls changed {}\n  before: {}\n  after:  {}",
                        b.0,
                        clip(&b.1),
                        clip(&a.1)
                    ));
                }
            }
        }
        for &(method, template, permission) in &covered {
            let row = grid
                .get_mut(&(method != "GET", template.clone(), method.clone()))
                .unwrap();
            for (index, column) in COLUMNS.into_iter().enumerate() {
                let want = expected(permission, column);
                if (want == Class::Allowed) != allowed_pass {
                    continue;
                }
                let spare;
                let target = if want == Class::Allowed && destructive(method, template) {
                    throwaways += 1;
                    match throwaway(template, column, &f, owner, throwaways) {
                        Some(t) => {
                            spare = t;
                            &spare
                        }
                        None => continue,
                    }
                } else {
                    &f
                };
                let api = &apis[&column];
                let path = fill(template, target, column).expect("filled above");
                let payload = body(method, template, target, column);
                let reply = match &payload {
                    Some(b) => api.send_json(method, &path, b),
                    None => api.request(method, &path, None, ""),
                };
                cells += 1;
                let got = Class::of(reply.status);
                row[index] = format!("{:>9}", format!("{}:{}", column.name(), reply.status));
                let request = format!(
                    "{path} {}",
                    payload.map(|b| b.to_string()).unwrap_or_default()
                );
                if got != want {
                    failures.push(format!(
                        "{method} {template} [{permission}] as {}: expected {want:?}, got {} {}",
                        column.name(),
                        reply.status,
                        clip(&reply.text)
                    ));
                }
                if reply.status >= 500 {
                    failures.push(format!(
                        "{method} {template} as {}: {}",
                        column.name(),
                        reply.status
                    ));
                }
                if let Some(wrong) = miscounted(&reply) {
                    failures.push(format!("{method} {template} as {}: {wrong}", column.name()));
                }
                let leaked = leaks(&reply, &request, &f, column);
                if !leaked.is_empty() {
                    failures.push(format!(
                        "{method} {template} as {} leaks {}: {}",
                        column.name(),
                        leaked.join(", "),
                        clip(&reply.text)
                    ));
                }
            }
        }
    }
    let summary: Vec<String> = grid
        .iter()
        .map(|((_, template, method), row)| format!("{method:6} {template:70} {}", row.join(" ")))
        .collect();

    // A user's own routes, aimed at somebody else: Alice's tokens are nobody else's business.
    let alice_id = &f.user_ids[&Column::Owners];
    for column in COLUMNS
        .into_iter()
        .filter(|c| c.is_user() && *c != Column::Owners)
    {
        let path = format!("users/{alice_id}/authentication-tokens");
        let listed = apis[&column].get(&path);
        let created = apis[&column].post(
            &path,
            &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "stolen"}}}),
        );
        for (what, reply) in [("lists", &listed), ("creates", &created)] {
            if !matches!(reply.status, 403 | 404) || reply.text.contains("\"token\":\"") {
                failures.push(format!(
                    "{} {what} Alice's tokens: {} {}",
                    column.name(),
                    reply.status,
                    clip(&reply.text)
                ));
            }
        }
    }

    // The organization token's own routes, last, since they end the org-tok column: only
    // owners regenerate or delete it, and the replaced token stops working at once.
    let regenerated = owner.post(
        &format!("organizations/{ORG}/authentication-token"),
        &json!({}),
    );
    let old = apis[&Column::OrgToken].get(&format!("organizations/{ORG}"));
    let deleted = owner.delete(&format!("organizations/{ORG}/authentication-token"));
    if regenerated.status != 201 || old.status != 401 || deleted.status != 204 {
        failures.push(format!(
            "owners regenerate the organization token: {}, the old one then gets {}, owners \
             delete it: {}",
            regenerated.status, old.status, deleted.status
        ));
    }

    eprintln!(
        "permission matrix: {} routes × {} callers, {cells} calls",
        summary.len(),
        COLUMNS.len()
    );
    for route in &uncovered {
        failures.push(format!(
            "{route}: not in the matrix; teach it the route (docs/access.md, \"Adding a route\")"
        ));
    }
    if !failures.is_empty() || std::env::var_os("MATRIX_SUMMARY").is_some() {
        eprintln!("{}", summary.join("\n"));
    }
    if !failures.is_empty() {
        panic!("{} cells differ:\n{}", failures.len(), failures.join("\n"));
    }
}

/// A one-page list whose count is not the number of items it lists: the count tells of
/// something the caller was not shown.
fn miscounted(reply: &Reply) -> Option<String> {
    let items = reply.body["data"].as_array()?;
    let pagination = &reply.body["meta"]["pagination"];
    let count = pagination["total-count"].as_u64()?;
    (pagination["total-pages"].as_u64() == Some(1) && count != items.len() as u64)
        .then(|| format!("lists {} items but counts {count}", items.len()))
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

both_databases!(permission_matrix, matrix);
