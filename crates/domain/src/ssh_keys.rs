//! SSH keys (HCP Terraform's `ssh-keys`): private keys of an organization that runs use for
//! `git::ssh://` module sources. The value is write-only: sealed with the keyring when
//! written, never returned, and opened only for a running job of a workspace it is assigned
//! to (`job_ssh_key`), which writes it into its own job directory.
//!
//! Who may: managing keys takes `manage-vcs-settings` (owners have it); seeing them, that or
//! administering workspaces (HCP: admin access to a workspace, to pick its key); organization
//! tokens may not (as in HCP). Assigning one takes administering the workspace, and only a key
//! of the workspace's own organization (another's is "not found").

use terrace_auth::policy::{allows, Action};
use terrace_storage::model::{Organization, Page, PageRequest, SshKey};
use terrace_storage::{clock, ids};

use crate::caller::Principal;
use crate::{Caller, DomainError, DomainResult, Services};

/// The largest value accepted: an RSA 16384-bit key in PEM is about 12 KiB.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
const MAX_NAME_CHARS: usize = 255;
const WHAT: &str = "ssh key";
const VALUE: &str = "/data/attributes/value";
const NAME: &str = "/data/attributes/name";

fn invalid(pointer: &str, detail: impl Into<String>) -> DomainError {
    DomainError::Invalid {
        pointer: Some(pointer.into()),
        detail: detail.into(),
    }
}

