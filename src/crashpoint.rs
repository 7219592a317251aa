//! Deterministic crash points for the crash tests. When `FLOE_TEST_CRASH_AT` names a point, the
//! process aborts there — no unwinding, no flushing, as a SIGKILL would leave it — so tests can
//! prove recovery from the exact moments that matter (between an object and its checkpoint,
//! between the two commits of a silver batch) instead of hoping a random kill lands there.

/// Object written, checkpoint not yet saved.
pub const BRONZE_AFTER_PUT: &str = "bronze-after-put";
/// Bad-rows table committed, the table not yet.
pub const SILVER_AFTER_BAD_COMMIT: &str = "silver-after-bad-commit";
/// Both commits of a silver batch done.
pub const SILVER_AFTER_COMMIT: &str = "silver-after-commit";

/// Abort here if the environment asks for it.
pub fn hit(point: &str) {
    if std::env::var("FLOE_TEST_CRASH_AT").is_ok_and(|v| v == point) {
        eprintln!("floe: crash point {point} reached (FLOE_TEST_CRASH_AT); aborting");
        std::process::abort();
    }
}
