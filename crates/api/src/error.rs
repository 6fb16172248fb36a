//! HTTP errors: one type, one JSON:API envelope, and the one mapping from domain errors to
//! status codes. Client mistakes are always 4xx (the CLI retries 5xx for minutes); server
//! faults are logged here and answered without their details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use terrace_domain::DomainError;
use utoipa::ToSchema;

use crate::jsonapi::JsonApi;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub title: String,
    pub detail: Option<String>,
    pub pointer: Option<String>,
}

/// `{"errors": [...]}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDocument {
    pub errors: Vec<ErrorObject>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// The HTTP status, as a string.
    pub status: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorSource {
    pub pointer: String,
}

impl ApiError {
    pub fn new(status: StatusCode, title: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            title: title.to_string(),
            detail: Some(detail.into()),
            pointer: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad request", detail)
    }

    pub fn invalid(pointer: &str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "invalid attribute".into(),
            detail: Some(detail.into()),
            pointer: Some(pointer.to_string()),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found", detail)
    }

    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            title: "unauthorized".into(),
            detail: None,
            pointer: None,
        }
    }

    fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error",
            "the server could not complete the request; the details are in its log",
        )
    }

    pub fn document(&self) -> ErrorDocument {
        ErrorDocument {
            errors: vec![ErrorObject {
                status: self.status.as_u16().to_string(),
                title: self.title.clone(),
                detail: self.detail.clone(),
                source: self.pointer.clone().map(|pointer| ErrorSource { pointer }),
            }],
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        JsonApi(self.status, self.document()).into_response()
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> ApiError {
        use DomainError::*;
        let status = |status, title: &str| ApiError::new(status, title, err.to_string());
        match &err {
            Unauthorized => ApiError::unauthorized(),
            NotFound(_) => status(StatusCode::NOT_FOUND, "not found"),
            Forbidden(_) | BadCapability(_) => status(StatusCode::FORBIDDEN, "forbidden"),
            Expired(_) => status(StatusCode::GONE, "expired"),
            Conflict(_) => status(StatusCode::CONFLICT, "conflict"),
            PreconditionFailed(_) => status(StatusCode::PRECONDITION_FAILED, "precondition failed"),
            Invalid {
                pointer: Some(pointer),
                detail,
            } => ApiError::invalid(pointer, detail.clone()),
            Invalid { pointer: None, .. } => {
                status(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable entity")
            }
            TooLarge(_) => status(StatusCode::PAYLOAD_TOO_LARGE, "payload too large"),
            Interrupted(_) => status(StatusCode::BAD_REQUEST, "upload interrupted"),
            Throttled { .. } => status(StatusCode::TOO_MANY_REQUESTS, "too many requests"),
            Busy(_) => status(StatusCode::SERVICE_UNAVAILABLE, "service unavailable"),
            Upstream(_) => status(StatusCode::BAD_GATEWAY, "bad gateway"),
            Storage(inner) => {
                tracing::error!(error = %inner, "storage failure");
                ApiError::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_map_to_their_status_with_string_codes() {
        let cases = [
            (DomainError::NotFound("workspace"), 404),
            (DomainError::Conflict("locked".into()), 409),
            (DomainError::PreconditionFailed("serial".into()), 412),
            (DomainError::invalid("name", "taken"), 422),
            (DomainError::TooLarge("big".into()), 413),
            (DomainError::Expired("late".into()), 410),
            (DomainError::Unauthorized, 401),
        ];
        for (err, code) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.status.as_u16(), code);
            let json = serde_json::to_value(api.document()).unwrap();
            assert_eq!(json["errors"][0]["status"], code.to_string());
        }
        let invalid = ApiError::from(DomainError::invalid("name", "Name has already been taken"));
        let json = serde_json::to_value(invalid.document()).unwrap();
        assert_eq!(
            json["errors"][0]["source"]["pointer"],
            "/data/attributes/name"
        );
        assert_eq!(json["errors"][0]["detail"], "Name has already been taken");
    }
}
