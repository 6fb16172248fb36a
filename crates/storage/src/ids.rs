//! TFE-style identifiers: a type prefix and 16 random base62 characters (~95 bits), so IDs are
//! unguessable and never reveal creation order or counts.

use rand::{distr::Alphanumeric, RngExt};

pub const ORGANIZATION: &str = "org";
pub const USER: &str = "user";
pub const TEAM: &str = "team";
pub const MEMBERSHIP: &str = "ou";
pub const TEAM_WORKSPACE: &str = "tws";
pub const TEAM_PROJECT: &str = "tprj";
pub const TOKEN: &str = "at";
pub const PROJECT: &str = "prj";
pub const WORKSPACE: &str = "ws";
pub const TAG: &str = "tag";
pub const RESERVED_TAG_KEY: &str = "rtk";
pub const STATE_VERSION: &str = "sv";
pub const STATE_VERSION_OUTPUT: &str = "wsout";
pub const CONFIGURATION_VERSION: &str = "cv";
pub const VARIABLE: &str = "var";
pub const VARIABLE_SET: &str = "varset";
pub const RUN: &str = "run";
pub const PLAN: &str = "plan";
pub const APPLY: &str = "apply";
pub const RUN_EVENT: &str = "re";
pub const RUN_COMMENT: &str = "wsc";
pub const RUN_TRIGGER: &str = "rt";
pub const NOTIFICATION_CONFIGURATION: &str = "nc";
pub const SSH_KEY: &str = "sshkey";
pub const RUN_TASK: &str = "task";
pub const WORKSPACE_RUN_TASK: &str = "wstask";
pub const TASK_STAGE: &str = "ts";
pub const TASK_RESULT: &str = "taskrs";
pub const JOB: &str = "job";
pub const LISTENER: &str = "listener";
pub const AGENT_POOL: &str = "apool";
/// A catalogue entry (TFE: `tool-`), of either engine.
pub const TOOL_VERSION: &str = "tool";
/// A release archive in the binary cache.
pub const TOOL_ARCHIVE: &str = "toolarc";
pub const DATA_RETENTION_POLICY: &str = "drp";
pub const REGISTRY_MODULE: &str = "mod";
pub const REGISTRY_MODULE_VERSION: &str = "modver";
pub const GPG_KEY: &str = "gpgkey";
pub const REGISTRY_PROVIDER: &str = "prov";
pub const PROVIDER_VERSION: &str = "provver";
pub const PROVIDER_PLATFORM: &str = "provpltfrm";

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", random_string(16))
}

/// Random alphanumeric string from the OS-seeded CSPRNG.
pub fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_prefix_and_differ() {
        let a = new_id(WORKSPACE);
        let b = new_id(WORKSPACE);
        assert!(a.starts_with("ws-") && a.len() == 19);
        assert_ne!(a, b);
    }
}
