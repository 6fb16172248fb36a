//! Organizations are islands. Two ordinary users, Alice and Bob, each create an organization
//! with a workspace, state (one version stored inline, one waiting for its upload), a project,
//! tags, variables (one sensitive), a variable set, configuration versions (one uploaded, one
//! waiting), a run planned by the built-in runner and waiting for confirmation, an API
//! token, and an agent pool with an agent token and a connected agent. Then Bob, with his own perfectly valid token, tries every route the
//! server lists in its OpenAPI document against Alice's resources, and the test checks that he
//! sees nothing, changes nothing and learns nothing, on SQLite and on PostgreSQL.
//!
//! What "nothing" means, from the code (crates/domain/src/access.rs, crates/auth/src/policy.rs):
//! a user with no membership in an organization has `Level::None` there, for which `decide`
//! answers `Decision::Hidden` whatever the action, and `Services::authorize` turns that into
//! `DomainError::NotFound`: 404, exactly what a resource that does not exist gets. Not 401: Bob
//! *is* authenticated, and 401 would tell his client to fix its credentials. Not 403:
//! `Forbidden` is for members who may see a resource but not do this to it; said to an
//! outsider, 403 would confirm that the resource exists. So every organization-scoped route
//! must answer Bob with exactly 404, and the answer must not contain anything of Alice's that
//! Bob did not put into the request himself.
//!
//! The routes come from `/openapi.json`, so a route added later is attacked (or the test fails
//! and says how to teach it the route) without anyone remembering to extend this file. The few
//! routes that belong to no organization are allow-listed below, each with the reason.
//!
//! This is the permission matrix's "another organization" column in depth (a module of
//! permission_matrix.rs, whose own sweep gives Bob 404 on every organization-scoped route and
//! checks that no answer mentions Alice's things): here Bob also aims queries, bodies, capability URLs and his agent's job protocol at
//! Alice's resources, and her organization is compared whole before and after.

use std::collections::BTreeSet;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use std::time::Duration;

use terrace_tests::providers::{self, Gpg};
use terrace_tests::runs::{create_run, tarball, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

const JSONAPI: &str = "application/vnd.api+json";
const OCTETS: &str = "application/octet-stream";

/// Routes that name no organization's resources, so there is nothing of Alice's to aim them
/// at. The GET ones are still called with Bob's token below, and their answers must not
/// mention anything of Alice's. `/openapi.json` and `/swagger-ui` are served next to the
/// document rather than described in it; the document's own text is checked for leaks too.
const NOT_ORGANIZATION_SCOPED: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/api/v2/admin/tool-archives",
        "the site's binary cache of terraform and OpenTofu releases: nothing of any \
         organization's, and 404 to all but site administrators (tool_archives.rs)",
    ),
    (
        "PUT",
        "/api/v2/admin/tool-archives/{engine}/{version}/{platform}",
        "the site's binary cache of terraform and OpenTofu releases: nothing of any \
         organization's, and 404 to all but site administrators (tool_archives.rs)",
    ),
    (
        "DELETE",
        "/api/v2/admin/tool-archives/{id}",
        "the site's binary cache of terraform and OpenTofu releases: nothing of any \
         organization's, and 404 to all but site administrators (tool_archives.rs)",
    ),
    (
        "GET",
        "/_downloads/tool-archive/{token}",
        "a catalogue version's release archive for runners: public software of no \
         organization, behind a signed URL only jobs are given (tool_archives.rs)",
    ),
    (
        "GET",
        "/.well-known/terraform.json",
        "service discovery: one static document, the same for every client",
    ),
    (
        "GET",
        "/api/v2/ping",
        "liveness and version headers, no data at all",
    ),
    ("GET", "/healthz", "process liveness, no data"),
    (
        "GET",
        "/api/meta/ip-ranges",
        "a constant of the binary (every address), the same for every client",
    ),
    ("GET", "/readyz", "database readiness, no data"),
    (
        "GET",
        "/api/v2/account/details",
        "always the caller's own account: no parameter can name another user",
    ),
    (
        "PATCH",
        "/api/v2/account/update",
        "changes only the caller's own account: no parameter can name another user",
    ),
    (
        "GET",
        "/api/v2/organizations",
        "lists the caller's own memberships; checked below that Alice's organization is absent",
    ),
    (
        "POST",
        "/api/v2/organizations",
        "creates a new organization owned by the caller and names no existing one (names are \
         unique server-wide, so 'name taken' tells that a name exists, as in HCP Terraform)",
    ),
    (
        "GET",
        "/api/v2/organization-memberships",
        "lists the caller's own memberships; checked below that none of Alice's is in it",
    ),
    (
        "GET",
        "/api/v2/users/{user_id}",
        "public profiles: users of one server see each other's username and avatar, as in HCP \
         Terraform; probed below with Alice's ID to show it never includes her email",
    ),
    (
        "GET",
        "/api/v2/organization/audit-trail",
        "the trail of the caller's own organization token's organization: no parameter can name \
         another; a user's token gets 404",
    ),
    (
        "GET",
        "/api/v2/admin/opentofu-versions",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "POST",
        "/api/v2/admin/opentofu-versions",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "GET",
        "/api/v2/admin/opentofu-versions/{id}",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "PATCH",
        "/api/v2/admin/opentofu-versions/{id}",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "DELETE",
        "/api/v2/admin/opentofu-versions/{id}",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "GET",
        "/api/v2/admin/terraform-versions",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "POST",
        "/api/v2/admin/terraform-versions",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "GET",
        "/api/v2/admin/terraform-versions/{id}",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "PATCH",
        "/api/v2/admin/terraform-versions/{id}",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "DELETE",
        "/api/v2/admin/terraform-versions/{id}",
        "the site's catalogue of tool versions: nothing of any organization's, and 404 to all \
         but site administrators (engines.rs)",
    ),
    (
        "GET",
        "/api/v2/admin/audit-trail",
        "site events, for site administrators only: everyone else gets 404",
    ),
    (
        "GET",
        "/app/oauth/authorization",
        "terraform login's consent page: a browser signs in with username and password, never \
         with a bearer token, and the page shows no organization data",
    ),
    (
        "POST",
        "/app/oauth/authorization",
        "terraform login's sign-in form: authenticated by username and password (tested in the \
         login test), and it issues a code only for the user who signed in",
    ),
    (
        "GET",
        "/app/sso/oidc/start",
        "single sign-on's start: a browser is sent to the identity provider; it takes no \
         credentials, names no organization and returns only to paths on this server \
         (sso_oidc.rs)",
    ),
    (
        "GET",
        "/app/sso/oidc/callback",
        "single sign-on's callback: authenticated by the identity provider's code, a state taken \
         once and the browser's cookie, never by a bearer token; teams follow the provider's \
         groups as their owners mapped them (sso_oidc.rs)",
    ),
    (
        "GET",
        "/app/sso/saml/start",
        "SAML's start: a browser is sent to the identity provider with an AuthnRequest; it takes \
         no credentials, names no organization and returns only to paths on this server \
         (sso_saml.rs)",
    ),
    (
        "POST",
        "/app/sso/saml/acs",
        "SAML's assertion consumer service: authenticated by the identity provider's signed \
         assertion answering a request this browser started (taken once, replay cache), never \
         by a bearer token; teams follow the provider's groups as their owners mapped them \
         (sso_saml.rs)",
    ),
    (
        "GET",
        "/app/sso/saml/metadata",
        "SAML's service provider metadata: this server's entity ID and ACS URL, public by design",
    ),
    (
        "GET",
        "/app/sso/organizations/{organization}/start",
        "an organization's single sign-on start: a browser is sent to that organization's \
         identity provider; it takes no credentials and returns only to paths on this server. \
         Like HCP Terraform's SSO sign-in URL it tells whether the organization has single \
         sign-on enabled, nothing else (sso_organizations.rs)",
    ),
    (
        "GET",
        "/app/sso/organizations/{organization}/saml/metadata",
        "an organization's SAML service provider metadata (its entity ID and the shared ACS \
         URL), what its owners register at their identity provider: public by design, it \
         takes no credentials and tells only whether the organization has SAML enabled \
         (sso_organizations_saml.rs)",
    ),
    (
        "POST",
        "/oauth/token",
        "terraform login's code exchange: authenticated by the one-time code and its PKCE \
         verifier, never by a bearer token; it names no organization",
    ),
];

/// API routes that take no credentials at all; every other `/api/v2` route must answer 401
/// to a request without a valid token.
const UNAUTHENTICATED_API: &[(&str, &str, &str)] = &[(
    "GET",
    "/api/v2/ping",
    "clients call it before they have a token, to read the API version",
)];

/// Everything a user set up, with the secrets and identifiers that only they should know.
struct Tenant {
    username: String,
    label: String,
    /// The server's registry host (`127.0.0.1:PORT`), the provider mirror's `{hostname}`.
    registry_host: String,
    api: Api,
    /// The token `terrace admin token create` issued (the one the test acts with).
    token: String,
    user_id: String,
    email: String,
    org: String,
    org_external_id: String,
    org_email: String,
    workspace: String,
    workspace_id: String,
    description: String,
    project_name: String,
    project_id: String,
    default_project_id: String,
    binding_key: String,
    binding_value: String,
    /// The value of her project's tag binding (which her workspace inherits).
    project_binding_value: String,
    flat_tag: String,
    tag_ids: Vec<String>,
    /// A reserved tag key of her organization (overrides disabled), and its ID.
    reserved_key: String,
    reserved_tag_key_id: String,
    state_version_id: String,
    pending_state_version_id: String,
    output_ids: Vec<String>,
    token_ids: Vec<String>,
    api_token_secret: String,
    lineage: String,
    sensitive_value: String,
    plain_value: String,
    marker: String,
    state: Vec<u8>,
    json_state: Vec<u8>,
    pending_state: Vec<u8>,
    state_upload_url: String,
    json_state_upload_url: String,
    variable_ids: Vec<String>,
    variable_plain: String,
    variable_secret: String,
    varset_id: String,
    varset_name: String,
    varset_variable_id: String,
    varset_value: String,
    configuration_id: String,
    pending_configuration_id: String,
    configuration_upload_url: String,
    /// Her registry's module (named like her workspace), its pending version's upload URL and
    /// its published version's download URL.
    registry_module_id: String,
    module_upload_url: String,
    module_download_url: String,
    run_id: String,
    run_message: String,
    comment_id: String,
    comment_body: String,
    /// A run trigger from her second workspace (`upstream`) to her workspace.
    run_trigger_id: String,
    upstream_name: String,
    /// An SSH key of her organization, assigned to her workspace, and its (secret) value.
    ssh_key_id: String,
    ssh_key_value: String,
    /// A notification configuration of her workspace, and its (secret) URL.
    notification_configuration_id: String,
    notification_url: String,
    /// A run task of her organization (its HMAC key secret), attached to her workspace.
    run_task_id: String,
    run_task_hmac_key: String,
    workspace_run_task_id: String,
    /// A task stage and result of a speculative run made after the task was attached (its
    /// service never calls back: the stage runs for the whole test).
    task_stage_id: String,
    task_result_id: String,
    run_event_id: String,
    plan_id: String,
    apply_id: String,
    plan_log_url: String,
    agent_pool_id: String,
    agent_pool_name: String,
    agent_token_secret: String,
    agent_id: String,
    team_id: String,
    team_name: String,
    owners_team_id: String,
    membership_id: String,
    invited_membership_id: String,
    /// Her team's access to her workspace and to her project.
    team_workspace_id: String,
    team_project_id: String,
    invited_email: String,
    /// The tokens of her team, of her owners team and of her organization: (ID, secret).
    owner_tokens: Vec<(String, String)>,
    /// Her GPG key (long ID) and private provider, named like her workspace (routes share
    /// the `{name}` parameter), version 1.0.0 published for linux/amd64.
    gpg_key_id: String,
    gpg_armor: String,
    provider_id: String,
    provider_version_id: String,
    provider_platform_id: String,
    /// Her provider's capability URLs: uploads (as issued when created) and downloads.
    shasums_upload_url: String,
    shasums_sig_upload_url: String,
    binary_upload_url: String,
    shasums_download_url: String,
    shasums_sig_download_url: String,
    binary_download_url: String,
}

