//! floe's own commits on a REST catalog. The REST protocol has no metadata pointer to swap: the
//! server writes the metadata. A commit is the spec's `updateTable` call — the updates (add the
//! snapshot and move `main` to it, remove snapshots, set properties) guarded by requirements (the
//! table's UUID, `main` still at the snapshot the commit was built on, and for a schema change
//! the schema and last field id it was built on) — which the server applies
//! atomically or refuses with 409. iceberg-catalog-rest sends the same request, but only for the
//! commits its crate-private builder makes, so the request is sent here with its own client.

use iceberg::spec::{MAIN_BRANCH, TableMetadata};
use iceberg::table::Table;
use iceberg::{TableRequirement, TableUpdate};
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

/// Where and how to reach the REST catalog.
#[derive(Debug)]
pub struct RestEndpoint {
    http: reqwest::Client,
    uri: String,
    warehouse: Option<String>,
    token: Option<String>,
    /// The `prefix` the server's `/v1/config` hands out (asked once).
    prefix: OnceCell<Option<String>>,
}

#[derive(Serialize)]
struct Identifier<'a> {
    namespace: Vec<String>,
    name: &'a str,
}

#[derive(Serialize)]
struct CommitTableRequest<'a> {
    identifier: Identifier<'a>,
    requirements: Vec<TableRequirement>,
    updates: Vec<TableUpdate>,
}

impl RestEndpoint {
    pub fn new(uri: &str, warehouse: Option<String>, token: Option<String>) -> Self {
        Self {
            http: reqwest::Client::new(),
            uri: uri.trim_end_matches('/').to_string(),
            warehouse,
            token,
            prefix: OnceCell::new(),
        }
    }

    fn authorized(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn prefix(&self) -> Result<Option<String>> {
        let prefix = self
            .prefix
            .get_or_try_init(|| async {
                let mut req = self.http.get(format!("{}/v1/config", self.uri));
                if let Some(w) = &self.warehouse {
                    req = req.query(&[("warehouse", w)]);
                }
                let answer =
                    self.authorized(req).send().await.map_err(|e| unexpected(format!("GET /v1/config: {e}")))?;
                let status = answer.status();
                let body: serde_json::Value =
                    answer.json().await.map_err(|e| unexpected(format!("GET /v1/config: {status}: {e}")))?;
                if !status.is_success() {
                    return Err(refused(format!("GET /v1/config answered {status}: {body}")));
                }
                let pick = |section: &str| body.get(section)?.get("prefix")?.as_str().map(str::to_string);
                Ok::<_, Error>(pick("overrides").or_else(|| pick("defaults")))
            })
            .await?;
        Ok(prefix.clone())
    }

    /// Apply `updates` to `base`'s table if its `main` is still where `base` had it: `false`
    /// when the server refused because the table moved (409).
    pub async fn commit(&self, base: &Table, updates: Vec<TableUpdate>) -> Result<bool> {
        let ident = base.identifier();
        let meta: &TableMetadata = base.metadata();
        let mut requirements = vec![
            TableRequirement::UuidMatch { uuid: meta.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: MAIN_BRANCH.to_string(),
                snapshot_id: meta.current_snapshot_id(),
            },
        ];
        // a schema change (per-schema columns) is built on base's schema and its field ids: two
        // writers adding columns at once must not both win, though neither moved `main`
        if updates.iter().any(|u| matches!(u, TableUpdate::AddSchema { .. } | TableUpdate::SetCurrentSchema { .. })) {
            requirements.push(TableRequirement::CurrentSchemaIdMatch { current_schema_id: meta.current_schema_id() });
            requirements
                .push(TableRequirement::LastAssignedFieldIdMatch { last_assigned_field_id: meta.last_column_id() });
        }
        let body = CommitTableRequest {
            identifier: Identifier { namespace: ident.namespace().clone().inner(), name: ident.name() },
            requirements,
            updates,
        };
        let mut url = format!("{}/v1", self.uri);
        if let Some(p) = self.prefix().await? {
            url.push('/');
            url.push_str(&p);
        }
        let ns = ident.namespace().to_url_string();
        url.push_str(&format!("/namespaces/{}/tables/{}", encode(&ns), encode(ident.name())));
        let answer = self
            .authorized(self.http.post(&url).json(&body))
            .send()
            .await
            .map_err(|e| unexpected(format!("{ident}: updateTable: {e}")))?;
        let status = answer.status();
        match status.as_u16() {
            200..=299 => Ok(true),
            409 => Ok(false),
            // no definite answer: the server may have applied it
            500 | 502 | 503 | 504 => Err(unexpected(format!(
                "{ident}: updateTable answered {status}: {}",
                answer.text().await.unwrap_or_default()
            ))),
            _ => Err(refused(format!(
                "{ident}: the REST catalog refused the commit ({status}): {}",
                answer.text().await.unwrap_or_default()
            ))),
        }
    }
}

/// Percent-encoding of one path segment (the namespace separator 0x1F included).
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// No definite answer (transient): the caller re-checks.
fn unexpected(message: String) -> Error {
    Error::Iceberg(iceberg::Error::new(iceberg::ErrorKind::Unexpected, message))
}

/// A definite refusal that retrying will not change.
fn refused(message: String) -> Error {
    Error::Iceberg(iceberg::Error::new(iceberg::ErrorKind::DataInvalid, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode("floe"), "floe");
        assert_eq!(encode("a\u{1f}b"), "a%1Fb");
        assert_eq!(encode("my table"), "my%20table");
    }
}
