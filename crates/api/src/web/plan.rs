//! A plan as the run page shows it: from the redacted plan JSON (`json-output-redacted`, whose
//! sensitive values are already digests), each resource change with its action and the
//! attributes it changes, down to nested ones (`tags.env`, `ingress[0].port`), old and new
//! values side by side; sensitive ones say so instead, unknown ones say "known after apply".
//! A pure function.

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

/// The most attribute rows one resource shows; the rest are counted in a last row.
const MAX_ROWS: usize = 200;

/// Where a change's markers (`after_unknown`, `before_sensitive`, `after_sensitive`) stand
/// for one value: each is `true` for the whole value, or has the value's shape with `true`
/// at the parts it marks.
#[derive(Clone, Copy)]
struct Marks<'a> {
    unknown: &'a Value,
    before_sensitive: &'a Value,
    after_sensitive: &'a Value,
}

impl<'a> Marks<'a> {
    /// The marks of a part: of an object's key, or of a list's index.
    fn of(self, part: Part<'_>) -> Marks<'a> {
        let down = |mark: &'a Value| match (mark, part) {
            (Value::Object(m), Part::Key(k)) => m.get(k).unwrap_or(&Value::Null),
            (Value::Array(a), Part::Index(i)) => a.get(i).unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
        Marks {
            unknown: down(self.unknown),
            before_sensitive: down(self.before_sensitive),
            after_sensitive: down(self.after_sensitive),
        }
    }
}

#[derive(Clone, Copy)]
enum Part<'k> {
    Key(&'k str),
    Index(usize),
}

/// The attributes a change sets or changes, down to nested ones (`tags.env`,
/// `ingress[0].port`), with their shown values.
fn attributes(change: &Value) -> Vec<AttributeChange> {
    let null = &Value::Null;
    let marks = Marks {
        unknown: change.get("after_unknown").unwrap_or(null),
        before_sensitive: change.get("before_sensitive").unwrap_or(null),
        after_sensitive: change.get("after_sensitive").unwrap_or(null),
    };
    let before = change.get("before").filter(|v| !v.is_null());
    let after = change.get("after").filter(|v| !v.is_null());
    let mut out = Vec::new();
    let mut more = 0;
    diff("", before, after, marks, &mut out, &mut more);
    if more > 0 {
        out.push(AttributeChange {
            name: format!("(and {more} more)"),
            before: None,
            after: None,
        });
    }
    out
}

/// Whether a mark says "all of it".
fn marked(mark: &Value) -> bool {
    matches!(mark, Value::Bool(true))
}

/// Whether a mark says anything of the value or a part of it (a value shown whole is masked
/// when any part of it is sensitive).
fn any_marked(mark: &Value) -> bool {
    match mark {
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(any_marked),
        Value::Object(parts) => parts.values().any(any_marked),
        _ => false,
    }
}

/// A part of a value (an object's key, a list's index), if it has one that is not null.
fn part_of<'v>(value: Option<&'v Value>, part: Part<'_>) -> Option<&'v Value> {
    let found = match (value?, part) {
        (Value::Object(m), Part::Key(k)) => m.get(k),
        (Value::Array(a), Part::Index(i)) => a.get(i),
        _ => None,
    };
    found.filter(|v| !v.is_null())
}

/// A mark or value that says nothing here.
fn blank(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false))
}

/// A nested attribute's path: `a.b` for names, `a["odd key"]` for others, `a[0]` for indices.
fn child_path(path: &str, part: Part<'_>) -> String {
    match part {
        Part::Key(k) if path.is_empty() => k.to_string(),
        Part::Key(k)
            if !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            format!("{path}.{k}")
        }
        Part::Key(k) => format!("{path}[{k:?}]"),
        Part::Index(i) => format!("{path}[{i}]"),
    }
}

