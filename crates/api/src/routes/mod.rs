//! One module per resource; each exposes `router()` with its routes and their OpenAPI
//! descriptions. [`crate::app`] assembles them.

pub mod admin_organizations;
pub mod admin_runs;
pub mod admin_settings;
pub mod admin_subscriptions;
pub mod admin_tool_versions;
pub mod admin_users;
pub mod admin_workspaces;
pub mod agent_pools;
pub mod audit_trail;
pub mod capabilities;
pub mod comments;
pub mod configuration_versions;
pub mod discovery;
pub mod login;
pub mod meta;
pub mod organization_memberships;
pub mod organization_tokens;
pub mod organizations;
pub mod phases;
pub mod projects;
pub mod runner;
pub mod runs;
pub mod saml;
pub mod sso;
pub mod sso_configurations;
pub mod state_versions;
pub mod tags;
pub mod team_access;
pub mod teams;
pub mod tokens;
pub mod users;
pub mod variable_sets;
pub mod variables;
pub mod workspace_resources;
pub mod workspaces;
