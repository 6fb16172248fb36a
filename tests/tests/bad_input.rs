//! Bad input, end to end: malformed JSON, wrong types, oversized bodies, unknown IDs and routes,
//! conflicting serials and lineages, foreign locks, bad or expired upload URLs and interrupted
//! uploads. Each must get a JSON:API error with a 4xx status (also as the string in
//! `errors[0].status`) whose detail says what is wrong, never a 5xx or a panic, and must write
//! nothing: every case re-reads the workspace, its version list, its current state version and
//! outputs, downloads the current state and lists the workspace's blob files, before and after.
//!
//! Two users: only site administrators and members see an organization, and there is no API yet
//! to add a member, so a second user ("bob") owns an organization of his own (any user may
//! create one) and the site administrator, who sees every organization, is the "someone else"
//! who meets bob's lock.

use std::io::Read;
use std::time::{Duration, Instant};

use base64::Engine;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use terrace_tests::{both_databases, Api, Db, Reply, Server};

const LINEAGE: &str = "6b3c3d1e-1b5a-4c43-9c5e-2f1d3f0a9b10";

// ---------------------------------------------------------------------------------------------
// A client that fails the test on any 5xx.

#[derive(Clone)]
struct Client {
    api: Api,
    token: String,
    url: String,
    http: reqwest::blocking::Client,
}

impl Client {
    fn new(server: &Server, token: &str) -> Client {
        Client {
            api: server.api(token),
            token: token.to_string(),
            url: server.url.clone(),
            http: http_client(server),
        }
    }

    #[track_caller]
    fn get(&self, path: &str) -> Reply {
        no_5xx("GET", path, self.api.get(path))
    }

    #[track_caller]
    fn post(&self, path: &str, body: &Value) -> Reply {
        no_5xx("POST", path, self.api.post(path, body))
    }

    #[track_caller]
    fn patch(&self, path: &str, body: &Value) -> Reply {
        no_5xx("PATCH", path, self.api.patch(path, body))
    }

    #[track_caller]
    fn send(&self, method: &str, path: &str, body: &Value) -> Reply {
        no_5xx(method, path, self.api.send_json(method, path, body))
    }

    /// Raw bytes as a JSON:API body (malformed documents).
    #[track_caller]
    fn raw(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        no_5xx(method, path, self.api.send_raw(method, path, body))
    }

    /// Any method without a body.
    #[track_caller]
    fn bare(&self, method: &str, path: &str) -> Reply {
        no_5xx(method, path, self.api.request(method, path, None, ""))
    }

    /// A credential-less PUT to a signed upload URL, as the CLI sends it.
    #[track_caller]
    fn upload(&self, url: &str, body: &[u8]) -> Reply {
        no_5xx("PUT", url, self.api.put_unauthenticated(url, body))
    }

    /// An authenticated request whose body is streamed from `body` (never held in memory),
    /// with `Content-Length: len` when `len` is given and chunked otherwise.
    #[track_caller]
    fn stream(
        &self,
        method: &str,
        path: &str,
        body: impl Read + Send + 'static,
        len: Option<u64>,
    ) -> Reply {
        let body = match len {
            Some(len) => reqwest::blocking::Body::sized(body, len),
            None => reqwest::blocking::Body::new(body),
        };
        let response = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/api/v2/{path}", self.url),
            )
            .bearer_auth(&self.token)
            .header("content-type", "application/vnd.api+json")
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: no response: {e:?}"));
        no_5xx(method, path, Reply::from_response(response))
    }
}

fn http_client(server: &Server) -> reqwest::blocking::Client {
    let pem = std::fs::read(&server.ca_bundle).expect("the server's CA bundle");
    terrace_tests::http_client(&pem)
        .timeout(Duration::from_secs(300))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

#[track_caller]
fn no_5xx(method: &str, path: &str, reply: Reply) -> Reply {
    assert!(
        reply.status < 500,
        "{method} {path} answered {} (client mistakes must get a 4xx, never a 5xx): {}",
        reply.status,
        reply.text
    );
    reply
}

/// Asserts a JSON:API error: this status, also as the string in `errors[0].status`, the
/// JSON:API media type, and a detail that mentions each of `mentions` (case-insensitive).
#[track_caller]
fn refused(reply: Reply, status: u16, mentions: &[&str]) -> Reply {
    assert_eq!(
        reply.status, status,
        "unexpected status; body: {}",
        reply.text
    );
    let media_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        media_type.starts_with("application/vnd.api+json"),
        "an error must be a JSON:API document, got {media_type:?}: {}",
        reply.text
    );
    let error = &reply.body["errors"][0];
    assert_eq!(
        error["status"],
        json!(status.to_string()),
        "errors[0].status must be the status as a string: {}",
        reply.text
    );
    let detail = error["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("errors[0].detail must say what is wrong: {}", reply.text));
    for mention in mentions {
        assert!(
            detail.to_lowercase().contains(&mention.to_lowercase()),
            "detail {detail:?} does not mention {mention:?}"
        );
    }
    reply
}

/// Asserts `errors[0].source.pointer`.
#[track_caller]
fn points_at(reply: &Reply, pointer: &str) {
    assert_eq!(
        reply.body["errors"][0]["source"]["pointer"],
        json!(pointer),
        "source.pointer: {}",
        reply.text
    );
}

// ---------------------------------------------------------------------------------------------
// State files and requests.

/// A Terraform state file with one output.
fn state_file(serial: i64, lineage: &str, greeting: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": serial,
        "lineage": lineage,
        "outputs": {"greeting": {"value": greeting, "type": "string"}},
        "resources": [],
        "check_results": null
    }))
    .unwrap()
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn state_version_body(attributes: Value) -> Value {
    json!({"data": {"type": "state-versions", "attributes": attributes}})
}

/// A create request with the state inline.
fn inline(serial: i64, lineage: &str, state: &[u8]) -> Value {
    state_version_body(json!({
        "serial": serial,
        "md5": md5_hex(state),
        "lineage": lineage,
        "state": b64(state),
    }))
}

/// A create request without state: the version waits for an upload.
fn pending(serial: i64, lineage: &str, md5: &str) -> Value {
    state_version_body(json!({"serial": serial, "md5": md5, "lineage": lineage}))
}

fn versions_path(ws: &str) -> String {
    format!("workspaces/{ws}/state-versions")
}

