//! Creating the lease table (`floe init`, once): on-demand billing, then waiting until it is
//! ACTIVE. Kept apart from the lease calls, whose time limits are derived from the lease.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};

use super::dynamodb::LeaseTable;
use super::dynamodb_item::{KEY, build_err, classify};
use crate::error::{Error, Result};

/// Time limits of the one-off table set-up calls (create, wait until active).
fn setup_timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(30))
        .build()
}

impl LeaseTable {
    /// Create the table (on-demand billing) unless it exists, and wait until it is ACTIVE.
    /// Returns whether it was created.
    pub async fn create_if_missing(&self) -> Result<bool> {
        let created = match self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder().attribute_name(KEY).key_type(KeyType::Hash).build().map_err(build_err)?,
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_err)?,
            )
            // creating the table (`floe init`, once) is not a lease call: the lease-derived call
            // limit would make a slow control plane fail it
            .customize()
            .config_override(aws_sdk_dynamodb::config::Builder::default().timeout_config(setup_timeouts()))
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
            Err(e) => return Err(classify("CreateTable", &self.table, e)),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .customize()
                .config_override(aws_sdk_dynamodb::config::Builder::default().timeout_config(setup_timeouts()))
                .send()
                .await
                .map_err(|e| classify("DescribeTable", &self.table, e))?;
            if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(created);
            }
            if Instant::now() > deadline {
                return Err(Error::Checkpoint {
                    message: format!("lease table {} did not become ACTIVE within 120 s", self.table),
                    transient: true,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
