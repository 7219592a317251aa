//! The only module that touches `aws-sdk-kinesis`. It turns the SDK's calls into the few
//! operations the consumer needs and classifies failures while the SDK error is still typed:
//! throttling (back off), an expired iterator (get a fresh one), transient (retry), fatal (stop).

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::get_records::GetRecordsError;
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::operation::list_shards::ListShardsError;
use aws_sdk_kinesis::types::ShardIteratorType;
use bytes::Bytes;

use crate::model::{SequenceNumber, ShardId};

/// How a failed call should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// ProvisionedThroughputExceeded / KMS throttling / LimitExceeded: back off and retry.
    Throttled,
    /// The shard iterator is older than 5 minutes: ask for a new one from the last position.
    ExpiredIterator,
    /// No answer, a 5xx, an internal failure: retry.
    Transient,
    /// Access denied, no such stream, invalid argument: retrying cannot help.
    Fatal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("Kinesis {op}: {message}")]
pub struct ApiError {
    pub op: &'static str,
    pub kind: FailureKind,
    pub message: String,
}

/// Where to start reading a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    TrimHorizon,
    Latest,
    /// Records that arrived at or after this time (milliseconds since the epoch).
    Timestamp(i64),
    /// The record with this sequence number and everything after it (used to resume inside a
    /// KPL aggregate; the consumer drops what it already has).
    AtSequence(SequenceNumber),
    AfterSequence(SequenceNumber),
}

/// One shard as ListShards describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: ShardId,
    pub parent: Option<ShardId>,
    pub adjacent_parent: Option<ShardId>,
}

impl ShardInfo {
    pub fn parents(&self) -> impl Iterator<Item = &ShardId> {
        self.parent.iter().chain(self.adjacent_parent.iter())
    }
}

/// One Kinesis record as GetRecords returned it (possibly a KPL aggregate).
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub sequence_number: SequenceNumber,
    pub partition_key: String,
    pub data: Bytes,
    pub arrival_ts_micros: i64,
}

#[derive(Debug)]
pub struct Page {
    pub records: Vec<RawRecord>,
    /// `None`: the shard is closed and fully read (SHARD_END).
    pub next_iterator: Option<String>,
    pub millis_behind_latest: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct KinesisApi {
    client: aws_sdk_kinesis::Client,
    stream: String,
}

impl KinesisApi {
    pub fn new(sdk: &aws_config::SdkConfig, stream: &str) -> Self {
        Self { client: aws_sdk_kinesis::Client::new(sdk), stream: stream.to_string() }
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Every shard of the stream, open and closed (still within retention), across pages.
    pub async fn list_shards(&self) -> Result<Vec<ShardInfo>, ApiError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // A page token already names the stream: sending both is an error.
            let req = match &token {
                Some(t) => self.client.list_shards().next_token(t),
                None => self.client.list_shards().stream_name(&self.stream),
            };
            let page = req.send().await.map_err(|e| {
                let kind = match e.as_service_error() {
                    Some(ListShardsError::LimitExceededException(_)) => FailureKind::Throttled,
                    Some(ListShardsError::ResourceInUseException(_)) => FailureKind::Transient,
                    _ => classify(&e),
                };
                api_error("ListShards", kind, &e)
            })?;
            for s in page.shards() {
                let id = |s: &str| {
                    ShardId::new(s).map_err(|e| ApiError {
                        op: "ListShards",
                        kind: FailureKind::Fatal,
                        message: format!("unusable shard id {s:?}: {e}"),
                    })
                };
                out.push(ShardInfo {
                    id: id(s.shard_id())?,
                    parent: s.parent_shard_id().map(id).transpose()?,
                    adjacent_parent: s.adjacent_parent_shard_id().map(id).transpose()?,
                });
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    pub async fn shard_iterator(&self, shard: &ShardId, start: &StartAt) -> Result<String, ApiError> {
        let mut req = self.client.get_shard_iterator().stream_name(&self.stream).shard_id(shard.as_str());
        req = match start {
            StartAt::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            StartAt::Latest => req.shard_iterator_type(ShardIteratorType::Latest),
            StartAt::Timestamp(ms) => req
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from_millis(*ms)),
            StartAt::AtSequence(s) => {
                req.shard_iterator_type(ShardIteratorType::AtSequenceNumber).starting_sequence_number(s.as_str())
            }
            StartAt::AfterSequence(s) => {
                req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(s.as_str())
            }
        };
        let out = req.send().await.map_err(|e| {
            let kind = match e.as_service_error() {
                Some(GetShardIteratorError::ProvisionedThroughputExceededException(_)) => FailureKind::Throttled,
                Some(GetShardIteratorError::InternalFailureException(_)) => FailureKind::Transient,
                _ => classify(&e),
            };
            api_error("GetShardIterator", kind, &e)
        })?;
        out.shard_iterator().map(str::to_string).ok_or_else(|| ApiError {
            op: "GetShardIterator",
            kind: FailureKind::Transient,
            message: format!("no iterator returned for {shard}"),
        })
    }

    pub async fn get_records(&self, iterator: &str, limit: i32) -> Result<Page, ApiError> {
        let out = self.client.get_records().shard_iterator(iterator).limit(limit).send().await.map_err(|e| {
            let kind = match e.as_service_error() {
                Some(GetRecordsError::ExpiredIteratorException(_)) => FailureKind::ExpiredIterator,
                Some(
                    GetRecordsError::ProvisionedThroughputExceededException(_) | GetRecordsError::KmsThrottlingException(_),
                ) => FailureKind::Throttled,
                Some(GetRecordsError::InternalFailureException(_)) => FailureKind::Transient,
                _ => classify(&e),
            };
            api_error("GetRecords", kind, &e)
        })?;
        let mut records = Vec::with_capacity(out.records().len());
        for r in out.records() {
            let sequence_number = SequenceNumber::new(r.sequence_number()).map_err(|e| ApiError {
                op: "GetRecords",
                kind: FailureKind::Fatal,
                message: format!("unusable sequence number {:?}: {e}", r.sequence_number()),
            })?;
            let arrival_ts_micros = r
                .approximate_arrival_timestamp()
                .and_then(|t| t.to_millis().ok())
                .map(|ms| ms.saturating_mul(1000))
                .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
            records.push(RawRecord {
                sequence_number,
                partition_key: r.partition_key().to_string(),
                data: Bytes::copy_from_slice(r.data().as_ref()),
                arrival_ts_micros,
            });
        }
        Ok(Page {
            records,
            next_iterator: out.next_shard_iterator().map(str::to_string),
            millis_behind_latest: out.millis_behind_latest(),
        })
    }
}

/// Classification of what the operation-specific match did not name: no answer or a 5xx is
/// transient; throttling by error code (the protocol's typed field, not the message); the rest
/// is fatal.
fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> FailureKind {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => FailureKind::Transient,
        SdkError::ServiceError(s) if s.raw().status().is_server_error() => FailureKind::Transient,
        SdkError::ServiceError(s)
            if matches!(s.err().code(), Some("ThrottlingException" | "LimitExceededException")) =>
        {
            FailureKind::Throttled
        }
        _ => FailureKind::Fatal,
    }
}

fn api_error<E>(op: &'static str, kind: FailureKind, e: &SdkError<E, HttpResponse>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = match e.as_service_error() {
        Some(s) => format!("{}: {}", s.code().unwrap_or("error"), s.message().unwrap_or("")),
        None => DisplayErrorContext(e).to_string(),
    };
    ApiError { op, kind, message }
}
