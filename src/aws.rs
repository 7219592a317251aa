//! The one place AWS SDK clients get their shared configuration. Credentials always come from the
//! standard chain (environment, profile, ECS task role, IMDS); region and endpoint come from
//! floe's settings, which already fell back to `AWS_REGION` / `AWS_ENDPOINT_URL` — so every
//! client (Glue here, S3 through object_store and Iceberg's FileIO) talks to the same place.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

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
