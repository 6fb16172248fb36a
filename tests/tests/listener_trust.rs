//! The built-in listener and the certificate the server serves: with `--tls-cert` from a
//! private (company) CA that the machine does not trust, runs still execute here; and when
//! the built-in listener cannot work, the server says so (banner, `/readyz`, the run's log)
//! instead of leaving `terraform plan` waiting in silence.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{texts, Db, Server, Terraform};

/// A private CA (`ca.pem`) and a certificate for `localhost` only (not 127.0.0.1, where the
/// built-in listener connects) signed by it (`server.pem`, without the CA) with its key.
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Example Corp Root CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn runs_execute_with_a_certificate_from_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let server = Server::builder(Db::Sqlite)
        .args(&["--tls-cert", cert.to_str().unwrap()])
        .args(&["--tls-key", key.to_str().unwrap()])
        .ca_bundle(&ca)
        .start();
    assert!(
        server.stdout.contains("runs      executed here"),
        "{}",
        server.stdout
    );
    assert_eq!(server.anonymous().get("/readyz").status, 200);

    let tf = Terraform::new(&server, &server.admin_token());
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    \
             workspaces {{\n      name = \"private-ca\"\n    }}\n  }}\n}}\n\
             resource \"terraform_data\" \"a\" {{\n  input = \"trusted\"\n}}\n",
            server.hostname
        ),
    );
    tf.ok(&["init", "-input=false"]);
    let mut plan = tf.command(&["plan", "-input=false"]);
    let started = Instant::now();
    let output = plan.output().unwrap();
    let (stdout, stderr) = texts(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 to add"), "{stdout}");
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[test]
fn a_broken_builtin_listener_is_reported() {
    // A work directory that cannot be made: the built-in listener stops at once.
    let server = Server::builder(Db::Sqlite)
        .args(&["--work-dir", "/dev/null/runs"])
        .unready()
        .start();
    assert!(
        server
            .stdout
            .contains("runs      NOT executed here: the built-in listener stopped"),
        "{}",
        server.stdout
    );
    assert!(server.stdout.contains("/dev/null"), "{}", server.stdout);

    let ready = server.anonymous().get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.text);
    let check = &ready.body["checks"]["builtin-listener"];
    assert_eq!(check["status"], "stopped", "{}", ready.text);
    assert!(
        check["error"].as_str().unwrap().contains("/dev/null/runs"),
        "{}",
        ready.text
    );
    assert_eq!(ready.body["checks"]["database"]["status"], "ok");

    // A run nobody can take says why in its plan log, which the CLI shows while it waits.
    let api = server.api(&server.admin_token());
    let ws = api
        .post(
            "organizations/default/workspaces",
            &json!({"data": {"type": "workspaces", "attributes": {"name": "stuck"}}}),
        )
        .expect(201)
        .id();
    let cv = upload_configuration(
        &api,
        &ws,
        &[("main.tf", "output \"x\" { value = 1 }\n")],
        false,
    );
    let run = create_run(&api, &ws, Some(&cv), json!({})).id();
    wait_for_run(&api, &run, &["plan_queued"], Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = phase_log(&api, &run, "plan");
        if log.contains("no runner listener") {
            assert!(log.contains("/dev/null/runs"), "{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the plan log says nothing: {log:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
