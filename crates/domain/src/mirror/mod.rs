//! The provider network mirror (terraform's network mirror protocol): one place runs and
//! people install every provider from. Providers of this server's own registry hosts are the
//! caller's organization's private providers; providers of other registries come from the
//! cache, pulled through from the registry the site configured for their host.
//!
//! Pulling through trusts nothing the upstream cannot prove: a version's archives are
//! recorded only from a SHA256SUMS whose signature verifies with one of the upstream's
//! signing keys, and an archive is cached only if its SHA-256 is the one recorded. The cache
//! is shared by every organization (what it holds is public and verified), fetched on first
//! use, and answers on its own when the upstream is away.

pub mod rules;

use std::sync::Arc;

use async_trait::async_trait;
use terrace_storage::blob::BlobStream;
use terrace_storage::model::MirrorArchive;
use terrace_storage::{clock, ids};

use crate::{Caller, DomainError, DomainResult, Services};
pub use rules::MirrorAddress;

/// The capability of a cached (or to be cached) archive's download URL.
pub const ARCHIVE_DOWNLOAD: &str = "provider-mirror-archive";

/// The largest SHA256SUMS and signature read from an upstream.
const MAX_SHASUMS_BYTES: usize = 64 << 10;
const MAX_SIGNATURE_BYTES: usize = 16 << 10;

/// A version an upstream registry offers, with its platforms.
#[derive(Debug, Clone)]
pub struct UpstreamVersion {
    pub version: String,
    pub platforms: Vec<(String, String)>,
}

/// What an upstream registry says about one platform's package.
#[derive(Debug, Clone)]
pub struct UpstreamPackage {
    pub filename: String,
    pub download_url: String,
    pub shasum: String,
    pub shasums_url: String,
    pub shasums_signature_url: String,
    /// ASCII-armored public keys that may have signed SHA256SUMS.
    pub keys: Vec<String>,
}

/// The registries the mirror pulls through from (the provider registry protocol over HTTP,
/// implemented outside the domain); the files they name are fetched with the server's
/// [`Fetcher`](crate::fetch::Fetcher). Errors are messages for the log and the caller.
#[async_trait]
pub trait ProviderUpstream: Send + Sync {
    /// Whether a registry is configured for providers of `hostname`.
    fn serves(&self, hostname: &str) -> bool;
    /// The provider's versions; `None` when the registry does not know the provider.
    async fn versions(
        &self,
        address: &MirrorAddress,
    ) -> Result<Option<Vec<UpstreamVersion>>, String>;
    /// One platform's package of a version; `None` when the registry has no such package.
    async fn package(
        &self,
        address: &MirrorAddress,
        version: &str,
        os: &str,
        arch: &str,
    ) -> Result<Option<UpstreamPackage>, String>;
}

/// One archive of a version, as the mirror lists it.
#[derive(Debug, Clone)]
pub struct MirrorArchiveView {
    pub os: String,
    pub arch: String,
    /// The path of its signed download URL: `provider-binary/TOKEN` for a private
    /// provider's, `provider-mirror/TOKEN` for a pulled-through one.
    pub download: String,
    /// Its SHA-256, hexadecimal (terraform's `zh:` hash).
    pub sha256: String,
}

impl Services {
    /// Installs the registries the mirror pulls through from.
    pub fn with_provider_upstream(mut self, upstream: Arc<dyn ProviderUpstream>) -> Services {
        self.provider_upstream = Some(upstream);
        self
    }

    fn upstream_for(&self, address: &MirrorAddress) -> DomainResult<&Arc<dyn ProviderUpstream>> {
        self.provider_upstream
            .as_ref()
            .filter(|u| u.serves(&address.hostname))
            .ok_or(DomainError::NotFound(
                "provider (no upstream serves its host)",
            ))
    }

