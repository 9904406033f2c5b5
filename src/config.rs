//! Typed configuration, read from the environment (and `.env` if present) and
//! validated once at start, so a typo fails loudly before any job is taken.
//!
//! Names and defaults are the contract's; see `.env.example`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::credentials::{Credentials, CredentialsHandle};
use crate::secret::Secret;
use crate::upstream::signing::Scheme;
use crate::upstream::UpstreamConfig;

/// Everything the worker and the commands read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub amqp_url: String,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<Secret>,
    pub security_token: Option<Secret>,
    pub endpoint: String,
    /// `ID2META_ALLOW_HTTP`: plain-http endpoints on non-loopback hosts (a mock in compose).
    pub allow_http: bool,
    /// `ID2META_SIGNATURE`: how upstream calls are signed (`v3` default, `v2`).
    pub signature: Scheme,
    /// Upstream calls per second for the whole account, shared by every replica.
    pub qps: f64,
    /// How much the arrival of two calls at the upstream may differ from the
    /// spacing of their tokens; every limiter window is one second plus this.
    pub qps_margin: Duration,
    /// Jobs in flight per replica; the consumer prefetch follows it.
    pub concurrency: u16,
    pub max_attempts: u32,
    pub jobs_queue: String,
    pub results_exchange: String,
    pub http_addr: SocketAddr,
    pub pii_key: Option<Secret>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// How long a claim protects a job before another worker may take it over.
    pub lease: Duration,
    pub shutdown_deadline: Duration,
    /// Deliveries of one message before RabbitMQ dead-letters it.
    pub delivery_limit: u32,
    /// The credential chain's variables (the static pair above wins over its own copy).
    pub credentials: crate::credentials::Settings,
    /// `ID2META_DEAD_LETTER_TTL`: each sealed dead letter's expiration.
    pub dead_letter_ttl: Duration,
    /// How often a first-release `<jobs>.dead` is swept for plaintext letters.
    pub dead_letter_sweep: Duration,
    /// Verdict reuse: a `match`/`mismatch` for the same identity this recent is
    /// repeated without a call (`ID2META_REUSE_WITHIN`; `None` is off, the default).
    pub reuse_within: Option<Duration>,
}

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

