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

use crate::error::Result;

const DEFAULT_TARGET_FILE_SIZE: usize = 128 << 20;

type Fanout =
    FanoutWriter<DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>>;

/// Data files of one table being written: rows go in round after round; [`close`](Self::close)
/// ends the files and hands their metadata over for the commit.
pub struct OpenFiles {
    fanout: Fanout,
    splitter: RecordBatchPartitionSplitter,
    rows: u64,
    /// Columns whose metrics mode is `none`, and the spec the files are written with.
    unbounded: std::collections::HashSet<i32>,
    spec_id: i32,
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
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
            // The Parquet writer holds a whole row group in memory, once per open partition: 32k
            // rows of ~1 KB keep that near 32 MB a partition and still make row groups readers like.
            .set_max_row_group_row_count(Some(32 * 1024))
            .build();
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
        Ok(Self {
            fanout: FanoutWriter::new(DataFileWriterBuilder::new(rolling)),
            splitter,
            rows: 0,
            unbounded: super::metrics_mode::unbounded_columns(table),
            spec_id: meta.default_partition_spec_id(),
        })
    }

    /// Add `batches` (already in the table's Arrow schema).
    pub async fn write(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            for (key, part) in self.splitter.split(batch)? {
                self.fanout.write(key, part).await?;
            }
            self.rows += batch.num_rows() as u64;
        }
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// End the files; nothing written gives no files.
    pub async fn close(self) -> Result<Vec<DataFile>> {
        if self.rows == 0 {
            return Ok(Vec::new());
        }
        let files = self.fanout.close().await?;
        files.into_iter().map(|f| super::metrics_mode::without_bounds(f, self.spec_id, &self.unbounded)).collect()
    }
}

/// Write `batches` (already in the table's Arrow schema) as data files of `table`.
pub async fn write_data_files(table: &Table, batches: &[RecordBatch]) -> Result<Vec<DataFile>> {
    let mut files = OpenFiles::new(table)?;
    files.write(batches).await?;
    files.close().await
}
