//! The upstream client against the in-process mock, over real sockets: every verdict,
//! every class of failure under both of Alibaba's transport shapes, and the mock's own
//! strictness (signature, key, timestamp, nonce, QPS limit).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use id2meta::credentials::{Credentials, CredentialsHandle};
use id2meta::identity::Identity;
use id2meta::mock::{self, population, MockConfig, MockHandle, ScriptStep, SettingsPatch};
use id2meta::secret::Secret;
use id2meta::upstream::signing::Scheme;
use id2meta::upstream::{Client, Failure, FailureClass, Outcome, UpstreamConfig, Verdict};

const TRANSIENT: FailureClass = FailureClass::Transient { throttled: false };
const THROTTLED: FailureClass = FailureClass::Transient { throttled: true };

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_mock(config: MockConfig) -> MockHandle {
    mock::start(config, any_port())
        .await
        .expect("the mock starts")
}

fn config_for(endpoint: String) -> UpstreamConfig {
    UpstreamConfig {
        endpoint,
        credentials: pair("testid", "testsecret"),
        signature: Scheme::default(),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
    }
}

fn pair(id: &str, secret: &str) -> CredentialsHandle {
    CredentialsHandle::fixed(Credentials::fixed(id, Secret::new(secret), None))
}

fn client(mock: &MockHandle) -> Client {
    Client::new(config_for(mock.endpoint())).expect("a client")
}

fn identity(name: &str, id_number: &str) -> Identity {
    Identity::parse(name, id_number).expect("a valid identity")
}

/// The i-th synthetic person as an identity, with the verdict the mock will give.
fn person(i: u64) -> (Identity, Verdict) {
    let (name, id_number, verdict) = population::person(i);
    (identity(&name, &id_number), verdict)
}

/// Verifies `who` once with a client built from `config`, expecting a failure.
async fn failure_with(config: UpstreamConfig, who: &Identity) -> Failure {
    failure(Client::new(config).expect("a client").verify(who).await)
}

