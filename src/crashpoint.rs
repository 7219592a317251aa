//! Deterministic crash points for the crash tests. When `FLOE_TEST_CRASH_AT` names a point, the
//! process aborts there — no unwinding, no flushing, as a SIGKILL would leave it — so tests can
//! prove recovery from the exact moments that matter (between an object and its checkpoint,
//! between the two commits of a silver batch) instead of hoping a random kill lands there.

/// Object written, checkpoint not yet saved.
pub const BRONZE_AFTER_PUT: &str = "bronze-after-put";
/// A silver batch's data files written (both tables), nothing committed yet.
pub const SILVER_BEFORE_COMMIT: &str = "silver-before-commit";
/// Bad-rows table committed, the table not yet.
pub const SILVER_AFTER_BAD_COMMIT: &str = "silver-after-bad-commit";
/// Both commits of a silver batch done.
pub const SILVER_AFTER_COMMIT: &str = "silver-after-commit";

/// Glue applied an `UpdateTable` (a commit landed), the answer not yet seen by floe.
pub const GLUE_AFTER_UPDATE_TABLE: &str = "glue-after-update-table";
/// A compaction's new files written, its replace commit not yet made.
pub const COMPACT_BEFORE_COMMIT: &str = "compact-before-commit";

/// Every point, for the crash loop (tests/it/torture.rs) to take in turn.
pub const ALL: [&str; 6] = [
    BRONZE_AFTER_PUT,
    SILVER_BEFORE_COMMIT,
    SILVER_AFTER_BAD_COMMIT,
    GLUE_AFTER_UPDATE_TABLE,
    SILVER_AFTER_COMMIT,
    COMPACT_BEFORE_COMMIT,
];

/// Abort here if the environment asks for it.
pub fn hit(point: &str) {
    if std::env::var("FLOE_TEST_CRASH_AT").is_ok_and(|v| v == point) {
        eprintln!("floe: crash point {point} reached (FLOE_TEST_CRASH_AT); aborting");
        std::process::abort();
    }
}
