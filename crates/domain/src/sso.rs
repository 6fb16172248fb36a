//! Single sign-on: what happens once an identity provider has vouched for someone. The
//! protocol (OpenID Connect) is the HTTP layer's; here are the rules.
//!
//! - A person is their identity provider's `(issuer, subject)`, linked to one user on first
//!   sign-in. Never an email: an address the provider asserts is no proof that a local account
//!   with that address belongs to the same person, so SSO never signs into an existing local
//!   account by email.
//! - A new user gets a unique username from the provider's username claim (or the email's local
//!   part, or the subject). Their email follows the provider's on every sign-in, and the
//!   invitations to that email (verified, unless the provider says nothing) are accepted.
//! - Groups: on every sign-in the user is put on every team whose `sso-team-id` is one of their
//!   groups (becoming a member of its organization if needed), and taken off every team with an
//!   `sso-team-id` that is no longer among them. Teams without `sso-team-id` are left alone;
//!   the last active member of an owners team is kept (and logged).
//! - Sign-ins in progress (state, nonce, PKCE verifier) are stored by the hash of their state
//!   and taken once, so a callback works once, on any replica.

use std::collections::HashMap;

use chrono::Duration;
use terrace_auth::secret;
use terrace_storage::model::{
    MembershipStatus, Organization, OrganizationMembership, SsoRequest, User,
};
use terrace_storage::{clock, ids, StorageError};

use crate::org_sso::identity_issuer;
use crate::users::validate_username;
use crate::{validate, DomainError, DomainResult, Services};

/// How long a sign-in may take at the identity provider.
pub const SSO_REQUEST_TTL_MINUTES: i64 = 10;

/// Who the identity provider says signed in (from a validated ID token and userinfo).
#[derive(Debug, Clone, Default)]
pub struct SsoIdentity {
    pub issuer: String,
    pub subject: String,
    /// The username claim, if the provider sent one.
    pub username: Option<String>,
    pub email: Option<String>,
    /// `email_verified`; `None` when the provider did not say.
    pub email_verified: Option<bool>,
    pub groups: Vec<String>,
}

/// Which protocol a sign-in in progress belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoProtocol {
    Oidc,
    Saml,
}

impl SsoProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SsoProtocol::Oidc => "oidc",
            SsoProtocol::Saml => "saml",
        }
    }
}

/// A sign-in being started: what the callback will need.
#[derive(Debug, Clone)]
pub struct PendingSso {
    pub protocol: SsoProtocol,
    /// The secret that names the sign-in (OpenID Connect's `state`, SAML's cookie value).
    pub state: String,
    /// OpenID Connect's nonce, or the ID of SAML's AuthnRequest.
    pub nonce: String,
    /// OpenID Connect's PKCE verifier (empty for SAML).
    pub pkce_verifier: String,
    pub return_to: String,
    /// The organization whose identity provider this sign-in goes through (`None`: the
    /// site's).
    pub organization_id: Option<String>,
}

/// What a sign-in changed in the user's teams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSync {
    pub joined: Vec<String>,
    pub left: Vec<String>,
    /// Owners teams the user stays on as their last active member.
    pub kept: Vec<String>,
}

/// Whether `return_to` is a path on this server (no scheme, host, `//` or backslash), so a
/// sign-in can never be bounced elsewhere (open redirect).
pub fn is_local_path(return_to: &str) -> bool {
    return_to.starts_with('/')
        && !return_to.starts_with("//")
        && !return_to.contains('\\')
        && !return_to
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
}

/// A username from what the provider sent: its username claim, the email's local part or
/// the subject, reduced to the characters usernames allow.
pub fn username_base(identity: &SsoIdentity) -> String {
    let candidates = [
        identity.username.clone(),
        identity
            .email
            .as_deref()
            .and_then(|e| e.split_once('@'))
            .map(|(local, _)| local.to_string()),
        Some(identity.subject.clone()),
    ];
    for candidate in candidates.into_iter().flatten() {
        let cleaned: String = candidate
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .take(56)
            .collect();
        let cleaned = cleaned.trim_matches('-').to_string();
        if !cleaned.is_empty() {
            return cleaned;
        }
    }
    "user".to_string()
}

