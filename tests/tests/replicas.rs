//! Two `terrace serve` replicas on one PostgreSQL database, one S3 store and one Redis
//! (`scripts/services.sh` starts them): a run queued on one is claimed at once by a listener
//! connected to the other, a plan's log is read live from the replica its runner does not
//! write to, a token over its rate limit on one replica is over it on both, and a token
//! revoked through one is refused by the other from the next request.

use std::time::{Duration, Instant};

use serde_json::json;
use terrace_tests::access::create_workspace;
use terrace_tests::listener::ListenerProcess;
use terrace_tests::runs::{
    create_run, phase_log, upload_configuration, wait_for_run, SilentSource,
};
use terrace_tests::{Db, Server, ServerBuilder};

/// The issue's bound on how long a queued job waits for an idle listener on another replica.
/// Without the signal the listener finds it when its claim looks again, after up to a second.
const CLAIM_BOUND_MS: f64 = 100.0;
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

fn redis_url() -> String {
    std::env::var("TERRACE_TEST_REDIS_URL")
        .expect("TERRACE_TEST_REDIS_URL is required (scripts/services.sh starts Redis and sets it)")
}

/// How replicas reach each other.
#[derive(Clone, Copy, Debug)]
enum Through {
    Redis,
    /// PostgreSQL's LISTEN/NOTIFY (no Redis configured).
    Postgres,
}

/// A replica: on the shared database (the first one's, if any) and S3 prefix, with no
/// built-in listener (listeners connect from outside, as in the chart).
fn replica(
    first: Option<&Server>,
    prefix: &str,
    through: Through,
    rate_limit: Option<(&str, &str)>,
) -> Server {
    let mut builder: ServerBuilder = Server::builder(Db::Postgres)
        .s3_storage(prefix)
        .arg("--no-listener");
    if let Through::Redis = through {
        builder = builder.args(&["--redis-url", &redis_url()]);
    }
    if let Some(first) = first {
        builder = builder.database_url(first.database_url.as_deref().unwrap());
    }
    builder = match rate_limit {
        Some((rate, burst)) => builder.args(&["--rate-limit", rate, "--rate-limit-burst", burst]),
        None => builder.without_rate_limits(),
    };
    builder.start()
}

/// How long the plan of `run_id` waited between being queued and claimed.
fn claim_delay_ms(database_url: &str, run_id: &str) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query_scalar::<_, f64>(
            "SELECT (EXTRACT(EPOCH FROM (claimed_at - queued_at)) * 1000)::float8 \
             FROM run_phases WHERE run_id = $1 AND kind = 'plan'",
        )
        .bind(run_id)
        .fetch_one(&pool)
        .await
        .unwrap()
    })
}

/// Two replicas, a user token, and the only listener, connected to replica two.
struct Pair {
    one: Server,
    two: Server,
    token: String,
    _listener: ListenerProcess,
}

fn pair(name: &str, through: Through) -> Pair {
    let prefix = format!("{name}-{}", std::process::id());
    let one = replica(None, &prefix, through, None);
    let two = replica(Some(&one), &prefix, through, None);
    let token = one.admin_token();
    let agent_token = one.admin(&["listener-token", "--description", "replica two"]);
    let listener = ListenerProcess::start(&two, agent_token.trim(), "on-replica-two");
    Pair {
        one,
        two,
        token,
        _listener: listener,
    }
}

fn workspace(api: &terrace_tests::Api, name: &str, main_tf: &str) -> String {
    let ws = create_workspace(api, "default", name, None);
    upload_configuration(api, &ws, &[("main.tf", main_tf)], false);
    ws
}

fn claims_across_replicas(through: Through) {
    let pair = pair("replicas-claims", through);
    let (api_one, api_two) = (pair.one.api(&pair.token), pair.two.api(&pair.token));
    let ws = workspace(
        &api_one,
        "replicated",
        r#"resource "terraform_data" "a" { input = "x" }"#,
    );
    // Each plan is queued on replica one while the listener waits in a claim on replica
    // two (it went back to waiting after the previous plan, and had a moment to).
    let mut delays = Vec::new();
    for n in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        let run = create_run(&api_one, &ws, None, json!({"plan-only": true})).id();
        wait_for_run(&api_two, &run, &["planned_and_finished"], RUN_TIMEOUT);
        let delay = claim_delay_ms(pair.one.database_url.as_deref().unwrap(), &run);
        eprintln!("{through:?}, run {n}: claimed {delay:.1} ms after it was queued");
        delays.push(delay);
    }
    assert!(
        delays.iter().all(|d| *d < CLAIM_BOUND_MS),
        "through {through:?}, a run queued on one replica waited longer than \
         {CLAIM_BOUND_MS} ms for the listener on the other: {delays:?}"
    );
}

