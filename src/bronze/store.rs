//! Where bronze objects live: an `object_store` behind a URL, so the local filesystem (embedded
//! default) and S3 take the same code path. Objects are written whole with one `put` — atomic on
//! both — so a reader never sees half an object.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{Attribute, ObjectStore, ObjectStoreExt, PutOptions};

use super::layout::BronzeKey;
use crate::aws::S3Settings;
use crate::error::{Error, Result};
use crate::model::{Hour, SequenceNumber};

/// Object metadata key carrying the lease epoch of the worker that wrote a bronze object.
pub const LEASE_EPOCH_METADATA: &str = "floe-lease-epoch";

#[derive(Debug, Clone)]
pub struct BronzeObject {
    pub key: BronzeKey,
    pub location: ObjPath,
    pub size: u64,
}

/// What a listing found, and how many list requests it took (the discovery benchmark's figure).
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<BronzeObject>,
    pub requests: usize,
}

fn bronze_objects(stream: &str, metas: Vec<object_store::ObjectMeta>) -> Vec<BronzeObject> {
    metas
        .into_iter()
        .filter_map(|m| {
            BronzeKey::parse(m.location.as_ref()).filter(|k| k.stream == stream).map(|key| BronzeObject {
                key,
                location: m.location,
                size: m.size,
            })
        })
        .collect()
}

#[derive(Clone)]
pub struct BronzeStore {
    /// `bronze.location` as configured, for messages.
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: ObjPath,
    /// Set for `file://` locations: puts are fsynced there, as S3 is durable on acknowledgement.
    local_root: Option<PathBuf>,
}

impl BronzeStore {
    /// Open `url`; for `s3://` the region, endpoint and addressing style come from `s3` (resolved
    /// as the SDK would, `crate::aws`) and credentials from the standard AWS chain (object_store
    /// reads the same variables and container credentials the SDK does).
    pub fn open(url: &str, s3: &S3Settings) -> Result<Self> {
        let (store, prefix, local_root) = match crate::storage::open(url, s3)? {
            Some(at) => at,
            None => return Err(Error::invalid(format!("bronze location {url:?}: expected file:// or s3://"))),
        };
        Ok(Self { url: url.to_string(), store, prefix, local_root })
    }

    /// One listing under the prefix, before anything is read or written: a store that cannot
    /// work (missing bucket, access denied, a client that cannot reach its endpoint) is a clear
    /// error now, naming `bronze.location`, instead of failed writes retried later. A fault that
    /// may pass (no answer yet) is left to the pipeline's retries.
    pub async fn probe(&self) -> Result<()> {
        let Err(e) = self.store.list_with_delimiter(Some(&self.prefix)).await else { return Ok(()) };
        if crate::error::object_store_is_transient(&e) {
            tracing::warn!(location = %self.url, error = %e, "the bronze store did not answer yet; carrying on");
            return Ok(());
        }
        let text = e.to_string();
        let bucket = self.url.strip_prefix("s3://").map(|r| r.split('/').next().unwrap_or(r));
        let why = match bucket {
            Some(b) if text.contains("NoSuchBucket") => format!("the bucket {b} does not exist"),
            Some(b) if text.contains("AccessDenied") || matches!(e, object_store::Error::PermissionDenied { .. }) => {
                format!("access to the bucket {b} is denied (check the task's IAM role): {}", first_line(&text))
            }
            _ => first_line(&text).to_string(),
        };
        Err(Error::invalid(format!("bronze.location {}: {why}", self.url)))
    }

