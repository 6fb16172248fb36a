//! How long signing in lasts. Browser sessions (the `terraform login` consent page's sign-in)
//! follow the organizations' `session-timeout` and `session-remember` (the strictest of the
//! user's organizations), checked against the real clock with the smallest value the API
//! accepts, one minute; the rule itself is unit-tested in crates/domain/src/sessions.rs.
//! Tokens `terraform login` issues expire after the configured TTL and then answer 401.
//! `terrace admin user set-password` ends the user's sessions, and with `--revoke-tokens` their
//! API tokens.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use terrace_tests::browser::Browser;
use terrace_tests::{both_databases, Db, Server};

fn create_organization(server: &Server, token: &str, name: &str, attributes: Value) {
    let mut attributes = attributes;
    attributes["name"] = json!(name);
    attributes["email"] = json!(format!("ops@{name}.example"));
    server
        .api(token)
        .post(
            "organizations",
            &json!({"data": {"type": "organizations", "attributes": attributes}}),
        )
        .expect(201);
}

/// The `terraform login` token among the user's tokens.
fn login_token_resource(server: &Server, token: &str) -> Value {
    let api = server.api(token);
    let user = api.get("account/details").ok().id();
    let tokens = api.get(&format!("users/{user}/authentication-tokens")).ok();
    tokens.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["attributes"]["description"] == "terraform login")
        .unwrap_or_else(|| panic!("no terraform login token: {}", tokens.text))
        .clone()
}

fn expired_at(resource: &Value) -> chrono_like::Instant {
    chrono_like::parse(
        resource["attributes"]["expired-at"]
            .as_str()
            .unwrap_or_else(|| panic!("the login token has no expired-at: {resource}")),
    )
}

/// Just enough RFC 3339 for `...Z` timestamps, as seconds since the epoch.
mod chrono_like {
    pub type Instant = f64;

    pub fn parse(text: &str) -> Instant {
        let (date, time) = text
            .trim_end_matches('Z')
            .split_once('T')
            .expect("RFC 3339");
        let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
        let t: Vec<f64> = time.split(':').map(|p| p.parse().unwrap()).collect();
        // Days from the civil date (Howard Hinnant's algorithm).
        let (y, m, day) = (d[0] - i64::from(d[1] <= 2), d[1], d[2]);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days as f64 * 86_400.0 + t[0] * 3600.0 + t[1] * 60.0 + t[2]
    }

    pub fn now() -> Instant {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }
}

both_databases!(sessions_follow_the_strictest_organization, |db: Db| {
    let server = Server::start(db);
    let browser = Browser::new(&server);
    // Sam belongs to a lenient organization and to one that ends idle sessions after a
    // minute; Rita's organization remembers sessions for a minute however active they are.
    let sam = server.user_token("sam");
    create_organization(&server, &sam, "lenient", json!({"session-timeout": 600}));
    create_organization(&server, &sam, "strict", json!({"session-timeout": 1}));
    let rita = server.user_token("rita");
    create_organization(&server, &rita, "brief", json!({"session-remember": 1}));
    // Nonsense is refused and changes nothing.
    let api = server.api(&rita);
    for bad in [json!(0), json!(-5), json!("soon")] {
        let reply = api.patch(
            "organizations/brief",
            &json!({"data": {"type": "organizations", "attributes": {"session-remember": bad}}}),
        );
        assert_eq!(reply.status, 422, "{bad}: {}", reply.text);
    }
    assert_eq!(
        api.get("organizations/brief").ok().attr("session-remember"),
        1
    );

    let start = Instant::now();
    let (sam_session, sam_max_age) = browser.sign_in("sam", "user-password-1");
    let (rita_session, rita_max_age) = browser.sign_in("rita", "user-password-1");
    let (admin_session, admin_max_age) = browser.sign_in("admin", &server.admin_password);
    // The browser keeps each cookie as long as the session may last.
    assert_eq!(rita_max_age, 60);
    assert_eq!(sam_max_age, 12 * 3600);
    assert_eq!(admin_max_age, 12 * 3600);
    assert_eq!(browser.signed_in_as(&rita_session).as_deref(), Some("rita"));
    assert!(browser.session_works(&admin_session));
    assert_eq!(browser.signed_in_as(&sam_session).as_deref(), Some("sam"));
    let sam_last_used = Instant::now();

    // Rita keeps using her session; Sam leaves his alone for a minute.
    std::thread::sleep(Duration::from_secs(35).saturating_sub(start.elapsed()));
    assert!(browser.session_works(&rita_session), "rita, at 35 s");
    std::thread::sleep(Duration::from_secs(62).saturating_sub(sam_last_used.elapsed()));

    assert_eq!(
        browser.signed_in_as(&sam_session),
        None,
        "sam's session was idle for a minute: the strict organization ends it"
    );
    assert!(!browser.session_works(&sam_session));
    assert!(
        !browser.session_works(&rita_session),
        "rita's session is older than her organization remembers, however active"
    );
    assert_eq!(
        browser.signed_in_as(&admin_session).as_deref(),
        Some("admin")
    );
    assert!(
        browser.session_works(&admin_session),
        "no organization of the admin limits sessions"
    );
    // Signing in again works.
    let (again, _) = browser.sign_in("sam", "user-password-1");
    assert!(browser.session_works(&again));
});

