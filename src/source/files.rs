//! The spool source: every regular file in a directory is a shard; each line is a record whose
//! sequence number is the byte offset where the line starts. Files must be complete when they
//! appear (write to a hidden or `.tmp` name, then rename — as `floe generate` does); so the end of
//! a file is the end of its shard.
//!
//! Every line is a record, empty ones included: the silver stage turns what it cannot use into
//! bad rows, so nothing is skipped here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::{ReadBatch, Record};
use crate::error::{Error, Result};
use crate::model::{Position, SequenceNumber, ShardId};

/// A line longer than this is cut here (the rest of it is skipped up to the newline). The record
/// still reaches silver, which rejects it as too large, so the cut never loses a record silently
/// and a newline-free multi-gigabyte file cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// A read stops once it holds this much, whatever `source.read_records` allows (one line always
/// fits): a thousand long lines must not make one read of gigabytes, which would exhaust memory
/// and overflow the 32-bit offsets of bronze's Arrow copy (its shard stuck on every retry).
pub const MAX_READ_BYTES: usize = 32 << 20;

/// Find the spool's files, keyed by shard id. Hidden files and `*.tmp` are files being written.
pub fn list_shards(dir: &Path) -> Result<BTreeMap<ShardId, PathBuf>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid(format!(
                "the spool directory {} does not exist: create it, or point --spool (source.spool_dir) at the NDJSON files",
                dir.display()
            )));
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name.ends_with(".tmp") {
            continue;
        }
        if !entry.file_type().map_err(|e| Error::io(entry.path(), e))?.is_file() {
            continue;
        }
        let shard = shard_for_file(&name)?;
        if let Some(other) = out.insert(shard.clone(), entry.path()) {
            return Err(Error::invalid(format!(
                "spool files {} and {} map to the same shard id {shard}: rename one",
                other.display(),
                entry.path().display()
            )));
        }
    }
    Ok(out)
}

/// The shard id of a spool file: its name with characters unsafe in keys replaced by `_`.
pub fn shard_for_file(name: &str) -> Result<ShardId> {
    let cleaned: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .take(128)
        .collect();
    ShardId::new(cleaned)
}

/// Reads one spool file from just after a checkpointed offset.
pub struct SpoolReader {
    shard: ShardId,
    reader: BufReader<tokio::fs::File>,
    offset: u64,
    arrival_ts_micros: i64,
    done: bool,
}

impl SpoolReader {
    /// Open `path`; with `after = Some(offset)` skip the line that starts at `offset` (it is
    /// already durable) and continue with the next one.
    pub async fn open(shard: ShardId, path: &Path, after: Option<u64>) -> Result<Self> {
        let file = tokio::fs::File::open(path).await.map_err(|e| Error::io(path, e))?;
        let meta = file.metadata().await.map_err(|e| Error::io(path, e))?;
        let mtime = meta.modified().map_err(|e| Error::io(path, e))?;
        let arrival_ts_micros = chrono::DateTime::<chrono::Utc>::from(mtime).timestamp_micros();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut offset = 0;
        if let Some(after) = after {
            reader.seek(std::io::SeekFrom::Start(after)).await.map_err(|e| Error::io(path, e))?;
            offset = after;
            let mut skipped = Vec::new();
            let (n, _) = read_line(&mut reader, &mut skipped).await.map_err(|e| Error::io(path, e))?;
            offset += n as u64;
        }
        Ok(Self { shard, reader, offset, arrival_ts_micros, done: false })
    }

    /// Read up to `max_records` lines. The last batch of the file has `end_of_shard = true`.
    ///
    /// The lines of one read share one buffer (each record's `data` is a slice of it): one
    /// allocation per read instead of one per line, freed together when bronze has written
    /// them. Per-line allocations of a million records scattered the allocator's heap.
    pub async fn next_batch(&mut self, max_records: usize) -> Result<ReadBatch> {
        self.next_batch_within(max_records, MAX_READ_BYTES).await
    }

    /// [`next_batch`](Self::next_batch), stopping at the first line that ends past `max_bytes`.
    async fn next_batch_within(&mut self, max_records: usize, max_bytes: usize) -> Result<ReadBatch> {
        let mut lines: Vec<(u64, std::ops::Range<usize>)> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let start = self.offset;
        while !self.done && lines.len() < max_records && buf.len() < max_bytes {
            let from = buf.len();
            let (consumed, _) = read_line(&mut self.reader, &mut buf)
                .await
                .map_err(|e| Error::invalid(format!("reading spool shard {}: {e}", self.shard)))?;
            if consumed == 0 {
                self.done = true;
                break;
            }
            lines.push((self.offset, from..buf.len()));
            self.offset += consumed as u64;
        }
        buf.shrink_to_fit();
        let buf = Bytes::from(buf);
        let records = lines
            .into_iter()
            .map(|(offset, range)| Record {
                data: buf.slice(range),
                position: Position::new(SequenceNumber::from_u64(offset), 0),
                partition_key: String::new(),
                arrival_ts_micros: self.arrival_ts_micros,
                defect: None,
            })
            .collect();
        Ok(ReadBatch { shard: self.shard.clone(), records, end_of_shard: self.done, bytes_read: self.offset - start })
    }
}

