//! Headers on every response: the security headers, and the API version clients read
//! (`TFP-API-Version`, ...), which go-tfe takes from whatever answer its ping gets.
//!
//! Pages carry no inline script or style, so the Content-Security-Policy can forbid both;
//! the Swagger UI, which is not ours, gets a looser policy of its own. Capability URLs carry
//! their authorization in the path, so no response may leak its URL through `Referer`.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::routes::discovery::VERSION_HEADERS;

/// For our pages and for everything that is not a page (JSON, text): nothing may load, but
/// our own stylesheet and script (no inline script or style), the script may read our live
/// logs, and the consent form may post to us and redirect to the CLI's loopback listener
/// (`terraform login`).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                   script-src 'self'; connect-src 'self'; \
                   form-action 'self' http://localhost:* http://127.0.0.1:*; \
                   frame-ancestors 'none'; base-uri 'none'";
/// The Swagger UI ships its own scripts and inline styles.
const CSP_SWAGGER: &str = "default-src 'self'; img-src 'self' data:; \
                           style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";
const HSTS: &str = "max-age=31536000";

/// Adds the security and version headers a handler did not set itself.
pub async fn standard_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let swagger = request.uri().path().starts_with("/swagger-ui");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = if swagger { CSP_SWAGGER } else { CSP };
    let mut set = |name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, csp);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    if state.urls.strict_transport() {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    for (name, value) in VERSION_HEADERS {
        set(name, value);
    }
    response
}
