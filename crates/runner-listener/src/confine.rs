//! Confinement of a job's processes on the machine that executes them (the local executor).
//!
//! A run executes code its author wrote: providers, `local-exec` provisioners, `external`
//! data sources, and terraform functions such as `file()` and `fileset()`. On a machine that
//! also runs the server, or other organizations' jobs, that code must reach only its own job.
//! Three layers, each from what Linux offers without a daemon:
//!
//! - **Landlock** (a domain per terraform process tree, built by [`Sandbox`]): files can be
//!   written only in the job's directory and read only there and in the system's program
//!   paths; outside processes cannot be traced (so their `/proc/PID/environ`, `mem`, `fd`
//!   are out of reach), signalled, or reached through abstract UNIX sockets.
//! - **Another user** ([`RunAs`]): a listener started as root starts its runners as an
//!   unprivileged user, so nothing of root's applies to a run.
//! - **Non-dumpable processes** ([`make_non_dumpable`]): the server, listener and runner
//!   keep their `/proc` entries (environment with secrets, memory) from processes of the same
//!   user, Landlock or not.
//!
//! Where Landlock is missing (kernels before 5.13, or disabled), [`Support::Unavailable`]
//! says so, and the policy of [`Unconfined`] decides whether jobs run anyway.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use landlock::{
    path_beneath_rules, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, ABI,
};

/// The newest Landlock ABI whose rights we ask for: file access incl. truncate and device
/// ioctls (v5), and the signal and abstract-socket scopes (v6). Older kernels enforce what
/// they know (best effort), reported by [`support`].
const WANTED: ABI = ABI::V6;

/// Simulates a kernel without Landlock, for the tests of the fallback policy (a fault we
/// cannot cause on a machine that has it).
pub const SIMULATE_NO_LANDLOCK: &str = "TERRACE_SIMULATE_NO_LANDLOCK";

/// Read-only places every run needs: programs, libraries, and the few files under /etc that
/// name resolution, TLS and user lookup read. Not /etc as a whole: operators keep secrets
/// there (this server's configuration file, say).
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/nix/store",
    "/proc",
    "/sys/fs/cgroup",
    "/sys/devices/system/cpu",
    "/sys/kernel/mm/transparent_hugepage",
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/crypto-policies",
    "/etc/gai.conf",
    "/etc/group",
    "/etc/host.conf",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/nsswitch.conf",
    "/etc/os-release",
    "/etc/passwd",
    "/etc/pki",
    "/etc/protocols",
    "/etc/resolv.conf",
    "/etc/services",
    "/etc/ssh/ssh_config",
    "/etc/ssh/ssh_config.d",
    "/etc/ssl",
    "/etc/terminfo",
    "/etc/timezone",
];

/// Device files a program may read and write.
const DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// What this machine can do to confine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// Landlock with this ABI version; `scoped` if it also fences signals and abstract
    /// sockets (ABI 6).
    Landlock { abi: i32, scoped: bool },
    /// No Landlock: the reason, for the operator.
    Unavailable(String),
}

impl Support {
    pub fn is_available(&self) -> bool {
        matches!(self, Support::Landlock { .. })
    }
}

impl std::fmt::Display for Support {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Support::Landlock { abi, scoped: true } => write!(f, "Landlock (ABI {abi})"),
            Support::Landlock { abi, scoped: false } => write!(
                f,
                "Landlock (ABI {abi}; signals and abstract sockets are not fenced before ABI 6)"
            ),
            Support::Unavailable(reason) => write!(f, "none ({reason})"),
        }
    }
}

/// Asks the kernel which Landlock ABI it offers.
pub fn support() -> Support {
    if std::env::var_os(SIMULATE_NO_LANDLOCK).is_some_and(|v| !v.is_empty()) {
        return Support::Unavailable(format!("disabled by {SIMULATE_NO_LANDLOCK}"));
    }
    // SAFETY: landlock_create_ruleset with a null attribute, size 0 and the VERSION flag only
    // returns the ABI version; it reads and writes no memory.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    if abi >= 1 {
        return Support::Landlock {
            abi: abi as i32,
            scoped: abi >= 6,
        };
    }
    let err = std::io::Error::last_os_error();
    let reason = match err.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no Landlock (Linux 5.13 or later is needed)".into(),
        Some(libc::EOPNOTSUPP) => {
            "Landlock is built into the kernel but not enabled (add it to the lsm= boot parameter)"
                .into()
        }
        _ => format!("Landlock cannot be used: {err}"),
    };
    Support::Unavailable(reason)
}

/// What a job may do when its processes cannot be confined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Unconfined {
    /// Refuse every job.
    #[default]
    Refuse,
    /// Run jobs of this organization only (a server with one organization has nobody to
    /// protect from whom).
    Organization(String),
    /// Run every job (the operator accepted the risk).
    Allow,
}