/// Read one shard from just after `after` and send its reads to the bronze writer, until the
/// file ends or shutdown is requested. Dropping the sender tells the writer to flush and stop.
pub async fn read_spool_file(
    shard: ShardId,
    path: PathBuf,
    after: Option<u64>,
    read_records: usize,
    tx: tokio::sync::mpsc::Sender<ReadBatch>,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<()> {
    let mut reader = SpoolReader::open(shard, &path, after).await?;
    while !cancel.is_cancelled() {
        let batch = reader.next_batch(read_records).await?;
        let ended = batch.end_of_shard;
        if tx.send(batch).await.is_err() || ended {
            break;
        }
    }
    Ok(())
}

/// Append one line to `out` without its `\n`, keeping at most [`MAX_LINE_BYTES`] of it. Returns
/// the bytes consumed from the file (0 at end of file) and whether the line was cut.
async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, out: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let line_start = out.len();
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok((consumed, cut));
        }
        let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        let room = MAX_LINE_BYTES.saturating_sub(out.len() - line_start);
        if chunk.len() > room {
            cut = true;
        }
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = found.map_or(chunk.len(), |i| i + 1);
        r.consume(used);
        consumed += used;
        if found.is_some() {
            return Ok((consumed, cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(path: &Path, after: Option<u64>) -> Vec<(u64, Vec<u8>)> {
        let mut r = SpoolReader::open(ShardId::new("s").unwrap(), path, after).await.unwrap();
        let mut out = Vec::new();
        loop {
            let b = r.next_batch(2).await.unwrap();
            for rec in b.records {
                out.push((rec.position.seq.to_u64().unwrap(), rec.data.to_vec()));
            }
            if b.end_of_shard {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn offsets_are_sequence_numbers_and_resume_is_after() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ndjson");
        std::fs::write(&p, b"{\"a\":1}\n\n{\"b\":2}\nlast-no-newline").unwrap();
        let all = read_all(&p, None).await;
        assert_eq!(
            all,
            vec![
                (0, b"{\"a\":1}".to_vec()),
                (8, b"".to_vec()),
                (9, b"{\"b\":2}".to_vec()),
                (17, b"last-no-newline".to_vec())
            ]
        );
        let rest = read_all(&p, Some(8)).await;
        assert_eq!(rest.iter().map(|r| r.0).collect::<Vec<_>>(), vec![9, 17]);
        assert!(read_all(&p, Some(17)).await.is_empty());
    }

    #[tokio::test]
    async fn a_line_past_the_limit_is_cut_alone_in_a_shared_read_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ndjson");
        let mut body = b"first\n".to_vec();
        body.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        body.extend(b"\nlast\n");
        std::fs::write(&p, &body).unwrap();
        let mut r = SpoolReader::open(ShardId::new("s").unwrap(), &p, None).await.unwrap();
        let b = r.next_batch(10).await.unwrap();
        let lens: Vec<usize> = b.records.iter().map(|r| r.data.len()).collect();
        assert_eq!(lens, vec![5, MAX_LINE_BYTES, 4], "the limit counts from the line's own start");
        assert_eq!((&b.records[0].data[..], &b.records[2].data[..]), (&b"first"[..], &b"last"[..]));
        let offsets: Vec<u64> = b.records.iter().map(|r| r.position.seq.to_u64().unwrap()).collect();
        assert_eq!(offsets, vec![0, 6, 6 + MAX_LINE_BYTES as u64 + 11]);
        assert!(b.end_of_shard);
    }

    #[tokio::test]
    async fn a_read_stops_at_its_byte_budget_and_the_next_read_goes_on_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ndjson");
        std::fs::write(&p, b"aaaa\nbbbb\ncccc\ndddd\n").unwrap();
        let mut r = SpoolReader::open(ShardId::new("s").unwrap(), &p, None).await.unwrap();
        let mut reads = Vec::new();
        loop {
            let b = r.next_batch_within(100, 6).await.unwrap();
            let offsets: Vec<u64> = b.records.iter().map(|r| r.position.seq.to_u64().unwrap()).collect();
            reads.push((offsets, b.bytes_read));
            if b.end_of_shard {
                break;
            }
        }
        // two lines of 4 bytes reach 8 >= 6: each read ends there; a line is never split
        assert_eq!(reads, vec![(vec![0, 5], 10), (vec![10, 15], 10), (vec![], 0)]);
        // a line longer than the budget still comes whole, alone
        let mut r = SpoolReader::open(ShardId::new("s").unwrap(), &p, None).await.unwrap();
        assert_eq!(r.next_batch_within(100, 1).await.unwrap().records.len(), 1);
    }

    #[test]
    fn hidden_and_tmp_files_are_not_shards() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".x.ndjson"), b"").unwrap();
        std::fs::write(dir.path().join("y.ndjson.tmp"), b"").unwrap();
        std::fs::write(dir.path().join("z z.ndjson"), b"").unwrap();
        let shards = list_shards(dir.path()).unwrap();
        assert_eq!(shards.keys().map(|s| s.as_str()).collect::<Vec<_>>(), vec!["z_z.ndjson"]);
    }
}
