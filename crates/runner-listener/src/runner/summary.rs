//! Resource counts of a plan or an apply, as the API reports them (`resource-additions`,
//! `-changes`, `-destructions`, `-imports`): a replacement counts as an addition and a
//! destruction, as in the CLI's summary line.

use serde_json::Value;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub additions: i64,
    pub changes: i64,
    pub destructions: i64,
    pub imports: i64,
}

/// Counts from `terraform show -json <plan>`: its `resource_changes` actions. `no-op` and
/// `read` count as nothing; an import counts as one whatever its action.
pub(crate) fn plan_counts(plan_json: &[u8]) -> anyhow::Result<Counts> {
    let plan: Value = serde_json::from_slice(plan_json)
        .map_err(|e| anyhow::anyhow!("terraform show -json printed invalid JSON: {e}"))?;
    let mut counts = Counts::default();
    let changes = plan
        .get("resource_changes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for rc in changes {
        let Some(change) = rc.get("change") else {
            continue;
        };
        let actions: Vec<&str> = change
            .get("actions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for action in &actions {
            match *action {
                "create" => counts.additions += 1,
                "update" => counts.changes += 1,
                "delete" => counts.destructions += 1,
                _ => {}
            }
        }
        if change.get("importing").is_some_and(|i| !i.is_null()) {
            counts.imports += 1;
        }
    }
    Ok(counts)
}

/// Counts from one log line of `terraform apply -json`, if it is the `change_summary`:
/// `{"changes":{"add":1,"change":0,"import":0,"remove":0,...},"type":"change_summary"}`.
pub(crate) fn change_summary(line: &str) -> Option<Counts> {
    if !line.contains("change_summary") {
        return None;
    }
    let message: Value = serde_json::from_str(line.trim()).ok()?;
    if message.get("type")?.as_str()? != "change_summary" {
        return None;
    }
    let changes = message.get("changes")?;
    let n = |key: &str| changes.get(key).and_then(Value::as_i64).unwrap_or(0);
    Some(Counts {
        additions: n("add"),
        changes: n("change"),
        destructions: n("remove"),
        imports: n("import"),
    })
}

/// Counts from the text summary of `terraform apply`:
/// "Apply complete! Resources: 1 imported, 2 added, 0 changed, 1 destroyed." or
/// "Destroy complete! Resources: 3 destroyed."
pub(crate) fn text_summary(line: &str) -> Option<Counts> {
    let line = line.trim();
    let rest = line
        .strip_prefix("Apply complete! Resources:")
        .or_else(|| line.strip_prefix("Destroy complete! Resources:"))?;
    let mut counts = Counts::default();
    for part in rest.trim().trim_end_matches('.').split(',') {
        let mut words = part.split_whitespace();
        let (Some(number), Some(word)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<i64>() else {
            continue;
        };
        match word {
            "added" => counts.additions = number,
            "changed" => counts.changes = number,
            "destroyed" => counts.destructions = number,
            "imported" => counts.imports = number,
            _ => {}
        }
    }
    Some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(actions: &[&str], importing: bool) -> serde_json::Value {
        let mut change = serde_json::json!({ "actions": actions });
        if importing {
            change["importing"] = serde_json::json!({ "id": "i-1" });
        }
        serde_json::json!({ "address": "x.y", "change": change })
    }

    #[test]
    fn plan_actions_are_counted() {
        let plan = serde_json::json!({
            "format_version": "1.2",
            "resource_changes": [
                rc(&["create"], false),
                rc(&["create"], false),
                rc(&["update"], false),
                rc(&["delete"], false),
                rc(&["delete", "create"], false),
                rc(&["create", "delete"], false),
                rc(&["no-op"], false),
                rc(&["read"], false),
                rc(&["no-op"], true),
                rc(&["update"], true),
            ],
        });
        let counts = plan_counts(plan.to_string().as_bytes()).unwrap();
        assert_eq!(
            counts,
            Counts {
                additions: 4,
                changes: 2,
                destructions: 3,
                imports: 2
            }
        );
    }

    #[test]
    fn a_plan_without_changes_counts_nothing() {
        let counts = plan_counts(br#"{"format_version":"1.2"}"#).unwrap();
        assert_eq!(counts, Counts::default());
        assert!(plan_counts(b"not json").is_err());
    }

    #[test]
    fn the_real_fixture_plan_counts_one_addition() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/reference/fixtures/plan.json");
        // The fixture lives in the shared reference directory beside the repository.
        if let Ok(json) = std::fs::read(fixture) {
            let counts = plan_counts(&json).unwrap();
            assert_eq!(counts.additions, 1, "{counts:?}");
        }
    }

    #[test]
    fn change_summary_lines() {
        let line = r#"{"@level":"info","@message":"Apply complete! Resources: 1 added, 0 changed, 0 destroyed.","@module":"terraform.ui","@timestamp":"2026-11-22T10:00:00Z","changes":{"add":1,"change":2,"import":3,"remove":4,"operation":"apply"},"type":"change_summary"}"#;
        assert_eq!(
            change_summary(line),
            Some(Counts {
                additions: 1,
                changes: 2,
                destructions: 4,
                imports: 3
            })
        );
        assert_eq!(change_summary(r#"{"type":"version"}"#), None);
        assert_eq!(
            change_summary(r#"{"@message":"change_summary","type":"log"}"#),
            None
        );
        assert_eq!(change_summary("Plan: change_summary is not JSON"), None);
    }

    #[test]
    fn text_summaries() {
        assert_eq!(
            text_summary("Apply complete! Resources: 1 added, 0 changed, 2 destroyed."),
            Some(Counts {
                additions: 1,
                changes: 0,
                destructions: 2,
                imports: 0
            })
        );
        assert_eq!(
            text_summary("Apply complete! Resources: 1 imported, 0 added, 3 changed, 0 destroyed."),
            Some(Counts {
                additions: 0,
                changes: 3,
                destructions: 0,
                imports: 1
            })
        );
        assert_eq!(
            text_summary("Destroy complete! Resources: 3 destroyed."),
            Some(Counts {
                destructions: 3,
                ..Counts::default()
            })
        );
        assert_eq!(
            text_summary("Plan: 1 to add, 0 to change, 0 to destroy."),
            None
        );
    }
}
