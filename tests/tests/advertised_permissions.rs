//! What the API advertises is what it enforces. The flags Terrace reports (the `permissions`
//! and `actions` objects of workspaces, organizations, projects, users and runs, and
//! `can-queue-destroy-plan`) are read in several situations and each is mapped to the request
//! it governs, in one table per resource ([`WORKSPACE_CALLS`], [`ORGANIZATION_CALLS`],
//! [`PROJECT_CALLS`], [`USER_CALLS`], [`RUN_CALLS`], and the private registry's
//! [`REGISTRY_PROVIDER_CALLS`] and [`PROVIDER_VERSION_CALLS`]):
//!
//! - whenever a flag is false, its request is refused with a 4xx JSON:API error and changes
//!   nothing (the resource and its collections read the same before and after);
//! - whenever every flag governing a request is true, and the state the resource advertises
//!   next to its flags allows it (an unlocked workspace for `lock`, ...), the request
//!   succeeds.
//!
//! A flag that appears in a resource without a row in its table fails the test ("unmapped
//! flag"), so a flag added later is either enforced or caught here. Flags of features this
//! server does not have are mapped to HCP Terraform's route for them, which answers 404 here;
//! the test proves they are never advertised as true.
//!
//! Situations: an organization owner, a site administrator who is not a member, a member who
//! is not an owner (on a team that manages workspaces and projects, which administers every
//! workspace; the other levels have their own test, access_levels.rs),
//! before and after the organization allows administrators to force-delete; workspaces with
//! `allow-destroy-plan: false`, locked by the caller or by someone else, executing locally;
//! runs pending, planning, planned, saved, plan-only, errored, applied, discarded, canceled,
//! planning with a cancel its runner ignores (until force-cancel), and left waiting in a
//! workspace that then switched to local execution.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run, SilentSource};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

const CONFIG: &str = r#"
resource "terraform_data" "a" {
  input = "a"
}
"#;

const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The URL of a receiver answering run tasks' test requests, started once (loopback: the
/// servers run with --allow-private-notification-urls).
fn run_task_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| terrace_tests::receiver::Receiver::start(&[200]).url)
}

fn run_task_body() -> Value {
    json!({"data": {"type": "tasks", "attributes": {
        "name": unique("probe"), "url": run_task_url(), "category": "task"}}})
}

/// A run task of `org` made by `owner`: its ID.
fn create_run_task(owner: &Api, org: &str) -> String {
    owner
        .post(&format!("organizations/{org}/tasks"), &run_task_body())
        .expect(201)
        .id()
}

/// A name no earlier call used (the calls that create things run many times).
fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------------------------------------
// The tables.

/// State a resource advertises besides its flags, which a request also needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// `locked: false`.
    Unlocked,
    /// `locked-by` is the caller.
    LockedByCaller,
    /// `locked-by` is a user (anyone's lock but a run's).
    LockedByUser,
    /// The workspace's waiting run says `actions.is-confirmable`.
    ConfirmableRun,
    /// The project's `workspace-count` is 0.
    EmptyProject,
    /// The run is `pending` and its workspace is not locked by someone (force-execute moves
    /// runs ahead of it out of the way, not a person's lock; no action flag says so).
    PendingRun,
}

/// A request governed by flags: it must succeed when all `flags` are true and `needs` hold,
/// and be refused, changing nothing, otherwise.
struct Call<T> {
    /// Attribute paths (`permissions.can-lock`) of the flags that govern the request.
    flags: &'static [&'static str],
    needs: &'static [Needs],
    what: &'static str,
    send: fn(&T) -> Reply,
}

macro_rules! call {
    ($what:expr, [$($flag:expr),*], [$($need:expr),*], $send:expr) => {
        Call { what: $what, flags: &[$($flag),*], needs: &[$($need),*], send: $send }
    };
}

static WORKSPACE_CALLS: &[Call<Ws>] = &[
    call!(
        "GET workspace",
        ["permissions.can-read-settings"],
        [],
        |w| w.caller.get(&format!("workspaces/{}", w.id))
    ),
    call!("PATCH description", ["permissions.can-update"], [], |w| w
        .caller
        .patch(
            &format!("workspaces/{}", w.id),
            &json!({"data": {"type": "workspaces", "attributes": {"description": "probed"}}}),
        )),
    call!(
        "PATCH assessments-enabled",
        ["permissions.can-manage-assessments"],
        [],
        |w| w.caller.patch(
            &format!("workspaces/{}", w.id),
            &json!({"data": {"type": "workspaces", "attributes": {"assessments-enabled": true}}}),
        )
    ),
    call!(
        "POST safe-delete",
        ["permissions.can-destroy", "actions.is-destroyable"],
        [],
        |w| w.caller.post(
            &format!("workspaces/{}/actions/safe-delete", w.id),
            &json!({})
        )
    ),
    call!(
        "DELETE (force)",
        ["permissions.can-force-delete"],
        [],
        |w| w.caller.delete(&format!("workspaces/{}", w.id))
    ),
    call!("POST runs", ["permissions.can-queue-run"], [], |w| create(
        &w.caller,
        &w.id,
        json!({})
    )),
    call!(
        "POST runs is-destroy",
        ["permissions.can-queue-destroy", "can-queue-destroy-plan"],
        [],
        |w| create(&w.caller, &w.id, json!({"is-destroy": true}))
    ),
    call!(
        "POST apply of the waiting run",
        ["permissions.can-queue-apply"],
        [Needs::ConfirmableRun],
        |w| w.caller.post(
            &format!("runs/{}/actions/apply", w.run.as_deref().expect("a run")),
            &json!({})
        )
    ),
    call!("GET runs", ["permissions.can-read-run"], [], |w| w
        .caller
        .get(&format!("workspaces/{}/runs", w.id))),
    call!("GET vars", ["permissions.can-read-variable"], [], |w| w
        .caller
        .get(&format!("workspaces/{}/vars", w.id))),
    call!("POST vars", ["permissions.can-update-variable"], [], |w| w
        .caller
        .post(
            &format!("workspaces/{}/vars", w.id),
            &json!({"data": {"type": "vars", "attributes": {"key": "probe", "value": "1",
                "category": "terraform"}}}),
        )),
    call!(
        "GET state-versions",
        ["permissions.can-read-state-versions"],
        [],
        |w| w.caller.get(&format!("workspaces/{}/state-versions", w.id))
    ),
    call!(
        "GET current-state-version-outputs",
        ["permissions.can-read-state-outputs"],
        [],
        |w| w.caller.get(&format!(
            "workspaces/{}/current-state-version-outputs",
            w.id
        ))
    ),
    call!(
        "POST state-versions",
        ["permissions.can-create-state-versions"],
        [Needs::LockedByCaller],
        |w| {
            let state = state_file(2);
            w.caller.post(
                &format!("workspaces/{}/state-versions", w.id),
                &json!({"data": {"type": "state-versions", "attributes": {
                    "serial": 2, "md5": md5_hex(&state), "lineage": LINEAGE}}}),
            )
        }
    ),
    call!(
        "POST lock",
        ["permissions.can-lock"],
        [Needs::Unlocked],
        |w| w
            .caller
            .post(&format!("workspaces/{}/actions/lock", w.id), &json!({}))
    ),
    call!(
        "POST unlock",
        ["permissions.can-unlock"],
        [Needs::LockedByCaller],
        |w| w
            .caller
            .post(&format!("workspaces/{}/actions/unlock", w.id), &json!({}))
    ),
    call!(
        "POST force-unlock",
        ["permissions.can-force-unlock"],
        [Needs::LockedByUser],
        |w| w.caller.post(
            &format!("workspaces/{}/actions/force-unlock", w.id),
            &json!({})
        )
    ),
    call!(
        "POST relationships/tags",
        ["permissions.can-manage-tags"],
        [],
        |w| w.caller.post(
            &format!("workspaces/{}/relationships/tags", w.id),
            &json!({"data": [{"type": "tags", "attributes": {"name": "probed"}}]}),
        )
    ),
    // A run task of the workspace's organization (made by its owner) attached.
    call!(
        "POST run tasks",
        ["permissions.can-manage-run-tasks"],
        [],
        |w| {
            let task = create_run_task(&w.owner, &w.organization());
            w.caller.post(
                &format!("workspaces/{}/tasks", w.id),
                &json!({"data": {"type": "workspace-tasks",
                    "attributes": {"enforcement-level": "advisory"},
                    "relationships": {"task": {"data": {"type": "tasks", "id": task}}}}}),
            )
        }
    ),
    // HCP Terraform's routes for features this server does not have.
    call!(
        "GET assessment results",
        ["permissions.can-read-assessment-results"],
        [],
        |w| w
            .caller
            .get(&format!("workspaces/{}/assessment-results", w.id))
    ),
];

