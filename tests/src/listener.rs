//! A `terrace listener` process of the tests: an agent (or a separate listener) with a token
//! read from a file, as an operator runs one.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{terrace_bin, Server};

/// A `terrace listener` process, killed when dropped.
pub struct ListenerProcess {
    child: Child,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl ListenerProcess {
    pub fn start(server: &Server, token: &str, name: &str) -> ListenerProcess {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("listener.log");
        let file = std::fs::File::create(&log).unwrap();
        // The token comes from a file, as an operator keeps it off the command line.
        let token_file = dir.path().join("agent-token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        let child = Command::new(terrace_bin())
            .args(["listener", "--server-url", &server.url, "--ca-file"])
            .arg(&server.ca_bundle)
            .args(["--name", name, "--token-file"])
            .arg(&token_file)
            .env("TERRACE_LOG", "info")
            .env("TERRACE_WORK_DIR", dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("terrace listener starts");
        let mut listener = ListenerProcess { child, log, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !listener.log().contains("registered") {
            if let Ok(Some(status)) = listener.child.try_wait() {
                panic!("the listener exited ({status}):\n{}", listener.log());
            }
            assert!(
                Instant::now() < deadline,
                "the listener did not register:\n{}",
                listener.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        listener
    }

    /// Its own directory (its work directory: runs happen under it).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ListenerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