fn create_workspace(c: &Client, org: &str, name: &str) -> String {
    c.post(
        &format!("organizations/{org}/workspaces"),
        &json!({"data": {"type": "workspaces", "attributes": {"name": name}}}),
    )
    .expect(201)
    .id()
}

fn create_organization(c: &Client, name: &str) {
    c.post(
        "organizations",
        &json!({"data": {"type": "organizations",
            "attributes": {"name": name, "email": format!("{name}@example.com")}}}),
    )
    .expect(201);
}

fn lock(c: &Client, ws: &str) {
    c.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .ok();
}

fn unlock(c: &Client, ws: &str) {
    c.post(&format!("workspaces/{ws}/actions/unlock"), &json!({}))
        .ok();
}

/// Writes `state` inline (the workspace must be locked by `c`); returns the new version's ID.
#[track_caller]
fn write_state(c: &Client, ws: &str, serial: i64, lineage: &str, state: &[u8]) -> String {
    let created = c.post(&versions_path(ws), &inline(serial, lineage, state));
    let created = created.expect(201);
    assert_eq!(created.attr("status"), "finalized", "{}", created.text);
    created.id()
}

/// Creates a pending version for `state`; returns its ID and the reply.
#[track_caller]
fn create_pending(c: &Client, ws: &str, serial: i64, md5: &str) -> (String, Reply) {
    let created = c.post(&versions_path(ws), &pending(serial, LINEAGE, md5));
    let created = created.expect(201);
    assert_eq!(created.attr("status"), "pending", "{}", created.text);
    (created.id(), created)
}

fn upload_url(reply: &Reply) -> String {
    reply
        .attr("hosted-state-upload-url")
        .as_str()
        .unwrap_or_else(|| panic!("a pending version has an upload URL: {}", reply.text))
        .to_string()
}

fn current_id(c: &Client, ws: &str) -> Option<String> {
    let reply = c.get(&format!("workspaces/{ws}")).ok();
    reply.body["data"]["relationships"]["current-state-version"]["data"]["id"]
        .as_str()
        .map(str::to_string)
}

#[track_caller]
fn download(c: &Client, sv: &str) -> Vec<u8> {
    c.get(&format!("state-versions/{sv}/download"))
        .ok()
        .text
        .into_bytes()
}

/// Asserts the version is still pending, offers its upload URL and has no state to download.
#[track_caller]
fn assert_pending(c: &Client, sv: &str) {
    let shown = c.get(&format!("state-versions/{sv}")).ok();
    assert_eq!(shown.attr("status"), "pending", "{}", shown.text);
    assert!(
        shown.attr("hosted-state-upload-url").is_string(),
        "{}",
        shown.text
    );
    assert_eq!(shown.attr("hosted-state-download-url"), &Value::Null);
    refused(
        c.get(&format!("state-versions/{sv}/download")),
        404,
        &["not found"],
    );
}

// ---------------------------------------------------------------------------------------------
// What "nothing changed" means.

/// Everything a failed request must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// `GET /workspaces/:id` (settings, lock, current-state-version, updated-at).
    workspace: Value,
    /// `GET /workspaces/:id/current-state-version`, or its status when there is none.
    current_version: Value,
    /// MD5 and size of the downloaded current state.
    current_state: Option<(String, usize)>,
    current_outputs: Value,
    /// IDs of the finalized versions, newest first.
    versions: Vec<String>,
    /// The workspace's files in the blob store (finished blobs and staged uploads).
    blobs: Vec<String>,
}

fn snapshot(server: &Server, c: &Client, ws: &str) -> Snapshot {
    let workspace = c.get(&format!("workspaces/{ws}")).ok().body["data"].clone();
    let current = c.get(&format!("workspaces/{ws}/current-state-version"));
    let (current_version, current_state, current_outputs) = if current.status == 404 {
        let outputs = c.get(&format!("workspaces/{ws}/current-state-version-outputs"));
        (json!(404), None, json!(outputs.status))
    } else {
        let current = current.ok();
        let bytes = download(c, &current.id());
        let outputs = c
            .get(&format!("workspaces/{ws}/current-state-version-outputs"))
            .ok()
            .body;
        (
            current.body["data"].clone(),
            Some((md5_hex(&bytes), bytes.len())),
            outputs,
        )
    };
    let versions = c
        .get(&format!("workspaces/{ws}/state-versions?page[size]=100"))
        .ok()
        .body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    Snapshot {
        workspace,
        current_version,
        current_state,
        current_outputs,
        versions,
        blobs: server.blob_files(ws),
    }
}

#[track_caller]
fn assert_unchanged(server: &Server, c: &Client, ws: &str, before: &Snapshot, what: &str) {
    let after = snapshot(server, c, ws);
    assert_eq!(before, &after, "{what} changed the workspace");
}

