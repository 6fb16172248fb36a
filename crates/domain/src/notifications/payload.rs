//! What a notification says, in each destination's shape: HCP Terraform's generic payload
//! (version 1, signed with the configuration's token), a Slack incoming-webhook message and
//! a Microsoft Teams MessageCard. Pure functions of a [`Notice`].

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};

/// The trigger of the request sent on creation and by `actions/verify`.
pub const VERIFICATION: &str = "verification";

/// Everything a notification tells (run fields are `None` for a verification).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notice {
    pub configuration_id: String,
    pub configuration_name: String,
    pub run_url: Option<String>,
    pub run_id: Option<String>,
    pub run_message: Option<String>,
    pub run_created_at: Option<DateTime<Utc>>,
    pub run_created_by: Option<String>,
    pub workspace_id: Option<String>,
    pub workspace_name: Option<String>,
    pub organization_name: Option<String>,
    pub trigger: String,
    pub run_status: Option<String>,
    pub run_updated_at: Option<DateTime<Utc>>,
    pub run_updated_by: Option<String>,
}

/// The notification's one-line message, as HCP words it.
pub fn message(notice: &Notice) -> String {
    match (notice.trigger.as_str(), notice.run_status.as_deref()) {
        (VERIFICATION, _) => format!("Verification of {}", notice.configuration_name),
        ("run:created", _) => "Run Created".into(),
        ("run:planning", _) => "Run Planning".into(),
        ("run:needs_attention", _) => "Run Needs Attention".into(),
        ("run:applying", _) => "Run Applying".into(),
        ("run:completed", Some("planned_and_finished")) => "Run Planned and Finished".into(),
        ("run:completed", _) => "Run Applied".into(),
        ("run:errored", Some("canceled")) => "Run Canceled".into(),
        ("run:errored", _) => "Run Errored".into(),
        (other, _) => format!("Run {other}"),
    }
}

fn time(at: Option<DateTime<Utc>>) -> Value {
    at.map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}

/// HCP Terraform's generic payload (`payload_version` 1).
pub fn generic(notice: &Notice) -> Value {
    json!({
        "payload_version": 1,
        "notification_configuration_id": notice.configuration_id,
        "run_url": notice.run_url,
        "run_id": notice.run_id,
        "run_message": notice.run_message,
        "run_created_at": time(notice.run_created_at),
        "run_created_by": notice.run_created_by,
        "workspace_id": notice.workspace_id,
        "workspace_name": notice.workspace_name,
        "organization_name": notice.organization_name,
        "notifications": [{
            "message": message(notice),
            "trigger": notice.trigger,
            "run_status": notice.run_status,
            "run_updated_at": time(notice.run_updated_at),
            "run_updated_by": notice.run_updated_by,
        }],
    })
}

/// The colour of a notice in chat (green done, red failed, amber waiting, blue otherwise).
fn colour(notice: &Notice) -> &'static str {
    match notice.trigger.as_str() {
        "run:completed" => "#2eb886",
        "run:errored" => "#e03e2f",
        "run:needs_attention" => "#f2c744",
        _ => "#5c4ee5",
    }
}

fn title(notice: &Notice) -> String {
    match (&notice.organization_name, &notice.workspace_name) {
        (Some(org), Some(ws)) => format!("{}: {org}/{ws}", message(notice)),
        _ => message(notice),
    }
}

/// A Slack incoming-webhook message: a fallback `text` and one attachment.
pub fn slack(notice: &Notice) -> Value {
    let mut fields = Vec::new();
    if let Some(run) = &notice.run_id {
        fields.push(json!({"title": "Run", "value": run, "short": true}));
    }
    if let Some(status) = &notice.run_status {
        fields.push(json!({"title": "Status", "value": status, "short": true}));
    }
    if let Some(by) = notice
        .run_updated_by
        .as_ref()
        .or(notice.run_created_by.as_ref())
    {
        fields.push(json!({"title": "By", "value": by, "short": true}));
    }
    json!({
        "text": title(notice),
        "attachments": [{
            "fallback": title(notice),
            "color": colour(notice),
            "title": title(notice),
            "title_link": notice.run_url,
            "text": notice.run_message.clone().unwrap_or_default(),
            "fields": fields,
        }],
    })
}

