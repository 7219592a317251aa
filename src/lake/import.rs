//! Importing a raw archive (a local directory or `s3://bucket/prefix/` of JSON, JSONL, JSONL.gz
//! or Parquet files — the seeds' "raw" folders, a Firehose or S3-loader archive): each file is
//! staged as one NDJSON file of an import spool, and the ordinary pipeline loads that spool —
//! every archive file becomes one bronze shard of the configured stream, so the per-shard
//! checkpoints and watermarks make each file's records land exactly once, and a crash half-way
//! resumes where the checkpoint and the table's progress say.
//!
//! A file's shard id is derived from its location (`import-<hash>-<name>`): importing the same
//! archive again finds every shard complete and loads nothing.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::aws::S3Settings;
use crate::error::{Error, Result};

/// An archive file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArchiveFormat {
    /// One JSON value per file: an object, or an array of objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    JsonlGz,
    Parquet,
}

impl ArchiveFormat {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "json" => Ok(Self::Json),
            "jsonl" | "ndjson" => Ok(Self::Jsonl),
            "jsonl.gz" | "ndjson.gz" | "json.gz" => Ok(Self::JsonlGz),
            "parquet" => Ok(Self::Parquet),
            _ => Err(Error::invalid(format!("--format {s:?}: expected json, jsonl, jsonl.gz or parquet"))),
        }
    }

    /// The format a file name says, if it says one.
    pub fn of_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        [
            (".jsonl.gz", Self::JsonlGz),
            (".ndjson.gz", Self::JsonlGz),
            (".json.gz", Self::JsonlGz),
            (".gz", Self::JsonlGz),
        ]
        .into_iter()
        .chain([(".jsonl", Self::Jsonl), (".ndjson", Self::Jsonl), (".json", Self::Json), (".parquet", Self::Parquet)])
        .find(|(ext, _)| n.ends_with(ext))
        .map(|(_, f)| f)
    }
}

/// One archive file to import.
#[derive(Debug, Clone)]
pub struct ArchiveFile {
    /// Its location as given (`s3://…` or a local path), for messages and the shard id.
    pub location: String,
    pub name: String,
    pub size: u64,
    key: object_store::path::Path,
}

/// The archive's files, in name order (a directory walk, or an S3 listing under the prefix).
pub async fn list_archive(source: &str, s3: &S3Settings) -> Result<Vec<ArchiveFile>> {
    let local = source.strip_prefix("file://").or_else(|| source.starts_with('/').then_some(source));
    if local.is_some_and(|p| !Path::new(p).is_dir()) {
        return Err(Error::invalid(format!("{source}: not a directory")));
    }
    let Some((store, prefix, _)) = crate::storage::open(source.trim_end_matches('/'), s3)? else {
        return Err(Error::invalid(format!("{source}: expected a local directory or s3://bucket/prefix/")));
    };
    let listed: Vec<object_store::ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
    let base = source.trim_end_matches('/');
    let mut out: Vec<ArchiveFile> = listed
        .into_iter()
        .filter_map(|m| {
            let key = m.location.as_ref();
            let rel = key.strip_prefix(prefix.as_ref()).unwrap_or(key).trim_start_matches('/').to_string();
            let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
            (!name.starts_with('.') && !name.starts_with('_')).then(|| ArchiveFile {
                location: format!("{base}/{rel}"),
                name,
                size: m.size,
                key: m.location.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(out)
}

/// The bytes of an archive file listed by [`list_archive`] from `source`.
pub async fn fetch(source: &str, s3: &S3Settings, file: &ArchiveFile) -> Result<Bytes> {
    let Some((store, _, _)) = crate::storage::open(source.trim_end_matches('/'), s3)? else {
        return Err(Error::invalid(format!("{source}: expected a local directory or s3://bucket/prefix/")));
    };
    Ok(store.get(&file.key).await?.bytes().await?)
}

/// The shard id (and staged file name) of an archive file: stable across runs.
pub fn shard_name(file: &ArchiveFile) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x666c6f65, 0x696d706f);
    file.location.hash(&mut h);
    let clean: String =
        file.name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    format!("import-{:012x}-{clean}", h.finish() & 0xffff_ffff_ffff)
}

/// Stage `file` (its bytes) as NDJSON at `dir/<shard name>` (written aside, then renamed, so the
/// spool never sees half a file). Returns the records staged; an existing staged file is kept.
pub fn stage(file: &ArchiveFile, bytes: Bytes, format: ArchiveFormat, dir: &Path) -> Result<u64> {
    let target = dir.join(shard_name(file));
    if target.exists() {
        return Ok(0);
    }
    let tmp = dir.join(format!(".{}.tmp", shard_name(file)));
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
    let io = |e: std::io::Error| Error::io(&tmp, e);
    let bad = |why: String| Error::invalid(format!("{}: {why}", file.location));
    let mut records = 0u64;
    match format {
        ArchiveFormat::Jsonl | ArchiveFormat::JsonlGz => {
            let reader: Box<dyn Read> = match format {
                ArchiveFormat::JsonlGz => Box::new(flate2::read::MultiGzDecoder::new(bytes.as_ref())),
                _ => Box::new(bytes.as_ref()),
            };
            // every line is a record, as the spool reads them: bad ones become bad rows
            for line in std::io::BufReader::new(reader).split(b'\n') {
                let line = line.map_err(|e| bad(format!("cannot be read: {e}")))?;
                out.write_all(&line).and_then(|_| out.write_all(b"\n")).map_err(io)?;
                records += 1;
            }
        }
        ArchiveFormat::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| bad(format!("is not one JSON value: {e}")))?;
            let items = match value {
                serde_json::Value::Array(items) => items,
                other => vec![other],
            };
            for item in items {
                serde_json::to_writer(&mut out, &item).map_err(|e| bad(e.to_string()))?;
                out.write_all(b"\n").map_err(io)?;
                records += 1;
            }
        }
        ArchiveFormat::Parquet => {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
                .map_err(|e| bad(format!("is not Parquet: {e}")))?
                .build()
                .map_err(|e| bad(e.to_string()))?;
            let mut json = arrow::json::LineDelimitedWriter::new(&mut out);
            for batch in reader {
                let batch = batch.map_err(|e| bad(e.to_string()))?;
                records += batch.num_rows() as u64;
                json.write(&batch)?;
            }
            json.finish()?;
        }
    }
    out.flush().map_err(io)?;
    drop(out);
    std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    Ok(records)
}

/// The import spool of the warehouse.
pub fn staging_dir(warehouse: &Path) -> PathBuf {
    warehouse.join("import-spool")
}