/// Like [`assert_unchanged`], allowing the server a few seconds to clean up after a request
/// whose client went away (it cannot answer that client, so nothing says when it is done).
#[track_caller]
fn assert_settles_unchanged(server: &Server, c: &Client, ws: &str, before: &Snapshot, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = snapshot(server, c, ws);
        if &after == before {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(before, &after, "{what} changed the workspace");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn workspace_names(c: &Client, org: &str) -> Vec<String> {
    let list = c
        .get(&format!("organizations/{org}/workspaces?page[size]=100"))
        .ok();
    let mut names: Vec<String> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["attributes"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn organization_names(c: &Client) -> Vec<String> {
    let list = c.get("organizations").ok();
    let mut names: Vec<String> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["attributes"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn admin(server: &Server) -> Client {
    Client::new(server, &server.admin_token())
}

/// The upload URL with one character of its token's signed part changed.
fn tampered(url: &str) -> String {
    let (base, token) = url.rsplit_once('/').unwrap();
    let mut bytes = token.as_bytes().to_vec();
    let at = token.find('.').expect("payload.signature") / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let token = String::from_utf8(bytes).unwrap();
    assert_ne!(format!("{base}/{token}"), url);
    format!("{base}/{token}")
}

// ---------------------------------------------------------------------------------------------
// Bodies produced on the fly.

/// `prefix`, filler up to `len` bytes, then `suffix`, without ever holding the whole body.
struct Generated {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    len: u64,
    pos: u64,
}

impl Generated {
    fn new(prefix: &[u8], suffix: &[u8], len: u64) -> Generated {
        Generated {
            prefix: prefix.to_vec(),
            suffix: suffix.to_vec(),
            len,
            pos: 0,
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let suffix_start = self.len - self.suffix.len() as u64;
        let mut n = 0;
        while n < buf.len() && self.pos < self.len {
            let pos = self.pos;
            let take = if pos < self.prefix.len() as u64 {
                let from = &self.prefix[pos as usize..];
                let take = from.len().min(buf.len() - n);
                buf[n..n + take].copy_from_slice(&from[..take]);
                take
            } else if pos >= suffix_start {
                let from = &self.suffix[(pos - suffix_start) as usize..];
                let take = from.len().min(buf.len() - n);
                buf[n..n + take].copy_from_slice(&from[..take]);
                take
            } else {
                let take = ((suffix_start - pos) as usize).min(buf.len() - n);
                buf[n..n + take].fill(b'a');
                take
            };
            n += take;
            self.pos += take as u64;
        }
        Ok(n)
    }
}

/// Gives the first `fail_at` bytes of `data`, then fails like a dropped connection.
struct FailsHalfway {
    data: Vec<u8>,
    pos: usize,
    fail_at: usize,
}

impl Read for FailsHalfway {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.fail_at {
            // Let what was sent reach the server before the connection breaks.
            std::thread::sleep(Duration::from_millis(300));
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated network failure mid-upload",
            ));
        }
        let n = buf.len().min(self.fail_at - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// PUTs the first `sent` bytes of `data` to `url` announcing `Content-Length: announced`,
/// then breaks the connection.
fn interrupted_put(c: &Client, url: &str, data: &[u8], sent: usize, announced: u64) {
    let body = FailsHalfway {
        data: data.to_vec(),
        pos: 0,
        fail_at: sent,
    };
    let outcome = c
        .http
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(reqwest::blocking::Body::sized(body, announced))
        .send();
    match outcome {
        // The server cannot usually answer a client that went away; if it does, a 4xx.
        Ok(response) => {
            let reply = Reply::from_response(response);
            assert!(
                (400..500).contains(&reply.status),
                "an interrupted upload answered {}: {}",
                reply.status,
                reply.text
            );
        }
        Err(err) => {
            eprintln!("interrupted upload ({sent} of {announced} bytes), as intended: {err}")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State versions.

both_databases!(state_serial_md5_and_lineage_conflicts, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "succession");
    lock(&c, &ws);
    let v1 = state_file(5, LINEAGE, "first");
    let v1_id = write_state(&c, &ws, 5, LINEAGE, &v1);
    let before = snapshot(&server, &c, &ws);
    assert_eq!(download(&c, &v1_id), v1);

    // A lower serial: the server has moved on since the client read its state.
    let older = state_file(4, LINEAGE, "older");
    refused(
        c.post(&versions_path(&ws), &inline(4, LINEAGE, &older)),
        412,
        &["serial", "(4)", "(5)", "not greater"],
    );
    assert_unchanged(&server, &c, &ws, &before, "a lower serial");
    // The same rule for a version announced for upload.
    refused(
        c.post(&versions_path(&ws), &pending(4, LINEAGE, &md5_hex(&older))),
        412,
        &["serial"],
    );
    assert_unchanged(&server, &c, &ws, &before, "a lower serial (pending)");

    // The same serial with other content.
    let other = state_file(5, LINEAGE, "other");
    refused(
        c.post(&versions_path(&ws), &inline(5, LINEAGE, &other)),
        409,
        &["MD5", "same serial number (5)"],
    );
    assert_unchanged(
        &server,
        &c,
        &ws,
        &before,
        "the same serial with another MD5",
    );
    refused(
        c.post(&versions_path(&ws), &pending(5, LINEAGE, &md5_hex(&other))),
        409,
        &["MD5"],
    );
    assert_unchanged(&server, &c, &ws, &before, "the same serial (pending)");

    // A state of another lineage, even with a higher serial.
    let foreign = state_file(6, "foreign-lineage", "foreign");
    refused(
        c.post(&versions_path(&ws), &inline(6, "foreign-lineage", &foreign)),
        409,
        &["lineage", "foreign-lineage", LINEAGE],
    );
    assert_unchanged(&server, &c, &ws, &before, "a foreign lineage");

    // Positive control: force overrides both serial and lineage, and the forced state is
    // current and downloadable byte for byte.
    let forced = state_file(3, "foreign-lineage", "forced");
    let created = c
        .post(
            &versions_path(&ws),
            &state_version_body(json!({
                "serial": 3, "md5": md5_hex(&forced), "lineage": "foreign-lineage",
                "state": b64(&forced), "force": true,
            })),
        )
        .expect(201);
    assert_eq!(created.attr("status"), "finalized");
    assert_eq!(current_id(&c, &ws), Some(created.id()));
    assert_eq!(download(&c, &created.id()), forced);
    // The old version is untouched.
    assert_eq!(download(&c, &v1_id), v1);
});

both_databases!(state_writes_need_the_callers_lock, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);

    // Not locked at all.
    let ws = create_workspace(&c, "default", "unlocked");
    lock(&c, &ws);
    write_state(&c, &ws, 1, LINEAGE, &state_file(1, LINEAGE, "one"));
    unlock(&c, &ws);
    let before = snapshot(&server, &c, &ws);
    let next = state_file(2, LINEAGE, "two");
    refused(
        c.post(&versions_path(&ws), &inline(2, LINEAGE, &next)),
        409,
        &["not locked"],
    );
    refused(
        c.post(&versions_path(&ws), &pending(2, LINEAGE, &md5_hex(&next))),
        409,
        &["not locked"],
    );
    assert_unchanged(&server, &c, &ws, &before, "a write without the lock");

    // Locked by someone else: bob, in his own organization, which the site admin can see.
    let bob = Client::new(&server, &server.user_token("bob"));
    let bob_id = bob.get("account/details").ok().id();
    create_organization(&bob, "bobs-org");
    let bws = create_workspace(&bob, "bobs-org", "bobs-workspace");
    lock(&bob, &bws);
    let bob_state = state_file(1, LINEAGE, "bob's");
    write_state(&bob, &bws, 1, LINEAGE, &bob_state);
    let before = snapshot(&server, &c, &bws);
    assert_eq!(
        before.workspace["relationships"]["locked-by"]["data"],
        json!({"type": "users", "id": bob_id})
    );
    refused(
        c.post(&versions_path(&bws), &inline(2, LINEAGE, &next)),
        409,
        &["locked by User bob"],
    );
    refused(
        c.post(&versions_path(&bws), &pending(2, LINEAGE, &md5_hex(&next))),
        409,
        &["locked by User bob"],
    );
    assert_unchanged(
        &server,
        &c,
        &bws,
        &before,
        "a write under someone else's lock",
    );
    let current = current_id(&c, &bws).unwrap();
    assert_eq!(download(&c, &current), bob_state);

    // Positive control: the lock holder writes.
    let written = write_state(&bob, &bws, 2, LINEAGE, &next);
    assert_eq!(current_id(&c, &bws), Some(written));
});

both_databases!(inline_state_mistakes_write_nothing, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "inline");
    lock(&c, &ws);
    let v1 = state_file(1, LINEAGE, "one");
    let v1_id = write_state(&c, &ws, 1, LINEAGE, &v1);
    let before = snapshot(&server, &c, &ws);
    let next = state_file(2, LINEAGE, "two");
    let path = versions_path(&ws);

    // (Refused requests must not create a version: the API lists finalized versions only, so
    // the snapshots compare those, the current version and the blob files; a pending version
    // created by mistake would still leave no state behind and could never become current.)

    // The MD5 does not match the state sent with it.
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({
                "serial": 2, "md5": md5_hex(b"something else"), "lineage": LINEAGE,
                "state": b64(&next),
            })),
        ),
        422,
        &["MD5", "does not match"],
    );
    points_at(&r, "/data/attributes/md5");
    assert_unchanged(&server, &c, &ws, &before, "an MD5 mismatch");

    // The state is not base64.
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({
                "serial": 2, "md5": md5_hex(&next), "lineage": LINEAGE,
                "state": "this is *not* base64!",
            })),
        ),
        422,
        &["base64"],
    );
    points_at(&r, "/data/attributes/state");
    // Nor is the JSON state.
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({
                "serial": 2, "md5": md5_hex(&next), "lineage": LINEAGE,
                "state": b64(&next), "json-state": "%%% not base64 %%%",
            })),
        ),
        422,
        &["base64"],
    );
    points_at(&r, "/data/attributes/json-state");
    // The outputs are not a map of outputs.
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({
                "serial": 2, "md5": md5_hex(&next), "lineage": LINEAGE,
                "state": b64(&next), "json-state-outputs": b64(b"[1, 2, 3]"),
            })),
        ),
        422,
        &["outputs"],
    );
    points_at(&r, "/data/attributes/json-state-outputs");
    assert_unchanged(&server, &c, &ws, &before, "bad base64");

    // Base64 of something that is not a state, with its right MD5.
    for garbage in [
        &b"this is not a terraform state"[..],
        &next[..next.len() / 2],
        b"[]",
        b"",
    ] {
        let r = refused(
            c.post(&path, &inline(2, LINEAGE, garbage)),
            422,
            &["not a valid state"],
        );
        points_at(&r, "/data/attributes/state");
    }
    assert_unchanged(&server, &c, &ws, &before, "inline state that is not JSON");

    // Missing or malformed serial and MD5.
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({"md5": md5_hex(&next), "state": b64(&next)})),
        ),
        422,
        &["serial is required"],
    );
    points_at(&r, "/data/attributes/serial");
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({"serial": 2, "state": b64(&next)})),
        ),
        422,
        &["md5 is required"],
    );
    points_at(&r, "/data/attributes/md5");
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({"serial": 2, "md5": "xyz", "state": b64(&next)})),
        ),
        422,
        &["MD5", "32"],
    );
    points_at(&r, "/data/attributes/md5");
    let r = refused(
        c.post(
            &path,
            &state_version_body(json!({"serial": -1, "md5": md5_hex(&next)})),
        ),
        422,
        &["negative"],
    );
    points_at(&r, "/data/attributes/serial");
    let r = refused(c.post(&path, &json!({})), 422, &["serial is required"]);
    points_at(&r, "/data/attributes/serial");
    assert_unchanged(&server, &c, &ws, &before, "a missing serial or MD5");
    assert_eq!(download(&c, &v1_id), v1);

    // Positive control: the same request done right.
    let v2_id = write_state(&c, &ws, 2, LINEAGE, &next);
    assert_eq!(current_id(&c, &ws), Some(v2_id.clone()));
    assert_eq!(download(&c, &v2_id), next);
});

