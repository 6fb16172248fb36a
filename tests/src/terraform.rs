use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::{tools, Server};

/// A CLI the end-to-end suites drive: terraform 1.11.4 on PATH, or one of the clients
/// `scripts/go-tools.sh` builds (terraform 1.5.7, OpenTofu 1.12.6). Suites declare a test once
/// for every client with `each_client!`.
#[derive(Debug, Clone)]
pub struct Client {
    pub program: PathBuf,
    /// `terraform` or `tofu`, for messages.
    pub name: &'static str,
    /// What `version -json` reports, e.g. `1.5.7`; a workspace the client creates asks for it.
    pub version: String,
}

impl Client {
    /// The terraform on PATH (1.11.4 on this project's machines).
    pub fn terraform() -> Client {
        static CLIENT: OnceLock<Client> = OnceLock::new();
        CLIENT
            .get_or_init(|| Client::new(PathBuf::from("terraform"), "terraform"))
            .clone()
    }

    pub fn terraform_1_5_7() -> Client {
        static CLIENT: OnceLock<Client> = OnceLock::new();
        CLIENT
            .get_or_init(|| Client::new(tools::path("terraform-1.5.7/terraform"), "terraform"))
            .clone()
    }

    pub fn tofu_1_12_6() -> Client {
        static CLIENT: OnceLock<Client> = OnceLock::new();
        CLIENT
            .get_or_init(|| Client::new(tools::path("tofu-1.12.6/tofu"), "tofu"))
            .clone()
    }

    fn new(program: PathBuf, name: &'static str) -> Client {
        // A clean environment, as for the tests' commands: a host's TF_CLI_CONFIG_FILE naming a
        // missing file makes OpenTofu print a warning before its JSON.
        let home = tempfile::tempdir().unwrap();
        let output = Command::new(&program)
            .args(["version", "-json"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
        let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{} version -json: {e}", program.display()));
        // OpenTofu kept terraform's key.
        let version = doc["terraform_version"]
            .as_str()
            .expect("a terraform_version")
            .to_string();
        Client {
            program,
            name,
            version,
        }
    }

    /// The product name the client's messages use ("Terraform has ...", "OpenTofu has ...").
    pub fn product(&self) -> &'static str {
        if self.is_tofu() {
            "OpenTofu"
        } else {
            "Terraform"
        }
    }

    /// The workspace engine that runs this client's configurations: `terraform` or `tofu`.
    pub fn engine(&self) -> &'static str {
        if self.is_tofu() {
            "tofu"
        } else {
            "terraform"
        }
    }

    pub fn is_tofu(&self) -> bool {
        self.name == "tofu"
    }

    /// `cloud { workspaces { project = ... } }`: terraform 1.6 and OpenTofu (forked from 1.6).
    pub fn cloud_block_projects(&self) -> bool {
        self.is_tofu() || self.terraform_at_least(1, 6)
    }

    /// Key-value tags, `cloud { workspaces { tags = { k = "v" } } }`: terraform 1.10; OpenTofu
    /// 1.12 knows only the list of names.
    pub fn cloud_block_key_value_tags(&self) -> bool {
        self.terraform_at_least(1, 10)
    }

    /// `plan -out` with remote execution (a saved cloud plan): terraform 1.6 and OpenTofu.
    pub fn cloud_saved_plans(&self) -> bool {
        self.is_tofu() || self.terraform_at_least(1, 6)
    }

    /// Whether this is terraform `major.minor` or later (OpenTofu forked at 1.6 and numbers
    /// its own releases: compare features, not versions, for it).
    pub fn terraform_at_least(&self, major: u64, minor: u64) -> bool {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0));
        let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        !self.is_tofu() && have >= (major, minor)
    }
}

/// The real `terraform` (or `tofu`) CLI in a fresh HOME and working directory, trusting the
/// server's CA.
pub struct Terraform {
    pub client: Client,
    dir: tempfile::TempDir,
    pub work: PathBuf,
    ca_bundle: PathBuf,
    config_file: Option<PathBuf>,
    extra_env: Vec<(String, String)>,
}

impl Terraform {
    /// A CLI whose configuration carries `token` for the server (a `credentials` block: the
    /// only way to give a token for a host with a port).
    pub fn new(server: &Server, token: &str) -> Terraform {
        Terraform::with_client(Client::terraform(), server, token)
    }

    /// [`Terraform::new`] with another client.
    pub fn with_client(client: Client, server: &Server, token: &str) -> Terraform {
        let mut tf = Terraform::without_credentials(server);
        tf.client = client;
        let config = tf.dir.path().join("cli.tfrc");
        std::fs::write(
            &config,
            format!(
                "credentials \"{}\" {{\n  token = \"{token}\"\n}}\n",
                server.hostname
            ),
        )
        .unwrap();
        tf.config_file = Some(config);
        tf
    }

    /// Adds `token` for another host of the server (`127.0.0.1:PORT`, the address registry
    /// sources use: terraform wants a dot in a registry's hostname).
    pub fn add_credentials(&self, host: &str, token: &str) {
        self.add_cli_config(&format!(
            "credentials \"{host}\" {{\n  token = \"{token}\"\n}}\n"
        ));
    }

    /// Appends `text` to the CLI configuration file.
    pub fn add_cli_config(&self, text: &str) {
        let config = self.config_file.as_ref().expect("a CLI with credentials");
        let mut whole = std::fs::read_to_string(config).unwrap();
        whole.push_str(text);
        std::fs::write(config, whole).unwrap();
    }

    /// A CLI with no credentials (for `terraform login`).
    pub fn without_credentials(server: &Server) -> Terraform {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        // terraform login writes into ~/.terraform.d but does not create it.
        std::fs::create_dir_all(dir.path().join("home/.terraform.d")).unwrap();
        Terraform {
            client: Client::terraform(),
            dir,
            work,
            ca_bundle: server.ca_bundle.clone(),
            config_file: None,
            extra_env: Vec::new(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.to_string(), value.to_string()));
    }

    /// Writes a file into the working directory.
    pub fn write(&self, name: &str, content: &str) {
        let path = self.work.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.work.join(name)).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// The command with a clean environment: nothing from the host's TF_* settings leaks in.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.client.program);
        command
            .args(args)
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("SSL_CERT_FILE", &self.ca_bundle)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1");
        if let Some(config) = &self.config_file {
            command.env("TF_CLI_CONFIG_FILE", config);
        }
        for (k, v) in &self.extra_env {
            command.env(k, v);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, "")
    }

    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} runs: {e}", self.client.program.display()));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; returns its stdout without colours.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let (stdout, stderr) = texts(&output);
        assert!(
            output.status.success(),
            "{} {args:?} failed:\n{stdout}\n{stderr}",
            self.client.name
        );
        stdout
    }

    /// Runs a command that must fail; returns stdout and stderr together without colours.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let (stdout, stderr) = texts(&output);
        assert!(
            !output.status.success(),
            "{} {args:?} should have failed:\n{stdout}\n{stderr}",
            self.client.name
        );
        format!("{stdout}\n{stderr}")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// stdout and stderr with ANSI colour codes removed.
pub fn texts(output: &Output) -> (String, String) {
    (
        strip_ansi(&String::from_utf8_lossy(&output.stdout)),
        strip_ansi(&String::from_utf8_lossy(&output.stderr)),
    )
}

pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
