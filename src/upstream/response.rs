//! Reading what `Id2MetaVerifyIntl` answered into an [`Outcome`].
//!
//! Alibaba reports an error in two shapes, an HTTP error status with an error body
//! and an HTTP 200 whose `Code` is not `Success`; both go through the one
//! classification ([`Outcome::failure`]). Kept apart from the HTTP client so every
//! shape can be tested without a socket.

use serde::Deserialize;

use super::outcome::local;
use super::{Outcome, Verdict};

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Body {
    request_id: Option<String>,
    code: Option<String>,
    message: Option<String>,
    result: Option<BizResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BizResult {
    biz_code: Option<serde_json::Value>,
}

/// The outcome of an answer with HTTP `status` and `body`.
pub fn interpret(status: u16, body: &[u8]) -> Outcome {
    // Redirects are not followed (the signed query must not travel elsewhere): a 3xx
    // is not the API answering, whatever its body.
    if (300..400).contains(&status) {
        return not_alibaba(status, "a redirect");
    }
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return not_alibaba(status, "the body is not Alibaba's JSON");
    };
    let biz_code = parsed.result.and_then(|r| r.biz_code).map(|v| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    });
    let message = parsed.message.unwrap_or_default();
    let code = match parsed.code {
        Some(code) => code,
        // Alibaba always sends a Code; a 200 that carries a verdict and no Code is a success.
        None if status == 200 && biz_code.is_some() => "Success".to_string(),
        None => return not_alibaba(status, "the body carries no Code"),
    };
    if code != "Success" {
        return Outcome::failure(code, message, parsed.request_id, Some(status));
    }
    if status != 200 {
        return not_alibaba(status, "Code Success under an HTTP error status");
    }
    let request_id = parsed.request_id.unwrap_or_default();
    match biz_code.as_deref().and_then(Verdict::from_biz_code) {
        Some(verdict) => Outcome::Verdict {
            verdict,
            request_id,
        },
        None => {
            let shown = biz_code.as_deref().unwrap_or("none");
            Outcome::failure(
                local::UNKNOWN_BIZ_CODE,
                format!("Result.BizCode {shown} is not 1, 2 or 3"),
                Some(request_id),
                Some(status),
            )
        }
    }
}

/// An answer that is not the API's. Under a 5xx it is a gateway in trouble (worth
/// another attempt); under any other status something that is not Alibaba answers
/// (an HTML page, a captive proxy, a redirect): the endpoint is wrong for every job.
fn not_alibaba(status: u16, why: &str) -> Outcome {
    let code = if status >= 500 {
        local::UNREADABLE_BODY
    } else {
        local::NOT_ALIBABA_ANSWER
    };
    Outcome::failure(code, format!("HTTP {status}: {why}"), None, Some(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::{Failure, FailureClass};

    fn failure(outcome: Outcome) -> Failure {
        match outcome {
            Outcome::Failure(f) => f,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn a_success_with_a_known_biz_code_is_a_verdict() {
        let body =
            br#"{"RequestId":"R1","Code":"Success","Message":"success","Result":{"BizCode":"2"}}"#;
        assert_eq!(
            interpret(200, body),
            Outcome::Verdict {
                verdict: Verdict::Mismatch,
                request_id: "R1".into()
            }
        );
    }

    #[test]
    fn a_verdict_without_a_code_on_http_200_is_a_success() {
        let body = br#"{"RequestId":"R1","Result":{"BizCode":3}}"#;
        assert_eq!(
            interpret(200, body),
            Outcome::Verdict {
                verdict: Verdict::NotFound,
                request_id: "R1".into()
            }
        );
    }

    #[test]
    fn an_error_is_classified_by_its_code_under_either_transport_shape() {
        for status in [200, 400, 503] {
            let body = br#"{"RequestId":"R2","HostId":"h","Code":"InternalError","Message":"m","Recommend":"r"}"#;
            let f = failure(interpret(status, body));
            assert_eq!(f.class, FailureClass::Transient { throttled: false });
            assert_eq!(
                (f.code.as_str(), f.request_id.as_deref()),
                ("InternalError", Some("R2"))
            );
            assert_eq!(f.http_status, Some(status));
        }
        let f = failure(interpret(
            200,
            br#"{"Code":"Forbidden.AccountAccessDenied","Message":"m"}"#,
        ));
        assert_eq!(f.class, FailureClass::Pause);
    }

    #[test]
    fn success_without_a_known_biz_code_pauses_so_it_is_neither_stored_nor_billed_again() {
        let f = failure(interpret(
            200,
            br#"{"RequestId":"R3","Code":"Success","Result":{"BizCode":"9"}}"#,
        ));
        assert_eq!(
            (f.class, f.code.as_str()),
            (FailureClass::Pause, "UnknownBizCode")
        );
        assert_eq!(f.request_id.as_deref(), Some("R3"));
        let f = failure(interpret(200, br#"{"RequestId":"R3","Code":"Success"}"#));
        assert_eq!(
            (f.class, f.code.as_str()),
            (FailureClass::Pause, "UnknownBizCode")
        );
    }

    #[test]
    fn a_non_alibaba_answer_pauses_unless_it_came_with_a_5xx() {
        let bodies: [&[u8]; 4] = [b"<html>", b"", b"{}", b"[1]"];
        for body in bodies {
            for status in [200, 201, 204, 400, 401, 403, 404, 407, 429] {
                let f = failure(interpret(status, body));
                assert_eq!(
                    (f.class, f.code.as_str(), f.http_status),
                    (FailureClass::Pause, "NotAlibabaAnswer", Some(status)),
                    "{status} {body:?}"
                );
            }
            for status in [500, 502, 503, 504] {
                let f = failure(interpret(status, body));
                assert_eq!(
                    (f.class, f.code.as_str(), f.http_status),
                    (
                        FailureClass::Transient { throttled: false },
                        "UnreadableBody",
                        Some(status)
                    ),
                    "{status} {body:?}"
                );
            }
        }
    }

    #[test]
    fn code_success_under_an_error_status_is_not_the_api() {
        let body = br#"{"Code":"Success","Result":{"BizCode":"1"}}"#;
        assert_eq!(failure(interpret(404, body)).code, "NotAlibabaAnswer");
        assert_eq!(failure(interpret(502, body)).code, "UnreadableBody");
    }

    #[test]
    fn a_redirect_pauses_whatever_its_body_says() {
        let ok = br#"{"RequestId":"R1","Code":"Success","Result":{"BizCode":"1"}}"#;
        for status in [301, 302, 303, 307, 308] {
            for body in [&ok[..], b"", b"<html>moved</html>"] {
                let f = failure(interpret(status, body));
                assert_eq!(
                    (f.class, f.code.as_str()),
                    (FailureClass::Pause, "NotAlibabaAnswer")
                );
            }
        }
    }
}