// ---------------------------------------------------------------------------------------------
// Upload URLs.

both_databases!(upload_url_mistakes_leave_the_version_pending, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "uploads");
    lock(&c, &ws);
    let v1 = state_file(1, LINEAGE, "one");
    let v1_id = write_state(&c, &ws, 1, LINEAGE, &v1);
    let v2 = state_file(2, LINEAGE, "two");
    let (sv2, created) = create_pending(&c, &ws, 2, &md5_hex(&v2));
    let url = upload_url(&created);
    let before = snapshot(&server, &c, &ws);
    assert_eq!(
        before.versions,
        vec![v1_id.clone()],
        "pending is not listed"
    );

    // A body whose MD5 is not the announced one.
    let wrong = state_file(2, LINEAGE, "tampered in transit");
    let r = refused(c.upload(&url, &wrong), 422, &["MD5", "does not match"]);
    points_at(&r, "/data/attributes/md5");
    assert_pending(&c, &sv2);
    assert_unchanged(&server, &c, &ws, &before, "an upload with the wrong MD5");

    // The URL with one character of its token changed.
    refused(c.upload(&tampered(&url), &v2), 403, &["signature"]);
    // The JSON-state URL's token on the state route: it grants something else.
    let json_url = created
        .attr("hosted-json-state-upload-url")
        .as_str()
        .unwrap()
        .to_string();
    let swapped = json_url.replace("/_uploads/json-state/", "/_uploads/state/");
    assert_ne!(swapped, json_url);
    refused(c.upload(&swapped, &v2), 403, &["grants"]);
    // Not a token at all.
    refused(
        c.upload(&format!("{}/_uploads/state/garbage", server.url), &v2),
        403,
        &["malformed"],
    );
    assert_pending(&c, &sv2);
    assert_unchanged(&server, &c, &ws, &before, "a tampered upload URL");

    // Positive control: the right bytes to the real URL.
    c.upload(&url, &v2).expect(200);
    assert_eq!(current_id(&c, &ws), Some(sv2.clone()));
    assert_eq!(download(&c, &sv2), v2);
    let before = snapshot(&server, &c, &ws);

    // A second upload after the successful one, with the same or other bytes.
    refused(c.upload(&url, &v2), 409, &["cannot be uploaded again"]);
    refused(c.upload(&url, &wrong), 409, &["cannot be uploaded again"]);
    assert_unchanged(&server, &c, &ws, &before, "a second upload");
    assert_eq!(download(&c, &sv2), v2);

    // A body that is not JSON, announced with its right MD5.
    let junk = b"definitely { not a state";
    let (sv3, created) = create_pending(&c, &ws, 3, &md5_hex(junk));
    let before = snapshot(&server, &c, &ws);
    refused(
        c.upload(&upload_url(&created), junk),
        422,
        &["not a valid state"],
    );
    assert_pending(&c, &sv3);
    assert_unchanged(&server, &c, &ws, &before, "an upload that is not JSON");
    assert_eq!(download(&c, &sv2), v2);
});

