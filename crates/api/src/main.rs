use clap::Parser;

fn main() -> std::process::ExitCode {
    return_large_buffers_to_the_os();
    let cli = terrace_api::cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(terrace_api::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("terrace: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// State and logs pass through in 1 MiB chunks on several threads. glibc's allocator raises
/// its mmap threshold after such buffers are freed and then serves them from per-thread
/// arenas that it rarely shrinks, so resident memory grows towards several multiples of the
/// largest state ever transferred. A fixed threshold keeps large buffers in mmap, returned to
/// the OS as soon as they are freed.
fn return_large_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
