//! The Helm chart (`helm/terrace`), checked with Helm itself and with Kubernetes' own
//! validation: Helm 4 (the `helm-python-sdk` package, offline; `tests/helm/check_chart.py`)
//! lints it strictly and renders it for a default install (2 replicas with a
//! PodDisruptionBudget), a scaled one (3 replicas sharing their rate limits through Redis), a
//! production one (autoscaler, Ingress with TLS, SSO, object store credentials, a `helm test`
//! hook that runs `terrace smoke-test` with an API token) and a listener-only one (an agent
//! pool in another cluster). Every rendered
//! object validates strictly against the Kubernetes 1.30 and 1.31 schemas
//! (`kubernetes-validate`), and what an operator relies on holds in each: the probes, the
//! restricted pods, secrets only through `secretKeyRef`, the listener's RBAC equal to
//! `deploy/kubernetes/listener-rbac.yaml`. `values.schema.json` refuses wrong values with
//! a message that names the field, and the templates themselves refuse several replicas
//! without PostgreSQL when the schema is skipped.
//!
//! Then a real kube-apiserver 1.20.2 (`scripts/kube.sh up`, the one of kubernetes.rs)
//! accepts every rendered object in a server-side dry run, and keeps every field of it
//! (a 1.20 server drops fields it does not know). Needs `scripts/install-test-deps.sh` (the
//! Python packages) and `scripts/kube.sh build`: without them this test fails.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::kube::ControlPlane;

const RELEASE: &str = "prod";
const NAMESPACE: &str = "terrace";
/// The workspace's version, which Chart.yaml's appVersion (and so the image tag) must follow.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A default install: only the Secrets and settings the chart cannot do without.
fn base_values() -> Value {
    json!({
        "externalUrl": "https://terrace.example.com",
        "storage": {"url": "s3://terrace-state/prod"},
        "database": {"urlSecret": {"name": "terrace-db"}},
        "encryptionKey": {"secret": {"name": "terrace-keys"}},
        "listener": {"tokenSecret": {"name": "terrace-listener"}}
    })
}

/// `base` with `patch` merged in, objects key by key.
fn merged(base: &Value, patch: Value) -> Value {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            let mut out = base.clone();
            for (key, value) in patch {
                let merged = match out.get(&key) {
                    Some(old) => merged(old, value),
                    None => value,
                };
                out.insert(key, merged);
            }
            Value::Object(out)
        }
        (_, patch) => patch,
    }
}

fn good_values() -> BTreeMap<&'static str, Value> {
    let base = base_values();
    BTreeMap::from([
        ("defaults", base.clone()),
        (
            "scaled",
            merged(
                &base,
                json!({"replicaCount": 3,
                       "redis": {"urlSecret": {"name": "terrace-redis", "key": "url"}},
                       "listener": {"runs": {"namespace": "scaled-runs"}}}),
            ),
        ),
        (
            "production",
            merged(
                &base,
                json!({
                    // The external URL comes from the Ingress host.
                    "externalUrl": "",
                    "replicaCount": 3,
                    "autoscaling": {"enabled": true, "minReplicas": 3, "maxReplicas": 6},
                    "ingress": {"enabled": true, "className": "nginx",
                                "host": "tf.example.org", "tls": {"secretName": "terrace-tls"}},
                    "storage": {
                        "options": {"aws_region": "eu-west-1"},
                        "credentials": [
                            {"env": "AWS_ACCESS_KEY_ID", "secretName": "terrace-s3", "key": "id"},
                            {"env": "AWS_SECRET_ACCESS_KEY", "secretName": "terrace-s3", "key": "secret"}
                        ]
                    },
                    "adminPassword": {"secret": {"name": "terrace-admin"}},
                    "tests": {"tokenSecret": {"name": "terrace-smoke", "key": "api-token"},
                              "workspace": "helm-smoke", "timeoutSeconds": 200},
                    "oidc": {"enabled": true, "issuer": "https://idp.example.org", "clientId": "terrace",
                             "clientSecret": {"name": "terrace-oidc"}},
                    "listener": {
                        "caSecret": {"name": "terrace-ca"},
                        "runs": {"namespace": "prod-runs", "requests": {"cpu": "500m"},
                                 "limits": {"memory": "2Gi"}, "tolerations": ["dedicated=terraform:NoSchedule"]}
                    }
                }),
            ),
        ),
        (
            "listener-only",
            json!({
                "listenerOnly": true,
                "listener": {"serverUrl": "https://terrace.example.com",
                             "tokenSecret": {"name": "pool-token"},
                             "runs": {"namespace": "remote-runs"}}
            }),
        ),
    ])
}

