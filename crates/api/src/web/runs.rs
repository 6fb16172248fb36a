//! A workspace's runs, and one run: its status, its plan and apply logs (streamed live while
//! it works, as Server-Sent Events the page's script appends), and the actions the run's
//! status allows and the caller may take (confirm & apply, discard, cancel, force-cancel).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use terrace_domain::access::WorkspaceRef;
use terrace_domain::runs::RunScope;
use terrace_domain::runs::RunView;
use terrace_domain::{Caller, DomainError, Services};
use terrace_storage::model::{PageRequest, RunPhase, RunStatus};
use terrace_storage::store::RunFilter;

use super::workspaces::RunBadge;
use super::{
    failure, forged_form, form_token_ok, log, page_count, plan, progress, redirect, workspace_path,
    PageQuery, Session, Signed, TokenForm,
};
use crate::app::AppState;
use crate::jsonapi::RawBody;

/// The most of one log a page shows (its end, where errors are).
const MAX_LOG_BYTES: u64 = 2 << 20;
/// How often a live log looks for more, and the most it sends at once.
const STREAM_POLL: Duration = Duration::from_millis(500);
const STREAM_CHUNK: u64 = 256 << 10;
/// How long one live-log connection lasts (the browser reconnects where it left off).
const STREAM_LIFETIME: Duration = Duration::from_secs(300);
const STX: char = '\u{2}';
const ETX: char = '\u{3}';

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
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
    let page = query.request();
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
            page => page.number,
            pages => page_count(runs.total),
        },
    )
}