both_databases!(expired_upload_url_is_gone, |db: Db| {
    let server = Server::builder(db)
        .config("upload_url_ttl_seconds = 1\n")
        .start();
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "expiry");
    lock(&c, &ws);
    let v1 = state_file(1, LINEAGE, "one");
    let v1_id = write_state(&c, &ws, 1, LINEAGE, &v1);
    let v2 = state_file(2, LINEAGE, "two");
    let (sv2, created) = create_pending(&c, &ws, 2, &md5_hex(&v2));
    let url = upload_url(&created);
    std::thread::sleep(Duration::from_millis(2200));
    let before = snapshot(&server, &c, &ws);
    refused(c.upload(&url, &v2), 410, &["expired"]);
    let json_url = created
        .attr("hosted-json-state-upload-url")
        .as_str()
        .unwrap()
        .to_string();
    refused(c.upload(&json_url, b"{}"), 410, &["expired"]);
    assert_pending(&c, &sv2);
    assert_unchanged(&server, &c, &ws, &before, "an expired upload URL");
    assert_eq!(current_id(&c, &ws), Some(v1_id.clone()));
    assert_eq!(download(&c, &v1_id), v1);
});

both_databases!(interrupted_upload_never_becomes_current, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "interrupted");
    lock(&c, &ws);
    let v1 = state_file(1, LINEAGE, "one");
    let v1_id = write_state(&c, &ws, 1, LINEAGE, &v1);
    // Large enough to arrive in many pieces.
    let v2 = state_file(2, LINEAGE, &"x".repeat(1 << 20));
    let (sv2, created) = create_pending(&c, &ws, 2, &md5_hex(&v2));
    let url = upload_url(&created);
    let before = snapshot(&server, &c, &ws);

    // Content-Length announces all of v2; half of it arrives, then the connection breaks.
    interrupted_put(&c, &url, &v2, v2.len() / 2, v2.len() as u64);
    // Sharper: every byte of v2 arrives (so its MD5 would match), but Content-Length promised
    // more and the connection breaks before that: still an interrupted upload.
    interrupted_put(&c, &url, &v2, v2.len(), v2.len() as u64 + 1024);

    // Still pending; the previous version is current and downloads byte for byte; no blob
    // (finished or staged) is left for the interrupted version.
    assert_settles_unchanged(&server, &c, &ws, &before, "an interrupted upload");
    assert_pending(&c, &sv2);
    assert_eq!(current_id(&c, &ws), Some(v1_id.clone()));
    assert_eq!(download(&c, &v1_id), v1);
    assert!(
        !server.blob_files(&ws).iter().any(|p| p.contains(&sv2)),
        "{:?}",
        server.blob_files(&ws)
    );

    // Positive control: the whole body to the same URL is accepted and becomes current.
    c.upload(&url, &v2).expect(200);
    assert_eq!(current_id(&c, &ws), Some(sv2.clone()));
    assert_eq!(download(&c, &sv2), v2);
});

// ---------------------------------------------------------------------------------------------
// Malformed bodies and queries.

