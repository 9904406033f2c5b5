//! The credential chain against the mock's STS, ECS-metadata and credentials-URI
//! stand-ins: each temporary source end to end through a worker, rotation in the
//! middle of a batch, a forced refresh, readiness while no credentials are held,
//! and the error when no source is set. Real PostgreSQL and RabbitMQ.

#[path = "support/mod.rs"]
#[allow(unused_imports)] // the process half of the support is not used here
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use id2meta::config::Config;
use id2meta::credentials::{self, CredentialsHandle, Settings};
use id2meta::mock::{MockConfig, MockHandle};
use id2meta::upstream::signing::Scheme;
use id2meta::upstream::{Client, Outcome, UpstreamConfig};
use tokio_util::sync::CancellationToken;

use support::World;

/// A mock that accepts only credentials it issued, valid `ttl`.
fn sts_only(ttl: Duration) -> MockConfig {
    MockConfig {
        sts_ttl: ttl,
        sts_only: true,
        ..MockConfig::default()
    }
}

/// The chain's settings from these variables alone (nothing from the process).
fn chain_settings(pairs: &[(&str, &str)]) -> Settings {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings = Settings::from_lookup(&|name| map.get(name).cloned());
    assert_eq!(settings.invalid, None, "usable test settings");
    settings
}

