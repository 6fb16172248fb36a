//! The binary cache: terraform and OpenTofu release archives by engine, version and platform,
//! kept in the blob store (encrypted like state) so that runners need no internet. An archive
//! is uploaded by a site administrator or pulled through from the catalogue entry's URL the
//! first time a runner asks for it; either way it is recorded only once it is whole and its
//! SHA-256 is the one the catalogue names for that platform, so a row always stands for a
//! verified blob. Runners get a short-lived signed URL (`/_downloads/tool-archive/<token>`)
//! instead of the upstream URL, and still check the SHA-256 themselves.

use std::io::{Read, Seek};

use bytes::Bytes;
use futures::Stream;
use terrace_storage::blob::BlobStream;
use terrace_storage::model::{
    Engine, Page, PageRequest, ToolArch, ToolArchive, ToolArchiveOrigin, ToolVersion,
};
use terrace_storage::{clock, ids, StorageError};

use super::ToolVersionInput;
use crate::{Caller, DomainError, DomainResult, Services};

/// The most a SHA256SUMS file may hold (OpenTofu's list a few dozen files).
const MAX_SHASUMS_BYTES: usize = 1 << 20;

/// The purpose of a runner's download URL; its resource is `<tool-version-id>/<os>/<arch>`.
pub const ARCHIVE_DOWNLOAD: &str = "tool-archive-download";

/// A cached archive's blob, to stream to a runner.
pub struct ArchiveDownload {
    pub filename: String,
    pub size: u64,
    pub blob: BlobStream,
}

/// The binary inside an engine's release zip (at its top level).
pub fn binary_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Terraform => "terraform",
        Engine::Tofu => "tofu",
    }
}

/// A release archive's name as HashiCorp and OpenTofu publish it.
pub fn release_filename(engine: Engine, version: &str, os: &str, arch: &str) -> String {
    format!("{}_{version}_{os}_{arch}.zip", binary_name(engine))
}

/// Whether the server fetches `url` itself (the runner's own paths stay the runner's).
pub fn is_remote(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// The name a pulled archive keeps: the URL's last segment when it is a plain file name.
pub fn pulled_filename(engine: Engine, version: &str, arch: &ToolArch) -> String {
    let last = arch
        .url
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let plain = !last.is_empty()
        && last.len() <= 128
        && !last.starts_with('.')
        && last
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+'));
    if plain {
        last.to_string()
    } else {
        release_filename(engine, version, &arch.os, &arch.arch)
    }
}

/// `os_arch` of an upload path, split.
pub fn parse_platform(platform: &str) -> Option<(&str, &str)> {
    platform
        .split_once('_')
        .filter(|(os, arch)| !os.is_empty() && !arch.is_empty() && !arch.contains('_'))
}

/// Checks that `archive` is a zip with the engine's binary at its top level.
pub fn check_release_zip(archive: impl Read + Seek, engine: Engine) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(archive)
        .map_err(|_| "the archive is not a zip file (a release archive is)".to_string())?;
    let name = binary_name(engine);
    let found = zip
        .by_name(name)
        .map(|entry| entry.is_file())
        .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(format!("the zip has no file named {name} at its top"))
    }
}

/// Where one release file of an engine's version is under its upstream's `base`: HashiCorp's
/// directory is the version, OpenTofu's (GitHub release tags) a `v` and the version.
pub fn upstream_file_url(engine: Engine, base: &str, version: &str, file: &str) -> String {
    let dir = match engine {
        Engine::Terraform => version.to_string(),
        Engine::Tofu => format!("v{version}"),
    };
    format!("{}/{dir}/{file}", base.trim_end_matches('/'))
}

/// The name of a version's SHA256SUMS file, as both projects publish it.
pub fn shasums_filename(engine: Engine, version: &str) -> String {
    format!("{}_{version}_SHA256SUMS", binary_name(engine))
}

