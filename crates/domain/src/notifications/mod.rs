//! Notification configurations (HCP Terraform's `notification-configurations`): a workspace
//! tells a receiver (a generic webhook, Slack, Microsoft Teams, or e-mail) when its runs reach
//! the states it subscribes to. The storage writes one outbox row per configuration and
//! trigger in the transaction that changes a run's status ([`RunStatus::notification_trigger`]);
//! [`delivery`] delivers them. Reading and changing configurations takes administering the
//! workspace (HCP's rule: their URLs, a Slack webhook's for one, are secrets of their own).
//!
//! [`RunStatus::notification_trigger`]: terrace_storage::model::RunStatus::notification_trigger

pub mod delivery;
pub mod email;
pub mod payload;
pub mod ssrf;

use terrace_auth::policy::Action;
use terrace_storage::model::{
    JsonText, NotificationConfiguration, Organization, Page, PageRequest, Workspace,
};
use terrace_storage::{clock, ids};

use crate::{Caller, DomainError, DomainResult, Services};

/// HCP Terraform's limit per workspace.
pub const MAX_PER_WORKSPACE: u64 = 20;
/// The triggers a configuration may subscribe to: the run triggers, which fire, and HCP's
/// assessment and auto-destroy triggers, which are accepted (tools set them) but do not
/// fire yet (Terrace has no drift detection; auto-destroy notices are not sent).
pub const TRIGGERS: &[&str] = &[
    "run:created",
    "run:planning",
    "run:needs_attention",
    "run:applying",
    "run:completed",
    "run:errored",
    "assessment:drifted",
    "assessment:failed",
    "assessment:check_failure",
    "workspace:auto_destroy_reminder",
    "workspace:auto_destroy_run_results",
];
pub const DESTINATIONS: &[&str] = &["generic", "slack", "microsoft-teams", "email"];

const WHAT: &str = "notification configuration";

/// The attributes a create or update request gives (absent: unchanged, or the default).
#[derive(Debug, Clone, Default)]
pub struct NotificationInput {
    pub name: Option<String>,
    pub destination_type: Option<String>,
    pub url: Option<String>,
    /// The HMAC key; an empty string removes it.
    pub token: Option<String>,
    pub enabled: Option<bool>,
    pub triggers: Option<Vec<String>>,
    pub email_addresses: Option<Vec<String>>,
    /// The `users` relationship (e-mail destinations).
    pub email_user_ids: Option<Vec<String>>,
}

/// Applies `input` to `config` (a new one when `creating`) and checks the result as HCP
/// does: a name, a known destination type, known triggers, a URL for every destination but
/// e-mail. The token is sealed by the caller.
pub fn apply_input(
    config: &mut NotificationConfiguration,
    input: &NotificationInput,
    creating: bool,
) -> DomainResult<()> {
    if let Some(name) = &input.name {
        config.name = name.trim().to_string();
    }
    if config.name.is_empty() {
        return Err(DomainError::invalid(
            "name",
            "a notification configuration needs a name",
        ));
    }
    if let Some(kind) = &input.destination_type {
        if !creating && kind != &config.destination_type {
            return Err(DomainError::invalid(
                "destination-type",
                "the destination type of a notification configuration cannot change",
            ));
        }
        config.destination_type = kind.clone();
    }
    if !DESTINATIONS.contains(&config.destination_type.as_str()) {
        return Err(DomainError::invalid(
            "destination-type",
            format!(
                "the destination type must be one of {}, not {:?}",
                DESTINATIONS.join(", "),
                config.destination_type
            ),
        ));
    }
    match input.enabled {
        Some(enabled) => config.enabled = enabled,
        None if creating => {
            return Err(DomainError::invalid(
                "enabled",
                "enabled is required (true or false)",
            ))
        }
        None => {}
    }
    if let Some(triggers) = &input.triggers {
        let mut kept: Vec<String> = Vec::new();
        for trigger in triggers {
            if !TRIGGERS.contains(&trigger.as_str()) {
                return Err(DomainError::invalid(
                    "triggers",
                    format!(
                        "{trigger:?} is not a notification trigger; the triggers are {}",
                        TRIGGERS.join(", ")
                    ),
                ));
            }
            if !kept.contains(trigger) {
                kept.push(trigger.clone());
            }
        }
        config.triggers = JsonText(kept);
    }
    if let Some(url) = &input.url {
        config.url = url.trim().to_string();
    }
    if config.destination_type == "email" {
        if let Some(addresses) = &input.email_addresses {
            for address in addresses {
                // They go into SMTP commands as they are: no line breaks, no brackets.
                email::address("email-addresses", address)?;
            }
            config.email_addresses = JsonText(addresses.clone());
        }
    } else {
        if config.url.is_empty() {
            return Err(DomainError::invalid(
                "url",
                format!("a {} destination needs a url", config.destination_type),
            ));
        }
        if ssrf::host_and_port(&config.url).is_none() {
            return Err(DomainError::invalid(
                "url",
                format!("{:?} is not an http or https URL with a host", config.url),
            ));
        }
    }
    Ok(())
}

