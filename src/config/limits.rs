//! The bounds a setting must keep because another setting or the contract
//! depends on it (a lease against the request timeout, the drain against the
//! 30 s shutdown, queue names against AMQP's short strings), apart from the
//! reading of the variables so each bound is stated once with its reason.

use std::time::Duration;

use anyhow::bail;

use super::variables::{parse, Source};

/// `ID2META_LEASE_SECS`: a claim must outlive the call it covers. A lease
/// shorter than the request timeout lets another worker take a claim over while
/// its call is still in flight, and call again: a second bill for one job (0
/// made every claim stale at once). Twice the request timeout leaves room for
/// the database steps around the call.
pub(super) fn lease(env: &dyn Source, request_timeout: Duration) -> anyhow::Result<Duration> {
    let secs: u64 = parse(env, "ID2META_LEASE_SECS", "60", "a whole number of seconds")?;
    let minimum = (request_timeout * 2).as_secs_f64().ceil().max(1.0) as u64;
    if secs < minimum {
        bail!(
            "ID2META_LEASE_SECS must be at least {minimum} (twice ID2META_REQUEST_TIMEOUT_MS, \
             so a claim outlives its call), got '{secs}'"
        );
    }
    Ok(Duration::from_secs(secs))
}

/// `ID2META_SHUTDOWN_DEADLINE_SECS`: the drain, 1 s up to what leaves the
/// steps after it their bounds inside the contract's 30 s
/// ([`crate::shutdown::MAX_DRAIN`]).
pub(super) fn shutdown_deadline(env: &dyn Source) -> anyhow::Result<Duration> {
    let name = "ID2META_SHUTDOWN_DEADLINE_SECS";
    let default = crate::shutdown::DEFAULT_DRAIN.as_secs().to_string();
    let secs: u64 = parse(env, name, &default, "a whole number of seconds")?;
    let max = crate::shutdown::MAX_DRAIN.as_secs();
    if !(1..=max).contains(&secs) {
        bail!(
            "{name} must be 1 to {max} seconds (the steps after the drain need {} s of the \
             contract's 30 s), got '{secs}'",
            crate::shutdown::AFTER_DRAIN.as_secs()
        );
    }
    Ok(Duration::from_secs(secs))
}

/// A queue or exchange name, with room for the suffixes derived from it
/// (`.dead`, `.interactive`) inside an AMQP short string (255 bytes).
pub(super) fn queue_name(name: &str, value: &str) -> anyhow::Result<()> {
    const MAX: usize = 200;
    if value.is_empty() || value.len() > MAX {
        bail!("{name} must be 1 to {MAX} bytes, got {} bytes", value.len());
    }
    Ok(())
}

/// A comma-separated list of host names (`ID2META_CONSOLE_ALLOWED_HOSTS`): each
/// a DNS name or an address literal, a port allowed and ignored; anything else
/// (a URL, a space inside a name, a wildcard) is refused rather than half-read.
pub(super) fn host_names(name: &str, value: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let fits = item
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:_[]".contains(&b));
        if !fits {
            bail!("{name} must be host names separated by commas (e.g. console.example.com,10.0.0.5), got '{item}'");
        }
        names.push(item.to_ascii_lowercase());
    }
    Ok(names)
}
