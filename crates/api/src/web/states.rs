//! A workspace's state versions, and one version: its resources, its outputs (sensitive ones
//! masked) and what changed since the version before it, or any other one picked (instances
//! added and removed, the names of changed attributes: never a value).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use terrace_auth::policy::workspace_permissions;
use terrace_domain::access::WorkspaceRef;
use terrace_domain::state::outputs::OutputView;
use terrace_domain::state::StateVersionView;
use terrace_domain::workspaces::WorkspaceView;
use terrace_domain::{Caller, DomainError};
use terrace_storage::model::PageRequest;

use super::{failure, page_count, when, PageQuery, Session, Signed};
use crate::app::AppState;
use crate::routes::state_versions::stream_response;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ShowQuery {
    /// The version to compare with (the one before by default).
    since: Option<String>,
}

/// An output as the overview's and a state version's tables show it: a sensitive value
/// masked here whatever the domain returned (a page is easily shared).
pub(super) fn output_row(o: &OutputView) -> minijinja::Value {
    minijinja::context! {
        name => o.output.name.clone(),
        sensitive => o.output.sensitive,
        kind => o.coarse_type(),
        value => (!o.output.sensitive).then(|| o.value.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })).flatten(),
    }
}

fn summary(view: &StateVersionView) -> minijinja::Value {
    let sv = &view.state_version;
    minijinja::context! {
        id => sv.id.clone(),
        serial => sv.serial,
        resources => sv.resource_count,
        terraform_version => sv.terraform_version.clone(),
        created_at => when(sv.created_at),
    }
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Response {
    let reference = WorkspaceRef::Name {
        organization: organization.clone(),
        name: name.clone(),
    };
    let page = query.request();
    let found = match state
        .services
        .list_state_versions(&session.caller, &reference, page)
        .await
    {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let versions: Vec<_> = found.items.iter().map(summary).collect();
    state.pages.render(
        StatusCode::OK,
        "app/states.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => name,
            versions,
            page => page.number,
            pages => page_count(found.total),
        },
    )
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, id)): Path<(String, String, String)>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let services = &state.services;
    let reference = WorkspaceRef::Name {
        organization: organization.clone(),
        name: name.clone(),
    };
    let (workspace, view) = match version_of(&state, &session.caller, reference, &id).await {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let can_download = workspace_permissions(workspace.access).can_read_state_versions;
    let ws = workspace.workspace;
    let sv = &view.state_version;
    // The workspace's recent versions, to pick one to compare with.
    let recent = match services
        .list_state_versions(
            &session.caller,
            &WorkspaceRef::Id(ws.id.clone()),
            PageRequest {
                number: 1,
                size: 100,
            },
        )
        .await
    {
        Ok(found) => found.items,
        Err(err) => return failure(&state, err),
    };
    // By default, the version before this one.
    let previous = match query.since.filter(|since| !since.is_empty()) {
        Some(since) => match services.state_version(&session.caller, &since).await {
            Ok(other) if other.state_version.workspace_id == ws.id => Some(other),
            Ok(_) => return failure(&state, DomainError::NotFound("state version")),
            Err(err) => return failure(&state, err),
        },
        None => match older_version(&state, &session, &ws.id, sv.serial).await {
            Ok(previous) => previous,
            Err(err) => return failure(&state, err),
        },
    };
    let changes = match &previous {
        Some(older) => Some(
            match services
                .state_diff(&session.caller, &older.state_version.id, &sv.id)
                .await
            {
                Ok(diff) => minijinja::context! {
                    since => older.state_version.serial,
                    since_id => older.state_version.id.clone(),
                    added => diff.added,
                    removed => diff.removed,
                    changed => diff.changed,
                    none => false,
                },
                Err(err) => minijinja::context! {
                    since => older.state_version.serial,
                    since_id => older.state_version.id.clone(),
                    error => err.to_string(),
                },
            },
        ),
        None => None,
    };
    let resources: Vec<_> = view
        .resources
        .iter()
        .map(|r| {
            minijinja::context! {
                address => terrace_domain::state::search::address(r),
                count => r.count,
                provider => r.provider.clone(),
            }
        })
        .collect();
    let outputs: Vec<_> = view.outputs.iter().map(output_row).collect();
    state.pages.render(
        StatusCode::OK,
        "app/state.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => name,
            version => summary(&view),
            others => recent
                .iter()
                .filter(|v| v.state_version.id != sv.id)
                .map(summary)
                .collect::<Vec<_>>(),
            resources,
            outputs,
            changes,
            can_download,
        },
    )
}

/// A workspace named in the path, and one of its versions.
async fn version_of(
    state: &AppState,
    caller: &Caller,
    workspace: WorkspaceRef,
    id: &str,
) -> Result<(WorkspaceView, StateVersionView), DomainError> {
    let services = &state.services;
    let ws = services.workspace(caller, &workspace).await?;
    match services.state_version(caller, id).await? {
        view if view.state_version.workspace_id == ws.workspace.id => Ok((ws, view)),
        _ => Err(DomainError::NotFound("state version")),
    }
}

/// The raw state of a version, as a file to save (for those who may read state versions).
pub async fn download(
    State(state): State<AppState>,
    session: Signed,
    Path((organization, name, id)): Path<(String, String, String)>,
) -> Response {
    let reference = WorkspaceRef::Name { organization, name };
    let (ws, view) = match version_of(&state, &session.caller, reference, &id).await {
        Ok(found) => found,
        Err(err) => return failure(&state, err),
    };
    let stream = match state.services.download_state(&session.caller, &id).await {
        Ok(stream) => stream,
        Err(err) => return failure(&state, err),
    };
    let mut response = stream_response(stream, "application/json");
    // Workspace names are letters, digits, `-` and `_`: safe in a quoted file name.
    let file = format!(
        "attachment; filename=\"{}-{}.tfstate\"",
        ws.workspace.name, view.state_version.serial
    );
    if let Ok(value) = HeaderValue::from_str(&file) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The workspace's version with the highest serial below `serial`.
async fn older_version(
    state: &AppState,
    session: &Session,
    workspace_id: &str,
    serial: i64,
) -> Result<Option<StateVersionView>, DomainError> {
    let reference = WorkspaceRef::Id(workspace_id.to_string());
    let mut number = 1;
    loop {
        let page = PageRequest { number, size: 100 };
        let found = state
            .services
            .list_state_versions(&session.caller, &reference, page)
            .await?;
        let done = found.items.len() < 100;
        let older = found
            .items
            .into_iter()
            .filter(|v| v.state_version.serial < serial)
            .max_by_key(|v| v.state_version.serial);
        if older.is_some() || done {
            return Ok(older);
        }
        number += 1;
    }
}
