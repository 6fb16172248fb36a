//! `terraform login` against Terrace: the real CLI runs the OAuth authorization-code flow with
//! PKCE; the test plays the browser's part over HTTP (consent page, sign-in, redirect to the
//! CLI's loopback listener). The token it ends up with is an ordinary API token.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use terrace_tests::page::{cookie, hidden_input};
use terrace_tests::runs::start_with_runner_for;
use terrace_tests::{each_client, Db, Server, Terraform};

/// An HTTP client trusting the server's CA, not following redirects.
fn browser(server: &Server) -> reqwest::blocking::Client {
    let pem = std::fs::read(&server.ca_bundle).unwrap();
    terrace_tests::http_client(&pem)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Submits the consent form of `login_url` with a username and password; returns the
/// response (a redirect on success).
fn sign_in(
    server: &Server,
    login_url: &str,
    username: &str,
    password: &str,
) -> reqwest::blocking::Response {
    let client = browser(server);
    let page = client.get(login_url).send().unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = cookie(&page, "terrace_csrf").expect("a CSRF cookie");
    let html = page.text().unwrap();
    assert!(html.contains("Authorize the Terraform CLI"), "{html}");
    let csrf = hidden_input(&html, "csrf");
    let query: Vec<(String, String)> = url::Url::parse(login_url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let mut form = query;
    form.extend([
        ("username".into(), username.into()),
        ("password".into(), password.into()),
        ("csrf".into(), csrf),
        ("decision".into(), "approve".into()),
    ]);
    client
        .post(format!("{}/app/oauth/authorization", server.url))
        .header("cookie", format!("terrace_csrf={csrf_cookie}"))
        .form(&form)
        .send()
        .unwrap()
}

/// Runs `terraform login HOST`, answering its prompt, and returns the CLI process, the
/// authorization URL it printed and the rest of its output as it comes.
// The caller waits for the returned process.
#[allow(clippy::zombie_processes)]
fn start_login(
    tf: &Terraform,
    server: &Server,
) -> (std::process::Child, String, mpsc::Receiver<String>) {
    let mut child = tf
        .command(&["login", &server.hostname])
        .env("BROWSER", "/bin/false")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut seen = String::new();
    loop {
        let line = receiver
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no login URL; terraform printed:\n{seen}"));
        seen.push_str(&line);
        seen.push('\n');
        let trimmed = terrace_tests::strip_ansi(line.trim());
        if trimmed.starts_with("https://") && trimmed.contains("/app/oauth/authorization?") {
            return (child, trimmed, receiver);
        }
    }
}

// The cloud block after the login runs remotely, on the client's version.
each_client!(terraform_login, |db, client| {
    let server = start_with_runner_for(Server::builder(db), &client);
    let mut tf = Terraform::without_credentials(&server);
    tf.client = client.clone();
    let (child, login_url, rest) = start_login(&tf, &server);
    assert!(
        login_url.contains("code_challenge_method=S256"),
        "{login_url}"
    );

    // A wrong password shows the form again and issues nothing.
    let refused = sign_in(&server, &login_url, "admin", "not-the-password");
    assert_eq!(refused.status(), 401);
    assert!(refused
        .text()
        .unwrap()
        .contains("Wrong username or password"));

    let approved = sign_in(&server, &login_url, "admin", &server.admin_password);
    assert_eq!(approved.status(), 302);
    let location = approved.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("http://localhost:1000"),
        "redirect to the CLI: {location}"
    );
    assert!(
        location.contains("code=") && location.contains("state="),
        "{location}"
    );
    // The browser follows the redirect to the CLI's listener, which completes the login.
    // terraform closes that listener (`server.Close()`, not a graceful shutdown) as soon as it
    // has the code, so its answer may be cut off; whether the login worked shows below.
    match reqwest::blocking::get(&location) {
        Ok(callback) => assert!(
            callback.status().is_success(),
            "CLI listener answered {}",
            callback.status()
        ),
        Err(err) => assert!(
            err.is_request() && !err.is_connect(),
            "the CLI's listener was not there: {err}"
        ),
    }

    let output = child.wait_with_output().unwrap();
    let (_, stderr) = terrace_tests::texts(&output);
    let stdout = terrace_tests::strip_ansi(&rest.iter().collect::<Vec<_>>().join("\n"));
    assert!(
        output.status.success(),
        "terraform login failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains(&format!(
            "Success! {} has obtained and saved an API token",
            client.product()
        )),
        "{stdout}"
    );

    // The CLI stored an ordinary API token for the host...
    let credentials: Value = serde_json::from_str(
        &std::fs::read_to_string(tf.home().join(".terraform.d/credentials.tfrc.json")).unwrap(),
    )
    .unwrap();
    let token = credentials["credentials"][&server.hostname]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let account = server.api(&token).get("account/details").ok();
    assert_eq!(account.attr("username"), "admin");
    // ...listed among the user's tokens...
    let user_id = account.id();
    let tokens = server
        .api(&token)
        .get(&format!("users/{user_id}/authentication-tokens"))
        .ok();
    assert!(tokens.text.contains("terraform login"), "{}", tokens.text);
    assert!(!tokens.text.contains(&token), "secrets are never listed");

    // ...which the cloud block then uses, with no other configuration.
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    workspaces {{ name = \"after-login\" }}\n  }}\n}}\nresource \"terraform_data\" \"x\" {{}}\n",
            server.hostname
        ),
    );
    tf.ok(&["init", "-input=false"]);
    tf.ok(&["apply", "-auto-approve", "-input=false"]);

    // The code was single-use: replaying it at the token endpoint fails.
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let replay = browser(&server)
        .post(format!("{}/oauth/token", server.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "terraform-cli"),
            ("code", code.as_str()),
            (
                "code_verifier",
                "00000000-0000-0000-0000-000000000000.123456789",
            ),
            ("redirect_uri", location.split('?').next().unwrap()),
        ])
        .send()
        .unwrap();
    assert_eq!(replay.status(), 400);
    let error: Value = replay.json().unwrap();
    assert_eq!(error["error"], "invalid_grant");
});

#[test]
fn consent_page_refuses_foreign_redirects() {
    let server = Server::start(Db::Sqlite);
    let client = browser(&server);
    for (what, redirect) in [
        ("another host", "http://evil.example:10000/login"),
        (
            "a port outside the advertised range",
            "http://localhost:9999/login",
        ),
        ("https to elsewhere", "https://localhost:10001/login"),
    ] {
        let url = format!(
            "{}/app/oauth/authorization?client_id=terraform-cli&redirect_uri={}&response_type=code&state=s&code_challenge_method=S256&code_challenge={}",
            server.url,
            urlencode(redirect),
            "a".repeat(43)
        );
        let page = client.get(&url).send().unwrap();
        assert_eq!(page.status(), 400, "{what} must be refused");
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
