//! First start: an empty server gets an administrator and an organization to work in.

use crate::users::NewUser;
use crate::{DomainError, DomainResult, Services};

pub const ADMIN_USERNAME: &str = "admin";
pub const DEFAULT_ORGANIZATION: &str = "default";
const ADMIN_EMAIL: &str = "admin@terrace.local";

/// What the first start did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrapped {
    /// The administrator's password, when the server generated it (shown once).
    pub generated_password: Option<String>,
}

impl Services {
    /// On a server without users, creates the site administrator `admin` (with `password`,
    /// or a generated one) owning the organization `default`. Returns `None` when the server
    /// was set up already (also when another replica won the race).
    pub async fn bootstrap(&self, password: Option<String>) -> DomainResult<Option<Bootstrapped>> {
        if self.count_users().await? > 0 {
            return Ok(None);
        }
        let generated = password
            .is_none()
            .then(|| terrace_auth::secret::random_alphanumeric(24));
        let admin = NewUser {
            username: ADMIN_USERNAME.into(),
            email: ADMIN_EMAIL.into(),
            password: password.or_else(|| generated.clone()),
            site_admin: true,
        };
        let admin = match self.create_user(admin).await {
            Ok(user) => user,
            Err(DomainError::Invalid { .. }) if self.count_users().await? > 0 => return Ok(None),
            Err(err) => return Err(err),
        };
        self.create_organization_for(&admin.id, DEFAULT_ORGANIZATION, ADMIN_EMAIL)
            .await?;
        Ok(Some(Bootstrapped {
            generated_password: generated,
        }))
    }
}
