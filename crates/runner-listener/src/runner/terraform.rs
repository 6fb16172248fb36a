//! Runs one terraform command under supervision: in a clean environment, in its own process
//! group (so a signal reaches its provider plugins too, and never the runner), dying with the
//! runner, and stopped when the job must stop: SIGINT first (terraform then stops gracefully
//! and writes its state), SIGKILL after the grace period or on a force-cancel.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::watch;
use tokio::time::Instant;

use super::logs::{JobLog, Stop};
use crate::confine::Sandbox;
use crate::process::{signal_group, signal_process};

/// How long to wait for the output pipe to close once terraform exited: something it started
/// may still hold the pipe open.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Output kept in memory when captured (`show -json` of a big plan, schemas).
const MAX_CAPTURE: usize = 512 * 1024 * 1024;

/// Where the output goes.
pub(crate) enum Output<'a> {
    /// stdout and stderr, merged in one pipe (so in order), to the job log; `scan` sees
    /// every complete line (to pick the summary out of it).
    Log {
        log: &'a JobLog,
        scan: &'a mut dyn FnMut(&str),
    },
    /// stdout and stderr merged, kept (shown only if the command fails).
    Merged,
    /// stdout kept (a JSON document), stderr kept apart.
    Split,
}

pub(crate) struct Command<'a> {
    pub program: &'a Path,
    pub args: Vec<OsString>,
    pub dir: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    /// The Landlock domain the command runs in.
    pub sandbox: Option<Arc<Sandbox>>,
}

