//! Engines and their versions: the site's catalogue (TFE's admin terraform-versions, and the
//! same for OpenTofu), which site administrators keep, and what a workspace's version means
//! in it ([`resolve`]). With an empty catalogue for an engine nothing is checked and runs use
//! the runner's own binary; once it has entries, workspaces must ask for an enabled version
//! and the runner fetches the binary the entry names.

pub mod archives;
pub mod resolve;

use terrace_storage::model::{Engine, JsonText, Page, PageRequest, ToolArch, ToolVersion};
use terrace_storage::store::ToolVersionFilter;
use terrace_storage::{clock, ids, StorageError};

use crate::{Caller, DomainError, DomainResult, Services};
pub use resolve::Unavailable;

/// The platforms an entry may list (TFE's): Linux on these architectures.
pub(crate) const ARCHS: &[&str] = &["amd64", "arm64", "s390x"];

/// A catalogue entry with the number of workspaces asking for it.
#[derive(Debug, Clone)]
pub struct ToolVersionView {
    pub version: ToolVersion,
    pub usage: u64,
}

/// What a create or update sets; `None` leaves an attribute as it is (or at its default).
#[derive(Debug, Clone, Default)]
pub struct ToolVersionInput {
    pub version: Option<String>,
    /// The linux/amd64 binary (TFE's top-level `url` and `sha`).
    pub url: Option<String>,
    pub sha: Option<String>,
    pub official: Option<bool>,
    pub enabled: Option<bool>,
    pub beta: Option<bool>,
    pub deprecated: Option<bool>,
    pub deprecated_reason: Option<String>,
    pub archs: Option<Vec<ToolArch>>,
}

/// The top-level `url` and `sha` of an entry: its linux/amd64 binary's, empty without one.
pub fn amd64(version: &ToolVersion) -> (String, String) {
    version
        .archs
        .0
        .iter()
        .find(|a| a.os == "linux" && a.arch == "amd64")
        .map(|a| (a.url.clone(), a.sha.clone()))
        .unwrap_or_default()
}

/// Applies `input` to `entry` (fresh for a create), with TFE's rules: `archs`, when given,
/// replace the platforms (a top-level url and sha add linux/amd64 if they lack it); a
/// top-level url or sha alone replaces them with that one linux/amd64 binary. A pure function.
pub fn apply_input(
    entry: &mut ToolVersion,
    input: ToolVersionInput,
    creating: bool,
) -> DomainResult<()> {
    if let Some(version) = input.version {
        if resolve::Version::parse(&version).is_none() {
            return Err(DomainError::invalid(
                "version",
                format!("\"{version}\" is not a version: use MAJOR.MINOR.PATCH, like 1.11.4"),
            ));
        }
        entry.version = version.trim().trim_start_matches('v').to_string();
    } else if creating {
        return Err(DomainError::invalid("version", "a version is required"));
    }
    let (old_url, old_sha) = amd64(entry);
    let top_level = input.url.is_some() || input.sha.is_some();
    let top = || ToolArch {
        url: input.url.clone().unwrap_or(old_url.clone()),
        sha: input.sha.clone().unwrap_or(old_sha.clone()),
        os: "linux".into(),
        arch: "amd64".into(),
    };
    match input.archs {
        Some(mut archs) => {
            if top_level && !archs.iter().any(|a| a.os == "linux" && a.arch == "amd64") {
                archs.insert(0, top());
            }
            entry.archs = JsonText(archs);
        }
        None if top_level => entry.archs = JsonText(vec![top()]),
        None => {}
    }
    if entry.archs.0.is_empty() {
        return Err(DomainError::invalid(
            "archs",
            "a version needs a url and sha, or archs",
        ));
    }
    for (i, arch) in entry.archs.0.iter().enumerate() {
        check_arch(arch).map_err(|detail| DomainError::Invalid {
            pointer: Some(format!("/data/attributes/archs/{i}")),
            detail,
        })?;
    }
    let mut seen = std::collections::BTreeSet::new();
    if !entry.archs.0.iter().all(|a| seen.insert(&a.arch)) {
        return Err(DomainError::invalid("archs", "each architecture once"));
    }
    macro_rules! set {
        ($($field:ident),*) => { $(if let Some(v) = input.$field { entry.$field = v; })* };
    }
    set!(official, enabled, beta, deprecated);
    if input.deprecated_reason.is_some() {
        entry.deprecated_reason = input.deprecated_reason;
    }
    if !entry.deprecated {
        // A reason belongs to a deprecation only (clients read it that way).
        entry.deprecated_reason = None;
    }
    Ok(())
}