/// The configuration every tenant runs: its plan log shows the greeting (a plain variable)
/// and the region (from the variable set), and uses the sensitive API key.
const CONFIGURATION: &str = r#"
variable "greeting" { type = string }
variable "region" { type = string }
variable "api_key" {
  type      = string
  sensitive = true
}
resource "terraform_data" "greeting" {
  input = "${var.greeting} from ${var.region}"
}
resource "terraform_data" "key" {
  input = var.api_key
}
output "greeting" { value = terraform_data.greeting.input }
"#;

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// A Terraform v4 state with a plain and a sensitive output and one resource, every value
/// recognisable as the tenant's.
fn state_file(label: &str, serial: i64, lineage: &str) -> Vec<u8> {
    format!(
        r#"{{
  "version": 4,
  "terraform_version": "1.11.4",
  "serial": {serial},
  "lineage": "{lineage}",
  "outputs": {{
    "{label}_endpoint": {{
      "value": "{label}-endpoint-5b7a2d.internal",
      "type": "string"
    }},
    "{label}_db_password": {{
      "value": "{label}-db-password-9f3c1e7a",
      "type": "string",
      "sensitive": true
    }}
  }},
  "resources": [
    {{
      "mode": "managed",
      "type": "terraform_data",
      "name": "{label}_marker_resource",
      "provider": "provider[\"terraform.io/builtin/terraform\"]",
      "instances": [
        {{
          "schema_version": 0,
          "attributes": {{
            "id": "{label}-state-marker-c0ffee42",
            "input": null,
            "output": null,
            "triggers_replace": null
          }},
          "sensitive_attributes": []
        }}
      ]
    }}
  ],
  "check_results": null
}}
"#
    )
    .into_bytes()
}

/// The `terraform show -json` form of the same state.
fn json_state_file(label: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format_version": "1.0",
        "terraform_version": "1.11.4",
        "values": {
            "outputs": {
                format!("{label}_endpoint"): {"sensitive": false, "value": format!("{label}-endpoint-5b7a2d.internal"), "type": "string"},
                format!("{label}_db_password"): {"sensitive": true, "value": format!("{label}-db-password-9f3c1e7a"), "type": "string"},
            },
            "root_module": {"resources": [{
                "address": format!("terraform_data.{label}_marker_resource"),
                "mode": "managed", "type": "terraform_data", "name": format!("{label}_marker_resource"),
                "values": {"id": format!("{label}-state-marker-c0ffee42")},
            }]},
        },
    }))
    .unwrap()
}

fn state_version_body(state: &[u8], serial: i64, lineage: &str, inline: bool) -> Value {
    let mut attributes = json!({"serial": serial, "md5": md5_hex(state), "lineage": lineage});
    if inline {
        attributes["state"] = json!(STANDARD.encode(state));
    }
    json!({"data": {"type": "state-versions", "attributes": attributes}})
}

/// The IDs in a list, or none if the reply is not a list (after the attacks, where a
/// failure must be reported rather than panic).
fn listed_ids(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item["id"].as_str().map(str::to_string))
        .collect()
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {}", reply.text))
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}

/// The signed token of a capability URL: its last path segment, or the one before a file
/// name (`/_downloads/modules/TOKEN/module.tar.gz?archive=tar.gz`).
fn capability(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    let path = path.strip_suffix("/module.tar.gz").unwrap_or(path);
    path.rsplit('/').next().unwrap().to_string()
}

const MODULE_PROVIDER: &str = "matrix";

/// A user with an organization, a workspace in a project, tags, state and an API token, set
/// up through the API as a client would.
fn setup_tenant(server: &Server, username: &str, label: &str) -> Tenant {
    let token = server.user_token(username);
    let api = server.api(&token);

    let user_id = api.get("account/details").ok().id();
    let email = format!("{username}.private@{label}-mail.example");
    api.patch(
        "account/update",
        &json!({"data": {"type": "users", "attributes": {"email": email}}}),
    )
    .ok();

    let org = format!("{label}-corp");
    let org_email = format!("billing@{label}-corp.example");
    let created = api
        .post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": {"name": org, "email": org_email}}}),
        )
        .expect(201);
    let org_external_id = created.attr("external-id").as_str().unwrap().to_string();

    let project_name = format!("{label} Platform");
    let project_binding_value = format!("owner-{label}-7373");
    let project_id = api
        .post(
            &format!("organizations/{org}/projects"),
            &json!({"data": {"type": "projects", "attributes": {"name": project_name},
                "relationships": {"tag-bindings": {"data": [{"type": "tag-bindings",
                    "attributes": {"key": "owner", "value": project_binding_value}}]}}}}),
        )
        .expect(201)
        .id();
    let projects = api.get(&format!("organizations/{org}/projects")).ok();
    let default_project_id = projects.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"]["is-default"] == true)
        .expect("a default project")["id"]
        .as_str()
        .unwrap()
        .to_string();

    let workspace = format!("{label}-payments");
    let description = format!("{label}-ledger-description");
    let binding_key = format!("{label}-costcenter");
    let binding_value = format!("cc-{label}-4242");
    let workspace_id = api
        .post(
            &format!("organizations/{org}/workspaces"),
            &json!({"data": {"type": "workspaces",
                "attributes": {"name": workspace, "description": description},
                "relationships": {
                    "project": {"data": {"type": "projects", "id": project_id}},
                    "tag-bindings": {"data": [{"type": "tag-bindings",
                        "attributes": {"key": binding_key, "value": binding_value}}]}}}}),
        )
        .expect(201)
        .id();
    let flat_tag = format!("{label}-team");
    api.post(
        &format!("workspaces/{workspace_id}/relationships/tags"),
        &json!({"data": [{"type": "tags", "attributes": {"name": flat_tag}}]}),
    )
    .expect(204);
    let tag_ids = ids(&api.get(&format!("organizations/{org}/tags")).ok());
    assert_eq!(tag_ids.len(), 2, "the binding key and the flat tag");
    let reserved_key = format!("{label}-reserved");
    let reserved_tag_key_id = api
        .post(
            &format!("organizations/{org}/reserved-tag-keys"),
            &json!({"data": {"type": "reserved-tag-keys",
                "attributes": {"key": reserved_key, "disable-overrides": true}}}),
        )
        .expect(201)
        .id();

    // State: one version inline (with its JSON form), one waiting for its upload.
    let lineage = format!("{label}-lineage-2b6e0d4c-7f1a");
    let state = state_file(label, 1, &lineage);
    let json_state = json_state_file(label);
    let pending_state = state_file(label, 2, &lineage);
    api.post(
        &format!("workspaces/{workspace_id}/actions/lock"),
        &json!({"reason": format!("{label} writes state")}),
    )
    .ok();
    let mut inline = state_version_body(&state, 1, &lineage, true);
    inline["data"]["attributes"]["json-state"] = json!(STANDARD.encode(&json_state));
    let finalized = api
        .post(
            &format!("workspaces/{workspace_id}/state-versions"),
            &inline,
        )
        .expect(201);
    assert_eq!(finalized.attr("status"), "finalized");
    let state_version_id = finalized.id();
    let pending = api
        .post(
            &format!("workspaces/{workspace_id}/state-versions"),
            &state_version_body(&pending_state, 2, &lineage, false),
        )
        .expect(201);
    assert_eq!(pending.attr("status"), "pending");
    let pending_state_version_id = pending.id();
    let state_upload_url = pending
        .attr("hosted-state-upload-url")
        .as_str()
        .unwrap()
        .to_string();
    let json_state_upload_url = pending
        .attr("hosted-json-state-upload-url")
        .as_str()
        .unwrap()
        .to_string();
    let unlocked = api
        .post(
            &format!("workspaces/{workspace_id}/actions/unlock"),
            &json!({}),
        )
        .ok();
    assert_eq!(unlocked.attr("locked"), false);

    let outputs = api
        .get(&format!(
            "workspaces/{workspace_id}/current-state-version-outputs"
        ))
        .ok();
    let output_ids = ids(&outputs);
    assert_eq!(output_ids.len(), 2, "{}", outputs.text);

    // Variables, a variable set, and a run that uses them, planned and waiting for
    // confirmation (so nothing about it moves while Bob attacks).
    let variable_plain = format!("{label}-greeting-3d9a");
    let variable_secret = format!("{label}-api-key-71e5c0");
    let variable_ids: Vec<String> = [
        ("greeting", &variable_plain, false),
        ("api_key", &variable_secret, true),
    ]
    .into_iter()
    .map(|(key, value, sensitive)| {
        api.post(
            &format!("workspaces/{workspace_id}/vars"),
            &json!({"data": {"type": "vars", "attributes": {"key": key, "value": value,
                "category": "terraform", "sensitive": sensitive}}}),
        )
        .expect(201)
        .id()
    })
    .collect();
    let varset_name = format!("{label} shared settings");
    let varset_value = format!("{label}-region-8c2f");
    let varset_id = api
        .post(
            &format!("organizations/{org}/varsets"),
            &json!({"data": {"type": "varsets", "attributes": {"name": varset_name},
                "relationships": {"workspaces": {"data": [{"type": "workspaces", "id": workspace_id}]}}}}),
        )
        .expect(201)
        .id();
    let varset_variable_id = api
        .post(
            &format!("varsets/{varset_id}/relationships/vars"),
            &json!({"data": {"type": "vars", "attributes": {"key": "region",
                "value": varset_value, "category": "terraform"}}}),
        )
        .expect(201)
        .id();
    let configuration_id =
        upload_configuration(&api, &workspace_id, &[("main.tf", CONFIGURATION)], false);
    let pending = api
        .post(
            &format!("workspaces/{workspace_id}/configuration-versions"),
            &json!({"data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": false}}}),
        )
        .expect(201);
    let pending_configuration_id = pending.id();
    let configuration_upload_url = pending.attr("upload-url").as_str().unwrap().to_string();
    // Her registry: a module named like her workspace, one version published, one pending.
    let registry_module_id = api
        .post(
            &format!("organizations/{org}/registry-modules"),
            &json!({"data": {"type": "registry-modules",
                "attributes": {"name": workspace, "provider": MODULE_PROVIDER}}}),
        )
        .expect(201)
        .id();
    let module_version = |version: &str| {
        api.post(
            &format!("registry-modules/{org}/{workspace}/{MODULE_PROVIDER}/versions"),
            &json!({"data": {"type": "registry-module-versions", "attributes": {"version": version}}}),
        )
        .expect(201)
        .body["data"]["links"]["upload"]
            .as_str()
            .unwrap()
            .to_string()
    };
    api.put_unauthenticated(
        &module_version("1.0.0"),
        &tarball(&[("main.tf", CONFIGURATION)]),
    )
    .expect(200);
    let module_upload_url = module_version("2.0.0");
    let download = api.raw(
        "GET",
        &format!("/api/registry/v1/modules/{org}/{workspace}/{MODULE_PROVIDER}/1.0.0/download"),
        None,
    );
    assert_eq!(download.status(), 204);
    let module_download_url = download.headers()["x-terraform-get"]
        .to_str()
        .unwrap()
        .to_string();
    let run_message = format!("{label} rollout 5e1d");
    let run_id = create_run(
        &api,
        &workspace_id,
        Some(&configuration_id),
        json!({"message": run_message}),
    )
    .id();
    let run = wait_for_run(&api, &run_id, &["planned"], Duration::from_secs(120));
    let comment_body = format!("{label} thinks the plan looks right 7c2a");
    let comment_id = api
        .post(
            &format!("runs/{run_id}/comments"),
            &json!({"data": {"type": "comments", "attributes": {"body": comment_body}}}),
        )
        .expect(201)
        .id();
    let upstream_name = format!("{label}-upstream-5d1e");
    let upstream_id = api
        .post(
            &format!("organizations/{org}/workspaces"),
            &json!({"data": {"type": "workspaces", "attributes": {"name": upstream_name}}}),
        )
        .expect(201)
        .id();
    let run_trigger_id = api
        .post(
            &format!("workspaces/{workspace_id}/run-triggers"),
            &json!({"data": {"type": "run-triggers", "relationships": {
                "sourceable": {"data": {"type": "workspaces", "id": upstream_id}}}}}),
        )
        .expect(201)
        .id();
    let notification_url = format!("https://{label}-hooks.invalid/hook-secret-9f2c");
    let notification_configuration_id = api
        .post(
            &format!("workspaces/{workspace_id}/notification-configurations"),
            &json!({"data": {"type": "notification-configurations", "attributes": {
                "name": "hook", "destination-type": "generic", "enabled": false,
                "url": notification_url, "triggers": ["run:completed"]}}}),
        )
        .expect(201)
        .id();
    // Her run task answers its test request from a receiver of her own (loopback: the
    // server runs with --allow-private-notification-urls).
    let receiver = terrace_tests::receiver::Receiver::start(&[200]);
    let run_task_hmac_key = format!("{label}-task-hmac-key-3e7a");
    let run_task_id = api
        .post(
            &format!("organizations/{org}/tasks"),
            &json!({"data": {"type": "tasks", "attributes": {
                "name": format!("{label}-task"), "url": receiver.url, "category": "task",
                "hmac-key": run_task_hmac_key}}}),
        )
        .expect(201)
        .id();
    let workspace_run_task_id = api
        .post(
            &format!("workspaces/{workspace_id}/tasks"),
            &json!({"data": {"type": "workspace-tasks",
                "attributes": {"enforcement-level": "advisory"},
                "relationships": {"task": {"data": {"type": "tasks", "id": run_task_id}}}}}),
        )
        .expect(201)
        .id();
    let speculative = create_run(
        &api,
        &workspace_id,
        Some(&configuration_id),
        json!({"plan-only": true}),
    );
    let task_stage_id = speculative.body["data"]["relationships"]["task-stages"]["data"][0]["id"]
        .as_str()
        .expect("a run made after a task was attached has a task stage")
        .to_string();
    let task_result_id = api.get(&format!("task-stages/{task_stage_id}")).ok().body["data"]
        ["relationships"]["task-results"]["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ssh_key_value = format!("{label}-ssh-key-value-6a1d");
    let ssh_key_id = api
        .post(
            &format!("organizations/{org}/ssh-keys"),
            &json!({"data": {"type": "ssh-keys",
                "attributes": {"name": format!("{label}-key"), "value": ssh_key_value}}}),
        )
        .expect(201)
        .id();
    api.patch(
        &format!("workspaces/{workspace_id}/relationships/ssh-key"),
        &json!({"data": {"type": "workspaces", "attributes": {"id": ssh_key_id}}}),
    )
    .expect(200);
    let run_event_id = api.get(&format!("runs/{run_id}/run-events")).ok().body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let plan_id = run.body["data"]["relationships"]["plan"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let apply_id = run.body["data"]["relationships"]["apply"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let plan_log_url = api
        .get(&format!("plans/{plan_id}"))
        .ok()
        .attr("log-read-url")
        .as_str()
        .unwrap()
        .to_string();

    let created = api
        .post(
            &format!("users/{user_id}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": format!("{label} deploy token")}}}),
        )
        .expect(201);
    let api_token_secret = created.attr("token").as_str().unwrap().to_string();
    let token_ids = ids(&api
        .get(&format!("users/{user_id}/authentication-tokens"))
        .ok());
    assert_eq!(
        token_ids.len(),
        2,
        "the admin-issued token and the API-created one"
    );

    // An agent pool with a token, and a listener of the pool connected with it.
    let agent_pool_name = format!("{label}-basement-nas");
    let agent_pool_id = api
        .post(
            &format!("organizations/{org}/agent-pools"),
            &json!({"data": {"type": "agent-pools", "attributes": {"name": agent_pool_name}}}),
        )
        .expect(201)
        .id();
    let created = api
        .post(
            &format!("agent-pools/{agent_pool_id}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": format!("{label} NAS listener")}}}),
        )
        .expect(201);
    let agent_token_secret = created.attr("token").as_str().unwrap().to_string();
    let mut token_ids = token_ids;
    token_ids.push(created.id());
    let registered = api.with_token(&agent_token_secret).request(
        "POST",
        "/api/runner/v1/listeners",
        Some(
            serde_json::to_vec(
                &json!({"name": format!("{label}-nas-1"), "hostname": format!("{label}-nas.lan"),
                "version": "test", "executor": "local", "capacity": 1}),
            )
            .unwrap(),
        ),
        "application/json",
    );
    assert_eq!(registered.status, 201, "{}", registered.text);
    let agent_id = registered.body["listener_id"].as_str().unwrap().to_string();

    // A team with Alice on it and its token, an invitation on the team, the organization's
    // token.
    let team_name = format!("{label}-platform-team");
    let team_id = api
        .post(
            &format!("organizations/{org}/teams"),
            &json!({"data": {"type": "teams", "attributes": {"name": team_name,
                "organization-access": {"manage-workspaces": true}}}}),
        )
        .expect(201)
        .id();
    api.post(
        &format!("teams/{team_id}/relationships/users"),
        &json!({"data": [{"type": "users", "id": username}]}),
    )
    .expect(204);
    let invited_email = format!("{label}-new-hire@{label}.example");
    let invited_membership_id = api
        .post(
            &format!("organizations/{org}/organization-memberships"),
            &json!({"data": {"type": "organization-memberships", "attributes": {"email": invited_email},
                "relationships": {"teams": {"data": [{"type": "teams", "id": team_id}]}}}}),
        )
        .expect(201)
        .id();
    let owners_team_id = api
        .get(&format!("organizations/{org}/teams?filter[names]=owners"))
        .ok()
        .data()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let membership_id = api
        .get(&format!(
            "organizations/{org}/organization-memberships?q={username}"
        ))
        .ok()
        .data()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grant = |kind: &str, rel: &str, target_kind: &str, target: &str| {
        api.post(
            kind,
            &json!({"data": {"type": kind, "attributes": {"access": "read"},
                "relationships": {"team": {"data": {"type": "teams", "id": team_id}},
                    rel: {"data": {"type": target_kind, "id": target}}}}}),
        )
        .expect(201)
        .id()
    };
    let team_workspace_id = grant("team-workspaces", "workspace", "workspaces", &workspace_id);
    let team_project_id = grant("team-projects", "project", "projects", &project_id);
    // A single sign-on configuration (disabled; with a client secret only she knows).
    api.patch(
        &format!("organizations/{org}/sso-configuration"),
        &json!({"data": {"type": "sso-configurations", "attributes": {
            "oidc-issuer": "https://idp.example", "oidc-client-id": format!("{label}-client"),
            "oidc-client-secret": format!("{label}-sso-secret")}}}),
    )
    .ok();
    let gpg = Gpg::new(&format!("{label}-signer"));
    let published = providers::publish(&api, &org, &workspace, "1.0.0", ("linux", "amd64"), &gpg);
    let provider_id = published.version["relationships"]["registry-provider"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner_tokens = [
        format!("teams/{team_id}/authentication-token"),
        format!("teams/{owners_team_id}/authentication-token"),
        format!("organizations/{org}/authentication-token"),
    ]
    .iter()
    .map(|path| {
        let created = api.post(path, &json!({})).expect(201);
        (
            created.id(),
            created.attr("token").as_str().unwrap().to_string(),
        )
    })
    .collect();

    Tenant {
        username: username.to_string(),
        label: label.to_string(),
        registry_host: format!("127.0.0.1:{}", server.hostname.rsplit(':').next().unwrap()),
        api,
        token,
        user_id,
        email,
        org,
        org_external_id,
        org_email,
        workspace,
        workspace_id,
        description,
        project_name,
        project_id,
        default_project_id,
        binding_key,
        binding_value,
        project_binding_value,
        flat_tag,
        tag_ids,
        reserved_key,
        reserved_tag_key_id,
        state_version_id,
        pending_state_version_id,
        output_ids,
        token_ids,
        api_token_secret,
        lineage,
        sensitive_value: format!("{label}-db-password-9f3c1e7a"),
        plain_value: format!("{label}-endpoint-5b7a2d.internal"),
        marker: format!("{label}-state-marker-c0ffee42"),
        state,
        json_state,
        pending_state,
        state_upload_url,
        json_state_upload_url,
        variable_ids,
        variable_plain,
        variable_secret,
        varset_id,
        varset_name,
        varset_variable_id,
        varset_value,
        configuration_id,
        pending_configuration_id,
        configuration_upload_url,
        registry_module_id,
        module_upload_url,
        module_download_url,
        run_id,
        run_message,
        comment_id,
        comment_body,
        run_trigger_id,
        upstream_name,
        ssh_key_id,
        ssh_key_value,
        notification_configuration_id,
        notification_url,
        run_task_id,
        run_task_hmac_key,
        workspace_run_task_id,
        task_stage_id,
        task_result_id,
        run_event_id,
        plan_id,
        apply_id,
        plan_log_url,
        agent_pool_id,
        agent_pool_name,
        agent_token_secret,
        agent_id,
        team_id,
        team_name,
        owners_team_id,
        membership_id,
        invited_membership_id,
        team_workspace_id,
        team_project_id,
        invited_email,
        owner_tokens,
        gpg_key_id: gpg.key_id.clone(),
        gpg_armor: gpg.armor(),
        provider_id,
        provider_version_id: published.version["id"].as_str().unwrap().to_string(),
        provider_platform_id: published.platform["id"].as_str().unwrap().to_string(),
        shasums_upload_url: providers::link(&published.created, "shasums-upload"),
        shasums_sig_upload_url: providers::link(&published.created, "shasums-sig-upload"),
        binary_upload_url: providers::link(&published.platform, "provider-binary-upload"),
        shasums_download_url: providers::link(&published.version, "shasums-download"),
        shasums_sig_download_url: providers::link(&published.version, "shasums-sig-download"),
        binary_download_url: providers::link(
            &published.uploaded_platform,
            "provider-binary-download",
        ),
    }
}

