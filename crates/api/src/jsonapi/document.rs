//! Response documents. Every resource is built as a [`Resource`] with typed attributes; lists
//! are paginated by [`ListDocument::paginate`]; related objects go into `included`. Nothing
//! else in the server writes JSON:API by hand.

use std::collections::BTreeMap;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use terrace_storage::model::PageRequest;
use utoipa::ToSchema;

pub const MEDIA_TYPE: &str = "application/vnd.api+json";

/// `{"type": ..., "id": ...}`: a reference to a resource.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Linkage {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

impl Linkage {
    pub fn new(kind: &'static str, id: impl Into<String>) -> Linkage {
        Linkage {
            kind,
            id: id.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RelationshipData {
    One(Linkage),
    Many(Vec<Linkage>),
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RelatedLinks {
    pub related: String,
}

/// A relationship: linkage data (possibly `null`), a `related` link, or both.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Relationship {
    /// Outer `None`: no `data` member; `Some(None)`: `"data": null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Option<RelationshipData>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<RelatedLinks>,
}

impl Relationship {
    pub fn one(kind: &'static str, id: impl Into<String>) -> Relationship {
        Relationship {
            data: Some(Some(RelationshipData::One(Linkage::new(kind, id)))),
            links: None,
        }
    }

    /// `one` when there is an ID, `"data": null` otherwise.
    pub fn optional(kind: &'static str, id: Option<impl Into<String>>) -> Relationship {
        match id {
            Some(id) => Relationship::one(kind, id),
            None => Relationship::null(),
        }
    }

    pub fn null() -> Relationship {
        Relationship {
            data: Some(None),
            links: None,
        }
    }

    pub fn many(
        kind: &'static str,
        ids: impl IntoIterator<Item = impl Into<String>>,
    ) -> Relationship {
        let linkage = ids.into_iter().map(|id| Linkage::new(kind, id)).collect();
        Relationship {
            data: Some(Some(RelationshipData::Many(linkage))),
            links: None,
        }
    }

    /// Only a `related` link.
    pub fn related(link: String) -> Relationship {
        Relationship {
            data: None,
            links: Some(RelatedLinks { related: link }),
        }
    }

    pub fn with_related(mut self, link: String) -> Relationship {
        self.links = Some(RelatedLinks { related: link });
        self
    }
}

pub type Relationships = BTreeMap<&'static str, Relationship>;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Resource<A> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub attributes: A,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub relationships: Relationships,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub links: BTreeMap<&'static str, String>,
}

impl<A: Serialize> Resource<A> {
    pub fn new(kind: &'static str, id: impl Into<String>, attributes: A) -> Resource<A> {
        Resource {
            kind,
            id: id.into(),
            attributes,
            relationships: BTreeMap::new(),
            links: BTreeMap::new(),
        }
    }

    pub fn relationship(mut self, name: &'static str, relationship: Relationship) -> Self {
        self.relationships.insert(name, relationship);
        self
    }

    /// [`relationship`](Self::relationship) when there is one.
    pub fn relationship_if(self, name: &'static str, relationship: Option<Relationship>) -> Self {
        match relationship {
            Some(r) => self.relationship(name, r),
            None => self,
        }
    }

    pub fn link(mut self, name: &'static str, href: String) -> Self {
        self.links.insert(name, href);
        self
    }

    /// As an untyped value, for `included`.
    pub fn into_value(self) -> Value {
        serde_json::to_value(self).expect("resources serialize")
    }
}

/// A single-resource document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Document<A> {
    pub data: Resource<A>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub included: Vec<Value>,
}

impl<A> Document<A> {
    pub fn new(data: Resource<A>) -> Document<A> {
        Document {
            data,
            included: Vec::new(),
        }
    }

