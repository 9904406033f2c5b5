//! `id2meta mock-upstream`: the mock Alibaba endpoint as a process of its own, for
//! demos, load runs and checking the official SDK, until Ctrl-C.

use std::time::Duration;

use anyhow::Context;

use crate::mock::{self, MockConfig};
use crate::secret::Secret;
use crate::upstream::signing::Scheme;

/// What `--help` says after the options: the behaviour and the control endpoints.
const ABOUT_THE_MOCK: &str = "\
The mock answers Id2MetaVerifyIntl (version 2022-08-09) at /, by GET or POST, with
parameters in the query string and/or a form body, signed with signature V3
(ACS3-HMAC-SHA256, the official SDK's default) or V2 (HMAC-SHA1,
SignatureVersion=1.0) under the key pair in ALIBABA_CLOUD_ACCESS_KEY_ID and
ALIBABA_CLOUD_ACCESS_KEY_SECRET (default testid / testsecret). It checks the key,
the signature (V3: over the headers SignedHeaders names, which must include host
and every x-acs-* header; the body against x-acs-content-sha256), the timestamp
(15 minutes) and nonce reuse, and answers with Alibaba's codes, bodies and HTTP
statuses.

Verdicts are deterministic: a number whose sequence (characters 15-17) is 900 or
more has no record (BizCode 3); otherwise the name the mock holds for the number
matches (BizCode 1) and any other name does not (BizCode 2).

