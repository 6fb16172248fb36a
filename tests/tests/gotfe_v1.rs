//! Today's go-tfe (v1.111.2, what the `tfe` provider and most platform tooling are built on)
//! as a standing oracle: its whole integration suite against the real server over TLS, each
//! top-level test in its own process (one test's nil dereference aborts the binary), a few
//! at a time, held to tests/gotfe-v1/expected.tsv (see terrace_tests::gotfe_v1 for the format
//! and the verdict). The binary and its fixtures come from scripts/go-tools.sh (`gotfe-v1`).
//!
//! `GOTFE_V1_ONLY=REGEX` runs the matching tests only; `GOTFE_V1_WRITE=1` rewrites the
//! expectation file from the run (a listed test that now passes becomes a pass; an expected
//! pass that fails is printed, never turned into n/a).

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use terrace_tests::gotfe_v1::{
    problems, rewrite, run_tally, tally_table, Expectations, Setting, TestRun,
};
use terrace_tests::receiver::Receiver;
use terrace_tests::{tools, Db, Server, ServerBuilder};

/// Tests at a time: most of a test's time is waiting on the server and on runs.
const PARALLEL: usize = 4;
/// A test still running after this is killed (with its process group) and counts as a
/// timeout; Go's own -test.timeout fires a little earlier to print where it hung.
const TIMEOUT: Duration = Duration::from_secs(180);

/// The admin's token stands in for every TFE admin role the suite asks for.
const ADMIN_TOKEN_VARIABLES: &[&str] = &[
    "TFE_ADMIN_SITE_ADMIN_TOKEN",
    "TFE_ADMIN_CONFIGURATION_TOKEN",
    "TFE_ADMIN_PROVISION_LICENSES_TOKEN",
    "TFE_ADMIN_SECURITY_MAINTENANCE_TOKEN",
    "TFE_ADMIN_SUBSCRIPTION_TOKEN",
    "TFE_ADMIN_SUPPORT_TOKEN",
    "TFE_ADMIN_VERSION_MAINTENANCE_TOKEN",
];

