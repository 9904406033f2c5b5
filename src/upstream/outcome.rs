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

    /// Whether Alibaba bills the call that answered this (rev 3): BizCode 1 and
    /// 2 are billed, 3 (no record) is not.
    pub fn is_billed(self) -> bool {
        matches!(self, Self::Match | Self::Mismatch)
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
    /// Not the job's fault: the account, the credentials, the clock, the signature or
    /// the endpoint is wrong (an account-level or environment error). Write no row:
    /// return the job without spending a delivery, pause consumption, probe later.
    Pause,
    /// The STS token was refused (expired, or not the key's): wait for one forced
    /// credentials refresh and repeat the call once, not counted as an attempt; if no
    /// new credentials come or the same answer comes back, [`FailureClass::Pause`].
    RefreshCredentials,
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

/// Local codes for answers that never carried a usable Alibaba `Code`.
pub mod local {
    /// The credentials handle holds nothing valid (none loaded, or all expired).
    pub const NO_CREDENTIALS: &str = "NoCredentials";
    /// A non-5xx answer that is not Alibaba's JSON (an HTML page, a proxy, a redirect).
    pub const NOT_ALIBABA_ANSWER: &str = "NotAlibabaAnswer";
    /// `Success` without a BizCode of 1, 2 or 3: not the API we mean to call.
    pub const UNKNOWN_BIZ_CODE: &str = "UnknownBizCode";
    /// A 5xx without an Alibaba body, or a body that broke off: a passing fault.
    pub const UNREADABLE_BODY: &str = "UnreadableBody";
}

/// The one decision of what an upstream `Code` (or one of the [`local`] codes) means.
/// Decided by the code string; the HTTP status only breaks ties for codes the
/// contract does not name.
pub fn classify(code: &str, http_status: Option<u16>) -> FailureClass {
    match code {
        "MissingParameter" | "InvalidParameter" | "Forbidden.ExceptionRepeatedInvoke" => {
            FailureClass::Permanent
        }
        "InternalError" | "Forbidden.ExceptionDataSource" | "ServiceUnavailable" => {
            FailureClass::Transient { throttled: false }
        }
        // A nonce clash: signed again with a fresh nonce it passes.
        "SignatureNonceUsed" => FailureClass::Transient { throttled: false },
        // No data source was reached: a fresh STS token may pass.
        "InvalidSecurityToken.Expired" | "InvalidSecurityToken.MismatchWithAccessKey" => {
            FailureClass::RefreshCredentials
        }
        // The account, the key, the signer, the clock (the 15-minute window) or the
        // endpoint: every job would meet the same answer, so none is charged with it.
        "Forbidden.AccountAccessDenied"
        | "Forbidden.RAMUserAccessDenied"
        | "Forbidden.AccessKeyDisabled"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "InvalidTimeStamp.Expired"
        | "InvalidAction.NotFound"
        | "InvalidVersion"
        | "InvalidSecurityToken.Malformed"
        | local::NO_CREDENTIALS
        | local::NOT_ALIBABA_ANSWER
        | local::UNKNOWN_BIZ_CODE => FailureClass::Pause,
        local::UNREADABLE_BODY => FailureClass::Transient { throttled: false },
        c if c.starts_with("InvalidAccessKeyId.") || c == "InvalidAccessKeyId" => {
            FailureClass::Pause
        }
        c if c.starts_with("Throttling") => FailureClass::Transient { throttled: true },
        c if c.starts_with("ServiceUnavailable") => FailureClass::Transient { throttled: false },
        // Any other Code is `failed` once the attempts run out (the contract); a 429
        // asks for the throttled pause.
        _ => FailureClass::Transient {
            throttled: http_status == Some(429),
        },
    }
}

/// What a pausing code says is wrong, for `/readyz` and the `cause` label of the
/// pause metric: `account`, `credentials`, `signature`, `clock` or `endpoint`.
pub fn pause_cause(code: &str) -> &'static str {
    match code {
        "SignatureDoesNotMatch" | "IncompleteSignature" => "signature",
        "InvalidTimeStamp.Expired" => "clock",
        "InvalidAction.NotFound"
        | "InvalidVersion"
        | local::NOT_ALIBABA_ANSWER
        | local::UNKNOWN_BIZ_CODE => "endpoint",
        c if c == local::NO_CREDENTIALS || c.starts_with("InvalidSecurityToken") => "credentials",
        _ => "account",
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
        ("SignatureNonceUsed", Transient { throttled: false }),
        ("Throttling.User", Transient { throttled: true }),
        ("Throttling.Api", Transient { throttled: true }),
        ("Throttling", Transient { throttled: true }),
        ("UnreadableBody", Transient { throttled: false }),
        ("Forbidden.AccountAccessDenied", Pause),
        ("Forbidden.RAMUserAccessDenied", Pause),
        ("Forbidden.AccessKeyDisabled", Pause),
        ("InvalidAccessKeyId.NotFound", Pause),
        ("InvalidAccessKeyId.Inactive", Pause),
        ("SignatureDoesNotMatch", Pause),
        ("IncompleteSignature", Pause),
        ("InvalidTimeStamp.Expired", Pause),
        ("InvalidAction.NotFound", Pause),
        ("InvalidVersion", Pause),
        ("InvalidSecurityToken.Malformed", Pause),
        ("NoCredentials", Pause),
        ("NotAlibabaAnswer", Pause),
        ("UnknownBizCode", Pause),
        ("InvalidSecurityToken.Expired", RefreshCredentials),
        (
            "InvalidSecurityToken.MismatchWithAccessKey",
            RefreshCredentials,
        ),
    ];

    /// Every status the API, a gateway or a proxy in between could put around a Code.
    const STATUSES: &[Option<u16>] = &[
        None,
        Some(200),
        Some(301),
        Some(302),
        Some(400),
        Some(401),
        Some(403),
        Some(404),
        Some(429),
        Some(500),
        Some(502),
        Some(503),
    ];

    #[test]
    fn every_named_code_has_its_class_whatever_the_http_status() {
        for (code, class) in TABLE {
            for status in STATUSES {
                assert_eq!(classify(code, *status), *class, "{code} at {status:?}");
            }
        }
    }

    #[test]
    fn a_code_the_contract_does_not_name_is_transient_and_429_asks_for_the_longer_pause() {
        for status in STATUSES {
            let throttled = *status == Some(429);
            assert_eq!(
                classify("Weird.Code", *status),
                Transient { throttled },
                "{status:?}"
            );
        }
    }

    #[test]
    fn every_pausing_code_names_what_is_wrong() {
        for (code, cause) in [
            ("Forbidden.AccountAccessDenied", "account"),
            ("InvalidAccessKeyId.NotFound", "account"),
            ("SignatureDoesNotMatch", "signature"),
            ("IncompleteSignature", "signature"),
            ("InvalidTimeStamp.Expired", "clock"),
            ("InvalidVersion", "endpoint"),
            ("NotAlibabaAnswer", "endpoint"),
            ("UnknownBizCode", "endpoint"),
            ("NoCredentials", "credentials"),
            ("InvalidSecurityToken.Expired", "credentials"),
        ] {
            assert_eq!(pause_cause(code), cause, "{code}");
        }
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
