//! Private registry modules (TFE's `registry-modules`): a module is a name for one provider in
//! an organization; each version is a tarball published by upload to a signed URL, checked as
//! it streams in like a configuration (it is one), kept encrypted in the blob store. A version
//! is `pending` until its upload, then `ok`; a number is published once. Terraform reaches the
//! versions through the registry protocol (`modules.v1`): the download answers a signed,
//! expiring URL of the tarball.

use bytes::Bytes;
use chrono::Duration;
use futures::Stream;
use terrace_auth::policy::{Access, Action};
use terrace_storage::blob::BlobStream;
use terrace_storage::model::{
    ModuleVersionStatus, Organization, Page, PageRequest, RegistryModule, RegistryModuleVersion,
};
use terrace_storage::store::RegistryModuleFilter;
use terrace_storage::{clock, ids, StorageError};

use super::names::{self, module_name, module_provider, Version};
use crate::configuration::Received;
use crate::{Caller, DomainError, DomainResult, Services};

pub const MODULE_UPLOAD: &str = "module-upload";
pub const MODULE_DOWNLOAD: &str = "module-download";
/// terraform fetches a download URL as soon as it has it.
const DOWNLOAD_TTL_MINUTES: i64 = 5;
pub use super::names::PRIVATE;

/// A module with its versions, for its representation.
#[derive(Debug, Clone)]
pub struct ModuleView {
    pub module: RegistryModule,
    pub organization: Organization,
    /// Oldest first.
    pub versions: Vec<RegistryModuleVersion>,
    pub access: Access,
}

#[derive(Debug, Clone)]
pub struct ModuleVersionView {
    pub version: RegistryModuleVersion,
    pub module: RegistryModule,
    pub organization: Organization,
    /// The upload capability, while the version is pending.
    pub upload: Option<String>,
}

/// A module as the API names it: by ID, or by organization, registry, namespace, name and
/// provider.
#[derive(Debug, Clone)]
pub enum ModuleRef {
    Id(String),
    Name(ModuleName),
}

#[derive(Debug, Clone)]
pub struct ModuleName {
    pub organization: String,
    pub registry: String,
    pub namespace: String,
    pub name: String,
    pub provider: String,
}

/// What a create request carries.
#[derive(Debug, Clone, Default)]
pub struct NewModule {
    pub name: Option<String>,
    pub provider: Option<String>,
    pub registry_name: Option<String>,
    pub namespace: Option<String>,
}

fn invalid(attribute: &str, detail: impl Into<String>) -> DomainError {
    DomainError::invalid(attribute, detail)
}

/// Where a version's tarball goes: one blob per upload attempt, under the organization.
fn tarball_key(org: &Organization, version: &RegistryModuleVersion) -> String {
    format!(
        "{}registry-modules/{}/{}/{}.tar.gz",
        crate::state::organization_prefix(&org.id),
        version.module_id,
        version.id,
        ids::random_string(16)
    )
}