fn check_arch(arch: &ToolArch) -> Result<(), String> {
    if arch.os != "linux" || !ARCHS.contains(&arch.arch.as_str()) {
        return Err(format!(
            "{}/{} is not a supported platform: linux with {}",
            arch.os,
            arch.arch,
            ARCHS.join(", ")
        ));
    }
    if !(arch.sha.len() == 64 && arch.sha.chars().all(|c| c.is_ascii_hexdigit())) {
        return Err("sha must be the binary's SHA-256, 64 hexadecimal digits".into());
    }
    let url = arch.url.as_str();
    let scheme_ok = url.starts_with("https://")
        || url.starts_with("http://")
        || url.starts_with("file:///")
        || url.starts_with('/');
    if !scheme_ok || url.chars().any(char::is_whitespace) {
        return Err(format!(
            "\"{url}\" is not a URL the runner can fetch: use http(s)://, file:///... or an absolute path"
        ));
    }
    Ok(())
}

/// The refusal of a workspace version the catalogue does not allow.
pub fn unavailable_message(engine: Engine, requested: &str, refusal: &Unavailable) -> String {
    let name = engine_name(engine);
    if refusal.allowed.is_empty() {
        format!("{name} {requested} is not available: no {name} version is enabled on this server")
    } else {
        format!(
            "{name} {requested} is not available on this server; the available versions are: {}",
            refusal.allowed.join(", ")
        )
    }
}

pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Terraform => "Terraform",
        Engine::Tofu => "OpenTofu",
    }
}

/// The engine of the client that sent a request, by its User-Agent: OpenTofu announces itself
/// as `OpenTofu/<version>` (terraform as `Terraform/<version>`, go-tfe as `go-tfe`).
pub fn engine_of_client(user_agent: Option<&str>) -> Engine {
    match user_agent {
        Some(agent) if agent.trim_start().starts_with("OpenTofu/") => Engine::Tofu,
        _ => Engine::Terraform,
    }
}

impl Services {
    /// Refuses (404) anyone but a site administrator, before a request body is read.
    pub fn admin_catalogue(&self, caller: &Caller) -> DomainResult<()> {
        self.site_admin(caller).map(|_| ())
    }