impl Tenant {
    /// What another user must never read in a response (unless they sent it themselves):
    /// secrets, state content, and every identifier of this tenant's.
    fn secrets(&self) -> Vec<(String, String)> {
        let label = &self.label;
        let mut list: Vec<(String, String)> = [
            ("sensitive output value", self.sensitive_value.clone()),
            ("plain output value", self.plain_value.clone()),
            ("state content marker", self.marker.clone()),
            ("state resource name", format!("{label}_marker_resource")),
            ("sensitive output name", format!("{label}_db_password")),
            ("plain output name", format!("{label}_endpoint")),
            ("state lineage", self.lineage.clone()),
            ("API-created token secret", self.api_token_secret.clone()),
            ("admin-issued token secret", self.token.clone()),
            ("user email", self.email.clone()),
            ("username", self.username.clone()),
            ("user ID", self.user_id.clone()),
            ("organization name", self.org.clone()),
            ("organization ID", self.org_external_id.clone()),
            ("organization email", self.org_email.clone()),
            ("workspace name", self.workspace.clone()),
            ("workspace ID", self.workspace_id.clone()),
            ("workspace description", self.description.clone()),
            ("project name", self.project_name.clone()),
            ("project ID", self.project_id.clone()),
            ("default project ID", self.default_project_id.clone()),
            ("tag binding key", self.binding_key.clone()),
            ("tag binding value", self.binding_value.clone()),
            (
                "project tag binding value",
                self.project_binding_value.clone(),
            ),
            ("flat tag", self.flat_tag.clone()),
            ("reserved tag key", self.reserved_key.clone()),
            ("reserved tag key ID", self.reserved_tag_key_id.clone()),
            ("state version ID", self.state_version_id.clone()),
            (
                "pending state version ID",
                self.pending_state_version_id.clone(),
            ),
            (
                "state upload capability",
                capability(&self.state_upload_url),
            ),
            (
                "JSON state upload capability",
                capability(&self.json_state_upload_url),
            ),
            ("plain variable value", self.variable_plain.clone()),
            ("sensitive variable value", self.variable_secret.clone()),
            ("variable set ID", self.varset_id.clone()),
            ("variable set name", self.varset_name.clone()),
            ("variable set variable ID", self.varset_variable_id.clone()),
            ("variable set value", self.varset_value.clone()),
            ("configuration version ID", self.configuration_id.clone()),
            (
                "pending configuration version ID",
                self.pending_configuration_id.clone(),
            ),
            (
                "configuration upload capability",
                capability(&self.configuration_upload_url),
            ),
            ("registry module ID", self.registry_module_id.clone()),
            (
                "module upload capability",
                capability(&self.module_upload_url),
            ),
            (
                "module download capability",
                capability(&self.module_download_url),
            ),
            ("GPG key ID", self.gpg_key_id.clone()),
            ("registry provider ID", self.provider_id.clone()),
            ("provider version ID", self.provider_version_id.clone()),
            ("provider platform ID", self.provider_platform_id.clone()),
            (
                "SHA256SUMS upload capability",
                capability(&self.shasums_upload_url),
            ),
            (
                "SHA256SUMS signature upload capability",
                capability(&self.shasums_sig_upload_url),
            ),
            (
                "provider binary upload capability",
                capability(&self.binary_upload_url),
            ),
            (
                "SHA256SUMS download capability",
                capability(&self.shasums_download_url),
            ),
            (
                "provider binary download capability",
                capability(&self.binary_download_url),
            ),
            ("run ID", self.run_id.clone()),
            ("run message", self.run_message.clone()),
            ("comment ID", self.comment_id.clone()),
            ("run trigger ID", self.run_trigger_id.clone()),
            ("SSH key ID", self.ssh_key_id.clone()),
            ("SSH key value", self.ssh_key_value.clone()),
            (
                "notification configuration ID",
                self.notification_configuration_id.clone(),
            ),
            ("notification URL", self.notification_url.clone()),
            ("run task ID", self.run_task_id.clone()),
            ("run task HMAC key", self.run_task_hmac_key.clone()),
            ("workspace run task ID", self.workspace_run_task_id.clone()),
            ("upstream workspace name", self.upstream_name.clone()),
            ("comment body", self.comment_body.clone()),
            ("run event ID", self.run_event_id.clone()),
            ("plan ID", self.plan_id.clone()),
            ("apply ID", self.apply_id.clone()),
            ("plan log capability", capability(&self.plan_log_url)),
            ("agent pool ID", self.agent_pool_id.clone()),
            ("agent pool name", self.agent_pool_name.clone()),
            ("agent token secret", self.agent_token_secret.clone()),
            ("agent ID", self.agent_id.clone()),
            ("team ID", self.team_id.clone()),
            ("team name", self.team_name.clone()),
            ("owners team ID", self.owners_team_id.clone()),
            ("membership ID", self.membership_id.clone()),
            ("invitation ID", self.invited_membership_id.clone()),
            ("team workspace access ID", self.team_workspace_id.clone()),
            ("team project access ID", self.team_project_id.clone()),
            ("invited email", self.invited_email.clone()),
        ]
        .into_iter()
        .map(|(what, value)| (what.to_string(), value))
        .collect();
        for (kind, values) in [
            ("output ID", &self.output_ids),
            ("tag ID", &self.tag_ids),
            ("token ID", &self.token_ids),
            ("variable ID", &self.variable_ids),
        ] {
            for value in values {
                list.push((kind.to_string(), value.clone()));
            }
        }
        for (id, secret) in &self.owner_tokens {
            list.push(("team or organization token ID".into(), id.clone()));
            list.push(("team or organization token secret".into(), secret.clone()));
        }
        list
    }