pub(crate) struct Finished {
    pub status: ExitStatus,
    /// The kept output (nothing for [`Output::Log`]).
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Stops a job's processes: the job's stop signal and the grace period for a cancel.
pub(crate) struct Control {
    pub stop: watch::Receiver<Stop>,
    pub grace: Duration,
}

/// Runs `command` to its end (or until it is stopped).
pub(crate) async fn run(
    command: Command<'_>,
    mut output: Output<'_>,
    control: &mut Control,
) -> std::io::Result<Finished> {
    // One pipe for stdout and stderr keeps their lines in the order terraform wrote them.
    let (out_writer, out_reader) = pipe::pipe()?;
    let out_writer = out_writer.into_blocking_fd()?;
    let (stderr, err_reader) = match output {
        Output::Split => {
            let (w, r) = pipe::pipe()?;
            (Stdio::from(w.into_blocking_fd()?), Some(r))
        }
        _ => (Stdio::from(out_writer.try_clone()?), None),
    };
    let mut child = {
        let mut cmd = tokio::process::Command::new(command.program);
        cmd.args(&command.args)
            .current_dir(command.dir)
            .env_clear()
            .envs(command.env)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out_writer))
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let parent = std::process::id() as libc::pid_t;
        let sandbox = command.sandbox.clone();
        // SAFETY: the closure only makes async-signal-safe calls (signal, prctl, getppid,
        // raise, landlock_restrict_self).
        unsafe {
            cmd.pre_exec(move || {
                crate::process::prepare_child(parent)?;
                match &sandbox {
                    Some(sandbox) => sandbox.enter(),
                    None => Ok(()),
                }
            });
        }
        cmd.spawn()?
        // `cmd` drops here with our copies of the pipes' writing ends: the readers see the
        // end of the output once terraform (and whatever inherited the pipe) is done.
    };
    let pid = child.id().unwrap_or(0);

    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let status = {
        let pump = pump(out_reader, &mut output, &mut stdout);
        let pump_err = async {
            if let Some(reader) = err_reader {
                let _ = collect(reader, &mut stderr).await;
            }
        };
        tokio::pin!(pump, pump_err);
        let mut pumped = false;
        let mut err_pumped = false;
        let mut status = None;
        let mut signaled = Stop::Running;
        let mut kill_at: Option<Instant> = None;
        let mut drain_until: Option<Instant> = None;
        let mut stop_open = true;
        let mut act = |level: Stop, kill_at: &mut Option<Instant>| {
            if level <= signaled {
                return;
            }
            signaled = level;
            match level {
                Stop::Running => {}
                Stop::Cancel => {
                    tracing::info!(pid, "interrupting terraform");
                    signal_group(pid, libc::SIGINT);
                    *kill_at = Some(Instant::now() + control.grace);
                }
                Stop::Force | Stop::Gone => {
                    tracing::info!(pid, "killing terraform");
                    signal_group(pid, libc::SIGKILL);
                    *kill_at = None;
                }
            }
        };
        // The job may have been told to stop before this command started.
        let level = *control.stop.borrow_and_update();
        act(level, &mut kill_at);
        loop {
            if status.is_some() && pumped && err_pumped {
                break;
            }
            tokio::select! {
                result = &mut pump, if !pumped => {
                    pumped = true;
                    if let Err(err) = result {
                        tracing::warn!(error = %err, "reading terraform's output failed");
                    }
                }
                () = &mut pump_err, if !err_pumped => err_pumped = true,
                exited = child.wait(), if status.is_none() => {
                    status = Some(exited?);
                    drain_until = Some(Instant::now() + DRAIN_TIMEOUT);
                }
                changed = control.stop.changed(), if stop_open => match changed {
                    Ok(()) => {
                        let level = *control.stop.borrow_and_update();
                        act(level, &mut kill_at);
                    }
                    Err(_) => stop_open = false,
                },
                () = sleep_until(kill_at), if kill_at.is_some() && status.is_none() => {
                    tracing::warn!(pid, "terraform did not stop within the grace period: killing it");
                    signal_group(pid, libc::SIGKILL);
                    kill_at = None;
                }
                () = sleep_until(drain_until), if drain_until.is_some() => {
                    // Terraform is gone but something it started holds the output open.
                    signal_group(pid, libc::SIGKILL);
                    break;
                }
            }
        }
        status
    };
    let Some(status) = status else {
        // Unreachable: the loop only ends once terraform exited.
        signal_process(pid, libc::SIGKILL);
        return Err(std::io::Error::other("terraform did not exit"));
    };
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Moves the output where it goes; `keep` receives it unless it goes to the log.
async fn pump(
    mut reader: pipe::Receiver,
    output: &mut Output<'_>,
    keep: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            if let Output::Log { scan, .. } = output {
                if !partial.is_empty() {
                    scan(&String::from_utf8_lossy(&partial));
                }
            }
            return Ok(());
        }
        let chunk = &buf[..n];
        match output {
            Output::Log { log, scan } => {
                scan_lines(&mut partial, chunk, *scan);
                log.output(chunk.to_vec()).await;
            }
            Output::Merged | Output::Split => {
                if keep.len() + n <= MAX_CAPTURE {
                    keep.extend_from_slice(chunk);
                }
            }
        }
    }
}

/// Calls `scan` for each complete line; keeps the incomplete end in `partial` (bounded: the
/// lines worth scanning are short).
fn scan_lines(partial: &mut Vec<u8>, chunk: &[u8], scan: &mut dyn FnMut(&str)) {
    const MAX_LINE: usize = 1024 * 1024;
    let mut rest = chunk;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        if partial.len() < MAX_LINE {
            partial.extend_from_slice(&rest[..i]);
            scan(&String::from_utf8_lossy(partial));
        }
        partial.clear();
        rest = &rest[i + 1..];
    }
    if partial.len() + rest.len() <= MAX_LINE {
        partial.extend_from_slice(rest);
    } else {
        // Too long to be a line worth reading: skip to its end.
        partial.resize(MAX_LINE + 1, 0);
    }
}

