//! Backing data and data retention policies, as Terraform Enterprise has them.
//!
//! A state version's state and a configuration version's tarball are their *backing data*.
//! It can be soft-deleted (kept in the blob store but not served: downloads answer 404, and
//! a restore brings it back) and then permanently deleted (the blob is removed for good).
//! A workspace's current state version and current configuration version keep theirs, and
//! so does a configuration an unfinished run uses.
//!
//! A data retention policy (an organization's, or a workspace's, which overrides it) says how
//! long backing data is kept: `delete-older` soft-deletes what is older than N days,
//! `dont-delete` keeps everything. [`Services::sweep_data_retention`] enforces them; the
//! server runs it with its hourly housekeeping.

use chrono::{DateTime, Duration, Utc};
use terrace_auth::policy::Action;
use terrace_storage::model::{
    ConfigurationStatus, DataRetentionKind, DataRetentionPolicy, StateVersionStatus,
};
use terrace_storage::store::RetentionSubject;
use terrace_storage::{clock, ids};

use crate::workspaces::WorkspaceRef;
use crate::{Caller, DomainError, DomainResult, Services};

/// An organization's or workspace's own policy as its view carries it: `None` when it was not
/// looked up (a resource rendered inside another's answer), so the relationship is left out.
pub type PolicyLookup = Option<Option<DataRetentionPolicy>>;

/// What is asked of a version's backing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackingDataAction {
    SoftDelete,
    Restore,
    PermanentlyDelete,
}

/// Where a version's backing data is, whatever the kind of version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backing {
    Available,
    SoftDeleted,
    PermanentlyDeleted,
    /// Never uploaded, discarded, errored or archived: nothing to act on.
    Absent,
}

/// The rule: where `action` takes backing data that is at `from`, or why it cannot.
fn next(from: Backing, action: BackingDataAction) -> Result<Backing, &'static str> {
    use BackingDataAction::*;
    match (from, action) {
        (Backing::Available, SoftDelete) => Ok(Backing::SoftDeleted),
        (Backing::SoftDeleted, Restore) => Ok(Backing::Available),
        (Backing::SoftDeleted, PermanentlyDelete) => Ok(Backing::PermanentlyDeleted),
        (Backing::Available, PermanentlyDelete) => {
            Err("backing data must be soft-deleted before it is permanently deleted")
        }
        (Backing::SoftDeleted, SoftDelete) => Err("the backing data is already soft-deleted"),
        (Backing::Available, Restore) => Err("the backing data was not deleted"),
        (Backing::PermanentlyDeleted, _) => Err("the backing data was permanently deleted"),
        (Backing::Absent, _) => Err("there is no backing data"),
    }
}

fn refused(reason: &str) -> DomainError {
    DomainError::Conflict(format!("transition not allowed: {reason}"))
}

/// [`next`] for a state version's status.
pub fn state_transition(
    from: StateVersionStatus,
    action: BackingDataAction,
) -> DomainResult<StateVersionStatus> {
    let backing = match from {
        StateVersionStatus::Finalized => Backing::Available,
        StateVersionStatus::BackingDataSoftDeleted => Backing::SoftDeleted,
        StateVersionStatus::BackingDataPermanentlyDeleted => Backing::PermanentlyDeleted,
        StateVersionStatus::Pending | StateVersionStatus::Discarded => Backing::Absent,
    };
    Ok(match next(backing, action).map_err(refused)? {
        Backing::Available => StateVersionStatus::Finalized,
        Backing::SoftDeleted => StateVersionStatus::BackingDataSoftDeleted,
        Backing::PermanentlyDeleted | Backing::Absent => {
            StateVersionStatus::BackingDataPermanentlyDeleted
        }
    })
}

/// [`next`] for a configuration version's status.
pub fn configuration_transition(
    from: ConfigurationStatus,
    action: BackingDataAction,
) -> DomainResult<ConfigurationStatus> {
    let backing = match from {
        ConfigurationStatus::Uploaded => Backing::Available,
        ConfigurationStatus::BackingDataSoftDeleted => Backing::SoftDeleted,
        ConfigurationStatus::BackingDataPermanentlyDeleted => Backing::PermanentlyDeleted,
        ConfigurationStatus::Pending
        | ConfigurationStatus::Errored
        | ConfigurationStatus::Archived => Backing::Absent,
    };
    Ok(match next(backing, action).map_err(refused)? {
        Backing::Available => ConfigurationStatus::Uploaded,
        Backing::SoftDeleted => ConfigurationStatus::BackingDataSoftDeleted,
        Backing::PermanentlyDeleted | Backing::Absent => {
            ConfigurationStatus::BackingDataPermanentlyDeleted
        }
    })
}

/// What a request sets: keep backing data N days, or keep it all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionChoice {
    DeleteOlderThan(i64),
    DontDelete,
}

/// One policy as the rules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub kind: DataRetentionKind,
    pub days: Option<i64>,
}

