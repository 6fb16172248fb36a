//! Terraform's CLI configuration for a job (`TF_CLI_CONFIG_FILE`): nothing of anyone else's
//! (no user credentials, plugin caches or settings), the server's private registry, and the
//! listener's provider mirror when it has one.
//!
//! The registry is reached with the job's token, at the server's address and at
//! `localterraform.com`, HCP Terraform's name for "the instance this run is on", so a
//! configuration names its organization's modules the same way on any installation. The job
//! token is the only credential in the file: terraform, and so the configuration's own code,
//! can read it; it reaches nothing but this job's run and its organization's registry, and is
//! revoked when the job ends.
//!
//! Providers install, in this order of preference: from the listener's filesystem mirror
//! (the ones it holds, from it only), from this server's registry (its own hosts, verified by
//! their organization's signing key), and everything else from the server's network mirror,
//! which pulls through from the public registries and caches, so runs need no internet
//! (`direct_providers` lets terraform ask each provider's registry instead).
//!
//! Each provider has exactly one installation method: terraform merges the versions every
//! matching method offers and fails `init` when any of them errors, so a provider also left
//! to `direct` would make every run ask its registry (which a runner without network cannot
//! reach, and which might offer a version the operator did not vet).

use std::path::Path;

/// The configuration file's text, and a warning for the job's log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CliConfig {
    pub text: String,
    pub warning: Option<String>,
}

/// The server as the job's terraform reaches its registry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Registry<'a> {
    /// The server's base URL (`https://host:port`).
    pub server_url: &'a str,
    pub job_token: &'a str,
}

/// Where a job's providers come from besides this server's registry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sources<'a> {
    /// A filesystem mirror folder, authoritative for the providers it holds.
    pub filesystem_mirror: Option<&'a Path>,
    /// Everything else through the server's network mirror (or, if false, from its registry).
    pub network_mirror: bool,
}

/// The configuration for a job: the registry, and where providers come from.
pub(crate) fn for_job(registry: Registry<'_>, sources: Sources<'_>) -> Result<CliConfig, String> {
    let mut text = with_registry(registry);
    let mut warning = None;
    let mut held = Vec::new();
    let mut mirror_path = None;
    if let Some(dir) = sources.filesystem_mirror {
        let shown = dir.display();
        let path = dir
            .to_str()
            .ok_or_else(|| format!("the provider mirror's path {shown} is not UTF-8"))?;
        held =
            providers(dir).map_err(|e| format!("cannot read the provider mirror {shown}: {e}"))?;
        warning = held
            .is_empty()
            .then(|| format!("Warning: the provider mirror {shown} holds no providers."));
        mirror_path = Some(path);
    }
    if sources.network_mirror {
        let (base, hosts) = server_names(registry.server_url);
        text.push_str(&with_network_mirror(
            &base,
            &hosts,
            mirror_path.map(|p| (p, held.as_slice())),
        ));
    } else if let Some(path) = mirror_path {
        text.push_str(&with_mirror(path, &held));
    }
    Ok(CliConfig { text, warning })
}