async fn collect(mut reader: pipe::Receiver, keep: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        if keep.len() + n <= MAX_CAPTURE {
            keep.extend_from_slice(&buf[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sh(script: &str) -> Vec<OsString> {
        vec!["-c".into(), script.into()]
    }

    fn env() -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
        env
    }

    async fn run_sh(
        script: &str,
        output: Output<'_>,
        control: &mut Control,
    ) -> std::io::Result<Finished> {
        let env = env();
        let dir = std::env::temp_dir();
        run(
            Command {
                program: &PathBuf::from("/bin/sh"),
                args: sh(script),
                dir: &dir,
                env: &env,
                sandbox: None,
            },
            output,
            control,
        )
        .await
    }

    fn control(grace: Duration) -> (watch::Sender<Stop>, Control) {
        let (tx, rx) = watch::channel(Stop::Running);
        (tx, Control { stop: rx, grace })
    }

    #[tokio::test]
    async fn output_is_split_or_merged() {
        let (_tx, mut c) = control(Duration::from_secs(1));
        let done = run_sh("echo out; echo err >&2; exit 3", Output::Split, &mut c)
            .await
            .unwrap();
        assert_eq!(done.status.code(), Some(3));
        assert_eq!(done.stdout, b"out\n");
        assert_eq!(done.stderr, b"err\n");

        let done = run_sh("echo one; echo two >&2; echo three", Output::Merged, &mut c)
            .await
            .unwrap();
        assert!(done.status.success());
        assert_eq!(done.stdout, b"one\ntwo\nthree\n");
    }

    #[tokio::test]
    async fn the_environment_is_only_what_is_given() {
        let (_tx, mut c) = control(Duration::from_secs(1));
        let done = run_sh("env", Output::Split, &mut c).await.unwrap();
        let text = String::from_utf8(done.stdout).unwrap();
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .filter(|k| !matches!(*k, "PWD" | "SHLVL" | "_"))
            .collect();
        assert_eq!(keys, ["PATH"], "{text}");
    }

    #[tokio::test]
    async fn a_cancel_interrupts_the_process_group() {
        let (tx, mut c) = control(Duration::from_secs(30));
        let started = std::time::Instant::now();
        let canceler = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            super::super::logs::raise(&tx, Stop::Cancel);
            tx
        });
        // The shell's child is in the same group: both get the SIGINT.
        let done = run_sh("sleep 30; echo not reached", Output::Merged, &mut c)
            .await
            .unwrap();
        assert!(!done.status.success());
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(canceler.await);
    }

    #[tokio::test]
    async fn a_process_ignoring_the_interrupt_is_killed_after_the_grace_period() {
        let (tx, mut c) = control(Duration::from_millis(500));
        // After the shell has set its trap.
        let canceler = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            super::super::logs::raise(&tx, Stop::Cancel);
            tx
        });
        let started = std::time::Instant::now();
        let done = run_sh("trap '' INT; sleep 30", Output::Merged, &mut c)
            .await
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(done.status.signal(), Some(libc::SIGKILL));
        assert!(started.elapsed() >= Duration::from_millis(800));
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(canceler.await);
    }

    #[tokio::test]
    async fn a_force_cancel_kills_at_once() {
        let (tx, mut c) = control(Duration::from_secs(60));
        let killer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            super::super::logs::raise(&tx, Stop::Force);
            tx
        });
        let started = std::time::Instant::now();
        let done = run_sh("trap '' INT; sleep 30", Output::Merged, &mut c)
            .await
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(done.status.signal(), Some(libc::SIGKILL));
        assert!(started.elapsed() < Duration::from_secs(10));
        drop(killer.await);
    }

    #[test]
    fn lines_are_scanned_across_chunks() {
        let mut lines = Vec::new();
        let mut partial = Vec::new();
        let mut scan = |l: &str| lines.push(l.to_string());
        scan_lines(&mut partial, b"first li", &mut scan);
        scan_lines(&mut partial, b"ne\nsecond\nthi", &mut scan);
        scan_lines(&mut partial, b"rd\n", &mut scan);
        assert_eq!(lines, ["first line", "second", "third"]);
        assert!(partial.is_empty());
    }
}
