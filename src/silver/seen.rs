//! The dedup state: the ids committed to a table, kept in memory across batches so that a batch
//! checks its rows against them without scanning the table (the scan cost grew with every row
//! already in the window; this costs a hash probe per row).
//!
//! **What it holds.** Every id of the table whose dedup time is at or after `lo` — no upper
//! bound, so new rows only ever join. A batch needing ids older than `lo` (late events, a
//! backlog) has the missing range read from the table first (`seen_sync.rs`), exactly as the
//! per-batch scan did, and `lo` moves down to cover it. Eviction moves `lo` up as the window
//! moves on. Past the memory budget the older half of the hash table goes to sorted runs on
//! local disk (`seen_runs.rs`), so memory follows the budget and disk the window (ADR 0017).
//!
//! **Exactness.** An id in canonical lower-case UUID form is held as its 128 bits; any other id
//! as its 128-bit SipHash-1-3 — two different non-UUID ids collide with probability 2⁻¹²⁸ per
//! pair (about 10⁻²¹ for a billion ids held), which is what "never drop a non-duplicate" rests on.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use siphasher::sip128::{Hasher128, SipHasher13};

use super::seen_runs::Runs;
use crate::error::Result;

/// Bytes per held id on average: a 24-byte entry plus the hash table's control byte, at the
/// table's fill between resizes (29–57 bytes; `seen_bytes_per_id` below prints it).
pub const BYTES_PER_ID: u64 = 40;

/// An id as the state holds it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(u64, u64);

impl From<Id> for u128 {
    fn from(id: Id) -> u128 {
        (u128::from(id.0) << 64) | u128::from(id.1)
    }
}

impl Id {
    pub fn of(key: &str) -> Id {
        if let Some(v) = canonical_uuid(key) {
            return Id((v >> 64) as u64, v as u64);
        }
        let mut h = SipHasher13::new_with_keys(0x666c_6f65, 0x6964_7321);
        h.write(key.as_bytes());
        let h = h.finish128();
        // a clear top bit marks a hashed id: canonical UUIDs (variant bits 10) never have it clear
        Id(h.h1, h.h2 & !(1 << 63))
    }
}

/// The 128 bits of `s` when it is a UUID written in canonical lower-case hyphenated form.
///
/// Every row's id goes through here up to four times a batch (committed check, in-batch
/// check, pending ids), so the hex digits come from a table rather than a branch per character.
fn canonical_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    let mut bad = 0u8;
    for &c in b[0..8].iter().chain(&b[9..13]).chain(&b[14..18]).chain(&b[19..23]).chain(&b[24..36]) {
        let d = HEX[usize::from(c)];
        bad |= d;
        v = (v << 4) | u128::from(d & 0x0f);
    }
    (bad & 0x80 == 0).then_some(v)
}

/// Lower-case hex digit values; anything else has its top bit set.
const HEX: [u8; 256] = {
    let mut t = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 ^ self.1.rotate_left(29));
    }
}

/// The ids are uniformly distributed already: one multiply spreads them over the table.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

const MICROS_PER_MINUTE: i64 = 60_000_000;

/// The committed ids of one table at or after `lo` (see the module docs).
pub struct SeenIds {
    /// Id → minute of its dedup time (for eviction): the newer part of what is held.
    ids: HashMap<Id, i32, BuildHasherDefault<IdHasher>>,
    /// The older part, past the budget: on local disk.
    runs: Runs,
    /// Every committed id with a dedup time at or after this (microseconds) is held; `None`
    /// until the first load.
    lo: Option<i64>,
    budget_bytes: u64,
}

impl std::fmt::Debug for SeenIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeenIds {{ in_memory: {}, on_disk: {}, lo: {:?} }}", self.ids.len(), self.runs.len(), self.lo)
    }
}

impl SeenIds {
    /// `spill_dir`: where runs go past `budget_bytes` (a fresh directory under it, removed with
    /// the state).
    pub fn new(budget_bytes: u64, spill_dir: std::path::PathBuf) -> Self {
        Self { ids: HashMap::default(), runs: Runs::new(spill_dir), lo: None, budget_bytes }
    }

    /// From which dedup time on every committed id is held (`None`: nothing loaded yet).
    pub fn lo(&self) -> Option<i64> {
        self.lo
    }

