//! The one place AWS clients get their configuration. Credentials always come from the standard
//! chain (environment, profile, ECS task role, IMDS).
//!
//! Endpoints follow the SDK's rules for every client, SDK or not: floe's own `aws.endpoint`
//! wins; else a service's own variable or profile key (`AWS_ENDPOINT_URL_S3`,
//! `AWS_ENDPOINT_URL_GLUE`, `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL_DYNAMODB`, or
//! `endpoint_url` in the profile's `services` section); else the global `AWS_ENDPOINT_URL`;
//! else AWS. The SDK clients (Glue, Kinesis, DynamoDB) resolve that themselves; the two S3
//! users that are not SDK clients — bronze's object_store and Iceberg's FileIO — get the same
//! answer through [`S3Settings::resolve`], with path-style addressing and plain HTTP allowed
//! when that endpoint asks for them.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_types::service_config::ServiceConfigKey;

use crate::config::AwsSettings;

/// A single attempt of an AWS call may take this long before it is abandoned and retried (the
/// SDK sets no such limit by default: a service that accepts the connection and never answers
/// would hang a commit forever).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Load the SDK configuration for `settings`.
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let timeouts =
        TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).operation_attempt_timeout(ATTEMPT_TIMEOUT).build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    // Only floe's own setting is given to the loader: an explicit endpoint there would override
    // the per-service variables, which the SDK must rank above `AWS_ENDPOINT_URL` itself.
    if let Some(endpoint) = settings.endpoint.as_ref().filter(|_| !settings.endpoint_from_env) {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader.load().await
}

/// The endpoint the SDK's own client for `service_id` (as the SDK names it: "S3", "Glue", …)
/// would use, or `None` for AWS's.
pub fn service_endpoint(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_string);
    }
    let key =
        ServiceConfigKey::builder().service_id(service_id).env("AWS_ENDPOINT_URL").profile("endpoint_url").build();
    sdk.service_config()
        .zip(key.ok())
        .and_then(|(config, key)| config.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// How the S3 clients that are not SDK clients (bronze's object_store, Iceberg's FileIO) reach S3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// `http://host/bucket/key` rather than `http://bucket.host/key`.
    pub path_style: bool,
    /// The endpoint is plain `http://` (stand-ins, S3-compatible stores on a private network).
    pub allow_http: bool,
}

impl S3Settings {
    /// S3 as the SDK would reach it (see the module docs); without an SDK configuration (nothing
    /// else uses AWS), from floe's settings alone.
    pub fn resolve(settings: &AwsSettings, sdk: Option<&SdkConfig>) -> Self {
        let endpoint = match sdk {
            Some(sdk) => service_endpoint(sdk, "S3"),
            None => settings.endpoint.clone(),
        };
        let region = settings.region.clone().or_else(|| sdk.and_then(|s| s.region()).map(|r| r.to_string()));
        let path_style = if settings.s3_path_style_set { settings.s3_path_style } else { endpoint.is_some() };
        let allow_http = endpoint.as_deref().is_some_and(|e| e.starts_with("http://"));
        Self { endpoint, region, path_style, allow_http }
    }
}

/// Classify a failed SDK call while its error is still typed (shared by every service module):
/// no answer, a 5xx, or one of `transient_codes` (the service's throttling codes) may pass on
/// its own; any other refusal (access denied, missing resource, bad request) will not. Returns
/// `(transient, "Code: message")`.
pub fn sdk_failure<E>(e: &SdkError<E, HttpResponse>, transient_codes: &[&str]) -> (bool, String)
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error() || s.err().code().is_some_and(|c| transient_codes.contains(&c))
        }
        _ => false,
    };
    let detail = match e.as_service_error() {
        Some(s) => format!("{}: {}", s.code().unwrap_or("error"), s.message().unwrap_or_default()),
        None => format!("{}", DisplayErrorContext(e)),
    };
    (transient, detail)
}
