//! The binaries of catalogue versions: fetched once per node from the URL the server names
//! (http(s), `file://` or an absolute path; a release zip with the binary inside, or the bare
//! binary), checked against the catalogue's SHA-256 before anything of it runs, and cached
//! under `<cache>/<engine>/<version>-<sha>/`. A cache entry appears whole or not at all: it
//! is prepared in a temporary directory beside it and renamed into place, so concurrent jobs
//! (and a crash mid-download) never see half a binary.

use std::io::Read;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use sha2::{Digest, Sha256};
use terrace_protocol::{ToolBinary, ToolSource};
use tokio::io::AsyncWriteExt;

/// The binary's name inside a release and in the cache.
pub(crate) fn binary_name(engine: &str) -> &'static str {
    match engine {
        "tofu" => "tofu",
        _ => "terraform",
    }
}

/// What a log calls the engine.
pub(crate) fn display_name(engine: &str) -> &'static str {
    match engine {
        "tofu" => "OpenTofu",
        _ => "Terraform",
    }
}

/// This node's platform as the catalogue names it.
pub(crate) fn platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

/// The entry's binary for this node.
fn for_this_node(source: &ToolSource) -> Result<&ToolBinary, String> {
    let (os, arch) = platform();
    source
        .binaries
        .iter()
        .find(|b| b.os == os && b.arch == arch)
        .ok_or_else(|| {
            format!(
                "{} {} has no binary for {os}/{arch} in the server's catalogue",
                display_name(&source.engine),
                source.version
            )
        })
}

/// A path component the server cannot use to escape the cache: the runner trusts the server
/// with versions, not with paths.
fn safe_component(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && !text.starts_with('.')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+' | '_'))
}

/// The cached binary of `source` for this node, fetched and verified first if need be;
/// `server_url` is where the server's binary cache is (the paths it names are under it).
pub(crate) async fn binary(
    source: &ToolSource,
    cache: &Path,
    http: &reqwest::Client,
    server_url: &str,
) -> Result<PathBuf, String> {
    let wanted = for_this_node(source)?;
    // The server's signed path is a credential of sorts: logs name the cache, not the URL.
    let (url, shown) = if wanted.from_server {
        if !wanted.url.starts_with('/') {
            return Err(format!(
                "the catalogue entry {} {} is malformed",
                source.engine, source.version
            ));
        }
        (
            format!("{}{}", server_url.trim_end_matches('/'), wanted.url),
            format!(
                "{} {} from the server's binary cache",
                display_name(&source.engine),
                source.version
            ),
        )
    } else {
        (wanted.url.clone(), wanted.url.clone())
    };
    let sha = wanted.sha256.to_ascii_lowercase();
    let sha_ok = sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit());
    if !sha_ok || !safe_component(&source.version) {
        return Err(format!(
            "the catalogue entry {} {} is malformed",
            source.engine, source.version
        ));
    }
    let name = binary_name(&source.engine);
    let engine_dir = cache.join(name);
    let entry = engine_dir.join(format!("{}-{}", source.version, &sha[..16]));
    let path = entry.join(name);
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(&engine_dir)
        .map_err(|e| format!("cannot create the cache {}: {e}", engine_dir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&engine_dir)
        .map_err(|e| format!("cannot create a directory in {}: {e}", engine_dir.display()))?;
    let download = staging.path().join("download");
    let actual = fetch(&url, &shown, &download, http).await?;
    if actual != sha {
        return Err(format!(
            "the SHA-256 of {shown} is {actual}, but the catalogue says {sha}: not running it"
        ));
    }
    let staged = staging.path().join(name);
    let (from, to) = (download.clone(), staged.clone());
    tokio::task::spawn_blocking(move || extract(&from, &to))
        .await
        .map_err(|e| format!("cannot unpack {shown}: {e}"))?
        .map_err(|e| format!("cannot unpack {shown}: {e}"))?;
    let _ = std::fs::remove_file(&download);
    let staged_dir = staging.keep();
    if let Err(err) = std::fs::rename(&staged_dir, &entry) {
        let _ = std::fs::remove_dir_all(&staged_dir);
        // Another job put it there first: theirs is as good.
        if !path.is_file() {
            return Err(format!("cannot cache {}: {err}", path.display()));
        }
    }
    Ok(path)
}

