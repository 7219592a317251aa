//! The only module that touches `aws-sdk-kinesis`. It turns the SDK's calls into the few
//! operations the consumer needs and classifies failures while the SDK error is still typed:
//! throttling (back off), an expired iterator (get a fresh one), transient (retry), fatal (stop).

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::operation::describe_stream_consumer::DescribeStreamConsumerError;
use aws_sdk_kinesis::operation::get_records::GetRecordsError;
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::operation::list_shards::ListShardsError;
use aws_sdk_kinesis::operation::register_stream_consumer::RegisterStreamConsumerError;
use aws_sdk_kinesis::operation::subscribe_to_shard::SubscribeToShardError;
use aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError;
use aws_sdk_kinesis::types::{ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEventStream};
use bytes::Bytes;

use crate::model::{ConsumerArn, ConsumerName, SequenceNumber, ShardId};

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

/// One answer from the shard: a GetRecords page, or one event of an enhanced fan-out subscription.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<RawRecord>,
    /// Where reading goes on: the next shard iterator (polling) or the continuation sequence
    /// number (enhanced fan-out). `None`: the shard is closed and fully read (SHARD_END).
    pub next: Option<String>,
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
        let (kind, seq, ts) = start.parts();
        let req = self.client.get_shard_iterator().stream_name(&self.stream).shard_id(shard.as_str());
        let sent = req.shard_iterator_type(kind).set_starting_sequence_number(seq).set_timestamp(ts).send().await;
        let out = sent.map_err(|e| {
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
                    GetRecordsError::ProvisionedThroughputExceededException(_)
                    | GetRecordsError::KmsThrottlingException(_),
                ) => FailureKind::Throttled,
                Some(GetRecordsError::InternalFailureException(_)) => FailureKind::Transient,
                _ => classify(&e),
            };
            api_error("GetRecords", kind, &e)
        })?;
        Ok(Page {
            records: raw_records("GetRecords", out.records())?,
            next: out.next_shard_iterator().map(str::to_string),
            millis_behind_latest: out.millis_behind_latest(),
        })
    }

    /// Register the enhanced fan-out consumer `name` on the stream, or find it if it exists (a
    /// consumer is shared by every worker of the stream and outlives them), and wait until it
    /// is ACTIVE. Returns its ARN.
    pub async fn ensure_consumer(&self, consumer: &ConsumerName) -> Result<ConsumerArn, ApiError> {
        let name = consumer.as_str();
        let summary = self.client.describe_stream_summary().stream_name(&self.stream).send().await.map_err(|e| {
            let kind = classify(&e);
            api_error("DescribeStreamSummary", kind, &e)
        })?;
        let stream_arn =
            summary.stream_description_summary().map(|d| d.stream_arn().to_string()).ok_or_else(|| ApiError {
                op: "DescribeStreamSummary",
                kind: FailureKind::Transient,
                message: "no stream description".into(),
            })?;
        let registered =
            self.client.register_stream_consumer().stream_arn(&stream_arn).consumer_name(name).send().await;
        match registered {
            Ok(_) => tracing::info!(consumer = name, stream = %self.stream, "registered the enhanced fan-out consumer"),
            // already registered (by an earlier run or another worker): use it
            Err(e) if matches!(e.as_service_error(), Some(RegisterStreamConsumerError::ResourceInUseException(_))) => {}
            Err(e) => {
                let kind = match e.as_service_error() {
                    Some(RegisterStreamConsumerError::LimitExceededException(_)) => FailureKind::Throttled,
                    _ => classify(&e),
                };
                return Err(api_error("RegisterStreamConsumer", kind, &e));
            }
        }
        let deadline = std::time::Instant::now() + CONSUMER_ACTIVE_WITHIN;
        loop {
            let out = self.client.describe_stream_consumer().stream_arn(&stream_arn).consumer_name(name).send().await;
            let desc = out.map_err(|e| {
                let kind = match e.as_service_error() {
                    Some(DescribeStreamConsumerError::LimitExceededException(_)) => FailureKind::Throttled,
                    // RegisterStreamConsumer also says "in use" while the stream is being
                    // resharded; the consumer then does not exist yet: start over
                    Some(DescribeStreamConsumerError::ResourceNotFoundException(_)) => FailureKind::Transient,
                    _ => classify(&e),
                };
                api_error("DescribeStreamConsumer", kind, &e)
            })?;
            let status =
                desc.consumer_description().map(|d| (d.consumer_status().clone(), d.consumer_arn().to_string()));
            match status {
                Some((ConsumerStatus::Active, arn)) => return Ok(ConsumerArn::from_service(arn)),
                Some((ConsumerStatus::Deleting, _)) => {
                    return Err(ApiError {
                        op: "DescribeStreamConsumer",
                        kind: FailureKind::Transient,
                        message: format!(
                            "consumer {name} is being deleted; it can be registered again once it is gone"
                        ),
                    });
                }
                _ if std::time::Instant::now() > deadline => {
                    return Err(ApiError {
                        op: "DescribeStreamConsumer",
                        kind: FailureKind::Transient,
                        message: format!("consumer {name} did not become ACTIVE within {CONSUMER_ACTIVE_WITHIN:?}"),
                    });
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
    }

    /// SubscribeToShard for the consumer `consumer_arn`: an HTTP/2 (or chunked HTTP/1.1) event
    /// stream that pushes the shard's records until the service ends it (after 5 minutes) or
    /// the shard ends.
    pub async fn subscribe(
        &self,
        consumer_arn: &ConsumerArn,
        shard: &ShardId,
        start: &StartAt,
    ) -> Result<Subscription, ApiError> {
        let (kind, seq, ts) = start.parts();
        let position =
            StartingPosition::builder().r#type(kind).set_sequence_number(seq).set_timestamp(ts).build().map_err(
                |e| ApiError {
                    op: "SubscribeToShard",
                    kind: FailureKind::Fatal,
                    message: format!("starting position: {e}"),
                },
            )?;
        let out = self
            .client
            .subscribe_to_shard()
            .consumer_arn(consumer_arn.as_str())
            .shard_id(shard.as_str())
            .starting_position(position)
            .send()
            .await
            .map_err(|e| {
                let kind = match e.as_service_error() {
                    // the previous subscription to this shard is still open (it ends within seconds)
                    Some(
                        SubscribeToShardError::ResourceInUseException(_)
                        | SubscribeToShardError::InternalFailureException(_),
                    ) => FailureKind::Transient,
                    Some(
                        SubscribeToShardError::LimitExceededException(_)
                        | SubscribeToShardError::KmsThrottlingException(_),
                    ) => FailureKind::Throttled,
                    _ => classify(&e),
                };
                api_error("SubscribeToShard", kind, &e)
            })?;
        Ok(Subscription { events: out.event_stream })
    }
}

/// How long a newly registered consumer may take to become ACTIVE (AWS: seconds).
const CONSUMER_ACTIVE_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// One open SubscribeToShard event stream.
#[derive(Debug)]
pub struct Subscription {
    events: aws_sdk_kinesis::primitives::event_stream::EventReceiver<
        SubscribeToShardEventStream,
        SubscribeToShardEventStreamError,
    >,
}

impl Subscription {
    /// The next event as a [`Page`]; `Ok(None)` when the service ended the subscription (renew
    /// it from the last continuation). A last event without a continuation is SHARD_END.
    pub async fn next(&mut self) -> Result<Option<Page>, ApiError> {
        loop {
            let event = self.events.recv().await.map_err(|e| {
                let kind = match e.as_service_error() {
                    Some(SubscribeToShardEventStreamError::KmsThrottlingException(_)) => FailureKind::Throttled,
                    Some(
                        SubscribeToShardEventStreamError::InternalFailureException(_)
                        | SubscribeToShardEventStreamError::ResourceInUseException(_),
                    ) => FailureKind::Transient,
                    Some(_) => FailureKind::Fatal,
                    None => match e {
                        SdkError::ConstructionFailure(_) => FailureKind::Fatal,
                        _ => FailureKind::Transient,
                    },
                };
                let message = match e.as_service_error() {
                    Some(s) => s.to_string(),
                    None => DisplayErrorContext(&e).to_string(),
                };
                ApiError { op: "SubscribeToShard event", kind, message }
            })?;
            let Some(event) = event else { return Ok(None) };
            // Event types this SDK does not know yet carry no records: skip them.
            let SubscribeToShardEventStream::SubscribeToShardEvent(ev) = event else { continue };
            let continuation = ev.continuation_sequence_number();
            return Ok(Some(Page {
                records: raw_records("SubscribeToShard event", ev.records())?,
                next: (!continuation.is_empty()).then(|| continuation.to_string()),
                millis_behind_latest: Some(ev.millis_behind_latest()),
            }));
        }
    }
}

impl StartAt {
    /// The iterator type, sequence number and timestamp that GetShardIterator and
    /// SubscribeToShard both take.
    fn parts(&self) -> (ShardIteratorType, Option<String>, Option<aws_sdk_kinesis::primitives::DateTime>) {
        match self {
            StartAt::TrimHorizon => (ShardIteratorType::TrimHorizon, None, None),
            StartAt::Latest => (ShardIteratorType::Latest, None, None),
            StartAt::Timestamp(ms) => {
                (ShardIteratorType::AtTimestamp, None, Some(aws_sdk_kinesis::primitives::DateTime::from_millis(*ms)))
            }
            StartAt::AtSequence(s) => (ShardIteratorType::AtSequenceNumber, Some(s.as_str().to_string()), None),
            StartAt::AfterSequence(s) => (ShardIteratorType::AfterSequenceNumber, Some(s.as_str().to_string()), None),
        }
    }
}

/// The SDK's records as ours; a sequence number we cannot use is fatal (it would break ordering).
fn raw_records(op: &'static str, records: &[aws_sdk_kinesis::types::Record]) -> Result<Vec<RawRecord>, ApiError> {
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let sequence_number = SequenceNumber::new(r.sequence_number()).map_err(|e| ApiError {
            op,
            kind: FailureKind::Fatal,
            message: format!("unusable sequence number {:?}: {e}", r.sequence_number()),
        })?;
        let arrival_ts_micros = r
            .approximate_arrival_timestamp()
            .and_then(|t| t.to_millis().ok())
            .map(|ms| ms.saturating_mul(1000))
            .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
        out.push(RawRecord {
            sequence_number,
            partition_key: r.partition_key().to_string(),
            data: Bytes::copy_from_slice(r.data().as_ref()),
            arrival_ts_micros,
        });
    }
    Ok(out)
}

/// Classification of what the operation-specific match did not name: no answer or a 5xx is
/// transient; throttling by error code (the protocol's typed field, not the message), whichever
/// throttling code a call gets (a ListShards answered with ProvisionedThroughputExceeded once
/// stopped bronze); the rest is fatal.
fn classify<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> FailureKind {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => FailureKind::Transient,
        SdkError::ServiceError(s) if s.raw().status().is_server_error() => FailureKind::Transient,
        SdkError::ServiceError(s)
            if matches!(
                s.err().code(),
                Some("ThrottlingException" | "LimitExceededException" | "ProvisionedThroughputExceededException")
            ) =>
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
