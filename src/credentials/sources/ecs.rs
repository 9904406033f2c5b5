//! The ECS instance RAM role, through the metadata service in its hardened mode:
//! a session token first (`PUT /latest/api/token`), then the role name and the
//! role's credentials with that token. Every request has a 1-second timeout, as in
//! Alibaba's SDKs: off ECS nothing answers at 100.100.100.200, and start must not
//! hang on it.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::time::Duration;

use super::super::settings::EcsSettings;
use super::super::Credentials;
use super::{FetchError, Issued};

pub const NAME: &str = "ecs_ram_role";

pub const VARIABLES: &str = "the ECS metadata service";

/// How long the metadata session token lives, in seconds (the SDKs' value).
const TOKEN_TTL_SECONDS: &str = "21600";

const ROLES_PATH: &str = "/latest/meta-data/ram/security-credentials/";

pub struct EcsRole {
    settings: EcsSettings,
    http: reqwest::Client,
}

impl EcsRole {
    pub fn new(settings: EcsSettings) -> anyhow::Result<Self> {
        Ok(Self {
            settings,
            http: super::http_client(Duration::from_secs(1), Duration::from_secs(1))?,
        })
    }

    pub async fn fetch(&self) -> Result<Credentials, FetchError> {
        let what = "the ECS metadata service";
        let base = &self.settings.endpoint;
        let token = super::success_text(
            self.http
                .put(format!("{base}/latest/api/token"))
                .header("X-aliyun-ecs-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS),
            what,
        )
        .await?;
        let role = match &self.settings.role_name {
            Some(role) => role.clone(),
            None => {
                let listing = super::success_text(
                    self.with_token(format!("{base}{ROLES_PATH}"), &token),
                    what,
                )
                .await?;
                role_from_listing(&listing).ok_or_else(|| {
                    FetchError::Refused(format!("{what} lists no RAM role for this instance"))
                })?
            }
        };
        let url = role_url(base, &role).ok_or_else(|| {
            FetchError::Refused(format!("{what}: the RAM role name is not a path segment"))
        })?;
        let body = super::success_text(self.with_token(url, &token), what).await?;
        Issued::parse(what, body.as_bytes())
    }

    fn with_token(&self, url: String, token: &str) -> reqwest::RequestBuilder {
        self.http
            .get(url)
            .header("X-aliyun-ecs-metadata-token", token)
    }
}

/// Everything but RFC 3986's unreserved characters is percent-encoded, so a role
/// name (from `ALIBABA_CLOUD_ECS_METADATA` or the listing) stays one path segment:
/// a `/`, `?` or `#` in it cannot reach another metadata path.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The credentials URL of `role`; `None` for a name that would not stay one
/// segment whatever the encoding (empty, `.` or `..`: URL parsers resolve
/// `%2e%2e` as `..` too).
pub fn role_url(base: &str, role: &str) -> Option<String> {
    if role.is_empty() || role == "." || role == ".." {
        return None;
    }
    Some(format!(
        "{base}{ROLES_PATH}{}",
        utf8_percent_encode(role, SEGMENT)
    ))
}

/// The first role of the listing (one per line; an instance has at most one).
pub fn role_from_listing(listing: &str) -> Option<String> {
    listing
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_name_is_percent_encoded_as_one_path_segment() {
        let base = "http://100.100.100.200";
        assert_eq!(
            role_url(base, "worker-role").unwrap(),
            format!("{base}{ROLES_PATH}worker-role")
        );
        let hostile = role_url(base, "../../user-data?x=1#y z").unwrap();
        assert_eq!(
            hostile,
            format!("{base}{ROLES_PATH}..%2F..%2Fuser-data%3Fx%3D1%23y%20z")
        );
        let parsed = reqwest::Url::parse(&hostile).unwrap();
        assert!(parsed.path().starts_with(ROLES_PATH), "{}", parsed.path());
        assert_eq!(parsed.query(), None);
        assert_eq!(parsed.fragment(), None);
        for refused in ["", ".", ".."] {
            assert_eq!(role_url(base, refused), None, "{refused:?}");
        }
    }

    #[test]
    fn the_role_is_the_first_line_of_the_listing() {
        assert_eq!(
            role_from_listing("worker-role\n").as_deref(),
            Some("worker-role")
        );
        assert_eq!(role_from_listing("\n  a\nb").as_deref(), Some("a"));
        assert_eq!(role_from_listing("  \n"), None);
    }
}