static ORGANIZATION_CALLS: &[Call<Org>] = &[
    call!(
        "GET organization",
        ["permissions.can-access-via-teams"],
        [],
        |o| o.caller.get(&format!("organizations/{}", o.name))
    ),
    call!("GET workspaces", ["permissions.can-traverse"], [], |o| o
        .caller
        .get(&format!("organizations/{}/workspaces", o.name))),
    call!("PATCH organization", ["permissions.can-update"], [], |o| {
        o
        .caller
        .patch(
            &format!("organizations/{}", o.name),
            &json!({"data": {"type": "organizations", "attributes": {"email": "probed@example.com"}}}),
        )
    }),
    call!(
        "DELETE organization",
        ["permissions.can-destroy"],
        [],
        |o| o.caller.delete(&format!("organizations/{}", o.name))
    ),
    call!(
        "POST workspaces",
        ["permissions.can-create-workspace"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/workspaces", o.name),
            &json!({"data": {"type": "workspaces", "attributes": {"name": unique("probed")}}}),
        )
    ),
    call!(
        "POST projects",
        ["permissions.can-create-project"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/projects", o.name),
            &json!({"data": {"type": "projects", "attributes": {"name": unique("Probed")}}}),
        )
    ),
    call!("DELETE tags", ["permissions.can-manage-tags"], [], |o| o
        .caller
        .send_json(
            "DELETE",
            &format!("organizations/{}/tags", o.name),
            &json!({"data": [{"type": "tags", "id": o.tag_id}]}),
        )),
    call!(
        "POST agent-pools",
        ["permissions.can-update-agent-pools"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/agent-pools", o.name),
            &json!({"data": {"type": "agent-pools", "attributes": {"name": unique("probed")}}}),
        )
    ),
    call!(
        "POST varsets",
        ["permissions.can-manage-varsets"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/varsets", o.name),
            &json!({"data": {"type": "varsets", "attributes": {"name": unique("probed")}}}),
        )
    ),
    call!("GET varsets", ["permissions.can-read-varsets"], [], |o| o
        .caller
        .get(&format!("organizations/{}/varsets", o.name))),
    // HCP Terraform's organization-level routes: teams, memberships and the organization
    // token exist here; the others are features this server does not have.
    call!("POST teams", ["permissions.can-create-team"], [], |o| o
        .caller
        .post(
            &format!("organizations/{}/teams", o.name),
            &json!({"data": {"type": "teams", "attributes": {"name": "probed"}}}),
        )),
    call!(
        "POST workspace migration",
        ["permissions.can-create-workspace-migration"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/workspace-migrations", o.name),
            &json!({})
        )
    ),
    call!(
        "POST memberships",
        ["permissions.can-manage-users"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/organization-memberships", o.name),
            &json!({"data": {"type": "organization-memberships",
                "attributes": {"email": "probed-invitee@example.com"}}}),
        )
    ),
    call!(
        "POST organization token",
        ["permissions.can-update-api-token"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/authentication-token", o.name),
            &json!({})
        )
    ),
    call!(
        "POST oauth-clients",
        ["permissions.can-update-oauth"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/oauth-clients", o.name),
            &json!({"data": {"type": "oauth-clients"}}),
        )
    ),
    call!(
        "POST policies",
        ["permissions.can-update-sentinel"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/policies", o.name),
            &json!({"data": {"type": "policies"}}),
        )
    ),
    call!(
        "POST ssh-keys",
        ["permissions.can-update-ssh-keys"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/ssh-keys", o.name),
            &json!({"data": {"type": "ssh-keys",
                "attributes": {"name": "advertised", "value": "opaque-key-value"}}}),
        )
    ),
    call!(
        "POST tasks",
        ["permissions.can-manage-run-tasks"],
        [],
        |o| o
            .caller
            .post(&format!("organizations/{}/tasks", o.name), &run_task_body(),)
    ),
    call!(
        "GET subscription",
        ["permissions.can-manage-subscription"],
        [],
        |o| o
            .caller
            .get(&format!("organizations/{}/subscription", o.name))
    ),
    call!(
        "POST no-code workspace",
        ["permissions.can-deploy-no-code-modules"],
        [],
        |o| o
            .caller
            .post("no-code-modules/nocode-probe/workspaces", &json!({}))
    ),
    call!(
        "POST no-code module",
        ["permissions.can-manage-no-code-modules"],
        [],
        |o| o.caller.post(
            &format!("organizations/{}/no-code-modules", o.name),
            &json!({})
        )
    ),
];

