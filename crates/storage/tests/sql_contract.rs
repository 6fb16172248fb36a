//! The storage contract: what the domain layer relies on from a [`Store`], written once and run
//! against every database. Each test is an `async fn(Arc<dyn Store>)` followed by
//! `contract!(name);`, which generates `name::sqlite` and `name::postgres`.
//!
//! SQLite runs on a temporary file. PostgreSQL needs `TERRACE_TEST_POSTGRES_URL`, a server where
//! the user may create databases (`scripts/services.sh start DIR && . DIR/env.sh` provides one);
//! each test gets a fresh database, dropped again when the test passes. Without the variable
//! the PostgreSQL tests fail: a skipped test never counts as a pass.

// A contract test whose `contract!` line is missing would never run; this makes it an error.
#![deny(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, SubsecRound, TimeDelta, TimeZone, Utc};
use terrace_storage::model::*;
use terrace_storage::store::*;
use terrace_storage::{clock, ids, StorageError};
use tokio::sync::Barrier;

// ---------------------------------------------------------------------------------------------
// Harness: one fresh database per test (tests/common).

mod common;
use common::TestDb;

/// Runs the contract test `$name` (an `async fn(Arc<dyn Store>)`) on each database.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = super::TestDb::sqlite().await;
                super::$name(db.store()).await;
                db.remove().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let db = super::TestDb::postgres().await;
                super::$name(db.store()).await;
                db.remove().await;
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Fixtures: records with every column set to something other than its default, so a column
// that is not written or read back shows up as a difference.

struct OrgFixture {
    org: Organization,
    owners: Team,
    default_project: Project,
}

impl OrgFixture {
    fn id(&self) -> &str {
        &self.org.id
    }
}

fn new_org(name: &str) -> OrgFixture {
    let at = clock::now();
    let id = ids::new_id(ids::ORGANIZATION);
    let project_id = ids::new_id(ids::PROJECT);
    OrgFixture {
        org: Organization {
            id: id.clone(),
            name: name.to_string(),
            email: format!("admin@{name}.example"),
            default_execution_mode: ExecutionMode::Local,
            session_timeout: Some(20160),
            session_remember: Some(1440),
            collaborator_auth_policy: "two_factor_mandatory".into(),
            cost_estimation_enabled: true,
            assessments_enforced: true,
            allow_force_delete_workspaces: true,
            default_agent_pool_id: None,
            follows_site_sso_groups: true,
            user_tokens_enabled: false,
            created_at: at,
            updated_at: at,
            // Read back from the default project below.
            default_project_id: Some(project_id.clone()),
        },
        owners: Team {
            id: ids::new_id(ids::TEAM),
            organization_id: id.clone(),
            name: "owners".into(),
            is_owners: true,
            visibility: "secret".into(),
            organization_access: JsonText(OrganizationAccess::ALL),
            sso_team_id: None,
            allow_member_token_management: true,
            created_at: at,
        },
        default_project: Project {
            id: project_id,
            organization_id: id,
            name: "Default Project".into(),
            description: "where workspaces go by default".into(),
            is_default: true,
            created_at: at,
            default_execution_mode: None,
            default_agent_pool_id: None,
            auto_destroy_activity_duration: None,
        },
    }
}

async fn create_org(store: &dyn Store, name: &str, owner: Option<&User>) -> OrgFixture {
    let fixture = new_org(name);
    store
        .create_organization(
            &fixture.org,
            &fixture.owners,
            &fixture.default_project,
            owner.map(|u| u.id.as_str()),
        )
        .await
        .unwrap_or_else(|e| panic!("creating organization {name}: {e}"));
    fixture
}

fn new_user(username: &str) -> User {
    User {
        id: ids::new_id(ids::USER),
        username: username.to_string(),
        email: format!("{username}@example.com"),
        password_hash: Some(format!("$argon2id$v=19$m=19456,t=2,p=1${username}")),
        is_site_admin: true,
        created_at: clock::now(),
        suspended_at: None,
    }
}

async fn create_user(store: &dyn Store, username: &str) -> User {
    let user = new_user(username);
    store.create_user(&user).await.unwrap();
    user
}

fn new_project(org: &OrgFixture, name: &str) -> Project {
    Project {
        id: ids::new_id(ids::PROJECT),
        organization_id: org.id().to_string(),
        name: name.to_string(),
        description: format!("the {name} project"),
        is_default: false,
        created_at: clock::now(),
        default_execution_mode: None,
        default_agent_pool_id: None,
        auto_destroy_activity_duration: Some("3d".into()),
    }
}

async fn create_project(store: &dyn Store, org: &OrgFixture, name: &str) -> Project {
    let project = new_project(org, name);
    store.create_project(&project, &[]).await.unwrap();
    project
}

fn new_workspace(org: &OrgFixture, name: &str) -> Workspace {
    let at = clock::now();
    Workspace {
        id: ids::new_id(ids::WORKSPACE),
        organization_id: org.id().to_string(),
        project_id: org.default_project.id.clone(),
        name: name.to_string(),
        description: format!("the {name} workspace"),
        execution_mode: Some(ExecutionMode::Agent),
        agent_pool_id: Some("apool-123".into()),
        auto_apply: true,
        allow_destroy_plan: false,
        file_triggers_enabled: false,
        global_remote_state: true,
        project_remote_state: false,
        queue_all_runs: true,
        speculative_enabled: false,
        structured_run_output_enabled: false,
        assessments_enabled: true,
        source_name: Some("terraform-cli".into()),
        source_url: Some("https://example.com/source".into()),
        terraform_version: "1.9.5".into(),
        engine: Engine::Terraform,
        trigger_prefixes: JsonText(vec!["modules/".into()]),
        trigger_patterns: JsonText(vec!["**/*.tf".into(), "*.tfvars".into()]),
        working_directory: "infra".into(),
        auto_destroy_at: Some(at + TimeDelta::days(7)),
        auto_destroy_activity_duration: Some("14d".into()),
        inherits_project_auto_destroy: false,
        auto_destroy_queued_at: None,
        project_auto_destroy_activity_duration: None,
        state_updated_at: None,
        auto_apply_run_trigger: true,
        lock_kind: None,
        lock_holder_id: None,
        lock_reason: None,
        locked_at: None,
        current_state_version_id: None,
        current_run_id: None,
        latest_run_id: None,
        resource_count: 0,
        runs_count: 0,
        ssh_key_id: None,
        has_retention_policy: false,
        created_at: at,
        updated_at: at,
    }
}

async fn create_workspace(
    store: &dyn Store,
    org: &OrgFixture,
    name: &str,
    tags: &[TagBinding],
) -> Workspace {
    let ws = new_workspace(org, name);
    store
        .create_workspace(&ws, tags)
        .await
        .unwrap_or_else(|e| panic!("creating workspace {name}: {e}"));
    ws
}

/// A key-only tag.
fn key(key: &str) -> TagBinding {
    TagBinding {
        key: key.to_string(),
        value: String::new(),
    }
}

/// A key/value tag.
fn kv(key: &str, value: &str) -> TagBinding {
    TagBinding {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn new_token(kind: TokenKind, owner_id: &str, created_at: DateTime<Utc>) -> Token {
    Token {
        id: ids::new_id(ids::TOKEN),
        kind,
        owner_id: owner_id.to_string(),
        description: Some("contract test".into()),
        secret_hash: ids::random_string(64),
        created_by: Some(ids::new_id(ids::USER)),
        created_at,
        last_used_at: Some(created_at + TimeDelta::seconds(1)),
        expires_at: Some(created_at + TimeDelta::days(30)),
        signed_in_with: Some("sso:org-1".into()),
    }
}

async fn create_token(store: &dyn Store, kind: TokenKind, owner_id: &str) -> Token {
    let token = new_token(kind, owner_id, clock::now());
    store.create_token(&token).await.unwrap();
    token
}

fn new_state_version(ws: &Workspace, serial: i64, created_at: DateTime<Utc>) -> StateVersion {
    StateVersion {
        id: ids::new_id(ids::STATE_VERSION),
        workspace_id: ws.id.clone(),
        serial,
        lineage: Some("8d1f7a5c-lineage".into()),
        md5: format!("{serial:032x}"),
        size: 0,
        status: StateVersionStatus::Pending,
        json_state_uploaded: false,
        terraform_version: Some("1.9.0".into()),
        resource_count: 0,
        run_id: Some("run-abc".into()),
        created_by: Some("user-abc".into()),
        created_at,
    }
}

fn new_output(state_version_id: &str, name: &str) -> StateVersionOutput {
    StateVersionOutput {
        id: ids::new_id(ids::STATE_VERSION_OUTPUT),
        state_version_id: state_version_id.to_string(),
        name: name.to_string(),
        sensitive: name.starts_with("secret"),
        type_json: "\"string\"".into(),
        value_ciphertext: format!("ciphertext-of-{name}"),
    }
}

async fn create_state_version(
    store: &dyn Store,
    ws: &Workspace,
    serial: i64,
    outputs: &[&str],
) -> (StateVersion, Vec<StateVersionOutput>) {
    let sv = new_state_version(ws, serial, clock::now());
    let outputs: Vec<_> = outputs
        .iter()
        .map(|name| new_output(&sv.id, name))
        .collect();
    store.create_state_version(&sv, &outputs).await.unwrap();
    (sv, outputs)
}

fn resource(mode: &str, kind: &str, name: &str) -> ResourceSummary {
    ResourceSummary {
        mode: mode.into(),
        kind: kind.into(),
        name: name.into(),
        module: "root".into(),
        provider: "provider[\"registry.terraform.io/hashicorp/aws\"]".into(),
        count: 1,
        instance_keys: Some(vec![None]),
    }
}

/// What a state upload reveals, counting the managed resources as the state scanner does.
fn summary(resources: Vec<ResourceSummary>) -> StateSummary {
    StateSummary {
        size: 1234,
        terraform_version: Some("1.9.5".into()),
        resource_count: resources.iter().filter(|r| r.mode == "managed").count() as i64,
        resources,
        outputs: None,
    }
}

fn new_oauth_code(user: &User, expires_at: DateTime<Utc>) -> OAuthCode {
    OAuthCode {
        code_hash: ids::random_string(64),
        user_id: user.id.clone(),
        client_id: "terraform-cli".into(),
        redirect_uri: "http://localhost:10000/login".into(),
        code_challenge: ids::random_string(43),
        expires_at,
        signed_in_with: Some("sso:org-1".into()),
    }
}

fn new_session(user: &User, expires_at: DateTime<Utc>) -> Session {
    let now = clock::now();
    Session {
        id_hash: ids::random_string(64),
        user_id: user.id.clone(),
        created_at: now,
        expires_at,
        last_seen_at: now,
        signed_in_with: Some("sso".into()),
    }
}

fn page(number: u32, size: u32) -> PageRequest {
    PageRequest { number, size }
}

fn all() -> PageRequest {
    PageRequest::all()
}

/// A UTC instant with microseconds.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, micros: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + TimeDelta::microseconds(micros)
}

trait Named {
    fn name(&self) -> &str;
}
impl Named for Organization {
    fn name(&self) -> &str {
        &self.name
    }
}
impl Named for Team {
    fn name(&self) -> &str {
        &self.name
    }
}
impl Named for Project {
    fn name(&self) -> &str {
        &self.name
    }
}
impl Named for Workspace {
    fn name(&self) -> &str {
        &self.name
    }
}
impl Named for Tag {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Names in listing order.
fn names<T: Named>(items: &[T]) -> Vec<&str> {
    items.iter().map(Named::name).collect()
}

fn set<'a>(items: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    items.into_iter().map(str::to_string).collect()
}

/// Names of the organization's workspaces matching `filter`, as a set (collation-independent).
async fn workspace_names(
    store: &dyn Store,
    org: &OrgFixture,
    filter: WorkspaceFilter,
) -> BTreeSet<String> {
    let page = store
        .list_workspaces(org.id(), &filter, all())
        .await
        .unwrap();
    assert_eq!(page.total, page.items.len() as u64, "total of {filter:?}");
    set(names(&page.items))
}

/// Names of the organization's projects matching `filter`, as a set.
async fn project_names(
    store: &dyn Store,
    org: &OrgFixture,
    filter: ProjectFilter,
) -> BTreeSet<String> {
    let page = store.list_projects(org.id(), &filter, all()).await.unwrap();
    assert_eq!(page.total, page.items.len() as u64, "total of {filter:?}");
    set(names(&page.items))
}

/// The organization's tags matching `filter`, by name with their instance counts.
async fn tag_counts(
    store: &dyn Store,
    org: &OrgFixture,
    filter: TagFilter,
) -> BTreeMap<String, i64> {
    let page = store.list_tags(org.id(), &filter, all()).await.unwrap();
    assert_eq!(page.total, page.items.len() as u64, "total of {filter:?}");
    page.items
        .into_iter()
        .map(|t| (t.name, t.instance_count))
        .collect()
}

async fn tag_named(store: &dyn Store, org: &OrgFixture, name: &str) -> Tag {
    let page = store
        .list_tags(org.id(), &TagFilter::default(), all())
        .await
        .unwrap();
    page.items
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("organization has no tag {name}"))
}

/// A workspace's tags, sorted by key.
async fn tags_of(store: &dyn Store, ws: &Workspace) -> Vec<TagBinding> {
    let mut map = store
        .workspace_tags(std::slice::from_ref(&ws.id))
        .await
        .unwrap();
    map.remove(&ws.id)
        .expect("workspace_tags answers for every asked id")
}

async fn reload(store: &dyn Store, ws: &Workspace) -> Workspace {
    store
        .workspace_by_id(&ws.id)
        .await
        .unwrap()
        .expect("workspace exists")
}

fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    match result {
        Err(StorageError::Conflict(_)) => {}
        other => panic!("{what}: expected StorageError::Conflict, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Organizations

/// Creating an organization creates its owners team, which the owner joins, and its default
/// project; every field reads back as written.
async fn organization_create(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    let alice = create_user(&*store, "alice").await;
    let acme = create_org(&*store, "acme", Some(&alice)).await;

    assert_eq!(
        store.organization_by_name("acme").await.unwrap(),
        Some(acme.org.clone())
    );
    assert_eq!(
        store.organization_by_id(acme.id()).await.unwrap(),
        Some(acme.org.clone())
    );
    assert_eq!(
        store.default_project(acme.id()).await.unwrap(),
        Some(acme.default_project.clone())
    );
    assert_eq!(role(&*store, acme.id(), &alice.id).await, Some("owner"));
    assert_eq!(store.organization_by_name("acme2").await.unwrap(), None);
    assert_eq!(store.organization_by_id("org-missing").await.unwrap(), None);
}
contract!(organization_create);

/// A taken name is a Conflict, and nothing of the refused organization is left behind.
async fn organization_names_are_unique(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let dup = new_org("acme");
    assert_conflict(
        store
            .create_organization(&dup.org, &dup.owners, &dup.default_project, None)
            .await,
        "second organization named acme",
    );
    assert_eq!(store.organization_by_id(dup.id()).await.unwrap(), None);
    assert_eq!(
        store.project_by_id(&dup.default_project.id).await.unwrap(),
        None
    );
    let listed = store.list_organizations(None, all()).await.unwrap();
    assert_eq!(listed.items, vec![acme.org]);
    assert_eq!(listed.total, 1);
}
contract!(organization_names_are_unique);

/// A member sees the organizations they belong to; `None` (site admins) sees all of them.
async fn organizations_listed_for_member_or_all(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let carol = create_user(&*store, "carol").await;
    create_org(&*store, "org-a", Some(&alice)).await;
    create_org(&*store, "org-b", Some(&bob)).await;
    create_org(&*store, "org-c", Some(&alice)).await;
    create_org(&*store, "org-d", None).await;

    let of_alice = store
        .list_organizations(Some(&alice.id), all())
        .await
        .unwrap();
    assert_eq!(names(&of_alice.items), ["org-a", "org-c"]);
    assert_eq!(of_alice.total, 2);

    let of_carol = store
        .list_organizations(Some(&carol.id), all())
        .await
        .unwrap();
    assert!(of_carol.items.is_empty());
    assert_eq!(of_carol.total, 0);

    let everything = store.list_organizations(None, all()).await.unwrap();
    assert_eq!(
        names(&everything.items),
        ["org-a", "org-b", "org-c", "org-d"]
    );
    assert_eq!(everything.total, 4);

    // Pages cut the sorted list; the total still counts every match.
    let second = store.list_organizations(None, page(2, 3)).await.unwrap();
    assert_eq!(names(&second.items), ["org-d"]);
    assert_eq!(second.total, 4);
    let second_of_alice = store
        .list_organizations(Some(&alice.id), page(2, 1))
        .await
        .unwrap();
    assert_eq!(names(&second_of_alice.items), ["org-c"]);
    assert_eq!(second_of_alice.total, 2);
}
contract!(organizations_listed_for_member_or_all);

/// "owner" for a member of the owners team, "member" for another member, `None` otherwise.
async fn role(store: &dyn Store, org: &str, user: &str) -> Option<&'static str> {
    let teams = store.member_teams(org, user).await.unwrap()?;
    Some(if teams.iter().any(|t| t.is_owners) {
        "owner"
    } else {
        "member"
    })
}

/// Owners-team members are owners, members of another team are members, others have no role.
async fn org_role_owner_member_or_none(store: Arc<dyn Store>) {
    let owner = create_user(&*store, "owner").await;
    let member = create_user(&*store, "member").await;
    let outsider = create_user(&*store, "outsider").await;
    let acme = create_org(&*store, "acme", Some(&owner)).await;
    // The store has no team operations yet: an organization founded with a team that is not the
    // owners team gives its founder a plain membership.
    let mut dev = new_org("dev");
    dev.owners.name = "developers".into();
    dev.owners.is_owners = false;
    store
        .create_organization(
            &dev.org,
            &dev.owners,
            &dev.default_project,
            Some(&member.id),
        )
        .await
        .unwrap();

    let role = |org: String, user: String| {
        let store = store.clone();
        async move { role(&*store, &org, &user).await }
    };
    assert_eq!(
        role(acme.id().into(), owner.id.clone()).await,
        Some("owner")
    );
    assert_eq!(
        role(dev.id().into(), member.id.clone()).await,
        Some("member")
    );
    assert_eq!(role(acme.id().into(), member.id.clone()).await, None);
    assert_eq!(role(acme.id().into(), outsider.id.clone()).await, None);
    assert_eq!(role(dev.id().into(), owner.id.clone()).await, None);
}
contract!(org_role_owner_member_or_none);

/// Renaming keeps the organization's contents; renaming onto a taken name is a Conflict.
async fn organization_rename(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    create_org(&*store, "taken", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;

    let mut renamed = acme.org.clone();
    renamed.name = "acme-corp".into();
    renamed.email = "ops@acme-corp.example".into();
    renamed.default_execution_mode = ExecutionMode::Remote;
    renamed.session_timeout = None;
    renamed.cost_estimation_enabled = false;
    renamed.updated_at = acme.org.updated_at + TimeDelta::seconds(5);
    store.update_organization(&renamed).await.unwrap();

    assert_eq!(
        store.organization_by_id(acme.id()).await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(
        store.organization_by_name("acme-corp").await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(store.organization_by_name("acme").await.unwrap(), None);
    assert_eq!(
        store.default_project(acme.id()).await.unwrap(),
        Some(acme.default_project.clone())
    );
    assert_eq!(
        store.workspace_by_name(acme.id(), "app").await.unwrap(),
        Some(ws)
    );

    let mut clash = renamed.clone();
    clash.name = "taken".into();
    assert_conflict(store.update_organization(&clash).await, "rename onto taken");
    assert_eq!(
        store.organization_by_id(acme.id()).await.unwrap(),
        Some(renamed)
    );
}
contract!(organization_rename);

/// Deleting an organization deletes its workspaces (with their state versions and outputs),
/// projects, tags and organization/team tokens; users, their tokens and other organizations stay.
async fn organization_delete_cascades(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let acme = create_org(&*store, "acme", Some(&alice)).await;
    let other = create_org(&*store, "other", Some(&alice)).await;

    let project = create_project(&*store, &acme, "extra").await;
    let ws = create_workspace(&*store, &acme, "app", &[kv("env", "prod")]).await;
    let (sv, outputs) = create_state_version(&*store, &ws, 1, &["ip"]).await;
    assert!(store
        .finalize_state_version(&sv.id, &summary(vec![]))
        .await
        .unwrap());
    let tag = tag_named(&*store, &acme, "env").await;
    let org_token = create_token(&*store, TokenKind::Organization, acme.id()).await;
    let team_token = create_token(&*store, TokenKind::Team, &acme.owners.id).await;
    let user_token = create_token(&*store, TokenKind::User, &alice.id).await;

    let other_ws = create_workspace(&*store, &other, "app", &[kv("env", "prod")]).await;
    let (other_sv, _) = create_state_version(&*store, &other_ws, 1, &["ip"]).await;
    let other_org_token = create_token(&*store, TokenKind::Organization, other.id()).await;
    let other_team_token = create_token(&*store, TokenKind::Team, &other.owners.id).await;

    store.delete_organization(acme.id()).await.unwrap();

    assert_eq!(store.organization_by_id(acme.id()).await.unwrap(), None);
    assert_eq!(store.organization_by_name("acme").await.unwrap(), None);
    assert_eq!(store.workspace_by_id(&ws.id).await.unwrap(), None);
    assert_eq!(store.project_by_id(&project.id).await.unwrap(), None);
    assert_eq!(store.default_project(acme.id()).await.unwrap(), None);
    assert_eq!(store.state_version_by_id(&sv.id).await.unwrap(), None);
    assert_eq!(
        store
            .state_version_output_by_id(&outputs[0].id)
            .await
            .unwrap(),
        None
    );
    assert!(store.state_version_ids(&ws.id).await.unwrap().is_empty());
    assert_eq!(store.tag_by_id(&tag.id).await.unwrap(), None);
    assert_eq!(store.token_by_id(&org_token.id).await.unwrap(), None);
    assert_eq!(store.token_by_id(&team_token.id).await.unwrap(), None);
    assert_eq!(role(&*store, acme.id(), &alice.id).await, None);

    // The user, their own token and the other organization are untouched.
    assert_eq!(
        store.user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.token_by_id(&user_token.id).await.unwrap(),
        Some(user_token)
    );
    assert_eq!(
        store.organization_by_id(other.id()).await.unwrap(),
        Some(other.org.clone())
    );
    assert_eq!(role(&*store, other.id(), &alice.id).await, Some("owner"));
    assert_eq!(reload(&*store, &other_ws).await, other_ws);
    assert_eq!(tags_of(&*store, &other_ws).await, [kv("env", "prod")]);
    assert!(store
        .state_version_by_id(&other_sv.id)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .token_by_id(&other_org_token.id)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .token_by_id(&other_team_token.id)
        .await
        .unwrap()
        .is_some());
}
contract!(organization_delete_cascades);

// ---------------------------------------------------------------------------------------------
// Users

/// Usernames are unique, on creation and on rename.
async fn usernames_are_unique(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_conflict(
        store.create_user(&new_user("alice")).await,
        "second user alice",
    );
    assert_eq!(store.count_users().await.unwrap(), 1);

    let bob = create_user(&*store, "bob").await;
    let mut renamed = bob.clone();
    renamed.username = "alice".into();
    assert_conflict(store.update_user(&renamed).await, "rename bob onto alice");
    assert_eq!(store.user_by_id(&bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.count_users().await.unwrap(), 2);
}
contract!(usernames_are_unique);

/// `update_user` writes username and email; `set_password_hash` the hash.
async fn user_update_and_password(store: Arc<dyn Store>) {
    let bob = create_user(&*store, "bob").await;
    let mut robert = bob.clone();
    robert.username = "robert".into();
    robert.email = "robert@example.com".into();
    store.update_user(&robert).await.unwrap();
    assert_eq!(store.user_by_username("bob").await.unwrap(), None);
    assert_eq!(
        store.user_by_username("robert").await.unwrap(),
        Some(robert.clone())
    );

    store
        .set_password_hash(&bob.id, "$argon2id$new")
        .await
        .unwrap();
    let reloaded = store.user_by_id(&bob.id).await.unwrap().unwrap();
    assert_eq!(reloaded.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(reloaded.username, "robert");
}
contract!(user_update_and_password);

// ---------------------------------------------------------------------------------------------
// Tokens

/// A token is found by the hash of its secret (how every API request authenticates).
async fn token_found_by_hash(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let token = create_token(&*store, TokenKind::User, &alice.id).await;
    let mut bare = new_token(TokenKind::User, &alice.id, clock::now());
    bare.description = None;
    bare.created_by = None;
    bare.last_used_at = None;
    bare.expires_at = None;
    store.create_token(&bare).await.unwrap();

    assert_eq!(
        store.token_by_hash(&token.secret_hash).await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(store.token_by_id(&token.id).await.unwrap(), Some(token));
    assert_eq!(
        store.token_by_hash(&bare.secret_hash).await.unwrap(),
        Some(bare)
    );
    assert_eq!(store.token_by_hash("0000").await.unwrap(), None);
}
contract!(token_found_by_hash);

/// Tokens of one owner and kind are listed newest first, in pages, with the total.
async fn tokens_listed_in_pages(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let now = clock::now();
    // Newest first: mine[0] is the most recent.
    let mine: Vec<Token> = (0..5)
        .map(|i| new_token(TokenKind::User, &alice.id, now - TimeDelta::minutes(i)))
        .collect();
    for token in mine.iter().rev() {
        store.create_token(token).await.unwrap();
    }
    // Noise: another user's token, and a token of another kind with the same owner id.
    create_token(&*store, TokenKind::User, &bob.id).await;
    create_token(&*store, TokenKind::Team, &alice.id).await;

    let mut seen = Vec::new();
    for (number, len) in [(1, 2), (2, 2), (3, 1), (4, 0)] {
        let listed = store
            .list_tokens(TokenKind::User, &alice.id, page(number, 2))
            .await
            .unwrap();
        assert_eq!(listed.total, 5, "page {number}");
        assert_eq!(listed.items.len(), len, "page {number}");
        seen.extend(listed.items);
    }
    assert_eq!(seen, mine);
}
contract!(tokens_listed_in_pages);

/// Deleting a token revokes it; touching it records its last use.
async fn token_delete_and_touch(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let token = create_token(&*store, TokenKind::User, &alice.id).await;
    let kept = create_token(&*store, TokenKind::User, &alice.id).await;

    let used = clock::now() + TimeDelta::hours(1);
    store.touch_token(&token.id, used).await.unwrap();
    let touched = store.token_by_id(&token.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(used));

    assert!(store.delete_token(&token.id).await.unwrap());
    assert_eq!(store.token_by_id(&token.id).await.unwrap(), None);
    assert_eq!(store.token_by_hash(&token.secret_hash).await.unwrap(), None);
    assert!(!store.delete_token(&token.id).await.unwrap());
    assert_eq!(store.token_by_id(&kept.id).await.unwrap(), Some(kept));
}
contract!(token_delete_and_touch);

/// Revoking all of a user's tokens takes only that user's tokens of that kind.
async fn tokens_revoked_per_owner(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let first = create_token(&*store, TokenKind::User, &alice.id).await;
    let second = create_token(&*store, TokenKind::User, &alice.id).await;
    let bobs = create_token(&*store, TokenKind::User, &bob.id).await;
    let team = create_token(&*store, TokenKind::Team, &alice.id).await;

    assert_eq!(
        store
            .delete_tokens_of(TokenKind::User, &alice.id)
            .await
            .unwrap(),
        2
    );
    for gone in [&first, &second] {
        assert_eq!(store.token_by_hash(&gone.secret_hash).await.unwrap(), None);
    }
    assert_eq!(store.token_by_id(&bobs.id).await.unwrap(), Some(bobs));
    assert_eq!(store.token_by_id(&team.id).await.unwrap(), Some(team));
    assert_eq!(
        store
            .delete_tokens_of(TokenKind::User, &alice.id)
            .await
            .unwrap(),
        0
    );
}
contract!(tokens_revoked_per_owner);

// ---------------------------------------------------------------------------------------------
// Projects

/// `filter[names]` is exact; `q` is a case-insensitive substring in which LIKE wildcards are
/// plain characters.
async fn projects_filtered(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    for name in ["alpha", "Beta", "100%done", "a_b", "axb"] {
        create_project(&*store, &acme, name).await;
    }
    create_project(&*store, &other, "alpha-elsewhere").await;

    let by_names = |names: &[&str]| ProjectFilter {
        names: names.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    };
    let by_query = |q: &str| ProjectFilter {
        query: Some(q.into()),
        ..Default::default()
    };
    let store = &*store;
    assert_eq!(
        project_names(store, &acme, by_names(&["alpha", "a_b", "nope"])).await,
        set(["alpha", "a_b"])
    );
    assert_eq!(
        project_names(store, &acme, by_names(&["ALPHA"])).await,
        set([])
    );
    assert_eq!(
        project_names(store, &acme, by_query("ALP")).await,
        set(["alpha"])
    );
    assert_eq!(
        project_names(store, &acme, by_query("bet")).await,
        set(["Beta"])
    );
    assert_eq!(
        project_names(store, &acme, by_query("%")).await,
        set(["100%done"])
    );
    assert_eq!(
        project_names(store, &acme, by_query("_")).await,
        set(["a_b"])
    );
    assert_eq!(
        project_names(store, &acme, by_query("a_")).await,
        set(["a_b"])
    );
    assert_eq!(
        project_names(store, &acme, ProjectFilter::default()).await,
        set(["Default Project", "alpha", "Beta", "100%done", "a_b", "axb"])
    );
    let second = store
        .list_projects(acme.id(), &ProjectFilter::default(), page(2, 4))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.total, 6);
}
contract!(projects_filtered);

/// Project names are unique within an organization, not across organizations.
async fn project_names_are_unique_per_organization(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let alpha = create_project(&*store, &acme, "alpha").await;
    assert_conflict(
        store
            .create_project(&new_project(&acme, "alpha"), &[])
            .await,
        "second project alpha",
    );
    create_project(&*store, &other, "alpha").await;

    let mut renamed = alpha.clone();
    renamed.name = "Default Project".into();
    assert_conflict(
        store.update_project(&renamed, None).await,
        "rename onto the default project",
    );
    renamed.name = "omega".into();
    renamed.description = "renamed".into();
    store.update_project(&renamed, None).await.unwrap();
    assert_eq!(store.project_by_id(&alpha.id).await.unwrap(), Some(renamed));
}
contract!(project_names_are_unique_per_organization);

fn bindings(pairs: &[(&str, &str)]) -> Vec<TagBinding> {
    pairs
        .iter()
        .map(|(key, value)| TagBinding {
            key: key.to_string(),
            value: value.to_string(),
        })
        .collect()
}

/// A project's tag bindings: created with it, merged (a known key keeps its place, new ones
/// go last), replaced whole by an update, filtered on, and its own; its default agent pool
/// round-trips and keeps the pool from being deleted.
async fn project_settings_and_tag_bindings(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let pool = new_agent_pool(&acme, "nas");
    store
        .create_agent_pool(&pool, &AgentPoolScope::default())
        .await
        .unwrap();
    let mut project = new_project(&acme, "tagged");
    project.default_execution_mode = Some(ExecutionMode::Agent);
    project.default_agent_pool_id = Some(pool.id.clone());
    store
        .create_project(&project, &bindings(&[("foo", "bar"), ("baz", "qux")]))
        .await
        .unwrap();
    let plain = create_project(&*store, &acme, "plain").await;
    assert_eq!(
        store.project_by_id(&project.id).await.unwrap().as_ref(),
        Some(&project)
    );
    assert_eq!(
        store.project_tag_bindings(&project.id).await.unwrap(),
        bindings(&[("foo", "bar"), ("baz", "qux")])
    );
    store
        .merge_project_tag_bindings(&project.id, &bindings(&[("alpha", "1"), ("foo", "new")]))
        .await
        .unwrap();
    assert_eq!(
        store.project_tag_bindings(&project.id).await.unwrap(),
        bindings(&[("foo", "new"), ("baz", "qux"), ("alpha", "1")])
    );
    assert_eq!(store.project_tag_bindings(&plain.id).await.unwrap(), vec![]);

    let tagged = |pairs: &[(&str, &str)]| ProjectFilter {
        tagged: bindings(pairs),
        ..Default::default()
    };
    let store_ref = &*store;
    assert_eq!(
        project_names(store_ref, &acme, tagged(&[("baz", "")])).await,
        set(["tagged"])
    );
    assert_eq!(
        project_names(store_ref, &acme, tagged(&[("baz", "qux"), ("alpha", "1")])).await,
        set(["tagged"])
    );
    assert_eq!(
        project_names(store_ref, &acme, tagged(&[("baz", "other")])).await,
        set([])
    );

    assert_eq!(
        store.agent_pool_projects(&pool.id).await.unwrap(),
        vec![project.clone()]
    );
    assert!(
        !store.delete_agent_pool(&pool.id).await.unwrap(),
        "a project's default"
    );
    project.default_execution_mode = Some(ExecutionMode::Remote);
    project.default_agent_pool_id = None;
    store
        .update_project(&project, Some(&bindings(&[("only", "this")])))
        .await
        .unwrap();
    assert_eq!(
        store.project_tag_bindings(&project.id).await.unwrap(),
        bindings(&[("only", "this")])
    );
    store.update_project(&project, Some(&[])).await.unwrap();
    assert_eq!(
        store.project_tag_bindings(&project.id).await.unwrap(),
        vec![]
    );
    assert!(store.delete_agent_pool(&pool.id).await.unwrap());
}
contract!(project_settings_and_tag_bindings);

/// A project in use cannot be deleted; once its workspaces are gone it can.
async fn project_delete_needs_it_empty(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let project = create_project(&*store, &acme, "extra").await;
    let mut ws = new_workspace(&acme, "in-extra");
    ws.project_id = project.id.clone();
    store.create_workspace(&ws, &[]).await.unwrap();
    create_workspace(&*store, &acme, "in-default", &[]).await;

    assert_eq!(
        store.count_project_workspaces(&project.id).await.unwrap(),
        1
    );
    assert!(store.delete_project(&project.id).await.is_err());
    ws.project_auto_destroy_activity_duration = project.auto_destroy_activity_duration.clone();
    assert_eq!(reload(&*store, &ws).await, ws);
    assert!(store.project_by_id(&project.id).await.unwrap().is_some());

    assert!(store.delete_workspace(&ws.id).await.unwrap());
    assert_eq!(
        store.count_project_workspaces(&project.id).await.unwrap(),
        0
    );
    store.delete_project(&project.id).await.unwrap();
    assert_eq!(store.project_by_id(&project.id).await.unwrap(), None);
}
contract!(project_delete_needs_it_empty);

// ---------------------------------------------------------------------------------------------
// Workspaces

/// A workspace reads back as written, by id or by name within its organization; names are
/// unique per organization.
async fn workspace_create_and_lookup(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[kv("env", "prod"), key("critical")]).await;

    assert_eq!(
        store.workspace_by_id(&ws.id).await.unwrap(),
        Some(ws.clone())
    );
    assert_eq!(
        store.workspace_by_name(acme.id(), "app").await.unwrap(),
        Some(ws.clone())
    );
    assert_eq!(
        store.workspace_by_name(other.id(), "app").await.unwrap(),
        None
    );
    assert_eq!(
        tags_of(&*store, &ws).await,
        [kv("env", "prod"), key("critical")]
    );

    // A workspace that inherits everything (the NULL columns).
    let mut plain = new_workspace(&acme, "plain");
    plain.execution_mode = None;
    plain.agent_pool_id = None;
    plain.source_name = None;
    plain.source_url = None;
    plain.auto_destroy_at = None;
    plain.trigger_prefixes = JsonText(vec![]);
    store.create_workspace(&plain, &[]).await.unwrap();
    assert_eq!(reload(&*store, &plain).await, plain);
    assert_eq!(tags_of(&*store, &plain).await, []);

    let dup = new_workspace(&acme, "app");
    assert_conflict(
        store.create_workspace(&dup, &[key("dup-only")]).await,
        "second workspace app",
    );
    assert_eq!(store.workspace_by_id(&dup.id).await.unwrap(), None);
    create_workspace(&*store, &other, "app", &[]).await;
}
contract!(workspace_create_and_lookup);

/// The auto-destroy sweep sees workspaces with a schedule that has come or an inactivity
/// duration (their own, or their project's while they inherit it), and a deadline is claimed
/// once: a second claim from the same reading fails, as on a second replica.
async fn auto_destroy_candidates_and_claims(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let now = clock::now();
    let project = create_project(&*store, &acme, "ephemeral").await;
    let names = |list: Vec<Workspace>| {
        let mut names: Vec<_> = list.into_iter().map(|w| w.name).collect();
        names.sort();
        names
    };
    let save = |ws: Workspace| {
        let store = store.clone();
        async move {
            store.create_workspace(&ws, &[]).await.unwrap();
            ws
        }
    };

    let mut plain = new_workspace(&acme, "a-plain");
    (plain.auto_destroy_at, plain.auto_destroy_activity_duration) = (None, None);
    save(plain).await;
    let mut later = new_workspace(&acme, "b-later");
    later.auto_destroy_activity_duration = None;
    let later = save(later).await;
    let mut scheduled = new_workspace(&acme, "c-scheduled");
    (
        scheduled.auto_destroy_at,
        scheduled.auto_destroy_activity_duration,
    ) = (Some(now - TimeDelta::seconds(1)), None);
    let scheduled = save(scheduled).await;
    let mut own = new_workspace(&acme, "d-own-duration");
    own.auto_destroy_at = None;
    save(own).await;
    let mut inherits = new_workspace(&acme, "e-inherits");
    (
        inherits.auto_destroy_at,
        inherits.auto_destroy_activity_duration,
    ) = (None, None);
    inherits.project_id = project.id.clone();
    inherits.inherits_project_auto_destroy = true;
    let inherits = save(inherits).await;
    let mut ignores = new_workspace(&acme, "f-inherits-nothing");
    (
        ignores.auto_destroy_at,
        ignores.inherits_project_auto_destroy,
    ) = (None, true);
    save(ignores).await;

    let candidates = store.auto_destroy_candidates(now).await.unwrap();
    assert_eq!(
        names(candidates.clone()),
        ["c-scheduled", "d-own-duration", "e-inherits"]
    );
    let read = candidates.iter().find(|w| w.id == inherits.id).unwrap();
    assert_eq!(
        read.project_auto_destroy_activity_duration.as_deref(),
        Some("3d")
    );

    // The first claim clears the schedule that came; one from the same reading fails.
    assert!(store
        .claim_auto_destroy(&scheduled.id, None, now)
        .await
        .unwrap());
    assert!(!store
        .claim_auto_destroy(&scheduled.id, None, now)
        .await
        .unwrap());
    let claimed = reload(&*store, &scheduled).await;
    assert_eq!(claimed.auto_destroy_at, None);
    assert_eq!(claimed.auto_destroy_queued_at, Some(now));
    // A later claim from the new reading succeeds (the next inactivity deadline)...
    let next = now + TimeDelta::seconds(5);
    assert!(store
        .claim_auto_destroy(&scheduled.id, Some(now), next)
        .await
        .unwrap());
    assert!(!store
        .claim_auto_destroy(&scheduled.id, Some(now), next)
        .await
        .unwrap());
    // ...and a claim keeps a schedule that has not come.
    assert!(store
        .claim_auto_destroy(&later.id, None, now)
        .await
        .unwrap());
    assert_eq!(
        reload(&*store, &later).await.auto_destroy_at,
        later.auto_destroy_at
    );
    assert_eq!(
        names(store.auto_destroy_candidates(now).await.unwrap()),
        ["d-own-duration", "e-inherits"]
    );
}
contract!(auto_destroy_candidates_and_claims);

/// `search[name]` is a case-insensitive substring and `search[wildcard-name]` a `*` pattern;
/// LIKE wildcards in either match only themselves. A name in capitals is found in any case,
/// and by its new name once renamed (PostgreSQL keeps the lower-cased name in the row).
async fn workspaces_filtered_by_name(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    for name in [
        "app-prod",
        "app-staging",
        "db-prod",
        "web-prod",
        "100%",
        "a_b",
        "axb",
        "back\\slash",
    ] {
        create_workspace(&*store, &acme, name, &[]).await;
    }
    let edge = create_workspace(&*store, &acme, "Edge-PROD", &[]).await;
    create_workspace(&*store, &other, "app-prod-elsewhere", &[]).await;

    let contains = |text: &str| WorkspaceFilter {
        name_contains: Some(text.into()),
        ..Default::default()
    };
    let wildcard = |pattern: &str| WorkspaceFilter {
        name_wildcard: Some(pattern.into()),
        ..Default::default()
    };
    let store = &*store;
    assert_eq!(
        workspace_names(store, &acme, contains("PROD")).await,
        set(["app-prod", "db-prod", "web-prod", "Edge-PROD"])
    );
    assert_eq!(
        workspace_names(store, &acme, contains("edge-p")).await,
        set(["Edge-PROD"])
    );
    assert_eq!(
        workspace_names(store, &acme, contains("%")).await,
        set(["100%"])
    );
    assert_eq!(
        workspace_names(store, &acme, contains("_")).await,
        set(["a_b"])
    );
    assert_eq!(
        workspace_names(store, &acme, contains("\\")).await,
        set(["back\\slash"])
    );
    assert_eq!(
        workspace_names(store, &acme, wildcard("app-*")).await,
        set(["app-prod", "app-staging"])
    );
    assert_eq!(
        workspace_names(store, &acme, wildcard("*-prod")).await,
        set(["app-prod", "db-prod", "web-prod", "Edge-PROD"])
    );
    assert_eq!(
        workspace_names(store, &acme, wildcard("*-st*")).await,
        set(["app-staging"])
    );
    // Without a `*` the pattern is the whole name.
    assert_eq!(
        workspace_names(store, &acme, wildcard("app-prod")).await,
        set(["app-prod"])
    );
    assert_eq!(
        workspace_names(store, &acme, wildcard("a_*")).await,
        set(["a_b"])
    );
    assert_eq!(workspace_names(store, &acme, wildcard("%")).await, set([]));
    assert_eq!(workspace_names(store, &acme, wildcard("*")).await.len(), 9);

    let mut renamed = edge.clone();
    renamed.name = "Edge-Staging".into();
    store.update_workspace(&renamed).await.unwrap();
    assert_eq!(
        workspace_names(store, &acme, contains("prod")).await,
        set(["app-prod", "db-prod", "web-prod"])
    );
    assert_eq!(
        workspace_names(store, &acme, wildcard("*-STAGING")).await,
        set(["app-staging", "Edge-Staging"])
    );
}
contract!(workspaces_filtered_by_name);

/// `search[tags]` needs every key, `search[exclude-tags]` none of them, `filter[tagged]` every
/// key with its value when one is given.
async fn workspaces_filtered_by_tags(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let s = &*store;
    create_workspace(
        s,
        &acme,
        "one",
        &[kv("env", "prod"), kv("team", "a"), key("critical")],
    )
    .await;
    create_workspace(s, &acme, "two", &[kv("env", "dev"), kv("team", "a")]).await;
    create_workspace(s, &acme, "three", &[key("critical")]).await;
    create_workspace(s, &acme, "four", &[]).await;
    // Another organization with the same tags: neither its workspaces nor their number (a
    // lone tag's list is counted from the tag's rows) reach acme's lists.
    let other = create_org(s, "other", None).await;
    for name in ["one", "two", "five"] {
        create_workspace(s, &other, name, &[kv("env", "prod"), kv("team", "a")]).await;
    }

    let filter =
        |tags: &[&str], exclude: &[&str], tagged: &[(&str, Option<&str>)]| WorkspaceFilter {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            exclude_tags: exclude.iter().map(|t| t.to_string()).collect(),
            tagged: tagged
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
            ..Default::default()
        };
    assert_eq!(
        workspace_names(s, &acme, filter(&["team"], &[], &[])).await,
        set(["one", "two"])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&["team", "critical"], &[], &[])).await,
        set(["one"])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&[], &["critical"], &[])).await,
        set(["two", "four"])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&[], &["critical", "env"], &[])).await,
        set(["four"])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&["team"], &["critical"], &[])).await,
        set(["two"])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&[], &[], &[("env", Some("prod"))])).await,
        set(["one"])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&[], &[], &[("env", None)])).await,
        set(["one", "two"])
    );
    assert_eq!(
        workspace_names(
            s,
            &acme,
            filter(&[], &[], &[("env", Some("dev")), ("team", Some("a"))])
        )
        .await,
        set(["two"])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&[], &[], &[("env", Some("staging"))])).await,
        set([])
    );
    assert_eq!(
        workspace_names(s, &acme, filter(&["missing"], &[], &[])).await,
        set([])
    );
}
contract!(workspaces_filtered_by_tags);

