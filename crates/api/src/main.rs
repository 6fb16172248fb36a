use clap::Parser;

fn main() -> std::process::ExitCode {
    terrace_runner_listener::startup::return_large_buffers_to_the_os();
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
