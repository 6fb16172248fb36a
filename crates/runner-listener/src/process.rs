//! Process-group signalling shared by the runner (signalling terraform) and the listener
//! (signalling runners). Children are started as leaders of their own process group so that a
//! signal reaches them and everything they started (terraform's provider plugins), and so
//! that signals meant for the parent (a terminal's Ctrl-C) do not reach them unasked.

use std::process::ExitStatus;

/// Sends `signal` to the process group led by `pgid`. A group that is already gone is not
/// an error: the process ended in the meantime.
pub(crate) fn signal_group(pgid: u32, signal: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        // kill(-1) or kill(0) would hit far more than one child.
        return;
    }
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(-pgid, signal) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(pgid, signal, error = %err, "cannot signal a process group");
        }
    }
}

/// Sends `signal` to one process.
pub(crate) fn signal_process(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) };
}

/// What every child (runner, terraform) needs before `exec`: cancels reach it as SIGINT, so
/// it must not inherit an ignored SIGINT from a listener started in the background of a
/// script or under nohup; and it dies with its parent. Call from `pre_exec`.
pub(crate) fn prepare_child(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: signal is async-signal-safe; SIG_DFL carries no pointer.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
    }
    die_with_parent(parent)
}

/// Makes the child die with its parent (Linux), so that a runner killed with SIGKILL does
/// not leave terraform running without anyone to report on it. Call from `pre_exec`.
#[cfg(target_os = "linux")]
pub(crate) fn die_with_parent(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: prctl and getppid are async-signal-safe and take no pointers here.
    unsafe {
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // The parent may have died before prctl took effect.
        if libc::getppid() != parent {
            libc::raise(libc::SIGKILL);
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn die_with_parent(_parent: libc::pid_t) -> std::io::Result<()> {
    Ok(())
}

/// "exit status 3", "signal 9 (SIGKILL)": for messages.
pub(crate) fn describe_exit(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    match status.signal() {
        Some(signal) => {
            let name = match signal {
                libc::SIGINT => " (SIGINT)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGTERM => " (SIGTERM)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGABRT => " (SIGABRT)",
                _ => "",
            };
            format!("signal {signal}{name}")
        }
        None => "an unknown status".to_string(),
    }
}