/// A lone tag's pages are walked in the tag's own index, which carries each workspace's
/// creation time: they follow the organization's list order from either end, whichever way
/// the tag was put on (at creation, added later, or bound to many workspaces at once), with
/// or without a value asked for, and nothing of another organization's tag of that name.
async fn a_tags_pages_follow_the_list_order(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let s = &*store;
    let mut made = Vec::new();
    for i in 0..9 {
        let tags = match i {
            1 => vec![kv("env", "dev")],
            4 | 6 => vec![key("spare")],
            _ => vec![kv("env", "prod")],
        };
        made.push(create_workspace(s, &acme, &format!("w{i}"), &tags).await);
        create_workspace(s, &other, &format!("o{i}"), &[kv("env", "prod")]).await;
    }
    s.add_workspace_tags(acme.id(), &made[4].id, &[kv("env", "prod")])
        .await
        .unwrap();
    create_workspace(s, &acme, "w9", &[kv("env", "prod")]).await;
    let env = tag_named(s, &acme, "env").await;
    s.tag_workspaces(&env.id, std::slice::from_ref(&made[6].id))
        .await
        .unwrap();

    let pages = |filter: WorkspaceFilter| {
        let org_id = acme.id().to_string();
        async move {
            let mut names = Vec::new();
            let mut total = 0;
            for number in 1..=5 {
                let listed = s
                    .list_workspaces(&org_id, &filter, page(number, 2))
                    .await
                    .unwrap();
                total = listed.total;
                names.extend(listed.items.into_iter().map(|ws| ws.name));
            }
            (names, total)
        }
    };
    let tagged = WorkspaceFilter {
        tags: vec!["env".to_string()],
        ..Default::default()
    };
    let all: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
    assert_eq!(pages(tagged).await, (all.clone(), 10));
    let prod = WorkspaceFilter {
        tagged: vec![("env".to_string(), Some("prod".to_string()))],
        ..Default::default()
    };
    let expected: Vec<String> = all
        .iter()
        .filter(|name| !["w1", "w6"].contains(&name.as_str()))
        .cloned()
        .collect();
    assert_eq!(pages(prod).await, (expected, 8));
}
contract!(a_tags_pages_follow_the_list_order);

/// Listings are sorted as asked (oldest first without), cut into pages, and count every
/// match in `total`.
async fn workspaces_listed_in_pages(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let project = create_project(&*store, &acme, "extra").await;
    for name in ["w4", "w2", "w5", "w1", "w3"] {
        create_workspace(&*store, &acme, name, &[]).await;
    }
    let mut elsewhere = new_workspace(&acme, "x-in-project");
    elsewhere.project_id = project.id.clone();
    store.create_workspace(&elsewhere, &[]).await.unwrap();
    create_workspace(&*store, &other, "w0", &[]).await;

    let only_w = WorkspaceFilter {
        name_contains: Some("w".into()),
        order: Some(WorkspaceOrder::Name { descending: false }),
        ..Default::default()
    };
    let mut pages = Vec::new();
    for number in 1..=4 {
        let listed = store
            .list_workspaces(acme.id(), &only_w, page(number, 2))
            .await
            .unwrap();
        assert_eq!(listed.total, 5, "page {number}");
        pages.push(names(&listed.items).join(","));
    }
    assert_eq!(pages, ["w1,w2", "w3,w4", "w5", ""]);
    // Pages past the middle are read from the end of the list: each still holds its place's
    // rows, whichever the order.
    for (order, want) in [
        (
            Some(WorkspaceOrder::Name { descending: true }),
            ["w5,w4", "w3,w2", "w1", ""],
        ),
        (None, ["w4,w2", "w5,w1", "w3", ""]),
    ] {
        let filter = WorkspaceFilter {
            order,
            ..only_w.clone()
        };
        let mut pages = Vec::new();
        for number in 1..=4 {
            let listed = store
                .list_workspaces(acme.id(), &filter, page(number, 2))
                .await
                .unwrap();
            pages.push(names(&listed.items).join(","));
        }
        assert_eq!(pages, want, "{order:?}");
    }
    let oldest_first = WorkspaceFilter {
        order: None,
        ..only_w.clone()
    };
    let listed = store
        .list_workspaces(acme.id(), &oldest_first, page(1, 10))
        .await
        .unwrap();
    assert_eq!(names(&listed.items), ["w4", "w2", "w5", "w1", "w3"]);

    let everything = store
        .list_workspaces(acme.id(), &WorkspaceFilter::default(), page(1, 3))
        .await
        .unwrap();
    assert_eq!(everything.total, 6);
    assert_eq!(everything.items.len(), 3);

    let in_project = WorkspaceFilter {
        project_id: Some(project.id.clone()),
        ..Default::default()
    };
    assert_eq!(
        workspace_names(&*store, &acme, in_project).await,
        set(["x-in-project"])
    );
}
contract!(workspaces_listed_in_pages);

/// An organization's whole list is not counted each time: the number of its workspaces is
/// kept as they are made (also many at once) and deleted, and an organization made again under
/// a deleted one's name starts from none.
async fn workspace_counts_kept(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let made: Vec<Workspace> = futures::future::join_all((0..40).map(|i| {
        let (store, ws) = (store.clone(), new_workspace(&acme, &format!("ws-{i}")));
        async move {
            store.create_workspace(&ws, &[]).await.unwrap();
            ws
        }
    }))
    .await;
    for name in ["a", "b", "c"] {
        create_workspace(&*store, &other, name, &[]).await;
    }
    for ws in &made[..7] {
        assert!(store.delete_workspace(&ws.id).await.unwrap());
    }
    assert!(!store.delete_workspace(&made[0].id).await.unwrap());

    let total = |org: String| {
        let store = store.clone();
        async move {
            let kept = store
                .list_workspaces(&org, &WorkspaceFilter::default(), page(1, 100))
                .await
                .unwrap();
            assert_eq!(kept.total, kept.items.len() as u64, "kept count of {org}");
            // A filter that keeps every workspace, counted.
            let counted = WorkspaceFilter {
                name_contains: Some(String::new()),
                ..Default::default()
            };
            let counted = store
                .list_workspaces(&org, &counted, page(1, 1))
                .await
                .unwrap();
            assert_eq!(kept.total, counted.total, "kept and counted, {org}");
            kept.total
        }
    };
    assert_eq!(total(acme.id().to_string()).await, 33);
    assert_eq!(total(other.id().to_string()).await, 3);

    store.delete_organization(other.id()).await.unwrap();
    let again = create_org(&*store, "other", None).await;
    assert_eq!(total(again.id().to_string()).await, 0);
    create_workspace(&*store, &again, "fresh", &[]).await;
    assert_eq!(total(again.id().to_string()).await, 1);
    assert_eq!(total(acme.id().to_string()).await, 33);
}
contract!(workspace_counts_kept);

/// A project's list is not counted each time either: the number of its workspaces is kept as
/// they are made (many at once), deleted and moved to another project, and another
/// organization naming the project lists none of them.
async fn project_workspace_counts_kept(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let project = create_project(&*store, &acme, "extra").await;
    let made: Vec<Workspace> = futures::future::join_all((0..30).map(|i| {
        let mut ws = new_workspace(&acme, &format!("ws-{i}"));
        ws.project_id = project.id.clone();
        let store = store.clone();
        async move {
            store.create_workspace(&ws, &[]).await.unwrap();
            ws
        }
    }))
    .await;
    create_workspace(&*store, &acme, "in-default", &[]).await;
    create_workspace(&*store, &other, "elsewhere", &[]).await;
    for ws in &made[..4] {
        assert!(store.delete_workspace(&ws.id).await.unwrap());
    }
    for ws in &made[4..7] {
        let moved = Workspace {
            project_id: acme.default_project.id.clone(),
            ..ws.clone()
        };
        store.update_workspace(&moved).await.unwrap();
    }

    let in_project = |org: String, project_id: String| {
        let store = store.clone();
        async move {
            let filter = WorkspaceFilter {
                project_id: Some(project_id),
                ..Default::default()
            };
            let kept = store
                .list_workspaces(&org, &filter, page(1, 100))
                .await
                .unwrap();
            assert_eq!(kept.total, kept.items.len() as u64, "kept count");
            // The same list with a condition that keeps every workspace, counted.
            let counted = WorkspaceFilter {
                name_contains: Some(String::new()),
                ..filter
            };
            let counted = store
                .list_workspaces(&org, &counted, page(1, 1))
                .await
                .unwrap();
            assert_eq!(kept.total, counted.total, "kept and counted");
            kept.total
        }
    };
    let (acme_id, other_id) = (acme.id().to_string(), other.id().to_string());
    assert_eq!(in_project(acme_id.clone(), project.id.clone()).await, 23);
    assert_eq!(
        in_project(acme_id.clone(), acme.default_project.id.clone()).await,
        4
    );
    assert_eq!(in_project(other_id.clone(), project.id.clone()).await, 0);
    assert_eq!(
        in_project(other_id, other.default_project.id.clone()).await,
        1
    );
    assert_eq!(in_project(acme_id, "prj-missing".to_string()).await, 0);
}
contract!(project_workspace_counts_kept);

