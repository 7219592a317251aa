//! `[aws]`: where every AWS client connects. Credentials always come from the standard AWS chain.

use serde::Deserialize;

use super::values::Origin;
use crate::error::Result;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAws {
    region: Option<String>,
    endpoint: Option<String>,
    s3_path_style: Option<bool>,
}

/// What every AWS client floe builds shares. Credentials always come from the standard AWS chain
/// (environment, profile, ECS task role, IMDS); only where to connect is configured here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// `aws.region`, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else the SDK's own lookup.
    pub region: Option<String>,
    /// `aws.endpoint`, else `AWS_ENDPOINT_URL`: one endpoint for every service (S3-compatible
    /// stores, local stand-ins). `None` = AWS's public endpoints. Per-service variables
    /// (`AWS_ENDPOINT_URL_S3`, …) are the SDK's to resolve: see `crate::aws`.
    pub endpoint: Option<String>,
    /// The endpoint came from `AWS_ENDPOINT_URL`, not from floe's own `aws.endpoint`: the SDK's
    /// rules then rank it below a service's own variable.
    pub endpoint_from_env: bool,
    /// Path-style S3 URLs (`http://host/bucket/key`), which S3-compatible stores and stand-ins
    /// need; defaults to on when an endpoint is set, off for AWS.
    pub s3_path_style: bool,
    /// Whether `aws.s3_path_style` was set (else the default follows the S3 endpoint resolved).
    pub s3_path_style_set: bool,
}

/// The standard AWS variables that floe's settings fall back to.
pub(super) struct AwsEnv {
    pub region: Option<String>,
    pub endpoint: Option<String>,
}

impl AwsEnv {
    pub fn from(env: &[(String, String)]) -> Self {
        let var = |name: &str| env.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone());
        AwsEnv { region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")), endpoint: var("AWS_ENDPOINT_URL") }
    }
}

impl RawAws {
    pub(super) fn validate(self, v: &Origin, env: &AwsEnv) -> Result<AwsSettings> {
        let endpoint_from_env = self.endpoint.is_none() && env.endpoint.is_some();
        let endpoint = self.endpoint.or_else(|| env.endpoint.clone());
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(v.err("aws.endpoint", format!("expected an http:// or https:// URL, got {e:?}")));
        }
        Ok(AwsSettings {
            region: self.region.or_else(|| env.region.clone()),
            s3_path_style_set: self.s3_path_style.is_some(),
            s3_path_style: self.s3_path_style.unwrap_or(endpoint.is_some()),
            endpoint,
            endpoint_from_env,
        })
    }
}
