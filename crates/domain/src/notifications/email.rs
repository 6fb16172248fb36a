//! E-mail notifications: the site's SMTP server (TFE's `/admin/smtp-settings`, a site
//! administrator's; the password write-only and sealed with the keyring) and the mail a run
//! notification becomes. Speaking SMTP is the API crate's ([`super::delivery::Deliverer::mail`]);
//! the SMTP host is an outbound destination like a webhook's, checked the same way.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use terrace_storage::clock;

use super::payload::{self, Notice};
use super::ssrf;
use crate::{Caller, DomainError, DomainResult, Services};

/// How the server signs in to the SMTP server (TFE's `auth`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpAuth {
    #[default]
    None,
    Plain,
    Login,
}

impl SmtpAuth {
    pub fn parse(value: &str) -> DomainResult<SmtpAuth> {
        match value {
            "none" => Ok(SmtpAuth::None),
            "plain" => Ok(SmtpAuth::Plain),
            "login" => Ok(SmtpAuth::Login),
            _ => Err(DomainError::invalid(
                "auth",
                format!("{value:?} is not an SMTP authentication; use none, plain or login"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SmtpAuth::None => "none",
            SmtpAuth::Plain => "plain",
            SmtpAuth::Login => "login",
        }
    }
}

/// The stored SMTP settings, but the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub sender: String,
    pub auth: SmtpAuth,
    pub username: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            enabled: false,
            host: String::new(),
            port: 25,
            sender: String::new(),
            auth: SmtpAuth::None,
            username: String::new(),
        }
    }
}

/// An update (`None` keeps a setting); `password: Some("")` removes the password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmtpChanges {
    pub enabled: Option<bool>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub sender: Option<String>,
    pub auth: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Where a test mail goes after the update (it must arrive, or nothing is stored).
    pub test_email_address: Option<String>,
}

fn no_line_breaks(attribute: &str, value: &str) -> DomainResult<()> {
    if value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            attribute,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An address mail can be sent to or from: one `@`, no spaces, brackets or control characters
/// (it goes into SMTP commands and headers as it is).
pub fn address(attribute: &str, value: &str) -> DomainResult<()> {
    let ok = value.split('@').count() == 2
        && !value.starts_with('@')
        && !value.ends_with('@')
        && !value
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | ',' | '"'));
    if !ok {
        return Err(DomainError::invalid(
            attribute,
            format!("{value:?} is not an e-mail address"),
        ));
    }
    Ok(())
}

impl SmtpSettings {
    /// The settings after `changes`, if they are valid (enabled needs a host and a sender;
    /// plain and login need a username).
    pub fn apply(&self, changes: &SmtpChanges) -> DomainResult<SmtpSettings> {
        let mut next = self.clone();
        if let Some(enabled) = changes.enabled {
            next.enabled = enabled;
        }
        if let Some(host) = &changes.host {
            no_line_breaks("host", host)?;
            next.host = host.trim().to_string();
        }
        if let Some(port) = changes.port {
            next.port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| DomainError::invalid("port", "must be between 1 and 65535"))?;
        }
        if let Some(sender) = &changes.sender {
            if !sender.is_empty() {
                address("sender", sender)?;
            }
            next.sender = sender.clone();
        }
        if let Some(auth) = &changes.auth {
            next.auth = SmtpAuth::parse(auth)?;
        }
        if let Some(username) = &changes.username {
            no_line_breaks("username", username)?;
            next.username = username.clone();
        }
        if let Some(to) = &changes.test_email_address {
            address("test-email-address", to)?;
        }
        if next.enabled && next.host.is_empty() {
            return Err(DomainError::invalid("host", "is needed to enable SMTP"));
        }
        if next.auth != SmtpAuth::None && next.username.is_empty() {
            return Err(DomainError::invalid(
                "username",
                format!("is needed for {} authentication", next.auth.as_str()),
            ));
        }
        Ok(next)
    }
}

/// Where and how one mail is sent: the SMTP server at `addr` (checked), signed in as the
/// settings say.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub host: String,
    pub addr: SocketAddr,
    pub auth: SmtpAuth,
    pub username: String,
    pub password: String,
    pub sender: String,
}

/// One mail: one recipient, a subject, a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The mail of a notification, as HCP's run e-mail roughly: "Run {status} in {org}/{ws}".
pub fn run_mail(to: &str, notice: &Notice) -> Mail {
    let message = payload::message(notice);
    let subject = match (&notice.organization_name, &notice.workspace_name) {
        (Some(org), Some(ws)) => format!("{message} in {org}/{ws}"),
        _ => message.clone(),
    };
    let mut body = format!("{message}\n\n");
    if let (Some(org), Some(ws)) = (&notice.organization_name, &notice.workspace_name) {
        body.push_str(&format!("Workspace: {org}/{ws}\n"));
    }
    if let Some(id) = &notice.run_id {
        body.push_str(&format!("Run: {id}\n"));
    }
    if let Some(text) = &notice.run_message {
        body.push_str(&format!("Message: {text}\n"));
    }
    if let Some(status) = &notice.run_status {
        body.push_str(&format!("Status: {status}\n"));
    }
    if let Some(by) = &notice.run_updated_by {
        body.push_str(&format!("By: {by}\n"));
    }
    if let Some(url) = &notice.run_url {
        body.push_str(&format!("\nView the run: {url}\n"));
    }
    body.push_str(&format!(
        "\nSent by the notification configuration {:?}.\n",
        notice.configuration_name
    ));
    Mail {
        to: to.to_string(),
        // A subject is one header line.
        subject: subject.replace(['\r', '\n'], " "),
        body,
    }
}

