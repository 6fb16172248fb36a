//! Prometheus metrics, served at `/metrics` on their own address (`--metrics-listen`, off by
//! default) so that they are never reachable where the API is published: HTTP requests by
//! route template and status with their latency, requests refused by a rate limit, jobs' queue
//! wait and duration, state bytes in and out, and, read at each scrape, runs by status and the
//! server's listeners with their capacity. Only installation-wide counts: no tenant's names,
//! IDs or paths (routes are templates).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use terrace_domain::observe::{Direction, Observer};
use terrace_domain::Services;

type Labels = Vec<(&'static str, String)>;

/// Request latency buckets, in seconds: from a cached page to a large state upload.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// How long jobs wait in their queue, in seconds: a listener's claim is answered at once when
/// one waits; longer means no capacity.
const QUEUE_WAIT_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
/// How long jobs run, in seconds: from a small plan to a long apply.
const JOB_DURATION_BUCKETS: [f64; 11] = [
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// What the server counts as it works (the domain reports jobs and state transfers as its
/// [`Observer`]); the scrape adds what it reads from the database.
pub struct Metrics {
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    rate_limited: Family<Labels, Counter>,
    queue_wait: Family<Labels, Histogram>,
    job_duration: Family<Labels, Histogram>,
    state_bytes: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(LATENCY_BUCKETS.iter().copied())
            }),
            rate_limited: Family::default(),
            queue_wait: Family::new_with_constructor(|| {
                Histogram::new(QUEUE_WAIT_BUCKETS.iter().copied())
            }),
            job_duration: Family::new_with_constructor(|| {
                Histogram::new(JOB_DURATION_BUCKETS.iter().copied())
            }),
            state_bytes: Family::default(),
        }
    }
}

impl Observer for Metrics {
    fn job_started(&self, kind: &str, waited: Duration) {
        self.queue_wait
            .get_or_create(&vec![("kind", kind.to_string())])
            .observe(waited.as_secs_f64());
    }

    fn job_ended(&self, kind: &str, status: &str, took: Duration) {
        self.job_duration
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("status", status.to_string()),
            ])
            .observe(took.as_secs_f64());
    }

    fn state_bytes(&self, direction: Direction, bytes: u64) {
        self.state_bytes
            .get_or_create(&vec![("direction", direction.as_str().to_string())])
            .inc_by(bytes);
    }
}

impl Metrics {
    /// One request answered: its method, route template (empty for no route), status and time.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let route = if route.is_empty() { "(none)" } else { route };
        let labels = vec![("method", method.to_string()), ("route", route.to_string())];
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        let mut labels = labels;
        labels.push(("status", status.to_string()));
        self.requests.get_or_create(&labels).inc();
    }

    /// One request refused by a rate limit of `class` (token, runner, capability, anonymous).
    pub fn rate_limited(&self, class: &str) {
        self.rate_limited
            .get_or_create(&vec![("class", class.to_string())])
            .inc();
    }

    /// The exposition: the counters above and the figures read now.
    async fn render(&self, services: &Services) -> Result<String, String> {
        let figures = services.figures().await.map_err(|e| e.to_string())?;
        let mut registry = Registry::with_prefix("terrace");
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            self.latency.clone(),
        );
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429 by a rate limit, by the limit's class",
            self.rate_limited.clone(),
        );
        registry.register(
            "job_queue_wait_seconds",
            "Time a job waited in its queue before a listener claimed it, by kind (plan, apply)",
            self.queue_wait.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time from a job's claim to its end, by kind and how it ended",
            self.job_duration.clone(),
        );
        registry.register(
            "state_bytes",
            "Bytes of state stored from uploads (in) and sent to clients and runners (out)",
            self.state_bytes.clone(),
        );
        let runs = Family::<Labels, Gauge>::default();
        for (status, count) in &figures.runs_by_status {
            runs.get_or_create(&vec![("status", status.clone())])
                .set(*count);
        }
        registry.register("runs", "Runs of the installation, by status", runs);
        let queued = Gauge::<i64>::default();
        queued.set(figures.queued_runs);
        registry.register(
            "runs_waiting",
            "Runs waiting for a listener (plan or apply queued)",
            queued,
        );
        let listeners = Gauge::<i64>::default();
        listeners.set(figures.listeners);
        registry.register(
            "listeners",
            "The server's own runner listeners (agent pools' excluded)",
            listeners,
        );
        let capacity = Gauge::<i64>::default();
        capacity.set(figures.listener_capacity);
        registry.register(
            "listener_capacity",
            "Jobs the server's listeners may run at once, together",
            capacity,
        );
        let mut text = String::new();
        encode(&mut text, &registry).map_err(|e| format!("metrics encoding: {e}"))?;
        Ok(text)
    }
}

/// `GET /metrics` of the metrics address.
async fn scrape(State((metrics, services)): State<(Arc<Metrics>, Services)>) -> Response {
    match metrics.render(&services).await {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot read the figures for /metrics");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The metrics address's routes: `/metrics` only.
pub fn router(metrics: Arc<Metrics>, services: Services) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .with_state((metrics, services))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_template_and_timed() {
        let metrics = Metrics::default();
        let route = "/api/v2/workspaces/{workspace_id}";
        metrics.request("GET", route, 200, Duration::from_millis(3));
        metrics.request("GET", route, 200, Duration::from_millis(30));
        metrics.request("GET", "", 404, Duration::from_millis(1));
        metrics.rate_limited("token");
        let mut registry = Registry::default();
        registry.register("http_requests", "", metrics.requests.clone());
        registry.register("latency", "", metrics.latency.clone());
        registry.register("limited", "", metrics.rate_limited.clone());
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(&format!(
            "http_requests_total{{method=\"GET\",route=\"{route}\",status=\"200\"}} 2"
        )));
        assert!(text.contains("route=\"(none)\",status=\"404\"} 1"));
        assert!(
            text.contains(&format!(
                "latency_bucket{{le=\"0.005\",method=\"GET\",route=\"{route}\"}} 1"
            )) || text.contains(&format!(
                "latency_bucket{{method=\"GET\",route=\"{route}\",le=\"0.005\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains("limited_total{class=\"token\"} 1"), "{text}");
    }
}