/// The name of the detached OpenPGP signature over a version's SHA256SUMS: HashiCorp's
/// `.sig`, OpenTofu's `.gpgsig` (its `.sig` is cosign's).
pub fn signature_filename(engine: Engine, version: &str) -> String {
    match engine {
        Engine::Terraform => format!("{}.sig", shasums_filename(engine, version)),
        Engine::Tofu => format!("{}.gpgsig", shasums_filename(engine, version)),
    }
}

/// Whether `input` has platforms for the upstream to fill: an arch without a URL, a top-level
/// `url` given empty, or (creating) no binary at all.
pub fn needs_upstream(input: &ToolVersionInput, creating: bool) -> bool {
    input
        .archs
        .as_ref()
        .is_some_and(|archs| archs.iter().any(|a| a.url.is_empty()))
        || input.url.as_deref() == Some("")
        || (creating && input.url.is_none() && input.sha.is_none() && input.archs.is_none())
}

/// Fills `input`'s platforms without a URL from the upstream at `base`: the release zip's
/// URL, and the SHA-256 its SHA256SUMS (`sums`, file name to digest) lists; a SHA-256 given
/// for such a platform must be that one. Creating with no binary at all takes every Linux
/// platform the SHA256SUMS lists. A pure function.
pub fn fill_from_shasums(
    engine: Engine,
    base: &str,
    version: &str,
    input: &mut ToolVersionInput,
    sums: &std::collections::BTreeMap<String, String>,
    creating: bool,
) -> DomainResult<()> {
    let fill = |os: &str, arch: &str, given_sha: &str| -> DomainResult<(String, String)> {
        let file = release_filename(engine, version, os, arch);
        let sha = sums.get(&file).ok_or_else(|| {
            DomainError::invalid(
                "archs",
                format!(
                    "{file} is not in the upstream's {}",
                    shasums_filename(engine, version)
                ),
            )
        })?;
        if !given_sha.is_empty() && !given_sha.eq_ignore_ascii_case(sha) {
            return Err(DomainError::invalid(
                "archs",
                format!("the sha of {os}/{arch} is {given_sha}, but the upstream's SHA256SUMS says {sha}"),
            ));
        }
        Ok((upstream_file_url(engine, base, version, &file), sha.clone()))
    };
    if let Some(archs) = &mut input.archs {
        for a in archs.iter_mut().filter(|a| a.url.is_empty()) {
            (a.url, a.sha) = fill(&a.os, &a.arch, &a.sha)?;
        }
    }
    if input.url.as_deref() == Some("") {
        let (url, sha) = fill("linux", "amd64", input.sha.as_deref().unwrap_or_default())?;
        (input.url, input.sha) = (Some(url), Some(sha));
    }
    if creating && input.url.is_none() && input.sha.is_none() && input.archs.is_none() {
        let archs: Vec<ToolArch> = super::ARCHS
            .iter()
            .filter_map(|arch| {
                fill("linux", arch, "").ok().map(|(url, sha)| ToolArch {
                    url,
                    sha,
                    os: "linux".into(),
                    arch: arch.to_string(),
                })
            })
            .collect();
        if archs.is_empty() {
            return Err(DomainError::invalid(
                "version",
                format!("the upstream's SHA256SUMS of {version} lists no Linux release zip"),
            ));
        }
        input.archs = Some(archs);
    }
    Ok(())
}

/// The capability resource of one platform's binary of a catalogue entry.
fn download_resource(version_id: &str, os: &str, arch: &str) -> String {
    format!("{version_id}/{os}/{arch}")
}

fn platform_of<'a>(version: &'a ToolVersion, os: &str, arch: &str) -> Option<&'a ToolArch> {
    version
        .archs
        .0
        .iter()
        .find(|a| a.os == os && a.arch == arch)
}

/// What an archive's bytes turned out to be.
struct Received {
    key: String,
    sha256: String,
    size: u64,
    /// A copy on local disk, for the checks that need to seek (uploads only).
    copy: Option<std::fs::File>,
}

