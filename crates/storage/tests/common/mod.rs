//! The test harness of the storage tests: one fresh database per test, on SQLite (a temporary
//! file) or PostgreSQL (`TERRACE_TEST_POSTGRES_URL`, a server where the user may create
//! databases; without it the PostgreSQL tests fail, because a skipped test is not a pass).

// Each test file uses its own part of the harness.
#![allow(dead_code)]

use std::sync::Arc;

use sqlx::{Connection, Executor, PgConnection};
use terrace_storage::sql::redact_url;
use terrace_storage::{ids, SqlStore, Store};

pub struct TestDb {
    pub store: SqlStore,
    /// Where the database is, for statements of the test's own.
    pub url: String,
    place: DbPlace,
}

enum DbPlace {
    /// Held only so that dropping it deletes the database file.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let url = format!("sqlite:{}", dir.path().join("contract.db").display());
        let store = SqlStore::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
        TestDb {
            store,
            url,
            place: DbPlace::Sqlite(dir),
        }
    }

    pub async fn postgres() -> TestDb {
        let admin_url = std::env::var("TERRACE_TEST_POSTGRES_URL").unwrap_or_else(|_| {
            panic!(
                "TERRACE_TEST_POSTGRES_URL is not set. The PostgreSQL contract tests need a \
                 server where the user may create databases: run \
                 `scripts/services.sh start DIR && . DIR/env.sh` first. These tests fail rather \
                 than skip, because a skipped test is not a pass."
            )
        });
        let name = format!("terrace_contract_{}", ids::random_string(16).to_lowercase());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", redact_url(&admin_url)));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).expect("TERRACE_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        let store = SqlStore::connect(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", redact_url(url.as_str())));
        TestDb {
            store,
            url: url.to_string(),
            place: DbPlace::Postgres { admin_url, name },
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    /// Removes the database after a passing test (a failing one keeps it for inspection).
    pub async fn remove(self) {
        self.store.close().await;
        if let DbPlace::Postgres { admin_url, name } = self.place {
            let mut admin = PgConnection::connect(&admin_url)
                .await
                .expect("reconnecting to drop the test database");
            admin
                .execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
                .await
                .unwrap_or_else(|e| panic!("dropping database {name}: {e}"));
            let _ = admin.close().await;
        }
    }
}
