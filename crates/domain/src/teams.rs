//! Teams: who is on them and what they may do across the organization. Team managers
//! (`ManageTeams`) create, rename and delete them; membership managers (`ManageMembership`)
//! put members on them. The owners team holds everything: it is never deleted, renamed,
//! narrowed or emptied. Secret teams are seen only by their members and by those allowed
//! `ReadSecretTeams`; to everyone else they do not exist.

use serde_json::{Map, Value};
use terrace_auth::policy::{Access, Action, OrganizationAccess};
use terrace_storage::model::{
    JsonText, Organization, OrganizationMembership, Page, PageRequest, Team, User,
};
use terrace_storage::store::TeamFilter;
use terrace_storage::{clock, ids};

use crate::access::{allows, check, Standing};
use crate::organizations::name_taken;
use crate::{Caller, DomainError, DomainResult, Principal, Services};

pub const VISIBILITIES: [&str; 2] = ["secret", "organization"];

#[derive(Debug, Clone)]
pub struct TeamView {
    pub team: Team,
    pub organization_name: String,
    pub access: Access,
    /// The caller is on the team (for `allow-member-token-management`).
    pub caller_is_member: bool,
    pub users: Vec<User>,
    pub memberships: Vec<OrganizationMembership>,
}

impl TeamView {
    /// Whether the caller may create, read and delete the team's token.
    pub fn can_manage_token(&self) -> bool {
        let owners_guard = !self.team.is_owners || self.access.owner;
        owners_guard
            && (allows(self.access, Action::ManageTeams)
                || (self.caller_is_member && self.team.allow_member_token_management))
    }
}

/// Changes to a team; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TeamChanges {
    pub name: Option<String>,
    pub visibility: Option<String>,
    /// The keys to change in the team's `organization-access` (others keep their value).
    pub organization_access: Option<Map<String, Value>>,
    /// `Some(None)` clears it.
    pub sso_team_id: Option<Option<String>>,
    pub allow_member_token_management: Option<bool>,
}

/// Members named by username or by organization membership ID.
#[derive(Debug, Clone)]
pub enum TeamMembers {
    Usernames(Vec<String>),
    Memberships(Vec<String>),
}

/// A team as the caller reaches it, with the caller's standing in its organization.
pub(crate) struct ReachedTeam {
    pub team: Team,
    pub org: Organization,
    pub standing: Standing,
}

impl ReachedTeam {
    /// The owners team is changed (members, settings, token) by owners only: anyone else
    /// could make themselves an owner through it.
    pub fn guard_owners(&self) -> DomainResult<()> {
        if self.team.is_owners && !self.standing.access.owner {
            return Err(DomainError::Forbidden(format!(
                "only owners of organization {} may change its owners team, its members or                  its token",
                self.org.name
            )));
        }
        Ok(())
    }

    /// The caller is a user on the team (team tokens act for the team, not as a member).
    pub fn caller_is_member(&self, caller: &Caller) -> bool {
        matches!(caller.principal, Principal::User(_))
            && self.standing.teams().contains(&self.team.id)
    }
}

/// Whether the caller sees the team at all.
pub(crate) fn sees(standing: &Standing, team: &Team) -> bool {
    team.visibility == "organization"
        || standing.teams().contains(&team.id)
        || allows(standing.access, Action::ReadSecretTeams)
}

