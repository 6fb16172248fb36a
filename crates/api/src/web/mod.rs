//! The web UI: server-rendered pages under `/app/`, read without JavaScript. Pages call the
//! same domain services as the API with the signed-in user as the caller, so there is no
//! second way to authorize: what the API refuses, a page does not show (404 for another
//! organization's things, as the API answers).
//!
//! A browser is signed in by the session cookie the sign-in form (or single sign-on) sets;
//! every form that changes something carries a token derived from that cookie, which a page
//! of another site cannot know (the cookie is `HttpOnly`, `SameSite=Lax`).

mod access;
mod admin;
mod agent_pools;
pub mod ansi;
mod charts;
pub mod log;
mod markdown;
mod organization;
pub mod plan;
mod progress;
mod projects;
mod registry;
mod resources;
mod runs;
mod settings;
mod sign_in;
mod states;
mod teams;
mod tokens;
mod variable_sets;
mod variables;
mod workspaces;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use terrace_domain::{Caller, DomainError, Principal};
use terrace_storage::model::{Page, User};

use crate::app::AppState;
use crate::routes::login::{cookie, SESSION_COOKIE};

/// Rows on one page of a list.
const PAGE_SIZE: u32 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/app", get(|| async { redirect("/app/organizations") }))
        .route("/app/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/app/sign-out", post(sign_in::sign_out))
        .route("/app/organizations", get(workspaces::organizations))
        .route("/app/admin", get(|| async { redirect("/app/admin/users") }))
        .route("/app/admin/users", get(admin::users))
        .route(
            "/app/admin/users/{user_id}/{action}",
            post(admin::user_action),
        )
        .route("/app/admin/organizations", get(admin::organizations))
        .route(
            "/app/admin/organization-creation",
            post(admin::organization_creation),
        )
        .route(
            "/app/account/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route(
            "/app/account/tokens/{token_id}/delete",
            post(tokens::delete),
        )
        .route(
            "/app/{organization}/workspaces",
            get(workspaces::list).post(workspaces::create),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}",
            get(workspaces::overview),
        )
        .route("/app/{organization}/resources", get(resources::search))
        .route("/app/{organization}/registry", get(registry::list))
        .route(
            "/app/{organization}/registry/modules/{name}/{provider}",
            get(registry::module),
        )
        .route(
            "/app/{organization}/registry/providers/{name}",
            get(registry::provider),
        )
        .route(
            "/app/{organization}/projects",
            get(projects::list).post(projects::create),
        )
        .route(
            "/app/{organization}/projects/{project_id}",
            get(projects::show).post(projects::update),
        )
        .route(
            "/app/{organization}/projects/{project_id}/delete",
            post(projects::delete),
        )
        .route(
            "/app/{organization}/projects/{project_id}/workspaces",
            post(projects::create_workspace),
        )
        .route(
            "/app/{organization}/projects/{project_id}/access",
            get(access::show).post(access::grant),
        )
        .route(
            "/app/{organization}/projects/{project_id}/access/{grant_id}/{action}",
            post(access::change),
        )
        .route(
            "/app/{organization}/settings",
            get(organization::show).post(organization::update),
        )
        .route(
            "/app/{organization}/settings/delete",
            post(organization::delete),
        )
        .route("/app/{organization}/people", get(teams::people))
        .route("/app/{organization}/people/invite", post(teams::invite))
        .route(
            "/app/{organization}/people/{membership_id}/remove",
            post(teams::remove_member),
        )
        .route("/app/{organization}/teams", post(teams::create_team))
        .route(
            "/app/{organization}/teams/{team_id}",
            get(teams::team).post(teams::update_team),
        )
        .route(
            "/app/{organization}/teams/{team_id}/delete",
            post(teams::delete_team),
        )
        .route(
            "/app/{organization}/teams/{team_id}/members/{action}",
            post(teams::members),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/access",
            get(access::show).post(access::grant),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/access/{grant_id}/{action}",
            post(access::change),
        )
        .route(
            "/app/{organization}/variable-sets",
            get(variable_sets::list).post(variable_sets::create),
        )
        .route(
            "/app/{organization}/variable-sets/{set_id}",
            get(variable_sets::show).post(variable_sets::update),
        )
        .route(
            "/app/{organization}/variable-sets/{set_id}/delete",
            post(variable_sets::delete),
        )
        .route(
            "/app/{organization}/variable-sets/{set_id}/targets/{action}",
            post(variable_sets::retarget),
        )
        .route(
            "/app/{organization}/variable-sets/{set_id}/variables",
            get(variable_sets::variables_list).post(variable_sets::create_variable),
        )
        .route(
            "/app/{organization}/variable-sets/{set_id}/variables/{variable_id}",
            get(variable_sets::edit_variable).post(variable_sets::update_variable),
        )
        .route(
            "/app/{organization}/variable-sets/{set_id}/variables/{variable_id}/delete",
            post(variable_sets::delete_variable),
        )
        .route(
            "/app/{organization}/agent-pools",
            get(agent_pools::list).post(agent_pools::create),
        )
        .route(
            "/app/{organization}/agent-pools/{pool_id}",
            get(agent_pools::show).post(agent_pools::update),
        )
        .route(
            "/app/{organization}/agent-pools/{pool_id}/delete",
            post(agent_pools::delete),
        )
        .route(
            "/app/{organization}/agent-pools/{pool_id}/scope/{action}",
            post(agent_pools::rescope),
        )
        .route(
            "/app/{organization}/agent-pools/{pool_id}/tokens",
            post(agent_pools::create_token),
        )
        .route(
            "/app/{organization}/agent-pools/{pool_id}/tokens/{token_id}/delete",
            post(agent_pools::delete_token),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/runs",
            get(runs::list),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/actions/{action}",
            post(workspaces::act),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/settings",
            get(settings::show).post(settings::update),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/settings/delete",
            post(settings::delete),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/states",
            get(states::list),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/states/{state_version_id}",
            get(states::show),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/states/{state_version_id}/download",
            get(states::download),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/variables",
            get(variables::list).post(variables::create),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/variables/{variable_id}",
            get(variables::edit).post(variables::update),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/variables/{variable_id}/delete",
            post(variables::delete),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/runs/{run_id}",
            get(runs::show),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/runs/{run_id}/actions/{action}",
            post(runs::act),
        )
        .route(
            "/app/{organization}/workspaces/{workspace}/runs/{run_id}/logs/{phase}",
            get(runs::stream),
        )
}

