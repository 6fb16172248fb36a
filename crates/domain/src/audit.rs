//! The audit trail: an append-only record of who changed what, of sign-ins and of token use.
//!
//! The HTTP edge hands every request that changes something to [`Services::record_change`]
//! (one middleware, so no handler can forget); sign-ins, sign-outs and the tokens of
//! `terraform login` are recorded here by the login code, which alone knows the user. An event
//! names the caller, the token's ID, the route template, the resource and the answer's
//! status: never a request body, a header value, a concrete path (paths carry capability
//! tokens) or a secret. Recording never fails a request: a failed write is logged.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use terrace_auth::policy::Action;
use terrace_storage::model::{AuditEvent, AuditFilter, Page, PageRequest, User};
use terrace_storage::{clock, ids};

use crate::configuration::CONFIGURATION_UPLOAD;
use crate::state::{JSON_STATE_UPLOAD, STATE_UPLOAD};
use crate::{Caller, DomainError, DomainResult, Principal, Services};

/// How long events are kept unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;
/// Longest username kept for a failed sign-in: enough for any real one, and a password typed
/// into the wrong field is not kept whole.
const MAX_TRIED_USERNAME: usize = 64;
/// A token's reads are summarized: one `token-used` event per token per this long.
const TOKEN_USE_PERIOD_SECONDS: i64 = 3600;
/// Tokens remembered for that summary (per replica); past this the memory starts afresh.
const MAX_REMEMBERED_TOKENS: usize = 10_000;

/// A request that may have changed something, as the HTTP edge saw it.
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    pub method: String,
    /// The route template with `:name` parameters (`/api/v2/workspaces/:workspace_id`).
    pub route: String,
    /// The path parameters in path order (their values are IDs and names, except `token`,
    /// a capability, which is never stored).
    pub params: Vec<(String, String)>,
    /// `None`: no or an invalid token (signed upload URLs, refused requests).
    pub caller: Option<Caller>,
    pub client_address: Option<String>,
}

/// What an event is about, from the route alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
}

/// Which events to read.
#[derive(Debug, Clone)]
pub enum AuditScope {
    /// The organization of the caller's organization token (HCP Terraform's endpoint).
    TokenOrganization,
    /// An organization by name (its owners and its organization token).
    Organization(String),
    /// Events of no organization (site administrators).
    Site,
}

/// `since` and `until` bound the listing (both exclusive).
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub page: PageRequest,
}

/// Which tokens had a `token-used` event recently (see [`TOKEN_USE_PERIOD_SECONDS`]).
#[derive(Default)]
pub(crate) struct TokenUses(Mutex<HashMap<String, i64>>);

impl TokenUses {
    /// True when `token_id`'s use in the period of `now` is the first one seen.
    fn first_in_period(&self, token_id: &str, now: DateTime<Utc>) -> bool {
        let period = now.timestamp().div_euclid(TOKEN_USE_PERIOD_SECONDS);
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.get(token_id) == Some(&period) {
            return false;
        }
        if seen.len() >= MAX_REMEMBERED_TOKENS {
            seen.clear();
        }
        seen.insert(token_id.to_string(), period);
        true
    }
}

/// `user`, `team`, ... with the actor's ID and name.
fn actor(caller: Option<&Caller>) -> (&'static str, Option<String>, Option<String>) {
    match caller.map(|c| &c.principal) {
        None => ("anonymous", None, None),
        Some(Principal::User(user)) => ("user", Some(user.id.clone()), Some(user.username.clone())),
        Some(Principal::Team(team)) => ("team", Some(team.id.clone()), Some(team.name.clone())),
        Some(Principal::Organization { organization_id }) => {
            ("organization", Some(organization_id.clone()), None)
        }
        Some(Principal::Agent { pool_id }) => (
            "agent",
            Some(
                pool_id
                    .clone()
                    .unwrap_or_else(|| crate::tokens::SERVER_POOL.into()),
            ),
            None,
        ),
        Some(Principal::Job(job)) => ("job", Some(job.job_id.clone()), None),
    }
}