impl Services {
    pub async fn create_registry_module(
        &self,
        caller: &Caller,
        org_name: &str,
        new: NewModule,
    ) -> DomainResult<ModuleView> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::ManageModules)
            .await?;
        match new.registry_name.as_deref() {
            None | Some(PRIVATE) => {}
            Some(other) => {
                return Err(invalid(
                    "registry-name",
                    format!("only private modules are hosted here, not {other:?} ones"),
                ))
            }
        }
        if new.namespace.as_ref().is_some_and(|ns| *ns != org.name) {
            return Err(invalid(
                "namespace",
                format!(
                    "a private module's namespace is its organization's name, {}",
                    org.name
                ),
            ));
        }
        let name = new
            .name
            .ok_or_else(|| invalid("name", "a module needs a name"))?;
        module_name(&name).map_err(|e| invalid("name", e))?;
        let provider = new
            .provider
            .ok_or_else(|| invalid("provider", "a module needs a provider"))?;
        module_provider(&provider).map_err(|e| invalid("provider", e))?;
        let now = clock::now();
        let module = RegistryModule {
            id: ids::new_id(ids::REGISTRY_MODULE),
            organization_id: org.id.clone(),
            name,
            provider,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_registry_module(&module)
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => {
                    invalid("name", "Name has already been taken for this provider")
                }
                other => other.into(),
            })?;
        Ok(ModuleView {
            module,
            organization: org,
            versions: Vec::new(),
            access,
        })
    }

    pub async fn list_registry_modules(
        &self,
        caller: &Caller,
        org_name: &str,
        registry_name: Option<&str>,
        filter: &RegistryModuleFilter,
        page: PageRequest,
    ) -> DomainResult<Page<ModuleView>> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        if registry_name.is_some_and(|r| r != PRIVATE) {
            return Ok(Page {
                items: Vec::new(),
                total: 0,
            });
        }
        let modules = self
            .store
            .list_registry_modules(&org.id, filter, page)
            .await?;
        let ids: Vec<String> = modules.items.iter().map(|m| m.id.clone()).collect();
        let mut versions = self.store.module_versions(&ids).await?;
        let items = modules
            .items
            .into_iter()
            .map(|module| ModuleView {
                versions: versions.remove(&module.id).unwrap_or_default(),
                module,
                organization: org.clone(),
                access,
            })
            .collect();
        Ok(Page {
            items,
            total: modules.total,
        })
    }

    pub async fn registry_module(
        &self,
        caller: &Caller,
        module: &ModuleRef,
    ) -> DomainResult<ModuleView> {
        let (module, org, access) = self
            .module_for(caller, module, Action::ReadOrganization)
            .await?;
        let versions = self.versions_of(&module).await?;
        Ok(ModuleView {
            module,
            organization: org,
            versions,
            access,
        })
    }

    /// The module's versions, oldest first.
    async fn versions_of(
        &self,
        module: &RegistryModule,
    ) -> DomainResult<Vec<RegistryModuleVersion>> {
        let ids = [module.id.clone()];
        Ok(self
            .store
            .module_versions(&ids)
            .await?
            .remove(&module.id)
            .unwrap_or_default())
    }

    /// Loads a module and authorizes `action` on its organization; a module of another
    /// organization, registry or namespace is not found.
    async fn module_for(
        &self,
        caller: &Caller,
        module: &ModuleRef,
        action: Action,
    ) -> DomainResult<(RegistryModule, Organization, Access)> {
        const WHAT: &str = "registry module";
        let (module, org) = match module {
            ModuleRef::Id(id) => {
                let module = self
                    .store
                    .registry_module_by_id(id)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                let org = self
                    .store
                    .organization_by_id(&module.organization_id)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                (module, org)
            }
            ModuleRef::Name(n) => {
                if !names::is_own_registry(&n.registry, &n.namespace, &n.organization) {
                    return Err(DomainError::NotFound(WHAT));
                }
                let org = self
                    .store
                    .organization_by_name(&n.organization)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                let module = self
                    .store
                    .registry_module(&org.id, &n.name, &n.provider)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                (module, org)
            }
        };
        let access = self.authorize(caller, &org, action, WHAT).await?;
        Ok((module, org, access))
    }

    /// Creates a pending version; its view carries the upload URL's capability.
    pub async fn create_module_version(
        &self,
        caller: &Caller,
        module: &ModuleRef,
        version: Option<String>,
    ) -> DomainResult<ModuleVersionView> {
        let (module, org, _) = self
            .module_for(caller, module, Action::ManageModules)
            .await?;
        let version = version.ok_or_else(|| invalid("version", "a version needs a number"))?;
        Version::parse(&version).map_err(|e| invalid("version", e))?;
        let now = clock::now();
        let record = RegistryModuleVersion {
            id: ids::new_id(ids::REGISTRY_MODULE_VERSION),
            module_id: module.id.clone(),
            version,
            status: ModuleVersionStatus::Pending,
            size: 0,
            tarball_key: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_module_version(&record)
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => invalid(
                    "version",
                    format!("version {} of the module exists already", record.version),
                ),
                other => other.into(),
            })?;
        Ok(self.module_version_view(record, module, org))
    }

    fn module_version_view(
        &self,
        version: RegistryModuleVersion,
        module: RegistryModule,
        organization: Organization,
    ) -> ModuleVersionView {
        let upload = (version.status == ModuleVersionStatus::Pending)
            .then(|| self.issue(MODULE_UPLOAD, &version.id, self.settings.upload_url_ttl));
        ModuleVersionView {
            version,
            module,
            organization,
            upload,
        }
    }

    /// One version of the module (`None`: the request named none, a 400 once the module is
    /// known to be the caller's to read).
    pub async fn module_version(
        &self,
        caller: &Caller,
        module: &ModuleRef,
        version: Option<&str>,
    ) -> DomainResult<ModuleVersionView> {
        let (module, org, _) = self
            .module_for(caller, module, Action::ReadOrganization)
            .await?;
        let version = version
            .ok_or_else(|| DomainError::bad_request("name the version with ?module_version="))?;
        let found = self
            .versions_of(&module)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or(DomainError::NotFound("module version"))?;
        Ok(self.module_version_view(found, module, org))
    }

    /// Receives a pending version's tarball through its signed upload URL. A tarball that is
    /// refused (not a gzip'd tar, reaching outside itself, too large) or an interrupted upload
    /// leaves the version pending, so the same URL may be used again; a published version
    /// cannot be uploaded again.
    pub async fn upload_module_version<S, E>(&self, token: &str, body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = self.redeem(token, MODULE_UPLOAD)?;
        let version = self
            .store
            .module_version_by_id(&id)
            .await?
            .ok_or(DomainError::NotFound("module version"))?;
        if version.status != ModuleVersionStatus::Pending {
            return Err(DomainError::Conflict(format!(
                "version {} of the module is published: it cannot be uploaded again",
                version.version
            )));
        }
        let module = self
            .store
            .registry_module_by_id(&version.module_id)
            .await?
            .ok_or(DomainError::NotFound("module version"))?;
        let org = self
            .store
            .organization_by_id(&module.organization_id)
            .await?
            .ok_or(DomainError::NotFound("module version"))?;
        let key = tarball_key(&org, &version);
        let max = self.settings.max_configuration_bytes;
        match self
            .receive_checked_tarball(&key, body, max, "module")
            .await?
        {
            Received::Stored { size } => {
                let done = self
                    .store
                    .finish_module_version_upload(&version.id, &key, size as i64, clock::now())
                    .await;
                if !matches!(done, Ok(true)) {
                    if let Err(err) = self.blobs.delete(&key).await {
                        tracing::warn!(error = %err, "cannot delete a losing upload's tarball");
                    }
                }
                if !done? {
                    return Err(DomainError::Conflict(format!(
                        "version {} of the module was uploaded concurrently, or deleted",
                        version.version
                    )));
                }
                Ok(())
            }
            Received::Content(err) | Received::Transport(err) => Err(err),
        }
    }

    /// Deletes the modules of a name (all providers, or one) or one version, with their
    /// tarballs.
    pub async fn delete_registry_module(
        &self,
        caller: &Caller,
        name: &ModuleName,
        scope: ModuleDeletion<'_>,
    ) -> DomainResult<()> {
        const WHAT: &str = "registry module";
        if !names::is_own_registry(&name.registry, &name.namespace, &name.organization) {
            return Err(DomainError::NotFound(WHAT));
        }
        let (org, _) = self
            .organization_for(caller, &name.organization, Action::ManageModules)
            .await?;
        let keys = match scope {
            ModuleDeletion::Name => self
                .store
                .delete_registry_modules(&org.id, &name.name, None)
                .await?
                .ok_or(DomainError::NotFound(WHAT))?,
            ModuleDeletion::Provider => self
                .store
                .delete_registry_modules(&org.id, &name.name, Some(&name.provider))
                .await?
                .ok_or(DomainError::NotFound(WHAT))?,
            ModuleDeletion::Version(version) => {
                let module = self
                    .store
                    .registry_module(&org.id, &name.name, &name.provider)
                    .await?
                    .ok_or(DomainError::NotFound(WHAT))?;
                let key = self
                    .store
                    .delete_module_version(&module.id, version)
                    .await?
                    .ok_or(DomainError::NotFound("module version"))?;
                key.into_iter().collect()
            }
        };
        for key in keys {
            if let Err(err) = self.blobs.delete(&key).await {
                tracing::warn!(error = %err, "cannot delete a deleted module version's tarball");
            }
        }
        Ok(())
    }

    /// The README at the root of a published version of a module, for those who may read it.
    pub async fn module_readme(
        &self,
        caller: &Caller,
        module: &ModuleRef,
        version: &str,
    ) -> DomainResult<Option<crate::configuration::readme::Readme>> {
        let view = self.registry_module(caller, module).await?;
        let Some(key) = view
            .versions
            .into_iter()
            .find(|v| v.version == version && v.status == ModuleVersionStatus::Ok)
            .and_then(|v| v.tarball_key)
        else {
            return Err(DomainError::NotFound("module version"));
        };
        let tarball = async { Ok(self.blobs.read(&key).await?) };
        Ok(self.remembered_readme(&key, "", tarball).await)
    }

    /// The registry protocol's versions of a module: its published ones, lowest first.
    pub async fn module_protocol_versions(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        provider: &str,
    ) -> DomainResult<Vec<String>> {
        let (module, _) = self
            .readable_module(caller, namespace, name, provider)
            .await?;
        let mut versions: Vec<(Version, String)> = self
            .versions_of(&module)
            .await?
            .into_iter()
            .filter(|v| v.status == ModuleVersionStatus::Ok)
            .filter_map(|v| Some((Version::parse(&v.version).ok()?, v.version)))
            .collect();
        versions.sort();
        Ok(versions.into_iter().map(|(_, text)| text).collect())
    }

    /// The capability of a published version's tarball, for the protocol's download.
    pub async fn module_download(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        provider: &str,
        version: &str,
    ) -> DomainResult<String> {
        let (module, _) = self
            .readable_module(caller, namespace, name, provider)
            .await?;
        let found = self
            .versions_of(&module)
            .await?
            .into_iter()
            .find(|v| v.version == version && v.status == ModuleVersionStatus::Ok)
            .ok_or(DomainError::NotFound("module version"))?;
        Ok(self.issue(
            MODULE_DOWNLOAD,
            &found.id,
            Duration::minutes(DOWNLOAD_TTL_MINUTES),
        ))
    }

    /// The tarball a download capability grants.
    pub async fn module_archive(&self, token: &str) -> DomainResult<BlobStream> {
        let id = self.redeem(token, MODULE_DOWNLOAD)?;
        let version = self
            .store
            .module_version_by_id(&id)
            .await?
            .ok_or(DomainError::NotFound("module version"))?;
        let key = version
            .tarball_key
            .ok_or(DomainError::NotFound("module version"))?;
        Ok(self.blobs.read(&key).await?)
    }

    /// A module the caller may read through the registry protocol.
    async fn readable_module(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        provider: &str,
    ) -> DomainResult<(RegistryModule, Organization)> {
        const WHAT: &str = "registry module";
        let org = self.registry_reader(caller, namespace, WHAT).await?;
        let module = self
            .store
            .registry_module(&org.id, name, provider)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        Ok((module, org))
    }
}

/// What a deletion removes.
#[derive(Debug, Clone, Copy)]
pub enum ModuleDeletion<'a> {
    /// Every provider of the name.
    Name,
    /// The name's module for one provider.
    Provider,
    Version(&'a str),
}