/// A Microsoft Teams MessageCard (what Teams' incoming webhooks take).
pub fn teams(notice: &Notice) -> Value {
    let mut facts = Vec::new();
    if let Some(run) = &notice.run_id {
        facts.push(json!({"name": "Run", "value": run}));
    }
    if let Some(status) = &notice.run_status {
        facts.push(json!({"name": "Status", "value": status}));
    }
    if let Some(by) = notice
        .run_updated_by
        .as_ref()
        .or(notice.run_created_by.as_ref())
    {
        facts.push(json!({"name": "By", "value": by}));
    }
    let mut card = json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": title(notice),
        "themeColor": colour(notice).trim_start_matches('#'),
        "title": title(notice),
        "sections": [{
            "activityTitle": message(notice),
            "activitySubtitle": notice.run_message.clone().unwrap_or_default(),
            "facts": facts,
            "markdown": true,
        }],
    });
    if let Some(url) = &notice.run_url {
        card["potentialAction"] = json!([{
            "@type": "OpenUri",
            "name": "View run",
            "targets": [{"os": "default", "uri": url}],
        }]);
    }
    card
}

/// `X-TFE-Notification-Signature`: hex HMAC-SHA512 of the body keyed by the token.
pub fn signature(token: &[u8], body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(token).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied() -> Notice {
        Notice {
            configuration_id: "nc-1".into(),
            configuration_name: "hook".into(),
            run_url: Some("https://t.example/app/acme/workspaces/net/runs/run-1".into()),
            run_id: Some("run-1".into()),
            run_message: Some("Queued manually".into()),
            run_created_at: Some(DateTime::from_timestamp(1_700_000_000, 0).unwrap()),
            run_created_by: Some("alice".into()),
            workspace_id: Some("ws-1".into()),
            workspace_name: Some("net".into()),
            organization_name: Some("acme".into()),
            trigger: "run:completed".into(),
            run_status: Some("applied".into()),
            run_updated_at: Some(DateTime::from_timestamp(1_700_000_100, 0).unwrap()),
            run_updated_by: Some("bob".into()),
        }
    }

    #[test]
    fn the_generic_payload_is_hcps_version_1() {
        let body = generic(&applied());
        assert_eq!(body["payload_version"], 1);
        assert_eq!(body["run_created_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body["organization_name"], "acme");
        let n = &body["notifications"][0];
        assert_eq!(n["message"], "Run Applied");
        assert_eq!(n["trigger"], "run:completed");
        assert_eq!(n["run_status"], "applied");
        assert_eq!(n["run_updated_by"], "bob");
    }

    #[test]
    fn a_verification_has_no_run() {
        let notice = Notice {
            configuration_id: "nc-1".into(),
            configuration_name: "hook".into(),
            trigger: VERIFICATION.into(),
            ..Default::default()
        };
        let body = generic(&notice);
        assert_eq!(body["run_id"], Value::Null);
        assert_eq!(body["notifications"][0]["message"], "Verification of hook");
    }

    #[test]
    fn chat_shapes_link_the_run() {
        let slack = slack(&applied());
        assert_eq!(slack["text"], "Run Applied: acme/net");
        assert_eq!(
            slack["attachments"][0]["title_link"],
            "https://t.example/app/acme/workspaces/net/runs/run-1"
        );
        let card = teams(&applied());
        assert_eq!(card["@type"], "MessageCard");
        assert_eq!(
            card["potentialAction"][0]["targets"][0]["uri"],
            "https://t.example/app/acme/workspaces/net/runs/run-1"
        );
    }

    #[test]
    fn the_signature_is_hex_hmac_sha512() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }
}