    fn is_own_registry(&self, address: &MirrorAddress) -> bool {
        self.settings
            .registry_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&address.hostname))
    }

    /// The versions of a provider the mirror offers (`index.json`).
    pub async fn mirror_versions(
        &self,
        caller: &Caller,
        address: &MirrorAddress,
    ) -> DomainResult<Vec<String>> {
        if self.is_own_registry(address) {
            return Ok(self
                .published_provider_versions(caller, &address.namespace, &address.kind)
                .await?
                .into_iter()
                .map(|v| v.version)
                .collect());
        }
        let upstream = self.upstream_for(address)?;
        match upstream.versions(address).await {
            Ok(Some(versions)) => Ok(versions
                .into_iter()
                .map(|v| v.version)
                .filter(|v| rules::version_ok(v))
                .collect()),
            Ok(None) => Err(DomainError::NotFound("provider")),
            Err(err) => {
                let cached = self
                    .store
                    .mirror_cached_versions(&address.hostname, &address.namespace, &address.kind)
                    .await?;
                tracing::warn!(host = %address.hostname, error = %err,
                    cached = cached.len(), "provider mirror upstream unavailable");
                if cached.is_empty() {
                    return Err(DomainError::Upstream(format!(
                        "the upstream registry of {} cannot be reached and the mirror holds \
                         no version of {}/{}: {err}",
                        address.hostname, address.namespace, address.kind
                    )));
                }
                Ok(cached)
            }
        }
    }

    /// A version's archives (`VERSION.json`), each with a signed download URL and its hash.
    pub async fn mirror_version(
        &self,
        caller: &Caller,
        address: &MirrorAddress,
        version: &str,
    ) -> DomainResult<Vec<MirrorArchiveView>> {
        if !rules::version_ok(version) {
            return Err(DomainError::NotFound("provider version"));
        }
        if self.is_own_registry(address) {
            return self
                .published_provider_archives(caller, &address.namespace, &address.kind, version)
                .await;
        }
        let mut archives = self.recorded_archives(address, version).await?;
        if archives.is_empty() {
            self.record_from_upstream(address, version).await?;
            archives = self.recorded_archives(address, version).await?;
        }
        let ttl = self.settings.upload_url_ttl;
        Ok(archives
            .into_iter()
            .map(|a| MirrorArchiveView {
                download: format!(
                    "provider-mirror/{}",
                    self.issue(ARCHIVE_DOWNLOAD, &a.id, ttl)
                ),
                os: a.os,
                arch: a.arch,
                sha256: a.sha256,
            })
            .collect())
    }

    async fn recorded_archives(
        &self,
        address: &MirrorAddress,
        version: &str,
    ) -> DomainResult<Vec<MirrorArchive>> {
        Ok(self
            .store
            .mirror_archives(
                &address.hostname,
                &address.namespace,
                &address.kind,
                version,
            )
            .await?)
    }

    /// Records a version's archives from the upstream's signed SHA256SUMS. A SHA256SUMS is
    /// fixed once published, so this happens once per version.
    async fn record_from_upstream(
        &self,
        address: &MirrorAddress,
        version: &str,
    ) -> DomainResult<()> {
        let upstream = self.upstream_for(address)?;
        let unavailable = |err: String| {
            DomainError::Upstream(format!(
                "the upstream registry of {}: {err}",
                address.hostname
            ))
        };
        let offered = upstream
            .versions(address)
            .await
            .map_err(unavailable)?
            .ok_or(DomainError::NotFound("provider"))?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or(DomainError::NotFound("provider version"))?;
        let Some((os, arch)) = offered.platforms.first() else {
            return Err(DomainError::NotFound("provider version"));
        };
        let package = upstream
            .package(address, version, os, arch)
            .await
            .map_err(unavailable)?
            .ok_or(DomainError::NotFound("provider version"))?;
        let missing = |url: &str| unavailable(format!("{url} answered 404"));
        let shasums = self
            .fetch_small(&package.shasums_url, MAX_SHASUMS_BYTES)
            .await?
            .ok_or_else(|| missing(&package.shasums_url))?;
        let signature = self
            .fetch_small(&package.shasums_signature_url, MAX_SIGNATURE_BYTES)
            .await?
            .ok_or_else(|| missing(&package.shasums_signature_url))?;
        let shasums = String::from_utf8(shasums)
            .map_err(|_| unavailable("its SHA256SUMS is not text".into()))?;
        let vouched = rules::vouched_archives(
            &shasums,
            &signature,
            &package.keys,
            &address.kind,
            version,
            &offered.platforms,
        )
        .map_err(unavailable)?;
        let now = clock::now();
        let rows: Vec<MirrorArchive> = vouched
            .into_iter()
            .map(|(os, arch, filename, sha256)| MirrorArchive {
                id: ids::new_id("pma"),
                hostname: address.hostname.clone(),
                namespace: address.namespace.clone(),
                kind: address.kind.clone(),
                version: version.to_string(),
                os,
                arch,
                filename,
                sha256,
                blob_key: None,
                size: None,
                created_at: now,
                cached_at: None,
            })
            .collect();
        self.store.record_mirror_archives(&rows).await?;
        Ok(())
    }

    /// A pulled-through archive (its signed download URL): from the cache, or fetched from
    /// the upstream first and cached if its SHA-256 is the recorded one.
    pub async fn mirror_archive(&self, token: &str) -> DomainResult<(String, BlobStream)> {
        let id = self.redeem(token, ARCHIVE_DOWNLOAD)?;
        let archive = self
            .store
            .mirror_archive_by_id(&id)
            .await?
            .ok_or(DomainError::NotFound("provider archive"))?;
        let key = match &archive.blob_key {
            Some(key) => key.clone(),
            None => self.pull_archive(&archive).await?,
        };
        Ok((archive.filename, self.blobs.read(&key).await?))
    }

    async fn pull_archive(&self, archive: &MirrorArchive) -> DomainResult<String> {
        let address = MirrorAddress {
            hostname: archive.hostname.clone(),
            namespace: archive.namespace.clone(),
            kind: archive.kind.clone(),
        };
        let upstream = self.upstream_for(&address)?;
        let unavailable = |err: String| {
            DomainError::Upstream(format!(
                "cannot fetch {} from the upstream registry of {}: {err}",
                archive.filename, archive.hostname
            ))
        };
        let package = upstream
            .package(&address, &archive.version, &archive.os, &archive.arch)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unavailable("it no longer offers this package".into()))?;
        if !package.shasum.eq_ignore_ascii_case(&archive.sha256) {
            return Err(unavailable(format!(
                "it now names SHA-256 {}, not {} as its signed SHA256SUMS did",
                package.shasum, archive.sha256
            )));
        }
        let fetcher = self
            .fetcher
            .clone()
            .ok_or_else(|| unavailable("this server fetches nothing upstream".into()))?;
        let body = fetcher
            .fetch(&package.download_url)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unavailable(format!("{} answered 404", package.download_url)))?;
        let key = format!(
            "provider-mirror/{}/{}.zip",
            archive.id,
            ids::random_string(16)
        );
        let max = self.settings.max_provider_binary_bytes;
        let stored = self
            .store_hashed(&key, body, max, "the archive", None)
            .await
            .map_err(|e| match e {
                DomainError::Interrupted(detail) | DomainError::TooLarge(detail) => {
                    unavailable(detail)
                }
                other => other,
            })?;
        if stored.sha256 != archive.sha256 {
            self.discard_blob(&key).await;
            let err = unavailable(format!(
                "its SHA-256 is {}, not {} as the signed SHA256SUMS says: not cached",
                stored.sha256, archive.sha256
            ));
            tracing::warn!(error = %err, "provider mirror refused an archive");
            return Err(err);
        }
        let size = i64::try_from(stored.size).unwrap_or(i64::MAX);
        if self
            .store
            .finish_mirror_archive(&archive.id, &key, size, clock::now())
            .await?
        {
            return Ok(key);
        }
        // Another request cached it meanwhile: serve theirs, drop ours.
        self.discard_blob(&key).await;
        self.store
            .mirror_archive_by_id(&archive.id)
            .await?
            .and_then(|a| a.blob_key)
            .ok_or(DomainError::NotFound("provider archive"))
    }
}
