//! E-mail notifications end to end: an SMTP server started here (aiosmtpd, which prints every
//! message it accepts) on 127.0.0.1 (reachable with `--allow-private-notification-urls`), set
//! through TFE's `/admin/smtp-settings` (site administrators only, the password never shown);
//! a test mail on update, and a 422 when it cannot be sent; an `email` configuration whose
//! member user and address each get the mail of a real remote plan made with the terraform
//! CLI, naming the run's status, workspace and link; a user outside the organization refused.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::{both_databases, free_port, Db, Server, Terraform};

const ORG: &str = "default";
const PASSWORD: &str = "smtp-password-never-shown";

/// aiosmtpd's debugging server: what it printed (every message, headers and body).
struct Smtp {
    port: u16,
    child: Child,
    out: Arc<Mutex<String>>,
}

/// aiosmtpd with STARTTLS required (`cert`/`key`) and AUTH required over it, for `user` with
/// `password`; it prints what `-m aiosmtpd` prints, and each AUTH's outcome.
const TLS_SMTP: &str = r#"
import ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Debugging
from aiosmtpd.smtp import AuthResult, LoginPassword
cert, key, port, user, password = sys.argv[1:6]
tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
def authenticator(server, session, envelope, mechanism, data):
    ok = (isinstance(data, LoginPassword) and data.login.decode() == user
          and data.password.decode() == password)
    print("AUTH", mechanism, "accepted" if ok else "refused", flush=True)
    return AuthResult(success=ok)
Controller(Debugging(sys.stdout), hostname="127.0.0.1", port=int(port), tls_context=tls,
           require_starttls=True, authenticator=authenticator, auth_required=True,
           auth_require_tls=True).start()
while True:
    time.sleep(3600)
"#;

impl Smtp {
    fn start() -> Smtp {
        let port = free_port();
        let mut command = Command::new("python3");
        command
            .args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"));
        Smtp::spawn(command, port)
    }

    /// An SMTP server that takes mail only after STARTTLS and AUTH.
    fn start_tls(cert: &Path, key: &Path, user: &str, password: &str) -> Smtp {
        let port = free_port();
        let mut command = Command::new("python3");
        command
            .args(["-u", "-c", TLS_SMTP])
            .arg(cert)
            .arg(key)
            .arg(port.to_string())
            .args([user, password]);
        Smtp::spawn(command, port)
    }

    fn spawn(mut command: Command, port: u16) -> Smtp {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd starts (scripts/install-test-deps.sh installs it)");
        let out = Arc::new(Mutex::new(String::new()));
        let kept = out.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        Smtp { port, child, out }
    }

    /// The messages printed so far, each from its header on.
    fn messages(&self) -> Vec<String> {
        let out = self.out.lock().unwrap().clone();
        out.split("---------- MESSAGE FOLLOWS ----------")
            .skip(1)
            .map(str::to_string)
            .collect()
    }