impl Services {
    pub async fn list_teams(
        &self,
        caller: &Caller,
        org_name: &str,
        mut filter: TeamFilter,
        page: PageRequest,
    ) -> DomainResult<Page<TeamView>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let standing = self.standing(caller, &org).await?;
        filter.secret_visible =
            (!allows(standing.access, Action::ReadSecretTeams)).then(|| standing.teams().to_vec());
        let teams = self.store.list_teams(&org.id, &filter, page).await?;
        let mut items = Vec::with_capacity(teams.items.len());
        for team in teams.items {
            let reached = ReachedTeam {
                team,
                org: org.clone(),
                standing: standing.clone(),
            };
            items.push(self.team_view(caller, reached).await?);
        }
        Ok(Page {
            items,
            total: teams.total,
        })
    }

    pub async fn create_team(
        &self,
        caller: &Caller,
        org_name: &str,
        name: &str,
        changes: TeamChanges,
    ) -> DomainResult<TeamView> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::ManageTeams)
            .await?;
        let grants_something = changes
            .organization_access
            .as_ref()
            .is_some_and(|given| given.values().any(|v| *v == Value::Bool(true)));
        if grants_something {
            check(
                access,
                Action::ManageOrganizationAccess,
                &org,
                "organization",
            )?;
        }
        let mut team = Team {
            id: ids::new_id(ids::TEAM),
            organization_id: org.id.clone(),
            name: String::new(),
            is_owners: false,
            visibility: "secret".into(),
            organization_access: JsonText(OrganizationAccess::default()),
            sso_team_id: None,
            allow_member_token_management: true,
            created_at: clock::now(),
        };
        apply_changes(
            &mut team,
            TeamChanges {
                name: Some(name.to_string()),
                ..changes
            },
        )?;
        self.store.create_team(&team).await.map_err(name_taken)?;
        let standing = self.standing(caller, &org).await?;
        self.team_view(
            caller,
            ReachedTeam {
                team,
                org,
                standing,
            },
        )
        .await
    }

    pub async fn team(&self, caller: &Caller, id: &str) -> DomainResult<TeamView> {
        let reached = self.team_for(caller, id, Action::ReadOrganization).await?;
        self.team_view(caller, reached).await
    }

    pub async fn update_team(
        &self,
        caller: &Caller,
        id: &str,
        changes: TeamChanges,
    ) -> DomainResult<TeamView> {
        let mut reached = self.team_for(caller, id, Action::ManageTeams).await?;
        reached.guard_owners()?;
        if changes.organization_access.is_some() {
            check(
                reached.standing.access,
                Action::ManageOrganizationAccess,
                &reached.org,
                "team",
            )?;
        }
        let team = &mut reached.team;
        if team.is_owners {
            if changes.name.as_ref().is_some_and(|n| *n != team.name) {
                return Err(DomainError::invalid(
                    "name",
                    "the owners team cannot be renamed",
                ));
            }
            if changes.organization_access.is_some() {
                return Err(DomainError::invalid(
                    "organization-access",
                    "the owners team always holds every organization permission",
                ));
            }
        }
        apply_changes(team, changes)?;
        self.store.update_team(team).await.map_err(name_taken)?;
        self.team_view(caller, reached).await
    }

    pub async fn delete_team(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let reached = self.team_for(caller, id, Action::ManageTeams).await?;
        if reached.team.is_owners {
            return Err(DomainError::bad_request(
                "the owners team cannot be deleted",
            ));
        }
        if !self.store.delete_team(&reached.team.id).await? {
            return Err(DomainError::NotFound("team"));
        }
        Ok(())
    }

    pub async fn add_team_members(
        &self,
        caller: &Caller,
        team_id: &str,
        members: TeamMembers,
    ) -> DomainResult<()> {
        let reached = self
            .team_for(caller, team_id, Action::ManageMembership)
            .await?;
        reached.guard_owners()?;
        let ids = self.member_ids(&reached.org, members).await?;
        self.store
            .add_team_memberships(&reached.team.id, &ids)
            .await?;
        Ok(())
    }

    pub async fn remove_team_members(
        &self,
        caller: &Caller,
        team_id: &str,
        members: TeamMembers,
    ) -> DomainResult<()> {
        let reached = self
            .team_for(caller, team_id, Action::ManageMembership)
            .await?;
        reached.guard_owners()?;
        let ids = self.member_ids(&reached.org, members).await?;
        let team = &reached.team;
        if !self
            .store
            .remove_team_memberships(&team.id, &ids, team.is_owners)
            .await?
        {
            return Err(DomainError::bad_request(
                "the owners team must keep at least one active member: add another owner first",
            ));
        }
        Ok(())
    }

    /// The membership IDs of `members` in `org`; anyone who is not a member is refused.
    async fn member_ids(
        &self,
        org: &Organization,
        members: TeamMembers,
    ) -> DomainResult<Vec<String>> {
        let mut ids = Vec::new();
        match members {
            TeamMembers::Usernames(names) => {
                for name in names {
                    let user = self.store.user_by_username(&name).await?;
                    let membership = match &user {
                        Some(u) => self.store.membership_for(&org.id, Some(&u.id), "").await?,
                        None => None,
                    };
                    let Some(membership) = membership else {
                        return Err(DomainError::bad_request(format!(
                            "user {name} is not a member of organization {}: invite them \
                             through its organization-memberships first",
                            org.name
                        )));
                    };
                    ids.push(membership.id);
                }
            }
            TeamMembers::Memberships(given) => {
                for id in given {
                    match self.store.membership_by_id(&id).await? {
                        Some(m) if m.organization_id == org.id => ids.push(m.id),
                        _ => {
                            return Err(DomainError::bad_request(format!(
                                "organization membership {id} not found in organization {}",
                                org.name
                            )))
                        }
                    }
                }
            }
        }
        if ids.is_empty() {
            return Err(DomainError::bad_request("name at least one member"));
        }
        Ok(ids)
    }

    /// Loads a team the caller sees and authorizes `action` on its organization. Teams of
    /// other organizations and secret teams the caller may not see are not found.
    pub(crate) async fn team_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<ReachedTeam> {
        const WHAT: &str = "team";
        let team = self
            .store
            .team_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let org = self
            .store
            .organization_by_id(&team.organization_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let standing = self.standing(caller, &org).await?;
        check(standing.access, Action::ReadOrganization, &org, WHAT)?;
        if !sees(&standing, &team) {
            return Err(DomainError::NotFound(WHAT));
        }
        check(standing.access, action, &org, WHAT)?;
        Ok(ReachedTeam {
            team,
            org,
            standing,
        })
    }

    async fn team_view(&self, caller: &Caller, reached: ReachedTeam) -> DomainResult<TeamView> {
        let caller_is_member = reached.caller_is_member(caller);
        let users = self.store.team_users(&reached.team.id).await?;
        let memberships = self.store.team_memberships(&reached.team.id).await?;
        Ok(TeamView {
            caller_is_member,
            access: reached.standing.access,
            organization_name: reached.org.name,
            team: reached.team,
            users,
            memberships,
        })
    }
}

