//! Every list statement uses an index: on a database seeded like a shared installation (many
//! organizations, thousands of workspaces, a workspace with thousands of runs and versions,
//! thousands of users, long audit trails), each list the API offers over such tables is read
//! through the store with query plans recorded
//! ([`SqlStore::record_query_plans`]), and a plan that scans a large table from end to end
//! fails the test. The totals are checked too, so the plans are those of working queries.

mod common;

use chrono::{TimeZone, Utc};
use common::TestDb;
use sqlx::{Connection, Executor};
use terrace_storage::model::{AuditFilter, PageRequest, RunStatus, TokenKind};
use terrace_storage::sql::{Backend, QueryPlan};
use terrace_storage::store::{
    AuditStore, ConfigurationStore, MembershipFilter, MembershipStore, OrganizationStore,
    RunFilter, RunStore, StateVersionStore, TokenStore, VariableOwner, VariableStore,
    WorkspaceFilter, WorkspaceOrder, WorkspaceStore,
};

const ORGS: usize = 50;
/// Organizations beyond [`ORGS`] with nothing in them yet (sign-ups, trials): the
/// organizations a user belongs to are a few among many.
const QUIET_ORGS: usize = 2_000;
const WORKSPACES_PER_ORG: usize = 2_000;
const PROJECTS_PER_ORG: usize = 10;
const TEAMS: [&str; 10] = [
    "falcon", "otter", "badger", "heron", "lynx", "marten", "osprey", "puffin", "raven", "stoat",
];
/// Runs of the one busy workspace (`ws-1`); every workspace of the first [`RUNS`] has one.
const BUSY_RUNS: usize = 2_000;
const RUNS: usize = 90_000;
/// State versions, configuration versions and variables: like the runs, one for each workspace
/// of the first [`RUNS`] and [`BUSY_VERSIONS`] more for `ws-1`.
const BUSY_VERSIONS: usize = 1_000;
/// Of them, `ws-1` also has this many state versions not yet finalized (not listed).
const PENDING_STATES: usize = 10;
const BUSY_VARIABLES: usize = 50;
/// Users `user-N`, each an active member of [`ORGS_PER_USER`] organizations, with
/// [`TOKENS_PER_USER`] API tokens.
const USERS: usize = 25_000;
const ORGS_PER_USER: usize = 4;
const TOKENS_PER_USER: usize = 4;
/// Audit events, spread evenly over the organizations and the site (no organization): 2,000
/// each, one every second.
const AUDIT_EVENTS: usize = 2_000 * (ORGS + 1);

