//! Organization memberships. Membership managers (`ManageMembership`) add people by email:
//! a user with that email (exactly one) becomes an active member at once, anyone else is
//! invited, and the invitation turns active when a user with that email is created or signs
//! in. Every member reads the list; the last active owner cannot be removed.

use terrace_auth::policy::Action;
use terrace_storage::model::{
    MembershipStatus, Organization, OrganizationMembership, Page, PageRequest, Team, User,
};
use terrace_storage::store::MembershipFilter;
use terrace_storage::{clock, ids, StorageError};

use crate::access::{check, Standing};
use crate::teams::sees;
use crate::{validate, Caller, DomainError, DomainResult, Services};

#[derive(Debug, Clone)]
pub struct MembershipView {
    pub membership: OrganizationMembership,
    pub organization_name: String,
    /// `None` while invited.
    pub user: Option<User>,
    /// The teams it is on that the caller sees.
    pub teams: Vec<Team>,
}

impl Services {
    pub async fn list_memberships(
        &self,
        caller: &Caller,
        org_name: &str,
        filter: &MembershipFilter,
        page: PageRequest,
    ) -> DomainResult<Page<MembershipView>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let standing = self.standing(caller, &org).await?;
        let found = self.store.list_memberships(&org.id, filter, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for membership in found.items {
            items.push(self.membership_view(membership, &org, &standing).await?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    pub async fn create_membership(
        &self,
        caller: &Caller,
        org_name: &str,
        email: &str,
        team_ids: &[String],
    ) -> DomainResult<MembershipView> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ManageMembership)
            .await?;
        let standing = self.standing(caller, &org).await?;
        validate::email(email)?;
        for id in team_ids {
            match self.store.team_by_id(id).await? {
                Some(team) if team.organization_id == org.id && sees(&standing, &team) => {}
                _ => {
                    return Err(DomainError::Invalid {
                        pointer: Some("/data/relationships/teams".into()),
                        detail: format!("team {id} not found in organization {}", org.name),
                    })
                }
            }
        }
        // An email shared by several users names none of them: it stays an invitation.
        let users = self.store.users_with_email(email).await?;
        let user = match <[User; 1]>::try_from(users) {
            Ok([user]) => Some(user),
            Err(_) => None,
        };
        let user_id = user.as_ref().map(|u| u.id.as_str());
        if self
            .store
            .membership_for(&org.id, user_id, email)
            .await?
            .is_some()
        {
            return Err(already_member(email));
        }
        let membership = OrganizationMembership {
            id: ids::new_id(ids::MEMBERSHIP),
            organization_id: org.id.clone(),
            user_id: user_id.map(str::to_string),
            email: user
                .as_ref()
                .map_or(email, |u| u.email.as_str())
                .to_string(),
            status: if user.is_some() {
                MembershipStatus::Active
            } else {
                MembershipStatus::Invited
            },
            created_at: clock::now(),
        };
        self.store
            .create_membership(&membership, team_ids)
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => already_member(email),
                other => other.into(),
            })?;
        self.membership_view(membership, &org, &standing).await
    }

    pub async fn membership(&self, caller: &Caller, id: &str) -> DomainResult<MembershipView> {
        let (membership, org, standing) = self
            .membership_for_action(caller, id, Action::ReadOrganization)
            .await?;
        self.membership_view(membership, &org, &standing).await
    }

    pub async fn delete_membership(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (membership, _, _) = self
            .membership_for_action(caller, id, Action::ManageMembership)
            .await?;
        if !self.store.delete_membership(&membership.id).await? {
            return Err(DomainError::bad_request(
                "the last owner of an organization cannot be removed: add another member to \
                 the owners team first",
            ));
        }
        Ok(())
    }

    /// The caller's own memberships, in every organization.
    pub async fn own_memberships(&self, caller: &Caller) -> DomainResult<Vec<MembershipView>> {
        let user = self.current_user(caller)?;
        let mut views = Vec::new();
        for membership in self.store.user_memberships(&user.id).await? {
            let Some(org) = self
                .store
                .organization_by_id(&membership.organization_id)
                .await?
            else {
                continue;
            };
            let standing = match self.standing(caller, &org).await {
                // An organization that wants single sign-on shows nothing to this credential.
                Err(DomainError::Forbidden(_)) => continue,
                other => other?,
            };
            views.push(self.membership_view(membership, &org, &standing).await?);
        }
        Ok(views)
    }

    /// Turns the invitations of the user's email into memberships (user creation, sign-in).
    pub(crate) async fn accept_invitations(&self, user: &User) -> DomainResult<()> {
        let accepted = self.store.accept_invitations(&user.id, &user.email).await?;
        if accepted > 0 {
            tracing::info!(user = %user.id, accepted, "invitations accepted");
        }
        Ok(())
    }

    async fn membership_for_action(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(OrganizationMembership, Organization, Standing)> {
        const WHAT: &str = "organization membership";
        let membership = self
            .store
            .membership_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let org = self
            .store
            .organization_by_id(&membership.organization_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let standing = self.standing(caller, &org).await?;
        check(standing.access, action, &org, WHAT)?;
        Ok((membership, org, standing))
    }

    async fn membership_view(
        &self,
        membership: OrganizationMembership,
        org: &Organization,
        standing: &Standing,
    ) -> DomainResult<MembershipView> {
        let user = match &membership.user_id {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        };
        let teams = self
            .store
            .membership_teams(&membership.id)
            .await?
            .into_iter()
            .filter(|t| sees(standing, t))
            .collect();
        Ok(MembershipView {
            membership,
            organization_name: org.name.clone(),
            user,
            teams,
        })
    }
}

fn already_member(email: &str) -> DomainError {
    DomainError::invalid(
        "email",
        format!("{email} is already a member of the organization, or invited"),
    )
}