/// A temporary OIDC token file (RRSA mounts one; the kubelet rewrites it in place).
struct TokenFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TokenFile {
    fn new(content: Option<&str>) -> Self {
        let dir = std::env::temp_dir().join(format!("id2meta-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let path = dir.join("token");
        let file = Self { dir, path };
        if let Some(content) = content {
            file.write(content);
        }
        file
    }

    fn write(&self, content: &str) {
        std::fs::write(&self.path, content).expect("the token file is written");
    }

    fn path(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The three variables RRSA injects, pointed at the mock's STS.
fn oidc_settings(mock: &MockHandle, token: &TokenFile) -> Settings {
    let endpoint = mock.endpoint();
    let token_path = token.path();
    chain_settings(&[
        ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234:role/id2meta"),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1234:oidc-provider/ack-rrsa",
        ),
        ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token_path),
        ("ID2META_STS_ENDPOINT", &endpoint),
    ])
}

/// The world's configuration with the static pair removed and `settings` as the chain.
fn config_with(world: &World, settings: Settings) -> Config {
    let mut config = world.config.clone();
    config.access_key_id = None;
    config.access_key_secret = None;
    config.security_token = None;
    config.credentials = settings;
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config
}

async fn readyz(addr: SocketAddr) -> (u16, String) {
    let response = id2meta::tls::get(format!("http://{addr}/readyz"))
        .await
        .expect("the HTTP endpoints answer");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Polls `probe` every 50 ms until it holds, or panics after `within`.
async fn until<F, Fut>(what: &str, within: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !probe().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not reached within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a worker on `config` over `jobs` people, and checks each was settled once
/// with one call each. Returns the mock's stats.
async fn run_batch(world: &World, config: Config, jobs: u64) -> id2meta::mock::Stats {
    let shutdown = CancellationToken::new();
    let worker = id2meta::app::start(config, shutdown.clone())
        .await
        .expect("the worker starts");
    let job_ids = world.publish_people(jobs).await;
    world
        .wait_for_rows(jobs as i64, Duration::from_secs(90))
        .await;
    shutdown.cancel();
    worker.wait().await.expect("the worker stops cleanly");
    let calls = world.assert_settled_once(&job_ids).await;
    assert_eq!(calls, jobs, "one upstream call per job");
    world.mock.stats()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_only_oidc_variables_rotates_credentials_mid_batch_and_verifies_every_job_once(
) {
    const JOBS: u64 = 120;
    let world = World::new(sts_only(Duration::from_secs(20))).await;
    let token = TokenFile::new(Some("oidc-token-1"));
    let mut config = config_with(&world, oidc_settings(&world.mock, &token));
    // 5 calls a second: the batch lasts about 24 s, past the first refresh (at 15 s).
    config.qps = 5.0;
    config.concurrency = 4;
    let shutdown = CancellationToken::new();
    let worker = id2meta::app::start(config, shutdown.clone())
        .await
        .expect("the worker starts");
    let job_ids = world.publish_people(JOBS).await;
    world.wait_for_rows(30, Duration::from_secs(60)).await;
    // The kubelet rotates the projected token in place.
    token.write("oidc-token-2");
    world
        .wait_for_rows(JOBS as i64, Duration::from_secs(120))
        .await;
    shutdown.cancel();
    worker.wait().await.expect("the worker stops cleanly");

    let calls = world.assert_settled_once(&job_ids).await;
    let stats = world.mock.stats();
    println!("{stats:?}");
    assert_eq!(calls, JOBS, "one upstream call per job");
    assert_eq!(stats.verdict_calls, JOBS);
    assert_eq!(
        stats.expired_credential_calls, 0,
        "a call was made with expired credentials"
    );
    assert!(stats.sts_calls >= 2, "only {} STS calls", stats.sts_calls);
    assert_eq!(
        stats.oidc_tokens_seen, 2,
        "the rotated token file was not re-read"
    );
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ecs_ram_role_path_works_end_to_end_against_the_metadata_stand_in() {
    let world = World::new(sts_only(Duration::from_secs(3600))).await;
    let endpoint = world.mock.endpoint();
    let settings = chain_settings(&[("ID2META_ECS_METADATA_ENDPOINT", &endpoint)]);
    let stats = run_batch(&world, config_with(&world, settings), 20).await;
    assert_eq!(stats.credential_calls, 1, "{stats:?}");
    assert_eq!(stats.sts_calls, 0);
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credentials_uri_path_works_end_to_end() {
    let world = World::new(sts_only(Duration::from_secs(3600))).await;
    let uri = format!("{}/__credentials", world.mock.endpoint());
    let settings = chain_settings(&[
        ("ALIBABA_CLOUD_CREDENTIALS_URI", &uri),
        // Set too, but the URI comes first: the metadata service is never asked.
        ("ID2META_ECS_METADATA_ENDPOINT", "http://127.0.0.1:1"),
    ]);
    let stats = run_batch(&world, config_with(&world, settings), 20).await;
    assert_eq!(stats.credential_calls, 1, "{stats:?}");
    world.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_source_fails_at_start_is_not_ready_until_credentials_come() {
    let world = World::new(sts_only(Duration::from_secs(3600))).await;
    // RRSA's variables are set but the token is not mounted yet.
    let token = TokenFile::new(None);
    let config = config_with(&world, oidc_settings(&world.mock, &token));
    let shutdown = CancellationToken::new();
    let worker = id2meta::app::start(config, shutdown.clone())
        .await
        .expect("the worker starts, not ready");
    let addr = worker.http_addr;
    until(
        "not ready for lack of credentials",
        Duration::from_secs(20),
        || async {
            let (status, reason) = readyz(addr).await;
            status == 503 && reason.contains("credentials")
        },
    )
    .await;
    assert_eq!(world.mock.stats().sts_calls, 0);
    token.write("oidc-token-late");
    until(
        "ready once the token is there",
        Duration::from_secs(60),
        || async { readyz(addr).await.0 == 200 },
    )
    .await;
    assert_eq!(world.mock.stats().sts_calls, 1);
    shutdown.cancel();
    worker.wait().await.expect("the worker stops cleanly");
    world.cleanup().await;
}

#[tokio::test]
async fn with_no_source_set_the_worker_does_not_start_and_names_every_source_tried() {
    let base = HashMap::from([("ID2META_PII_KEY", "test-pii-key-0123456789")]);
    let mut disabled = base.clone();
    disabled.insert("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    let mut unreachable = base.clone();
    unreachable.insert("ID2META_ECS_METADATA_ENDPOINT", "http://127.0.0.1:1");
    for (env, why) in [(disabled, "disabled"), (unreachable, "unreachable")] {
        let config = Config::from_source(&env).expect("a config");
        let error = match id2meta::app::start(config, CancellationToken::new()).await {
            Ok(_) => panic!("a worker started without credentials"),
            Err(error) => format!("{error:#}"),
        };
        for name in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ROLE_ARN",
            "ALIBABA_CLOUD_CREDENTIALS_URI",
            "ECS RAM role",
            why,
        ] {
            assert!(error.contains(name), "{name} missing from: {error}");
        }
    }
}

/// A client over a fixed handle, to make calls with chosen credentials.
fn client_over(mock: &MockHandle, credentials: CredentialsHandle, signature: Scheme) -> Client {
    Client::new(UpstreamConfig {
        endpoint: mock.endpoint(),
        credentials,
        signature,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
    })
    .expect("a client")
}

/// A mock issuing credentials valid `ttl`, and the chain started on OIDC against it.
async fn oidc_chain(
    ttl: Duration,
) -> (
    MockHandle,
    TokenFile,
    credentials::Started,
    CancellationToken,
) {
    let mock = id2meta::mock::start(sts_only(ttl), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the mock starts");
    let token = TokenFile::new(Some("oidc-token"));
    let shutdown = CancellationToken::new();
    let started = credentials::start(&oidc_settings(&mock, &token), shutdown.clone())
        .await
        .expect("the chain starts");
    (mock, token, started, shutdown)
}

fn code(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failure(failure) => failure.code.clone(),
        Outcome::Verdict { .. } => "Success".into(),
    }
}

#[tokio::test]
async fn the_mock_answers_expired_after_the_ttl_and_refuses_the_static_pair_when_sts_only() {
    // Long enough that the first probes come before the expiry on a loaded machine
    // (1 s was not: the probes then met an expired set).
    let (mock, _token, started, shutdown) = oidc_chain(Duration::from_secs(5)).await;
    let first = started.handle.current().expect("credentials at start");
    assert!(first.access_key_id.starts_with("STS."));
    // Pinned without its expiry, so the client keeps signing with it after it (a
    // worker's handle would stop offering it; the mock must still refuse it).
    let pinned = CredentialsHandle::fixed(credentials::Credentials {
        expires_at: None,
        ..(*first).clone()
    });
    let schemes = [Scheme::V2, Scheme::V3];
    let clients = schemes.map(|scheme| client_over(&mock, pinned.clone(), scheme));
    for client in &clients {
        // A probe with valid credentials reaches the parameter check (not billed).
        assert_eq!(code(&client.probe().await), "MissingParameter");
    }
    let expires = first.expires_at.expect("an expiry");
    until("the first set expired", Duration::from_secs(20), || async {
        chrono::Utc::now() > expires
    })
    .await;
    for client in &clients {
        assert_eq!(code(&client.probe().await), "InvalidSecurityToken.Expired");
    }
    assert_eq!(mock.stats().expired_credential_calls, 2);
    let static_pair = CredentialsHandle::fixed(credentials::Credentials::fixed(
        "testid",
        id2meta::secret::Secret::new("testsecret"),
        None,
    ));
    for scheme in schemes {
        let client = client_over(&mock, static_pair.clone(), scheme);
        assert_eq!(code(&client.probe().await), "InvalidAccessKeyId.NotFound");
    }
    shutdown.cancel();
    mock.shutdown().await.expect("the mock stops");
}

#[tokio::test]
async fn a_forced_refresh_replaces_the_stale_set_at_once_and_only_once() {
    let (mock, _token, started, shutdown) = oidc_chain(Duration::from_secs(3600)).await;
    let handle = started.handle;
    let first = handle.current().expect("credentials at start");
    // As after `InvalidSecurityToken.Expired`: an hour-long set, replaced now.
    let fresh = handle
        .force_refresh(&first, Duration::from_secs(20))
        .await
        .expect("new credentials");
    assert_ne!(fresh.access_key_id, first.access_key_id);
    assert_eq!(mock.stats().sts_calls, 2);
    // A late request about the old set is answered by the new one, without STS.
    let again = handle
        .force_refresh(&first, Duration::from_secs(20))
        .await
        .expect("the current credentials");
    assert_eq!(again.access_key_id, fresh.access_key_id);
    assert_eq!(mock.stats().sts_calls, 2);
    // A fixed pair cannot be refreshed: the caller hears so at once.
    let fixed = CredentialsHandle::fixed((*fresh).clone());
    assert!(fixed
        .force_refresh(&fresh, Duration::from_secs(20))
        .await
        .is_none());
    shutdown.cancel();
    mock.shutdown().await.expect("the mock stops");
}

/// A credentials URI whose every answer has expired already; counts the requests.
async fn expired_credentials_uri() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let asked = std::sync::Arc::new(AtomicU64::new(0));
    let counter = asked.clone();
    let app = axum::Router::new().route(
        "/credentials",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                axum::Json(serde_json::json!({
                    "Code": "Success",
                    "AccessKeyId": "STS.expired",
                    "AccessKeySecret": "secret",
                    "SecurityToken": "token",
                    "Expiration": "2020-01-01T00:00:00Z",
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/credentials"), asked)
}

#[tokio::test]
async fn credentials_that_arrive_already_expired_are_asked_for_again_with_backoff_not_in_a_loop() {
    let (uri, asked) = expired_credentials_uri().await;
    let shutdown = CancellationToken::new();
    let settings = chain_settings(&[("ALIBABA_CLOUD_CREDENTIALS_URI", &uri)]);
    let _started = credentials::start(&settings, shutdown.clone())
        .await
        .expect("the chain starts");
    // Backing off (1 s, 2 s, ...), 3 s hold at most 3 more requests; a loop makes thousands.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests = asked.load(std::sync::atomic::Ordering::SeqCst);
    shutdown.cancel();
    assert!(requests <= 4, "{requests} requests in 3 s");
}
