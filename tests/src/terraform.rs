use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::Server;

/// The real `terraform` CLI in a fresh HOME and working directory, trusting the server's CA.
pub struct Terraform {
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
        let mut tf = Terraform::without_credentials(server);
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

    /// A CLI with no credentials (for `terraform login`).
    pub fn without_credentials(server: &Server) -> Terraform {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        // terraform login writes into ~/.terraform.d but does not create it.
        std::fs::create_dir_all(dir.path().join("home/.terraform.d")).unwrap();
        Terraform {
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
        let mut command = Command::new("terraform");
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
            .expect("terraform runs (is it on PATH?)");
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
            "terraform {args:?} failed:\n{stdout}\n{stderr}"
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
            "terraform {args:?} should have failed:\n{stdout}\n{stderr}"
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
