//! Server-rendered pages: the templates of `web/templates`, compiled into the binary and
//! rendered with auto-escaping.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;

pub struct Pages {
    env: Environment<'static>,
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
        ] {
            env.add_template(name, source).expect("templates compile");
        }
        Pages { env }
    }

    fn render_html(
        &self,
        template: &str,
        context: minijinja::Value,
    ) -> Result<String, minijinja::Error> {
        self.env.get_template(template)?.render(context)
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
}
