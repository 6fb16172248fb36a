//! Reserved tag keys: an organization's list of keys (HCP Terraform's `reserved-tag-keys`),
//! read by its members and kept by those who may change its settings. A key with
//! `disable_overrides` keeps the value a project binds for it on the project's workspaces
//! ([`rules::no_locked_overrides`]).

use terrace_auth::policy::Action;
use terrace_storage::model::{Organization, Page, PageRequest, ReservedTagKey, TagBinding};
use terrace_storage::{clock, ids, StorageError};

use super::rules;
use crate::{Caller, DomainError, DomainResult, Services};

/// What a create or update says; `None` leaves the attribute as it is (create: `false`).
#[derive(Debug, Clone, Default)]
pub struct ReservedTagKeyChanges {
    pub key: Option<String>,
    pub disable_overrides: Option<bool>,
}

fn key_taken(err: StorageError) -> DomainError {
    match err {
        StorageError::Conflict(_) => DomainError::invalid("key", "Key has already been taken"),
        other => other.into(),
    }
}

impl Services {
    pub async fn list_reserved_tag_keys(
        &self,
        caller: &Caller,
        org_name: &str,
        page: PageRequest,
    ) -> DomainResult<Page<ReservedTagKey>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        Ok(self.store.list_reserved_tag_keys(&org.id, page).await?)
    }

    pub async fn create_reserved_tag_key(
        &self,
        caller: &Caller,
        org_name: &str,
        changes: ReservedTagKeyChanges,
    ) -> DomainResult<ReservedTagKey> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::UpdateOrganization)
            .await?;
        let key = changes.key.unwrap_or_default();
        rules::reserved_key(&key)?;
        let now = clock::now();
        let reserved = ReservedTagKey {
            id: ids::new_id(ids::RESERVED_TAG_KEY),
            organization_id: org.id,
            key,
            disable_overrides: changes.disable_overrides.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_reserved_tag_key(&reserved)
            .await
            .map_err(key_taken)?;
        Ok(reserved)
    }

    pub async fn update_reserved_tag_key(
        &self,
        caller: &Caller,
        id: &str,
        changes: ReservedTagKeyChanges,
    ) -> DomainResult<ReservedTagKey> {
        let (mut reserved, _) = self.reserved_tag_key_for(caller, id).await?;
        if let Some(key) = changes.key {
            rules::reserved_key(&key)?;
            reserved.key = key;
        }
        if let Some(disable) = changes.disable_overrides {
            reserved.disable_overrides = disable;
        }
        reserved.updated_at = clock::now();
        self.store
            .update_reserved_tag_key(&reserved)
            .await
            .map_err(key_taken)?;
        Ok(reserved)
    }

    pub async fn delete_reserved_tag_key(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (reserved, _) = self.reserved_tag_key_for(caller, id).await?;
        Ok(self.store.delete_reserved_tag_key(&reserved.id).await?)
    }

    /// The key and its organization, for someone who may change the organization's settings
    /// (404 for one outside it).
    async fn reserved_tag_key_for(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<(ReservedTagKey, Organization)> {
        const WHAT: &str = "reserved tag key";
        let reserved = self
            .store
            .reserved_tag_key_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let org = self
            .store
            .organization_by_id(&reserved.organization_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        self.authorize(caller, &org, Action::UpdateOrganization, WHAT)
            .await?;
        Ok((reserved, org))
    }

    /// Refuses `own` bindings of a workspace in `project_id` that override what the project
    /// binds for a key reserved with overrides disabled.
    pub(crate) async fn check_locked_overrides(
        &self,
        org_id: &str,
        project_id: &str,
        own: &[TagBinding],
        pointer: &str,
    ) -> DomainResult<()> {
        if own.is_empty() {
            return Ok(());
        }
        let locked = self.store.override_locked_tag_keys(org_id).await?;
        if !own.iter().any(|b| locked.contains(&b.key)) {
            return Ok(());
        }
        let project = self.store.project_tag_bindings(project_id).await?;
        rules::no_locked_overrides(own, &project, &locked, pointer)
    }
}
