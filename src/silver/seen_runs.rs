//! The part of the dedup state past its memory budget: sorted runs of ids on local disk, each
//! with a filter and a sparse index in memory (ADR 0017).
//!
//! Why: the window is `lookback × rate` ids (1.5 B for 24 h at the mission's rate, ~56 GiB as a
//! hash table) and holding less than the window means reading the rest from the table for every
//! batch. A run costs ~1.3 bytes an id of memory (a blocked Bloom filter at 10 bits an id, one
//! 16-byte index key per 256 ids) and 20 bytes an id of disk. A probe is a filter test per run —
//! one cache line — and, for the ~1% the filter passes plus the true duplicates, one 5 KiB read
//! of the run (from the page cache, mostly). Exact: the filter only decides which reads to make;
//! the answer is the record on disk.
//!
//! Runs are merged so that there are O(log(window / budget)) of them: a new run is merged with
//! the newest one while that one is less than twice its size (up to [`MAX_MERGED`] ids), dropping
//! the ids the window has passed. Each id is rewritten O(log) times over its life: cost per id,
//! not per history.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Records a block of the sparse index covers (one read per probe that passes the filter).
const BLOCK: usize = 256;
/// Bytes a record: the id's 128 bits big-endian (sort order = byte order), its minute LE.
const RECORD: usize = 20;
/// Filter bits an id (10: ~1% false positives with 8 bits set per id in 512-bit blocks).
const BITS_PER_ID: usize = 10;
/// Runs stop merging at this many ids (1.3 GB, a few seconds of sequential I/O): a merge runs on
/// the silver loop, and a 24 h window should age out run by run, not wait for one giant run.
const MAX_MERGED: u64 = 1 << 26;

/// An id and the minute of its dedup time, as a run holds them.
pub type Entry = (u128, i32);

/// The runs of one dedup state, in a directory of their own (removed with it).
pub struct Runs {
    parent: PathBuf,
    dir: Option<tempfile::TempDir>,
    runs: Vec<Run>,
    next: u64,
}

impl Runs {
    /// Runs will go to a fresh directory under `parent`, made at the first spill.
    pub fn new(parent: PathBuf) -> Self {
        Self { parent, dir: None, runs: Vec::new(), next: 0 }
    }

    /// Ids held on disk.
    pub fn len(&self) -> u64 {
        self.runs.iter().map(|r| r.count).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Runs on disk.
    pub fn count(&self) -> usize {
        self.runs.len()
    }

    /// Memory the runs hold (filters and indexes).
    pub fn bytes(&self) -> u64 {
        self.runs.iter().map(|r| (r.filter.len() * 8 + r.index.len() * 16) as u64).sum()
    }

    /// Whether any run holds `id`.
    pub fn contains(&self, id: u128) -> Result<bool> {
        for r in self.runs.iter().rev() {
            if r.contains(id)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Write `entries` (any order, unique ids) as a new run, then merge while the newest run is
    /// less than twice the size of the new one, dropping ids older than `floor_minute`.
    pub fn spill(&mut self, mut entries: Vec<Entry>, floor_minute: i32) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        entries.sort_unstable_by_key(|e| e.0);
        let path = self.next_path()?;
        let mut run = Run::write(&path, entries.len() as u64, entries.into_iter().map(Ok))?;
        while let Some(prev) = self.runs.last()
            && prev.count < 2 * run.count
            && prev.count + run.count <= MAX_MERGED
        {
            let prev = self.runs.pop().ok_or_else(|| Error::invalid("dedup runs: no run to merge"))?;
            let path = self.next_path()?;
            let capacity = prev.count + run.count;
            run = Run::write(&path, capacity, merged(prev.entries()?, run.entries()?, floor_minute))?;
        }
        self.runs.push(run);
        Ok(())
    }

    /// Let go of the runs whose newest id is older than `floor_minute` (the window passed them).
    pub fn evict(&mut self, floor_minute: i32) -> u64 {
        let before = self.len();
        self.runs.retain(|r| r.max_minute >= floor_minute);
        before - self.len()
    }

    pub fn clear(&mut self) {
        self.runs.clear();
    }

    fn next_path(&mut self) -> Result<PathBuf> {
        if self.dir.is_none() {
            std::fs::create_dir_all(&self.parent).map_err(|e| Error::io(&self.parent, e))?;
            let dir = tempfile::Builder::new()
                .prefix("floe-dedup-")
                .tempdir_in(&self.parent)
                .map_err(|e| Error::io(&self.parent, e))?;
            self.dir = Some(dir);
        }
        let dir = self.dir.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default();
        self.next += 1;
        Ok(dir.join(format!("run-{:06}.ids", self.next)))
    }
}

/// One sorted run: its file, filter, sparse index and time range.
struct Run {
    path: PathBuf,
    file: File,
    count: u64,
    max_minute: i32,
    /// Blocked Bloom filter: 512-bit blocks of 8 words.
    filter: Vec<u64>,
    /// The first id of every [`BLOCK`] records.
    index: Vec<u128>,
}

impl Run {
    /// Write sorted, unique `entries` (about `capacity` of them: it sizes the filter) to `path`.
    fn write(path: &Path, capacity: u64, entries: impl Iterator<Item = Result<Entry>>) -> Result<Run> {
        let io = |e| Error::io(path, e);
        let blocks = (capacity as usize * BITS_PER_ID).div_ceil(512).max(1);
        let mut filter = vec![0u64; blocks * 8];
        let mut index = Vec::with_capacity((capacity as usize).div_ceil(BLOCK));
        // read back by probes through the same handle
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).map_err(io)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let (mut count, mut max_minute) = (0u64, i32::MIN);
        for e in entries {
            let (id, minute) = e?;
            if (count as usize).is_multiple_of(BLOCK) {
                index.push(id);
            }
            set(&mut filter, id);
            let mut rec = [0u8; RECORD];
            rec[..16].copy_from_slice(&id.to_be_bytes());
            rec[16..].copy_from_slice(&minute.to_le_bytes());
            out.write_all(&rec).map_err(io)?;
            count += 1;
            max_minute = max_minute.max(minute);
        }
        // no fsync: a run is a cache of the table, rebuilt from it after a crash
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        Ok(Run { path: path.to_path_buf(), file, count, max_minute, filter, index })
    }

    fn contains(&self, id: u128) -> Result<bool> {
        if !maybe(&self.filter, id) {
            return Ok(false);
        }
        let block = match self.index.partition_point(|first| *first <= id) {
            0 => return Ok(false),
            n => n - 1,
        };
        let start = block * BLOCK;
        let n = BLOCK.min(self.count as usize - start);
        let mut buf = vec![0u8; n * RECORD];
        self.file.read_exact_at(&mut buf, (start * RECORD) as u64).map_err(|e| Error::io(&self.path, e))?;
        let key = |i: usize| u128::from_be_bytes(buf[i * RECORD..i * RECORD + 16].try_into().unwrap_or([0; 16]));
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match key(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(true),
            }
        }
        Ok(false)
    }