    pub async fn admin_list_tool_versions(
        &self,
        caller: &Caller,
        engine: Engine,
        filter: &ToolVersionFilter,
        page: PageRequest,
    ) -> DomainResult<Page<ToolVersionView>> {
        self.site_admin(caller)?;
        let found = self.store.list_tool_versions(engine, filter, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for version in found.items {
            items.push(self.tool_version_view(version).await?);
        }
        Ok(Page {
            items,
            total: found.total,
        })
    }

    pub async fn admin_tool_version(
        &self,
        caller: &Caller,
        engine: Engine,
        id: &str,
    ) -> DomainResult<ToolVersionView> {
        self.site_admin(caller)?;
        let version = self.existing_tool_version(engine, id).await?;
        self.tool_version_view(version).await
    }

    pub async fn admin_create_tool_version(
        &self,
        caller: &Caller,
        engine: Engine,
        input: ToolVersionInput,
    ) -> DomainResult<ToolVersionView> {
        self.site_admin(caller)?;
        let mut input = input;
        let version = input.version.clone();
        self.fill_from_upstream(engine, version.as_deref(), &mut input, true)
            .await?;
        self.add_tool_version(engine, input).await
    }

    /// Adds a version to the catalogue (the admin API, and `terrace admin tool-version add`).
    pub async fn add_tool_version(
        &self,
        engine: Engine,
        input: ToolVersionInput,
    ) -> DomainResult<ToolVersionView> {
        let mut version = ToolVersion {
            id: ids::new_id(ids::TOOL_VERSION),
            engine,
            version: String::new(),
            official: false,
            enabled: true,
            beta: false,
            deprecated: false,
            deprecated_reason: None,
            archs: JsonText(Vec::new()),
            created_at: clock::now(),
        };
        apply_input(&mut version, input, true)?;
        self.store
            .create_tool_version(&version)
            .await
            .map_err(|e| taken(e, &version))?;
        self.tool_version_view(version).await
    }

    pub async fn admin_update_tool_version(
        &self,
        caller: &Caller,
        engine: Engine,
        id: &str,
        input: ToolVersionInput,
    ) -> DomainResult<ToolVersionView> {
        self.site_admin(caller)?;
        let mut version = self.existing_tool_version(engine, id).await?;
        let mut input = input;
        let named = input.version.clone().unwrap_or(version.version.clone());
        self.fill_from_upstream(engine, Some(&named), &mut input, false)
            .await?;
        apply_input(&mut version, input, false)?;
        self.store
            .update_tool_version(&version)
            .await
            .map_err(|e| taken(e, &version))?;
        self.tool_version_view(version).await
    }

    /// Deletes an entry, unless it is official or workspaces ask for it (as TFE refuses).
    pub async fn admin_delete_tool_version(
        &self,
        caller: &Caller,
        engine: Engine,
        id: &str,
    ) -> DomainResult<()> {
        self.site_admin(caller)?;
        let view = self
            .tool_version_view(self.existing_tool_version(engine, id).await?)
            .await?;
        let v = &view.version;
        if v.official {
            return Err(DomainError::bad_request(format!(
                "{} is an official version: disable it instead of deleting it",
                v.version
            )));
        }
        if view.usage > 0 {
            return Err(DomainError::bad_request(format!(
                "{} is used by {} workspace(s): move them to another version first",
                v.version, view.usage
            )));
        }
        self.store.delete_tool_version(id).await?;
        Ok(())
    }

    /// What `requested` resolves to in the engine's catalogue (`Ok(None)`: empty catalogue).
    pub async fn resolve_tool_version(
        &self,
        engine: Engine,
        requested: &str,
    ) -> DomainResult<Result<Option<ToolVersion>, Unavailable>> {
        let catalogue = self.store.all_tool_versions(engine).await?;
        Ok(resolve::resolve(requested, &catalogue).map(|v| v.cloned()))
    }

    /// The version a new workspace of the engine gets.
    pub(crate) async fn default_tool_version(&self, engine: Engine) -> DomainResult<String> {
        let catalogue = self.store.all_tool_versions(engine).await?;
        Ok(resolve::default_version(&catalogue))
    }

    /// Refuses a workspace version the engine's catalogue does not allow (422 naming the
    /// versions that it does).
    pub(crate) async fn check_workspace_version(
        &self,
        engine: Engine,
        requested: &str,
    ) -> DomainResult<()> {
        match self.resolve_tool_version(engine, requested).await? {
            Ok(_) => Ok(()),
            Err(refusal) => Err(DomainError::invalid(
                "terraform-version",
                unavailable_message(engine, requested, &refusal),
            )),
        }
    }

    async fn existing_tool_version(&self, engine: Engine, id: &str) -> DomainResult<ToolVersion> {
        match self.store.tool_version_by_id(id).await? {
            Some(v) if v.engine == engine => Ok(v),
            _ => Err(DomainError::NotFound("version")),
        }
    }

    async fn tool_version_view(&self, version: ToolVersion) -> DomainResult<ToolVersionView> {
        let usage = self
            .store
            .tool_version_usage(version.engine, &version.version)
            .await?;
        Ok(ToolVersionView { version, usage })
    }
}

fn taken(err: StorageError, version: &ToolVersion) -> DomainError {
    match err {
        StorageError::Conflict(_) => DomainError::invalid(
            "version",
            format!("version {} exists already", version.version),
        ),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "5d5b09f6dcb2d53a5fffc60c4ac0d55fabdf556069d6631545f42aa6e3500f2e";

    fn fresh() -> ToolVersion {
        ToolVersion {
            id: "tool-1".into(),
            engine: Engine::Terraform,
            version: String::new(),
            official: false,
            enabled: true,
            beta: false,
            deprecated: false,
            deprecated_reason: None,
            archs: JsonText(Vec::new()),
            created_at: clock::now(),
        }
    }

    fn arch(arch: &str, url: &str) -> ToolArch {
        ToolArch {
            url: url.into(),
            sha: SHA.into(),
            os: "linux".into(),
            arch: arch.into(),
        }
    }

    #[test]
    fn top_level_url_and_sha_are_the_amd64_binary() {
        let mut v = fresh();
        let input = ToolVersionInput {
            version: Some("1.5.7".into()),
            url: Some("https://example.com/tf.zip".into()),
            sha: Some(SHA.into()),
            ..Default::default()
        };
        apply_input(&mut v, input, true).unwrap();
        assert_eq!(v.archs.0, vec![arch("amd64", "https://example.com/tf.zip")]);
        // Archs alone replace the platforms: no amd64 left, no top-level url.
        let input = ToolVersionInput {
            archs: Some(vec![arch("arm64", "/opt/tf")]),
            ..Default::default()
        };
        apply_input(&mut v, input, false).unwrap();
        assert_eq!(amd64(&v), (String::new(), String::new()));
        // A top-level url replaces them with one amd64 binary.
        let input = ToolVersionInput {
            url: Some("file:///opt/tf.zip".into()),
            sha: Some(SHA.into()),
            ..Default::default()
        };
        apply_input(&mut v, input, false).unwrap();
        assert_eq!(v.archs.0, vec![arch("amd64", "file:///opt/tf.zip")]);
    }

    #[test]
    fn bad_input_is_refused() {
        let cases = [
            ToolVersionInput::default(),
            ToolVersionInput {
                version: Some("1.5".into()),
                url: Some("/opt/tf".into()),
                sha: Some(SHA.into()),
                ..Default::default()
            },
            ToolVersionInput {
                version: Some("1.5.7".into()),
                ..Default::default()
            },
            ToolVersionInput {
                version: Some("1.5.7".into()),
                url: Some("/opt/tf".into()),
                sha: Some("abc".into()),
                ..Default::default()
            },
            ToolVersionInput {
                version: Some("1.5.7".into()),
                url: Some("ftp://example.com/tf".into()),
                sha: Some(SHA.into()),
                ..Default::default()
            },
            ToolVersionInput {
                version: Some("1.5.7".into()),
                archs: Some(vec![ToolArch {
                    os: "windows".into(),
                    ..arch("amd64", "/opt/tf")
                }]),
                ..Default::default()
            },
        ];
        for input in cases {
            assert!(
                apply_input(&mut fresh(), input.clone(), true).is_err(),
                "{input:?}"
            );
        }
    }

    #[test]
    fn opentofu_clients_create_tofu_workspaces() {
        assert_eq!(
            engine_of_client(Some("OpenTofu/1.12.6 (+https://www.opentofu.org)")),
            Engine::Tofu
        );
        assert_eq!(engine_of_client(Some("Terraform/1.5.7")), Engine::Terraform);
        assert_eq!(engine_of_client(Some("go-tfe")), Engine::Terraform);
        assert_eq!(engine_of_client(None), Engine::Terraform);
    }

    #[test]
    fn a_reason_goes_with_its_deprecation() {
        let mut v = fresh();
        let input = ToolVersionInput {
            version: Some("1.5.7".into()),
            url: Some("/opt/tf".into()),
            sha: Some(SHA.into()),
            deprecated: Some(true),
            deprecated_reason: Some("old".into()),
            ..Default::default()
        };
        apply_input(&mut v, input, true).unwrap();
        assert_eq!(v.deprecated_reason.as_deref(), Some("old"));
        let input = ToolVersionInput {
            deprecated: Some(false),
            ..Default::default()
        };
        apply_input(&mut v, input, false).unwrap();
        assert_eq!(v.deprecated_reason, None);
    }
}
