//! What every Terrace process sets up before anything else: `terrace` (server, listener,
//! runner) and the runner's own binary, `terrace-runner`.

/// State and logs pass through in 1 MiB chunks on several threads. glibc's allocator raises
/// its mmap threshold after such buffers are freed and then serves them from per-thread
/// arenas that it rarely shrinks, so resident memory grows towards several multiples of the
/// largest state ever transferred. A fixed threshold keeps large buffers in mmap, returned to
/// the OS as soon as they are freed. Call before any thread starts.
pub fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Hands the pages freed so far back to the OS. The server builds its OpenAPI document, a
/// great many small allocations (about 18 MiB), only to serialize it once; glibc keeps freed
/// pages inside its heap unless they sit at its top, so without this they stay resident.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lets go of the pages of the program's own file mapped so far. Starting the server runs a
/// great deal of code once (the router, the OpenAPI document, migrations), and the kernel maps
/// the 64 KiB around every page that runs: after start nearly all of the binary's 45 MB of code
/// is counted in the process's resident memory though little of it runs again. Pages of
/// mappings the process never wrote (no anonymous pages) are the file's as it is on disk;
/// the kernel maps them again from its page cache when they run.
pub fn release_startup_code() {
    #[cfg(target_os = "linux")]
    if let Err(err) = advise_clean_executable_mappings() {
        tracing::debug!(error = %err, "could not release the start-up code's pages");
    }
}

#[cfg(target_os = "linux")]
fn advise_clean_executable_mappings() -> std::io::Result<()> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let exe = exe.to_string_lossy();
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    for (start, end) in clean_mappings_of(&smaps, &exe) {
        // SAFETY: the range is a private, never-written mapping of our own file: dropping
        // its pages only makes the kernel map the same file contents again on next access.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
    Ok(())
}

/// The address ranges in `smaps` of private, unwritable mappings of file `path` that hold no
/// anonymous (copied-on-write) pages: for the read-only segment that relocations were written
/// into before it was made read-only, dropping pages would lose the relocations.
fn clean_mappings_of(smaps: &str, path: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-').and_then(|(s, e)| {
            Some((
                usize::from_str_radix(s, 16).ok()?,
                usize::from_str_radix(e, 16).ok()?,
            ))
        }) {
            let perms = fields.next().unwrap_or_default();
            let file = fields.nth(3).unwrap_or_default();
            current = (file == path && perms.starts_with("r-") && perms.ends_with('p'))
                .then_some((start, end));
        } else if first == "Anonymous:" {
            if let Some(range) = current.take() {
                if fields.next() == Some("0") {
                    out.push(range);
                }
            }
        }
    }
    out
}

/// Logs to stderr, `text` or `json`, filtered by `TERRACE_LOG` (or `RUST_LOG`).
pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TERRACE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::clean_mappings_of;

    const SMAPS: &str = "\
5600-5700 r--p 00000000 fe:00 42   /opt/terrace
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
5700-5900 r-xp 00001000 fe:00 42   /opt/terrace
Rss:                   8 kB
Anonymous:             0 kB
5900-5a00 r--p 00003000 fe:00 42   /opt/terrace
Rss:                   4 kB
Anonymous:             4 kB
5a00-5b00 rw-p 00004000 fe:00 42   /opt/terrace
Anonymous:             0 kB
6000-7000 r-xp 00000000 fe:00 43   /usr/lib/libc.so.6
Anonymous:             0 kB
8000-9000 r-xs 00000000 fe:00 42   /opt/terrace
Anonymous:             0 kB
a000-b000 rw-p 00000000 00:00 0
Anonymous:             4 kB
";

    #[test]
    fn only_unwritten_private_read_only_mappings_of_the_program() {
        // Not the relocated segment (anonymous pages), not the writable one, not another
        // file, not a shared mapping, not the heap.
        assert_eq!(
            clean_mappings_of(SMAPS, "/opt/terrace"),
            vec![(0x5600, 0x5700), (0x5700, 0x5900)]
        );
        assert!(clean_mappings_of(SMAPS, "/opt/other").is_empty());
    }
}
