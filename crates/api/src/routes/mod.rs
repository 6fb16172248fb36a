//! One module per resource; each exposes `router()` with its routes and their OpenAPI
//! descriptions. [`crate::app`] assembles them.

pub mod discovery;
pub mod login;
pub mod organizations;
pub mod projects;
pub mod state_versions;
pub mod tags;
pub mod tokens;
pub mod uploads;
pub mod users;
pub mod workspaces;
