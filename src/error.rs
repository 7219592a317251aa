//! The library's one error type. Each variant says which part failed, so the CLI can print a
//! message a person can act on and the daemon can tell a transient fault from a fatal one.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration file or value is wrong; `key` names the setting (`bronze.flush_interval`).
    #[error("{file}: {key}: {message}")]
    Config { file: String, key: String, message: String },

    /// A table definition (`catalog/*.toml`) or transform (`sql/*.sql`) is wrong.
    #[error("{path}: {message}")]
    Definition { path: String, message: String },

    /// A value that the program was handed does not have the required form.
    #[error("{0}")]
    Invalid(String),

    #[error("I/O on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),

    #[error("iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),

    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),

    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("json: {0}")]
    Json(#[from] serde_json::Error),

    /// A commit found the table moved in a way that conflicts with this batch (another writer
    /// advanced a watermark this batch also covers). The batch is planned again from scratch.
    #[error("commit conflict on {table}: {message}")]
    CommitConflict { table: String, message: String },

    /// The stream source failed in a way retrying cannot fix (access denied, no such stream) or
    /// kept failing past its retry budget.
    #[error("source: {0}")]
    Source(String),

    /// The checkpoint/lease store (DynamoDB) failed; `transient` says whether trying again later
    /// may succeed (no answer, throttling, 5xx) or not (access denied, no such table).
    #[error("checkpoint store: {message}")]
    Checkpoint { message: String, transient: bool },

    /// This worker no longer holds the shard's lease (another worker took it, or renewals failed
    /// for longer than the lease duration): it must stop writing that shard.
    #[error("lease on shard {shard} lost: {why}")]
    LeaseLost { shard: String, why: String },

    /// An Iglu schema registry did not answer (the batch waits for it; no bad rows are made).
    #[error("iglu registry: {0}")]
    Registry(String),

    /// The work was stopped by a shutdown signal before it finished; nothing partial was made durable.
    #[error("cancelled by shutdown")]
    Cancelled,
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Whether trying the same operation again later may succeed: network and storage hiccups and
    /// commit conflicts are; bad definitions and bad configuration are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Config { .. }
            | Error::Definition { .. }
            | Error::Invalid(_)
            | Error::Source(_)
            | Error::Cancelled => false,
            // a registry that did not answer may answer later; the batch waits for it
            Error::CommitConflict { .. } | Error::LeaseLost { .. } | Error::Registry(_) => true,
            Error::Checkpoint { transient, .. } => *transient,
            Error::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ),
            Error::ObjectStore(e) => object_store_is_transient(e),
            Error::Iceberg(e) => iceberg_is_transient(e),
            Error::DataFusion(_) | Error::Arrow(_) | Error::Parquet(_) | Error::Json(_) => false,
        }
    }
}

/// Whether an object-store error may go away on its own. Missing objects, refused access and bad
/// paths will not; nor will a request the service answered with a 4xx other than timeout (408)
/// and throttling (429) — a missing bucket (`NoSuchBucket`, which object_store reports only as a
/// generic error with the status in its text), a wrong region — nor a client that could not be
/// built for its endpoint (an `http://` endpoint without plain HTTP allowed).
pub fn object_store_is_transient(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    match e {
        E::NotFound { .. }
        | E::InvalidPath { .. }
        | E::NotSupported { .. }
        | E::PermissionDenied { .. }
        | E::Unauthenticated { .. }
        | E::UnknownConfigurationKey { .. } => false,
        E::Generic { .. } => {
            let text = error_chain_text(e);
            let status = text
                .split("status code: ")
                .nth(1)
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok());
            // S3 answers a slow upload with 400 RequestTimeout and an expiring session with 400
            // ExpiredToken: both pass (the SDKs retry them; object_store refreshes credentials)
            let passing = ["RequestTimeout", "ExpiredToken", "TokenRefreshRequired"].iter().any(|c| text.contains(c));
            let refused = status.is_some_and(|s| (400..500).contains(&s) && s != 408 && s != 429) && !passing;
            !(refused || text.contains("builder error"))
        }
        _ => true,
    }
}

/// An error and its sources as one text.
fn error_chain_text(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// Whether an iceberg error may go away on its own. Unexpected covers the catalog's I/O and
/// database errors (unreachable, locked): the daemon waits them out rather than exiting;
/// precondition failures and conflicts are commit races. Bad data, unsupported features, missing
/// tables and the Glue refusals catalog/glue.rs marks permanent (access denied, invalid input)
/// are not transient.
pub fn iceberg_is_transient(e: &iceberg::Error) -> bool {
    e.retryable()
        || matches!(
            e.kind(),
            iceberg::ErrorKind::Unexpected
                | iceberg::ErrorKind::PreconditionFailed
                | iceberg::ErrorKind::CatalogCommitConflicts
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic { store: "S3", source: text.to_string().into() }
    }

    #[test]
    fn object_store_answers_are_classified_by_whether_they_can_pass() {
        let missing_bucket = "Error performing list request: Server returned non-2xx status code: 404 Not Found: <Error><Code>NoSuchBucket</Code>";
        assert!(!object_store_is_transient(&generic(missing_bucket)));
        assert!(!object_store_is_transient(&generic("Error performing PUT: HTTP error: builder error")));
        assert!(object_store_is_transient(&generic("Server returned non-2xx status code: 503 Service Unavailable")));
        assert!(object_store_is_transient(&generic("Server returned non-2xx status code: 429 Too Many Requests")));
        assert!(object_store_is_transient(&generic("status code: 400 Bad Request: <Code>RequestTimeout</Code>")));
        assert!(object_store_is_transient(&generic("error sending request: connection refused")));
        let denied = object_store::Error::PermissionDenied { path: "b/k".into(), source: "denied".into() };
        assert!(!Error::ObjectStore(denied).is_retryable());
    }
}
