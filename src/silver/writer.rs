//! Rows → Iceberg data files, with iceberg's own writer stack (Parquet → rolling files →
//! data files → one writer per partition), so the files, their statistics and partition values
//! are exactly what Iceberg readers expect. Nothing is committed here: the files are handed to
//! `catalog::commit`.
//!
//! The writer stays open across the rounds of one commit ([`OpenFiles`]), so a commit's files
//! grow towards the table's target file size instead of ending with every round.

use arrow::array::RecordBatch;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{DataFile, DataFileFormat};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

const DEFAULT_TARGET_FILE_SIZE: usize = 128 << 20;

type Fanout =
    FanoutWriter<DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>>;

/// Data files of one table being written: rows go in round after round; [`close`](Self::close)
/// ends the files and hands their metadata over for the commit.
///
/// The encoding (Parquet, zstd) runs in a task of its own, fed through a channel one round deep:
/// while it encodes a round, the next round is read, decoded and transformed on the other core.
/// Dropped without `close`, the task still ends its files; uncommitted, they are orphans for
/// `floe remove-orphans`.
pub struct OpenFiles {
    tx: Option<mpsc::Sender<Vec<RecordBatch>>>,
    task: Option<JoinHandle<Result<Vec<DataFile>>>>,
    rows: u64,
}

/// What the encoding task owns.
struct Encoder {
    fanout: Fanout,
    splitter: RecordBatchPartitionSplitter,
    /// Columns whose metrics mode is `none`, and the spec the files are written with.
    unbounded: std::collections::HashSet<i32>,
    spec_id: i32,
}

impl Encoder {
    async fn run(mut self, mut rx: mpsc::Receiver<Vec<RecordBatch>>) -> Result<Vec<DataFile>> {
        let mut rows = 0u64;
        while let Some(batches) = rx.recv().await {
            for batch in batches.iter().filter(|b| b.num_rows() > 0) {
                for (key, part) in self.splitter.split(batch)? {
                    self.fanout.write(key, part).await?;
                }
                rows += batch.num_rows() as u64;
            }
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        let files = self.fanout.close().await?;
        files.into_iter().map(|f| super::metrics_mode::without_bounds(f, self.spec_id, &self.unbounded)).collect()
    }
}

impl OpenFiles {
    /// Files rolled at the table's `write.target-file-size-bytes` (128 MiB without it).
    pub fn new(table: &Table) -> Result<Self> {
        let target = table
            .metadata()
            .properties()
            .get("write.target-file-size-bytes")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_TARGET_FILE_SIZE);
        Self::with_target(table, target)
    }

    /// Files rolled at `target` bytes.
    pub fn with_target(table: &Table, target: usize) -> Result<Self> {
        let meta = table.metadata();
        let props = parquet_properties(meta.properties())?;
        let parquet = ParquetWriterBuilder::new(props, meta.current_schema().clone());
        // The file-name generator restarts its counter per writer: a unique prefix per writer
        // keeps two commits (or two processes) from ever choosing the same file name.
        let names =
            DefaultFileNameGenerator::new(format!("floe-{}", uuid::Uuid::now_v7()), None, DataFileFormat::Parquet);
        let rolling = RollingFileWriterBuilder::new(
            parquet,
            target,
            table.file_io().clone(),
            DefaultLocationGenerator::new(meta)?,
            names,
        );
        let splitter = RecordBatchPartitionSplitter::try_new_with_computed_values(
            meta.current_schema().clone(),
            meta.default_partition_spec().clone(),
        )?;
        let encoder = Encoder {
            fanout: FanoutWriter::new(DataFileWriterBuilder::new(rolling)),
            splitter,
            unbounded: super::metrics_mode::unbounded_columns(table),
            spec_id: meta.default_partition_spec_id(),
        };
        let (tx, rx) = mpsc::channel(1);
        Ok(Self { tx: Some(tx), task: Some(tokio::spawn(encoder.run(rx))), rows: 0 })
    }

