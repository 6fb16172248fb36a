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
