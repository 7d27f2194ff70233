//! Fail points: named steps between acquiring a trigger and recording a run's end where a
//! test injects a failure, to check that no fire is lost or doubled whichever step fails.
//!
//! They exist only with the `failpoints` feature (the `fail` crate), which only tests turn
//! on; in every other build [`injected`] is `None` and compiles to nothing. Names:
//! `scheduler::check_in`, `scheduler::recover`, `scheduler::before_execute`,
//! `scheduler::after_execute` (the driver), and `store::cycle::complete_runs`,
//! `store::cycle::acquire`, `store::cycle::insert_runs`, `store::cycle::end`,
//! `store::cycle::after_commit`, `store::check_in`, `store::recover` (consort-store), and
//! `spark::lose-submit-answer`, `spark::before-recording-handle` (consort-spark's `spark` kind,
//! with its own `failpoints` feature).

use crate::error::StoreError;

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures injected so far, per point (tests check that a point was reached).
static INJECTED: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

/// Whether a test made `point` fail now, and its message.
#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
pub fn injected(point: &str) -> Option<String> {
    fail::fail_point!(point, |arg: Option<String>| {
        if let Ok(mut counts) = INJECTED.lock() {
            *counts.get_or_insert_with(HashMap::new).entry(point.to_string()).or_default() += 1;
        }
        Some(match arg {
            Some(arg) => format!("fail point {point}: {arg}"),
            None => format!("fail point {point}"),
        })
    });
    None
}

/// How many failures were injected at `point` so far (always 0 without `failpoints`).
pub fn injected_count(point: &str) -> u64 {
    INJECTED.lock().ok().and_then(|c| c.as_ref().and_then(|c| c.get(point).copied())).unwrap_or(0)
}

/// A store step that a test made fail: a transient database error, as a lost connection
/// would be (the transaction is rolled back, the caller retries).
pub fn store_step(point: &str) -> Result<(), StoreError> {
    match injected(point) {
        Some(message) => Err(StoreError::Database { context: point.to_string(), message, transient: true }),
        None => Ok(()),
    }
}
