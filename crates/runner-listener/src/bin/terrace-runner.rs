//! `terrace-runner`: the runner alone, what `terrace runner` does, for listeners to start one
//! per job. A listener that finds it next to its own binary starts it instead of `terrace
//! runner`: without the server's code and shared libraries (the SAML stack's libxmlsec1,
//! OpenSSL, libxml2, ICU) a process costs a fraction of the CPU to start and end, which a
//! listener pays for every job (docs/benchmarks.md, sixth round).

fn main() -> std::process::ExitCode {
    use terrace_runner_listener::startup;
    startup::return_large_buffers_to_the_os();
    match std::env::args().nth(1).as_deref() {
        Some("--version") => {
            println!("terrace-runner {}", env!("CARGO_PKG_VERSION"));
            return std::process::ExitCode::SUCCESS;
        }
        Some("--build") => {
            println!("{}", terrace_runner_listener::RUNNER_BUILD);
            return std::process::ExitCode::SUCCESS;
        }
        _ => {}
    }
    startup::init_logging("text");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(terrace_runner_listener::runner::run_job_from_env()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("terrace-runner: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