both_databases!(malformed_bodies_are_refused_with_a_pointer, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "shapes");
    let locks = create_workspace(&c, "default", "lock-shapes");
    lock(&c, &ws);
    write_state(&c, &ws, 1, LINEAGE, &state_file(1, LINEAGE, "one"));
    let names = workspace_names(&c, "default");
    let orgs = organization_names(&c);
    let before = snapshot(&server, &c, &ws);
    let before_locks = snapshot(&server, &c, &locks);
    let ws_path = format!("workspaces/{ws}");
    let next = state_file(2, LINEAGE, "two");

    // Invalid JSON: 400.
    let invalid_json: Vec<(&str, String, &[u8])> = vec![
        (
            "POST",
            "organizations/default/workspaces".into(),
            br#"{"data": {"type": "workspaces", "attributes": {"name": "half"#,
        ),
        ("PATCH", ws_path.clone(), b"{not json}"),
        ("POST", versions_path(&ws), b"{\"data\":"),
        ("POST", "organizations".into(), b"\xff\xfe garbage"),
        ("POST", format!("workspaces/{locks}/actions/lock"), b"{oops"),
    ];
    for (method, path, body) in invalid_json {
        refused(c.raw(method, &path, body), 400, &["malformed JSON"]);
    }

    // Wrong JSON types: 422 with a pointer to the value.
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            "organizations/default/workspaces".into(),
            json!({"data": {"type": "workspaces", "attributes": {"name": 5}}}),
            "/data/attributes/name",
        ),
        (
            "PATCH",
            ws_path.clone(),
            json!({"data": {"type": "workspaces", "attributes": {"auto-apply": "yes"}}}),
            "/data/attributes/auto-apply",
        ),
        (
            "PATCH",
            ws_path.clone(),
            json!({"data": {"type": "workspaces", "attributes": {"trigger-prefixes": "modules/"}}}),
            "/data/attributes/trigger-prefixes",
        ),
        (
            "POST",
            versions_path(&ws),
            state_version_body(json!({
                "serial": "one", "md5": md5_hex(&next), "lineage": LINEAGE, "state": b64(&next),
            })),
            "/data/attributes/serial",
        ),
        (
            "POST",
            versions_path(&ws),
            state_version_body(json!({"serial": 2, "md5": 12345, "state": b64(&next)})),
            "/data/attributes/md5",
        ),
        (
            "POST",
            versions_path(&ws),
            state_version_body(json!({
                "serial": 2, "md5": md5_hex(&next), "state": b64(&next), "force": "yes",
            })),
            "/data/attributes/force",
        ),
        (
            "POST",
            "organizations".into(),
            json!({"data": {"type": "organizations", "attributes": {"name": ["a"], "email": "a@b.co"}}}),
            "/data/attributes/name",
        ),
        (
            "POST",
            "organizations/default/workspaces".into(),
            json!({"data": "workspaces"}),
            "/data",
        ),
        (
            "PATCH",
            ws_path.clone(),
            json!({"data": {"type": "workspaces", "attributes": ["name"]}}),
            "/data/attributes",
        ),
    ];
    for (method, path, body, pointer) in cases {
        let r = refused(c.send(method, &path, &body), 422, &["invalid"]);
        points_at(&r, pointer);
        assert!(
            r.body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains(pointer),
            "the detail names where: {}",
            r.text
        );
    }

    // A lock reason that is not a string.
    let r = refused(
        c.post(
            &format!("workspaces/{locks}/actions/lock"),
            &json!({"reason": 5}),
        ),
        422,
        &["reason must be a string"],
    );
    points_at(&r, "/data/attributes/reason");

    // The wrong resource type: 422 pointing at data.type.
    for (method, path, body) in [
        (
            "POST",
            "organizations/default/workspaces".to_string(),
            json!({"data": {"type": "organizations", "attributes": {"name": "typed"}}}),
        ),
        (
            "PATCH",
            ws_path.clone(),
            json!({"data": {"type": "runs", "attributes": {"description": "typed"}}}),
        ),
        (
            "POST",
            versions_path(&ws),
            json!({"data": {"type": "workspaces", "attributes": {
                "serial": 2, "md5": md5_hex(&next), "state": b64(&next)}}}),
        ),
        (
            "POST",
            "organizations".to_string(),
            json!({"data": {"type": "workspaces", "attributes": {"name": "typed", "email": "a@b.co"}}}),
        ),
    ] {
        let r = refused(
            c.send(method, &path, &body),
            422,
            &["expected a resource of type"],
        );
        points_at(&r, "/data/type");
    }

    // Query values that are not what they should be: 400.
    for (path, mentions) in [
        (
            "organizations/default/workspaces?page[size]=abc".to_string(),
            "page[size]",
        ),
        (
            "organizations/default/workspaces?page[number]=-1".to_string(),
            "page[number]",
        ),
        (
            format!("workspaces/{ws}/state-versions?page[number]=two"),
            "page[number]",
        ),
        ("organizations?page[size]=1.5".to_string(), "page[size]"),
        (
            "state-versions?filter[workspace][name]=shapes".to_string(),
            "filter[organization][name]",
        ),
    ] {
        refused(c.get(&path), 400, &[mentions]);
    }

    // Nothing was created, changed or locked.
    assert_eq!(workspace_names(&c, "default"), names);
    assert_eq!(organization_names(&c), orgs);
    assert_unchanged(&server, &c, &ws, &before, "a malformed body");
    assert_unchanged(&server, &c, &locks, &before_locks, "a malformed lock body");
});

both_databases!(trailing_garbage_after_json_is_malformed, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let names = workspace_names(&c, "default");
    // A complete document followed by more bytes is not JSON (serde_json::from_slice refuses
    // it with "trailing characters"): it must be refused, and it must not create anything.
    let body =
        br#"{"data": {"type": "workspaces", "attributes": {"name": "trailing"}}} and then some"#;
    refused(
        c.raw("POST", "organizations/default/workspaces", body),
        400,
        &["malformed JSON"],
    );
    refused(
        c.raw("POST", "organizations/default/workspaces", b"{} {}"),
        400,
        &["malformed JSON"],
    );
    assert_eq!(workspace_names(&c, "default"), names);
});

both_databases!(oversized_json_body_is_refused, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let names = workspace_names(&c, "default");
    // A well-formed workspace document one byte over 64 MiB (the limit of the state version
    // route, far over the 2 MiB of other documents), generated as it is sent: first with its
    // length announced, then chunked.
    let len = (64 << 20) + 1;
    let prefix =
        br#"{"data": {"type": "workspaces", "attributes": {"name": "big", "description": ""#;
    let suffix = br#""}}}"#;
    for announced in [Some(len), None] {
        let r = c.stream(
            "POST",
            "organizations/default/workspaces",
            Generated::new(prefix, suffix, len),
            announced,
        );
        refused(r, 413, &["limit"]);
    }
    // The same through the state version route, which also parses a JSON document.
    let ws = create_workspace(&c, "default", "big-state");
    lock(&c, &ws);
    let before = snapshot(&server, &c, &ws);
    let prefix = br#"{"data": {"type": "state-versions", "attributes": {"serial": 1, "md5": "00000000000000000000000000000000", "state": ""#;
    let r = c.stream(
        "POST",
        &versions_path(&ws),
        Generated::new(prefix, suffix, len),
        Some(len),
    );
    refused(r, 413, &["limit"]);
    assert_unchanged(&server, &c, &ws, &before, "an oversized state version body");
    let mut expected = names.clone();
    expected.push("big-state".into());
    expected.sort();
    assert_eq!(workspace_names(&c, "default"), expected);
    // The server is still well.
    c.get("ping").ok();
    if let Some(kib) = server.peak_rss_kib() {
        eprintln!(
            "server peak RSS after the oversized bodies: {} MiB",
            kib >> 10
        );
    }
});

// ---------------------------------------------------------------------------------------------
// Unknown things.