/// Whether a sign-in through `organization`'s provider (`None`: the site's) syncs the teams
/// of `team_organization`, when `site_followers` are the organizations that follow the site
/// provider's groups (vouched for by a site administrator, without a provider of their own).
/// Anyone may create an organization and name a site group in a team's `sso-team-id`: the
/// site's groups must not pull their people into it.
pub fn syncs_team(
    organization: Option<&str>,
    site_followers: &[String],
    team_organization: &str,
) -> bool {
    match organization {
        Some(org) => org == team_organization,
        None => site_followers.iter().any(|o| o == team_organization),
    }
}

/// The email a sign-in may give its user: the provider's, when valid and not said to be
/// unverified, and only from the site's provider. An organization's provider is configured
/// by that organization's owner, so its emails could name anyone: trusted, they would accept
/// other organizations' invitations for whoever its owner chose.
pub fn trusted_email(identity: &SsoIdentity, organization_provider: bool) -> Option<&str> {
    if organization_provider {
        return None;
    }
    identity
        .email
        .as_deref()
        .filter(|e| validate::email(e).is_ok() && identity.email_verified != Some(false))
}

impl Services {
    /// Records a sign-in in progress until the callback takes it.
    pub async fn begin_sso(&self, pending: &PendingSso) -> DomainResult<()> {
        if !is_local_path(&pending.return_to) {
            return Err(DomainError::bad_request(
                "return_to must be a path on this server",
            ));
        }
        self.store
            .create_sso_request(&SsoRequest {
                state_hash: secret::hash(&pending.state),
                nonce: pending.nonce.clone(),
                pkce_verifier: pending.pkce_verifier.clone(),
                return_to: pending.return_to.clone(),
                organization_id: pending.organization_id.clone(),
                expires_at: clock::now() + Duration::minutes(SSO_REQUEST_TTL_MINUTES),
                protocol: pending.protocol.as_str().to_string(),
            })
            .await?;
        Ok(())
    }

    /// Takes the sign-in in progress named by `state`: `None` if it is unknown, was taken
    /// already, expired or was started by the other protocol (taken all the same).
    pub async fn take_sso(
        &self,
        state: &str,
        protocol: SsoProtocol,
    ) -> DomainResult<Option<PendingSso>> {
        if state.is_empty() {
            return Ok(None);
        }
        let Some(request) = self.store.take_sso_request(&secret::hash(state)).await? else {
            return Ok(None);
        };
        if request.expires_at <= clock::now() || request.protocol != protocol.as_str() {
            return Ok(None);
        }
        Ok(Some(PendingSso {
            protocol,
            state: state.to_string(),
            nonce: request.nonce,
            pkce_verifier: request.pkce_verifier,
            return_to: request.return_to,
            organization_id: request.organization_id,
        }))
    }

