//! # id2meta
//!
//! A worker that turns a RabbitMQ queue of identity-verification jobs into a
//! PostgreSQL table of results, calling Alibaba Cloud's `Id2MetaVerifyIntl`
//! at most once per job and never above the account's QPS budget.
//!
//! The map, in the order a job travels:
//!
//! - [`config`]: typed configuration from the environment and `.env`.
//! - [`queue`]: RabbitMQ topology, the consumer, the completion publisher, dead letters.
//! - [`job`]: what a message must be to count as a job ([`job::Job::parse`]).
//! - [`identity`]: ID-number and name validation, masking, the keyed digest.
//! - [`store`]: PostgreSQL: migrations, claims (one paid call per job), results.
//! - [`pipeline`]: one job from delivery to ack; the two lanes (bulk, interactive), the
//!   limiter that serves interactive jobs first, and the retry policy.
//! - [`budget`]: the QPS budget shared by all replicas through PostgreSQL.
//! - [`key_agreement`]: whether the replicas share one `ID2META_PII_KEY` (a WARN if not).
//! - [`upstream`]: the signed Alibaba client and the one classification of its codes.
//! - [`credentials`]: Alibaba's credential chain (keys, OIDC/RRSA, URI, ECS role), refreshed.
//! - [`endpoint`]: the one rule for which URLs signed requests may go to.
//! - [`mock`]: a faithful stand-in for the upstream, for tests, demos and benchmarks.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`.
//! - [`console`]: the web console (`id2meta console`): fleet, batches, jobs, dead letters.
//! - [`progress`]: a batch's done, pending, rate and ETA.
//! - [`spend`]: billed calls (BizCode 1 and 2) and what they cost.
//! - [`audit`]: the audit log of operator actions (`operator_actions`).
//! - [`lifecycle`]: retention, `forget`, `lookup` and the monthly report.
//! - [`csv_writer`]: every CSV the project writes, formula-safe (OWASP's rule).
//! - [`cli`]: the user's commands (`worker`, `enqueue`, `results`, `batch`, `demo`, ...).
//! - [`allocator`]: glibc malloc settings made before the runtime starts (resident memory).
//! - [`secret`], [`duration`], [`telemetry`], [`shutdown`]: redaction, `14d`-style durations, logging, signals.
//! - [`tls`]: the one TLS crypto provider (ring) and the one way to build an HTTP client.
//! - [`traces`]: OpenTelemetry trace export (off unless configured) and trace context in AMQP headers.

pub mod allocator;
pub mod app;
pub mod audit;
pub mod budget;
pub mod cli;
pub mod config;
pub mod console;
pub mod credentials;
pub mod csv_writer;
pub mod duration;
pub mod endpoint;
pub mod health;
pub mod http;
pub mod identity;
pub mod instrumentation;
pub mod job;
pub mod key_agreement;
pub mod lifecycle;
pub mod mock;
pub mod pipeline;
pub mod progress;
pub mod queue;
pub mod secret;
pub mod shutdown;
pub mod spend;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod traces;
pub mod upstream;
