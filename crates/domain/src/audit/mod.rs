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

use crate::{Caller, DomainError, DomainResult, Principal, Services};

mod attribution;
mod subject;
mod writer;

use subject::resource_type;
pub use subject::{describe, Subject};
pub(crate) use writer::AuditWriter;

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
        Some(Principal::AuditTrail { organization_id }) => {
            ("audit-trail", Some(organization_id.clone()), None)
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
        Some(Principal::TaskResult { result_id, .. }) => {
            ("task-result", Some(result_id.clone()), None)
        }
    }
}

impl Services {
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
        self.record_session_event(action, id, Some(name), status, client_address, None)
            .await;
    }

    /// A single sign-on callback: the user it signed in, or a refusal (`status`, and `reason`
    /// when known; never the provider's tokens or assertions). `organization_id`: the
    /// organization whose own provider the sign-in went through, whose audit trail shows it.
    pub async fn record_sso(
        &self,
        user: Option<&User>,
        status: u16,
        client_address: Option<&str>,
        reason: Option<&str>,
        organization_id: Option<&str>,
    ) {
        let action = if user.is_some() {
            "sso-sign-in"
        } else {
            "sso-sign-in-failed"
        };
        let event = AuditEvent {
            organization_id: organization_id.map(str::to_string),
            ..self.session_event(
                action,
                user.map(|u| u.id.clone()),
                user.map(|u| u.username.clone()),
                status,
                client_address,
                reason,
            )
        };
        self.append(event).await;
    }

    /// A signed-in user's own step (`consent`, `sign-out`).
    pub(crate) async fn record_user_event(&self, action: &str, user: &User, client: Option<&str>) {
        self.record_session_event(
            action,
            Some(user.id.clone()),
            Some(user.username.clone()),
            200,
            client,
            None,
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
        reason: Option<&str>,
    ) {
        let event = self.session_event(action, user_id, username, status, client_address, reason);
        self.append(event).await;
    }

    fn session_event(
        &self,
        action: &str,
        user_id: Option<String>,
        username: Option<String>,
        status: u16,
        client_address: Option<&str>,
        reason: Option<&str>,
    ) -> AuditEvent {
        AuditEvent {
            reason: reason.map(str::to_string),
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
        }
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
            reason: None,
            status: 0,
            client_address: None,
        }
    }

    async fn append(&self, event: AuditEvent) {
        self.audit_writer.append(&self.store, event).await;
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
                Principal::Organization { organization_id }
                | Principal::AuditTrail { organization_id } => Some(organization_id.clone()),
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
                    Principal::Organization { organization_id } | Principal::AuditTrail { organization_id }
                        if *organization_id == org.id);
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
