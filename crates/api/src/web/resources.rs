//! Across workspaces: which of an organization's workspaces manage a resource, from the
//! current state of each workspace the user may read (the domain's `state::search`; only
//! addresses and providers, never values).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{failure, Session};
use crate::app::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchQuery {
    q: String,
}

pub async fn search(
    State(state): State<AppState>,
    session: Session,
    Path(organization): Path<String>,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = query.q.trim();
    let (found, more) = if q.is_empty() {
        (Vec::new(), false)
    } else {
        match state
            .services
            .search_resources(&session.caller, &organization, q)
            .await
        {
            Ok(found) => found,
            Err(err) => return failure(&state, err),
        }
    };
    let rows: Vec<_> = found
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
    state.pages.render(
        StatusCode::OK,
        "app/resources.html",
        minijinja::context! {
            session => session.view(),
            organization,
            q,
            searched => !q.is_empty(),
            matches => rows,
            more,
        },
    )
}
