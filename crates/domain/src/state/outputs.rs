//! State outputs: parsed from `json-state-outputs` or the state's own `outputs`, stored with
//! their values encrypted, and revealed (sensitive ones only by ID) when read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use terrace_storage::blob::Keyring;
use terrace_storage::ids;
use terrace_storage::model::StateVersionOutput;

use crate::{DomainError, DomainResult};

/// An output as both `json-state-outputs` and the state file spell it.
#[derive(Debug, Deserialize)]
struct RawOutput {
    #[serde(default)]
    value: Value,
    #[serde(rename = "type", default)]
    kind: Value,
    #[serde(default)]
    sensitive: bool,
}

/// A stored output with its value decrypted (`None` when it is withheld).
#[derive(Debug, Clone)]
pub struct OutputView {
    pub output: StateVersionOutput,
    pub value: Option<Value>,
    pub detailed_type: Value,
}

impl OutputView {
    /// HCP Terraform's coarse type name: `string`, `number`, `boolean`, `array`, `object`.
    pub fn coarse_type(&self) -> &'static str {
        let name = match &self.detailed_type {
            Value::String(name) => name.as_str(),
            Value::Array(parts) => parts.first().and_then(Value::as_str).unwrap_or(""),
            _ => "",
        };
        match name {
            "string" => "string",
            "number" => "number",
            "bool" => "boolean",
            "list" | "tuple" | "set" => "array",
            "object" | "map" => "object",
            _ => "any",
        }
    }
}

/// Parses an outputs map and seals each value for storage under `state_version_id`.
pub(crate) fn seal_outputs(
    json: &[u8],
    state_version_id: &str,
    keyring: &Keyring,
    attribute: &str,
) -> DomainResult<Vec<StateVersionOutput>> {
    let parsed: BTreeMap<String, RawOutput> = serde_json::from_slice(json).map_err(|e| {
        DomainError::invalid(
            attribute,
            format!("not a map of outputs ({{\"name\": {{\"value\": ..., \"type\": ...}}}}): {e}"),
        )
    })?;
    parsed
        .into_iter()
        .map(|(name, raw)| {
            Ok(StateVersionOutput {
                id: ids::new_id(ids::STATE_VERSION_OUTPUT),
                state_version_id: state_version_id.to_string(),
                name,
                sensitive: raw.sensitive,
                type_json: serde_json::to_string(&raw.kind).expect("JSON value serializes"),
                value_ciphertext: keyring
                    .encrypt(&serde_json::to_vec(&raw.value).expect("JSON value serializes")),
            })
        })
        .collect()
}

/// Opens each of a version's stored outputs (see [`open_output`]).
pub(crate) fn open_outputs(
    outputs: Vec<StateVersionOutput>,
    keyring: &Keyring,
    reveal: bool,
) -> DomainResult<Vec<OutputView>> {
    outputs
        .into_iter()
        .map(|o| open_output(o, keyring, reveal))
        .collect()
}

/// Opens a stored output; the value is decrypted only if `reveal` or it is not sensitive.
pub(crate) fn open_output(
    output: StateVersionOutput,
    keyring: &Keyring,
    reveal: bool,
) -> DomainResult<OutputView> {
    let detailed_type = serde_json::from_str(&output.type_json).unwrap_or(Value::Null);
    let value = if reveal || !output.sensitive {
        let plaintext = keyring.decrypt(&output.value_ciphertext)?;
        Some(serde_json::from_slice(&plaintext).unwrap_or(Value::Null))
    } else {
        None
    };
    Ok(OutputView {
        output,
        value,
        detailed_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_with_sensitivity() {
        let keyring = Keyring::new(&[Keyring::generate_key()]).unwrap();
        let json = br#"{"greeting":{"sensitive":false,"value":"hello","type":"string"},
                        "secret":{"sensitive":true,"value":"s3cr3t","type":"string"},
                        "zones":{"value":["a","b"],"type":["list","string"]}}"#;
        let sealed = seal_outputs(json, "sv-1", &keyring, "json-state-outputs").unwrap();
        assert_eq!(sealed.len(), 3);
        assert!(sealed
            .iter()
            .all(|o| !o.value_ciphertext.contains("s3cr3t")));
        let secret = sealed.iter().find(|o| o.name == "secret").unwrap().clone();
        assert_eq!(
            open_output(secret.clone(), &keyring, false).unwrap().value,
            None
        );
        assert_eq!(
            open_output(secret, &keyring, true).unwrap().value,
            Some(Value::from("s3cr3t"))
        );
        let zones = open_output(sealed[2].clone(), &keyring, false).unwrap();
        assert_eq!(zones.coarse_type(), "array");
        assert_eq!(zones.detailed_type, serde_json::json!(["list", "string"]));
        assert!(seal_outputs(b"[1]", "sv-1", &keyring, "json-state-outputs").is_err());
    }
}
