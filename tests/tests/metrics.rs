//! Prometheus metrics on their own address (`--metrics-listen`): the exposition is read by
//! the Python `prometheus_client`'s OpenMetrics parser (strict about the format), and its
//! counters move with what really happened: API requests by route template and status, a
//! real plan and apply (runs by status, its jobs' queue wait and duration, its state's bytes
//! in, and out when downloaded), the built-in listener and its capacity, and a token over its
//! rate limit. Every metric the Grafana dashboard (deploy/grafana) queries is exposed, and its
//! queries parse. Not on the API's address. Every response carries a request ID.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use terrace_tests::runs::{create_run, upload_configuration, wait_for_run};
use terrace_tests::{both_databases, free_port, Db, Server};

/// Each sample of the exposition as `name{label="value",...}` → value, as the OpenMetrics
/// parser read it (the parser fails on anything the format does not allow).
fn scrape(port: u16) -> BTreeMap<String, f64> {
    let response = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics")).unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.text().unwrap();
    let program = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        samples[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(samples))
"#;
    let mut child = Command::new("python3")
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/install-test-deps.sh installs prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: BTreeMap<String, Value> = serde_json::from_slice(&output.stdout).unwrap();
    parsed
        .into_iter()
        .map(|(k, v)| (k, v.as_f64().unwrap()))
        .collect()
}

/// The metrics deploy/grafana/terrace-dashboard.json queries, each of its PromQL expressions
/// parsed by `promql-parser` (from PyPI, as Grafana would send it: `$__rate_interval` given).
fn dashboard_metrics() -> Vec<String> {
    let dashboard = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/terrace-dashboard.json"
    );
    let program = r#"
import json, re, sys
import promql_parser
names = set()
for panel in json.load(open(sys.argv[1]))["panels"]:
    for target in panel["targets"]:
        expr = target["expr"].replace("$__rate_interval", "5m")
        try:
            promql_parser.parse(expr)
        except Exception as err:
            sys.exit(f"{panel['title']}: {expr}: {err}")
        names.update(re.findall(r"\bterrace_[a-z_]+", expr))
print(json.dumps(sorted(names)))
"#;
    let output = Command::new("python3")
        .args(["-c", program, dashboard])
        .output()
        .expect("python3 (scripts/install-test-deps.sh installs promql-parser)");
    assert!(
        output.status.success(),
        "the dashboard's queries do not parse: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let names: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(names.len() >= 10, "{names:?}");
    names
}