both_databases!(unknown_things_are_json_api_404s, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "known");
    lock(&c, &ws);
    let sv = write_state(&c, &ws, 1, LINEAGE, &state_file(1, LINEAGE, "one"));
    let empty = create_workspace(&c, "default", "empty");
    let names = workspace_names(&c, "default");
    let orgs = organization_names(&c);
    let before = snapshot(&server, &c, &ws);
    let ws_body = json!({"data": {"type": "workspaces", "attributes": {"name": "ghost"}}});
    let next = state_file(2, LINEAGE, "two");

    for (method, path, body, mentions) in [
        (
            "GET",
            "workspaces/ws-doesnotexist".to_string(),
            None,
            "workspace not found",
        ),
        (
            "PATCH",
            "workspaces/ws-doesnotexist".to_string(),
            Some(ws_body.clone()),
            "workspace not found",
        ),
        (
            "DELETE",
            "workspaces/ws-doesnotexist".to_string(),
            None,
            "workspace not found",
        ),
        (
            "POST",
            "workspaces/ws-doesnotexist/actions/lock".to_string(),
            Some(json!({})),
            "workspace not found",
        ),
        (
            "POST",
            "workspaces/ws-doesnotexist/actions/unlock".to_string(),
            Some(json!({})),
            "workspace not found",
        ),
        (
            "POST",
            "workspaces/ws-doesnotexist/state-versions".to_string(),
            Some(inline(2, LINEAGE, &next)),
            "workspace not found",
        ),
        (
            "GET",
            "workspaces/ws-doesnotexist/state-versions".to_string(),
            None,
            "workspace not found",
        ),
        (
            "GET",
            "workspaces/ws-doesnotexist/current-state-version".to_string(),
            None,
            "workspace not found",
        ),
        (
            "GET",
            "workspaces/ws-doesnotexist/current-state-version-outputs".to_string(),
            None,
            "workspace not found",
        ),
        (
            "GET",
            "organizations/default/workspaces/no-such-workspace".to_string(),
            None,
            "workspace not found",
        ),
        (
            "PATCH",
            "organizations/default/workspaces/no-such-workspace".to_string(),
            Some(ws_body.clone()),
            "workspace not found",
        ),
        (
            "DELETE",
            "organizations/default/workspaces/no-such-workspace".to_string(),
            None,
            "workspace not found",
        ),
        (
            "GET",
            "organizations/no-such-org".to_string(),
            None,
            "organization not found",
        ),
        (
            "PATCH",
            "organizations/no-such-org".to_string(),
            Some(json!({"data": {"type": "organizations", "attributes": {"email": "a@b.co"}}})),
            "organization not found",
        ),
        (
            "DELETE",
            "organizations/no-such-org".to_string(),
            None,
            "organization not found",
        ),
        (
            "GET",
            "organizations/no-such-org/workspaces".to_string(),
            None,
            "organization not found",
        ),
        (
            "POST",
            "organizations/no-such-org/workspaces".to_string(),
            Some(ws_body.clone()),
            "organization not found",
        ),
        (
            "GET",
            "organizations/no-such-org/workspaces/known".to_string(),
            None,
            "workspace not found",
        ),
        (
            "GET",
            "organizations/no-such-org/entitlement-set".to_string(),
            None,
            "organization not found",
        ),
        (
            "GET",
            "state-versions/sv-doesnotexist".to_string(),
            None,
            "state version not found",
        ),
        (
            "GET",
            "state-versions/sv-doesnotexist/download".to_string(),
            None,
            "state version not found",
        ),
        (
            "GET",
            "state-versions/sv-doesnotexist/outputs".to_string(),
            None,
            "state version not found",
        ),
        (
            "GET",
            "state-versions?filter[organization][name]=default&filter[workspace][name]=nope"
                .to_string(),
            None,
            "workspace not found",
        ),
        (
            "GET",
            "state-version-outputs/wsout-doesnotexist".to_string(),
            None,
            "state version output not found",
        ),
        (
            "GET",
            "users/user-doesnotexist".to_string(),
            None,
            "user not found",
        ),
        // A workspace without state has no current version and no outputs.
        (
            "GET",
            format!("workspaces/{empty}/current-state-version"),
            None,
            "state version not found",
        ),
        (
            "GET",
            format!("workspaces/{empty}/current-state-version-outputs"),
            None,
            "state version not found",
        ),
        // Unknown routes.
        (
            "GET",
            "no-such-endpoint".to_string(),
            None,
            "no such endpoint",
        ),
        (
            "POST",
            "no-such-endpoint".to_string(),
            Some(json!({})),
            "no such endpoint",
        ),
        (
            "GET",
            "/api/v2/!%20/%20nope".to_string(),
            None,
            "no such endpoint",
        ),
        (
            "GET",
            format!("workspaces/{ws}/no-such-thing"),
            None,
            "no such endpoint",
        ),
        (
            "POST",
            format!("workspaces/{ws}/actions/no-such-action"),
            Some(json!({})),
            "no such endpoint",
        ),
    ] {
        let reply = match body {
            Some(body) => c.send(method, &path, &body),
            None => c.bare(method, &path),
        };
        refused(reply, 404, &[mentions]);
    }
    // Rolling back to an unknown version.
    refused(
        c.patch(
            &versions_path(&ws),
            &json!({"data": {"type": "state-versions", "relationships": {"rollback-state-version":
                {"data": {"type": "state-versions", "id": "sv-doesnotexist"}}}}}),
        ),
        404,
        &["state version not found"],
    );

    // A known route with a method it does not take: 405.
    let upload = format!("{}/_uploads/state/whatever", server.url);
    for (method, path) in [
        ("DELETE", "organizations".to_string()),
        ("PUT", format!("workspaces/{ws}/actions/lock")),
        ("GET", format!("workspaces/{ws}/actions/unlock")),
        ("DELETE", format!("state-versions/{sv}")),
        ("POST", format!("state-versions/{sv}/download")),
        ("PUT", format!("workspaces/{ws}")),
        ("GET", upload.clone()),
        ("POST", upload.clone()),
    ] {
        refused(c.bare(method, &path), 405, &["method"]);
    }

    assert_eq!(workspace_names(&c, "default"), names);
    assert_eq!(organization_names(&c), orgs);
    assert_unchanged(&server, &c, &ws, &before, "requests for unknown things");
});

// ---------------------------------------------------------------------------------------------
// Locks.

