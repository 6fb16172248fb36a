//! Run tasks, their configuration side (HCP Terraform's `tasks` and `workspace-tasks`): an
//! organization's external services, and their attachments to workspaces at stages of runs
//! with an enforcement level. What a run does with them is `task_stages`'.
//!
//! Who may: an organization's tasks take "Manage Run Tasks" (owners, teams with
//! `manage-run-tasks`); attaching one to a workspace takes "Manage Workspace Run Tasks"
//! (workspace administrators, custom grants with `run-tasks`), and only a task of the
//! workspace's own organization (another's is "not found"); reading a workspace's
//! attachments takes reading the workspace.
//!
//! The URL is a tenant's choice the server will POST to, so it passes the notification
//! URLs' destination checks (`notifications::ssrf`), and, as in HCP, a test request must be
//! answered 200 before a task is stored or its URL changed. The HMAC key is write-only,
//! sealed with the keyring.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use terrace_auth::policy::Action;
use terrace_storage::model::{
    JsonText, Organization, Page, PageRequest, RunTask, TaskEnforcement, TaskStageName, Workspace,
    WorkspaceRunTask,
};
use terrace_storage::{clock, ids, StorageError};

use crate::notifications::delivery::Unsent;
use crate::notifications::{payload, ssrf};
use crate::{Caller, DomainError, DomainResult, Services};

const WHAT: &str = "run task";
const ATTACHMENT: &str = "workspace run task";
const MAX_NAME_CHARS: usize = 255;
const MAX_DESCRIPTION_CHARS: usize = 2000;
/// The only category HCP Terraform has.
pub const CATEGORY: &str = "task";
/// The stage of the test request sent when a task is created or its URL changes.
pub const TEST_STAGE: &str = "test";
/// The access token of the test request (HCP's; services recognize the test by it).
pub const TEST_ACCESS_TOKEN: &str = "test-token";

/// A task's attributes as a request gives them (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct RunTaskInput {
    pub name: Option<String>,
    pub url: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    /// Write-only; an empty key removes it (requests go unsigned).
    pub hmac_key: Option<String>,
    pub enabled: Option<bool>,
}

/// An attachment's attributes as a request gives them.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceRunTaskInput {
    /// The `task` relationship (creation only).
    pub task_id: Option<String>,
    pub enforcement_level: Option<String>,
    /// Deprecated single stage (HCP keeps accepting it); `stages` wins when both are given.
    pub stage: Option<String>,
    pub stages: Option<Vec<String>>,
}

/// Checks a task's name: as HCP, letters, numbers, `-` and `_`.
pub fn validate_name(name: &str) -> DomainResult<()> {
    if name.is_empty() {
        return Err(DomainError::invalid("name", "a run task needs a name"));
    }
    if name.chars().count() > MAX_NAME_CHARS
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(DomainError::invalid(
            "name",
            format!(
                "{name:?}: a run task's name is at most {MAX_NAME_CHARS} letters, numbers, \
                 - and _"
            ),
        ));
    }
    Ok(())
}