impl Services {
    async fn stored_smtp(&self) -> DomainResult<(SmtpSettings, Option<String>)> {
        let Some((json, sealed)) = self.store.smtp_settings().await? else {
            return Ok((SmtpSettings::default(), None));
        };
        let settings = serde_json::from_str(&json).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable stored SMTP settings");
            SmtpSettings::default()
        });
        Ok((settings, sealed))
    }

    /// The SMTP settings (site administrators only).
    pub async fn admin_smtp_settings(&self, caller: &Caller) -> DomainResult<SmtpSettings> {
        self.site_admin(caller)?;
        Ok(self.stored_smtp().await?.0)
    }

    /// Changes the SMTP settings; with a test address and SMTP enabled, a test mail must reach
    /// the SMTP server with the new settings first (a 422 says why not, and nothing is stored).
    pub async fn admin_update_smtp_settings(
        &self,
        caller: &Caller,
        changes: SmtpChanges,
    ) -> DomainResult<SmtpSettings> {
        self.site_admin(caller)?;
        let (current, sealed) = self.stored_smtp().await?;
        let next = current.apply(&changes)?;
        let sealed = match &changes.password {
            Some(p) if p.is_empty() => None,
            Some(p) => Some(self.blobs.keyring().encrypt(p.as_bytes())),
            None => sealed,
        };
        // Disabled settings have nothing to test (TFE accepts the address then, and so does
        // go-tfe's suite).
        if let Some(to) = changes.test_email_address.as_ref().filter(|_| next.enabled) {
            let mail = Mail {
                to: to.clone(),
                subject: "Test e-mail from Terrace".into(),
                body: "This is a test e-mail: the SMTP settings of this server work.\n".into(),
            };
            self.mail(&next, sealed.as_deref(), mail)
                .await
                .map_err(|why| {
                    DomainError::invalid(
                        "test-email-address",
                        format!("the test e-mail was not sent: {why}"),
                    )
                })?;
        }
        let json = serde_json::to_string(&next).expect("SMTP settings serialize");
        self.store
            .set_smtp_settings(&json, sealed.as_deref(), clock::now())
            .await?;
        Ok(next)
    }

    /// Sends one mail through the SMTP server of `settings` (resolved and checked as a
    /// notification destination). The error says why not, for a delivery response.
    async fn mail(
        &self,
        settings: &SmtpSettings,
        sealed_password: Option<&str>,
        mail: Mail,
    ) -> Result<(), String> {
        let Some(notifier) = self.notifier.clone() else {
            return Err("this server delivers no notifications".into());
        };
        if !settings.enabled {
            return Err("SMTP is not enabled on this server (/admin/smtp-settings)".into());
        }
        if settings.host.is_empty() {
            return Err("the SMTP settings have no host".into());
        }
        if settings.sender.is_empty() {
            return Err("the SMTP settings have no sender".into());
        }
        let host = &settings.host;
        let Some(addr) = ssrf::resolve(host, settings.port).await.into_iter().next() else {
            return Err(format!("the SMTP host {host} does not resolve"));
        };
        if let Some(why) = ssrf::refused(addr.ip(), &notifier.destinations) {
            return Err(format!(
                "the SMTP host {host} resolves to {}: {why}",
                addr.ip()
            ));
        }
        let password = match sealed_password {
            Some(sealed) => String::from_utf8(
                self.blobs
                    .keyring()
                    .decrypt(sealed)
                    .map_err(|e| e.to_string())?,
            )
            .map_err(|_| "the SMTP password is not text".to_string())?,
            None => String::new(),
        };
        let server = SmtpServer {
            host: host.clone(),
            addr,
            auth: settings.auth,
            username: settings.username.clone(),
            password,
            sender: settings.sender.clone(),
        };
        notifier.deliverer.mail(server, mail).await
    }

    /// The addresses an e-mail configuration sends to: its users who are still members of
    /// the organization, then its own addresses, each once.
    async fn email_recipients(
        &self,
        config: &terrace_storage::model::NotificationConfiguration,
    ) -> DomainResult<Vec<String>> {
        let mut to: Vec<String> = Vec::new();
        let org = match self.store.workspace_by_id(&config.workspace_id).await? {
            Some(ws) => self.store.organization_by_id(&ws.organization_id).await?,
            None => None,
        };
        if let Some(org) = &org {
            for id in &config.email_user_ids.0 {
                let Some(user) = self.store.user_by_id(id).await? else {
                    continue;
                };
                let member = self
                    .store
                    .membership_for(&org.id, Some(&user.id), &user.email)
                    .await?
                    .is_some();
                if member && !user.email.is_empty() && !to.contains(&user.email) {
                    to.push(user.email);
                }
            }
        }
        if let Some(org) = &org {
            // Checked again: a member who left is mailed no more.
            let members = self
                .member_addresses(&org.id, &config.email_addresses.0)
                .await?;
            for a in &config.email_addresses.0 {
                if members.contains(&a.to_lowercase()) && !to.contains(a) {
                    to.push(a.clone());
                }
            }
        }
        Ok(to)
    }

    /// Which of `addresses` (lowercased) belong to members or invitations of the
    /// organization: a tenant's notifications never mail anyone outside it (the site's SMTP
    /// server is no relay for whatever addresses a workspace administrator types).
    pub(crate) async fn member_addresses(
        &self,
        org_id: &str,
        addresses: &[String],
    ) -> DomainResult<Vec<String>> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let filter = terrace_storage::store::MembershipFilter {
            emails: addresses.to_vec(),
            ..Default::default()
        };
        let page = terrace_storage::model::PageRequest {
            number: 1,
            size: 100,
        };
        let found = self.store.list_memberships(org_id, &filter, page).await?;
        Ok(found
            .items
            .into_iter()
            .map(|m| m.email.to_lowercase())
            .collect())
    }

    /// Sends a notification's mail to each recipient; the outcome is one line per failure.
    pub(crate) async fn send_email(
        &self,
        config: &terrace_storage::model::NotificationConfiguration,
        notice: &Notice,
    ) -> DomainResult<Result<usize, (bool, String)>> {
        let (settings, sealed) = self.stored_smtp().await?;
        if !settings.enabled {
            return Ok(Err((
                false,
                "SMTP is not enabled on this server (/admin/smtp-settings)".into(),
            )));
        }
        let to = self.email_recipients(config).await?;
        if to.is_empty() {
            return Ok(Err((false, "the configuration has no recipient".into())));
        }
        let mut failures = Vec::new();
        for address in &to {
            if let Err(why) = self
                .mail(&settings, sealed.as_deref(), run_mail(address, notice))
                .await
            {
                failures.push(format!("{address}: {why}"));
            }
        }
        if failures.is_empty() {
            Ok(Ok(to.len()))
        } else {
            Ok(Err((true, failures.join("; "))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(err: DomainError) -> Option<String> {
        match err {
            DomainError::Invalid { pointer, .. } => pointer,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn smtp_settings_apply_what_they_name_and_check_it() {
        let base = SmtpSettings::default();
        let next = base
            .apply(&SmtpChanges {
                enabled: Some(true),
                host: Some("mail.example.com".into()),
                port: Some(587),
                sender: Some("terrace@example.com".into()),
                auth: Some("login".into()),
                username: Some("u".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(next.port, 587);
        assert_eq!(next.auth, SmtpAuth::Login);
        let kept = next.apply(&SmtpChanges::default()).unwrap();
        assert_eq!(kept, next);
        let bad = |c: SmtpChanges| pointer(base.apply(&c).unwrap_err()).unwrap();
        assert_eq!(
            bad(SmtpChanges {
                auth: Some("plained".into()),
                ..Default::default()
            }),
            "/data/attributes/auth"
        );
        assert_eq!(
            bad(SmtpChanges {
                port: Some(70000),
                ..Default::default()
            }),
            "/data/attributes/port"
        );
        assert_eq!(
            bad(SmtpChanges {
                enabled: Some(true),
                ..Default::default()
            }),
            "/data/attributes/host"
        );
        assert_eq!(
            bad(SmtpChanges {
                auth: Some("plain".into()),
                ..Default::default()
            }),
            "/data/attributes/username"
        );
        assert_eq!(
            bad(SmtpChanges {
                sender: Some("a b@example.com".into()),
                ..Default::default()
            }),
            "/data/attributes/sender"
        );
        assert_eq!(
            bad(SmtpChanges {
                test_email_address: Some("x\r\nRCPT TO:<y@z>".into()),
                ..Default::default()
            }),
            "/data/attributes/test-email-address"
        );
    }

    #[test]
    fn run_mail_names_status_workspace_and_link() {
        let notice = Notice {
            configuration_name: "ops".into(),
            trigger: "run:completed".into(),
            run_status: Some("planned_and_finished".into()),
            organization_name: Some("acme".into()),
            workspace_name: Some("net".into()),
            run_id: Some("run-1".into()),
            run_url: Some("https://t.example/app/acme/workspaces/net/runs/run-1".into()),
            ..Default::default()
        };
        let mail = run_mail("a@example.com", &notice);
        assert_eq!(mail.subject, "Run Planned and Finished in acme/net");
        assert!(mail
            .body
            .contains("https://t.example/app/acme/workspaces/net/runs/run-1"));
        assert_eq!(mail.to, "a@example.com");
    }
}
