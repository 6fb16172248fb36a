//! Run triggers (HCP Terraform's `run-triggers`): a workspace (the target) names up to
//! [`MAX_SOURCES`] workspaces of its organization (its sources, `sourceable`); when a run of a
//! source applies successfully, a run is queued in each of its targets with the source named
//! in its message, as a run queued from the UI would be (the target's latest configuration).
//! Whether it then applies without confirmation is the target's `auto-apply-run-trigger`.
//!
//! Who sees a trigger: whoever may read both of its workspaces (lists leave out triggers whose
//! other end the caller cannot see). Creating one takes administering the target and reading
//! the source's runs (HCP's rule); deleting one, administering the target.

use terrace_auth::policy::Action;
use terrace_storage::model::{Organization, Page, PageRequest, Run, RunTrigger, Workspace};
use terrace_storage::store::RunTriggerDirection;
use terrace_storage::{clock, ids, StorageError};

use crate::access::{allows, check, Standing};
use crate::runs::NewRun;
use crate::{Caller, DomainError, DomainResult, Services};

/// HCP Terraform's limit of source workspaces per target.
pub const MAX_SOURCES: u64 = 20;
/// The `source` of runs a run trigger queued.
pub const RUN_TRIGGER_SOURCE: &str = "tfe-run-trigger";
/// Their `trigger-reason`.
pub const RUN_TRIGGER_REASON: &str = "run_trigger";

const WHAT: &str = "run trigger";
const SOURCEABLE: &str = "/data/relationships/sourceable/data";

/// The `filter[run-trigger][type]` of a list: `inbound` (the workspace's sources) or
/// `outbound` (its targets).
pub fn direction(filter: Option<&str>) -> DomainResult<RunTriggerDirection> {
    match filter {
        Some("inbound") => Ok(RunTriggerDirection::Inbound),
        Some("outbound") => Ok(RunTriggerDirection::Outbound),
        Some(other) => Err(DomainError::bad_request(format!(
            "filter[run-trigger][type] must be inbound or outbound, not {other:?}"
        ))),
        None => Err(DomainError::bad_request(
            "filter[run-trigger][type] is required: inbound or outbound",
        )),
    }
}

/// The message of a run a trigger queued.
pub fn triggered_message(run_id: &str, organization: &str, workspace: &str) -> String {
    format!("Triggered by run {run_id} from workspace {organization}/{workspace}")
}