impl Config {
    /// Loads `.env` (if any) into the environment, then reads it.
    pub fn from_env() -> anyhow::Result<Self> {
        // A missing .env is normal; a malformed one is an error worth stopping for.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(e).context("reading .env"),
        }
        Self::from_source(&Environment)
    }

    pub fn from_source(env: &dyn Source) -> anyhow::Result<Self> {
        let text = |name: &str, default: &str| env.get(name).unwrap_or_else(|| default.to_string());
        let qps: f64 = parse(env, "ID2META_QPS", "50", "a positive number")?;
        if !(qps.is_finite() && qps > 0.0) {
            bail!("ID2META_QPS must be a positive number, got '{qps}'");
        }
        let request_timeout = millis(env, "ID2META_REQUEST_TIMEOUT_MS", 10_000)?;
        let concurrency = match env.get("ID2META_CONCURRENCY") {
            Some(_) => parse::<u16>(
                env,
                "ID2META_CONCURRENCY",
                "0",
                "a whole number from 1 to 65535",
            )?,
            None => default_concurrency(qps),
        };
        if concurrency == 0 {
            bail!("ID2META_CONCURRENCY must be a whole number from 1 to 65535, got '0'");
        }
        let max_attempts: u32 =
            parse(env, "ID2META_MAX_ATTEMPTS", "6", "a whole number from 1 up")?;
        if max_attempts == 0 {
            bail!("ID2META_MAX_ATTEMPTS must be a whole number from 1 up, got '0'");
        }
        let qps_margin = millis(env, "ID2META_QPS_MARGIN_MS", 10)?;
        let lease = lease(env, request_timeout)?;
        let shutdown_deadline = shutdown_deadline(env)?;
        for (name, default) in [
            ("ID2META_JOBS_QUEUE", "id2meta.jobs"),
            ("ID2META_RESULTS_EXCHANGE", "id2meta.results"),
        ] {
            queue_name(name, &text(name, default))?;
        }
        let endpoint = text(
            "ID2META_ENDPOINT",
            "https://cloudauth-intl.cn-hongkong.aliyuncs.com",
        );
        let allow_http = flag(env, "ID2META_ALLOW_HTTP")?;
        crate::endpoint::check("ID2META_ENDPOINT", &endpoint, allow_http)?;
        let signature = match env.get("ID2META_SIGNATURE") {
            None => Scheme::default(),
            Some(raw) => raw
                .parse()
                .map_err(|_| anyhow::anyhow!("ID2META_SIGNATURE must be v3 or v2, got '{raw}'"))?,
        };
        Ok(Self {
            database_url: text("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/id2meta"),
            amqp_url: text("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            access_key_id: env.get("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            access_key_secret: env.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET").map(Secret::new),
            security_token: env.get("ALIBABA_CLOUD_SECURITY_TOKEN").map(Secret::new),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            allow_http,
            signature,
            qps,
            qps_margin,
            concurrency,
            max_attempts,
            jobs_queue: text("ID2META_JOBS_QUEUE", "id2meta.jobs"),
            results_exchange: text("ID2META_RESULTS_EXCHANGE", "id2meta.results"),
            http_addr: parse(
                env,
                "ID2META_HTTP_ADDR",
                "0.0.0.0:9464",
                "a socket address like 0.0.0.0:9464",
            )?,
            pii_key: env.get("ID2META_PII_KEY").map(Secret::new),
            connect_timeout: millis(env, "ID2META_CONNECT_TIMEOUT_MS", 5_000)?,
            request_timeout,
            lease,
            shutdown_deadline,
            delivery_limit: parse(env, "ID2META_DELIVERY_LIMIT", "20", "a whole number")?,
            credentials: crate::credentials::Settings::from_lookup(&|name| env.get(name)),
            dead_letter_ttl: crate::duration::parse(&text("ID2META_DEAD_LETTER_TTL", "14d"))
                .context("ID2META_DEAD_LETTER_TTL")?,
            dead_letter_sweep: Duration::from_secs(parse(
                env,
                "ID2META_DEAD_LETTER_SWEEP_SECS",
                "30",
                "a whole number of seconds",
            )?)
            .max(Duration::from_secs(1)),
            reuse_within: env
                .get("ID2META_REUSE_WITHIN")
                .map(|raw| crate::duration::parse(&raw))
                .transpose()
                .context("ID2META_REUSE_WITHIN")?,
        })
    }

    /// The interactive lane, `<jobs>.interactive`: a job queue whose jobs are
    /// interactive whatever their body says (RabbitMQ quorum queues have no
    /// message priorities, so a lane is a queue; see docs/priorities.md).
    pub fn interactive_queue(&self) -> String {
        format!("{}.interactive", self.jobs_queue)
    }

    /// The dead-letter queue for messages that are not jobs.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.jobs_queue)
    }

    /// The durable queue that keeps completions until someone reads them.
    pub fn results_queue(&self) -> String {
        self.results_exchange.clone()
    }

    /// The PII key, required by anything that stores results.
    pub fn require_pii_key(&self) -> anyhow::Result<&Secret> {
        self.pii_key.as_ref().context(
            "ID2META_PII_KEY must be set (a long random secret; it keys the identity digest)",
        )
    }

    /// The credential chain's settings, with the static pair as this configuration holds it.
    pub fn credential_settings(&self) -> crate::credentials::Settings {
        self.credentials.clone().with_static_pair(
            self.access_key_id.clone(),
            self.access_key_secret.clone(),
            self.security_token.clone(),
        )
    }

    /// The upstream client's settings over credentials from the chain.
    pub fn upstream_with(&self, credentials: CredentialsHandle) -> UpstreamConfig {
        UpstreamConfig {
            endpoint: self.endpoint.clone(),
            credentials,
            signature: self.signature,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
        }
    }

    /// The upstream client's settings; credentials are required.
    pub fn upstream(&self) -> anyhow::Result<UpstreamConfig> {
        Ok(UpstreamConfig {
            endpoint: self.endpoint.clone(),
            credentials: CredentialsHandle::fixed(Credentials::fixed(
                self.access_key_id
                    .clone()
                    .context("ALIBABA_CLOUD_ACCESS_KEY_ID must be set")?,
                self.access_key_secret
                    .clone()
                    .context("ALIBABA_CLOUD_ACCESS_KEY_SECRET must be set")?,
                self.security_token.clone(),
            )),
            signature: self.signature,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
        })
    }
}

/// Enough jobs in flight to keep the QPS budget busy through ~1 s of upstream
/// latency and store/publish time (Little's law), within sane bounds.
pub fn default_concurrency(qps: f64) -> u16 {
    (qps.ceil() as u64).clamp(4, 256) as u16
}

