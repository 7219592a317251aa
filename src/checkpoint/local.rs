//! Checkpoints in one local JSON file, replaced atomically (write a temporary file, fsync, rename)
//! so a crash leaves either the old or the new file, never half of one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

use super::shard_checkpoint::ShardCheckpoint;
use crate::error::{Error, Result};
use crate::model::ShardId;

pub struct LocalCheckpoints {
    path: PathBuf,
    state: Mutex<BTreeMap<String, ShardCheckpoint>>,
}

impl LocalCheckpoints {
    /// Open (or start) the checkpoint file at `path`. A file that exists but cannot be parsed is
    /// an error, not a fresh start: silently starting over would re-read every shard.
    pub fn open(path: &Path) -> Result<Self> {
        let state = read_file(path)?;
        Ok(Self { path: path.to_path_buf(), state: Mutex::new(state) })
    }

    pub async fn get(&self, shard: &ShardId) -> Option<ShardCheckpoint> {
        self.state.lock().await.get(shard.as_str()).cloned()
    }

    pub async fn all(&self) -> BTreeMap<String, ShardCheckpoint> {
        self.state.lock().await.clone()
    }

    /// Record `cp` for `shard` and make it durable before returning.
    pub async fn save(&self, shard: &ShardId, cp: ShardCheckpoint) -> Result<()> {
        let mut state = self.state.lock().await;
        state.insert(shard.as_str().to_string(), cp);
        let text = serde_json::to_vec_pretty(&*state)?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, &text))
            .await
            .map_err(|e| Error::invalid(format!("checkpoint writer task failed: {e}")))?
    }
}

/// Read the checkpoint file without opening a store (for `floe status`).
pub fn read_file(path: &Path) -> Result<BTreeMap<String, ShardCheckpoint>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("checkpoint file {} is not valid: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoints")));
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        // directory fsync makes the rename durable; not all filesystems allow it
        if let Err(e) = d.sync_all() {
            tracing::debug!(dir = %dir.display(), error = %e, "directory fsync not supported here");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn save_then_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp.json");
        let s = ShardId::new("a").unwrap();
        let store = LocalCheckpoints::open(&p).unwrap();
        assert!(store.get(&s).await.is_none());
        let cp = ShardCheckpoint {
            sequence_number: Some("42".into()),
            sub_sequence: 0,
            ended: false,
            last_object: Some("k".into()),
            updated_at: None,
        };
        store.save(&s, cp.clone()).await.unwrap();
        let again = LocalCheckpoints::open(&p).unwrap();
        assert_eq!(again.get(&s).await, Some(cp));
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cp.json");
        std::fs::write(&p, b"{not json").unwrap();
        assert!(LocalCheckpoints::open(&p).is_err());
    }
}