/// The tables that grow with use (organizations, workspaces and what they hold, users and
/// what they hold, the audit trail); a full scan of any of them fails the test. (Projects, teams and tags are
/// a hundred times fewer: a plan may read such a small table whole, and the planner rightly
/// does when it is this small. On SQLite, whose plans name aliases, any scan fails.)
const LARGE_TABLES: [&str; 11] = [
    "organizations",
    "workspaces",
    "runs",
    "workspace_tags",
    "state_versions",
    "configuration_versions",
    "variables",
    "audit_events",
    "users",
    "organization_memberships",
    "tokens",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    check_list_plans(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    check_list_plans(TestDb::postgres().await).await;
}

async fn check_list_plans(db: TestDb) {
    let backend = db.store.backend();
    let planner = Planner {
        backend,
        large_tables: &LARGE_TABLES,
        partial_indexes: seed(&db.url, backend).await,
    };
    let mut store = db.store.clone();
    let plans = store.record_query_plans();

    let org = "org-3";
    let first = PageRequest {
        number: 1,
        size: 100,
    };
    let last = PageRequest {
        number: 10,
        size: 100,
    };
    let cases: Vec<(&str, WorkspaceFilter, PageRequest, u64)> = vec![
        ("all, first page", WorkspaceFilter::default(), first, 2_000),
        ("all, last page", WorkspaceFilter::default(), last, 2_000),
        (
            "search[name]",
            WorkspaceFilter {
                name_contains: Some("falcon".into()),
                ..Default::default()
            },
            first,
            200,
        ),
        (
            "search[wildcard-name]",
            WorkspaceFilter {
                name_wildcard: Some("svc-3-1*".into()),
                ..Default::default()
            },
            first,
            1_111,
        ),
        (
            "search[tags]",
            WorkspaceFilter {
                tags: vec!["team-otter".into()],
                ..Default::default()
            },
            first,
            200,
        ),
        (
            "search[tags] with a value",
            WorkspaceFilter {
                tagged: vec![("team-otter".into(), Some("yes".into()))],
                ..Default::default()
            },
            first,
            200,
        ),
        (
            "filter[project][id]",
            WorkspaceFilter {
                project_id: Some("prj-3-4".into()),
                ..Default::default()
            },
            first,
            200,
        ),
        (
            "filter[current-run][status]",
            WorkspaceFilter {
                current_run_status: Some(RunStatus::Errored.as_str().into()),
                ..Default::default()
            },
            first,
            0,
        ),
        (
            "visible to a team",
            WorkspaceFilter {
                visible_to_teams: Some(vec!["team-3".into()]),
                ..Default::default()
            },
            first,
            200,
        ),
        (
            "sort=name, last page",
            WorkspaceFilter {
                order: Some(WorkspaceOrder::Name { descending: false }),
                ..Default::default()
            },
            last,
            2_000,
        ),
    ];
    let mut failures = Vec::new();
    for (label, filter, page, total) in cases {
        let found = store
            .list_workspaces(org, &filter, page)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(found.total, total, "{label}: total");
        failures.extend(full_scans(
            &planner,
            &format!("workspaces, {label}"),
            &take(&plans),
        ));
    }

    let busy = RunFilter {
        workspace_id: Some("ws-1".into()),
        ..Default::default()
    };
    for (label, page) in [
        ("first page", first),
        (
            "last page",
            PageRequest {
                number: 20,
                size: 100,
            },
        ),
    ] {
        let found = store.list_runs(&busy, page).await.expect("runs");
        // Its own runs and the one every workspace of the first [`RUNS`] has.
        assert_eq!(found.total, BUSY_RUNS as u64 + 1, "runs, {label}: total");
        assert_eq!(found.items.len(), 100, "runs, {label}: items");
        failures.extend(full_scans(
            &planner,
            &format!("runs of a workspace, {label}"),
            &take(&plans),
        ));
    }

    failures.extend(check_growing_lists(&store, &planner, &plans).await);

    assert_no_full_scans(&failures);
    db.remove().await;
}

/// Workspaces of the one organization of [`one_organization`]: an installation where one
/// organization holds every workspace (a company consolidating its teams), so that
/// "its organization's workspaces" selects the whole table and only the other conditions
/// narrow a list.
const SOLO_WORKSPACES: usize = 100_000;
/// Its tags, `tag-T`: each on one in [`SOLO_TAGS`] workspaces.
const SOLO_TAGS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_organization_sqlite() {
    check_one_organization(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_organization_postgres() {
    check_one_organization(TestDb::postgres().await).await;
}

/// The lists of the only organization use their indexes too: its whole list is not counted
/// (the count is kept), and each filter narrows through its index.
async fn check_one_organization(db: TestDb) {
    let backend = db.store.backend();
    let words = TEAMS.len();
    let statements = vec![
        format!(
            "INSERT INTO organizations (id, name, email, created_at, updated_at) \
             VALUES ('solo', 'solo', 'o@example.com', {t}, {t})",
            t = time(backend, "0")
        ),
        format!(
            "{} INSERT INTO projects (id, organization_id, name, created_at) \
             SELECT 'prj-' || i, 'solo', 'p' || i, {t} FROM n",
            series(PROJECTS_PER_ORG),
            t = time(backend, "i")
        ),
        "INSERT INTO teams (id, organization_id, name, created_at) \
         VALUES ('team-solo', 'solo', 'team', '2026-01-01 00:00:00+00:00')"
            .to_string(),
        "INSERT INTO team_projects (id, team_id, project_id, access, grants, created_at) \
         VALUES ('tprj-solo', 'team-solo', 'prj-4', 'read', '{}', '2026-01-01 00:00:00+00:00')"
            .to_string(),
        format!(
            "{} INSERT INTO tags (id, organization_id, name, created_at) \
             SELECT 'tag-' || i, 'solo', 'tag-' || i, {t} FROM n",
            series(SOLO_TAGS),
            t = time(backend, "i")
        ),
        format!(
            "{} INSERT INTO workspaces (id, organization_id, project_id, name, terraform_version, created_at, updated_at) \
             SELECT 'ws-' || i, 'solo', 'prj-' || (i % {PROJECTS_PER_ORG}), \
             'svc-' || i || '-' || {word}, '1.11.4', {t}, {t} FROM n",
            series(SOLO_WORKSPACES),
            t = time(backend, "i"),
            word = team_word("i"),
        ),
        format!(
            "{} INSERT INTO workspace_tags (workspace_id, tag_id, value, workspace_created_at) \
             SELECT 'ws-' || i, 'tag-' || (i % {SOLO_TAGS}), 'yes', {t} FROM n",
            series(SOLO_WORKSPACES),
            t = time(backend, "i"),
        ),
    ];
    let planner = Planner {
        backend,
        // The tables it fills: the others are empty, and rightly read whole.
        large_tables: &["workspaces", "workspace_tags"],
        // Statistics as an installation has them: PostgreSQL's autovacuum gathers them,
        // while nothing runs `ANALYZE` on SQLite.
        partial_indexes: execute(&db.url, backend, &statements, backend == Backend::Postgres).await,
    };
    let mut store = db.store.clone();
    let plans = store.record_query_plans();
    let tag_share = (SOLO_WORKSPACES / SOLO_TAGS) as u64;
    let page = |number| PageRequest { number, size: 100 };
    let tagged = || WorkspaceFilter {
        tags: vec!["tag-7".into()],
        ..Default::default()
    };
    let all = SOLO_WORKSPACES as u64;
    let cases: Vec<(&str, WorkspaceFilter, PageRequest, u64)> = vec![
        ("all, first page", WorkspaceFilter::default(), page(1), all),
        (
            "all, middle page",
            WorkspaceFilter::default(),
            page(500),
            all,
        ),
        (
            "all, last page",
            WorkspaceFilter::default(),
            page(1_000),
            all,
        ),
        (
            "sort=name, middle page",
            WorkspaceFilter {
                order: Some(WorkspaceOrder::Name { descending: false }),
                ..Default::default()
            },
            page(500),
            all,
        ),
        ("search[tags], first page", tagged(), page(1), tag_share),
        ("search[tags], last page", tagged(), page(20), tag_share),
        (
            "search[tags], sort=name",
            WorkspaceFilter {
                order: Some(WorkspaceOrder::Name { descending: false }),
                ..tagged()
            },
            page(2),
            tag_share,
        ),
        (
            "search[tags] with a value",
            WorkspaceFilter {
                tagged: vec![("tag-7".into(), Some("yes".into()))],
                ..Default::default()
            },
            page(1),
            tag_share,
        ),
        (
            "search[name]",
            WorkspaceFilter {
                name_contains: Some("falcon".into()),
                ..Default::default()
            },
            page(1),
            (SOLO_WORKSPACES / words) as u64,
        ),
        (
            "filter[project][id]",
            WorkspaceFilter {
                project_id: Some("prj-4".into()),
                ..Default::default()
            },
            page(1),
            (SOLO_WORKSPACES / PROJECTS_PER_ORG) as u64,
        ),
        (
            "visible to a team",
            WorkspaceFilter {
                visible_to_teams: Some(vec!["team-solo".into()]),
                ..Default::default()
            },
            page(1),
            (SOLO_WORKSPACES / PROJECTS_PER_ORG) as u64,
        ),
    ];
    let mut failures = Vec::new();
    for (label, filter, page, total) in cases {
        let found = store
            .list_workspaces("solo", &filter, page)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(found.total, total, "{label}: total");
        assert!(!found.items.is_empty(), "{label}: items");
        let recorded = take(&plans);
        if filter.selects_all() {
            // PostgreSQL reads the list's marks once, for the first page far from both ends,
            // and starts that page after the last mark before it.
            let marked = backend == Backend::Postgres && label == "all, middle page";
            let statements: Vec<&str> = recorded.iter().map(|r| r.statement.as_str()).collect();
            if marked {
                assert!(
                    statements.len() == 2
                        && statements[0].starts_with("WITH RECURSIVE marks")
                        && statements[1].contains("(w.created_at, w.id) > ("),
                    "{label}: the marks, then the page after one: {statements:#?}"
                );
            } else {
                assert_eq!(
                    statements.len(),
                    1,
                    "{label}: the page alone, its count is kept: {statements:#?}"
                );
            }
        }
        // In another order, PostgreSQL walks to a page of a tag in the list's order against a
        // hash of the tagged workspaces, instead of probing the tag's index once per workspace walked
        // (thousands of probes for this tag's first page; every workspace for a rare tag).
        // SQLite finds the tag's workspaces by their keys, for the count and the page,
        // instead of walking the organization's and probing the tag's for each.
        // One tag's workspaces are counted from its rows alone, without the workspaces.
        if filter.only_tag().is_some() {
            let count = &recorded[0].statement;
            assert!(
                count.starts_with("SELECT COUNT(*) FROM workspace_tags wt WHERE")
                    && !count.contains("workspaces"),
                "{label}: counted from the tag's rows: {count}"
            );
        }
        // A lone tag's page in the default order walks the tag's own index, which is in the
        // list's order (migration 0049), on both databases: a page's worth of entries.
        if filter.only_tag().is_some() && filter.order.is_none() {
            let page = &recorded[recorded.len() - 1];
            let shows = match backend {
                Backend::Postgres => "using workspace_tags_tag on workspace_tags wt",
                Backend::Sqlite => "SEARCH wt USING COVERING INDEX workspace_tags_tag (tag_id=?)",
            };
            assert!(
                page.statement
                    .contains("(SELECT wt.workspace_id AS page_key FROM workspace_tags wt WHERE")
                    && page.plan.iter().any(|line| line.contains(shows)
                        && (backend == Backend::Sqlite || line.contains("Index Only Scan"))),
                "{label}: the page walks the tag's index ({shows}):\n  {}\n  {}",
                page.statement,
                page.plan.join("\n  ")
            );
        } else if label.starts_with("search[tags]") {
            let (statements, shows) = match backend {
                Backend::Postgres => (&recorded[recorded.len() - 1..], "hashed SubPlan"),
                Backend::Sqlite => (
                    &recorded[usize::from(filter.only_tag().is_some())..],
                    "SEARCH w USING INDEX sqlite_autoindex_workspaces_1 (id=?)",
                ),
            };
            for statement in statements {
                assert!(
                    statement.plan.iter().any(|line| line.contains(shows)),
                    "{label}: the plan shows {shows}:\n  {}\n  {}",
                    statement.statement,
                    statement.plan.join("\n  ")
                );
            }
        }
        failures.extend(full_scans(
            &planner,
            &format!("the only organization's workspaces, {label}"),
            &recorded,
        ));
    }
    assert_no_full_scans(&failures);
    check_deep_pages(&store, &plans).await;
    db.remove().await;
}

/// Deep pages of the only organization's list hold the rows an `OFFSET` would, also after a
/// workspace before them is deleted (on PostgreSQL they start after a mark, which the change
/// must not leave stale).
async fn check_deep_pages(
    store: &terrace_storage::sql::SqlStore,
    plans: &terrace_storage::sql::QueryPlans,
) {
    let ids = |found: &terrace_storage::model::Page<terrace_storage::model::Workspace>| {
        found.items.iter().map(|w| w.id.clone()).collect::<Vec<_>>()
    };
    // `ws-i` is the `i`-th workspace (from 0) of the list, in creation order.
    let expected = |from: usize, to: usize| (from..to).map(|i| format!("ws-{i}")).collect();
    let all = WorkspaceFilter::default();
    for number in [11u32, 500, 777, 999] {
        let page = PageRequest { number, size: 100 };
        let found = store.list_workspaces("solo", &all, page).await.unwrap();
        let from = (number as usize - 1) * 100;
        let want: Vec<String> = expected(from, from + 100);
        assert_eq!(ids(&found), want, "page {number}");
    }
    assert!(store.delete_workspace("ws-5").await.unwrap());
    let found = store
        .list_workspaces(
            "solo",
            &all,
            PageRequest {
                number: 500,
                size: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(found.total, SOLO_WORKSPACES as u64 - 1);
    assert_eq!(
        ids(&found),
        expected(49_901, 50_001) as Vec<String>,
        "page 500 after a workspace before it is gone"
    );
    let page = PageRequest {
        number: 777,
        size: 100,
    };
    let found = store.list_workspaces("solo", &all, page).await.unwrap();
    assert_eq!(
        ids(&found),
        expected(77_601, 77_701) as Vec<String>,
        "page 777 too"
    );
    take(plans);
}

/// The lists over the tables that grow with use: versions and variables of a workspace, the
/// audit trail of an organization, the members of an organization, the organizations and
/// tokens of a user. Returns the full scans found.
async fn check_growing_lists(
    store: &terrace_storage::sql::SqlStore,
    planner: &Planner,
    plans: &terrace_storage::sql::QueryPlans,
) -> Vec<String> {
    let mut failures = Vec::new();
    let mut check = |label: &str| failures.extend(full_scans(planner, label, &take(plans)));
    let first = PageRequest {
        number: 1,
        size: 100,
    };
    let last = PageRequest {
        number: 11,
        size: 100,
    };
    let versions = BUSY_VERSIONS as u64 + 1;

    for (label, page, items) in [("first page", first, 100), ("last page", last, 1)] {
        let states = store
            .list_state_versions("ws-1", page)
            .await
            .expect("states");
        assert_eq!(states.total, versions, "state versions, {label}: total");
        assert_eq!(states.items.len(), items, "state versions, {label}: items");
        check(&format!("state versions of a workspace, {label}"));

        let configurations = store
            .list_configuration_versions("ws-1", page)
            .await
            .expect("configuration versions");
        assert_eq!(
            configurations.total, versions,
            "configurations, {label}: total"
        );
        assert_eq!(
            configurations.items.len(),
            items,
            "configurations, {label}: items"
        );
        check(&format!("configuration versions of a workspace, {label}"));
    }

    let variables = store
        .list_variables(&VariableOwner::Workspace("ws-1".into()))
        .await
        .expect("variables");
    assert_eq!(
        variables.len(),
        BUSY_VARIABLES + 1,
        "variables of a workspace"
    );
    check("variables of a workspace");

    let per_trail = (AUDIT_EVENTS / (ORGS + 1)) as u64;
    let since = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::seconds(AUDIT_EVENTS as i64 / 2);
    for (label, filter, page, total) in [
        (
            "organization, first page",
            AuditFilter {
                organization_id: Some("org-3".into()),
                ..Default::default()
            },
            first,
            per_trail,
        ),
        (
            "organization, last page",
            AuditFilter {
                organization_id: Some("org-3".into()),
                ..Default::default()
            },
            PageRequest {
                number: 20,
                size: 100,
            },
            per_trail,
        ),
        (
            "organization, since",
            AuditFilter {
                organization_id: Some("org-3".into()),
                since: Some(since),
                ..Default::default()
            },
            first,
            per_trail / 2,
        ),
        ("site", AuditFilter::default(), first, per_trail),
    ] {
        let events = store
            .list_audit_events(&filter, page)
            .await
            .unwrap_or_else(|e| panic!("audit trail, {label}: {e}"));
        assert_eq!(events.total, total, "audit trail, {label}: total");
        check(&format!("audit trail, {label}"));
    }

    let members_per_org = (USERS * ORGS_PER_USER / ORGS) as u64;
    for (label, page) in [
        ("first page", first),
        (
            "last page",
            PageRequest {
                number: 20,
                size: 100,
            },
        ),
    ] {
        let members = store
            .list_memberships("org-3", &MembershipFilter::default(), page)
            .await
            .expect("memberships");
        assert_eq!(members.total, members_per_org, "members, {label}: total");
        assert_eq!(members.items.len(), 100, "members, {label}: items");
        check(&format!("members of an organization, {label}"));
    }

    let organizations = store
        .list_organizations(Some("user-7"), first)
        .await
        .expect("organizations of a user");
    assert_eq!(
        organizations.total, ORGS_PER_USER as u64,
        "organizations of a user"
    );
    check("organizations of a user");

    let candidates = store
        .auto_destroy_candidates(Utc::now())
        .await
        .expect("auto-destroy candidates");
    assert_eq!(
        candidates.len(),
        WORKSPACES_PER_ORG / PROJECTS_PER_ORG + 2,
        "auto-destroy candidates"
    );
    check("auto-destroy sweep");

    let tokens = store
        .list_tokens(TokenKind::User, "user-7", first)
        .await
        .expect("tokens");
    assert_eq!(tokens.total, TOKENS_PER_USER as u64, "tokens of a user");
    check("tokens of a user");

    failures
}

/// The word of [`TEAMS`] that number `i` (an SQL expression) picks, as an SQL expression.
fn team_word(i: &str) -> String {
    let cases: Vec<String> = TEAMS
        .iter()
        .enumerate()
        .map(|(k, w)| format!("WHEN {k} THEN '{w}'"))
        .collect();
    format!("CASE {i} % {} {} END", TEAMS.len(), cases.join(" "))
}

fn assert_no_full_scans(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "full scans of large tables:\n{}",
        failures.join("\n\n")
    );
}

fn take(plans: &terrace_storage::sql::QueryPlans) -> Vec<QueryPlan> {
    std::mem::take(&mut *plans.lock().unwrap())
}

/// The database whose plans are read.
struct Planner {
    backend: Backend,
    /// The tables of the test that a plan must not read whole.
    large_tables: &'static [&'static str],
    /// Its partial indexes (SQLite's; PostgreSQL's plans tell them apart by themselves): an
    /// index holding only the rows a statement wants may be read whole.
    partial_indexes: Vec<String>,
}

/// The statements of `plans` that scan a large table from end to end, with their plans.
fn full_scans(planner: &Planner, label: &str, plans: &[QueryPlan]) -> Vec<String> {
    assert!(!plans.is_empty(), "{label}: no list statement was recorded");
    plans
        .iter()
        .filter(|p| {
            p.plan.iter().any(|line| scans_large_table(planner, line))
                || (planner.backend == Backend::Postgres && walks_large_index(planner, &p.plan))
        })
        .map(|p| format!("{label}:\n  {}\n  {}", p.statement, p.plan.join("\n  ")))
        .collect()
}

/// Whether one node of a plan reads a whole large table.
fn scans_large_table(planner: &Planner, line: &str) -> bool {
    let line = line.trim_start_matches([' ', '-', '>']).trim();
    match planner.backend {
        // "Seq Scan on workspaces w  (cost=...)"
        Backend::Postgres => line
            .strip_prefix("Seq Scan on ")
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|table| planner.large_tables.contains(&table)),
        // "SCAN w" (the table), but not "SCAN page" (the page's own keys, at most a page of
        // them) nor "SCAN w USING (COVERING) INDEX <partial index>".
        Backend::Sqlite => line.strip_prefix("SCAN ").is_some_and(|rest| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let object = words.first().copied().unwrap_or("");
            let partial = words.windows(2).any(|pair| {
                pair[0] == "INDEX" && planner.partial_indexes.iter().any(|i| i == pair[1])
            });
            object != "page"
                && !object.starts_with('(')
                && !object.starts_with("CONSTANT")
                && !partial
        }),
    }
}

/// Whether a PostgreSQL plan walks a whole index of a large table to filter it: an index scan
/// with a `Filter` but no `Index Cond` reads every entry (for the index's order) and keeps
/// those that match, which costs as much as a sequential scan (an organization's audit trail
/// read through the index of all events' times, keeping one in fifty). A scan with neither
/// reads a partial index whole, which holds only the rows wanted. SQLite shows such a walk as
/// a `SCAN ... USING INDEX`.
fn walks_large_index(planner: &Planner, plan: &[String]) -> bool {
    let node = |line: &str| line.trim_start().starts_with("->");
    plan.iter().enumerate().any(|(i, line)| {
        let line = line.trim_start_matches([' ', '-', '>']);
        let scan = ["Index Scan ", "Index Only Scan "]
            .iter()
            .any(|kind| line.starts_with(kind));
        // "Index Scan [Backward] using <index> on <table> <alias>  (cost=...)"
        let table = line
            .split_once(" on ")
            .and_then(|(_, rest)| rest.split_whitespace().next());
        let details: Vec<&str> = plan[i + 1..]
            .iter()
            .take_while(|detail| !node(detail))
            .map(|detail| detail.trim_start())
            .collect();
        scan && table.is_some_and(|table| planner.large_tables.contains(&table))
            && details.iter().any(|d| d.starts_with("Filter:"))
            && !details.iter().any(|d| d.starts_with("Index Cond:"))
    })
}

/// Seeds the database with SQL of its own (the store would take minutes for as many rows):
/// organizations `org-K`, their projects `prj-K-P`, teams `team-K`, tags `team-<word>`, and
/// workspaces `ws-N` named `svc-K-I-<word>` (I counting from 0 in each organization),
/// tagged `team-<word>` = yes, the first [`RUNS`] with one run and `ws-1` with [`BUSY_RUNS`];
/// likewise state versions, configuration versions and variables; [`QUIET_ORGS`] more
/// organizations; users `user-U` with their memberships and tokens; the audit trails.
async fn seed(url: &str, backend: Backend) -> Vec<String> {
    let time = |n: &str| time(backend, n);
    // As the store binds an instant (SQLite: RFC 3339 text), for columns compared with one.
    let bound_time = |n: &str| match backend {
        Backend::Postgres => time(n),
        Backend::Sqlite => {
            format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', '2026-01-01', '+' || {n} || ' seconds')")
        }
    };
    let words = TEAMS.len();
    let per_org = WORKSPACES_PER_ORG;
    let statements = vec![
        format!(
            "{} INSERT INTO organizations (id, name, email, created_at, updated_at) \
             SELECT 'org-' || i, 'org-' || i, 'o@example.com', {t}, {t} FROM n",
            series(ORGS + QUIET_ORGS),
            t = time("i")
        ),
        format!(
            "{} INSERT INTO projects (id, organization_id, name, created_at) \
             SELECT 'prj-' || (i / {PROJECTS_PER_ORG}) || '-' || (i % {PROJECTS_PER_ORG}), \
             'org-' || (i / {PROJECTS_PER_ORG}), 'p' || i, {t} FROM n",
            series(ORGS * PROJECTS_PER_ORG),
            t = time("i")
        ),
        format!(
            "{} INSERT INTO teams (id, organization_id, name, created_at) \
             SELECT 'team-' || i, 'org-' || i, 'team', {t} FROM n",
            series(ORGS),
            t = time("i")
        ),
        format!(
            "{} INSERT INTO tags (id, organization_id, name, created_at) \
             SELECT 'tag-' || (i / {words}) || '-' || (i % {words}), 'org-' || (i / {words}), \
             'team-' || {word}, {t} FROM n",
            series(ORGS * words),
            t = time("i"),
            word = team_word("i"),
        ),
        format!(
            "{} INSERT INTO workspaces (id, organization_id, project_id, name, terraform_version, created_at, updated_at) \
             SELECT 'ws-' || i, 'org-' || (i / {per_org}), \
             'prj-' || (i / {per_org}) || '-' || (i % {PROJECTS_PER_ORG}), \
             'svc-' || (i / {per_org}) || '-' || (i % {per_org}) || '-' || {word}, \
             '1.11.4', {t}, {t} FROM n",
            series(ORGS * per_org),
            t = time("i"),
            word = team_word("i"),
        ),
        format!(
            "{} INSERT INTO workspace_tags (workspace_id, tag_id, value, workspace_created_at) \
             SELECT 'ws-' || i, 'tag-' || (i / {per_org}) || '-' || (i % {words}), 'yes', {t} \
             FROM n",
            series(ORGS * per_org),
            t = time("i"),
        ),
        // Auto-destroy: one project of organization 5 destroys its (200) workspaces after
        // inactivity, workspace 8 has a duration of its own, workspace 7 a deadline.
        "UPDATE projects SET auto_destroy_activity_duration = '14d' WHERE id = 'prj-5-0'".to_string(),
        "UPDATE workspaces SET auto_destroy_activity_duration = '1h', \
         inherits_project_auto_destroy = FALSE WHERE id = 'ws-8'"
            .to_string(),
        format!(
            "UPDATE workspaces SET auto_destroy_at = {} WHERE id = 'ws-7'",
            bound_time("5")
        ),
        // Team 3 sees one project of its organization (100 workspaces).
        "INSERT INTO team_projects (id, team_id, project_id, access, grants, created_at) \
         VALUES ('tprj-3', 'team-3', 'prj-3-4', 'read', '{}', '2026-01-01 00:00:00+00:00')"
            .to_string(),
        run_insert(&series(RUNS), "'run-' || i", "'ws-' || i", &time("i")),
        run_insert(&series(BUSY_RUNS), "'busy-' || i", "'ws-1'", &time("i")),
        state_insert(&series(RUNS), "'sv-' || i", "'ws-' || i", "'finalized'", &time("i")),
        state_insert(&series(BUSY_VERSIONS), "'busy-sv-' || i", "'ws-1'", "'finalized'", &time("i")),
        state_insert(&series(PENDING_STATES), "'pending-sv-' || i", "'ws-1'", "'pending'", &time("i")),
        configuration_insert(&series(RUNS), "'cv-' || i", "'ws-' || i", &time("i")),
        configuration_insert(&series(BUSY_VERSIONS), "'busy-cv-' || i", "'ws-1'", &time("i")),
        variable_insert(&series(RUNS), "'var-' || i", "'ws-' || i", &time("i")),
        variable_insert(&series(BUSY_VARIABLES), "'busy-var-' || i", "'ws-1'", &time("i")),
        format!(
            "{} INSERT INTO users (id, username, email, created_at) \
             SELECT 'user-' || i, 'user-' || i, 'u' || i || '@example.com', {t} FROM n",
            series(USERS),
            t = time("i")
        ),
        // User U is a member of organizations U, U + 13, U + 26 and U + 39 (modulo ORGS).
        format!(
            "{} INSERT INTO organization_memberships (id, organization_id, user_id, email, status, created_at) \
             SELECT 'om-' || i, 'org-' || ((i / {ORGS_PER_USER} + (i % {ORGS_PER_USER}) * 13) % {ORGS}), \
             'user-' || (i / {ORGS_PER_USER}), 'u' || (i / {ORGS_PER_USER}) || '@example.com', 'active', {t} FROM n",
            series(USERS * ORGS_PER_USER),
            t = time("i")
        ),
        format!(
            "{} INSERT INTO tokens (id, kind, owner_id, description, secret_hash, created_at) \
             SELECT 'at-' || i, 'user', 'user-' || (i / {TOKENS_PER_USER}), 'token', 'hash-' || i, {t} FROM n",
            series(USERS * TOKENS_PER_USER),
            t = time("i")
        ),
        // Event N is of organization N % (ORGS + 1), the last being the site's.
        format!(
            "{} INSERT INTO audit_events (id, occurred_at, organization_id, actor_kind, action, status) \
             SELECT 'ae-' || i, {t}, CASE WHEN i % {trails} = {ORGS} THEN NULL ELSE 'org-' || (i % {trails}) END, \
             'user', 'workspace.read', 200 FROM n",
            series(AUDIT_EVENTS),
            t = bound_time("i"),
            trails = ORGS + 1
        ),
    ];
    // Statistics as an installation has them (see `check_one_organization`).
    execute(url, backend, &statements, backend == Backend::Postgres).await
}

/// Runs the seed's statements, then gathers statistics if `analyze`; returns SQLite's
/// partial indexes.
async fn execute(url: &str, backend: Backend, statements: &[String], analyze: bool) -> Vec<String> {
    let analyze = match (backend, analyze) {
        (_, false) => "SELECT 1",
        (Backend::Postgres, true) => "VACUUM ANALYZE",
        (Backend::Sqlite, true) => "ANALYZE",
    };
    match backend {
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connecting");
            for s in statements.iter().map(String::as_str).chain([analyze]) {
                conn.execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
            }
        }
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url)
                .await
                .expect("connecting");
            for s in statements.iter().map(String::as_str).chain([analyze]) {
                conn.execute(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
            }
            return sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'",
            )
            .fetch_all(&mut conn)
            .await
            .expect("partial indexes");
        }
    }
    Vec::new()
}

