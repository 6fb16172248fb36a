//! What the OpenAPI document says about every route at once: the bearer scheme, the media
//! type of JSON:API documents, and the answers the shared layers (authentication, body
//! reading, rate limits) give on any route. Handlers' annotations describe only what is
//! particular to them, so a rule of the edge is described once, here.

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder, Schema};
use utoipa::Modify;

use crate::jsonapi::document::MEDIA_TYPE;

/// Where the document is served, and where the Swagger UI reads it from.
pub const DOCUMENT_PATH: &str = "/openapi.json";

/// The route serving `doc` as JSON, serialized once here, so that the caller can drop `doc`.
/// utoipa's own route keeps the document's structure (about 18 MiB of small allocations for
/// 580 KB of JSON, a third of the idle server's memory) for the life of the process and
/// serializes it again on every request.
pub fn document_route<S: Clone + Send + Sync + 'static>(
    doc: &OpenApi,
) -> axum::routing::MethodRouter<S> {
    let json =
        axum::body::Bytes::from(serde_json::to_vec(doc).expect("an OpenAPI document serializes"));
    axum::routing::get(move || {
        let json = json.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                json,
            )
        }
    })
}

/// The one security scheme: `Authorization: Bearer <token>` (user, agent or job tokens).
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Applied to the finished document (after the routers are merged, so it sees every path).
pub struct EdgeConventions;

impl Modify for EdgeConventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let secured_by_default = openapi.security.as_ref().is_some_and(|s| !s.is_empty());
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                document_permission(method, path, op);
                relabel_json_api(op);
                optional_json_body(op);
                // `security(())` on a handler marks a public route: nobody answers it 401.
                let secured = match &op.security {
                    Some(requirements) => requirements.iter().any(|r| r != &Default::default()),
                    None => secured_by_default,
                };
                if secured {
                    add_error(op, "401", "Missing, unknown, revoked or expired token");
                }
                if is_tagged(op, "runner") {
                    add_error(
                        op,
                        "403",
                        "Not a token of the job protocol (agent or job token)",
                    );
                }
                let has_query = op.parameters.iter().flatten().any(
                    |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)),
                );
                if has_query || op.request_body.is_some() {
                    add_error(op, "400", "A malformed query string or body");
                }
                if has_json_body(op) {
                    add_error(op, "422", "A well-formed document with a wrong value");
                }
                if op.request_body.is_some() {
                    add_error(
                        op,
                        "413",
                        "The request body is larger than this route accepts",
                    );
                }
                add_error(
                    op,
                    "429",
                    "Rate limited; `Retry-After` says when to try again",
                );
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", &mut item.get),
        ("PUT", &mut item.put),
        ("POST", &mut item.post),
        ("DELETE", &mut item.delete),
        ("PATCH", &mut item.patch),
        ("HEAD", &mut item.head),
        ("OPTIONS", &mut item.options),
        ("TRACE", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op.as_mut()?)))
}

/// The extension naming what a route requires ([`crate::permissions`]).
pub const PERMISSION_EXTENSION: &str = "x-terrace-permission";

/// Puts the route's documented permission on its operation. A route missing from the table
/// gets none, which the unit test below refuses.
fn document_permission(method: &str, path: &str, op: &mut Operation) {
    if let Some(permission) = crate::permissions::permission_of(method, path) {
        op.extensions
            .get_or_insert_with(Default::default)
            .insert(PERMISSION_EXTENSION.to_string(), permission.into());
    }
}

/// The JSON body extractor reads an empty body as `{}` (the CLI sends empty bodies to some
/// actions), so no JSON body is required on the wire; what a route needs inside it is a 422.
fn optional_json_body(op: &mut Operation) {
    if has_json_body(op) {
        if let Some(RefOr::T(body)) = &mut op.request_body {
            body.required = Some(Required::False);
        }
    }
}

fn is_tagged(op: &Operation, tag: &str) -> bool {
    op.tags.iter().flatten().any(|t| t == tag)
}

fn has_json_body(op: &Operation) -> bool {
    let Some(RefOr::T(body)) = &op.request_body else {
        return false;
    };
    body.content
        .keys()
        .any(|media| media == MEDIA_TYPE || media == "application/json")
}

/// utoipa labels every body `application/json`; JSON:API documents (and errors, which are
/// JSON:API everywhere) are served as `application/vnd.api+json`, as in HCP Terraform.
fn relabel_json_api(op: &mut Operation) {
    for response in op.responses.responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let Some(RefOr::T(content)) = response.content.get("application/json") else {
            continue;
        };
        if content.schema.as_ref().is_some_and(is_json_api_document) {
            let content = response.content.shift_remove("application/json").unwrap();
            response.content.insert(MEDIA_TYPE.to_string(), content);
        }
    }
}

fn is_json_api_document(schema: &RefOr<Schema>) -> bool {
    let RefOr::Ref(Ref { ref_location, .. }) = schema else {
        return false;
    };
    let name = ref_location.rsplit('/').next().unwrap_or_default();
    name == "ErrorDocument" || name.starts_with("Document") || name.starts_with("ListDocument")
}

/// Adds a JSON:API error answer unless the handler already describes this status.
fn add_error(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    MEDIA_TYPE,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorDocument")))
                        .build(),
                )
                .into()
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation of the document states its permission, every entry of the table is a
    /// route of the document, and every `SCOPE:ACTION` names an action of the policy with
    /// that scope.
    #[test]
    fn every_operation_documents_its_permission() {
        let (_, mut doc) = crate::app::routes();
        let mut documented = Vec::new();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                let permission = op
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get(PERMISSION_EXTENSION))
                    .and_then(|v| v.as_str())
                    .unwrap_or_else(|| {
                        panic!(
                            "{method} {path} has no {PERMISSION_EXTENSION}: add it to \
                             ROUTE_PERMISSIONS in crates/api/src/permissions.rs"
                        )
                    });
                assert!(
                    crate::permissions::is_well_formed(permission),
                    "{method} {path}: {permission:?}"
                );
                if let Some((scope, action)) = permission.split_once(':') {
                    let known = terrace_auth::policy::Action::ALL
                        .iter()
                        .find(|a| a.name() == action)
                        .unwrap_or_else(|| panic!("{method} {path}: no action {action:?}"));
                    assert_eq!(
                        scope,
                        known.scope().name(),
                        "{method} {path}: {action} applies to a {}",
                        known.scope().name()
                    );
                }
                documented.push((method.to_string(), path.clone()));
            }
        }
        for (method, path, _) in crate::permissions::ROUTE_PERMISSIONS {
            assert!(
                documented.contains(&(method.to_string(), path.to_string())),
                "ROUTE_PERMISSIONS names {method} {path}, which the document does not have"
            );
        }
    }

    /// utoipa names a generic schema after the type it sees in the annotation: an alias
    /// (`type TagList = ListDocument<TagAttributes>`) becomes a bare `ListDocument`, and every
    /// alias of that generic then shares one schema, which describes only one of them.
    #[test]
    fn generic_schemas_keep_their_type_parameters() {
        let (_, doc) = crate::app::routes();
        let schemas = doc.components.expect("components").schemas;
        for bare in ["Body", "Data", "Document", "ListDocument", "Resource"] {
            assert!(
                !schemas.contains_key(bare),
                "a schema named plain {bare}: an annotation names a type alias; write the \
                 generic type in full"
            );
        }
    }
}