/// Wrong values, each a default install with one mistake, and the field the refusal must name.
fn bad_values() -> Vec<(&'static str, Value, &'static str)> {
    let base = base_values();
    vec![
        (
            "replicas-string",
            merged(&base, json!({"replicaCount": "3"})),
            "/replicaCount",
        ),
        (
            "replicas-zero",
            merged(&base, json!({"replicaCount": 0})),
            "/replicaCount",
        ),
        (
            "pull-policy",
            merged(&base, json!({"image": {"pullPolicy": "Sometimes"}})),
            "/image/pullPolicy",
        ),
        (
            "listener-only-without-server-url",
            json!({"listenerOnly": true, "listener": {"tokenSecret": {"name": "pool-token"}}}),
            "/listener/serverUrl",
        ),
        (
            "listener-without-token",
            merged(&base, json!({"listener": {"tokenSecret": {"name": ""}}})),
            "/listener/tokenSecret/name",
        ),
        (
            "two-replicas-without-database",
            merged(
                &base,
                json!({"replicaCount": 2, "database": {"urlSecret": {"name": ""}}}),
            ),
            "at '/database/urlSecret/name': minLength: got 0, want 1",
        ),
        (
            "autoscaling-without-database",
            merged(
                &base,
                json!({"database": {"urlSecret": {"name": ""}}, "autoscaling": {"enabled": true}}),
            ),
            "/database/urlSecret/name",
        ),
        (
            "redis-url-as-a-value",
            merged(
                &base,
                json!({"redis": {"url": "redis://:hunter2@redis:6379/0"}}),
            ),
            "at '/redis': additional properties 'url' not allowed",
        ),
        (
            "redis-secret-as-a-string",
            merged(
                &base,
                json!({"redis": {"urlSecret": "redis://redis:6379/0"}}),
            ),
            "at '/redis/urlSecret': got string, want object",
        ),
        (
            "redis-without-key",
            merged(
                &base,
                json!({"redis": {"urlSecret": {"name": "terrace-redis", "key": ""}}}),
            ),
            "/redis/urlSecret/key",
        ),
        (
            "ingress-without-host",
            merged(&base, json!({"ingress": {"enabled": true}})),
            "/ingress/host",
        ),
        (
            "tests-token-secret-without-key",
            merged(
                &base,
                json!({"tests": {"tokenSecret": {"name": "terrace-smoke", "key": ""}}}),
            ),
            "/tests/tokenSecret/key",
        ),
        (
            "tests-token-as-a-value",
            merged(&base, json!({"tests": {"token": "trc1.secret"}})),
            "at '/tests': additional properties 'token' not allowed",
        ),
        (
            "tests-workspace-name",
            merged(&base, json!({"tests": {"workspace": "smoke/test"}})),
            "/tests/workspace",
        ),
        (
            "tests-timeout-zero",
            merged(&base, json!({"tests": {"timeoutSeconds": 0}})),
            "/tests/timeoutSeconds",
        ),
        (
            "misspelt-key",
            merged(&base, json!({"replicas": 2})),
            "replicas",
        ),
    ]
}

/// Values without a database, rendered without the schema (`--skip-schema-validation`), and
/// what the templates' refusal must say.
fn schemaless_values() -> Vec<(&'static str, Value, &'static str)> {
    // The default replicaCount: 2.
    let base = merged(
        &base_values(),
        json!({"database": {"urlSecret": {"name": ""}}}),
    );
    vec![
        (
            "two-replicas-without-database",
            base.clone(),
            "database.urlSecret.name is required: replicaCount 2 runs several API replicas, \
             which must share one PostgreSQL database",
        ),
        (
            "autoscaling-without-database",
            merged(
                &base,
                json!({"autoscaling": {"enabled": true, "maxReplicas": 4}}),
            ),
            "database.urlSecret.name is required: autoscaling (2 to 4 replicas) runs several \
             API replicas, which must share one PostgreSQL database",
        ),
        (
            "one-replica-without-database",
            merged(&base, json!({"replicaCount": 1})),
            "database.urlSecret.name is required: the chart runs on PostgreSQL",
        ),
    ]
}

