//! Signature V3 (the default) and V2 end to end: the client against the mock under
//! both schemes, an upstream that has dropped V2, a skewed clock, and hand-built V3
//! requests the mock must refuse (tampered, an unsigned header, a reused nonce, an
//! old date) or accept (the official SDK's `+` for a space and its extra headers).

use std::net::SocketAddr;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use id2meta::credentials::{Credentials, CredentialsHandle};
use id2meta::identity::Identity;
use id2meta::mock::{self, population, MockConfig, MockHandle, SettingsPatch};
use id2meta::secret::Secret;
use id2meta::upstream::signing::{v3, Scheme};
use id2meta::upstream::{Client, Outcome, UpstreamConfig};

const BOTH: [Scheme; 2] = [Scheme::V2, Scheme::V3];

async fn start_mock(config: MockConfig) -> MockHandle {
    mock::start(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the mock starts")
}

fn client(mock: &MockHandle, scheme: Scheme) -> Client {
    Client::new(UpstreamConfig {
        endpoint: mock.endpoint(),
        credentials: CredentialsHandle::fixed(Credentials::fixed(
            "testid",
            Secret::new("testsecret"),
            None,
        )),
        signature: scheme,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
    })
    .expect("a client")
}

fn person(i: u64) -> (Identity, id2meta::upstream::Verdict) {
    let (name, id_number, verdict) = population::person(i);
    (
        Identity::parse(&name, &id_number).expect("a valid identity"),
        verdict,
    )
}

/// The Code of a failed call (`Success` for a verdict).
async fn code_of(client: &Client, who: &Identity) -> (String, Option<u16>) {
    match client.verify(who).await {
        Outcome::Verdict { .. } => ("Success".into(), Some(200)),
        Outcome::Failure(f) => (f.code, f.http_status),
    }
}

#[tokio::test]
async fn the_client_gets_every_verdict_from_the_mock_under_both_schemes() {
    let mock = start_mock(MockConfig::default()).await;
    for scheme in BOTH {
        let c = client(&mock, scheme);
        for i in [0, 3, 7] {
            let (who, expected) = person(i);
            match c.verify(&who).await {
                Outcome::Verdict { verdict, .. } => assert_eq!(verdict, expected, "{scheme} {i}"),
                other => panic!("{scheme} person {i}: {other:?}"),
            }
        }
        let (_, id_number, _) = population::person(2);
        let spaced = Identity::parse("欧阳 娜娜", &id_number).expect("valid");
        assert_eq!(code_of(&c, &spaced).await.0, "Success", "{scheme}");
    }
    let stats = mock.stats();
    assert_eq!(stats.verdict_calls, 8);
    assert_eq!((stats.by_signature["v2"], stats.by_signature["v3"]), (4, 4));
}

#[tokio::test]
async fn a_v2_client_against_an_upstream_that_dropped_v2_is_refused_as_incomplete() {
    let mock = start_mock(MockConfig {
        accept_signatures: vec![Scheme::V3],
        ..MockConfig::default()
    })
    .await;
    let (who, _) = person(1);
    assert_eq!(
        code_of(&client(&mock, Scheme::V2), &who).await,
        ("IncompleteSignature".into(), Some(400))
    );
    assert_eq!(code_of(&client(&mock, Scheme::V3), &who).await.0, "Success");
    assert_eq!(mock.stats().verdict_calls, 1);
}

#[tokio::test]
async fn the_accepted_schemes_and_the_clock_can_be_changed_over_http() {
    let mock = start_mock(MockConfig::default()).await;
    let http = id2meta::tls::http_client().build().expect("an HTTP client");
    let patch = serde_json::json!({"accept_signatures": ["v3"], "clock_offset_secs": 60});
    let settings: Value = http
        .post(format!("{}/__config", mock.endpoint()))
        .json(&patch)
        .send()
        .await
        .expect("patched")
        .json()
        .await
        .expect("json");
    assert_eq!(settings["accept_signatures"], serde_json::json!(["v3"]));
    assert_eq!(settings["clock_offset_secs"], 60);
    let (who, _) = person(4);
    assert_eq!(
        code_of(&client(&mock, Scheme::V2), &who).await.0,
        "IncompleteSignature"
    );
    let stats: Value = http
        .get(format!("{}/__stats", mock.endpoint()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["by_signature"]["v2"], 1);
}

#[tokio::test]
async fn a_clock_twenty_minutes_off_is_an_expired_timestamp_under_both_schemes() {
    for offset in [20 * 60, -20 * 60] {
        let mock = start_mock(MockConfig {
            clock_offset_secs: offset,
            ..MockConfig::default()
        })
        .await;
        let (who, _) = person(5);
        for scheme in BOTH {
            assert_eq!(
                code_of(&client(&mock, scheme), &who).await,
                ("InvalidTimeStamp.Expired".into(), Some(400)),
                "{scheme} {offset}"
            );
        }
        mock.update(SettingsPatch {
            clock_offset_secs: Some(0),
            ..SettingsPatch::default()
        })
        .expect("valid");
        assert_eq!(code_of(&client(&mock, Scheme::V3), &who).await.0, "Success");
    }
}

/// A V3 request built from the contract's steps with the pure functions, so the mock
/// is checked against the contract rather than against the client.
struct V3Request {
    query: String,
    headers: Vec<(String, String)>,
}

fn now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn v3_request(
    mock: &MockHandle,
    nonce: &str,
    date: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> V3Request {
    let (_, id_number, _) = population::person(0);
    let business = [
        ("ProductCode", "ID_2META"),
        ("ParamType", "normal"),
        ("IdentifyNum", id_number.as_str()),
        ("UserName", name),
    ];
    let query = v3::canonical_query(business);
    let host = mock.addr.to_string();
    let mut signed: Vec<(&str, &str)> = vec![
        ("host", host.as_str()),
        ("x-acs-action", "Id2MetaVerifyIntl"),
        ("x-acs-version", "2022-08-09"),
        ("x-acs-date", date),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-content-sha256", v3::EMPTY_BODY_SHA256),
    ];
    signed.extend_from_slice(extra);
    let canonical = v3::canonical_headers(signed.iter().copied());
    let request = v3::canonical_request("POST", &query, &canonical, v3::EMPTY_BODY_SHA256);
    let signature = v3::signature("testsecret", &v3::string_to_sign(&request));
    let mut headers: Vec<(String, String)> = signed
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    headers.push((
        "authorization".into(),
        v3::authorization("testid", &canonical.signed, &signature),
    ));
    V3Request { query, headers }
}

async fn send(mock: &MockHandle, request: &V3Request) -> (u16, String) {
    let mut builder = id2meta::tls::http_client()
        .build()
        .expect("an HTTP client")
        .post(format!("{}/?{}", mock.endpoint(), request.query));
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let response = builder.send().await.expect("the mock answers");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON body");
    (
        status,
        body["Code"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn the_mock_accepts_v3_the_way_the_official_sdk_sends_it() {
    let mock = start_mock(MockConfig::default()).await;
    let extra = [
        ("user-agent", "AlibabaCloud (Linux) Python/3.11"),
        ("accept", "application/json"),
    ];
    let mut request = v3_request(&mock, "sdk-1", &now(), "欧阳 娜娜", &extra);
    request.query = request.query.replace("%20", "+");
    assert_eq!(send(&mock, &request).await, (200, "Success".into()));
}

#[tokio::test]
async fn the_mock_refuses_a_tampered_v3_request() {
    let mock = start_mock(MockConfig::default()).await;
    let mut request = v3_request(&mock, "t-1", &now(), "张三", &[]);
    request.query = request.query.replace("ParamType=normal", "ParamType=md5");
    assert_eq!(
        send(&mock, &request).await,
        (400, "SignatureDoesNotMatch".into())
    );
    let mut request = v3_request(&mock, "t-2", &now(), "张三", &[]);
    for (name, value) in &mut request.headers {
        if name == "x-acs-action" {
            *value = "DescribeRegions".into();
        }
    }
    assert_eq!(
        send(&mock, &request).await,
        (400, "SignatureDoesNotMatch".into())
    );
    assert_eq!(mock.stats().verdict_calls, 0);
}

#[tokio::test]
async fn the_mock_refuses_a_v3_request_with_an_unsigned_or_missing_header() {
    let mock = start_mock(MockConfig::default()).await;
    let mut request = v3_request(&mock, "h-1", &now(), "张三", &[]);
    request
        .headers
        .push(("x-acs-security-token".into(), "unsigned".into()));
    assert_eq!(
        send(&mock, &request).await,
        (400, "IncompleteSignature".into())
    );
    let mut request = v3_request(&mock, "h-2", &now(), "张三", &[]);
    request
        .headers
        .retain(|(name, _)| name != "x-acs-signature-nonce");
    assert_eq!(
        send(&mock, &request).await,
        (400, "IncompleteSignature".into())
    );
    let mut request = v3_request(&mock, "h-3", &now(), "张三", &[]);
    request.headers.retain(|(name, _)| name != "authorization");
    let (status, code) = send(&mock, &request).await;
    assert_eq!(status, 400, "{code}");
    assert_eq!(mock.stats().verdict_calls, 0);
}

#[tokio::test]
async fn the_mock_refuses_a_reused_v3_nonce() {
    let mock = start_mock(MockConfig::default()).await;
    let request = v3_request(&mock, "once", &now(), "张三", &[]);
    assert_eq!(send(&mock, &request).await, (200, "Success".into()));
    assert_eq!(
        send(&mock, &request).await,
        (400, "SignatureNonceUsed".into())
    );
    assert_eq!(mock.stats().verdict_calls, 1);
}

#[tokio::test]
async fn the_mock_refuses_a_v3_date_older_than_fifteen_minutes() {
    let mock = start_mock(MockConfig::default()).await;
    let old = (Utc::now() - TimeDelta::minutes(20))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let request = v3_request(&mock, "old", &old, "张三", &[]);
    assert_eq!(
        send(&mock, &request).await,
        (400, "InvalidTimeStamp.Expired".into())
    );
    let request = v3_request(&mock, "fresh", &now(), "张三", &[]);
    assert_eq!(send(&mock, &request).await.1, "Success");
}
