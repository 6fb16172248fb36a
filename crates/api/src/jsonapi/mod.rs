//! The JSON:API wire format, in one place: response documents ([`document`]), request bodies
//! ([`body`]) and query parameters ([`query`]).

pub mod body;
pub mod document;
pub mod query;
pub mod time;

pub use body::{Body, BodyLimit, JsonBody, RawBody, RelationshipMany, RelationshipOne};
pub use document::{Document, JsonApi, ListDocument, Relationship, Resource, MEDIA_TYPE};
pub use query::Params;

/// Renders each of `ids` once for an `include` with `render`, leaving out those the caller
/// may not read (`render` answers not found or forbidden for them): an include shows what
/// the caller could fetch itself, nothing more.
pub async fn include_readable<'a, Fut>(
    ids: &[&'a str],
    render: impl Fn(&'a str) -> Fut,
) -> crate::error::ApiResult<Vec<serde_json::Value>>
where
    Fut: std::future::Future<Output = Result<serde_json::Value, terrace_domain::DomainError>>,
{
    use terrace_domain::DomainError;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for &id in ids {
        if !seen.insert(id) {
            continue;
        }
        match render(id).await {
            Ok(value) => out.push(value),
            Err(DomainError::NotFound(_) | DomainError::Forbidden(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(out)
}