    /// Add `batches` (already in the table's Arrow schema). Returns once they are queued; an
    /// error of the encoding shows here (for a later round) or at [`close`](Self::close).
    pub async fn write(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let n: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        if n == 0 {
            return Ok(());
        }
        let sent = match &self.tx {
            Some(tx) => tx.send(batches.to_vec()).await.is_ok(),
            None => false,
        };
        if !sent {
            // the task stopped early: its error is the reason
            self.tx = None;
            return Err(self.finish().await.err().unwrap_or_else(|| Error::invalid("the data file writer stopped")));
        }
        self.rows += n;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// End the files; nothing written gives no files.
    pub async fn close(mut self) -> Result<Vec<DataFile>> {
        self.tx = None;
        self.finish().await
    }

    async fn finish(&mut self) -> Result<Vec<DataFile>> {
        match self.task.take() {
            Some(task) => task.await.map_err(|e| Error::invalid(format!("the data file writer failed: {e}")))?,
            None => Err(Error::invalid("the data file writer failed earlier")),
        }
    }
}

/// The Parquet settings of a table's data files: Iceberg's `write.parquet.*` table properties
/// where set, floe's defaults otherwise.
///
/// The Parquet writer holds a whole row group in memory, once per open partition, and in it a
/// dictionary of up to the dictionary limit per column until the column falls back to plain
/// encoding; a backlog spanning four days keeps four partitions of two tables open. So the
/// defaults are smaller than Java's (128 MiB row groups, 2 MiB dictionaries): row groups of
/// 32k rows or 8 MiB encoded, dictionaries of 256 KiB. Measured on 1M generated events
/// (BENCHMARKS.md, "Peak memory"): the smaller dictionary limit cut silver's peak heap by 16 MiB
/// and its files by 4 % (high-cardinality columns stop trying a dictionary sooner).
fn parquet_properties(table: &std::collections::HashMap<String, String>) -> Result<WriterProperties> {
    let size =
        |key: &str, default: usize| -> Result<usize> {
            match table.get(key) {
                None => Ok(default),
                Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::invalid(format!("table property {key} = {v:?}: expected a positive byte count"))
                }),
            }
        };
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(32 * 1024))
        .set_max_row_group_bytes(Some(size("write.parquet.row-group-size-bytes", 8 << 20)?))
        .set_data_page_size_limit(size("write.parquet.page-size-bytes", 1 << 20)?)
        .set_dictionary_page_size_limit(size("write.parquet.dict-size-bytes", 256 << 10)?)
        .build())
}

/// Write `batches` (already in the table's Arrow schema) as data files of `table`.
pub async fn write_data_files(table: &Table, batches: &[RecordBatch]) -> Result<Vec<DataFile>> {
    let mut files = OpenFiles::new(table)?;
    files.write(batches).await?;
    files.close().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn parquet_settings_follow_the_table_properties_and_refuse_nonsense() {
        let defaults = parquet_properties(&HashMap::new()).unwrap();
        assert_eq!(defaults.max_row_group_bytes(), Some(8 << 20));
        assert_eq!(defaults.dictionary_page_size_limit(), 256 << 10);
        assert_eq!(defaults.data_page_size_limit(), 1 << 20);
        let set = HashMap::from([
            ("write.parquet.row-group-size-bytes".to_string(), "134217728".to_string()),
            ("write.parquet.dict-size-bytes".to_string(), "2097152".to_string()),
            ("write.parquet.page-size-bytes".to_string(), "65536".to_string()),
        ]);
        let p = parquet_properties(&set).unwrap();
        assert_eq!(p.max_row_group_bytes(), Some(128 << 20));
        assert_eq!(p.dictionary_page_size_limit(), 2 << 20);
        assert_eq!(p.data_page_size_limit(), 64 << 10);
        for bad in ["0", "-1", "8MiB", ""] {
            let props = HashMap::from([("write.parquet.dict-size-bytes".to_string(), bad.to_string())]);
            let e = parquet_properties(&props).unwrap_err().to_string();
            assert!(e.contains("write.parquet.dict-size-bytes") && e.contains("positive byte count"), "{e}");
        }
    }
}
