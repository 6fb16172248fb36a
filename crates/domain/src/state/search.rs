//! Which workspaces manage a resource ("who has `aws_s3_bucket.logs`?"): a search over the
//! current state of every workspace of an organization whose state versions the caller may
//! read. It reads the resource summaries kept with each version (addresses, types,
//! providers, instance counts), never a state's attributes, so no value, sensitive or not,
//! is searched or shown.

use terrace_auth::policy::{Access, Action};
use terrace_storage::model::{Page, PageRequest, ResourceSummary};

use crate::access::allows;
use crate::{Caller, DomainResult, Services};

#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMatch {
    pub workspace: String,
    /// `module.net.aws_s3_bucket.logs`, `data.aws_ami.base`
    pub address: String,
    pub provider: String,
    pub instances: u64,
}

/// A resource block's address as terraform writes it.
pub fn address(resource: &ResourceSummary) -> String {
    block_address(
        &resource.module,
        &resource.mode,
        &resource.kind,
        &resource.name,
    )
}

/// `module.net.data.aws_ami.base` from a state's `module` (empty or `root` outside modules),
/// `mode`, `type` and `name`.
pub fn block_address(module: &str, mode: &str, kind: &str, name: &str) -> String {
    let mut address = String::new();
    if module != "root" && !module.is_empty() {
        address.push_str(module);
        address.push('.');
    }
    if mode == "data" {
        address.push_str("data.");
    }
    address.push_str(kind);
    address.push('.');
    address.push_str(name);
    address
}

/// Whether `resource` is what `query` asks for: a part of its address (which holds its
/// type), or of its provider, in any case.
pub fn matches(resource: &ResourceSummary, query: &str) -> bool {
    let query = query.trim().to_lowercase();
    !query.is_empty()
        && (address(resource).to_lowercase().contains(&query)
            || resource.provider.to_lowercase().contains(&query))
}

impl Services {
    /// A page of the resources matching `query` in the current state of the organization's
    /// workspaces whose state the caller may read, by workspace name then address, with how
    /// many match in all.
    pub async fn search_resources(
        &self,
        caller: &Caller,
        org_name: &str,
        query: &str,
        page: PageRequest,
    ) -> DomainResult<Page<ResourceMatch>> {
        let (org, _) = self
            .organization_for(caller, org_name, Action::ReadOrganization)
            .await?;
        let standing = self.standing(caller, &org).await?;
        // One query for every visible workspace's current resources; of each, the caller
        // needs only whether it may read its state.
        let visible = standing.visible_to_teams();
        // Every match is found (and sorted) before the page is cut; only the page's are
        // made into rows.
        let mut found: Vec<(&str, String, &ResourceSummary)> = Vec::new();
        let currents = self
            .store
            .current_resources(&org.id, visible.as_deref())
            .await?;
        let placed: Vec<(String, String)> = currents
            .iter()
            .map(|c| (c.workspace_id.clone(), c.project_id.clone()))
            .collect();
        let access = self.workspaces_access(&standing, &placed).await?;
        for current in &currents {
            let access = access
                .get(&current.workspace_id)
                .copied()
                .unwrap_or(Access::NONE);
            if !allows(access, Action::ReadStateVersions) {
                continue;
            }
            found.extend(
                current
                    .resources
                    .0
                    .iter()
                    .filter(|r| matches(r, query))
                    .map(|r| (current.workspace_name.as_str(), address(r), r)),
            );
        }
        found.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let total = found.len() as u64;
        let items = found
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.size as usize)
            .map(|(workspace, address, r)| ResourceMatch {
                workspace: workspace.to_string(),
                address,
                provider: r.provider.clone(),
                instances: r.count,
            })
            .collect();
        Ok(Page { items, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(module: &str, mode: &str, kind: &str, name: &str) -> ResourceSummary {
        ResourceSummary {
            mode: mode.into(),
            kind: kind.into(),
            name: name.into(),
            module: module.into(),
            provider: "provider[\"registry.terraform.io/hashicorp/aws\"]".into(),
            count: 1,
            instance_keys: None,
        }
    }

    #[test]
    fn addresses_are_terraforms() {
        assert_eq!(
            address(&resource("root", "managed", "aws_s3_bucket", "logs")),
            "aws_s3_bucket.logs"
        );
        assert_eq!(
            address(&resource("module.net", "data", "aws_ami", "base")),
            "module.net.data.aws_ami.base"
        );
    }

    #[test]
    fn a_query_matches_a_part_of_the_address_or_the_provider_in_any_case() {
        let logs = resource("module.store", "managed", "aws_s3_bucket", "logs");
        for query in [
            "aws_s3_bucket.logs",
            "S3_BUCKET",
            "store.aws",
            "hashicorp/aws",
        ] {
            assert!(matches(&logs, query), "{query}");
        }
        for query in ["", "  ", "aws_s3_bucket.data", "google"] {
            assert!(!matches(&logs, query), "{query:?}");
        }
    }
}
