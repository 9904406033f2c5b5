//! The errors the mock can be made to answer: the documented table, random
//! injection at configured rates, per-number scripts, and latency with jitter.
//!
//! A worker's retry and pause logic is only tested if the errors it must survive
//! can be produced on demand, each with the HTTP status Alibaba gives it.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::request::Answer;

/// The errors documented for the operation (and the gateway's own), with their
/// HTTP status and a message in Alibaba's words. Injection picks among these.
pub const DOCUMENTED: &[(&str, u16, &str)] = &[
    (
        "InternalError",
        500,
        "The request processing has failed due to some unknown error.",
    ),
    (
        "Forbidden.ExceptionDataSource",
        500,
        "The data source is abnormal.",
    ),
    (
        "ServiceUnavailable",
        503,
        "The request has failed due to a temporary failure of the server.",
    ),
    (
        "Throttling.User",
        400,
        "Request was denied due to user flow control.",
    ),
    (
        "Forbidden.ExceptionRepeatedInvoke",
        400,
        "Too many repeated abnormal calls.",
    ),
    (
        "Forbidden.AccountAccessDenied",
        403,
        "The service is not activated or the payment is overdue.",
    ),
    (
        "Forbidden.RAMUserAccessDenied",
        403,
        "The RAM user lacks AliyunAntCloudAuthFullAccess.",
    ),
    (
        "MissingParameter",
        400,
        "A parameter that is mandatory for processing this request is not supplied.",
    ),
    ("InvalidParameter", 401, "A parameter is not valid."),
];

/// Codes a script or `account_denied` may name besides [`DOCUMENTED`].
const GATEWAY: &[(&str, u16, &str)] = &[
    (
        "Throttling.Api",
        400,
        "Request was denied due to api flow control.",
    ),
    (
        "SignatureDoesNotMatch",
        400,
        "Specified signature is not matched with our calculation.",
    ),
    (
        "InvalidAccessKeyId.NotFound",
        404,
        "Specified access key is not found.",
    ),
    (
        "InvalidTimeStamp.Expired",
        400,
        "Specified time stamp or date value is expired.",
    ),
    (
        "SignatureNonceUsed",
        400,
        "Specified signature nonce was used already.",
    ),
];

/// The documented HTTP status and message of a code, if it is one the mock knows.
pub fn known(code: &str) -> Option<(u16, &'static str)> {
    DOCUMENTED
        .iter()
        .chain(GATEWAY)
        .find(|(c, _, _)| *c == code)
        .map(|(_, status, message)| (*status, *message))
}

/// Whether `code` may be injected at a rate.
pub fn injectable(code: &str) -> bool {
    DOCUMENTED.iter().any(|(c, _, _)| *c == code)
}

/// The error answer for `code`: its documented status, else `fallback_status`.
pub fn error_answer(code: &str, fallback_status: u16) -> Answer {
    let (status, message) = known(code).unwrap_or((fallback_status, "Injected by the mock."));
    Answer::error(status, code, message)
}

/// Draws at most one error to inject: one uniform draw against the cumulative rates.
pub fn pick_injected<'a>(rates: &'a BTreeMap<String, f64>, rng: &mut impl Rng) -> Option<&'a str> {
    if rates.values().all(|r| *r <= 0.0) {
        return None;
    }
    let draw: f64 = rng.random();
    let mut cumulative = 0.0;
    for (code, rate) in rates {
        cumulative += rate;
        if draw < cumulative {
            return Some(code);
        }
    }
    None
}

/// Uniform in `[latency - jitter, latency + jitter]`, never below zero.
pub fn jittered(latency: Duration, jitter: Duration, rng: &mut impl Rng) -> Duration {
    if jitter.is_zero() {
        return latency;
    }
    let low = latency.saturating_sub(jitter).as_micros() as u64;
    let high = (latency + jitter).as_micros() as u64;
    Duration::from_micros(rng.random_range(low..=high))
}

/// One scripted answer for an ID number: `"InternalError"` or
/// `{"code":"Success","latency_ms":3000,"http_status":200,"biz_code":"9"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StepSpec")]
pub struct ScriptStep {
    pub code: String,
    /// Replaces the configured latency for this one call.
    pub latency_ms: Option<u64>,
    /// Answers under this status instead of the documented one (e.g. an error on HTTP 200).
    pub http_status: Option<u16>,
    /// For `Success`: the BizCode to give instead of the population's.
    pub biz_code: Option<String>,
}

impl ScriptStep {
    pub fn code(code: &str) -> Self {
        Self {
            code: code.to_string(),
            latency_ms: None,
            http_status: None,
            biz_code: None,
        }
    }

    /// What to answer, given the BizCode the population would give.
    pub fn answer(&self, population_biz_code: &str) -> Answer {
        let answer = if self.code == "Success" {
            Answer::verdict(self.biz_code.as_deref().unwrap_or(population_biz_code))
        } else {
            error_answer(&self.code, 400)
        };
        match self.http_status {
            Some(status) => answer.with_status(status),
            None => answer,
        }
    }
}

impl From<&str> for ScriptStep {
    fn from(code: &str) -> Self {
        Self::code(code)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StepSpec {
    Code(String),
    Full {
        code: String,
        latency_ms: Option<u64>,
        http_status: Option<u16>,
        biz_code: Option<String>,
    },
}

impl From<StepSpec> for ScriptStep {
    fn from(spec: StepSpec) -> Self {
        match spec {
            StepSpec::Code(code) => Self::code(&code),
            StepSpec::Full {
                code,
                latency_ms,
                http_status,
                biz_code,
            } => Self {
                code,
                latency_ms,
                http_status,
                biz_code,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn injection_follows_the_configured_rates() {
        let mut rng = StdRng::seed_from_u64(7);
        let rates = BTreeMap::from([
            ("InternalError".to_string(), 0.2),
            ("ServiceUnavailable".to_string(), 0.1),
        ]);
        let picks: Vec<Option<&str>> = (0..10_000)
            .map(|_| pick_injected(&rates, &mut rng))
            .collect();
        let count = |c| picks.iter().filter(|p| **p == c).count();
        assert!((1800..2200).contains(&count(Some("InternalError"))));
        assert!((850..1150).contains(&count(Some("ServiceUnavailable"))));
        assert!((6700..7300).contains(&count(None)));
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_never_goes_negative() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let d = jittered(
                Duration::from_millis(10),
                Duration::from_millis(30),
                &mut rng,
            );
            assert!(d <= Duration::from_millis(40));
        }
        let d = jittered(Duration::from_millis(10), Duration::ZERO, &mut rng);
        assert_eq!(d, Duration::from_millis(10));
    }

    #[test]
    fn script_steps_read_as_a_bare_code_or_an_object() {
        let steps: Vec<ScriptStep> = serde_json::from_str(
            r#"["InternalError", {"code":"Success","latency_ms":3000,"biz_code":"9"}]"#,
        )
        .expect("steps");
        assert_eq!(steps[0], ScriptStep::code("InternalError"));
        assert_eq!(steps[1].latency_ms, Some(3000));
        assert_eq!(steps[1].answer("1").body["Result"]["BizCode"], "9");
    }

    #[test]
    fn documented_errors_keep_their_status_unless_a_script_overrides_it() {
        assert_eq!(ScriptStep::code("InvalidParameter").answer("1").status, 401);
        let on_200 = ScriptStep {
            http_status: Some(200),
            ..ScriptStep::code("InternalError")
        };
        let answer = on_200.answer("1");
        assert_eq!(
            (answer.status, answer.code.as_str()),
            (200, "InternalError")
        );
    }
}
