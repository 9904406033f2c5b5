//! The mock's strictness and control surface, driven by hand-signed raw requests,
//! so a wrong client cannot hide behind the real one.

use chrono::{TimeDelta, Utc};
use serde_json::Value;

use super::{person, start_mock};
use id2meta::mock::{population, MockConfig, MockHandle};
use id2meta::upstream::signing;

/// The parameters of a verification, signed for `method`.
fn signed(
    method: &str,
    nonce: &str,
    timestamp: &str,
    name: &str,
    id_number: &str,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("Action", "Id2MetaVerifyIntl"),
        ("Version", "2022-08-09"),
        ("Format", "JSON"),
        ("AccessKeyId", "testid"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", nonce),
        ("Timestamp", timestamp),
        ("ProductCode", "ID_2META"),
        ("ParamType", "normal"),
        ("IdentifyNum", id_number),
        ("UserName", name),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = signing::v2::signature(
        method,
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        "testsecret",
    );
    params.push(("Signature".into(), sig));
    params
}

fn now() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Form encoding as the official SDK does it: spaces as `+`.
fn form_encode(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                signing::percent_encode_rpc(k),
                signing::percent_encode_rpc(v).replace("%20", "+")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn send(
    mock: &MockHandle,
    method: &str,
    query: &str,
    form_body: Option<String>,
) -> (u16, Value) {
    let url = format!("{}/?{query}", mock.endpoint());
    let http = id2meta::tls::http_client().build().expect("an HTTP client");
    let request = match (method, form_body) {
        ("GET", _) => http.get(url),
        (_, Some(body)) => http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
        (_, None) => http.post(url),
    };
    let response = request.send().await.expect("the mock answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

async fn get_json(http: &reqwest::Client, url: String) -> Value {
    let response = http.get(url).send().await.expect("the mock answers");
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn the_mock_rejects_a_reused_nonce() {
    let mock = start_mock(MockConfig::default()).await;
    let (name, id, _) = population::person(0);
    let query = form_encode(&signed("POST", "nonce-1", &now(), &name, &id));
    let (status, body) = send(&mock, "POST", &query, None).await;
    assert_eq!((status, body["Code"].as_str()), (200, Some("Success")));
    let (status, body) = send(&mock, "POST", &query, None).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed"))
    );
    assert_eq!(mock.stats().verdict_calls, 1);
}

#[tokio::test]
async fn the_mock_rejects_an_old_timestamp() {
    let mock = start_mock(MockConfig::default()).await;
    let (name, id, _) = population::person(0);
    let old = (Utc::now() - TimeDelta::minutes(20))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (status, body) = send(
        &mock,
        "POST",
        &form_encode(&signed("POST", "n", &old, &name, &id)),
        None,
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidTimeStamp.Expired"))
    );
    for field in ["RequestId", "HostId", "Message", "Recommend"] {
        assert!(body[field].is_string(), "{field}");
    }
}

#[tokio::test]
async fn the_mock_accepts_get_and_a_form_body_with_plus_for_space_like_the_sdk() {
    let mock = start_mock(MockConfig::default()).await;
    let (_, id, _) = population::person(0);
    let name = "欧阳 娜娜";
    let get = form_encode(&signed("GET", "g", &now(), name, &id));
    let (status, body) = send(&mock, "GET", &get, None).await;
    assert_eq!(
        (status, body["Result"]["BizCode"].as_str()),
        (200, Some("2")),
        "{body}"
    );
    let all = signed("POST", "p", &now(), name, &id);
    let (common, business) = all.split_at(8);
    let (status, body) = send(
        &mock,
        "POST",
        &form_encode(common),
        Some(form_encode(business)),
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (200, Some("Success")),
        "{body}"
    );
}

#[tokio::test]
async fn an_ill_formed_number_is_refused_as_invalid_parameter_with_http_401() {
    let mock = start_mock(MockConfig::default()).await;
    let (name, _, _) = population::person(0);
    let (status, body) = send(
        &mock,
        "POST",
        &form_encode(&signed("POST", "a", &now(), &name, "1101051949123100")),
        None,
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (401, Some("InvalidParameter"))
    );
}

#[tokio::test]
async fn the_control_endpoints_script_configure_count_and_reset_over_http() {
    let mock = start_mock(MockConfig::default()).await;
    let http = id2meta::tls::http_client().build().expect("an HTTP client");
    let url = |path: &str| format!("{}{path}", mock.endpoint());
    let (who, _) = person(0);
    let script =
        serde_json::json!({"id_number": who.id_number.expose(), "codes": ["ServiceUnavailable"]});
    let response = http
        .post(url("/__script"))
        .json(&script)
        .send()
        .await
        .expect("scripted");
    assert!(response.status().is_success());
    let patch = serde_json::json!({"qps_limit": 100, "account_denied": null});
    let settings: Value = http
        .post(url("/__config"))
        .json(&patch)
        .send()
        .await
        .expect("patched")
        .json()
        .await
        .expect("json");
    assert_eq!(settings["qps_limit"], 100);
    let bad = http
        .post(url("/__config"))
        .json(&serde_json::json!({"error_rates": {"Nope": 0.5}}))
        .send()
        .await
        .expect("answered");
    assert_eq!(bad.status().as_u16(), 400);

    let c = super::client(&mock);
    assert_eq!(
        super::failure(c.verify(&who).await).code,
        "ServiceUnavailable"
    );
    assert!(matches!(
        c.verify(&who).await,
        id2meta::upstream::Outcome::Verdict { .. }
    ));
    let stats = get_json(&http, url("/__stats")).await;
    assert_eq!(
        (stats["calls"].as_u64(), stats["verdict_calls"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(stats["by_code"]["ServiceUnavailable"], 1);
    assert_eq!(
        stats["max_calls_in_one_second"].as_u64().map(|n| n >= 1),
        Some(true)
    );
    let config = get_json(&http, url("/__config")).await;
    assert_eq!(config["qps_limit"], 100);

    http.post(url("/__reset")).send().await.expect("reset");
    assert_eq!(mock.stats().calls, 0);
    mock.shutdown().await.expect("a clean shutdown");
}