Control endpoints (JSON):
  POST /__script  {\"id_number\": \"...\", \"codes\": [\"InternalError\", {\"code\": \"Success\",
                  \"latency_ms\": 3000, \"http_status\": 200, \"biz_code\": \"1\"}]}
                  the next calls for that number answer these, in order
  GET  /__config  the current behaviour
  POST /__config  a patch of it: {\"qps_limit\": 50 or null, \"qps_window\": \"sliding\",
                  \"latency_ms\": 80,
                  \"jitter_ms\": 20, \"error_rates\": {\"InternalError\": 0.01},
                  \"account_denied\": \"Forbidden.AccountAccessDenied\" or null,
                  \"accept_signatures\": [\"v3\"], \"clock_offset_secs\": 1200}
  GET  /__stats   calls, by_code, by_signature, max_calls_in_one_second,
                  max_calls_in_sliding_second, throttled,
                  verdict_calls, billed_calls (BizCode 1 and 2), sts_calls, credential_calls, expired_credential_calls,
                  oidc_tokens_seen
  POST /__reset   zeroes the counts and forgets the scripts
  (/__config also takes \"sts_ttl_secs\": 20 and \"sts_only\": true)

Temporary credentials (valid --sts-ttl seconds; a call signed with one needs its
security token, and answers InvalidSecurityToken.Expired after the expiry):
  GET|POST /  Action=AssumeRoleWithOIDC  STS (no signature), for ID2META_STS_ENDPOINT
  PUT  /latest/api/token, GET /latest/meta-data/ram/security-credentials/[ROLE]
              the ECS metadata service, for ID2META_ECS_METADATA_ENDPOINT
  GET  /__credentials  a credentials URI, for ALIBABA_CLOUD_CREDENTIALS_URI";

/// Options of the mock upstream.
#[derive(Debug, clap::Args)]
#[command(after_help = ABOUT_THE_MOCK)]
pub struct MockUpstreamArgs {
    /// Where to listen (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8099")]
    pub listen: std::net::SocketAddr,

    /// Calls answered per second before `Throttling.User` (HTTP 400); unlimited if absent.
    #[arg(long, value_name = "QPS", value_parser = clap::value_parser!(u32).range(1..))]
    pub qps: Option<u32>,

    /// How the QPS limit counts: `bucket` (rate and capacity QPS) or `sliding`
    /// (at most QPS calls in any trailing second, the strictest reading).
    #[arg(long, value_enum, default_value_t = mock::QpsWindow::Bucket)]
    pub qps_window: mock::QpsWindow,

    /// Latency added to every answered call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Jitter around the latency: each call waits uniformly within latency ± jitter.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub jitter_ms: u64,

    /// Injects a documented error at a rate, e.g. `InternalError=0.02` (repeatable).
    /// Codes: InternalError, Forbidden.ExceptionDataSource, ServiceUnavailable,
    /// Throttling.User, Forbidden.ExceptionRepeatedInvoke, Forbidden.AccountAccessDenied,
    /// Forbidden.RAMUserAccessDenied, MissingParameter, InvalidParameter.
    #[arg(long = "error-rate", value_name = "CODE=RATE", value_parser = parse_error_rate)]
    pub error_rates: Vec<(String, f64)>,

    /// Seed of the random draws (jitter, injected errors), for repeatable runs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// The signature schemes answered; `v3` alone refuses V2 calls with
    /// `IncompleteSignature` (HTTP 400), like an upstream that has dropped V2.
    #[arg(
        long,
        value_name = "SCHEMES",
        value_delimiter = ',',
        default_value = "v2,v3"
    )]
    pub accept_signatures: Vec<Scheme>,

    /// Runs the mock's clock this many seconds off (e.g. 1200: every caller looks 20
    /// minutes skewed and gets `InvalidTimeStamp.Expired`).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub clock_offset_secs: i64,

    /// Lifetime in seconds of the temporary credentials issued by the STS,
    /// metadata and credentials-URI stand-ins.
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub sts_ttl: u64,

    /// Refuse the static key pair: only issued `STS.` credentials are accepted.
    #[arg(long)]
    pub sts_only: bool,

    /// Hold every new connection this long before reading its first request, as a
    /// TLS handshake to a distant endpoint would (a kept-alive connection is not held).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub connect_delay_ms: u64,

    /// Serve HTTPS with a built-in test certificate for 127.0.0.1, and write the
    /// test CA that issued it to this file: a worker trusts it with
    /// `SSL_CERT_FILE=PATH`. With `--connect-delay-ms`, the client then waits for
    /// the handshake itself, as against the real endpoint.
    #[arg(long, value_name = "PATH")]
    pub tls_ca_file: Option<std::path::PathBuf>,
}

pub async fn run(args: MockUpstreamArgs) -> anyhow::Result<()> {
    let config = MockConfig {
        access_key_id: env_or("ALIBABA_CLOUD_ACCESS_KEY_ID", "testid"),
        access_key_secret: Secret::new(env_or("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "testsecret")),
        qps_limit: args.qps,
        qps_window: args.qps_window,
        latency: Duration::from_millis(args.latency_ms),
        jitter: Duration::from_millis(args.jitter_ms),
        error_rates: args.error_rates,
        seed: args.seed,
        accept_signatures: args.accept_signatures,
        clock_offset_secs: args.clock_offset_secs,
        sts_ttl: Duration::from_secs(args.sts_ttl),
        sts_only: args.sts_only,
        connect_delay: Duration::from_millis(args.connect_delay_ms),
        tls: args.tls_ca_file.is_some(),
    };
    if let Some(path) = &args.tls_ca_file {
        std::fs::write(path, mock::TEST_CA_PEM)
            .with_context(|| format!("cannot write the test CA to {}", path.display()))?;
    }
    // SIGTERM as well as Ctrl-C: in a container (compose, Kubernetes) SIGTERM is how the
    // stand-in is asked to stop; waiting for Ctrl-C alone made every `down` wait for SIGKILL.
    // Installed before the address is printed: whoever reads it may signal at once.
    let stop = crate::shutdown::on_signals();
    let handle = mock::start(config, args.listen).await?;
    println!("mock upstream listening on {}", handle.endpoint());
    stop.cancelled().await;
    let stats = handle.stats();
    handle.shutdown().await?;
    println!(
        "mock upstream stopped after {} calls ({} billed, {} throttled)",
        stats.calls, stats.billed_calls, stats.throttled
    );
    Ok(())
}

/// The key pair comes from the environment only, so the secret never shows in `ps`.
fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// `CODE=RATE` with a documented code and a rate within 0..=1.
fn parse_error_rate(text: &str) -> Result<(String, f64), String> {
    let (code, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("expected CODE=RATE, got {text:?}"))?;
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("the rate of {code} is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("the rate of {code} must be within 0..=1"));
    }
    let code = code.trim();
    if !mock::DOCUMENTED_ERRORS.iter().any(|(c, _, _)| *c == code) {
        return Err(format!("{code} is not an error the mock can inject"));
    }
    Ok((code.to_string(), rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rates_are_read_as_a_documented_code_and_a_rate() {
        assert_eq!(
            parse_error_rate("InternalError=0.02"),
            Ok(("InternalError".into(), 0.02))
        );
        assert!(parse_error_rate("InternalError").is_err());
        assert!(parse_error_rate("InternalError=2").is_err());
        assert!(parse_error_rate("Nope=0.1").is_err());
    }
}
