//! Abuse limits against the real server over real HTTPS: rate limits per token and per
//! client address (and when `X-Forwarded-For` is believed), password guessing on the
//! `terraform login` consent page, single-use sign-in forms, the header timeout against
//! slowloris clients, the connection cap, per-route body limits and refused bodies that still
//! get their answer. Each server is started with small limits and short windows so the tests
//! take seconds; SQLite only, as none of this touches the database's own behaviour.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::{Db, Reply, Server};

/// A browser-like client trusting the server's CA, not following redirects.
fn http(server: &Server) -> reqwest::blocking::Client {
    let pem = std::fs::read(&server.ca_bundle).unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60));
    for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().unwrap()
}

fn header<'r>(reply: &'r Reply, name: &str) -> &'r str {
    reply
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in the answer ({})", reply.status))
        .to_str()
        .unwrap()
}

/// GETs `path` with extra headers.
fn get_with(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = http(server).get(format!("{}{path}", server.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    Reply::from_response(request.send().unwrap())
}

/// Asserts a 429 with a JSON:API error, `Retry-After` and the rate limit headers.
#[track_caller]
fn assert_limited(reply: &Reply, limit: &str) {
    assert_eq!(reply.status, 429, "expected 429: {}", reply.text);
    assert!(
        header(reply, "content-type").starts_with("application/vnd.api+json"),
        "a JSON:API error"
    );
    assert_eq!(reply.body["errors"][0]["status"], "429", "{}", reply.text);
    assert!(
        reply.body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{}",
        reply.text
    );
    let retry_after: u64 = header(reply, "retry-after").parse().unwrap();
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header(reply, "x-ratelimit-limit"), limit);
    assert_eq!(header(reply, "x-ratelimit-remaining"), "0");
    let reset: f64 = header(reply, "x-ratelimit-reset").parse().unwrap();
    assert!(reset > 0.0, "X-RateLimit-Reset {reset}");
}

/// Sends `send` until it is answered 429 (at most `max` times); returns that answer and how
/// many were allowed before it.
fn flood(max: usize, mut send: impl FnMut(usize) -> Reply) -> (Reply, usize) {
    for i in 0..max {
        let reply = send(i);
        if reply.status == 429 {
            return (reply, i);
        }
        assert!(reply.status < 400, "request {i}: {}", reply.text);
    }
    panic!("{max} requests in a row were never limited");
}

#[test]
fn a_token_flood_is_limited_for_that_token_only() {
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .args(&["--rate-limit", "2", "--rate-limit-burst", "4"])
        .start();
    let alice_token = server.admin_token();
    let alice = server.api(&alice_token);
    let bob = server.api(&server.user_token("bob"));

    // Every answer carries the limit, what is left of the burst and when it is whole again.
    let first = alice.get("account/details").ok();
    assert_eq!(header(&first, "x-ratelimit-limit"), "2");
    assert_eq!(header(&first, "x-ratelimit-remaining"), "3");
    let reset: f64 = header(&first, "x-ratelimit-reset").parse().unwrap();
    assert!(reset > 0.0 && reset <= 2.0, "reset {reset}");
    // Errors too: they are answers of a limited route.
    let missing = alice.get("workspaces/ws-doesnotexist");
    assert_eq!(missing.status, 404);
    assert_eq!(header(&missing, "x-ratelimit-limit"), "2");

    let (refused, allowed) = flood(50, |_| alice.get("account/details"));
    assert!(allowed >= 2, "the burst was allowed first ({allowed})");
    assert_limited(&refused, "2");
    // In the same moment another token is not affected...
    let other = bob.get("account/details").ok();
    assert_eq!(header(&other, "x-ratelimit-remaining"), "3");
    // ...while the flooding one still is.
    assert_eq!(alice.get("account/details").status, 429);
    // A refusal names the API version too: go-tfe reads it from whatever its ping gets.
    assert_eq!(header(&refused, "tfp-api-version"), "2.6");
    // Discovery and the ping, sent with the limited token, fall back to the address's
    // allowance: a CLI started now still finds the API and its version, told the token's
    // limit to pace itself by (and then waits out the 429s of its token).
    let bearer = format!("Bearer {alice_token}");
    for path in ["/.well-known/terraform.json", "/api/v2/ping"] {
        let reply = get_with(&server, path, &[("authorization", &bearer)]);
        assert!(
            reply.status == 200 || reply.status == 204,
            "{path}: {}",
            reply.status
        );
        assert_eq!(
            header(&reply, "x-ratelimit-limit"),
            "2",
            "{path}: the token's limit"
        );
        assert_eq!(header(&reply, "tfp-api-version"), "2.6", "{path}");
    }

    // Once the reset has passed, the whole burst is back.
    let reset: f64 = header(&refused, "x-ratelimit-reset").parse().unwrap();
    std::thread::sleep(Duration::from_secs_f64(reset + 0.1));
    let again = alice.get("account/details").ok();
    assert_eq!(header(&again, "x-ratelimit-remaining"), "3");
}

#[test]
fn anonymous_requests_are_limited_per_address_and_forwarded_for_is_not_believed() {
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .args(&[
            "--rate-limit-anonymous",
            "1",
            "--rate-limit-anonymous-burst",
            "3",
        ])
        .start();
    let token = server.admin_token();
    // Let the readiness probes' share of the burst come back.
    std::thread::sleep(Duration::from_secs(3));

    // A client making up a new X-Forwarded-For for every request is still one address.
    let (refused, _) = flood(10, |i| {
        let spoofed = format!("198.51.100.{i}");
        get_with(
            &server,
            "/.well-known/terraform.json",
            &[("x-forwarded-for", &spoofed)],
        )
    });
    assert_limited(&refused, "1");
    // Invalid tokens are requests without a valid token: counted by address, limited too.
    let bogus = get_with(
        &server,
        "/api/v2/account/details",
        &[("authorization", "Bearer trc1.not-a-token-at-all")],
    );
    assert_limited(&bogus, "1");
    // A valid token is counted by itself, not by address.
    let mine = server.api(&token).get("account/details").ok();
    assert_eq!(header(&mine, "x-ratelimit-limit"), "30");
}

#[test]
fn forwarded_for_is_believed_from_trusted_proxies() {
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .args(&[
            "--rate-limit-anonymous",
            "1",
            "--rate-limit-anonymous-burst",
            "3",
            "--trusted-proxies",
            "10.0.0.0/8,127.0.0.1/32",
        ])
        .start();
    let client_a = [("x-forwarded-for", "203.0.113.1")];
    let (refused, allowed) = flood(10, |_| {
        get_with(&server, "/.well-known/terraform.json", &client_a)
    });
    assert_limited(&refused, "1");
    assert!(allowed >= 2, "{allowed}");
    // Another client behind the same proxy has its own limit.
    get_with(
        &server,
        "/.well-known/terraform.json",
        &[("x-forwarded-for", "203.0.113.2")],
    )
    .ok();
    // The right-most address the proxies did not add is the client: what client A writes
    // in front of it changes nothing.
    let spoofing = get_with(
        &server,
        "/.well-known/terraform.json",
        &[("x-forwarded-for", "192.0.2.99, 203.0.113.1, 10.0.0.7")],
    );
    assert_limited(&spoofing, "1");
}

// ---------------------------------------------------------------------------------------------
// Sign-in.

const LOGIN_QUERY: &str =
    "client_id=terraform-cli&redirect_uri=http%3A%2F%2Flocalhost%3A10000%2Flogin\
    &response_type=code&state=s&code_challenge_method=S256\
    &code_challenge=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A consent page's form: its CSRF cookie, and the fields to post.
struct Form {
    cookie: String,
    fields: Vec<(String, String)>,
}

fn open_form(server: &Server) -> Form {
    let page = http(server)
        .get(format!(
            "{}/app/oauth/authorization?{LOGIN_QUERY}",
            server.url
        ))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("terrace_csrf="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a CSRF cookie");
    let html = page.text().unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let csrf = html[start..].split('"').next().unwrap().to_string();
    let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(LOGIN_QUERY.as_bytes())
        .into_owned()
        .collect();
    fields.push(("csrf".into(), csrf));
    fields.push(("decision".into(), "approve".into()));
    Form { cookie, fields }
}

fn submit(server: &Server, form: &Form, username: &str, password: &str) -> Reply {
    let mut fields = form.fields.clone();
    fields.push(("username".into(), username.into()));
    fields.push(("password".into(), password.into()));
    Reply::from_response(
        http(server)
            .post(format!("{}/app/oauth/authorization", server.url))
            .header("cookie", format!("terrace_csrf={}", form.cookie))
            .form(&fields)
            .send()
            .unwrap(),
    )
}

fn sign_in(server: &Server, username: &str, password: &str) -> Reply {
    submit(server, &open_form(server), username, password)
}

#[track_caller]
fn assert_throttled(reply: &Reply) {
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert!(
        reply.text.contains("Too many failed sign-ins"),
        "{}",
        reply.text
    );
    let retry_after: u64 = header(reply, "retry-after").parse().unwrap();
    assert!(retry_after >= 1);
}

#[test]
fn password_guessing_is_throttled_per_account_with_backoff() {
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .args(&["--login-failures", "2", "--login-backoff-seconds", "2"])
        .start();
    let password = server.admin_password.clone();
    for _ in 0..2 {
        assert_eq!(sign_in(&server, "admin", "guess").status, 401);
    }
    // Now even the right password is refused until the backoff has passed.
    let started = Instant::now();
    assert_throttled(&sign_in(&server, "admin", &password));
    // Other accounts are not affected (unknown ones get the same answers as real ones).
    assert_eq!(sign_in(&server, "nobody", "guess").status, 401);

    std::thread::sleep(Duration::from_secs(2).saturating_sub(started.elapsed()));
    std::thread::sleep(Duration::from_millis(200));
    let signed_in = sign_in(&server, "admin", &password);
    assert_eq!(signed_in.status, 302, "{}", signed_in.text);
    assert!(header(&signed_in, "location").starts_with("http://localhost:10000/login?code="));
    // The success started the account afresh: a mistake is a mistake again, not a wait.
    assert_eq!(sign_in(&server, "admin", "guess").status, 401);
}

#[test]
fn password_guessing_across_accounts_is_throttled_per_address() {
    // One failure per account, so four per address.
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .args(&["--login-failures", "1", "--login-backoff-seconds", "30"])
        .start();
    for name in ["ann", "ben", "cat", "dan"] {
        assert_eq!(sign_in(&server, name, "guess").status, 401);
    }
    assert_throttled(&sign_in(&server, "eve", "guess"));
    // From this address even the right password of an untouched account waits.
    assert_throttled(&sign_in(&server, "admin", &server.admin_password));
}

#[test]
fn a_sign_in_form_works_once() {
    let server = Server::builder(Db::Sqlite).arg("--no-listener").start();
    let form = open_form(&server);
    assert_eq!(submit(&server, &form, "admin", "guess").status, 401);
    // The same form again (cookie and field as they were): refused, the password unchecked.
    let replay = submit(&server, &form, "admin", &server.admin_password);
    assert_eq!(replay.status, 400, "{}", replay.text);
    assert!(replay.text.contains("already used"), "{}", replay.text);
    // A fresh form works.
    assert_eq!(
        sign_in(&server, "admin", &server.admin_password).status,
        302
    );
}

// ---------------------------------------------------------------------------------------------
// Connections and bodies.

/// A TLS connection to the server, handshake done, speaking HTTP/1.1.
fn tls_connection(
    server: &Server,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&server.ca_bundle).unwrap();
    let certs = rustls_pemfile_certs(&pem);
    roots.add_parsable_certificates(certs);
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let port = server.url.rsplit(':').next().unwrap();
    let tcp = TcpStream::connect(format!("127.0.0.1:{port}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// Reads until the server closes the connection; false if it is still open after 10 s.
fn closed_by_server(stream: &mut impl Read) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_slowloris_client_is_disconnected_within_the_header_timeout() {
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .args(&["--header-timeout-seconds", "1"])
        .start();
    // Control: a whole request on such a connection is answered.
    let mut stream = tls_connection(&server).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Half a request, then nothing.
    let mut stream = tls_connection(&server).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    assert!(
        closed_by_server(&mut stream),
        "the connection was still open after 10 s"
    );
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(4), "closed after {elapsed:?}");
}

#[test]
fn connections_beyond_the_cap_are_closed() {
    let server = Server::builder(Db::Sqlite)
        .arg("--no-listener")
        .args(&["--max-connections", "2"])
        .start();
    // The readiness probe's connection may take a moment to be noticed as closed.
    std::thread::sleep(Duration::from_millis(500));
    let first = tls_connection(&server).unwrap();
    let _second = tls_connection(&server).unwrap();
    assert!(
        tls_connection(&server).is_err(),
        "a third connection completed its handshake"
    );
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match tls_connection(&server) {
            Ok(_) => break,
            Err(err) if Instant::now() < deadline => {
                let _ = err;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("no connection after one closed: {err}"),
        }
    }
}

#[test]
fn oversized_bodies_get_413_by_route() {
    let server = Server::builder(Db::Sqlite).arg("--no-listener").start();
    let api = server.api(&server.admin_token());
    // An organization document of 3 MiB: over the 2 MiB of ordinary API documents.
    let big = "x".repeat(3 << 20);
    let body =
        json!({"data": {"type": "organizations", "attributes": {"name": "big", "email": big}}});
    let reply = api.post("organizations", &body);
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert!(header(&reply, "content-type").starts_with("application/vnd.api+json"));
    assert_eq!(reply.body["errors"][0]["status"], "413");
    assert!(reply.body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("limit"));
    // The state version route, which may carry a state inline, takes the same body (and
    // refuses it for what it is, not for its size).
    let ws = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "w"}}}),
        )
        .ok()
        .id();
    let state = json!({"data": {"type": "state-versions", "attributes": {
        "serial": 1, "md5": "00000000000000000000000000000000", "state": big}}});
    let reply = api.post(&format!("workspaces/{ws}/state-versions"), &state);
    assert!(
        reply.status != 413 && reply.status < 500,
        "{}: {}",
        reply.status,
        reply.text
    );
    // Forms are small: a 100 KiB sign-in form is refused the same way.
    let form = format!("username=admin&password={}", "x".repeat(100 << 10));
    let reply = Reply::from_response(
        http(&server)
            .post(format!("{}/app/oauth/authorization", server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .unwrap(),
    );
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.body["errors"][0]["status"], "413");
}