/// The server's base URL and every name its registry goes by (`localhost:PORT` and
/// `127.0.0.1:PORT` are the same server: registry sources need the dotted one).
fn server_names(server_url: &str) -> (String, Vec<String>) {
    let authority = server_url
        .split_once("://")
        .map_or(server_url, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let mut hosts = vec!["localterraform.com".to_string(), authority.to_string()];
    if let Some(port) = authority.strip_prefix("localhost:") {
        hosts.push(format!("127.0.0.1:{port}"));
    } else if let Some(port) = authority.strip_prefix("127.0.0.1:") {
        hosts.push(format!("localhost:{port}"));
    }
    (format!("https://{authority}"), hosts)
}

/// The `host` block that makes `localterraform.com` this server, and the job token for it and
/// for the server's own names.
pub(crate) fn with_registry(registry: Registry<'_>) -> String {
    let (base, hosts) = server_names(registry.server_url);
    let mut text = format!(
        "# Written by the Terrace runner: this server's private registry.\n\
         host \"localterraform.com\" {{\n  services = {{\n    \
         \"modules.v1\"   = {}\n    \"providers.v1\" = {}\n  }}\n}}\n",
        quote(&format!("{base}/api/registry/v1/modules/")),
        quote(&format!("{base}/api/registry/v1/providers/")),
    );
    for host in hosts {
        text.push_str(&format!(
            "credentials {} {{\n  token = {}\n}}\n",
            quote(&host),
            quote(registry.job_token)
        ));
    }
    text
}

/// The providers a filesystem mirror holds, as `HOSTNAME/NAMESPACE/TYPE`: the folders three
/// levels down, in both of terraform's layouts (packed zips and unpacked folders live inside
/// them). Sorted; hidden entries are skipped.
pub(crate) fn providers(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    for host in subdirectories(dir)? {
        for namespace in subdirectories(&dir.join(&host))? {
            for kind in subdirectories(&dir.join(&host).join(&namespace))? {
                found.push(format!("{host}/{namespace}/{kind}"));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn subdirectories(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // Terraform ignores symlinks below the mirror's top folder; so do we.
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(name) = entry.file_name().to_str() {
            if !name.starts_with('.') {
                names.push(name.to_string());
            }
        }
    }
    Ok(names)
}

/// The `provider_installation` block: `providers` from the mirror at `path` only, everything
/// else from its registry. With no providers, `include`/`exclude` are left out (an empty list
/// would mean every provider to terraform).
pub(crate) fn with_mirror(path: &str, providers: &[String]) -> String {
    let list = providers
        .iter()
        .map(|p| quote(p))
        .collect::<Vec<_>>()
        .join(", ");
    let (include, exclude) = if providers.is_empty() {
        (String::new(), String::new())
    } else {
        (
            format!("    include = [{list}]\n"),
            format!("    exclude = [{list}]\n"),
        )
    };
    format!(
        "# Written by the Terrace runner: the listener's provider mirror.\n\
         provider_installation {{\n  filesystem_mirror {{\n    path    = {}\n{include}  }}\n  \
         direct {{\n{exclude}  }}\n}}\n",
        quote(path)
    )
}

/// The `provider_installation` block with the server's network mirror at `base`: the
/// filesystem mirror's providers from it, the server's own hosts' from its registry, the rest
/// from the network mirror.
pub(crate) fn with_network_mirror(
    base: &str,
    own_hosts: &[String],
    filesystem: Option<(&str, &[String])>,
) -> String {
    let list = |items: &[String]| {
        items
            .iter()
            .map(|p| quote(p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let held: &[String] = filesystem.map_or(&[], |(_, held)| held);
    let own: Vec<String> = own_hosts.iter().map(|h| format!("{h}/*/*")).collect();
    let mut text = String::from(
        "# Written by the Terrace runner: providers from this server's registry and mirror.\n\
         provider_installation {\n",
    );
    if let Some((path, held)) = filesystem.filter(|(_, held)| !held.is_empty()) {
        text.push_str(&format!(
            "  filesystem_mirror {{\n    path    = {}\n    include = [{}]\n  }}\n",
            quote(path),
            list(held)
        ));
    }
    text.push_str(&format!("  direct {{\n    include = [{}]\n", list(&own)));
    if !held.is_empty() {
        text.push_str(&format!("    exclude = [{}]\n", list(held)));
    }
    let excluded: Vec<String> = held.iter().cloned().chain(own).collect();
    text.push_str(&format!(
        "  }}\n  network_mirror {{\n    url     = {}\n    exclude = [{}]\n  }}\n}}\n",
        quote(&format!("{base}/v1/providers/")),
        list(&excluded)
    ));
    text
}

/// An HCL string literal of `text`: escapes, and no template sequences.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTRY: Registry<'static> = Registry {
        server_url: "https://localhost:8443",
        job_token: "job.token",
    };

    const DIRECT: Sources<'static> = Sources {
        filesystem_mirror: None,
        network_mirror: false,
    };

    #[test]
    fn with_direct_providers_and_no_mirror_the_file_has_the_registry_only() {
        let config = for_job(REGISTRY, DIRECT).unwrap();
        assert_eq!(config.text, with_registry(REGISTRY));
        assert_eq!(config.warning, None);
    }

    #[test]
    fn by_default_other_registries_providers_come_from_the_network_mirror() {
        let sources = Sources {
            network_mirror: true,
            ..DIRECT
        };
        let config = for_job(REGISTRY, sources).unwrap();
        let own = r#""localterraform.com/*/*", "localhost:8443/*/*", "127.0.0.1:8443/*/*""#;
        assert_eq!(
            config.text,
            format!(
                "{}# Written by the Terrace runner: providers from this server's registry and \
                 mirror.\nprovider_installation {{\n  direct {{\n    include = [{own}]\n  }}\n  \
                 network_mirror {{\n    url     = \"https://localhost:8443/v1/providers/\"\n    \
                 exclude = [{own}]\n  }}\n}}\n",
                with_registry(REGISTRY)
            )
        );
    }

    #[test]
    fn a_filesystem_mirror_keeps_its_providers_beside_the_network_mirror() {
        let held = ["registry.terraform.io/hashicorp/null".to_string()];
        let text = with_network_mirror(
            "https://t.example",
            &["t.example".into()],
            Some(("/srv/mirror", &held)),
        );
        assert_eq!(
            text,
            "# Written by the Terrace runner: providers from this server's registry and mirror.\n\
             provider_installation {\n  filesystem_mirror {\n    path    = \"/srv/mirror\"\n    \
             include = [\"registry.terraform.io/hashicorp/null\"]\n  }\n  direct {\n    \
             include = [\"t.example/*/*\"]\n    exclude = [\"registry.terraform.io/hashicorp/null\"]\n  \
             }\n  network_mirror {\n    url     = \"https://t.example/v1/providers/\"\n    \
             exclude = [\"registry.terraform.io/hashicorp/null\", \"t.example/*/*\"]\n  }\n}\n"
        );
        // An empty filesystem mirror has no block of its own.
        let text = with_network_mirror(
            "https://t.example",
            &["t.example".into()],
            Some(("/m", &[])),
        );
        assert!(!text.contains("filesystem_mirror"), "{text}");
    }

    #[test]
    fn the_registry_is_this_server_under_every_name_with_the_job_token() {
        assert_eq!(
            with_registry(REGISTRY),
            "# Written by the Terrace runner: this server's private registry.\n\
             host \"localterraform.com\" {\n  services = {\n    \
             \"modules.v1\"   = \"https://localhost:8443/api/registry/v1/modules/\"\n    \
             \"providers.v1\" = \"https://localhost:8443/api/registry/v1/providers/\"\n  }\n}\n\
             credentials \"localterraform.com\" {\n  token = \"job.token\"\n}\n\
             credentials \"localhost:8443\" {\n  token = \"job.token\"\n}\n\
             credentials \"127.0.0.1:8443\" {\n  token = \"job.token\"\n}\n"
        );
        let named = with_registry(Registry {
            server_url: "https://terrace.example.com/",
            job_token: "t",
        });
        assert!(
            named.contains("credentials \"terrace.example.com\""),
            "{named}"
        );
        assert!(named.contains("\"https://terrace.example.com/api/registry/v1/modules/\""));
        assert_eq!(named.matches("credentials").count(), 2, "{named}");
    }

    #[test]
    fn mirrored_providers_come_from_the_mirror_only() {
        let text = with_mirror(
            "/srv/mirror",
            &[
                "registry.terraform.io/hashicorp/null".into(),
                "registry.terraform.io/hashicorp/time".into(),
            ],
        );
        let list =
            r#"["registry.terraform.io/hashicorp/null", "registry.terraform.io/hashicorp/time"]"#;
        assert_eq!(
            text,
            format!(
                "# Written by the Terrace runner: the listener's provider mirror.\n\
                 provider_installation {{\n  filesystem_mirror {{\n    path    = \"/srv/mirror\"\n    \
                 include = {list}\n  }}\n  direct {{\n    exclude = {list}\n  }}\n}}\n"
            )
        );
    }

    #[test]
    fn an_empty_mirror_excludes_nothing() {
        let text = with_mirror("/srv/mirror", &[]);
        assert!(
            !text.contains("include") && !text.contains("exclude"),
            "{text}"
        );
        assert!(text.contains("direct {\n  }"), "{text}");
    }

    #[test]
    fn strings_are_quoted_for_hcl() {
        assert_eq!(quote(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
        assert_eq!(quote("/x/${y}/%{z}/$5%"), r#""/x/$${y}/%%{z}/$5%""#);
        assert_eq!(quote("a\nb\u{1}"), r#""a\nb\u0001""#);
    }

    #[test]
    fn providers_are_the_folders_three_levels_down() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for path in [
            "registry.terraform.io/hashicorp/null/3.1.1/linux_amd64",
            "registry.terraform.io/hashicorp/random",
            "registry.opentofu.org/hashicorp/null",
            "example.com/.hidden/thing",
        ] {
            std::fs::create_dir_all(root.join(path)).unwrap();
        }
        // Packed archives sit beside the type folders' contents; stray files are ignored.
        std::fs::write(root.join("registry.terraform.io/hashicorp/README"), "").unwrap();
        std::os::unix::fs::symlink(
            root.join("registry.terraform.io/hashicorp/null"),
            root.join("registry.terraform.io/hashicorp/linked"),
        )
        .unwrap();
        assert_eq!(
            providers(root).unwrap(),
            [
                "registry.opentofu.org/hashicorp/null",
                "registry.terraform.io/hashicorp/null",
                "registry.terraform.io/hashicorp/random",
            ]
        );

        let with = |dir| Sources {
            filesystem_mirror: Some(dir),
            ..DIRECT
        };
        let config = for_job(REGISTRY, with(root)).unwrap();
        assert_eq!(config.warning, None);
        assert!(config
            .text
            .contains("\"registry.terraform.io/hashicorp/random\""));

        let empty = tempfile::tempdir().unwrap();
        let config = for_job(REGISTRY, with(empty.path())).unwrap();
        assert!(config.warning.unwrap().contains("holds no providers"));

        let err = for_job(REGISTRY, with(&root.join("missing"))).unwrap_err();
        assert!(err.starts_with("cannot read the provider mirror"), "{err}");
    }
}
