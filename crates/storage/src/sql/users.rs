use async_trait::async_trait;

use super::{on_pool, to_u64, SqlStore};
use crate::model::User;
use crate::store::UserStore;
use crate::{StorageError, StorageResult};

pub(crate) const USER_COLUMNS: &str =
    "id, username, email, password_hash, is_site_admin, created_at, suspended_at";

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: &User) -> StorageResult<()> {
        let sql = format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        on_pool!(&self.pool, |p| sqlx::query(&sql)
            .bind(&user.id)
            .bind(&user.username)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(user.is_site_admin)
            .bind(user.created_at)
            .bind(user.suspended_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "username"))?;
        Ok(())
    }

    async fn user_by_id(&self, id: &str) -> StorageResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }

    async fn user_by_username(&self, username: &str) -> StorageResult<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(p)
            .await)?)
    }

    async fn count_users(&self) -> StorageResult<u64> {
        let n: i64 = on_pool!(&self.pool, |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users"
        )
        .fetch_one(p)
        .await)?;
        Ok(to_u64(n))
    }

    async fn set_password_hash(&self, user_id: &str, hash: &str) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE users SET password_hash = $2 WHERE id = $1"
        )
        .bind(user_id)
        .bind(hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    async fn update_user(&self, user: &User) -> StorageResult<()> {
        on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE users SET username = $2, email = $3 WHERE id = $1"
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.email)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| StorageError::from_write(e, "username"))?;
        Ok(())
    }
}
