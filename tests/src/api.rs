use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// A small HTTP client for the API: JSON:API requests with a bearer token, raw requests
/// for capability URLs.
#[derive(Clone)]
pub struct Api {
    base: String,
    token: Option<String>,
    client: reqwest::blocking::Client,
    /// Waits out 429s (see [`Api::patient`]).
    patient: bool,
}

/// A response, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Api {
    pub fn new(base: &str, token: Option<&str>, ca_bundle: &Path) -> Api {
        let builder = crate::http_client(&std::fs::read(ca_bundle).unwrap_or_default())
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none());
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
            client: builder.build().expect("HTTP client"),
            patient: false,
        }
    }

    /// The same client, waiting out a 429 for as long as its `Retry-After` says (a few times
    /// at most), as the terraform CLI and go-tfe do: for tests whose requests share a token
    /// with a CLI that may have used up its burst. Tests of the limits themselves use an
    /// impatient one, which sees every 429.
    pub fn patient(&self) -> Api {
        Api {
            patient: true,
            ..self.clone()
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    /// `path` is absolute (`https://...`), a site path (`/...`), or an API path (`organizations`).
    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else if path.starts_with('/') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/v2/{path}", self.base)
        }
    }

    /// A request whose response is left unread (large downloads, streaming bodies).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<(reqwest::blocking::Body, &str)>,
    ) -> reqwest::blocking::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((body, content_type)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        request
            .send()
            .unwrap_or_else(|e| panic!("request to {path} failed: {e}"))
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
    ) -> Reply {
        let send = || self.raw(method, path, body.clone().map(|b| (b.into(), content_type)));
        let mut response = send();
        for _ in 0..10 {
            if !(self.patient && response.status() == 429) {
                break;
            }
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(1);
            std::thread::sleep(Duration::from_secs(wait));
            response = send();
        }
        Reply::from_response(response)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, "")
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, None, "")
    }

    pub fn send_json(&self, method: &str, path: &str, body: &Value) -> Reply {
        self.request(
            method,
            path,
            Some(serde_json::to_vec(body).unwrap()),
            "application/vnd.api+json",
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.send_json("POST", path, body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send_json("PATCH", path, body)
    }

    /// Sends raw bytes (malformed bodies, uploads).
    pub fn send_raw(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        self.request(
            method,
            path,
            Some(body.to_vec()),
            "application/vnd.api+json",
        )
    }

    /// A PUT without credentials, as the CLI uploads to signed URLs.
    pub fn put_unauthenticated(&self, url: &str, body: &[u8]) -> Reply {
        self.anonymous()
            .request("PUT", url, Some(body.to_vec()), "application/octet-stream")
    }

    /// The same client without credentials.
    pub fn anonymous(&self) -> Api {
        Api {
            token: None,
            ..self.clone()
        }
    }
}

impl Reply {
    /// The reply to a request sent some other way than through [`Api`].
    pub fn from_response(response: reqwest::blocking::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            text,
            headers,
        }
    }

    /// Asserts a 2xx status.
    #[track_caller]
    pub fn ok(self) -> Reply {
        assert!(
            (200..300).contains(&self.status),
            "expected success, got {}: {}",
            self.status,
            self.text
        );
        self
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        self
    }

    /// Asserts a JSON:API error with this status whose detail contains `text`.
    #[track_caller]
    pub fn expect_error(self, status: u16, text: &str) -> Reply {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        let error = &self.body["errors"][0];
        assert_eq!(
            error["status"],
            status.to_string(),
            "error status must be a string: {}",
            self.text
        );
        let message = format!(
            "{} {}",
            error["title"].as_str().unwrap_or(""),
            error["detail"].as_str().unwrap_or("")
        );
        assert!(
            message.to_lowercase().contains(&text.to_lowercase()),
            "error {message:?} does not mention {text:?}"
        );
        self
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn id(&self) -> String {
        self.body["data"]["id"]
            .as_str()
            .expect("data.id")
            .to_string()
    }

    pub fn attr(&self, name: &str) -> &Value {
        &self.body["data"]["attributes"][name]
    }

    /// The IDs of a list's items, in its order.
    pub fn ids(&self) -> Vec<String> {
        self.each(|item| &item["id"])
    }

    /// Attribute `name` (a string) of each of a list's items, in its order.
    pub fn attrs(&self, name: &str) -> Vec<String> {
        self.each(|item| &item["attributes"][name])
    }

    fn each(&self, field: impl Fn(&Value) -> &Value) -> Vec<String> {
        self.body["data"]
            .as_array()
            .expect("a list in data")
            .iter()
            .map(|item| field(item).as_str().expect("a string").to_string())
            .collect()
    }
}