impl Unconfined {
    /// The form of `TERRACE_UNCONFINED_RUNS`: `refuse`, `allow` or `organization:NAME`.
    pub fn to_env(&self) -> String {
        match self {
            Unconfined::Refuse => "refuse".into(),
            Unconfined::Allow => "allow".into(),
            Unconfined::Organization(name) => format!("organization:{name}"),
        }
    }

    pub fn from_env(value: &str) -> Unconfined {
        match value.split_once(':') {
            Some(("organization", name)) => Unconfined::Organization(name.to_string()),
            _ if value == "allow" => Unconfined::Allow,
            _ => Unconfined::Refuse,
        }
    }

    /// Whether a job of `organization` may run unconfined; `Err` is the reason to fail it
    /// with.
    pub fn check(&self, organization: &str, support: &Support) -> Result<(), String> {
        let Support::Unavailable(why) = support else {
            return Ok(());
        };
        match self {
            Unconfined::Allow => Ok(()),
            Unconfined::Organization(only) if only == organization => Ok(()),
            Unconfined::Organization(only) => Err(format!(
                "this runner cannot confine runs ({why}), so it executes runs of the \
                 organization {only:?} only; run this organization's runs on a listener of \
                 its own agent pool, or have the administrator accept the risk \
                 (--allow-unconfined-runs)"
            )),
            Unconfined::Refuse => Err(format!(
                "this runner cannot confine runs ({why}) and refuses to execute them; run \
                 them on a machine with Landlock, or have the administrator accept the risk \
                 (--allow-unconfined-runs)"
            )),
        }
    }
}

/// A Landlock domain prepared for one job: the rules are built before any process starts,
/// so that entering it between fork and exec needs two system calls and no allocation.
#[derive(Debug)]
pub(crate) struct Sandbox {
    ruleset: OwnedFd,
}

impl Sandbox {
    /// A domain where `writable` (the job's directory) is fully accessible, `readable` (the
    /// terraform binary, extra paths the operator listed) and the system paths are readable
    /// and executable, and nothing else is. `None` if the kernel has no Landlock.
    pub fn new(writable: &Path, readable: &[PathBuf]) -> Result<Option<Sandbox>, String> {
        if !support().is_available() {
            return Ok(None);
        }
        let all = AccessFs::from_all(WANTED);
        let read = AccessFs::from_read(WANTED);
        // `> /dev/null` opens with O_TRUNC.
        let device =
            AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
        let mut read_paths: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
        read_paths.extend(readable.iter().cloned());
        let created = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(all)
            .and_then(|r| r.scope(Scope::from_all(WANTED)))
            .and_then(|r| r.create())
            .and_then(|r| r.add_rules(path_beneath_rules(&read_paths, read)))
            .and_then(|r| r.add_rules(path_beneath_rules(DEVICES, device)))
            .and_then(|r| r.add_rules(path_beneath_rules([writable], all)))
            .map_err(|e| format!("cannot prepare the run's confinement: {e}"))?;
        let fd: Option<OwnedFd> = created.into();
        Ok(fd.map(|ruleset| Sandbox { ruleset }))
    }