/// Adds to `out` each changed leaf under `path` (objects and lists are walked into).
fn diff(
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    marks: Marks<'_>,
    out: &mut Vec<AttributeChange>,
    more: &mut usize,
) {
    let unknown = marked(marks.unknown);
    let sensitive = marked(marks.before_sensitive) || marked(marks.after_sensitive);
    // Walk into what has parts, unless a mark covers it whole.
    if !unknown && !sensitive {
        let keys = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let both_objects = [before, after, Some(marks.unknown)]
            .iter()
            .flatten()
            .all(|v| v.is_object() || blank(v))
            && (before.is_some_and(Value::is_object) || after.is_some_and(Value::is_object));
        if both_objects {
            let mut names: Vec<String> = keys(before)
                .into_iter()
                .chain(keys(after))
                .chain(keys(Some(marks.unknown)))
                .collect();
            names.sort();
            names.dedup();
            for name in &names {
                let part = Part::Key(name);
                diff(
                    &child_path(path, part),
                    part_of(before, part),
                    part_of(after, part),
                    marks.of(part),
                    out,
                    more,
                );
            }
            return;
        }
        let both_lists = [before, after, Some(marks.unknown)]
            .iter()
            .flatten()
            .all(|v| v.is_array() || blank(v))
            && (before.is_some_and(Value::is_array) || after.is_some_and(Value::is_array));
        if both_lists {
            let len = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, Vec::len);
            let count = len(before).max(len(after)).max(len(Some(marks.unknown)));
            for i in 0..count {
                let part = Part::Index(i);
                diff(
                    &child_path(path, part),
                    part_of(before, part),
                    part_of(after, part),
                    marks.of(part),
                    out,
                    more,
                );
            }
            return;
        }
    }
    if before == after && !unknown {
        return;
    }
    if out.len() >= MAX_ROWS {
        *more += 1;
        return;
    }
    out.push(AttributeChange {
        name: path.to_string(),
        before: before.map(|v| shown(v, any_marked(marks.before_sensitive))),
        after: match (unknown, after) {
            (true, _) => Some("(known after apply)".into()),
            (false, Some(v)) => Some(shown(v, any_marked(marks.after_sensitive))),
            (false, None) => None,
        },
    });
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
    fn nested_attributes_are_diffed_leaf_by_leaf_with_their_own_marks() {
        let plan = json!({"resource_changes": [
            {"address": "aws_security_group.web", "change": {"actions": ["update"],
                "before": {"tags": {"env": "dev", "team": "web"},
                    "ingress": [{"port": 80, "cidr": "10.0.0.0/8"}],
                    "secret": {"a": "digest-1"}, "odd": {"a b": 1}},
                "after": {"tags": {"env": "prod", "team": "web", "owner": "ops"},
                    "ingress": [{"port": 443, "cidr": "10.0.0.0/8"}, {"port": 22}],
                    "secret": {"a": "digest-2"}, "odd": {"a b": 2}},
                "after_unknown": {"ingress": [{}, {"cidr": true}]},
                "before_sensitive": {"secret": true},
                "after_sensitive": {"secret": {"a": true}}}},
        ]});
        let v = view(&plan);
        let attrs: Vec<_> = v.resources[0]
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.before.as_deref(), a.after.as_deref()))
            .collect();
        assert_eq!(
            attrs,
            [
                ("ingress[0].port", Some("80"), Some("443")),
                ("ingress[1].cidr", None, Some("(known after apply)")),
                ("ingress[1].port", None, Some("22")),
                ("odd[\"a b\"]", Some("1"), Some("2")),
                (
                    "secret",
                    Some("(sensitive value)"),
                    Some("(sensitive value)")
                ),
                ("tags.env", Some("\"dev\""), Some("\"prod\"")),
                ("tags.owner", None, Some("\"ops\"")),
            ]
        );
        assert!(!format!("{v:?}").contains("digest-"));
    }

    #[test]
    fn a_huge_change_is_cut_to_its_first_rows() {
        let after: serde_json::Map<String, Value> =
            (0..250).map(|i| (format!("k{i:03}"), json!(i))).collect();
        let plan = json!({"resource_changes": [{"address": "x.y",
            "change": {"actions": ["create"], "before": null, "after": {"m": after}}}]});
        let rows = &view(&plan).resources[0].attributes;
        assert_eq!(rows.len(), MAX_ROWS + 1);
        assert_eq!(rows[MAX_ROWS].name, "(and 50 more)");
    }

    #[test]
    fn long_values_are_cut_and_nothing_is_no_change() {
        let long = "x".repeat(500);
        assert!(shown(&json!(long), false).ends_with('…'));
        assert_eq!(view(&json!({})), PlanView::default());
    }
}
