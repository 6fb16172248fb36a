//! Absolute URLs as clients must see them: the CLI uses upload and log URLs as given, so they
//! are built from the external URL, never from the request's Host header.

use url::Url;

#[derive(Debug, Clone)]
pub struct Urls {
    /// The external URL without a trailing slash, e.g. `https://terrace.example.com`.
    base: String,
}

pub const API_PREFIX: &str = "/api/v2";

impl Urls {
    pub fn new(external: &Url) -> Urls {
        Urls {
            base: external.as_str().trim_end_matches('/').to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether browsers should be told to use HTTPS only (HSTS): an https URL with a name.
    /// Not for `localhost` or an IP address, where HSTS would stick to every other local
    /// service on that name.
    pub fn strict_transport(&self) -> bool {
        let Ok(url) = Url::parse(&self.base) else {
            return false;
        };
        url.scheme() == "https"
            && matches!(url.host(), Some(url::Host::Domain(host)) if host != "localhost")
    }

    /// `host[:port]`, as the CLI names this server in `cloud {}` and credentials blocks.
    pub fn hostname(&self) -> String {
        let url = Url::parse(&self.base).expect("the base is a URL");
        match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or("localhost")),
            None => url.host_str().unwrap_or("localhost").to_string(),
        }
    }

    /// The host module and provider sources name (`HOST/ORG/NAME/PROVIDER`): terraform wants
    /// a dot in a registry's hostname, so `localhost` goes by its loopback address (which the
    /// local certificate names too).
    pub fn registry_host(&self) -> String {
        let host = self.hostname();
        match host.strip_prefix("localhost") {
            Some(port) => format!("127.0.0.1{port}"),
            None => host,
        }
    }

    /// Every host whose providers are this server's private registry, lower case: the
    /// server's names and HCP Terraform's `localterraform.com`.
    pub fn registry_hosts(&self) -> Vec<String> {
        let mut hosts = vec!["localterraform.com".to_string(), self.hostname()];
        if self.registry_host() != self.hostname() {
            hosts.push(self.registry_host());
        }
        hosts.iter().map(|h| h.to_ascii_lowercase()).collect()
    }

    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An API path, e.g. `api("/workspaces/ws-1")`.
    pub fn api(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base)
    }

    /// The absolute form of a request URI (path and query), for pagination links.
    pub fn request(&self, uri: &axum::http::Uri) -> Url {
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        Url::parse(&self.absolute(path_and_query))
            .unwrap_or_else(|_| Url::parse(&self.base).expect("base"))
    }

    pub fn state_upload(&self, token: &str) -> String {
        self.absolute(&state_upload_path(token))
    }

    pub fn json_state_upload(&self, token: &str) -> String {
        self.absolute(&format!("/_uploads/json-state/{token}"))
    }

    pub fn configuration_upload(&self, token: &str) -> String {
        self.absolute(&format!("/_uploads/configuration/{token}"))
    }

    /// A module version's `upload` link.
    pub fn module_upload(&self, token: &str) -> String {
        self.absolute(&format!("/_uploads/modules/object/{token}"))
    }

    /// A module version's tarball, for `X-Terraform-Get` (the suffix and `archive` tell
    /// terraform's getter to unpack it).
    pub fn module_archive(&self, token: &str) -> String {
        self.absolute(&format!(
            "/_downloads/modules/{token}/module.tar.gz?archive=tar.gz"
        ))
    }

    /// A plan's or apply's `log-read-url`.
    pub fn log(&self, token: &str) -> String {
        self.absolute(&format!("/_logs/{token}"))
    }
}

/// The server-relative form of a state upload URL, for runners: they reach the server at an
/// address of their own, which need not be the external URL.
pub fn state_upload_path(token: &str) -> String {
    format!("/_uploads/state/{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_only_for_https_names_other_than_localhost() {
        let urls = |text: &str| Urls::new(&Url::parse(text).unwrap());
        assert!(urls("https://terrace.example.com").strict_transport());
        assert!(urls("https://terrace.example.com:8443/").strict_transport());
        assert!(!urls("http://terrace.example.com").strict_transport());
        assert!(!urls("https://localhost:8443").strict_transport());
        assert!(!urls("https://127.0.0.1:8443").strict_transport());
        assert!(!urls("https://[::1]:8443").strict_transport());
    }

    #[test]
    fn registry_sources_name_localhost_by_its_dotted_address() {
        let host = |text: &str| Urls::new(&Url::parse(text).unwrap()).registry_host();
        assert_eq!(host("https://localhost:8443"), "127.0.0.1:8443");
        assert_eq!(host("https://localhost"), "127.0.0.1");
        assert_eq!(host("https://terrace.example.com"), "terrace.example.com");
        assert_eq!(
            host("https://terrace.example.com:9443/"),
            "terrace.example.com:9443"
        );
    }
}