    /// Ids held, in memory and on disk.
    pub fn len(&self) -> usize {
        self.ids.len() + self.runs.len() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids held on disk, and in how many runs.
    pub fn on_disk(&self) -> (u64, usize) {
        (self.runs.len(), self.runs.count())
    }

    /// Estimated memory held: the hash table, and the runs' filters and indexes.
    pub fn bytes(&self) -> u64 {
        (self.ids.capacity() * (std::mem::size_of::<(Id, i32)>() + 1)) as u64 + self.runs.bytes()
    }

    pub fn contains(&self, key: &str) -> Result<bool> {
        self.contains_id(Id::of(key))
    }

    pub fn contains_id(&self, id: Id) -> Result<bool> {
        Ok(self.ids.contains_key(&id) || self.runs.contains(id.into())?)
    }

    /// Take in a committed id (ignored below `lo`: the state does not claim that range).
    pub fn insert(&mut self, key: &str, time_micros: i64) {
        self.insert_id(Id::of(key), time_micros);
    }

    /// Take in a committed id already in held form (ignored below `lo`).
    pub fn insert_id(&mut self, id: Id, time_micros: i64) {
        if self.lo.is_some_and(|lo| time_micros >= lo) {
            self.insert_unchecked(id, time_micros);
        }
    }

    fn insert_unchecked(&mut self, id: Id, time_micros: i64) {
        let e = self.ids.entry(id).or_insert(minute_of(time_micros));
        *e = (*e).max(minute_of(time_micros));
    }

    /// The range `[from, lo)` has been read from the table (its ids given, or about to be taken
    /// in with [`insert_id`](Self::insert_id)): the state now holds every id from `from` on.
    pub fn extend_down(&mut self, from: i64, ids: impl IntoIterator<Item = (Id, i64)>) {
        for (k, t) in ids {
            if t >= from {
                self.insert_unchecked(k, t);
            }
        }
        self.lo = Some(self.lo.map_or(from, |lo| lo.min(from)));
    }

    /// Forget everything (the table changed in a way the state cannot follow: reload).
    pub fn reset(&mut self) {
        self.ids = HashMap::default();
        self.runs.clear();
        self.lo = None;
    }

    /// Past the memory budget, move the older half of the hash table (by dedup time) to a run
    /// on disk. Call after taking ids in; cheap when under the budget.
    pub fn settle(&mut self) -> Result<()> {
        if self.ids.len() as u64 * BYTES_PER_ID <= self.budget_bytes || self.ids.len() < 2 {
            return Ok(());
        }
        let mut minutes: Vec<i32> = self.ids.values().copied().collect();
        let mid = minutes.len() / 2;
        let median = *minutes.select_nth_unstable(mid).1;
        drop(minutes);
        // ids of the median minute go too when fewer than a quarter would go without them
        let below = self.ids.values().filter(|m| **m < median).count();
        let cut = if below >= self.ids.len() / 4 { median } else { median.saturating_add(1) };
        // Drained and refilled rather than `retain`ed: removing half of a full table in place
        // leaves tombstones that count as used, so the next inserts ran out of room with more
        // than half the slots live and the table doubled (105 MB at a 64 MiB budget in the 10M
        // backlog's peak heap). A drained table keeps its allocation and starts clean.
        let mut spilled = Vec::with_capacity(self.ids.len() / 2);
        let mut kept = Vec::with_capacity(self.ids.len() - below);
        for (id, m) in self.ids.drain() {
            if m >= cut {
                kept.push((id, m));
            } else {
                spilled.push((id.into(), m));
            }
        }
        self.ids.extend(kept);
        let floor = self.lo.map_or(i32::MIN, minute_of);
        let n = spilled.len();
        self.runs.spill(spilled, floor)?;
        tracing::debug!(
            spilled = n,
            in_memory = self.ids.len(),
            runs = self.runs.count(),
            "dedup state: past its budget, ids moved to disk"
        );
        Ok(())
    }

    /// Drop ids older than `keep_from` when that frees a worthwhile part of the window (a
    /// quarter of `window`). Returns the ids dropped.
    pub fn evict(&mut self, keep_from: i64, window: i64) -> usize {
        let Some(lo) = self.lo else { return 0 };
        if keep_from - lo < window / 4 {
            return 0;
        }
        let before = self.len();
        let minute = keep_from.div_euclid(MICROS_PER_MINUTE);
        self.ids.retain(|_, m| i64::from(*m) >= minute);
        self.runs.evict(minute_of(keep_from));
        self.lo = Some(minute * MICROS_PER_MINUTE);
        if self.ids.capacity() > 4 * self.ids.len().max(1024) {
            self.ids.shrink_to_fit();
        }
        before - self.len()
    }
}

fn minute_of(time_micros: i64) -> i32 {
    time_micros.div_euclid(MICROS_PER_MINUTE).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = MICROS_PER_MINUTE;

    #[test]
    fn uuids_are_held_exactly_and_other_ids_never_look_like_them() {
        let u = "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b";
        assert_eq!(Id::of(u), Id(0x0190_a3b2_7c4d_7e8f, 0x9a0b_1c2d_3e4f_5a6b));
        assert_ne!(Id::of("0190A3B2-7C4D-7E8F-9A0B-1C2D3E4F5A6B"), Id::of(u), "case matters, as in SQL");
        assert_ne!(Id::of("order-1"), Id::of("order-2"));
        assert_eq!(Id::of("order-1").1 >> 63, 0);
        // near misses are hashed (top bit of the low half clear), never read as a UUID
        for near in [
            "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a-b",
            "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6g",
            "0190a3b2_7c4d-7e8f-9a0b-1c2d3e4f5a6b",
            "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5aé",
            "0190a3b2-7c4d-7e8f-9a0b-1c2d3e4f5a6",
        ] {
            assert_eq!(Id::of(near).1 >> 63, 0, "{near}");
        }
    }

    #[test]
    fn holds_ids_from_lo_on_and_evicts_by_window() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SeenIds::new(1 << 30, tmp.path().to_path_buf());
        s.insert("a", 0);
        assert!(!s.contains("a").unwrap(), "nothing is claimed before the first load");
        s.extend_down(100 * MIN, vec![(Id::of("a"), 100 * MIN), (Id::of("old"), 10 * MIN)]);
        assert!(s.contains("a").unwrap() && !s.contains("old").unwrap());
        s.insert("b", 200 * MIN);
        s.insert("below", 50 * MIN);
        assert!(s.contains("b").unwrap() && !s.contains("below").unwrap());
        // a move of less than a quarter of the window keeps everything
        assert_eq!(s.evict(110 * MIN, 100 * MIN), 0);
        assert_eq!(s.evict(150 * MIN, 100 * MIN), 1);
        assert!(!s.contains("a").unwrap() && s.contains("b").unwrap());
        assert_eq!(s.lo(), Some(150 * MIN));
    }

