//! A workspace's runs, and one run: its status, and its plan and apply logs with terraform's
//! colours.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use terrace_domain::access::WorkspaceRef;
use terrace_domain::runs::RunScope;
use terrace_storage::model::{PageRequest, RunPhase};
use terrace_storage::store::RunFilter;

use super::workspaces::RunBadge;
use super::{failure, log, Session, PAGE_SIZE};
use crate::app::AppState;
use crate::error::ApiResult;

/// The most of one log a page shows (its end, where errors are).
const MAX_LOG_BYTES: u64 = 2 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    page: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Response {
    let services = &state.services;
    let reference = WorkspaceRef::Name {
        organization: organization.clone(),
        name: name.clone(),
    };
    let ws = match services.workspace(&session.caller, &reference).await {
        Ok(view) => view.workspace,
        Err(err) => return failure(&state, err),
    };
    let number = query.page.unwrap_or(1).max(1);
    let page = PageRequest {
        number,
        size: PAGE_SIZE,
    };
    let runs = match services
        .list_runs(
            &session.caller,
            RunScope::Workspace(&ws.id),
            RunFilter::default(),
            page,
        )
        .await
    {
        Ok(runs) => runs,
        Err(err) => return failure(&state, err),
    };
    let rows: Vec<_> = runs
        .items
        .iter()
        .map(|view| {
            minijinja::context! {
                badge => RunBadge::of(&view.run),
                source => view.run.source.clone(),
                plan_only => view.run.plan_only,
                is_destroy => view.run.is_destroy,
            }
        })
        .collect();
    state.pages.render(
        StatusCode::OK,
        "app/runs.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => name,
            runs => rows,
            total => runs.total,
            page => number,
            pages => runs.total.div_ceil(u64::from(PAGE_SIZE)).max(1),
        },
    )
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, run_id)): Path<(String, String, String)>,
) -> Response {
    let services = &state.services;
    let view = match services.run(&session.caller, &run_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    // The run of another workspace under this one's address is not found here.
    if view.organization.name != organization || view.workspace.name != name {
        return failure(&state, terrace_domain::DomainError::NotFound("run"));
    }
    let plan = phase_view(&state, &session, &view.plan).await;
    let apply = phase_view(&state, &session, &view.apply).await;
    let run = &view.run;
    state.pages.render(
        StatusCode::OK,
        "app/run.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => name,
            run => minijinja::context! {
                id => run.id.clone(),
                badge => RunBadge::of(run),
                source => run.source.clone(),
                plan_only => run.plan_only,
                is_destroy => run.is_destroy,
                terraform_version => run.terraform_version.clone(),
            },
            plan,
            apply,
        },
    )
}

/// A phase's status, and its log as HTML (escaped; see [`log`]).
async fn phase_view(state: &AppState, session: &Session, phase: &RunPhase) -> minijinja::Value {
    let log = read_log(state, session, phase).await;
    minijinja::context! {
        status => phase.status.as_str(),
        log => log.ok().map(|text| minijinja::Value::from_safe_string(log::to_html(&text))),
    }
}

/// A phase's log as text (its last [`MAX_LOG_BYTES`]), without the STX/ETX framing.
async fn read_log(state: &AppState, session: &Session, phase: &RunPhase) -> ApiResult<String> {
    let token = state.services.log_token(&session.caller, &phase.id);
    let size = phase.log_size.max(0) as u64;
    let from = size.saturating_sub(MAX_LOG_BYTES);
    let bytes = state
        .services
        .read_log(&token, from, MAX_LOG_BYTES + 2)
        .await?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text
        .trim_matches(|c| c == '\u{2}' || c == '\u{3}')
        .to_string())
}