impl Retention {
    fn of(kind: Option<DataRetentionKind>, days: Option<i64>) -> Option<Retention> {
        kind.map(|kind| Retention { kind, days })
    }
}

/// The policy a workspace is under: its own, else its organization's.
pub fn in_effect(
    workspace: Option<Retention>,
    organization: Option<Retention>,
) -> Option<Retention> {
    workspace.or(organization)
}

/// Backing data created before this instant is past the policy (`None`: nothing is).
pub fn cutoff(policy: Option<Retention>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match policy? {
        Retention {
            kind: DataRetentionKind::DeleteOlder,
            days: Some(days),
        } if days > 0 => now.checked_sub_signed(Duration::try_days(days)?),
        _ => None,
    }
}

/// The cutoff for one workspace of the sweep.
fn subject_cutoff(subject: &RetentionSubject, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cutoff(
        in_effect(
            Retention::of(subject.workspace_kind, subject.workspace_days),
            Retention::of(subject.organization_kind, subject.organization_days),
        ),
        now,
    )
}

/// The longest policy a request may set (a century), so cutoffs stay representable.
pub const MAX_DAYS: i64 = 36_500;

/// Checks a requested number of days.
pub fn validate_days(days: i64) -> DomainResult<i64> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(DomainError::invalid(
            "delete-older-than-n-days",
            format!("must be between 1 and {MAX_DAYS}"),
        ))
    }
}