fn parse<T: std::str::FromStr>(
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
fn flag(env: &dyn Source, name: &str) -> anyhow::Result<bool> {
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

/// `ID2META_LEASE_SECS`: a claim must outlive the call it covers. A lease
/// shorter than the request timeout lets another worker take a claim over while
/// its call is still in flight, and call again: a second bill for one job (0
/// made every claim stale at once). Twice the request timeout leaves room for
/// the database steps around the call.
fn lease(env: &dyn Source, request_timeout: Duration) -> anyhow::Result<Duration> {
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
fn shutdown_deadline(env: &dyn Source) -> anyhow::Result<Duration> {
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
fn queue_name(name: &str, value: &str) -> anyhow::Result<()> {
    const MAX: usize = 200;
    if value.is_empty() || value.len() > MAX {
        bail!("{name} must be 1 to {MAX} bytes, got {} bytes", value.len());
    }
    Ok(())
}

fn millis(env: &dyn Source, name: &str, default: u64) -> anyhow::Result<Duration> {
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

#[cfg(test)]
mod tests {

    use super::*;
    use std::collections::HashMap;

    #[test]
    fn defaults_are_the_contracts() {
        let c = Config::from_source(&HashMap::new()).unwrap();
        assert_eq!(c.database_url, "postgres://postgres@127.0.0.1:5432/id2meta");
        assert_eq!(c.amqp_url, "amqp://guest:guest@127.0.0.1:5672/%2f");
        assert_eq!(
            c.endpoint,
            "https://cloudauth-intl.cn-hongkong.aliyuncs.com"
        );
        assert_eq!(c.qps, 50.0);
        assert_eq!(c.max_attempts, 6);
        assert_eq!(c.jobs_queue, "id2meta.jobs");
        assert_eq!(c.dead_letter_queue(), "id2meta.jobs.dead");
        assert_eq!(c.results_exchange, "id2meta.results");
        assert_eq!(c.http_addr.to_string(), "0.0.0.0:9464");
        assert_eq!(c.concurrency, 50);
        assert!(c.pii_key.is_none());
        assert_eq!(c.dead_letter_ttl, Duration::from_secs(14 * 86_400));
    }

    #[test]
    fn a_bad_number_names_the_variable_and_the_value() {
        let env = HashMap::from([("ID2META_QPS", "abc")]);
        let err = Config::from_source(&env).unwrap_err().to_string();
        assert_eq!(err, "ID2META_QPS must be a positive number, got 'abc'");
        let env = HashMap::from([("ID2META_QPS", "-3")]);
        assert!(Config::from_source(&env).is_err());
        let env = HashMap::from([("ID2META_MAX_ATTEMPTS", "0")]);
        assert!(Config::from_source(&env).is_err());
        let env = HashMap::from([("ID2META_HTTP_ADDR", "nowhere")]);
        assert!(Config::from_source(&env)
            .unwrap_err()
            .to_string()
            .contains("ID2META_HTTP_ADDR"));
    }

    #[test]
    fn the_signature_scheme_is_v3_unless_v2_is_asked_for_and_a_bad_one_is_named() {
        let c = Config::from_source(&HashMap::new()).unwrap();
        assert_eq!(c.signature, Scheme::V3);
        let env = HashMap::from([("ID2META_SIGNATURE", "v2")]);
        assert_eq!(Config::from_source(&env).unwrap().signature, Scheme::V2);
        let env = HashMap::from([("ID2META_SIGNATURE", "hmac")]);
        let err = Config::from_source(&env).unwrap_err().to_string();
        assert_eq!(err, "ID2META_SIGNATURE must be v3 or v2, got 'hmac'");
    }

    #[test]
    fn the_dead_letter_ttl_takes_the_duration_syntax() {
        let env = HashMap::from([("ID2META_DEAD_LETTER_TTL", "90m")]);
        let c = Config::from_source(&env).unwrap();
        assert_eq!(c.dead_letter_ttl, Duration::from_secs(90 * 60));
        let env = HashMap::from([("ID2META_DEAD_LETTER_TTL", "2 weeks")]);
        let err = format!("{:#}", Config::from_source(&env).unwrap_err());
        assert!(err.contains("ID2META_DEAD_LETTER_TTL"), "{err}");
    }

    #[test]
    fn a_lease_that_a_call_can_outlive_is_refused_with_its_variable_and_value() {
        let env = HashMap::from([("ID2META_LEASE_SECS", "0")]);
        let err = Config::from_source(&env).unwrap_err().to_string();
        assert!(
            err.contains("ID2META_LEASE_SECS") && err.contains("'0'"),
            "{err}"
        );
        assert!(err.contains("at least 20"), "{err}");
        let env = HashMap::from([("ID2META_LEASE_SECS", "19")]);
        assert!(Config::from_source(&env).is_err());
        let env = HashMap::from([("ID2META_LEASE_SECS", "20")]);
        assert_eq!(
            Config::from_source(&env).unwrap().lease,
            Duration::from_secs(20)
        );
        let env = HashMap::from([
            ("ID2META_LEASE_SECS", "2"),
            ("ID2META_REQUEST_TIMEOUT_MS", "1000"),
        ]);
        assert!(Config::from_source(&env).is_ok());
        let env = HashMap::from([("ID2META_REQUEST_TIMEOUT_MS", "0")]);
        assert!(Config::from_source(&env).is_err());
    }

    #[test]
    fn a_drain_deadline_that_overruns_the_contracts_30_seconds_is_refused() {
        let c = Config::from_source(&HashMap::new()).unwrap();
        assert_eq!(c.shutdown_deadline, crate::shutdown::DEFAULT_DRAIN);
        for bad in ["0", "25", "30"] {
            let env = HashMap::from([("ID2META_SHUTDOWN_DEADLINE_SECS", bad)]);
            let err = Config::from_source(&env).unwrap_err().to_string();
            assert!(err.contains("ID2META_SHUTDOWN_DEADLINE_SECS"), "{err}");
        }
        let max = crate::shutdown::MAX_DRAIN.as_secs().to_string();
        let env = HashMap::from([("ID2META_SHUTDOWN_DEADLINE_SECS", max.as_str())]);
        assert!(Config::from_source(&env).is_ok());
    }

    #[test]
    fn a_queue_name_too_long_for_amqp_is_refused_at_start_not_a_panic_later() {
        let long = "q".repeat(300);
        let env = HashMap::from([("ID2META_JOBS_QUEUE", long.as_str())]);
        let err = Config::from_source(&env).unwrap_err().to_string();
        assert!(err.contains("ID2META_JOBS_QUEUE"), "{err}");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let env = HashMap::from([
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s3cr3t-value"),
            ("ID2META_PII_KEY", "pii-k3y-value"),
            ("ALIBABA_CLOUD_SECURITY_TOKEN", "t0ken-value"),
        ]);
        let text = format!("{:?}", Config::from_source(&env).unwrap());
        for secret in ["s3cr3t-value", "pii-k3y-value", "t0ken-value"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn a_plain_http_endpoint_is_refused_off_loopback_unless_allowed_and_never_for_alibaba() {
        let env = HashMap::from([("ID2META_ENDPOINT", "http://127.0.0.1:8099")]);
        assert!(!Config::from_source(&env).unwrap().allow_http);
        let env = HashMap::from([("ID2META_ENDPOINT", "http://mock:8099")]);
        let err = Config::from_source(&env).unwrap_err().to_string();
        assert!(err.contains("ID2META_ENDPOINT"), "{err}");
        let env = HashMap::from([
            ("ID2META_ENDPOINT", "http://mock:8099"),
            ("ID2META_ALLOW_HTTP", "true"),
        ]);
        assert!(Config::from_source(&env).unwrap().allow_http);
        let env = HashMap::from([
            (
                "ID2META_ENDPOINT",
                "http://cloudauth-intl.cn-hongkong.aliyuncs.com",
            ),
            ("ID2META_ALLOW_HTTP", "true"),
        ]);
        assert!(Config::from_source(&env).is_err());
        let env = HashMap::from([("ID2META_ALLOW_HTTP", "maybe")]);
        let err = Config::from_source(&env).unwrap_err().to_string();
        assert!(err.contains("ID2META_ALLOW_HTTP"), "{err}");
    }

    #[test]
    fn the_default_concurrency_follows_the_qps_within_bounds() {
        assert_eq!(default_concurrency(1.0), 4);
        assert_eq!(default_concurrency(50.0), 50);
        assert_eq!(default_concurrency(10_000.0), 256);
    }

    #[test]
    fn verdict_reuse_is_off_by_default_and_takes_a_duration_with_a_unit() {
        let off = Config::from_source(&HashMap::new()).expect("defaults are valid");
        assert_eq!(off.reuse_within, None);
        let on =
            Config::from_source(&HashMap::from([("ID2META_REUSE_WITHIN", "30d")])).expect("valid");
        assert_eq!(on.reuse_within, Some(Duration::from_secs(30 * 86_400)));
        for bad in ["30", "d", "0s", "1w", "-5m"] {
            let env = HashMap::from([("ID2META_REUSE_WITHIN", bad)]);
            assert!(Config::from_source(&env).is_err(), "{bad}");
        }
    }
}
