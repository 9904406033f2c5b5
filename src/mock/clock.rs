//! The mock's clock and the timestamp window both signature schemes are held to.
//!
//! A worker whose clock is off is refused by Alibaba with `InvalidTimeStamp.Expired`
//! and nothing else; the mock's clock can be set off on purpose
//! (`clock_offset_secs`) so that this environment error can be produced at will
//! without touching the test machine's clock.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use super::request::Answer;

/// How far a timestamp may be from the mock's clock, either way.
pub const TIMESTAMP_WINDOW: TimeDelta = TimeDelta::minutes(15);

/// The mock's idea of now: the wall clock, `offset_secs` off.
pub fn now(offset_secs: i64) -> DateTime<Utc> {
    Utc::now() + TimeDelta::seconds(offset_secs)
}

/// A `YYYY-MM-DDThh:mm:ssZ` within [`TIMESTAMP_WINDOW`] of `now`, or the gateway's refusal.
pub fn check(timestamp: &str, now: DateTime<Utc>) -> Result<(), Answer> {
    let at = NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%SZ")
        .map_err(|_| {
            Answer::error(
                400,
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            )
        })?
        .and_utc();
    if (now - at).abs() > TIMESTAMP_WINDOW {
        return Err(Answer::error(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

/// A fixed clock for the signature checks' tests: one instant, written as the gateway writes it.
#[cfg(test)]
pub mod fixed {
    use chrono::{DateTime, NaiveDateTime, Utc};

    /// The instant the schemes' tests sign and verify at.
    pub const NOW: &str = "2026-01-02T03:04:05Z";

    /// [`NOW`] as a time.
    pub fn now() -> DateTime<Utc> {
        at(NOW)
    }

    /// A `YYYY-MM-DDThh:mm:ssZ` text as a time.
    pub fn at(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
            .expect("a time")
            .and_utc()
    }
}

#[cfg(test)]
mod tests {
    use super::fixed::at;
    use super::*;

    fn code(result: Result<(), Answer>) -> String {
        result.err().map(|a| a.code).unwrap_or_default()
    }

    #[test]
    fn a_timestamp_outside_fifteen_minutes_either_way_is_expired() {
        let now = at("2026-01-02T03:04:05Z");
        assert!(check("2026-01-02T03:18:05Z", now).is_ok());
        assert!(check("2026-01-02T02:50:05Z", now).is_ok());
        assert_eq!(
            code(check("2026-01-02T03:20:05Z", now)),
            "InvalidTimeStamp.Expired"
        );
        assert_eq!(
            code(check("2026-01-02T02:48:05Z", now)),
            "InvalidTimeStamp.Expired"
        );
    }

    #[test]
    fn a_timestamp_in_another_format_is_refused_as_such() {
        let now = at("2026-01-02T03:04:05Z");
        assert_eq!(
            code(check("2026-01-02 03:04:05", now)),
            "InvalidTimeStamp.Format"
        );
    }

    #[test]
    fn an_offset_clock_runs_that_far_off() {
        let skew = now(20 * 60) - Utc::now();
        assert!(skew > TIMESTAMP_WINDOW, "{skew}");
    }
}
