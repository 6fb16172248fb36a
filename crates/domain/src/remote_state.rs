//! Remote state sharing (HCP Terraform's `global-remote-state` and `remote-state-consumers`):
//! which runs may read a workspace's current state through the API, as
//! `terraform_remote_state` (backend `remote`, or the `tfe_outputs` data source) does with its
//! job token.
//!
//! A job token reads the workspaces of its own organization (so the CLI finds them by name,
//! and does not try to create them), and the state of its own workspace, of every workspace
//! with `global-remote-state`, and of those listing its workspace among their consumers.
//! Anything else is refused with HCP Terraform's "not authorized to read the state" answer
//! (403), which the CLI prints. Another organization's workspaces stay unknown (404).
//! Users' and teams' tokens are untouched: sharing governs runs only.
//!
//! The consumer list is read by whoever reads the workspace and changed by its
//! administrators (`UpdateWorkspace`); consumers are workspaces of the same organization.
//! With `project-remote-state` the consumers are the other workspaces of its project instead.

use terrace_auth::policy::{Access, Action, StateAccess, WorkspaceGrant};
use terrace_storage::clock;
use terrace_storage::model::{Organization, Page, PageRequest, Workspace};

use crate::caller::JobIdentity;
use crate::workspaces::WorkspaceView;
use crate::{Caller, DomainError, DomainResult, Services};

/// How a consumer list changes: `POST` adds, `PATCH` replaces, `DELETE` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerChange {
    Add,
    Replace,
    Remove,
}

/// Whether a run of `consumer` may read the state of `source`: never across organizations;
/// its own state, a globally shared one, one shared with its project, or one that lists it
/// (`listed`). Sharing with the project replaces the list (HCP's three modes exclude each
/// other; the list is kept for a return to it).
pub fn may_read_state(source: &Workspace, consumer: &Workspace, listed: bool) -> bool {
    let shared = if source.project_remote_state {
        source.project_id == consumer.project_id
    } else {
        listed
    };
    source.organization_id == consumer.organization_id
        && (source.id == consumer.id || source.global_remote_state || shared)
}

/// Whether `action` is one of what a run may do to another workspace of its organization.
pub fn shared_action(action: Action) -> bool {
    matches!(
        action,
        Action::ReadWorkspace | Action::ReadStateVersions | Action::ReadStateOutputs
    )
}

/// The refusal a run gets for a state it may not read (HCP Terraform's wording, which the
/// CLI shows under "Error retrieving state: forbidden").
pub fn denial(source: &str, consumer: &str) -> String {
    format!(
        "This Terraform run is not authorized to read the state of the workspace '{source}'. \
         Most commonly, this is required when using the terraform_remote_state data source. To \
         allow this access, '{source}' must configure this workspace ('{consumer}') as an \
         authorized remote state consumer, or share its state with the whole organization \
         (global-remote-state)."
    )
}

/// The consumer IDs of a request body (`{"data": [{"type": "workspaces", "id": ...}]}`),
/// in order and without repeats; at least one.
pub fn consumer_ids(linkage: &[(Option<String>, Option<String>)]) -> DomainResult<Vec<String>> {
    if linkage.is_empty() {
        return Err(DomainError::Invalid {
            pointer: Some("/data".into()),
            detail: "name at least one workspace ({\"type\": \"workspaces\", \"id\": ...})".into(),
        });
    }
    let mut ids: Vec<String> = Vec::with_capacity(linkage.len());
    for (i, (kind, id)) in linkage.iter().enumerate() {
        if let Some(kind) = kind.as_deref().filter(|k| *k != "workspaces") {
            return Err(DomainError::Invalid {
                pointer: Some(format!("/data/{i}/type")),
                detail: format!("a remote state consumer is a workspace, not {kind:?}"),
            });
        }
        let Some(id) = id.as_deref().filter(|id| !id.is_empty()) else {
            return Err(DomainError::Invalid {
                pointer: Some(format!("/data/{i}/id")),
                detail: "a workspace ID is required".into(),
            });
        };
        if !ids.iter().any(|known| known == id) {
            ids.push(id.to_string());
        }
    }
    Ok(ids)
}

/// The access a run has to a workspace it may read (`state`: and its state).
fn run_access(state: bool) -> Access {
    Access {
        member: true,
        ..Access::NONE
    }
    .with_workspace(WorkspaceGrant {
        state_versions: if state {
            StateAccess::Read
        } else {
            StateAccess::None
        },
        ..WorkspaceGrant::NONE
    })
}

impl Services {
    /// A job token's access to `ws` for `action` (see the module documentation).
    pub(crate) async fn job_workspace_access(
        &self,
        job: &JobIdentity,
        ws: &Workspace,
        action: Action,
    ) -> DomainResult<Access> {
        const WHAT: &str = "workspace";
        let consumer = self
            .store
            .workspace_by_id(&job.workspace_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        if consumer.organization_id != ws.organization_id || !shared_action(action) {
            return Err(DomainError::NotFound(WHAT));
        }
        let listed = ws.id != consumer.id
            && !ws.global_remote_state
            && !ws.project_remote_state
            && self
                .store
                .is_remote_state_consumer(&ws.id, &consumer.id)
                .await?;
        let readable = may_read_state(ws, &consumer, listed);
        if action != Action::ReadWorkspace && !readable {
            tracing::info!(workspace = %ws.id, consumer = %consumer.id, run = %job.run_id,
                "a run was refused another workspace's state: not shared with it");
            return Err(DomainError::Forbidden(denial(&ws.name, &consumer.name)));
        }
        Ok(run_access(readable))
    }

    /// The workspaces whose runs may read this one's state, as the caller sees them.
    pub async fn list_remote_state_consumers(
        &self,
        caller: &Caller,
        workspace_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<WorkspaceView>> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadWorkspace)
            .await?;
        let found = if ws.project_remote_state {
            self.store.list_project_neighbours(&ws.id, page).await?
        } else {
            self.store.list_remote_state_consumers(&ws.id, page).await?
        };
        let items = self.consumer_views(caller, &org, found.items).await?;
        Ok(Page {
            items,
            total: found.total,
        })
    }

