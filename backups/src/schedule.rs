//! When a user's next export is due.
//!
//! An export is due `interval` after the last one that completed, plus a jitter fixed per user
//! (so users exported at the same moment spread out), and only while the log has moved past
//! what that export covered: an idle user costs nothing. A run that stopped at its budget goes
//! on [`CONTINUE_AFTER_MS`] later; a failed run is retried with a backoff that doubles from
//! one minute up to the interval.

use engine::Hash;
use serde::{Deserialize, Serialize};

/// How soon a run that stopped at its budget goes on.
pub const CONTINUE_AFTER_MS: u64 = 1_000;
/// The first retry delay after a failed run.
pub const FIRST_RETRY_MS: u64 = 60_000;

/// What a user's object remembers of its exports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// The head seq the last completed export covered, and when it completed.
    pub last_complete: Option<Completed>,
    /// When the last run (of any outcome) ended.
    pub last_run_ms: Option<u64>,
    /// Runs that failed since the last one that did not.
    pub failures: u32,
    /// The last run stopped at its budget with work left.
    pub unfinished: bool,
    /// The last failure's message, until a run succeeds.
    pub last_error: Option<String>,
    /// Objects of the newest backup were found missing or damaged (by the cron's drill) and
    /// forgotten: an export is due now, whatever changed, to upload them again.
    #[serde(default)]
    pub repair: bool,
}

/// A completed export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completed {
    /// The head seq it covered.
    pub head_seq: u64,
    /// When it completed (unix milliseconds).
    pub at_ms: u64,
    /// The manifest's key.
    pub manifest: String,
}

/// The jitter of `user`'s exports: a fixed offset below a tenth of the interval.
pub fn jitter_ms(user: &str, interval_ms: u64) -> u64 {
    let hash = Hash::of(user.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.0[..8]);
    u64::from_le_bytes(first) % (interval_ms / 10 + 1)
}

impl ExportRecord {
    /// When the next run is due (unix milliseconds), or `None` when nothing is to export.
    /// A due time in the past means now.
    pub fn next_due(&self, head_seq: u64, interval_ms: u64, jitter_ms: u64) -> Option<u64> {
        let last_run = self.last_run_ms.unwrap_or(0);
        if self.unfinished {
            return Some(last_run + CONTINUE_AFTER_MS);
        }
        if self.repair && self.failures == 0 {
            return Some(0);
        }
        let covered = self.last_complete.as_ref().map_or(0, |c| c.head_seq);
        if head_seq <= covered {
            return None;
        }
        let regular = self
            .last_complete
            .as_ref()
            .map_or(0, |c| c.at_ms + interval_ms + jitter_ms);
        let retry = if self.failures == 0 {
            0
        } else {
            let backoff = FIRST_RETRY_MS
                .saturating_mul(1 << (self.failures - 1).min(20))
                .min(interval_ms);
            last_run + backoff
        };
        Some(regular.max(retry))
    }

    /// Whether an export is overdue: the log has moved past the last completed export and
    /// that export is more than two intervals old (or, with none ever completed, three runs
    /// in a row failed).
    pub fn overdue(&self, head_seq: u64, interval_ms: u64, now_ms: u64) -> bool {
        match &self.last_complete {
            Some(done) => {
                head_seq > done.head_seq && now_ms.saturating_sub(done.at_ms) > 2 * interval_ms
            }
            None => head_seq > 0 && self.failures >= 3,
        }
    }

    /// Records a run that completed with `manifest` at `head_seq`.
    pub fn completed(&mut self, head_seq: u64, manifest: String, now_ms: u64) {
        *self = ExportRecord {
            last_complete: Some(Completed {
                head_seq,
                at_ms: now_ms,
                manifest,
            }),
            last_run_ms: Some(now_ms),
            failures: 0,
            unfinished: false,
            last_error: None,
            repair: false,
        };
    }

    /// Records a run that stopped at its budget.
    pub fn paused(&mut self, now_ms: u64) {
        self.last_run_ms = Some(now_ms);
        self.unfinished = true;
        self.failures = 0;
        self.last_error = None;
    }

    /// Records a failed run.
    pub fn failed(&mut self, error: String, now_ms: u64) {
        self.last_run_ms = Some(now_ms);
        self.unfinished = false;
        self.failures = self.failures.saturating_add(1);
        self.last_error = Some(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn a_new_user_with_changes_is_due_at_once_and_an_idle_one_never() {
        let record = ExportRecord::default();
        assert_eq!(record.next_due(0, HOUR, 7), None);
        assert_eq!(record.next_due(1, HOUR, 7), Some(0));
        let mut record = ExportRecord::default();
        record.completed(10, "m".into(), 5_000);
        assert_eq!(
            record.next_due(10, HOUR, 7),
            None,
            "idle: nothing to export"
        );
        assert_eq!(record.next_due(11, HOUR, 7), Some(5_000 + HOUR + 7));
    }

    #[test]
    fn failures_back_off_up_to_the_interval_and_pauses_go_on_soon() {
        let mut record = ExportRecord::default();
        record.completed(10, "m".into(), 0);
        let mut delays = Vec::new();
        for i in 0..8 {
            record.failed("refused".into(), 10 * HOUR + i);
            delays.push(record.next_due(11, HOUR, 0).unwrap() - (10 * HOUR + i));
        }
        assert_eq!(delays[..3], [60_000, 120_000, 240_000]);
        assert_eq!(*delays.last().unwrap(), HOUR);
        assert_eq!(record.last_error.as_deref(), Some("refused"));
        record.paused(20 * HOUR);
        assert_eq!(
            record.next_due(11, HOUR, 0),
            Some(20 * HOUR + CONTINUE_AFTER_MS)
        );
        assert_eq!(record.failures, 0);
        record.completed(11, "m2".into(), 21 * HOUR);
        assert_eq!(record.next_due(11, HOUR, 0), None);
    }

    #[test]
    fn an_export_is_overdue_past_two_intervals_with_changes() {
        let mut record = ExportRecord::default();
        assert!(!record.overdue(0, HOUR, 10 * HOUR));
        record.failed("x".into(), 1);
        record.failed("x".into(), 2);
        assert!(!record.overdue(5, HOUR, 3));
        record.failed("x".into(), 3);
        assert!(record.overdue(5, HOUR, 4));
        record.completed(5, "m".into(), HOUR);
        assert!(!record.overdue(5, HOUR, 10 * HOUR), "idle is never overdue");
        assert!(!record.overdue(6, HOUR, 3 * HOUR));
        assert!(record.overdue(6, HOUR, 3 * HOUR + 1));
    }

    #[test]
    fn a_repair_is_due_at_once_even_without_changes_until_an_export_completes() {
        let mut record = ExportRecord::default();
        record.completed(10, "m".into(), HOUR);
        record.repair = true;
        assert_eq!(record.next_due(10, HOUR, 0), Some(0));
        record.completed(10, "m2".into(), 2 * HOUR);
        assert!(!record.repair);
        assert_eq!(record.next_due(10, HOUR, 0), None);
    }

    #[test]
    fn jitter_is_fixed_per_user_and_below_a_tenth_of_the_interval() {
        assert_eq!(jitter_ms("1001", HOUR), jitter_ms("1001", HOUR));
        let spread: std::collections::BTreeSet<u64> =
            (0..50).map(|u| jitter_ms(&u.to_string(), HOUR)).collect();
        assert!(spread.len() > 40);
        assert!(spread.iter().all(|j| *j <= HOUR / 10));
    }
}
