//! Across workspaces: which of an organization's workspaces manage a resource, from the
//! current state of each workspace the user may read (the domain's `state::search`; only
//! addresses and providers, never values).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use terrace_storage::model::Page;

use super::{failure, page_count, PageQuery, Session};
use crate::app::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
    page: Option<u32>,
}

pub async fn search(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = query.q.trim();
    let request = PageQuery { page: query.page }.request();
    let found = if q.is_empty() {
        Page {
            items: Vec::new(),
            total: 0,
        }
    } else {
        match state
            .services
            .search_resources(&session.caller, &organization, q, request)
            .await
        {
            Ok(found) => found,
            Err(err) => return failure(&state, err),
        }
    };
    let rows: Vec<_> = found
        .items
        .into_iter()
        .map(|m| {
            minijinja::context! {
                workspace => m.workspace,
                address => m.address,
                provider => m.provider,
                instances => m.instances,
            }
        })
        .collect();
    let pages_base = format!(
        "?{}&",
        serde_urlencoded::to_string([("q", q)]).unwrap_or_default()
    );
    state.pages.render(
        StatusCode::OK,
        "app/resources.html",
        minijinja::context! {
            session => session.view(),
            organization,
            q,
            searched => !q.is_empty(),
            matches => rows,
            total => found.total,
            page => request.number,
            pages => page_count(found.total),
            pages_base,
        },
    )
}
