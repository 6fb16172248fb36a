use terrace_storage::model::{LockHolder, LockHolderKind, User};

/// Who is acting. Team, organization, agent and run tokens add variants as they arrive.
#[derive(Debug, Clone)]
pub enum Principal {
    User(User),
}

/// An authenticated request's identity.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The API token used, if any (browser sessions have none).
    pub token_id: Option<String>,
}

impl Caller {
    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(user) => Some(user),
        }
    }

    /// How this caller appears as a workspace lock holder.
    pub fn lock_holder(&self) -> LockHolder {
        match &self.principal {
            Principal::User(user) => LockHolder {
                kind: LockHolderKind::User,
                id: user.id.clone(),
            },
        }
    }
}
