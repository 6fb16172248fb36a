//! States written straight through the API, as terraform's `cloud` block writes them (lock,
//! create a state version with the state inline, unlock): for tests and benchmarks that need
//! a workspace to manage resources without running terraform.

use base64::Engine;
use md5::{Digest, Md5};
use serde_json::json;

use crate::Api;

/// Makes `state` (a whole terraform state, `serial` and `lineage` included) the workspace's
/// current one.
pub fn push(api: &Api, ws: &str, state: &serde_json::Value) {
    let raw = serde_json::to_vec(state).unwrap();
    api.post(&format!("workspaces/{ws}/actions/lock"), &json!({}))
        .expect(200);
    api.post(
        &format!("workspaces/{ws}/state-versions"),
        &json!({"data": {"type": "state-versions", "attributes": {
            "serial": state["serial"], "lineage": state["lineage"],
            "md5": hex::encode(Md5::digest(&raw)),
            "state": base64::engine::general_purpose::STANDARD.encode(&raw)}}}),
    )
    .expect(201);
    api.post(&format!("workspaces/{ws}/actions/unlock"), &json!({}))
        .expect(200);
}

/// A first state (serial 1) managing one instance of each `(type, name)`, with AWS's provider.
pub fn with_resources(lineage: &str, resources: &[(&str, &str)]) -> serde_json::Value {
    let resources: Vec<_> = resources
        .iter()
        .map(|(kind, name)| {
            json!({"mode": "managed", "type": kind, "name": name,
                "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                "instances": [{"schema_version": 0,
                    "attributes": {"id": format!("{name}-{lineage}")}}]})
        })
        .collect();
    json!({"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": lineage,
        "outputs": {}, "resources": resources})
}
