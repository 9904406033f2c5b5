//! Reading one variable: where variables come from ([`Source`]) and how a
//! number, a flag or a count of milliseconds is parsed, with errors that name
//! the variable and the value, so every setting reports a typo the same way.

use std::time::Duration;

use anyhow::bail;

/// A source of variables: the process environment in production, a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment, after `.env` was loaded into it.
pub struct Environment;

impl Source for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Source for std::collections::HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.to_string())
    }
}

/// A variable parsed as `T` (or its default); an error names the variable,
/// what it must be and the value.
pub(super) fn parse<T: std::str::FromStr>(
    env: &dyn Source,
    name: &str,
    default: &str,
    what: &str,
) -> anyhow::Result<T> {
    let raw = env.get(name).unwrap_or_else(|| default.to_string());
    raw.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{name} must be {what}, got '{raw}'"))
}

/// A boolean variable: `true`/`false` (also `1`/`0`, `yes`/`no`); unset is false.
pub(super) fn flag(env: &dyn Source, name: &str) -> anyhow::Result<bool> {
    match env
        .get(name)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => bail!("{name} must be true or false, got '{other}'"),
    }
}

/// A count of milliseconds above 0, as a duration.
pub(super) fn millis(env: &dyn Source, name: &str, default: u64) -> anyhow::Result<Duration> {
    let ms: u64 = parse(
        env,
        name,
        &default.to_string(),
        "a whole number of milliseconds",
    )?;
    if ms == 0 {
        bail!("{name} must be a whole number of milliseconds above 0, got '0'");
    }
    Ok(Duration::from_millis(ms))
}
