//! The rules of tags as pure functions: how many bindings one request may set, what a reserved
//! tag key may be, and the bindings a workspace may not set because a reserved key with
//! overrides disabled keeps its project's value.

use std::collections::BTreeSet;

use terrace_storage::model::TagBinding;

use crate::{validate, DomainError, DomainResult};

/// HCP Terraform's limit on the tag bindings one request sets on a workspace or project.
pub const MAX_BINDINGS: usize = 10;

fn invalid_at(pointer: &str, detail: String) -> DomainError {
    DomainError::Invalid {
        pointer: Some(pointer.to_string()),
        detail,
    }
}

/// At most [`MAX_BINDINGS`] keys in one request (`pointer` names where the list is).
pub fn binding_count(bindings: &[TagBinding], pointer: &str) -> DomainResult<()> {
    let keys: BTreeSet<&str> = bindings.iter().map(|b| b.key.as_str()).collect();
    if keys.len() > MAX_BINDINGS {
        return Err(invalid_at(
            pointer,
            format!(
                "Tag bindings cannot exceed {MAX_BINDINGS} bindings per resource ({} given)",
                keys.len()
            ),
        ));
    }
    Ok(())
}

/// A reserved key is a valid tag key, in HCP Terraform's words ("Key is invalid").
pub fn reserved_key(key: &str) -> DomainResult<()> {
    if key.is_empty() {
        return Err(DomainError::invalid("key", "Key can't be blank"));
    }
    validate::tag_key(key, "key").map_err(|e| match e {
        DomainError::Invalid { detail, .. } => {
            DomainError::invalid("key", format!("Key is invalid: {detail}"))
        }
        other => other,
    })
}

/// Refuses a binding in `own` that gives a key in `locked` (reserved with overrides disabled)
/// another value than the one its project binds. Keys the project does not bind stay free.
pub fn no_locked_overrides(
    own: &[TagBinding],
    project: &[TagBinding],
    locked: &[String],
    pointer: &str,
) -> DomainResult<()> {
    for binding in own {
        if !locked.contains(&binding.key) {
            continue;
        }
        if let Some(inherited) = project.iter().find(|p| p.key == binding.key) {
            if inherited.value != binding.value {
                return Err(invalid_at(
                    pointer,
                    format!(
                        "Tag key \"{}\" is reserved with overrides disabled: the workspace inherits \"{}\" from its project and cannot bind it to \"{}\"",
                        binding.key, inherited.value, binding.value
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(key: &str, value: &str) -> TagBinding {
        TagBinding {
            key: key.into(),
            value: value.into(),
        }
    }

    fn detail(result: DomainResult<()>) -> String {
        match result {
            Err(DomainError::Invalid { detail, .. }) => detail,
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn ten_bindings_pass_and_eleven_do_not() {
        let ten: Vec<TagBinding> = (0..10).map(|n| b(&format!("k{n}"), "")).collect();
        assert!(binding_count(&ten, "/data").is_ok());
        let mut eleven = ten.clone();
        eleven.push(b("k10", "v"));
        assert!(detail(binding_count(&eleven, "/data")).contains("cannot exceed 10"));
        // The same key twice is one binding.
        let mut repeated = ten;
        repeated.push(b("k0", "again"));
        assert!(binding_count(&repeated, "/data").is_ok());
    }

    #[test]
    fn reserved_keys_are_tag_keys() {
        assert!(reserved_key("cost-center").is_ok());
        assert!(detail(reserved_key("! / nope")).starts_with("Key is invalid"));
        assert!(detail(reserved_key("hc:owner")).starts_with("Key is invalid"));
        assert_eq!(detail(reserved_key("")), "Key can't be blank");
    }

    #[test]
    fn a_locked_key_keeps_the_project_value() {
        let project = vec![b("env", "prod"), b("team", "core")];
        let locked = vec!["env".to_string()];
        let refused = detail(no_locked_overrides(
            &[b("env", "dev")],
            &project,
            &locked,
            "/data",
        ));
        assert!(refused.contains("\"env\""), "{refused}");
        // A key-only tag is an override too.
        assert!(no_locked_overrides(&[b("env", "")], &project, &locked, "/data").is_err());
        // The same value, an unlocked key, or a key the project does not bind are free.
        for own in [b("env", "prod"), b("team", "edge"), b("region", "eu")] {
            assert!(no_locked_overrides(&[own], &project, &locked, "/data").is_ok());
        }
        // Without locked keys nothing is refused.
        assert!(no_locked_overrides(&[b("env", "dev")], &project, &[], "/data").is_ok());
    }
}
