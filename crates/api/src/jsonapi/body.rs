//! Request bodies. Clients are less strict than the JSON:API specification: the CLI sends
//! `"type": ""` when locking, plain `{}` for run actions, empty bodies for unlocks, and go-tfe
//! sends `null` for unset options. So bodies are parsed leniently, but every real mistake
//! (malformed JSON, a wrong type, the wrong resource type) gets a 4xx that names it.

use axum::body::{BodyDataStream, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use futures::StreamExt;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::limits::body::BodyTimeout;

/// A JSON body of type `T`; an empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// The largest body a route reads whole, set per router with `Extension(BodyLimit(n))`
/// (the innermost wins); without one, [`DEFAULT_BODY_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

pub const DEFAULT_BODY_LIMIT: usize = 2 << 20;

/// An oversized body is still read, and thrown away, up to this many bytes in all: a client
/// that sends its whole body before reading the answer (HTTP/1.1 clients do) then gets the
/// 413 instead of a dropped connection. Beyond it the connection is closed.
const DRAIN_LIMIT: u64 = 128 << 20;

/// A body read whole, within the route's [`BodyLimit`]; a larger one is a JSON:API 413.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let announced = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut stream = req.into_body().into_data_stream();
        if announced.is_some_and(|len| len > limit as u64) {
            if announced.is_some_and(|len| len <= DRAIN_LIMIT) {
                drain(stream, 0);
            }
            return Err(too_large(limit));
        }
        let mut bytes = Vec::with_capacity(announced.unwrap_or(0) as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(unreadable)?;
            if bytes.len() + chunk.len() > limit {
                drain(stream, (bytes.len() + chunk.len()) as u64);
                return Err(too_large(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(RawBody(Bytes::from(bytes)))
    }
}

fn too_large(limit: usize) -> ApiError {
    let size = if limit >= 1 << 20 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{} KiB", limit >> 10)
    };
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload too large",
        format!("the request body is larger than this endpoint's limit of {size}"),
    )
}

/// A body that failed to arrive: 408 if it stopped arriving, 400 otherwise.
fn unreadable(err: axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(err) = source {
        if err.downcast_ref::<BodyTimeout>().is_some() {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request timeout",
                err.to_string(),
            );
        }
        source = err.source();
    }
    ApiError::bad_request(format!("could not read the request body: {err}"))
}

/// Reads and drops the rest of an oversized body in the background, up to [`DRAIN_LIMIT`].
fn drain(mut stream: BodyDataStream, mut read: u64) {
    tokio::spawn(async move {
        while read <= DRAIN_LIMIT {
            match stream.next().await {
                Some(Ok(chunk)) => read += chunk.len() as u64,
                _ => return,
            }
        }
    });
}

/// Parses JSON, reporting syntax errors as 400 and wrongly typed values as 422 with a pointer
/// to where they are.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize(&mut deserializer) {
        // One document and nothing after it: `{} {}` or `{} and more` is not JSON.
        Ok(TopLevel(value)) => match deserializer.end() {
            Ok(()) => Ok(value),
            Err(e) => Err(ApiError::bad_request(format!("malformed JSON: {e}"))),
        },
        Err(err) => {
            let inner = err.inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::bad_request(format!("malformed JSON: {inner}")));
            }
            let path = err.path().to_string();
            let pointer = if path == "." {
                "/".to_string()
            } else {
                format!("/{}", path.replace(['.', '['], "/").replace(']', ""))
            };
            Err(ApiError::invalid(
                &pointer,
                format!("invalid value at {pointer}: {inner}"),
            ))
        }
    }
}

/// `{"data": {"type": ..., "attributes": A, "relationships": R}}`
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(bound(deserialize = "A: Deserialize<'de>, R: Deserialize<'de>"))]
pub struct Body<A, R = NoRelationships> {
    #[serde(default = "Option::default", deserialize_with = "object_or_null")]
    pub data: Option<Data<A, R>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(bound(deserialize = "A: Deserialize<'de>, R: Deserialize<'de>"))]
pub struct Data<A, R> {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default = "Option::default", deserialize_with = "optional_object")]
    pub attributes: Option<A>,
    #[serde(default = "Option::default", deserialize_with = "optional_object")]
    pub relationships: Option<R>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NoRelationships {}

impl<A: Default, R: Default> Body<A, R> {
    /// The attributes and relationships, after checking the resource type: empty or missing
    /// is accepted (the CLI sends `""`), another type is refused.
    pub fn into_parts(self, kind: &str) -> Result<(A, R), ApiError> {
        let Some(data) = self.data else {
            return Ok(Default::default());
        };
        match data.kind.as_deref() {
            None | Some("") => {}
            Some(k) if k == kind => {}
            Some(other) => {
                return Err(ApiError::invalid(
                    "/data/type",
                    format!("expected a resource of type {kind:?}, got {other:?}"),
                ))
            }
        }
        Ok((
            data.attributes.unwrap_or_default(),
            data.relationships.unwrap_or_default(),
        ))
    }

    pub fn id(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.id.as_deref())
    }
}

