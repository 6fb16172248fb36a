//! Single sign-on tests' shared parts: a browser with a cookie jar that follows redirects by
//! hand, HTML form reading, and the `terraform login` process driven through the consent page.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{Server, Terraform};

pub use crate::free_port;

/// What a browser got back.
pub struct Page {
    pub status: u16,
    pub url: String,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub text: String,
}

impl Page {
    pub fn sets_session(&self) -> bool {
        self.set_cookies
            .iter()
            .any(|c| c.starts_with("terrace_session=") && !c.starts_with("terrace_session=;"))
    }
}

/// A browser: cookies per host and port, redirects followed by hand.
pub struct Browser {
    client: reqwest::blocking::Client,
    jar: HashMap<String, BTreeMap<String, String>>,
}

impl Browser {
    pub fn new(server: &Server) -> Browser {
        let pem = std::fs::read(&server.ca_bundle).unwrap();
        Browser {
            client: crate::http_client(&pem)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    pub fn key(url: &url::Url) -> String {
        format!(
            "{}:{}",
            url.host_str().unwrap(),
            url.port_or_known_default().unwrap()
        )
    }

    pub fn send(&mut self, request: reqwest::blocking::RequestBuilder, url: &str) -> Page {
        let parsed = url::Url::parse(url).unwrap();
        let jar = self.jar.entry(Self::key(&parsed)).or_default();
        let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let request = if cookies.is_empty() {
            request
        } else {
            request.header("cookie", cookies.join("; "))
        };
        let response = request.send().unwrap();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for cookie in &set_cookies {
            let pair = cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let lower = cookie.to_ascii_lowercase();
            if value.is_empty()
                || lower.contains("max-age=0")
                || lower.contains("expires=thu, 01 jan 1970")
            {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
        let location = response
            .headers()
            .get("location")
            .map(|l| parsed.join(l.to_str().unwrap()).unwrap().to_string());
        Page {
            status: response.status().as_u16(),
            url: url.to_string(),
            location,
            set_cookies,
            text: response.text().unwrap(),
        }
    }

    pub fn get(&mut self, url: &str) -> Page {
        let request = self.client.get(url);
        self.send(request, url)
    }

    pub fn post(&mut self, url: &str, form: &[(String, String)]) -> Page {
        let request = self.client.post(url).form(form);
        self.send(request, url)
    }
}

/// The first form of a page: its action and its inputs that have a value.
pub fn form(html: &str) -> (String, Vec<(String, String)>) {
    let start = html.find("<form").expect("a form");
    let body = &html[start..];
    let end = body.find("</form>").unwrap_or(body.len());
    let body = &body[..end];
    let tag_end = body.find('>').unwrap();
    let action = attr(&body[..tag_end], "action").expect("a form action");
    let mut fields = Vec::new();
    for input in body.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap()];
        if let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) {
            fields.push((name, value));
        }
    }
    (action, fields)
}

pub fn attr(tag: &str, name: &str) -> Option<String> {
    let marker = format!(" {name}=\"");
    let start = tag.find(&marker)? + marker.len();
    Some(unescape(tag[start..].split('"').next()?))
}

pub fn unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Runs `terraform login HOST`; returns the process, the consent page URL it printed and the
/// rest of its output.
#[allow(clippy::zombie_processes)]
pub fn start_login(tf: &Terraform, server: &Server) -> (Child, String, mpsc::Receiver<String>) {
    let mut child = tf
        .command(&["login", &server.hostname])
        .env("BROWSER", "/bin/false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    loop {
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("terraform printed the login URL");
        let trimmed = crate::strip_ansi(line.trim());
        if trimmed.starts_with("https://") && trimmed.contains("/app/oauth/authorization?") {
            return (child, trimmed, receiver);
        }
    }
}

pub fn team_usernames(owner: &crate::Api, team: &str) -> Vec<String> {
    let reply = owner.get(&format!("teams/{team}?include=users")).ok();
    let body: serde_json::Value = serde_json::from_str(&reply.text).unwrap();
    body["included"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["type"] == "users")
                .map(|i| i["attributes"]["username"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

impl Browser {
    /// The session cookie this browser holds for `server`.
    pub fn session(&self, server: &Server) -> Option<String> {
        let url = url::Url::parse(&server.url).unwrap();
        self.jar
            .get(&Self::key(&url))?
            .get("terrace_session")
            .cloned()
    }
}

/// Approves the consent page at `consent_url` in `browser` (signed in already), lets the
/// waiting `terraform login` finish and returns the token it stored.
pub fn finish_login(
    browser: &mut Browser,
    server: &Server,
    tf: &Terraform,
    consent_url: &str,
    login: (Child, mpsc::Receiver<String>),
) -> String {
    let consent = browser.get(consent_url);
    assert_eq!(consent.status, 200, "{}", consent.text);
    let (_, mut fields) = form(&consent.text);
    fields.retain(|(k, _)| k != "decision");
    fields.push(("decision".into(), "approve".into()));
    let approved = browser.post(&format!("{}/app/oauth/authorization", server.url), &fields);
    assert_eq!(approved.status, 302, "{}", approved.text);
    let to_cli = approved.location.unwrap();
    assert!(to_cli.starts_with("http://localhost:10"), "{to_cli}");
    let _ = reqwest::blocking::get(&to_cli);
    let (child, rest) = login;
    let output = child.wait_with_output().unwrap();
    let stdout = rest.try_iter().collect::<Vec<_>>().join("\n");
    assert!(output.status.success(), "terraform login: {stdout}");
    let credentials: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tf.home().join(".terraform.d/credentials.tfrc.json")).unwrap(),
    )
    .unwrap();
    credentials["credentials"][&server.hostname]["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A single sign-on refusal: the error page saying `says`, and no session.
pub fn assert_refused(page: &Page, says: &str) {
    assert_eq!(page.status, 400, "{}", page.text);
    assert!(page.text.contains("Single sign-on failed"), "{}", page.text);
    assert!(
        page.text.to_lowercase().contains(&says.to_lowercase()),
        "expected {says:?} in {}",
        page.text
    );
    assert!(!page.sets_session(), "a refused sign-in starts no session");
}

/// A team of `org` mapped to the identity provider's `group`.
pub fn map_team(owner: &crate::Api, org: &str, name: &str, group: &str) -> String {
    let team = crate::access::create_team(owner, org, name, serde_json::json!({}));
    owner
        .patch(
            &format!("teams/{team}"),
            &serde_json::json!({"data": {"type": "teams", "attributes": {"sso-team-id": group}}}),
        )
        .ok();
    team
}

pub fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// The username of the token's user.
pub fn username(server: &Server, token: &str) -> String {
    let me = server.api(token).get("account/details").ok();
    me.attr("username").as_str().unwrap().to_string()
}

/// With passwords off (`--sso-disable-passwords`), the consent page of `terraform login`
/// offers the sign-in named `button`, refuses a member's password (403, no session) and
/// still takes a site administrator's (break-glass).
pub fn assert_passwords_only_for_site_administrators(server: &Server, button: &str) {
    server.admin_with_env(
        &["user", "create", "carol", "--email", "carol@example.com"],
        &[("TERRACE_NEW_USER_PASSWORD", "carol-password-1")],
    );
    let login_url = format!(
        "{}/app/oauth/authorization?client_id=terraform-cli&redirect_uri={}&response_type=code&state=s&code_challenge_method=S256&code_challenge={}",
        server.url,
        urlencode("http://localhost:10000/login"),
        "a".repeat(43)
    );
    let sign_in = |username: &str, password: &str| {
        let mut browser = Browser::new(server);
        let page = browser.get(&login_url);
        assert_eq!(page.status, 200);
        assert!(page.text.contains(button), "{button}: {}", page.text);
        let (_, mut fields) = form(&page.text);
        fields.retain(|(k, _)| k != "decision");
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        fields.push(("decision".into(), "approve".into()));
        browser.post(&format!("{}/app/oauth/authorization", server.url), &fields)
    };
    let carol = sign_in("carol", "carol-password-1");
    assert_eq!(carol.status, 403, "{}", carol.text);
    assert!(
        carol.text.contains("Password sign-in is disabled"),
        "{}",
        carol.text
    );
    assert!(!carol.sets_session());
    let admin = sign_in("admin", &server.admin_password);
    assert_eq!(admin.status, 302, "{}", admin.text);
    assert!(admin.sets_session());
}