/// Who owns a policy.
#[derive(Debug, Clone)]
pub enum PolicyOwner<'a> {
    Organization(&'a str),
    Workspace(&'a str),
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    pub state_versions: u64,
    pub configuration_versions: u64,
}

impl Services {
    /// The data retention policy an organization or workspace sets itself (not inherited).
    pub async fn data_retention_policy(
        &self,
        caller: &Caller,
        owner: PolicyOwner<'_>,
    ) -> DomainResult<Option<DataRetentionPolicy>> {
        let (_, owner_id) = self.policy_owner(caller, &owner, false).await?;
        self.policy_of(&owner_id).await
    }

    pub async fn set_data_retention_policy(
        &self,
        caller: &Caller,
        owner: PolicyOwner<'_>,
        choice: RetentionChoice,
    ) -> DomainResult<DataRetentionPolicy> {
        let (organization_id, owner_id) = self.policy_owner(caller, &owner, true).await?;
        let (kind, days) = match choice {
            RetentionChoice::DeleteOlderThan(days) => {
                (DataRetentionKind::DeleteOlder, Some(validate_days(days)?))
            }
            RetentionChoice::DontDelete => (DataRetentionKind::DontDelete, None),
        };
        let policy = DataRetentionPolicy {
            id: ids::new_id(ids::DATA_RETENTION_POLICY),
            workspace_id: (owner_id != organization_id).then(|| owner_id.clone()),
            organization_id,
            kind,
            delete_older_than_n_days: days,
            updated_at: clock::now(),
        };
        Ok(self.store.set_data_retention_policy(&policy).await?)
    }

    /// Removes the policy; the workspace falls back to its organization's, the organization
    /// to keeping everything.
    pub async fn delete_data_retention_policy(
        &self,
        caller: &Caller,
        owner: PolicyOwner<'_>,
    ) -> DomainResult<()> {
        let (_, owner_id) = self.policy_owner(caller, &owner, true).await?;
        self.store.delete_data_retention_policy(&owner_id).await?;
        Ok(())
    }

    /// The owner's own policy, for rendering organizations and workspaces.
    pub(crate) async fn policy_of(
        &self,
        owner_id: &str,
    ) -> DomainResult<Option<DataRetentionPolicy>> {
        Ok(self
            .store
            .data_retention_policies(&[owner_id.to_string()])
            .await?
            .into_iter()
            .next())
    }

    /// Authorizes reading (or, with `change`, changing) the owner's policy; returns the
    /// organization's ID and the owner's.
    async fn policy_owner(
        &self,
        caller: &Caller,
        owner: &PolicyOwner<'_>,
        change: bool,
    ) -> DomainResult<(String, String)> {
        match owner {
            PolicyOwner::Organization(name) => {
                let action = if change {
                    Action::UpdateOrganization
                } else {
                    Action::ReadOrganization
                };
                let (org, _) = self.organization_for(caller, name, action).await?;
                Ok((org.id.clone(), org.id))
            }
            PolicyOwner::Workspace(id) => {
                let action = if change {
                    Action::UpdateWorkspace
                } else {
                    Action::ReadWorkspace
                };
                let (ws, _, _) = self
                    .workspace_for(caller, &WorkspaceRef::Id(id.to_string()), action)
                    .await?;
                Ok((ws.organization_id, ws.id))
            }
        }
    }

    /// Soft-deletes the backing data every policy says is too old (run periodically).
    pub async fn sweep_data_retention(&self) -> DomainResult<SweepOutcome> {
        self.sweep_data_retention_at(clock::now()).await
    }

    /// [`sweep_data_retention`](Self::sweep_data_retention) as of `now`.
    pub async fn sweep_data_retention_at(&self, now: DateTime<Utc>) -> DomainResult<SweepOutcome> {
        let mut outcome = SweepOutcome::default();
        for subject in self.store.retention_subjects().await? {
            let Some(cutoff) = subject_cutoff(&subject, now) else {
                continue;
            };
            outcome.state_versions += self
                .store
                .soft_delete_state_versions_before(&subject.workspace_id, cutoff)
                .await?;
            outcome.configuration_versions += self
                .store
                .soft_delete_configurations_before(&subject.workspace_id, cutoff)
                .await?;
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackingDataAction::*;

    fn at(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(0, 0).unwrap() + Duration::days(day)
    }

    #[test]
    fn backing_data_moves_through_soft_deletion() {
        use StateVersionStatus as S;
        assert_eq!(
            state_transition(S::Finalized, SoftDelete).unwrap(),
            S::BackingDataSoftDeleted
        );
        assert_eq!(
            state_transition(S::BackingDataSoftDeleted, Restore).unwrap(),
            S::Finalized
        );
        assert_eq!(
            state_transition(S::BackingDataSoftDeleted, PermanentlyDelete).unwrap(),
            S::BackingDataPermanentlyDeleted
        );
        for (from, action) in [
            (S::Finalized, PermanentlyDelete),
            (S::Finalized, Restore),
            (S::BackingDataSoftDeleted, SoftDelete),
            (S::BackingDataPermanentlyDeleted, Restore),
            (S::BackingDataPermanentlyDeleted, SoftDelete),
            (S::Pending, SoftDelete),
            (S::Discarded, SoftDelete),
        ] {
            let err = state_transition(from, action).unwrap_err();
            assert!(
                err.to_string().contains("transition not allowed"),
                "{from} {action:?}: {err}"
            );
        }
    }

    #[test]
    fn configurations_follow_the_same_rule() {
        use ConfigurationStatus as C;
        assert_eq!(
            configuration_transition(C::Uploaded, SoftDelete).unwrap(),
            C::BackingDataSoftDeleted
        );
        assert_eq!(
            configuration_transition(C::BackingDataSoftDeleted, Restore).unwrap(),
            C::Uploaded
        );
        assert_eq!(
            configuration_transition(C::BackingDataSoftDeleted, PermanentlyDelete).unwrap(),
            C::BackingDataPermanentlyDeleted
        );
        for from in [
            C::Pending,
            C::Errored,
            C::Archived,
            C::BackingDataPermanentlyDeleted,
        ] {
            assert!(configuration_transition(from, Restore).is_err());
            assert!(configuration_transition(from, SoftDelete).is_err());
        }
    }

    #[test]
    fn a_workspace_policy_overrides_its_organization() {
        let older = |days| Retention {
            kind: DataRetentionKind::DeleteOlder,
            days: Some(days),
        };
        let keep = Retention {
            kind: DataRetentionKind::DontDelete,
            days: None,
        };
        assert_eq!(in_effect(None, Some(older(3))), Some(older(3)));
        assert_eq!(in_effect(Some(keep), Some(older(3))), Some(keep));
        assert_eq!(in_effect(Some(older(9)), Some(keep)), Some(older(9)));
        assert_eq!(in_effect(None, None), None);

        let now = at(100);
        assert_eq!(cutoff(Some(older(30)), now), Some(at(70)));
        assert_eq!(cutoff(Some(keep), now), None);
        assert_eq!(cutoff(None, now), None);
        // A stored policy without days (or a nonsensical one) deletes nothing.
        assert_eq!(
            cutoff(
                Some(Retention {
                    kind: DataRetentionKind::DeleteOlder,
                    days: None
                }),
                now
            ),
            None
        );
        assert_eq!(cutoff(Some(older(0)), now), None);
        assert_eq!(cutoff(Some(older(i64::MAX)), now), None);

        let subject = RetentionSubject {
            workspace_id: "ws-1".into(),
            organization_kind: Some(DataRetentionKind::DeleteOlder),
            organization_days: Some(10),
            workspace_kind: Some(DataRetentionKind::DontDelete),
            workspace_days: None,
        };
        assert_eq!(subject_cutoff(&subject, now), None);
        let inherited = RetentionSubject {
            workspace_kind: None,
            ..subject
        };
        assert_eq!(subject_cutoff(&inherited, now), Some(at(90)));
    }

    #[test]
    fn days_are_bounded() {
        assert!(validate_days(0).is_err());
        assert!(validate_days(-1).is_err());
        assert!(validate_days(MAX_DAYS + 1).is_err());
        assert_eq!(validate_days(1).unwrap(), 1);
        assert_eq!(validate_days(MAX_DAYS).unwrap(), MAX_DAYS);
    }
}
