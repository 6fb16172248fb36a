//! The rules of a workspace's own state, as pure functions of its record: which runs it
//! accepts, what its lock allows, whether it can be deleted safely. The services enforce
//! them and [`WorkspaceView::permissions`](super::WorkspaceView::permissions) advertises
//! them, so what the API says and what it does cannot drift apart. Who may ask is the
//! policy's business (`terrace_auth::policy`), not theirs.

use terrace_storage::model::{ExecutionMode, LockHolder, LockHolderKind, Organization, Workspace};

use crate::DomainError;

/// Why a workspace accepts no runs at all: it executes locally, so Terraform runs on the
/// client and only keeps state here.
pub fn accepts_runs(ws: &Workspace, org: &Organization) -> Result<(), DomainError> {
    if ws.execution_mode.unwrap_or(org.default_execution_mode) == ExecutionMode::Local {
        return Err(DomainError::Conflict(format!(
            "workspace {} uses local execution: Terraform runs on the client and only keeps state here",
            ws.name
        )));
    }
    Ok(())
}

/// Destroy plans need the workspace's `allow-destroy-plan` setting.
pub fn accepts_destroy_plans(ws: &Workspace) -> Result<(), DomainError> {
    if !ws.allow_destroy_plan {
        return Err(DomainError::invalid(
            "is-destroy",
            format!(
                "destroy plans are disabled for workspace {}: an administrator can enable them with its allow-destroy-plan setting",
                ws.name
            ),
        ));
    }
    Ok(())
}

/// What a lock operation ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockConflict {
    /// Someone holds the lock (for `lock`, anyone; for `unlock`, someone else).
    HeldBy(LockHolder),
    NotLocked,
}

/// `lock`: only an unlocked workspace can be locked.
pub fn lock(ws: &Workspace) -> Result<(), LockConflict> {
    match ws.lock_holder() {
        Some(holder) => Err(LockConflict::HeldBy(holder)),
        None => Ok(()),
    }
}

/// `unlock`: only the holder releases its own lock.
pub fn unlock(ws: &Workspace, caller: Option<&LockHolder>) -> Result<(), LockConflict> {
    match ws.lock_holder() {
        None => Err(LockConflict::NotLocked),
        Some(holder) if Some(&holder) != caller => Err(LockConflict::HeldBy(holder)),
        Some(_) => Ok(()),
    }
}

/// `force-unlock`: releases a user's lock; a run's lock ends with the run (cancel or discard
/// it), because unlocking under a working run would let others write state beneath it.
pub fn force_unlock(ws: &Workspace) -> Result<(), LockConflict> {
    match ws.lock_holder() {
        None => Err(LockConflict::NotLocked),
        Some(holder) if holder.kind == LockHolderKind::Run => Err(LockConflict::HeldBy(holder)),
        Some(_) => Ok(()),
    }
}

/// Safe deletion: the workspace is unlocked and manages no resources.
pub fn safe_delete(ws: &Workspace) -> Result<(), DomainError> {
    if ws.lock_kind.is_some() {
        return Err(DomainError::Conflict(
            "Workspace is currently locked. Workspace must be unlocked before it can be safely deleted".into(),
        ));
    }
    if ws.resource_count > 0 {
        return Err(DomainError::Conflict(format!(
            "workspace cannot be safely deleted because it is still managing {} resources",
            ws.resource_count
        )));
    }
    Ok(())
}