fn sample(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

both_databases!(
    metrics_count_requests_runs_listeners_and_limits_and_parse_as_openmetrics,
    |db: Db| {
        let port = free_port();
        let server = Server::builder(db)
            .args(&[
                "--metrics-listen",
                &format!("127.0.0.1:{port}"),
                "--rate-limit",
                "10",
                "--rate-limit-burst",
                "100",
            ])
            .start();
        let api = server.api(&server.user_token("alice"));
        let before = scrape(port);
        // The built-in listener, and the capacity it announced.
        assert_eq!(sample(&before, "terrace_listeners{}"), 1.0, "{before:?}");
        assert!(sample(&before, "terrace_listener_capacity{}") >= 1.0);
        assert_eq!(sample(&before, "terrace_runs{status=\"applied\"}"), 0.0);

        api.post(
            "organizations",
            &json!({"data": {"type": "organizations",
            "attributes": {"name": "acme", "email": "acme@example.com"}}}),
        )
        .expect(201);
        let ws = api
            .post(
                "organizations/acme/workspaces",
                &json!({"data": {"type": "workspaces", "attributes": {"name": "app"}}}),
            )
            .expect(201)
            .id();
        let config = "resource \"terraform_data\" \"x\" {}\n";
        upload_configuration(&api, &ws, &[("main.tf", config)], false);
        let run = create_run(&api, &ws, None, json!({"auto-apply": true})).id();
        wait_for_run(&api, &run, &["applied"], Duration::from_secs(120));
        api.get(&format!("workspaces/{ws}/nope")).expect(404);

        // Another token over its limit: refused, and counted.
        let mallory = server.api(&server.user_token("mallory"));
        let limited = (0..400)
            .map(|_| mallory.get("account/details").status)
            .filter(|status| *status == 429)
            .count();
        assert!(limited > 0, "the limit never refused");

        let after = scrape(port);
        assert_eq!(
            sample(&after, "terrace_runs{status=\"applied\"}"),
            1.0,
            "{after:?}"
        );
        assert_eq!(sample(&after, "terrace_runs_waiting{}"), 0.0);
        let created = "terrace_http_requests_total{method=\"POST\",route=\"/api/v2/organizations/{organization}/workspaces\",status=\"201\"}";
        assert_eq!(sample(&after, created), 1.0, "{after:?}");
        let runs =
            "terrace_http_requests_total{method=\"POST\",route=\"/api/v2/runs\",status=\"201\"}";
        assert_eq!(sample(&after, runs), 1.0);
        // Routes are templates: no workspace ID, token or name in any label.
        assert!(
            after
                .keys()
                .all(|k| !k.contains(&ws) && !k.contains("acme")),
            "{after:?}"
        );
        let details = "terrace_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v2/account/details\"}";
        assert!(sample(&after, details) >= 400.0 - limited as f64);
        let within_10s = "terrace_http_request_duration_seconds_bucket{le=\"10.0\",method=\"GET\",route=\"/api/v2/account/details\"}";
        assert_eq!(sample(&after, within_10s), sample(&after, details));
        assert_eq!(
            sample(
                &after,
                "terrace_rate_limited_requests_total{class=\"token\"}"
            ),
            limited as f64
        );

        // Jobs: the plan and the apply each waited in the queue and ran to their end.
        for kind in ["plan", "apply"] {
            let waited = format!("terrace_job_queue_wait_seconds_count{{kind=\"{kind}\"}}");
            assert_eq!(sample(&after, &waited), 1.0, "{after:?}");
            let ran = format!(
                "terrace_job_duration_seconds_count{{kind=\"{kind}\",status=\"finished\"}}"
            );
            assert_eq!(sample(&after, &ran), 1.0, "{after:?}");
        }
        // State: the apply's came in; none went out (the plan had none to read) until the
        // download, which counts what it sent.
        let current = api
            .get(&format!("workspaces/{ws}/current-state-version"))
            .ok();
        let size = current.attr("size").as_f64().unwrap();
        assert!(size > 0.0);
        let bytes_in = "terrace_state_bytes_total{direction=\"in\"}";
        let bytes_out = "terrace_state_bytes_total{direction=\"out\"}";
        assert_eq!(sample(&after, bytes_in), size, "{after:?}");
        assert_eq!(sample(&after, bytes_out), 0.0);
        let url = current.attr("hosted-state-download-url").as_str().unwrap();
        let downloaded = api.raw("GET", url, None).bytes().unwrap();
        assert_eq!(downloaded.len() as f64, size);
        let latest = scrape(port);
        assert_eq!(sample(&latest, bytes_out), size);
        // Now that every series exists: each the Grafana dashboard queries is exposed.
        for metric in dashboard_metrics() {
            assert!(
                latest
                    .keys()
                    .any(|k| k.strip_prefix(&metric).is_some_and(|r| r.starts_with('{'))),
                "the dashboard queries {metric}, which /metrics does not expose:\n{latest:?}"
            );
        }

        // Not on the API's address.
        let client = terrace_tests::http_client(&std::fs::read(&server.ca_bundle).unwrap())
            .build()
            .unwrap();
        let on_api = client
            .get(format!("{}/metrics", server.url))
            .send()
            .unwrap();
        assert_eq!(on_api.status(), 404);

        // Each response names its request; a client's own plain ID is kept, a strange one is not.
        let reply = api.get("account/details");
        let id = reply.headers["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 20, "{id}");
        let again = api.get("account/details");
        assert_ne!(again.headers["x-request-id"].to_str().unwrap(), id);
        for (sent, kept) in [
            ("trace-42.a_b", true),
            ("bad id\u{7f}", false),
            ("x\nInjected: 1", false),
        ] {
            let reply = client
                .get(format!("{}/.well-known/terraform.json", server.url))
                .header("x-request-id", sent)
                .send();
            let Ok(reply) = reply else {
                // (reqwest refuses to send a header value with a line break at all)
                assert!(!kept);
                continue;
            };
            let answered = reply.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(answered == sent, kept, "{sent:?} → {answered}");
        }
    }
);