/// What one workspace's read shows beside its row comes in one statement: its tags in their
/// order, its newest configuration version that is not provisional, and its variables by key
/// then category (these two only when asked for), and nothing of another workspace.
async fn workspace_related_in_one_read(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[kv("zone", "a"), key("critical")]).await;
    store
        .add_workspace_tags(acme.id(), &ws.id, &[kv("env", "prod")])
        .await
        .unwrap();
    let other = create_workspace(&*store, &acme, "other", &[key("other")]).await;
    let start = clock::now().trunc_subsecs(0);
    for (i, (workspace, provisional)) in [(&ws, false), (&ws, false), (&ws, true), (&other, false)]
        .into_iter()
        .enumerate()
    {
        let cv = ConfigurationVersion {
            id: format!("cv-{i}"),
            workspace_id: workspace.id.clone(),
            status: ConfigurationStatus::Uploaded,
            source: "tfe-api".into(),
            speculative: false,
            provisional,
            auto_queue_runs: false,
            size: 0,
            error: None,
            error_message: None,
            created_at: start + TimeDelta::seconds(i as i64),
            uploaded_at: None,
            archived_at: None,
            tarball_key: None,
        };
        store.create_configuration_version(&cv).await.unwrap();
    }
    for (id, workspace, key, category) in [
        ("var-1", &ws, "region", VariableCategory::Terraform),
        ("var-2", &ws, "AWS_REGION", VariableCategory::Env),
        ("var-3", &ws, "region", VariableCategory::Env),
        ("var-4", &other, "zone", VariableCategory::Terraform),
    ] {
        let variable = Variable {
            id: id.into(),
            workspace_id: Some(workspace.id.clone()),
            varset_id: None,
            key: key.into(),
            value_ciphertext: "sealed".into(),
            description: String::new(),
            category,
            hcl: false,
            sensitive: false,
            version_id: "v1".into(),
            created_at: start,
            updated_at: start,
        };
        store.create_variable(&variable).await.unwrap();
    }
    let read = |configuration_version, variables| {
        let (store, id) = (store.clone(), ws.id.clone());
        async move {
            let wanted = RelatedIds {
                configuration_version,
                variables,
            };
            store.workspace_related(&id, wanted).await.unwrap()
        }
    };
    let tags = [kv("zone", "a"), key("critical"), kv("env", "prod")];
    let (both_tags, both) = read(true, true).await;
    assert_eq!(both_tags, tags);
    assert_eq!(both.configuration_version.as_deref(), Some("cv-1"));
    assert_eq!(both.variables, ["var-2", "var-3", "var-1"]);
    let (none_tags, none) = read(false, false).await;
    assert_eq!(none_tags, tags);
    assert_eq!(none, RelatedIds::default());
    assert_eq!(read(false, true).await.1.configuration_version, None);
    assert!(read(true, false).await.1.variables.is_empty());
    let fresh = create_workspace(&*store, &acme, "fresh", &[]).await;
    let empty = store
        .workspace_related(
            &fresh.id,
            RelatedIds {
                configuration_version: true,
                variables: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(empty, (Vec::new(), RelatedIds::default()));
}
contract!(workspace_related_in_one_read);

/// The grants teams hold on many workspaces are read at once, each workspace with its own
/// and its project's, and only the given teams' count.
async fn workspace_grants_for_many_workspaces(store: Arc<dyn Store>) {
    use terrace_auth::policy::{ProjectLevel, WorkspaceLevel};
    let acme = create_org(&*store, "acme", None).await;
    let (one, two, three) = (
        create_team(&*store, &acme, "one", "organization").await,
        create_team(&*store, &acme, "two", "organization").await,
        create_team(&*store, &acme, "three", "organization").await,
    );
    let project = create_project(&*store, &acme, "granted").await;
    let mut in_project = Vec::new();
    for name in ["a", "b"] {
        let mut ws = new_workspace(&acme, name);
        ws.project_id = project.id.clone();
        store.create_workspace(&ws, &[]).await.unwrap();
        in_project.push(ws);
    }
    let elsewhere = create_workspace(&*store, &acme, "c", &[]).await;
    let write = WorkspaceGrant::of_level(WorkspaceLevel::Write);
    let maintain = ProjectAccess::of_level(ProjectLevel::Maintain);
    for (team, ws, grant) in [
        (&one, &in_project[0], write),
        (
            &three,
            &elsewhere,
            WorkspaceGrant::of_level(WorkspaceLevel::Admin),
        ),
    ] {
        store
            .create_team_workspace(&TeamWorkspace {
                id: ids::new_id("tws"),
                team_id: team.id.clone(),
                workspace_id: ws.id.clone(),
                access: "write".into(),
                grants: JsonText(grant),
                created_at: clock::now(),
            })
            .await
            .unwrap();
    }
    store
        .create_team_project(&TeamProject {
            id: ids::new_id("tprj"),
            team_id: two.id.clone(),
            project_id: project.id.clone(),
            access: "maintain".into(),
            grants: JsonText(maintain),
            created_at: clock::now(),
        })
        .await
        .unwrap();

    let placed: Vec<(String, String)> = in_project
        .iter()
        .chain([&elsewhere])
        .map(|ws| (ws.id.clone(), ws.project_id.clone()))
        .collect();
    let grants = store
        .workspace_grants(&[one.id.clone(), two.id.clone()], &placed)
        .await
        .unwrap();
    assert_eq!(grants.len(), 3, "every workspace asked about");
    assert_eq!(grants[&in_project[0].id], (vec![write], vec![maintain]));
    assert_eq!(grants[&in_project[1].id], (vec![], vec![maintain]));
    assert_eq!(
        grants[&elsewhere.id],
        (vec![], vec![]),
        "team three's is not asked about"
    );

    let none = store.workspace_grants(&[], &placed).await.unwrap();
    assert!(none.values().all(|(w, p)| w.is_empty() && p.is_empty()));
}
contract!(workspace_grants_for_many_workspaces);

/// Updating settings leaves the lock and the current state alone, even when the caller's copy
/// of the workspace predates them.
async fn workspace_update_keeps_lock(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    create_workspace(&*store, &acme, "taken", &[]).await;
    let (sv, _) = create_state_version(&*store, &ws, 1, &[]).await;
    let managed = vec![resource("managed", "aws_instance", "web")];
    assert!(store
        .finalize_state_version(&sv.id, &summary(managed))
        .await
        .unwrap());
    let holder = LockHolder {
        kind: LockHolderKind::User,
        id: "user-holder".into(),
    };
    let locked_at = clock::now();
    assert!(store
        .lock_workspace(&ws.id, &holder, Some("maintenance"), locked_at)
        .await
        .unwrap());

    // `ws` is the stale copy from before the lock and the state.
    let mut changed = ws.clone();
    changed.name = "renamed".into();
    changed.description = "new description".into();
    changed.auto_apply = false;
    changed.execution_mode = Some(ExecutionMode::Remote);
    changed.terraform_version = "1.10.0".into();
    changed.trigger_prefixes = JsonText(vec!["a/".into(), "b/".into()]);
    changed.auto_destroy_at = None;
    changed.updated_at = ws.updated_at + TimeDelta::seconds(3);
    store.update_workspace(&changed).await.unwrap();

    let mut expected = changed.clone();
    expected.lock_kind = Some(LockHolderKind::User);
    expected.lock_holder_id = Some("user-holder".into());
    expected.lock_reason = Some("maintenance".into());
    expected.locked_at = Some(locked_at);
    expected.current_state_version_id = Some(sv.id.clone());
    expected.resource_count = 1;
    expected.state_updated_at = Some(sv.created_at);
    assert_eq!(reload(&*store, &ws).await, expected);

    let mut clash = expected.clone();
    clash.name = "taken".into();
    assert_conflict(store.update_workspace(&clash).await, "rename onto taken");
    assert_eq!(reload(&*store, &ws).await, expected);
}
contract!(workspace_update_keeps_lock);

/// A lock is taken only when nobody holds it, not even by its current holder.
async fn workspace_lock_only_when_unlocked(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let alice = LockHolder {
        kind: LockHolderKind::User,
        id: "user-alice".into(),
    };
    let run = LockHolder {
        kind: LockHolderKind::Run,
        id: "run-1".into(),
    };
    let at = clock::now();

    assert!(store
        .lock_workspace(&ws.id, &alice, Some("maintenance"), at)
        .await
        .unwrap());
    assert!(!store.lock_workspace(&ws.id, &run, None, at).await.unwrap());
    assert!(!store
        .lock_workspace(&ws.id, &alice, Some("again"), at)
        .await
        .unwrap());

    let got = reload(&*store, &ws).await;
    assert_eq!(got.lock_holder(), Some(alice));
    assert_eq!(got.lock_reason.as_deref(), Some("maintenance"));
    assert_eq!(got.locked_at, Some(at));
    assert!(!store
        .lock_workspace("ws-missing", &run, None, at)
        .await
        .unwrap());
}
contract!(workspace_lock_only_when_unlocked);

/// Unlocking needs the holder (same kind and id); `None` forces any lock open.
async fn workspace_unlock_needs_the_holder(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let holder = |kind, id: &str| LockHolder {
        kind,
        id: id.to_string(),
    };
    let alice = holder(LockHolderKind::User, "user-alice");
    let at = clock::now();

    assert!(store
        .lock_workspace(&ws.id, &alice, Some("r"), at)
        .await
        .unwrap());
    let bob = holder(LockHolderKind::User, "user-bob");
    assert!(!store.unlock_workspace(&ws.id, Some(&bob)).await.unwrap());
    let same_id_other_kind = holder(LockHolderKind::Run, "user-alice");
    assert!(!store
        .unlock_workspace(&ws.id, Some(&same_id_other_kind))
        .await
        .unwrap());
    assert_eq!(
        reload(&*store, &ws).await.lock_holder(),
        Some(alice.clone())
    );

    assert!(store.unlock_workspace(&ws.id, Some(&alice)).await.unwrap());
    assert_eq!(
        reload(&*store, &ws).await,
        ws,
        "every lock column is cleared"
    );
    assert!(!store.unlock_workspace(&ws.id, Some(&alice)).await.unwrap());
    assert!(!store.unlock_workspace(&ws.id, None).await.unwrap());

    let run = holder(LockHolderKind::Run, "run-1");
    assert!(store.lock_workspace(&ws.id, &run, None, at).await.unwrap());
    assert!(store.unlock_workspace(&ws.id, None).await.unwrap());
    assert_eq!(reload(&*store, &ws).await, ws);
}
contract!(workspace_unlock_needs_the_holder);

/// Deleting a workspace takes its tags and state versions with it.
async fn workspace_delete(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[key("shared")]).await;
    let kept = create_workspace(&*store, &acme, "kept", &[key("shared")]).await;
    let (sv, _) = create_state_version(&*store, &ws, 1, &["out"]).await;

    assert!(store.delete_workspace(&ws.id).await.unwrap());
    assert_eq!(store.workspace_by_id(&ws.id).await.unwrap(), None);
    assert_eq!(store.state_version_by_id(&sv.id).await.unwrap(), None);
    assert_eq!(
        tag_counts(&*store, &acme, TagFilter::default()).await,
        BTreeMap::from([("shared".to_string(), 1)])
    );
    assert!(!store.delete_workspace(&ws.id).await.unwrap());
    assert_eq!(reload(&*store, &kept).await, kept);
}
contract!(workspace_delete);