/// Runs tests/helm/check_chart.py over the value sets; its report (see the script).
fn check_chart() -> Value {
    let request = json!({
        "name": RELEASE,
        "namespace": NAMESPACE,
        "kube_versions": ["1.30", "1.31"],
        "good": good_values(),
        "bad": bad_values().into_iter().map(|(case, values, _)| (case, values)).collect::<BTreeMap<_, _>>(),
        "schemaless": schemaless_values().into_iter().map(|(case, values, _)| (case, values)).collect::<BTreeMap<_, _>>(),
        "yaml_files": ["deploy/kubernetes/listener-rbac.yaml", "deploy/kubernetes/runner-networkpolicy.yaml"],
    });
    terrace_tests::helm::check_chart(&request)
}

fn objects<'a>(report: &'a Value, case: &str) -> Vec<&'a Value> {
    report["rendered"][case]
        .as_array()
        .unwrap_or_else(|| panic!("no rendering of {case}"))
        .iter()
        .map(|item| &item["object"])
        .collect()
}

fn kinds(objects: &[&Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    kinds.sort();
    kinds
}

fn find<'a>(objects: &[&'a Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", kinds(objects)))
}

/// The pod specs of the Deployments and Pods among `objects`, by the object's name.
fn pod_specs<'a>(objects: &[&'a Value]) -> Vec<(String, &'a Value)> {
    objects
        .iter()
        .filter_map(|o| {
            let name = o["metadata"]["name"].as_str().unwrap().to_string();
            match o["kind"].as_str().unwrap() {
                "Deployment" => Some((name, &o["spec"]["template"]["spec"])),
                "Pod" => Some((name, &o["spec"])),
                _ => None,
            }
        })
        .collect()
}