impl Services {
    /// Makes `sourceable_id` a source of the workspace `workspace_id`.
    pub async fn create_run_trigger(
        &self,
        caller: &Caller,
        workspace_id: &str,
        sourceable_id: Option<&str>,
    ) -> DomainResult<RunTrigger> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::UpdateWorkspace)
            .await?;
        let Some(sourceable_id) = sourceable_id.filter(|id| !id.is_empty()) else {
            return Err(DomainError::Invalid {
                pointer: Some(SOURCEABLE.into()),
                detail: "a run trigger needs its source workspace (relationships.sourceable)"
                    .into(),
            });
        };
        // Another organization's workspace is as unknown as one that does not exist.
        let source = self
            .store
            .workspace_by_id(sourceable_id)
            .await?
            .filter(|s| s.organization_id == org.id)
            .ok_or(DomainError::NotFound("sourceable workspace"))?;
        let standing = self.standing(caller, &org).await?;
        let access = self.workspace_access(&standing, &source).await?;
        check(access, Action::ReadRuns, &org, "sourceable workspace")?;
        if source.id == ws.id {
            return Err(DomainError::Invalid {
                pointer: Some(SOURCEABLE.into()),
                detail: format!("workspace {} cannot trigger runs in itself", ws.name),
            });
        }
        let trigger = RunTrigger {
            id: ids::new_id(ids::RUN_TRIGGER),
            workspace_id: ws.id.clone(),
            sourceable_id: source.id.clone(),
            created_at: clock::now(),
            workspace_name: ws.name.clone(),
            sourceable_name: source.name.clone(),
        };
        match self.store.create_run_trigger(&trigger, MAX_SOURCES).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(DomainError::Invalid {
                    pointer: Some(SOURCEABLE.into()),
                    detail: format!(
                        "workspace {} already has {MAX_SOURCES} source workspaces, the most a \
                         workspace may have",
                        ws.name
                    ),
                })
            }
            Err(StorageError::Conflict(_)) => {
                return Err(DomainError::Invalid {
                    pointer: Some(SOURCEABLE.into()),
                    detail: format!(
                        "workspace {} already has a run trigger from workspace {}",
                        ws.name, source.name
                    ),
                })
            }
            Err(other) => return Err(other.into()),
        }
        Ok(self
            .store
            .run_trigger_by_id(&trigger.id)
            .await?
            .unwrap_or(trigger))
    }

    /// A workspace's triggers in the direction `filter` names (checked once the caller may
    /// read the workspace), oldest first, without those whose other end the caller cannot
    /// see.
    pub async fn list_run_triggers(
        &self,
        caller: &Caller,
        workspace_id: &str,
        filter: Option<&str>,
        page: PageRequest,
    ) -> DomainResult<Page<RunTrigger>> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadWorkspace)
            .await?;
        let direction = direction(filter)?;
        let standing = self.standing(caller, &org).await?;
        let mut visible = Vec::new();
        for trigger in self.store.list_run_triggers(&ws.id, direction).await? {
            let other = match direction {
                RunTriggerDirection::Inbound => &trigger.sourceable_id,
                RunTriggerDirection::Outbound => &trigger.workspace_id,
            };
            if self.reads_workspace(&standing, other).await? {
                visible.push(trigger);
            }
        }
        let total = visible.len() as u64;
        let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let items = visible
            .into_iter()
            .skip(start)
            .take(page.size as usize)
            .collect();
        Ok(Page { items, total })
    }

    pub async fn run_trigger(&self, caller: &Caller, id: &str) -> DomainResult<RunTrigger> {
        self.run_trigger_for(caller, id, Action::ReadWorkspace)
            .await
            .map(|(trigger, _)| trigger)
    }

    pub async fn delete_run_trigger(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (trigger, _) = self
            .run_trigger_for(caller, id, Action::UpdateWorkspace)
            .await?;
        if !self.store.delete_run_trigger(&trigger.id).await? {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok(())
    }

    /// A trigger both of whose workspaces the caller sees, and `action` on its target.
    async fn run_trigger_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(RunTrigger, Organization)> {
        let trigger = self
            .store
            .run_trigger_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let hidden = |e| match e {
            DomainError::NotFound(_) => DomainError::NotFound(WHAT),
            other => other,
        };
        let (_, org, _) = self
            .workspace_id_for(caller, &trigger.workspace_id, Action::ReadWorkspace)
            .await
            .map_err(hidden)?;
        let standing = self.standing(caller, &org).await?;
        if !self
            .reads_workspace(&standing, &trigger.sourceable_id)
            .await?
        {
            return Err(DomainError::NotFound(WHAT));
        }
        self.workspace_id_for(caller, &trigger.workspace_id, action)
            .await
            .map_err(hidden)?;
        Ok((trigger, org))
    }

    async fn reads_workspace(&self, standing: &Standing, workspace_id: &str) -> DomainResult<bool> {
        let Some(ws) = self.store.workspace_by_id(workspace_id).await? else {
            return Ok(false);
        };
        let access = self.workspace_access(standing, &ws).await?;
        Ok(allows(access, Action::ReadWorkspace))
    }

    /// After `run` applied successfully in `source`: queues a run in each of its targets, by
    /// no one (the source's apply asked for it), with the run and the source in its message.
    /// A target that takes no runs (local execution, no configuration) is skipped and logged.
    pub(crate) async fn fire_run_triggers(
        &self,
        run: &Run,
        source: &Workspace,
    ) -> DomainResult<()> {
        let triggers = self
            .store
            .list_run_triggers(&source.id, RunTriggerDirection::Outbound)
            .await?;
        if triggers.is_empty() {
            return Ok(());
        }
        let Some(org) = self
            .store
            .organization_by_id(&source.organization_id)
            .await?
        else {
            return Ok(());
        };
        for trigger in triggers {
            let Some(target) = self.store.workspace_by_id(&trigger.workspace_id).await? else {
                continue;
            };
            let new = NewRun {
                workspace_id: target.id.clone(),
                message: Some(triggered_message(&run.id, &org.name, &source.name)),
                auto_apply: Some(target.auto_apply_run_trigger),
                source: RUN_TRIGGER_SOURCE.into(),
                ..Default::default()
            };
            match self.insert_run(&target, &org, new, None).await {
                Ok(queued) => tracing::info!(
                    run = %run.id, workspace = %target.id, queued = %queued.id,
                    "a run trigger queued a run"
                ),
                Err(DomainError::Storage(err)) => return Err(DomainError::Storage(err)),
                Err(refusal) => tracing::warn!(
                    run = %run.id, workspace = %target.id, reason = %refusal,
                    "a run trigger's target takes no run"
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_its_direction() {
        assert_eq!(
            direction(Some("inbound")).unwrap(),
            RunTriggerDirection::Inbound
        );
        assert_eq!(
            direction(Some("outbound")).unwrap(),
            RunTriggerDirection::Outbound
        );
        assert!(direction(Some("sideways")).is_err());
        assert!(direction(None).is_err());
    }

    #[test]
    fn the_message_names_the_run_and_its_workspace() {
        assert_eq!(
            triggered_message("run-1", "acme", "network"),
            "Triggered by run run-1 from workspace acme/network"
        );
    }
}