/// A workspace's file triggers after a change: prefixes and glob patterns exclude each
/// other, so setting one (non-empty) clears the other, as HCP Terraform does; asking for both
/// at once is refused.
pub fn triggers(
    current: (Vec<String>, Vec<String>),
    prefixes: Option<Vec<String>>,
    patterns: Option<Vec<String>>,
) -> Result<(Vec<String>, Vec<String>), DomainError> {
    let nonempty = |list: &Option<Vec<String>>| list.as_ref().is_some_and(|l| !l.is_empty());
    match (nonempty(&prefixes), nonempty(&patterns)) {
        (true, true) => Err(DomainError::invalid(
            "trigger-patterns",
            "trigger-prefixes and trigger-patterns cannot be used together",
        )),
        (true, false) => Ok((prefixes.unwrap_or_default(), Vec::new())),
        (false, true) => Ok((Vec::new(), patterns.unwrap_or_default())),
        (false, false) => Ok((prefixes.unwrap_or(current.0), patterns.unwrap_or(current.1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn trigger_prefixes_and_patterns_replace_each_other() {
        let had_prefixes = (list(&["/a/"]), Vec::new());
        assert_eq!(
            triggers(had_prefixes.clone(), None, Some(list(&["/b/**"]))).unwrap(),
            (Vec::new(), list(&["/b/**"]))
        );
        assert_eq!(
            triggers((Vec::new(), list(&["/b/**"])), Some(list(&["/c/"])), None).unwrap(),
            (list(&["/c/"]), Vec::new())
        );
        // Emptying one keeps the other; nothing asked keeps both as they are.
        assert_eq!(
            triggers(had_prefixes.clone(), None, Some(Vec::new())).unwrap(),
            had_prefixes
        );
        assert_eq!(
            triggers(had_prefixes.clone(), None, None).unwrap(),
            had_prefixes
        );
        assert!(triggers(had_prefixes, Some(list(&["/c/"])), Some(list(&["/d/**"]))).is_err());
    }

    fn org(mode: ExecutionMode) -> Organization {
        let mut org = crate::organizations::organization_with_defaults(
            "org-1".into(),
            "acme",
            "ops@acme.example",
            Utc::now(),
        );
        org.default_execution_mode = mode;
        org
    }

    fn workspace() -> Workspace {
        crate::workspaces::workspace_with_defaults(
            "ws-1".into(),
            "org-1",
            "prj-1".into(),
            "app".into(),
            Utc::now(),
        )
    }

    fn held(ws: &mut Workspace, kind: LockHolderKind, id: &str) -> LockHolder {
        ws.lock_kind = Some(kind);
        ws.lock_holder_id = Some(id.into());
        LockHolder {
            kind,
            id: id.into(),
        }
    }

    #[test]
    fn local_execution_accepts_no_runs_whether_set_or_inherited() {
        let mut ws = workspace();
        assert!(accepts_runs(&ws, &org(ExecutionMode::Remote)).is_ok());
        assert!(matches!(
            accepts_runs(&ws, &org(ExecutionMode::Local)),
            Err(DomainError::Conflict(_))
        ));
        ws.execution_mode = Some(ExecutionMode::Remote);
        assert!(accepts_runs(&ws, &org(ExecutionMode::Local)).is_ok());
        ws.execution_mode = Some(ExecutionMode::Local);
        assert!(accepts_runs(&ws, &org(ExecutionMode::Remote)).is_err());
    }

    #[test]
    fn destroy_plans_follow_the_setting() {
        let mut ws = workspace();
        assert!(accepts_destroy_plans(&ws).is_ok());
        ws.allow_destroy_plan = false;
        match accepts_destroy_plans(&ws) {
            Err(DomainError::Invalid { pointer, detail }) => {
                assert_eq!(pointer.as_deref(), Some("/data/attributes/is-destroy"));
                assert!(detail.contains("allow-destroy-plan"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn locks_have_one_holder_who_alone_releases_them() {
        let mut ws = workspace();
        let alice = LockHolder {
            kind: LockHolderKind::User,
            id: "user-alice".into(),
        };
        assert_eq!(lock(&ws), Ok(()));
        assert_eq!(unlock(&ws, Some(&alice)), Err(LockConflict::NotLocked));
        assert_eq!(force_unlock(&ws), Err(LockConflict::NotLocked));

        let holder = held(&mut ws, LockHolderKind::User, "user-alice");
        assert_eq!(lock(&ws), Err(LockConflict::HeldBy(holder.clone())));
        assert_eq!(unlock(&ws, Some(&alice)), Ok(()));
        let bob = LockHolder {
            kind: LockHolderKind::User,
            id: "user-bob".into(),
        };
        assert_eq!(unlock(&ws, Some(&bob)), Err(LockConflict::HeldBy(holder)));
        assert_eq!(unlock(&ws, None), Err(LockConflict::HeldBy(alice)));
        assert_eq!(force_unlock(&ws), Ok(()));
    }

    #[test]
    fn a_runs_lock_is_not_force_unlocked() {
        let mut ws = workspace();
        let run = held(&mut ws, LockHolderKind::Run, "run-1");
        assert_eq!(force_unlock(&ws), Err(LockConflict::HeldBy(run.clone())));
        // The run itself releases it.
        assert_eq!(unlock(&ws, Some(&run)), Ok(()));
    }

    #[test]
    fn safe_delete_needs_an_unlocked_workspace_without_resources() {
        let mut ws = workspace();
        assert!(safe_delete(&ws).is_ok());
        ws.resource_count = 2;
        assert!(
            matches!(safe_delete(&ws), Err(DomainError::Conflict(m)) if m.contains("2 resources"))
        );
        ws.resource_count = 0;
        held(&mut ws, LockHolderKind::User, "user-alice");
        assert!(matches!(safe_delete(&ws), Err(DomainError::Conflict(m)) if m.contains("locked")));
    }
}