impl Services {
    pub async fn create_notification_configuration(
        &self,
        caller: &Caller,
        workspace_id: &str,
        input: NotificationInput,
    ) -> DomainResult<NotificationConfiguration> {
        let (ws, org, _) = self
            .workspace_id_for(caller, workspace_id, Action::UpdateWorkspace)
            .await?;
        let now = clock::now();
        let mut config = NotificationConfiguration {
            id: ids::new_id(ids::NOTIFICATION_CONFIGURATION),
            workspace_id: ws.id.clone(),
            name: String::new(),
            destination_type: String::new(),
            url: String::new(),
            token_ciphertext: None,
            enabled: false,
            triggers: JsonText(Vec::new()),
            email_addresses: JsonText(Vec::new()),
            email_user_ids: JsonText(Vec::new()),
            delivery_responses: JsonText(Vec::new()),
            created_at: now,
            updated_at: now,
        };
        if input.destination_type.is_none() {
            return Err(DomainError::invalid(
                "destination-type",
                "destination-type is required",
            ));
        }
        self.prepare(&mut config, &input, &org, true).await?;
        if !self
            .store
            .create_notification_configuration(&config, MAX_PER_WORKSPACE)
            .await?
        {
            return Err(DomainError::bad_request(format!(
                "workspace {} already has {MAX_PER_WORKSPACE} notification configurations, the \
                 most a workspace may have",
                ws.name
            )));
        }
        if config.enabled {
            // The verification request goes out at once, its answer recorded; creating does
            // not wait for a slow receiver.
            let services = self.clone();
            let sent = config.clone();
            tokio::spawn(async move {
                if let Err(err) = services.verify(&sent).await {
                    tracing::warn!(configuration = %sent.id, error = %err, "verification failed");
                }
            });
        }
        Ok(config)
    }

    pub async fn list_notification_configurations(
        &self,
        caller: &Caller,
        workspace_id: &str,
        page: PageRequest,
    ) -> DomainResult<Page<NotificationConfiguration>> {
        let (ws, _, _) = self
            .workspace_id_for(caller, workspace_id, Action::UpdateWorkspace)
            .await?;
        let all = self.store.list_notification_configurations(&ws.id).await?;
        let total = all.len() as u64;
        let start = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let items = all
            .into_iter()
            .skip(start)
            .take(page.size as usize)
            .collect();
        Ok(Page { items, total })
    }

