//! The credential chain's variables, read once at start.
//!
//! Every variable here is one Alibaba's own SDKs read (so a pod that RRSA or an ECS
//! instance configured for them works unchanged), plus the two `ID2META_*` overrides
//! that point the chain at private endpoints or at the mock.

use crate::endpoint;
use crate::secret::Secret;

/// The ECS metadata service's link-local address.
pub const DEFAULT_ECS_METADATA_ENDPOINT: &str = "http://100.100.100.200";

/// Everything the chain may use, source by source.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` / `ALIBABA_CLOUD_SECURITY_TOKEN`.
    pub environment: Option<StaticKeys>,
    /// `ALIBABA_CLOUD_ROLE_ARN` + `_OIDC_PROVIDER_ARN` + `_OIDC_TOKEN_FILE`.
    pub oidc: Option<OidcSettings>,
    /// `ALIBABA_CLOUD_CREDENTIALS_URI`.
    pub credentials_uri: Option<String>,
    pub ecs: EcsSettings,
    /// The STS endpoint, resolved from region, VPC flag and `ID2META_STS_ENDPOINT`.
    pub sts_endpoint: String,
    /// Why the variables cannot be used as set (a source half set, a plain-http
    /// STS endpoint); the chain refuses to start with it. Kept rather than failed
    /// at reading so commands that never call the upstream still run.
    pub invalid: Option<String>,
}

/// A long-lived pair (or a pair with a token someone else refreshes).
#[derive(Debug, Clone)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub security_token: Option<Secret>,
}

/// What RRSA injects into a pod.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub role_arn: String,
    pub provider_arn: String,
    pub token_file: std::path::PathBuf,
    pub session_name: String,
}

/// The ECS instance RAM role.
#[derive(Debug, Clone)]
pub struct EcsSettings {
    /// `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`.
    pub disabled: bool,
    /// `ALIBABA_CLOUD_ECS_METADATA`: the role name, instead of asking the service.
    pub role_name: Option<String>,
    /// `ID2META_ECS_METADATA_ENDPOINT`.
    pub endpoint: String,
}

impl Default for EcsSettings {
    fn default() -> Self {
        Self {
            disabled: false,
            role_name: None,
            endpoint: DEFAULT_ECS_METADATA_ENDPOINT.into(),
        }
    }
}

impl Settings {
    /// Reads the variables through `get` (the process environment, or a map in
    /// tests). A source half set (a key id without its secret, two of the three
    /// OIDC variables) is [`Settings::invalid`]: silently falling through to the
    /// next source would run as someone else.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Self {
        let flag = |name: &str| {
            get(name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
        };
        let mut invalid = None;
        let oidc_names = [
            "ALIBABA_CLOUD_ROLE_ARN",
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
        ];
        let oidc = match oidc_names.map(get) {
            [Some(role_arn), Some(provider_arn), Some(token_file)] => Some(OidcSettings {
                role_arn,
                provider_arn,
                token_file: token_file.into(),
                session_name: get("ALIBABA_CLOUD_ROLE_SESSION_NAME")
                    .unwrap_or_else(default_session_name),
            }),
            [None, None, None] => None,
            _ => {
                invalid = Some(format!(
                    "{} must be set together (RRSA sets all three)",
                    oidc_names.join(", ")
                ));
                None
            }
        };
        let sts_endpoint = match get("ID2META_STS_ENDPOINT") {
            Some(url) => {
                let allow_http = flag("ID2META_ALLOW_HTTP");
                if let Err(error) = endpoint::check("ID2META_STS_ENDPOINT", &url, allow_http) {
                    invalid = invalid.or(Some(error.to_string()));
                }
                url.trim_end_matches('/').to_string()
            }
            None => sts_endpoint(
                get("ALIBABA_CLOUD_STS_REGION").as_deref(),
                flag("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"),
            ),
        };
        let settings = Self {
            environment: None,
            oidc,
            credentials_uri: get("ALIBABA_CLOUD_CREDENTIALS_URI"),
            ecs: EcsSettings {
                disabled: flag("ALIBABA_CLOUD_ECS_METADATA_DISABLED"),
                role_name: get("ALIBABA_CLOUD_ECS_METADATA"),
                endpoint: get("ID2META_ECS_METADATA_ENDPOINT")
                    .map(|url| url.trim_end_matches('/').to_string())
                    .unwrap_or_else(|| DEFAULT_ECS_METADATA_ENDPOINT.into()),
            },
            sts_endpoint,
            invalid,
        };
        settings.with_static_pair(
            get("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            get("ALIBABA_CLOUD_ACCESS_KEY_SECRET").map(Secret::new),
            get("ALIBABA_CLOUD_SECURITY_TOKEN").map(Secret::new),
        )
    }

    /// These settings with the static pair replaced (the configuration's fields win
    /// over the variables: the demo and the tests set them directly).
    pub fn with_static_pair(
        mut self,
        access_key_id: Option<String>,
        access_key_secret: Option<Secret>,
        security_token: Option<Secret>,
    ) -> Self {
        self.environment = match (access_key_id, access_key_secret) {
            (Some(access_key_id), Some(access_key_secret)) => Some(StaticKeys {
                access_key_id,
                access_key_secret,
                security_token,
            }),
            (None, None) => None,
            _ => {
                self.invalid = self.invalid.or(Some(
                    "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET must be set together"
                        .into(),
                ));
                None
            }
        };
        self
    }
}

/// `https://sts[-vpc][.<region>].aliyuncs.com`, as Alibaba's SDKs build it.
pub fn sts_endpoint(region: Option<&str>, vpc: bool) -> String {
    let prefix = if vpc { "sts-vpc" } else { "sts" };
    match region.map(str::trim).filter(|r| !r.is_empty()) {
        Some(region) => format!("https://{prefix}.{region}.aliyuncs.com"),
        None => format!("https://{prefix}.aliyuncs.com"),
    }
}

/// `id2meta-<hostname>`: the pod's name on Kubernetes, so ActionTrail shows which
/// replica assumed the role.
fn default_session_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    session_name_for(&host)
}

