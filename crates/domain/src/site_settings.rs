//! Site settings a site administrator changes at runtime (TFE's admin settings), each kept as
//! one JSON value in the store's site settings, so a change reaches every replica and outlives
//! restarts:
//!
//! - the customization (`/admin/customization-settings`): the texts the sign-in and error
//!   pages show (support address, login help, footer, error instructions, new-user text);
//! - the site SAML switches (`/admin/saml-settings`): SAML sign-in on or off, and debug (a
//!   refused sign-in shows its reason). The identity provider itself is configured in the
//!   server's configuration.
//!
//! Who may create organizations, the general setting, is in `site_admin`. The rules are pure
//! functions of the records ([`Customization::apply`], [`SiteSaml::apply`]).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use terrace_storage::clock;

use crate::{validate, Caller, DomainError, DomainResult, Services};

/// The site setting that holds the [`Customization`].
const CUSTOMIZATION: &str = "customization";
/// The site setting that holds the [`SiteSaml`] switches.
const SITE_SAML: &str = "saml";

/// The longest customization text, in characters.
pub const MAX_TEXT_CHARS: usize = 4096;

/// What the sign-in and error pages show besides their own text (empty: nothing). Pages show
/// it as text: markup is escaped, never interpreted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Customization {
    /// Where users ask for help (error pages link to it).
    pub support_email: String,
    /// Shown on the sign-in form.
    pub login_help: String,
    /// Shown at the foot of every page.
    pub footer: String,
    /// Instructions shown on error pages.
    pub error: String,
    /// Shown on the sign-in form, for people without an account.
    pub new_user: String,
}

/// An update of the customization: `None` keeps a text, `Some("")` removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomizationChanges {
    pub support_email: Option<String>,
    pub login_help: Option<String>,
    pub footer: Option<String>,
    pub error: Option<String>,
    pub new_user: Option<String>,
}

/// A customization text: at most [`MAX_TEXT_CHARS`] characters, no control characters but
/// line breaks and tabs. `attribute` names it in the error.
fn text(attribute: &str, value: &str) -> DomainResult<()> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(DomainError::invalid(
            attribute,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(DomainError::invalid(
            attribute,
            "must not contain control characters",
        ));
    }
    Ok(())
}

impl Customization {
    /// The customization after `changes`, if every changed text is valid (nothing changes
    /// otherwise): the support address empty or an e-mail address, the texts within
    /// [`text`]'s limits.
    pub fn apply(&self, changes: CustomizationChanges) -> DomainResult<Customization> {
        let mut next = self.clone();
        if let Some(email) = changes.support_email {
            if !email.is_empty() && validate::email(&email).is_err() {
                return Err(DomainError::invalid(
                    "support-email-address",
                    format!("\"{email}\" is not a valid e-mail address"),
                ));
            }
            next.support_email = email;
        }
        for (attribute, change, field) in [
            ("login-help", changes.login_help, &mut next.login_help),
            ("footer", changes.footer, &mut next.footer),
            ("error", changes.error, &mut next.error),
            ("new-user", changes.new_user, &mut next.new_user),
        ] {
            if let Some(value) = change {
                text(attribute, &value)?;
                *field = value;
            }
        }
        Ok(next)
    }
}

/// The site SAML switches. SAML signs people in when the server's configuration names an
/// identity provider and the switch is on ([`SiteSaml::signs_in`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteSaml {
    /// Off: the site's SAML sign-in is refused (a configured provider starts on).
    pub enabled: bool,
    /// On: a refused sign-in shows the person signing in why.
    pub debug: bool,
}

impl Default for SiteSaml {
    fn default() -> Self {
        SiteSaml {
            enabled: true,
            debug: false,
        }
    }
}

/// An update of the SAML switches (`None`: unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteSamlChanges {
    pub enabled: Option<bool>,
    pub debug: Option<bool>,
}

impl SiteSaml {
    /// Whether the site's SAML sign-in is on, given whether the configuration names an
    /// identity provider.
    pub fn signs_in(self, configured: bool) -> bool {
        configured && self.enabled
    }

    /// The switches after `changes`. Switching SAML on without an identity provider in the
    /// configuration is refused: it would sign nobody in.
    pub fn apply(self, changes: SiteSamlChanges, configured: bool) -> DomainResult<SiteSaml> {
        if changes.enabled == Some(true) && !configured {
            return Err(DomainError::invalid(
                "enabled",
                "no SAML identity provider is configured on this server \
                 (--saml-idp-metadata-url or --saml-idp-metadata-file)",
            ));
        }
        Ok(SiteSaml {
            enabled: changes.enabled.unwrap_or(self.enabled),
            debug: changes.debug.unwrap_or(self.debug),
        })
    }
}

impl Services {
    /// A stored site setting, or its default when none was stored (or, which only a
    /// hand-edited database can cause, it cannot be read).
    async fn json_setting<T: DeserializeOwned + Default>(&self, name: &str) -> DomainResult<T> {
        let Some(stored) = self.store.site_setting(name).await? else {
            return Ok(T::default());
        };
        Ok(serde_json::from_str(&stored).unwrap_or_else(|e| {
            tracing::warn!(setting = name, error = %e, "unreadable stored site setting");
            T::default()
        }))
    }