fn subject_of(action: &str, kind: &str, id: Option<String>) -> Subject {
    Subject {
        action: action.into(),
        resource_type: Some(kind.into()),
        resource_id: id,
    }
}

/// Singular, snake_case resource types as HCP Terraform's trail names them
/// (`authentication-tokens` → `authentication_token`).
fn resource_type(segment: &str) -> String {
    let singular = match segment {
        "vars" => "variable",
        "varsets" => "variable_set",
        "_uploads" => "upload",
        s => s.strip_suffix('s').unwrap_or(s),
    };
    singular.replace('-', "_")
}

/// The action and resource a route describes: `/actions/NAME` is that action on the resource
/// before it; `/relationships/NAME` adds, replaces or removes NAME; otherwise the method says
/// it (`create` on a collection, `update`/`delete` on a member).
pub fn describe(method: &str, route: &str, params: &[(String, String)]) -> Subject {
    let route = route
        .trim_start_matches("/api/v2")
        .trim_start_matches("/api/runner/v1");
    // Routes whose last word is a verb rather than a collection.
    match route {
        "/account/update" => return subject_of("update", "account", None),
        "/job/finish" | "/job/state-versions" => {
            let action = route.trim_start_matches("/job/");
            return subject_of(
                if action == "finish" {
                    "finish"
                } else {
                    "create-state-version"
                },
                "job",
                None,
            );
        }
        _ => {}
    }
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    let value = |segment: &str| {
        let name = segment.strip_prefix(':')?;
        // A capability token is a credential: the resource comes from what it grants.
        (name != "token")
            .then(|| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
            .flatten()
    };
    // The resource: the last `collection/:id` pair before any actions or relationships.
    let (head, verb) = match segments
        .iter()
        .position(|s| *s == "actions" || *s == "relationships")
    {
        Some(at) => {
            let name = segments.get(at + 1).copied().unwrap_or_default();
            let verb = if segments[at] == "actions" {
                name.to_string()
            } else {
                let how = match method {
                    "POST" => "add",
                    "DELETE" => "remove",
                    _ => "replace",
                };
                format!("{how}-{name}")
            };
            (&segments[..at], Some(verb))
        }
        None => (&segments[..], None),
    };
    let (resource_type_segment, resource_id, member) = match head {
        [.., collection, last] if last.starts_with(':') => (*collection, value(last), true),
        [.., last] => (*last, None, false),
        [] => ("", None, false),
    };
    let action = verb.unwrap_or_else(|| {
        match (method, member) {
            ("POST", false) => "create",
            ("DELETE", _) => "delete",
            _ => "update",
        }
        .to_string()
    });
    Subject {
        action,
        resource_type: (!resource_type_segment.is_empty()
            && !resource_type_segment.starts_with(':'))
        .then(|| resource_type(resource_type_segment)),
        resource_id,
    }
}

impl Services {
    /// The organization a request's path names, looked up by the first parameter that
    /// resolves (`/organizations/:organization/...`, `/workspaces/:workspace_id/...`), or
    /// by what a signed upload URL grants, or by the caller (a runner's workspace, an agent's
    /// pool); `None` for site events. Deletions must ask before the handler runs, and
    /// everything else before another request can delete what it named.
    pub async fn audit_organization(&self, change: &ChangeRequest) -> Option<String> {
        for (name, value) in &change.params {
            let found = if name == "token" {
                match self.capability_object(value) {
                    Some((purpose, id)) => self.organization_of(&purpose, &id).await,
                    None => None,
                }
            } else {
                self.organization_of(name, value).await
            };
            if found.is_some() {
                return found;
            }
        }
        match change.caller.as_ref().map(|c| &c.principal) {
            Some(Principal::Job(job)) => {
                self.organization_of("workspace_id", &job.workspace_id)
                    .await
            }
            Some(Principal::Agent {
                pool_id: Some(pool),
            }) => self.organization_of("agent_pool_id", pool).await,
            Some(Principal::Team(team)) => Some(team.organization_id.clone()),
            Some(Principal::Organization { organization_id }) => Some(organization_id.clone()),
            _ => None,
        }
    }

    /// What a signed URL's token grants: its purpose and the object's ID.
    fn capability_object(&self, token: &str) -> Option<(String, String)> {
        let subject = self.capability_subject(token)?;
        let (purpose, id) = subject.split_once(':')?;
        Some((purpose.to_string(), id.to_string()))
    }

    /// The organization of the object a path parameter, a capability purpose or a created
    /// resource's type names. Lookup failures count as "none": the event is still recorded.
    async fn organization_of(&self, kind: &str, id: &str) -> Option<String> {
        let store = &self.store;
        let workspace = |ws: Option<String>| async move {
            store
                .workspace_by_id(&ws?)
                .await
                .ok()
                .flatten()
                .map(|w| w.organization_id)
        };
        match kind {
            "organization" | "organizations" => store
                .organization_by_name(id)
                .await
                .ok()
                .flatten()
                .map(|o| o.id),
            "workspace_id" | "workspaces" => workspace(Some(id.to_string())).await,
            "run_id" | "runs" => {
                let run = store.run_by_id(id).await.ok().flatten();
                workspace(run.map(|r| r.workspace_id)).await
            }
            "plan_id" | "apply_id" => {
                let phase = store.phase_by_id(id).await.ok().flatten()?;
                let run = store.run_by_id(&phase.run_id).await.ok().flatten();
                workspace(run.map(|r| r.workspace_id)).await
            }
            "state_version_id" | "state-versions" | STATE_UPLOAD | JSON_STATE_UPLOAD => {
                let sv = store.state_version_by_id(id).await.ok().flatten();
                workspace(sv.map(|s| s.workspace_id)).await
            }
            "configuration_version_id" | "configuration-versions" | CONFIGURATION_UPLOAD => {
                let cv = store.configuration_version_by_id(id).await.ok().flatten();
                workspace(cv.map(|c| c.workspace_id)).await
            }
            "project_id" | "projects" => store
                .project_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|p| p.organization_id),
            "varset_id" | "varsets" => store
                .variable_set_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|v| v.organization_id),
            "agent_pool_id" | "agent-pools" => store
                .agent_pool_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|p| p.organization_id),
            "tag_id" => store
                .tag_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|t| t.organization_id),
            _ => None,
        }
    }

    /// Records a request that may have changed something, after it was answered.
    /// `organization` is [`audit_organization`](Self::audit_organization)'s answer, asked
    /// while the request ran; `created` the type and ID of the resource the answer created.
    pub async fn record_change(
        &self,
        change: ChangeRequest,
        organization: Option<String>,
        status: u16,
        created: Option<(String, String)>,
    ) {
        let mut subject = describe(&change.method, &change.route, &change.params);
        let organization = match (organization, &created) {
            (Some(known), _) => Some(known),
            // `POST /organizations`, `POST /runs`: the new resource says where it lives.
            (None, Some((kind, id))) => self.organization_of(kind, id).await,
            (None, None) => None,
        };
        if let Some((kind, id)) = created {
            subject.resource_type = Some(resource_type(&kind));
            subject.resource_id = Some(id);
        }
        // A signed upload URL names its object only inside the (never stored) token.
        if subject.resource_id.is_none() {
            subject.resource_id = change
                .params
                .iter()
                .find(|(name, _)| name == "token")
                .and_then(|(_, token)| self.capability_object(token))
                .map(|(_, id)| id);
        }
        let (kind, id, name) = actor(change.caller.as_ref());
        self.append(AuditEvent {
            organization_id: organization,
            actor_kind: kind.into(),
            actor_id: id,
            actor_name: name,
            token_id: change.caller.and_then(|c| c.token_id),
            action: subject.action,
            route: Some(format!("{} {}", change.method, change.route)),
            method: Some(change.method),
            resource_type: subject.resource_type,
            resource_id: subject.resource_id,
            status: i32::from(status),
            client_address: change.client_address,
            ..self.blank_event()
        })
        .await;
    }

    /// Summarizes reads: the first request of a token in each hour (per replica) is recorded
    /// as `token-used`, so an owner sees which tokens are alive and from where, without a row
    /// per request. Job tokens, which live for one job, are left out.
    pub async fn record_token_use(&self, caller: &Caller, client_address: Option<String>) {
        let Some(token_id) = &caller.token_id else {
            return;
        };
        if matches!(caller.principal, Principal::Job(_))
            || !self.token_uses.first_in_period(token_id, clock::now())
        {
            return;
        }
        let organization = self
            .audit_organization(&ChangeRequest {
                method: String::new(),
                route: String::new(),
                params: Vec::new(),
                caller: Some(caller.clone()),
                client_address: None,
            })
            .await;
        let (kind, id, name) = actor(Some(caller));
        self.append(AuditEvent {
            organization_id: organization,
            actor_kind: kind.into(),
            actor_id: id,
            actor_name: name,
            token_id: Some(token_id.clone()),
            action: "token-used".into(),
            resource_type: Some("authentication_token".into()),
            resource_id: Some(token_id.clone()),
            status: 200,
            client_address,
            ..self.blank_event()
        })
        .await;
    }

    /// A sign-in (`user` set) or a failed one (`tried` is the username given; the password
    /// is never passed here). `status` is what the sign-in was answered with.
    pub(crate) async fn record_sign_in(
        &self,
        user: Option<&User>,
        tried: &str,
        status: u16,
        client_address: Option<&str>,
    ) {
        let (action, id, name) = match user {
            Some(user) => ("sign-in", Some(user.id.clone()), user.username.clone()),
            None => (
                "sign-in-failed",
                None,
                tried.chars().take(MAX_TRIED_USERNAME).collect(),
            ),
        };
        self.record_session_event(action, id, Some(name), status, client_address)
            .await;
    }

    /// A signed-in user's own step (`consent`, `sign-out`).
    pub(crate) async fn record_user_event(&self, action: &str, user: &User, client: Option<&str>) {
        self.record_session_event(
            action,
            Some(user.id.clone()),
            Some(user.username.clone()),
            200,
            client,
        )
        .await;
    }

    async fn record_session_event(
        &self,
        action: &str,
        user_id: Option<String>,
        username: Option<String>,
        status: u16,
        client_address: Option<&str>,
    ) {
        self.append(AuditEvent {
            actor_kind: if user_id.is_some() {
                "user"
            } else {
                "anonymous"
            }
            .into(),
            resource_type: Some("session".into()),
            resource_id: user_id.clone(),
            actor_id: user_id,
            actor_name: username,
            action: action.into(),
            status: i32::from(status),
            client_address: client_address.map(str::to_string),
            ..self.blank_event()
        })
        .await;
    }

    /// A change made outside the API (`terraform login`'s token, the admin CLI): by `actor`,
    /// or by the server's operator (`system`) when there is none.
    pub(crate) async fn record_outside_api(
        &self,
        action: &str,
        actor: Option<&User>,
        resource_type: &str,
        resource_id: &str,
    ) {
        self.append(AuditEvent {
            actor_kind: if actor.is_some() { "user" } else { "system" }.into(),
            actor_id: actor.map(|u| u.id.clone()),
            actor_name: actor.map(|u| u.username.clone()),
            action: action.into(),
            resource_type: Some(resource_type.into()),
            resource_id: Some(resource_id.to_string()),
            status: 200,
            ..self.blank_event()
        })
        .await;
    }

    /// An event of no organization, now, with nothing else set.
    fn blank_event(&self) -> AuditEvent {
        AuditEvent {
            id: ids::new_id("ae"),
            // Milliseconds, as the API shows them, so `since` set to a shown timestamp
            // excludes that event.
            occurred_at: clock::now().trunc_subsecs(3),
            organization_id: None,
            actor_kind: "system".into(),
            actor_id: None,
            actor_name: None,
            token_id: None,
            action: String::new(),
            method: None,
            route: None,
            resource_type: None,
            resource_id: None,
            status: 0,
            client_address: None,
        }
    }

    async fn append(&self, event: AuditEvent) {
        if let Err(err) = self.store.append_audit_event(&event).await {
            tracing::error!(error = %err, action = event.action, "could not record an audit event");
        }
    }

    /// Lists audit events. An organization's events are read by its organization token and
    /// its owners; to anyone else the organization does not exist. Site events are read by
    /// site administrators only.
    pub async fn audit_trail(
        &self,
        caller: &Caller,
        scope: AuditScope,
        query: AuditQuery,
    ) -> DomainResult<Page<AuditEvent>> {
        let organization_id = match scope {
            AuditScope::TokenOrganization => match &caller.principal {
                Principal::Organization { organization_id } => Some(organization_id.clone()),
                _ => {
                    return Err(DomainError::NotFound(
                        "audit trail (it is read with an organization token)",
                    ))
                }
            },
            AuditScope::Organization(name) => {
                let org = self
                    .store
                    .organization_by_name(&name)
                    .await?
                    .ok_or(DomainError::NotFound("organization"))?;
                let own_token = matches!(&caller.principal,
                    Principal::Organization { organization_id } if *organization_id == org.id);
                if !own_token {
                    self.authorize(caller, &org, Action::ReadAuditTrail, "organization")
                        .await?;
                }
                Some(org.id)
            }
            AuditScope::Site => {
                if !caller.user().is_some_and(|u| u.is_site_admin) {
                    return Err(DomainError::NotFound("audit trail"));
                }
                None
            }
        };
        Ok(self
            .store
            .list_audit_events(
                &AuditFilter {
                    organization_id,
                    since: query.since,
                    until: query.until,
                },
                query.page,
            )
            .await?)
    }

    /// Deletes events older than the retention (run periodically).
    pub async fn purge_audit_events(&self) -> DomainResult<u64> {
        self.purge_audit_events_at(clock::now()).await
    }

    /// [`purge_audit_events`](Self::purge_audit_events) as of `now`.
    pub async fn purge_audit_events_at(&self, now: DateTime<Utc>) -> DomainResult<u64> {
        let cutoff = now - Duration::days(i64::from(self.settings.audit_retention_days));
        Ok(self.store.purge_audit_events(cutoff).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn subject(action: &str, kind: &str, id: Option<&str>) -> Subject {
        Subject {
            action: action.into(),
            resource_type: Some(kind.into()),
            resource_id: id.map(str::to_string),
        }
    }

    #[test]
    fn routes_name_their_action_and_resource() {
        let ws = params(&[("workspace_id", "ws-1")]);
        assert_eq!(
            describe("PATCH", "/api/v2/workspaces/:workspace_id", &ws),
            subject("update", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe("DELETE", "/api/v2/workspaces/:workspace_id", &ws),
            subject("delete", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe("POST", "/api/v2/workspaces/:workspace_id/actions/lock", &ws),
            subject("lock", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe(
                "POST",
                "/api/v2/workspaces/:workspace_id/relationships/tags",
                &ws
            ),
            subject("add-tags", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe(
                "POST",
                "/api/v2/organizations/:organization/workspaces",
                &params(&[("organization", "acme")])
            ),
            subject("create", "workspace", None)
        );
        assert_eq!(
            describe(
                "DELETE",
                "/api/v2/authentication-tokens/:token_id",
                &params(&[("token_id", "at-1")])
            ),
            subject("delete", "authentication_token", Some("at-1"))
        );
        assert_eq!(
            describe(
                "PATCH",
                "/api/v2/varsets/:varset_id/relationships/vars/:variable_id",
                &params(&[("varset_id", "varset-1"), ("variable_id", "var-1")])
            ),
            subject("replace-vars", "variable_set", Some("varset-1"))
        );
    }

    #[test]
    fn a_capability_token_is_never_taken_as_an_id() {
        let described = describe(
            "PUT",
            "/_uploads/state/:token",
            &params(&[("token", "SECRET")]),
        );
        assert_eq!(described, subject("update", "state", None));
    }

    #[test]
    fn token_use_is_summarized_per_period() {
        let uses = TokenUses::default();
        let t0 = DateTime::from_timestamp(7200, 0).unwrap();
        assert!(uses.first_in_period("at-1", t0));
        assert!(!uses.first_in_period("at-1", t0 + Duration::minutes(59)));
        assert!(uses.first_in_period("at-2", t0));
        assert!(uses.first_in_period("at-1", t0 + Duration::minutes(60)));
    }
}