/// STS accepts `[\w.@-]`, 2 to 64 characters: anything else becomes `-`.
fn session_name_for(host: &str) -> String {
    let cleaned: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("id2meta-{cleaned}").chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let settings = Settings::from_lookup(&|name| map.get(name).cloned());
        match settings.invalid.clone() {
            Some(why) => Err(why),
            None => Ok(settings),
        }
    }

    #[test]
    fn the_sts_endpoint_follows_region_and_vpc_and_the_override_wins() {
        assert_eq!(read(&[]).unwrap().sts_endpoint, "https://sts.aliyuncs.com");
        let regional = read(&[("ALIBABA_CLOUD_STS_REGION", "cn-hongkong")]).unwrap();
        assert_eq!(
            regional.sts_endpoint,
            "https://sts.cn-hongkong.aliyuncs.com"
        );
        let vpc = read(&[
            ("ALIBABA_CLOUD_STS_REGION", "cn-hongkong"),
            ("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "true"),
        ])
        .unwrap();
        assert_eq!(vpc.sts_endpoint, "https://sts-vpc.cn-hongkong.aliyuncs.com");
        let local = read(&[
            ("ALIBABA_CLOUD_STS_REGION", "cn-hongkong"),
            ("ID2META_STS_ENDPOINT", "http://127.0.0.1:8099/"),
        ])
        .unwrap();
        assert_eq!(local.sts_endpoint, "http://127.0.0.1:8099");
    }

    #[test]
    fn a_half_set_source_is_an_error_naming_its_variables() {
        let err = read(&[("ALIBABA_CLOUD_ACCESS_KEY_ID", "id")]).unwrap_err();
        assert!(err.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), "{err}");
        let err = read(&[("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r")]).unwrap_err();
        assert!(err.contains("ALIBABA_CLOUD_OIDC_TOKEN_FILE"), "{err}");
        let err = read(&[("ID2META_STS_ENDPOINT", "http://sts.aliyuncs.com")]).unwrap_err();
        assert!(err.contains("ID2META_STS_ENDPOINT"), "{err}");
        let keys = read(&[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s"),
        ])
        .unwrap();
        assert_eq!(
            keys.environment.map(|k| k.access_key_id).as_deref(),
            Some("id")
        );
    }

    #[test]
    fn oidc_reads_all_three_and_defaults_the_session_name() {
        let s = read(&[
            ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/r"),
            (
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1:oidc-provider/p",
            ),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/var/run/token"),
        ])
        .unwrap();
        let oidc = s.oidc.expect("oidc");
        assert!(oidc.session_name.starts_with("id2meta-"));
        assert_eq!(oidc.token_file, std::path::PathBuf::from("/var/run/token"));
    }

    #[test]
    fn session_names_keep_only_what_sts_accepts() {
        assert_eq!(session_name_for("pod-1.ns"), "id2meta-pod-1.ns");
        assert_eq!(session_name_for("a b/c"), "id2meta-a-b-c");
        assert_eq!(session_name_for(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn the_ecs_role_can_be_disabled_named_and_pointed_elsewhere() {
        let s = read(&[
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
            ("ALIBABA_CLOUD_ECS_METADATA", "worker-role"),
            ("ID2META_ECS_METADATA_ENDPOINT", "http://127.0.0.1:1/"),
        ])
        .unwrap();
        assert!(s.ecs.disabled);
        assert_eq!(s.ecs.role_name.as_deref(), Some("worker-role"));
        assert_eq!(s.ecs.endpoint, "http://127.0.0.1:1");
        assert_eq!(
            read(&[]).unwrap().ecs.endpoint,
            DEFAULT_ECS_METADATA_ENDPOINT
        );
    }
}