    /// Confines the calling process and everything it starts from now on. For `pre_exec`:
    /// only async-signal-safe system calls.
    pub fn enter(&self) -> std::io::Result<()> {
        // SAFETY: prctl and landlock_restrict_self take integers only; the ruleset fd is
        // owned by `self` and open.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::syscall(
                libc::SYS_landlock_restrict_self,
                self.ruleset.as_raw_fd(),
                0u32,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// The unprivileged user and group a root listener starts its runners as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// `nobody`/`nogroup` on Debian and most distributions.
    pub const NOBODY: RunAs = RunAs {
        uid: 65534,
        gid: 65534,
    };

    /// `UID` or `UID:GID` (the group defaults to the number of the user).
    pub fn parse(text: &str) -> Result<RunAs, String> {
        let (uid, gid) = match text.split_once(':') {
            Some((u, g)) => (u, g),
            None => (text, text),
        };
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("expected UID or UID:GID (numbers), got {text:?}"))
        };
        let user = RunAs {
            uid: number(uid)?,
            gid: number(gid)?,
        };
        if user.uid == 0 || user.gid == 0 {
            // Root passes Landlock's fence around other processes (CAP_SYS_PTRACE).
            return Err("runs must not execute as root (UID or GID 0)".into());
        }
        Ok(user)
    }

    /// The default for a listener: `nobody` when it runs as root, nothing otherwise (an
    /// unprivileged user cannot change users, and needs not).
    pub fn default_for_current_user() -> Option<RunAs> {
        // SAFETY: geteuid cannot fail.
        (unsafe { libc::geteuid() } == 0).then_some(RunAs::NOBODY)
    }

    /// Drops every group and becomes the user. For `pre_exec`: async-signal-safe calls only.
    pub fn enter(&self) -> std::io::Result<()> {
        // SAFETY: setgroups with a zero count reads nothing; setgid/setuid take integers.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(self.gid) != 0
                || libc::setuid(self.uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Keeps this process's `/proc` entries (environment, memory, open files) from other
/// processes of the same user, and its memory out of core dumps.
pub fn make_non_dumpable() {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot make this process non-dumpable: its /proc entries stay readable by the same user"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    #[test]
    fn unconfined_policy() {
        let none = Support::Unavailable("no Landlock".into());
        let full = Support::Landlock {
            abi: 6,
            scoped: true,
        };
        assert!(Unconfined::Refuse.check("acme", &full).is_ok());
        let err = Unconfined::Refuse.check("acme", &none).unwrap_err();
        assert!(err.contains("no Landlock"), "{err}");
        assert!(Unconfined::Allow.check("acme", &none).is_ok());
        let one = Unconfined::Organization("home".into());
        assert!(one.check("home", &none).is_ok());
        let err = one.check("evil", &none).unwrap_err();
        assert!(err.contains("\"home\" only"), "{err}");
        for policy in [Unconfined::Refuse, Unconfined::Allow, one] {
            assert_eq!(Unconfined::from_env(&policy.to_env()), policy);
        }
        assert_eq!(Unconfined::from_env("garbage"), Unconfined::Refuse);
    }

    #[test]
    fn run_as_parses() {
        assert_eq!(
            RunAs::parse("1000:100").unwrap(),
            RunAs {
                uid: 1000,
                gid: 100
            }
        );
        assert_eq!(
            RunAs::parse("65534").unwrap(),
            RunAs {
                uid: 65534,
                gid: 65534
            }
        );
        assert!(RunAs::parse("nobody").is_err());
        assert!(RunAs::parse("0").is_err());
        assert!(RunAs::parse("1000:0").is_err());
        assert!(RunAs::parse("1:x").is_err());
    }

    /// The user the tests' processes run as: a root test process plays a root listener
    /// and drops to `nobody`, as runners do (root's CAP_SYS_PTRACE passes Landlock's fence).
    fn test_user() -> Option<RunAs> {
        RunAs::default_for_current_user()
    }

    fn spawn_as(
        user: Option<RunAs>,
        sandbox: Option<Arc<Sandbox>>,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new(program);
        command.args(args).env_clear().env("PATH", "/usr/bin:/bin");
        command.envs(env.iter().copied());
        // SAFETY: `enter` only makes async-signal-safe system calls.
        unsafe {
            command.pre_exec(move || {
                if let Some(user) = user {
                    user.enter()?;
                }
                match &sandbox {
                    Some(sandbox) => sandbox.enter(),
                    None => Ok(()),
                }
            });
        }
        command
    }

    /// A process in the sandbox reads and writes its own directory and runs the system's
    /// programs, and reaches nothing else: not a sibling directory, not the environment of
    /// another process of the same user (which the same process outside the sandbox reads).
    #[test]
    fn a_sandboxed_process_reaches_only_its_directory() {
        if !support().is_available() {
            panic!(
                "this test needs Landlock, which the test machines have: {}",
                support()
            );
        }
        let user = test_user();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s3cr3t").unwrap();
        let job = tempfile::tempdir().unwrap();
        std::fs::write(job.path().join("mine"), "mine").unwrap();
        for dir in [outside.path(), job.path()] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let sandbox = Arc::new(Sandbox::new(job.path(), &[]).unwrap().expect("Landlock"));

        // Another job's process: same user, a secret in its environment.
        let mut neighbour = spawn_as(user, None, "/bin/sleep", &["30"], &[("NEIGHBOUR", "n31gh")])
            .spawn()
            .unwrap();
        let environ = format!("/proc/{}/environ", neighbour.id());
        let script = format!(
            "cat {job}/mine; echo; echo new > {job}/new && echo wrote; \
             cat {out}/secret || echo denied-read; \
             echo x > {out}/planted || echo denied-write; \
             cat {environ}; echo; echo done",
            job = job.path().display(),
            out = outside.path().display(),
        );
        let run = |sandbox: Option<Arc<Sandbox>>| {
            let output = spawn_as(user, sandbox, "/bin/sh", &["-c", &script], &[])
                .output()
                .unwrap();
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        };
        let confined = run(Some(sandbox));
        let free = run(None);
        let _ = neighbour.kill();
        let _ = neighbour.wait();

        assert!(confined.contains("mine"), "{confined}");
        assert!(confined.contains("wrote"), "{confined}");
        assert!(job.path().join("new").exists());
        assert!(confined.contains("denied-read"), "{confined}");
        assert!(!confined.contains("s3cr3t"), "{confined}");
        assert!(confined.contains("denied-write"), "{confined}");
        assert!(confined.contains("done"), "{confined}");
        assert!(!confined.contains("n31gh"), "{confined}");
        // The same script outside the sandbox reaches both: the denials are the sandbox's.
        assert!(free.contains("s3cr3t"), "{free}");
        assert!(free.contains("n31gh"), "{free}");
    }
}
