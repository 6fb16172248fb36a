//! Organizations, the workspace list (search, pagination, latest-run badges) and a
//! workspace's overview (latest run, lock, resources, outputs with sensitive ones masked,
//! tags, how it runs).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use terrace_domain::access::WorkspaceRef;
use terrace_domain::runs::RunScope;
use terrace_domain::workspaces::WorkspaceView;
use terrace_domain::DomainError;
use terrace_storage::model::{PageRequest, RunStatus};
use terrace_storage::store::{RunFilter, WorkspaceFilter};

use super::charts::{self, Chart, Point};
use super::{
    failure, forged_form, form_token_ok, page_count, progress, redirect, when, workspace_path,
    Session, TokenForm, PAGE_SIZE,
};
use super::{markdown, projects, states};
use crate::app::AppState;
use crate::jsonapi::RawBody;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ListQuery {
    q: String,
    /// Tags the workspaces must all carry: `key` or `key:value`, as in the settings.
    tag: String,
    /// The status of their current run.
    status: String,
    /// A project's ID.
    project: String,
    #[serde(skip_serializing)]
    page: Option<u32>,
}

impl ListQuery {
    fn filter(&self) -> WorkspaceFilter {
        let given = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
        WorkspaceFilter {
            name_contains: given(&self.q),
            tagged: super::settings::parse_tags(&self.tag)
                .into_iter()
                .map(|t| (t.key, Some(t.value).filter(|v| !v.is_empty())))
                .collect(),
            current_run_status: given(&self.status),
            project_id: given(&self.project),
            ..WorkspaceFilter::default()
        }
    }

    fn narrowed(&self) -> bool {
        [&self.q, &self.tag, &self.status, &self.project]
            .iter()
            .any(|field| !field.trim().is_empty())
    }
}

/// A run as a badge: its status, and what kind of status it is (for its colour).
#[derive(Debug, Serialize)]
pub struct RunBadge {
    pub id: String,
    pub status: &'static str,
    pub tone: &'static str,
    pub message: String,
    pub created_at: String,
}

impl From<RunBadge> for minijinja::Value {
    fn from(badge: RunBadge) -> minijinja::Value {
        minijinja::Value::from(minijinja::value::Serde(badge))
    }
}

impl RunBadge {
    pub fn of(run: &terrace_storage::model::Run) -> RunBadge {
        use terrace_storage::model::RunStatus::*;
        let tone = match run.status {
            Applied | PlannedAndFinished | PlannedAndSaved => "ok",
            Errored => "bad",
            Canceled | Discarded => "off",
            Planned => "attention",
            Pending | PrePlanRunning | PrePlanCompleted | PlanQueued | Planning
            | PostPlanRunning | PostPlanCompleted | Confirmed | PreApplyRunning
            | PreApplyCompleted | ApplyQueued | Applying | PostApplyRunning
            | PostApplyCompleted => "busy",
        };
        RunBadge {
            id: run.id.clone(),
            status: run.status.as_str(),
            tone,
            message: run.message.clone(),
            created_at: when(run.created_at),
        }
    }
}

/// The badge of a workspace's latest run, if it has one the caller may read.
async fn latest_run(state: &AppState, view: &WorkspaceView) -> Option<RunBadge> {
    let run = state.services.latest_run(view).await.ok()??;
    Some(RunBadge::of(&run))
}

/// Tags as the UI shows them: `key` or `key:value`.
pub(super) fn tag_labels(tags: &[terrace_storage::model::TagBinding]) -> Vec<String> {
    tags.iter()
        .map(|t| {
            if t.value.is_empty() {
                t.key.clone()
            } else {
                format!("{}:{}", t.key, t.value)
            }
        })
        .collect()
}

