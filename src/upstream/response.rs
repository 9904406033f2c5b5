//! Reading what `Id2MetaVerifyIntl` answered into an [`Outcome`].
//!
//! Alibaba reports an error in two shapes, an HTTP error status with an error body
//! and an HTTP 200 whose `Code` is not `Success`; both go through the one
//! classification ([`Outcome::failure`]). Kept apart from the HTTP client so every
//! shape can be tested without a socket.

use serde::Deserialize;

use super::{FailureClass, Outcome, Verdict};

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
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return unreadable(status, "the body is not Alibaba's JSON");
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
        None => return unreadable(status, "the body carries no Code"),
    };
    if code != "Success" {
        return Outcome::failure(code, message, parsed.request_id, Some(status));
    }
    if status != 200 {
        return unreadable(status, "Code Success under an HTTP error status");
    }
    let request_id = parsed.request_id.unwrap_or_default();
    match biz_code.as_deref().and_then(Verdict::from_biz_code) {
        Some(verdict) => Outcome::Verdict {
            verdict,
            request_id,
        },
        None => {
            let shown = biz_code.as_deref().unwrap_or("none");
            let mut outcome = Outcome::local_failure(
                FailureClass::Permanent,
                "UnknownBizCode",
                format!("Result.BizCode {shown} is not 1, 2 or 3"),
            );
            if let Outcome::Failure(failure) = &mut outcome {
                failure.request_id = Some(request_id);
                failure.http_status = Some(status);
            }
            outcome
        }
    }
}

/// A body that cannot be read is worth another attempt, whatever the status said.
fn unreadable(status: u16, why: &str) -> Outcome {
    let mut outcome = Outcome::local_failure(
        FailureClass::Transient { throttled: false },
        "UnreadableBody",
        format!("HTTP {status}: {why}"),
    );
    if let Outcome::Failure(failure) = &mut outcome {
        failure.http_status = Some(status);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Failure;

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
        assert_eq!(f.class, FailureClass::Account);
    }

    #[test]
    fn an_unknown_biz_code_is_permanent_so_it_is_not_billed_again() {
        let f = failure(interpret(
            200,
            br#"{"RequestId":"R3","Code":"Success","Result":{"BizCode":"9"}}"#,
        ));
        assert_eq!(
            (f.class, f.code.as_str()),
            (FailureClass::Permanent, "UnknownBizCode")
        );
        assert_eq!(f.request_id.as_deref(), Some("R3"));
        let f = failure(interpret(200, br#"{"RequestId":"R3","Code":"Success"}"#));
        assert_eq!(f.code, "UnknownBizCode");
    }

    #[test]
    fn an_unreadable_body_is_transient_whatever_the_status() {
        for (status, body) in [
            (200, &b"<html>"[..]),
            (502, b""),
            (200, b"{}"),
            (500, b"[1]"),
        ] {
            let f = failure(interpret(status, body));
            assert_eq!(
                f.class,
                FailureClass::Transient { throttled: false },
                "{status}"
            );
            assert_eq!(
                (f.code.as_str(), f.http_status),
                ("UnreadableBody", Some(status))
            );
        }
    }
}