    /// Waits for a message that contains every one of `texts`.
    fn wait_for(&self, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(m) = self
                .messages()
                .into_iter()
                .find(|m| texts.iter().all(|t| m.contains(t)))
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no message with {texts:?}; got: {:#?}",
                self.messages()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_body(attributes: Value) -> Value {
    json!({"data": {"type": "smtp-settings", "attributes": attributes}})
}

fn user_id(server: &Server, token: &str) -> String {
    server.api(token).get("account/details").ok().id()
}

fn assert_no_password(reply_text: &str) {
    assert!(!reply_text.contains(PASSWORD), "{reply_text}");
    assert!(!reply_text.contains("\"password\""), "{reply_text}");
}

both_databases!(
    email_notifications_arrive_through_the_sites_smtp_server,
    |db: Db| {
        let server = Server::builder(db)
            .args(&["--allow-private-notification-urls"])
            .start();
        let token = server.admin_token();
        let api = server.api(&token);
        let smtp = Smtp::start();

        // Unset: disabled, TFE's shape; site administrators only.
        let shown = api.get("admin/smtp-settings").ok();
        assert_eq!(shown.data()["type"], "smtp-settings");
        assert_eq!(shown.id(), "smtp");
        assert_eq!(shown.attr("enabled"), false);
        assert_eq!(shown.attr("auth"), "none");
        let member_token = server.user_token("mailuser");
        let member = server.api(&member_token);
        member.get("admin/smtp-settings").expect(404);
        member
            .patch("admin/smtp-settings", &smtp_body(json!({"enabled": true})))
            .expect(404);

        // Set with a test mail: it arrives; the password is never shown.
        let updated = api
            .patch(
                "admin/smtp-settings",
                &smtp_body(
                    json!({"enabled": true, "host": "127.0.0.1", "port": smtp.port,
                "sender": "terrace@example.com", "auth": "none", "password": PASSWORD,
                "test-email-address": "admin-test@example.com"}),
                ),
            )
            .ok();
        assert_eq!(updated.attr("enabled"), true);
        assert_eq!(updated.attr("port"), smtp.port);
        assert_no_password(&updated.text);
        let test = smtp.wait_for(&["To: admin-test@example.com", "Subject: Test e-mail"]);
        assert!(test.contains("From: terrace@example.com"), "{test}");
        assert_no_password(&api.get("admin/smtp-settings").ok().text);

        // A test mail that cannot be sent: 422 saying why, nothing stored.
        let closed = free_port();
        api.patch(
            "admin/smtp-settings",
            &smtp_body(json!({"port": closed, "test-email-address": "x@example.com"})),
        )
        .expect_error(422, "test e-mail was not sent");
        assert_eq!(api.get("admin/smtp-settings").ok().attr("port"), smtp.port);
        api.patch(
            "admin/smtp-settings",
            &smtp_body(json!({"auth": "plained"})),
        )
        .expect_error(422, "plained");

        // A member user and an address get the mail of a remote plan; a stranger is refused.
        api.post(
            &format!("organizations/{ORG}/organization-memberships"),
            &json!({"data": {"type": "organization-memberships",
            "attributes": {"email": "mailuser@terrace.local"}}}),
        )
        .expect(201);
        // An address mailed through `email-addresses` must be the organization's too.
        api.post(
            &format!("organizations/{ORG}/organization-memberships"),
            &json!({"data": {"type": "organization-memberships",
            "attributes": {"email": "ops@example.com"}}}),
        )
        .expect(201);
        let member_id = user_id(&server, &member_token);
        let stranger_id = user_id(&server, &server.user_token("stranger"));

        let tf = Terraform::new(&server, &token);
        tf.write(
            "main.tf",
            &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"{ORG}\"\n    \
             workspaces {{\n      name = \"mailed\"\n    }}\n  }}\n}}\n\
             resource \"terraform_data\" \"note\" {{\n  input = \"hello\"\n}}\n",
            server.hostname
        ),
        );
        tf.ok(&["init", "-input=false"]);
        let ws = api
            .get(&format!("organizations/{ORG}/workspaces/mailed"))
            .ok()
            .id();
        let path = format!("workspaces/{ws}/notification-configurations");
        let config = |users: &[&str], addresses: &[&str]| {
            let users: Vec<Value> = users
                .iter()
                .map(|id| json!({"type": "users", "id": id}))
                .collect();
            json!({"data": {"type": "notification-configurations",
            "attributes": {"name": "mail", "destination-type": "email", "enabled": true,
                "triggers": ["run:completed"], "email-addresses": addresses},
            "relationships": {"users": {"data": users}}}})
        };
        api.post(&path, &config(&[&stranger_id], &["ops@example.com"]))
            .expect_error(422, "not a member");
        // Nor any address outside the organization (the site's SMTP server is no open relay),
        // nor one that would add lines to the SMTP conversation.
        api.post(&path, &config(&[&member_id], &["victim@elsewhere.example"]))
            .expect_error(422, "not the address of a member");
        api.post(
            &path,
            &config(
                &[&member_id],
                &["ops@example.com>\r\nRCPT TO:<victim@x.example"],
            ),
        )
        .expect_error(422, "not an e-mail address");
        let nc = api
            .post(&path, &config(&[&member_id], &["ops@example.com"]))
            .expect(201)
            .id();

        tf.ok(&["plan", "-input=false"]);
        let subject = format!("Subject: Run Planned and Finished in {ORG}/mailed");
        let to_member = smtp.wait_for(&["To: mailuser@terrace.local", &subject]);
        let to_ops = smtp.wait_for(&["To: ops@example.com", &subject]);
        for mail in [&to_member, &to_ops] {
            assert!(
                mail.contains(&format!("/app/{ORG}/workspaces/mailed/runs/run-")),
                "{mail}"
            );
        }
        assert!(smtp
            .messages()
            .iter()
            .all(|m| !m.contains("stranger@terrace.local")));

        // The delivery is recorded as successful.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let shown = api.get(&format!("notification-configurations/{nc}")).ok();
            let responses = shown.attr("delivery-responses").as_array().unwrap().clone();
            if responses.iter().any(|r| {
                r["successful"] == "true"
                    && r["body"].as_str().unwrap_or("").contains("2 recipient")
            }) {
                break;
            }
            assert!(Instant::now() < deadline, "{}", shown.text);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
);

/// A CA and a certificate it signs for 127.0.0.1 (openssl), in `dir`: (ca, cert, key).
fn smtp_certificates(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=SMTP test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "smtp.key",
        "-out",
        "smtp.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "smtp.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "smtp.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("smtp.pem"),
        dir.join("smtp.key"),
    )
}

/// A server that offers STARTTLS gets the mail over TLS, its certificate checked, and the
/// password (PLAIN or LOGIN) only inside it: aiosmtpd refuses MAIL and AUTH before STARTTLS.
/// (No wrong-password case: aiosmtpd stalls after a refused AUTH instead of answering 535.)
#[test]
fn mail_goes_over_starttls_with_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = smtp_certificates(dir.path());
    let smtp = Smtp::start_tls(&cert, &key, "mailer", PASSWORD);
    let server = Server::builder(Db::Sqlite)
        .args(&["--allow-private-notification-urls"])
        .env("SSL_CERT_FILE", ca.to_str().unwrap())
        .start();
    let api = server.api(&server.admin_token());
    for (auth, to) in [
        ("plain", "plain@example.com"),
        ("login", "login@example.com"),
    ] {
        api.patch(
            "admin/smtp-settings",
            &smtp_body(
                json!({"enabled": true, "host": "127.0.0.1", "port": smtp.port,
                "sender": "terrace@example.com", "auth": auth, "username": "mailer",
                "password": PASSWORD, "test-email-address": to}),
            ),
        )
        .ok();
        let mail = smtp.wait_for(&[&format!("To: {to}"), "Subject: Test e-mail"]);
        assert!(mail.contains("From: terrace@example.com"), "{mail}");
    }
    // A server that does not trust the certificate sends nothing, in clear text neither.
    let untrusting = Server::builder(Db::Sqlite)
        .args(&["--allow-private-notification-urls"])
        .start();
    untrusting
        .api(&untrusting.admin_token())
        .patch(
            "admin/smtp-settings",
            &smtp_body(
                json!({"enabled": true, "host": "127.0.0.1", "port": smtp.port,
                "sender": "terrace@example.com", "auth": "plain", "username": "mailer",
                "password": PASSWORD, "test-email-address": "never@example.com"}),
            ),
        )
        .expect_error(422, "TLS with the SMTP server 127.0.0.1");
    let out = smtp.out.lock().unwrap().clone();
    assert_eq!(out.matches("AUTH").count(), 2, "{out}");
    assert!(
        !out.contains("never@example.com") && !out.contains(PASSWORD),
        "{out}"
    );
}
