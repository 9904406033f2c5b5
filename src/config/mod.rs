//! Typed configuration, read from the environment (and `.env` if present) and
//! validated once at start, so a typo fails loudly before any job is taken.
//!
//! Names and defaults are the contract's; see `.env.example`.

mod limits;
mod queues;
#[cfg(test)]
mod tests;
mod variables;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::credentials::{Credentials, CredentialsHandle};
use crate::secret::Secret;
use crate::upstream::signing::Scheme;
use crate::upstream::UpstreamConfig;

use limits::{lease, queue_name, shutdown_deadline};
pub use queues::{QueueCap, QueueWeight, MAX_WEIGHT};
use variables::{flag, millis, parse};
pub use variables::{Environment, Source};

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
    /// `ID2META_CONSOLE_ALLOWED_HOSTS`: host names the console and the worker's
    /// HTTP port answer to besides their own (see `http::hosts`).
    pub allowed_hosts: Vec<String>,
    /// `ID2META_CONSOLE_SECURE_COOKIE`: the console's cookie only over HTTPS (behind TLS).
    pub console_secure_cookie: bool,
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
    /// `ID2META_PRICE_PER_CALL` and `ID2META_CURRENCY`: what a billed call costs.
    pub pricing: crate::spend::Pricing,
    /// `ID2META_RESULTS_RETENTION`: rows completed longer ago are scrubbed (`None`
    /// is off, the default).
    pub results_retention: Option<Duration>,
    /// `ID2META_QUEUE_WEIGHTS`: the bulk queues and their weights; empty is the
    /// jobs queue alone (read it through [`Config::bulk_queues`]).
    pub queue_weights: Vec<QueueWeight>,
    /// `ID2META_QUEUE_CAPS`: fleet-wide calls per second of some bulk queues.
    pub queue_caps: Vec<QueueCap>,
    /// `ID2META_DB_CONNECTIONS`: PostgreSQL connections per replica, every pool included.
    pub db_connections: u32,
    /// `ID2META_DB_POOLER`: `transaction` behind PgBouncer's transaction pooling.
    pub db_pooler: crate::store::Pooler,
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
        let qps_margin = millis(
            env,
            "ID2META_QPS_MARGIN_MS",
            crate::budget::DEFAULT_SPREAD_MS,
        )?;
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
        let jobs_queue = text("ID2META_JOBS_QUEUE", "id2meta.jobs");
        let queue_weights =
            queues::weights(env.get("ID2META_QUEUE_WEIGHTS").as_deref(), &jobs_queue)?;
        let queue_caps = queues::caps(
            env.get("ID2META_QUEUE_CAPS").as_deref(),
            &bulk_queues(&queue_weights, &jobs_queue),
        )?;
        let signature = match env.get("ID2META_SIGNATURE") {
            None => Scheme::default(),
            Some(raw) => raw
                .parse()
                .map_err(|_| anyhow::anyhow!("ID2META_SIGNATURE must be v3 or v2, got '{raw}'"))?,
        };
        let db_connections: u32 = parse(
            env,
            "ID2META_DB_CONNECTIONS",
            "6",
            "a whole number from 2 up",
        )?;
        if db_connections < 2 {
            bail!("ID2META_DB_CONNECTIONS must be a whole number from 2 up (the budget's connection and at least one for jobs), got '{db_connections}'");
        }
        let db_pooler = text("ID2META_DB_POOLER", "").parse()?;
        Ok(Self {
            db_connections,
            db_pooler,
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
            jobs_queue,
            results_exchange: text("ID2META_RESULTS_EXCHANGE", "id2meta.results"),
            http_addr: parse(
                env,
                "ID2META_HTTP_ADDR",
                "0.0.0.0:9464",
                "a socket address like 0.0.0.0:9464",
            )?,
            allowed_hosts: limits::host_names(
                "ID2META_CONSOLE_ALLOWED_HOSTS",
                &text("ID2META_CONSOLE_ALLOWED_HOSTS", ""),
            )?,
            console_secure_cookie: flag(env, "ID2META_CONSOLE_SECURE_COOKIE")?,
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
            pricing: crate::spend::Pricing {
                per_call: parse(
                    env,
                    "ID2META_PRICE_PER_CALL",
                    "0.03",
                    "a decimal price like 0.03 (at most 6 decimals)",
                )?,
                currency: currency(env)?,
            },
            results_retention: env
                .get("ID2META_RESULTS_RETENTION")
                .map(|raw| crate::duration::parse(&raw))
                .transpose()
                .context("ID2META_RESULTS_RETENTION")?,
            queue_weights,
            queue_caps,
        })
    }

    /// The bulk queues the worker consumes, in the order named, with their
    /// weights: `ID2META_QUEUE_WEIGHTS`, or the jobs queue alone at weight 1.
    pub fn bulk_queues(&self) -> Vec<QueueWeight> {
        bulk_queues(&self.queue_weights, &self.jobs_queue)
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

    /// Where PostgreSQL is and how to reach it (the pooler, the server-side bounds).
    pub fn database(&self) -> crate::store::Database {
        crate::store::Database {
            url: self.database_url.clone(),
            pooler: self.db_pooler,
            bounds: crate::store::Bounds::default(),
        }
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

/// `ID2META_CURRENCY`: a currency code of 1 to 8 letters (`USD` by default).
fn currency(env: &dyn Source) -> anyhow::Result<String> {
    let raw = env.get("ID2META_CURRENCY").unwrap_or_else(|| "USD".into());
    let code = raw.trim();
    if code.is_empty() || code.len() > 8 || !code.chars().all(|c| c.is_ascii_alphabetic()) {
        bail!("ID2META_CURRENCY must be a currency code like USD, got '{raw}'");
    }
    Ok(code.to_ascii_uppercase())
}

fn bulk_queues(weights: &[QueueWeight], jobs_queue: &str) -> Vec<QueueWeight> {
    if weights.is_empty() {
        vec![QueueWeight {
            queue: jobs_queue.to_string(),
            weight: 1,
        }]
    } else {
        weights.to_vec()
    }
}

/// Enough jobs in flight to keep the QPS budget busy through ~1 s of upstream
/// latency and store/publish time (Little's law), within sane bounds.
pub fn default_concurrency(qps: f64) -> u16 {
    (qps.ceil() as u64).clamp(4, 256) as u16
}
