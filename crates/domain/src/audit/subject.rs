//! What a route means: its action and the resource it acts on, from the method and the
//! route template alone (no I/O), so every route is described by one rule.

/// What an event is about, from the route alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
}

fn subject_of(action: &str, kind: &str, id: Option<String>) -> Subject {
    Subject {
        action: action.into(),
        resource_type: Some(kind.into()),
        resource_id: id,
    }
}

/// Singular, snake_case resource types as HCP Terraform's trail names them
/// (`authentication-tokens` → `authentication_token`).
pub(super) fn resource_type(segment: &str) -> String {
    let singular = match segment {
        "vars" => "variable",
        "varsets" => "variable_set",
        "_uploads" => "upload",
        s => s.strip_suffix('s').unwrap_or(s),
    };
    singular.replace('-', "_")
}

/// The action and resource a route describes: `/actions/NAME` is that action on the resource
/// before it; `/relationships/NAME` adds, replaces or removes NAME; otherwise the method says
/// it (`create` on a collection, `update`/`delete` on a member).
pub fn describe(method: &str, route: &str, params: &[(String, String)]) -> Subject {
    let route = route
        .trim_start_matches("/api/v2")
        .trim_start_matches("/api/runner/v1");
    // Routes whose last word is a verb rather than a collection.
    match route {
        "/account/update" => return subject_of("update", "account", None),
        "/job/finish" | "/job/state-versions" => {
            let action = route.trim_start_matches("/job/");
            return subject_of(
                if action == "finish" {
                    "finish"
                } else {
                    "create-state-version"
                },
                "job",
                None,
            );
        }
        _ => {}
    }
    let segments: Vec<&str> = route.split('/').filter(|s| !s.is_empty()).collect();
    let value = |segment: &str| {
        let name = segment.strip_prefix(':')?;
        // A capability token is a credential: the resource comes from what it grants.
        (name != "token")
            .then(|| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
            .flatten()
    };
    // The resource: the last `collection/:id` pair before any actions or relationships.
    let (head, verb) = match segments
        .iter()
        .position(|s| *s == "actions" || *s == "relationships")
    {
        Some(at) => {
            let name = segments.get(at + 1).copied().unwrap_or_default();
            let verb = if segments[at] == "actions" {
                name.to_string()
            } else {
                let how = match method {
                    "POST" => "add",
                    "DELETE" => "remove",
                    _ => "replace",
                };
                format!("{how}-{name}")
            };
            (&segments[..at], Some(verb))
        }
        None => (&segments[..], None),
    };
    let (resource_type_segment, resource_id, member) = match head {
        [.., collection, last] if last.starts_with(':') => (*collection, value(last), true),
        [.., last] => (*last, None, false),
        [] => ("", None, false),
    };
    let action = verb.unwrap_or_else(|| {
        match (method, member) {
            ("POST", false) => "create",
            ("DELETE", _) => "delete",
            _ => "update",
        }
        .to_string()
    });
    Subject {
        action,
        resource_type: (!resource_type_segment.is_empty()
            && !resource_type_segment.starts_with(':'))
        .then(|| resource_type(resource_type_segment)),
        resource_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn subject(action: &str, kind: &str, id: Option<&str>) -> Subject {
        Subject {
            action: action.into(),
            resource_type: Some(kind.into()),
            resource_id: id.map(str::to_string),
        }
    }

    #[test]
    fn routes_name_their_action_and_resource() {
        let ws = params(&[("workspace_id", "ws-1")]);
        assert_eq!(
            describe("PATCH", "/api/v2/workspaces/:workspace_id", &ws),
            subject("update", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe("DELETE", "/api/v2/workspaces/:workspace_id", &ws),
            subject("delete", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe("POST", "/api/v2/workspaces/:workspace_id/actions/lock", &ws),
            subject("lock", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe(
                "POST",
                "/api/v2/workspaces/:workspace_id/relationships/tags",
                &ws
            ),
            subject("add-tags", "workspace", Some("ws-1"))
        );
        assert_eq!(
            describe(
                "POST",
                "/api/v2/organizations/:organization/workspaces",
                &params(&[("organization", "acme")])
            ),
            subject("create", "workspace", None)
        );
        assert_eq!(
            describe(
                "DELETE",
                "/api/v2/authentication-tokens/:token_id",
                &params(&[("token_id", "at-1")])
            ),
            subject("delete", "authentication_token", Some("at-1"))
        );
        assert_eq!(
            describe(
                "PATCH",
                "/api/v2/varsets/:varset_id/relationships/vars/:variable_id",
                &params(&[("varset_id", "varset-1"), ("variable_id", "var-1")])
            ),
            subject("replace-vars", "variable_set", Some("varset-1"))
        );
    }

    #[test]
    fn a_capability_token_is_never_taken_as_an_id() {
        let described = describe(
            "PUT",
            "/_uploads/state/:token",
            &params(&[("token", "SECRET")]),
        );
        assert_eq!(described, subject("update", "state", None));
    }
}
