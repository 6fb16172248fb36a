//! What the server fetches upstream files with (release archives for the binary cache,
//! providers and their checksums for the provider mirror): a plain GET with the platform's
//! roots, following redirects (GitHub's releases redirect to their storage), streamed so that
//! the domain hashes and bounds the body as it arrives.

use std::time::Duration;

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use terrace_domain::fetch::{FetchedBody, Fetcher};

pub struct HttpFetcher {
    http: reqwest::Client,
}

impl HttpFetcher {
    pub fn new() -> anyhow::Result<HttpFetcher> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("terrace/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(terrace_runner_listener::trust::client_config(Vec::new())?)
            .build()?;
        Ok(HttpFetcher { http })
    }
}

impl Fetcher for HttpFetcher {
    fn fetch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<Option<FetchedBody>, String>> {
        Box::pin(async move {
            let response = self.http.get(url).send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(format!("{url} answered {status}"));
            }
            Ok(Some(
                response.bytes_stream().map_err(|e| e.to_string()).boxed(),
            ))
        })
    }
}