static PROJECT_CALLS: &[Call<Project>] = &[
    call!("GET project", ["permissions.can-read"], [], |p| p
        .caller
        .get(&format!("projects/{}", p.id))),
    call!("PATCH project", ["permissions.can-update"], [], |p| p
        .caller
        .patch(
            &format!("projects/{}", p.id),
            &json!({"data": {"type": "projects", "attributes": {"description": "probed"}}}),
        )),
    call!(
        "DELETE project",
        ["permissions.can-destroy"],
        [Needs::EmptyProject],
        |p| p.caller.delete(&format!("projects/{}", p.id))
    ),
    call!(
        "POST workspace in the project",
        ["permissions.can-create-workspace"],
        [],
        |p| p.caller.post(
            &format!("organizations/{}/workspaces", p.org),
            &json!({"data": {"type": "workspaces", "attributes": {"name": unique("in-project")},
                "relationships": {"project": {"data": {"type": "projects", "id": p.id}}}}}),
        )
    ),
];

static REGISTRY_PROVIDER_CALLS: &[Call<Registry>] = &[call!(
    "DELETE registry provider",
    ["permissions.can-delete"],
    [],
    |r| r.caller.delete(&r.provider_path())
)];

static PROVIDER_VERSION_CALLS: &[Call<Registry>] = &[
    call!(
        "DELETE provider version",
        ["permissions.can-delete"],
        [],
        |r| r.caller.delete(&r.version_path())
    ),
    call!(
        "POST provider platform (an asset of the version)",
        ["permissions.can-upload-asset"],
        [],
        |r| r.caller.post(
            &format!("{}/platforms", r.version_path()),
            &json!({"data": {"type": "registry-provider-platforms", "attributes": {
                "os": "linux", "arch": "amd64", "filename": "p.zip", "shasum": "0"}}}),
        )
    ),
];

static USER_CALLS: &[Call<UserTarget>] = &[
    call!(
        "POST organizations",
        ["permissions.can-create-organizations"],
        [],
        |u| u.caller.post(
            &u.create_path,
            &json!({"data": {"type": "organizations",
                "attributes": {"name": u.new_org_name, "email": "probed@example.com"}}}),
        )
    ),
    call!("PATCH email", ["permissions.can-change-email"], [], |u| u
        .caller
        .patch(
            &u.update_path,
            &json!({"data": {"type": "users", "attributes": {"email": "probed@example.com"}}}),
        )),
    call!(
        "PATCH username",
        ["permissions.can-change-username"],
        [],
        |u| u.caller.patch(
            &u.update_path,
            &json!({"data": {"type": "users", "attributes": {"username": u.username}}}),
        )
    ),
    call!(
        "POST authentication-tokens",
        ["permissions.can-manage-user-tokens"],
        [],
        |u| u.caller.post(
            &format!("users/{}/authentication-tokens", u.id),
            &json!({"data": {"type": "authentication-tokens",
                "attributes": {"description": "probed"}}}),
        )
    ),
    call!(
        "GET two-factor settings",
        [
            "permissions.can-view-2fa-settings",
            "permissions.can-view2fa-settings"
        ],
        [],
        |u| u.caller.get("account/two-factor")
    ),
];

static RUN_CALLS: &[Call<RunTarget>] = &[
    call!(
        "POST apply",
        ["permissions.can-apply", "actions.is-confirmable"],
        [],
        |r| r.action("apply")
    ),
    call!(
        "POST discard",
        ["permissions.can-discard", "actions.is-discardable"],
        [],
        |r| r.action("discard")
    ),
    call!(
        "POST cancel",
        ["permissions.can-cancel", "actions.is-cancelable"],
        [],
        |r| r.action("cancel")
    ),
    call!(
        "POST force-cancel",
        [
            "permissions.can-force-cancel",
            "actions.is-force-cancelable"
        ],
        [],
        |r| r.action("force-cancel")
    ),
    call!("POST comments", ["permissions.can-comment"], [], |r| r
        .caller
        .post(
            &format!("runs/{}/comments", r.id),
            &json!({"data": {"type": "comments", "attributes": {"body": "probed"}}}),
        )),
    call!(
        "POST force-execute",
        ["permissions.can-force-execute"],
        [Needs::PendingRun],
        |r| r
            .caller
            .post(&format!("runs/{}/actions/force-execute", r.id), &json!({}))
    ),
    // HCP Terraform's routes for features this server does not have.
    call!(
        "POST policy override",
        ["permissions.can-override-policy-check"],
        [],
        |r| r
            .caller
            .post("policy-checks/polchk-probe/actions/override", &json!({}))
    ),
];

// ---------------------------------------------------------------------------------------------
// The check.

/// Something the tables can be checked against.
trait Target {
    /// The resource document as the caller reads it.
    fn read(&self) -> Value;
    /// Everything a refused request must leave as it was.
    fn snapshot(&self) -> Vec<Value>;
    /// Whether a state the resource advertises holds.
    fn holds(&self, need: Needs, resource: &Value) -> bool;
    fn describe(&self) -> String;
}

/// The flags of a resource: every boolean under `permissions` and `actions`, and the
/// top-level `can-*` attributes.
fn flags_of(resource: &Value) -> BTreeSet<String> {
    let attributes = &resource["data"]["attributes"];
    let mut flags = BTreeSet::new();
    for object in ["permissions", "actions"] {
        for (key, value) in attributes[object].as_object().into_iter().flatten() {
            assert!(value.is_boolean(), "{object}.{key} is not a flag: {value}");
            flags.insert(format!("{object}.{key}"));
        }
    }
    for (key, value) in attributes.as_object().expect("attributes") {
        if key.starts_with("can-") && value.is_boolean() {
            flags.insert(key.clone());
        }
    }
    flags
}

fn flag(resource: &Value, path: &str) -> bool {
    let mut value = &resource["data"]["attributes"];
    for part in path.split('.') {
        value = &value[part];
    }
    value
        .as_bool()
        .unwrap_or_else(|| panic!("{path} is not a flag of {resource}"))
}

