//! The private provider registry (HCP Terraform's): an organization's GPG keys and private
//! providers (namespace = the organization's name), their versions and platforms, uploaded
//! through signed URLs and checked before anything is published: SHA256SUMS must parse, its
//! detached signature must verify with the version's GPG key (one of the organization's), and
//! a platform's zip must have the SHA-256 its platform and the signed SHA256SUMS both name. A
//! version is offered to `terraform init` (the provider registry protocol) once its signature
//! verified, and only with its platforms whose binaries arrived.
//!
//! Members read providers; keys and every change need `manage-providers` (owners, teams
//! holding it, the organization token).

pub mod gpg;
pub mod rules;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use terrace_auth::policy::Action;
use terrace_storage::blob::BlobStream;
use terrace_storage::model::{
    GpgKey, JsonText, Organization, Page, PageRequest, ProviderPlatform, ProviderVersion,
    RegistryProvider,
};
use terrace_storage::{clock, ids, StorageError};

use crate::access::allows;
use crate::{Caller, DomainError, DomainResult, Services};

pub const SHASUMS_UPLOAD: &str = "provider-shasums-upload";
pub const SIGNATURE_UPLOAD: &str = "provider-shasums-sig-upload";
pub const BINARY_UPLOAD: &str = "provider-binary-upload";
pub const SHASUMS_DOWNLOAD: &str = "provider-shasums-download";
pub const SIGNATURE_DOWNLOAD: &str = "provider-shasums-sig-download";
pub const BINARY_DOWNLOAD: &str = "provider-binary-download";

/// Where an organization's provider blobs live (under its own prefix, deleted with it).
fn organization_prefix(org_id: &str) -> String {
    format!(
        "{}registry-providers/",
        crate::state::organization_prefix(org_id)
    )
}

fn version_prefix(org_id: &str, version: &ProviderVersion) -> String {
    format!(
        "{}{}/{}/",
        organization_prefix(org_id),
        version.provider_id,
        version.id
    )
}

/// A GPG key with its namespace.
#[derive(Debug, Clone)]
pub struct GpgKeyView {
    pub key: GpgKey,
    pub namespace: String,
}

#[derive(Debug, Clone)]
pub struct ProviderView {
    pub provider: RegistryProvider,
    pub organization: String,
    pub can_delete: bool,
    /// With `include=registry-provider-versions`.
    pub versions: Option<Vec<ProviderVersion>>,
}

