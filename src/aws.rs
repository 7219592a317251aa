//! The one place AWS SDK clients get their shared configuration. Credentials always come from the
//! standard chain (environment, profile, ECS task role, IMDS); region and endpoint come from
//! floe's settings, which already fell back to `AWS_REGION` / `AWS_ENDPOINT_URL` — so every
//! client (Glue here, S3 through object_store and Iceberg's FileIO) talks to the same place.

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::AwsSettings;

/// Load the SDK configuration for `settings`.
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader.load().await
}