    /// Records a SAML assertion as used until `expires_at`: false when it was used before
    /// (a replay, here or on another replica).
    pub async fn use_saml_assertion(
        &self,
        issuer: &str,
        assertion_id: &str,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> DomainResult<bool> {
        Ok(self
            .store
            .use_saml_assertion(issuer, assertion_id, expires_at)
            .await?)
    }

    /// Signs in the person the provider vouched for: their user (created on first sign-in),
    /// email, invitations and teams brought up to date. `organization`: the organization whose
    /// provider vouched (`None`: the site's); its identities live in their own namespace
    /// ([`identity_issuer`]) and its groups fill only its teams.
    pub async fn sso_sign_in(
        &self,
        identity: &SsoIdentity,
        organization: Option<&Organization>,
    ) -> DomainResult<(User, GroupSync)> {
        if identity.issuer.is_empty() || identity.subject.is_empty() {
            return Err(DomainError::bad_request(
                "the identity provider named nobody",
            ));
        }
        let namespaced;
        let identity = match organization {
            Some(org) => {
                namespaced = SsoIdentity {
                    issuer: identity_issuer(&org.id, &identity.issuer),
                    ..identity.clone()
                };
                &namespaced
            }
            None => identity,
        };
        // An organization's provider is its owner's: the email it asserts proves nothing to
        // anyone else, and every other organization trusts emails (invitations), so its users
        // get none (see `trusted_email`).
        let email = trusted_email(identity, organization.is_some());
        let mut user = match self
            .store
            .identity_user(&identity.issuer, &identity.subject)
            .await?
        {
            // A suspended account stays out, whoever vouches for it.
            Some(user) if user.is_suspended() => {
                return Err(DomainError::Forbidden(
                    "This account is suspended: ask a site administrator".into(),
                ))
            }
            Some(user) => user,
            None => self.create_sso_user(identity, email).await?,
        };
        if let Some(email) = email {
            if user.email != email {
                user.email = email.to_string();
                self.store.update_user(&user).await?;
            }
        }
        if organization.is_none() {
            self.accept_invitations(&user).await?;
        }
        let sync = self
            .sync_sso_groups(&user, &identity.groups, organization.map(|o| o.id.as_str()))
            .await?;
        Ok((user, sync))
    }

    async fn create_sso_user(
        &self,
        identity: &SsoIdentity,
        email: Option<&str>,
    ) -> DomainResult<User> {
        let base = username_base(identity);
        for attempt in 0..20u32 {
            let username = match attempt {
                0 => base.clone(),
                1..=9 => format!("{base}-{}", attempt + 1),
                _ => format!("{base}-{}", &secret::new_opaque()[..6].to_ascii_lowercase()),
            };
            if validate_username(&username).is_err() {
                continue;
            }
            let user = User {
                id: ids::new_id(ids::USER),
                username,
                email: email.unwrap_or_default().to_string(),
                password_hash: None,
                is_site_admin: false,
                created_at: clock::now(),
                suspended_at: None,
            };
            match self.store.create_user(&user).await {
                Ok(()) => {}
                Err(StorageError::Conflict(_)) => continue,
                Err(err) => return Err(err.into()),
            }
            match self
                .store
                .link_identity(&identity.issuer, &identity.subject, &user.id, clock::now())
                .await
            {
                Ok(()) => {
                    tracing::info!(user = %user.id, username = %user.username, "user created by single sign-on");
                    return Ok(user);
                }
                // A concurrent first sign-in of the same person won: use its user.
                Err(StorageError::Conflict(_)) => {
                    return self
                        .store
                        .identity_user(&identity.issuer, &identity.subject)
                        .await?
                        .ok_or(DomainError::NotFound("user"));
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(DomainError::bad_request(
            "no free username for this identity; ask an administrator",
        ))
    }

    /// Puts `user` on the teams mapped to `groups` and takes them off the other mapped teams:
    /// the teams of `organization` only when its provider vouched, else those of every
    /// organization without an enabled provider of its own.
    pub async fn sync_sso_groups(
        &self,
        user: &User,
        groups: &[String],
        organization: Option<&str>,
    ) -> DomainResult<GroupSync> {
        let mut sync = GroupSync::default();
        // The user's own memberships by organization (an invitation of their email elsewhere
        // is not theirs until accepted).
        let mut memberships: HashMap<String, OrganizationMembership> = self
            .store
            .user_memberships(&user.id)
            .await?
            .into_iter()
            .map(|m| (m.organization_id.clone(), m))
            .collect();
        let site_followers = match organization {
            Some(_) => Vec::new(),
            None => self.store.site_sso_organizations().await?,
        };
        for team in self.store.sso_teams().await? {
            if !syncs_team(organization, &site_followers, &team.organization_id) {
                continue;
            }
            let Some(group) = team.sso_team_id.as_deref() else {
                continue;
            };
            let wanted = groups.iter().any(|g| g == group);
            let membership = memberships.get(&team.organization_id).cloned();
            let on_team = match &membership {
                Some(m) => self
                    .store
                    .membership_teams(&m.id)
                    .await?
                    .iter()
                    .any(|t| t.id == team.id),
                None => false,
            };
            match (wanted, membership, on_team) {
                (true, None, _) => {
                    let membership = OrganizationMembership {
                        id: ids::new_id(ids::MEMBERSHIP),
                        organization_id: team.organization_id.clone(),
                        user_id: Some(user.id.clone()),
                        email: user.email.clone(),
                        status: MembershipStatus::Active,
                        created_at: clock::now(),
                    };
                    self.store
                        .create_membership(&membership, std::slice::from_ref(&team.id))
                        .await?;
                    memberships.insert(team.organization_id.clone(), membership);
                    sync.joined.push(team.id.clone());
                }
                (true, Some(m), false) => {
                    self.store
                        .add_team_memberships(&team.id, std::slice::from_ref(&m.id))
                        .await?;
                    sync.joined.push(team.id.clone());
                }
                (false, Some(m), true) => {
                    if self
                        .store
                        .remove_team_memberships(
                            &team.id,
                            std::slice::from_ref(&m.id),
                            team.is_owners,
                        )
                        .await?
                    {
                        sync.left.push(team.id.clone());
                    } else {
                        tracing::warn!(user = %user.id, team = %team.id,
                            "single sign-on: kept on the owners team as its last active member although no longer in its group");
                        sync.kept.push(team.id.clone());
                    }
                }
                _ => {}
            }
        }
        if !sync.joined.is_empty() || !sync.left.is_empty() {
            tracing::info!(user = %user.id, joined = ?sync.joined, left = ?sync.left, "single sign-on: teams follow the identity provider's groups");
        }
        Ok(sync)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_server_are_returned_to() {
        assert!(is_local_path(
            "/app/oauth/authorization?client_id=x&state=y"
        ));
        assert!(is_local_path("/"));
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "evil",
            "",
            "/a\nLocation: x",
            "javascript:alert(1)",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    #[test]
    fn only_the_site_provider_vouches_for_emails() {
        let mut id = SsoIdentity {
            email: Some("ceo@victim.example".into()),
            email_verified: Some(true),
            ..Default::default()
        };
        assert_eq!(trusted_email(&id, false), Some("ceo@victim.example"));
        assert_eq!(trusted_email(&id, true), None);
        id.email_verified = Some(false);
        assert_eq!(trusted_email(&id, false), None);
        id.email = Some("not an email".into());
        id.email_verified = None;
        assert_eq!(trusted_email(&id, false), None);
    }

    #[test]
    fn groups_fill_only_the_teams_their_provider_may() {
        let followers = vec!["org-b".to_string()];
        // An organization's provider: its own teams only.
        assert!(syncs_team(Some("org-a"), &[], "org-a"));
        assert!(!syncs_team(Some("org-a"), &followers, "org-b"));
        // The site's: only the organizations that follow its groups.
        assert!(!syncs_team(None, &followers, "org-a"));
        assert!(syncs_team(None, &followers, "org-b"));
        assert!(!syncs_team(None, &[], "org-b"));
    }

    #[test]
    fn usernames_come_from_the_claim_the_email_or_the_subject() {
        let mut id = SsoIdentity {
            subject: "0f3a|x".into(),
            ..Default::default()
        };
        assert_eq!(username_base(&id), "0f3a-x");
        id.email = Some("Ann.Lee@example.com".into());
        assert_eq!(username_base(&id), "Ann.Lee");
        id.username = Some("ann lee".into());
        assert_eq!(username_base(&id), "ann-lee");
        id.username = Some("émile".into());
        assert_eq!(username_base(&id), "mile");
        id.username = Some("!!!".into());
        assert_eq!(username_base(&id), "Ann.Lee");
    }
}