/// Every flag the resource reports is governed by exactly one call of `calls`, and every
/// flag the table names is reported.
fn assert_mapped<T>(kind: &str, resource: &Value, calls: &[Call<T>]) {
    let reported = flags_of(resource);
    let mut mapped = BTreeSet::new();
    for call in calls {
        for flag in call.flags {
            assert!(
                mapped.insert(flag.to_string()),
                "{kind}: {flag} governs two calls"
            );
        }
    }
    let unmapped: Vec<_> = reported.difference(&mapped).collect();
    assert!(
        unmapped.is_empty(),
        "unmapped flag(s) of {kind}: {unmapped:?}: add the request each governs to the table"
    );
    let missing: Vec<_> = mapped.difference(&reported).collect();
    assert!(
        missing.is_empty(),
        "{kind} no longer reports {missing:?}: {resource}"
    );
}

/// A refusal: 4xx with a JSON:API error naming its status and saying why.
#[track_caller]
fn assert_refused(reply: &Reply, context: &str) {
    assert!(
        (400..500).contains(&reply.status),
        "{context}: expected a refusal, got {}: {}",
        reply.status,
        reply.text
    );
    let error = &reply.body["errors"][0];
    assert_eq!(
        error["status"],
        reply.status.to_string(),
        "{context}: not a JSON:API error: {}",
        reply.text
    );
    let said = format!(
        "{}{}",
        error["title"].as_str().unwrap_or(""),
        error["detail"].as_str().unwrap_or("")
    );
    assert!(!said.is_empty(), "{context}: an error without a reason");
}

/// Checks one call against a target in the state it is in; returns whether the call
/// succeeded (and so may have changed the target).
fn check_call<T: Target>(kind: &str, target: &T, call: &Call<T>) -> bool {
    let resource = target.read();
    let flags: Vec<(&str, bool)> = call
        .flags
        .iter()
        .map(|f| (*f, flag(&resource, f)))
        .collect();
    let needs: Vec<(Needs, bool)> = call
        .needs
        .iter()
        .map(|n| (*n, target.holds(*n, &resource)))
        .collect();
    let allowed = flags.iter().all(|(_, on)| *on) && needs.iter().all(|(_, on)| *on);
    let context = format!(
        "{kind} {} ({}): {} with flags {flags:?} and {needs:?}",
        target.describe(),
        call.what,
        if allowed { "allowed" } else { "refused" }
    );
    let before = target.snapshot();
    let reply = (call.send)(target);
    if allowed {
        assert!(
            (200..300).contains(&reply.status),
            "{context}: expected success, got {}: {}",
            reply.status,
            reply.text
        );
    } else {
        assert_refused(&reply, &context);
        assert_eq!(
            target.snapshot(),
            before,
            "{context}: the refused request changed something"
        );
    }
    allowed
}

/// Checks every call of `calls` on targets `build` makes: refusals share a target (they
/// change nothing), each success gets a fresh one.
fn check_all<T: Target>(kind: &str, calls: &[Call<T>], build: &dyn Fn(&Call<T>) -> T) -> usize {
    let mut current: Option<T> = None;
    let mut successes = 0;
    for call in calls {
        let target = match current.take() {
            Some(target) => target,
            None => build(call),
        };
        assert_mapped(kind, &target.read(), calls);
        if check_call(kind, &target, call) {
            successes += 1;
        } else {
            current = Some(target);
        }
    }
    successes
}

// ---------------------------------------------------------------------------------------------
// Workspaces.

const LINEAGE: &str = "advertised-5c1f9e2a";

