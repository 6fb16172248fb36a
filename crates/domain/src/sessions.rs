//! How long a browser session (the `terraform login` consent page's sign-in) signs its user
//! in. Organizations set two limits, in minutes: `session-timeout` (idle time) and
//! `session-remember` (age, however active). A user belongs to several organizations and
//! gets the strictest of them; an organization that sets nothing keeps the server's
//! defaults. The rule is [`SessionLimits::check`], a pure function of the session.

use chrono::{DateTime, Duration, Utc};
use terrace_auth::secret;
use terrace_storage::clock;
use terrace_storage::model::{Organization, PageRequest, Session, User};

use crate::org_sso::SignedInWith;
use crate::{DomainResult, Services};

/// A session's lifetime where no organization sets `session-remember`.
pub const DEFAULT_LIFETIME: Duration = Duration::hours(12);

/// The limits a user's sessions live by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// A session unused this long ends (`session-timeout`); `None`: only the lifetime counts.
    pub idle: Option<Duration>,
    /// A session this old ends, however active (`session-remember`).
    pub lifetime: Duration,
}

/// Whether a session still signs its user in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Active,
    /// Unused for longer than the idle timeout.
    Idle,
    /// Older than its lifetime.
    Expired,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: None,
            lifetime: DEFAULT_LIFETIME,
        }
    }
}

impl SessionLimits {
    /// The strictest limits of `organizations` (the user's): each limit is the shortest any
    /// of them sets, and never longer than the default lifetime unless every organization
    /// sets a longer one.
    pub fn strictest<'a>(organizations: impl IntoIterator<Item = &'a Organization>) -> Self {
        let mut idle: Option<Duration> = None;
        let mut lifetime: Option<Duration> = None;
        for org in organizations {
            if let Some(minutes) = org.session_timeout {
                let limit = Duration::minutes(minutes);
                idle = Some(idle.map_or(limit, |current| current.min(limit)));
            }
            let limit = org
                .session_remember
                .map_or(DEFAULT_LIFETIME, Duration::minutes);
            lifetime = Some(lifetime.map_or(limit, |current| current.min(limit)));
        }
        SessionLimits {
            idle,
            lifetime: lifetime.unwrap_or(DEFAULT_LIFETIME),
        }
    }

    /// Whether `session` signs its user in at `now`.
    pub fn check(&self, session: &Session, now: DateTime<Utc>) -> SessionStatus {
        if now >= session.expires_at || now - session.created_at >= self.lifetime {
            SessionStatus::Expired
        } else if self
            .idle
            .is_some_and(|idle| now - session.last_seen_at >= idle)
        {
            SessionStatus::Idle
        } else {
            SessionStatus::Active
        }
    }
}

/// A session just started: the cookie value and how long the browser should keep it.
#[derive(Debug, Clone)]
pub struct StartedSession {
    pub cookie: String,
    pub lifetime: Duration,
}

impl StartedSession {
    /// The cookie's `Max-Age`.
    pub fn max_age_seconds(&self) -> u32 {
        u32::try_from(self.lifetime.num_seconds().max(0)).unwrap_or(u32::MAX)
    }
}

impl Services {
    /// The limits `user`'s sessions live by: the strictest of their organizations'.
    pub async fn session_limits(&self, user_id: &str) -> DomainResult<SessionLimits> {
        let organizations = self
            .store
            .list_organizations(Some(user_id), PageRequest::all())
            .await?;
        Ok(SessionLimits::strictest(&organizations.items))
    }

    /// Starts a browser session for `user`, for the lifetime their organizations allow.
    pub(crate) async fn open_session(
        &self,
        user: &User,
        signed_in_with: &SignedInWith,
    ) -> DomainResult<StartedSession> {
        let limits = self.session_limits(&user.id).await?;
        let cookie = secret::new_opaque();
        let now = clock::now();
        self.store
            .create_session(&Session {
                id_hash: secret::hash(&cookie),
                user_id: user.id.clone(),
                created_at: now,
                expires_at: now + limits.lifetime,
                last_seen_at: now,
                signed_in_with: Some(signed_in_with.stored()),
            })
            .await?;
        Ok(StartedSession {
            cookie,
            lifetime: limits.lifetime,
        })
    }