impl Services {
    /// Fills the platforms of a catalogue create or update that name no URL from the engine's
    /// configured upstream (`--tool-archive-upstream`), with the SHA-256 of its SHA256SUMS.
    /// Without an upstream nothing changes (and the catalogue's own checks refuse the gaps).
    pub(crate) async fn fill_from_upstream(
        &self,
        engine: Engine,
        version: Option<&str>,
        input: &mut ToolVersionInput,
        creating: bool,
    ) -> DomainResult<()> {
        let Some(version) = version.map(|v| v.trim().trim_start_matches('v').to_string()) else {
            return Ok(());
        };
        let base = self
            .settings
            .tool_archive_upstreams
            .iter()
            .find(|(e, _)| *e == engine)
            .map(|(_, base)| base.clone());
        let Some(base) = base.filter(|_| needs_upstream(input, creating)) else {
            return Ok(());
        };
        if super::resolve::Version::parse(&version).is_none() {
            return Ok(()); // apply_input says what is wrong with it
        }
        let url = upstream_file_url(engine, &base, &version, &shasums_filename(engine, &version));
        let text = self
            .fetch_small(&url, MAX_SHASUMS_BYTES)
            .await?
            .ok_or_else(|| {
                DomainError::invalid(
                    "version",
                    format!("the upstream has no {url}: is {version} released?"),
                )
            })?;
        if let Some((_, key)) = self
            .settings
            .tool_archive_upstream_keys
            .iter()
            .find(|(e, _)| *e == engine)
        {
            let sig_url = upstream_file_url(
                engine,
                &base,
                &version,
                &signature_filename(engine, &version),
            );
            let signature = self
                .fetch_small(&sig_url, MAX_SHASUMS_BYTES)
                .await?
                .ok_or_else(|| {
                    DomainError::Upstream(format!(
                        "the upstream has no {sig_url}: {url} cannot be verified"
                    ))
                })?;
            crate::providers::gpg::verify_detached(key, &text, &signature).map_err(|e| {
                DomainError::Upstream(format!(
                    "{url} does not verify with the configured release key ({e}): not using it"
                ))
            })?;
        }
        let failed = |e: &dyn std::fmt::Display| DomainError::Upstream(format!("{url}: {e}"));
        let text = String::from_utf8(text).map_err(|_| failed(&"not text"))?;
        let sums = crate::providers::rules::parse_shasums(&text).map_err(|e| failed(&e))?;
        fill_from_shasums(engine, &base, &version, input, &sums, creating)
    }

    /// The signed path (on this server) of a platform's archive of a catalogue entry.
    pub(crate) fn archive_download_path(&self, version_id: &str, os: &str, arch: &str) -> String {
        let token = self.issue(
            ARCHIVE_DOWNLOAD,
            &download_resource(version_id, os, arch),
            self.settings.upload_url_ttl,
        );
        format!("/_downloads/tool-archive/{token}")
    }

    /// Whether a runner gets `arch`'s binary from this server: it is cached here with the
    /// catalogue's SHA-256, or the server can pull it from an http(s) URL.
    pub(crate) async fn served_here(
        &self,
        version: &ToolVersion,
        arch: &ToolArch,
    ) -> DomainResult<bool> {
        if is_remote(&arch.url) {
            return Ok(true);
        }
        Ok(self
            .store
            .tool_archive(version.engine, &version.version, &arch.os, &arch.arch)
            .await?
            .is_some_and(|a| a.sha256.eq_ignore_ascii_case(&arch.sha)))
    }

