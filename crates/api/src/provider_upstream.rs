//! The registries the provider mirror pulls through from, over HTTP: the provider registry
//! protocol (service discovery, `versions`, `download`) of the registry the site configured
//! for each host. Nothing here decides what to trust: the domain verifies what comes back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use serde::Deserialize;
use terrace_domain::mirror::{MirrorAddress, ProviderUpstream, UpstreamPackage, UpstreamVersion};
use url::Url;

/// The registries pulled through from when none are configured.
const DEFAULT_UPSTREAMS: &[&str] = &["registry.terraform.io", "registry.opentofu.org"];

/// How long a registry's service discovery answer is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// The registry serving one host's providers: discovery happens at `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub hostname: String,
    pub base: Url,
}

/// `--provider-mirror-upstream` values: `HOST`, `HOST=URL`, or `none` alone; unset means the
/// public registries.
pub fn parse_upstreams(values: Option<Vec<String>>) -> Result<Vec<Upstream>> {
    let values: Vec<String> = match values {
        None => DEFAULT_UPSTREAMS.iter().map(|h| h.to_string()).collect(),
        Some(v) => v.into_iter().map(|s| s.trim().to_string()).collect(),
    };
    if values.iter().any(|v| v == "none") {
        if values.len() > 1 {
            bail!("`none` cannot be combined with upstreams");
        }
        return Ok(Vec::new());
    }
    let mut upstreams: Vec<Upstream> = Vec::new();
    for value in values.into_iter().filter(|v| !v.is_empty()) {
        let (host, base) = match value.split_once('=') {
            Some((host, url)) => (host.trim(), url.trim().to_string()),
            None => (value.as_str(), format!("https://{value}/")),
        };
        let hostname = host.to_ascii_lowercase();
        if MirrorAddress::parse(&hostname, "x", "x").is_none() {
            bail!("{host:?} is not a registry hostname (like registry.terraform.io)");
        }
        let base = Url::parse(&base).with_context(|| format!("{base:?} is not a URL"))?;
        if !matches!(base.scheme(), "https" | "http") {
            bail!("{base} is not an http(s) URL");
        }
        if upstreams.iter().any(|u| u.hostname == hostname) {
            bail!("{hostname} is named twice");
        }
        upstreams.push(Upstream { hostname, base });
    }
    Ok(upstreams)
}

pub struct HttpUpstreams {
    upstreams: Vec<Upstream>,
    http: reqwest::Client,
    /// Each host's `providers.v1` base, from discovery.
    discovered: Mutex<HashMap<String, (Url, Instant)>>,
}

#[derive(Deserialize)]
struct Discovery {
    #[serde(rename = "providers.v1")]
    providers: Option<String>,
}

#[derive(Deserialize)]
struct VersionsDoc {
    versions: Vec<VersionDoc>,
}

#[derive(Deserialize)]
struct VersionDoc {
    version: String,
    #[serde(default)]
    platforms: Vec<PlatformDoc>,
}

#[derive(Deserialize)]
struct PlatformDoc {
    os: String,
    arch: String,
}

#[derive(Deserialize)]
struct DownloadDoc {
    filename: String,
    download_url: String,
    shasum: String,
    shasums_url: String,
    shasums_signature_url: String,
    signing_keys: SigningKeysDoc,
}

#[derive(Deserialize)]
struct SigningKeysDoc {
    #[serde(default)]
    gpg_public_keys: Vec<KeyDoc>,
}

#[derive(Deserialize)]
struct KeyDoc {
    ascii_armor: String,
}

impl HttpUpstreams {
    pub fn new(upstreams: Vec<Upstream>) -> Result<HttpUpstreams> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("terrace/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(terrace_runner_listener::trust::client_config(Vec::new())?)
            .build()?;
        Ok(HttpUpstreams {
            upstreams,
            http,
            discovered: Mutex::new(HashMap::new()),
        })
    }

    /// The `providers.v1` base URL of the registry serving `hostname`.
    async fn providers_base(&self, hostname: &str) -> Result<Url, String> {
        if let Some((url, at)) = self.discovered.lock().expect("lock").get(hostname) {
            if at.elapsed() < DISCOVERY_TTL {
                return Ok(url.clone());
            }
        }
        let upstream = self
            .upstreams
            .iter()
            .find(|u| u.hostname == hostname)
            .ok_or_else(|| format!("no upstream serves {hostname}"))?;
        let discovery = upstream
            .base
            .join(".well-known/terraform.json")
            .map_err(|e| e.to_string())?;
        let doc: Discovery = self
            .get(&discovery)
            .await?
            .ok_or_else(|| format!("{discovery} is not a registry (404)"))?
            .json()
            .await
            .map_err(|e| format!("{discovery}: {e}"))?;
        let providers = doc
            .providers
            .ok_or_else(|| format!("{discovery} offers no providers.v1"))?;
        let base = discovery
            .join(&providers)
            .map_err(|e| format!("{discovery}: providers.v1 {providers:?}: {e}"))?;
        self.discovered
            .lock()
            .expect("lock")
            .insert(hostname.to_string(), (base.clone(), Instant::now()));
        Ok(base)
    }