    pub async fn notification_configuration(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<NotificationConfiguration> {
        Ok(self.notification_configuration_for(caller, id).await?.0)
    }

    pub async fn update_notification_configuration(
        &self,
        caller: &Caller,
        id: &str,
        input: NotificationInput,
    ) -> DomainResult<NotificationConfiguration> {
        let (mut config, _, org) = self.notification_configuration_for(caller, id).await?;
        // HCP replaces the e-mail users on every update: one without `users` leaves none
        // (go-tfe's tests rely on it).
        let input = NotificationInput {
            email_user_ids: Some(input.email_user_ids.clone().unwrap_or_default()),
            ..input
        };
        self.prepare(&mut config, &input, &org, false).await?;
        config.updated_at = clock::now();
        if !self
            .store
            .update_notification_configuration(&config)
            .await?
        {
            return Err(DomainError::NotFound(WHAT));
        }
        self.store
            .notification_configuration_by_id(&config.id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))
    }

    pub async fn delete_notification_configuration(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<()> {
        let (config, _, _) = self.notification_configuration_for(caller, id).await?;
        if !self
            .store
            .delete_notification_configuration(&config.id)
            .await?
        {
            return Err(DomainError::NotFound(WHAT));
        }
        Ok(())
    }

    /// `actions/verify`: sends the verification request now and answers with the
    /// configuration, its response recorded, whether or not the receiver took it.
    pub async fn verify_notification_configuration(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<NotificationConfiguration> {
        let (config, _, _) = self.notification_configuration_for(caller, id).await?;
        self.verify(&config).await?;
        self.store
            .notification_configuration_by_id(&config.id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))
    }

    /// Checks and applies an input: the rules, the URL's destination, the e-mail users
    /// (members of the organization), the token sealed.
    async fn prepare(
        &self,
        config: &mut NotificationConfiguration,
        input: &NotificationInput,
        org: &Organization,
        creating: bool,
    ) -> DomainResult<()> {
        apply_input(config, input, creating)?;
        if config.destination_type != "email" && input.url.is_some() {
            self.check_destination(&config.url).await?;
        }
        if let Some(token) = &input.token {
            config.token_ciphertext =
                (!token.is_empty()).then(|| self.blobs.keyring().encrypt(token.as_bytes()));
        }
        if let Some(user_ids) = &input.email_user_ids {
            let mut kept = Vec::new();
            for id in user_ids {
                let member = if let Some(rest) = id.strip_prefix("user-invited-") {
                    // An invitation's stand-in user (the API names it after the membership).
                    let membership = format!("{}-{rest}", ids::MEMBERSHIP);
                    self.store
                        .membership_by_id(&membership)
                        .await?
                        .is_some_and(|m| m.organization_id == org.id)
                } else {
                    match self.store.user_by_id(id).await? {
                        Some(user) => self
                            .store
                            .membership_for(&org.id, Some(&user.id), &user.email)
                            .await?
                            .is_some(),
                        None => false,
                    }
                };
                if !member {
                    return Err(DomainError::Invalid {
                        pointer: Some("/data/relationships/users/data".into()),
                        detail: format!("user {id} is not a member of organization {}", org.name),
                    });
                }
                if !kept.contains(id) {
                    kept.push(id.clone());
                }
            }
            config.email_user_ids = JsonText(kept);
        }
        if input.email_addresses.is_some() {
            let members = self
                .member_addresses(&org.id, &config.email_addresses.0)
                .await?;
            if let Some(stranger) = config
                .email_addresses
                .0
                .iter()
                .find(|a| !members.contains(&a.to_lowercase()))
            {
                return Err(DomainError::invalid(
                    "email-addresses",
                    format!(
                        "{stranger:?} is not the address of a member of organization {} \
                         (notifications mail the organization's people only)",
                        org.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Refuses a URL whose host is (or resolves to) an address the site does not let
    /// notifications (and run task requests) reach. A name that does not resolve now is
    /// accepted: delivery resolves and checks again.
    pub(crate) async fn check_destination(&self, url: &str) -> DomainResult<()> {
        let Some((host, port)) = ssrf::host_and_port(url) else {
            return Err(DomainError::invalid(
                "url",
                "not an http or https URL with a host",
            ));
        };
        let site = self.destinations();
        for addr in ssrf::resolve(&host, port).await {
            if let Some(why) = ssrf::refused(addr.ip(), &site) {
                return Err(DomainError::invalid(
                    "url",
                    format!("requests may not go to {host} ({}): {why}", addr.ip()),
                ));
            }
        }
        Ok(())
    }

    /// The configuration, its workspace and organization, for an administrator of the
    /// workspace (anyone else: not found).
    async fn notification_configuration_for(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<(NotificationConfiguration, Workspace, Organization)> {
        let config = self
            .store
            .notification_configuration_by_id(id)
            .await?
            .ok_or(DomainError::NotFound(WHAT))?;
        let (ws, org, _) = self
            .workspace_id_for(caller, &config.workspace_id, Action::UpdateWorkspace)
            .await
            .map_err(|e| match e {
                DomainError::NotFound(_) => DomainError::NotFound(WHAT),
                other => other,
            })?;
        Ok((config, ws, org))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank() -> NotificationConfiguration {
        NotificationConfiguration {
            id: "nc-1".into(),
            workspace_id: "ws-1".into(),
            name: String::new(),
            destination_type: String::new(),
            url: String::new(),
            token_ciphertext: None,
            enabled: false,
            triggers: JsonText(Vec::new()),
            email_addresses: JsonText(Vec::new()),
            email_user_ids: JsonText(Vec::new()),
            delivery_responses: JsonText(Vec::new()),
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn input(kind: &str, url: Option<&str>) -> NotificationInput {
        NotificationInput {
            name: Some("hook".into()),
            destination_type: Some(kind.into()),
            url: url.map(str::to_string),
            enabled: Some(true),
            triggers: Some(vec!["run:created".into(), "run:created".into()]),
            ..Default::default()
        }
    }

    fn pointer(err: DomainError) -> Option<String> {
        match err {
            DomainError::Invalid { pointer, .. } => pointer,
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn webhooks_need_a_url_and_email_does_not() {
        for kind in ["generic", "slack", "microsoft-teams"] {
            let err = apply_input(&mut blank(), &input(kind, None), true).unwrap_err();
            assert_eq!(pointer(err).as_deref(), Some("/data/attributes/url"));
        }
        let mut config = blank();
        apply_input(&mut config, &input("email", None), true).unwrap();
        assert_eq!(config.triggers.0, vec!["run:created".to_string()]);
    }

    #[test]
    fn unknown_triggers_and_destinations_are_refused_with_their_pointer() {
        let mut bad = input("generic", Some("https://example.com"));
        bad.triggers = Some(vec!["run:exploded".into()]);
        let err = apply_input(&mut blank(), &bad, true).unwrap_err();
        assert_eq!(pointer(err).as_deref(), Some("/data/attributes/triggers"));
        let err =
            apply_input(&mut blank(), &input("pager", Some("https://x.io")), true).unwrap_err();
        assert_eq!(
            pointer(err).as_deref(),
            Some("/data/attributes/destination-type")
        );
        let err =
            apply_input(&mut blank(), &input("generic", Some("ftp://x.io")), true).unwrap_err();
        assert_eq!(pointer(err).as_deref(), Some("/data/attributes/url"));
    }

    #[test]
    fn an_update_keeps_what_it_does_not_name() {
        let mut config = blank();
        apply_input(&mut config, &input("generic", Some("https://x.io/a")), true).unwrap();
        let only_enabled = NotificationInput {
            enabled: Some(false),
            ..Default::default()
        };
        apply_input(&mut config, &only_enabled, false).unwrap();
        assert_eq!(config.url, "https://x.io/a");
        assert!(!config.enabled);
        let kind = NotificationInput {
            destination_type: Some("slack".into()),
            ..Default::default()
        };
        assert!(apply_input(&mut config, &kind, false).is_err());
    }
}