pub async fn organizations(State(state): State<AppState>, session: Session) -> Response {
    match state
        .services
        .list_organizations(&session.caller, PageRequest::all())
        .await
    {
        Ok(orgs) => {
            let names: Vec<String> = orgs
                .items
                .into_iter()
                .map(|o| o.organization.name)
                .collect();
            state.pages.render(
                StatusCode::OK,
                "app/organizations.html",
                minijinja::context! { session => session.view(), organizations => names },
            )
        }
        Err(err) => failure(&state, err),
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let number = query.page.unwrap_or(1).max(1);
    let filter = query.filter();
    let page = PageRequest {
        number,
        size: PAGE_SIZE,
    };
    let services = &state.services;
    let found = match services
        .list_workspaces(&session.caller, &organization, &filter, page)
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    // The organization's projects: to filter by, and to name each workspace's.
    let projects = match projects::choices(&state, &session, &organization).await {
        Ok(projects) => projects,
        Err(err) => return failure(&state, err),
    };
    let project_name = |id: &str| {
        projects
            .iter()
            .find(|(project, _)| project == id)
            .map(|(_, name)| name.clone())
    };
    let mut rows = Vec::with_capacity(found.items.len());
    for view in found.items {
        let latest = latest_run(&state, &view).await;
        rows.push(minijinja::context! {
            project => project_name(&view.workspace.project_id),
            name => view.workspace.name,
            description => view.workspace.description,
            locked => view.workspace.locked_at.is_some(),
            tags => tag_labels(&view.tags),
            latest,
        });
    }
    let pages = page_count(found.total);
    let can_create = services
        .organization(&session.caller, &organization)
        .await
        .map(|o| terrace_auth::policy::organization_permissions(o.access).can_create_workspace)
        .unwrap_or(false);
    state.pages.render(
        StatusCode::OK,
        "app/workspaces.html",
        minijinja::context! {
            session => session.view(),
            organization,
            query => minijinja::value::Serde(&query),
            narrowed => query.narrowed(),
            // The pager's links keep the filters.
            pages_base => format!("?{}&", serde_urlencoded::to_string(&query).unwrap_or_default()),
            statuses => RunStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            projects,
            workspaces => rows,
            total => found.total,
            page => number,
            pages,
            can_create,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    csrf: String,
    name: String,
}

/// Creates a workspace from the list page's form (the domain checks the permission and the
/// name, as for `POST /organizations/:org/workspaces`).
pub async fn create(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    RawBody(body): RawBody,
) -> Response {
    let form: CreateForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let changes = terrace_domain::workspaces::WorkspaceChanges {
        name: Some(form.name.trim().to_string()),
        ..Default::default()
    };
    match state
        .services
        .create_workspace(&session.caller, &organization, changes)
        .await
    {
        Ok(view) => redirect(&workspace_path(&organization, &view.workspace.name)),
        Err(err) => failure(&state, err),
    }
}

pub async fn overview(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
) -> Response {
    let services = &state.services;
    let reference = WorkspaceRef::Name {
        organization: organization.clone(),
        name,
    };
    let view = match services.workspace(&session.caller, &reference).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let ws = &view.workspace;
    let latest = latest_run(&state, &view).await;
    let reference = WorkspaceRef::Id(ws.id.clone());
    let state_version = match services
        .current_state_version(&session.caller, &reference)
        .await
    {
        Ok(sv) => Some(minijinja::context! {
            serial => sv.state_version.serial,
            resources => sv.state_version.resource_count,
            created_at => when(sv.state_version.created_at),
        }),
        Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => None,
        Err(err) => return failure(&state, err),
    };
    let outputs = match services
        .current_state_outputs(&session.caller, &reference)
        .await
    {
        Ok(outputs) => outputs.iter().map(states::output_row).collect(),
        Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => Vec::new(),
        Err(err) => return failure(&state, err),
    };
    let (durations, resources) = history_charts(&state, &session, &organization, &view).await;
    let readme = match services
        .workspace_readme(&session.caller, &view.workspace.id)
        .await
    {
        Ok(readme) => readme.map(markdown::readme_view),
        Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => None,
        Err(err) => return failure(&state, err),
    };
    // The pool its runs go to, named when the caller may read it.
    let agent_pool = match view.agent_pool_id() {
        Some(id) => state
            .services
            .show_agent_pool(&session.caller, id)
            .await
            .ok()
            .map(|p| minijinja::context! { id => p.pool.id, name => p.pool.name }),
        None => None,
    };
    state.pages.render(
        StatusCode::OK,
        "app/workspace.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => minijinja::context! {
                name => ws.name.clone(),
                description => ws.description.clone(),
                engine => ws.engine.as_str(),
                terraform_version => ws.terraform_version.clone(),
                execution_mode => view.execution_mode().as_str(),
                inherits_execution_mode => ws.execution_mode.is_none(),
                agent_pool,
                auto_apply => ws.auto_apply,
                locked => ws.locked_at.is_some(),
                lock_reason => ws.lock_reason.clone(),
                tags => tag_labels(&view.tags),
            },
            latest,
            state_version,
            outputs,
            lock_actions => lock_actions(ws, terrace_auth::policy::workspace_permissions(view.access)),
            readme,
            durations => durations.map(minijinja::value::Serde),
            resources => resources.map(minijinja::value::Serde),
        },
    )
}

/// How many runs and state versions the overview's charts show.
const CHART_POINTS: u32 = 20;

/// The overview's charts: how long its last finished runs took, and how many resources its
/// last state versions held. Either is absent when there is nothing to draw or the caller
/// may not read it.
async fn history_charts(
    state: &AppState,
    session: &Session,
    organization: &str,
    view: &WorkspaceView,
) -> (Option<Chart>, Option<Chart>) {
    let ws = &view.workspace;
    let base = workspace_path(organization, &ws.name);
    let recent = PageRequest {
        number: 1,
        size: CHART_POINTS,
    };
    let services = &state.services;
    let runs = services
        .list_runs(
            &session.caller,
            RunScope::Workspace(&ws.id),
            RunFilter::default(),
            recent,
        )
        .await
        .map(|page| page.items)
        .unwrap_or_default();
    let durations: Vec<Point> = runs
        .iter()
        .rev()
        .filter(|v| v.run.status.is_final())
        .filter_map(|v| {
            let ended = v.run.status_timestamps.0.values().max()?;
            Some(Point {
                label: v.run.id.clone(),
                value: (*ended - v.run.created_at).num_milliseconds().max(0) as f64 / 1000.0,
                href: Some(format!("{base}/runs/{}", v.run.id)),
                tone: RunBadge::of(&v.run).tone,
            })
        })
        .collect();
    let versions = services
        .list_state_versions(&session.caller, &WorkspaceRef::Id(ws.id.clone()), recent)
        .await
        .map(|page| page.items)
        .unwrap_or_default();
    let counts: Vec<Point> = versions
        .iter()
        .rev()
        .map(|v| Point {
            label: format!("serial {}", v.state_version.serial),
            value: v.state_version.resource_count as f64,
            href: Some(format!("{base}/states/{}", v.state_version.id)),
            tone: "busy",
        })
        .collect();
    (
        charts::bars("Run durations", &durations, |seconds| {
            progress::duration(chrono::TimeDelta::milliseconds((seconds * 1000.0) as i64))
        }),
        charts::bars("Resources in state", &counts, |count| format!("{count}")),
    )
}

/// The lock buttons the overview shows: what the lock's state allows and the caller may do.
fn lock_actions(
    ws: &terrace_storage::model::Workspace,
    may: terrace_auth::policy::WorkspacePermissions,
) -> Vec<(&'static str, &'static str)> {
    match ws.locked_at {
        None if may.can_lock => vec![("lock", "Lock")],
        None => vec![],
        Some(_) => [
            (may.can_unlock, ("unlock", "Unlock")),
            (may.can_force_unlock, ("force-unlock", "Force unlock")),
        ]
        .into_iter()
        .filter_map(|(shown, action)| shown.then_some(action))
        .collect(),
    }
}

/// Locks or unlocks the workspace from its overview's buttons (the domain decides, as for
/// `POST /workspaces/:id/actions/lock`).
pub async fn act(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, action)): Path<(String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let services = &state.services;
    let reference = WorkspaceRef::Name {
        organization: organization.clone(),
        name: name.clone(),
    };
    let ws = match services.workspace(&session.caller, &reference).await {
        Ok(view) => view.workspace,
        Err(err) => return failure(&state, err),
    };
    let caller = &session.caller;
    let done = match action.as_str() {
        "lock" => {
            services
                .lock_workspace(caller, &ws.id, Some("locked in the web UI".into()))
                .await
        }
        "unlock" => services.unlock_workspace(caller, &ws.id).await,
        "force-unlock" => services.force_unlock_workspace(caller, &ws.id).await,
        _ => Err(DomainError::NotFound("workspace action")),
    };
    match done {
        Ok(_) => redirect(&workspace_path(&organization, &name)),
        Err(err) => failure(&state, err),
    }
}
