use chrono::{DateTime, SubsecRound, Utc};

/// The current time at microsecond precision: what PostgreSQL keeps, so a record reads back
/// identical on both databases.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
