use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::Api;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A running `terrace serve`, stopped when dropped.
pub struct Server {
    child: Option<Child>,
    /// `https://localhost:PORT`
    pub url: String,
    /// `localhost:PORT`, as terraform names the host.
    pub hostname: String,
    pub data_dir: PathBuf,
    /// The local CA bundle to trust (system roots plus Terrace's CA).
    pub ca_bundle: PathBuf,
    pub database_url: Option<String>,
    pub stdout: String,
    pub admin_password: String,
    /// Where the built-in listener makes its runs' directories (TERRACE_WORK_DIR): the
    /// server's own `/tmp`, so that a killed server leaves nothing behind.
    pub work_dir: PathBuf,
    _dir: tempfile::TempDir,
}

pub struct ServerBuilder {
    db: Db,
    data_dir: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    config: Option<String>,
    database_url: Option<String>,
    ca_bundle: Option<PathBuf>,
    unready: bool,
    binary: Option<PathBuf>,
}

/// The binary under test: `TERRACE_BIN`, or the workspace's debug build (built once per
/// test process, with `terrace-runner`, so tests never run against stale code).
pub fn terrace_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("TERRACE_BIN") {
            return PathBuf::from(bin);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .args(["build", "--quiet", "-p", "terrace-api", "--bin", "terrace"])
            // The listener starts the runner's own binary when it is next to `terrace`.
            .args(["-p", "terrace-runner-listener", "--bin", "terrace-runner"])
            .current_dir(workspace)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the terrace binary failed");
        workspace.join("target/debug/terrace")
    })
    .clone()
}

