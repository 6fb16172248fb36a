//! Persistence for Terrace.
//!
//! - [`model`]: the records the server keeps (organizations, users, workspaces, state versions, ...).
//! - [`store`]: the storage traits the domain layer talks to.
//! - [`sql`]: their one implementation, running the same SQL on SQLite (embedded shape) and
//!   PostgreSQL (production shape), each with its own migrations.
//! - [`blob`]: the encrypted blob store over `object_store` (local files, S3, GCS, Azure).

pub mod blob;
pub mod clock;
pub mod error;
pub mod ids;
pub mod model;
pub mod sql;
pub mod store;

pub use error::{StorageError, StorageResult};
pub use sql::SqlStore;
pub use store::Store;
