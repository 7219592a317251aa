//! The lease table's items: how a [`Lease`] is stored and read back, and how a failed call is
//! classified. Pure functions, unit-tested without DynamoDB.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::shard_checkpoint::ShardCheckpoint;
use crate::error::{Error, Result};
use crate::model::ShardId;

/// The table's partition key: `"<stream>:<shard id>"`.
pub(super) const KEY: &str = "lease_key";

/// One shard's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub shard: ShardId,
    pub owner: Option<String>,
    pub counter: u64,
    pub epoch: u64,
    pub checkpoint: ShardCheckpoint,
    pub parents: Vec<ShardId>,
    /// The shard ended and was given back before this stream's silver had committed all of it
    /// (a worker stopped): a worker running silver takes it to finish that (ADR 0018).
    pub silver_pending: bool,
}

pub(super) fn lost_err(shard: &ShardId, why: &str) -> Error {
    Error::LeaseLost { shard: shard.to_string(), why: why.to_string() }
}

pub(super) fn num(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(super) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::invalid(format!("building a DynamoDB request: {e}"))
}

/// Classify a failed call while its error is still typed: throttling, 5xx and no answer may pass;
/// a refusal (access denied, missing table, bad request) will not.
pub(super) fn classify<E>(op: &str, table: &str, e: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (transient, detail) = crate::aws::sdk_failure(
        &e,
        &[
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "InternalServerError",
        ],
    );
    Error::Checkpoint { message: format!("{op} on lease table {table}: {detail}"), transient }
}

pub(super) fn parse_lease(item: &HashMap<String, AttributeValue>) -> std::result::Result<Lease, String> {
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let n = |k: &str| -> std::result::Result<u64, String> {
        match item.get(k) {
            None => Ok(0),
            Some(v) => v
                .as_n()
                .map_err(|_| format!("attribute {k} is not a number"))?
                .parse()
                .map_err(|_| format!("attribute {k} is not a whole number")),
        }
    };
    let shard_text = s("shard_id").ok_or("an item has no shard_id")?;
    let shard = ShardId::new(&shard_text).map_err(|e| format!("shard_id {shard_text:?}: {e}"))?;
    let parents = match item.get("parents").and_then(|v| v.as_ss().ok()) {
        Some(ps) => {
            ps.iter().map(|p| ShardId::new(p).map_err(|e| format!("parent {p:?}: {e}"))).collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    Ok(Lease {
        shard,
        owner: s("owner"),
        counter: n("counter")?,
        epoch: n("epoch")?,
        checkpoint: ShardCheckpoint {
            sequence_number: s("checkpoint"),
            sub_sequence: n("sub_sequence")?,
            ended: item.get("ended").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            last_object: s("last_object"),
            updated_at: s("updated_at"),
        },
        parents,
        silver_pending: item.get("silver_pending").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_lease_parses_back() {
        let item: HashMap<String, AttributeValue> = [
            ("lease_key", AttributeValue::S("s:shardId-1".into())),
            ("shard_id", AttributeValue::S("shardId-1".into())),
            ("owner", AttributeValue::S("w1".into())),
            ("counter", num(7)),
            ("epoch", num(2)),
            ("checkpoint", AttributeValue::S("4955".into())),
            ("sub_sequence", num(3)),
            ("ended", AttributeValue::Bool(true)),
            ("parents", AttributeValue::Ss(vec!["shardId-0".into()])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let l = parse_lease(&item).unwrap();
        assert_eq!(l.owner.as_deref(), Some("w1"));
        assert_eq!((l.counter, l.epoch), (7, 2));
        assert_eq!(l.checkpoint.sequence_number.as_deref(), Some("4955"));
        assert_eq!(l.checkpoint.sub_sequence, 3);
        assert!(l.checkpoint.ended);
        assert_eq!(l.parents, vec![ShardId::new("shardId-0").unwrap()]);
        // written before silver followed the leases: not pending
        assert!(!l.silver_pending);
    }

    #[test]
    fn a_malformed_counter_is_an_error_not_zero() {
        let item: HashMap<String, AttributeValue> = [
            ("shard_id".to_string(), AttributeValue::S("a".into())),
            ("counter".to_string(), AttributeValue::S("x".into())),
        ]
        .into_iter()
        .collect();
        assert!(parse_lease(&item).is_err());
    }
}