    /// Adds, replaces or removes consumers of a workspace (its administrators). Each must be
    /// another workspace of its organization; one of another organization reads as unknown.
    pub async fn change_remote_state_consumers(
        &self,
        caller: &Caller,
        workspace_id: &str,
        change: ConsumerChange,
        consumer_ids: &[String],
    ) -> DomainResult<()> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::UpdateWorkspace)
            .await?;
        if change != ConsumerChange::Remove {
            for (i, id) in consumer_ids.iter().enumerate() {
                let known = self
                    .store
                    .workspace_by_id(id)
                    .await?
                    .filter(|c| c.organization_id == ws.organization_id);
                match known {
                    None => {
                        return Err(DomainError::Invalid {
                            pointer: Some(format!("/data/{i}/id")),
                            detail: format!("workspace {id} not found"),
                        })
                    }
                    Some(c) if c.id == ws.id => {
                        return Err(DomainError::Invalid {
                            pointer: Some(format!("/data/{i}/id")),
                            detail: format!(
                                "workspace {} always reads its own state: it cannot be its own \
                                 remote state consumer",
                                ws.name
                            ),
                        })
                    }
                    Some(_) => {}
                }
            }
        }
        match change {
            ConsumerChange::Add | ConsumerChange::Replace => {
                self.store
                    .add_remote_state_consumers(
                        &ws.id,
                        consumer_ids,
                        change == ConsumerChange::Replace,
                        clock::now(),
                    )
                    .await?
            }
            ConsumerChange::Remove => {
                self.store
                    .remove_remote_state_consumers(&ws.id, consumer_ids)
                    .await?
            }
        }
        Ok(())
    }

    /// Views of workspaces of `org` with the caller's access to each, as lists show them.
    async fn consumer_views(
        &self,
        caller: &Caller,
        org: &Organization,
        workspaces: Vec<Workspace>,
    ) -> DomainResult<Vec<WorkspaceView>> {
        let standing = self.standing(caller, org).await?;
        self.workspace_views(&standing, org, workspaces).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(id: &str, org: &str, global: bool) -> Workspace {
        let mut ws = crate::workspaces::workspace_with_defaults(
            id.into(),
            org,
            "prj-1".into(),
            id.into(),
            chrono::Utc::now(),
        );
        ws.global_remote_state = global;
        ws
    }

    #[test]
    fn a_run_reads_its_own_shared_and_listed_states_of_its_organization_only() {
        let consumer = ws("ws-w", "org-a", false);
        assert!(may_read_state(&consumer, &consumer, false));
        assert!(!may_read_state(
            &ws("ws-s", "org-a", false),
            &consumer,
            false
        ));
        assert!(may_read_state(&ws("ws-s", "org-a", false), &consumer, true));
        assert!(may_read_state(&ws("ws-s", "org-a", true), &consumer, false));
        // Never across organizations, whatever the source shares.
        assert!(!may_read_state(&ws("ws-s", "org-b", true), &consumer, true));
    }

    #[test]
    fn project_sharing_reaches_the_project_and_replaces_the_list() {
        let consumer = ws("ws-w", "org-a", false);
        let mut source = ws("ws-s", "org-a", false);
        source.project_remote_state = true;
        assert!(may_read_state(&source, &consumer, false));
        let mut elsewhere = consumer.clone();
        elsewhere.project_id = "prj-2".into();
        assert!(!may_read_state(&source, &elsewhere, true));
        // Never across organizations, even with equal project IDs.
        let mut foreign = consumer.clone();
        foreign.organization_id = "org-b".into();
        assert!(!may_read_state(&source, &foreign, false));
    }

    #[test]
    fn runs_may_only_read() {
        assert!(shared_action(Action::ReadStateVersions));
        assert!(shared_action(Action::ReadWorkspace));
        assert!(!shared_action(Action::CreateStateVersion));
        assert!(!shared_action(Action::ReadVariables));
        assert!(!shared_action(Action::UpdateWorkspace));
    }

    #[test]
    fn consumer_ids_need_workspaces_and_drop_repeats() {
        let w = |id: &str| (Some("workspaces".to_string()), Some(id.to_string()));
        assert_eq!(
            consumer_ids(&[w("ws-1"), w("ws-2"), w("ws-1")]).unwrap(),
            vec!["ws-1", "ws-2"]
        );
        assert!(
            matches!(consumer_ids(&[]), Err(DomainError::Invalid { pointer: Some(p), .. }) if p == "/data")
        );
        let wrong = consumer_ids(&[w("ws-1"), (Some("runs".into()), Some("run-1".into()))]);
        assert!(
            matches!(wrong, Err(DomainError::Invalid { pointer: Some(p), .. }) if p == "/data/1/type")
        );
        let missing = consumer_ids(&[(Some("workspaces".into()), None)]);
        assert!(
            matches!(missing, Err(DomainError::Invalid { pointer: Some(p), .. }) if p == "/data/0/id")
        );
    }

    #[test]
    fn the_denial_names_both_workspaces() {
        let text = denial("network", "app");
        assert!(
            text.contains("'network'") && text.contains("('app')"),
            "{text}"
        );
    }
}