/// Checks a task's URL's form (where it points is checked against the site's destinations
/// separately): http or https, with a host, no credentials in it.
pub fn validate_url(url: &str) -> DomainResult<()> {
    if ssrf::host_and_port(url).is_none() {
        return Err(DomainError::invalid(
            "url",
            format!("{url:?} is not an http or https URL with a host"),
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| DomainError::invalid("url", e.to_string()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(DomainError::invalid(
            "url",
            "a run task's URL may not carry credentials (sign requests with hmac-key instead)",
        ));
    }
    Ok(())
}

/// Applies an input to a task (all of it on creation, what it names on update).
pub fn apply_input(task: &mut RunTask, input: &RunTaskInput, creating: bool) -> DomainResult<()> {
    if creating && input.name.is_none() {
        return Err(DomainError::invalid("name", "a run task needs a name"));
    }
    if creating && input.url.is_none() {
        return Err(DomainError::invalid("url", "a run task needs a url"));
    }
    if creating && input.category.is_none() {
        return Err(DomainError::invalid(
            "category",
            "category is required (\"task\")",
        ));
    }
    if let Some(name) = &input.name {
        validate_name(name)?;
        task.name = name.clone();
    }
    if let Some(url) = &input.url {
        validate_url(url)?;
        task.url = url.clone();
    }
    if let Some(category) = &input.category {
        if category != CATEGORY {
            return Err(DomainError::invalid(
                "category",
                format!("{category:?}: the only run task category is \"task\""),
            ));
        }
        task.category = category.clone();
    }
    if let Some(description) = &input.description {
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(DomainError::invalid(
                "description",
                format!("a run task's description is at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        task.description = description.clone();
    }
    if let Some(enabled) = input.enabled {
        task.enabled = enabled;
    }
    Ok(())
}

/// A second task of the same name in an organization (HCP's message).
fn name_taken(err: StorageError) -> DomainError {
    match err {
        StorageError::Conflict(_) => DomainError::invalid("name", "Name has already been taken"),
        other => other.into(),
    }
}

fn parse_enforcement(level: &str) -> DomainResult<TaskEnforcement> {
    level.parse().map_err(|_| {
        DomainError::invalid(
            "enforcement-level",
            format!("{level:?}: enforcement-level is advisory or mandatory"),
        )
    })
}

/// The stages an input names: `stages` (in the order given, each once), else the deprecated
/// `stage`; `None` when neither is given.
pub fn input_stages(input: &WorkspaceRunTaskInput) -> DomainResult<Option<Vec<TaskStageName>>> {
    let (names, attribute) = match (&input.stages, &input.stage) {
        (Some(stages), _) => (stages.clone(), "stages"),
        (None, Some(stage)) => (vec![stage.clone()], "stage"),
        (None, None) => return Ok(None),
    };
    if names.is_empty() {
        return Err(DomainError::invalid(
            attribute,
            "a workspace run task needs at least one stage",
        ));
    }
    let mut stages = Vec::new();
    for name in &names {
        let stage: TaskStageName = name.parse().map_err(|_| {
            DomainError::invalid(
                attribute,
                format!("{name:?}: a stage is pre_plan, post_plan, pre_apply or post_apply"),
            )
        })?;
        if !stages.contains(&stage) {
            stages.push(stage);
        }
    }
    Ok(Some(stages))
}

/// Applies an input to an attachment: on creation the enforcement level is required and the
/// stages default to `post_plan` (HCP's default).
pub fn apply_attachment_input(
    attachment: &mut WorkspaceRunTask,
    input: &WorkspaceRunTaskInput,
    creating: bool,
) -> DomainResult<()> {
    match &input.enforcement_level {
        Some(level) => attachment.enforcement_level = parse_enforcement(level)?,
        None if creating => {
            return Err(DomainError::invalid(
                "enforcement-level",
                "enforcement-level is required (advisory or mandatory)",
            ))
        }
        None => {}
    }
    match input_stages(input)? {
        Some(stages) => attachment.stages = JsonText(stages),
        None if creating => attachment.stages = JsonText(vec![TaskStageName::PostPlan]),
        None => {}
    }
    Ok(())
}

/// The body of the test request: a task request's fields, `stage: "test"` and the test
/// access token, nothing of any run.
pub fn verification_payload(organization: &str, now: DateTime<Utc>) -> serde_json::Value {
    json!({
        "payload_version": 1,
        "stage": TEST_STAGE,
        "access_token": TEST_ACCESS_TOKEN,
        "capabilities": {"outcomes": true},
        "configuration_version_download_url": "",
        "configuration_version_id": "",
        "is_speculative": false,
        "organization_name": organization,
        "run_app_url": "",
        "run_created_at": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "run_created_by": "",
        "run_id": "",
        "run_message": "",
        "task_result_callback_url": "",
        "task_result_enforcement_level": "",
        "task_result_id": "",
        "workspace_app_url": "",
        "workspace_id": "",
        "workspace_name": "",
    })
}

impl Services {
    async fn run_task_org(&self, caller: &Caller, name: &str) -> DomainResult<Organization> {
        Ok(self
            .organization_for(caller, name, Action::ManageRunTasks)
            .await?
            .0)
    }

    /// A task the caller may manage; another organization's is "not found".
    async fn run_task_for(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<(RunTask, Organization)> {
        let task = self
            .store
            .run_task_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let org = self
            .store
            .organization_by_id(&task.organization_id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        self.authorize(caller, &org, Action::ManageRunTasks, WHAT)
            .await?;
        Ok((task, org))
    }

    /// Sends the test request to the task's URL: the destination checked as notifications'
    /// are, signed with the task's key, and it must be answered 200.
    async fn verify_run_task(&self, task: &RunTask, org: &Organization) -> DomainResult<()> {
        self.check_destination(&task.url).await?;
        let body = serde_json::to_vec(&verification_payload(&org.name, clock::now()))
            .expect("JSON serializes");
        let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
        if let Some(sealed) = &task.hmac_key_ciphertext {
            let key = self.blobs.keyring().decrypt(sealed)?;
            headers.push((
                "X-TFC-Task-Signature".into(),
                payload::signature(&key, &body),
            ));
        }
        let why = match self.post_checked(&task.url, headers, body).await {
            Ok(answer) if answer.status == 200 => return Ok(()),
            Ok(answer) => format!("it answered {}", answer.status),
            Err(Unsent::Refused(why) | Unsent::Failed(why)) => why,
        };
        Err(DomainError::invalid(
            "url",
            format!(
                "the run task's URL did not accept the test request (a POST that must be \
                 answered 200): {why}"
            ),
        ))
    }

    pub async fn create_run_task(
        &self,
        caller: &Caller,
        organization: &str,
        input: RunTaskInput,
    ) -> DomainResult<(RunTask, Organization)> {
        let org = self.run_task_org(caller, organization).await?;
        let now = clock::now();
        let mut task = RunTask {
            id: ids::new_id(ids::RUN_TASK),
            organization_id: org.id.clone(),
            name: String::new(),
            url: String::new(),
            description: String::new(),
            category: CATEGORY.into(),
            hmac_key_ciphertext: None,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        apply_input(&mut task, &input, true)?;
        self.seal_hmac_key(&mut task, &input);
        self.verify_run_task(&task, &org).await?;
        self.store
            .create_run_task(&task)
            .await
            .map_err(name_taken)?;
        Ok((task, org))
    }

    fn seal_hmac_key(&self, task: &mut RunTask, input: &RunTaskInput) {
        if let Some(key) = &input.hmac_key {
            task.hmac_key_ciphertext =
                (!key.is_empty()).then(|| self.blobs.keyring().encrypt(key.as_bytes()));
        }
    }

    pub async fn list_run_tasks(
        &self,
        caller: &Caller,
        organization: &str,
        page: PageRequest,
    ) -> DomainResult<(Page<RunTask>, Organization)> {
        let org = self.run_task_org(caller, organization).await?;
        let page = self.store.list_run_tasks(&org.id, page).await?;
        Ok((page, org))
    }

    /// A task and its organization.
    pub async fn run_task(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<(RunTask, Organization)> {
        self.run_task_for(caller, id).await
    }

    /// Where a task is attached (for a caller who may manage it, as [`Self::run_task`]).
    pub async fn run_task_attachments(
        &self,
        task: &RunTask,
    ) -> DomainResult<Vec<WorkspaceRunTask>> {
        Ok(self.store.run_task_attachments(&task.id).await?)
    }

    /// Changes what the input names; a new URL (or key with it) is tested first.
    pub async fn update_run_task(
        &self,
        caller: &Caller,
        id: &str,
        input: RunTaskInput,
    ) -> DomainResult<(RunTask, Organization)> {
        let (mut task, org) = self.run_task_for(caller, id).await?;
        let old_url = task.url.clone();
        apply_input(&mut task, &input, false)?;
        self.seal_hmac_key(&mut task, &input);
        if task.url != old_url {
            self.verify_run_task(&task, &org).await?;
        }
        task.updated_at = clock::now();
        if !self
            .store
            .update_run_task(&task)
            .await
            .map_err(name_taken)?
        {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok((task, org))
    }

    /// Deletes the task and its attachments to workspaces.
    pub async fn delete_run_task(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let (task, _) = self.run_task_for(caller, id).await?;
        if !self.store.delete_run_task(&task.id).await? {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok(())
    }

    /// An attachment of the workspace (another workspace's is "not found").
    async fn attachment_for(
        &self,
        caller: &Caller,
        workspace_id: &str,
        id: &str,
        action: Action,
    ) -> DomainResult<(WorkspaceRunTask, Workspace)> {
        let (ws, _, _) = self.workspace_id_for(caller, workspace_id, action).await?;
        let attachment = self
            .store
            .workspace_run_task_by_id(id)
            .await?
            .filter(|a| a.workspace_id == ws.id)
            .ok_or(DomainError::NotFound(ATTACHMENT))?;
        Ok((attachment, ws))
    }

    /// Attaches a task of the workspace's organization to it.
    pub async fn create_workspace_run_task(
        &self,
        caller: &Caller,
        workspace_id: &str,
        input: WorkspaceRunTaskInput,
    ) -> DomainResult<WorkspaceRunTask> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::ManageWorkspaceRunTasks)
            .await?;
        let Some(task_id) = input.task_id.as_deref().filter(|t| !t.is_empty()) else {
            return Err(DomainError::Invalid {
                pointer: Some("/data/relationships/task/data/id".into()),
                detail: "a workspace run task needs the task relationship".into(),
            });
        };
        let task = self
            .store
            .run_task_by_id(task_id)
            .await?
            .filter(|t| t.organization_id == org.id)
            .ok_or(DomainError::NotFound(WHAT))?;
        let now = clock::now();
        let mut attachment = WorkspaceRunTask {
            id: ids::new_id(ids::WORKSPACE_RUN_TASK),
            workspace_id: ws.id,
            task_id: task.id,
            enforcement_level: TaskEnforcement::Advisory,
            stages: JsonText(Vec::new()),
            created_at: now,
            updated_at: now,
        };
        apply_attachment_input(&mut attachment, &input, true)?;
        self.store
            .create_workspace_run_task(&attachment)
            .await
            .map_err(|e| match e {
                StorageError::Conflict(_) => DomainError::Invalid {
                    pointer: Some("/data/relationships/task/data/id".into()),
                    detail: "this run task is already attached to the workspace".into(),
                },
                other => other.into(),
            })?;
        Ok(attachment)
    }

    pub async fn list_workspace_run_tasks(
        &self,
        caller: &Caller,
        workspace_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<WorkspaceRunTask>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::ReadWorkspace)
            .await?;
        Ok(self.store.list_workspace_run_tasks(&ws.id, page).await?)
    }

    pub async fn workspace_run_task(
        &self,
        caller: &Caller,
        workspace_id: &str,
        id: &str,
    ) -> DomainResult<WorkspaceRunTask> {
        Ok(self
            .attachment_for(caller, workspace_id, id, Action::ReadWorkspace)
            .await?
            .0)
    }

    pub async fn update_workspace_run_task(
        &self,
        caller: &Caller,
        workspace_id: &str,
        id: &str,
        input: WorkspaceRunTaskInput,
    ) -> DomainResult<WorkspaceRunTask> {
        let (mut attachment, _) = self
            .attachment_for(caller, workspace_id, id, Action::ManageWorkspaceRunTasks)
            .await?;
        apply_attachment_input(&mut attachment, &input, false)?;
        attachment.updated_at = clock::now();
        if !self.store.update_workspace_run_task(&attachment).await? {
            return Err(DomainError::NotFound(ATTACHMENT));
        }
        Ok(attachment)
    }

    pub async fn delete_workspace_run_task(
        &self,
        caller: &Caller,
        workspace_id: &str,
        id: &str,
    ) -> DomainResult<()> {
        let (attachment, _) = self
            .attachment_for(caller, workspace_id, id, Action::ManageWorkspaceRunTasks)
            .await?;
        if !self.store.delete_workspace_run_task(&attachment.id).await? {
            return Err(DomainError::NotFound(ATTACHMENT));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank_task() -> RunTask {
        let now = Utc::now();
        RunTask {
            id: "task-1".into(),
            organization_id: "org-1".into(),
            name: String::new(),
            url: String::new(),
            description: String::new(),
            category: CATEGORY.into(),
            hmac_key_ciphertext: None,
            enabled: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn blank_attachment() -> WorkspaceRunTask {
        let now = Utc::now();
        WorkspaceRunTask {
            id: "wstask-1".into(),
            workspace_id: "ws-1".into(),
            task_id: "task-1".into(),
            enforcement_level: TaskEnforcement::Advisory,
            stages: JsonText(Vec::new()),
            created_at: now,
            updated_at: now,
        }
    }

    fn pointer(err: DomainError) -> Option<String> {
        match err {
            DomainError::Invalid { pointer, .. } => pointer,
            other => panic!("not invalid: {other:?}"),
        }
    }

    fn input(name: &str, url: &str, category: &str) -> RunTaskInput {
        RunTaskInput {
            name: Some(name.into()),
            url: Some(url.into()),
            category: Some(category.into()),
            ..Default::default()
        }
    }

    #[test]
    fn names_are_letters_numbers_dashes_and_underscores() {
        validate_name("tst-runtask_1").unwrap();
        for bad in ["", "has space", "dot.ted", "slash/y", &"n".repeat(256)] {
            assert_eq!(
                pointer(validate_name(bad).unwrap_err()).as_deref(),
                Some("/data/attributes/name"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn urls_are_http_or_https_without_credentials() {
        validate_url("https://tasks.example.com/hook").unwrap();
        validate_url("http://127.0.0.1:8080/").unwrap();
        for bad in [
            "ftp://tasks.example.com/",
            "tasks.example.com",
            "https://",
            "https://user:pw@tasks.example.com/",
        ] {
            assert_eq!(
                pointer(validate_url(bad).unwrap_err()).as_deref(),
                Some("/data/attributes/url"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn creation_needs_name_url_and_the_task_category() {
        let mut task = blank_task();
        apply_input(&mut task, &input("t", "https://x.example/", "task"), true).unwrap();
        assert_eq!(
            (task.name.as_str(), task.url.as_str()),
            ("t", "https://x.example/")
        );
        let missing = RunTaskInput {
            name: Some("t".into()),
            category: Some("task".into()),
            ..Default::default()
        };
        assert_eq!(
            pointer(apply_input(&mut blank_task(), &missing, true).unwrap_err()).as_deref(),
            Some("/data/attributes/url")
        );
        let err = apply_input(&mut blank_task(), &input("t", "https://x/", "policy"), true);
        assert_eq!(
            pointer(err.unwrap_err()).as_deref(),
            Some("/data/attributes/category")
        );
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let mut task = blank_task();
        apply_input(&mut task, &input("t", "https://x.example/", "task"), true).unwrap();
        let update = RunTaskInput {
            enabled: Some(false),
            description: Some("checks".into()),
            ..Default::default()
        };
        apply_input(&mut task, &update, false).unwrap();
        assert_eq!(task.name, "t");
        assert_eq!(task.url, "https://x.example/");
        assert!(!task.enabled);
        assert_eq!(task.description, "checks");
    }

    #[test]
    fn stages_come_from_stages_or_the_deprecated_stage_defaulting_to_post_plan() {
        let mut a = blank_attachment();
        let create = WorkspaceRunTaskInput {
            enforcement_level: Some("mandatory".into()),
            ..Default::default()
        };
        apply_attachment_input(&mut a, &create, true).unwrap();
        assert_eq!(a.stages.0, vec![TaskStageName::PostPlan]);
        assert_eq!(a.enforcement_level, TaskEnforcement::Mandatory);

        let both = WorkspaceRunTaskInput {
            stage: Some("post_apply".into()),
            stages: Some(vec![
                "pre_plan".into(),
                "post_plan".into(),
                "pre_plan".into(),
            ]),
            ..Default::default()
        };
        apply_attachment_input(&mut a, &both, false).unwrap();
        assert_eq!(
            a.stages.0,
            vec![TaskStageName::PrePlan, TaskStageName::PostPlan]
        );
        assert_eq!(a.enforcement_level, TaskEnforcement::Mandatory);

        let deprecated = WorkspaceRunTaskInput {
            stage: Some("pre_apply".into()),
            ..Default::default()
        };
        apply_attachment_input(&mut a, &deprecated, false).unwrap();
        assert_eq!(a.stages.0, vec![TaskStageName::PreApply]);
    }

    #[test]
    fn bad_levels_and_stages_name_their_attribute() {
        let no_level = WorkspaceRunTaskInput::default();
        assert_eq!(
            pointer(apply_attachment_input(&mut blank_attachment(), &no_level, true).unwrap_err())
                .as_deref(),
            Some("/data/attributes/enforcement-level")
        );
        let bad_level = WorkspaceRunTaskInput {
            enforcement_level: Some("strict".into()),
            ..Default::default()
        };
        assert_eq!(
            pointer(
                apply_attachment_input(&mut blank_attachment(), &bad_level, false).unwrap_err()
            )
            .as_deref(),
            Some("/data/attributes/enforcement-level")
        );
        for (stage, stages, attribute) in [
            (None, Some(vec![]), "stages"),
            (None, Some(vec!["after".to_string()]), "stages"),
            (Some("test".to_string()), None, "stage"),
        ] {
            let bad = WorkspaceRunTaskInput {
                stage,
                stages,
                ..Default::default()
            };
            assert_eq!(
                pointer(apply_attachment_input(&mut blank_attachment(), &bad, false).unwrap_err()),
                Some(format!("/data/attributes/{attribute}"))
            );
        }
    }

    #[test]
    fn the_test_request_is_recognizable_and_names_no_run() {
        let body = verification_payload("acme", Utc::now());
        assert_eq!(body["payload_version"], 1);
        assert_eq!(body["stage"], "test");
        assert_eq!(body["access_token"], "test-token");
        assert_eq!(body["organization_name"], "acme");
        assert_eq!(body["run_id"], "");
    }
}
