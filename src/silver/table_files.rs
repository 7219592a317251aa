//! A table and the data files being written for it, kept together because the table's schema
//! can change while they are written: per-schema columns (`entities`) evolve the table in the
//! middle of a commit or a backfill. When it does, the files open in the old schema are closed —
//! they stay part of the same commit, readable by field id like any file written before a schema
//! change — and the next rows go to files in the new schema. The loader's pending commit and
//! `floe backfill` both write through this, so they treat a schema change the same way.

use arrow::array::RecordBatch;
use iceberg::spec::DataFile;
use iceberg::table::Table;

use super::writer::OpenFiles;
use crate::catalog::commit::delete_files;
use crate::error::Result;

/// A table (as last loaded or evolved) and the uncommitted files written for it.
pub struct TableFiles {
    table: Table,
    open: OpenFiles,
    /// Files already closed because the schema changed under them.
    closed: Vec<DataFile>,
}

impl TableFiles {
    pub fn new(table: Table) -> Result<Self> {
        Ok(Self { open: OpenFiles::new(&table)?, table, closed: Vec::new() })
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Go on with `table` (the same table, newer). When its schema differs from the one the open
    /// files are written in, they are closed and the next rows go to files of the new schema.
    pub async fn use_table(&mut self, table: Table) -> Result<()> {
        if self.table.metadata().current_schema_id() != table.metadata().current_schema_id() {
            let fresh = OpenFiles::new(&table)?;
            let closed = std::mem::replace(&mut self.open, fresh).close().await?;
            self.closed.extend(closed);
        }
        self.table = table;
        Ok(())
    }

    /// Add `batches`, already in the Arrow schema of [`table`](Self::table)'s current schema.
    pub async fn write(&mut self, batches: &[RecordBatch]) -> Result<()> {
        self.open.write(batches).await
    }

    /// End the files: every file written, in whichever schema, for one commit. When the last
    /// ones cannot be ended, the closed ones are deleted before the error is returned.
    pub async fn close(self) -> Result<Vec<DataFile>> {
        match self.open.close().await {
            Ok(last) => {
                let mut files = self.closed;
                files.extend(last);
                Ok(files)
            }
            Err(e) => {
                delete_files(&self.table, &self.closed).await;
                Err(e)
            }
        }
    }

    /// Give the files up: end and delete them (nothing was committed).
    pub async fn abandon(self) {
        let table = self.table.clone();
        match self.close().await {
            Ok(written) => delete_files(&table, &written).await,
            Err(e) => tracing::warn!(table = %table.identifier(), error = %e, "could not close abandoned data files"),
        }
    }
}