/// A fresh, empty PostgreSQL database on the test server.
fn fresh_postgres_database() -> String {
    let admin = std::env::var("TERRACE_TEST_POSTGRES_URL").expect(
        "PostgreSQL tests need TERRACE_TEST_POSTGRES_URL (a server where the user may create \
         databases); scripts/test.sh starts one and sets it",
    );
    let name = format!("terrace_{}", random_suffix());
    let output = Command::new("psql")
        .args([
            admin.as_str(),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql runs (install postgresql-client)");
    assert!(
        output.status.success(),
        "creating database {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
    format!("{base}/{name}")
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

impl Server {
    pub fn start(db: Db) -> Server {
        Server::builder(db).start()
    }

    pub fn builder(db: Db) -> ServerBuilder {
        ServerBuilder {
            db,
            data_dir: None,
            work_dir: None,
            args: Vec::new(),
            env: Vec::new(),
            config: None,
            database_url: None,
            ca_bundle: None,
            unready: false,
            binary: None,
        }
    }

    /// A new API token for the site administrator.
    pub fn admin_token(&self) -> String {
        self.admin(&["token", "create", "--user", "admin"])
    }

    /// Creates a user (not a site admin) and returns a token for them.
    pub fn user_token(&self, name: &str) -> String {
        self.admin_with_env(
            &["user", "create", name],
            &[("TERRACE_NEW_USER_PASSWORD", "user-password-1")],
        );
        self.admin(&["token", "create", "--user", name])
    }

    /// Runs `terrace admin ARGS` against this server's database and returns its output.
    pub fn admin(&self, args: &[&str]) -> String {
        self.admin_with_env(args, &[])
    }

    /// `admin` with environment variables (secrets stay off the command line, which every
    /// user of the machine can read).
    pub fn admin_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let mut command = Command::new(terrace_bin());
        command
            .arg("admin")
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(env.iter().copied());
        if let Some(url) = &self.database_url {
            command.env("TERRACE_DATABASE_URL", url);
        }
        let output = command.output().expect("terrace admin runs");
        assert!(
            output.status.success(),
            "terrace admin {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    pub fn api(&self, token: &str) -> Api {
        Api::new(&self.url, Some(token), &self.ca_bundle)
    }

    pub fn anonymous(&self) -> Api {
        Api::new(&self.url, None, &self.ca_bundle)
    }

    /// Stops the server (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            // Runners get 20 s to stop terraform before the server gives up on them.
            let deadline = Instant::now() + Duration::from_secs(45);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Peak resident memory of the server process so far, in KiB (Linux).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.child.as_ref()?.id(), "VmHWM")
    }

    /// Files of the local blob store whose path contains `fragment` (an ID), relative to the
    /// store, sorted.
    pub fn blob_files(&self, fragment: &str) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let root = self.data_dir.join("blobs");
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.retain(|p| p.contains(fragment));
        out.sort();
        out
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Runs one SQL statement on the server's database, for setups the API cannot express
    /// yet (a membership that is not the owners team: there is no team API). Returns the
    /// number of rows it changed.
    pub fn sql(&self, statement: &str) -> u64 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let done = match &self.database_url {
                Some(url) => {
                    let pool = sqlx::PgPool::connect(url).await.expect("PostgreSQL");
                    sqlx::query(statement)
                        .execute(&pool)
                        .await
                        .map(|r| r.rows_affected())
                }
                None => {
                    let url = format!("sqlite:{}", self.data_dir.join("terrace.db").display());
                    let pool = sqlx::SqlitePool::connect(&url).await.expect("SQLite");
                    sqlx::query(statement)
                        .execute(&pool)
                        .await
                        .map(|r| r.rows_affected())
                }
            };
            done.unwrap_or_else(|e| panic!("{statement}: {e}"))
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl ServerBuilder {
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_string());
        self
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Turns the rate limits off, for tests that send hundreds of requests a second from one
    /// token and one address to probe something else (`abuse_limits.rs` tests the limits).
    pub fn without_rate_limits(self) -> Self {
        self.args(&[
            "--rate-limit",
            "0",
            "--rate-limit-runner",
            "0",
            "--rate-limit-anonymous",
            "0",
        ])
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Uses an existing data directory (to restart a server on its data; SQLite only).
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Another server's work directory (TERRACE_WORK_DIR), as a restart on the same
    /// machine has.
    pub fn work_dir(mut self, dir: &Path) -> Self {
        self.work_dir = Some(dir.to_path_buf());
        self
    }

    /// Uses an existing PostgreSQL database (another server's, to run replicas side by side).
    pub fn database_url(mut self, url: &str) -> Self {
        assert_eq!(
            self.db,
            Db::Postgres,
            "replicas share a PostgreSQL database"
        );
        self.database_url = Some(url.to_string());
        self
    }

    /// Keeps blobs under `prefix` in the test S3 server (SeaweedFS, started by
    /// `scripts/test.sh`, which sets the `TERRACE_TEST_S3_*` variables).
    pub fn s3_storage(mut self, prefix: &str) -> Self {
        for (key, value) in s3_settings(prefix) {
            self = self.env(key, &value);
        }
        self
    }

    /// The CAs clients trust (with `--tls-cert`; the local CA's bundle otherwise).
    pub fn ca_bundle(mut self, path: &Path) -> Self {
        self.ca_bundle = Some(path.to_path_buf());
        self
    }

    /// Returns once the banner is out, without waiting for `/readyz` (for servers that
    /// are not meant to become ready).
    pub fn unready(mut self) -> Self {
        self.unready = true;
        self
    }

    /// Starts `binary` instead of [`terrace_bin`] (a benchmark comparing two builds).
    pub fn binary(mut self, binary: &Path) -> Self {
        self.binary = Some(binary.to_path_buf());
        self
    }

    /// TOML for the configuration file.
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.to_string());
        self
    }

    pub fn start(self) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        let database_url = match self.db {
            Db::Sqlite => None,
            Db::Postgres => Some(
                self.database_url
                    .clone()
                    .unwrap_or_else(fresh_postgres_database),
            ),
        };
        let admin_password = format!("admin-{}", random_suffix());
        let work_dir = self.work_dir.clone().unwrap_or_else(|| {
            let work_dir = dir.path().join("tmp");
            std::fs::create_dir(&work_dir).expect("work dir");
            // Like /tmp: runners run as another user. The temporary directory around it
            // only needs to be crossed.
            std::fs::set_permissions(&work_dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
            work_dir
        });
        let mut command = Command::new(self.binary.clone().unwrap_or_else(terrace_bin));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .env("TERRACE_ADMIN_PASSWORD", &admin_password)
            .env("TERRACE_WORK_DIR", &work_dir)
            .env("TERRACE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = &database_url {
            command.env("TERRACE_DATABASE_URL", url);
            command.env("TERRACE_ENCRYPTION_KEY", FIXED_KEY);
        }
        if let Some(toml) = &self.config {
            let path = dir.path().join("terrace.toml");
            std::fs::write(&path, toml).unwrap();
            command.arg("--config").arg(path);
        }
        command.args(&self.args);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("terrace starts");
        let (url, stdout) = read_banner(&mut child);
        let hostname = url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .to_string();
        let server = Server {
            child: Some(child),
            hostname,
            ca_bundle: self
                .ca_bundle
                .clone()
                .unwrap_or_else(|| data_dir.join("tls/ca-bundle.pem")),
            data_dir,
            database_url,
            stdout,
            admin_password,
            url,
            work_dir,
            _dir: dir,
        };
        if !self.unready {
            server.wait_ready();
        }
        server
    }
}

/// The environment that keeps a server's (or an admin command's) blobs under `prefix` in the
/// test S3 server (SeaweedFS, started by `scripts/test.sh`, which sets `TERRACE_TEST_S3_*`).
pub fn s3_settings(prefix: &str) -> Vec<(&'static str, String)> {
    let env = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is required (scripts/test.sh starts SeaweedFS and sets it)")
        })
    };
    let bucket = env("TERRACE_TEST_S3_BUCKET");
    vec![
        ("TERRACE_STORAGE_URL", format!("s3://{bucket}/{prefix}")),
        ("AWS_ENDPOINT", env("TERRACE_TEST_S3_ENDPOINT")),
        ("AWS_ALLOW_HTTP", "true".to_string()),
        ("AWS_ACCESS_KEY_ID", env("TERRACE_TEST_S3_ACCESS_KEY_ID")),
        (
            "AWS_SECRET_ACCESS_KEY",
            env("TERRACE_TEST_S3_SECRET_ACCESS_KEY"),
        ),
        ("AWS_REGION", env("TERRACE_TEST_S3_REGION")),
    ]
}

