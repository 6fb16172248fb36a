//! `terrace admin migrate`: an embedded installation (SQLite and the data directory's blobs)
//! with 50 workspaces' state history, runs with logs and variables moves into PostgreSQL and
//! S3 (SeaweedFS), and a server started there with the same encryption key serves all of it to
//! the real terraform CLI, to the old tokens, and to new runs that use the sensitive
//! variables. A migration interrupted at any stage resumes into the same result; a complete
//! one re-run only checks, and finds a blob damaged in the object store; a target holding
//! anything the migration did not write is refused and left as it was.
//!
//! Needs `scripts/services.sh` (TERRACE_TEST_POSTGRES_URL, TERRACE_TEST_S3_*).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use terrace_tests::access::create_workspace;
use terrace_tests::runs::{create_run, phase_log, upload_configuration, wait_for_run};
use terrace_tests::{s3_settings, states, terrace_bin, Api, Db, Server, Terraform};

const WORKSPACES: usize = 50;
const STATES_PER_WORKSPACE: u64 = 3;
const SECRET: &str = "s3cr3t-moved-along";
/// The test hook that makes `migrate` exit as a crash would.
const EXIT_AFTER: &str = "TERRACE_MIGRATE_TEST_EXIT_AFTER";
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is required: run scripts/services.sh and source its env.sh")
    })
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos:x}", std::process::id())
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A new, empty database on the test PostgreSQL server; its URL.
fn fresh_database() -> String {
    let admin = env("TERRACE_TEST_POSTGRES_URL");
    let name = unique("migrate").replace('-', "_");
    block_on(async {
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// Every table of the database but the migrations' own records, the credential epoch and
/// the kept workspace counts (each database counts its own), by name: its rows and a digest
/// of their text, in a stable order.
fn tables(url: &str) -> BTreeMap<String, (i64, String)> {
    block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name NOT IN ('_sqlx_migrations', 'terrace_migration', \
             'terrace_migration_tables', 'credential_epoch', 'workspace_counts', \
             'project_workspace_counts')",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let mut out = BTreeMap::new();
        for name in names {
            let digest: (i64, String) = sqlx::query_as(&format!(
                "SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') \
                 FROM \"{name}\" t"
            ))
            .fetch_one(&pool)
            .await
            .unwrap();
            out.insert(name, digest);
        }
        pool.close().await;
        out
    })
}

fn has_migration_record(url: &str) -> bool {
    block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let found: bool = sqlx::query_scalar("SELECT to_regclass('terrace_migration') IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        found
    })
}

