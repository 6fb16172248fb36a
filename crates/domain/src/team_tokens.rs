//! Team and organization tokens: one of each at most. Generating one replaces the old one,
//! which stops working at once; the secret is shown only in the response that creates it.
//! A team may also have any number of tokens with a description (unique within the team),
//! each created and revoked on its own, beside its one undescribed token.
//! Without an `expired-at` they last two years ([`crate::tokens`]). An organization's team
//! tokens are listed together for its team managers.
//! A team token acts with its team's permissions, in its organization only; an organization
//! token configures its organization but never operates it (see [`crate::access`]).

use chrono::{DateTime, Utc};
use terrace_auth::policy::Action;
use terrace_storage::model::{PageRequest, Token, TokenKind};
use terrace_storage::{clock, StorageError};

use std::cmp::Ordering;

use crate::teams::ReachedTeam;
use crate::tokens::{api_token_expiry, new_token};
use crate::{Caller, DomainError, DomainResult, Services};

const WHAT: &str = "authentication token";

impl Services {
    /// Generates the team's undescribed token, replacing the one it had.
    pub async fn generate_team_token(
        &self,
        caller: &Caller,
        team_id: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> DomainResult<(Token, String)> {
        let team = self.team_token_owner(caller, team_id).await?;
        self.replace_token(caller, TokenKind::Team, &team, None, expires_at)
            .await
    }

    /// Creates one more token for the team, named by a description no other token of the
    /// team has.
    pub async fn create_described_team_token(
        &self,
        caller: &Caller,
        team_id: &str,
        description: String,
        expires_at: Option<DateTime<Utc>>,
    ) -> DomainResult<(Token, String)> {
        let team = self.team_token_owner(caller, team_id).await?;
        let expires_at = api_token_expiry(expires_at, clock::now())?;
        let created_by = caller.user().map(|u| u.id.as_str());
        let (token, secret) = new_token(
            TokenKind::Team,
            &team,
            Some(description),
            Some(expires_at),
            created_by,
        )?;
        match self.store.create_token(&token).await {
            Err(StorageError::Conflict(_)) => Err(DomainError::invalid(
                "description",
                "Description has already been taken",
            )),
            other => Ok(other.map(|()| (token, secret))?),
        }
    }

    /// The team's undescribed token.
    pub async fn team_token(&self, caller: &Caller, team_id: &str) -> DomainResult<Token> {
        let team = self.team_token_owner(caller, team_id).await?;
        self.store
            .list_tokens(TokenKind::Team, &team, PageRequest::all())
            .await?
            .items
            .into_iter()
            .find(|token| token.description.is_none())
            .ok_or(DomainError::NotFound(WHAT))
    }

    pub async fn delete_team_token(&self, caller: &Caller, team_id: &str) -> DomainResult<()> {
        let team = self.team_token_owner(caller, team_id).await?;
        self.revoke_token(TokenKind::Team, &team).await
    }

    /// The tokens of the organization's teams (team managers), those of teams whose name
    /// contains `query` (any case) when given, ordered by `sort` (`team-name`, `created-by`,
    /// `expired-at` or `last-used-at`, `-` first for descending; newest first without).
    pub async fn list_team_tokens(
        &self,
        caller: &Caller,
        org_name: &str,
        query: Option<&str>,
        sort: Option<&str>,
    ) -> DomainResult<Vec<Token>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ManageTeams)
            .await?;
        let teams = self
            .store
            .list_teams(&org.id, &Default::default(), PageRequest::all())
            .await?
            .items;
        let query = query.map(str::to_lowercase);
        let mut named: Vec<(Token, String)> = self
            .store
            .list_organization_team_tokens(&org.id)
            .await?
            .into_iter()
            .filter_map(|token| {
                let name = teams.iter().find(|t| t.id == token.owner_id)?.name.clone();
                Some((token, name))
            })
            .filter(|(_, name)| {
                query
                    .as_ref()
                    .is_none_or(|q| name.to_lowercase().contains(q.as_str()))
            })
            .collect();
        sort_team_tokens(&mut named, sort)?;
        Ok(named.into_iter().map(|(token, _)| token).collect())
    }

    /// Generates the organization's token of `kind`: its organization token, or its audit
    /// trail token, which reads the organization's audit trail only.
    pub async fn generate_organization_token(
        &self,
        caller: &Caller,
        org_name: &str,
        kind: TokenKind,
        description: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> DomainResult<(Token, String)> {
        let org = self
            .organization_token_owner(caller, org_name, kind)
            .await?;
        self.replace_token(caller, kind, &org, description, expires_at)
            .await
    }

    pub async fn organization_token(
        &self,
        caller: &Caller,
        org_name: &str,
        kind: TokenKind,
    ) -> DomainResult<Token> {
        let org = self
            .organization_token_owner(caller, org_name, kind)
            .await?;
        self.current_token(kind, &org).await
    }

    pub async fn delete_organization_token(
        &self,
        caller: &Caller,
        org_name: &str,
        kind: TokenKind,
    ) -> DomainResult<()> {
        let org = self
            .organization_token_owner(caller, org_name, kind)
            .await?;
        self.revoke_token(kind, &org).await
    }

    /// The team's ID once the caller may manage its token: team managers, and members of a
    /// team that allows member token management.
    pub(crate) async fn team_token_owner(
        &self,
        caller: &Caller,
        team_id: &str,
    ) -> DomainResult<String> {
        let reached: ReachedTeam = self
            .team_for(caller, team_id, Action::ReadOrganization)
            .await?;
        reached.guard_owners()?;
        let managers = crate::access::allows(reached.standing.access, Action::ManageTeams);
        let member = reached.caller_is_member(caller) && reached.team.allow_member_token_management;
        if !(managers || member) {
            return Err(DomainError::Forbidden(format!(
                "you are not allowed to manage the token of team {}: team managers can, and \
                 its members when the team allows member token management",
                reached.team.name
            )));
        }
        Ok(reached.team.id)
    }

    /// The organization's ID once the caller may manage its tokens; `kind` must be one an
    /// organization has.
    async fn organization_token_owner(
        &self,
        caller: &Caller,
        org_name: &str,
        kind: TokenKind,
    ) -> DomainResult<String> {
        if !matches!(kind, TokenKind::Organization | TokenKind::AuditTrail) {
            return Err(DomainError::invalid(
                "token",
                "an organization has an organization token and an audit trail token",
            ));
        }
        let (org, _) = self
            .organization_for(caller, org_name, Action::ManageOrganizationToken)
            .await?;
        Ok(org.id)
    }

    async fn replace_token(
        &self,
        caller: &Caller,
        kind: TokenKind,
        owner_id: &str,
        description: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> DomainResult<(Token, String)> {
        let expires_at = api_token_expiry(expires_at, clock::now())?;
        let created_by = caller.user().map(|u| u.id.as_str());
        let (token, secret) = new_token(kind, owner_id, description, Some(expires_at), created_by)?;
        self.store.replace_token(&token).await?;
        Ok((token, secret))
    }

    async fn current_token(&self, kind: TokenKind, owner_id: &str) -> DomainResult<Token> {
        self.store
            .list_tokens(kind, owner_id, PageRequest { number: 1, size: 1 })
            .await?
            .items
            .into_iter()
            .next()
            .ok_or(DomainError::NotFound(WHAT))
    }

    async fn revoke_token(&self, kind: TokenKind, owner_id: &str) -> DomainResult<()> {
        if self.store.delete_tokens_of(kind, owner_id).await? == 0 {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok(())
    }
}

/// Orders (token, team name) pairs by a list's `sort` parameter; an unknown field is bad input.
fn sort_team_tokens(tokens: &mut [(Token, String)], sort: Option<&str>) -> DomainResult<()> {
    let Some(sort) = sort.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let (field, descending) = match sort.strip_prefix('-') {
        Some(field) => (field, true),
        None => (sort, false),
    };
    let compare: fn(&(Token, String), &(Token, String)) -> Ordering = match field {
        "team-name" => |a, b| a.1.cmp(&b.1),
        "created-by" => |a, b| a.0.created_by.cmp(&b.0.created_by),
        "expired-at" => |a, b| a.0.expires_at.cmp(&b.0.expires_at),
        "last-used-at" => |a, b| a.0.last_used_at.cmp(&b.0.last_used_at),
        _ => {
            return Err(DomainError::invalid(
                "sort",
                "must be team-name, created-by, expired-at or last-used-at, optionally after -",
            ))
        }
    };
    tokens.sort_by(|a, b| {
        let order = compare(a, b);
        if descending {
            order.reverse()
        } else {
            order
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn token(id: &str, days: i64) -> Token {
        let (mut token, _) = new_token(TokenKind::Team, "team", None, None, None).unwrap();
        token.id = id.into();
        token.expires_at = Some(clock::now() + Duration::days(days));
        token
    }

    fn ids(tokens: &[(Token, String)]) -> Vec<&str> {
        tokens.iter().map(|(t, _)| t.id.as_str()).collect()
    }

    #[test]
    fn team_tokens_sort_either_way_and_refuse_unknown_fields() {
        let mut tokens = vec![
            (token("late", 2), "a".to_string()),
            (token("soon", 1), "b".to_string()),
        ];
        sort_team_tokens(&mut tokens, Some("expired-at")).unwrap();
        assert_eq!(ids(&tokens), ["soon", "late"]);
        sort_team_tokens(&mut tokens, Some("-expired-at")).unwrap();
        assert_eq!(ids(&tokens), ["late", "soon"]);
        sort_team_tokens(&mut tokens, Some("team-name")).unwrap();
        assert_eq!(ids(&tokens), ["late", "soon"]);
        sort_team_tokens(&mut tokens, None).unwrap();
        assert_eq!(ids(&tokens), ["late", "soon"]);
        assert!(sort_team_tokens(&mut tokens, Some("secret")).is_err());
    }
}
