//! The JSON:API wire format, in one place: response documents ([`document`]), request bodies
//! ([`body`]) and query parameters ([`query`]).

pub mod body;
pub mod document;
pub mod query;
pub mod time;

pub use body::{Body, BodyLimit, JsonBody, RawBody, RelationshipMany, RelationshipOne};
pub use document::{Document, JsonApi, ListDocument, Relationship, Resource, MEDIA_TYPE};
pub use query::Params;
