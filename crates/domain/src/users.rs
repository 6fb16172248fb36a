//! Users: created by the first start or an administrator, read by themselves and others.

use terrace_storage::model::{TokenKind, User};
use terrace_storage::{clock, ids};

use crate::organizations::name_taken;
use crate::{validate, Caller, DomainError, DomainResult, Principal, Services};

/// What setting a password ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordChange {
    pub sessions_ended: u64,
    /// `None`: tokens were kept.
    pub tokens_revoked: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: Option<String>,
    pub site_admin: bool,
}

impl Services {
    /// Creates a user (administrative: first start and `terrace admin user create`).
    pub async fn create_user(&self, new: NewUser) -> DomainResult<User> {
        validate_username(&new.username)?;
        validate::email(&new.email)?;
        if let Some(password) = &new.password {
            validate_password(password)?;
        }
        let user = User {
            id: ids::new_id(ids::USER),
            username: new.username,
            email: new.email,
            password_hash: new.password.as_deref().map(terrace_auth::password::hash),
            is_site_admin: new.site_admin,
            created_at: clock::now(),
            suspended_at: None,
        };
        self.store
            .create_user(&user)
            .await
            .map_err(|e| match name_taken(e) {
                DomainError::Invalid { .. } => {
                    DomainError::invalid("username", "Username has already been taken")
                }
                other => other,
            })?;
        self.accept_invitations(&user).await?;
        Ok(user)
    }

    /// Sets a user's password (administrative). Whoever signed in with the old one is signed
    /// out: the user's browser sessions end. With `revoke_tokens`, their API tokens (those
    /// `terraform login` issued included) are revoked too.
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
        revoke_tokens: bool,
    ) -> DomainResult<PasswordChange> {
        validate_password(password)?;
        let user = self.user_by_username(username).await?;
        self.store
            .set_password_hash(&user.id, &terrace_auth::password::hash(password))
            .await?;
        let sessions_ended = self.store.delete_user_sessions(&user.id).await?;
        let tokens_revoked = if revoke_tokens {
            Some(
                self.store
                    .delete_tokens_of(TokenKind::User, &user.id)
                    .await?,
            )
        } else {
            None
        };
        self.record_outside_api("set-password", None, "user", &user.id)
            .await;
        if revoke_tokens {
            self.record_outside_api("revoke-tokens", None, "user", &user.id)
                .await;
        }
        Ok(PasswordChange {
            sessions_ended,
            tokens_revoked,
        })
    }

    pub async fn user_by_username(&self, username: &str) -> DomainResult<User> {
        self.store
            .user_by_username(username)
            .await?
            .ok_or(DomainError::NotFound("user"))
    }

    /// The user behind the caller; agents and runners are not users.
    pub fn current_user<'c>(&self, caller: &'c Caller) -> DomainResult<&'c User> {
        match &caller.principal {
            Principal::User(user) => Ok(user),
            _ => Err(DomainError::Forbidden("only users can do this".into())),
        }
    }

    /// Any user by ID: usernames are not secret between users of one server, emails are
    /// (the API leaves them out of this view).
    pub async fn user(&self, _caller: &Caller, id: &str) -> DomainResult<User> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("user"))
    }

    /// Changes the caller's own username or email.
    pub async fn update_current_user(
        &self,
        caller: &Caller,
        username: Option<String>,
        email: Option<String>,
    ) -> DomainResult<User> {
        let mut user = self.current_user(caller)?.clone();
        if let Some(username) = username {
            validate_username(&username)?;
            user.username = username;
        }
        if let Some(email) = email {
            validate::email(&email)?;
            if !email.eq_ignore_ascii_case(&user.email) {
                self.check_email_unclaimed(&user.id, &email).await?;
            }
            user.email = email;
        }
        self.store
            .update_user(&user)
            .await
            .map_err(username_taken)?;
        Ok(user)
    }

    /// Emails are not verified, and invitations go to whoever has the invited email: a user
    /// may not take an email another user has, or one an organization invited.
    async fn check_email_unclaimed(&self, user_id: &str, email: &str) -> DomainResult<()> {
        let taken = self
            .store
            .users_with_email(email)
            .await?
            .iter()
            .any(|u| u.id != user_id);
        if taken || self.store.email_invited(email).await? {
            return Err(DomainError::invalid(
                "email",
                "that email is already in use",
            ));
        }
        Ok(())
    }

    pub async fn count_users(&self) -> DomainResult<u64> {
        Ok(self.store.count_users().await?)
    }
}

fn username_taken(err: terrace_storage::StorageError) -> DomainError {
    match name_taken(err) {
        DomainError::Invalid { .. } => {
            DomainError::invalid("username", "Username has already been taken")
        }
        other => other,
    }
}

pub(crate) fn validate_username(name: &str) -> DomainResult<()> {
    if (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "username",
            format!(
                "\"{name}\" is not a valid username: use 1-64 letters, digits, '-', '_' or '.'"
            ),
        ))
    }
}

fn validate_password(password: &str) -> DomainResult<()> {
    if password.chars().count() >= 8 {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "password",
            "passwords need at least 8 characters",
        ))
    }
}