/// Many clients racing for one lock: exactly one gets it, and the lock names that one.
async fn concurrent_locks_have_one_winner(store: Arc<dyn Store>) {
    const N: usize = 16;
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (store, start, ws_id) = (store.clone(), start.clone(), ws.id.clone());
            tokio::spawn(async move {
                let me = LockHolder {
                    kind: LockHolderKind::Run,
                    id: format!("run-{i}"),
                };
                start.wait().await;
                let won = store
                    .lock_workspace(&ws_id, &me, None, clock::now())
                    .await
                    .unwrap();
                (me, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (me, won) = task.await.unwrap();
        if won {
            winners.push(me);
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(
        reload(&*store, &ws).await.lock_holder(),
        Some(winners.remove(0))
    );
}
contract!(concurrent_locks_have_one_winner);

// ---------------------------------------------------------------------------------------------
// Tags

/// Adding a key the workspace already has replaces its value and keeps its place; new keys
/// follow in the order given; each key is one organization tag however many workspaces carry
/// it.
async fn tag_values_are_replaced(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[kv("env", "dev")]).await;
    let other = create_workspace(&*store, &acme, "other", &[kv("env", "dev")]).await;

    store
        .add_workspace_tags(
            acme.id(),
            &ws.id,
            &[kv("zone", "a"), kv("env", "prod"), key("critical")],
        )
        .await
        .unwrap();
    assert_eq!(
        tags_of(&*store, &ws).await,
        [kv("env", "prod"), kv("zone", "a"), key("critical")]
    );
    // A key given twice in one call is one binding: the last value, in the first one's place.
    let beta = create_org(&*store, "beta", None).await;
    let twice = create_workspace(
        &*store,
        &beta,
        "twice",
        &[kv("a", "1"), key("b"), kv("a", "2")],
    )
    .await;
    assert_eq!(tags_of(&*store, &twice).await, [kv("a", "2"), key("b")]);
    store
        .add_workspace_tags(beta.id(), &twice.id, &[kv("c", "1"), kv("c", "")])
        .await
        .unwrap();
    assert_eq!(
        tags_of(&*store, &twice).await,
        [kv("a", "2"), key("b"), key("c")]
    );
    // However many tags a request names (more than one statement's parameters allow on
    // either database), they are written, in order.
    let many: Vec<TagBinding> = (0..17_000).map(|i| key(&format!("k{i:05}"))).collect();
    let crowded = create_workspace(&*store, &beta, "crowded", &many).await;
    assert_eq!(tags_of(&*store, &crowded).await, many);
    // Valued and key-only replace each other too.
    store
        .add_workspace_tags(acme.id(), &ws.id, &[kv("critical", "yes"), key("env")])
        .await
        .unwrap();
    assert_eq!(
        tags_of(&*store, &ws).await,
        [key("env"), kv("zone", "a"), kv("critical", "yes")]
    );
    // A tag put on workspaces by ID goes last.
    let added = tag_named(&*store, &acme, "zone").await;
    store
        .tag_workspaces(&added.id, std::slice::from_ref(&other.id))
        .await
        .unwrap();
    assert_eq!(
        tags_of(&*store, &other).await,
        [kv("env", "dev"), key("zone")]
    );
    store
        .remove_workspace_tags(&other.id, &["zone".into()])
        .await
        .unwrap();
    assert_eq!(tags_of(&*store, &other).await, [kv("env", "dev")]);
    assert_eq!(
        tag_counts(&*store, &acme, TagFilter::default()).await,
        BTreeMap::from([
            ("critical".to_string(), 1),
            ("env".to_string(), 2),
            ("zone".to_string(), 1)
        ])
    );
}
contract!(tag_values_are_replaced);

/// Reserved tag keys: every column read back, a key unique per organization (create and
/// rename), listed oldest first, the keys with overrides disabled, gone with delete.
async fn reserved_tag_keys_round_trip(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let at = clock::now();
    let reserved =
        |org: &OrgFixture, key: &str, disable_overrides: bool, minutes: i64| ReservedTagKey {
            id: ids::new_id(ids::RESERVED_TAG_KEY),
            organization_id: org.id().to_string(),
            key: key.to_string(),
            disable_overrides,
            created_at: at + TimeDelta::minutes(minutes),
            updated_at: at + TimeDelta::minutes(minutes + 1),
        };
    let env = reserved(&acme, "env", true, 1);
    let team = reserved(&acme, "team", false, 0);
    for key in [&env, &team, &reserved(&other, "env", false, 0)] {
        store.create_reserved_tag_key(key).await.unwrap();
    }
    assert_eq!(
        store.reserved_tag_key_by_id(&env.id).await.unwrap(),
        Some(env.clone())
    );
    assert!(matches!(
        store
            .create_reserved_tag_key(&reserved(&acme, "env", false, 2))
            .await,
        Err(StorageError::Conflict(_))
    ));
    let page = store
        .list_reserved_tag_keys(
            acme.id(),
            PageRequest {
                number: 1,
                size: 20,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items, [team.clone(), env.clone()]);
    assert_eq!(
        store.override_locked_tag_keys(acme.id()).await.unwrap(),
        ["env"]
    );

    let renamed = ReservedTagKey {
        key: "env".into(),
        ..team.clone()
    };
    assert!(matches!(
        store.update_reserved_tag_key(&renamed).await,
        Err(StorageError::Conflict(_))
    ));
    let changed = ReservedTagKey {
        key: "owner".into(),
        disable_overrides: true,
        updated_at: at + TimeDelta::minutes(5),
        ..team.clone()
    };
    store.update_reserved_tag_key(&changed).await.unwrap();
    assert_eq!(
        store.reserved_tag_key_by_id(&team.id).await.unwrap(),
        Some(changed)
    );
    assert_eq!(
        store.override_locked_tag_keys(acme.id()).await.unwrap(),
        ["env", "owner"]
    );
    store.delete_reserved_tag_key(&env.id).await.unwrap();
    assert_eq!(store.reserved_tag_key_by_id(&env.id).await.unwrap(), None);
    assert_eq!(
        store.override_locked_tag_keys(other.id()).await.unwrap(),
        Vec::<String>::new()
    );
}
contract!(reserved_tag_keys_round_trip);

/// Removing a tag from a workspace leaves the organization tag (with one use fewer) and other
/// workspaces' tags.
async fn tag_removed_from_workspace(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[kv("env", "prod"), key("team")]).await;
    let other = create_workspace(&*store, &acme, "other", &[kv("env", "dev")]).await;

    store
        .remove_workspace_tags(&ws.id, &["env".into(), "absent".into()])
        .await
        .unwrap();
    assert_eq!(tags_of(&*store, &ws).await, [key("team")]);
    assert_eq!(tags_of(&*store, &other).await, [kv("env", "dev")]);

    store
        .remove_workspace_tags(&ws.id, &["team".into()])
        .await
        .unwrap();
    assert_eq!(tags_of(&*store, &ws).await, []);
    assert_eq!(
        tag_counts(&*store, &acme, TagFilter::default()).await,
        BTreeMap::from([("env".to_string(), 1), ("team".to_string(), 0)])
    );
}
contract!(tag_removed_from_workspace);

/// The organization's tags come with their instance counts and filter by name substring, by
/// not being on a workspace, or by being a key-only tag of a workspace.
async fn tags_listed_with_counts_and_filters(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let s = &*store;
    let one = create_workspace(s, &acme, "one", &[key("shared"), kv("env", "prod")]).await;
    create_workspace(s, &acme, "two", &[key("shared"), key("solo")]).await;
    let three = create_workspace(s, &acme, "three", &[key("50%")]).await;
    create_workspace(s, &other, "one", &[key("shared"), key("foreign")]).await;

    let counts = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    };
    let everything = counts(&[("50%", 1), ("env", 1), ("shared", 2), ("solo", 1)]);
    assert_eq!(tag_counts(s, &acme, TagFilter::default()).await, everything);
    let query = |q: &str| TagFilter {
        query: Some(q.into()),
        ..Default::default()
    };
    assert_eq!(
        tag_counts(s, &acme, query("HAR")).await,
        counts(&[("shared", 2)])
    );
    assert_eq!(
        tag_counts(s, &acme, query("%")).await,
        counts(&[("50%", 1)])
    );
    let not_on = |ws: &Workspace| TagFilter {
        exclude_workspace: Some(ws.id.clone()),
        ..Default::default()
    };
    assert_eq!(
        tag_counts(s, &acme, not_on(&one)).await,
        counts(&[("50%", 1), ("solo", 1)])
    );
    assert_eq!(tag_counts(s, &acme, not_on(&three)).await.len(), 3);
    let key_only_on = TagFilter {
        on_workspace: Some(one.id.clone()),
        ..Default::default()
    };
    assert_eq!(
        tag_counts(s, &acme, key_only_on).await,
        counts(&[("shared", 2)])
    );

    let second = store
        .list_tags(acme.id(), &TagFilter::default(), page(2, 3))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.total, 4);

    // By id: only the organization's own, with counts.
    let shared = tag_named(s, &acme, "shared").await;
    let solo = tag_named(s, &acme, "solo").await;
    let foreign = tag_named(s, &other, "foreign").await;
    assert_eq!(shared.instance_count, 2);
    assert_eq!(
        store.tag_by_id(&shared.id).await.unwrap(),
        Some(shared.clone())
    );
    assert_eq!(
        store
            .tags_by_ids(
                acme.id(),
                &[solo.id.clone(), shared.id.clone(), foreign.id.clone()]
            )
            .await
            .unwrap(),
        vec![shared, solo]
    );
    assert_eq!(store.tag_by_id("tag-missing").await.unwrap(), None);
}
contract!(tags_listed_with_counts_and_filters);

/// Deleting organization tags removes them from every workspace, and only in that organization.
async fn deleted_tags_leave_every_workspace(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let s = &*store;
    let one = create_workspace(s, &acme, "one", &[key("a"), kv("b", "1")]).await;
    let two = create_workspace(s, &acme, "two", &[key("a")]).await;
    let a = tag_named(s, &acme, "a").await;

    // Another organization cannot delete acme's tag.
    store
        .delete_tags(other.id(), std::slice::from_ref(&a.id))
        .await
        .unwrap();
    assert_eq!(store.tag_by_id(&a.id).await.unwrap(), Some(a.clone()));

    store
        .delete_tags(acme.id(), std::slice::from_ref(&a.id))
        .await
        .unwrap();
    assert_eq!(store.tag_by_id(&a.id).await.unwrap(), None);
    assert_eq!(tags_of(s, &one).await, [kv("b", "1")]);
    assert_eq!(tags_of(s, &two).await, []);
    let tagged_a = WorkspaceFilter {
        tags: vec!["a".into()],
        ..Default::default()
    };
    assert_eq!(workspace_names(s, &acme, tagged_a).await, set([]));
}
contract!(deleted_tags_leave_every_workspace);

/// `tag_workspaces` puts an existing tag on several workspaces at once, after their others.
async fn tag_put_on_workspaces(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let s = &*store;
    let tagged = create_workspace(s, &acme, "tagged", &[key("env")]).await;
    let one = create_workspace(s, &acme, "one", &[]).await;
    let two = create_workspace(s, &acme, "two", &[kv("team", "a")]).await;
    let env = tag_named(s, &acme, "env").await;

    store
        .tag_workspaces(
            &env.id,
            &[one.id.clone(), two.id.clone(), tagged.id.clone()],
        )
        .await
        .unwrap();
    assert_eq!(tags_of(s, &one).await, [key("env")]);
    assert_eq!(tags_of(s, &two).await, [kv("team", "a"), key("env")]);
    assert_eq!(tags_of(s, &tagged).await, [key("env")]);
    assert_eq!(
        store
            .tag_by_id(&env.id)
            .await
            .unwrap()
            .unwrap()
            .instance_count,
        3
    );
}
contract!(tag_put_on_workspaces);

/// Workspaces created or tagged at the same time with the same new tags, listed in different
/// orders, all succeed and share one organization tag per key. Several rounds, each with new
/// keys, because the race is only lost some of the time.
async fn concurrent_tagging_with_new_tags(store: Arc<dyn Store>) {
    const N: usize = 12;
    const ROUNDS: usize = 5;
    let acme = Arc::new(create_org(&*store, "acme", None).await);
    let mut existing = Vec::new();
    for i in 0..N / 2 {
        existing.push(create_workspace(&*store, &acme, &format!("existing-{i}"), &[]).await);
    }
    for round in 0..ROUNDS {
        let keys: Vec<String> = (0..6).map(|k| format!("r{round}-k{k}")).collect();
        let start = Arc::new(Barrier::new(N));
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let (store, start, acme) = (store.clone(), start.clone(), acme.clone());
                // Each task lists the keys rotated differently.
                let tags: Vec<TagBinding> = (0..keys.len())
                    .map(|j| key(&keys[(i + j) % keys.len()]))
                    .collect();
                // Half create a workspace with the tags, half add them to an existing one.
                let target = (i % 2 == 1).then(|| existing[i / 2].id.clone());
                tokio::spawn(async move {
                    let ws = new_workspace(&acme, &format!("ws-{round}-{i}"));
                    start.wait().await;
                    match target {
                        None => store.create_workspace(&ws, &tags).await,
                        Some(id) => store.add_workspace_tags(acme.id(), &id, &tags).await,
                    }
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            if let Err(err) = task.await.unwrap() {
                panic!("round {round}, task {i}: tagging concurrently failed: {err}");
            }
        }
    }
    let counts = tag_counts(&*store, &acme, TagFilter::default()).await;
    assert_eq!(counts.len(), ROUNDS * 6);
    for (key, count) in counts {
        assert_eq!(count, N as i64, "workspaces tagged {key}");
    }
}
contract!(concurrent_tagging_with_new_tags);

// ---------------------------------------------------------------------------------------------
// State versions

/// The current resources of an organization's workspaces that have a state: theirs alone,
/// the current version's, none for a workspace without state or of another organization,
/// and none for teams that were given nothing.
async fn current_resources(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let app = create_workspace(&*store, &acme, "app", &[]).await;
    create_workspace(&*store, &acme, "empty", &[]).await;
    let (first, _) = create_state_version(&*store, &app, 1, &[]).await;
    store
        .finalize_state_version(
            &first.id,
            &summary(vec![resource("managed", "aws_vpc", "old")]),
        )
        .await
        .unwrap();
    let (second, _) = create_state_version(&*store, &app, 2, &[]).await;
    let now = vec![resource("managed", "aws_instance", "web")];
    store
        .finalize_state_version(&second.id, &summary(now.clone()))
        .await
        .unwrap();
    let other = create_org(&*store, "other", None).await;
    let theirs = create_workspace(&*store, &other, "theirs", &[]).await;
    let (sv, _) = create_state_version(&*store, &theirs, 1, &[]).await;
    store
        .finalize_state_version(
            &sv.id,
            &summary(vec![resource("managed", "aws_s3_bucket", "x")]),
        )
        .await
        .unwrap();

    let found = store.current_resources(acme.id(), None).await.unwrap();
    assert_eq!(
        found,
        vec![CurrentResources {
            workspace_id: app.id.clone(),
            workspace_name: "app".into(),
            project_id: app.project_id.clone(),
            resources: JsonText(now),
        }]
    );
    let team = create_team(&*store, &acme, "nothing-given", "organization").await;
    let none = store
        .current_resources(acme.id(), Some(std::slice::from_ref(&team.id)))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
}
contract!(current_resources);

/// Creating a state version discards the workspace's older pending one, which can then no
/// longer be finalized.
async fn new_state_version_discards_pending(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let other_ws = create_workspace(&*store, &acme, "other", &[]).await;
    let (other_pending, _) = create_state_version(&*store, &other_ws, 1, &[]).await;

    let (sv1, _) = create_state_version(&*store, &ws, 1, &[]).await;
    assert_eq!(
        store.state_version_by_id(&sv1.id).await.unwrap(),
        Some(sv1.clone())
    );
    let (sv2, _) = create_state_version(&*store, &ws, 2, &[]).await;

    let status = |id: String| {
        let store = store.clone();
        async move {
            store
                .state_version_by_id(&id)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(status(sv1.id.clone()).await, StateVersionStatus::Discarded);
    assert_eq!(status(sv2.id.clone()).await, StateVersionStatus::Pending);
    assert_eq!(
        status(other_pending.id.clone()).await,
        StateVersionStatus::Pending
    );

    assert!(!store
        .finalize_state_version(&sv1.id, &summary(vec![]))
        .await
        .unwrap());
    assert_eq!(reload(&*store, &ws).await.current_state_version_id, None);

    // A finalized version is not discarded by the next one.
    assert!(store
        .finalize_state_version(&sv2.id, &summary(vec![]))
        .await
        .unwrap());
    create_state_version(&*store, &ws, 3, &[]).await;
    assert_eq!(status(sv2.id.clone()).await, StateVersionStatus::Finalized);
    assert_eq!(
        reload(&*store, &ws).await.current_state_version_id,
        Some(sv2.id.clone())
    );
}
contract!(new_state_version_discards_pending);

/// Backing data moves by compare-and-set, never for the workspace's current state; the sweep's
/// soft deletion takes what is older than the cutoff, finalized, and not current.
async fn state_backing_data_transitions(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let mut ids = Vec::new();
    for serial in 1..=3 {
        let (sv, _) = create_state_version(&*store, &ws, serial, &[]).await;
        assert!(store
            .finalize_state_version(&sv.id, &summary(vec![]))
            .await
            .unwrap());
        ids.push(sv.id);
    }
    let status = |id: &str| {
        let (store, id) = (store.clone(), id.to_string());
        async move {
            store
                .state_version_by_id(&id)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    use StateVersionStatus::*;
    // The current state never moves; a wrong `from` changes nothing.
    assert!(!store
        .transition_state_version(&ids[2], Finalized, BackingDataSoftDeleted)
        .await
        .unwrap());
    assert!(!store
        .transition_state_version(&ids[0], BackingDataSoftDeleted, Finalized)
        .await
        .unwrap());
    assert!(store
        .transition_state_version(&ids[0], Finalized, BackingDataSoftDeleted)
        .await
        .unwrap());
    assert_eq!(status(&ids[0]).await, BackingDataSoftDeleted);
    let listed = store.list_state_versions(&ws.id, all()).await.unwrap();
    assert_eq!(listed.total, 3, "soft-deleted versions are still listed");
    assert!(store
        .transition_state_version(&ids[0], BackingDataSoftDeleted, Finalized)
        .await
        .unwrap());

    let swept = store
        .soft_delete_state_versions_before(&ws.id, clock::now() + TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(swept, 2, "all but the current one");
    assert_eq!(status(&ids[1]).await, BackingDataSoftDeleted);
    assert_eq!(status(&ids[2]).await, Finalized);
    let none = store
        .soft_delete_state_versions_before(&ws.id, clock::now() - TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(none, 0);
}
contract!(state_backing_data_transitions);

/// A policy per owner: setting it again keeps its ID unless its kind changes; the subjects of
/// the sweep are the workspaces under their own or their organization's policy.
async fn data_retention_policies(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let follows = create_workspace(&*store, &acme, "follows", &[]).await;
    let own = create_workspace(&*store, &other, "own", &[]).await;
    create_workspace(&*store, &other, "none", &[]).await;
    let policy =
        |id: &str, org: &OrgFixture, ws: Option<&Workspace>, kind, days| DataRetentionPolicy {
            id: id.into(),
            organization_id: org.id().into(),
            workspace_id: ws.map(|w| w.id.clone()),
            kind,
            delete_older_than_n_days: days,
            updated_at: clock::now(),
        };
    use DataRetentionKind::*;
    let set = store
        .set_data_retention_policy(&policy("drp-1", &acme, None, DeleteOlder, Some(30)))
        .await
        .unwrap();
    assert_eq!(
        (set.id.as_str(), set.delete_older_than_n_days),
        ("drp-1", Some(30))
    );
    let again = store
        .set_data_retention_policy(&policy("drp-2", &acme, None, DeleteOlder, Some(5)))
        .await
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.delete_older_than_n_days),
        ("drp-1", Some(5))
    );
    let changed = store
        .set_data_retention_policy(&policy("drp-3", &acme, None, DontDelete, None))
        .await
        .unwrap();
    assert_eq!((changed.id.as_str(), changed.kind), ("drp-3", DontDelete));
    store
        .set_data_retention_policy(&policy("drp-4", &other, Some(&own), DeleteOlder, Some(7)))
        .await
        .unwrap();

    let found = store
        .data_retention_policies(&[
            acme.id().to_string(),
            own.id.clone(),
            other.id().to_string(),
        ])
        .await
        .unwrap();
    let mut ids: Vec<&str> = found.iter().map(|p| p.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["drp-3", "drp-4"]);

    let subjects = store.retention_subjects().await.unwrap();
    let mut expected = vec![
        RetentionSubject {
            workspace_id: follows.id.clone(),
            organization_kind: Some(DontDelete),
            organization_days: None,
            workspace_kind: None,
            workspace_days: None,
        },
        RetentionSubject {
            workspace_id: own.id.clone(),
            organization_kind: None,
            organization_days: None,
            workspace_kind: Some(DeleteOlder),
            workspace_days: Some(7),
        },
    ];
    expected.sort_by(|a, b| a.workspace_id.cmp(&b.workspace_id));
    assert_eq!(subjects, expected);

    assert!(store.delete_data_retention_policy(acme.id()).await.unwrap());
    assert!(!store.delete_data_retention_policy(acme.id()).await.unwrap());
    assert_eq!(store.retention_subjects().await.unwrap().len(), 1);
}
contract!(data_retention_policies);

/// Finalizing records what the upload revealed and makes the version the workspace's current
/// state (with its managed-resource count); it happens once.
async fn finalize_once_sets_current_state(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let (sv, outputs) = create_state_version(&*store, &ws, 1, &["ip"]).await;
    let resources = vec![
        resource("managed", "aws_instance", "web"),
        resource("managed", "aws_s3_bucket", "logs"),
        resource("data", "aws_ami", "ubuntu"),
    ];

    assert!(store
        .state_version_resources(&sv.id)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .finalize_state_version(&sv.id, &summary(resources.clone()))
        .await
        .unwrap());
    let mut expected = sv.clone();
    expected.status = StateVersionStatus::Finalized;
    expected.size = 1234;
    expected.terraform_version = Some("1.9.5".into());
    expected.resource_count = 2;
    assert_eq!(
        store.state_version_by_id(&sv.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        store.state_version_resources(&sv.id).await.unwrap(),
        resources,
        "in the order the summary gave them"
    );
    assert!(store
        .state_version_resources("sv-unknown")
        .await
        .unwrap()
        .is_empty());
    // Without outputs in the summary, those given at creation stay.
    assert_eq!(store.state_version_outputs(&sv.id).await.unwrap(), outputs);

    let current = reload(&*store, &ws).await;
    assert_eq!(current.current_state_version_id, Some(sv.id.clone()));
    assert_eq!(current.resource_count, 2);
    let listed = store
        .list_workspaces(acme.id(), &WorkspaceFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![current]);

    // A second finalize changes nothing.
    let mut again = summary(vec![]);
    again.size = 1;
    again.outputs = Some(vec![]);
    assert!(!store.finalize_state_version(&sv.id, &again).await.unwrap());
    assert_eq!(
        store.state_version_by_id(&sv.id).await.unwrap(),
        Some(expected)
    );
    assert_eq!(store.state_version_outputs(&sv.id).await.unwrap(), outputs);

    // The next finalized version takes over. Its resource list may be cut short (very large
    // states): the count is the summary's, not the listing's.
    let (sv2, _) = create_state_version(&*store, &ws, 2, &[]).await;
    let mut truncated = summary(vec![resource("managed", "aws_instance", "web")]);
    truncated.resource_count = 5000;
    truncated.terraform_version = None;
    assert!(store
        .finalize_state_version(&sv2.id, &truncated)
        .await
        .unwrap());
    let current = reload(&*store, &ws).await;
    assert_eq!(current.current_state_version_id, Some(sv2.id.clone()));
    assert_eq!(current.resource_count, 5000);
    let sv2 = store.state_version_by_id(&sv2.id).await.unwrap().unwrap();
    assert_eq!(sv2.resource_count, 5000);
    // No version in the state: the one given at creation stays.
    assert_eq!(sv2.terraform_version.as_deref(), Some("1.9.0"));
}
contract!(finalize_once_sets_current_state);

/// A page of versions has its outputs and resources read at once: each version gets its own
/// (outputs by name), and none for a version without any or one that does not exist.
async fn outputs_and_resources_of_many_versions(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let other = create_workspace(&*store, &acme, "other", &[]).await;
    let (first, first_outputs) = create_state_version(&*store, &ws, 1, &["zone", "ip"]).await;
    let (second, second_outputs) = create_state_version(&*store, &other, 1, &["name"]).await;
    let first_resources = vec![resource("managed", "aws_instance", "web")];
    let second_resources = vec![
        resource("managed", "aws_s3_bucket", "logs"),
        resource("data", "aws_ami", "ubuntu"),
    ];
    for (sv, resources) in [(&first, &first_resources), (&second, &second_resources)] {
        assert!(store
            .finalize_state_version(&sv.id, &summary(resources.clone()))
            .await
            .unwrap());
    }
    let (bare, _) = create_state_version(&*store, &ws, 2, &[]).await;
    let ids = [
        first.id.clone(),
        second.id.clone(),
        bare.id.clone(),
        "sv-unknown".to_string(),
    ];

    let mut outputs = store.outputs_of_state_versions(&ids).await.unwrap();
    let mut by_name = first_outputs.clone();
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(outputs.remove(&first.id), Some(by_name));
    assert_eq!(outputs.remove(&second.id), Some(second_outputs));
    assert!(outputs.is_empty(), "{outputs:?}");

    let mut resources = store.resources_of_state_versions(&ids).await.unwrap();
    assert_eq!(resources.remove(&first.id), Some(first_resources));
    assert_eq!(resources.remove(&second.id), Some(second_resources));
    assert_eq!(
        resources.remove(&bare.id),
        Some(Vec::new()),
        "not finalized"
    );
    assert!(resources.is_empty(), "{resources:?}");

    assert!(store
        .outputs_of_state_versions(&[])
        .await
        .unwrap()
        .is_empty());
}
contract!(outputs_and_resources_of_many_versions);

/// Outputs read from the state at finalization replace those given at creation.
async fn finalize_with_outputs_replaces_them(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let (sv, created) = create_state_version(&*store, &ws, 1, &["a", "b"]).await;
    let replacement = vec![new_output(&sv.id, "a"), new_output(&sv.id, "secret_c")];
    let mut with_outputs = summary(vec![]);
    with_outputs.outputs = Some(replacement.clone());

    assert!(store
        .finalize_state_version(&sv.id, &with_outputs)
        .await
        .unwrap());
    assert_eq!(
        store.state_version_outputs(&sv.id).await.unwrap(),
        replacement
    );
    for old in &created {
        assert_eq!(
            store.state_version_output_by_id(&old.id).await.unwrap(),
            None
        );
    }
    assert_eq!(
        store
            .state_version_output_by_id(&replacement[1].id)
            .await
            .unwrap(),
        Some(replacement[1].clone())
    );
}
contract!(finalize_with_outputs_replaces_them);

/// Only finalized versions are listed, newest first, in pages.
async fn state_versions_listed_newest_first(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let other_ws = create_workspace(&*store, &acme, "other", &[]).await;
    let now = clock::now();
    let mut finalized = Vec::new();
    for serial in 1..=3 {
        let sv = new_state_version(&ws, serial, now - TimeDelta::minutes(10 - serial));
        store.create_state_version(&sv, &[]).await.unwrap();
        assert!(store
            .finalize_state_version(&sv.id, &summary(vec![]))
            .await
            .unwrap());
        finalized.push(sv.id);
    }
    let (pending, _) = create_state_version(&*store, &ws, 4, &[]).await;
    let (other_sv, _) = create_state_version(&*store, &other_ws, 9, &[]).await;
    assert!(store
        .finalize_state_version(&other_sv.id, &summary(vec![]))
        .await
        .unwrap());

    let ids_of = |page: &Page<StateVersion>| {
        page.items
            .iter()
            .map(|sv| sv.id.clone())
            .collect::<Vec<_>>()
    };
    let listed = store.list_state_versions(&ws.id, all()).await.unwrap();
    assert_eq!(
        ids_of(&listed),
        [
            finalized[2].clone(),
            finalized[1].clone(),
            finalized[0].clone()
        ]
    );
    assert_eq!(listed.total, 3);
    let second = store.list_state_versions(&ws.id, page(2, 2)).await.unwrap();
    assert_eq!(ids_of(&second), [finalized[0].clone()]);
    assert_eq!(second.total, 3);

    // All versions, pending too, for deleting their blobs.
    let mut every: Vec<String> = finalized.clone();
    every.push(pending.id);
    assert_eq!(
        set(store
            .state_version_ids(&ws.id)
            .await
            .unwrap()
            .iter()
            .map(String::as_str)),
        set(every.iter().map(String::as_str))
    );
}
contract!(state_versions_listed_newest_first);

/// Outputs are listed by name and found by id; the JSON-state flag is recorded.
async fn state_version_outputs_and_json_flag(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let (sv, outputs) = create_state_version(&*store, &ws, 1, &["zeta", "secret_alpha"]).await;
    assert_eq!(
        store.state_version_outputs(&sv.id).await.unwrap(),
        [outputs[1].clone(), outputs[0].clone()]
    );
    assert_eq!(
        store
            .state_version_output_by_id(&outputs[1].id)
            .await
            .unwrap(),
        Some(outputs[1].clone())
    );
    assert_eq!(
        store
            .state_version_output_by_id("wsout-missing")
            .await
            .unwrap(),
        None
    );

    store.mark_json_state_uploaded(&sv.id).await.unwrap();
    assert!(
        store
            .state_version_by_id(&sv.id)
            .await
            .unwrap()
            .unwrap()
            .json_state_uploaded
    );
}
contract!(state_version_outputs_and_json_flag);

/// Concurrent finalizations of one version: exactly one succeeds.
async fn concurrent_finalize_has_one_winner(store: Arc<dyn Store>) {
    const N: usize = 8;
    let acme = create_org(&*store, "acme", None).await;
    let ws = create_workspace(&*store, &acme, "app", &[]).await;
    let (sv, _) = create_state_version(&*store, &ws, 1, &[]).await;
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (store, start, id) = (store.clone(), start.clone(), sv.id.clone());
            tokio::spawn(async move {
                let mut with_outputs = summary(vec![]);
                with_outputs.outputs = Some(vec![new_output(&id, &format!("out{i}"))]);
                start.wait().await;
                store
                    .finalize_state_version(&id, &with_outputs)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap());
    }
    assert_eq!(wins, 1);
    // The winner's outputs, and only those.
    assert_eq!(store.state_version_outputs(&sv.id).await.unwrap().len(), 1);
}
contract!(concurrent_finalize_has_one_winner);

// ---------------------------------------------------------------------------------------------
// Login

/// An authorization code is exchanged once.
async fn oauth_code_taken_once(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let code = new_oauth_code(&alice, clock::now() + TimeDelta::minutes(1));
    store.create_oauth_code(&code).await.unwrap();

    assert_eq!(
        store.take_oauth_code(&code.code_hash).await.unwrap(),
        Some(code.clone())
    );
    assert_eq!(store.take_oauth_code(&code.code_hash).await.unwrap(), None);
    assert_eq!(store.take_oauth_code("unknown").await.unwrap(), None);
}
contract!(oauth_code_taken_once);

/// Racing exchanges of one code: exactly one gets it.
async fn concurrent_oauth_takes_have_one_winner(store: Arc<dyn Store>) {
    const N: usize = 16;
    let alice = create_user(&*store, "alice").await;
    let code = new_oauth_code(&alice, clock::now() + TimeDelta::minutes(1));
    store.create_oauth_code(&code).await.unwrap();
    let start = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (store, start, hash) = (store.clone(), start.clone(), code.code_hash.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.take_oauth_code(&hash).await.unwrap()
            })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.extend(task.await.unwrap());
    }
    assert_eq!(taken, vec![code]);
}
contract!(concurrent_oauth_takes_have_one_winner);

/// A sign-in form is submitted once; expired forms are purged.
async fn login_form_taken_once(store: Arc<dyn Store>) {
    let expires = clock::now() + TimeDelta::minutes(60);
    store.create_login_form("form-hash", expires).await.unwrap();
    let taken = store.take_login_form("form-hash").await.unwrap();
    assert_eq!(taken.map(|at| at.timestamp()), Some(expires.timestamp()));
    assert_eq!(store.take_login_form("form-hash").await.unwrap(), None);
    assert_eq!(store.take_login_form("unknown").await.unwrap(), None);

    store
        .create_login_form("old-form", clock::now() - TimeDelta::minutes(1))
        .await
        .unwrap();
    store.create_login_form("new-form", expires).await.unwrap();
    store.purge_expired(clock::now()).await.unwrap();
    assert_eq!(store.take_login_form("old-form").await.unwrap(), None);
    assert!(store.take_login_form("new-form").await.unwrap().is_some());
}
contract!(login_form_taken_once);

/// A session is found by its hash until deleted.
async fn session_lifecycle(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let session = new_session(&alice, clock::now() + TimeDelta::hours(8));
    let other = new_session(&alice, clock::now() + TimeDelta::hours(8));
    store.create_session(&session).await.unwrap();
    store.create_session(&other).await.unwrap();

    assert_eq!(
        store.session_by_hash(&session.id_hash).await.unwrap(),
        Some(session.clone())
    );
    store.delete_session(&session.id_hash).await.unwrap();
    assert_eq!(store.session_by_hash(&session.id_hash).await.unwrap(), None);
    assert_eq!(
        store.session_by_hash(&other.id_hash).await.unwrap(),
        Some(other)
    );
}
contract!(session_lifecycle);

/// Touching a session records its last use; ending a user's sessions leaves others' alone.
async fn session_touch_and_end_per_user(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let first = new_session(&alice, clock::now() + TimeDelta::hours(8));
    let second = new_session(&alice, clock::now() + TimeDelta::hours(8));
    let bobs = new_session(&bob, clock::now() + TimeDelta::hours(8));
    for session in [&first, &second, &bobs] {
        store.create_session(session).await.unwrap();
    }

    let used = first.created_at + TimeDelta::minutes(3);
    store.touch_session(&first.id_hash, used).await.unwrap();
    let touched = store
        .session_by_hash(&first.id_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(touched.last_seen_at, used);
    assert_eq!(
        touched.created_at, first.created_at,
        "only the last use moves"
    );

    assert_eq!(store.delete_user_sessions(&alice.id).await.unwrap(), 2);
    for gone in [&first, &second] {
        assert_eq!(store.session_by_hash(&gone.id_hash).await.unwrap(), None);
    }
    assert_eq!(
        store.session_by_hash(&bobs.id_hash).await.unwrap(),
        Some(bobs)
    );
    assert_eq!(store.delete_user_sessions(&alice.id).await.unwrap(), 0);
}
contract!(session_touch_and_end_per_user);

/// Purging drops codes and sessions that expired before `now` (the given instant, compared as
/// instants down to the microsecond) and keeps the others.
async fn purge_removes_only_expired(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    // In the future of the wall clock, so only the argument decides. Different sub-second
    // precisions on purpose: SQLite keeps timestamps as text.
    let now = utc(2031, 5, 5, 12, 0, 0, 1_000);
    let expired = [
        now - TimeDelta::microseconds(1),
        utc(2031, 5, 5, 12, 0, 0, 0),
        utc(2031, 5, 5, 11, 59, 59, 999_999),
        now - TimeDelta::days(400),
    ];
    let valid = [
        now + TimeDelta::microseconds(1),
        utc(2031, 5, 5, 12, 0, 0, 100_000),
        utc(2031, 5, 5, 12, 0, 1, 0),
        now + TimeDelta::days(400),
    ];
    let mut codes = Vec::new();
    let mut sessions = Vec::new();
    for at in expired.iter().chain(&valid) {
        let code = new_oauth_code(&alice, *at);
        store.create_oauth_code(&code).await.unwrap();
        codes.push(code);
        let session = new_session(&alice, *at);
        store.create_session(&session).await.unwrap();
        sessions.push(session);
    }

    store.purge_expired(now).await.unwrap();

    for (i, (code, session)) in codes.iter().zip(&sessions).enumerate() {
        let should_stay = i >= expired.len();
        let at = code.expires_at;
        assert_eq!(
            store
                .session_by_hash(&session.id_hash)
                .await
                .unwrap()
                .is_some(),
            should_stay,
            "session expiring at {at:?}, purged at {now:?}"
        );
        assert_eq!(
            store
                .take_oauth_code(&code.code_hash)
                .await
                .unwrap()
                .is_some(),
            should_stay,
            "code expiring at {at:?}, purged at {now:?}"
        );
    }
}
contract!(purge_removes_only_expired);

// ---------------------------------------------------------------------------------------------
// Timestamps

/// Timestamps read back exactly as written, to the microsecond, whatever their sub-second part.
async fn timestamps_round_trip(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let instants = [
        utc(2024, 2, 29, 23, 59, 59, 123_456),
        utc(1999, 12, 31, 23, 59, 59, 999_999),
        utc(2038, 1, 19, 3, 14, 8, 1),
        utc(2030, 6, 1, 0, 0, 0, 0),
        utc(2030, 6, 1, 0, 0, 0, 100_000),
        utc(2030, 6, 1, 0, 0, 0, 120),
        clock::now(),
    ];
    for at in instants {
        let mut token = new_token(TokenKind::User, &alice.id, at);
        token.last_used_at = Some(at);
        token.expires_at = Some(at);
        store.create_token(&token).await.unwrap();
        assert_eq!(
            store.token_by_id(&token.id).await.unwrap(),
            Some(token),
            "{at:?}"
        );

        let session = Session {
            created_at: at,
            last_seen_at: at,
            ..new_session(&alice, at)
        };
        store.create_session(&session).await.unwrap();
        assert_eq!(
            store.session_by_hash(&session.id_hash).await.unwrap(),
            Some(session),
            "{at:?}"
        );
    }
}
contract!(timestamps_round_trip);

// ---------------------------------------------------------------------------------------------
// Agent pools

fn new_agent_pool(org: &OrgFixture, name: &str) -> AgentPool {
    AgentPool {
        id: ids::new_id(ids::AGENT_POOL),
        organization_id: org.id().to_string(),
        name: name.to_string(),
        organization_scoped: false,
        created_at: clock::now(),
    }
}

/// Pools round-trip with their scope and sort orders; names are unique per organization; a pool
/// in use is not deleted; deleting one takes its agent tokens and listeners with it.
async fn agent_pools_round_trip(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let mut ws = create_workspace(&*store, &acme, "app", &[]).await;
    let spare = create_workspace(&*store, &acme, "spare", &[]).await;

    let pool = new_agent_pool(&acme, "nas");
    let scope = AgentPoolScope {
        allowed_workspaces: vec![ws.id.clone()],
        allowed_projects: vec![acme.default_project.id.clone()],
        excluded_workspaces: vec![spare.id.clone()],
    };
    store.create_agent_pool(&pool, &scope).await.unwrap();
    assert_eq!(
        store.agent_pool_by_id(&pool.id).await.unwrap(),
        Some(pool.clone())
    );
    assert_eq!(store.agent_pool_scope(&pool.id).await.unwrap(), scope);
    assert_conflict(
        store
            .create_agent_pool(&new_agent_pool(&acme, "nas"), &AgentPoolScope::default())
            .await,
        "second pool nas",
    );
    store
        .create_agent_pool(&new_agent_pool(&other, "nas"), &AgentPoolScope::default())
        .await
        .unwrap();
    let cluster = new_agent_pool(&acme, "cluster");
    store
        .create_agent_pool(&cluster, &AgentPoolScope::default())
        .await
        .unwrap();
    let listed = store
        .list_agent_pools(acme.id(), None, AgentPoolSort::Name, all())
        .await
        .unwrap();
    assert_eq!(listed.total, 2);
    assert_eq!(
        listed
            .items
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["cluster", "nas"]
    );
    for (sort, names) in [
        (AgentPoolSort::NameDesc, ["nas", "cluster"]),
        (AgentPoolSort::CreatedAt, ["nas", "cluster"]),
        (AgentPoolSort::CreatedAtDesc, ["cluster", "nas"]),
    ] {
        let listed = store
            .list_agent_pools(acme.id(), None, sort, all())
            .await
            .unwrap();
        let listed: Vec<&str> = listed.items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(listed, names, "{sort}");
    }
    let found = store
        .list_agent_pools(acme.id(), Some("NA"), AgentPoolSort::Name, all())
        .await
        .unwrap();
    assert_eq!(found.items, vec![pool.clone()]);

    let mut renamed = pool.clone();
    renamed.name = "cluster".into();
    assert_conflict(
        store.update_agent_pool(&renamed, None).await,
        "rename onto cluster",
    );
    renamed.name = "basement".into();
    renamed.organization_scoped = true;
    let rescoped = AgentPoolScope {
        allowed_workspaces: vec![spare.id.clone()],
        ..AgentPoolScope::default()
    };
    store
        .update_agent_pool(&renamed, Some(&rescoped))
        .await
        .unwrap();
    assert_eq!(
        store.agent_pool_by_id(&pool.id).await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(store.agent_pool_scope(&pool.id).await.unwrap(), rescoped);
    store.update_agent_pool(&renamed, None).await.unwrap();
    assert_eq!(
        store.agent_pool_scope(&pool.id).await.unwrap(),
        rescoped,
        "None leaves the scope"
    );

    ws.agent_pool_id = Some(pool.id.clone());
    store.update_workspace(&ws).await.unwrap();
    assert_eq!(
        store.agent_pool_workspaces(&pool.id).await.unwrap(),
        vec![ws.id.clone()]
    );
    let token = create_token(&*store, TokenKind::Agent, &pool.id).await;
    let at = clock::now();
    let listener = Listener {
        id: ids::new_id(ids::LISTENER),
        pool_id: Some(pool.id.clone()),
        name: "nas-1".into(),
        hostname: "nas.lan".into(),
        version: "1.0.0".into(),
        executor: "local".into(),
        capacity: 2,
        last_heartbeat_at: at,
        created_at: at,
        ip_address: Some("192.0.2.7".into()),
    };
    store.upsert_listener(&listener).await.unwrap();
    let read = store.listener_by_id(&listener.id).await.unwrap().unwrap();
    assert_eq!(read.ip_address, listener.ip_address);
    assert_eq!(
        store
            .running_jobs_by_listener(std::slice::from_ref(&listener.id))
            .await
            .unwrap(),
        std::collections::HashMap::new()
    );

    assert!(!store.delete_agent_pool(&pool.id).await.unwrap(), "in use");
    assert!(store.agent_pool_by_id(&pool.id).await.unwrap().is_some());
    ws.agent_pool_id = None;
    store.update_workspace(&ws).await.unwrap();
    assert!(store.delete_agent_pool(&pool.id).await.unwrap());
    assert_eq!(store.agent_pool_by_id(&pool.id).await.unwrap(), None);
    assert_eq!(store.token_by_id(&token.id).await.unwrap(), None);
    assert_eq!(store.listener_by_id(&listener.id).await.unwrap(), None);

    // Deleting the organization takes its pools' tokens too.
    let cluster_token = create_token(&*store, TokenKind::Agent, &cluster.id).await;
    store.delete_organization(acme.id()).await.unwrap();
    assert_eq!(store.agent_pool_by_id(&cluster.id).await.unwrap(), None);
    assert_eq!(store.token_by_id(&cluster_token.id).await.unwrap(), None);
}
contract!(agent_pools_round_trip);

// ---------------------------------------------------------------------------------------------
// The audit trail.

fn new_audit_event(org: Option<&str>, at: DateTime<Utc>, action: &str) -> AuditEvent {
    AuditEvent {
        id: ids::new_id("ae"),
        occurred_at: at,
        organization_id: org.map(str::to_string),
        actor_kind: "user".into(),
        actor_id: Some("user-1".into()),
        actor_name: Some("alice".into()),
        token_id: Some("at-1".into()),
        action: action.into(),
        method: Some("PATCH".into()),
        route: Some("/api/v2/workspaces/:workspace_id".into()),
        resource_type: Some("workspace".into()),
        resource_id: Some("ws-1".into()),
        status: 200,
        client_address: Some("192.0.2.7".into()),
        reason: Some("signature".into()),
    }
}

async fn audit_events_by_organization_time_and_page(store: Arc<dyn Store>) {
    let t = |minute| utc(2026, 5, 1, 12, minute, 0, 123_456);
    let events = [
        new_audit_event(Some("org-a"), t(1), "create"),
        new_audit_event(Some("org-a"), t(2), "update"),
        new_audit_event(Some("org-a"), t(3), "delete"),
        new_audit_event(Some("org-b"), t(2), "create"),
        new_audit_event(None, t(2), "sign-in"),
    ];
    // Appended out of order, one and then several at a time: listings are by time.
    let appended: Vec<AuditEvent> = events.iter().rev().cloned().collect();
    store.append_audit_events(&appended[..1]).await.unwrap();
    store.append_audit_events(&appended[1..]).await.unwrap();
    store.append_audit_events(&[]).await.unwrap();
    let list = |organization_id: Option<&str>, since, until, page| {
        let store = store.clone();
        let filter = AuditFilter {
            organization_id: organization_id.map(str::to_string),
            since,
            until,
        };
        async move { store.list_audit_events(&filter, page).await.unwrap() }
    };

    let a = list(Some("org-a"), None, None, all()).await;
    assert_eq!(a.total, 3);
    assert_eq!(
        a.items,
        events[..3].to_vec(),
        "every column round-trips, oldest first"
    );
    let b = list(Some("org-b"), None, None, all()).await;
    assert_eq!(b.items, vec![events[3].clone()]);
    let site = list(None, None, None, all()).await;
    assert_eq!(site.items, vec![events[4].clone()], "site events only");

    // Bounds are exclusive.
    let window = list(Some("org-a"), Some(t(1)), Some(t(3)), all()).await;
    assert_eq!(window.items, vec![events[1].clone()]);
    assert_eq!(window.total, 1);
    let later = list(Some("org-a"), Some(t(2)), None, all()).await;
    assert_eq!(later.items, vec![events[2].clone()]);

    let second = list(Some("org-a"), None, None, page(2, 2)).await;
    assert_eq!(second.items, vec![events[2].clone()]);
    assert_eq!(second.total, 3);

    // Purging removes what is older than the cutoff, in every organization.
    assert_eq!(store.purge_audit_events(t(2)).await.unwrap(), 1);
    assert_eq!(list(Some("org-a"), None, None, all()).await.total, 2);
    assert_eq!(store.purge_audit_events(t(59)).await.unwrap(), 4);
    assert_eq!(list(None, None, None, all()).await.total, 0);
}
contract!(audit_events_by_organization_time_and_page);
// Teams and memberships.

fn new_team(org: &OrgFixture, name: &str, visibility: &str) -> Team {
    Team {
        id: ids::new_id(ids::TEAM),
        organization_id: org.id().to_string(),
        name: name.to_string(),
        is_owners: false,
        visibility: visibility.into(),
        organization_access: JsonText(OrganizationAccess {
            manage_workspaces: true,
            ..OrganizationAccess::default()
        }),
        sso_team_id: Some("sso-1".into()),
        allow_member_token_management: false,
        created_at: clock::now(),
    }
}

async fn create_team(store: &dyn Store, org: &OrgFixture, name: &str, visibility: &str) -> Team {
    let team = new_team(org, name, visibility);
    store.create_team(&team).await.unwrap();
    team
}

fn new_membership(org: &OrgFixture, user: Option<&User>, email: &str) -> OrganizationMembership {
    OrganizationMembership {
        id: ids::new_id(ids::MEMBERSHIP),
        organization_id: org.id().to_string(),
        user_id: user.map(|u| u.id.clone()),
        email: email.to_string(),
        status: if user.is_some() {
            MembershipStatus::Active
        } else {
            MembershipStatus::Invited
        },
        created_at: clock::now(),
    }
}

async fn owner_membership(
    store: &dyn Store,
    org: &OrgFixture,
    user: &User,
) -> OrganizationMembership {
    store
        .membership_for(org.id(), Some(&user.id), "")
        .await
        .unwrap()
        .expect("the founder's membership")
}

/// Teams round-trip, names are unique per organization, lists filter by name, substring and
/// visibility, and deleting a team takes its token with it but never the owners team.
async fn teams_crud_and_visibility(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let dev = create_team(&*store, &acme, "developers", "organization").await;
    let ops = create_team(&*store, &acme, "ops", "secret").await;
    create_team(&*store, &other, "developers", "organization").await;
    assert_eq!(store.team_by_id(&dev.id).await.unwrap().unwrap(), dev);
    assert_conflict(
        store.create_team(&new_team(&acme, "ops", "secret")).await,
        "team name",
    );

    let list = |filter: TeamFilter| {
        let store = store.clone();
        let org = acme.id().to_string();
        async move { store.list_teams(&org, &filter, all()).await.unwrap() }
    };
    let everything = list(TeamFilter::default()).await;
    assert_eq!(names(&everything.items), ["developers", "ops", "owners"]);
    assert_eq!(everything.total, 3);
    let visible = list(TeamFilter {
        secret_visible: Some(vec![]),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&visible.items), ["developers"]);
    assert_eq!(visible.total, 1);
    let own = list(TeamFilter {
        secret_visible: Some(vec![ops.id.clone()]),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&own.items), ["developers", "ops"]);
    let named = list(TeamFilter {
        names: vec!["ops".into()],
        ..Default::default()
    })
    .await;
    assert_eq!(names(&named.items), ["ops"]);
    let query = list(TeamFilter {
        query: Some("VELO".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(names(&query.items), ["developers"]);

    let mut renamed = dev.clone();
    renamed.name = "builders".into();
    renamed.visibility = "secret".into();
    renamed.organization_access.0.manage_teams = true;
    renamed.sso_team_id = None;
    renamed.allow_member_token_management = true;
    store.update_team(&renamed).await.unwrap();
    assert_eq!(store.team_by_id(&dev.id).await.unwrap().unwrap(), renamed);
    renamed.name = "ops".into();
    assert_conflict(store.update_team(&renamed).await, "team name");

    let token = create_token(&*store, TokenKind::Team, &ops.id).await;
    assert!(store.delete_team(&ops.id).await.unwrap());
    assert!(store.team_by_id(&ops.id).await.unwrap().is_none());
    assert!(store.token_by_id(&token.id).await.unwrap().is_none());
    assert!(!store.delete_team(&acme.owners.id).await.unwrap());
    assert!(store.team_by_id(&acme.owners.id).await.unwrap().is_some());
}
contract!(teams_crud_and_visibility);

/// Memberships go on teams of their own organization only; the owners team keeps an active
/// member; deleting a membership takes it off its teams, except the last owner's.
async fn team_memberships_and_owners(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let acme = create_org(&*store, "acme", Some(&alice)).await;
    let other = create_org(&*store, "other", Some(&bob)).await;
    let dev = create_team(&*store, &acme, "developers", "secret").await;
    let alice_m = owner_membership(&*store, &acme, &alice).await;
    let bob_other = owner_membership(&*store, &other, &bob).await;

    let bob_m = new_membership(&acme, Some(&bob), &bob.email);
    store
        .create_membership(&bob_m, std::slice::from_ref(&dev.id))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_membership(&new_membership(&acme, Some(&bob), "x@example.com"), &[])
            .await,
        "membership",
    );
    let invited = new_membership(&acme, None, "Carol@Example.com");
    store
        .create_membership(&invited, &[dev.id.clone(), other.owners.id.clone()])
        .await
        .unwrap();
    assert_eq!(
        names(&store.membership_teams(&invited.id).await.unwrap()),
        ["developers"],
        "a team of another organization is ignored"
    );
    // A membership of another organization never joins this one's team.
    store
        .add_team_memberships(&dev.id, &[bob_other.id.clone(), alice_m.id.clone()])
        .await
        .unwrap();
    let on_dev: BTreeSet<String> = store
        .team_memberships(&dev.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        on_dev,
        [&alice_m.id, &bob_m.id, &invited.id]
            .into_iter()
            .cloned()
            .collect()
    );
    let users: Vec<String> = store
        .team_users(&dev.id)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(users, ["alice", "bob"], "invitations have no user yet");

    // Alice is the only owner: she cannot leave the owners team, nor the organization.
    assert!(!store
        .remove_team_memberships(&acme.owners.id, std::slice::from_ref(&alice_m.id), true)
        .await
        .unwrap());
    assert!(!store.delete_membership(&alice_m.id).await.unwrap());
    store
        .add_team_memberships(&acme.owners.id, std::slice::from_ref(&invited.id))
        .await
        .unwrap();
    assert!(
        !store.delete_membership(&alice_m.id).await.unwrap(),
        "an invitation is no owner yet"
    );
    store
        .add_team_memberships(&acme.owners.id, std::slice::from_ref(&bob_m.id))
        .await
        .unwrap();
    assert!(store
        .remove_team_memberships(&acme.owners.id, std::slice::from_ref(&alice_m.id), true)
        .await
        .unwrap());
    assert!(store.delete_membership(&alice_m.id).await.unwrap());
    assert!(store.membership_by_id(&alice_m.id).await.unwrap().is_none());
    assert!(store
        .member_teams(acme.id(), &alice.id)
        .await
        .unwrap()
        .is_none());
}
contract!(team_memberships_and_owners);

/// Lists filter by email or username and status; invitations turn active for the user with
/// that email, once per organization.
async fn memberships_listed_and_invitations_accepted(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let acme = create_org(&*store, "acme", Some(&alice)).await;
    let other = create_org(&*store, "other", Some(&alice)).await;
    let invited = new_membership(&acme, None, "Dave@Example.com");
    store.create_membership(&invited, &[]).await.unwrap();
    let twice = new_membership(&other, None, "dave@example.com");
    store.create_membership(&twice, &[]).await.unwrap();
    store
        .create_membership(&new_membership(&acme, None, "erin@example.com"), &[])
        .await
        .unwrap();

    let list = |filter: MembershipFilter| {
        let store = store.clone();
        let org = acme.id().to_string();
        async move { store.list_memberships(&org, &filter, all()).await.unwrap() }
    };
    let emails = |page: Page<OrganizationMembership>| {
        page.items.into_iter().map(|m| m.email).collect::<Vec<_>>()
    };
    assert_eq!(list(MembershipFilter::default()).await.total, 3);
    assert_eq!(
        emails(
            list(MembershipFilter {
                statuses: vec![MembershipStatus::Invited],
                ..Default::default()
            })
            .await
        ),
        ["Dave@Example.com", "erin@example.com"]
    );
    assert_eq!(
        emails(
            list(MembershipFilter {
                query: Some("ALI".into()),
                ..Default::default()
            })
            .await
        ),
        std::slice::from_ref(&alice.email),
        "q matches the username"
    );
    assert_eq!(
        emails(
            list(MembershipFilter {
                emails: vec!["dave@example.COM".into(), "nobody@example.com".into()],
                ..Default::default()
            })
            .await
        ),
        ["Dave@Example.com"],
        "filter[email] matches whole emails, any case"
    );
    assert_eq!(
        store
            .membership_for(acme.id(), None, "DAVE@example.com")
            .await
            .unwrap()
            .map(|m| m.id),
        Some(invited.id.clone())
    );

    assert!(store.email_invited("DAVE@example.com").await.unwrap());
    assert!(!store.email_invited(&alice.email).await.unwrap());
    let mut dave = new_user("dave");
    dave.email = "dave@EXAMPLE.com".into();
    store.create_user(&dave).await.unwrap();
    assert_eq!(
        store
            .users_with_email("DAVE@example.COM")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .accept_invitations(&dave.id, &dave.email)
            .await
            .unwrap(),
        2
    );
    let accepted = store.membership_by_id(&invited.id).await.unwrap().unwrap();
    assert_eq!(accepted.status, MembershipStatus::Active);
    assert_eq!(accepted.user_id.as_deref(), Some(dave.id.as_str()));
    assert!(store
        .member_teams(acme.id(), &dave.id)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.user_memberships(&dave.id).await.unwrap().len(), 2);
    assert!(!store.email_invited("dave@example.com").await.unwrap());
    assert_eq!(
        store
            .accept_invitations(&dave.id, &dave.email)
            .await
            .unwrap(),
        0
    );
}
contract!(memberships_listed_and_invitations_accepted);

/// Replacing a team's undescribed token revokes the one before, atomically; the team's
/// described tokens stay, and a description is unique within the team.
async fn team_token_replaced(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let team = create_team(&*store, &acme, "ci", "secret").await;
    let undescribed = || Token {
        description: None,
        ..new_token(TokenKind::Team, &team.id, clock::now())
    };
    let first = undescribed();
    store.create_token(&first).await.unwrap();
    let described = create_token(&*store, TokenKind::Team, &team.id).await;
    let second = undescribed();
    store.replace_token(&second).await.unwrap();
    assert!(store
        .token_by_hash(&first.secret_hash)
        .await
        .unwrap()
        .is_none());
    for kept in [&second, &described] {
        assert!(store
            .token_by_hash(&kept.secret_hash)
            .await
            .unwrap()
            .is_some());
    }
    assert!(matches!(
        store
            .create_token(&new_token(TokenKind::Team, &team.id, clock::now()))
            .await,
        Err(StorageError::Conflict(_))
    ));
    let other = create_token(&*store, TokenKind::Organization, acme.id()).await;
    store.replace_token(&undescribed()).await.unwrap();
    assert!(
        store.token_by_id(&other.id).await.unwrap().is_some(),
        "other owners keep theirs"
    );
    assert_eq!(
        store
            .list_tokens(TokenKind::Team, &team.id, all())
            .await
            .unwrap()
            .total,
        2
    );
    assert_eq!(
        store
            .delete_tokens_of(TokenKind::Team, &team.id)
            .await
            .unwrap(),
        1
    );
    assert!(store.token_by_id(&described.id).await.unwrap().is_some());
}
contract!(team_token_replaced);

/// An organization's team tokens are its teams' only: not another organization's, not
/// its own organization token.
async fn organization_team_tokens_listed(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let ci = create_team(&*store, &acme, "ci", "secret").await;
    let theirs = create_team(&*store, &other, "ci", "secret").await;
    let ours = create_token(&*store, TokenKind::Team, &ci.id).await;
    create_token(&*store, TokenKind::Team, &theirs.id).await;
    create_token(&*store, TokenKind::Organization, acme.id()).await;
    let listed = store
        .list_organization_team_tokens(acme.id())
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec![ours.id.as_str()]);
}
contract!(organization_team_tokens_listed);

/// Site administrators' workspace list spans organizations; `q` and the run status narrow it.
async fn workspaces_searched_across_organizations(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    create_workspace(&*store, &acme, "app-prod", &[]).await;
    create_workspace(&*store, &other, "app-dev", &[]).await;
    create_workspace(&*store, &other, "db_100%", &[]).await;
    let names = |filter: AdminWorkspaceFilter| {
        let store = store.clone();
        async move {
            let page = store.search_workspaces(&filter, all()).await.unwrap();
            let names: Vec<String> = page.items.into_iter().map(|w| w.name).collect();
            (names, page.total)
        }
    };
    let by_name = |descending| WorkspaceOrder::Name { descending };
    assert_eq!(
        names(AdminWorkspaceFilter {
            order: by_name(false),
            ..Default::default()
        })
        .await,
        (
            vec!["app-dev".into(), "app-prod".into(), "db_100%".into()],
            3
        )
    );
    assert_eq!(
        names(AdminWorkspaceFilter {
            query: Some("APP".into()),
            order: by_name(true),
            ..Default::default()
        })
        .await,
        (vec!["app-prod".into(), "app-dev".into()], 2)
    );
    assert_eq!(
        names(AdminWorkspaceFilter {
            query: Some("0%".into()),
            ..Default::default()
        })
        .await,
        (vec!["db_100%".into()], 1),
        "the query is literal text"
    );
    assert_eq!(
        names(AdminWorkspaceFilter {
            current_run_status: Some("applied".into()),
            ..Default::default()
        })
        .await,
        (vec![], 0),
        "workspaces without a run have no run status"
    );
}
contract!(workspaces_searched_across_organizations);
// Site administration: users' standing on the server and every organization at once.

async fn create_user_with(store: &dyn Store, username: &str, email: &str, admin: bool) -> User {
    let user = User {
        email: email.to_string(),
        is_site_admin: admin,
        ..new_user(username)
    };
    store.create_user(&user).await.unwrap();
    user
}

fn usernames(page: &Page<User>) -> Vec<&str> {
    page.items.iter().map(|u| u.username.as_str()).collect()
}

/// Users are listed by username, filtered by a substring of username or email, by admin and by
/// suspension, in pages whose total counts every match.
async fn users_listed_and_filtered(store: Arc<dyn Store>) {
    create_user_with(&*store, "zoe", "zoe@corp.example", true).await;
    let max = create_user_with(&*store, "max", "Max@Home.example", false).await;
    create_user_with(&*store, "ann_corp", "ann@elsewhere.example", false).await;
    create_user_with(&*store, "annex", "annex@corp.example", false).await;
    let since = clock::now();
    assert!(store.set_suspended(&max.id, Some(since)).await.unwrap());

    let list = |filter: UserFilter, page: PageRequest| {
        let store = store.clone();
        async move { store.list_users(&filter, page).await.unwrap() }
    };
    let everyone = list(UserFilter::default(), all()).await;
    assert_eq!(usernames(&everyone), ["ann_corp", "annex", "max", "zoe"]);
    assert_eq!(everyone.total, 4);
    let corp = UserFilter {
        query: Some("CORP".into()),
        ..Default::default()
    };
    assert_eq!(
        usernames(&list(corp, all()).await),
        ["ann_corp", "annex", "zoe"]
    );
    let home = UserFilter {
        query: Some("home.EX".into()),
        ..Default::default()
    };
    assert_eq!(usernames(&list(home, all()).await), ["max"]);
    // LIKE wildcards are literal: "_" matches only an underscore.
    let underscore = UserFilter {
        query: Some("n_c".into()),
        ..Default::default()
    };
    assert_eq!(usernames(&list(underscore, all()).await), ["ann_corp"]);
    let admins = UserFilter {
        admin: Some(true),
        ..Default::default()
    };
    assert_eq!(usernames(&list(admins, all()).await), ["zoe"]);
    let others = UserFilter {
        admin: Some(false),
        suspended: Some(false),
        ..Default::default()
    };
    assert_eq!(usernames(&list(others, all()).await), ["ann_corp", "annex"]);
    let suspended = UserFilter {
        suspended: Some(true),
        ..Default::default()
    };
    let found = list(suspended, all()).await;
    assert_eq!(usernames(&found), ["max"]);
    assert_eq!(found.items[0].suspended_at, Some(since));
    let second = list(UserFilter::default(), page(2, 3)).await;
    assert_eq!(usernames(&second), ["zoe"]);
    assert_eq!(second.total, 4);
}
contract!(users_listed_and_filtered);

/// Suspension is kept and lifted; revoking admin never takes the last site administrator.
async fn suspension_and_admin_flags(store: Arc<dyn Store>) {
    let first = create_user_with(&*store, "first", "first@example.com", true).await;
    let second = create_user_with(&*store, "second", "second@example.com", false).await;
    let since = clock::now();
    assert!(store.set_suspended(&second.id, Some(since)).await.unwrap());
    let read = |id: String| {
        let store = store.clone();
        async move { store.user_by_id(&id).await.unwrap().unwrap() }
    };
    assert_eq!(read(second.id.clone()).await.suspended_at, Some(since));
    assert!(store.set_suspended(&second.id, None).await.unwrap());
    assert_eq!(read(second.id.clone()).await.suspended_at, None);
    assert!(!store
        .set_suspended("user-missing", Some(since))
        .await
        .unwrap());

    assert!(
        !store.set_site_admin(&first.id, false).await.unwrap(),
        "the only site administrator stays one"
    );
    assert!(read(first.id.clone()).await.is_site_admin);
    assert!(store.set_site_admin(&second.id, true).await.unwrap());
    assert!(store.set_site_admin(&first.id, false).await.unwrap());
    assert!(!read(first.id.clone()).await.is_site_admin);
    assert!(!store.set_site_admin(&second.id, false).await.unwrap());
    // Revoking from someone who is not an admin changes nothing but is no refusal.
    assert!(store.set_site_admin(&first.id, false).await.unwrap());
    assert!(!store.set_site_admin("user-missing", true).await.unwrap());
}
contract!(suspension_and_admin_flags);

/// Deleting a user removes their memberships, sessions and user tokens, unless they are the
/// only owner of an organization.
async fn user_deletion_spares_sole_owners(store: Arc<dyn Store>) {
    let owner = create_user(&*store, "owner").await;
    let member = create_user(&*store, "member").await;
    create_org(&*store, "org-b", Some(&owner)).await;
    create_org(&*store, "org-a", Some(&owner)).await;
    // A team that is not the owners team makes its founder a plain member.
    let mut dev = new_org("dev");
    dev.owners.is_owners = false;
    store
        .create_organization(
            &dev.org,
            &dev.owners,
            &dev.default_project,
            Some(&member.id),
        )
        .await
        .unwrap();
    let owner_token = create_token(&*store, TokenKind::User, &owner.id).await;
    let member_token = create_token(&*store, TokenKind::User, &member.id).await;
    let member_session = new_session(&member, clock::now() + TimeDelta::hours(1));
    store.create_session(&member_session).await.unwrap();

    assert_eq!(
        store.sole_owned_organizations(&owner.id).await.unwrap(),
        ["org-a", "org-b"]
    );
    assert!(store
        .sole_owned_organizations(&member.id)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.delete_user(&owner.id).await.unwrap(),
        UserDeletion::SoleOwner(vec!["org-a".into(), "org-b".into()])
    );
    assert!(store.user_by_id(&owner.id).await.unwrap().is_some());
    assert!(store.token_by_id(&owner_token.id).await.unwrap().is_some());

    assert_eq!(
        store.delete_user(&member.id).await.unwrap(),
        UserDeletion::Deleted
    );
    assert_eq!(store.user_by_id(&member.id).await.unwrap(), None);
    assert_eq!(store.token_by_id(&member_token.id).await.unwrap(), None);
    assert_eq!(
        store
            .session_by_hash(&member_session.id_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.member_teams(dev.id(), &member.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.delete_user(&member.id).await.unwrap(),
        UserDeletion::NotFound
    );
    // Once the organizations are gone, so is the refusal.
    let orgs = store
        .list_organizations(Some(&owner.id), all())
        .await
        .unwrap();
    for org in &orgs.items {
        store.delete_organization(&org.id).await.unwrap();
    }
    assert_eq!(
        store.delete_user(&owner.id).await.unwrap(),
        UserDeletion::Deleted
    );
}
contract!(user_deletion_spares_sole_owners);

/// Every organization by name or email substring, with each user's organizations and each
/// organization's owners.
async fn organizations_searched_with_owners_and_members(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let carol = create_user(&*store, "carol").await;
    let acme = create_org(&*store, "acme", Some(&alice)).await;
    let bolt = create_org(&*store, "bolt", Some(&bob)).await;
    let crux = create_org(&*store, "crux", Some(&alice)).await;
    let empty = create_org(&*store, "empty", None).await;

    let search = |query: Option<&'static str>, page: PageRequest| {
        let store = store.clone();
        async move { store.search_organizations(query, page).await.unwrap() }
    };
    let found = search(None, all()).await;
    assert_eq!(names(&found.items), ["acme", "bolt", "crux", "empty"]);
    assert_eq!(found.total, 4);
    // Fixtures' emails are admin@NAME.example.
    assert_eq!(names(&search(Some("OLT.ex"), all()).await.items), ["bolt"]);
    assert_eq!(
        names(&search(Some("c"), all()).await.items),
        ["acme", "crux"]
    );
    let second = search(None, page(2, 3)).await;
    assert_eq!(names(&second.items), ["empty"]);
    assert_eq!(second.total, 4);

    let ids = |users: &[&User]| users.iter().map(|u| u.id.clone()).collect::<Vec<_>>();
    let of_users = store
        .organizations_of_users(&ids(&[&alice, &bob, &carol]))
        .await
        .unwrap();
    assert_eq!(names(&of_users[&alice.id]), ["acme", "crux"]);
    assert_eq!(names(&of_users[&bob.id]), ["bolt"]);
    assert!(!of_users.contains_key(&carol.id));
    assert!(store.organizations_of_users(&[]).await.unwrap().is_empty());

    let org_ids: Vec<String> = [&acme, &bolt, &crux, &empty]
        .iter()
        .map(|o| o.id().to_string())
        .collect();
    let owners = store.owners_of_organizations(&org_ids).await.unwrap();
    let owner_names = |org: &OrgFixture| -> Vec<String> {
        owners[org.id()]
            .iter()
            .map(|u| u.username.clone())
            .collect()
    };
    assert_eq!(owner_names(&acme), ["alice"]);
    assert_eq!(owner_names(&bolt), ["bob"]);
    assert_eq!(owner_names(&crux), ["alice"]);
    assert!(!owners.contains_key(empty.id()));
    assert_eq!(owners[acme.id()][0], alice);
}
contract!(organizations_searched_with_owners_and_members);

// ---------------------------------------------------------------------------------------------
// SAML's replay cache.

/// An assertion is used once per identity provider, also by two callers at once; purged once
/// it could no longer be presented.
async fn saml_assertions_are_used_once(store: Arc<dyn Store>) {
    let now = clock::now();
    let later = now + TimeDelta::minutes(5);
    assert!(store
        .use_saml_assertion("idp-a", "_a1", later)
        .await
        .unwrap());
    assert!(!store
        .use_saml_assertion("idp-a", "_a1", later)
        .await
        .unwrap());
    // Another identity provider's assertion of the same ID is another assertion.
    assert!(store
        .use_saml_assertion("idp-b", "_a1", later)
        .await
        .unwrap());
    // Two replicas at once: one wins.
    let barrier = Arc::new(Barrier::new(2));
    let race = |store: Arc<dyn Store>, barrier: Arc<Barrier>| async move {
        barrier.wait().await;
        store
            .use_saml_assertion("idp-a", "_race", later)
            .await
            .unwrap()
    };
    let (one, two) = tokio::join!(
        tokio::spawn(race(store.clone(), barrier.clone())),
        tokio::spawn(race(store.clone(), barrier.clone()))
    );
    assert!(one.unwrap() ^ two.unwrap(), "exactly one use wins");
    // Kept until it expires, then purged.
    store.purge_expired(now).await.unwrap();
    assert!(!store
        .use_saml_assertion("idp-a", "_a1", later)
        .await
        .unwrap());
    store
        .purge_expired(later + TimeDelta::seconds(1))
        .await
        .unwrap();
    assert!(store
        .use_saml_assertion("idp-a", "_a1", later)
        .await
        .unwrap());
}
contract!(saml_assertions_are_used_once);

/// A sign-in in progress keeps its protocol, and is taken once.
async fn sso_requests_keep_their_protocol(store: Arc<dyn Store>) {
    let request = SsoRequest {
        state_hash: "h-1".into(),
        nonce: "_request-1".into(),
        pkce_verifier: String::new(),
        return_to: "/app".into(),
        expires_at: clock::now().trunc_subsecs(3) + TimeDelta::minutes(10),
        protocol: "saml".into(),
        organization_id: None,
    };
    store.create_sso_request(&request).await.unwrap();
    let taken = store.take_sso_request("h-1").await.unwrap().unwrap();
    assert_eq!(taken.protocol, "saml");
    assert_eq!(taken.nonce, "_request-1");
    assert_eq!(taken.expires_at, request.expires_at);
    assert!(store.take_sso_request("h-1").await.unwrap().is_none());
}
contract!(sso_requests_keep_their_protocol);

// ---------------------------------------------------------------------------------------------
// Single sign-on per organization

/// An organization's configuration reads back as written, is replaced in place, goes with
/// its organization, and counts as the organization's own provider only while enabled; a
/// sign-in in progress keeps the organization it goes through.
async fn organization_sso_configuration(store: Arc<dyn Store>) {
    let acme = create_org(&*store, "acme", None).await;
    let other = create_org(&*store, "other", None).await;
    let at = clock::now();
    let config = SsoConfiguration {
        organization_id: acme.id().to_string(),
        protocol: "oidc".into(),
        enabled: true,
        enforced: true,
        oidc_issuer: Some("https://idp.example".into()),
        oidc_client_id: Some("terrace".into()),
        oidc_client_secret_ciphertext: Some("ciphertext".into()),
        oidc_scopes: "profile email".into(),
        oidc_groups_claim: "roles".into(),
        oidc_username_claim: "nickname".into(),
        saml_idp_metadata: None,
        saml_username_attribute: "uid".into(),
        saml_email_attribute: "email".into(),
        saml_groups_attribute: "groups".into(),
        created_at: at,
        updated_at: at,
    };
    assert_eq!(store.sso_configuration(acme.id()).await.unwrap(), None);
    store.put_sso_configuration(&config).await.unwrap();
    assert_eq!(
        store.sso_configuration(acme.id()).await.unwrap(),
        Some(config.clone())
    );
    assert_eq!(store.sso_configuration(other.id()).await.unwrap(), None);
    // An enabled provider of its own takes an organization away from the site's groups.
    assert_eq!(
        store.site_sso_organizations().await.unwrap(),
        [other.id().to_string()]
    );
    let changed = SsoConfiguration {
        enabled: false,
        oidc_client_secret_ciphertext: None,
        protocol: "saml".into(),
        saml_idp_metadata: Some("<md:EntityDescriptor/>".into()),
        saml_groups_attribute: "memberOf".into(),
        updated_at: at + TimeDelta::seconds(5),
        ..config.clone()
    };
    store.put_sso_configuration(&changed).await.unwrap();
    assert_eq!(
        store.sso_configuration(acme.id()).await.unwrap(),
        Some(changed)
    );
    let mut both = vec![acme.id().to_string(), other.id().to_string()];
    both.sort();
    assert_eq!(store.site_sso_organizations().await.unwrap(), both);
    // So does not being vouched for.
    let mut unvouched = store.organization_by_id(other.id()).await.unwrap().unwrap();
    unvouched.follows_site_sso_groups = false;
    store.update_organization(&unvouched).await.unwrap();
    assert_eq!(
        store.site_sso_organizations().await.unwrap(),
        [acme.id().to_string()]
    );

    let request = SsoRequest {
        state_hash: ids::random_string(64),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        return_to: "/".into(),
        expires_at: at + TimeDelta::minutes(10),
        protocol: "oidc".into(),
        organization_id: Some(acme.id().to_string()),
    };
    store.create_sso_request(&request).await.unwrap();
    assert_eq!(
        store.take_sso_request(&request.state_hash).await.unwrap(),
        Some(request)
    );

    assert!(store.delete_sso_configuration(acme.id()).await.unwrap());
    assert!(!store.delete_sso_configuration(acme.id()).await.unwrap());
    store.put_sso_configuration(&config).await.unwrap();
    store.delete_organization(acme.id()).await.unwrap();
    assert_eq!(store.sso_configuration(acme.id()).await.unwrap(), None);
}
contract!(organization_sso_configuration);

/// Site settings: none until set, then the last value written, each name on its own.
async fn site_settings_are_stored_by_name(store: Arc<dyn Store>) {
    assert_eq!(
        store.site_setting("organization_creation").await.unwrap(),
        None
    );
    store
        .set_site_setting("organization_creation", "site-admins", clock::now())
        .await
        .unwrap();
    store
        .set_site_setting("organization_creation", "anyone", clock::now())
        .await
        .unwrap();
    store
        .set_site_setting("other", "x", clock::now())
        .await
        .unwrap();
    assert_eq!(
        store
            .site_setting("organization_creation")
            .await
            .unwrap()
            .as_deref(),
        Some("anyone")
    );
    assert_eq!(
        store.site_setting("other").await.unwrap().as_deref(),
        Some("x")
    );
}
contract!(site_settings_are_stored_by_name);

// ---------------------------------------------------------------------------------------------
// The binary cache

fn new_tool_archive(engine: Engine, version: &str, arch: &str) -> ToolArchive {
    ToolArchive {
        id: ids::new_id(ids::TOOL_ARCHIVE),
        engine,
        version: version.into(),
        os: "linux".into(),
        arch: arch.into(),
        filename: format!("{engine}_{version}_linux_{arch}.zip"),
        sha256: "5d5b09f6dcb2d53a5fffc60c4ac0d55fabdf556069d6631545f42aa6e3500f2e".into(),
        size: 3 << 30,
        origin: ToolArchiveOrigin::Pulled,
        blob_key: format!("tool-archives/{engine}/{version}/linux_{arch}/x"),
        created_at: utc(2026, 1, 2, 3, 4, 5, 678_901),
    }
}

/// One archive per engine, version and platform; every field reads back as written; the list
/// is ordered by engine, version and platform.
async fn tool_archives_by_platform(store: Arc<dyn Store>) {
    let tf = new_tool_archive(Engine::Terraform, "1.5.7", "amd64");
    let arm = ToolArchive {
        origin: ToolArchiveOrigin::Uploaded,
        ..new_tool_archive(Engine::Terraform, "1.5.7", "arm64")
    };
    let tofu = new_tool_archive(Engine::Tofu, "1.12.6", "amd64");
    for archive in [&tofu, &arm, &tf] {
        store.create_tool_archive(archive).await.unwrap();
    }
    assert_conflict(
        store
            .create_tool_archive(&new_tool_archive(Engine::Terraform, "1.5.7", "amd64"))
            .await,
        "a second archive for one platform",
    );
    assert_eq!(
        store
            .tool_archive(Engine::Terraform, "1.5.7", "linux", "arm64")
            .await
            .unwrap(),
        Some(arm.clone())
    );
    assert_eq!(
        store
            .tool_archive(Engine::Tofu, "1.5.7", "linux", "amd64")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.tool_archive_by_id(&tofu.id).await.unwrap(),
        Some(tofu.clone())
    );
    let listed = store.list_tool_archives(all()).await.unwrap();
    assert_eq!(listed.total, 3);
    assert_eq!(listed.items, vec![tf.clone(), arm.clone(), tofu.clone()]);
    let second = store.list_tool_archives(page(2, 2)).await.unwrap();
    assert_eq!(second.items, vec![tofu.clone()]);
    assert!(store.delete_tool_archive(&tf.id).await.unwrap());
    assert!(!store.delete_tool_archive(&tf.id).await.unwrap());
    assert_eq!(
        store
            .tool_archive(Engine::Terraform, "1.5.7", "linux", "amd64")
            .await
            .unwrap(),
        None
    );
}
contract!(tool_archives_by_platform);

/// A request can be dropped at any await (its client went away): a write dropped while its
/// transaction was starting must not leave the connection in that transaction, holding
/// SQLite's write lock, for the pool to hand out again.
async fn cancelled_writes_leave_no_transaction_open(store: Arc<dyn Store>) {
    use std::future::Future;
    use std::task::Poll;
    // Each write is polled without pause for a little longer than the one before, then
    // dropped: between them they are dropped at every step of opening the transaction.
    for round in 0..200u32 {
        let fixture = new_org(&format!("dropped-{round}"));
        let mut write = Box::pin(store.create_organization(
            &fixture.org,
            &fixture.owners,
            &fixture.default_project,
            None,
        ));
        let until = std::time::Instant::now() + std::time::Duration::from_micros(5 * round as u64);
        std::future::poll_fn(|cx| {
            if write.as_mut().poll(cx).is_ready() || std::time::Instant::now() >= until {
                return Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        drop(write);
    }
    // More writes at once than the pool has connections, so that every one is used: each
    // must commit, promptly (a leaked write lock makes the others wait out busy_timeout).
    let writes = (0..24).map(|i| {
        let store = store.clone();
        async move {
            let name = format!("after-{i}");
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                create_org(&*store, &name, None),
            )
            .await
            .unwrap_or_else(|_| panic!("creating {name} waited 10 s for the database"));
            name
        }
    });
    for name in futures::future::join_all(writes).await {
        assert!(
            store.organization_by_name(&name).await.unwrap().is_some(),
            "{name} was not committed"
        );
    }
}
contract!(cancelled_writes_leave_no_transaction_open);