fn failure(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Failure(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Scripts `code` on HTTP 200 and under its documented status; checks both classes.
async fn assert_class_under_both_shapes(code: &str, class: FailureClass, documented_status: u16) {
    let mock = start_mock(MockConfig::default()).await;
    let (who, _) = person(1);
    let on_200 = ScriptStep {
        http_status: Some(200),
        ..ScriptStep::code(code)
    };
    mock.script(who.id_number.expose(), [ScriptStep::code(code), on_200]);
    let c = client(&mock);
    for status in [documented_status, 200] {
        let f = failure(c.verify(&who).await);
        assert_eq!(
            (f.code.as_str(), f.class, f.http_status),
            (code, class, Some(status))
        );
        assert!(f.request_id.is_some_and(|id| id.len() == 36));
    }
}

#[tokio::test]
async fn each_verdict_comes_back_as_the_population_predicts() {
    let mock = start_mock(MockConfig::default()).await;
    let c = client(&mock);
    for i in [0, 3, 7] {
        let (who, expected) = person(i);
        match c.verify(&who).await {
            Outcome::Verdict {
                verdict,
                request_id,
            } => {
                assert_eq!(verdict, expected, "person {i}");
                assert_eq!(request_id.len(), 36);
            }
            other => panic!("person {i}: {other:?}"),
        }
    }
    let stats = mock.stats();
    assert_eq!((stats.calls, stats.verdict_calls), (3, 3));
}

#[tokio::test]
async fn a_name_with_a_space_is_signed_so_the_mock_accepts_it() {
    let mock = start_mock(MockConfig::default()).await;
    let (_, id_number, _) = population::person(2);
    let outcome = client(&mock)
        .verify(&identity("欧阳 娜娜", &id_number))
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Verdict {
                verdict: Verdict::Mismatch,
                ..
            }
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_permanent_error_is_permanent_under_both_transport_shapes() {
    assert_class_under_both_shapes("InvalidParameter", FailureClass::Permanent, 401).await;
}

#[tokio::test]
async fn a_transient_error_is_transient_under_both_transport_shapes() {
    assert_class_under_both_shapes("InternalError", TRANSIENT, 500).await;
}

#[tokio::test]
async fn throttling_is_transient_and_asks_for_a_pause_under_both_transport_shapes() {
    assert_class_under_both_shapes("Throttling.User", THROTTLED, 400).await;
}

#[tokio::test]
async fn an_account_refusal_is_account_level_under_both_transport_shapes() {
    assert_class_under_both_shapes("Forbidden.RAMUserAccessDenied", FailureClass::Account, 403)
        .await;
}

#[tokio::test]
async fn a_retryable_error_followed_by_success_gives_the_verdict_on_the_second_call() {
    let mock = start_mock(MockConfig::default()).await;
    let (who, expected) = person(4);
    mock.script(who.id_number.expose(), ["InternalError", "Success"]);
    let c = client(&mock);
    assert_eq!(failure(c.verify(&who).await).class, TRANSIENT);
    assert!(
        matches!(c.verify(&who).await, Outcome::Verdict { verdict, .. } if verdict == expected)
    );
    assert_eq!(mock.stats().verdict_calls, 1);
}

#[tokio::test]
async fn a_bad_secret_gives_an_account_level_error() {
    let mock = start_mock(MockConfig::default()).await;
    let mut config = config_for(mock.endpoint());
    config.credentials = pair("testid", "not the secret");
    let f = failure_with(config, &person(0).0).await;
    assert_eq!(
        (f.code.as_str(), f.class, f.http_status),
        ("SignatureDoesNotMatch", FailureClass::Account, Some(400))
    );
    assert_eq!(mock.stats().verdict_calls, 0);
}

#[tokio::test]
async fn a_wrong_key_id_gives_an_account_level_error() {
    let mock = start_mock(MockConfig::default()).await;
    let mut config = config_for(mock.endpoint());
    config.credentials = pair("someone-else", "testsecret");
    let f = failure_with(config, &person(0).0).await;
    assert_eq!(
        (f.code.as_str(), f.class, f.http_status),
        (
            "InvalidAccessKeyId.NotFound",
            FailureClass::Account,
            Some(404)
        )
    );
}

#[tokio::test]
async fn an_answer_slower_than_the_client_timeout_is_a_transient_timeout() {
    let mock = start_mock(MockConfig::default()).await;
    let (who, _) = person(5);
    mock.script(
        who.id_number.expose(),
        [ScriptStep {
            latency_ms: Some(3000),
            ..ScriptStep::code("Success")
        }],
    );
    let mut config = config_for(mock.endpoint());
    config.request_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let f = failure_with(config, &who).await;
    assert_eq!((f.code.as_str(), f.class), ("Timeout", TRANSIENT));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transient_connection_error() {
    let port = std::net::TcpListener::bind(any_port())
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let f = failure_with(config_for(format!("http://{port}")), &person(0).0).await;
    assert_eq!((f.code.as_str(), f.class), ("ConnectionError", TRANSIENT));
}

#[tokio::test]
async fn an_unknown_biz_code_is_permanent() {
    let mock = start_mock(MockConfig::default()).await;
    let (who, _) = person(6);
    mock.script(
        who.id_number.expose(),
        [ScriptStep {
            biz_code: Some("9".into()),
            ..ScriptStep::code("Success")
        }],
    );
    let f = failure(client(&mock).verify(&who).await);
    assert_eq!(
        (f.code.as_str(), f.class),
        ("UnknownBizCode", FailureClass::Permanent)
    );
}

#[tokio::test]
async fn a_probe_answers_missing_parameter_normally_and_account_level_when_refused() {
    let mock = start_mock(MockConfig::default()).await;
    let c = client(&mock);
    let f = failure(c.probe().await);
    assert_eq!(
        (f.code.as_str(), f.class),
        ("MissingParameter", FailureClass::Permanent)
    );
    mock.set_account_denied(Some("Forbidden.AccountAccessDenied"));
    let f = failure(c.probe().await);
    assert_eq!(
        (f.code.as_str(), f.class),
        ("Forbidden.AccountAccessDenied", FailureClass::Account)
    );
    assert_eq!(
        failure(c.verify(&person(0).0).await).class,
        FailureClass::Account
    );
    mock.set_account_denied(None);
    assert_eq!(failure(c.probe().await).code, "MissingParameter");
    assert_eq!(
        mock.stats().verdict_calls,
        0,
        "neither probes nor refusals are billed"
    );
}

#[tokio::test]
async fn the_mock_throttles_above_its_qps_limit() {
    let qps = 4;
    let mock = start_mock(MockConfig {
        qps_limit: Some(qps),
        ..MockConfig::default()
    })
    .await;
    let c = client(&mock);
    let started = Instant::now();
    let calls = (0..16).map(|i| {
        let c = c.clone();
        async move { c.verify(&person(i).0).await }
    });
    let outcomes = futures_util::future::join_all(calls).await;
    let elapsed = started.elapsed().as_secs_f64();
    let throttled = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failure(f) if f.class == THROTTLED && f.code == "Throttling.User"))
        .count() as u64;
    let stats = mock.stats();
    assert_eq!(stats.throttled, throttled);
    assert_eq!(stats.calls, 16);
    let allowed = u64::from(qps) + (elapsed * f64::from(qps)).ceil() as u64;
    assert!(
        (u64::from(qps)..=allowed).contains(&stats.verdict_calls),
        "{stats:?} in {elapsed}s"
    );
    assert_eq!(stats.verdict_calls + throttled, 16);
}

#[tokio::test]
async fn latency_and_injected_errors_follow_the_runtime_configuration() {
    let mock = start_mock(MockConfig::default()).await;
    let rates = [("ServiceUnavailable".to_string(), 1.0)]
        .into_iter()
        .collect();
    let patch = SettingsPatch {
        latency_ms: Some(150),
        error_rates: Some(rates),
        ..SettingsPatch::default()
    };
    mock.update(patch).expect("a valid patch");
    let started = Instant::now();
    let f = failure(client(&mock).verify(&person(0).0).await);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(
        (f.code.as_str(), f.class, f.http_status),
        ("ServiceUnavailable", TRANSIENT, Some(503))
    );
}

#[path = "upstream/raw.rs"]
mod raw;