    /// The run's records in order, read sequentially.
    fn entries(&self) -> Result<impl Iterator<Item = Result<Entry>> + use<>> {
        let path = self.path.clone();
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut left = self.count;
        Ok(std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let mut rec = [0u8; RECORD];
            Some(reader.read_exact(&mut rec).map_err(|e| Error::io(&path, e)).map(|()| decode(&rec)))
        }))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // the directory goes with the state; a run merged away goes now (disk follows the window)
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "dedup run not removed");
        }
    }
}

fn decode(rec: &[u8; RECORD]) -> Entry {
    let mut id = [0u8; 16];
    id.copy_from_slice(&rec[..16]);
    let mut m = [0u8; 4];
    m.copy_from_slice(&rec[16..]);
    (u128::from_be_bytes(id), i32::from_le_bytes(m))
}

/// Two sorted runs as one, ids below `floor_minute` dropped; an id in both keeps its later minute.
fn merged(
    a: impl Iterator<Item = Result<Entry>>,
    b: impl Iterator<Item = Result<Entry>>,
    floor_minute: i32,
) -> impl Iterator<Item = Result<Entry>> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || {
        loop {
            let next = match (a.peek(), b.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) | (Some(_), None) => a.next(),
                (_, Some(Err(_))) | (None, Some(_)) => b.next(),
                (Some(Ok(x)), Some(Ok(y))) => match x.0.cmp(&y.0) {
                    std::cmp::Ordering::Less => a.next(),
                    std::cmp::Ordering::Greater => b.next(),
                    std::cmp::Ordering::Equal => {
                        let m = x.1.max(y.1);
                        let id = x.0;
                        a.next();
                        b.next();
                        Some(Ok((id, m)))
                    }
                },
            };
            match next {
                Some(Ok((_, m))) if m < floor_minute => continue,
                other => return other,
            }
        }
    })
}

/// The block of the filter for `id` and its eight bit positions. The id's bits are mixed first:
/// UUIDv7 and hashed ids are not uniform in every word.
fn probe(filter_words: usize, id: u128) -> (usize, [u32; 8]) {
    let h1 = mix((id >> 64) as u64 ^ mix(id as u64 ^ 0x243f_6a88_85a3_08d3));
    let h2 = mix(h1 ^ 0x9e37_79b9_7f4a_7c15);
    let blocks = (filter_words / 8) as u64;
    let block = ((u128::from(h1) * u128::from(blocks)) >> 64) as usize;
    let mut bits = [0u32; 8];
    for (i, b) in bits.iter_mut().enumerate() {
        *b = (h2.wrapping_mul(2 * i as u64 + 0x5851_f42d_4c95_7f2d) >> 55) as u32;
    }
    (block, bits)
}

