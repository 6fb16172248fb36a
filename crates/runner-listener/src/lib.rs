//! Remote execution for Terrace: the *listener* claims plan and apply jobs from the server
//! over HTTP and starts a *runner* per job; the runner executes terraform and reports back.
//! Both speak the job protocol of the `terrace-protocol` crate.
//!
//! * [`listener::run_listener`]: `terrace listener`.
//! * [`runner::run_job`] / [`runner::run_job_from_env`]: `terrace runner`, `terrace-runner`
//!   (`src/bin`) and runner pods.
//! * [`kubernetes`]: the listener's `kubernetes` executor (a Job per job).
//! * [`client`]: the protocol's HTTP client, for both roles.

/// Which sources this crate was built from (`build.rs`): a `terrace-runner` built from others
/// is not started.
pub const RUNNER_BUILD: &str = env!("TERRACE_RUNNER_BUILD");

pub mod client;
pub mod confine;
pub mod kubernetes;
pub mod listener;
mod process;
pub mod runner;
mod runs_dir;
pub mod startup;
pub mod trust;
