//! What changed between two states: resource instances added and removed, and for those in
//! both, the names of the attributes whose values differ. Names only: no value (sensitive or
//! not) leaves the state this way. A pure function of the two state documents.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Instances by address (`module.net.aws_subnet.a["x"]`), each with its attributes.
type Instances<'a> = BTreeMap<String, Option<&'a Map<String, Value>>>;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Instances in both whose attributes differ, with those attributes' names.
    pub changed: Vec<(String, Vec<String>)>,
}

impl StateDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The changes from the state `old` to the state `new` (Terraform's state format, version 4).
pub fn diff(old: &Value, new: &Value) -> StateDiff {
    let (old, new) = (instances(old), instances(new));
    let mut out = StateDiff::default();
    for (address, attributes) in &new {
        match old.get(address) {
            None => out.added.push(address.clone()),
            Some(before) => {
                let names = changed_attributes(*before, *attributes);
                if !names.is_empty() {
                    out.changed.push((address.clone(), names));
                }
            }
        }
    }
    out.removed = old
        .keys()
        .filter(|address| !new.contains_key(*address))
        .cloned()
        .collect();
    out
}

fn changed_attributes(
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
) -> Vec<String> {
    let empty = Map::new();
    let (before, after) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

fn instances(state: &Value) -> Instances<'_> {
    let mut out = Instances::new();
    let resources = state.get("resources").and_then(Value::as_array);
    for resource in resources.into_iter().flatten() {
        let text = |key: &str| resource.get(key).and_then(Value::as_str).unwrap_or("");
        let base =
            super::search::block_address(text("module"), text("mode"), text("type"), text("name"));
        let instances = resource.get("instances").and_then(Value::as_array);
        for instance in instances.into_iter().flatten() {
            let address = match instance.get("index_key") {
                Some(Value::Number(n)) => format!("{base}[{n}]"),
                Some(Value::String(s)) => format!("{base}[{}]", Value::String(s.clone())),
                _ => base.clone(),
            };
            out.insert(
                address,
                instance.get("attributes").and_then(Value::as_object),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(resources: Value) -> Value {
        json!({"version": 4, "serial": 1, "resources": resources})
    }

    #[test]
    fn instances_added_removed_and_changed_by_attribute_name() {
        let old = state(json!([
            {"mode": "managed", "type": "terraform_data", "name": "site",
             "instances": [{"attributes": {"id": "1", "input": "web", "output": "web"}}]},
            {"mode": "managed", "type": "terraform_data", "name": "gone",
             "instances": [{"attributes": {"id": "2"}}]},
            {"module": "module.net", "mode": "managed", "type": "aws_subnet", "name": "a",
             "instances": [{"index_key": "x", "attributes": {"cidr": "10.0.0.0/24"}},
                           {"index_key": "y", "attributes": {"cidr": "10.0.1.0/24"}}]},
        ]));
        let new = state(json!([
            {"mode": "managed", "type": "terraform_data", "name": "site",
             "instances": [{"attributes": {"id": "1", "input": "web2", "output": "web2",
                "password": "s3cret"}, "sensitive_attributes": [[{"type": "get_attr", "value": "password"}]]}]},
            {"mode": "data", "type": "terraform_remote_state", "name": "base",
             "instances": [{"attributes": {"backend": "remote"}}]},
            {"module": "module.net", "mode": "managed", "type": "aws_subnet", "name": "a",
             "instances": [{"index_key": "x", "attributes": {"cidr": "10.0.0.0/24"}}]},
            {"mode": "managed", "type": "null_resource", "name": "n",
             "instances": [{"index_key": 0, "attributes": {}}]},
        ]));
        let d = diff(&old, &new);
        assert_eq!(
            d.added,
            ["data.terraform_remote_state.base", "null_resource.n[0]"]
        );
        assert_eq!(
            d.removed,
            ["module.net.aws_subnet.a[\"y\"]", "terraform_data.gone"]
        );
        assert_eq!(
            d.changed,
            [(
                "terraform_data.site".to_string(),
                vec![
                    "input".to_string(),
                    "output".to_string(),
                    "password".to_string()
                ]
            )]
        );
        // Names only: no value of either state is in the result.
        let text = format!("{d:?}");
        assert!(!text.contains("s3cret") && !text.contains("web2"), "{text}");
    }

    #[test]
    fn the_same_state_or_no_resources_is_no_change() {
        let s = state(json!([{"mode": "managed", "type": "t", "name": "n",
            "instances": [{"attributes": {"a": 1}}]}]));
        assert!(diff(&s, &s).is_empty());
        assert!(diff(&json!({}), &json!({"resources": null})).is_empty());
    }
}
