//! The private registry of an organization, as HCP Terraform has it: its namespace is the
//! organization's name, and its members read it (runs of its workspaces too). Modules live in
//! [`modules`]; the naming rules shared by the API and the registry protocol are pure
//! functions in [`names`].

pub mod modules;
pub mod names;