/// The instant `n` seconds into 2026, as an SQL expression (`n` an expression too).
fn time(backend: Backend, n: &str) -> String {
    match backend {
        Backend::Postgres => {
            format!("(TIMESTAMPTZ '2026-01-01 00:00:00+00' + {n} * INTERVAL '1 second')")
        }
        Backend::Sqlite => {
            format!("strftime('%Y-%m-%d %H:%M:%f+00:00', '2026-01-01', '+' || {n} || ' seconds')")
        }
    }
}

/// A common table `n` of the numbers `i` from 0 to `max` - 1, for `INSERT ... SELECT`s.
fn series(max: usize) -> String {
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {})",
        max - 1
    )
}

/// Plan-and-apply runs, one per number of `series`.
fn run_insert(series: &str, id: &str, workspace: &str, time: &str) -> String {
    format!(
        "{series} INSERT INTO runs (id, workspace_id, configuration_version_id, status, message, \
         source, trigger_reason, is_destroy, refresh, refresh_only, plan_only, save_plan, \
         auto_apply, allow_empty_apply, variables_ciphertext, terraform_version, created_at, \
         updated_at) SELECT {id}, {workspace}, 'cv-none', 'applied', '', 'tfe-api', 'manual', \
         FALSE, TRUE, FALSE, FALSE, FALSE, FALSE, FALSE, '', '1.11.4', {time}, {time} FROM n"
    )
}

/// Finalized (or `status`) state versions, one per number of `series`.
fn state_insert(series: &str, id: &str, workspace: &str, status: &str, time: &str) -> String {
    format!(
        "{series} INSERT INTO state_versions (id, workspace_id, serial, md5, status, created_at) \
         SELECT {id}, {workspace}, i, 'md5', {status}, {time} FROM n"
    )
}

/// Uploaded configuration versions, one per number of `series`.
fn configuration_insert(series: &str, id: &str, workspace: &str, time: &str) -> String {
    format!(
        "{series} INSERT INTO configuration_versions (id, workspace_id, status, source, speculative, \
         provisional, auto_queue_runs, created_at) \
         SELECT {id}, {workspace}, 'uploaded', 'tfe-api', FALSE, FALSE, TRUE, {time} FROM n"
    )
}

/// Terraform variables of a workspace, one per number of `series`.
fn variable_insert(series: &str, id: &str, workspace: &str, time: &str) -> String {
    format!(
        "{series} INSERT INTO variables (id, workspace_id, key, value_ciphertext, category, \
         version_id, created_at, updated_at) \
         SELECT {id}, {workspace}, {id}, '', 'terraform', 'v1', {time}, {time} FROM n"
    )
}