    async fn set_json_setting<T: Serialize>(&self, name: &str, value: &T) -> DomainResult<()> {
        // Records of strings and booleans always serialize.
        let json = serde_json::to_string(value).expect("a site settings record serializes");
        self.store
            .set_site_setting(name, &json, clock::now())
            .await?;
        Ok(())
    }

    /// The customization the pages show (public: it is on every sign-in page).
    pub async fn customization(&self) -> DomainResult<Customization> {
        self.json_setting(CUSTOMIZATION).await
    }

    /// The customization, for a site administrator.
    pub async fn admin_customization(&self, caller: &Caller) -> DomainResult<Customization> {
        self.site_admin(caller)?;
        self.customization().await
    }

    /// Changes the customization (all of `changes` or, if one is invalid, nothing).
    pub async fn admin_update_customization(
        &self,
        caller: &Caller,
        changes: CustomizationChanges,
    ) -> DomainResult<Customization> {
        self.site_admin(caller)?;
        let next = self.customization().await?.apply(changes)?;
        self.set_json_setting(CUSTOMIZATION, &next).await?;
        Ok(next)
    }

    /// The site SAML switches, for the sign-in routes.
    pub async fn site_saml(&self) -> DomainResult<SiteSaml> {
        self.json_setting(SITE_SAML).await
    }

    /// The site SAML switches, for a site administrator.
    pub async fn admin_site_saml(&self, caller: &Caller) -> DomainResult<SiteSaml> {
        self.site_admin(caller)?;
        self.site_saml().await
    }

    /// Changes the site SAML switches; `configured`: whether the server's configuration names
    /// an identity provider.
    pub async fn admin_update_site_saml(
        &self,
        caller: &Caller,
        changes: SiteSamlChanges,
        configured: bool,
    ) -> DomainResult<SiteSaml> {
        self.site_admin(caller)?;
        let next = self.site_saml().await?.apply(changes, configured)?;
        self.set_json_setting(SITE_SAML, &next).await?;
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(err: DomainError) -> String {
        match err {
            DomainError::Invalid { pointer, .. } => pointer.unwrap_or_default(),
            other => panic!("not invalid: {other:?}"),
        }
    }

    #[test]
    fn customization_changes_what_they_name_and_keep_the_rest() {
        let current = Customization {
            footer: "old footer".into(),
            login_help: "old help".into(),
            ..Default::default()
        };
        let next = current
            .apply(CustomizationChanges {
                support_email: Some("help@example.com".into()),
                login_help: Some("<div>Login Help</div>".into()),
                new_user: Some("New?\nAsk\tus.".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(next.support_email, "help@example.com");
        assert_eq!(next.login_help, "<div>Login Help</div>");
        assert_eq!(next.footer, "old footer");
        assert_eq!(next.new_user, "New?\nAsk\tus.");
        // An empty text removes it.
        let cleared = next
            .apply(CustomizationChanges {
                support_email: Some(String::new()),
                footer: Some(String::new()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(cleared.support_email, "");
        assert_eq!(cleared.footer, "");
        assert_eq!(cleared.login_help, "<div>Login Help</div>");
    }

    #[test]
    fn bad_customization_is_refused_whole() {
        let current = Customization::default();
        let err = current
            .apply(CustomizationChanges {
                footer: Some("fine".into()),
                support_email: Some("not an address".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(pointer(err), "/data/attributes/support-email-address");
        let err = current
            .apply(CustomizationChanges {
                error: Some("x".repeat(MAX_TEXT_CHARS + 1)),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(pointer(err), "/data/attributes/error");
        let err = current
            .apply(CustomizationChanges {
                login_help: Some("bell\u{7}".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(pointer(err), "/data/attributes/login-help");
        assert!(current
            .apply(CustomizationChanges {
                new_user: Some("é".repeat(MAX_TEXT_CHARS)),
                ..Default::default()
            })
            .is_ok());
    }

    #[test]
    fn saml_switches_on_only_with_an_identity_provider() {
        let on = SiteSaml::default();
        assert!(on.signs_in(true));
        assert!(!on.signs_in(false));
        let off = on
            .apply(
                SiteSamlChanges {
                    enabled: Some(false),
                    debug: Some(true),
                },
                true,
            )
            .unwrap();
        assert_eq!(
            off,
            SiteSaml {
                enabled: false,
                debug: true
            }
        );
        assert!(!off.signs_in(true));
        // Off and debug are allowed without a provider; on is not.
        assert!(on
            .apply(
                SiteSamlChanges {
                    enabled: Some(false),
                    debug: Some(false)
                },
                false
            )
            .is_ok());
        let err = off
            .apply(
                SiteSamlChanges {
                    enabled: Some(true),
                    debug: None,
                },
                false,
            )
            .unwrap_err();
        assert_eq!(pointer(err), "/data/attributes/enabled");
        let back_on = off
            .apply(
                SiteSamlChanges {
                    enabled: Some(true),
                    debug: None,
                },
                true,
            )
            .unwrap();
        assert_eq!(
            back_on,
            SiteSaml {
                enabled: true,
                debug: true
            }
        );
    }

    #[test]
    fn stored_switches_read_with_defaults() {
        let read: SiteSaml = serde_json::from_str(r#"{"debug":true}"#).unwrap();
        assert_eq!(
            read,
            SiteSaml {
                enabled: true,
                debug: true
            }
        );
        let read: Customization = serde_json::from_str(r#"{"footer":"f"}"#).unwrap();
        assert_eq!(read.footer, "f");
        assert_eq!(read.login_help, "");
    }
}
