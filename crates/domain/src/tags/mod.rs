//! Tags. One model serves both APIs: a workspace tag is a key with a value, where the flat
//! tags of the legacy API (and the CLI's `tags = [...]`) are keys with an empty value. So the
//! CLI finds its tags both in `tag-names` and in the tag bindings, and never re-adds them.
//! A workspace lists its tags in the order they were first added. Reserved tag keys are in
//! [`reserved`]; the rules are pure functions in [`rules`].

mod reserved;
pub mod rules;

pub use reserved::ReservedTagKeyChanges;

use terrace_auth::policy::Action;
use terrace_storage::model::{Page, PageRequest, Tag, TagBinding};
use terrace_storage::store::TagFilter;

use crate::access::WorkspaceRef;
use crate::projects::rules::{effective_tag_bindings, EffectiveTagBinding};
use crate::{validate, Caller, DomainError, DomainResult, Services};

/// A flat tag named by ID or by name, as the tag relationship endpoints accept.
#[derive(Debug, Clone)]
pub enum TagRef {
    Id(String),
    Name(String),
}

impl Services {
    pub async fn tag_bindings(
        &self,
        caller: &Caller,
        ws_id: &str,
    ) -> DomainResult<Vec<TagBinding>> {
        Ok(self
            .workspace(caller, &WorkspaceRef::Id(ws_id.into()))
            .await?
            .tags)
    }

    /// The workspace's bindings in effect: its own and those it inherits from its project.
    pub async fn effective_tag_bindings(
        &self,
        caller: &Caller,
        ws_id: &str,
    ) -> DomainResult<Vec<EffectiveTagBinding>> {
        let view = self
            .workspace(caller, &WorkspaceRef::Id(ws_id.into()))
            .await?;
        let project_id = &view.workspace.project_id;
        let inherited = self.store.project_tag_bindings(project_id).await?;
        Ok(effective_tag_bindings(view.tags, project_id, inherited))
    }

    /// Adds or updates tag bindings; keys not mentioned stay.
    pub async fn merge_tag_bindings(
        &self,
        caller: &Caller,
        ws_id: &str,
        bindings: Vec<TagBinding>,
    ) -> DomainResult<Vec<TagBinding>> {
        let (ws, org, _) = self
            .workspace_id_for(caller, ws_id, Action::UpdateWorkspace)
            .await?;
        for binding in &bindings {
            validate::tag_key(&binding.key, "key")?;
            validate::tag_value(&binding.value)?;
        }
        self.check_locked_overrides(&org.id, &ws.project_id, &bindings, "/data")
            .await?;
        self.store
            .add_workspace_tags(&org.id, &ws.id, &bindings)
            .await?;
        self.tag_bindings(caller, ws_id).await
    }

    /// The workspace's flat tags, as tag objects.
    pub async fn workspace_flat_tags(
        &self,
        caller: &Caller,
        ws_id: &str,
        page: PageRequest,
    ) -> DomainResult<(String, Page<Tag>)> {
        let (ws, org, _) = self
            .workspace_id_for(caller, ws_id, Action::ReadWorkspace)
            .await?;
        let filter = TagFilter {
            on_workspace: Some(ws.id),
            ..Default::default()
        };
        Ok((
            org.name,
            self.store.list_tags(&org.id, &filter, page).await?,
        ))
    }

    pub async fn add_workspace_flat_tags(
        &self,
        caller: &Caller,
        ws_id: &str,
        tags: Vec<TagRef>,
    ) -> DomainResult<()> {
        let (ws, org, _) = self
            .workspace_id_for(caller, ws_id, Action::UpdateWorkspace)
            .await?;
        let names = self.resolve_tag_names(&org.id, tags).await?;
        let bindings: Vec<TagBinding> = names
            .into_iter()
            .map(|key| TagBinding {
                key,
                value: String::new(),
            })
            .collect();
        self.check_locked_overrides(&org.id, &ws.project_id, &bindings, "/data")
            .await?;
        self.store
            .add_workspace_tags(&org.id, &ws.id, &bindings)
            .await?;
        Ok(())
    }

    pub async fn remove_workspace_flat_tags(
        &self,
        caller: &Caller,
        ws_id: &str,
        tags: Vec<TagRef>,
    ) -> DomainResult<()> {
        let (ws, org, _) = self
            .workspace_id_for(caller, ws_id, Action::UpdateWorkspace)
            .await?;
        let names = self.resolve_tag_names(&org.id, tags).await?;
        self.store.remove_workspace_tags(&ws.id, &names).await?;
        Ok(())
    }

    /// Names of tags given by name (validated) or by ID (which must exist in the organization).
    async fn resolve_tag_names(
        &self,
        org_id: &str,
        tags: Vec<TagRef>,
    ) -> DomainResult<Vec<String>> {
        let mut names = Vec::with_capacity(tags.len());
        let mut ids = Vec::new();
        for tag in tags {
            match tag {
                TagRef::Name(name) => {
                    validate::tag_key(&name, "name")?;
                    names.push(name);
                }
                TagRef::Id(id) => ids.push(id),
            }
        }
        let found = self.store.tags_by_ids(org_id, &ids).await?;
        if found.len() != ids.len() {
            return Err(DomainError::NotFound("tag"));
        }
        names.extend(found.into_iter().map(|t| t.name));
        Ok(names)
    }

    pub async fn list_organization_tags(
        &self,
        caller: &Caller,
        org_name: &str,
        filter: &TagFilter,
        page: PageRequest,
    ) -> DomainResult<Page<Tag>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        Ok(self.store.list_tags(&org.id, filter, page).await?)
    }

    pub async fn delete_organization_tags(
        &self,
        caller: &Caller,
        org_name: &str,
        ids: &[String],
    ) -> DomainResult<()> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ManageTags)
            .await?;
        Ok(self.store.delete_tags(&org.id, ids).await?)
    }

    /// Puts an existing tag on workspaces of its organization.
    pub async fn tag_workspaces(
        &self,
        caller: &Caller,
        tag_id: &str,
        workspace_ids: &[String],
    ) -> DomainResult<()> {
        let tag = self
            .store
            .tag_by_id(tag_id)
            .await?
            .ok_or(DomainError::NotFound("tag"))?;
        let org = self
            .store
            .organization_by_id(&tag.organization_id)
            .await?
            .ok_or(DomainError::NotFound("tag"))?;
        self.authorize(caller, &org, Action::ManageTags, "tag")
            .await?;
        for id in workspace_ids {
            match self.store.workspace_by_id(id).await? {
                Some(ws) if ws.organization_id == org.id => {}
                _ => return Err(DomainError::NotFound("workspace")),
            }
        }
        Ok(self.store.tag_workspaces(&tag.id, workspace_ids).await?)
    }
}
