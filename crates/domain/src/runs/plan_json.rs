//! The redacted plan the CLI renders (`json-output-redacted`): the changes of
//! `terraform show -json` with every sensitive value replaced, plus the provider schemas the
//! renderer needs (without them the CLI crashes). Values, variables and prior state that the
//! rendering does not need are left out.
//!
//! A sensitive value becomes a digest keyed with a random key per document, so that equal
//! values still compare equal within the plan (the renderer must tell "changed" from
//! "unchanged") while nothing can be learnt from them across plans.

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde_json::{Map, Value};
use sha2::Sha256;

/// Builds the redacted document from the plan JSON and `terraform providers schema -json`.
pub fn redacted(plan: &[u8], schemas: &[u8]) -> Result<Vec<u8>, String> {
    let plan: Value =
        serde_json::from_slice(plan).map_err(|e| format!("the plan JSON does not parse: {e}"))?;
    let schemas: Value = serde_json::from_slice(schemas)
        .map_err(|e| format!("the provider schemas do not parse: {e}"))?;
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let redactor = Redactor { key };

    let changes = |name: &str| -> Value {
        let mut list = plan.get(name).cloned().unwrap_or(Value::Array(Vec::new()));
        if let Value::Array(items) = &mut list {
            for item in items {
                if let Some(change) = item.get_mut("change") {
                    redactor.change(change);
                }
            }
        }
        list
    };
    let resource_changes = changes("resource_changes");
    let resource_drift = changes("resource_drift");
    let mut output_changes = plan
        .get("output_changes")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    if let Value::Object(outputs) = &mut output_changes {
        for change in outputs.values_mut() {
            redactor.change(change);
        }
    }

    // Only the schemas of providers the changes use: a full provider schema can be megabytes.
    let used: std::collections::BTreeSet<&str> = [&resource_changes, &resource_drift]
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|c| c.get("provider_name").and_then(Value::as_str))
        .collect();
    let provider_schemas: Map<String, Value> = schemas
        .get("provider_schemas")
        .and_then(Value::as_object)
        .map(|all| {
            all.iter()
                .filter(|(name, _)| used.contains(name.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();

    let mut doc = Map::new();
    doc.insert(
        "plan_format_version".into(),
        plan.get("format_version")
            .cloned()
            .unwrap_or(Value::from("1.2")),
    );
    doc.insert("resource_drift".into(), resource_drift);
    doc.insert("resource_changes".into(), resource_changes);
    doc.insert(
        "relevant_attributes".into(),
        plan.get("relevant_attributes")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    );
    doc.insert("output_changes".into(), output_changes);
    if let Some(deferred) = plan.get("deferred_changes") {
        doc.insert("deferred_changes".into(), deferred.clone());
    }
    doc.insert(
        "provider_format_version".into(),
        schemas
            .get("format_version")
            .cloned()
            .unwrap_or(Value::from("1.0")),
    );
    doc.insert("provider_schemas".into(), Value::Object(provider_schemas));
    Ok(serde_json::to_vec(&Value::Object(doc)).expect("JSON serializes"))
}

struct Redactor {
    key: [u8; 32],
}

impl Redactor {
    /// Redacts `before` and `after` of a change by their sensitivity markers.
    fn change(&self, change: &mut Value) {
        for (value, mask) in [("before", "before_sensitive"), ("after", "after_sensitive")] {
            let mask = change.get(mask).cloned().unwrap_or(Value::Bool(false));
            if let Some(v) = change.get_mut(value) {
                self.redact(v, &mask);
            }
        }
        // Unknown and generated values carry no secrets; importing may carry IDs only.
    }

    fn redact(&self, value: &mut Value, mask: &Value) {
        match (mask, &mut *value) {
            (Value::Bool(true), v) if !v.is_null() => *v = Value::String(self.digest(v)),
            (Value::Object(masks), Value::Object(values)) => {
                for (k, m) in masks {
                    if let Some(v) = values.get_mut(k) {
                        self.redact(v, m);
                    }
                }
            }
            (Value::Array(masks), Value::Array(values)) => {
                for (v, m) in values.iter_mut().zip(masks) {
                    self.redact(v, m);
                }
            }
            _ => {}
        }
    }

    fn digest(&self, value: &Value) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key size");
        mac.update(
            serde_json::to_string(value)
                .expect("JSON serializes")
                .as_bytes(),
        );
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sensitive_values_are_replaced_and_schemas_trimmed() {
        let plan = json!({
            "format_version": "1.2",
            "variables": {"password": {"value": "hunter2"}},
            "prior_state": {"values": {"secret": "hunter2"}},
            "resource_changes": [{
                "address": "terraform_data.x", "type": "terraform_data", "provider_name": "terraform.io/builtin/terraform",
                "change": {"actions": ["update"],
                    "before": {"input": "old-secret", "nested": ["a", "old"], "id": "1"},
                    "after": {"input": "hunter2", "nested": ["a", "new"], "id": "1"},
                    "before_sensitive": {"input": true, "nested": [false, true]},
                    "after_sensitive": {"input": true, "nested": [false, true]}}
            }],
            "output_changes": {"pw": {"actions": ["create"], "before": null, "after": "hunter2",
                "before_sensitive": false, "after_sensitive": true},
                "same": {"actions": ["no-op"], "before": "s", "after": "s", "before_sensitive": true, "after_sensitive": true}},
            "relevant_attributes": []
        });
        let schemas = json!({"format_version": "1.0", "provider_schemas": {
            "terraform.io/builtin/terraform": {"provider": {"version": 0}, "resource_schemas": {"terraform_data": {}}},
            "registry.terraform.io/hashicorp/aws": {"resource_schemas": {"huge": {}}}
        }});
        let doc: Value = serde_json::from_slice(
            &redacted(
                &serde_json::to_vec(&plan).unwrap(),
                &serde_json::to_vec(&schemas).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        let text = doc.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("old-secret"),
            "{text}"
        );
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 7, "{keys:?}");
        assert!(doc.get("variables").is_none() && doc.get("prior_state").is_none());
        let change = &doc["resource_changes"][0]["change"];
        assert_eq!(change["after"]["id"], "1", "non-sensitive values stay");
        assert_eq!(change["after"]["nested"][0], "a");
        assert_ne!(
            change["before"]["input"], change["after"]["input"],
            "a changed secret still looks changed"
        );
        let same = &doc["output_changes"]["same"];
        assert_eq!(
            same["before"], same["after"],
            "an unchanged secret still looks unchanged"
        );
        assert_eq!(
            doc["provider_schemas"].as_object().unwrap().len(),
            1,
            "only the providers in use"
        );
        assert_eq!(doc["plan_format_version"], "1.2");
    }
}