    pub fn with_included(mut self, included: Vec<Value>) -> Document<A> {
        self.included = included;
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Pagination {
    pub current_page: u32,
    pub page_size: u32,
    pub prev_page: Option<u32>,
    pub next_page: Option<u32>,
    pub total_pages: u64,
    pub total_count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListMeta {
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PageLinks {
    #[serde(rename = "self")]
    pub this: String,
    pub first: String,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub last: String,
}

/// A list document, paginated unless the client asked for everything.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListDocument<A> {
    pub data: Vec<Resource<A>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub included: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<PageLinks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<ListMeta>,
}

impl<A> ListDocument<A> {
    /// A list without pagination (the client asked for everything, or the list is never paged).
    pub fn all(data: Vec<Resource<A>>) -> ListDocument<A> {
        ListDocument {
            data,
            included: Vec::new(),
            links: None,
            meta: None,
        }
    }

    /// One page of a list of `total` items; `url` is the request's absolute URL, from which
    /// the page links are derived.
    pub fn paginate(
        data: Vec<Resource<A>>,
        page: PageRequest,
        total: u64,
        url: &url::Url,
    ) -> ListDocument<A> {
        let size = u64::from(page.size.max(1));
        let total_pages = total.div_ceil(size).max(1);
        let current = page.number;
        let last = u32::try_from(total_pages).unwrap_or(u32::MAX);
        let link = |number: u32| page_url(url, number, page.size);
        let prev = (current > 1).then(|| current.saturating_sub(1).min(last));
        let next = (u64::from(current) < total_pages).then(|| current + 1);
        ListDocument {
            data,
            included: Vec::new(),
            links: Some(PageLinks {
                this: link(current),
                first: link(1),
                prev: prev.map(link),
                next: next.map(link),
                last: link(last),
            }),
            meta: Some(ListMeta {
                pagination: Pagination {
                    current_page: current,
                    page_size: page.size,
                    prev_page: prev,
                    next_page: next,
                    total_pages,
                    total_count: total,
                },
            }),
        }
    }

    /// Counts no page in an empty list (`total-pages` 0), as TFE's registry endpoints do;
    /// the others count one.
    pub fn no_pages_when_empty(mut self) -> ListDocument<A> {
        if let Some(meta) = &mut self.meta {
            if meta.pagination.total_count == 0 {
                meta.pagination.total_pages = 0;
            }
        }
        self
    }

    /// [`paginate`](Self::paginate) when the client named a page, everything otherwise.
    pub fn paginate_if(
        data: Vec<Resource<A>>,
        page: Option<PageRequest>,
        total: u64,
        url: &url::Url,
    ) -> ListDocument<A> {
        match page {
            Some(page) => ListDocument::paginate(data, page, total, url),
            None => ListDocument::all(data),
        }
    }

    /// A list loaded whole (short by nature, like a state's outputs): the named page of it
    /// when the client asked for one, everything otherwise.
    pub fn page_of(
        mut data: Vec<Resource<A>>,
        page: Option<PageRequest>,
        url: &url::Url,
    ) -> ListDocument<A> {
        let Some(page) = page else {
            return ListDocument::all(data);
        };
        let total = data.len() as u64;
        let start = usize::try_from(page.offset())
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start.saturating_add(page.size as usize).min(data.len());
        data.truncate(end);
        data.drain(..start);
        ListDocument::paginate(data, page, total, url)
    }

    pub fn with_included(mut self, included: Vec<Value>) -> ListDocument<A> {
        self.included = included;
        self
    }
}

fn page_url(url: &url::Url, number: u32, size: u32) -> String {
    let mut url = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page[number]" && k != "page[size]")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("page[number]", &number.to_string())
        .append_pair("page[size]", &size.to_string());
    url.to_string()
}

/// A JSON:API response with its status and media type.
pub struct JsonApi<T>(pub StatusCode, pub T);

impl<T> JsonApi<T> {
    pub fn ok(body: T) -> JsonApi<T> {
        JsonApi(StatusCode::OK, body)
    }
    pub fn created(body: T) -> JsonApi<T> {
        JsonApi(StatusCode::CREATED, body)
    }
}

impl<T: Serialize> IntoResponse for JsonApi<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.1) {
            Ok(body) => (self.0, [(header::CONTENT_TYPE, MEDIA_TYPE)], body).into_response(),
            Err(err) => {
                tracing::error!(error = %err, "could not serialize a response");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Attrs {
        name: &'static str,
    }

    #[test]
    fn relationships_distinguish_null_from_absent() {
        let resource = Resource::new("workspaces", "ws-1", Attrs { name: "a" })
            .relationship("current-run", Relationship::null())
            .relationship("outputs", Relationship::related("/x".into()))
            .relationship("organization", Relationship::one("organizations", "acme"));
        let json = resource.into_value();
        assert_eq!(
            json["relationships"]["current-run"],
            serde_json::json!({"data": null})
        );
        assert_eq!(
            json["relationships"]["outputs"],
            serde_json::json!({"links": {"related": "/x"}})
        );
        assert_eq!(json["relationships"]["organization"]["data"]["id"], "acme");
    }

    #[test]
    fn pagination_echoes_out_of_range_pages() {
        let url =
            url::Url::parse("https://h/api/v2/x?search%5Bname%5D=a&page%5Bnumber%5D=999").unwrap();
        let doc: ListDocument<Attrs> = ListDocument::paginate(
            vec![],
            PageRequest {
                number: 999,
                size: 100,
            },
            2,
            &url,
        );
        let json = serde_json::to_value(doc).unwrap();
        let p = &json["meta"]["pagination"];
        assert_eq!(p["current-page"], 999);
        assert_eq!(p["total-count"], 2);
        assert_eq!(p["total-pages"], 1);
        assert_eq!(p["next-page"], serde_json::Value::Null);
        assert_eq!(p["prev-page"], 1);
        let next = json["links"]["first"].as_str().unwrap();
        assert!(
            next.contains("search%5Bname%5D=a") && next.contains("page%5Bnumber%5D=1"),
            "{next}"
        );
    }

    #[test]
    fn a_whole_list_is_cut_to_the_named_page() {
        let url = url::Url::parse("https://h/api/v2/x").unwrap();
        let items = || {
            ["a", "b", "c"]
                .map(|name| Resource::new("things", name, Attrs { name }))
                .into_iter()
                .collect::<Vec<_>>()
        };
        let ids = |doc: ListDocument<Attrs>| {
            let json = serde_json::to_value(doc).unwrap();
            let ids: Vec<String> = json["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            (ids, json["meta"]["pagination"]["total-count"].clone())
        };
        let page = |number, size| Some(PageRequest { number, size });
        assert_eq!(
            ids(ListDocument::page_of(items(), page(2, 2), &url)),
            (vec!["c".to_string()], serde_json::json!(3))
        );
        assert_eq!(
            ids(ListDocument::page_of(items(), page(999, 100), &url)),
            (vec![], serde_json::json!(3))
        );
        let (all, meta) = ids(ListDocument::page_of(items(), None, &url));
        assert_eq!((all.len(), meta), (3, serde_json::Value::Null));
    }
}
