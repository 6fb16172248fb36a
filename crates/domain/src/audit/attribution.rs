//! Which organization an event belongs to: the one whose resource the request named.

use super::ChangeRequest;
use crate::configuration::CONFIGURATION_UPLOAD;
use crate::providers::{BINARY_UPLOAD, SHASUMS_UPLOAD, SIGNATURE_UPLOAD};
use crate::registry::modules::MODULE_UPLOAD;
use crate::state::{JSON_STATE_UPLOAD, STATE_UPLOAD};
use crate::{Principal, Services};

/// Path parameters and created resources' types that name an organization by its name (a
/// registry's namespace is its organization's name).
const NAMING_ORGANIZATIONS: [&str; 3] = ["organization", "organizations", "namespace"];

impl Services {
    /// The organization a request's path names, looked up by the first parameter that
    /// resolves (`/organizations/:organization/...`, `/workspaces/:workspace_id/...`), or
    /// by what a signed upload URL grants, or by the caller (a runner's workspace, an agent's
    /// pool); `None` for site events. Deletions must ask before the handler runs, and
    /// everything else before another request can delete what it named.
    pub async fn audit_organization(&self, change: &ChangeRequest) -> Option<String> {
        for (name, value) in &change.params {
            let found = if name == "token" {
                match self.capability_object(value) {
                    Some((purpose, id)) => self.organization_of(&purpose, &id).await,
                    None => None,
                }
            } else if let (true, Some(caller)) = (
                NAMING_ORGANIZATIONS.contains(&name.as_str()),
                &change.caller,
            ) {
                // Through what this replica keeps of the caller's credentials: most writes
                // name their organization, which the request has just looked up.
                self.organization_named(caller, value)
                    .await
                    .ok()
                    .flatten()
                    .map(|o| o.id)
            } else {
                self.organization_of(name, value).await
            };
            if found.is_some() {
                return found;
            }
        }
        match change.caller.as_ref().map(|c| &c.principal) {
            Some(Principal::Job(job)) => {
                self.organization_of("workspace_id", &job.workspace_id)
                    .await
            }
            Some(Principal::Agent {
                pool_id: Some(pool),
            }) => self.organization_of("agent_pool_id", pool).await,
            Some(Principal::Team(team)) => Some(team.organization_id.clone()),
            Some(
                Principal::Organization { organization_id }
                | Principal::AuditTrail { organization_id },
            ) => Some(organization_id.clone()),
            _ => None,
        }
    }

    /// What a signed URL's token grants: its purpose and the object's ID.
    pub(super) fn capability_object(&self, token: &str) -> Option<(String, String)> {
        let subject = self.capability_subject(token)?;
        let (purpose, id) = subject.split_once(':')?;
        Some((purpose.to_string(), id.to_string()))
    }

    /// The organization of the object a path parameter, a capability purpose or a created
    /// resource's type names. Lookup failures count as "none": the event is still recorded.
    pub(super) async fn organization_of(&self, kind: &str, id: &str) -> Option<String> {
        let store = &self.store;
        let workspace = |ws: Option<String>| async move {
            store
                .workspace_by_id(&ws?)
                .await
                .ok()
                .flatten()
                .map(|w| w.organization_id)
        };
        let module = |module_id: Option<String>| async move {
            store
                .registry_module_by_id(&module_id?)
                .await
                .ok()
                .flatten()
                .map(|m| m.organization_id)
        };
        let provider = |version_id: Option<String>| async move {
            let version = store.provider_version_by_id(&version_id?).await.ok()??;
            store
                .registry_provider_by_id(&version.provider_id)
                .await
                .ok()
                .flatten()
                .map(|p| p.organization_id)
        };
        match kind {
            kind if NAMING_ORGANIZATIONS.contains(&kind) => store
                .organization_by_name(id)
                .await
                .ok()
                .flatten()
                .map(|o| o.id),
            "workspace_id" | "workspaces" => workspace(Some(id.to_string())).await,
            "run_id" | "runs" => {
                let run = store.run_by_id(id).await.ok().flatten();
                workspace(run.map(|r| r.workspace_id)).await
            }
            "ssh_key_id" | "ssh-keys" => store
                .ssh_key_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|k| k.organization_id),
            "notification_configuration_id" | "notification-configurations" => {
                let config = store
                    .notification_configuration_by_id(id)
                    .await
                    .ok()
                    .flatten();
                workspace(config.map(|c| c.workspace_id)).await
            }
            "task_id" | "tasks" => store
                .run_task_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|t| t.organization_id),
            "workspace_task_id" | "workspace-tasks" => {
                let attachment = store.workspace_run_task_by_id(id).await.ok().flatten();
                workspace(attachment.map(|a| a.workspace_id)).await
            }
            "run_trigger_id" | "run-triggers" => {
                let trigger = store.run_trigger_by_id(id).await.ok().flatten();
                workspace(trigger.map(|t| t.workspace_id)).await
            }
            "plan_id" | "apply_id" => {
                let phase = store.phase_by_id(id).await.ok().flatten()?;
                let run = store.run_by_id(&phase.run_id).await.ok().flatten();
                workspace(run.map(|r| r.workspace_id)).await
            }
            "state_version_id" | "state-versions" | STATE_UPLOAD | JSON_STATE_UPLOAD => {
                let sv = store.state_version_by_id(id).await.ok().flatten();
                workspace(sv.map(|s| s.workspace_id)).await
            }
            "configuration_version_id" | "configuration-versions" | CONFIGURATION_UPLOAD => {
                let cv = store.configuration_version_by_id(id).await.ok().flatten();
                workspace(cv.map(|c| c.workspace_id)).await
            }
            "project_id" | "projects" => store
                .project_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|p| p.organization_id),
            "varset_id" | "varsets" => store
                .variable_set_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|v| v.organization_id),
            "agent_pool_id" | "agent-pools" => store
                .agent_pool_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|p| p.organization_id),
            "registry_module_id" | "registry-modules" => module(Some(id.to_string())).await,
            MODULE_UPLOAD => {
                let version = store.module_version_by_id(id).await.ok().flatten();
                module(version.map(|v| v.module_id)).await
            }
            "registry-providers" => store
                .registry_provider_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|p| p.organization_id),
            "registry-provider-versions" | SHASUMS_UPLOAD | SIGNATURE_UPLOAD => {
                provider(Some(id.to_string())).await
            }
            "registry-provider-platforms" | BINARY_UPLOAD => {
                let platform = store.provider_platform_by_id(id).await.ok().flatten();
                provider(platform.map(|p| p.version_id)).await
            }
            "gpg-keys" => store
                .gpg_key_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|k| k.organization_id),
            "tag_id" => store
                .tag_by_id(id)
                .await
                .ok()
                .flatten()
                .map(|t| t.organization_id),
            _ => None,
        }
    }
}