    /// Alice's values for a path parameter of a route, by its name in the OpenAPI document.
    fn path_values(&self, template: &str, param: &str) -> Option<Vec<String>> {
        Some(match param {
            "variable_id" if template.starts_with("/api/v2/varsets/") => {
                vec![self.varset_variable_id.clone()]
            }
            "variable_id" => self.variable_ids.clone(),
            "varset_id" => vec![self.varset_id.clone()],
            "configuration_version_id" => vec![
                self.configuration_id.clone(),
                self.pending_configuration_id.clone(),
            ],
            "run_id" => vec![self.run_id.clone()],
            "comment_id" => vec![self.comment_id.clone()],
            "run_trigger_id" => vec![self.run_trigger_id.clone()],
            "ssh_key_id" => vec![self.ssh_key_id.clone()],
            "notification_configuration_id" => vec![self.notification_configuration_id.clone()],
            "task_id" => vec![self.run_task_id.clone()],
            "workspace_task_id" => vec![self.workspace_run_task_id.clone()],
            "task_stage_id" => vec![self.task_stage_id.clone()],
            "task_result_id" => vec![self.task_result_id.clone()],
            "run_event_id" => vec![self.run_event_id.clone()],
            "plan_id" => vec![self.plan_id.clone()],
            "apply_id" => vec![self.apply_id.clone()],
            "organization" => vec![self.org.clone()],
            "name" => vec![self.workspace.clone()],
            "workspace_id" => vec![self.workspace_id.clone()],
            "state_version_id" => vec![
                self.state_version_id.clone(),
                self.pending_state_version_id.clone(),
            ],
            "output_id" => self.output_ids.clone(),
            "project_id" => vec![self.project_id.clone(), self.default_project_id.clone()],
            "tag_id" => self.tag_ids.clone(),
            "reserved_tag_key_id" => vec![self.reserved_tag_key_id.clone()],
            "namespace" => vec![self.org.clone()],
            "provider" => vec![MODULE_PROVIDER.into()],
            // A module's published and pending versions; a provider's one version.
            "version" if template.contains("/registry-modules/") => {
                vec!["1.0.0".into(), "2.0.0".into()]
            }
            "version" => vec!["1.0.0".into()],
            "registry_module_id" => vec![self.registry_module_id.clone()],
            "token_id" => self.token_ids.clone(),
            "user_id" => vec![self.user_id.clone()],
            "agent_pool_id" => vec![self.agent_pool_id.clone()],
            "agent_id" => vec![self.agent_id.clone()],
            "team_id" => vec![self.team_id.clone(), self.owners_team_id.clone()],
            "team_workspace_id" => vec![self.team_workspace_id.clone()],
            "team_project_id" => vec![self.team_project_id.clone()],
            "membership_id" => vec![
                self.membership_id.clone(),
                self.invited_membership_id.clone(),
            ],
            "registry_name" => vec!["private".into()],
            // The provider mirror, at Alice's private provider (named like her workspace).
            "hostname" => vec![self.registry_host.clone()],
            "type" => vec![self.workspace.clone()],
            "file" => vec!["index.json".into(), "1.0.0.json".into()],
            "os" => vec!["linux".into()],
            "arch" => vec!["amd64".into()],
            "key_id" => vec![self.gpg_key_id.clone()],
            // The admin API's user actions.
            "action" => ["suspend", "unsuspend", "grant_admin", "revoke_admin"]
                .map(str::to_string)
                .to_vec(),
            _ => return None,
        })
    }
}

/// Every (method, path) the OpenAPI document lists.
fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "patch", "delete", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn path_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect()
}

/// One request of Bob's.
struct Attack {
    method: String,
    template: String,
    url: String,
    body: Option<Vec<u8>>,
    content_type: &'static str,
    expect: &'static [u16],
}

impl Attack {
    fn json(method: &str, template: &str, url: String, body: Option<&Value>) -> Attack {
        Attack {
            method: method.to_string(),
            template: template.to_string(),
            url,
            body: body.map(|b| serde_json::to_vec(b).unwrap()),
            content_type: JSONAPI,
            expect: &[404],
        }
    }

    /// What the response may legitimately echo: whatever Bob sent.
    fn request_text(&self) -> String {
        format!(
            "{} {}",
            self.url,
            String::from_utf8_lossy(self.body.as_deref().unwrap_or_default())
        )
    }

    fn describe(&self) -> String {
        format!("{} {} (route {})", self.method, self.url, self.template)
    }
}

