//! What one upstream call came to, and the single place where an Alibaba `Code`
//! is classified into what the pipeline must do about it.

use std::time::Duration;

/// The answer for one identity, from `Result.BizCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// BizCode `"1"`: the name and number belong together.
    Match,
    /// BizCode `"2"`: they do not.
    Mismatch,
    /// BizCode `"3"`: the data source has no record of the number.
    NotFound,
}

impl Verdict {
    pub fn from_biz_code(code: &str) -> Option<Self> {
        match code {
            "1" => Some(Self::Match),
            "2" => Some(Self::Mismatch),
            "3" => Some(Self::NotFound),
            _ => None,
        }
    }

    pub fn biz_code(self) -> &'static str {
        match self {
            Self::Match => "1",
            Self::Mismatch => "2",
            Self::NotFound => "3",
        }
    }
}

/// What the caller must do with an upstream error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The upstream refused this input for good: store the job as `rejected`, never retry.
    Permanent,
    /// Worth another attempt after a pause; `throttled` asks for a longer one.
    Transient { throttled: bool },
    /// Not the job's fault: the account or credentials are refused. Return the job,
    /// pause consumption, probe later.
    Account,
}

/// A failed call: the class, and what to store or log about it (never PII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    /// Alibaba's `Code`, or a local one (`Timeout`, `ConnectionError`, `UnreadableBody`,
    /// `UnknownBizCode`, `Http<status>`).
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub http_status: Option<u16>,
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Verdict {
        verdict: Verdict,
        request_id: String,
    },
    Failure(Failure),
}

impl Outcome {
    /// A failure whose class is decided by [`classify`].
    pub fn failure(
        code: impl Into<String>,
        message: impl Into<String>,
        request_id: Option<String>,
        http_status: Option<u16>,
    ) -> Self {
        let code = code.into();
        Self::Failure(Failure {
            class: classify(&code, http_status),
            code,
            message: message.into(),
            request_id,
            http_status,
        })
    }

    /// A failure with a class the caller already knows (local errors: timeouts, bodies).
    pub fn local_failure(class: FailureClass, code: &str, message: impl Into<String>) -> Self {
        Self::Failure(Failure {
            class,
            code: code.to_string(),
            message: message.into(),
            request_id: None,
            http_status: None,
        })
    }

    /// The upstream code to store: `Success` for a verdict.
    pub fn code(&self) -> &str {
        match self {
            Self::Verdict { .. } => "Success",
            Self::Failure(f) => &f.code,
        }
    }
}

/// The one decision of what an upstream `Code` means. Decided by the code string;
/// the HTTP status only breaks ties for codes Alibaba does not document.
pub fn classify(code: &str, http_status: Option<u16>) -> FailureClass {
    match code {
        "MissingParameter" | "InvalidParameter" | "Forbidden.ExceptionRepeatedInvoke" => {
            FailureClass::Permanent
        }
        "InternalError" | "Forbidden.ExceptionDataSource" | "ServiceUnavailable" => {
            FailureClass::Transient { throttled: false }
        }
        "Forbidden.AccountAccessDenied"
        | "Forbidden.RAMUserAccessDenied"
        | "SignatureDoesNotMatch"
        | "Forbidden.AccessKeyDisabled"
        | "InvalidSecurityToken.Expired"
        | "InvalidSecurityToken.Malformed"
        | "InvalidSecurityToken.MismatchWithAccessKey" => FailureClass::Account,
        // A clock or nonce problem on our side: a fresh timestamp and nonce may pass.
        "InvalidTimeStamp.Expired" | "SignatureNonceUsed" => {
            FailureClass::Transient { throttled: false }
        }
        c if c.starts_with("Throttling") => FailureClass::Transient { throttled: true },
        c if c.starts_with("InvalidAccessKeyId") => FailureClass::Account,
        c if c.starts_with("ServiceUnavailable") => FailureClass::Transient { throttled: false },
        _ => match http_status {
            Some(429) => FailureClass::Transient { throttled: true },
            Some(s) if s >= 500 => FailureClass::Transient { throttled: false },
            Some(401) | Some(403) => FailureClass::Account,
            // An undocumented 4xx is most likely about the input; retrying would bill again.
            Some(s) if (400..500).contains(&s) => FailureClass::Permanent,
            _ => FailureClass::Transient { throttled: false },
        },
    }
}

/// How long the caller should wait before retrying a throttled call at the least.
pub const THROTTLE_PAUSE: Duration = Duration::from_millis(1000);

#[cfg(test)]
mod tests {
    use super::*;
    use FailureClass::*;

    const TABLE: &[(&str, FailureClass)] = &[
        ("MissingParameter", Permanent),
        ("InvalidParameter", Permanent),
        ("Forbidden.ExceptionRepeatedInvoke", Permanent),
        ("InternalError", Transient { throttled: false }),
        (
            "Forbidden.ExceptionDataSource",
            Transient { throttled: false },
        ),
        ("ServiceUnavailable", Transient { throttled: false }),
        ("Throttling.User", Transient { throttled: true }),
        ("Throttling.Api", Transient { throttled: true }),
        ("Throttling", Transient { throttled: true }),
        ("Forbidden.AccountAccessDenied", Account),
        ("Forbidden.RAMUserAccessDenied", Account),
        ("InvalidAccessKeyId.NotFound", Account),
        ("InvalidAccessKeyId.Inactive", Account),
        ("SignatureDoesNotMatch", Account),
        ("InvalidTimeStamp.Expired", Transient { throttled: false }),
        ("SignatureNonceUsed", Transient { throttled: false }),
    ];

    #[test]
    fn every_documented_code_has_its_class_whatever_the_http_status() {
        for (code, class) in TABLE {
            for status in [
                None,
                Some(200),
                Some(400),
                Some(401),
                Some(403),
                Some(429),
                Some(500),
            ] {
                assert_eq!(classify(code, status), *class, "{code} at {status:?}");
            }
        }
    }

    #[test]
    fn unknown_codes_fall_back_on_the_http_status() {
        assert_eq!(classify("Weird", Some(503)), Transient { throttled: false });
        assert_eq!(classify("Weird", Some(429)), Transient { throttled: true });
        assert_eq!(classify("Weird", Some(403)), Account);
        assert_eq!(classify("Weird", Some(404)), Permanent);
        assert_eq!(classify("Weird", None), Transient { throttled: false });
    }

    #[test]
    fn biz_codes_round_trip_and_unknown_ones_are_refused() {
        for v in [Verdict::Match, Verdict::Mismatch, Verdict::NotFound] {
            assert_eq!(Verdict::from_biz_code(v.biz_code()), Some(v));
        }
        assert_eq!(Verdict::from_biz_code("4"), None);
        assert_eq!(Verdict::from_biz_code(""), None);
    }
}
