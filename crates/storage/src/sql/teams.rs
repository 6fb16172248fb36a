//! Teams.

use async_trait::async_trait;

use super::{on_pool, SqlStore};
use crate::model::Team;
use crate::store::TeamStore;
use crate::StorageResult;

pub(crate) const TEAM_COLUMNS: &str = "id, organization_id, name, is_owners, visibility, \
    organization_access, sso_team_id, allow_member_token_management, created_at";

pub(crate) const INSERT_TEAM: &str = "INSERT INTO teams (id, organization_id, name, is_owners, \
    visibility, organization_access, sso_team_id, allow_member_token_management, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Inserts `$team` on `$conn` (a pool or a transaction, of either database).
macro_rules! insert_team {
    ($conn:expr, $team:expr) => {{
        let team: &$crate::model::Team = $team;
        sqlx::query($crate::sql::teams::INSERT_TEAM)
            .bind(&team.id)
            .bind(&team.organization_id)
            .bind(&team.name)
            .bind(team.is_owners)
            .bind(&team.visibility)
            .bind(&team.organization_access)
            .bind(&team.sso_team_id)
            .bind(team.allow_member_token_management)
            .bind(team.created_at)
            .execute($conn)
            .await
    }};
}
pub(crate) use insert_team;

#[async_trait]
impl TeamStore for SqlStore {
    async fn team_by_id(&self, id: &str) -> StorageResult<Option<Team>> {
        let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1");
        Ok(on_pool!(&self.pool, |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?)
    }
}
