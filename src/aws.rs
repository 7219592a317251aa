//! The one place AWS SDK clients get their shared configuration. Credentials always come from the
//! standard chain (environment, profile, ECS task role, IMDS); region and endpoint come from
//! floe's settings, which already fell back to `AWS_REGION` / `AWS_ENDPOINT_URL` — so every
//! client (Glue here, S3 through object_store and Iceberg's FileIO) talks to the same place.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_glue::config::http::HttpResponse;
use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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
    if let Some(endpoint) = &settings.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader.load().await
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
