use thiserror::Error;

pub type StorageResult<T> = Result<T, StorageError>;

/// Everything that can go wrong below the domain layer.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A uniqueness constraint refused the write (duplicate name, ...). The string names the
    /// constraint's subject so the domain layer can explain it.
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("blob store error: {0}")]
    Blob(#[from] object_store::Error),
    /// Stored data failed its integrity checks (bad MAC, truncated or reordered chunks).
    #[error("stored data is corrupt or was encrypted with an unknown key: {0}")]
    Corrupt(String),
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// The stream fed into a blob write failed (the client went away mid-upload, ...).
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    /// A local temporary file (a copy of an upload, checked before it is kept).
    #[error("local file error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// Maps unique-constraint violations to [`StorageError::Conflict`], everything else through.
    pub(crate) fn from_write(err: sqlx::Error, what: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StorageError::Conflict(what.to_string())
            }
            _ => StorageError::Database(err),
        }
    }
}
