//! A real OpenID provider for the single sign-on tests: node's `oidc-provider`
//! (tests/oidc/idp.mjs, installed by scripts/install-test-deps.sh), and the shared browser
//! (crate::sso) playing its login and consent forms.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::sso::{form, urlencode, Browser, Page};
use crate::Server;

/// Terrace's callback path (the site's and every organization's provider).
pub const CALLBACK: &str = "/app/sso/oidc/callback";

/// The provider, stopped when dropped.
pub struct Idp {
    child: Child,
    pub issuer: String,
    users: PathBuf,
    tamper: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    pub fn files(port: u16) -> (tempfile::TempDir, String) {
        (
            tempfile::tempdir().unwrap(),
            format!("http://127.0.0.1:{port}"),
        )
    }

    pub fn start(
        port: u16,
        dir: tempfile::TempDir,
        redirect_uri: &str,
        users: serde_json::Value,
    ) -> Idp {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc/idp.mjs");
        assert!(
            script.with_file_name("node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: run scripts/install-test-deps.sh"
        );
        let users_file = dir.path().join("users.json");
        std::fs::write(&users_file, users.to_string()).unwrap();
        let tamper = dir.path().join("tamper");
        let mut child = Command::new("node")
            .arg(&script)
            .env("PORT", port.to_string())
            .env("REDIRECT_URI", redirect_uri)
            .env("USERS_FILE", &users_file)
            .env("TAMPER_FILE", &tamper)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let issuer = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("the provider started");
            if let Some(issuer) = line.strip_prefix("listening ") {
                break issuer.to_string();
            }
        };
        Idp {
            child,
            issuer,
            users: users_file,
            tamper,
            _dir: dir,
        }
    }

    pub fn set_users(&self, users: serde_json::Value) {
        std::fs::write(&self.users, users.to_string()).unwrap();
    }

    pub fn set_tamper(&self, mode: &str) {
        std::fs::write(&self.tamper, mode).unwrap();
    }
}

/// The OpenID provider's side of a sign-in.
impl Browser {
    /// From Terrace's start URL through the provider's login and consent, up to (not into)
    /// Terrace's callback: returns the callback URL.
    pub fn through_idp(&mut self, start: &str, login: &str) -> String {
        let mut page = self.get(start);
        assert_eq!(page.status, 302, "start: {}", page.text);
        for _ in 0..15 {
            if let Some(location) = page.location.clone() {
                if location.contains(CALLBACK) {
                    return location;
                }
                page = self.get(&location);
                continue;
            }
            assert_eq!(page.status, 200, "{}: {}", page.url, page.text);
            let (action, mut fields) = form(&page.text);
            let action = url::Url::parse(&page.url)
                .unwrap()
                .join(&action)
                .unwrap()
                .to_string();
            if page.text.contains("name=\"login\"") {
                fields.push(("login".into(), login.into()));
                fields.push(("password".into(), "any password".into()));
            }
            page = self.post(&action, &fields);
        }
        panic!(
            "the provider's flow did not end: {} {}",
            page.status, page.text
        )
    }

    /// A whole sign-in: returns the callback's answer.
    pub fn sign_in(&mut self, server: &Server, return_to: &str, login: &str) -> Page {
        let start = format!(
            "{}/app/sso/oidc/start?return_to={}",
            server.url,
            urlencode(return_to)
        );
        let callback = self.through_idp(&start, login);
        self.get(&callback)
    }

    /// A whole sign-in from a start URL (the site's or an organization's): returns the
    /// callback's answer.
    pub fn sign_in_at(&mut self, start: &str, login: &str) -> Page {
        let callback = self.through_idp(start, login);
        self.get(&callback)
    }
}
