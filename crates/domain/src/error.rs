use terrace_storage::StorageError;
use thiserror::Error;

pub type DomainResult<T> = Result<T, DomainError>;

/// Why a domain operation did not happen. Each variant has one HTTP status, assigned in the
/// API's error module; the messages are written for the person who sent the request.
#[derive(Debug, Error)]
pub enum DomainError {
    /// No or an unknown credential.
    #[error("unauthorized")]
    Unauthorized,
    /// The resource does not exist, or the caller may not know that it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller can see the resource but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request contradicts the resource's current state (locks, serials, ...).
    #[error("{0}")]
    Conflict(String),
    /// The state on the server moved past what the request was based on.
    #[error("{0}")]
    PreconditionFailed(String),
    /// An attribute is missing or wrong; `pointer` names it (`/data/attributes/name`).
    #[error("{detail}")]
    Invalid {
        pointer: Option<String>,
        detail: String,
    },
    #[error("{0}")]
    TooLarge(String),
    /// A signed URL that was altered or was never issued here.
    #[error("{0}")]
    BadCapability(String),
    /// A signed URL past its expiry.
    #[error("{0}")]
    Expired(String),
    /// The client stopped sending mid-upload.
    #[error("upload interrupted: {0}")]
    Interrupted(String),
    /// Too many attempts (failed sign-ins): the next is allowed after `retry_after` seconds.
    #[error("{detail}")]
    Throttled { detail: String, retry_after: u64 },
    /// The server is saturated (all password hashing slots busy); try again shortly.
    #[error("{0}")]
    Busy(String),
    /// A server this one depends on (an upstream registry or release site) failed or sent
    /// something wrong (an archive whose SHA-256 is not the one vouched for).
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl DomainError {
    pub fn invalid(attribute: &str, detail: impl Into<String>) -> DomainError {
        DomainError::Invalid {
            pointer: Some(format!("/data/attributes/{attribute}")),
            detail: detail.into(),
        }
    }

    /// An invalid request that is not about one attribute.
    pub fn bad_request(detail: impl Into<String>) -> DomainError {
        DomainError::Invalid {
            pointer: None,
            detail: detail.into(),
        }
    }
}