fn apply_changes(team: &mut Team, changes: TeamChanges) -> DomainResult<()> {
    if let Some(name) = changes.name {
        validate_team_name(&name)?;
        team.name = name;
    }
    if let Some(visibility) = changes.visibility {
        if !VISIBILITIES.contains(&visibility.as_str()) {
            return Err(DomainError::invalid(
                "visibility",
                format!("visibility \"{visibility}\" is not one of: secret, organization"),
            ));
        }
        team.visibility = visibility;
    }
    if let Some(given) = changes.organization_access {
        let mut merged = match serde_json::to_value(team.organization_access.0) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        merged.extend(given);
        team.organization_access =
            JsonText(serde_json::from_value(Value::Object(merged)).map_err(|e| {
                DomainError::invalid(
                    "organization-access",
                    format!("organization-access holds true or false per permission: {e}"),
                )
            })?);
    }
    if let Some(sso) = changes.sso_team_id {
        team.sso_team_id = sso.filter(|s| !s.is_empty());
    }
    if let Some(allow) = changes.allow_member_token_management {
        team.allow_member_token_management = allow;
    }
    Ok(())
}

fn validate_team_name(name: &str) -> DomainResult<()> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed != name || name.chars().count() > 255 {
        return Err(DomainError::invalid(
            "name",
            "a team name is 1 to 255 characters without leading or trailing spaces",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "a team name may not contain control characters",
        ));
    }
    Ok(())
}
