//! A plan as the run page shows it: from the redacted plan JSON (`json-output-redacted`, whose
//! sensitive values are already digests), each resource change with its action and the
//! top-level attributes it changes, old and new values side by side; sensitive ones say so
//! instead, unknown ones say "known after apply". A pure function.

use serde::Serialize;
use serde_json::Value;

/// The longest value shown; longer ones are cut.
const MAX_VALUE_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    pub address: String,
    /// `create`, `update`, `delete`, `replace` or `read`.
    pub action: &'static str,
    pub attributes: Vec<AttributeChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeChange {
    pub name: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanView {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub resources: Vec<ResourceChange>,
}

/// The changes of a redacted plan document (no-ops left out).
pub fn view(plan: &Value) -> PlanView {
    let mut out = PlanView::default();
    let changes = plan.get("resource_changes").and_then(Value::as_array);
    for rc in changes.into_iter().flatten() {
        let Some(change) = rc.get("change") else {
            continue;
        };
        let actions: Vec<&str> = change
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let action = match actions.as_slice() {
            ["create"] => "create",
            ["update"] => "update",
            ["delete"] => "delete",
            ["read"] => "read",
            [_, _] => "replace",
            _ => continue, // no-op
        };
        match action {
            "create" => out.add += 1,
            "update" => out.change += 1,
            "delete" => out.destroy += 1,
            "replace" => {
                out.add += 1;
                out.destroy += 1;
            }
            _ => {}
        }
        out.resources.push(ResourceChange {
            address: rc
                .get("address")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            action,
            attributes: attributes(change),
        });
    }
    out
}

/// The top-level attributes a change sets or changes, with their shown values.
fn attributes(change: &Value) -> Vec<AttributeChange> {
    let object = |key: &str| change.get(key).and_then(Value::as_object);
    let (before, after) = (object("before"), object("after"));
    let flag = |key: &str, name: &str| {
        change
            .get(key)
            .and_then(|m| m.get(name))
            .is_some_and(|m| !matches!(m, Value::Bool(false) | Value::Null))
    };
    let mut names: Vec<&String> = before
        .into_iter()
        .flat_map(|m| m.keys())
        .chain(after.into_iter().flat_map(|m| m.keys()))
        .chain(
            change
                .get("after_unknown")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.keys()),
        )
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let old = before.and_then(|m| m.get(name)).filter(|v| !v.is_null());
        let new = after.and_then(|m| m.get(name)).filter(|v| !v.is_null());
        let unknown = flag("after_unknown", name);
        let (old_sensitive, new_sensitive) = (
            flag("before_sensitive", name),
            flag("after_sensitive", name),
        );
        if old == new && !unknown {
            continue;
        }
        out.push(AttributeChange {
            name: name.clone(),
            before: old.map(|v| shown(v, old_sensitive)),
            after: match (unknown, new) {
                (true, _) => Some("(known after apply)".into()),
                (false, Some(v)) => Some(shown(v, new_sensitive)),
                (false, None) => None,
            },
        });
    }
    out
}

fn shown(value: &Value, sensitive: bool) -> String {
    if sensitive {
        return "(sensitive value)".into();
    }
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_with_their_attributes_and_no_sensitive_value() {
        let plan = json!({"resource_changes": [
            {"address": "terraform_data.site", "change": {"actions": ["update"],
                "before": {"id": "1", "input": "web", "output": "web", "token": "digest-a"},
                "after": {"id": "1", "input": "web2", "token": "digest-b"},
                "after_unknown": {"output": true},
                "before_sensitive": {"token": true}, "after_sensitive": {"token": true}}},
            {"address": "terraform_data.extra", "change": {"actions": ["create"],
                "before": null, "after": {"input": null}, "after_unknown": {"id": true}}},
            {"address": "terraform_data.same", "change": {"actions": ["no-op"],
                "before": {"id": "2"}, "after": {"id": "2"}}},
            {"address": "aws_instance.web", "change": {"actions": ["delete", "create"],
                "before": {"ami": "a"}, "after": {"ami": "b"}}},
        ]});
        let v = view(&plan);
        assert_eq!((v.add, v.change, v.destroy), (2, 1, 1));
        assert_eq!(v.resources.len(), 3);
        let site = &v.resources[0];
        assert_eq!(
            (site.address.as_str(), site.action),
            ("terraform_data.site", "update")
        );
        let attrs: Vec<_> = site
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.before.as_deref(), a.after.as_deref()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("input", Some("\"web\""), Some("\"web2\"")),
                ("output", Some("\"web\""), Some("(known after apply)")),
                (
                    "token",
                    Some("(sensitive value)"),
                    Some("(sensitive value)")
                ),
            ]
        );
        assert!(!format!("{v:?}").contains("digest-"));
        assert_eq!(v.resources[1].attributes[0].name, "id");
        assert_eq!(v.resources[2].action, "replace");
    }

    #[test]
    fn long_values_are_cut_and_nothing_is_no_change() {
        let long = "x".repeat(500);
        assert!(shown(&json!(long), false).ends_with('…'));
        assert_eq!(view(&json!({})), PlanView::default());
    }
}
