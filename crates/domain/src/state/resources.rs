//! Workspace resources (HCP Terraform's `GET /workspaces/:id/resources`): one entry per
//! instance of a managed resource in the workspace's current state, read from the summary
//! recorded when that state was uploaded, so the state itself is never read again.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use terrace_storage::model::{InstanceKey, ResourceSummary};

/// One managed resource instance, as HCP Terraform describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceResource {
    /// Stable for the same address in the same workspace: `wsr-` and a hash of both.
    pub id: String,
    /// `module_name.type.name[key]`: the module path without its `module.` words, as HCP
    /// Terraform writes it.
    pub address: String,
    pub name: String,
    /// The module path (`a.b` for `module.a.module.b`), `root` outside modules.
    pub module: String,
    /// `namespace/type` (`hashicorp/aws`) for a registry provider, the full source otherwise.
    pub provider: String,
    /// The provider's type (`aws`).
    pub provider_type: String,
    /// The instance key as text (`0`, `eu`), `None` for a block without `count`/`for_each`.
    pub name_index: Option<String>,
}

/// The instances of the managed resources in `summaries`, in state order (those whose keys
/// the scan kept). A summary recorded before instance keys were kept lists its block once,
/// without a key, when it has instances.
pub fn workspace_resources(
    workspace_id: &str,
    summaries: &[ResourceSummary],
) -> Vec<WorkspaceResource> {
    let mut out = Vec::new();
    for summary in summaries.iter().filter(|s| s.mode == "managed") {
        let keys: Vec<Option<&InstanceKey>> = match &summary.instance_keys {
            Some(keys) => keys.iter().map(Option::as_ref).collect(),
            None if summary.count > 0 => vec![None],
            None => Vec::new(),
        };
        let module = module_path(&summary.module);
        let (provider, provider_type) = provider_names(&summary.provider);
        for key in keys {
            let mut address = String::new();
            if module != "root" {
                let _ = write!(address, "{module}.");
            }
            let _ = write!(address, "{}.{}", summary.kind, summary.name);
            match key {
                Some(InstanceKey::Index(i)) => {
                    let _ = write!(address, "[{i}]");
                }
                Some(InstanceKey::Key(k)) => {
                    let _ = write!(address, "[{}]", serde_json::Value::from(k.as_str()));
                }
                None => {}
            }
            out.push(WorkspaceResource {
                id: resource_id(workspace_id, &address),
                name_index: key.map(|k| match k {
                    InstanceKey::Index(i) => i.to_string(),
                    InstanceKey::Key(k) => k.clone(),
                }),
                address,
                name: summary.name.clone(),
                module: module.clone(),
                provider: provider.clone(),
                provider_type: provider_type.clone(),
            });
        }
    }
    out
}

/// `module.a.module.b` → `a.b`, `module.a[0]` → `a[0]`; `root` stays.
fn module_path(module: &str) -> String {
    match module.strip_prefix("module.") {
        Some(path) => path.replace(".module.", "."),
        None if module.is_empty() => "root".into(),
        None => module.to_string(),
    }
}

/// `provider["registry.terraform.io/hashicorp/aws"]` (or with an alias, `.west`) →
/// (`hashicorp/aws`, `aws`). Another host keeps its full source.
fn provider_names(provider: &str) -> (String, String) {
    let source = provider
        .strip_prefix("provider[\"")
        .and_then(|rest| rest.split_once("\"]"))
        .map_or(provider, |(source, _)| source);
    let short = source
        .strip_prefix("registry.terraform.io/")
        .or_else(|| source.strip_prefix("registry.opentofu.org/"))
        .unwrap_or(source);
    let kind = source.rsplit('/').next().unwrap_or(source);
    (short.to_string(), kind.to_string())
}

fn resource_id(workspace_id: &str, address: &str) -> String {
    let digest = Sha256::new()
        .chain_update(workspace_id.as_bytes())
        .chain_update([0])
        .chain_update(address.as_bytes())
        .finalize();
    format!("wsr-{}", &hex::encode(digest)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(
        mode: &str,
        module: &str,
        count: u64,
        keys: Option<Vec<Option<InstanceKey>>>,
    ) -> ResourceSummary {
        ResourceSummary {
            mode: mode.into(),
            kind: "aws_s3_bucket_public_access_block".into(),
            name: "this".into(),
            module: module.into(),
            provider: "provider[\"registry.terraform.io/hashicorp/aws\"]".into(),
            count,
            instance_keys: keys,
        }
    }

    #[test]
    fn one_entry_per_managed_instance_with_hcp_addresses() {
        let found = workspace_resources(
            "ws-1",
            &[
                summary(
                    "managed",
                    "module.media_bucket",
                    1,
                    Some(vec![Some(InstanceKey::Index(0))]),
                ),
                summary("data", "root", 1, Some(vec![None])),
                summary(
                    "managed",
                    "root",
                    2,
                    Some(vec![
                        Some(InstanceKey::Key("eu".into())),
                        Some(InstanceKey::Key("us".into())),
                    ]),
                ),
                summary("managed", "module.a.module.b", 1, Some(vec![None])),
            ],
        );
        let addresses: Vec<&str> = found.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "media_bucket.aws_s3_bucket_public_access_block.this[0]",
                "aws_s3_bucket_public_access_block.this[\"eu\"]",
                "aws_s3_bucket_public_access_block.this[\"us\"]",
                "a.b.aws_s3_bucket_public_access_block.this",
            ],
            "data sources are not listed"
        );
        let first = &found[0];
        assert_eq!(first.module, "media_bucket");
        assert_eq!(first.provider, "hashicorp/aws");
        assert_eq!(first.provider_type, "aws");
        assert_eq!(first.name_index.as_deref(), Some("0"));
        assert_eq!(found[1].name_index.as_deref(), Some("eu"));
        assert_eq!(found[1].module, "root");
        assert_eq!(found[3].name_index, None);
    }

    #[test]
    fn ids_are_stable_per_workspace_and_address() {
        let s = [summary("managed", "root", 1, Some(vec![None]))];
        assert_eq!(
            workspace_resources("ws-1", &s)[0].id,
            workspace_resources("ws-1", &s)[0].id
        );
        assert_ne!(
            workspace_resources("ws-1", &s)[0].id,
            workspace_resources("ws-2", &s)[0].id
        );
        assert!(workspace_resources("ws-1", &s)[0].id.starts_with("wsr-"));
    }

    #[test]
    fn summaries_without_keys_list_their_block_once_and_kept_keys_are_all_listed() {
        let found = workspace_resources(
            "ws-1",
            &[
                summary("managed", "root", 3, None),
                summary("managed", "root", 0, None),
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name_index, None);
        // Recorded, but beyond what the scan kept: only the kept instances, never a guess.
        let found = workspace_resources(
            "ws-1",
            &[
                summary(
                    "managed",
                    "root",
                    3,
                    Some(vec![Some(InstanceKey::Index(0))]),
                ),
                summary("managed", "root", 2, Some(vec![])),
            ],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].address,
            "aws_s3_bucket_public_access_block.this[0]"
        );
    }

    #[test]
    fn providers_and_modules_of_every_shape() {
        assert_eq!(
            provider_names("provider[\"registry.terraform.io/hashicorp/aws\"].west"),
            ("hashicorp/aws".into(), "aws".into())
        );
        assert_eq!(
            provider_names("provider[\"example.com/acme/thing\"]"),
            ("example.com/acme/thing".into(), "thing".into())
        );
        assert_eq!(module_path("module.a[0].module.b"), "a[0].b");
        assert_eq!(module_path("root"), "root");
    }
}