fn set(filter: &mut [u64], id: u128) {
    let (block, bits) = probe(filter.len(), id);
    for b in bits {
        filter[block * 8 + (b as usize >> 6)] |= 1 << (b & 63);
    }
}

fn maybe(filter: &[u64], id: u128) -> bool {
    let (block, bits) = probe(filter.len(), id);
    bits.iter().all(|b| filter[block * 8 + (*b as usize >> 6)] & (1 << (b & 63)) != 0)
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<u64>, minute: i32) -> Vec<Entry> {
        range.map(|i| (u128::from(mix(i ^ 0x5bd1_e995)) << 64 | u128::from(i), minute)).collect()
    }

    #[test]
    fn runs_answer_exactly_merge_and_let_the_window_go() {
        let tmp = tempfile::tempdir().unwrap();
        let mut runs = Runs::new(tmp.path().to_path_buf());
        runs.spill(ids(0..10_000, 10), 0).unwrap();
        runs.spill(ids(10_000..12_000, 20), 0).unwrap();
        assert_eq!(runs.count(), 2, "a small run stays beside a big one");
        runs.spill(ids(12_000..22_000, 30), 0).unwrap();
        assert_eq!(runs.count(), 1, "runs of like size merge: {}", runs.count());
        assert_eq!(runs.len(), 22_000);
        for (id, _) in ids(0..22_000, 0) {
            assert!(runs.contains(id).unwrap(), "every spilled id is found");
        }
        let absent = ids(1_000_000..1_100_000, 0);
        let false_hits = absent.iter().filter(|(id, _)| runs.filter_passes(*id)).count();
        assert!(absent.iter().all(|(id, _)| !runs.contains(*id).unwrap()), "no absent id is found");
        assert!(false_hits < 3_000, "the filter passes ~1% of absent ids, not {false_hits} of 100000");
        // a merge drops what the window passed; eviction lets whole runs go
        runs.spill(ids(22_000..60_000, 40), 25).unwrap();
        assert_eq!(runs.len(), 48_000, "the ids of minutes 10 and 20 were dropped in the merge");
        assert!(!runs.contains(ids(5..6, 0)[0].0).unwrap());
        assert_eq!(runs.evict(41), 48_000);
        assert_eq!(runs.count(), 0);
        assert_eq!(
            std::fs::read_dir(runs.dir.as_ref().unwrap().path()).unwrap().count(),
            0,
            "files go with their runs"
        );
    }

    #[test]
    fn an_id_in_two_runs_merges_once_with_its_later_minute() {
        let a = vec![Ok((1u128, 5)), Ok((3, 5))];
        let b = vec![Ok((1u128, 9)), Ok((2, 1)), Ok((4, 7))];
        let out: Vec<Entry> = merged(a.into_iter(), b.into_iter(), 2).map(|e| e.unwrap()).collect();
        assert_eq!(out, vec![(1, 9), (3, 5), (4, 7)]);
    }

    /// The figures of ADR 0017: `cargo test --release --lib runs_figures -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn runs_figures() {
        let tmp = tempfile::tempdir().unwrap();
        let mut runs = Runs::new(tmp.path().to_path_buf());
        let (n, chunk) = (20_000_000u64, 2_000_000u64);
        let started = std::time::Instant::now();
        for c in 0..n / chunk {
            runs.spill(ids(c * chunk..(c + 1) * chunk, c as i32), 0).unwrap();
        }
        let spill_s = started.elapsed().as_secs_f64();
        println!(
            "{n} ids spilled in {spill_s:.1} s ({:.0} ns an id, merges included) into {} runs; memory {:.2} bytes an id",
            spill_s * 1e9 / n as f64,
            runs.count(),
            runs.bytes() as f64 / n as f64
        );
        let absent = ids(n..n + 1_000_000, 0);
        let t = std::time::Instant::now();
        let found = absent.iter().filter(|(id, _)| runs.contains(*id).unwrap()).count();
        let passed = absent.iter().filter(|(id, _)| runs.filter_passes(*id)).count();
        println!(
            "absent ids: {:.0} ns a probe, filter passed {:.2}%, found {found}",
            t.elapsed().as_nanos() as f64 / 1e6,
            passed as f64 / 1e4
        );
        let present = ids(0..1_000_000, 0);
        let t = std::time::Instant::now();
        assert!(present.iter().all(|(id, _)| runs.contains(*id).unwrap()));
        println!("present ids: {:.0} ns a probe", t.elapsed().as_nanos() as f64 / 1e6);
    }

    impl Runs {
        fn filter_passes(&self, id: u128) -> bool {
            self.runs.iter().any(|r| maybe(&r.filter, id))
        }
    }
}
