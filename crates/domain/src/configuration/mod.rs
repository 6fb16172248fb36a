//! Configuration versions: the Terraform configuration a run executes, uploaded as a gzip'd
//! tarball to a signed URL, checked as it streams in (with `terrace_slug`, the reader the
//! runner unpacks it with), and kept encrypted in the blob store. Until a run uses it, an
//! uploaded version may be uploaded again: the new tarball replaces the old one whole.

mod chunks;
pub mod readme;
mod receive;

use bytes::Bytes;
use futures::Stream;
use terrace_auth::policy::Action;
use terrace_storage::blob::BlobStream;
use terrace_storage::model::{
    ConfigurationStatus, ConfigurationVersion, Page, PageRequest, UploadOutcome,
};
use terrace_storage::{clock, ids};

pub(crate) use receive::Received;

use crate::retention::{configuration_transition, BackingDataAction};
use crate::{state::workspace_prefix, Caller, DomainError, DomainResult, Services};

pub const CONFIGURATION_UPLOAD: &str = "configuration-upload";

/// Options of a new configuration version.
#[derive(Debug, Clone)]
pub struct NewConfiguration {
    /// Queue a run as soon as the upload completes.
    pub auto_queue_runs: bool,
    /// Runs of it are plan-only.
    pub speculative: bool,
    /// Not the workspace's current configuration (saved plans from the CLI).
    pub provisional: bool,
    pub source: String,
}

