//! Validation of names and values that arrive from clients, with messages that say what is
//! allowed. Every check returns a [`DomainError::Invalid`] pointing at the attribute.

use crate::{DomainError, DomainResult};

fn check(ok: bool, attribute: &str, detail: impl FnOnce() -> String) -> DomainResult<()> {
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(attribute, detail()))
    }
}

fn chars_ok(value: &str, extra: &[u8]) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Organization names: 1-64 letters, digits, `-`, `_` and `.`, starting with a letter or digit.
pub fn organization_name(name: &str) -> DomainResult<()> {
    check(
        (1..=64).contains(&name.len())
            && chars_ok(name, b"-_.")
            && name.starts_with(|c: char| c.is_ascii_alphanumeric()),
        "name",
        || {
            format!("\"{name}\" is not a valid organization name: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit")
        },
    )
}

/// Workspace names: 1-90 letters, digits, `-` and `_`.
pub fn workspace_name(name: &str) -> DomainResult<()> {
    check(
        (1..=90).contains(&name.len()) && chars_ok(name, b"-_"),
        "name",
        || {
            format!(
                "\"{name}\" is not a valid workspace name: use 1-90 letters, digits, '-' or '_'"
            )
        },
    )
}

/// Agent pool names: 1-90 letters, digits, `-`, `_` and `.` (what go-tfe accepts).
pub fn agent_pool_name(name: &str) -> DomainResult<()> {
    check(
        (1..=90).contains(&name.len()) && chars_ok(name, b"-_."),
        "name",
        || {
            format!("\"{name}\" is not a valid agent pool name: use 1-90 letters, digits, '-', '_' or '.'")
        },
    )
}

/// Project names: 3-40 letters, digits, spaces, `-` and `_`, not starting or ending with a space.
pub fn project_name(name: &str) -> DomainResult<()> {
    check(
        (3..=40).contains(&name.chars().count())
            && chars_ok(name, b" -_")
            && !name.starts_with(' ')
            && !name.ends_with(' '),
        "name",
        // TFE's wording, which clients match: "Name may only contain".
        || {
            format!("Name may only contain letters, digits, spaces, '-' and '_', be 3-40 characters long and not start or end with a space (got \"{name}\")")
        },
    )
}

/// Tag keys and flat tag names: 1-128 letters, digits and `_ . = + - @ :`.
pub fn tag_key(key: &str, attribute: &str) -> DomainResult<()> {
    check(
        (1..=128).contains(&key.len()) && chars_ok(key, b"_.=+-@:"),
        attribute,
        || format!("\"{key}\" is not a valid tag: use 1-128 letters, digits or _ . = + - @ :"),
    )?;
    check(
        !key.starts_with("hc:") && !key.starts_with("hcp:"),
        attribute,
        || format!("tag \"{key}\" uses a reserved prefix (hc: or hcp:)"),
    )
}

/// Tag values: up to 256 letters, digits, spaces and `_ . = + - @ : /`.
pub fn tag_value(value: &str) -> DomainResult<()> {
    check(
        value.len() <= 256 && chars_ok(value, b"_.=+-@:/ "),
        "value",
        || {
            format!("\"{value}\" is not a valid tag value: use up to 256 letters, digits, spaces or _ . = + - @ : /")
        },
    )
}

pub fn email(email: &str) -> DomainResult<()> {
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
                && !email.contains(char::is_control)
        }
        None => false,
    };
    check(valid && email.len() <= 254, "email", || {
        format!("\"{email}\" is not a valid email address")
    })
}

/// A Terraform version for a workspace: `latest`, an exact version (`1.11.4`,
/// `1.12.0-beta1`) or a constraint (`~> 1.11.0`, `>= 1.5, < 2.0`).
pub fn terraform_version(value: &str) -> DomainResult<()> {
    check(
        value == "latest" || is_version_constraint(value),
        "terraform-version",
        || {
            format!("\"{value}\" is not a Terraform version: use latest, an exact version like 1.11.4 or a constraint like ~> 1.11.0")
        },
    )
}

fn is_version_constraint(value: &str) -> bool {
    !value.trim().is_empty()
        && value.split(',').all(|clause| {
            let clause = clause.trim();
            let version = ["~>", ">=", "<=", "!=", ">", "<", "="]
                .iter()
                .find_map(|op| clause.strip_prefix(op))
                .map(str::trim_start)
                .unwrap_or(clause);
            let exact = version.len() == clause.len();
            is_version(version, exact)
        })
}

/// `MAJOR.MINOR.PATCH[-pre]`; with `exact` false, MINOR and PATCH may be omitted.
fn is_version(version: &str, exact: bool) -> bool {
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let count_ok = if exact {
        parts.len() == 3
    } else {
        (1..=3).contains(&parts.len())
    };
    count_ok
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(|p| !p.is_empty() && chars_ok(p, b".-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(organization_name("acme-corp_1.x").is_ok());
        for bad in ["", "-lead", "with space", "slash/", "ünï", &"a".repeat(65)] {
            assert!(organization_name(bad).is_err(), "{bad}");
        }
        assert!(workspace_name("app-prod_2").is_ok());
        assert!(workspace_name("app.prod").is_err());
        assert!(project_name("Default Project").is_ok());
        assert!(project_name("ab").is_err());
        assert!(project_name(" lead").is_err());
    }

    #[test]
    fn tags_and_emails() {
        assert!(tag_key("env:prod", "key").is_ok());
        assert!(tag_key("hc:reserved", "key").is_err());
        assert!(tag_key("has space", "key").is_err());
        assert!(tag_value("").is_ok());
        assert!(email("a@b.co").is_ok());
        for bad in ["notamailaddress", "a@b", "@b.co", "a b@c.de"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn terraform_versions() {
        for ok in [
            "latest",
            "1.11.4",
            "0.10.0",
            "1.12.0-beta1",
            "~> 1.11.0",
            ">= 1.5, < 2.0",
            "= 1.2.3",
        ] {
            assert!(terraform_version(ok).is_ok(), "{ok}");
        }
        for bad in ["nonexisting", "1.2", "", "1.2.x", "~>", ">= 1.5,", "v1.2.3"] {
            assert!(terraform_version(bad).is_err(), "{bad}");
        }
    }
}
