//! State versions. The rules, as HCP Terraform applies them:
//! - only the holder of the workspace lock writes state;
//! - without `force`, a serial below the current one is refused (412), and the same serial
//!   with other content or another lineage conflicts (409);
//! - a version is `pending` until its state is uploaded (to a signed URL, or inline) and
//!   verified against its MD5; only then does it become the workspace's current state, so an
//!   interrupted or corrupt upload never replaces good state.
//!
//! State passes through in chunks: it is hashed, scanned ([`scan`]) and encrypted on its
//! way to the blob store without ever being held whole.

pub mod diff;
pub mod outputs;
pub mod resources;
pub mod scan;
pub mod search;

use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use terrace_auth::policy::{Access, Action};
use terrace_storage::blob::BlobStream;
use terrace_storage::model::{
    Page, PageRequest, ResourceSummary, StateSummary, StateVersion, StateVersionOutput,
    StateVersionStatus, Workspace,
};
use terrace_storage::{clock, ids};

use self::outputs::{open_output, open_outputs, seal_outputs, OutputView};
use self::resources::{workspace_resources, WorkspaceResource};
use self::scan::{ScannedState, StateScanner};
use crate::access::{allows, WorkspaceRef};
use crate::retention::{state_transition, BackingDataAction};
use crate::{Caller, DomainError, DomainResult, Services};

pub const STATE_UPLOAD: &str = "state-upload";
pub const JSON_STATE_UPLOAD: &str = "json-state-upload";

/// Where a workspace's blobs live; deleting the prefix deletes them all.
pub fn workspace_prefix(workspace_id: &str) -> String {
    format!("workspaces/{workspace_id}/")
}

/// Where an organization's own blobs live (its registry's), all removed with it.
pub fn organization_prefix(organization_id: &str) -> String {
    format!("organizations/{organization_id}/")
}

fn state_key(sv: &StateVersion) -> String {
    format!(
        "{}state-versions/{}/state",
        workspace_prefix(&sv.workspace_id),
        sv.id
    )
}

fn json_state_key(sv: &StateVersion) -> String {
    format!(
        "{}state-versions/{}/json-state",
        workspace_prefix(&sv.workspace_id),
        sv.id
    )
}