impl Default for NewConfiguration {
    fn default() -> Self {
        NewConfiguration {
            auto_queue_runs: true,
            speculative: false,
            provisional: false,
            source: "tfe-api".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConfigurationView {
    pub configuration: ConfigurationVersion,
    /// The upload capability, while the version is pending.
    pub upload: Option<String>,
}

/// Where an uploaded version's tarball is: the key its winning upload recorded, or (for
/// versions uploaded before keys were recorded) the one fixed key.
pub(crate) fn tarball_key(cv: &ConfigurationVersion) -> String {
    cv.tarball_key.clone().unwrap_or_else(|| {
        format!(
            "{}configuration-versions/{}.tar.gz",
            workspace_prefix(&cv.workspace_id),
            cv.id
        )
    })
}

/// A fresh key for one upload attempt: attempts racing on one URL never share a blob.
fn attempt_key(cv: &ConfigurationVersion) -> String {
    format!(
        "{}configuration-versions/{}/{}.tar.gz",
        workspace_prefix(&cv.workspace_id),
        cv.id,
        ids::random_string(16)
    )
}

impl Services {
    pub async fn create_configuration_version(
        &self,
        caller: &Caller,
        workspace_id: &str,
        new: NewConfiguration,
    ) -> DomainResult<ConfigurationView> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::QueueRun)
            .await?;
        let cv = ConfigurationVersion {
            id: ids::new_id(ids::CONFIGURATION_VERSION),
            workspace_id: ws.id,
            status: ConfigurationStatus::Pending,
            source: new.source,
            speculative: new.speculative,
            provisional: new.provisional,
            auto_queue_runs: new.auto_queue_runs,
            size: 0,
            error: None,
            error_message: None,
            created_at: clock::now(),
            uploaded_at: None,
            archived_at: None,
            tarball_key: None,
        };
        self.store.create_configuration_version(&cv).await?;
        Ok(self.configuration_view(cv, true))
    }

    pub async fn configuration_version(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<ConfigurationView> {
        let cv = self.configuration_for(caller, id, Action::ReadRuns).await?;
        Ok(self.configuration_view(cv, false))
    }

    /// The workspace's current configuration version, if it has one: its newest one that is
    /// not provisional.
    pub async fn list_configuration_versions(
        &self,
        caller: &Caller,
        workspace_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<ConfigurationView>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadRuns)
            .await?;
        let found = self.store.list_configuration_versions(&ws.id, page).await?;
        Ok(Page {
            items: found
                .items
                .into_iter()
                .map(|cv| self.configuration_view(cv, false))
                .collect(),
            total: found.total,
        })
    }

    /// The tarball of an uploaded version.
    pub async fn download_configuration(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<BlobStream> {
        let cv = self.configuration_for(caller, id, Action::ReadRuns).await?;
        self.configuration_tarball(&cv).await
    }

    pub(crate) async fn configuration_tarball(
        &self,
        cv: &ConfigurationVersion,
    ) -> DomainResult<BlobStream> {
        if cv.status != ConfigurationStatus::Uploaded {
            return Err(DomainError::NotFound("configuration"));
        }
        Ok(self.blobs.read(&tarball_key(cv)).await?)
    }

    /// Deletes an uploaded version's tarball, keeping the record.
    pub async fn archive_configuration_version(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<()> {
        let cv = self
            .configuration_for(caller, id, Action::UpdateWorkspace)
            .await?;
        let current = self
            .store
            .current_configuration_version(&cv.workspace_id)
            .await?;
        if current.is_some_and(|current| current.id == cv.id) {
            return Err(DomainError::Conflict(
                "transition not allowed: the configuration could not be archived because it is current"
                    .into(),
            ));
        }
        if !self
            .store
            .archive_configuration_version(&cv.id, clock::now())
            .await?
        {
            return Err(DomainError::Conflict(format!(
                "configuration version {} is {} and cannot be archived",
                cv.id, cv.status
            )));
        }
        self.blobs.delete(&tarball_key(&cv)).await?;
        Ok(())
    }

    /// Soft-deletes, restores or permanently deletes a version's backing data (its tarball),
    /// for workspace administrators. The workspace's current configuration and those
    /// unfinished runs use keep theirs.
    pub async fn configuration_backing_data(
        &self,
        caller: &Caller,
        id: &str,
        action: BackingDataAction,
    ) -> DomainResult<()> {
        let cv = self
            .configuration_for(caller, id, Action::UpdateWorkspace)
            .await?;
        let to = configuration_transition(cv.status, action)?;
        let current = self
            .store
            .current_configuration_version(&cv.workspace_id)
            .await?;
        if current.is_some_and(|current| current.id == cv.id) {
            return Err(DomainError::Conflict(
                "transition not allowed: the configuration version is the workspace's current one"
                    .into(),
            ));
        }
        if !self
            .store
            .transition_configuration_version(&cv.id, cv.status, to)
            .await?
        {
            return Err(DomainError::Conflict(format!(
                "transition not allowed: configuration version {} is used by a run that has not \
                 finished, or changed meanwhile",
                cv.id
            )));
        }
        if to == ConfigurationStatus::BackingDataPermanentlyDeleted {
            self.blobs.delete(&tarball_key(&cv)).await?;
        }
        Ok(())
    }

    /// Receives the tarball of a pending version through its signed upload URL. A tarball
    /// that is not gzip'd tar, reaches outside the configuration or is too large (compressed,
    /// or once unpacked) errors the version (a new one is needed); an interrupted upload
    /// leaves it pending.
    ///
    /// The chunks go to the blob store and, through a channel, to `terrace_slug::check` on a
    /// blocking thread; the upload succeeds only if both do.
    pub async fn upload_configuration<S, E>(&self, token: &str, body: S) -> DomainResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let id = self.redeem(token, CONFIGURATION_UPLOAD)?;
        let cv = self
            .store
            .configuration_version_by_id(&id)
            .await?
            .ok_or(DomainError::NotFound("configuration version"))?;
        // A second upload replaces an uploaded tarball, as long as no run uses it (checked
        // when the replacement is recorded).
        let replacing = match cv.status {
            ConfigurationStatus::Pending => false,
            ConfigurationStatus::Uploaded => true,
            status => {
                return Err(DomainError::Conflict(format!(
                    "configuration version {} is {status}: it cannot be uploaded again",
                    cv.id
                )))
            }
        };
        // Every attempt writes a blob of its own; the version's compare-and-set below names the
        // winner, and a loser deletes its blob, so a racing PUT of the same URL changes nothing.
        let key = attempt_key(&cv);
        let received = self
            .receive_checked_tarball(
                &key,
                body,
                self.settings.max_configuration_bytes,
                "configuration",
            )
            .await?;
        match received {
            Received::Stored { size } => {
                let outcome = UploadOutcome::Uploaded {
                    size: size as i64,
                    tarball_key: &key,
                };
                if replacing {
                    return self.replace_tarball(&cv, &key, outcome).await;
                }
                let done = self
                    .store
                    .finish_configuration_upload(&cv.id, outcome, clock::now())
                    .await;
                if !matches!(done, Ok(true)) {
                    if let Err(err) = self.blobs.delete(&key).await {
                        tracing::warn!(error = %err, "cannot delete a losing upload's tarball");
                    }
                }
                if !done? {
                    return Err(DomainError::Conflict(format!(
                        "configuration version {} was uploaded concurrently",
                        cv.id
                    )));
                }
                if cv.auto_queue_runs {
                    self.queue_run_for_configuration(&cv).await?;
                }
                Ok(())
            }
            Received::Transport(err) => Err(err),
            // The tarball already uploaded stays as it was.
            Received::Content(err) if replacing => Err(err),
            Received::Content(err) => {
                let message = err.to_string();
                let outcome = UploadOutcome::Errored { message: &message };
                self.store
                    .finish_configuration_upload(&cv.id, outcome, clock::now())
                    .await?;
                Err(err)
            }
        }
    }

    /// Records a second upload of an uploaded version (its tarball written at `key`) in
    /// place of the first, whose blob is then deleted. Refused, with the new blob deleted,
    /// once a run uses the version (a run's configuration never changes under it) or when
    /// another upload replaced it meanwhile.
    async fn replace_tarball(
        &self,
        cv: &ConfigurationVersion,
        key: &str,
        outcome: UploadOutcome<'_>,
    ) -> DomainResult<()> {
        let replaced = self
            .store
            .replace_configuration_tarball(&cv.id, cv.tarball_key.as_deref(), outcome, clock::now())
            .await;
        let (old, refused) = match replaced {
            Ok(true) => (tarball_key(cv), None),
            Ok(false) => (
                key.to_string(),
                Some(DomainError::Conflict(format!(
                    "configuration version {} is used by a run or was uploaded again meanwhile: \
                     it cannot be uploaded again",
                    cv.id
                ))),
            ),
            Err(err) => (key.to_string(), Some(err.into())),
        };
        if let Err(err) = self.blobs.delete(&old).await {
            tracing::warn!(error = %err, "cannot delete a replaced or refused tarball");
        }
        match refused {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    async fn configuration_for(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> DomainResult<ConfigurationVersion> {
        let cv = self
            .store
            .configuration_version_by_id(id)
            .await?
            .ok_or(DomainError::NotFound("configuration version"))?;
        self.workspace_id_for(caller, &cv.workspace_id, action)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound("configuration version"),
                other => other,
            })?;
        Ok(cv)
    }

    /// A version as the caller sees it: the upload URL of a pending one only in the answer to
    /// its creation (as HCP Terraform does; later reads never carry it).
    fn configuration_view(&self, cv: ConfigurationVersion, created: bool) -> ConfigurationView {
        let upload = (created && cv.status == ConfigurationStatus::Pending)
            .then(|| self.issue(CONFIGURATION_UPLOAD, &cv.id, self.settings.upload_url_ttl));
        ConfigurationView {
            configuration: cv,
            upload,
        }
    }
}