    /// The user a session cookie signs in, under the limits in force now (organizations may
    /// have changed them since it started); using it counts as activity. An ended session is
    /// deleted.
    pub(crate) async fn signed_in_user(
        &self,
        cookie: &str,
    ) -> DomainResult<Option<(User, SignedInWith)>> {
        let id_hash = secret::hash(cookie);
        let Some(session) = self.store.session_by_hash(&id_hash).await? else {
            return Ok(None);
        };
        let limits = self.session_limits(&session.user_id).await?;
        let now = clock::now();
        if limits.check(&session, now) != SessionStatus::Active {
            self.store.delete_session(&id_hash).await?;
            return Ok(None);
        }
        let user = self.store.user_by_id(&session.user_id).await?;
        if user.as_ref().is_none_or(User::is_suspended) {
            // Suspending ends sessions; this catches one started while it happened.
            self.store.delete_session(&id_hash).await?;
            return Ok(None);
        }
        self.store.touch_session(&id_hash, now).await?;
        let with = SignedInWith::from_stored(session.signed_in_with.as_deref());
        Ok(user.map(|user| (user, with)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(timeout: Option<i64>, remember: Option<i64>) -> Organization {
        let mut org = crate::organizations::organization_with_defaults(
            "org-1".into(),
            "acme",
            "ops@acme.example",
            Utc::now(),
        );
        org.session_timeout = timeout;
        org.session_remember = remember;
        org
    }

    fn session(started: DateTime<Utc>, limits: &SessionLimits) -> Session {
        Session {
            id_hash: "hash".into(),
            user_id: "user-1".into(),
            created_at: started,
            expires_at: started + limits.lifetime,
            last_seen_at: started,
            signed_in_with: None,
        }
    }

    #[test]
    fn without_organization_settings_sessions_last_the_default() {
        assert_eq!(SessionLimits::strictest([]), SessionLimits::default());
        let limits = SessionLimits::strictest(&[org(None, None)]);
        assert_eq!(limits, SessionLimits::default());
        let start = Utc::now();
        let s = session(start, &limits);
        // No idle limit: untouched for hours, still signed in.
        assert_eq!(
            limits.check(&s, start + Duration::hours(11)),
            SessionStatus::Active
        );
        assert_eq!(
            limits.check(&s, start + DEFAULT_LIFETIME),
            SessionStatus::Expired
        );
    }

    #[test]
    fn an_idle_session_ends_and_activity_keeps_it() {
        let limits = SessionLimits::strictest(&[org(Some(30), None)]);
        assert_eq!(limits.idle, Some(Duration::minutes(30)));
        let start = Utc::now();
        let mut s = session(start, &limits);
        assert_eq!(
            limits.check(&s, start + Duration::minutes(29)),
            SessionStatus::Active
        );
        assert_eq!(
            limits.check(&s, start + Duration::minutes(30)),
            SessionStatus::Idle
        );
        // Used at minute 29: idle counts from there.
        s.last_seen_at = start + Duration::minutes(29);
        assert_eq!(
            limits.check(&s, start + Duration::minutes(58)),
            SessionStatus::Active
        );
    }

    #[test]
    fn an_old_session_ends_however_active() {
        let limits = SessionLimits::strictest(&[org(Some(30), Some(60))]);
        let start = Utc::now();
        let mut s = session(start, &limits);
        s.last_seen_at = start + Duration::minutes(59);
        assert_eq!(
            limits.check(&s, start + Duration::minutes(59)),
            SessionStatus::Active
        );
        assert_eq!(
            limits.check(&s, start + Duration::minutes(60)),
            SessionStatus::Expired
        );
    }

    #[test]
    fn settings_changed_after_sign_in_apply() {
        let at_sign_in = SessionLimits::default();
        let start = Utc::now();
        let s = session(start, &at_sign_in);
        let now = start + Duration::minutes(90);
        assert_eq!(at_sign_in.check(&s, now), SessionStatus::Active);
        let tightened = SessionLimits::strictest(&[org(None, Some(60))]);
        assert_eq!(tightened.check(&s, now), SessionStatus::Expired);
        // A longer setting never outlives what the session started with.
        let loosened = SessionLimits::strictest(&[org(None, Some(60 * 48))]);
        assert_eq!(
            loosened.check(&s, start + Duration::hours(13)),
            SessionStatus::Expired
        );
    }

    #[test]
    fn several_organizations_give_the_strictest() {
        let limits = SessionLimits::strictest(&[
            org(Some(120), Some(60 * 24)),
            org(Some(15), None),
            org(None, Some(600)),
        ]);
        assert_eq!(limits.idle, Some(Duration::minutes(15)));
        assert_eq!(limits.lifetime, Duration::minutes(600));
        // One organization without a setting keeps the default in the running.
        let longer = SessionLimits::strictest(&[org(None, Some(60 * 48)), org(None, None)]);
        assert_eq!(longer.lifetime, DEFAULT_LIFETIME);
        let all_longer =
            SessionLimits::strictest(&[org(None, Some(60 * 48)), org(None, Some(60 * 24))]);
        assert_eq!(all_longer.lifetime, Duration::hours(24));
    }
}
