//! The private registry of an organization, as HCP Terraform has it: its namespace is the
//! organization's name, and its members read it (runs of its workspaces too). Modules live in
//! [`modules`]; the naming rules shared by the API and the registry protocol are pure
//! functions in [`names`].

pub mod modules;
pub mod names;

use terrace_auth::policy::Action;
use terrace_storage::model::Organization;

use crate::caller::Principal;
use crate::{Caller, DomainError, DomainResult, Services};

impl Services {
    /// The organization whose registry `namespace` names, if the caller may read it through
    /// the registry protocol: its members, and the runs of its workspaces (with their job
    /// token). Anyone else finds nothing (`what` not found).
    pub(crate) async fn registry_reader(
        &self,
        caller: &Caller,
        namespace: &str,
        what: &'static str,
    ) -> DomainResult<Organization> {
        let org = self
            .store
            .organization_by_name(namespace)
            .await?
            .ok_or(DomainError::NotFound(what))?;
        match &caller.principal {
            Principal::Job(job) => {
                let ws = self.store.workspace_by_id(&job.workspace_id).await?;
                if ws.is_none_or(|ws| ws.organization_id != org.id) {
                    return Err(DomainError::NotFound(what));
                }
            }
            _ => {
                self.authorize(caller, &org, Action::ReadOrganization, what)
                    .await?;
            }
        }
        Ok(org)
    }
}