    #[test]
    fn spilling_a_nearly_full_table_does_not_leave_it_to_double() {
        // 1,700 ids of budget fill 95 % of the 1,792 slots of a 2,048-bucket table: spilling
        // half of it in place left tombstones, and the next inserts doubled the table
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SeenIds::new(1700 * BYTES_PER_ID, tmp.path().to_path_buf());
        s.extend_down(0, std::iter::empty());
        let fits = HashMap::<Id, i32, BuildHasherDefault<IdHasher>>::with_capacity_and_hasher(1701, Default::default())
            .capacity();
        for i in 0..50_000 {
            s.insert(&format!("k{i}"), i * MIN / 100);
            s.settle().unwrap();
            assert!(s.ids.capacity() <= fits, "{} slots for a budget of 1,700 ids after {i} ids", s.ids.capacity());
        }
        assert_eq!(s.len(), 50_000);
    }

    #[test]
    fn past_the_budget_ids_go_to_disk_and_stay_exact() {
        let tmp = tempfile::tempdir().unwrap();
        let mut s = SeenIds::new(1000 * BYTES_PER_ID, tmp.path().to_path_buf());
        s.extend_down(0, std::iter::empty());
        let key = |i: i64| format!("k{i}");
        for i in 0..20_000 {
            s.insert(&key(i), i * MIN / 100);
            s.settle().unwrap();
        }
        assert!(s.ids.len() <= 1000, "memory follows the budget: {} in the hash table", s.ids.len());
        let (on_disk, runs) = s.on_disk();
        assert_eq!(s.len(), 20_000);
        assert!(on_disk >= 19_000 && runs <= 6, "{on_disk} ids in {runs} runs");
        assert!((0..20_000).all(|i| s.contains(&key(i)).unwrap()), "every id is still held");
        assert!((20_000..40_000).all(|i| !s.contains(&key(i)).unwrap()), "no other id is");
        // the window moving on lets runs go
        s.evict(150 * MIN, 100 * MIN);
        assert!((15_000..20_000).all(|i| s.contains(&key(i)).unwrap()), "what the window holds stays");
        let left = s.len();
        assert_eq!(s.evict(300 * MIN, 100 * MIN), left, "runs the window passed go whole");
        s.reset();
        assert!(s.is_empty() && !s.contains(&key(19_999)).unwrap());
    }

    /// The figure behind [`BYTES_PER_ID`]: `cargo test --release seen_bytes_per_id -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn seen_bytes_per_id() {
        for n in [1_000_000usize, 5_000_000, 10_000_000] {
            let mut s = SeenIds::new(u64::MAX, std::env::temp_dir());
            s.extend_down(0, std::iter::empty());
            for i in 0..n {
                s.insert(&uuid::Uuid::new_v4().to_string(), i as i64);
                s.settle().unwrap();
            }
            let held = s.ids.capacity() * (std::mem::size_of::<(Id, i32)>() + 1);
            println!("{n} ids: {} bytes/id (capacity {})", held / n, s.ids.capacity());
        }
    }
}