    /// GET `url`: the response when successful, `None` on 404.
    async fn get(&self, url: &Url) -> Result<Option<reqwest::Response>, String> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        match response.status() {
            reqwest::StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => Ok(Some(response)),
            status => Err(format!("{url} answered {status}")),
        }
    }

    fn endpoint(base: &Url, path: &str) -> Result<Url, String> {
        base.join(path).map_err(|e| format!("{base}{path}: {e}"))
    }
}

#[async_trait]
impl ProviderUpstream for HttpUpstreams {
    fn serves(&self, hostname: &str) -> bool {
        self.upstreams.iter().any(|u| u.hostname == hostname)
    }

    async fn versions(
        &self,
        address: &MirrorAddress,
    ) -> Result<Option<Vec<UpstreamVersion>>, String> {
        let base = self.providers_base(&address.hostname).await?;
        let url = Self::endpoint(
            &base,
            &format!("{}/{}/versions", address.namespace, address.kind),
        )?;
        let Some(response) = self.get(&url).await? else {
            return Ok(None);
        };
        let doc: VersionsDoc = response.json().await.map_err(|e| format!("{url}: {e}"))?;
        Ok(Some(
            doc.versions
                .into_iter()
                .map(|v| UpstreamVersion {
                    version: v.version,
                    platforms: v.platforms.into_iter().map(|p| (p.os, p.arch)).collect(),
                })
                .collect(),
        ))
    }

    async fn package(
        &self,
        address: &MirrorAddress,
        version: &str,
        os: &str,
        arch: &str,
    ) -> Result<Option<UpstreamPackage>, String> {
        let base = self.providers_base(&address.hostname).await?;
        let url = Self::endpoint(
            &base,
            &format!(
                "{}/{}/{version}/download/{os}/{arch}",
                address.namespace, address.kind
            ),
        )?;
        let Some(response) = self.get(&url).await? else {
            return Ok(None);
        };
        let doc: DownloadDoc = response.json().await.map_err(|e| format!("{url}: {e}"))?;
        // The protocol allows URLs relative to the download endpoint.
        let absolute = |u: &str| Self::endpoint(&url, u).map(String::from);
        Ok(Some(UpstreamPackage {
            filename: doc.filename,
            download_url: absolute(&doc.download_url)?,
            shasum: doc.shasum,
            shasums_url: absolute(&doc.shasums_url)?,
            shasums_signature_url: absolute(&doc.shasums_signature_url)?,
            keys: doc
                .signing_keys
                .gpg_public_keys
                .into_iter()
                .map(|k| k.ascii_armor)
                .collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_registries_unless_told_otherwise() {
        let hosts = |v| {
            parse_upstreams(v)
                .unwrap()
                .into_iter()
                .map(|u| (u.hostname, u.base.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            hosts(None),
            [
                (
                    "registry.terraform.io".to_string(),
                    "https://registry.terraform.io/".to_string()
                ),
                (
                    "registry.opentofu.org".to_string(),
                    "https://registry.opentofu.org/".to_string()
                )
            ]
        );
        assert!(hosts(Some(vec!["none".into()])).is_empty());
        assert_eq!(
            hosts(Some(vec![
                "Registry.Terraform.io=http://127.0.0.1:9000/".into()
            ])),
            [(
                "registry.terraform.io".to_string(),
                "http://127.0.0.1:9000/".to_string()
            )]
        );
    }

    #[test]
    fn bad_upstreams_are_refused() {
        for bad in [
            vec!["none".to_string(), "registry.terraform.io".to_string()],
            vec!["localhost".to_string()],
            vec!["example.com=ftp://example.com/".to_string()],
            vec!["example.com=not a url".to_string()],
            vec!["example.com".to_string(), "EXAMPLE.com".to_string()],
        ] {
            assert!(parse_upstreams(Some(bad.clone())).is_err(), "{bad:?}");
        }
    }
}