/// A valid Fernet key for servers that need an explicit one (PostgreSQL).
pub const FIXED_KEY: &str = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";

/// Reads the startup banner up to its last line; returns the URL and the banner text.
fn read_banner(child: &mut Child) -> (String, String) {
    let stdout = child.stdout.take().expect("piped stdout");
    let lines: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut reader = BufReader::new(stdout);
    let mut url = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!(
                "terrace exited before it was ready; it printed:\n{}",
                lines.lock().unwrap().join("")
            );
        }
        lines.lock().unwrap().push(line.clone());
        if let Some(rest) = line.split(" is listening on ").nth(1) {
            url = Some(rest.trim().to_string());
        }
        // The banner ends with the closing brace of the cloud block snippet.
        if line.trim_end() == "  }" {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while reader.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    let text = lines.into_inner().unwrap().join("");
    (
        url.unwrap_or_else(|| panic!("no URL in the banner:\n{text}")),
        text,
    )
}

impl Server {
    fn wait_ready(&self) {
        let api = self.anonymous();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if api.get("/readyz").status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("terrace did not become ready at {}", self.url);
    }
}

/// A `kB` field of `/proc/PID/status` (`VmHWM`, `RssAnon`, `RssFile`, ...), Linux only.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    status_kib(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        field,
    )
}

/// A `kB` field of the text of a `/proc/PID/status`.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The highest anonymous and file-backed resident memory (KiB) of process `pid`, sampled
/// every 5 ms until `stop` is set. `VmHWM` adds both. The anonymous part is what the server
/// allocates; the file-backed part is the pages of its binary that the kernel maps around
/// each page it runs, and those of an embedded database, which SQLite maps once per
/// connection: both are the kernel's page cache, which it can drop.
pub fn sample_memory(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let (mut anon, mut file) = (0, 0);
        let path = format!("/proc/{pid}/status");
        while !stop.load(Ordering::Relaxed) {
            // One read for both fields: the API benchmark's client shares the server's cores.
            let status = std::fs::read_to_string(&path).unwrap_or_default();
            anon = anon.max(status_kib(&status, "RssAnon").unwrap_or(0));
            file = file.max(status_kib(&status, "RssFile").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(5));
        }
        (anon, file)
    })
}