/// The signed-in user of a request; without a session, the request is redirected to the
/// sign-in form (which comes back here).
pub struct Signed {
    pub caller: Caller,
    pub user: User,
    /// The token this session's forms carry.
    pub csrf: String,
}

/// The signed-in user of a page: [`Signed`], and what every page's header shows. Downloads
/// and live logs take a [`Signed`]: they render no header.
pub struct Session {
    pub caller: Caller,
    pub user: User,
    pub csrf: String,
    /// The header's organization switcher (pages only: forms answer with redirects).
    switcher: Page<String>,
}

/// How many organizations the header's switcher names (then "All organizations").
const SWITCHER_SIZE: u32 = 10;

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let back = || {
            let here = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/app");
            redirect(&format!(
                "/app/sign-in?{}",
                serde_urlencoded::to_string([("return_to", here)]).unwrap_or_default()
            ))
        };
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(back());
        };
        let (user, signed_in_with) = match state.services.session_user(secret).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(back()),
            Err(err) => return Err(failure(state, err)),
        };
        let caller = Caller {
            principal: Principal::User(user.clone()),
            token_id: None,
            signed_in_with,
            credentials_epoch: None,
        };
        Ok(Signed {
            caller,
            user,
            csrf: form_token(secret),
        })
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Signed { caller, user, csrf } = Signed::from_request_parts(parts, state).await?;
        let switcher = if parts.method == Method::GET {
            state
                .services
                .organization_names(&caller, SWITCHER_SIZE)
                .await
                .map_err(|err| failure(state, err))?
        } else {
            Page {
                items: Vec::new(),
                total: 0,
            }
        };
        Ok(Session {
            caller,
            user,
            csrf,
            switcher,
        })
    }
}

impl Session {
    /// What every page's header shows of the session.
    fn view(&self) -> minijinja::Value {
        minijinja::context! {
            username => self.user.username.clone(),
            site_admin => self.user.is_site_admin,
            csrf => self.csrf.clone(),
            organizations => self.switcher.items.clone(),
            organizations_total => self.switcher.total,
        }
    }
}

/// The token a session's forms carry: derived from its cookie, so another site's page cannot
/// know it, and nothing of the cookie can be learnt from it.
fn form_token(session_cookie: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "terrace web form\0{session_cookie}"
    )))
}

/// `?page=N` of a paged list.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PageQuery {
    page: Option<u32>,
}

impl PageQuery {
    /// The page asked for (the first if none or 0), of [`PAGE_SIZE`] rows.
    fn request(&self) -> terrace_storage::model::PageRequest {
        terrace_storage::model::PageRequest {
            number: self.page.unwrap_or(1).max(1),
            size: PAGE_SIZE,
        }
    }
}