#[derive(Debug, Clone)]
pub struct ProviderVersionView {
    pub version: ProviderVersion,
    pub provider: RegistryProvider,
    pub platforms: Vec<ProviderPlatform>,
    pub can_manage: bool,
    /// Capabilities: upload URLs while the file may still be uploaded (and the caller may),
    /// download URLs once it was.
    pub shasums_upload: Option<String>,
    pub signature_upload: Option<String>,
    pub shasums_download: Option<String>,
    pub signature_download: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ProviderPlatformView {
    pub platform: ProviderPlatform,
    pub can_manage: bool,
    pub binary_upload: Option<String>,
    pub binary_download: Option<String>,
}

/// Names a provider as the TFE API does: organization, registry, namespace, name.
#[derive(Debug, Clone)]
pub struct ProviderRef {
    pub organization: String,
    pub registry_name: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct NewProviderVersion {
    pub version: String,
    pub key_id: String,
    pub protocols: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct NewProviderPlatform {
    pub os: String,
    pub arch: String,
    pub filename: String,
    pub shasum: String,
}

/// One published version, for the provider registry protocol's version list.
#[derive(Debug, Clone)]
pub struct PublishedVersion {
    pub version: String,
    pub protocols: Vec<String>,
    pub platforms: Vec<(String, String)>,
}

/// What `terraform init` needs to fetch and verify one platform's package.
#[derive(Debug, Clone)]
pub struct ProviderPackage {
    pub protocols: Vec<String>,
    pub os: String,
    pub arch: String,
    pub filename: String,
    pub shasum: String,
    pub download: String,
    pub shasums_download: String,
    pub signature_download: String,
    pub key_id: String,
    pub ascii_armor: String,
}

fn taken(what: &'static str, detail: String) -> impl FnOnce(StorageError) -> DomainError {
    move |err| match err {
        StorageError::Conflict(_) => DomainError::Conflict(detail),
        other => {
            let _ = what;
            other.into()
        }
    }
}

/// Reads a small upload whole, refusing more than `max` bytes.
async fn read_bounded<S, E>(mut body: S, max: usize, what: &str) -> DomainResult<Vec<u8>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let mut data = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| DomainError::Interrupted(e.to_string()))?;
        if data.len() + chunk.len() > max {
            return Err(DomainError::TooLarge(format!(
                "{what} is larger than the limit of {max} bytes"
            )));
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

impl Services {
    // ---- GPG keys -------------------------------------------------------------------

    pub async fn create_gpg_key(
        &self,
        caller: &Caller,
        registry_name: &str,
        namespace: &str,
        ascii_armor: &str,
    ) -> DomainResult<GpgKeyView> {
        registry_path(registry_name)?;
        if ascii_armor.trim().is_empty() {
            return Err(DomainError::invalid(
                "ascii-armor",
                "ASCII armor can't be blank",
            ));
        }
        let org = self
            .namespace_for(caller, namespace, Action::ManageProviders)
            .await?;
        let key_id = gpg::key_id(ascii_armor)?;
        let now = clock::now();
        let key = GpgKey {
            id: ids::new_id(ids::GPG_KEY),
            organization_id: org.id.clone(),
            key_id: key_id.clone(),
            ascii_armor: ascii_armor.to_string(),
            created_at: now,
            updated_at: now,
        };
        self.store.create_gpg_key(&key).await.map_err(taken(
            "GPG key",
            format!("namespace {} has the GPG key {key_id} already", org.name),
        ))?;
        Ok(GpgKeyView {
            key,
            namespace: org.name,
        })
    }

    /// The keys of the given namespaces (each one an organization the caller manages the
    /// registry of).
    pub async fn list_gpg_keys(
        &self,
        caller: &Caller,
        registry_name: &str,
        namespaces: &[String],
        page: PageRequest,
    ) -> DomainResult<Page<GpgKeyView>> {
        registry_path(registry_name)?;
        if namespaces.is_empty() {
            return Err(DomainError::bad_request(
                "filter[namespace] is required: the organizations whose keys to list",
            ));
        }
        let mut orgs = Vec::new();
        for namespace in namespaces {
            orgs.push(
                self.namespace_for(caller, namespace, Action::ManageProviders)
                    .await?,
            );
        }
        let org_ids: Vec<String> = orgs.iter().map(|o| o.id.clone()).collect();
        let found = self.store.list_gpg_keys(&org_ids, page).await?;
        Ok(Page {
            items: found
                .items
                .into_iter()
                .map(|key| {
                    let namespace = orgs
                        .iter()
                        .find(|o| o.id == key.organization_id)
                        .map(|o| o.name.clone())
                        .unwrap_or_default();
                    GpgKeyView { key, namespace }
                })
                .collect(),
            total: found.total,
        })
    }

    pub async fn gpg_key(
        &self,
        caller: &Caller,
        registry_name: &str,
        namespace: &str,
        key_id: &str,
    ) -> DomainResult<GpgKeyView> {
        let (key, org) = self
            .gpg_key_for(caller, registry_name, namespace, key_id)
            .await?;
        Ok(GpgKeyView {
            key,
            namespace: org.name,
        })
    }

    /// Moves a key to another namespace the caller manages.
    pub async fn move_gpg_key(
        &self,
        caller: &Caller,
        registry_name: &str,
        namespace: &str,
        key_id: &str,
        to: &str,
    ) -> DomainResult<GpgKeyView> {
        let (mut key, _) = self
            .gpg_key_for(caller, registry_name, namespace, key_id)
            .await?;
        let target = match self
            .namespace_for(caller, to, Action::ManageProviders)
            .await
        {
            Ok(org) => org,
            Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => {
                return Err(DomainError::invalid(
                    "namespace",
                    format!("namespace not authorized: {to}"),
                ))
            }
            Err(err) => return Err(err),
        };
        let now = clock::now();
        self.store
            .move_gpg_key(&key.id, &target.id, now)
            .await
            .map_err(taken(
                "GPG key",
                format!(
                    "namespace {} has the GPG key {} already",
                    target.name, key.key_id
                ),
            ))?;
        key.organization_id = target.id;
        key.updated_at = now;
        Ok(GpgKeyView {
            key,
            namespace: target.name,
        })
    }

    pub async fn delete_gpg_key(
        &self,
        caller: &Caller,
        registry_name: &str,
        namespace: &str,
        key_id: &str,
    ) -> DomainResult<()> {
        let (key, _) = self
            .gpg_key_for(caller, registry_name, namespace, key_id)
            .await?;
        Ok(self.store.delete_gpg_key(&key.id).await?)
    }

    async fn gpg_key_for(
        &self,
        caller: &Caller,
        registry_name: &str,
        namespace: &str,
        key_id: &str,
    ) -> DomainResult<(GpgKey, Organization)> {
        const WHAT: &str = "GPG key";
        if registry_name != rules::PRIVATE {
            return Err(DomainError::NotFound(WHAT));
        }
        let org = self
            .namespace_for(caller, namespace, Action::ManageProviders)
            .await
            .map_err(hide_as(WHAT))?;
        let key = self
            .store
            .gpg_key(&org.id, &key_id.to_ascii_uppercase())
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        Ok((key, org))
    }

    /// The organization a namespace names, if the caller may do `action` there.
    async fn namespace_for(
        &self,
        caller: &Caller,
        namespace: &str,
        action: Action,
    ) -> DomainResult<Organization> {
        Ok(self.organization_for(caller, namespace, action).await?.0)
    }

    // ---- Providers ------------------------------------------------------------------

    pub async fn create_registry_provider(
        &self,
        caller: &Caller,
        org_name: &str,
        registry_name: Option<&str>,
        namespace: &str,
        name: &str,
    ) -> DomainResult<ProviderView> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ManageProviders)
            .await?;
        rules::registry_name(registry_name)?;
        if namespace != org.name {
            return Err(DomainError::invalid(
                "namespace",
                format!(
                    "a private provider's namespace is its organization's name ({})",
                    org.name
                ),
            ));
        }
        rules::provider_name(name)?;
        let now = clock::now();
        let provider = RegistryProvider {
            id: ids::new_id(ids::REGISTRY_PROVIDER),
            organization_id: org.id.clone(),
            name: name.to_string(),
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_registry_provider(&provider)
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => {
                    DomainError::invalid("name", "Name has already been taken")
                }
                other => other.into(),
            })?;
        Ok(ProviderView {
            provider,
            organization: org.name,
            can_delete: true,
            versions: None,
        })
    }