both_databases!(lock_conflicts_change_nothing, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let admin_id = c.get("account/details").ok().id();
    let ws = create_workspace(&c, "default", "locks");
    let lock_path = format!("workspaces/{ws}/actions/lock");
    let unlock_path = format!("workspaces/{ws}/actions/unlock");
    let force_path = format!("workspaces/{ws}/actions/force-unlock");

    // Unlocking what is not locked.
    let before = snapshot(&server, &c, &ws);
    refused(c.post(&unlock_path, &json!({})), 409, &["not locked"]);
    refused(c.post(&force_path, &json!({})), 409, &["not locked"]);
    assert_unchanged(&server, &c, &ws, &before, "unlocking an unlocked workspace");

    // A second lock.
    c.post(&lock_path, &json!({"reason": "first"})).ok();
    let before = snapshot(&server, &c, &ws);
    assert_eq!(before.workspace["attributes"]["locked-reason"], "first");
    assert_eq!(
        before.workspace["relationships"]["locked-by"]["data"],
        json!({"type": "users", "id": admin_id})
    );
    refused(
        c.post(&lock_path, &json!({"reason": "second"})),
        409,
        &["already locked by User admin"],
    );
    assert_unchanged(&server, &c, &ws, &before, "a second lock");

    // Someone else's lock: bob locks a workspace in his organization; the site admin sees it
    // but can neither lock nor (plainly) unlock it.
    let bob = Client::new(&server, &server.user_token("bob"));
    let bob_id = bob.get("account/details").ok().id();
    create_organization(&bob, "bobs-org");
    let bws = create_workspace(&bob, "bobs-org", "bobs-workspace");
    bob.post(
        &format!("workspaces/{bws}/actions/lock"),
        &json!({"reason": "bob's"}),
    )
    .ok();
    let bob_before = snapshot(&server, &c, &bws);
    assert_eq!(
        bob_before.workspace["relationships"]["locked-by"]["data"],
        json!({"type": "users", "id": bob_id})
    );
    refused(
        c.post(&format!("workspaces/{bws}/actions/lock"), &json!({})),
        409,
        &["already locked by User bob"],
    );
    refused(
        c.post(&format!("workspaces/{bws}/actions/unlock"), &json!({})),
        409,
        &["locked by User bob"],
    );
    assert_unchanged(&server, &c, &bws, &bob_before, "someone else's lock");
    // Bob does not see the admin's organization at all: 404, not 409, and nothing leaks.
    refused(
        bob.post(&lock_path, &json!({})),
        404,
        &["workspace not found"],
    );
    refused(
        bob.post(&unlock_path, &json!({})),
        404,
        &["workspace not found"],
    );
    refused(
        bob.post(&force_path, &json!({})),
        404,
        &["workspace not found"],
    );
    assert_unchanged(&server, &c, &ws, &before, "a stranger's lock requests");

    // Positive controls: the holder unlocks; a workspace administrator force-unlocks.
    c.post(&unlock_path, &json!({})).ok();
    c.post(
        &format!("workspaces/{bws}/actions/force-unlock"),
        &json!({}),
    )
    .ok();
    let shown = c.get(&format!("workspaces/{bws}")).ok();
    assert_eq!(shown.attr("locked"), false);
});

// ---------------------------------------------------------------------------------------------
// Names and values.

both_databases!(names_and_versions_are_validated, |db: Db| {
    let server = Server::start(db);
    let c = admin(&server);
    let ws = create_workspace(&c, "default", "app-prod");
    create_workspace(&c, "default", "app-dev");
    let names = workspace_names(&c, "default");
    let before = snapshot(&server, &c, &ws);
    let create = |name: Value, extra: Value| {
        let mut attributes = json!({"name": name});
        attributes
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c.post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": attributes}}),
        )
    };
    let update = |attributes: Value| {
        c.patch(
            &format!("workspaces/{ws}"),
            &json!({"data": {"type": "workspaces", "attributes": attributes}}),
        )
    };

    // A name that is taken.
    let r = refused(
        create(json!("app-prod"), json!({})),
        422,
        &["Name has already been taken"],
    );
    points_at(&r, "/data/attributes/name");
    let r = refused(
        update(json!({"name": "app-dev"})),
        422,
        &["Name has already been taken"],
    );
    points_at(&r, "/data/attributes/name");
    // Names that are not names.
    let long = "a".repeat(91);
    for bad in [
        "has space",
        "dots.not.allowed",
        "slash/",
        "",
        long.as_str(),
        "ünï",
    ] {
        let r = refused(
            create(json!(bad), json!({})),
            422,
            &["not a valid workspace name"],
        );
        points_at(&r, "/data/attributes/name");
        let r = refused(
            update(json!({"name": bad})),
            422,
            &["not a valid workspace name"],
        );
        points_at(&r, "/data/attributes/name");
    }
    refused(create(Value::Null, json!({})), 422, &["needs a name"]);

    // Terraform versions.
    for bad in ["nonexisting", "1.2", "v1.2.3", ">= 1.5,"] {
        let r = refused(
            update(json!({"terraform-version": bad})),
            422,
            &[bad, "not a Terraform version"],
        );
        points_at(&r, "/data/attributes/terraform-version");
        refused(
            create(json!("versioned"), json!({"terraform-version": bad})),
            422,
            &["not a Terraform version"],
        );
    }
    // A valid change next to an invalid one: neither is applied.
    refused(
        update(
            json!({"description": "changed", "auto-apply": true, "terraform-version": "nonexisting"}),
        ),
        422,
        &["nonexisting"],
    );
    refused(
        update(json!({"description": "changed", "name": "app-dev"})),
        422,
        &["Name has already been taken"],
    );
    assert_unchanged(&server, &c, &ws, &before, "invalid names and versions");
    assert_eq!(
        before.workspace["attributes"]["terraform-version"],
        "latest"
    );
    assert_eq!(workspace_names(&c, "default"), names);

    // Organizations.
    let orgs = organization_names(&c);
    let org = |attributes: Value| {
        c.post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": attributes}}),
        )
    };
    let r = refused(
        org(json!({"name": "default", "email": "dup@example.com"})),
        422,
        &["Name has already been taken"],
    );
    points_at(&r, "/data/attributes/name");
    let long = "a".repeat(65);
    for bad in ["-lead", "with space", "slash/", "ünï", long.as_str()] {
        let r = refused(
            org(json!({"name": bad, "email": "a@example.com"})),
            422,
            &["not a valid organization name"],
        );
        points_at(&r, "/data/attributes/name");
    }
    let r = refused(
        org(json!({"name": "good-org", "email": "not-an-email"})),
        422,
        &["not a valid email"],
    );
    points_at(&r, "/data/attributes/email");
    let r = refused(
        org(json!({"email": "a@example.com"})),
        422,
        &["name is required"],
    );
    points_at(&r, "/data/attributes/name");
    assert_eq!(organization_names(&c), orgs);
    // Renaming onto a taken name.
    create_organization(&c, "second-org");
    let second = c.get("organizations/second-org").ok().body["data"].clone();
    let r = refused(
        c.patch(
            "organizations/second-org",
            &json!({"data": {"type": "organizations", "attributes": {"name": "default"}}}),
        ),
        422,
        &["Name has already been taken"],
    );
    points_at(&r, "/data/attributes/name");
    assert_eq!(c.get("organizations/second-org").ok().body["data"], second);
    let mut expected = orgs.clone();
    expected.push("second-org".into());
    expected.sort();
    assert_eq!(organization_names(&c), expected);
    assert_eq!(workspace_names(&c, "default"), names);
});