#[test]
fn go_tfe_v1_suite_meets_its_expectations() {
    let started = Instant::now();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let expected_path = workspace.join("tests/gotfe-v1/expected.tsv");
    let expectations = Expectations::parse(&std::fs::read_to_string(&expected_path).unwrap())
        .unwrap_or_else(|errors| panic!("{}:\n{}", expected_path.display(), errors.join("\n")));
    let binary = tools::path("gotfe-v1/gotfe-v1.test");
    let fixtures = tools::path("gotfe-v1/test-fixtures");
    let all = list_tests(&binary, ".*");
    let selected = match std::env::var("GOTFE_V1_ONLY") {
        Ok(regex) => list_tests(&binary, &regex),
        Err(_) => all.clone(),
    };

    // Run tasks' URLs (TFC_RUN_TASK_URL) point at a receiver of this test on loopback.
    let server = with_provider_mirror(Server::builder(Db::Sqlite))
        .arg("--allow-private-notification-urls")
        .start();
    let run_task_receiver = Receiver::start(&[200]);
    let token = server.admin_token();
    seed_catalogue(&server, &token);
    let logs = workspace.join("target/gotfe-v1-logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    let work = tempfile::tempdir().unwrap();
    let suite = Suite {
        binary: &binary,
        fixtures: &fixtures,
        server: &server,
        token: &token,
        work: work.path(),
        logs: &logs,
        run_task_url: &run_task_receiver.url,
    };
    let runs = suite.run_all(&selected);

    println!(
        "\ngo-tfe v1.111.2 against Terrace: logs in {}",
        logs.display()
    );
    let mut expectations = expectations;
    if std::env::var_os("GOTFE_V1_WRITE").is_some() {
        let (rewritten, notes) = rewrite(&expectations, &all, &runs);
        std::fs::write(&expected_path, rewritten.render()).unwrap();
        println!("rewrote {}:", expected_path.display());
        for note in &notes {
            println!("  {note}");
        }
        expectations = rewritten;
    }
    let problems = problems(&expectations, &all, &runs);
    // Problems first: a CI log that keeps only the start and the end of the output keeps them.
    for problem in &problems {
        println!("\n== {problem}");
        if let Some(run) = problem.test().and_then(|t| runs.get(t)) {
            println!("{}", run.tail(25));
        }
    }
    let groups = read_groups(&tools::path("gotfe-v1/groups.tsv"));
    println!("{}", run_tally(&expectations, &runs));
    println!(
        "\nexpected, by resource group:\n{}",
        tally_table(&expectations, &all, &groups)
    );
    println!(
        "wall time {:.0?} for {} tests",
        started.elapsed(),
        runs.len()
    );
    assert!(
        problems.is_empty(),
        "go-tfe v1 does not meet tests/gotfe-v1/expected.tsv:\n{}",
        problems
            .iter()
            .map(|p| format!("  {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The top-level tests of the binary matching `regex` (Go matches it).
fn list_tests(binary: &Path, regex: &str) -> Vec<String> {
    let output = Command::new(binary)
        .args(["-test.list", regex])
        .output()
        .expect("gotfe-v1.test runs");
    assert!(output.status.success(), "gotfe-v1.test -test.list failed");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("Test"))
        .map(str::to_string)
        .collect()
}

/// The runner needs providers to run the fixtures' plans (hashicorp/null, random and time):
/// scripts/go-tools.sh's `providers` tool builds a filesystem mirror of them, and the server
/// hands it to its runners (a copy the runners' user can read).
fn with_provider_mirror(server: ServerBuilder) -> ServerBuilder {
    // Required: the fixtures' hashicorp/null, random and time come only from here.
    let mirror = tools::provider_mirror();
    server
        .arg("--provider-mirror-dir")
        .arg(&mirror.display().to_string())
}

/// Tests that read or change what the whole site shares (the admin API: every run, every
/// workspace, the version catalogue, site settings) see the other tests' objects: they run
/// alone, before the others, as on a site only they use.
/// TestAdminRuns_ListFilterByDates_RunDependent counts the runs created in a window, and
/// TestAdminRuns_List_RunDependent expects no applied run on the whole site.
fn site_wide(test: &str) -> bool {
    test.starts_with("TestAdmin")
}

/// The terraform versions go-tfe's tests name (TestWorkspacesCreate asks for 0.11.0,
/// TestAdminTerraformVersions_List filters on 1.0.4, ...), so that, with a catalogue, an
/// unknown version is refused as TFE refuses it. None of them is run: their URL names no
/// binary, and a run asking for one errors. Runs use the runner's own terraform, entered as
/// the newest official version.
const NAMED_VERSIONS: &[&str] = &["0.10.0", "0.11.0", "0.11.1", "0.15.4", "1.0.0", "1.0.4"];

fn seed_catalogue(server: &Server, token: &str) {
    let terraform = which("terraform");
    let version = terraform_version(&terraform);
    server.admin(&[
        "tool-version",
        "--version",
        &version,
        "--file",
        terraform.to_str().unwrap(),
        "--official",
    ]);
    let api = server.api(token);
    for version in NAMED_VERSIONS {
        api.post(
            "admin/terraform-versions",
            &serde_json::json!({"data": {"type": "terraform-versions", "attributes": {
                "version": version,
                "url": format!("https://releases.invalid/terraform_{version}_linux_amd64.zip"),
                "sha": "0".repeat(64),
                "official": true,
            }}}),
        )
        .expect(201);
    }
}

/// `name`'s absolute path on PATH, links resolved (the runner's user reads the file).
fn which(name: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .and_then(|path| path.canonicalize().ok())
        .unwrap_or_else(|| panic!("{name} is not on PATH"))
}

/// `1.11.4` from `terraform version`'s first line, `Terraform v1.11.4`.
fn terraform_version(binary: &Path) -> String {
    let output = Command::new(binary).arg("version").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("Terraform v"))
        .unwrap_or_else(|| panic!("terraform version printed {text}"))
        .trim()
        .to_string()
}

/// Test name to resource group (the go-tfe file it is in).
fn read_groups(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(t, g)| (t.to_string(), g.to_string()))
        .collect()
}

struct Suite<'a> {
    binary: &'a Path,
    fixtures: &'a Path,
    server: &'a Server,
    token: &'a str,
    /// Each test's working directory is a folder of its own in here.
    work: &'a Path,
    logs: &'a Path,
    /// A receiver answering 200 to everything (run tasks' test requests, their requests at
    /// run stages, notifications), for the tests that need `TFC_RUN_TASK_URL`.
    run_task_url: &'a str,
}

impl Suite<'_> {
    /// Runs `tests`: the site-wide ones first and alone, then the others PARALLEL at a time.
    fn run_all(&self, tests: &[String]) -> BTreeMap<String, TestRun> {
        let (alone, shared): (Vec<String>, Vec<String>) =
            tests.iter().cloned().partition(|t| site_wide(t));
        let runs = Mutex::new(BTreeMap::new());
        self.run_queue(alone, 1, &runs);
        self.run_queue(shared, PARALLEL, &runs);
        runs.into_inner().unwrap()
    }

    fn run_queue(
        &self,
        tests: Vec<String>,
        workers: usize,
        runs: &Mutex<BTreeMap<String, TestRun>>,
    ) {
        let queue = Mutex::new(VecDeque::from(tests));
        let verbose = std::env::var_os("GOTFE_V1_ONLY").is_some()
            || std::env::var_os("GOTFE_V1_VERBOSE").is_some();
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let Some(test) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let started = Instant::now();
                    let run = self.run_in_its_mode(&test);
                    let mut runs = runs.lock().unwrap();
                    if verbose {
                        let settings: Vec<String> = run
                            .settings
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect();
                        println!(
                            "{:<8} {test} ({:.0?}) {}",
                            run.outcome,
                            started.elapsed(),
                            settings.join(" ")
                        );
                    }
                    runs.insert(test, run);
                    if runs.len().is_multiple_of(100) {
                        println!("go-tfe v1: {} tests run", runs.len());
                    }
                });
            }
        });
    }

    /// Runs `test`, and again with the setting it asks for while it skips for one
    /// ([`TestRun::asks_for`]): the last run is its outcome.
    fn run_in_its_mode(&self, test: &str) -> TestRun {
        let mut run = self.run_one(test, &[]);
        while let Some(setting) = run.asks_for() {
            let mut settings = run.settings.clone();
            settings.push(setting);
            run = self.run_one(test, &settings);
            run.settings = settings;
        }
        run
    }

    /// One test in its own process, in a fresh copy of the fixtures (tests write archives
    /// there), with an environment of its own: nothing of ours leaks in, and no GITHUB_*,
    /// HYOK_* or OAUTH_*, so the tests that need those skip. TFC_RUN_TASK_URL is the
    /// receiver's.
    fn run_one(&self, test: &str, settings: &[Setting]) -> TestRun {
        let dir = self.work.join(test);
        copy_dir(self.fixtures, &dir.join("test-fixtures"));
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let log_path = self.logs.join(format!("{test}.log"));
        let log = File::create(&log_path).unwrap();
        let go_timeout = TIMEOUT - Duration::from_secs(15);
        let mut command = Command::new(self.binary);
        command
            .args(["-test.run", &format!("^{test}$"), "-test.v"])
            .arg(format!("-test.timeout={}s", go_timeout.as_secs()))
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("TMPDIR", &tmp)
            .env("TFE_ADDRESS", &self.server.url)
            .env("TFE_TOKEN", self.token)
            .env("SSL_CERT_FILE", &self.server.ca_bundle)
            .env("ENABLE_TFE", "1")
            .env("TFC_RUN_TASK_URL", self.run_task_url)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        for variable in ADMIN_TOKEN_VARIABLES {
            command.env(variable, self.token);
        }
        for (variable, value) in settings {
            command.env(variable, value);
        }
        let mut child = command.spawn().expect("gotfe-v1.test starts");
        let deadline = Instant::now() + TIMEOUT;
        let (status, killed) = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break (status, false);
            }
            if Instant::now() > deadline {
                // The whole group: anything the test started goes with it.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                break (child.wait().unwrap(), true);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let output = String::from_utf8_lossy(&std::fs::read(&log_path).unwrap()).into_owned();
        let _ = std::fs::remove_dir_all(&dir);
        TestRun::new(test, status.success(), killed, output)
    }
}

/// Copies a folder tree (files keep their permissions: a fixture is executable).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