/// A body Bob might plausibly send to each write route, aimed at Alice's resources. The
/// bodies are valid, so the request reaches the authorization check instead of stopping at
/// body validation (which would prove nothing). `Err` for a write route this function does
/// not know: teach it the route's body.
fn body_for(method: &str, template: &str, a: &Tenant, b: &Tenant) -> Result<Option<Value>, String> {
    let tags = || {
        json!({"data": [
            {"type": "tags", "attributes": {"name": format!("{}-graffiti", b.label)}},
            {"type": "tags", "id": a.tag_ids[0]},
        ]})
    };
    let body = match (method, template) {
        ("GET", _) => return Ok(None),
        // Bob's workspace as a reader of Alice's state.
        (_, "/api/v2/workspaces/{workspace_id}/relationships/remote-state-consumers") => {
            json!({"data": [{"type": "workspaces", "id": b.workspace_id}]})
        }
        ("DELETE", t) if t.ends_with("/relationships/tags") => tags(),
        ("DELETE", t) if t.ends_with("/organizations/{organization}/tags") => json!({
            "data": a.tag_ids.iter().map(|id| json!({"type": "tags", "id": id})).collect::<Vec<_>>()
        }),
        ("DELETE", "/api/v2/varsets/{varset_id}/relationships/workspaces") => json!({"data": [
            {"type": "workspaces", "id": a.workspace_id},
        ]}),
        ("DELETE", "/api/v2/varsets/{varset_id}/relationships/projects") => json!({"data": [
            {"type": "projects", "id": a.project_id},
        ]}),
        ("DELETE", "/api/v2/teams/{team_id}/relationships/users") => json!({"data": [
            {"type": "users", "id": a.username},
        ]}),
        ("DELETE", "/api/v2/teams/{team_id}/relationships/organization-memberships") => {
            json!({"data": [
                {"type": "organization-memberships", "id": a.membership_id},
                {"type": "organization-memberships", "id": a.invited_membership_id},
            ]})
        }
        ("DELETE", _) => return Ok(None),
        ("POST", t) if t.ends_with("/actions/lock") => json!({"reason": "bob was here"}),
        // Bob adding his key to Alice's namespace, moving her key to his, and adding a
        // provider, version or platform to her registry.
        ("POST", "/api/registry/{registry_name}/v2/gpg-keys") => {
            json!({"data": {"type": "gpg-keys",
            "attributes": {"namespace": a.org, "ascii-armor": b.gpg_armor}}})
        }
        ("PATCH", t) if t.contains("/gpg-keys/") => json!({"data": {"type": "gpg-keys",
            "attributes": {"namespace": b.org}}}),
        ("POST", "/api/v2/organizations/{organization}/registry-providers") => json!({
            "data": {"type": "registry-providers", "attributes": {
                "name": format!("{}-intruder", b.label), "namespace": a.org, "registry-name": "private"}}
        }),
        ("POST", t) if t.contains("/registry-providers/") && t.ends_with("/versions") => json!({
            "data": {"type": "registry-provider-versions", "attributes": {
                "version": "6.6.6", "key-id": b.gpg_key_id, "protocols": ["5.0"]}}
        }),
        ("POST", t) if t.contains("/registry-providers/") && t.ends_with("/platforms") => json!({
            "data": {"type": "registry-provider-platforms", "attributes": {
                "os": "linux", "arch": "arm64", "filename": "evil.zip", "shasum": "0"}}
        }),
        // The admin API: Bob suspending, promoting or impersonating Alice, or disabling her
        // organization.
        (_, t) if t.starts_with("/api/v2/admin/") => json!({"reason": "bob was here",
            "data": {"type": "organizations", "attributes": {"is-disabled": true}}}),
        ("POST", t)
            if t.ends_with("/actions/unlock")
                || t.ends_with("/actions/force-unlock")
                || t.ends_with("/actions/safe-delete") =>
        {
            json!({})
        }
        ("POST", "/api/v2/organizations/{organization}/registry-modules") => json!({
            "data": {"type": "registry-modules",
                "attributes": {"name": format!("{}-intruder", b.label), "provider": MODULE_PROVIDER}}
        }),
        ("POST", "/api/v2/registry-modules/{organization}/{name}/{provider}/versions") => json!({
            "data": {"type": "registry-module-versions", "attributes": {"version": "6.6.6"}}
        }),
        ("POST", t) if t.starts_with("/api/v2/registry-modules/actions/delete/") => {
            return Ok(None)
        }
        ("POST", "/api/v2/organizations/{organization}/workspaces") => json!({
            "data": {"type": "workspaces", "attributes": {"name": format!("{}-intruder", b.label)}}
        }),
        ("PATCH", "/api/v2/organizations/{organization}/workspaces/{name}")
        | ("PATCH", "/api/v2/workspaces/{workspace_id}") => json!({
            "data": {"type": "workspaces",
                "attributes": {"name": format!("{}-was-here", b.label), "description": "defaced"}}
        }),
        ("PATCH", "/api/v2/organizations/{organization}") => json!({
            "data": {"type": "organizations",
                "attributes": {"name": format!("{}-took-over", b.label), "email": "pwned@evil.example"}}
        }),
        ("POST", "/api/v2/organizations/{organization}/projects")
        | ("PATCH", "/api/v2/projects/{project_id}") => json!({
            "data": {"type": "projects", "attributes": {"name": format!("{} Hijack", b.label)}}
        }),
        ("POST", "/api/v2/workspaces/{workspace_id}/relationships/tags") => tags(),
        ("POST", "/api/v2/organizations/{organization}/reserved-tag-keys")
        | ("PATCH", "/api/v2/reserved-tag-keys/{reserved_tag_key_id}") => json!({
            "data": {"type": "reserved-tag-keys",
                "attributes": {"key": format!("{}-hijack", b.label), "disable-overrides": false}}
        }),
        ("POST", "/api/v2/tags/{tag_id}/relationships/workspaces") => json!({"data": [
            {"type": "workspaces", "id": a.workspace_id},
            {"type": "workspaces", "id": b.workspace_id},
        ]}),
        ("PATCH", "/api/v2/workspaces/{workspace_id}/tag-bindings")
        | ("PATCH", "/api/v2/projects/{project_id}/tag-bindings") => json!({"data": [
            {"type": "tag-bindings", "attributes": {"key": a.binding_key, "value": "hijacked"}},
        ]}),
        // Bob's own (valid) state, pushed over Alice's with a higher serial.
        ("POST", "/api/v2/workspaces/{workspace_id}/state-versions") => {
            state_version_body(&b.state, 99, &b.lineage, true)
        }
        ("PATCH", "/api/v2/workspaces/{workspace_id}/state-versions") => json!({
            "data": {"type": "state-versions", "relationships": {"rollback-state-version":
                {"data": {"type": "state-versions", "id": a.state_version_id}}}}
        }),
        ("POST", "/api/v2/organizations/{organization}/agent-pools")
        | ("PATCH", "/api/v2/agent-pools/{agent_pool_id}") => json!({
            "data": {"type": "agent-pools", "attributes": {"name": format!("{}-hijacked-pool", b.label),
                "organization-scoped": true},
                "relationships": {"allowed-workspaces": {"data": [{"type": "workspaces", "id": b.workspace_id}]}}}
        }),
        ("POST", "/api/v2/agent-pools/{agent_pool_id}/authentication-tokens") => json!({
            "data": {"type": "authentication-tokens", "attributes": {"description": "bob's listener"}}
        }),
        // Bob would send Alice's members to his own identity provider.
        ("PATCH", "/api/v2/organizations/{organization}/sso-configuration") => json!({
            "data": {"type": "sso-configurations", "attributes": {"enabled": true,
                "oidc-issuer": "https://bob-idp.example", "oidc-client-id": b.label}}
        }),
        ("POST", "/api/v2/users/{user_id}/authentication-tokens") => json!({
            "data": {"type": "authentication-tokens", "attributes": {"description": "bob's now"}}
        }),
        ("POST", "/api/v2/workspaces/{workspace_id}/configuration-versions") => json!({
            "data": {"type": "configuration-versions", "attributes": {"auto-queue-runs": true}}
        }),
        ("POST", "/api/v2/runs/{run_id}/comments") => json!({
            "data": {"type": "comments", "attributes": {"body": format!("{} was here", b.label)}}
        }),
        // Bob's workspace as the source of Alice's (the other way round is a route of his own
        // organization, aimed at hers through the body: run_triggers.rs).
        ("POST", "/api/v2/workspaces/{workspace_id}/run-triggers") => json!({
            "data": {"type": "run-triggers", "relationships": {
                "sourceable": {"data": {"type": "workspaces", "id": b.workspace_id}}}}
        }),
        // Bob's receiver on Alice's workspace, and Alice's configuration sent to his.
        ("POST", "/api/v2/workspaces/{workspace_id}/notification-configurations")
        | ("PATCH", "/api/v2/notification-configurations/{notification_configuration_id}") => {
            json!({"data": {"type": "notification-configurations", "attributes": {
                "name": format!("{}-hook", b.label), "destination-type": "generic",
                "enabled": true, "url": format!("https://{}-receiver.invalid/", b.label),
                "triggers": ["run:created"]}}})
        }
        (
            "POST",
            "/api/v2/notification-configurations/{notification_configuration_id}/actions/verify",
        ) => {
            json!({})
        }
        // Bob's key on Alice's workspace (the other way round, Alice's key on his workspace, is
        // a route of his own organization: ssh_keys.rs).
        (_, "/api/v2/workspaces/{workspace_id}/relationships/ssh-key") => json!({
            "data": {"type": "workspaces", "attributes": {"id": b.ssh_key_id}}
        }),
        // Bob's task on Alice's workspace, and his renaming of hers (his own URL is not needed:
        // the refusal comes first).
        ("POST", "/api/v2/workspaces/{workspace_id}/tasks") => json!({
            "data": {"type": "workspace-tasks", "attributes": {"enforcement-level": "mandatory"},
                "relationships": {"task": {"data": {"type": "tasks", "id": b.run_task_id}}}}
        }),
        // Bob's say on Alice's task result, and his override of her stage.
        ("PATCH", "/api/v2/task-results/{task_result_id}/callback") => json!({
            "data": {"type": "task-results", "attributes": {"status": "passed",
                "message": format!("{} was here", b.label)}}
        }),
        ("POST", "/api/v2/task-stages/{task_stage_id}/actions/override") => json!({}),
        ("PATCH", "/api/v2/workspaces/{workspace_id}/tasks/{workspace_task_id}") => json!({
            "data": {"type": "workspace-tasks", "attributes": {"enforcement-level": "mandatory"}}
        }),
        ("POST", "/api/v2/organizations/{organization}/tasks")
        | ("PATCH", "/api/v2/tasks/{task_id}") => json!({
            "data": {"type": "tasks", "attributes": {"name": format!("{}-task", b.label),
                "url": format!("https://{}-receiver.invalid/", b.label), "category": "task",
                "hmac-key": format!("{} was here", b.label)}}
        }),
        ("POST", "/api/v2/organizations/{organization}/ssh-keys")
        | ("PATCH", "/api/v2/ssh-keys/{ssh_key_id}") => json!({
            "data": {"type": "ssh-keys", "attributes": {"name": format!("{}-key", b.label),
                "value": format!("{} was here", b.label)}}
        }),
        ("POST", t) if t.starts_with("/api/v2/runs/{run_id}/actions/") => {
            json!({"comment": format!("{} pressed the button", b.label)})
        }
        ("POST", "/api/v2/configuration-versions/{configuration_version_id}/actions/archive") => {
            json!({})
        }
        // Backing data: Bob soft-deleting (or restoring, or destroying) Alice's state and
        // configuration.
        ("POST", t) if t.ends_with("_backing_data") => json!({}),
        // Bob shortening Alice's data retention to a day.
        ("POST", t) if t.ends_with("/relationships/data-retention-policy") => json!({
            "data": {"type": "data-retention-policy-delete-olders",
                "attributes": {"delete-older-than-n-days": 1}}
        }),
        ("POST", "/api/v2/workspaces/{workspace_id}/vars")
        | ("PATCH", "/api/v2/workspaces/{workspace_id}/vars/{variable_id}")
        | ("POST", "/api/v2/varsets/{varset_id}/relationships/vars")
        | ("PATCH", "/api/v2/varsets/{varset_id}/relationships/vars/{variable_id}") => json!({
            "data": {"type": "vars", "attributes": {"key": "greeting",
                "value": format!("{}-overwrote-it", b.label), "category": "terraform"}}
        }),
        ("POST", "/api/v2/organizations/{organization}/varsets")
        | ("PATCH", "/api/v2/varsets/{varset_id}") => json!({
            "data": {"type": "varsets", "attributes": {"name": format!("{} set", b.label), "global": true},
                "relationships": {"workspaces": {"data": [{"type": "workspaces", "id": a.workspace_id}]}}}
        }),
        ("POST", "/api/v2/varsets/{varset_id}/relationships/workspaces") => json!({"data": [
            {"type": "workspaces", "id": a.workspace_id},
            {"type": "workspaces", "id": b.workspace_id},
        ]}),
        ("POST", "/api/v2/varsets/{varset_id}/relationships/projects") => json!({"data": [
            {"type": "projects", "id": a.project_id},
            {"type": "projects", "id": b.project_id},
        ]}),
        ("POST", "/api/v2/organizations/{organization}/teams")
        | ("PATCH", "/api/v2/teams/{team_id}") => json!({
            "data": {"type": "teams", "attributes": {"name": format!("{}-took-over", b.label),
                "visibility": "organization", "organization-access": {"manage-teams": true}}}
        }),
        // Bob puts himself on Alice's team, or his own membership.
        ("PATCH", "/api/v2/team-workspaces/{team_workspace_id}")
        | ("PATCH", "/api/v2/team-projects/{team_project_id}") => json!({
            "data": {"attributes": {"access": "admin"}}
        }),
        ("POST", "/api/v2/teams/{team_id}/relationships/users") => json!({"data": [
            {"type": "users", "id": b.username},
        ]}),
        ("POST", "/api/v2/teams/{team_id}/relationships/organization-memberships") => {
            json!({"data": [{"type": "organization-memberships", "id": b.membership_id}]})
        }
        ("POST", "/api/v2/organizations/{organization}/organization-memberships") => json!({
            "data": {"type": "organization-memberships", "attributes": {"email": b.email},
                "relationships": {"teams": {"data": [{"type": "teams", "id": a.owners_team_id}]}}}
        }),
        ("POST", "/api/v2/teams/{team_id}/authentication-token") => {
            json!({"data": {"type": "authentication-tokens", "attributes": {}}})
        }
        ("POST", "/api/v2/teams/{team_id}/authentication-tokens")
        | ("POST", "/api/v2/organizations/{organization}/authentication-token") => json!({
            "data": {"type": "authentication-tokens", "attributes": {"description": "bob's now"}}
        }),
        _ => {
            return Err("no plausible request body for this route: add one to body_for".to_string())
        }
    };
    Ok(Some(body))
}

/// Routes without path parameters that still address an organization's data through their
/// query string. A documented route that is in neither this list, nor has path parameters,
/// nor is allow-listed fails the test.
fn query_attacks(method: &str, template: &str, a: &Tenant, b: &Tenant) -> Vec<Attack> {
    // Access to Alice's workspace or project for Bob's team, and to Bob's for Alice's team.
    let grants = |kind: &str, rel: &str, target_kind: &str, targets: [(&str, &str); 2]| {
        targets
            .into_iter()
            .map(|(team, target)| {
                let body = json!({"data": {"type": kind, "attributes": {"access": "admin"},
                    "relationships": {"team": {"data": {"type": "teams", "id": team}},
                        rel: {"data": {"type": target_kind, "id": target}}}}});
                Attack::json(method, template, template.to_string(), Some(&body))
            })
            .collect()
    };
    match (method, template) {
        ("GET", "/api/v2/team-workspaces") => vec![Attack::json(
            method,
            template,
            format!("{template}?filter[workspace][id]={}", a.workspace_id),
            None,
        )],
        ("GET", "/api/v2/team-projects") => vec![Attack::json(
            method,
            template,
            format!("{template}?filter[project][id]={}", a.project_id),
            None,
        )],
        ("POST", "/api/v2/team-workspaces") => grants(
            "team-workspaces",
            "workspace",
            "workspaces",
            [(&b.team_id, &a.workspace_id), (&a.team_id, &b.workspace_id)],
        ),
        ("POST", "/api/v2/team-projects") => grants(
            "team-projects",
            "project",
            "projects",
            [(&b.team_id, &a.project_id), (&a.team_id, &b.project_id)],
        ),
        ("GET", "/api/v2/state-versions") => [&a.org, &b.org]
            .into_iter()
            .map(|org| {
                let url = format!(
                    "{template}?filter[organization][name]={org}&filter[workspace][name]={}",
                    a.workspace
                );
                Attack::json(method, template, url, None)
            })
            .collect(),
        // A run on Alice's workspace, from its latest configuration or her uploaded one.
        ("POST", "/api/v2/runs") => [None, Some(&a.configuration_id)]
            .into_iter()
            .map(|configuration| {
                let mut relationships =
                    json!({"workspace": {"data": {"type": "workspaces", "id": a.workspace_id}}});
                if let Some(id) = configuration {
                    relationships["configuration-version"] =
                        json!({"data": {"type": "configuration-versions", "id": id}});
                }
                let body = json!({"data": {"type": "runs",
                    "attributes": {"message": "bob's run", "auto-apply": true, "is-destroy": true},
                    "relationships": relationships}});
                Attack::json(method, template, template.to_string(), Some(&body))
            })
            .collect(),
        // The admin API lists every user and organization: Alice's, found by name.
        ("GET", "/api/v2/admin/users") => vec![Attack::json(
            method,
            template,
            format!("{template}?q={}&include=organizations", a.username),
            None,
        )],
        ("GET", "/api/v2/admin/organizations") => vec![Attack::json(
            method,
            template,
            format!("{template}?q={}&include=owners", a.org),
            None,
        )],
        // ... and every workspace and run: Alice's, found by her workspace's name.
        ("GET", "/api/v2/admin/workspaces") => vec![Attack::json(
            method,
            template,
            format!(
                "{template}?q={}&include=organization,current_run",
                a.workspace
            ),
            None,
        )],
        ("GET", "/api/v2/admin/runs") => vec![Attack::json(
            method,
            template,
            format!(
                "{template}?q={}&include=workspace.organization",
                a.workspace
            ),
            None,
        )],
        ("GET", "/api/v2/admin/general-settings")
        | ("PATCH", "/api/v2/admin/general-settings")
        | ("GET", "/api/v2/admin/customization-settings")
        | ("PATCH", "/api/v2/admin/customization-settings")
        | ("GET", "/api/v2/admin/saml-settings")
        | ("PATCH", "/api/v2/admin/saml-settings")
        | ("GET", "/api/v2/admin/smtp-settings")
        | ("PATCH", "/api/v2/admin/smtp-settings")
        | ("GET", "/api/v2/admin/feature-sets") => {
            vec![Attack::json(method, template, template.to_string(), None)]
        }
        ("POST", "/api/v2/admin/users/actions/unimpersonate") => vec![Attack::json(
            method,
            template,
            template.to_string(),
            Some(&json!({})),
        )],
        _ => Vec::new(),
    }
}