/// A create request. Binary attributes are base64 as they arrive.
#[derive(Debug, Clone, Default)]
pub struct NewStateVersion {
    pub serial: i64,
    pub md5: String,
    pub lineage: Option<String>,
    pub force: bool,
    pub state: Option<String>,
    pub json_state: Option<String>,
    pub json_state_outputs: Option<String>,
    pub run_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StateVersionView {
    pub state_version: StateVersion,
    /// The resource blocks recorded as the version was finalized (the first 10,000).
    pub resources: Vec<ResourceSummary>,
    pub outputs: Vec<OutputView>,
    /// Capability tokens for the uploads, while the version is pending.
    pub upload: Option<UploadTokens>,
}

#[derive(Debug, Clone)]
pub struct UploadTokens {
    pub state: String,
    pub json_state: String,
}

/// The largest state [`Services::state_diff`] compares (read whole into memory).
pub const MAX_DIFFED_STATE: u64 = 32 << 20;

impl Services {
    pub async fn create_state_version(
        &self,
        caller: &Caller,
        workspace_id: &str,
        new: NewStateVersion,
    ) -> DomainResult<StateVersionView> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::CreateStateVersion)
            .await?;
        self.insert_state_version(caller, &ws, new).await
    }

    /// Creates a state version for a caller allowed to write the workspace's state: a user
    /// through the API, or a runner whose run holds the workspace.
    pub(crate) async fn insert_state_version(
        &self,
        caller: &Caller,
        ws: &Workspace,
        new: NewStateVersion,
    ) -> DomainResult<StateVersionView> {
        self.require_lock(caller, ws).await?;
        if new.serial < 0 {
            return Err(DomainError::invalid("serial", "must not be negative"));
        }
        let md5 = new.md5.to_ascii_lowercase();
        if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DomainError::invalid(
                "md5",
                "must be the hex MD5 of the state (32 characters)",
            ));
        }
        if let Some(run_id) = &new.run_id {
            // A version names a run of its own workspace, or none: never another tenant's.
            let belongs = self
                .store
                .run_by_id(run_id)
                .await?
                .is_some_and(|run| run.workspace_id == ws.id);
            if !belongs {
                return Err(DomainError::Invalid {
                    pointer: Some("/data/relationships/run".into()),
                    detail: format!("{run_id} is not a run of this workspace"),
                });
            }
        }
        if !new.force {
            self.check_succession(ws, new.serial, &md5, new.lineage.as_deref())
                .await?;
        }
        let state = decode_base64(new.state.as_deref(), "state")?;
        let json_state = decode_base64(new.json_state.as_deref(), "json-state")?;
        let json_outputs = decode_base64(new.json_state_outputs.as_deref(), "json-state-outputs")?;
        if let Some(bytes) = &state {
            // Inline state is checked before anything is written.
            if hex::encode(Md5::digest(bytes)) != md5 {
                return Err(md5_mismatch());
            }
            scan::scan(bytes).map_err(|e| DomainError::invalid("state", e.to_string()))?;
        }
        let sv = StateVersion {
            id: ids::new_id(ids::STATE_VERSION),
            workspace_id: ws.id.clone(),
            serial: new.serial,
            lineage: new.lineage,
            md5,
            size: 0,
            status: StateVersionStatus::Pending,
            json_state_uploaded: false,
            terraform_version: None,
            resource_count: 0,
            run_id: new.run_id,
            created_by: caller.user().map(|u| u.id.clone()),
            created_at: clock::now(),
        };
        let sealed = match &json_outputs {
            Some(json) => seal_outputs(json, &sv.id, self.blobs.keyring(), "json-state-outputs")?,
            None => Vec::new(),
        };
        self.store.create_state_version(&sv, &sealed).await?;
        if let Some(bytes) = json_state {
            self.blobs.put(&json_state_key(&sv), &bytes).await?;
            self.store.mark_json_state_uploaded(&sv.id).await?;
        }
        if let Some(bytes) = state {
            self.ingest_state(
                &sv,
                futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]),
            )
            .await?;
        }
        self.state_version_view(self.load_state_version(&sv.id).await?, true)
            .await
    }

    /// Only the lock holder writes state.
    async fn require_lock(&self, caller: &Caller, ws: &Workspace) -> DomainResult<()> {
        match ws.lock_holder() {
            None => Err(DomainError::Conflict(
                "This workspace is not locked and will only accept state uploads when locked"
                    .into(),
            )),
            Some(holder) if Some(&holder) != caller.lock_holder().as_ref() => {
                let holder = self.describe_holder(Some(&holder)).await?;
                Err(DomainError::Conflict(format!(
                    "This workspace is locked by {holder} and will only accept state uploads from them while locked."
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// Refuses a state that does not follow the current one.
    async fn check_succession(
        &self,
        ws: &Workspace,
        serial: i64,
        md5: &str,
        lineage: Option<&str>,
    ) -> DomainResult<()> {
        let Some(current_id) = &ws.current_state_version_id else {
            return Ok(());
        };
        let current = self.load_state_version(current_id).await?;
        if serial < current.serial {
            return Err(DomainError::PreconditionFailed(format!(
                "The serial provided in the state file ({serial}) is not greater than the serial currently known remotely ({}). This means that there may be an update performed since your version of that state. Update to the latest state to resolve conflicts and try again",
                current.serial
            )));
        }
        if serial == current.serial && md5 != current.md5 {
            return Err(DomainError::Conflict(format!(
                "The MD5 hash of the state provided does not match what is currently known for the same serial number ({serial})"
            )));
        }
        if let (Some(new), Some(known)) = (lineage, current.lineage.as_deref()) {
            if new != known {
                return Err(DomainError::Conflict(format!(
                    "The lineage provided in the state file ({new}) does not match the value currently known by Terrace ({known}). This means that the provided state is most likely not related to the target workspace. Check that the backend configuration is correct and try again."
                )));
            }
        }
        Ok(())
    }

    /// Receives the raw state for a pending version through its signed upload URL.
    pub async fn upload_state<S, E>(&self, token: &str, body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = self.redeem(token, STATE_UPLOAD)?;
        let sv = self.load_state_version(&id).await?;
        if sv.status != StateVersionStatus::Pending {
            return Err(DomainError::Conflict(format!(
                "state version {} is {}: its state cannot be uploaded again",
                sv.id, sv.status
            )));
        }
        self.ingest_state(&sv, body).await
    }

    /// Receives the JSON representation of a version's state (`terraform show -json`).
    pub async fn upload_json_state<S, E>(&self, token: &str, mut body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = self.redeem(token, JSON_STATE_UPLOAD)?;
        let sv = self.load_state_version(&id).await?;
        if !matches!(
            sv.status,
            StateVersionStatus::Pending | StateVersionStatus::Finalized
        ) || sv.json_state_uploaded
        {
            return Err(DomainError::Conflict(format!(
                "state version {} does not accept a JSON state upload any more",
                sv.id
            )));
        }
        let mut writer = self.blobs.writer(&json_state_key(&sv)).await?;
        let mut scanner = StateScanner::new();
        let received: DomainResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| DomainError::Interrupted(e.to_string()))?;
                self.check_size(writer.size() + chunk.len() as u64)?;
                scanner
                    .feed(&chunk)
                    .map_err(|e| DomainError::bad_request(e.to_string()))?;
                writer.write(&chunk).await?;
            }
            scanner
                .finish()
                .map_err(|e| DomainError::bad_request(e.to_string()))?;
            Ok(())
        }
        .await;
        if let Err(err) = received {
            writer.abort().await;
            return Err(err);
        }
        writer.finish().await?;
        self.store.mark_json_state_uploaded(&sv.id).await?;
        Ok(())
    }

    fn check_size(&self, size: u64) -> DomainResult<()> {
        if size > self.settings.max_state_bytes {
            return Err(DomainError::TooLarge(format!(
                "state is larger than the server's limit of {} bytes",
                self.settings.max_state_bytes
            )));
        }
        Ok(())
    }

    /// Streams a pending version's state into the blob store, verifies it and finalizes the
    /// version. On any failure the blob is abandoned and the version stays pending.
    async fn ingest_state<S, E>(&self, sv: &StateVersion, mut body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let mut writer = self.blobs.writer(&state_key(sv)).await?;
        let mut hasher = Md5::new();
        let mut scanner = StateScanner::new();
        let received: DomainResult<ScannedState> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| DomainError::Interrupted(e.to_string()))?;
                self.check_size(writer.size() + chunk.len() as u64)?;
                hasher.update(&chunk);
                scanner
                    .feed(&chunk)
                    .map_err(|e| DomainError::bad_request(e.to_string()))?;
                writer.write(&chunk).await?;
            }
            if hex::encode(hasher.finalize()) != sv.md5 {
                return Err(md5_mismatch());
            }
            scanner
                .finish()
                .map_err(|e| DomainError::bad_request(e.to_string()))
        }
        .await;
        let scanned = match received {
            Ok(scanned) => scanned,
            Err(err) => {
                writer.abort().await;
                return Err(err);
            }
        };
        let size = writer.finish().await?;
        self.observer
            .state_bytes(crate::observe::Direction::In, size);
        let outputs = match (
            &scanned.outputs_json,
            self.store.state_version_outputs(&sv.id).await?.is_empty(),
        ) {
            (Some(json), true) => Some(seal_outputs(json, &sv.id, self.blobs.keyring(), "state")?),
            _ => None,
        };
        let summary = StateSummary {
            size: size as i64,
            terraform_version: scanned.terraform_version,
            resource_count: scanned.managed_resources as i64,
            resources: scanned.resources,
            outputs,
        };
        if !self.store.finalize_state_version(&sv.id, &summary).await? {
            return Err(DomainError::Conflict(format!(
                "state version {} was superseded while its state was uploading",
                sv.id
            )));
        }
        self.discard_stale_saved_plans(&sv.workspace_id).await
    }

    /// The raw state of a state version (for runners).
    pub(crate) async fn state_blob(&self, id: &str) -> DomainResult<BlobStream> {
        let sv = self.load_state_version(id).await?;
        Ok(self.blobs.read(&state_key(&sv)).await?)
    }

    /// Streams `body` into blob `key` with no checks but a size limit.
    pub(crate) async fn write_blob<S, E>(
        &self,
        key: &str,
        mut body: S,
        max: u64,
    ) -> DomainResult<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let mut writer = self.blobs.writer(key).await?;
        let received: DomainResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| DomainError::Interrupted(e.to_string()))?;
                if writer.size() + chunk.len() as u64 > max {
                    return Err(DomainError::TooLarge(format!(
                        "larger than the limit of {max} bytes"
                    )));
                }
                writer.write(&chunk).await?;
            }
            Ok(())
        }
        .await;
        if let Err(err) = received {
            writer.abort().await;
            return Err(err);
        }
        Ok(writer.finish().await?)
    }

    pub async fn state_version(&self, caller: &Caller, id: &str) -> DomainResult<StateVersionView> {
        let (sv, access) = self
            .state_version_access(caller, id, Action::ReadStateVersions)
            .await?;
        self.state_version_view(sv, allows(access, Action::CreateStateVersion))
            .await
    }

    pub async fn current_state_version(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
    ) -> DomainResult<StateVersionView> {
        let (ws, _, access) = self
            .workspace_for(caller, workspace, Action::ReadStateVersions)
            .await?;
        let id = ws
            .current_state_version_id
            .ok_or(DomainError::NotFound("state version"))?;
        self.state_version_view(
            self.load_state_version(&id).await?,
            allows(access, Action::CreateStateVersion),
        )
        .await
    }

    pub async fn list_state_versions(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
        page: PageRequest,
    ) -> DomainResult<Page<StateVersionView>> {
        let (ws, _, access) = self
            .workspace_for(caller, workspace, Action::ReadStateVersions)
            .await?;
        let writer = allows(access, Action::CreateStateVersion);
        let found = self.store.list_state_versions(&ws.id, page).await?;
        Ok(Page {
            items: self.state_version_views(found.items, writer).await?,
            total: found.total,
        })
    }

    /// What changed from the state version `older` to `newer`, both of one workspace (see
    /// [`diff::diff`]: addresses and attribute names, no values). States larger than
    /// [`MAX_DIFFED_STATE`] are not compared.
    pub async fn state_diff(
        &self,
        caller: &Caller,
        older: &str,
        newer: &str,
    ) -> DomainResult<diff::StateDiff> {
        let (old, new) = (
            self.state_version_for(caller, older, Action::ReadStateVersions)
                .await?,
            self.state_version_for(caller, newer, Action::ReadStateVersions)
                .await?,
        );
        if old.workspace_id != new.workspace_id {
            return Err(DomainError::NotFound("state version"));
        }
        let (old, new) = (
            self.parsed_state(&old).await?,
            self.parsed_state(&new).await?,
        );
        Ok(diff::diff(&old, &new))
    }

    async fn parsed_state(&self, sv: &StateVersion) -> DomainResult<serde_json::Value> {
        if sv.status != StateVersionStatus::Finalized {
            return Err(DomainError::NotFound("state"));
        }
        if sv.size.max(0) as u64 > MAX_DIFFED_STATE {
            return Err(DomainError::TooLarge(format!(
                "state serial {} is larger than the {MAX_DIFFED_STATE} bytes compared here",
                sv.serial
            )));
        }
        let mut blob = self.blobs.read(&state_key(sv)).await?;
        let mut bytes = Vec::with_capacity(sv.size.max(0) as usize);
        while let Some(chunk) = futures::StreamExt::next(&mut blob).await {
            bytes.extend_from_slice(&chunk?);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            DomainError::bad_request(format!("state serial {} does not parse: {e}", sv.serial))
        })
    }

    /// The raw state of a finalized version.
    pub async fn download_state(&self, caller: &Caller, id: &str) -> DomainResult<BlobStream> {
        let sv = self
            .state_version_for(caller, id, Action::ReadStateVersions)
            .await?;
        if sv.status != StateVersionStatus::Finalized {
            return Err(DomainError::NotFound("state"));
        }
        Ok(self.counted_out(self.blobs.read(&state_key(&sv)).await?))
    }

    /// `stream`, its bytes counted as state sent as they go.
    pub(crate) fn counted_out(&self, stream: BlobStream) -> BlobStream {
        let observer = self.observer.clone();
        stream
            .inspect_ok(move |chunk| {
                observer.state_bytes(crate::observe::Direction::Out, chunk.len() as u64)
            })
            .boxed()
    }

    pub async fn download_json_state(&self, caller: &Caller, id: &str) -> DomainResult<BlobStream> {
        let sv = self
            .state_version_for(caller, id, Action::ReadStateVersions)
            .await?;
        if !sv.json_state_uploaded || sv.status != StateVersionStatus::Finalized {
            return Err(DomainError::NotFound("JSON state"));
        }
        Ok(self.blobs.read(&json_state_key(&sv)).await?)
    }

    /// Soft-deletes, restores or permanently deletes a version's backing data (its state and
    /// JSON state), for workspace administrators. The workspace's current state keeps its.
    pub async fn state_backing_data(
        &self,
        caller: &Caller,
        id: &str,
        action: BackingDataAction,
    ) -> DomainResult<()> {
        let (sv, _) = self
            .state_version_access(caller, id, Action::UpdateWorkspace)
            .await?;
        let ws = self
            .store
            .workspace_by_id(&sv.workspace_id)
            .await?
            .ok_or(DomainError::NotFound("state version"))?;
        if ws.current_state_version_id.as_deref() == Some(sv.id.as_str()) {
            return Err(DomainError::Conflict(
                "transition not allowed: the state version is the workspace's current state".into(),
            ));
        }
        let to = state_transition(sv.status, action)?;
        if !self
            .store
            .transition_state_version(&sv.id, sv.status, to)
            .await?
        {
            return Err(DomainError::Conflict(format!(
                "transition not allowed: state version {} changed meanwhile",
                sv.id
            )));
        }
        if to == StateVersionStatus::BackingDataPermanentlyDeleted {
            self.blobs.delete(&state_key(&sv)).await?;
            if sv.json_state_uploaded {
                self.blobs.delete(&json_state_key(&sv)).await?;
            }
        }
        Ok(())
    }

    /// The managed resource instances of the workspace's current state (none without one),
    /// a page of them, with the state version they were read from.
    pub async fn workspace_resources(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
        page: PageRequest,
    ) -> DomainResult<(Page<WorkspaceResource>, Option<StateVersion>)> {
        let (ws, _, _) = self
            .workspace_for(caller, workspace, Action::ReadStateVersions)
            .await?;
        let Some(id) = ws.current_state_version_id else {
            return Ok((
                Page {
                    items: Vec::new(),
                    total: 0,
                },
                None,
            ));
        };
        let sv = self.load_state_version(&id).await?;
        let all = workspace_resources(&ws.id, &self.store.state_version_resources(&id).await?);
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.size as usize)
            .collect();
        Ok((Page { items, total }, Some(sv)))
    }

    /// Outputs of the workspace's current state; sensitive values withheld.
    pub async fn current_state_outputs(
        &self,
        caller: &Caller,
        workspace: &WorkspaceRef,
    ) -> DomainResult<Vec<OutputView>> {
        let (ws, _, _) = self
            .workspace_for(caller, workspace, Action::ReadStateOutputs)
            .await?;
        let id = ws
            .current_state_version_id
            .ok_or(DomainError::NotFound("state version"))?;
        self.read_outputs(&id, false).await
    }

    /// The outputs of one state version, sensitive values included: HCP Terraform shows them
    /// here to whoever may read state outputs, as it does for one output read by ID (only the
    /// workspace's `current-state-version-outputs` hides them).
    pub async fn state_version_outputs(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<Vec<OutputView>> {
        let sv = self
            .state_version_for(caller, id, Action::ReadStateOutputs)
            .await?;
        self.read_outputs(&sv.id, true).await
    }

    /// One output, with its value even if sensitive.
    pub async fn state_version_output(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<OutputView> {
        let output = self
            .store
            .state_version_output_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("state version output"))?;
        self.state_version_for(caller, &output.state_version_id, Action::ReadStateOutputs)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound("state version output"),
                other => other,
            })?;
        open_output(output, self.blobs.keyring(), true)
    }

    /// One version's outputs, read and opened.
    async fn read_outputs(
        &self,
        state_version_id: &str,
        reveal_sensitive: bool,
    ) -> DomainResult<Vec<OutputView>> {
        let outputs = self.store.state_version_outputs(state_version_id).await?;
        open_outputs(outputs, self.blobs.keyring(), reveal_sensitive)
    }

    /// Makes an earlier version current again, as a new version whose state is the old one's
    /// with the serial moved past the current serial (so clients accept it as newest).
    pub async fn rollback_state_version(
        &self,
        caller: &Caller,
        workspace_id: &str,
        target_id: &str,
    ) -> DomainResult<StateVersionView> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::CreateStateVersion)
            .await?;
        self.require_lock(caller, &ws).await?;
        let target = self.load_state_version(target_id).await?;
        // Another workspace's version is "not found", like one that does not exist: its ID
        // must not be confirmable from outside its organization.
        if target.workspace_id != ws.id {
            return Err(DomainError::NotFound("state version"));
        }
        if target.status != StateVersionStatus::Finalized {
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/rollback-state-version".into()),
                detail: format!(
                    "state version {target_id} is not a finalized version of this workspace"
                ),
            });
        }
        let current_id = ws
            .current_state_version_id
            .clone()
            .ok_or(DomainError::NotFound("state version"))?;
        let current = self.load_state_version(&current_id).await?;
        let mut sv = StateVersion {
            id: ids::new_id(ids::STATE_VERSION),
            serial: current.serial + 1,
            status: StateVersionStatus::Pending,
            json_state_uploaded: false,
            created_by: caller.user().map(|u| u.id.clone()),
            created_at: clock::now(),
            ..target.clone()
        };
        let (size, md5) = self.copy_with_serial(&target, &sv).await?;
        sv.md5 = md5;
        let outputs: Vec<StateVersionOutput> = self
            .store
            .state_version_outputs(&target.id)
            .await?
            .into_iter()
            .map(|o| StateVersionOutput {
                id: ids::new_id(ids::STATE_VERSION_OUTPUT),
                state_version_id: sv.id.clone(),
                ..o
            })
            .collect();
        self.store.create_state_version(&sv, &outputs).await?;
        let summary = StateSummary {
            size,
            terraform_version: target.terraform_version.clone(),
            resource_count: target.resource_count,
            resources: self.store.state_version_resources(&target.id).await?,
            outputs: None,
        };
        self.store.finalize_state_version(&sv.id, &summary).await?;
        self.state_version_view(self.load_state_version(&sv.id).await?, true)
            .await
    }

    /// Copies `from`'s state to `to`'s blob, rewriting the serial; returns size and MD5.
    async fn copy_with_serial(
        &self,
        from: &StateVersion,
        to: &StateVersion,
    ) -> DomainResult<(i64, String)> {
        /// The serial comes first in every state Terraform writes; give up if it is not found
        /// within this many bytes rather than buffer a whole state.
        const HEAD_LIMIT: usize = 1 << 20;
        let mut source = self.blobs.read(&state_key(from)).await?;
        let mut writer = self.blobs.writer(&state_key(to)).await?;
        let mut hasher = Md5::new();
        let mut scanner = StateScanner::new();
        let mut head: Vec<u8> = Vec::new();
        let mut spliced = false;
        let copied: DomainResult<()> = async {
            while let Some(chunk) = source.next().await {
                let chunk = chunk?;
                if spliced {
                    hasher.update(&chunk);
                    writer.write(&chunk).await?;
                    continue;
                }
                scanner
                    .feed(&chunk)
                    .map_err(|e| DomainError::Conflict(e.to_string()))?;
                head.extend_from_slice(&chunk);
                if let Some((start, end)) = scanner.found().serial_span {
                    let mut out = head[..start as usize].to_vec();
                    out.extend_from_slice(to.serial.to_string().as_bytes());
                    out.extend_from_slice(&head[end as usize..]);
                    hasher.update(&out);
                    writer.write(&out).await?;
                    spliced = true;
                } else if head.len() > HEAD_LIMIT {
                    break;
                }
            }
            if !spliced {
                return Err(DomainError::Conflict(format!(
                    "state version {} has no serial near its start and cannot be rolled back to",
                    from.id
                )));
            }
            Ok(())
        }
        .await;
        if let Err(err) = copied {
            writer.abort().await;
            return Err(err);
        }
        let size = writer.finish().await?;
        Ok((size as i64, hex::encode(hasher.finalize())))
    }

    async fn load_state_version(&self, id: &str) -> DomainResult<StateVersion> {
        self.store
            .state_version_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("state version"))
    }

    /// Loads a state version and authorizes `action` on its workspace.
    async fn state_version_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<StateVersion> {
        Ok(self.state_version_access(caller, id, action).await?.0)
    }

    /// [`state_version_for`](Self::state_version_for), with the caller's access.
    async fn state_version_access(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<(StateVersion, Access)> {
        let sv = self.load_state_version(id).await?;
        let (_, _, access) = self
            .workspace_id_for(caller, &sv.workspace_id, action)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound("state version"),
                other => other,
            })?;
        Ok((sv, access))
    }

    /// A version as the caller sees it (see [`Self::state_version_views`]).
    async fn state_version_view(
        &self,
        sv: StateVersion,
        writer: bool,
    ) -> DomainResult<StateVersionView> {
        let mut views = self.state_version_views(vec![sv], writer).await?;
        Ok(views.pop().expect("one view of one version"))
    }

    /// Versions as the caller sees them, with their outputs and resources read for all of
    /// them at once (a page of versions costs two reads, not two per version): the upload
    /// URLs of a pending one only for those who may write state.
    async fn state_version_views(
        &self,
        versions: Vec<StateVersion>,
        writer: bool,
    ) -> DomainResult<Vec<StateVersionView>> {
        let ids: Vec<String> = versions.iter().map(|sv| sv.id.clone()).collect();
        let mut outputs = self.store.outputs_of_state_versions(&ids).await?;
        // A pending version has no resources yet: not read.
        let finalized: Vec<String> = versions
            .iter()
            .filter(|sv| sv.status != StateVersionStatus::Pending)
            .map(|sv| sv.id.clone())
            .collect();
        let mut resources = self.store.resources_of_state_versions(&finalized).await?;
        versions
            .into_iter()
            .map(|sv| {
                let outputs = outputs.remove(&sv.id).unwrap_or_default();
                let outputs = open_outputs(outputs, self.blobs.keyring(), false)?;
                let pending = sv.status == StateVersionStatus::Pending;
                let upload = (writer && pending).then(|| UploadTokens {
                    state: self.issue(STATE_UPLOAD, &sv.id, self.settings.upload_url_ttl),
                    json_state: self.issue(JSON_STATE_UPLOAD, &sv.id, self.settings.upload_url_ttl),
                });
                Ok(StateVersionView {
                    resources: resources.remove(&sv.id).unwrap_or_default(),
                    state_version: sv,
                    outputs,
                    upload,
                })
            })
            .collect()
    }
}

fn decode_base64(value: Option<&str>, attribute: &str) -> DomainResult<Option<Vec<u8>>> {
    value
        .map(|text| {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| DomainError::invalid(attribute, format!("is not valid base64: {e}")))
        })
        .transpose()
}

fn md5_mismatch() -> DomainError {
    DomainError::invalid(
        "md5",
        "The MD5 parameter passed does not match the MD5 of the provided state",
    )
}