fn state_file(serial: i64) -> Vec<u8> {
    format!(
        r#"{{"version": 4, "terraform_version": "1.11.4", "serial": {serial}, "lineage": "{LINEAGE}",
  "outputs": {{"greeting": {{"value": "hello", "type": "string"}}}}, "resources": []}}"#
    )
    .into_bytes()
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// `POST /runs` on the workspace's latest configuration.
fn create(api: &Api, workspace_id: &str, attributes: Value) -> Reply {
    api.post(
        "runs",
        &json!({"data": {"type": "runs", "attributes": attributes, "relationships": {
            "workspace": {"data": {"type": "workspaces", "id": workspace_id}}}}}),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WsSituation {
    Default,
    NoDestroyPlans,
    LockedByCaller,
    LockedByOther,
    Local,
}

/// A person: their API and user ID.
#[derive(Clone)]
struct Person {
    api: Api,
    id: String,
    name: &'static str,
}

impl Person {
    fn new(server: &Server, token: &str, name: &'static str) -> Person {
        let api = server.api(token);
        let id = api.get("account/details").ok().id();
        Person { api, id, name }
    }
}

struct Ws {
    caller: Api,
    caller_id: String,
    /// Someone who may do anything to the workspace (for snapshots and setup).
    owner: Api,
    id: String,
    /// A run waiting for confirmation (or pending behind a lock), when the call needs one.
    run: Option<String>,
    label: String,
}

impl Ws {
    /// The name of the workspace's organization.
    fn organization(&self) -> String {
        self.owner.get(&format!("workspaces/{}", self.id)).ok().body["data"]["relationships"]
            ["organization"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Target for Ws {
    fn read(&self) -> Value {
        self.caller
            .get(&format!("workspaces/{}", self.id))
            .ok()
            .body
    }

    fn snapshot(&self) -> Vec<Value> {
        let mut out: Vec<Value> = [
            format!("workspaces/{}", self.id),
            format!("workspaces/{}/runs", self.id),
            format!("workspaces/{}/vars", self.id),
            format!("workspaces/{}/state-versions", self.id),
            format!("workspaces/{}/relationships/tags", self.id),
            format!("workspaces/{}/tasks", self.id),
        ]
        .iter()
        .map(|path| {
            let reply = self.owner.get(path);
            json!({"status": reply.status, "body": reply.body})
        })
        .collect();
        if let Some(run) = &self.run {
            out.push(self.owner.get(&format!("runs/{run}")).body);
        }
        out
    }

    fn holds(&self, need: Needs, resource: &Value) -> bool {
        let attributes = &resource["data"]["attributes"];
        let locked_by = &resource["data"]["relationships"]["locked-by"]["data"];
        match need {
            Needs::Unlocked => attributes["locked"] == false,
            Needs::LockedByCaller => {
                locked_by["type"] == "users" && locked_by["id"] == self.caller_id.as_str()
            }
            Needs::LockedByUser => locked_by["type"] == "users",
            Needs::ConfirmableRun => {
                let run = self.run.as_deref().expect("a run");
                self.caller.get(&format!("runs/{run}")).ok().body["data"]["attributes"]["actions"]
                    ["is-confirmable"]
                    == true
            }
            Needs::EmptyProject | Needs::PendingRun => unreachable!("not a workspace state"),
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.label, self.id)
    }
}

struct Setup<'a> {
    caller: &'a Person,
    /// An owner of the organization (creates the workspace).
    owner: &'a Person,
    /// Someone else with access, who holds the lock in `LockedByOther`.
    other: &'a Person,
    org: &'a str,
    counter: &'a Cell<u32>,
}

fn build_workspace(setup: &Setup, situation: WsSituation, with_run: bool) -> Ws {
    let n = setup.counter.get() + 1;
    setup.counter.set(n);
    let owner = &setup.owner.api;
    let name = format!("probe-{n}");
    let id = owner
        .post(
            &format!("organizations/{}/workspaces", setup.org),
            &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
        )
        .expect(201)
        .id();
    upload_configuration(owner, &id, &[("main.tf", CONFIG)], false);
    // Current state with an output and no resources (so safe-delete is possible).
    owner
        .post(&format!("workspaces/{id}/actions/lock"), &json!({}))
        .ok();
    let state = state_file(1);
    owner
        .post(
            &format!("workspaces/{id}/state-versions"),
            &json!({"data": {"type": "state-versions", "attributes": {
                "serial": 1, "md5": md5_hex(&state), "lineage": LINEAGE,
                "state": STANDARD.encode(&state)}}}),
        )
        .expect(201);
    owner
        .post(&format!("workspaces/{id}/actions/unlock"), &json!({}))
        .ok();

    let lock = |api: &Api| {
        api.post(&format!("workspaces/{id}/actions/lock"), &json!({}))
            .ok();
    };
    let patch = |attributes: Value| {
        owner
            .patch(
                &format!("workspaces/{id}"),
                &json!({"data": {"type": "workspaces", "attributes": attributes}}),
            )
            .ok();
    };
    let mut run = None;
    match situation {
        WsSituation::Default | WsSituation::NoDestroyPlans => {
            if situation == WsSituation::NoDestroyPlans {
                patch(json!({"allow-destroy-plan": false}));
            }
            if with_run {
                let created = create_run(owner, &id, None, json!({})).id();
                wait_for_run(owner, &created, &["planned"], RUN_TIMEOUT);
                run = Some(created);
            }
        }
        WsSituation::LockedByCaller | WsSituation::LockedByOther => {
            lock(if situation == WsSituation::LockedByCaller {
                &setup.caller.api
            } else {
                &setup.other.api
            });
            if with_run {
                // Behind a user's lock, a run waits.
                let created = create_run(owner, &id, None, json!({})).id();
                run = Some(created);
            }
        }
        WsSituation::Local => {
            if with_run {
                // A run left waiting when the workspace switched to local execution.
                let created = create_run(owner, &id, None, json!({})).id();
                wait_for_run(owner, &created, &["planned"], RUN_TIMEOUT);
                run = Some(created);
            }
            patch(json!({"execution-mode": "local"}));
        }
    }
    Ws {
        caller: setup.caller.api.clone(),
        caller_id: setup.caller.id.clone(),
        owner: owner.clone(),
        id,
        run,
        label: format!(
            "workspace {name} ({situation:?}) as {} in {}",
            setup.caller.name, setup.org
        ),
    }
}

fn check_workspaces(setup: &Setup, situation: WsSituation) -> Vec<Value> {
    let mut seen = Vec::new();
    let build = |call: &Call<Ws>| {
        build_workspace(
            setup,
            situation,
            call.needs.contains(&Needs::ConfirmableRun),
        )
    };
    // Each call on its own target, so runs created by one do not disturb the next.
    for call in WORKSPACE_CALLS {
        let target = build(call);
        assert_mapped("workspace", &target.read(), WORKSPACE_CALLS);
        seen.push(target.read()["data"]["attributes"]["permissions"].clone());
        if check_call("workspace", &target, call) {
            // Runs the call queued would hold the listener: let them go.
            for run in target
                .owner
                .get(&format!("workspaces/{}/runs", target.id))
                .body["data"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let run_id = run["id"].as_str().unwrap();
                if Some(run_id) != target.run.as_deref()
                    && run["attributes"]["actions"]["is-cancelable"] == true
                {
                    target
                        .owner
                        .post(&format!("runs/{run_id}/actions/cancel"), &json!({}));
                }
            }
        }
    }
    seen
}

// ---------------------------------------------------------------------------------------------
// Organizations, projects, users.

struct Org {
    caller: Api,
    owner: Api,
    name: String,
    tag_id: String,
    label: String,
}

impl Target for Org {
    fn read(&self) -> Value {
        self.caller
            .get(&format!("organizations/{}", self.name))
            .ok()
            .body
    }

    fn snapshot(&self) -> Vec<Value> {
        [
            format!("organizations/{}", self.name),
            format!("organizations/{}/workspaces", self.name),
            format!("organizations/{}/projects", self.name),
            format!("organizations/{}/tags", self.name),
            format!("organizations/{}/varsets", self.name),
            format!("organizations/{}/agent-pools", self.name),
            format!("organizations/{}/tasks", self.name),
        ]
        .iter()
        .map(|path| {
            let reply = self.owner.get(path);
            json!({"status": reply.status, "body": reply.body})
        })
        .collect()
    }

    fn holds(&self, _: Needs, _: &Value) -> bool {
        unreachable!("organization calls need no state")
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

/// Adds a workspace with a tag to the organization; returns the tag's ID.
fn tagged_workspace(owner: &Api, org: &str, n: u32) -> String {
    let ws = owner
        .post(
            &format!("organizations/{org}/workspaces"),
            &json!({"data": {"type": "workspaces", "attributes": {"name": format!("tagged-{n}")}}}),
        )
        .expect(201)
        .id();
    owner
        .post(
            &format!("workspaces/{ws}/relationships/tags"),
            &json!({"data": [{"type": "tags", "attributes": {"name": format!("tag-{n}")}}]}),
        )
        .expect(204);
    let tags = owner.get(&format!("organizations/{org}/tags")).ok();
    tags.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["attributes"]["name"] == format!("tag-{n}"))
        .expect("the new tag")["id"]
        .as_str()
        .unwrap()
        .to_string()
}

struct Project {
    caller: Api,
    owner: Api,
    id: String,
    org: String,
    label: String,
}

impl Target for Project {
    fn read(&self) -> Value {
        self.caller.get(&format!("projects/{}", self.id)).ok().body
    }

    fn snapshot(&self) -> Vec<Value> {
        [
            format!("projects/{}", self.id),
            format!("organizations/{}/workspaces", self.org),
        ]
        .iter()
        .map(|path| {
            let reply = self.owner.get(path);
            json!({"status": reply.status, "body": reply.body})
        })
        .collect()
    }

    fn holds(&self, need: Needs, resource: &Value) -> bool {
        assert_eq!(need, Needs::EmptyProject);
        resource["data"]["attributes"]["workspace-count"] == 0
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

/// A private provider with one version; read as the provider or as the version.
struct Registry {
    caller: Api,
    owner: Api,
    org: String,
    name: String,
    /// Read the version (its flags) rather than the provider.
    version: bool,
    label: String,
}

impl Registry {
    fn provider_path(&self) -> String {
        format!(
            "organizations/{0}/registry-providers/private/{0}/{1}",
            self.org, self.name
        )
    }

    fn version_path(&self) -> String {
        format!("{}/versions/1.0.0", self.provider_path())
    }

    fn create(owner: &Api, org: &str, name: &str) {
        owner
            .post(
                &format!("organizations/{org}/registry-providers"),
                &json!({"data": {"type": "registry-providers",
                    "attributes": {"name": name, "namespace": org, "registry-name": "private"}}}),
            )
            .expect(201);
        owner
            .post(
                &format!("organizations/{org}/registry-providers/private/{org}/{name}/versions"),
                &json!({"data": {"type": "registry-provider-versions",
                    "attributes": {"version": "1.0.0", "key-id": "ABCDEF0123456789"}}}),
            )
            .expect(201);
    }
}

impl Target for Registry {
    fn read(&self) -> Value {
        let path = if self.version {
            self.version_path()
        } else {
            self.provider_path()
        };
        self.caller.get(&path).ok().body
    }

    fn snapshot(&self) -> Vec<Value> {
        [
            self.provider_path(),
            format!("{}/platforms", self.version_path()),
        ]
        .iter()
        .map(|path| {
            let reply = self.owner.get(path);
            let mut body = reply.body;
            // Upload links (signed URLs) are issued afresh on every read.
            let data = body["data"].as_array_mut().map(|items| items.iter_mut());
            for item in data.into_iter().flatten() {
                item["links"] = Value::Null;
            }
            json!({"status": reply.status, "body": body})
        })
        .collect()
    }

    fn holds(&self, need: Needs, _: &Value) -> bool {
        panic!("registry calls need nothing but their flags, not {need:?}")
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

struct UserTarget {
    caller: Api,
    /// The user whose resource is read.
    id: String,
    username: String,
    /// Where the flags' requests go: the account for oneself, the user's own resource for
    /// someone else (which the API does not let anyone change).
    update_path: String,
    /// Where organizations are created: for oneself `/organizations`; nothing creates one
    /// for someone else (HCP Terraform has no such route either).
    create_path: String,
    new_org_name: String,
    own: bool,
}

impl Target for UserTarget {
    fn read(&self) -> Value {
        let path = if self.own {
            "account/details".to_string()
        } else {
            format!("users/{}", self.id)
        };
        self.caller.get(&path).ok().body
    }

    fn snapshot(&self) -> Vec<Value> {
        vec![
            self.caller.get(&format!("users/{}", self.id)).body,
            self.caller.get("organizations").body,
        ]
    }

    fn holds(&self, _: Needs, _: &Value) -> bool {
        unreachable!("user calls need no state")
    }

    fn describe(&self) -> String {
        format!("user {} (own: {})", self.username, self.own)
    }
}

// ---------------------------------------------------------------------------------------------
// Runs.

struct RunTarget {
    caller: Api,
    owner: Api,
    id: String,
    workspace_id: String,
    label: String,
}

impl RunTarget {
    fn action(&self, action: &str) -> Reply {
        self.caller
            .post(&format!("runs/{}/actions/{action}", self.id), &json!({}))
    }

    fn status(&self) -> String {
        self.owner
            .get(&format!("runs/{}", self.id))
            .ok()
            .attr("status")
            .as_str()
            .unwrap()
            .to_string()
    }
}

impl Target for RunTarget {
    fn read(&self) -> Value {
        self.caller.get(&format!("runs/{}", self.id)).ok().body
    }

    fn snapshot(&self) -> Vec<Value> {
        vec![
            self.owner.get(&format!("runs/{}", self.id)).body,
            self.owner
                .get(&format!("workspaces/{}", self.workspace_id))
                .body,
        ]
    }

    fn holds(&self, need: Needs, run: &Value) -> bool {
        match need {
            Needs::PendingRun => {
                let workspace = self.owner.get(&format!("workspaces/{}", self.workspace_id));
                let holder = &workspace.body["data"]["relationships"]["locked-by"]["data"]["type"];
                run["data"]["attributes"]["status"] == "pending"
                    && holder != "users"
                    && holder != "teams"
            }
            other => unreachable!("run calls need no {other:?}"),
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.label, self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunSituation {
    /// Behind a user's lock.
    Pending,
    /// Terraform is planning (blocked reading a silent data source).
    Planning,
    Planned,
    PlannedAndSaved,
    PlanOnly,
    Errored,
    /// Planned, then the workspace switched to local execution.
    LeftInLocal,
}

/// Builds a run in `situation`; the silent source must outlive it while it plans.
fn build_run(
    owner: &Person,
    org: &str,
    situation: RunSituation,
    counter: &Cell<u32>,
    silent: &SilentSource,
) -> (RunTarget, Option<std::net::TcpStream>) {
    let n = counter.get() + 1;
    counter.set(n);
    let api = &owner.api;
    let name = format!("run-probe-{n}");
    let ws = api
        .post(
            &format!("organizations/{org}/workspaces"),
            &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
        )
        .expect(201)
        .id();
    let config = match situation {
        RunSituation::Planning => silent.configuration(),
        RunSituation::Errored => "resource \"terraform_data\" \"a\" {\n  input = \n".into(),
        _ => CONFIG.to_string(),
    };
    upload_configuration(api, &ws, &[("main.tf", config.as_str())], false);
    let mut held = None;
    let attributes = match situation {
        RunSituation::PlannedAndSaved => json!({"save-plan": true}),
        RunSituation::PlanOnly => json!({"plan-only": true}),
        _ => json!({}),
    };
    if situation == RunSituation::Pending {
        api.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
            .ok();
    }
    let id = create_run(api, &ws, None, attributes).id();
    let target = RunTarget {
        caller: api.clone(),
        owner: api.clone(),
        id: id.clone(),
        workspace_id: ws.clone(),
        label: format!("run {name} ({situation:?})"),
    };
    match situation {
        RunSituation::Pending => assert_eq!(target.status(), "pending"),
        RunSituation::Planning => {
            held = Some(silent.accept());
            assert_eq!(target.status(), "planning");
        }
        RunSituation::Planned | RunSituation::LeftInLocal => {
            wait_for_run(api, &id, &["planned"], RUN_TIMEOUT);
        }
        RunSituation::PlannedAndSaved => {
            wait_for_run(api, &id, &["planned_and_saved"], RUN_TIMEOUT);
        }
        RunSituation::PlanOnly => {
            wait_for_run(api, &id, &["planned_and_finished"], RUN_TIMEOUT);
        }
        RunSituation::Errored => {
            wait_for_run(api, &id, &["errored"], RUN_TIMEOUT);
        }
    }
    if situation == RunSituation::LeftInLocal {
        api.patch(
            &format!("workspaces/{ws}"),
            &json!({"data": {"type": "workspaces", "attributes": {"execution-mode": "local"}}}),
        )
        .ok();
    }
    (target, held)
}

/// After a successful action: a cancel asked of a runner that does not stop (terraform blocked
/// on the silent source ignores the interrupt) makes force-cancel possible once the cool-off
/// passed, while the run still plans; every call is checked then. Then the run settles.
/// Returns whether the run was force-canceled.
fn follow_up(target: &RunTarget, statuses: &[&str]) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(18);
    while std::time::Instant::now() < deadline {
        let run = target.read();
        let attributes = &run["data"]["attributes"];
        if statuses.contains(&attributes["status"].as_str().unwrap()) {
            break;
        }
        if attributes["actions"]["is-force-cancelable"] == true {
            let forced = RUN_CALLS
                .iter()
                .filter(|call| !comments_only(call))
                .filter(|call| check_call("run (cancel requested)", target, call))
                .count();
            assert_eq!(
                forced, 1,
                "only force-cancel ends a run whose cancel was asked"
            );
            check_settled(target, statuses);
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    check_settled(target, statuses);
    false
}

/// Commenting leaves the run as it is, and stays open once it ended (as in HCP Terraform).
fn comments_only(call: &Call<RunTarget>) -> bool {
    call.flags.contains(&"permissions.can-comment")
}

/// After a successful action the run settles; in its final status every call but
/// commenting is refused.
fn check_settled(target: &RunTarget, statuses: &[&str]) {
    let settled = wait_for_run(&target.owner, &target.id, statuses, RUN_TIMEOUT);
    let status = settled.attr("status").as_str().unwrap().to_string();
    for call in RUN_CALLS.iter().filter(|call| !comments_only(call)) {
        assert!(
            !check_call(&format!("run ({status})"), target, call),
            "{status}: {} succeeded on a run that has ended",
            call.what
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The test.

both_databases!(advertised_permissions_are_enforced, |db: Db| {
    let server = Server::builder(db)
        .without_rate_limits()
        .arg("--allow-private-notification-urls")
        .start();
    let admin = Person::new(&server, &server.admin_token(), "admin (site admin)");
    let olivia = Person::new(&server, &server.user_token("olivia"), "olivia (owner)");
    let mel = Person::new(&server, &server.user_token("mel"), "mel (member)");
    for (person, org) in [(&olivia, "acme"), (&mel, "dev")] {
        person
            .api
            .post(
                "organizations",
                &json!({"data": {"type": "organizations",
                    "attributes": {"name": org, "email": format!("ops@{org}.example")}}}),
            )
            .expect(201);
    }
    // Mel's team in dev stops being the owners team: she is a member whose team manages
    // workspaces and projects, and only the site admin owns dev.
    assert_eq!(
        server.sql(
            "UPDATE teams SET is_owners = FALSE, \
             organization_access = '{\"manage-workspaces\": true, \"manage-projects\": true}' \
             WHERE organization_id = (SELECT id FROM organizations WHERE name = 'dev')"
        ),
        1
    );
    let dev = mel.api.get("organizations/dev").ok();
    assert_eq!(
        dev.attr("permissions")["can-update"],
        false,
        "mel is no longer an owner: {}",
        dev.text
    );
    let counter = Cell::new(0);

    // Workspaces, in each situation, for each kind of caller.
    let owner_in_acme = |caller, other| Setup {
        caller,
        owner: &olivia,
        other,
        org: "acme",
        counter: &counter,
    };
    let mut permissions = Vec::new();
    for situation in [
        WsSituation::Default,
        WsSituation::NoDestroyPlans,
        WsSituation::LockedByCaller,
        WsSituation::LockedByOther,
        WsSituation::Local,
    ] {
        permissions.extend(check_workspaces(&owner_in_acme(&olivia, &admin), situation));
    }
    for situation in [WsSituation::Default, WsSituation::LockedByOther] {
        permissions.extend(check_workspaces(&owner_in_acme(&admin, &olivia), situation));
    }
    let member_in_dev = Setup {
        caller: &mel,
        owner: &admin,
        other: &admin,
        org: "dev",
        counter: &counter,
    };
    for situation in [WsSituation::Default, WsSituation::LockedByOther] {
        permissions.extend(check_workspaces(&member_in_dev, situation));
    }
    // The organization lets its workspace administrators force-delete.
    admin
        .api
        .patch(
            "organizations/dev",
            &json!({"data": {"type": "organizations",
                "attributes": {"allow-force-delete-workspaces": true}}}),
        )
        .ok();
    permissions.extend(check_workspaces(&member_in_dev, WsSituation::Default));
    // The situations showed both values of the flags whose truth depends on them.
    for name in [
        "can-queue-destroy",
        "can-queue-run",
        "can-queue-apply",
        "can-force-delete",
    ] {
        let values: BTreeSet<bool> = permissions
            .iter()
            .map(|p| p[name].as_bool().unwrap())
            .collect();
        assert_eq!(values.len(), 2, "{name} was always {values:?}");
    }

    // Organizations: owners and the site admin on fresh organizations (deleting one is one
    // of the calls), the member on dev.
    for (caller, label) in [(&olivia, "owner"), (&admin, "site admin")] {
        let successes = check_all("organization", ORGANIZATION_CALLS, &|_| {
            let n = counter.get() + 1;
            counter.set(n);
            let name = format!("org-probe-{n}");
            olivia
                .api
                .post(
                    "organizations",
                    &json!({"data": {"type": "organizations",
                        "attributes": {"name": name, "email": "ops@probe.example"}}}),
                )
                .expect(201);
            Org {
                caller: caller.api.clone(),
                owner: olivia.api.clone(),
                tag_id: tagged_workspace(&olivia.api, &name, n),
                name,
                label: format!("organization as {label}"),
            }
        });
        assert!(successes >= 10, "{label}: {successes} calls succeeded");
    }
    let member_successes = check_all("organization", ORGANIZATION_CALLS, &|_| {
        let n = counter.get() + 1;
        counter.set(n);
        Org {
            caller: mel.api.clone(),
            owner: admin.api.clone(),
            tag_id: tagged_workspace(&admin.api, "dev", n),
            name: "dev".into(),
            label: "organization dev as member".into(),
        }
    });
    let member_flags = mel.api.get("organizations/dev").ok();
    for owner_only in [
        "can-update",
        "can-destroy",
        "can-manage-varsets",
        "can-update-agent-pools",
    ] {
        assert_eq!(
            member_flags.attr("permissions")[owner_only],
            false,
            "{owner_only}"
        );
    }
    assert!(member_successes >= 5, "{member_successes}");

    // Projects: the default project (never deletable), a project with a workspace, an
    // empty one; as the owner and as the member.
    for (caller, owner, org) in [(&olivia, &olivia, "acme"), (&mel, &admin, "dev")] {
        let projects = owner.api.get(&format!("organizations/{org}/projects")).ok();
        let default_project = projects.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["attributes"]["is-default"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let fixed = |id: &str, label: &str| Project {
            caller: caller.api.clone(),
            owner: owner.api.clone(),
            id: id.to_string(),
            org: org.to_string(),
            label: format!("{label} project in {org} as {}", caller.name),
        };
        let default = fixed(&default_project, "default");
        assert_mapped("project", &default.read(), PROJECT_CALLS);
        for call in PROJECT_CALLS {
            check_call("project", &default, call);
        }
        check_all("project", PROJECT_CALLS, &|_| {
            let n = counter.get() + 1;
            counter.set(n);
            let id = owner
                .api
                .post(
                    &format!("organizations/{org}/projects"),
                    &json!({"data": {"type": "projects", "attributes": {"name": format!("Project {n}")}}}),
                )
                .expect(201)
                .id();
            fixed(&id, "empty")
        });
        check_all("project", PROJECT_CALLS, &|_| {
            let n = counter.get() + 1;
            counter.set(n);
            let id = owner
                .api
                .post(
                    &format!("organizations/{org}/projects"),
                    &json!({"data": {"type": "projects", "attributes": {"name": format!("Project {n}")}}}),
                )
                .expect(201)
                .id();
            owner
                .api
                .post(
                    &format!("organizations/{org}/workspaces"),
                    &json!({"data": {"type": "workspaces", "attributes": {"name": format!("in-project-{n}")},
                        "relationships": {"project": {"data": {"type": "projects", "id": id}}}}}),
                )
                .expect(201);
            fixed(&id, "busy")
        });
    }

    // The private registry: a provider and its version, as the owner and as the member (whose
    // team manages workspaces and projects, not providers).
    for (caller, owner, org) in [(&olivia, &olivia, "acme"), (&mel, &admin, "dev")] {
        for (version, calls) in [
            (false, REGISTRY_PROVIDER_CALLS),
            (true, PROVIDER_VERSION_CALLS),
        ] {
            check_all("registry", calls, &|_| {
                let n = counter.get() + 1;
                counter.set(n);
                let name = format!("probe-{n}");
                Registry::create(&owner.api, org, &name);
                Registry {
                    caller: caller.api.clone(),
                    owner: owner.api.clone(),
                    org: org.to_string(),
                    name,
                    version,
                    label: format!("provider probe-{n} in {org} as {}", caller.name),
                }
            });
        }
    }

    // Users: one's own account, and someone else's.
    for (caller, subject) in [(&olivia, &olivia), (&olivia, &mel), (&admin, &olivia)] {
        check_all("user", USER_CALLS, &|_| {
            let n = counter.get() + 1;
            counter.set(n);
            let own = caller.id == subject.id;
            let username = subject.name.split(' ').next().unwrap().to_string();
            UserTarget {
                caller: caller.api.clone(),
                id: subject.id.clone(),
                username,
                update_path: if own {
                    "account/update".into()
                } else {
                    format!("users/{}", subject.id)
                },
                create_path: if own {
                    "organizations".into()
                } else {
                    format!("users/{}/organizations", subject.id)
                },
                new_org_name: format!("user-probe-{n}"),
                own,
            }
        });
    }

    // Runs, in each status (and the ones they end in after an action).
    let silent = SilentSource::new();
    for situation in [
        RunSituation::Pending,
        RunSituation::Planning,
        RunSituation::Planned,
        RunSituation::PlannedAndSaved,
        RunSituation::PlanOnly,
        RunSituation::Errored,
        RunSituation::LeftInLocal,
    ] {
        let mut current = Some(build_run(&olivia, "acme", situation, &counter, &silent));
        for call in RUN_CALLS {
            let (target, held) = match current.take() {
                Some(built) => built,
                None => build_run(&olivia, "acme", situation, &counter, &silent),
            };
            assert_mapped("run", &target.read(), RUN_CALLS);
            let succeeded = check_call(&format!("run ({situation:?})"), &target, call);
            if succeeded && comments_only(call) {
                // A comment changes nothing of the run: it serves the next call as it is.
                current = Some((target, held));
            } else if succeeded {
                let ended: &[&str] = match call.what {
                    "POST apply" if situation == RunSituation::PlannedAndSaved => &["applied"],
                    "POST apply" => &["applied"],
                    "POST discard" => &["discarded"],
                    _ => &["canceled"],
                };
                let forced = follow_up(&target, ended);
                assert_eq!(
                    forced,
                    situation == RunSituation::Planning,
                    "{situation:?}: force-cancel after {}",
                    call.what
                );
                // Only now: closing the silent source's connection would error the plan.
                drop(held);
            } else {
                current = Some((target, held));
            }
        }
    }
});
