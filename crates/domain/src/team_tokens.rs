//! Team and organization tokens: one of each at most. Generating one replaces the old one,
//! which stops working at once; the secret is shown only in the response that creates it.
//! A team token acts with its team's permissions, in its organization only; an organization
//! token configures its organization but never operates it (see [`crate::access`]).

use chrono::{DateTime, Utc};
use terrace_auth::policy::Action;
use terrace_storage::clock;
use terrace_storage::model::{PageRequest, Token, TokenKind};

use crate::teams::ReachedTeam;
use crate::tokens::new_token;
use crate::{Caller, DomainError, DomainResult, Services};

const WHAT: &str = "authentication token";

impl Services {
    pub async fn generate_team_token(
        &self,
        caller: &Caller,
        team_id: &str,
        description: Option<String>,
        expires_at: Option<DateTime<Utc>>,
    ) -> DomainResult<(Token, String)> {
        let team = self.team_token_owner(caller, team_id).await?;
        self.replace_token(caller, TokenKind::Team, &team, description, expires_at)
            .await
    }

    pub async fn team_token(&self, caller: &Caller, team_id: &str) -> DomainResult<Token> {
        let team = self.team_token_owner(caller, team_id).await?;
        self.current_token(TokenKind::Team, &team).await
    }

    pub async fn delete_team_token(&self, caller: &Caller, team_id: &str) -> DomainResult<()> {
        let team = self.team_token_owner(caller, team_id).await?;
        self.revoke_token(TokenKind::Team, &team).await
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
    async fn team_token_owner(&self, caller: &Caller, team_id: &str) -> DomainResult<String> {
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
        if expires_at.is_some_and(|at| at <= clock::now()) {
            return Err(DomainError::invalid("expired-at", "must be in the future"));
        }
        let created_by = caller.user().map(|u| u.id.as_str());
        let (token, secret) = new_token(kind, owner_id, description, expires_at, created_by)?;
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