/// The runner protocol (`/api/runner/v1`) serves agent and job tokens only; a user's token,
/// however valid, is refused with 403 before anything is looked up, so Bob learns nothing
/// about anyone's listeners or jobs. (Which pool's jobs an agent token reaches is the runner
/// tests' business.)
fn runner_attacks(method: &str, template: &str) -> Vec<Attack> {
    let url = template
        .replace("{listener_id}", "lst-builtin")
        .replace("{name}", "plan-file");
    let (body, content_type): (Option<Vec<u8>>, &'static str) = match (method, template) {
        ("POST", "/api/runner/v1/listeners") => (
            Some(
                br#"{"name":"bob","hostname":"bob","version":"1","executor":"local","capacity":1}"#
                    .to_vec(),
            ),
            "application/json",
        ),
        ("POST", t) if t.ends_with("/heartbeat") => {
            (Some(br#"{"running":[]}"#.to_vec()), "application/json")
        }
        ("POST", "/api/runner/v1/job/state-versions") => (
            Some(
                br#"{"serial":1,"md5":"00000000000000000000000000000000","lineage":"x"}"#.to_vec(),
            ),
            "application/json",
        ),
        ("POST", "/api/runner/v1/job/finish") => (
            Some(br#"{"status":"errored"}"#.to_vec()),
            "application/json",
        ),
        ("POST", "/api/runner/v1/job/logs") => (Some(b"bob writes here".to_vec()), OCTETS),
        ("PUT", _) => (Some(b"bob's artifact".to_vec()), OCTETS),
        _ => (None, "application/json"),
    };
    let url = if template.ends_with("/logs") {
        format!("{url}?offset=0")
    } else {
        url
    };
    vec![Attack {
        method: method.to_string(),
        template: template.to_string(),
        url,
        body,
        content_type,
        expect: &[403],
    }]
}

/// The signed upload URLs: no bearer token is needed, the capability in the path is the
/// authorization (crates/domain/src/lib.rs `redeem`). So these routes are not organization-
/// scoped, and the statuses are the capability's: 403 for a capability that was altered or
/// names another purpose (`DomainError::BadCapability`, answered before anything is looked
/// up, so it reveals nothing), and for Alice's genuine URL the checks of the upload itself.
/// Bob's bearer token, sent along, must neither help nor matter.
fn capability_attacks(
    method: &str,
    template: &str,
    a: &Tenant,
    b: &Tenant,
) -> Result<Vec<Attack>, String> {
    let (prefix, suffix) = template
        .split_once("{token}")
        .ok_or("a capability route without a {token} parameter")?;
    let (alice_url, alice_other_url, bob_url, genuine_body) = match prefix {
        // Alice's genuine URL with Bob's state: the MD5 Alice announced when she created the
        // version pins the content, so it is refused (422) and the version stays pending.
        "/_uploads/state/" => (
            &a.state_upload_url,
            &a.json_state_upload_url,
            &b.state_upload_url,
            b.state.clone(),
        ),
        // The JSON form has no MD5 (the CLI sends none, as with HCP Terraform), so whoever
        // holds this URL may store a well-formed JSON state: that is what a capability URL
        // is, and it is only ever shown to Alice (the leak checks prove Bob never reads it).
        // What is checked here is that garbage is refused and nothing else opens it.
        "/_uploads/json-state/" => (
            &a.json_state_upload_url,
            &a.state_upload_url,
            &b.json_state_upload_url,
            b"{\"this is\": not a state".to_vec(),
        ),
        // Whoever holds Alice's configuration URL may upload a configuration (that is what
        // it is for), so only forgeries are tried; a garbage upload would error her version.
        "/_uploads/configuration/" => (
            &a.configuration_upload_url,
            &a.state_upload_url,
            &b.configuration_upload_url,
            Vec::new(),
        ),
        // As with configurations: the URL is for uploading, so only forgeries are tried.
        "/_uploads/modules/object/" => (
            &a.module_upload_url,
            &a.configuration_upload_url,
            &b.module_upload_url,
            Vec::new(),
        ),
        // Read, not written: forgeries only.
        "/_downloads/modules/" => (
            &a.module_download_url,
            &a.module_upload_url,
            &b.module_download_url,
            Vec::new(),
        ),
        // Whoever holds Alice's SHA256SUMS URL may upload SHA256SUMS (until her version is
        // signed, as it is here): garbage is refused before anything is written.
        "/_uploads/provider-shasums/" => (
            &a.shasums_upload_url,
            &a.shasums_sig_upload_url,
            &b.shasums_upload_url,
            b"not SHA256SUMS".to_vec(),
        ),
        // A signature must verify with her key, a binary must match her signed checksums:
        // forgeries only.
        "/_uploads/provider-shasums-sig/" => (
            &a.shasums_sig_upload_url,
            &a.shasums_upload_url,
            &b.shasums_sig_upload_url,
            Vec::new(),
        ),
        "/_uploads/provider-binary/" => (
            &a.binary_upload_url,
            &a.shasums_upload_url,
            &b.binary_upload_url,
            Vec::new(),
        ),
        // Downloads are read: forgeries only.
        "/_downloads/provider-shasums/" => (
            &a.shasums_download_url,
            &a.binary_download_url,
            &b.shasums_download_url,
            Vec::new(),
        ),
        "/_downloads/provider-shasums-sig/" => (
            &a.shasums_sig_download_url,
            &a.shasums_download_url,
            &b.shasums_sig_download_url,
            Vec::new(),
        ),
        // The mirror's pulled-through archives are no tenant's (one public cache): Alice's
        // provider downloads, forged into mirror downloads, must open nothing.
        "/_downloads/provider-mirror/" => (
            &a.binary_download_url,
            &a.shasums_download_url,
            &b.binary_download_url,
            Vec::new(),
        ),
        "/_downloads/provider-binary/" => (
            &a.binary_download_url,
            &a.shasums_download_url,
            &b.binary_download_url,
            Vec::new(),
        ),
        // Logs are read, not written: forgeries only.
        "/_logs/" => (
            &a.plan_log_url,
            &a.state_upload_url,
            &b.plan_log_url,
            Vec::new(),
        ),
        _ => {
            return Err(
                "a capability route this test does not know: add it to capability_attacks".into(),
            )
        }
    };
    let reads = prefix == "/_logs/" || prefix.starts_with("/_downloads/");
    if method != (if reads { "GET" } else { "PUT" }) {
        return Err("uploads are PUTs, log reads and downloads GETs".into());
    }
    let alice = capability(alice_url);
    let (alice_payload, alice_signature) = alice.split_once('.').ok_or("a signed capability")?;
    let bob = capability(bob_url);
    let (bob_payload, bob_signature) = bob.split_once('.').ok_or("a signed capability")?;
    // Bob's own capability, rewritten to name Alice's pending version, with his signature.
    let mut retargeted: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(bob_payload).unwrap()).unwrap();
    retargeted["r"] = json!(a.pending_state_version_id);
    let retargeted = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&retargeted).unwrap());
    let mut tampered_signature = alice_signature.to_string();
    let first = if tampered_signature.starts_with('A') {
        "B"
    } else {
        "A"
    };
    tampered_signature.replace_range(..1, first);

    let attack = |token: String, body: Vec<u8>, expect: &'static [u16]| Attack {
        method: method.to_string(),
        template: template.to_string(),
        url: format!("{prefix}{token}{suffix}"),
        body: (method == "PUT").then_some(body),
        content_type: OCTETS,
        expect,
    };
    let genuine = (!genuine_body.is_empty()).then(|| attack(alice.clone(), genuine_body, &[422]));
    Ok(genuine
        .into_iter()
        .chain([
            // Alice's capability for the other upload: it grants another purpose.
            attack(capability(alice_other_url), b.state.clone(), &[403]),
            // Alice's payload under Bob's signature.
            attack(
                format!("{alice_payload}.{bob_signature}"),
                b.state.clone(),
                &[403],
            ),
            attack(
                format!("{retargeted}.{bob_signature}"),
                b.state.clone(),
                &[403],
            ),
            attack(
                format!("{alice_payload}.{tampered_signature}"),
                b.state.clone(),
                &[403],
            ),
        ])
        .collect())
}

