//! Server-rendered pages: the templates of `web/templates`, compiled into the binary and
//! rendered with auto-escaping. Every page also gets `custom`, the site's customization (the
//! admin API's customization settings: footer, login help, support address, ...), as last
//! read: [`Pages::set_customization`] is called at start, by the update on this replica, and
//! every [`CUSTOMIZATION_REFRESH`] to pick up other replicas' updates.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use terrace_domain::site_settings::Customization;

/// How often the customization is read again from the store.
pub const CUSTOMIZATION_REFRESH: Duration = Duration::from_secs(30);

pub struct Pages {
    env: Environment<'static>,
    customization: RwLock<Arc<Customization>>,
}

impl Pages {
    pub fn new() -> Pages {
        let mut env = Environment::new();
        for (name, source) in [
            (
                "base.html",
                include_str!("../../../web/templates/base.html"),
            ),
            (
                "authorize.html",
                include_str!("../../../web/templates/authorize.html"),
            ),
            (
                "error.html",
                include_str!("../../../web/templates/error.html"),
            ),
            (
                "app/layout.html",
                include_str!("../../../web/templates/app/layout.html"),
            ),
            (
                "app/macros.html",
                include_str!("../../../web/templates/app/macros.html"),
            ),
            (
                "app/sign_in.html",
                include_str!("../../../web/templates/app/sign_in.html"),
            ),
            (
                "app/organizations.html",
                include_str!("../../../web/templates/app/organizations.html"),
            ),
            (
                "app/workspaces.html",
                include_str!("../../../web/templates/app/workspaces.html"),
            ),
            (
                "app/workspace.html",
                include_str!("../../../web/templates/app/workspace.html"),
            ),
            (
                "app/runs.html",
                include_str!("../../../web/templates/app/runs.html"),
            ),
            (
                "app/run.html",
                include_str!("../../../web/templates/app/run.html"),
            ),
            (
                "app/variables.html",
                include_str!("../../../web/templates/app/variables.html"),
            ),
            (
                "app/states.html",
                include_str!("../../../web/templates/app/states.html"),
            ),
            (
                "app/state.html",
                include_str!("../../../web/templates/app/state.html"),
            ),
            (
                "app/settings.html",
                include_str!("../../../web/templates/app/settings.html"),
            ),
            (
                "app/variable.html",
                include_str!("../../../web/templates/app/variable.html"),
            ),
            (
                "app/resources.html",
                include_str!("../../../web/templates/app/resources.html"),
            ),
            (
                "app/tokens.html",
                include_str!("../../../web/templates/app/tokens.html"),
            ),
            (
                "app/variable_sets.html",
                include_str!("../../../web/templates/app/variable_sets.html"),
            ),
            (
                "app/variable_set.html",
                include_str!("../../../web/templates/app/variable_set.html"),
            ),
            (
                "app/people.html",
                include_str!("../../../web/templates/app/people.html"),
            ),
            (
                "app/team.html",
                include_str!("../../../web/templates/app/team.html"),
            ),
            (
                "app/access.html",
                include_str!("../../../web/templates/app/access.html"),
            ),
            (
                "app/organization.html",
                include_str!("../../../web/templates/app/organization.html"),
            ),
            (
                "app/admin_users.html",
                include_str!("../../../web/templates/app/admin_users.html"),
            ),
            (
                "app/admin_organizations.html",
                include_str!("../../../web/templates/app/admin_organizations.html"),
            ),
            (
                "app/agent_pools.html",
                include_str!("../../../web/templates/app/agent_pools.html"),
            ),
            (
                "app/agent_pool.html",
                include_str!("../../../web/templates/app/agent_pool.html"),
            ),
            (
                "app/registry.html",
                include_str!("../../../web/templates/app/registry.html"),
            ),
            (
                "app/registry_module.html",
                include_str!("../../../web/templates/app/registry_module.html"),
            ),
            (
                "app/registry_provider.html",
                include_str!("../../../web/templates/app/registry_provider.html"),
            ),
            (
                "app/projects.html",
                include_str!("../../../web/templates/app/projects.html"),
            ),
            (
                "app/project.html",
                include_str!("../../../web/templates/app/project.html"),
            ),
        ] {
            env.add_template(name, source).expect("templates compile");
        }
        env.add_global(
            "assets",
            minijinja::context! {
                // Our own paths: safe as they are (escaping would turn `/` into `&#x2f;`).
                css => minijinja::Value::from_safe_string(crate::assets::path("terrace.css")),
                js => minijinja::Value::from_safe_string(crate::assets::path("terrace.js")),
            },
        );
        Pages {
            env,
            customization: RwLock::default(),
        }
    }