/// Checks a key's name: present, one line, bounded.
pub fn validate_name(name: &str) -> DomainResult<()> {
    if name.trim().is_empty() {
        return Err(invalid(NAME, "an SSH key needs a name"));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.contains(['\n', '\r']) {
        return Err(invalid(
            NAME,
            format!("an SSH key's name is one line of at most {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Checks a key's value. A PEM or OpenSSH armoured value must be a whole private key (a
/// public key or a truncated paste is the usual mistake, refused here rather than at the
/// next `terraform init`). Other text is accepted as HCP Terraform does (go-tfe's own tests
/// create keys with random strings); ssh then fails on it at init, naming the key file.
pub fn validate_value(value: &str) -> DomainResult<()> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(invalid(VALUE, "an SSH key needs a value (the private key)"));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(invalid(
            VALUE,
            format!("an SSH key's value is at most {MAX_VALUE_BYTES} bytes"),
        ));
    }
    if value.contains('\0') {
        return Err(invalid(VALUE, "an SSH key's value is text"));
    }
    let public = ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"];
    if public.iter().any(|p| trimmed.starts_with(p)) || trimmed.contains("PUBLIC KEY-----") {
        return Err(invalid(
            VALUE,
            "this is a public key: an SSH key's value is the private key \
             (-----BEGIN OPENSSH PRIVATE KEY----- ...)",
        ));
    }
    if trimmed.contains("-----BEGIN") {
        let Some(label) = pem_label(trimmed) else {
            return Err(invalid(
                VALUE,
                "an SSH key's value must be one whole private key in PEM or OpenSSH format",
            ));
        };
        if !label.ends_with("PRIVATE KEY") {
            return Err(invalid(
                VALUE,
                format!("an SSH key's value must be a private key, not a {label}"),
            ));
        }
    }
    Ok(())
}

/// The label of a single PEM block spanning the whole text (`OPENSSH PRIVATE KEY`), if the
/// text is exactly that: matching BEGIN and END lines with a body between.
fn pem_label(text: &str) -> Option<&str> {
    let first = text.lines().next()?.trim();
    let last = text.lines().last()?.trim();
    let label = first.strip_prefix("-----BEGIN ")?.strip_suffix("-----")?;
    let end = last.strip_prefix("-----END ")?.strip_suffix("-----")?;
    (label == end && text.lines().count() > 2).then_some(label)
}

impl Services {
    /// The organization, if the caller may see (`manage: false`) or manage its SSH keys.
    async fn ssh_key_organization(
        &self,
        caller: &Caller,
        org: Organization,
        manage: bool,
    ) -> DomainResult<Organization> {
        if matches!(caller.principal, Principal::Organization { .. }) {
            return Err(DomainError::Forbidden(
                "SSH keys cannot be managed with an organization token (as in HCP Terraform): \
                 use a user or team token"
                    .into(),
            ));
        }
        let access = self.access(caller, &org).await?;
        let sees = allows(access, Action::ManageVcsSettings)
            || (!manage && access.organization.manage_workspaces);
        if !sees {
            crate::access::check(access, Action::ManageVcsSettings, &org, "organization")?;
        }
        Ok(org)
    }

    async fn ssh_key_org_by_name(
        &self,
        caller: &Caller,
        name: &str,
        manage: bool,
    ) -> DomainResult<Organization> {
        let org = self
            .store
            .organization_by_name(name)
            .await?
            .ok_or(DomainError::NotFound("organization"))?;
        self.ssh_key_organization(caller, org, manage).await
    }

    /// A key the caller may see (or manage); another organization's is "not found".
    async fn ssh_key_for(&self, caller: &Caller, id: &str, manage: bool) -> DomainResult<SshKey> {
        let key = self
            .store
            .ssh_key_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let org = self
            .store
            .organization_by_id(&key.organization_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        self.ssh_key_organization(caller, org, manage)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound(WHAT),
                other => other,
            })?;
        Ok(key)
    }

    pub async fn create_ssh_key(
        &self,
        caller: &Caller,
        organization: &str,
        name: Option<&str>,
        value: Option<&str>,
    ) -> DomainResult<SshKey> {
        let org = self.ssh_key_org_by_name(caller, organization, true).await?;
        let name = name.unwrap_or_default();
        validate_name(name)?;
        let value = value.unwrap_or_default();
        validate_value(value)?;
        let now = clock::now();
        let key = SshKey {
            id: ids::new_id(ids::SSH_KEY),
            organization_id: org.id,
            name: name.to_string(),
            value_ciphertext: self.blobs.keyring().encrypt(value.as_bytes()),
            created_at: now,
            updated_at: now,
        };
        self.store.create_ssh_key(&key).await?;
        Ok(key)
    }

    pub async fn list_ssh_keys(
        &self,
        caller: &Caller,
        organization: &str,
        page: PageRequest,
    ) -> DomainResult<Page<SshKey>> {
        let org = self
            .ssh_key_org_by_name(caller, organization, false)
            .await?;
        Ok(self.store.list_ssh_keys(&org.id, page).await?)
    }

    pub async fn ssh_key(&self, caller: &Caller, id: &str) -> DomainResult<SshKey> {
        self.ssh_key_for(caller, id, false).await
    }

    /// Renames the key and/or replaces its value (absent attributes are kept).
    pub async fn update_ssh_key(
        &self,
        caller: &Caller,
        id: &str,
        name: Option<&str>,
        value: Option<&str>,
    ) -> DomainResult<SshKey> {
        let mut key = self.ssh_key_for(caller, id, true).await?;
        if let Some(name) = name {
            validate_name(name)?;
            key.name = name.to_string();
        }
        if let Some(value) = value {
            validate_value(value)?;
            key.value_ciphertext = self.blobs.keyring().encrypt(value.as_bytes());
        }
        key.updated_at = clock::now();
        if !self.store.update_ssh_key(&key).await? {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok(key)
    }

    /// Deletes the key; workspaces it was assigned to are left without one (HCP's behaviour).
    pub async fn delete_ssh_key(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let key = self.ssh_key_for(caller, id, true).await?;
        if !self.store.delete_ssh_key(&key.id).await? {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok(())
    }

    /// Assigns a key of the workspace's organization to it (`Some`), or unassigns (`None`).
    pub async fn set_workspace_ssh_key(
        &self,
        caller: &Caller,
        workspace_id: &str,
        ssh_key_id: Option<&str>,
    ) -> DomainResult<crate::workspaces::WorkspaceView> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::UpdateWorkspace)
            .await?;
        if let Some(key_id) = ssh_key_id {
            let key = self
                .store
                .ssh_key_by_id(key_id)
                .await?
                .filter(|k| k.organization_id == org.id)
                .ok_or(DomainError::NotFound(WHAT))?;
            self.store
                .set_workspace_ssh_key(&ws.id, Some(&key.id))
                .await?;
        } else {
            self.store.set_workspace_ssh_key(&ws.id, None).await?;
        }
        self.workspace(caller, &crate::access::WorkspaceRef::Id(ws.id))
            .await
    }

    /// The private key of the caller's running job's workspace, if one is assigned: only the
    /// job's own token, only while the job runs.
    pub async fn job_ssh_key(&self, caller: &Caller) -> DomainResult<Option<String>> {
        let (_, _, ws) = self.current_job(caller).await?;
        let Some(key_id) = ws.ssh_key_id.as_deref() else {
            return Ok(None);
        };
        let Some(key) = self.store.ssh_key_by_id(key_id).await? else {
            return Ok(None);
        };
        let plaintext = self.blobs.keyring().decrypt(&key.value_ciphertext)?;
        String::from_utf8(plaintext)
            .map(Some)
            .map_err(|_| DomainError::Invalid {
                pointer: None,
                detail: "the workspace's SSH key is not text".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSH: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\n\
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
        -----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn a_private_key_is_accepted() {
        validate_value(OPENSSH).unwrap();
        validate_value(&OPENSSH.replace('\n', "\r\n")).unwrap();
        let rsa = OPENSSH.replace("OPENSSH PRIVATE KEY", "RSA PRIVATE KEY");
        validate_value(&rsa).unwrap();
    }

    #[test]
    fn public_keys_and_broken_pastes_are_refused() {
        for bad in [
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG user@host",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
            "",
            "  \n",
            "a\0b",
        ] {
            let err = validate_value(bad).unwrap_err();
            assert!(
                matches!(&err, DomainError::Invalid { pointer: Some(p), .. } if p == VALUE),
                "{bad:?}: {err:?}"
            );
        }
        assert!(validate_value(&"x".repeat(MAX_VALUE_BYTES + 1)).is_err());
    }

    #[test]
    fn opaque_values_are_kept_as_hcp_does() {
        // go-tfe's suite creates keys whose value is a random string.
        validate_value("4d0f6d6a-3d5e-4c55-8a3c-0f5b0c1f2b7e").unwrap();
    }

    #[test]
    fn a_name_is_one_bounded_line() {
        validate_name("deploy").unwrap();
        assert!(validate_name("").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_name(&"n".repeat(256)).is_err());
    }
}
