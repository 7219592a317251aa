//! Deterministic crash points for the crash tests. When `FLOE_TEST_CRASH_AT` names a point, the
//! process aborts there — no unwinding, no flushing, as a SIGKILL would leave it — so tests can
//! prove recovery from the exact moments that matter (between an object and its checkpoint,
//! between the two commits of a silver batch) instead of hoping a random kill lands there.

/// A GetRecords answer with records received, nothing done with them yet (they are read again).
pub const SOURCE_AFTER_GET_RECORDS: &str = "source-after-get-records";
/// Object written, checkpoint not yet saved.
pub const BRONZE_AFTER_PUT: &str = "bronze-after-put";
/// In the middle of a silver round's writes: its bad rows written to their open files, its
/// rows not yet.
pub const SILVER_MID_WRITE: &str = "silver-mid-write";
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

/// Lease confirmed for a bronze object (fenced), the object not yet written: the one window
/// epoch fencing cannot close, since S3 knows nothing of leases (a pause point, see [`pause`]).
pub const BRONZE_AFTER_FENCE: &str = "bronze-after-fence";

/// Every point, for the crash loop (tests/it/torture.rs) to take in turn.
pub const ALL: [&str; 8] = [
    SOURCE_AFTER_GET_RECORDS,
    BRONZE_AFTER_PUT,
    SILVER_MID_WRITE,
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

/// Freeze the whole process here (SIGSTOP, as a long GC pause, a frozen VM or a stalled host
/// would) the first time `FLOE_TEST_PAUSE_AT` names the point; the test resumes it with SIGCONT.
/// Deterministic, so the split-brain test (tests/it/split_brain.rs) hits the window it means to.
pub fn pause(point: &str) {
    static PAUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var("FLOE_TEST_PAUSE_AT").is_ok_and(|v| v == point)
        && !PAUSED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        eprintln!("floe: pause point {point} reached (FLOE_TEST_PAUSE_AT); stopping");
        let stopped = std::process::Command::new("kill").args(["-STOP", &std::process::id().to_string()]).status();
        eprintln!("floe: resumed after pause point {point} ({stopped:?})");
    }
}