    /// What the pages show of the site's customization from now on.
    pub fn set_customization(&self, customization: Customization) {
        let mut current = self
            .customization
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Arc::new(customization);
    }

    fn customization(&self) -> Arc<Customization> {
        self.customization
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn render_html(
        &self,
        template: &str,
        context: minijinja::Value,
    ) -> Result<String, minijinja::Error> {
        let custom = minijinja::Value::from(minijinja::value::Serde(&*self.customization()));
        self.env
            .get_template(template)?
            .render(minijinja::context! { custom => custom, ..context })
    }

    pub fn render(
        &self,
        status: StatusCode,
        template: &str,
        context: minijinja::Value,
    ) -> Response {
        match self.render_html(template, context) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(err) => {
                tracing::error!(template, error = %err, "page failed to render");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }

    pub fn error(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.render(status, "error.html", minijinja::context! { title, message })
    }
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_it_renders() {
        let pages = Pages::new();
        let html = pages
            .render_html(
                "error.html",
                minijinja::context! { title => "Oops", message => "<script>alert(1)</script>" },
            )
            .unwrap();
        assert!(html.contains("&lt;script&gt;alert(1)"), "{html}");
        assert!(!html.contains("<script>"));
        let response = pages.error(StatusCode::BAD_REQUEST, "Oops", "x");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn shows_the_customization_as_text() {
        let pages = Pages::new();
        let error = |pages: &Pages| {
            pages
                .render_html(
                    "error.html",
                    minijinja::context! { title => "Oops", message => "m" },
                )
                .unwrap()
        };
        let plain = error(&pages);
        assert!(!plain.contains("<footer"), "{plain}");
        assert!(!plain.contains("mailto:"), "{plain}");
        pages.set_customization(Customization {
            support_email: "help@example.com".into(),
            footer: "<p>Custom Footer</p>".into(),
            error: "<em>Call us</em>".into(),
            login_help: "Use your <b>corp</b> account".into(),
            new_user: "New? Ask IT".into(),
        });
        let html = error(&pages);
        assert!(
            html.contains("&lt;p&gt;Custom Footer&lt;&#x2f;p&gt;"),
            "{html}"
        );
        assert!(html.contains("&lt;em&gt;Call us"), "{html}");
        assert!(html.contains("mailto:help@example.com"), "{html}");
        assert!(!html.contains("<em>"), "{html}");
        let consent = pages
            .render_html(
                "authorize.html",
                minijinja::context! { host => "h", csrf => "c", oauth => Vec::<(String, String)>::new() },
            )
            .unwrap();
        assert!(
            consent.contains("Use your &lt;b&gt;corp&lt;&#x2f;b&gt; account"),
            "{consent}"
        );
        assert!(consent.contains("New? Ask IT"), "{consent}");
        assert!(consent.contains("&lt;p&gt;Custom Footer"), "{consent}");
        // Signed in: no sign-in help.
        let signed_in = pages
            .render_html(
                "authorize.html",
                minijinja::context! { host => "h", csrf => "c", user => "ann", oauth => Vec::<(String, String)>::new() },
            )
            .unwrap();
        assert!(!signed_in.contains("corp"), "{signed_in}");
    }
}