#[test]
fn a_run_queued_on_one_replica_is_claimed_at_once_by_a_listener_on_the_other_through_redis() {
    claims_across_replicas(Through::Redis);
}

#[test]
fn a_run_queued_on_one_replica_is_claimed_at_once_by_a_listener_on_the_other_through_postgres() {
    claims_across_replicas(Through::Postgres);
}

#[test]
fn a_plan_log_written_through_one_replica_is_read_live_on_the_other() {
    let pair = pair("replicas-logs", Through::Redis);
    let api_one = pair.one.api(&pair.token);
    // A plan that blocks mid-way: its log so far is read through replica one while the
    // runner writes it through replica two.
    let silent = SilentSource::new();
    let ws = workspace(&api_one, "live-log", &silent.configuration());
    let run = create_run(&api_one, &ws, None, json!({"plan-only": true})).id();
    let held = silent.accept();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = api_one.get(&format!("runs/{run}")).ok();
        assert_eq!(status.attr("status"), "planning", "{}", status.text);
        let log = phase_log(&api_one, &run, "plan");
        if log.contains("data.terraform_remote_state.slow: Refreshing...") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the running plan's log did not reach replica one:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Canceled through replica one: the runner, on two, hears of it and stops.
    api_one
        .post(&format!("runs/{run}/actions/cancel"), &json!({}))
        .expect(202);
    wait_for_run(&api_one, &run, &["canceled"], RUN_TIMEOUT);
    drop(held);
}

#[test]
fn a_token_over_its_limit_on_one_replica_is_over_it_on_both() {
    let prefix = format!("replicas-limits-{}", std::process::id());
    // One request a second, ten at once.
    let one = replica(None, &prefix, Through::Redis, Some(("1", "10")));
    let two = replica(Some(&one), &prefix, Through::Redis, Some(("1", "10")));
    let token = one.admin_token();
    let (api_one, api_two) = (one.api(&token), two.api(&token));

    // Alternating between the replicas, the requests draw on one bucket.
    let mut remaining = Vec::new();
    for n in 0..6 {
        let api = if n % 2 == 0 { &api_one } else { &api_two };
        let reply = api.get("organizations/default");
        assert_eq!(reply.status, 200, "{}", reply.text);
        let left: u32 = reply.headers["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        remaining.push(left);
    }
    assert!(
        remaining.windows(2).all(|w| w[1] < w[0]),
        "each request, on either replica, takes from the same bucket: {remaining:?}"
    );

    // Emptied on one...
    let mut limited = None;
    for _ in 0..20 {
        let reply = api_one.get("organizations/default");
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("replica one limits the token");
    assert!(limited.headers.contains_key("retry-after"));
    // ...and limited on the other.
    let reply = api_two.get("organizations/default");
    assert_eq!(
        reply.status, 429,
        "replica two let it through: {}",
        reply.text
    );
    assert!(reply.text.contains("rate limit"), "{}", reply.text);

    // Another token has its own bucket on both.
    let other = one.user_token("bob");
    assert_eq!(
        api_two.with_token(&other).get("account/details").status,
        200
    );
}

#[test]
fn a_token_revoked_through_one_replica_is_refused_at_once_by_the_other() {
    // Each replica keeps the credentials it has read (crates/domain/src/credentials.rs);
    // what another replica changes reaches it through the database, not a signal.
    let prefix = format!("replicas-credentials-{}", std::process::id());
    let one = replica(None, &prefix, Through::Postgres, None);
    let two = replica(Some(&one), &prefix, Through::Postgres, None);
    let admin_one = one.api(&one.admin_token());
    let bob_token = one.user_token("bob");
    let (bob_one, bob_two) = (one.api(&bob_token), two.api(&bob_token));
    let bob_id = bob_one.get("account/details").expect(200).id();

    let second = bob_one
        .post(
            &format!("users/{bob_id}/authentication-tokens"),
            &json!({"data": {"type": "authentication-tokens", "attributes": {"description": "second"}}}),
        )
        .expect(201);
    let second_two = two.api(second.attr("token").as_str().unwrap());
    for _ in 0..3 {
        second_two.get("account/details").expect(200);
    }
    bob_one
        .delete(&format!("authentication-tokens/{}", second.id()))
        .expect(204);
    second_two.get("account/details").expect(401);

    for _ in 0..3 {
        bob_two.get("account/details").expect(200);
    }
    admin_one
        .post(&format!("admin/users/{bob_id}/actions/suspend"), &json!({}))
        .expect(200);
    bob_two.get("account/details").expect(401);
}