/// Runs one statement on the (stopped) embedded installation's database.
fn source_sql(data: &Path, statement: &str) {
    let url = format!("sqlite:{}", data.join("terrace.db").display());
    block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

/// A signed GET from the test S3 server, or a PUT of `upload` (curl signs with SigV4 itself,
/// an upload from a file, whose hash it can take first).
fn s3(path_and_query: &str, upload: Option<&[u8]>) -> Vec<u8> {
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--fail-with-body", "--aws-sigv4"])
        .arg(format!("aws:amz:{}:s3", env("TERRACE_TEST_S3_REGION")))
        .arg("--user")
        .arg(format!(
            "{}:{}",
            env("TERRACE_TEST_S3_ACCESS_KEY_ID"),
            env("TERRACE_TEST_S3_SECRET_ACCESS_KEY")
        ))
        .arg(format!(
            "{}/{}/{path_and_query}",
            env("TERRACE_TEST_S3_ENDPOINT"),
            env("TERRACE_TEST_S3_BUCKET")
        ));
    if let Some(body) = upload {
        std::fs::write(file.path(), body).unwrap();
        command.arg("--upload-file").arg(file.path());
    }
    let output = command.output().expect("curl runs");
    assert!(
        output.status.success(),
        "S3 {path_and_query}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The objects under `prefix/`: key (after the prefix) to size and ETag.
fn objects(prefix: &str) -> BTreeMap<String, (u64, String)> {
    fn tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(&text[start..end])
    }
    let mut found = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = format!("?list-type=2&prefix={}", url_encode(&format!("{prefix}/")));
        if let Some(token) = &token {
            query.push_str(&format!("&continuation-token={}", url_encode(token)));
        }
        let listing = String::from_utf8(s3(&query, None)).unwrap();
        for entry in listing.split("<Contents>").skip(1) {
            let key = tag(entry, "Key").unwrap();
            found.insert(
                key.strip_prefix(&format!("{prefix}/")).unwrap().to_string(),
                (
                    tag(entry, "Size").unwrap().parse().unwrap(),
                    tag(entry, "ETag").unwrap_or_default().to_string(),
                ),
            );
        }
        match tag(&listing, "NextContinuationToken") {
            Some(next) if tag(&listing, "IsTruncated") == Some("true") => {
                token = Some(next.to_string())
            }
            _ => return found,
        }
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `terrace admin migrate` of the data directory into the database and S3 prefix.
fn migrate(data: &Path, database_url: &str, prefix: &str, extra: &[(&str, &str)]) -> Output {
    // The S3 settings a server on that prefix gets, its URL as --to-storage-url.
    let mut settings = s3_settings(prefix);
    settings.retain(|(key, _)| *key != "TERRACE_STORAGE_URL");
    Command::new(terrace_bin())
        .args(["admin", "migrate", "--data-dir"])
        .arg(data)
        .args(["--to-database-url", database_url, "--to-storage-url"])
        .arg(format!("s3://{}/{prefix}", env("TERRACE_TEST_S3_BUCKET")))
        .env_remove("TERRACE_DATABASE_URL")
        .envs(settings)
        .envs(extra.iter().copied())
        .output()
        .expect("terrace admin migrate runs")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "migrate failed:\n{}", said(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[track_caller]
fn refused(output: &Output, says: &str) {
    assert!(!output.status.success(), "not refused:\n{}", said(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(says), "{}", said(output));
}

#[track_caller]
fn crashed(output: &Output) {
    assert_eq!(output.status.code(), Some(75), "{}", said(output));
}

/// Workspace `name`'s state number `serial`, with an output naming it.
fn state(name: &str, serial: u64) -> Value {
    json!({"version": 4, "terraform_version": "1.11.4", "serial": serial,
        "lineage": format!("lineage-{name}"),
        "outputs": {"name": {"value": name, "type": "string"},
                    "serial": {"value": serial.to_string(), "type": "string"}},
        "resources": []})
}

fn add_variable(api: &Api, ws: &str, key: &str, value: &str, sensitive: bool) {
    api.post(
        &format!("workspaces/{ws}/vars"),
        &json!({"data": {"type": "vars", "attributes": {
            "key": key, "value": value, "category": "terraform", "sensitive": sensitive}}}),
    )
    .expect(201);
}

fn total(reply: &terrace_tests::Reply) -> u64 {
    reply.body["meta"]["pagination"]["total-count"]
        .as_u64()
        .unwrap_or_else(|| panic!("no total count: {}", reply.text))
}

/// Runs a speculative plan of the runner workspace's configuration; returns the run's ID once
/// it has planned.
fn plan(api: &Api, ws: &str) -> String {
    let run = create_run(api, ws, None, json!({"plan-only": true})).id();
    wait_for_run(api, &run, &["planned_and_finished"], RUN_TIMEOUT);
    run
}

/// A configuration whose plan succeeds only with the right value of the sensitive variable.
fn configuration() -> String {
    let digest = hex::encode(Sha256::digest(SECRET.as_bytes()));
    format!(
        "variable \"secret\" {{\n  validation {{\n    condition = sha256(var.secret) == \"{digest}\"\n    \
         error_message = \"not the secret\"\n  }}\n}}\n\
         resource \"terraform_data\" \"checked\" {{\n  input = \"checked\"\n}}\n"
    )
}

struct Source {
    data: std::path::PathBuf,
    token: String,
    workspaces: Vec<(String, String)>,
    runner: String,
    run: String,
    log: String,
}

/// The embedded installation: 50 workspaces with state history, variables, a workspace with
/// a planned run; stopped.
fn embedded_installation(dir: &Path) -> Source {
    let data = dir.join("data");
    let mut server = Server::builder(Db::Sqlite)
        .data_dir(&data)
        .without_rate_limits()
        .start();
    let token = server.admin_token();
    let api = server.api(&token);
    let workspaces: Vec<(String, String)> = (0..WORKSPACES)
        .map(|i| {
            let name = format!("ws-{i:02}");
            let id = create_workspace(&api, "default", &name, None);
            for serial in 1..=STATES_PER_WORKSPACE {
                states::push(&api, &id, &state(&name, serial));
            }
            (name, id)
        })
        .collect();
    add_variable(&api, &workspaces[0].1, "region", "eu-west-1", false);
    add_variable(&api, &workspaces[0].1, "password", "hunter2-hunter2", true);
    let runner = create_workspace(&api, "default", "runner", None);
    add_variable(&api, &runner, "secret", SECRET, true);
    upload_configuration(&api, &runner, &[("main.tf", &configuration())], false);
    let run = plan(&api, &runner);
    let log = phase_log(&api, &run, "plan");
    assert!(log.contains("Plan: 1 to add"), "{log}");
    server.stop();
    Source {
        data,
        token,
        workspaces,
        runner,
        run,
        log,
    }
}

#[test]
fn an_embedded_installation_moves_to_postgresql_and_s3() {
    let dir = tempfile::tempdir().unwrap();
    let source = embedded_installation(dir.path());
    let key_file = std::fs::canonicalize(source.data.join("encryption.key")).unwrap();
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_string();

    // In one go.
    let (db_a, prefix_a) = (fresh_database(), unique("migrate-a"));
    let out = succeeded(&migrate(&source.data, &db_a, &prefix_a, &[]));
    // Every table of the schema.
    let schema = tables(&db_a).len();
    assert!(out.contains(&format!("Migrated: {schema} tables")), "{out}");
    assert!(
        out.contains("state_versions") && out.contains("150 rows copied"),
        "{out}"
    );
    assert!(
        out.contains(&key_file.display().to_string()),
        "names the key: {out}"
    );
    assert!(!out.contains(&key), "never prints the key: {out}");
    let blobs_a = objects(&prefix_a);
    assert!(
        blobs_a.len() > 150,
        "every state and more: {}",
        blobs_a.len()
    );

    // Interrupted after 20 tables, then after 10 blobs, then finished: the same result.
    let (db_b, prefix_b) = (fresh_database(), unique("migrate-b"));
    crashed(&migrate(
        &source.data,
        &db_b,
        &prefix_b,
        &[(EXIT_AFTER, "tables:20")],
    ));
    let out = migrate(&source.data, &db_b, &prefix_b, &[(EXIT_AFTER, "blobs:10")]);
    crashed(&out);
    assert!(said(&out).contains(&format!(
        "Resuming the interrupted migration (20 of {schema} tables copied)"
    )));
    assert_eq!(objects(&prefix_b).len(), 10);
    let out = succeeded(&migrate(&source.data, &db_b, &prefix_b, &[]));
    assert!(
        out.contains(&format!(
            "Resuming the interrupted migration ({schema} of {schema}"
        )),
        "{out}"
    );
    assert!(out.contains("copied before, unchanged"), "{out}");
    assert!(
        out.contains(&format!("{} copied by this run", blobs_a.len() - 10)),
        "{out}"
    );
    assert_eq!(tables(&db_b), tables(&db_a), "the resumed copy is the same");
    assert_eq!(objects(&prefix_b), blobs_a, "the same blobs");

    // A complete migration re-run checks it and changes nothing; a damaged blob is found.
    let out = succeeded(&migrate(&source.data, &db_a, &prefix_a, &[]));
    assert!(out.contains(&format!("Checked: {schema} tables")), "{out}");
    let damaged = objects(&prefix_b).into_keys().next().unwrap();
    s3(
        &format!("{prefix_b}/{damaged}"),
        Some(b"not what was copied"),
    );
    refused(
        &migrate(&source.data, &db_b, &prefix_b, &[]),
        &format!("blob {damaged} differs in the target"),
    );

    // The new shape serves it all, with the same key and the same tokens.
    let server = Server::builder(Db::Postgres)
        .database_url(&db_a)
        .s3_storage(&prefix_a)
        .env("TERRACE_ENCRYPTION_KEY", &key)
        .without_rate_limits()
        .start();
    let api = server.api(&source.token);
    let listed = api
        .get("organizations/default/workspaces?page[size]=100")
        .ok();
    assert_eq!(total(&listed), WORKSPACES as u64 + 1);
    for (name, _) in &source.workspaces {
        let versions = api
            .get(&format!(
                "state-versions?filter[workspace][name]={name}&filter[organization][name]=default"
            ))
            .ok();
        assert_eq!(total(&versions), STATES_PER_WORKSPACE, "{name}");
    }

    let (name, id) = &source.workspaces[7];
    let tf = Terraform::new(&server, &source.token);
    tf.write(
        "main.tf",
        &format!(
            "terraform {{\n  cloud {{\n    hostname = \"{}\"\n    organization = \"default\"\n    \
             workspaces {{\n      name = \"{name}\"\n    }}\n  }}\n}}\n",
            server.hostname
        ),
    );
    tf.ok(&["init", "-input=false"]);
    assert_eq!(tf.ok(&["output", "-raw", "name"]), *name);
    let pulled: Value = serde_json::from_str(&tf.ok(&["state", "pull"])).unwrap();
    let pushed = state(name, STATES_PER_WORKSPACE);
    for field in ["serial", "lineage", "outputs", "resources"] {
        assert_eq!(pulled[field], pushed[field], "{field}");
    }
    // Byte for byte through the API.
    let current = api
        .get(&format!("workspaces/{id}/current-state-version"))
        .ok();
    let url = current.attr("hosted-state-download-url").as_str().unwrap();
    let downloaded = api.raw("GET", url, None).bytes().unwrap();
    assert_eq!(downloaded.to_vec(), serde_json::to_vec(&pushed).unwrap());

    // The old run's log, the variables still write-only, and usable by a new run.
    assert_eq!(phase_log(&api, &source.run, "plan"), source.log);
    let vars = api.get(&format!("workspaces/{}/vars", source.runner)).ok();
    assert_eq!(vars.body["data"][0]["attributes"]["key"], "secret");
    assert!(vars.body["data"][0]["attributes"]["value"].is_null());
    assert!(!vars.text.contains(SECRET));
    let run = plan(&api, &source.runner);
    assert!(phase_log(&api, &run, "plan").contains("Plan: 1 to add"));
}

#[test]
fn a_target_holding_anything_else_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut source = Server::builder(Db::Sqlite).data_dir(&data).start();
    let api = source.api(&source.admin_token());
    let ws = create_workspace(&api, "default", "only", None);
    states::push(&api, &ws, &state("only", 1));
    source.stop();

    // A source table the migration does not know stops it: nothing is left behind silently.
    source_sql(&data, "CREATE TABLE added_later (id TEXT PRIMARY KEY)");
    let db = fresh_database();
    let prefix = unique("migrate-unknown-table");
    refused(
        &migrate(&data, &db, &prefix, &[]),
        "tables this migration does not know (added_later)",
    );
    assert!(tables(&db).is_empty() && objects(&prefix).is_empty());
    source_sql(&data, "DROP TABLE added_later");

    // A database a server has started on (its first start made the administrator).
    let mut used = Server::start(Db::Postgres);
    used.stop();
    let db = used.database_url.clone().unwrap();
    let before = tables(&db);
    let prefix = unique("migrate-used-db");
    refused(&migrate(&data, &db, &prefix, &[]), "is not empty (");
    assert_eq!(tables(&db), before);
    assert!(!has_migration_record(&db));
    assert!(objects(&prefix).is_empty());

    // An object store prefix with objects in it.
    let prefix = unique("migrate-used-store");
    s3(&format!("{prefix}/someone-elses"), Some(b"data"));
    let db = fresh_database();
    refused(
        &migrate(&data, &db, &prefix, &[]),
        "already holds 1 objects",
    );
    assert!(tables(&db).is_empty(), "not even the schema was created");
    assert_eq!(objects(&prefix).len(), 1);

    // Once both are empty, it goes.
    let prefix = unique("migrate-empty");
    let out = succeeded(&migrate(&data, &db, &prefix, &[]));
    let copied = format!("Migrated: {} tables", tables(&db).len());
    assert!(out.contains(&copied), "{out}");
}
