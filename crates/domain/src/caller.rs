use terrace_storage::model::{LockHolder, LockHolderKind, Run, RunPhase, Team, User};

use crate::org_sso::SignedInWith;

/// Who is acting.
#[derive(Debug, Clone)]
pub enum Principal {
    User(User),
    /// A team token: the team's permissions in its organization, nothing else.
    Team(Team),
    /// An organization token: configures its organization (see the policy), nothing else.
    Organization {
        organization_id: String,
    },
    /// An organization's audit trail token: reads its audit trail, nothing else.
    AuditTrail {
        organization_id: String,
    },
    /// A runner listener of an agent pool (`None`: the server's built-in listener).
    Agent {
        pool_id: Option<String>,
    },
    /// A runner executing one job: it reaches that job's run and nothing else.
    Job(Box<JobIdentity>),
    /// A run task service answering one task result: it may call back that result and
    /// read its run's plan JSON, nothing else (crate::runs::task_stages).
    TaskResult {
        result_id: String,
        run_id: String,
    },
}

#[derive(Clone)]
pub struct JobIdentity {
    /// The plan or apply being executed.
    pub job_id: String,
    pub run_id: String,
    pub workspace_id: String,
    /// The job and its run as read when the token was checked, in this request: a job's
    /// token is never kept between requests (crate::credentials), so the job's handlers use
    /// these rather than read them again.
    pub(crate) job: RunPhase,
    pub(crate) run: Run,
}

/// Only the IDs: the run holds its variables' values.
impl std::fmt::Debug for JobIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobIdentity")
            .field("job_id", &self.job_id)
            .field("run_id", &self.run_id)
            .field("workspace_id", &self.workspace_id)
            .finish_non_exhaustive()
    }
}

/// An authenticated request's identity.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The API token used, if any (browser sessions have none).
    pub token_id: Option<String>,
    /// How the user token's session signed in (passwords for every other credential).
    pub signed_in_with: SignedInWith,
    /// The credential epoch read as the request was authenticated: what was kept of
    /// credentials at it may stand for the database during this request
    /// (crate::credentials). `None`: everything is read from the database.
    pub credentials_epoch: Option<i64>,
}

impl Caller {
    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(user) => Some(user),
            _ => None,
        }
    }

    /// How this caller appears as a workspace lock holder: users hold their own locks, a
    /// runner acts for its run.
    pub fn lock_holder(&self) -> Option<LockHolder> {
        match &self.principal {
            Principal::User(user) => Some(LockHolder {
                kind: LockHolderKind::User,
                id: user.id.clone(),
            }),
            Principal::Job(job) => Some(LockHolder {
                kind: LockHolderKind::Run,
                id: job.run_id.clone(),
            }),
            Principal::Team(team) => Some(LockHolder {
                kind: LockHolderKind::Team,
                id: team.id.clone(),
            }),
            Principal::Agent { .. }
            | Principal::Organization { .. }
            | Principal::AuditTrail { .. }
            | Principal::TaskResult { .. } => None,
        }
    }
}
