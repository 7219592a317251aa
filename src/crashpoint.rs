//! Deterministic crash points for the crash tests. When `FLOE_TEST_CRASH_AT` names a point, the
//! process aborts there — no unwinding, no flushing, as a SIGKILL would leave it — so tests can
//! prove recovery from the exact moments that matter (between an object and its checkpoint,
//! between the two commits of a silver batch) instead of hoping a random kill lands there.

/// A GetRecords answer with records received, nothing done with them yet (they are read again).
pub const SOURCE_AFTER_GET_RECORDS: &str = "source-after-get-records";
/// A bronze object's S3 put in flight: sent, its answer not yet seen (S3 may or may not have
/// stored it). See [`during`].
pub const BRONZE_DURING_PUT: &str = "bronze-during-put";
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
pub const ALL: [&str; 9] = [
    SOURCE_AFTER_GET_RECORDS,
    BRONZE_DURING_PUT,
    BRONZE_AFTER_PUT,
    SILVER_MID_WRITE,
    SILVER_BEFORE_COMMIT,
    SILVER_AFTER_BAD_COMMIT,
    GLUE_AFTER_UPDATE_TABLE,
    SILVER_AFTER_COMMIT,
    COMPACT_BEFORE_COMMIT,
];

fn armed(point: &str) -> bool {
    std::env::var("FLOE_TEST_CRASH_AT").is_ok_and(|v| v == point)
}

/// Abort here if the environment asks for it.
pub fn hit(point: &str) {
    if armed(point) {
        eprintln!("floe: crash point {point} reached (FLOE_TEST_CRASH_AT); aborting");
        std::process::abort();
    }
}

/// Run `work`; when the environment names `point`, abort while it is in flight instead: it is
/// polled first (so its request is on the wire), and 2 ms later the process dies without
/// waiting for the answer. Should the work finish sooner, the abort comes right after it.
pub async fn during<F: std::future::Future>(point: &str, work: F) -> F::Output {
    if !armed(point) {
        return work.await;
    }
    tokio::select! {
        biased;
        _ = work => eprintln!("floe: crash point {point} reached just after the work finished (within 2 ms); aborting"),
        _ = tokio::time::sleep(std::time::Duration::from_millis(2)) => {
            eprintln!("floe: crash point {point} reached while the work is in flight (FLOE_TEST_CRASH_AT); aborting")
        }
    }
    std::process::abort();
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