    fn location(&self, key: &BronzeKey) -> ObjPath {
        let rel = key.path();
        if self.prefix.as_ref().is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// Write `bytes` under `key` and return once the object is durable. `lease_epoch` (when
    /// workers share the stream through leases) goes into the object's metadata
    /// (`x-amz-meta-floe-lease-epoch` on S3; local files have no metadata).
    pub async fn put(&self, key: &BronzeKey, bytes: Bytes, lease_epoch: Option<u64>) -> Result<ObjPath> {
        let location = self.location(key);
        let mut opts = PutOptions::default();
        if let (Some(epoch), None) = (lease_epoch, &self.local_root) {
            opts.attributes.insert(Attribute::Metadata(LEASE_EPOCH_METADATA.into()), epoch.to_string().into());
        }
        self.store.put_opts(&location, bytes.into(), opts).await?;
        if let Some(root) = &self.local_root {
            let file = root.join(location.as_ref());
            tokio::task::spawn_blocking(move || {
                std::fs::File::open(&file).and_then(|f| f.sync_all()).map_err(|e| Error::io(file, e))
            })
            .await
            .map_err(|e| Error::invalid(format!("fsync task failed: {e}")))??;
        }
        Ok(location)
    }

    fn stream_root(&self, stream: &str) -> ObjPath {
        if self.prefix.as_ref().is_empty() {
            ObjPath::from(stream)
        } else {
            ObjPath::from(format!("{}/{stream}", self.prefix))
        }
    }

    /// Every bronze object of `stream` (files that are not bronze keys are ignored).
    pub async fn list(&self, stream: &str) -> Result<Vec<BronzeObject>> {
        Ok(self.list_from(stream, None).await?.objects)
    }

    /// The bronze objects of `stream` in the hour partitions at or after `from` (every object
    /// when `None`). The partitions are found by delimiter listings (`dt=` then `hr=`), so the
    /// cost is one request per day and per hour listed, plus the objects' pages: it follows the
    /// hours asked for, not the stream's age (bar one `dt=` entry per day, a page per 1,000 days).
    pub async fn list_from(&self, stream: &str, from: Option<Hour>) -> Result<Listing> {
        let root = self.stream_root(stream);
        let Some(from) = from else {
            let metas: Vec<_> = self.store.list(Some(&root)).try_collect().await?;
            return Ok(Listing { objects: bronze_objects(stream, metas), requests: 1 });
        };
        let (from_day, _) = from.partition();
        let mut requests = 1;
        let days = self.store.list_with_delimiter(Some(&root)).await?;
        let mut objects = Vec::new();
        for day in days.common_prefixes {
            let Some(date) = day.filename().and_then(|d| d.strip_prefix("dt=")) else { continue };
            if date < from_day.as_str() {
                continue;
            }
            let date = date.to_string();
            requests += 1;
            let hours = self.store.list_with_delimiter(Some(&day)).await?;
            for hour in hours.common_prefixes {
                let Some(hr) = hour.filename().and_then(|h| h.strip_prefix("hr=")) else { continue };
                if Hour::from_partition(&date, hr).is_none_or(|h| h < from) {
                    continue;
                }
                requests += 1;
                let metas: Vec<_> = self.store.list(Some(&hour)).try_collect().await?;
                objects.extend(bronze_objects(stream, metas));
            }
        }
        Ok(Listing { objects, requests })
    }

    /// The last sequence number of an object already written for `shard` that starts exactly at
    /// `first` (in the partition `first` would be written to). After a crash between an
    /// object's write and its checkpoint, the re-read writes its first object up to the same
    /// last record, so the retry overwrites that object instead of adding an overlapping one.
    pub async fn existing_end(&self, first: &BronzeKey) -> Result<Option<SequenceNumber>> {
        let dir = self.location(first);
        let Some(dir) = dir.as_ref().rsplit_once('/').map(|(d, _)| ObjPath::from(d)) else {
            return Ok(None);
        };
        let metas: Vec<_> = self.store.list(Some(&dir)).try_collect().await?;
        Ok(metas
            .iter()
            .filter_map(|m| BronzeKey::parse(m.location.as_ref()))
            .filter(|k| k.shard == first.shard && k.first == first.first && k.format == first.format)
            .map(|k| k.last)
            .max())
    }

    pub async fn get(&self, location: &ObjPath) -> Result<Bytes> {
        Ok(self.store.get(location).await?.bytes().await?)
    }
}

/// The first line of an error text (S3 appends its XML answer on the next ones).
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
