//! `ALIBABA_CLOUD_CREDENTIALS_URI`: a local service (a sidecar, a vault agent) that
//! answers a GET with the same fields as the ECS metadata service.

use std::time::Duration;

use super::super::Credentials;
use super::{FetchError, Issued};

pub const NAME: &str = "credentials_uri";

pub const VARIABLES: &str = "ALIBABA_CLOUD_CREDENTIALS_URI";

pub struct CredentialsUri {
    uri: String,
    http: reqwest::Client,
}

impl CredentialsUri {
    pub fn new(uri: String) -> anyhow::Result<Self> {
        anyhow::ensure!(
            reqwest::Url::parse(&uri).is_ok_and(|u| matches!(u.scheme(), "http" | "https")),
            "ALIBABA_CLOUD_CREDENTIALS_URI must be an http(s) URL"
        );
        Ok(Self {
            uri,
            http: super::http_client(Duration::from_secs(5), Duration::from_secs(10))?,
        })
    }

    pub async fn fetch(&self) -> Result<Credentials, FetchError> {
        let what = "the credentials URI";
        let body = super::success_text(self.http.get(&self.uri), what).await?;
        Issued::parse(what, body.as_bytes())
    }
}