/// Bob's requests for one documented route, aimed at Alice: one per combination of Alice's
/// identifiers (and, where a route takes an organization and more, Bob's own organization
/// with Alice's other identifiers, which must not reach across either).
fn attacks_for(
    method: &str,
    template: &str,
    a: &Tenant,
    b: &Tenant,
) -> Result<Vec<Attack>, String> {
    if template.starts_with("/_uploads/")
        || template.starts_with("/_logs/")
        || template.starts_with("/_downloads/")
    {
        return capability_attacks(method, template, a, b);
    }
    if template.starts_with("/api/runner/") {
        return Ok(runner_attacks(method, template));
    }
    let params = path_params(template);
    if params.is_empty() {
        return Ok(query_attacks(method, template, a, b));
    }
    let body = body_for(method, template, a, b)?;
    let mut urls = vec![template.to_string()];
    for param in &params {
        let mut values = a.path_values(template, param).ok_or_else(|| {
            format!("no value of Alice's for the path parameter {{{param}}}: add it to path_values")
        })?;
        if param == "organization" && params.len() > 1 {
            values.push(b.org.clone());
        }
        let placeholder = format!("{{{param}}}");
        urls = urls
            .iter()
            .flat_map(|url| {
                values
                    .iter()
                    .map(|v| url.replace(&placeholder, v))
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    // A version is named in the query.
    let query = if template.ends_with("/{provider}/version") {
        "?module_version=1.0.0"
    } else if template.ends_with("/run-triggers") && method == "GET" {
        // Required; without it (run_triggers.rs) the workspace is still unknown first.
        "?filter[run-trigger][type]=inbound"
    } else {
        ""
    };
    if template == "/api/registry/{registry_name}/v2/gpg-keys" && method == "GET" {
        // The list names its organizations in a filter: Alice's, alone or after Bob's own.
        urls = urls
            .iter()
            .flat_map(|url| {
                [
                    format!("{url}?filter[namespace]={}", a.org),
                    format!("{url}?filter[namespace]={},{}", b.org, a.org),
                ]
            })
            .collect();
    }
    Ok(urls
        .into_iter()
        .map(|url| Attack::json(method, template, format!("{url}{query}"), body.as_ref()))
        .collect())
}

/// The names of the secrets a response reveals that the request did not carry itself.
fn leaks(reply: &Reply, request: &str, secrets: &[(String, String)]) -> Vec<String> {
    let headers = format!("{:?}", reply.headers);
    secrets
        .iter()
        .filter(|(_, value)| !request.contains(value.as_str()))
        .filter(|(_, value)| {
            reply.text.contains(value.as_str()) || headers.contains(value.as_str())
        })
        .map(|(what, _)| what.clone())
        .collect()
}

fn clip(text: &str) -> String {
    let mut clipped: String = text.chars().take(300).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}

/// Checks a reply's status, its error document and that it reveals nothing of Alice's.
fn check_reply(
    what: &str,
    reply: &Reply,
    expect: &[u16],
    request: &str,
    secrets: &[(String, String)],
    failures: &mut Vec<String>,
) {
    if !expect.contains(&reply.status) {
        failures.push(format!(
            "{what}: expected {expect:?}, got {}: {}",
            reply.status,
            clip(&reply.text)
        ));
    } else if reply.status >= 400
        && reply.body["errors"][0]["status"] != reply.status.to_string().as_str()
    {
        failures.push(format!(
            "{what}: {} without a JSON:API error document: {}",
            reply.status,
            clip(&reply.text)
        ));
    }
    let leaked = leaks(reply, request, secrets);
    if !leaked.is_empty() {
        failures.push(format!(
            "{what}: the response reveals Alice's {leaked:?}: {}",
            clip(&reply.text)
        ));
    }
}

fn method_rank(method: &str) -> u8 {
    match method {
        "GET" => 0,
        "PUT" => 1,
        "POST" => 2,
        "PATCH" => 3,
        _ => 4,
    }
}

/// Removes what changes on its own between two reads: token use times and the upload URLs,
/// which are signed afresh (with a new expiry) on every read.
fn strip_volatile(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in [
                "last-used-at",
                "hosted-state-upload-url",
                "hosted-json-state-upload-url",
                "upload-url",
                "log-read-url",
                // Agents come and go on their own (this one is forgotten after 90 s).
                "agent-count",
            ] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_volatile);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

/// Everything Alice can read about her organization, as she sees it.
fn snapshot(a: &Tenant) -> Vec<(String, u16, Value)> {
    let mut paths = vec![
        format!("organizations/{}", a.org),
        format!("organizations/{}/entitlement-set", a.org),
        format!("organizations/{}/workspaces", a.org),
        format!("organizations/{}/workspaces/{}", a.org, a.workspace),
        format!("workspaces/{}", a.workspace_id),
        format!("workspaces/{}/tag-bindings", a.workspace_id),
        format!("workspaces/{}/effective-tag-bindings", a.workspace_id),
        format!("projects/{}/tag-bindings", a.project_id),
        format!("workspaces/{}/relationships/tags", a.workspace_id),
        format!("organizations/{}/tags", a.org),
        format!("organizations/{}/reserved-tag-keys", a.org),
        format!("organizations/{}/tasks", a.org),
        format!("tasks/{}?include=workspace_tasks", a.run_task_id),
        format!("workspaces/{}/tasks", a.workspace_id),
        format!(
            "/api/registry/private/v2/gpg-keys?filter[namespace]={}",
            a.org
        ),
        format!(
            "/api/registry/v1/providers/{}/{}/versions",
            a.org, a.workspace
        ),
        format!("organizations/{}/projects", a.org),
        format!("projects/{}", a.project_id),
        format!("projects/{}", a.default_project_id),
        format!("workspaces/{}/state-versions", a.workspace_id),
        format!(
            "workspaces/{}/current-state-version?include=outputs",
            a.workspace_id
        ),
        format!(
            "workspaces/{}/current-state-version-outputs",
            a.workspace_id
        ),
        format!("state-versions/{}", a.pending_state_version_id),
        format!("users/{}/authentication-tokens", a.user_id),
        "organizations".to_string(),
        "account/details".to_string(),
        format!("workspaces/{}/vars", a.workspace_id),
        format!("workspaces/{}/varsets", a.workspace_id),
        format!("organizations/{}/varsets", a.org),
        format!("varsets/{}", a.varset_id),
        format!("varsets/{}/relationships/vars", a.varset_id),
        format!("workspaces/{}/configuration-versions", a.workspace_id),
        format!("configuration-versions/{}", a.configuration_id),
        format!("configuration-versions/{}", a.pending_configuration_id),
        format!("workspaces/{}/runs", a.workspace_id),
        format!("organizations/{}/runs", a.org),
        format!("runs/{}", a.run_id),
        format!("runs/{}/run-events", a.run_id),
        format!("plans/{}", a.plan_id),
        format!("applies/{}", a.apply_id),
        format!("organizations/{}/agent-pools", a.org),
        format!("agent-pools/{}", a.agent_pool_id),
        format!("agent-pools/{}/authentication-tokens", a.agent_pool_id),
        format!(
            "organizations/{}/teams?include=users,organization-memberships",
            a.org
        ),
        format!("teams/{}", a.team_id),
        format!("teams/{}", a.owners_team_id),
        format!("teams/{}/authentication-token", a.team_id),
        format!("organizations/{}/authentication-token", a.org),
        format!(
            "organizations/{}/organization-memberships?include=user,teams",
            a.org
        ),
        format!("organization-memberships/{}", a.invited_membership_id),
        "organization-memberships".to_string(),
        format!("team-workspaces/{}", a.team_workspace_id),
        format!("team-projects/{}", a.team_project_id),
        format!("team-workspaces?filter[workspace][id]={}", a.workspace_id),
        format!("team-projects?filter[project][id]={}", a.project_id),
    ];
    paths.extend(
        a.output_ids
            .iter()
            .map(|id| format!("state-version-outputs/{id}")),
    );
    paths
        .into_iter()
        .map(|path| {
            let reply = a.api.get(&path);
            let mut body = reply.body;
            strip_volatile(&mut body);
            (path, reply.status, body)
        })
        .collect()
}

/// Sends the same request once naming Alice's resource and once naming an ID that exists
/// nowhere: Bob must not be able to tell them apart.
fn indistinguishable_from_unknown(
    bob: &Api,
    method: &str,
    path: &str,
    body: impl Fn(&str) -> Value,
    alice_id: &str,
    secrets: &[(String, String)],
    failures: &mut Vec<String>,
) {
    let prefix = alice_id.split('-').next().unwrap();
    let unknown = format!("{prefix}-NoSuchIdAnywhere");
    let send = |id: &str| bob.send_json(method, path, &body(id));
    let with_alice = send(alice_id);
    let with_unknown = send(&unknown);
    let what = format!("{method} {path} naming Alice's {alice_id}");
    let normal_alice = with_alice.text.replace(alice_id, "<ID>");
    let normal_unknown = with_unknown.text.replace(&unknown, "<ID>");
    if with_alice.status != with_unknown.status || normal_alice != normal_unknown {
        failures.push(format!(
            "{what}: answered {} {} but {} {} for an ID that does not exist, so Bob learns that \
             Alice's resource exists",
            with_alice.status,
            clip(&with_alice.text),
            with_unknown.status,
            clip(&with_unknown.text)
        ));
    }
    let request = format!("{path} {}", body(alice_id));
    let leaked = leaks(&with_alice, &request, secrets);
    if !leaked.is_empty() {
        failures.push(format!(
            "{what}: the response reveals Alice's {leaked:?}: {}",
            clip(&with_alice.text)
        ));
    }
}

fn isolation(db: Db) {
    // Hundreds of requests a second from each tenant's token and from one address: what is
    // probed here is authorization, not the rate limits (which would answer 429 first).
    let server = Server::builder(db)
        .without_rate_limits()
        .arg("--allow-private-notification-urls")
        .start();
    let alice = setup_tenant(&server, "alice", "wonderland");
    let bob = setup_tenant(&server, "bob", "builders");
    let secrets = alice.secrets();
    let mut failures: Vec<String> = Vec::new();

    // Controls: Bob's token works on his own organization (so 404s below are not a broken
    // token), and Alice's state really contains what the leak checks look for.
    bob.api.get(&format!("organizations/{}", bob.org)).ok();
    let download = alice
        .api
        .get(&format!(
            "state-versions/{}/download",
            alice.state_version_id
        ))
        .ok();
    assert_eq!(download.text.as_bytes(), alice.state.as_slice());
    assert!(download.text.contains(&alice.sensitive_value));
    assert_ne!(alice.sensitive_value, bob.sensitive_value);

    let doc_reply = server.anonymous().get("/openapi.json").ok();
    check_reply(
        "GET /openapi.json",
        &doc_reply,
        &[200],
        "",
        &secrets,
        &mut failures,
    );
    let routes = documented_routes(&doc_reply.body);
    assert!(
        routes.len() >= 50,
        "the OpenAPI document lists the API: {routes:?}"
    );
    let documented: BTreeSet<(String, String)> = routes.iter().cloned().collect();
    for (list, name) in [
        (NOT_ORGANIZATION_SCOPED, "NOT_ORGANIZATION_SCOPED"),
        (UNAUTHENTICATED_API, "UNAUTHENTICATED_API"),
    ] {
        for (method, path, _) in list {
            if !documented.contains(&(method.to_string(), path.to_string())) {
                failures.push(format!(
                    "{name} lists {method} {path}, which the OpenAPI document does not: remove it"
                ));
            }
        }
    }
    let allow_listed = |method: &str, path: &str| {
        NOT_ORGANIZATION_SCOPED
            .iter()
            .any(|(m, p, _)| *m == method && *p == path)
    };

    let before = snapshot(&alice);
    assert!(before.iter().all(|(_, status, _)| *status == 200));

    // 1. Every documented route, aimed at Alice's resources with Bob's token.
    let mut attacks = Vec::new();
    let mut public_probes = Vec::new();
    for (method, path) in &routes {
        if allow_listed(method, path) {
            if method == "GET" {
                public_probes.push(path.clone());
            }
            continue;
        }
        match attacks_for(method, path, &alice, &bob) {
            Ok(list) if list.is_empty() => failures.push(format!(
                "{method} {path} is neither attacked nor allow-listed: give it Alice's \
                 identifiers (path_values, query_attacks) or add it, with the reason, to \
                 NOT_ORGANIZATION_SCOPED"
            )),
            Ok(list) => attacks.extend(list),
            Err(why) => failures.push(format!("{method} {path}: {why}")),
        }
    }
    attacks.sort_by_key(|attack| method_rank(&attack.method));
    let attacked: BTreeSet<(&str, &str)> = attacks
        .iter()
        .map(|a| (a.method.as_str(), a.template.as_str()))
        .collect();
    assert!(
        attacked.len() >= 40,
        "most routes are organization-scoped: {attacked:?}"
    );
    for attack in &attacks {
        let reply = bob.api.request(
            &attack.method,
            &attack.url,
            attack.body.clone(),
            attack.content_type,
        );
        check_reply(
            &attack.describe(),
            &reply,
            attack.expect,
            &attack.request_text(),
            &secrets,
            &mut failures,
        );
        // Control: the same read works for Alice, so Bob's 404 is isolation and not a bad
        // URL. (A pending version has nothing to download yet, for anyone.)
        let alice_only = !attack.url.contains(&bob.org);
        let nothing_to_download = (attack.url.contains(&alice.pending_state_version_id)
            || attack.url.contains(&alice.pending_configuration_id))
            && attack.url.ends_with("download");
        // The admin API answers 404 to every user but site administrators, Alice included.
        let organization_route =
            attack.url.starts_with("/api/v2/") && !attack.url.starts_with("/api/v2/admin/");
        if attack.method == "GET" && alice_only && !nothing_to_download && organization_route {
            let own = alice.api.get(&attack.url);
            if !(200..300).contains(&own.status) {
                failures.push(format!(
                    "control: Alice herself gets {} for {}, so Bob's attempt proves nothing: {}",
                    own.status,
                    attack.describe(),
                    clip(&own.text)
                ));
            }
        }
    }

    // 2. The allow-listed reads, called by Bob: nothing of Alice's in them either.
    for path in &public_probes {
        let url = path.replace("{user_id}", &alice.user_id);
        let reply = bob.api.get(&url);
        if reply.status >= 500 {
            failures.push(format!("GET {url}: {}", reply.status));
        }
        if path == "/api/v2/users/{user_id}" {
            // A public profile: her username, by design; never her email or anything else.
            if reply.status != 200 || reply.attr("username") != alice.username.as_str() {
                failures.push(format!(
                    "GET {url}: expected Alice's public profile: {}",
                    clip(&reply.text)
                ));
            }
            if reply.attr("email") != &Value::Null {
                failures.push(format!("GET {url} shows Alice's email to Bob"));
            }
            let public: Vec<(String, String)> = secrets
                .iter()
                .filter(|(what, _)| what != "username")
                .cloned()
                .collect();
            check_reply(
                &format!("GET {url}"),
                &reply,
                &[200],
                &url,
                &public,
                &mut failures,
            );
        } else {
            let leaked = leaks(&reply, &url, &secrets);
            if !leaked.is_empty() {
                failures.push(format!("GET {url} reveals Alice's {leaked:?}"));
            }
        }
    }

    // 3. Without a valid token every API route answers 401, before looking at anything:
    // no token, a made-up one, and one Bob revoked.
    let revoked = bob
        .api
        .post(
            &format!("users/{}/authentication-tokens", bob.user_id),
            &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "short-lived"}}}),
        )
        .expect(201);
    let revoked_secret = revoked.attr("token").as_str().unwrap().to_string();
    bob.api
        .delete(&format!("authentication-tokens/{}", revoked.id()))
        .expect(204);
    let callers = [
        ("no token", server.anonymous()),
        ("a garbage token", server.api("garbage-0123456789abcdef")),
        ("a revoked token", server.api(&revoked_secret)),
    ];
    let mut swept = 0;
    for (method, path) in &routes {
        let unauthenticated = UNAUTHENTICATED_API
            .iter()
            .any(|(m, p, _)| m == method && p == path);
        let api_route = path.starts_with("/api/v2/") || path.starts_with("/api/runner/");
        if !api_route || unauthenticated {
            continue;
        }
        let mut url = path.clone();
        for param in path_params(path) {
            let value = alice
                .path_values(path, &param)
                .and_then(|v| v.into_iter().next())
                .unwrap_or_else(|| "x".to_string());
            url = url.replace(&format!("{{{param}}}"), &value);
        }
        let body = if path.starts_with("/api/runner/") {
            runner_attacks(method, path).remove(0).body
        } else {
            body_for(method, path, &alice, &bob)
                .ok()
                .flatten()
                .map(|b| serde_json::to_vec(&b).unwrap())
        };
        let request = format!(
            "{url} {}",
            String::from_utf8_lossy(body.as_deref().unwrap_or_default())
        );
        for (who, api) in &callers {
            let reply = api.request(method, &url, body.clone(), JSONAPI);
            check_reply(
                &format!("{method} {url} with {who}"),
                &reply,
                &[401],
                &request,
                &secrets,
                &mut failures,
            );
        }
        swept += 1;
    }
    assert!(
        swept >= 40,
        "the 401 sweep covered the API ({swept} routes)"
    );

    // 4. Bob's own resources, with Alice's IDs in the body: her project, tag, workspace and
    // state version must look exactly like IDs that do not exist.
    let bob_ws = &bob.workspace_id;
    let project = |id: &str| {
        json!({"data": {"type": "workspaces", "attributes": {"name": "builders-xref"},
            "relationships": {"project": {"data": {"type": "projects", "id": id}}}}})
    };
    indistinguishable_from_unknown(
        &bob.api,
        "POST",
        &format!("organizations/{}/workspaces", bob.org),
        project,
        &alice.project_id,
        &secrets,
        &mut failures,
    );
    indistinguishable_from_unknown(
        &bob.api,
        "PATCH",
        &format!("workspaces/{bob_ws}"),
        |id| {
            json!({"data": {"type": "workspaces",
            "relationships": {"project": {"data": {"type": "projects", "id": id}}}}})
        },
        &alice.project_id,
        &secrets,
        &mut failures,
    );
    let tag = |id: &str| json!({"data": [{"type": "tags", "id": id}]});
    for method in ["POST", "DELETE"] {
        indistinguishable_from_unknown(
            &bob.api,
            method,
            &format!("workspaces/{bob_ws}/relationships/tags"),
            tag,
            &alice.tag_ids[0],
            &secrets,
            &mut failures,
        );
    }
    indistinguishable_from_unknown(
        &bob.api,
        "DELETE",
        &format!("organizations/{}/tags", bob.org),
        tag,
        &alice.tag_ids[0],
        &secrets,
        &mut failures,
    );
    indistinguishable_from_unknown(
        &bob.api,
        "POST",
        &format!("tags/{}/relationships/workspaces", bob.tag_ids[0]),
        |id| json!({"data": [{"type": "workspaces", "id": id}]}),
        &alice.workspace_id,
        &secrets,
        &mut failures,
    );
    // Rolling Bob's workspace back to Alice's state version (Bob holds his own lock, so the
    // request gets as far as looking the version up; his run gives the lock back first).
    bob.api
        .post(&format!("runs/{}/actions/discard", bob.run_id), &json!({}))
        .expect(202);
    wait_for_run(
        &bob.api,
        &bob.run_id,
        &["discarded"],
        Duration::from_secs(30),
    );
    bob.api
        .post(&format!("workspaces/{bob_ws}/actions/lock"), &json!({}))
        .ok();
    indistinguishable_from_unknown(
        &bob.api,
        "PATCH",
        &format!("workspaces/{bob_ws}/state-versions"),
        |id| {
            json!({"data": {"type": "state-versions", "relationships": {"rollback-state-version":
            {"data": {"type": "state-versions", "id": id}}}}})
        },
        &alice.state_version_id,
        &secrets,
        &mut failures,
    );
    // Bob's own state, claiming to come from Alice's run: the run must look unknown, and
    // nothing of his version may link to her run.
    indistinguishable_from_unknown(
        &bob.api,
        "POST",
        &format!("workspaces/{bob_ws}/state-versions"),
        |id| {
            let mut body = state_version_body(&bob.state, 98, &bob.lineage, true);
            body["data"]["relationships"] = json!({"run": {"data": {"type": "runs", "id": id}}});
            body
        },
        &alice.run_id,
        &secrets,
        &mut failures,
    );
    bob.api
        .post(&format!("workspaces/{bob_ws}/actions/unlock"), &json!({}))
        .ok();

    // 5. Bob's listings show only his own things.
    // Organization resources are identified by name.
    let names = listed_ids(&bob.api.get("organizations"));
    if names != [bob.org.clone()] {
        failures.push(format!(
            "Bob's GET organizations lists {names:?}, not just his own"
        ));
    }
    let status = bob
        .api
        .get(&format!("organizations/{}/workspaces", alice.org))
        .status;
    if status != 404 {
        failures.push(format!(
            "Bob's GET organizations/{}/workspaces: {status}, expected 404",
            alice.org
        ));
    }
    for path in [
        "organizations".to_string(),
        format!("organizations/{}/workspaces", bob.org),
        format!("organizations/{}/tags", bob.org),
        format!("organizations/{}/projects", bob.org),
        format!("users/{}/authentication-tokens", bob.user_id),
        format!("workspaces/{bob_ws}/state-versions"),
        "account/details".to_string(),
        "organization-memberships?include=user,teams".to_string(),
        format!(
            "organizations/{}/teams?include=users,organization-memberships",
            bob.org
        ),
        format!(
            "organizations/{}/organization-memberships?include=user,teams",
            bob.org
        ),
    ] {
        let reply = bob.api.get(&path);
        check_reply(
            &format!("Bob's GET {path}"),
            &reply,
            &[200],
            &path,
            &secrets,
            &mut failures,
        );
    }

    // 6. Alice's organization after all this: every read of hers answers exactly as before
    // the attacks, and every piece still works.
    let after = snapshot(&alice);
    for ((path, status, body), (_, status_after, body_after)) in before.iter().zip(&after) {
        if *status_after != 200 {
            failures.push(format!(
                "after the attacks Alice's GET {path}: {status_after}"
            ));
        } else if (status, body) != (status_after, body_after) {
            failures.push(format!(
                "Alice's GET {path} changed:\n    before {body}\n    after  {body_after}"
            ));
        }
    }
    let own = server.api(&alice.api_token_secret).get("account/details");
    if own.status != 200 || own.attr("username") != alice.username.as_str() {
        failures.push(format!(
            "Alice's API-created token no longer works: {} {}",
            own.status,
            clip(&own.text)
        ));
    }
    let find = |path: &str| -> Value {
        after
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, _, body)| body.clone())
            .unwrap_or(Value::Null)
    };
    let ws = find(&format!("workspaces/{}", alice.workspace_id));
    let attributes = &ws["data"]["attributes"];
    for (name, value) in [
        ("name", json!(alice.workspace)),
        ("description", json!(alice.description)),
        // Her planned run holds the lock until it is confirmed or discarded.
        ("locked", json!(true)),
        ("resource-count", json!(1)),
    ] {
        if attributes[name] != value {
            failures.push(format!(
                "Alice's workspace {name}: {} (expected {value})",
                attributes[name]
            ));
        }
    }
    if ws["data"]["relationships"]["current-state-version"]["data"]["id"]
        != json!(alice.state_version_id)
    {
        failures.push(format!(
            "Alice's current state version changed: {}",
            ws["data"]["relationships"]
        ));
    }
    let org = find(&format!("organizations/{}", alice.org));
    if org["data"]["attributes"]["email"] != json!(alice.org_email) {
        failures.push(format!("Alice's organization changed: {org}"));
    }
    let mut bindings: Vec<(String, String)> =
        find(&format!("workspaces/{}/tag-bindings", alice.workspace_id))["data"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|b| {
                (
                    b["attributes"]["key"].as_str().unwrap_or("").to_string(),
                    b["attributes"]["value"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
    bindings.sort();
    let mut expected = vec![
        (alice.binding_key.clone(), alice.binding_value.clone()),
        (alice.flat_tag.clone(), String::new()),
    ];
    expected.sort();
    if bindings != expected {
        failures.push(format!("Alice's tags changed: {bindings:?}"));
    }
    let tag_ids = listed_ids(&alice.api.get(&format!("organizations/{}/tags", alice.org)));
    if tag_ids.iter().collect::<BTreeSet<_>>() != alice.tag_ids.iter().collect() {
        failures.push(format!("Alice's organization tags changed: {tag_ids:?}"));
    }
    let mut tokens = listed_ids(
        &alice
            .api
            .get(&format!("users/{}/authentication-tokens", alice.user_id)),
    );
    tokens.extend(listed_ids(&alice.api.get(&format!(
        "agent-pools/{}/authentication-tokens",
        alice.agent_pool_id
    ))));
    for (id, secret) in &alice.owner_tokens {
        if alice
            .api
            .with_token(secret)
            .get(&format!("organizations/{}", alice.org))
            .status
            != 200
        {
            failures.push(format!(
                "Alice's team or organization token {id} stopped working"
            ));
        }
    }
    if tokens.iter().collect::<BTreeSet<_>>() != alice.token_ids.iter().collect() {
        failures.push(format!("Alice's tokens changed: {tokens:?}"));
    }
    let project = find(&format!("projects/{}", alice.project_id));
    if project["data"]["attributes"]["name"] != json!(alice.project_name) {
        failures.push(format!("Alice's project changed: {project}"));
    }
    for (path, expected) in [
        (
            format!("state-versions/{}/download", alice.state_version_id),
            &alice.state,
        ),
        (
            format!("state-versions/{}/json-download", alice.state_version_id),
            &alice.json_state,
        ),
    ] {
        let reply = alice.api.get(&path);
        if reply.status != 200 || reply.text.as_bytes() != expected.as_slice() {
            failures.push(format!(
                "Alice's GET {path} no longer returns her state byte for byte: {} {}",
                reply.status,
                clip(&reply.text)
            ));
        }
    }
    let sensitive = alice
        .output_ids
        .iter()
        .map(|id| find(&format!("state-version-outputs/{id}")))
        .any(|o| o["data"]["attributes"]["value"] == json!(alice.sensitive_value));
    if !sensitive {
        failures.push("Alice can no longer read her sensitive output".to_string());
    }
    let pending = find(&format!(
        "state-versions/{}",
        alice.pending_state_version_id
    ));
    if pending["data"]["attributes"]["status"] != "pending" {
        failures.push(format!("Alice's pending state version changed: {pending}"));
    }
    // Her sensitive variable is write-only, even to her, and never reaches her plan log.
    if let Some((path, _, _)) = after
        .iter()
        .find(|(_, _, body)| body.to_string().contains(&alice.variable_secret))
    {
        failures.push(format!(
            "Alice's GET {path} shows her sensitive variable's value"
        ));
    }
    let log = alice.api.anonymous().get(&alice.plan_log_url);
    if !log.text.contains("terraform_data.greeting") || log.text.contains(&alice.variable_secret) {
        failures.push(format!(
            "Alice's plan log should show her plan and never her API key: {}",
            clip(&log.text)
        ));
    }
    // Her run is still hers to decide: it waits for her, and her discard ends it.
    let run = find(&format!("runs/{}", alice.run_id));
    if run["data"]["attributes"]["status"] != "planned" {
        failures.push(format!("Alice's run moved: {}", clip(&run.to_string())));
    }
    let discarded = alice.api.post(
        &format!("runs/{}/actions/discard", alice.run_id),
        &json!({"comment": "not today"}),
    );
    if discarded.status != 202 {
        failures.push(format!(
            "Alice cannot discard her own run: {} {}",
            discarded.status,
            clip(&discarded.text)
        ));
    } else {
        wait_for_run(
            &alice.api,
            &alice.run_id,
            &["discarded"],
            Duration::from_secs(30),
        );
    }
    let variables = find(&format!("workspaces/{}/vars", alice.workspace_id));
    let values: Vec<&Value> = variables["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| &v["attributes"]["value"])
        .collect();
    if !values.contains(&&json!(alice.variable_plain)) || values.len() != 2 {
        failures.push(format!("Alice's variables changed: {variables}"));
    }
    let set_variables = find(&format!("varsets/{}/relationships/vars", alice.varset_id));
    if set_variables["data"][0]["attributes"]["value"] != json!(alice.varset_value) {
        failures.push(format!("Alice's variable set changed: {set_variables}"));
    }
    let pending_configuration = find(&format!(
        "configuration-versions/{}",
        alice.pending_configuration_id
    ));
    if pending_configuration["data"]["attributes"]["status"] != "pending" {
        failures.push(format!(
            "Alice's pending configuration version changed: {pending_configuration}"
        ));
    }

    // Bob's failed uploads neither consumed nor spoiled her upload URL: she completes it.
    let uploaded = server
        .anonymous()
        .put_unauthenticated(&alice.state_upload_url, &alice.pending_state);
    if uploaded.status == 200 {
        let current = alice.api.get(&format!(
            "workspaces/{}/current-state-version",
            alice.workspace_id
        ));
        if current.body["data"]["id"] != json!(alice.pending_state_version_id) {
            failures.push(format!(
                "Alice's upload did not make her version current: {}",
                clip(&current.text)
            ));
        }
        let reply = alice.api.get(&format!(
            "state-versions/{}/download",
            alice.pending_state_version_id
        ));
        if reply.text.as_bytes() != alice.pending_state.as_slice() {
            failures.push("Alice's uploaded state does not download byte for byte".to_string());
        }
    } else {
        failures.push(format!(
            "Alice's own upload to her URL failed after Bob's attempts: {} {}",
            uploaded.status,
            clip(&uploaded.text)
        ));
    }

    assert!(
        failures.is_empty(),
        "{} isolation failures ({} attacks on {} routes):\n  {}",
        failures.len(),
        attacks.len(),
        attacked.len(),
        failures.join("\n  ")
    );
}

both_databases!(organizations_cannot_reach_each_other, |db: Db| {
    isolation(db)
});
