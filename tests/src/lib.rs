//! The end-to-end test harness. Tests start the real `terrace` binary ([`Server`]) on SQLite
//! or on a fresh database of a real PostgreSQL server, talk to it over TLS with the real
//! `terraform` CLI ([`Terraform`]) and with plain HTTP requests ([`Api`]).
//!
//! What the harness needs from the machine comes from `scripts/test.sh`:
//! `TERRACE_TEST_POSTGRES_URL` for PostgreSQL and `TERRACE_BIN` for a prebuilt binary (without
//! it the harness runs `cargo build --bin terrace` itself).

pub mod access;
mod api;
pub mod browser;
pub mod gotfe_v1;
pub mod helm;
pub mod kube;
pub mod ledger;
pub mod listener;
pub mod oidc;
pub mod page;
pub mod providers;
pub mod receiver;
pub mod runs;
pub mod saml_idp;
mod server;
pub mod sso;
pub mod states;
mod terraform;
pub mod tools;
pub mod upstream_registry;
pub mod web;

pub use api::{Api, Reply};
pub use server::{
    proc_status_kib, s3_settings, sample_memory, terrace_bin, Db, Server, ServerBuilder, FIXED_KEY,
};
pub use terraform::{strip_ansi, texts, Client, Terraform};

/// A loopback port free at the moment of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether the tests run as root (effective UID 0): some checks must drop to another user
/// then, or have nothing to prove.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// The repository's root (scripts/, deploy/, helm/).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A blocking HTTP client builder trusting the certificates of `ca_pem` (a PEM bundle, maybe
/// empty) and no others, over rustls with ring like the server.
pub fn http_client(ca_pem: &[u8]) -> reqwest::blocking::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = reqwest::Certificate::from_pem_bundle(ca_pem).expect("the CA bundle parses");
    reqwest::blocking::Client::builder().tls_certs_only(certs)
}

/// Declares a test once per database: `both_databases!(name, |db| { ... })` defines
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_databases {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[test]
            fn sqlite() {
                let run: fn($crate::Db) = $body;
                run($crate::Db::Sqlite)
            }
            #[test]
            fn postgres() {
                let run: fn($crate::Db) = $body;
                run($crate::Db::Postgres)
            }
        }
    };
}

/// Declares a CLI test once per client: `each_client!(name, |db, client| { ... })` runs the
/// body with the terraform on PATH on both databases (`name::terraform_sqlite`,
/// `name::terraform_postgres`), and with terraform 1.5.7 and OpenTofu 1.12.6 on SQLite
/// (`name::terraform_1_5_7`, `name::tofu_1_12_6`). What a client sees does not depend on the
/// database behind the API, which the first two already cover; one database for the others
/// keeps the suites' time in CI's budget.
#[macro_export]
macro_rules! each_client {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            fn run(db: $crate::Db, client: $crate::Client) {
                let run: fn($crate::Db, $crate::Client) = $body;
                run(db, client)
            }
            #[test]
            fn terraform_sqlite() {
                run($crate::Db::Sqlite, $crate::Client::terraform())
            }
            #[test]
            fn terraform_postgres() {
                run($crate::Db::Postgres, $crate::Client::terraform())
            }
            #[test]
            fn terraform_1_5_7() {
                run($crate::Db::Sqlite, $crate::Client::terraform_1_5_7())
            }
            #[test]
            fn tofu_1_12_6() {
                run($crate::Db::Sqlite, $crate::Client::tofu_1_12_6())
            }
        }
    };
}