/// One HTTP/1.1 answer from `stream`: its head, and its body (by its Content-Length).
fn read_answer(stream: &mut impl Read) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("the answer arrives");
        assert_eq!(n, 1, "the connection closed after {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap().to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    (head, body)
}

#[test]
fn a_refused_upload_still_gets_its_answer_and_keeps_its_connection() {
    let server = Server::builder(Db::Sqlite).arg("--no-listener").start();
    let mut stream = tls_connection(&server).unwrap();
    // A runner registration with a wrong token: refused before its body is read. 600 KiB,
    // far more than the server buffers with the head.
    let body = format!(r#"{{"name": "{}"}}"#, "x".repeat(600 << 10));
    let head = format!(
        "POST /api/runner/v1/listeners HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \
         not-a-token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .write_all(body.as_bytes())
        .expect("the whole body is taken, not cut off by a closed connection");
    stream.flush().unwrap();
    let (head, answer) = read_answer(&mut stream);
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["errors"][0]["status"], "401");

    // The same connection serves the next request.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (head, _) = read_answer(&mut stream);
    assert!(head.starts_with("http/1.1 200"), "{head}");

    // A refused body over the drain limit (1 MiB) is not read: the connection closes after
    // the answer, as it did.
    let mut stream = tls_connection(&server).unwrap();
    let head = "POST /api/runner/v1/listeners HTTP/1.1\r\nHost: localhost\r\nAuthorization: \
                Bearer not-a-token\r\nContent-Type: application/json\r\nContent-Length: \
                104857600\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let (head, _) = read_answer(&mut stream);
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(
        closed_by_server(&mut stream),
        "a 100 MiB rest was waited for"
    );
}