fn args(container: &Value) -> Vec<&str> {
    container["args"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// Every pod passes the restricted Pod Security Standard, and writes only to emptyDirs.
fn assert_restricted(objects: &[&Value]) {
    for (name, spec) in pod_specs(objects) {
        let pod = &spec["securityContext"];
        assert_eq!(pod["runAsNonRoot"], true, "{name}: {pod}");
        assert_eq!(pod["runAsUser"], 65532, "{name}: {pod}");
        assert_eq!(
            pod["seccompProfile"]["type"], "RuntimeDefault",
            "{name}: {pod}"
        );
        assert_eq!(spec["enableServiceLinks"], false, "{name}");
        for container in spec["containers"].as_array().unwrap() {
            let sc = &container["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}: {sc}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}: {sc}");
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{name}: {sc}");
            assert!(
                container["image"].as_str().is_some_and(|i| !i.is_empty()),
                "{name}"
            );
            assert!(
                container["resources"]["limits"]["memory"].is_string(),
                "{name}: no memory limit"
            );
            for mount in container["volumeMounts"].as_array().into_iter().flatten() {
                let volume = spec["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["name"] == mount["name"])
                    .unwrap_or_else(|| panic!("{name}: volume {} is missing", mount["name"]));
                assert!(
                    volume.get("emptyDir").is_some() || mount["readOnly"] == true,
                    "{name}: {mount} is writable and not an emptyDir"
                );
            }
        }
    }
}

/// Every environment variable read from a Secret, as `NAME -> secret/key`; fails on any
/// variable or argument that would carry a secret value itself, and on a rendered Secret.
fn secret_env(objects: &[&Value]) -> BTreeMap<String, String> {
    const SECRET_FLAGS: [&str; 6] = [
        "--token",
        "--database-url",
        "--encryption-key",
        "--oidc-client-secret",
        "--password",
        "--storage-url",
    ];
    assert!(
        objects
            .iter()
            .all(|o| o["kind"] != "Secret" && o["kind"] != "ConfigMap"),
        "the chart renders no Secret (nor a ConfigMap that could hold one)"
    );
    let mut found = BTreeMap::new();
    for (name, spec) in pod_specs(objects) {
        for container in spec["containers"].as_array().unwrap() {
            for arg in args(container) {
                assert!(
                    !SECRET_FLAGS.iter().any(|f| arg.starts_with(f)),
                    "{name}: a secret on the command line: {arg}"
                );
            }
            for env in container["env"].as_array().into_iter().flatten() {
                let var = env["name"].as_str().unwrap();
                if let Some(secret) = env["valueFrom"].get("secretKeyRef") {
                    assert!(env.get("value").is_none(), "{name}: {env}");
                    found.insert(
                        var.to_string(),
                        format!(
                            "{}/{}",
                            secret["name"].as_str().unwrap(),
                            secret["key"].as_str().unwrap()
                        ),
                    );
                } else {
                    let upper = var.to_uppercase();
                    assert!(
                        !["TOKEN", "PASSWORD", "SECRET", "KEY", "DATABASE"]
                            .iter()
                            .any(|w| upper.contains(w)),
                        "{name}: {var} is not read from a Secret: {env}"
                    );
                }
            }
        }
    }
    found
}

/// The Secrets a default install (`base_values`) reads, as [`secret_env`] reports them.
const BASE_SECRETS: &[(&str, &str)] = &[
    ("TERRACE_AGENT_TOKEN", "terrace-listener/token"),
    ("TERRACE_DATABASE_URL", "terrace-db/database-url"),
    ("TERRACE_ENCRYPTION_KEY", "terrace-keys/encryption-key"),
];

/// What [`secret_env`] must report: every `(variable, "secret/key")` of `groups`.
fn secret_refs(groups: &[&[(&str, &str)]]) -> BTreeMap<String, String> {
    groups
        .iter()
        .flat_map(|group| group.iter())
        .map(|(var, secret)| (var.to_string(), secret.to_string()))
        .collect()
}

fn env_value<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

fn container<'a>(objects: &[&'a Value], deployment: &str) -> &'a Value {
    &find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn the_chart_lints_renders_and_validates_offline() {
    let started = Instant::now();
    let report = check_chart();
    let fullname = format!("{RELEASE}-terrace");
    let listener = format!("{RELEASE}-terrace-listener");
    assert!(
        report["helm"].as_str().unwrap().starts_with("v4."),
        "{}",
        report["helm"]
    );

    for case in good_values().keys() {
        // Strict: warnings count. Only "info" findings (no icon) may remain.
        let lint = &report["lint"][case];
        assert_eq!(lint["errors"], json!([]), "{case}: {lint}");
        for message in lint["messages"].as_array().unwrap() {
            assert!(
                message["severity"].as_u64().unwrap() < 2,
                "{case}: {message}"
            );
        }
        assert_eq!(
            report["invalid"][*case],
            json!([]),
            "{case}: objects Kubernetes refuses"
        );
        let objects = objects(&report, case);
        assert_restricted(&objects);
        for o in &objects {
            let labels = &o["metadata"]["labels"];
            assert_eq!(labels["app.kubernetes.io/name"], "terrace", "{o}");
            assert_eq!(labels["app.kubernetes.io/instance"], RELEASE, "{o}");
            assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm", "{o}");
            assert_eq!(labels["app.kubernetes.io/version"], VERSION, "{o}");
        }
        // The image defaults to the executor's own default, terrace:VERSION.
        for (_, spec) in pod_specs(&objects)
            .into_iter()
            .filter(|(n, _)| !n.ends_with("-test-readyz"))
        {
            assert_eq!(spec["containers"][0]["image"], format!("terrace:{VERSION}"));
        }
        // The listener's Role is deploy/'s, in the runs' namespace, bound to its ServiceAccount.
        let rbac = &report["yaml_files"]["deploy/kubernetes/listener-rbac.yaml"];
        let reference = rbac
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "Role")
            .unwrap();
        let role = find(&objects, "Role", &listener);
        assert_eq!(role["rules"], reference["rules"], "{case}");
        let runs = role["metadata"]["namespace"].as_str().unwrap();
        let binding = find(&objects, "RoleBinding", &listener);
        assert_eq!(binding["metadata"]["namespace"], runs);
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": listener})
        );
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": listener, "namespace": NAMESPACE}])
        );
        find(&objects, "ServiceAccount", &listener);
        find(&objects, "Namespace", runs);
        let policy = find(&objects, "NetworkPolicy", &format!("{fullname}-runner"));
        let reference = &report["yaml_files"]["deploy/kubernetes/runner-networkpolicy.yaml"][0];
        assert_eq!(policy["metadata"]["namespace"], runs);
        assert_eq!(
            policy["spec"], reference["spec"],
            "{case}: the runner NetworkPolicy is deploy/'s"
        );
        let pod = &find(&objects, "Deployment", &listener)["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], listener.as_str());
        let listener_args = args(&pod["containers"][0]);
        assert_eq!(&listener_args[..2], ["listener", "--executor=kubernetes"]);
        assert!(
            listener_args.contains(&format!("--kube-namespace={runs}").as_str()),
            "{listener_args:?}"
        );
    }

    // A default install: two replicas with rolling updates and a PodDisruptionBudget, no
    // autoscaler or Ingress; the listener reaches the API through its Service; the secrets
    // are exactly the three required ones (no Redis: NOTES.txt says rate limits are per
    // replica).
    let defaults = objects(&report, "defaults");
    assert_eq!(
        kinds(&defaults),
        [
            format!("Deployment/{fullname}"),
            format!("Deployment/{listener}"),
            "Namespace/terrace-runs".to_string(),
            format!("NetworkPolicy/{fullname}-runner"),
            format!("Pod/{fullname}-test-readyz"),
            format!("PodDisruptionBudget/{fullname}"),
            format!("Role/{listener}"),
            format!("RoleBinding/{listener}"),
            format!("Service/{fullname}"),
            format!("ServiceAccount/{listener}"),
        ]
    );
    let api = find(&defaults, "Deployment", &fullname);
    assert_eq!(api["spec"]["replicas"], 2);
    assert_eq!(
        api["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    );
    let pdb = find(&defaults, "PodDisruptionBudget", &fullname);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"], api["spec"]["selector"]);
    let serve = container(&defaults, &fullname);
    let serve_args = args(serve);
    for arg in [
        "serve",
        "--no-listener",
        "--no-tls",
        "--listen=0.0.0.0:8080",
        "--metrics-listen=0.0.0.0:9464",
    ] {
        assert!(serve_args.contains(&arg), "{arg} in {serve_args:?}");
    }
    assert_eq!(
        serve["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "http", "scheme": "HTTP"})
    );
    assert_eq!(
        serve["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "http", "scheme": "HTTP"})
    );
    assert_eq!(
        serve["ports"][0],
        json!({"name": "http", "containerPort": 8080, "protocol": "TCP"})
    );
    assert_eq!(
        env_value(serve, "TERRACE_EXTERNAL_URL"),
        Some("https://terrace.example.com")
    );
    assert_eq!(
        env_value(serve, "TERRACE_STORAGE_URL"),
        Some("s3://terrace-state/prod")
    );
    let service = find(&defaults, "Service", &fullname);
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
               {"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"}])
    );
    assert_eq!(
        service["spec"]["selector"],
        api["spec"]["selector"]["matchLabels"]
    );
    assert!(args(container(&defaults, &listener))
        .contains(&format!("--server-url=http://{fullname}.{NAMESPACE}.svc:80").as_str()));
    assert_eq!(secret_env(&defaults), secret_refs(&[BASE_SECRETS]));
    // NOTES.txt: how to reach it and how to make the listener's token.
    let notes = report["notes"]["defaults"].as_str().unwrap();
    for line in [
        "terraform login terrace.example.com",
        "hostname     = \"terrace.example.com\"",
        "create secret generic terrace-listener",
        "terrace admin listener-token",
        "Rate limits are per replica: without Redis (replicaCount 2, no redis.urlSecret)",
        "PostgreSQL's LISTEN/NOTIFY",
    ] {
        assert!(notes.contains(line), "NOTES.txt lacks {line:?}:\n{notes}");
    }
    let test_pod = find(&defaults, "Pod", &format!("{fullname}-test-readyz"));
    assert_eq!(test_pod["metadata"]["annotations"]["helm.sh/hook"], "test");
    let probe = test_pod["spec"]["containers"][0]["command"][2]
        .as_str()
        .unwrap();
    assert!(
        probe.contains(&format!("http://{fullname}:80/readyz")),
        "{probe}"
    );
    // Without tests.tokenSecret, `helm test` is the /readyz check alone, and NOTES.txt says
    // how to make it plan.
    assert!(
        !kinds(&defaults).iter().any(|k| k.ends_with("-test-smoke")),
        "no smoke test without a token"
    );
    let notes = report["notes"]["defaults"].as_str().unwrap();
    assert!(
        notes.contains("It checks /readyz only.")
            && notes.contains(&format!(
                "create secret generic {fullname}-smoke-test \\\n    --from-literal=token=\"$(kubectl -n {NAMESPACE} exec deploy/{fullname} -- terrace admin token create --user admin"
            )),
        "{notes}"
    );

    // Three replicas: a PodDisruptionBudget over the API pods; the Redis URL from its Secret,
    // so they share their rate limits.
    let scaled = objects(&report, "scaled");
    let api = find(&scaled, "Deployment", &fullname);
    assert_eq!(api["spec"]["replicas"], 3);
    let pdb = find(&scaled, "PodDisruptionBudget", &fullname);
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(pdb["spec"]["selector"], api["spec"]["selector"]);
    assert!(!kinds(&scaled)
        .iter()
        .any(|k| k.starts_with("HorizontalPodAutoscaler/")));
    assert_eq!(
        secret_env(&scaled),
        secret_refs(&[BASE_SECRETS, &[("TERRACE_REDIS_URL", "terrace-redis/url")]])
    );
    assert!(
        !secret_env(&defaults).contains_key("TERRACE_REDIS_URL"),
        "no Redis unless asked for"
    );
    let notes = report["notes"]["scaled"].as_str().unwrap();
    assert!(
        notes.contains("count rate limits together and announce\nqueued jobs through Redis (Secret terrace-redis, key url)"),
        "{notes}"
    );
    assert!(!notes.contains("Rate limits are per replica"), "{notes}");

    // Production: the autoscaler owns the replica count, the Ingress ends TLS for the host
    // that is then the external URL, and every secret comes from its Secret.
    let production = objects(&report, "production");
    let api = find(&production, "Deployment", &fullname);
    assert!(
        api["spec"].get("replicas").is_none(),
        "the HPA sets replicas: {}",
        api["spec"]
    );
    let hpa = find(&production, "HorizontalPodAutoscaler", &fullname);
    assert_eq!(
        hpa["spec"]["scaleTargetRef"],
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": fullname})
    );
    assert_eq!(
        (
            hpa["spec"]["minReplicas"].clone(),
            hpa["spec"]["maxReplicas"].clone()
        ),
        (json!(3), json!(6))
    );
    find(&production, "PodDisruptionBudget", &fullname);
    let ingress = find(&production, "Ingress", &fullname);
    assert_eq!(ingress["spec"]["ingressClassName"], "nginx");
    assert_eq!(
        ingress["spec"]["tls"],
        json!([{"hosts": ["tf.example.org"], "secretName": "terrace-tls"}])
    );
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "tf.example.org");
    assert_eq!(
        rule["http"]["paths"][0]["backend"]["service"],
        json!({"name": fullname, "port": {"name": "http"}})
    );
    let serve = container(&production, &fullname);
    assert_eq!(
        env_value(serve, "TERRACE_EXTERNAL_URL"),
        Some("https://tf.example.org")
    );
    assert_eq!(
        env_value(serve, "TERRACE_OIDC_ISSUER"),
        Some("https://idp.example.org")
    );
    assert!(args(serve).contains(&"--storage-option=aws_region=eu-west-1"));
    assert_eq!(
        secret_env(&production),
        secret_refs(&[
            BASE_SECRETS,
            &[
                ("AWS_ACCESS_KEY_ID", "terrace-s3/id"),
                ("AWS_SECRET_ACCESS_KEY", "terrace-s3/secret"),
                ("TERRACE_ADMIN_PASSWORD", "terrace-admin/admin-password"),
                ("TERRACE_OIDC_CLIENT_SECRET", "terrace-oidc/client-secret"),
                ("TERRACE_TOKEN", "terrace-smoke/api-token"),
            ]
        ])
    );
    // With tests.tokenSecret, `helm test` also plans: `terrace smoke-test` against the
    // Service, after the /readyz pod, its token only from the Secret.
    find(&production, "Pod", &format!("{fullname}-test-readyz"));
    let smoke = find(&production, "Pod", &format!("{fullname}-test-smoke"));
    assert_eq!(
        smoke["metadata"]["annotations"],
        json!({"helm.sh/hook": "test", "helm.sh/hook-weight": "1",
               "helm.sh/hook-delete-policy": "before-hook-creation"})
    );
    assert_eq!(
        smoke["metadata"]["labels"]["app.kubernetes.io/component"],
        "test"
    );
    assert_eq!(smoke["spec"]["restartPolicy"], "Never");
    assert_eq!(smoke["spec"]["automountServiceAccountToken"], false);
    assert_eq!(smoke["spec"]["activeDeadlineSeconds"], 260);
    let smoke = &smoke["spec"]["containers"][0];
    assert_eq!(smoke["image"], format!("terrace:{VERSION}"));
    assert_eq!(smoke["command"], json!(["terrace"]));
    assert_eq!(
        args(smoke),
        [
            "smoke-test",
            &format!("--server-url=http://{fullname}:80"),
            "--organization=default",
            "--workspace=helm-smoke",
            "--timeout=200",
        ]
    );
    assert_eq!(
        smoke["env"],
        json!([{"name": "TERRACE_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "terrace-smoke", "key": "api-token"}}}])
    );
    let notes = report["notes"]["production"].as_str().unwrap();
    assert!(
        notes.contains("plans a one-resource configuration through the API and the listener")
            && notes.contains("in workspace default/helm-smoke, reused each time,\nwith the API token in Secret terrace-smoke, key api-token."),
        "{notes}"
    );
    assert!(!notes.contains("It checks /readyz only."), "{notes}");
    let listener_args = args(container(&production, &listener));
    for arg in [
        "--kube-namespace=prod-runs",
        "--kube-request=cpu=500m",
        "--kube-limit=memory=2Gi",
        "--kube-toleration=dedicated=terraform:NoSchedule",
        "--ca-file=/etc/terrace/ca/ca.pem",
    ] {
        assert!(listener_args.contains(&arg), "{arg} in {listener_args:?}");
    }

    // Listener-only: the listener's pieces and nothing of the API; it dials out to serverUrl.
    let remote = objects(&report, "listener-only");
    assert_eq!(
        kinds(&remote),
        [
            format!("Deployment/{listener}"),
            "Namespace/remote-runs".to_string(),
            format!("NetworkPolicy/{fullname}-runner"),
            format!("Role/{listener}"),
            format!("RoleBinding/{listener}"),
            format!("ServiceAccount/{listener}"),
        ]
    );
    assert!(
        args(container(&remote, &listener)).contains(&"--server-url=https://terrace.example.com")
    );
    let notes = report["notes"]["listener-only"].as_str().unwrap();
    assert!(
        notes.contains("/api/v2/agent-pools/apool-.../authentication-tokens"),
        "{notes}"
    );
    assert!(
        notes.contains("create secret generic pool-token"),
        "{notes}"
    );
    assert!(!notes.contains("terraform login"), "{notes}");
    assert_eq!(
        secret_env(&remote),
        secret_refs(&[&[("TERRACE_AGENT_TOKEN", "pool-token/token")]])
    );

    // values.schema.json: each mistake refused, naming its field.
    for (case, _, field) in bad_values() {
        let message = report["rejected"][case]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: Helm accepted wrong values"));
        assert!(
            message.contains("values don't meet the specifications of the schema"),
            "{case}: {message}"
        );
        assert!(
            message.contains(field),
            "{case}: the refusal does not name {field}: {message}"
        );
    }
    // Without the schema (--skip-schema-validation) the templates still refuse to run
    // without PostgreSQL, and say why.
    for (case, _, reason) in schemaless_values() {
        let message = report["schemaless"][case]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: the templates rendered without a database"));
        assert!(
            message.contains(reason),
            "{case}: the refusal does not say {reason:?}: {message}"
        );
    }
    eprintln!("offline checks: {:.1} s", started.elapsed().as_secs_f64());
}

/// The test control plane, with the two requests the dry run makes.
struct ApiServer {
    plane: ControlPlane,
}

impl ApiServer {
    fn start() -> ApiServer {
        ApiServer {
            plane: ControlPlane::start(),
        }
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .plane
            .admin
            .post(format!("{}{path}", self.plane.url))
            .json(body)
            .send()
            .expect("the apiserver answers");
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn exists(&self, path: &str) -> bool {
        let response = self
            .plane
            .admin
            .get(format!("{}{path}", self.plane.url))
            .send()
            .unwrap();
        response.status().is_success()
    }
}

/// Where `object` is created, e.g. /apis/apps/v1/namespaces/terrace/deployments.
fn collection(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().unwrap();
    let kind = object["kind"].as_str().unwrap();
    let plural = match kind {
        "Ingress" => "ingresses".to_string(),
        "NetworkPolicy" => "networkpolicies".to_string(),
        other => format!("{}s", other.to_lowercase()),
    };
    let prefix = if api_version == "v1" {
        "/api/v1".to_string()
    } else {
        format!("/apis/{api_version}")
    };
    if kind == "Namespace" {
        return format!("{prefix}/{plural}");
    }
    // Helm puts objects without a namespace into the release's.
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or(NAMESPACE);
    format!("{prefix}/namespaces/{namespace}/{plural}")
}

/// Whether `sent` is all in `kept`: every field with its value (the server adds defaults).
fn missing_fields(sent: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, kept) {
        (Value::Object(sent), Value::Object(kept)) => {
            for (key, value) in sent {
                match kept.get(key) {
                    Some(k) => missing_fields(value, k, &format!("{path}.{key}"), out),
                    None => out.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(sent), Value::Array(kept)) if sent.len() == kept.len() => {
            for (i, (s, k)) in sent.iter().zip(kept).enumerate() {
                missing_fields(s, k, &format!("{path}[{i}]"), out);
            }
        }
        (sent, kept) if sent == kept => {}
        (sent, kept) => out.push(format!("{path}: sent {sent}, kept {kept}")),
    }
}

#[test]
fn a_kubernetes_1_20_apiserver_accepts_the_rendered_objects() {
    let report = check_chart();
    let started = Instant::now();
    let server = ApiServer::start();
    // The release's namespace, and its default ServiceAccount, which the test Pod uses.
    let (status, reply) = server.post(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
    );
    assert_eq!(status, 201, "{reply}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.exists(&format!(
        "/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"
    )) {
        assert!(
            Instant::now() < deadline,
            "no default ServiceAccount in {NAMESPACE}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The check below can fail: a field 1.20 does not know (a pod's `os`, 1.23+) is
    // accepted and dropped.
    let mut pod = find(
        &objects(&report, "defaults"),
        "Pod",
        &format!("{RELEASE}-terrace-test-readyz"),
    )
    .clone();
    pod["spec"]["os"] = json!({"name": "linux"});
    let (status, kept) = server.post(&format!("{}?dryRun=All", collection(&pod)), &pod);
    assert_eq!(status, 201, "{kept}");
    let mut missing = Vec::new();
    missing_fields(&pod, &kept, "", &mut missing);
    assert_eq!(missing, [".spec.os"]);

    for case in good_values().keys() {
        let mut objects: Vec<Value> = objects(&report, case).into_iter().cloned().collect();
        // Namespaces first, as Helm installs them.
        objects.sort_by_key(|o| o["kind"] != "Namespace");
        let mut accepted = 0;
        for object in &objects {
            let (api_version, kind) = (
                object["apiVersion"].as_str().unwrap(),
                object["kind"].as_str().unwrap(),
            );
            // Newer than 1.20: policy/v1 PodDisruptionBudget is 1.21+, autoscaling/v2
            // HorizontalPodAutoscaler 1.23+ (the chart documents both).
            if (api_version, kind) == ("policy/v1", "PodDisruptionBudget")
                || (api_version, kind) == ("autoscaling/v2", "HorizontalPodAutoscaler")
            {
                continue;
            }
            let path = collection(object);
            let (status, kept) = server.post(&format!("{path}?dryRun=All"), object);
            assert_eq!(
                status, 201,
                "{case}: {kind} {} refused: {kept}",
                object["metadata"]["name"]
            );
            let mut missing = Vec::new();
            missing_fields(object, &kept, "", &mut missing);
            assert!(
                missing.is_empty(),
                "{case}: {kind}: the 1.20 server dropped or changed {missing:?}"
            );
            accepted += 1;
            if kind == "Namespace" {
                // The dry run stored nothing: create it, for the objects that go in it.
                let (status, reply) = server.post(&path, object);
                assert_eq!(status, 201, "{reply}");
            }
        }
        let skipped = objects.len() - accepted;
        let expected_skips = match *case {
            "listener-only" => 0,
            "production" => 2,
            _ => 1,
        };
        assert_eq!(
            skipped, expected_skips,
            "{case}: only the PDB and the HPA are skipped"
        );
        eprintln!(
            "{case}: {accepted} objects accepted by kube-apiserver 1.20.2, {skipped} skipped"
        );
    }
    eprintln!("dry run: {:.1} s", started.elapsed().as_secs_f64());
}
