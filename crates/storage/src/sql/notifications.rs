//! PostgreSQL's LISTEN/NOTIFY, through which replicas sharing a database tell each other
//! what cannot wait (the server's `replicas` module). SQLite has one process: nothing to
//! carry.

use sqlx::postgres::PgListener;

use super::{DbPool, SqlStore};
use crate::StorageResult;

/// A connection listening on one channel.
pub struct Notifications {
    listener: PgListener,
}

impl SqlStore {
    /// Sends `payload` to every listener of `channel` (none with SQLite).
    pub async fn notify(&self, channel: &str, payload: &str) -> StorageResult<()> {
        if let DbPool::Postgres(pool) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Listens on `channel` on a connection of its own; `None` with SQLite.
    pub async fn listen(&self, channel: &str) -> StorageResult<Option<Notifications>> {
        let DbPool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        Ok(Some(Notifications { listener }))
    }
}

impl Notifications {
    /// The next payload; `None` when the connection was lost and has been re-established,
    /// so whatever was sent in between is lost. An error: it could not reconnect (yet).
    pub async fn next(&mut self) -> StorageResult<Option<String>> {
        Ok(self
            .listener
            .try_recv()
            .await?
            .map(|notification| notification.payload().to_string()))
    }
}
