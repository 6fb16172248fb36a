//! A browser on the `terraform login` consent page: signs in with a password, keeps the
//! session cookie, and runs the code exchange the CLI runs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::page::{cookie, hidden_input};
use crate::Server;

pub const REDIRECT: &str = "http://localhost:10000/login";
pub const VERIFIER: &str = "advertised-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

/// A browser: trusts the server's CA, follows no redirects, sends the cookies it is given.
pub struct Browser<'a> {
    server: &'a Server,
    client: reqwest::blocking::Client,
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a Server) -> Browser<'a> {
        let pem = std::fs::read(&server.ca_bundle).unwrap();
        let mut builder =
            reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none());
        for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
            builder = builder.add_root_certificate(cert);
        }
        Browser {
            server,
            client: builder.build().unwrap(),
        }
    }

    pub fn query() -> Vec<(&'static str, String)> {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
        vec![
            ("client_id", "terraform-cli".into()),
            ("redirect_uri", REDIRECT.into()),
            ("response_type", "code".into()),
            ("state", "s".into()),
            ("code_challenge_method", "S256".into()),
            ("code_challenge", challenge),
        ]
    }

    /// The consent page, with the session cookie if given: the page's HTML and its CSRF
    /// cookie.
    pub fn page(&self, session: Option<&str>) -> (String, String) {
        let query: Vec<String> = Self::query()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", urlencode(&v)))
            .collect();
        let mut request = self.client.get(format!(
            "{}/app/oauth/authorization?{}",
            self.server.url,
            query.join("&")
        ));
        if let Some(session) = session {
            request = request.header("cookie", format!("terrace_session={session}"));
        }
        let page = request.send().unwrap();
        assert_eq!(page.status(), 200);
        let csrf = cookie(&page, "terrace_csrf").expect("a CSRF cookie");
        (page.text().unwrap(), csrf)
    }

    /// Who the page says is signed in with this session.
    pub fn signed_in_as(&self, session: &str) -> Option<String> {
        let (html, _) = self.page(Some(session));
        let marker = "Signed in as <strong>";
        let start = html.find(marker)? + marker.len();
        Some(html[start..].split('<').next().unwrap().to_string())
    }

    /// Approves the request, signing in with `credentials` or with `session`.
    pub fn approve(
        &self,
        credentials: Option<(&str, &str)>,
        session: Option<&str>,
    ) -> reqwest::blocking::Response {
        let (html, csrf_cookie) = self.page(session);
        let mut form: Vec<(String, String)> = Self::query()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        form.push(("csrf".into(), hidden_input(&html, "csrf")));
        form.push(("decision".into(), "approve".into()));
        if let Some((username, password)) = credentials {
            form.push(("username".into(), username.into()));
            form.push(("password".into(), password.into()));
        }
        let mut cookies = format!("terrace_csrf={csrf_cookie}");
        if let Some(session) = session {
            cookies.push_str(&format!("; terrace_session={session}"));
        }
        self.client
            .post(format!("{}/app/oauth/authorization", self.server.url))
            .header("cookie", cookies)
            .form(&form)
            .send()
            .unwrap()
    }

    /// Signs in with a password; returns the session cookie and its Max-Age.
    pub fn sign_in(&self, username: &str, password: &str) -> (String, u64) {
        let response = self.approve(Some((username, password)), None);
        assert_eq!(response.status(), 302, "{username} signs in");
        let header = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("terrace_session="))
            .expect("a session cookie")
            .to_string();
        let max_age = header
            .split(';')
            .find_map(|part| part.trim().strip_prefix("Max-Age="))
            .expect("Max-Age")
            .parse()
            .unwrap();
        (cookie(&response, "terrace_session").unwrap(), max_age)
    }

    /// Whether the session alone still gets a code from the consent page.
    pub fn session_works(&self, session: &str) -> bool {
        match self.approve(None, Some(session)).status().as_u16() {
            302 => true,
            401 => false,
            other => panic!("unexpected status {other}"),
        }
    }

    /// The whole `terraform login` exchange, as the CLI does it: returns the API token.
    pub fn login_token(&self, username: &str, password: &str) -> String {
        self.exchange(self.approve(Some((username, password)), None))
    }

    /// The same exchange approved with a session (a single sign-on, say).
    pub fn session_token(&self, session: &str) -> String {
        self.exchange(self.approve(None, Some(session)))
    }

    /// The code of an approval, exchanged for an API token.
    fn exchange(&self, response: reqwest::blocking::Response) -> String {
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let code = url::Url::parse(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .expect("a code")
            .1
            .to_string();
        let token = self
            .client
            .post(format!("{}/oauth/token", self.server.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "terraform-cli"),
                ("code", code.as_str()),
                ("code_verifier", VERIFIER),
                ("redirect_uri", REDIRECT),
            ])
            .send()
            .unwrap();
        assert_eq!(token.status(), 200);
        let body: Value = token.json().unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }
}

/// Signs in on the consent page, approving a valid request; returns the answer: a redirect
/// on success, the form again with 401 on a wrong password.
pub fn consent_sign_in(
    server: &Server,
    username: &str,
    password: &str,
) -> reqwest::blocking::Response {
    Browser::new(server).approve(Some((username, password)), None)
}