/// How many pages of [`PAGE_SIZE`] rows `total` rows fill (at least one).
fn page_count(total: u64) -> u64 {
    total.div_ceil(u64::from(PAGE_SIZE)).max(1)
}

/// A form that carries nothing but the session's token (buttons).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct TokenForm {
    csrf: String,
}

/// Whether a submitted form carries this session's token.
fn form_token_ok(session: &Session, submitted: &str) -> bool {
    let expected = session.csrf.as_bytes();
    let submitted = submitted.as_bytes();
    expected.len() == submitted.len()
        && expected
            .iter()
            .zip(submitted)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// A page's status: 422 when it shows why the form just sent was refused.
fn status_for(error: Option<&str>) -> StatusCode {
    match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    }
}

/// A time as pages show it.
fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A page that shows a secret once (a new token): no cache and no history may keep it.
fn shown_once(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A path segment, percent-encoded (names in links and redirects).
fn path_segment(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// One of our paths, whose segments are percent-encoded, for a template: safe in HTML as it
/// is (escaping would only turn its `/` into `&#x2f;`).
fn safe_path(path: String) -> minijinja::Value {
    minijinja::Value::from_safe_string(path)
}

/// A workspace's pages: `/app/ORG/workspaces/NAME`, names percent-encoded.
fn workspace_path(organization: &str, name: &str) -> String {
    format!(
        "/app/{}/workspaces/{}",
        path_segment(organization),
        path_segment(name)
    )
}

/// The workspace a page's path names, as the signed-in user may see it.
async fn named_workspace(
    state: &AppState,
    session: &Session,
    organization: &str,
    name: &str,
) -> Result<terrace_domain::workspaces::WorkspaceView, DomainError> {
    let reference = terrace_domain::access::WorkspaceRef::Name {
        organization: organization.to_string(),
        name: name.to_string(),
    };
    state.services.workspace(&session.caller, &reference).await
}

/// Refuses a form without this session's token (another site's page, or a stale one).
fn forged_form(state: &AppState) -> Response {
    state.pages.error(
        StatusCode::FORBIDDEN,
        "Not done",
        "The form did not come from this site's page.",
    )
}

/// A `303 See Other` to a path of this site.
fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Where to go back to after signing in: only a page of this UI (an open redirect elsewhere
/// would make the sign-in form a phishing tool).
fn local_return(path: Option<&str>) -> &str {
    match path {
        Some(p)
            if (p == "/app" || p.starts_with("/app/"))
                && !p.contains("//")
                && !p.contains('\\')
                && !p.starts_with("/app/sign-") =>
        {
            p
        }
        _ => "/app/organizations",
    }
}

/// A domain refusal as a page: not found (also for what the caller may not know exists),
/// forbidden, or an error logged here and shown without its details.
fn failure(state: &AppState, err: DomainError) -> Response {
    match err {
        DomainError::NotFound(what) => state.pages.error(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no such {what}, or you may not see it."),
        ),
        DomainError::Forbidden(message) => {
            state
                .pages
                .error(StatusCode::FORBIDDEN, "Not allowed", &message)
        }
        DomainError::Conflict(message) => {
            state
                .pages
                .error(StatusCode::CONFLICT, "Not possible now", &message)
        }
        DomainError::Invalid { detail, .. } => {
            state
                .pages
                .error(StatusCode::UNPROCESSABLE_ENTITY, "Not possible", &detail)
        }
        err => {
            tracing::error!(error = %err, "page failed");
            state.pages.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not show this page; its log has the details.",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_returns_only_to_this_ui() {
        for (given, expected) in [
            (Some("/app/acme/workspaces?q=x"), "/app/acme/workspaces?q=x"),
            (Some("/app"), "/app"),
            (Some("https://evil.example/app/"), "/app/organizations"),
            (Some("//evil.example/app/"), "/app/organizations"),
            (Some("/app//evil.example"), "/app/organizations"),
            (Some("/app/\\evil"), "/app/organizations"),
            (Some("/api/v2/organizations"), "/app/organizations"),
            (Some("/app/sign-out"), "/app/organizations"),
            (None, "/app/organizations"),
        ] {
            assert_eq!(local_return(given), expected, "{given:?}");
        }
    }

    #[test]
    fn form_tokens_are_per_session_and_reveal_nothing() {
        let a = form_token("session-a");
        assert_eq!(a, form_token("session-a"));
        assert_ne!(a, form_token("session-b"));
        assert!(!a.contains("session-a"));
    }
}
