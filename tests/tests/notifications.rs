//! Notification configurations (HCP Terraform's `notification-configurations`) end to end:
//! receivers started here (plain HTTP servers on 127.0.0.1, which the server may reach with
//! `--allow-private-notification-urls`) get every notification of a real plan-and-apply made
//! with the terraform CLI through the built-in listener, in order, once each, each signed
//! (HMAC-SHA512 of the body with the configuration's token), also across a server restart
//! between the plan and the apply; Slack and Teams receivers get their shapes; a failing
//! receiver is retried and both answers are recorded; the API's shape, refusals (the SSRF
//! guard among them) and another organization's owner finding nothing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::access::create_workspace;
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, Api, Db, Server, Terraform};

const ORG: &str = "default";
const ALLOW: &str = "--allow-private-notification-urls";
const TOKEN: &str = "receiver-shared-secret";
const ALL_TRIGGERS: &[&str] = &[
    "run:created",
    "run:planning",
    "run:needs_attention",
    "run:applying",
    "run:completed",
    "run:errored",
];
const CONFIG: &str = "resource \"terraform_data\" \"note\" {\n  input = \"hello\"\n}\n";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Value,
    raw: Vec<u8>,
}

/// A webhook receiver: answers each request with the next status of `answers` (the last
/// one for ever after) and keeps what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(answers: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let kept = got.clone();
        let answers = answers.to_vec();
        std::thread::spawn(move || {
            let mut count = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = BTreeMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                        break;
                    }
                    let (k, v) = line.split_once(':').unwrap();
                    headers.insert(k.trim().to_lowercase(), v.trim().to_string());
                }
                let length: usize = headers
                    .get("content-length")
                    .map(|l| l.parse().unwrap())
                    .unwrap_or(0);
                let mut raw = vec![0; length];
                reader.read_exact(&mut raw).unwrap();
                let status = answers[count.min(answers.len() - 1)];
                count += 1;
                kept.lock().unwrap().push(Received {
                    headers,
                    body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
                    raw,
                });
                let reply = format!("answer {count}");
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            }
        });
        Receiver { url, got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived.
    fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests, not {n}: {:#?}",
                got.len(),
                got.iter().map(|r| &r.body).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// HMAC-SHA512 (RFC 2104) of `body` keyed by [`TOKEN`], hex: written out here so the test
/// does not share the server's HMAC code.
fn signature(body: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    let mut key = [0u8; 128];
    key[..TOKEN.len()].copy_from_slice(TOKEN.as_bytes());
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha512::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha512::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

fn config_body(kind: &str, url: &str, triggers: &[&str], token: Option<&str>) -> Value {
    let mut attributes = json!({
        "name": format!("{kind} receiver"),
        "destination-type": kind,
        "url": url,
        "enabled": true,
        "triggers": triggers,
    });
    if let Some(token) = token {
        attributes["token"] = json!(token);
    }
    json!({"data": {"type": "notification-configurations", "attributes": attributes}})
}

fn create_config(api: &Api, workspace: &str, body: &Value) -> String {
    api.post(
        &format!("workspaces/{workspace}/notification-configurations"),
        body,
    )
    .expect(201)
    .id()
}

fn triggers_of(got: &[Received]) -> Vec<String> {
    got.iter()
        .map(|r| {
            r.body["notifications"][0]["trigger"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

fn start(db: Db, args: &[&str]) -> Server {
    Server::builder(db).args(args).start()
}

/// The same server again, on its own data, database and work directory.
fn restart(server: &Server, args: &[&str]) -> Server {
    let builder = Server::builder(if server.database_url.is_some() {
        Db::Postgres
    } else {
        Db::Sqlite
    })
    .data_dir(Path::new(&server.data_dir))
    .work_dir(&server.work_dir)
    .args(args);
    match &server.database_url {
        Some(url) => builder.database_url(url).start(),
        None => builder.start(),
    }
}

fn cloud_block(server: &Server, workspace: &str) -> String {
    format!(
        "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"{ORG}\"\n    \
         workspaces {{\n      name = \"{workspace}\"\n    }}\n  }}\n}}\n",
        server.hostname
    )
}

both_databases!(
    a_plan_and_apply_notifies_in_order_once_each_across_a_restart,
    |db: Db| {
        let mut server = start(db, &[ALLOW]);
        let token = server.admin_token();
        let api = server.api(&token);
        let receiver = Receiver::start(&[200]);
        let tf = Terraform::new(&server, &token);
        tf.write(
            "main.tf",
            &format!("{}{CONFIG}", cloud_block(&server, "notified")),
        );
        tf.ok(&["init", "-input=false"]);
        let ws = api
            .get(&format!("organizations/{ORG}/workspaces/notified"))
            .ok()
            .id();
        let nc = create_config(
            &api,
            &ws,
            &config_body("generic", &receiver.url, ALL_TRIGGERS, Some(TOKEN)),
        );
        // Created enabled: the verification request goes out at once.
        let got = receiver.wait_for(1);
        assert_eq!(got[0].body["notifications"][0]["trigger"], "verification");
        assert_eq!(got[0].body["notification_configuration_id"], nc.as_str());

        // A CLI apply that waits for confirmation: the run needs attention; the CLI goes away
        // (killed: it neither confirms nor discards) and the server stops before the apply.
        let mut cli = tf
            .command(&["apply", "-input=true"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let got = receiver.wait_for(4);
        assert_eq!(
            triggers_of(&got),
            [
                "verification",
                "run:created",
                "run:planning",
                "run:needs_attention"
            ]
        );
        cli.kill().unwrap();
        let _ = cli.wait();
        let run = got[1].body["run_id"].as_str().unwrap().to_string();
        server.stop();
        let server = restart(&server, &[ALLOW]);
        let api = server.api(&token);
        assert_eq!(
            api.get(&format!("runs/{run}")).ok().attr("status"),
            "planned"
        );
        api.post(
            &format!("runs/{run}/actions/apply"),
            &json!({"comment": "go"}),
        )
        .expect(202);
        wait_for_run(&api, &run, &["applied"], Duration::from_secs(180));
        let got = receiver.wait_for(6);
        std::thread::sleep(Duration::from_secs(2)); // nothing more comes
        let got_now = receiver.received();
        assert_eq!(got_now.len(), 6, "{:#?}", triggers_of(&got_now));
        assert_eq!(
            triggers_of(&got),
            [
                "verification",
                "run:created",
                "run:planning",
                "run:needs_attention",
                "run:applying",
                "run:completed"
            ]
        );
        let statuses: Vec<&str> = got[1..]
            .iter()
            .map(|r| r.body["notifications"][0]["run_status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["pending", "planning", "planned", "applying", "applied"]
        );
        for r in &got {
            assert_eq!(
                r.headers.get("x-tfe-notification-signature"),
                Some(&signature(&r.raw)),
                "{}",
                r.body
            );
            assert_eq!(r.headers["content-type"], "application/json");
        }
        for r in &got[1..] {
            let body = &r.body;
            assert_eq!(body["payload_version"], 1);
            assert_eq!(body["run_id"], run.as_str());
            assert_eq!(body["workspace_id"], ws.as_str());
            assert_eq!(body["workspace_name"], "notified");
            assert_eq!(body["organization_name"], ORG);
            assert_eq!(body["run_created_by"], "admin");
            assert!(body["run_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/app/{ORG}/workspaces/notified/runs/{run}")));
            assert!(body["run_created_at"].as_str().unwrap().ends_with('Z'));
            let n = &body["notifications"][0];
            assert!(n["run_updated_at"].as_str().unwrap().ends_with('Z'));
            assert!(n["message"].as_str().unwrap().starts_with("Run "), "{n}");
        }
        assert_eq!(got[5].body["notifications"][0]["message"], "Run Applied");

        // Every answer is on the configuration; the token never is.
        let shown = api.get(&format!("notification-configurations/{nc}")).ok();
        let responses = shown.attr("delivery-responses").as_array().unwrap();
        assert_eq!(responses.len(), 6, "{}", shown.text);
        assert!(responses
            .iter()
            .all(|r| r["code"] == "200" && r["successful"] == "true"));
        assert_eq!(shown.attr("token"), &Value::Null);
        assert!(!shown.text.contains(TOKEN));
    }
);

both_databases!(the_api_has_hcps_shape_and_refusals, |db: Db| {
    let server = start(db, &[ALLOW]);
    let api = server.api(&server.admin_token());
    let ws = create_workspace(&api, ORG, "hooks", None);
    let path = format!("workspaces/{ws}/notification-configurations");
    let receiver = Receiver::start(&[200]);

    let created = api
        .post(
            &path,
            &config_body("generic", &receiver.url, &["run:created"], Some(TOKEN)),
        )
        .expect(201);
    let id = created.id();
    assert!(id.starts_with("nc-"), "{id}");
    let data = created.data();
    assert_eq!(data["type"], "notification-configurations");
    assert_eq!(data["attributes"]["destination-type"], "generic");
    assert_eq!(data["attributes"]["enabled"], true);
    assert_eq!(data["attributes"]["triggers"], json!(["run:created"]));
    assert_eq!(data["attributes"]["url"], receiver.url.as_str());
    assert_eq!(data["attributes"]["token"], Value::Null);
    assert!(data["attributes"]["created-at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(
        data["relationships"]["subscribable"]["data"],
        json!({"type": "workspaces", "id": ws})
    );
    assert!(!created.text.contains(TOKEN));

    let listed = api.get(&path).ok();
    assert_eq!(listed.body["data"][0]["id"], id.as_str());
    assert_eq!(listed.body["meta"]["pagination"]["total-count"], 1);

    // Update: only what is named changes; an empty token removes the signature.
    let updated = api
        .patch(
            &format!("notification-configurations/{id}"),
            &json!({"data": {"type": "notification-configurations", "attributes": {
                "name": "renamed", "triggers": ["run:completed", "run:errored"], "token": ""}}}),
        )
        .ok();
    assert_eq!(updated.attr("name"), "renamed");
    assert_eq!(updated.attr("url"), receiver.url.as_str());
    assert_eq!(
        updated.attr("triggers"),
        &json!(["run:completed", "run:errored"])
    );
    receiver.wait_for(1);
    let verified = api
        .post(
            &format!("notification-configurations/{id}/actions/verify"),
            &json!({}),
        )
        .expect(200);
    let got = receiver.wait_for(2);
    assert!(!got[1].headers.contains_key("x-tfe-notification-signature"));
    let responses = verified.attr("delivery-responses").as_array().unwrap();
    let last = responses.last().unwrap();
    assert_eq!(last["code"], "200");
    assert_eq!(last["successful"], "true");
    assert_eq!(last["body"], "answer 2");
    assert_eq!(last["url"], receiver.url.as_str());

    // Verifying an unreachable receiver still answers 200, its failure recorded.
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/gone", listener.local_addr().unwrap());
        drop(listener);
        url
    };
    let gone = create_config(&api, &ws, &config_body("generic", &dead, &[], None));
    let verified = api
        .post(
            &format!("notification-configurations/{gone}/actions/verify"),
            &json!({}),
        )
        .expect(200);
    let last = verified
        .attr("delivery-responses")
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["successful"], "false", "{last}");

    // Refusals, each naming its attribute.
    let refused = |body: Value, pointer: &str, text: &str| {
        let reply = api.post(&path, &body).expect_error(422, text);
        assert_eq!(
            reply.body["errors"][0]["source"]["pointer"], pointer,
            "{}",
            reply.text
        );
    };
    refused(
        config_body("generic", &receiver.url, &["run:exploded"], None),
        "/data/attributes/triggers",
        "not a notification trigger",
    );
    refused(
        config_body("pager", &receiver.url, &[], None),
        "/data/attributes/destination-type",
        "destination type",
    );
    for kind in ["generic", "slack", "microsoft-teams"] {
        let mut body = config_body(kind, "", &[], None);
        body["data"]["attributes"]
            .as_object_mut()
            .unwrap()
            .remove("url");
        refused(body, "/data/attributes/url", "needs a url");
    }
    // Metadata services are refused even where private addresses are allowed.
    refused(
        config_body(
            "generic",
            "http://169.254.169.254/latest/meta-data/",
            &[],
            None,
        ),
        "/data/attributes/url",
        "link-local",
    );
    refused(
        config_body("slack", "http://[fe80::1]/", &[], None),
        "/data/attributes/url",
        "link-local",
    );

    // Another organization's owner finds nothing, neither the configuration nor the workspace.
    let mallory = server.api(&server.user_token("mallory"));
    mallory
        .post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": {"name": "mallory-corp", "email": "m@mallory.example"}}}),
        )
        .expect(201);
    mallory
        .get(&format!("notification-configurations/{id}"))
        .expect(404);
    mallory
        .patch(
            &format!("notification-configurations/{id}"),
            &json!({"data": {"type": "notification-configurations", "attributes": {"url": "https://mallory.example/"}}}),
        )
        .expect(404);
    mallory
        .post(
            &format!("notification-configurations/{id}/actions/verify"),
            &json!({}),
        )
        .expect(404);
    mallory
        .delete(&format!("notification-configurations/{id}"))
        .expect(404);
    mallory.get(&path).expect(404);
    mallory
        .post(
            &path,
            &config_body("generic", "https://mallory.example/", &[], None),
        )
        .expect(404);

    api.delete(&format!("notification-configurations/{id}"))
        .expect(204);
    api.get(&format!("notification-configurations/{id}"))
        .expect(404);
});

both_databases!(
    a_failing_receiver_is_retried_and_chat_shapes_are_sent,
    |db: Db| {
        let server = start(db, &[ALLOW]);
        let api = server.api(&server.admin_token());
        let ws = create_workspace(&api, ORG, "flaky", None);
        let flaky = Receiver::start(&[200, 500, 200]);
        let slack = Receiver::start(&[200]);
        let teams = Receiver::start(&[200]);
        let nc = create_config(
            &api,
            &ws,
            &config_body("generic", &flaky.url, &["run:created"], Some(TOKEN)),
        );
        create_config(
            &api,
            &ws,
            &config_body("slack", &slack.url, &["run:created"], None),
        );
        create_config(
            &api,
            &ws,
            &config_body("microsoft-teams", &teams.url, &["run:created"], None),
        );
        flaky.wait_for(1);
        slack.wait_for(1);
        teams.wait_for(1);

        let cv = upload_configuration(&api, &ws, &[("main.tf", CONFIG)], false);
        let run = create_run(&api, &ws, Some(&cv), json!({"plan-only": true}))
            .expect(201)
            .id();
        // 500, then (after the backoff) 200: the same notification twice, the same signature.
        let got = flaky.wait_for(3);
        assert_eq!(got[1].raw, got[2].raw);
        assert_eq!(triggers_of(&got[1..]), ["run:created", "run:created"]);
        assert_eq!(
            got[2].headers.get("x-tfe-notification-signature"),
            Some(&signature(&got[2].raw))
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let responses = loop {
            let shown = api.get(&format!("notification-configurations/{nc}")).ok();
            let responses = shown.attr("delivery-responses").as_array().unwrap().clone();
            if responses.len() >= 3 || Instant::now() > deadline {
                break responses;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let codes: Vec<&str> = responses
            .iter()
            .map(|r| r["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["200", "500", "200"]);
        assert_eq!(responses[1]["successful"], "false");
        assert_eq!(responses[2]["successful"], "true");

        // Slack: a fallback text and an attachment linking the run.
        let got = slack.wait_for(2);
        let message = &got[1].body;
        assert_eq!(message["text"], format!("Run Created: {ORG}/flaky"));
        let attachment = &message["attachments"][0];
        assert!(attachment["title_link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/runs/{run}")));
        assert!(attachment["color"].as_str().unwrap().starts_with('#'));
        assert_eq!(attachment["fields"][0]["value"], run.as_str());
        // Teams: a MessageCard with a link to the run.
        let got = teams.wait_for(2);
        let card = &got[1].body;
        assert_eq!(card["@type"], "MessageCard");
        assert_eq!(card["@context"], "https://schema.org/extensions");
        assert_eq!(card["title"], format!("Run Created: {ORG}/flaky"));
        assert!(card["potentialAction"][0]["targets"][0]["uri"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/runs/{run}")));
        wait_for_run(
            &api,
            &run,
            &["planned_and_finished"],
            Duration::from_secs(180),
        );
    }
);

both_databases!(
    loopback_and_private_addresses_need_the_site_setting,
    |db: Db| {
        let server = start(db, &[]);
        let api = server.api(&server.admin_token());
        let ws = create_workspace(&api, ORG, "guarded", None);
        let path = format!("workspaces/{ws}/notification-configurations");
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://10.0.0.8/hook",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let reply = api
                .post(&path, &config_body("generic", url, &[], None))
                .expect(422);
            assert_eq!(
                reply.body["errors"][0]["source"]["pointer"], "/data/attributes/url",
                "{url}: {}",
                reply.text
            );
        }
        // A name that does not resolve now is accepted (delivery resolves and checks again).
        api.post(
            &path,
            &config_body("generic", "https://hooks.invalid/x", &[], None),
        )
        .expect(201);
    }
);