/// Copies what `url` serves to `dest`, returning its SHA-256 (hexadecimal); errors name it
/// as `shown`.
async fn fetch(
    url: &str,
    shown: &str,
    dest: &Path,
    http: &reqwest::Client,
) -> Result<String, String> {
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    let mut hasher = Sha256::new();
    let failed = |e: &dyn std::fmt::Display| format!("cannot fetch {shown}: {e}");
    if url.starts_with("http://") || url.starts_with("https://") {
        let response = http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(&e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(failed(&format!("{status}: {}", error_detail(&text))));
        }
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| failed(&e))?;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(|e| failed(&e))?;
        }
    } else {
        let local = url.strip_prefix("file://").unwrap_or(url);
        if !local.starts_with('/') {
            return Err(format!(
                "{url} is neither http(s)://, file:/// nor an absolute path"
            ));
        }
        let mut source = tokio::fs::File::open(local).await.map_err(|e| failed(&e))?;
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut source, &mut buf)
                .await
                .map_err(|e| failed(&e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).await.map_err(|e| failed(&e))?;
        }
    }
    file.flush().await.map_err(|e| failed(&e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// What an error answer says: a JSON:API error's detail (the server's), else its text.
fn error_detail(body: &str) -> String {
    let detail = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["detail"].as_str().map(str::to_string));
    let text = detail.unwrap_or_else(|| body.trim().to_string());
    text.chars().take(500).collect()
}

/// Makes `to` the executable binary from `from`: the file named like the binary inside a
/// zip (at its top level), or `from` itself when it is not a zip.
fn extract(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut magic = [0u8; 4];
    let is_zip = std::fs::File::open(from)?.read(&mut magic)? == 4 && magic == *b"PK\x03\x04";
    if is_zip {
        let name = to
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let mut archive =
            zip::ZipArchive::new(std::fs::File::open(from)?).map_err(std::io::Error::other)?;
        let mut inside = archive.by_name(&name).map_err(|_| {
            std::io::Error::other(format!("the zip has no file named {name} at its top"))
        })?;
        let mut out = std::fs::File::create(to)?;
        std::io::copy(&mut inside, &mut out)?;
        out.sync_all()?;
    } else {
        std::fs::copy(from, to)?;
    }
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SCRIPT: &[u8] = b"#!/bin/sh\necho '{\"terraform_version\":\"1.5.7\"}'\n";

    fn http() -> reqwest::Client {
        crate::client::http_client(None).unwrap()
    }

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    fn source(url: &str, sha256: &str) -> ToolSource {
        let (os, arch) = platform();
        ToolSource {
            engine: "tofu".into(),
            version: "1.12.6".into(),
            binaries: vec![ToolBinary {
                url: url.into(),
                sha256: sha256.into(),
                os: os.into(),
                arch: arch.into(),
                from_server: false,
            }],
        }
    }

    fn zipped(name: &str, bytes: &[u8]) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
        zip.finish().unwrap();
        out.into_inner()
    }

    #[tokio::test]
    async fn a_release_zip_is_verified_unpacked_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let zip = zipped("tofu", SCRIPT);
        let file = dir.path().join("tofu_1.12.6.zip");
        std::fs::write(&file, &zip).unwrap();
        let cache = dir.path().join("cache");
        let http = http();
        let url = format!("file://{}", file.display());
        let path = binary(&source(&url, &sha(&zip)), &cache, &http, "")
            .await
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), SCRIPT);
        assert!(path.starts_with(cache.join("tofu")));
        // Cached: found again without the source.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            binary(&source(&url, &sha(&zip)), &cache, &http, "")
                .await
                .unwrap(),
            path
        );
    }

    #[tokio::test]
    async fn a_bare_binary_by_absolute_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tofu");
        std::fs::write(&file, SCRIPT).unwrap();
        let path = binary(
            &source(file.to_str().unwrap(), &sha(SCRIPT)),
            &dir.path().join("cache"),
            &http(),
            "",
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read(path).unwrap(), SCRIPT);
    }

    #[tokio::test]
    async fn a_wrong_sha_is_refused_and_nothing_is_cached() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tofu");
        std::fs::write(&file, SCRIPT).unwrap();
        let cache = dir.path().join("cache");
        let err = binary(
            &source(file.to_str().unwrap(), &sha(b"something else")),
            &cache,
            &http(),
            "",
        )
        .await
        .unwrap_err();
        assert!(err.contains("not running it"), "{err}");
        let left: Vec<_> = std::fs::read_dir(cache.join("tofu")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn the_server_names_no_paths() {
        let mut bad = source("/bin/true", &sha(b""));
        bad.version = "../../etc".into();
        let dir = tempfile::tempdir().unwrap();
        assert!(binary(&bad, dir.path(), &http(), "")
            .await
            .unwrap_err()
            .contains("malformed"));
    }
}