/// The run `run_id` if it is this workspace's: another's under this address is not found.
async fn run_here(
    state: &AppState,
    caller: &Caller,
    organization: &str,
    workspace: &str,
    run_id: &str,
) -> Result<RunView, DomainError> {
    let view = state.services.run(caller, run_id).await?;
    if view.organization.name != organization || view.workspace.name != workspace {
        return Err(DomainError::NotFound("run"));
    }
    Ok(view)
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, run_id)): Path<(String, String, String)>,
) -> Response {
    let view = match run_here(&state, &session.caller, &organization, &name, &run_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let base = format!(
        "{}/runs/{}",
        workspace_path(&organization, &name),
        view.run.id
    );
    // The structured plan, from the redacted plan JSON once the plan has one.
    let changes = match state
        .services
        .plan_json(&session.caller, &view.plan.id, true)
        .await
    {
        Ok(Some(json)) => serde_json::from_slice(&json)
            .ok()
            .map(|doc| plan::view(&doc)),
        _ => None,
    };
    let plan = phase_view(&state, &session, &view.plan, &format!("{base}/logs/plan")).await;
    let apply = phase_view(&state, &session, &view.apply, &format!("{base}/logs/apply")).await;
    let run = &view.run;
    let queue_ahead = match queued_ahead(&state, &session, &view).await {
        Ok(ahead) => ahead,
        Err(err) => return failure(&state, err),
    };
    // A button only when the run's status allows it and the caller may use it.
    let (allowed, may) = (view.actions(), view.permissions());
    let actions: Vec<(&str, &str, &str)> = [
        (
            allowed.confirmable && may.can_apply,
            "apply",
            "Confirm & apply",
            "primary",
        ),
        (
            allowed.discardable && may.can_discard,
            "discard",
            "Discard run",
            "secondary",
        ),
        (
            allowed.cancelable && may.can_cancel,
            "cancel",
            "Cancel run",
            "secondary",
        ),
        (
            allowed.force_cancelable && may.can_force_cancel,
            "force-cancel",
            "Force cancel",
            "secondary",
        ),
    ]
    .into_iter()
    .filter(|(shown, ..)| *shown)
    .map(|(_, action, label, class)| (action, label, class))
    .collect();
    state.pages.render(
        StatusCode::OK,
        "app/run.html",
        minijinja::context! {
            session => session.view(),
            organization,
            workspace => name,
            base,
            actions,
            run => minijinja::context! {
                id => run.id.clone(),
                badge => RunBadge::of(run),
                source => run.source.clone(),
                plan_only => run.plan_only,
                is_destroy => run.is_destroy,
                terraform_version => run.terraform_version.clone(),
                timeline => minijinja::value::Serde(progress::timeline(run)),
                queue_ahead,
            },
            plan,
            apply,
            changes => changes.map(minijinja::value::Serde),
        },
    )
}

/// How many runs go before this one, while it waits in its workspace's queue.
async fn queued_ahead(
    state: &AppState,
    session: &Session,
    view: &RunView,
) -> Result<Option<usize>, DomainError> {
    if view.run.status != RunStatus::Pending {
        return Ok(None);
    }
    use RunStatus::*;
    let filter = RunFilter {
        statuses: vec![
            Pending,
            PlanQueued,
            Planning,
            Planned,
            Confirmed,
            ApplyQueued,
            Applying,
        ],
        ..RunFilter::default()
    };
    let waiting = state
        .services
        .list_runs(
            &session.caller,
            RunScope::Workspace(&view.workspace.id),
            filter,
            PageRequest {
                number: 1,
                size: 100,
            },
        )
        .await?;
    let runs: Vec<_> = waiting.items.into_iter().map(|v| v.run).collect();
    Ok(progress::queue_ahead(&view.run, &runs))
}

/// A run action from the run page's buttons, with the session's form token; the domain
/// decides, exactly as for `POST /api/v2/runs/:id/actions/...`.
pub async fn act(
    State(state): State<AppState>,
    session: Session,
    Path((organization, name, run_id, action)): Path<(String, String, String, String)>,
    RawBody(body): RawBody,
) -> Response {
    let form: TokenForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    if !form_token_ok(&session, &form.csrf) {
        return forged_form(&state);
    }
    let view = match run_here(&state, &session.caller, &organization, &name, &run_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let services = &state.services;
    let caller = &session.caller;
    let id = view.run.id.as_str();
    let done = match action.as_str() {
        "apply" => services.apply_run(caller, id).await,
        "discard" => services.discard_run(caller, id).await,
        "cancel" => services.cancel_run(caller, id).await,
        "force-cancel" => services.force_cancel_run(caller, id).await,
        _ => Err(DomainError::NotFound("run action")),
    };
    match done {
        Ok(()) => redirect(&format!(
            "{}/runs/{id}",
            workspace_path(&organization, &name)
        )),
        Err(err) => failure(&state, err),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StreamQuery {
    offset: u64,
}

/// A phase's log as it grows: events whose data is rendered HTML of whole lines, each with
/// its log offset as `id` (so a reconnecting browser resumes there), then `end` once the
/// phase is final.
pub async fn stream(
    State(state): State<AppState>,
    session: Signed,
    headers: HeaderMap,
    Path((organization, name, run_id, phase)): Path<(String, String, String, String)>,
    Query(query): Query<StreamQuery>,
) -> Response {
    let view = match run_here(&state, &session.caller, &organization, &name, &run_id).await {
        Ok(view) => view,
        Err(err) => return failure(&state, err),
    };
    let phase = match phase.as_str() {
        "plan" => view.plan,
        "apply" => view.apply,
        _ => return failure(&state, DomainError::NotFound("phase")),
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let token = state.services.log_token(&session.caller, &phase.id);
    let events = live_log(
        state.services.clone(),
        token,
        resume.unwrap_or(query.offset),
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// What a live log has read and not yet sent.
struct Follow {
    services: Services,
    token: String,
    offset: u64,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
    ended: bool,
    until: tokio::time::Instant,
}

fn live_log(
    services: Services,
    token: String,
    offset: u64,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let follow = Follow {
        services,
        token,
        offset,
        partial: Vec::new(),
        ended: false,
        until: tokio::time::Instant::now() + STREAM_LIFETIME,
    };
    futures::stream::unfold(Some(follow), |follow| async move {
        let mut follow = follow?;
        if follow.ended {
            return Some((Ok(Event::default().event("end").data("")), None));
        }
        loop {
            if tokio::time::Instant::now() >= follow.until {
                return None;
            }
            let read = follow
                .services
                .read_log(&follow.token, follow.offset, STREAM_CHUNK)
                .await;
            let bytes = match read {
                Ok(bytes) => bytes,
                // The URL expired or the run went away: the browser's reconnect decides.
                Err(_) => return None,
            };
            if bytes.is_empty() {
                tokio::time::sleep(STREAM_POLL).await;
                continue;
            }
            follow.offset += bytes.len() as u64;
            follow.partial.extend_from_slice(&bytes);
            follow.ended = follow.partial.contains(&0x03);
            // Whole lines now (split as bytes, so no character is cut); the rest waits for
            // its end, unless the log ended.
            let cut = match follow.ended {
                true => Some(follow.partial.len()),
                false => follow
                    .partial
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map(|i| i + 1),
            };
            let Some(cut) = cut else { continue };
            let taken: Vec<u8> = follow.partial.drain(..cut).collect();
            let text = String::from_utf8_lossy(&taken).replace([STX, ETX], "");
            let whole = text.trim_end_matches('\n');
            // The offset of what was sent whole, for a reconnect.
            let id = follow.offset - follow.partial.len() as u64;
            if whole.is_empty() {
                if follow.ended {
                    return Some((Ok(Event::default().event("end").data("")), None));
                }
                continue;
            }
            let html = log::to_html(whole);
            let event = Event::default().id(id.to_string()).data(html);
            return Some((Ok(event), Some(follow)));
        }
    })
}

/// A phase's status, and its log as HTML (escaped; see [`log`]); while the phase works, the
/// URL its live log continues at, past the last whole line shown.
async fn phase_view(
    state: &AppState,
    session: &Session,
    phase: &RunPhase,
    stream: &str,
) -> minijinja::Value {
    let token = state.services.log_token(&session.caller, &phase.id);
    let size = phase.log_size.max(0) as u64;
    let from = size.saturating_sub(MAX_LOG_BYTES);
    let bytes = state
        .services
        .read_log(&token, from, MAX_LOG_BYTES + 2)
        .await
        .unwrap_or_default();
    let finished = bytes.last() == Some(&0x03) || phase.status.is_final();
    // A line still being written is left to the live log.
    let shown = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) if !finished => &bytes[..=i],
        _ if !finished => &bytes[..bytes.len().min(1)],
        _ => &bytes[..],
    };
    let text = String::from_utf8_lossy(shown).replace([STX, ETX], "");
    let text = text.trim_end_matches('\n');
    minijinja::context! {
        status => phase.status.as_str(),
        log => (!text.is_empty()).then(|| minijinja::Value::from_safe_string(log::to_html(text))),
        stream => (!finished).then(|| format!("{stream}?offset={}", from + shown.len() as u64)),
    }
}