    /// A runner's download: the cached archive, pulled through from upstream first if need
    /// be (and kept only if its SHA-256 is the catalogue's).
    pub async fn download_tool_archive(&self, token: &str) -> DomainResult<ArchiveDownload> {
        let resource = self.redeem(token, ARCHIVE_DOWNLOAD)?;
        let mut parts = resource.splitn(3, '/');
        let (Some(id), Some(os), Some(arch)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(DomainError::BadCapability("the URL is malformed".into()));
        };
        let version = self
            .store
            .tool_version_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("tool version"))?;
        let platform = platform_of(&version, os, arch)
            .ok_or(DomainError::NotFound("tool archive"))?
            .clone();
        let archive = self.cached_or_pulled(&version, &platform).await?;
        Ok(ArchiveDownload {
            size: u64::try_from(archive.size).unwrap_or_default(),
            blob: self.blobs.read(&archive.blob_key).await?,
            filename: archive.filename,
        })
    }

    async fn cached_or_pulled(
        &self,
        version: &ToolVersion,
        platform: &ToolArch,
    ) -> DomainResult<ToolArchive> {
        let expected = platform.sha.to_ascii_lowercase();
        let (engine, os, arch) = (version.engine, &platform.os, &platform.arch);
        if let Some(cached) = self
            .store
            .tool_archive(engine, &version.version, os, arch)
            .await?
        {
            if cached.sha256 == expected {
                return Ok(cached);
            }
            // The catalogue's SHA-256 changed since: the old archive is no longer that version.
            self.drop_archive(&cached).await?;
        }
        if !is_remote(&platform.url) {
            return Err(DomainError::NotFound("tool archive"));
        }
        let fetcher = self.fetcher.clone().ok_or_else(|| {
            DomainError::Upstream("this server fetches no release archives".into())
        })?;
        let name = crate::engines::engine_name(engine);
        let what = format!("{name} {} for {os}/{arch}", version.version);
        let body = fetcher
            .fetch(&platform.url)
            .await
            .and_then(|body| body.ok_or_else(|| format!("{} answered 404 Not Found", platform.url)))
            .map_err(|e| DomainError::Upstream(format!("cannot fetch {what} upstream: {e}")))?;
        let received = self
            .receive_archive(engine, &version.version, os, arch, body, false)
            .await
            .map_err(|e| match e {
                DomainError::Interrupted(detail) => {
                    DomainError::Upstream(format!("cannot fetch {what} upstream: {detail}"))
                }
                DomainError::TooLarge(detail) => {
                    DomainError::Upstream(format!("{what} upstream: {detail}"))
                }
                other => other,
            })?;
        if received.sha256 != expected {
            self.discard_blob(&received.key).await;
            tracing::warn!(engine = %engine, version = %version.version, %os, %arch,
                actual = %received.sha256, %expected, "an upstream archive does not match the catalogue");
            return Err(DomainError::Upstream(format!(
                "the upstream archive of {what} has the SHA-256 {}, but the catalogue says \
                 {expected}: not caching it",
                received.sha256
            )));
        }
        let filename = pulled_filename(engine, &version.version, platform);
        match self
            .record_archive(
                version,
                platform,
                received,
                filename,
                ToolArchiveOrigin::Pulled,
            )
            .await
        {
            // Another runner pulled it meanwhile: theirs is the same bytes.
            Err(DomainError::Conflict(_)) => self
                .store
                .tool_archive(engine, &version.version, os, arch)
                .await?
                .ok_or(DomainError::NotFound("tool archive")),
            recorded => recorded,
        }
    }

    /// Streams `body` into a fresh blob, hashing it (and keeping a local copy if asked);
    /// nothing is left behind on an error.
    async fn receive_archive<S, E>(
        &self,
        engine: Engine,
        version: &str,
        os: &str,
        arch: &str,
        body: S,
        keep_copy: bool,
    ) -> DomainResult<Received>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let key = format!(
            "tool-archives/{}/{version}/{os}_{arch}/{}",
            engine.as_str(),
            ids::random_string(16)
        );
        let max = self.settings.max_tool_archive_bytes;
        let mut copy = match keep_copy {
            true => Some(tempfile::tempfile().map_err(StorageError::from)?),
            false => None,
        };
        let mut local = match &copy {
            Some(file) => Some(tokio::fs::File::from_std(
                file.try_clone().map_err(StorageError::from)?,
            )),
            None => None,
        };
        let stored = self
            .store_hashed(&key, body, max, "the archive", local.as_mut())
            .await?;
        if let Some(file) = &mut copy {
            file.rewind().map_err(StorageError::from)?;
        }
        Ok(Received {
            key,
            sha256: stored.sha256,
            size: stored.size,
            copy,
        })
    }

    /// Records a verified blob; a twin recorded first is a `Conflict` (and this blob is
    /// deleted).
    async fn record_archive(
        &self,
        version: &ToolVersion,
        platform: &ToolArch,
        received: Received,
        filename: String,
        origin: ToolArchiveOrigin,
    ) -> DomainResult<ToolArchive> {
        let archive = ToolArchive {
            id: ids::new_id(ids::TOOL_ARCHIVE),
            engine: version.engine,
            version: version.version.clone(),
            os: platform.os.clone(),
            arch: platform.arch.clone(),
            filename,
            sha256: received.sha256,
            size: i64::try_from(received.size).unwrap_or(i64::MAX),
            origin,
            blob_key: received.key,
            created_at: clock::now(),
        };
        match self.store.create_tool_archive(&archive).await {
            Ok(()) => Ok(archive),
            Err(err) => {
                self.discard_blob(&archive.blob_key).await;
                Err(match err {
                    StorageError::Conflict(_) => DomainError::Conflict(format!(
                        "{} {} for {}/{} is cached already: delete it first to replace it",
                        crate::engines::engine_name(archive.engine),
                        archive.version,
                        archive.os,
                        archive.arch
                    )),
                    other => other.into(),
                })
            }
        }
    }

    async fn drop_archive(&self, archive: &ToolArchive) -> DomainResult<()> {
        if self.store.delete_tool_archive(&archive.id).await? {
            self.discard_blob(&archive.blob_key).await;
        }
        Ok(())
    }

    // ---- The admin API --------------------------------------------------------------

    /// Stores a site administrator's release zip for a catalogue entry's platform: it must
    /// be a zip with the engine's binary at its top, with the SHA-256 the catalogue names.
    pub async fn admin_upload_tool_archive<S, E>(
        &self,
        caller: &Caller,
        engine: Engine,
        version: &str,
        platform: &str,
        body: S,
    ) -> DomainResult<ToolArchive>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        self.site_admin(caller)?;
        let name = crate::engines::engine_name(engine);
        let entry = self
            .store
            .all_tool_versions(engine)
            .await?
            .into_iter()
            .find(|v| v.version == version.trim_start_matches('v'))
            .ok_or(DomainError::NotFound("tool version"))?;
        let (os, arch) = parse_platform(platform).ok_or_else(|| {
            DomainError::bad_request(format!(
                "\"{platform}\" is not a platform: use OS_ARCH, like linux_amd64"
            ))
        })?;
        let expected = platform_of(&entry, os, arch)
            .ok_or_else(|| {
                DomainError::bad_request(format!(
                    "the catalogue lists no {os}/{arch} binary for {name} {}: add it to the \
                     version's archs first",
                    entry.version
                ))
            })?
            .clone();
        let received = self
            .receive_archive(engine, &entry.version, os, arch, body, true)
            .await?;
        let sha = expected.sha.to_ascii_lowercase();
        let checked = if received.sha256 != sha {
            Err(DomainError::bad_request(format!(
                "the archive's SHA-256 is {}, but the catalogue says {sha} for {name} {} on \
                 {os}/{arch}",
                received.sha256, entry.version
            )))
        } else {
            let file = received
                .copy
                .as_ref()
                .and_then(|f| f.try_clone().ok())
                .ok_or_else(|| {
                    StorageError::Io(std::io::Error::other("the upload's copy is gone"))
                })?;
            tokio::task::spawn_blocking(move || check_release_zip(file, engine))
                .await
                .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
                .map_err(DomainError::bad_request)
        };
        if let Err(err) = checked {
            self.discard_blob(&received.key).await;
            return Err(err);
        }
        let filename = release_filename(engine, &entry.version, os, arch);
        self.record_archive(
            &entry,
            &expected,
            received,
            filename,
            ToolArchiveOrigin::Uploaded,
        )
        .await
    }

    pub async fn admin_list_tool_archives(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> DomainResult<Page<ToolArchive>> {
        self.site_admin(caller)?;
        Ok(self.store.list_tool_archives(page).await?)
    }

    pub async fn admin_delete_tool_archive(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        self.site_admin(caller)?;
        let archive = self
            .store
            .tool_archive_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("tool archive"))?;
        self.drop_archive(&archive).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn zipped(name: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"#!/bin/sh\n").unwrap();
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_release_zip_has_its_binary_at_the_top() {
        assert!(check_release_zip(Cursor::new(zipped("terraform")), Engine::Terraform).is_ok());
        assert!(check_release_zip(Cursor::new(zipped("tofu")), Engine::Tofu).is_ok());
        let err = check_release_zip(Cursor::new(zipped("tofu")), Engine::Terraform).unwrap_err();
        assert!(err.contains("no file named terraform"), "{err}");
        let err =
            check_release_zip(Cursor::new(zipped("bin/terraform")), Engine::Terraform).unwrap_err();
        assert!(err.contains("no file named terraform"), "{err}");
        let err =
            check_release_zip(Cursor::new(b"#!/bin/sh\n".to_vec()), Engine::Terraform).unwrap_err();
        assert!(err.contains("not a zip"), "{err}");
    }

    const SHA_A: &str = "5d5b09f6dcb2d53a5fffc60c4ac0d55fabdf556069d6631545f42aa6e3500f2e";
    const SHA_B: &str = "1111111111111111111111111111111111111111111111111111111111111111";

    fn sums(engine: Engine, version: &str) -> std::collections::BTreeMap<String, String> {
        [
            (release_filename(engine, version, "linux", "amd64"), SHA_A),
            (release_filename(engine, version, "linux", "arm64"), SHA_B),
            (release_filename(engine, version, "darwin", "arm64"), SHA_B),
        ]
        .into_iter()
        .map(|(f, s)| (f, s.to_string()))
        .collect()
    }

    #[test]
    fn signatures_follow_each_project() {
        assert_eq!(
            signature_filename(Engine::Terraform, "1.5.7"),
            "terraform_1.5.7_SHA256SUMS.sig"
        );
        assert_eq!(
            signature_filename(Engine::Tofu, "1.12.6"),
            "tofu_1.12.6_SHA256SUMS.gpgsig"
        );
    }

    #[test]
    fn upstream_urls_follow_each_project() {
        assert_eq!(
            upstream_file_url(
                Engine::Terraform,
                "https://releases.hashicorp.com/terraform/",
                "1.5.7",
                &shasums_filename(Engine::Terraform, "1.5.7")
            ),
            "https://releases.hashicorp.com/terraform/1.5.7/terraform_1.5.7_SHA256SUMS"
        );
        assert_eq!(
            upstream_file_url(
                Engine::Tofu,
                "https://github.com/opentofu/opentofu/releases/download",
                "1.12.6",
                &release_filename(Engine::Tofu, "1.12.6", "linux", "amd64")
            ),
            "https://github.com/opentofu/opentofu/releases/download/v1.12.6/tofu_1.12.6_linux_amd64.zip"
        );
    }

    #[test]
    fn platforms_without_a_url_are_filled_from_shasums() {
        let base = "https://up.example";
        // Creating with no binary: every Linux platform listed.
        let mut input = ToolVersionInput {
            version: Some("1.5.7".into()),
            ..Default::default()
        };
        assert!(needs_upstream(&input, true));
        assert!(!needs_upstream(&input, false));
        fill_from_shasums(
            Engine::Terraform,
            base,
            "1.5.7",
            &mut input,
            &sums(Engine::Terraform, "1.5.7"),
            true,
        )
        .unwrap();
        let archs = input.archs.unwrap();
        assert_eq!(archs.len(), 2);
        assert_eq!(archs[0].arch, "amd64");
        assert_eq!(archs[0].sha, SHA_A);
        assert_eq!(
            archs[0].url,
            "https://up.example/1.5.7/terraform_1.5.7_linux_amd64.zip"
        );
        assert_eq!(archs[1].arch, "arm64");
        assert_eq!(archs[1].sha, SHA_B);

        // An arch without a URL; a given sha must be the listed one.
        let arch = |sha: &str| ToolArch {
            url: String::new(),
            sha: sha.into(),
            os: "linux".into(),
            arch: "arm64".into(),
        };
        let mut input = ToolVersionInput {
            archs: Some(vec![arch("")]),
            ..Default::default()
        };
        assert!(needs_upstream(&input, false));
        fill_from_shasums(
            Engine::Tofu,
            base,
            "1.12.6",
            &mut input,
            &sums(Engine::Tofu, "1.12.6"),
            false,
        )
        .unwrap();
        assert_eq!(
            input.archs.as_ref().unwrap()[0].url,
            "https://up.example/v1.12.6/tofu_1.12.6_linux_arm64.zip"
        );
        let mut input = ToolVersionInput {
            archs: Some(vec![arch(SHA_A)]),
            ..Default::default()
        };
        let err = fill_from_shasums(
            Engine::Tofu,
            base,
            "1.12.6",
            &mut input,
            &sums(Engine::Tofu, "1.12.6"),
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains("SHA256SUMS says"), "{err}");
        // A platform the SHA256SUMS does not list.
        let mut input = ToolVersionInput {
            url: Some(String::new()),
            ..Default::default()
        };
        let err = fill_from_shasums(
            Engine::Tofu,
            base,
            "1.12.6",
            &mut input,
            &Default::default(),
            false,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("is not in the upstream's tofu_1.12.6_SHA256SUMS"),
            "{err}"
        );
        // Given URLs are left alone.
        let mut input = ToolVersionInput {
            url: Some("https://mirror.example/tf.zip".into()),
            sha: Some(SHA_B.into()),
            ..Default::default()
        };
        assert!(!needs_upstream(&input, true));
        fill_from_shasums(
            Engine::Terraform,
            base,
            "1.5.7",
            &mut input,
            &Default::default(),
            true,
        )
        .unwrap();
        assert_eq!(input.url.as_deref(), Some("https://mirror.example/tf.zip"));
    }

    #[test]
    fn platforms_and_names() {
        assert_eq!(parse_platform("linux_amd64"), Some(("linux", "amd64")));
        assert_eq!(parse_platform("linux"), None);
        assert_eq!(parse_platform("_amd64"), None);
        assert_eq!(parse_platform("linux_amd64_x"), None);
        assert_eq!(
            release_filename(Engine::Tofu, "1.12.6", "linux", "arm64"),
            "tofu_1.12.6_linux_arm64.zip"
        );
        let arch = |url: &str| ToolArch {
            url: url.into(),
            sha: String::new(),
            os: "linux".into(),
            arch: "amd64".into(),
        };
        assert_eq!(
            pulled_filename(
                Engine::Terraform,
                "1.5.7",
                &arch("https://releases.hashicorp.com/terraform/1.5.7/terraform_1.5.7_linux_amd64.zip?x=1")
            ),
            "terraform_1.5.7_linux_amd64.zip"
        );
        assert_eq!(
            pulled_filename(Engine::Terraform, "1.5.7", &arch("https://example.com/")),
            "terraform_1.5.7_linux_amd64.zip"
        );
        assert!(is_remote("https://example.com/tf.zip"));
        assert!(!is_remote("file:///opt/tf.zip"));
        assert!(!is_remote("/opt/terraform"));
    }
}