/// A resource reference in a request: `type` and `id`, or `attributes` for references by
/// name (tags); clients sometimes send whole objects, of which only these parts matter.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct LinkageIn {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Read through a map, so that only a JSON object is a linkage (see [`object`]).
impl TryFrom<serde_json::Map<String, serde_json::Value>> for LinkageIn {
    type Error = serde_json::Error;

    fn try_from(map: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(rename = "type", default)]
            kind: Option<String>,
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            attributes: Option<serde_json::Map<String, serde_json::Value>>,
        }
        let f: Fields = serde_json::from_value(serde_json::Value::Object(map))?;
        Ok(LinkageIn {
            kind: f.kind,
            id: f.id,
            attributes: f.attributes,
        })
    }
}

impl LinkageIn {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.as_ref()?.get(name)?.as_str()
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RelationshipOne {
    #[serde(default)]
    pub data: Option<LinkageIn>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct RelationshipMany {
    /// `null` reads as an empty list.
    #[serde(default, deserialize_with = "null_as_empty")]
    #[schema(nullable)]
    pub data: Vec<LinkageIn>,
}

impl RelationshipMany {
    /// The IDs of the referenced resources (entries without one are skipped).
    pub fn ids(&self) -> Vec<String> {
        self.data
            .iter()
            .filter_map(|item| item.id.clone())
            .collect()
    }
}

/// `{"data": [...]}` at the top level (tag and relationship endpoints).
pub type LinkageList = RelationshipMany;

/// A JSON object read as `T`, or `null` read as `None`. A derived `Deserialize` would also
/// take an array (the fields by position), so `[null, null]` would pass as a resource.
fn object_or_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    struct ObjectOrNull<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOrNull<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Option<T>, M::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(ObjectOrNull(PhantomData))
}

/// A JSON object read as `T`: request documents, and JSON:API's `attributes` and
/// `relationships`, are objects.
fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    object_or_null(d)?.ok_or_else(|| de::Error::invalid_type(de::Unexpected::Unit, &"an object"))
}

fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    object(d).map(Some)
}

/// A whole request body, which must be a JSON object.
struct TopLevel<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for TopLevel<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object(d).map(TopLevel)
    }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Deserializes a field that distinguishes absent (`None`) from `null` (`Some(None)`); use
/// with `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "kebab-case")]
    struct Attrs {
        name: Option<String>,
        serial: Option<i64>,
        #[serde(default, deserialize_with = "nullable")]
        description: Option<Option<String>>,
    }

    #[test]
    fn accepts_what_clients_send() {
        let body: Body<Attrs> =
            parse_json(br#"{"data":{"type":"","attributes":{"name":"x"}}}"#).unwrap();
        assert_eq!(
            body.into_parts("workspaces").unwrap().0.name.as_deref(),
            Some("x")
        );
        let empty: Body<Attrs> = parse_json(b"").unwrap();
        assert!(empty.into_parts("workspaces").unwrap().0.name.is_none());
        let no_attrs: Body<Attrs> = parse_json(br#"{"data":{"type":"workspaces"}}"#).unwrap();
        assert!(no_attrs.into_parts("workspaces").is_ok());
        let typed: Body<Attrs> = parse_json(br#"{"data":{"attributes":{"serial":7}}}"#).unwrap();
        assert_eq!(typed.into_parts("workspaces").unwrap().0.serial, Some(7));
        let null: Body<Attrs> =
            parse_json(br#"{"data":{"attributes":{"description":null}}}"#).unwrap();
        assert_eq!(
            null.into_parts("workspaces").unwrap().0.description,
            Some(None)
        );
    }

    #[test]
    fn refuses_what_is_wrong_with_a_pointer() {
        let err = parse_json::<Body<Attrs>>(b"{not json").unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        let err = parse_json::<Body<Attrs>>(br#"{"data":{}} and more"#).unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        let err =
            parse_json::<Body<Attrs>>(br#"{"data":{"attributes":{"serial":"one"}}}"#).unwrap_err();
        assert_eq!(err.status.as_u16(), 422);
        assert_eq!(err.pointer.as_deref(), Some("/data/attributes/serial"));
        // Arrays would pass as structs (fields by position) and `null` as no attributes.
        for (body, pointer) in [
            (&br#"[{"type":"workspaces"}]"#[..], "/"),
            (br#"{"data":[null,null]}"#, "/data"),
            (
                br#"{"data":{"attributes":[null,null]}}"#,
                "/data/attributes",
            ),
            (br#"{"data":{"attributes":null}}"#, "/data/attributes"),
            (br#"{"data":{"relationships":[]}}"#, "/data/relationships"),
        ] {
            let err = parse_json::<Body<Attrs>>(body).unwrap_err();
            assert_eq!(
                err.status.as_u16(),
                422,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(err.pointer.as_deref(), Some(pointer));
        }
        let err = parse_json::<LinkageList>(br#"{"data":[[null,null]]}"#).unwrap_err();
        assert_eq!(err.pointer.as_deref(), Some("/data/0"));
        let wrong: Body<Attrs> = parse_json(br#"{"data":{"type":"runs"}}"#).unwrap();
        assert_eq!(
            wrong.into_parts("workspaces").unwrap_err().status.as_u16(),
            422
        );
    }
}
