//! What each route requires, stated once: the OpenAPI document carries it on every operation
//! as `x-terrace-permission` (added by [`crate::openapi::EdgeConventions`]), and the permission
//! matrix test (tests/tests/permission_matrix.rs) derives every caller's expected answer from
//! it. Values:
//!
//! - `public`: no token (discovery, health, the login and single sign-on pages, which
//!   authenticate by password, one-time code or the identity provider instead);
//! - `capability`: the URL itself is the credential (uploads, log reads);
//! - `runner`: agent and job tokens of the runner protocol;
//! - `authenticated`: any valid token, and the route only ever concerns the caller itself;
//! - `user`: a user's token (team and organization tokens get 403), about that user itself;
//! - `team-token`: a team's token: `organization:manage-teams`, or being on the team when it
//!   allows member token management (`allow-member-token-management`, docs/teams.md);
//! - `site-admin`: site administrators; everyone else gets 404;
//! - `organization-token`: the organization token, for its own organization;
//! - `task-result-token`: the access token a run task's request carries, for its own task
//!   result only (every other token, user tokens included, gets 404);
//! - `SCOPE:ACTION`: the policy's action (`crates/auth/src/policy`, kebab-case) on the
//!   organization, project or workspace the route names (`workspace:queue-run`).

/// (method, path as in the document, permission). Sorted like the document.
#[rustfmt::skip]
pub const ROUTE_PERMISSIONS: &[(&str, &str, &str)] = &[
    ("GET", "/.well-known/terraform.json", "public"),
    ("GET", "/_logs/{token}", "capability"),
    ("GET", "/_downloads/modules/{token}/module.tar.gz", "capability"),
    ("PUT", "/_uploads/configuration/{token}", "capability"),
    ("PUT", "/_uploads/json-state/{token}", "capability"),
    ("PUT", "/_uploads/modules/object/{token}", "capability"),
    ("PUT", "/_uploads/state/{token}", "capability"),
    ("PUT", "/_uploads/provider-binary/{token}", "capability"),
    ("PUT", "/_uploads/provider-shasums/{token}", "capability"),
    ("PUT", "/_uploads/provider-shasums-sig/{token}", "capability"),
    ("GET", "/_downloads/provider-binary/{token}", "capability"),
    ("GET", "/_downloads/provider-shasums/{token}", "capability"),
    ("GET", "/_downloads/provider-shasums-sig/{token}", "capability"),
    ("GET", "/_downloads/provider-mirror/{token}", "capability"),
    ("GET", "/_downloads/tool-archive/{token}", "capability"),
    ("GET", "/api/registry/{registry_name}/v2/gpg-keys", "organization:manage-providers"),
    ("POST", "/api/registry/{registry_name}/v2/gpg-keys", "organization:manage-providers"),
    ("DELETE", "/api/registry/{registry_name}/v2/gpg-keys/{namespace}/{key_id}", "organization:manage-providers"),
    ("GET", "/api/registry/{registry_name}/v2/gpg-keys/{namespace}/{key_id}", "organization:manage-providers"),
    ("PATCH", "/api/registry/{registry_name}/v2/gpg-keys/{namespace}/{key_id}", "organization:manage-providers"),
    // For this server's own hosts, a private provider's organization (as the registry); for
    // other registries' hosts, anyone signed in reads the public cache.
    ("GET", "/v1/providers/{hostname}/{namespace}/{type}/{file}", "organization:read-organization"),
    ("GET", "/api/registry/v1/providers/{namespace}/{name}/versions", "organization:read-organization"),
    ("GET", "/api/registry/v1/providers/{namespace}/{name}/{version}/download/{os}/{arch}", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/registry-providers", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/registry-providers", "organization:manage-providers"),
    ("DELETE", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}", "organization:manage-providers"),
    ("GET", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions", "organization:manage-providers"),
    ("DELETE", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}", "organization:manage-providers"),
    ("GET", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms", "organization:manage-providers"),
    ("DELETE", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms/{os}/{arch}", "organization:manage-providers"),
    ("GET", "/api/v2/organizations/{organization}/registry-providers/{registry_name}/{namespace}/{name}/versions/{version}/platforms/{os}/{arch}", "organization:read-organization"),
    ("GET", "/api/meta/ip-ranges", "public"),
    ("GET", "/api/registry/v1/modules/{namespace}/{name}/{provider}/versions", "organization:read-organization"),
    ("GET", "/api/registry/v1/modules/{namespace}/{name}/{provider}/{version}/download", "organization:read-organization"),
    ("GET", "/api/runner/v1/job", "runner"),
    ("GET", "/api/runner/v1/job/artifacts/{name}", "runner"),
    ("PUT", "/api/runner/v1/job/artifacts/{name}", "runner"),
    ("GET", "/api/runner/v1/job/ssh-key", "runner"),
    ("GET", "/api/runner/v1/job/configuration", "runner"),
    ("POST", "/api/runner/v1/job/finish", "runner"),
    ("POST", "/api/runner/v1/job/logs", "runner"),
    ("GET", "/api/runner/v1/job/state", "runner"),
    ("POST", "/api/runner/v1/job/state-versions", "runner"),
    ("POST", "/api/runner/v1/listeners", "runner"),
    ("POST", "/api/runner/v1/listeners/{listener_id}/claim", "runner"),
    ("POST", "/api/runner/v1/listeners/{listener_id}/heartbeat", "runner"),
    ("GET", "/api/v2/account/details", "user"),
    ("PATCH", "/api/v2/account/update", "user"),
    ("GET", "/api/v2/admin/audit-trail", "site-admin"),
    ("GET", "/api/v2/admin/customization-settings", "site-admin"),
    ("PATCH", "/api/v2/admin/customization-settings", "site-admin"),
    ("GET", "/api/v2/admin/feature-sets", "site-admin"),
    ("GET", "/api/v2/admin/general-settings", "site-admin"),
    ("PATCH", "/api/v2/admin/general-settings", "site-admin"),
    ("GET", "/api/v2/admin/opentofu-versions", "site-admin"),
    ("POST", "/api/v2/admin/opentofu-versions", "site-admin"),
    ("DELETE", "/api/v2/admin/opentofu-versions/{id}", "site-admin"),
    ("GET", "/api/v2/admin/opentofu-versions/{id}", "site-admin"),
    ("PATCH", "/api/v2/admin/opentofu-versions/{id}", "site-admin"),
    ("GET", "/api/v2/admin/organizations", "site-admin"),
    ("DELETE", "/api/v2/admin/organizations/{organization}", "site-admin"),
    ("GET", "/api/v2/admin/organizations/{organization}", "site-admin"),
    ("PATCH", "/api/v2/admin/organizations/{organization}", "site-admin"),
    ("GET", "/api/v2/admin/runs", "site-admin"),
    ("POST", "/api/v2/admin/runs/{run_id}/actions/force-cancel", "site-admin"),
    ("GET", "/api/v2/admin/saml-settings", "site-admin"),
    ("PATCH", "/api/v2/admin/saml-settings", "site-admin"),
    ("GET", "/api/v2/admin/smtp-settings", "site-admin"),
    ("PATCH", "/api/v2/admin/smtp-settings", "site-admin"),
    ("GET", "/api/v2/admin/tool-archives", "site-admin"),
    ("DELETE", "/api/v2/admin/tool-archives/{id}", "site-admin"),
    ("PUT", "/api/v2/admin/tool-archives/{engine}/{version}/{platform}", "site-admin"),
    ("GET", "/api/v2/admin/terraform-versions", "site-admin"),
    ("POST", "/api/v2/admin/terraform-versions", "site-admin"),
    ("DELETE", "/api/v2/admin/terraform-versions/{id}", "site-admin"),
    ("GET", "/api/v2/admin/terraform-versions/{id}", "site-admin"),
    ("PATCH", "/api/v2/admin/terraform-versions/{id}", "site-admin"),
    ("POST", "/api/v2/admin/organizations/{organization}/subscription", "site-admin"),
    ("GET", "/api/v2/admin/users", "site-admin"),
    ("POST", "/api/v2/admin/users/actions/unimpersonate", "site-admin"),
    ("DELETE", "/api/v2/admin/users/{user_id}", "site-admin"),
    ("POST", "/api/v2/admin/users/{user_id}/actions/impersonate", "site-admin"),
    ("POST", "/api/v2/admin/users/{user_id}/actions/{action}", "site-admin"),
    ("GET", "/api/v2/admin/workspaces", "site-admin"),
    ("DELETE", "/api/v2/admin/workspaces/{workspace_id}", "site-admin"),
    ("GET", "/api/v2/admin/workspaces/{workspace_id}", "site-admin"),
    ("DELETE", "/api/v2/agent-pools/{agent_pool_id}", "organization:manage-agent-pools"),
    ("GET", "/api/v2/agent-pools/{agent_pool_id}", "organization:read-organization"),
    ("PATCH", "/api/v2/agent-pools/{agent_pool_id}", "organization:manage-agent-pools"),
    ("GET", "/api/v2/agent-pools/{agent_pool_id}/agents", "organization:read-organization"),
    ("GET", "/api/v2/agent-pools/{agent_pool_id}/authentication-tokens", "organization:read-organization"),
    ("POST", "/api/v2/agent-pools/{agent_pool_id}/authentication-tokens", "organization:manage-agent-pools"),
    ("GET", "/api/v2/agents/{agent_id}", "organization:read-organization"),
    ("GET", "/api/v2/applies/{apply_id}", "workspace:read-runs"),
    // A user's own token, or an agent token (which needs manage-agent-pools in its pool's
    // organization).
    ("DELETE", "/api/v2/authentication-tokens/{token_id}", "authenticated"),
    ("GET", "/api/v2/authentication-tokens/{token_id}", "authenticated"),
    ("GET", "/api/v2/comments/{comment_id}", "workspace:read-runs"),
    ("GET", "/api/v2/configuration-versions/{configuration_version_id}", "workspace:read-runs"),
    ("POST", "/api/v2/configuration-versions/{configuration_version_id}/actions/archive", "workspace:update-workspace"),
    ("POST", "/api/v2/configuration-versions/{configuration_version_id}/actions/permanently_delete_backing_data", "workspace:update-workspace"),
    ("POST", "/api/v2/configuration-versions/{configuration_version_id}/actions/restore_backing_data", "workspace:update-workspace"),
    ("POST", "/api/v2/configuration-versions/{configuration_version_id}/actions/soft_delete_backing_data", "workspace:update-workspace"),
    ("GET", "/api/v2/configuration-versions/{configuration_version_id}/download", "workspace:read-runs"),
    ("GET", "/api/v2/organization-memberships", "user"),
    ("DELETE", "/api/v2/organization-memberships/{membership_id}", "organization:manage-membership"),
    ("GET", "/api/v2/organization-memberships/{membership_id}", "organization:read-organization"),
    ("GET", "/api/v2/organization/audit-trail", "organization-token"),
    ("GET", "/api/v2/organizations", "user"),
    ("POST", "/api/v2/organizations", "user"),
    ("DELETE", "/api/v2/organizations/{organization}", "organization:delete-organization"),
    ("GET", "/api/v2/organizations/{organization}", "organization:read-organization"),
    ("PATCH", "/api/v2/organizations/{organization}", "organization:update-organization"),
    ("GET", "/api/v2/organizations/{organization}/agent-pools", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/agent-pools", "organization:manage-agent-pools"),
    ("GET", "/api/v2/organizations/{organization}/audit-trail", "organization:read-audit-trail"),
    ("DELETE", "/api/v2/organizations/{organization}/authentication-token", "organization:manage-organization-token"),
    ("GET", "/api/v2/organizations/{organization}/authentication-token", "organization:manage-organization-token"),
    ("POST", "/api/v2/organizations/{organization}/authentication-token", "organization:manage-organization-token"),
    ("GET", "/api/v2/organizations/{organization}/capacity", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/entitlement-set", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/organization-memberships", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/organization-memberships", "organization:manage-membership"),
    ("GET", "/api/v2/organizations/{organization}/projects", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/projects", "organization:create-project"),
    ("DELETE", "/api/v2/organizations/{organization}/relationships/data-retention-policy", "organization:update-organization"),
    ("GET", "/api/v2/organizations/{organization}/relationships/data-retention-policy", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/relationships/data-retention-policy", "organization:update-organization"),
    ("GET", "/api/v2/organizations/{organization}/registry-modules", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/registry-modules", "organization:manage-modules"),
    ("DELETE", "/api/v2/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}", "organization:manage-modules"),
    ("DELETE", "/api/v2/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}", "organization:manage-modules"),
    ("GET", "/api/v2/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}/version", "organization:read-organization"),
    ("DELETE", "/api/v2/organizations/{organization}/registry-modules/{registry_name}/{namespace}/{name}/{provider}/{version}", "organization:manage-modules"),
    // Reserved tag keys are an organization setting: members read, owners keep them.
    ("GET", "/api/v2/organizations/{organization}/reserved-tag-keys", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/reserved-tag-keys", "organization:update-organization"),
    ("GET", "/api/v2/organizations/{organization}/runs", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/runs/queue", "organization:read-organization"),
    // HCP: owners and manage-vcs-settings; organization-wide workspace admins also see them
    // (to pick a workspace's key), organization tokens never.
    ("GET", "/api/v2/organizations/{organization}/ssh-keys", "organization:manage-vcs-settings"),
    ("POST", "/api/v2/organizations/{organization}/ssh-keys", "organization:manage-vcs-settings"),
    // Run tasks: HCP's "Manage Run Tasks" (owners, teams with manage-run-tasks).
    ("GET", "/api/v2/organizations/{organization}/tasks", "organization:manage-run-tasks"),
    ("POST", "/api/v2/organizations/{organization}/tasks", "organization:manage-run-tasks"),
    // Owners only: changing how members sign in is changing the organization.
    ("DELETE", "/api/v2/organizations/{organization}/sso-configuration", "organization:update-organization"),
    ("GET", "/api/v2/organizations/{organization}/sso-configuration", "organization:update-organization"),
    ("PATCH", "/api/v2/organizations/{organization}/sso-configuration", "organization:update-organization"),
    ("DELETE", "/api/v2/organizations/{organization}/tags", "organization:manage-tags"),
    ("GET", "/api/v2/organizations/{organization}/tags", "organization:read-organization"),
    ("GET", "/api/v2/organizations/{organization}/team-tokens", "organization:manage-teams"),
    ("GET", "/api/v2/organizations/{organization}/teams", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/teams", "organization:manage-teams"),
    ("GET", "/api/v2/organizations/{organization}/varsets", "organization:read-variable-sets"),
    ("POST", "/api/v2/organizations/{organization}/varsets", "organization:manage-variable-sets"),
    ("GET", "/api/v2/organizations/{organization}/workspaces", "organization:read-organization"),
    ("POST", "/api/v2/organizations/{organization}/workspaces", "organization:create-workspace"),
    ("DELETE", "/api/v2/organizations/{organization}/workspaces/{name}", "workspace:force-delete-workspace"),
    ("GET", "/api/v2/organizations/{organization}/workspaces/{name}", "workspace:read-workspace"),
    ("PATCH", "/api/v2/organizations/{organization}/workspaces/{name}", "workspace:update-workspace"),
    ("POST", "/api/v2/organizations/{organization}/workspaces/{name}/actions/safe-delete", "workspace:delete-workspace"),
    ("GET", "/api/v2/ping", "public"),
    ("GET", "/api/v2/plans/{plan_id}", "workspace:read-runs"),
    ("GET", "/api/v2/plans/{plan_id}/json-output", "workspace:update-workspace"),
    ("GET", "/api/v2/plans/{plan_id}/json-output-redacted", "workspace:read-runs"),
    ("DELETE", "/api/v2/projects/{project_id}", "project:delete-project"),
    ("GET", "/api/v2/projects/{project_id}", "project:read-project"),
    ("PATCH", "/api/v2/projects/{project_id}", "project:update-project"),
    ("GET", "/api/v2/projects/{project_id}/effective-tag-bindings", "project:read-project"),
    ("GET", "/api/v2/projects/{project_id}/tag-bindings", "project:read-project"),
    ("PATCH", "/api/v2/projects/{project_id}/tag-bindings", "project:update-project"),
    ("GET", "/api/v2/projects/{project_id}/varsets", "project:read-project-variable-sets"),
    ("POST", "/api/v2/registry-modules/actions/delete/{organization}/{name}", "organization:manage-modules"),
    ("POST", "/api/v2/registry-modules/{organization}/{name}/{provider}/versions", "organization:manage-modules"),
    ("GET", "/api/v2/registry-modules/{registry_module_id}", "organization:read-organization"),
    ("DELETE", "/api/v2/reserved-tag-keys/{reserved_tag_key_id}", "organization:update-organization"),
    ("PATCH", "/api/v2/reserved-tag-keys/{reserved_tag_key_id}", "organization:update-organization"),
    ("GET", "/api/v2/run-events/{run_event_id}", "workspace:read-runs"),
    // A trigger is seen by those who read both its workspaces and belongs to its target.
    ("DELETE", "/api/v2/run-triggers/{run_trigger_id}", "workspace:update-workspace"),
    ("GET", "/api/v2/run-triggers/{run_trigger_id}", "workspace:read-workspace"),
    // HCP: notification configurations take administering their workspace, even to read.
    ("DELETE", "/api/v2/notification-configurations/{notification_configuration_id}", "workspace:update-workspace"),
    ("GET", "/api/v2/notification-configurations/{notification_configuration_id}", "workspace:update-workspace"),
    ("PATCH", "/api/v2/notification-configurations/{notification_configuration_id}", "workspace:update-workspace"),
    ("POST", "/api/v2/notification-configurations/{notification_configuration_id}/actions/verify", "workspace:update-workspace"),
    ("POST", "/api/v2/runs", "workspace:queue-run"),
    ("GET", "/api/v2/runs/{run_id}", "workspace:read-runs"),
    ("GET", "/api/v2/runs/{run_id}/task-stages", "workspace:read-runs"),
    ("GET", "/api/v2/task-stages/{task_stage_id}", "workspace:read-runs"),
    ("POST", "/api/v2/task-stages/{task_stage_id}/actions/override", "workspace:queue-apply"),
    ("GET", "/api/v2/task-results/{task_result_id}", "workspace:read-runs"),
    ("PATCH", "/api/v2/task-results/{task_result_id}/callback", "task-result-token"),
    ("POST", "/api/v2/runs/{run_id}/actions/apply", "workspace:queue-apply"),
    ("POST", "/api/v2/runs/{run_id}/actions/cancel", "workspace:queue-apply"),
    ("POST", "/api/v2/runs/{run_id}/actions/discard", "workspace:queue-apply"),
    ("POST", "/api/v2/runs/{run_id}/actions/force-cancel", "workspace:queue-apply"),
    ("POST", "/api/v2/runs/{run_id}/actions/force-execute", "workspace:queue-apply"),
    ("GET", "/api/v2/runs/{run_id}/apply", "workspace:read-runs"),
    ("GET", "/api/v2/runs/{run_id}/comments", "workspace:read-runs"),
    ("POST", "/api/v2/runs/{run_id}/comments", "workspace:queue-run"),
    ("GET", "/api/v2/runs/{run_id}/plan", "workspace:read-runs"),
    ("GET", "/api/v2/runs/{run_id}/run-events", "workspace:read-runs"),
    ("DELETE", "/api/v2/ssh-keys/{ssh_key_id}", "organization:manage-vcs-settings"),
    ("GET", "/api/v2/ssh-keys/{ssh_key_id}", "organization:manage-vcs-settings"),
    ("PATCH", "/api/v2/ssh-keys/{ssh_key_id}", "organization:manage-vcs-settings"),
    ("GET", "/api/v2/state-version-outputs/{output_id}", "workspace:read-state-outputs"),
    ("DELETE", "/api/v2/tasks/{task_id}", "organization:manage-run-tasks"),
    ("GET", "/api/v2/tasks/{task_id}", "organization:manage-run-tasks"),
    ("PATCH", "/api/v2/tasks/{task_id}", "organization:manage-run-tasks"),
    ("GET", "/api/v2/state-versions", "workspace:read-state-versions"),
    ("GET", "/api/v2/state-versions/{state_version_id}", "workspace:read-state-versions"),
    ("POST", "/api/v2/state-versions/{state_version_id}/actions/permanently_delete_backing_data", "workspace:update-workspace"),
    ("POST", "/api/v2/state-versions/{state_version_id}/actions/restore_backing_data", "workspace:update-workspace"),
    ("POST", "/api/v2/state-versions/{state_version_id}/actions/soft_delete_backing_data", "workspace:update-workspace"),
    ("GET", "/api/v2/state-versions/{state_version_id}/download", "workspace:read-state-versions"),
    ("GET", "/api/v2/state-versions/{state_version_id}/json-download", "workspace:read-state-versions"),
    ("GET", "/api/v2/state-versions/{state_version_id}/outputs", "workspace:read-state-outputs"),
    ("POST", "/api/v2/tags/{tag_id}/relationships/workspaces", "organization:manage-tags"),
    ("GET", "/api/v2/team-projects", "project:read-project"),
    ("POST", "/api/v2/team-projects", "project:manage-project-access"),
    ("DELETE", "/api/v2/team-projects/{team_project_id}", "project:manage-project-access"),
    ("GET", "/api/v2/team-projects/{team_project_id}", "project:read-project"),
    ("PATCH", "/api/v2/team-projects/{team_project_id}", "project:manage-project-access"),
    ("GET", "/api/v2/team-workspaces", "workspace:read-workspace"),
    ("POST", "/api/v2/team-workspaces", "workspace:manage-workspace-access"),
    ("DELETE", "/api/v2/team-workspaces/{team_workspace_id}", "workspace:manage-workspace-access"),
    ("GET", "/api/v2/team-workspaces/{team_workspace_id}", "workspace:read-workspace"),
    ("PATCH", "/api/v2/team-workspaces/{team_workspace_id}", "workspace:manage-workspace-access"),
    ("DELETE", "/api/v2/teams/{team_id}", "organization:manage-teams"),
    // Secret teams are seen only by their members and with read-secret-teams (docs/teams.md).
    ("GET", "/api/v2/teams/{team_id}", "organization:read-organization"),
    ("PATCH", "/api/v2/teams/{team_id}", "organization:manage-teams"),
    ("DELETE", "/api/v2/teams/{team_id}/authentication-token", "team-token"),
    ("GET", "/api/v2/teams/{team_id}/authentication-token", "team-token"),
    ("POST", "/api/v2/teams/{team_id}/authentication-token", "team-token"),
    ("POST", "/api/v2/teams/{team_id}/authentication-tokens", "team-token"),
    ("DELETE", "/api/v2/teams/{team_id}/relationships/organization-memberships", "organization:manage-membership"),
    ("POST", "/api/v2/teams/{team_id}/relationships/organization-memberships", "organization:manage-membership"),
    ("DELETE", "/api/v2/teams/{team_id}/relationships/users", "organization:manage-membership"),
    ("POST", "/api/v2/teams/{team_id}/relationships/users", "organization:manage-membership"),
    ("GET", "/api/v2/users/{user_id}", "user"),
    ("GET", "/api/v2/users/{user_id}/authentication-tokens", "user"),
    ("POST", "/api/v2/users/{user_id}/authentication-tokens", "user"),
    ("DELETE", "/api/v2/varsets/{varset_id}", "organization:manage-variable-sets"),
    ("GET", "/api/v2/varsets/{varset_id}", "organization:read-variable-sets"),
    ("PATCH", "/api/v2/varsets/{varset_id}", "organization:manage-variable-sets"),
    ("DELETE", "/api/v2/varsets/{varset_id}/relationships/projects", "organization:manage-variable-sets"),
    ("POST", "/api/v2/varsets/{varset_id}/relationships/projects", "organization:manage-variable-sets"),
    ("GET", "/api/v2/varsets/{varset_id}/relationships/vars", "organization:read-variable-sets"),
    ("POST", "/api/v2/varsets/{varset_id}/relationships/vars", "organization:manage-variable-sets"),
    ("DELETE", "/api/v2/varsets/{varset_id}/relationships/vars/{variable_id}", "organization:manage-variable-sets"),
    ("GET", "/api/v2/varsets/{varset_id}/relationships/vars/{variable_id}", "organization:read-variable-sets"),
    ("PATCH", "/api/v2/varsets/{varset_id}/relationships/vars/{variable_id}", "organization:manage-variable-sets"),
    ("DELETE", "/api/v2/varsets/{varset_id}/relationships/workspaces", "organization:manage-variable-sets"),
    ("POST", "/api/v2/varsets/{varset_id}/relationships/workspaces", "organization:manage-variable-sets"),
    ("DELETE", "/api/v2/workspaces/{workspace_id}", "workspace:force-delete-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}", "workspace:read-workspace"),
    ("PATCH", "/api/v2/workspaces/{workspace_id}", "workspace:update-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/actions/force-unlock", "workspace:force-unlock-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/actions/lock", "workspace:lock-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/actions/safe-delete", "workspace:delete-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/actions/unlock", "workspace:unlock-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/all-vars", "workspace:read-variables"),
    ("GET", "/api/v2/workspaces/{workspace_id}/configuration-versions", "workspace:read-runs"),
    ("POST", "/api/v2/workspaces/{workspace_id}/configuration-versions", "workspace:queue-run"),
    ("GET", "/api/v2/workspaces/{workspace_id}/current-state-version", "workspace:read-state-versions"),
    ("GET", "/api/v2/workspaces/{workspace_id}/current-state-version-outputs", "workspace:read-state-outputs"),
    ("GET", "/api/v2/workspaces/{workspace_id}/effective-tag-bindings", "workspace:read-workspace"),
    ("DELETE", "/api/v2/workspaces/{workspace_id}/relationships/data-retention-policy", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/relationships/data-retention-policy", "workspace:read-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/relationships/data-retention-policy", "workspace:update-workspace"),
    ("DELETE", "/api/v2/workspaces/{workspace_id}/relationships/remote-state-consumers", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/relationships/remote-state-consumers", "workspace:read-workspace"),
    ("PATCH", "/api/v2/workspaces/{workspace_id}/relationships/remote-state-consumers", "workspace:update-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/relationships/remote-state-consumers", "workspace:update-workspace"),
    ("DELETE", "/api/v2/workspaces/{workspace_id}/relationships/tags", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/relationships/tags", "workspace:read-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/relationships/tags", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/resources", "workspace:read-state-versions"),
    // Assigning an SSH key of the workspace's organization (another's is 404).
    ("PATCH", "/api/v2/workspaces/{workspace_id}/relationships/ssh-key", "workspace:update-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/relationships/ssh-key", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/notification-configurations", "workspace:update-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/notification-configurations", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/run-triggers", "workspace:read-workspace"),
    // Also reading the source's runs (HCP Terraform's rule).
    ("POST", "/api/v2/workspaces/{workspace_id}/run-triggers", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/runs", "workspace:read-runs"),
    ("GET", "/api/v2/workspaces/{workspace_id}/state-versions", "workspace:read-state-versions"),
    ("PATCH", "/api/v2/workspaces/{workspace_id}/state-versions", "workspace:create-state-version"),
    ("POST", "/api/v2/workspaces/{workspace_id}/state-versions", "workspace:create-state-version"),
    ("GET", "/api/v2/workspaces/{workspace_id}/tag-bindings", "workspace:read-workspace"),
    // Attaching run tasks: HCP's "Manage Workspace Run Tasks" (workspace administrators);
    // only a task of the workspace's organization (another's is 404).
    ("GET", "/api/v2/workspaces/{workspace_id}/tasks", "workspace:read-workspace"),
    ("POST", "/api/v2/workspaces/{workspace_id}/tasks", "workspace:manage-workspace-run-tasks"),
    ("DELETE", "/api/v2/workspaces/{workspace_id}/tasks/{workspace_task_id}", "workspace:manage-workspace-run-tasks"),
    ("GET", "/api/v2/workspaces/{workspace_id}/tasks/{workspace_task_id}", "workspace:read-workspace"),
    ("PATCH", "/api/v2/workspaces/{workspace_id}/tasks/{workspace_task_id}", "workspace:manage-workspace-run-tasks"),
    ("PATCH", "/api/v2/workspaces/{workspace_id}/tag-bindings", "workspace:update-workspace"),
    ("GET", "/api/v2/workspaces/{workspace_id}/vars", "workspace:read-variables"),
    ("POST", "/api/v2/workspaces/{workspace_id}/vars", "workspace:update-variables"),
    ("DELETE", "/api/v2/workspaces/{workspace_id}/vars/{variable_id}", "workspace:update-variables"),
    ("GET", "/api/v2/workspaces/{workspace_id}/vars/{variable_id}", "workspace:read-variables"),
    ("PATCH", "/api/v2/workspaces/{workspace_id}/vars/{variable_id}", "workspace:update-variables"),
    ("GET", "/api/v2/workspaces/{workspace_id}/varsets", "workspace:read-variables"),
    ("GET", "/app/oauth/authorization", "public"),
    ("POST", "/app/oauth/authorization", "public"),
    ("GET", "/app/sso/oidc/callback", "public"),
    ("GET", "/app/sso/oidc/start", "public"),
    ("GET", "/app/sso/organizations/{organization}/saml/metadata", "public"),
    ("GET", "/app/sso/organizations/{organization}/start", "public"),
    ("POST", "/app/sso/saml/acs", "public"),
    ("GET", "/app/sso/saml/metadata", "public"),
    ("GET", "/app/sso/saml/start", "public"),
    ("GET", "/healthz", "public"),
    ("POST", "/oauth/token", "public"),
    ("GET", "/readyz", "public"),
];

/// The permission documented for `method` on `path`.
pub fn permission_of(method: &str, path: &str) -> Option<&'static str> {
    ROUTE_PERMISSIONS
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map(|(_, _, permission)| *permission)
}

/// Whether `permission` is well formed: one of the plain kinds, or `SCOPE:ACTION` with a
/// scope the policy knows.
pub fn is_well_formed(permission: &str) -> bool {
    const PLAIN: &[&str] = &[
        "public",
        "capability",
        "runner",
        "authenticated",
        "user",
        "team-token",
        "site-admin",
        "organization-token",
        "task-result-token",
    ];
    if PLAIN.contains(&permission) {
        return true;
    }
    match permission.split_once(':') {
        Some((scope, action)) => {
            ["organization", "project", "workspace"].contains(&scope)
                && !action.is_empty()
                && action.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_plain_kinds_or_scoped_actions() {
        for good in [
            "public",
            "user",
            "team-token",
            "workspace:queue-run",
            "project:read-project",
        ] {
            assert!(is_well_formed(good), "{good}");
        }
        for bad in [
            "",
            "Public",
            "team:queue-run",
            "workspace:",
            "workspace:Queue_Run",
            "owner",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn the_table_names_each_route_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, _) in ROUTE_PERMISSIONS {
            assert!(seen.insert((method, path)), "{method} {path} twice");
        }
        assert_eq!(
            permission_of("get", "/api/v2/workspaces/{workspace_id}/vars"),
            Some("workspace:read-variables")
        );
        assert_eq!(permission_of("GET", "/nowhere"), None);
    }
}