both_databases!(login_tokens_expire, |db: Db| {
    // 0.0001 days: 8.64 seconds.
    let server = Server::builder(db)
        .arg("--login-token-ttl-days")
        .arg("0.0001")
        .start();
    let browser = Browser::new(&server);
    server.user_token("lee");
    let token = browser.login_token("lee", "user-password-1");
    let issued = chrono_like::now();
    let resource = login_token_resource(&server, &token);
    let expires = expired_at(&resource);
    assert!(
        (expires - (issued + 8.64)).abs() < 3.0,
        "expired-at {} is not 8.64 s after the login",
        resource["attributes"]["expired-at"]
    );
    server.api(&token).get("account/details").ok();

    let wait = expires - chrono_like::now() + 1.0;
    std::thread::sleep(Duration::from_secs_f64(wait.max(0.0)));
    let reply = server.api(&token).get("account/details");
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.body["errors"][0]["status"], "401", "{}", reply.text);
    // Tokens made otherwise keep their own expiry (none here).
    let other = server.admin(&["token", "create", "--user", "lee"]);
    server.api(&other).get("account/details").ok();
});

both_databases!(set_password_ends_sessions_and_revokes_tokens, |db: Db| {
    let server = Server::start(db);
    let browser = Browser::new(&server);
    let cli_token = server.user_token("pat");
    let (session, _) = browser.sign_in("pat", "user-password-1");
    let login_token = browser.login_token("pat", "user-password-1");
    // terraform login tokens expire after 30 days by default.
    let expires = expired_at(&login_token_resource(&server, &login_token));
    let days = (expires - chrono_like::now()) / 86_400.0;
    assert!((29.9..=30.0).contains(&days), "{days} days");
    // Another user's session is not touched.
    server.user_token("quinn");
    let (bystander, _) = browser.sign_in("quinn", "user-password-1");
    assert!(browser.session_works(&session));

    let said = server.admin(&[
        "user",
        "set-password",
        "pat",
        "--password",
        "second-password-2",
    ]);
    // Two sessions: the sign-in above and the one `terraform login` made.
    assert!(said.contains("Ended 2 browser session"), "{said}");
    assert!(said.contains("still work"), "{said}");
    assert!(!browser.session_works(&session), "the old session ended");
    assert_eq!(browser.signed_in_as(&session), None);
    assert!(browser.session_works(&bystander));
    for token in [&cli_token, &login_token] {
        server.api(token).get("account/details").ok();
    }
    let refused = browser.approve(Some(("pat", "user-password-1")), None);
    assert_eq!(refused.status(), 401, "the old password is refused");
    let (second, _) = browser.sign_in("pat", "second-password-2");

    let said = server.admin(&[
        "user",
        "set-password",
        "pat",
        "--password",
        "third-password-3",
        "--revoke-tokens",
    ]);
    assert!(said.contains("Ended 1 browser session"), "{said}");
    assert!(said.contains("Revoked 2 API token"), "{said}");
    assert!(!browser.session_works(&second));
    for token in [&cli_token, &login_token] {
        let reply = server.api(token).get("account/details");
        assert_eq!(reply.status, 401, "{}", reply.text);
    }
    assert!(browser.session_works(&bystander));
    let quinn_token = server.admin(&["token", "create", "--user", "quinn"]);
    server.api(&quinn_token).get("account/details").ok();
});
