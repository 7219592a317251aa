//! The dedup state: the ids committed to a table, kept in memory across batches so that a batch
//! checks its rows against them without scanning the table (the scan cost grew with every row
//! already in the window; this costs a hash probe per row).
//!
//! **What it holds.** Every id of the table whose dedup time is at or after `lo` — no upper
//! bound, so new rows only ever join. A batch needing ids older than `lo` (late events, a
//! backlog) has the missing range read from the table first (`seen_sync.rs`), exactly as the
//! per-batch scan did, and `lo` moves down to cover it. Eviction moves `lo` up as the window
//! moves on, and moves it further when the state is over its memory budget: past the budget the
//! state stays exact and only the range it no longer holds is read from the table again when a
//! batch needs it (ADR 0012).
//!
//! **Exactness.** An id in canonical lower-case UUID form is held as its 128 bits; any other id
//! as its 128-bit SipHash-1-3 — two different non-UUID ids collide with probability 2⁻¹²⁸ per
//! pair (about 10⁻²¹ for a billion ids held), which is what "never drop a non-duplicate" rests on.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use siphasher::sip128::{Hasher128, SipHasher13};

/// Bytes per held id on average: a 24-byte entry plus the hash table's control byte, at the
/// table's fill between resizes (29–57 bytes; `seen_bytes_per_id` below prints it).
pub const BYTES_PER_ID: u64 = 40;

/// An id as the state holds it (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(u64, u64);

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
fn canonical_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    let mut v: u128 = 0;
    for (i, c) in b.iter().enumerate() {
        match (i, c) {
            (8 | 13 | 18 | 23, b'-') => {}
            (8 | 13 | 18 | 23, _) => return None,
            (_, b'0'..=b'9') => v = (v << 4) | u128::from(c - b'0'),
            (_, b'a'..=b'f') => v = (v << 4) | u128::from(c - b'a' + 10),
            _ => return None,
        }
    }
    Some(v)
}

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
#[derive(Debug)]
pub struct SeenIds {
    /// Id → minute of its dedup time (for eviction).
    ids: HashMap<Id, i32, BuildHasherDefault<IdHasher>>,
    /// Every committed id with a dedup time at or after this (microseconds) is held; `None`
    /// until the first load.
    lo: Option<i64>,
    budget_bytes: u64,
}

impl SeenIds {
    pub fn new(budget_bytes: u64) -> Self {
        Self { ids: HashMap::default(), lo: None, budget_bytes }
    }

    /// From which dedup time on every committed id is held (`None`: nothing loaded yet).
    pub fn lo(&self) -> Option<i64> {
        self.lo
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Estimated memory held.
    pub fn bytes(&self) -> u64 {
        (self.ids.capacity() * (std::mem::size_of::<(Id, i32)>() + 1)) as u64
    }

    pub fn contains(&self, key: &str) -> bool {
        self.ids.contains_key(&Id::of(key))
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
        let minute = time_micros.div_euclid(MICROS_PER_MINUTE).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        let e = self.ids.entry(id).or_insert(minute);
        *e = (*e).max(minute);
    }

    /// The range `[from, lo)` has been read from the table (ids given): the state now holds
    /// every id from `from` on. The first load passes `lo = None`'s whole window.
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
        self.lo = None;
    }

    /// Drop ids older than `keep_from` when that frees a worthwhile part of the window (a
    /// quarter of `window`), and further while over the memory budget. Returns the ids dropped.
    pub fn evict(&mut self, keep_from: i64, window: i64, newest: i64) -> usize {
        let Some(lo) = self.lo else { return 0 };
        let mut target = if keep_from - lo >= window / 4 { keep_from } else { lo };
        let before = self.ids.len();
        loop {
            if target > lo {
                let minute = target.div_euclid(MICROS_PER_MINUTE);
                self.ids.retain(|_, m| i64::from(*m) >= minute);
                self.lo = Some(minute * MICROS_PER_MINUTE);
            }
            if self.ids.len() as u64 * BYTES_PER_ID <= self.budget_bytes || target >= newest {
                break;
            }
            // over budget: give up the older half of what is left of the range
            target = target.max(lo) + (newest - target.max(lo)).max(2 * MICROS_PER_MINUTE) / 2;
        }
        if self.ids.capacity() > 4 * self.ids.len().max(1024) {
            self.ids.shrink_to_fit();
        }
        before - self.ids.len()
    }
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
    }

    #[test]
    fn holds_ids_from_lo_on_and_evicts_by_window_and_budget() {
        let mut s = SeenIds::new(1 << 30);
        s.insert("a", 0);
        assert!(!s.contains("a"), "nothing is claimed before the first load");
        s.extend_down(100 * MIN, vec![(Id::of("a"), 100 * MIN), (Id::of("old"), 10 * MIN)]);
        assert!(s.contains("a") && !s.contains("old"));
        s.insert("b", 200 * MIN);
        s.insert("below", 50 * MIN);
        assert!(s.contains("b") && !s.contains("below"));
        // a move of less than a quarter of the window keeps everything
        assert_eq!(s.evict(110 * MIN, 100 * MIN, 200 * MIN), 0);
        assert_eq!(s.evict(150 * MIN, 100 * MIN, 200 * MIN), 1);
        assert!(!s.contains("a") && s.contains("b"));
        assert_eq!(s.lo(), Some(150 * MIN));
        // over budget: the older part of the range goes
        let mut tight = SeenIds::new(3 * BYTES_PER_ID);
        tight.extend_down(0, (0..10).map(|i| (Id::of(&format!("k{i}")), i * 10 * MIN)));
        tight.evict(0, 1000 * MIN, 90 * MIN);
        assert!(tight.len() <= 3, "{}", tight.len());
        assert!(tight.contains("k9"));
        assert!(tight.lo().unwrap() > 0);
    }

    /// The figure behind [`BYTES_PER_ID`]: `cargo test --release seen_bytes_per_id -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn seen_bytes_per_id() {
        for n in [1_000_000usize, 5_000_000, 10_000_000] {
            let mut s = SeenIds::new(u64::MAX);
            s.extend_down(0, std::iter::empty());
            for i in 0..n {
                s.insert(&uuid::Uuid::new_v4().to_string(), i as i64);
            }
            let held = s.ids.capacity() * (std::mem::size_of::<(Id, i32)>() + 1);
            println!("{n} ids: {} bytes/id (capacity {})", held / n, s.ids.capacity());
        }
    }
}