    /// The organization's providers; `public` ones are none (they are not hosted here).
    pub async fn list_registry_providers(
        &self,
        caller: &Caller,
        org_name: &str,
        registry_name: Option<&str>,
        query: Option<&str>,
        with_versions: bool,
        page: PageRequest,
    ) -> DomainResult<Page<ProviderView>> {
        let (org, access) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        if registry_name.is_some_and(|r| r != rules::PRIVATE) {
            return Ok(Page {
                items: Vec::new(),
                total: 0,
            });
        }
        let found = self
            .store
            .list_registry_providers(&org.id, query, page)
            .await?;
        let mut items = Vec::with_capacity(found.items.len());
        for provider in found.items {
            let versions = if with_versions {
                Some(self.all_versions(&provider.id).await?)
            } else {
                None
            };
            items.push(ProviderView {
                provider,
                organization: org.name.clone(),
                can_delete: allows(access, Action::ManageProviders),
                versions,
            });
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    pub async fn registry_provider(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        with_versions: bool,
    ) -> DomainResult<ProviderView> {
        let (provider, org, can_manage) = self
            .provider_for(caller, id, Action::ReadOrganization)
            .await?;
        let versions = if with_versions {
            Some(self.all_versions(&provider.id).await?)
        } else {
            None
        };
        Ok(ProviderView {
            provider,
            organization: org.name,
            can_delete: can_manage,
            versions,
        })
    }

    pub async fn delete_registry_provider(
        &self,
        caller: &Caller,
        id: &ProviderRef,
    ) -> DomainResult<()> {
        let (provider, org, _) = self
            .provider_for(caller, id, Action::ManageProviders)
            .await?;
        self.store.delete_registry_provider(&provider.id).await?;
        let prefix = format!("{}{}/", organization_prefix(&org.id), provider.id);
        if let Err(err) = self.blobs.delete_prefix(&prefix).await {
            tracing::warn!(error = %err, "cannot delete a deleted provider's binaries");
        }
        Ok(())
    }

    async fn all_versions(&self, provider_id: &str) -> DomainResult<Vec<ProviderVersion>> {
        Ok(self
            .store
            .list_provider_versions(provider_id, PageRequest::all())
            .await?
            .items)
    }

    /// The provider a reference names, if the caller may do `action` (and whether it may
    /// manage the registry). Another organization's, a public or a missing one: not found.
    async fn provider_for(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        action: Action,
    ) -> DomainResult<(RegistryProvider, Organization, bool)> {
        const WHAT: &str = "registry provider";
        let (org, access) = self
            .organization_for(caller, &id.organization, action)
            .await
            .map_err(hide_as(WHAT))?;
        if !crate::registry::names::is_own_registry(&id.registry_name, &id.namespace, &org.name) {
            return Err(DomainError::NotFound(WHAT));
        }
        let provider = self
            .store
            .registry_provider(&org.id, &id.name)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        Ok((provider, org, allows(access, Action::ManageProviders)))
    }

    // ---- Versions -------------------------------------------------------------------

    pub async fn create_provider_version(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        new: NewProviderVersion,
    ) -> DomainResult<ProviderVersionView> {
        if id.registry_name != rules::PRIVATE {
            return Err(DomainError::bad_request(
                "versions belong to private providers: public providers are not hosted here",
            ));
        }
        let (provider, _, _) = self
            .provider_for(caller, id, Action::ManageProviders)
            .await?;
        rules::version(&new.version)?;
        rules::key_id(&new.key_id)?;
        rules::protocols(&new.protocols)?;
        let now = clock::now();
        let version = ProviderVersion {
            id: ids::new_id(ids::PROVIDER_VERSION),
            provider_id: provider.id.clone(),
            version: new.version.clone(),
            key_id: new.key_id,
            protocols: JsonText(new.protocols),
            shasums: None,
            shasums_signature: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_provider_version(&version)
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => DomainError::invalid(
                    "version",
                    format!("Version {} has already been taken", new.version),
                ),
                other => other.into(),
            })?;
        Ok(self.version_view(version, provider, Vec::new(), true))
    }

    pub async fn list_provider_versions(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        page: PageRequest,
    ) -> DomainResult<Page<ProviderVersionView>> {
        let (provider, _, can_manage) = self
            .provider_for(caller, id, Action::ReadOrganization)
            .await?;
        let found = self
            .store
            .list_provider_versions(&provider.id, page)
            .await?;
        let mut items = Vec::new();
        for version in found.items {
            let platforms = self.all_platforms(&version.id).await?;
            items.push(self.version_view(version, provider.clone(), platforms, can_manage));
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    pub async fn provider_version(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
    ) -> DomainResult<ProviderVersionView> {
        let (version, provider, _, can_manage) = self
            .version_for(caller, id, version, Action::ReadOrganization)
            .await?;
        let platforms = self.all_platforms(&version.id).await?;
        Ok(self.version_view(version, provider, platforms, can_manage))
    }

    pub async fn delete_provider_version(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
    ) -> DomainResult<()> {
        let (version, _, org, _) = self
            .version_for(caller, id, version, Action::ManageProviders)
            .await?;
        self.store.delete_provider_version(&version.id).await?;
        if let Err(err) = self
            .blobs
            .delete_prefix(&version_prefix(&org.id, &version))
            .await
        {
            tracing::warn!(error = %err, "cannot delete a deleted provider version's binaries");
        }
        Ok(())
    }

    async fn all_platforms(&self, version_id: &str) -> DomainResult<Vec<ProviderPlatform>> {
        Ok(self
            .store
            .list_provider_platforms(version_id, PageRequest::all())
            .await?
            .items)
    }

    async fn version_for(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
        action: Action,
    ) -> DomainResult<(ProviderVersion, RegistryProvider, Organization, bool)> {
        let (provider, org, can_manage) = self
            .provider_for(caller, id, action)
            .await
            .map_err(hide_as("provider version"))?;
        let version = self
            .store
            .provider_version(&provider.id, version)
            .await?
            .ok_or(DomainError::NotFound("provider version"))?;
        Ok((version, provider, org, can_manage))
    }

    fn version_view(
        &self,
        version: ProviderVersion,
        provider: RegistryProvider,
        platforms: Vec<ProviderPlatform>,
        can_manage: bool,
    ) -> ProviderVersionView {
        let ttl = self.settings.upload_url_ttl;
        let signed = version.shasums_signature.is_some();
        let upload =
            |purpose| (can_manage && !signed).then(|| self.issue(purpose, &version.id, ttl));
        let download =
            |purpose, present: bool| present.then(|| self.issue(purpose, &version.id, ttl));
        ProviderVersionView {
            shasums_upload: upload(SHASUMS_UPLOAD),
            signature_upload: upload(SIGNATURE_UPLOAD),
            shasums_download: download(SHASUMS_DOWNLOAD, version.shasums.is_some()),
            signature_download: download(SIGNATURE_DOWNLOAD, signed),
            version,
            provider,
            platforms,
            can_manage,
        }
    }

    // ---- Platforms ------------------------------------------------------------------

    pub async fn create_provider_platform(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
        new: NewProviderPlatform,
    ) -> DomainResult<ProviderPlatformView> {
        if id.registry_name != rules::PRIVATE {
            return Err(DomainError::bad_request(
                "platforms belong to private providers: public providers are not hosted here",
            ));
        }
        let (version, _, _, _) = self
            .version_for(caller, id, version, Action::ManageProviders)
            .await?;
        rules::platform_part("os", &new.os)?;
        rules::platform_part("arch", &new.arch)?;
        rules::shasum(&new.shasum)?;
        rules::filename(&new.filename)?;
        let now = clock::now();
        let platform = ProviderPlatform {
            id: ids::new_id(ids::PROVIDER_PLATFORM),
            version_id: version.id,
            os: new.os,
            arch: new.arch,
            filename: new.filename,
            shasum: new.shasum,
            binary_key: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .create_provider_platform(&platform)
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => DomainError::invalid(
                    "os",
                    format!(
                        "the version has a {}/{} platform already",
                        platform.os, platform.arch
                    ),
                ),
                other => other.into(),
            })?;
        Ok(self.platform_view(platform, true))
    }

    pub async fn list_provider_platforms(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
        page: PageRequest,
    ) -> DomainResult<Page<ProviderPlatformView>> {
        let (version, _, _, can_manage) = self
            .version_for(caller, id, version, Action::ReadOrganization)
            .await?;
        let found = self
            .store
            .list_provider_platforms(&version.id, page)
            .await?;
        Ok(Page {
            items: found
                .items
                .into_iter()
                .map(|p| self.platform_view(p, can_manage))
                .collect(),
            total: found.total,
        })
    }

    pub async fn provider_platform(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
        os: &str,
        arch: &str,
    ) -> DomainResult<ProviderPlatformView> {
        let (platform, can_manage) = self
            .platform_for(caller, id, version, os, arch, Action::ReadOrganization)
            .await?;
        Ok(self.platform_view(platform, can_manage))
    }

    pub async fn delete_provider_platform(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
        os: &str,
        arch: &str,
    ) -> DomainResult<()> {
        let (platform, _) = self
            .platform_for(caller, id, version, os, arch, Action::ManageProviders)
            .await?;
        self.store.delete_provider_platform(&platform.id).await?;
        if let Some(key) = &platform.binary_key {
            if let Err(err) = self.blobs.delete(key).await {
                tracing::warn!(error = %err, "cannot delete a deleted platform's binary");
            }
        }
        Ok(())
    }

    async fn platform_for(
        &self,
        caller: &Caller,
        id: &ProviderRef,
        version: &str,
        os: &str,
        arch: &str,
        action: Action,
    ) -> DomainResult<(ProviderPlatform, bool)> {
        let (version, _, _, can_manage) = self
            .version_for(caller, id, version, action)
            .await
            .map_err(hide_as("provider platform"))?;
        let platform = self
            .store
            .provider_platform(&version.id, os, arch)
            .await?
            .ok_or(DomainError::NotFound("provider platform"))?;
        Ok((platform, can_manage))
    }

    fn platform_view(&self, platform: ProviderPlatform, can_manage: bool) -> ProviderPlatformView {
        let ttl = self.settings.upload_url_ttl;
        let uploaded = platform.binary_key.is_some();
        ProviderPlatformView {
            binary_upload: (can_manage && !uploaded)
                .then(|| self.issue(BINARY_UPLOAD, &platform.id, ttl)),
            binary_download: uploaded.then(|| self.issue(BINARY_DOWNLOAD, &platform.id, ttl)),
            platform,
            can_manage,
        }
    }

    // ---- Uploads (signed URLs) --------------------------------------------------------

    /// Receives a version's SHA256SUMS; it may be replaced until its signature is uploaded.
    pub async fn upload_provider_shasums<S, E>(&self, token: &str, body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = self.redeem(token, SHASUMS_UPLOAD)?;
        let version = self.version_by_id(&id).await?;
        let data = read_bounded(body, rules::MAX_SHASUMS_BYTES, "SHA256SUMS").await?;
        let text = String::from_utf8(data)
            .map_err(|_| DomainError::bad_request("SHA256SUMS is not UTF-8 text"))?;
        rules::parse_shasums(&text)?;
        if !self
            .store
            .set_provider_shasums(&version.id, &text, clock::now())
            .await?
        {
            return Err(DomainError::Conflict(format!(
                "version {} is signed already: its SHA256SUMS cannot change (delete the version \
                 to publish it again)",
                version.version
            )));
        }
        Ok(())
    }

    /// Receives the detached signature over a version's SHA256SUMS; it is kept only if it
    /// verifies with the organization's GPG key the version names.
    pub async fn upload_provider_signature<S, E>(&self, token: &str, body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = self.redeem(token, SIGNATURE_UPLOAD)?;
        let version = self.version_by_id(&id).await?;
        let data = read_bounded(body, rules::MAX_SIGNATURE_BYTES, "the signature").await?;
        if version.shasums_signature.is_some() {
            return Err(DomainError::Conflict(format!(
                "version {} is signed already",
                version.version
            )));
        }
        let shasums = version.shasums.as_deref().ok_or_else(|| {
            DomainError::Conflict("upload SHA256SUMS before its signature".into())
        })?;
        let provider = self
            .store
            .registry_provider_by_id(&version.provider_id)
            .await?
            .ok_or(DomainError::NotFound("registry provider"))?;
        let key = self
            .store
            .gpg_key(
                &provider.organization_id,
                &version.key_id.to_ascii_uppercase(),
            )
            .await?
            .ok_or_else(|| {
                DomainError::invalid(
                    "key-id",
                    format!(
                        "the version's key-id {} is not one of the organization's GPG keys",
                        version.key_id
                    ),
                )
            })?;
        let signature = gpg::verify_detached(&key.ascii_armor, shasums.as_bytes(), &data)?;
        if !self
            .store
            .set_provider_shasums_signature(&version.id, shasums, &signature, clock::now())
            .await?
        {
            return Err(DomainError::Conflict(format!(
                "version {} changed meanwhile: upload again",
                version.version
            )));
        }
        Ok(())
    }

    /// Receives a platform's zip, streamed into the blob store; it is recorded only if its
    /// SHA-256 is the one its platform and the version's signed SHA256SUMS name. A refused or
    /// interrupted upload leaves nothing.
    pub async fn upload_provider_binary<S, E>(&self, token: &str, body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = self.redeem(token, BINARY_UPLOAD)?;
        let platform = self
            .store
            .provider_platform_by_id(&id)
            .await?
            .ok_or(DomainError::NotFound("provider platform"))?;
        if platform.binary_key.is_some() {
            return Err(DomainError::Conflict(format!(
                "the {}/{} binary is uploaded already",
                platform.os, platform.arch
            )));
        }
        let version = self.version_by_id(&platform.version_id).await?;
        let (Some(shasums), Some(_)) = (&version.shasums, &version.shasums_signature) else {
            return Err(DomainError::Conflict(
                "upload the version's SHA256SUMS and its signature before its binaries".into(),
            ));
        };
        let expected = rules::expected_binary_digest(
            &rules::parse_shasums(shasums)?,
            &platform.filename,
            &platform.shasum,
        )?;
        let provider = self
            .store
            .registry_provider_by_id(&version.provider_id)
            .await?
            .ok_or(DomainError::NotFound("registry provider"))?;
        let key = format!(
            "{}{}/{}.zip",
            version_prefix(&provider.organization_id, &version),
            platform.id,
            ids::random_string(16)
        );
        let max = self.settings.max_provider_binary_bytes;
        let stored = self
            .store_hashed(&key, body, max, "the binary", None)
            .await?;
        if stored.sha256 != expected {
            self.discard_blob(&key).await;
            return Err(DomainError::bad_request(format!(
                "the binary's SHA-256 is {}, not {expected} as its platform and SHA256SUMS say",
                stored.sha256
            )));
        }
        let done = self
            .store
            .finish_provider_binary(&platform.id, &key, clock::now())
            .await;
        if !matches!(done, Ok(true)) {
            self.discard_blob(&key).await;
        }
        if !done? {
            return Err(DomainError::Conflict(format!(
                "the {}/{} binary was uploaded concurrently",
                platform.os, platform.arch
            )));
        }
        Ok(())
    }

    async fn version_by_id(&self, id: &str) -> DomainResult<ProviderVersion> {
        self.store
            .provider_version_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("provider version"))
    }

    // ---- Downloads (signed URLs) ------------------------------------------------------

    pub async fn download_provider_shasums(&self, token: &str) -> DomainResult<String> {
        let id = self.redeem(token, SHASUMS_DOWNLOAD)?;
        self.version_by_id(&id)
            .await?
            .shasums
            .ok_or(DomainError::NotFound("SHA256SUMS"))
    }

    pub async fn download_provider_signature(&self, token: &str) -> DomainResult<Vec<u8>> {
        let id = self.redeem(token, SIGNATURE_DOWNLOAD)?;
        self.version_by_id(&id)
            .await?
            .shasums_signature
            .ok_or(DomainError::NotFound("SHA256SUMS signature"))
    }

    pub async fn download_provider_binary(
        &self,
        token: &str,
    ) -> DomainResult<(String, BlobStream)> {
        let id = self.redeem(token, BINARY_DOWNLOAD)?;
        let platform = self
            .store
            .provider_platform_by_id(&id)
            .await?
            .ok_or(DomainError::NotFound("provider platform"))?;
        let key = platform
            .binary_key
            .ok_or(DomainError::NotFound("provider binary"))?;
        Ok((platform.filename, self.blobs.read(&key).await?))
    }

    // ---- The provider registry protocol (terraform init) ------------------------------

    /// A provider's published versions: signed, with the platforms whose binaries arrived.
    pub async fn published_provider_versions(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
    ) -> DomainResult<Vec<PublishedVersion>> {
        let provider = self.published_provider(caller, namespace, name).await?;
        let mut published = Vec::new();
        for version in self.all_versions(&provider.id).await? {
            if version.shasums_signature.is_none() {
                continue;
            }
            let platforms: Vec<(String, String)> = self
                .all_platforms(&version.id)
                .await?
                .into_iter()
                .filter(|p| p.binary_key.is_some())
                .map(|p| (p.os, p.arch))
                .collect();
            if platforms.is_empty() {
                continue;
            }
            published.push(PublishedVersion {
                version: version.version,
                protocols: version.protocols.0,
                platforms,
            });
        }
        Ok(published)
    }

    /// Where `terraform init` fetches one platform's package, and the key that signed it.
    pub async fn provider_package(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
        os: &str,
        arch: &str,
    ) -> DomainResult<ProviderPackage> {
        const WHAT: &str = "provider package";
        let provider = self.published_provider(caller, namespace, name).await?;
        let version = self
            .store
            .provider_version(&provider.id, version)
            .await?
            .filter(|v| v.shasums_signature.is_some())
            .ok_or(DomainError::NotFound(WHAT))?;
        let platform = self
            .store
            .provider_platform(&version.id, os, arch)
            .await?
            .filter(|p| p.binary_key.is_some())
            .ok_or(DomainError::NotFound(WHAT))?;
        let key = self
            .store
            .gpg_key(
                &provider.organization_id,
                &version.key_id.to_ascii_uppercase(),
            )
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let ttl = self.settings.upload_url_ttl;
        Ok(ProviderPackage {
            protocols: version.protocols.0.clone(),
            os: platform.os,
            arch: platform.arch,
            filename: platform.filename,
            shasum: platform.shasum.to_ascii_lowercase(),
            download: self.issue(BINARY_DOWNLOAD, &platform.id, ttl),
            shasums_download: self.issue(SHASUMS_DOWNLOAD, &version.id, ttl),
            signature_download: self.issue(SIGNATURE_DOWNLOAD, &version.id, ttl),
            key_id: key.key_id,
            ascii_armor: key.ascii_armor,
        })
    }

    /// A published version's platforms whose binaries arrived, as the network mirror lists
    /// them.
    pub async fn published_provider_archives(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        version: &str,
    ) -> DomainResult<Vec<crate::mirror::MirrorArchiveView>> {
        const WHAT: &str = "provider version";
        let provider = self.published_provider(caller, namespace, name).await?;
        let version = self
            .store
            .provider_version(&provider.id, version)
            .await?
            .filter(|v| v.shasums_signature.is_some())
            .ok_or(DomainError::NotFound(WHAT))?;
        let ttl = self.settings.upload_url_ttl;
        let archives: Vec<_> = self
            .all_platforms(&version.id)
            .await?
            .into_iter()
            .filter(|p| p.binary_key.is_some())
            .map(|p| crate::mirror::MirrorArchiveView {
                download: format!(
                    "provider-binary/{}",
                    self.issue(BINARY_DOWNLOAD, &p.id, ttl)
                ),
                sha256: p.shasum.to_ascii_lowercase(),
                os: p.os,
                arch: p.arch,
            })
            .collect();
        if archives.is_empty() {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok(archives)
    }

    async fn published_provider(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
    ) -> DomainResult<RegistryProvider> {
        const WHAT: &str = "provider";
        let org = self
            .registry_reader(caller, namespace, WHAT)
            .await
            .map_err(hide_as(WHAT))?;
        self.store
            .registry_provider(&org.id, name)
            .await?
            .ok_or(DomainError::NotFound(WHAT))
    }
}

/// The registry in a GPG key path: only `private`.
fn registry_path(registry_name: &str) -> DomainResult<()> {
    if registry_name == rules::PRIVATE {
        Ok(())
    } else {
        Err(DomainError::bad_request(format!(
            "GPG keys belong to the private registry, not {registry_name:?}"
        )))
    }
}

/// Not found as `what` (an organization the caller does not see hides what is in it).
fn hide_as(what: &'static str) -> impl Fn(DomainError) -> DomainError {
    move |err| match err {
        DomainError::NotFound(_) => DomainError::NotFound(what),
        other => other,
    }
}
