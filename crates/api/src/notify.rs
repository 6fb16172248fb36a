//! The HTTP side of notification delivery: one POST to the address the domain checked (the
//! URL's host pinned to it, so a second DNS answer cannot send it elsewhere), no redirects
//! followed (a redirect would be a destination nobody checked), bounded in time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use terrace_domain::notifications::delivery::{Answer, Deliverer, Outgoing};
use terrace_domain::notifications::email::{Mail, SmtpServer};

/// More than the domain keeps of an answer (`BODY_EXCERPT`), to cut at a character.
const KEPT_ANSWER: usize = 4096;

pub struct HttpDeliverer {
    /// The platform's roots, read once: each delivery needs its own client (its host is
    /// pinned to the checked address), not its own trust store. Also SMTP's STARTTLS.
    tls: Arc<rustls::ClientConfig>,
}

impl HttpDeliverer {
    pub fn new() -> anyhow::Result<HttpDeliverer> {
        Ok(HttpDeliverer {
            tls: Arc::new(terrace_runner_listener::trust::client_config(Vec::new())?),
        })
    }
}

impl Deliverer for HttpDeliverer {
    fn mail(&self, server: SmtpServer, mail: Mail) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { crate::smtp::send(&server, &mail, self.tls.clone()).await })
    }

    fn post(&self, out: Outgoing) -> BoxFuture<'_, Result<Answer, String>> {
        Box::pin(async move {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("terrace/", env!("CARGO_PKG_VERSION")))
                .resolve(&out.host, out.addr)
                .no_proxy()
                .tls_backend_preconfigured((*self.tls).clone())
                .build()
                .map_err(|e| e.to_string())?;
            let mut request = client.post(&out.url).body(out.body);
            for (name, value) in out.headers {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| describe(&e))?;
            let status = response.status().as_u16();
            let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (name, value) in response.headers() {
                headers
                    .entry(name.as_str().to_string())
                    .or_default()
                    .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
            let body = excerpt(response).await;
            Ok(Answer {
                status,
                headers,
                body,
            })
        })
    }
}

/// The start of a receiver's answer: only so much is kept, so no more is read (a receiver
/// may answer with an endless body).
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        kept.extend_from_slice(&chunk);
        if kept.len() >= KEPT_ANSWER {
            kept.truncate(KEPT_ANSWER);
            break;
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// The error and its causes (reqwest's own message is often just "error sending request").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
