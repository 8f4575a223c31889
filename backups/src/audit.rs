//! The scheduled audit: which users a cron run visits, and what it found.
//!
//! The cron never exports. Each run visits a bounded page of users (those with a prefix in the
//! backup bucket), going on from where the last run stopped and starting over when it reaches
//! the end, so one cron serves any number of users and each is visited once per pass. For each
//! user it asks the user's object whether an export is overdue (which also nudges the object
//! to export if one is due) and runs a restore drill on the newest backup: every object
//! fetched and checked, the log replayed with the engine in memory, the notes' digest and the
//! chain head compared with the manifest. [`AuditStatus`] keeps the outcome for `/health` and
//! the operator.

use serde::{Deserialize, Serialize};

/// The most failures and overdue users a status lists by name.
pub const MAX_NAMED: usize = 20;

/// What the audit keeps between runs (JSON; the Worker stores it in R2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStatus {
    /// The last user prefix a run visited in the current pass (`None`: start from the first).
    pub cursor: Option<String>,
    /// The newest export seen (unix milliseconds): the newest manifest's creation time.
    pub newest_export_ms: Option<u64>,
    /// The last run.
    pub last_run: Option<RunSummary>,
    /// The last run that drilled at least one user.
    pub last_drill: Option<DrillSummary>,
    /// Users whose export is overdue, as last visited (at most [`MAX_NAMED`]).
    pub overdue: Vec<String>,
    /// A run holds the audit (and so the pruning) until this time: one at a time.
    #[serde(default)]
    pub lease_until_ms: Option<u64>,
    /// The pass in progress: when its first run ended, and users visited so far.
    #[serde(default)]
    pub pass: Option<PassSummary>,
    /// The last complete pass over every user.
    #[serde(default)]
    pub last_pass: Option<PassSummary>,
}

/// A pass over every user: each is nudged and drilled once per pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassSummary {
    /// When its first run ended (unix milliseconds).
    pub started_ms: u64,
    /// When its last run ended (so far).
    pub ended_ms: u64,
    /// Users visited.
    pub users: u32,
}

/// The longest a pass may take: every user is drilled at least once a week.
pub const PASS_GOAL_MS: u64 = 7 * 24 * 3_600_000;
/// Runs a pass is paced to fit in: six days of hourly runs, a day's margin under the goal.
pub const PASS_RUNS: u32 = 6 * 24;

/// Another run holds the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("another audit run holds the lease until {until_ms}")]
pub struct LeaseHeld {
    /// When its lease ends.
    pub until_ms: u64,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// When it ended.
    pub at_ms: u64,
    /// Users visited.
    pub users: u32,
    /// Whether it reached the last user (the next run starts over).
    pub pass_complete: bool,
}

/// The drills of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillSummary {
    /// When the run ended.
    pub at_ms: u64,
    /// Users drilled.
    pub users: u32,
    /// Users whose drill passed.
    pub passed: u32,
    /// The failures, by user (at most [`MAX_NAMED`]).
    pub failures: Vec<DrillFailure>,
    /// Passed drills that checked the objects as stored but could not replay the log: the
    /// backup is sealed and the Worker never holds the identity (the operator's
    /// `backup verify --read-data 100 --identity FILE` replays it).
    #[serde(default)]
    pub objects_only: u32,
}

/// A drill that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillFailure {
    /// The user.
    pub user: String,
    /// Why, naming the object or check at fault.
    pub error: String,
}

/// What a run found for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The user.
    pub user: String,
    /// The user's prefix (the run's cursor moves past it).
    pub prefix: String,
    /// The newest manifest's creation time, if the user has one.
    pub newest_manifest_ms: Option<u64>,
    /// The user's object says an export is overdue.
    pub overdue: bool,
    /// The drill's outcome: `None` when not drilled (no manifest yet).
    pub drill: Option<Result<(), String>>,
    /// The drill checked the objects as stored, without replaying (a sealed backup).
    pub objects_only: bool,
}

impl AuditStatus {
    /// Takes the lease for a run starting at `now_ms` that ends by `now_ms + lease_ms`
    /// (the caller then writes the status back only if nobody wrote it meanwhile), unless
    /// another run holds it. A lease left by a run that died ends by itself.
    pub fn take_lease(&mut self, now_ms: u64, lease_ms: u64) -> Result<(), LeaseHeld> {
        if let Some(until_ms) = self.lease_until_ms
            && until_ms > now_ms
        {
            return Err(LeaseHeld { until_ms });
        }
        self.lease_until_ms = Some(now_ms + lease_ms);
        Ok(())
    }

    /// Folds one run's visits into the status. `pass_complete`: the listing ended after them.
    pub fn record_run(&mut self, visits: &[Visit], pass_complete: bool, now_ms: u64) {
        for visit in visits {
            if let Some(ms) = visit.newest_manifest_ms {
                self.newest_export_ms = Some(self.newest_export_ms.map_or(ms, |n| n.max(ms)));
            }
            self.overdue.retain(|u| *u != visit.user);
            if visit.overdue && self.overdue.len() < MAX_NAMED {
                self.overdue.push(visit.user.clone());
            }
        }
        self.lease_until_ms = None;
        self.cursor = if pass_complete {
            None
        } else {
            visits
                .last()
                .map(|v| v.prefix.clone())
                .or(self.cursor.take())
        };
        let visited = u32::try_from(visits.len()).unwrap_or(u32::MAX);
        self.last_run = Some(RunSummary {
            at_ms: now_ms,
            users: visited,
            pass_complete,
        });
        let mut pass = self.pass.take().unwrap_or(PassSummary {
            started_ms: now_ms,
            ended_ms: now_ms,
            users: 0,
        });
        pass.ended_ms = now_ms;
        pass.users = pass.users.saturating_add(visited);
        if pass_complete {
            self.last_pass = Some(pass);
        } else {
            self.pass = Some(pass);
        }
        let drilled: Vec<(&Visit, &Result<(), String>)> = visits
            .iter()
            .filter_map(|v| v.drill.as_ref().map(|d| (v, d)))
            .collect();
        if drilled.is_empty() {
            return;
        }
        let failures: Vec<DrillFailure> = drilled
            .iter()
            .filter_map(|(v, d)| {
                d.as_ref().err().map(|error| DrillFailure {
                    user: v.user.clone(),
                    error: error.clone(),
                })
            })
            .collect();
        self.last_drill = Some(DrillSummary {
            at_ms: now_ms,
            users: u32::try_from(drilled.len()).unwrap_or(u32::MAX),
            passed: u32::try_from(drilled.len() - failures.len()).unwrap_or(u32::MAX),
            failures: failures.into_iter().take(MAX_NAMED).collect(),
            objects_only: u32::try_from(
                drilled
                    .iter()
                    .filter(|(v, d)| v.objects_only && d.is_ok())
                    .count(),
            )
            .unwrap_or(u32::MAX),
        });
    }

    /// How many users the next run visits: `configured`, or more when the last complete pass
    /// had so many users that `configured` per run would not visit them all within
    /// [`PASS_RUNS`] runs (so every user is drilled weekly), at most `max`.
    pub fn users_per_run(&self, configured: u32, max: u32) -> u32 {
        let users = self
            .last_pass
            .as_ref()
            .map_or(0, |p| p.users)
            .max(self.pass.as_ref().map_or(0, |p| p.users));
        configured.max(users.div_ceil(PASS_RUNS)).min(max)
    }

    /// Why backups are not well, for `/health` (empty: well). `/health` is public, so the
    /// warnings give counts only; the users and the reasons are in the status itself (for the
    /// operator) and in the audit's log lines (users as keyed hashes).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.overdue.is_empty() {
            warnings.push(format!(
                "exports are overdue for {} user(s): no export for more than two intervals while notes changed",
                self.overdue.len()
            ));
        }
        if let Some(drill) = &self.last_drill
            && drill.passed < drill.users
        {
            warnings.push(format!(
                "the last restore drill failed for {} of {} users",
                drill.users - drill.passed,
                drill.users
            ));
        }
        let slow =
            |pass: &PassSummary| pass.ended_ms.saturating_sub(pass.started_ms) > PASS_GOAL_MS;
        if let Some(pass) = self
            .pass
            .as_ref()
            .filter(|p| slow(p))
            .or(self.last_pass.as_ref().filter(|p| slow(p)))
        {
            warnings.push(format!(
                "a drill pass over every user is taking more than a week ({} days so far, {} users): \
                 the cron's request budget is too small for this many users",
                pass.ended_ms.saturating_sub(pass.started_ms) / 86_400_000,
                pass.users
            ));
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(
        user: &str,
        manifest: Option<u64>,
        overdue: bool,
        drill: Option<Result<(), String>>,
    ) -> Visit {
        Visit {
            user: user.into(),
            prefix: format!("users/{user}/"),
            newest_manifest_ms: manifest,
            overdue,
            drill,
            objects_only: false,
        }
    }

    #[test]
    fn runs_go_on_from_the_cursor_and_start_over_after_a_complete_pass() {
        let mut status = AuditStatus::default();
        status.record_run(
            &[
                visit("a", Some(5), false, Some(Ok(()))),
                visit("b", None, false, None),
            ],
            false,
            100,
        );
        assert_eq!(status.cursor.as_deref(), Some("users/b/"));
        assert_eq!(status.newest_export_ms, Some(5));
        status.record_run(&[visit("c", Some(9), false, Some(Ok(())))], true, 200);
        assert_eq!(status.cursor, None);
        assert_eq!(status.newest_export_ms, Some(9));
        assert!(status.last_run.as_ref().unwrap().pass_complete);
        // A run with no users keeps the cursor where it was.
        status.cursor = Some("users/x/".into());
        status.record_run(&[], false, 300);
        assert_eq!(status.cursor.as_deref(), Some("users/x/"));
    }

    #[test]
    fn failures_and_overdue_users_are_named_until_they_recover() {
        let mut status = AuditStatus::default();
        let broken = Some(Err("object users/a/packs/x.pack is missing".to_owned()));
        status.record_run(
            &[
                visit("a", Some(1), true, broken),
                visit("b", Some(2), false, Some(Ok(()))),
            ],
            false,
            10,
        );
        let drill = status.last_drill.clone().unwrap();
        assert_eq!((drill.users, drill.passed), (2, 1));
        let warnings = status.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("overdue for 1 user"));
        assert!(warnings[1].contains("failed for 1 of 2 users"));
        // Public warnings never name a user or an object; the status does, for the operator.
        assert!(!warnings.concat().contains("users/a"));
        assert_eq!(drill.failures[0].user, "a");
        assert!(drill.failures[0].error.contains("users/a/packs/x.pack"));
        // The next visit finds both well.
        status.record_run(&[visit("a", Some(3), false, Some(Ok(())))], true, 20);
        assert!(status.overdue.is_empty());
        assert!(status.warnings().is_empty());
        // A run without drills keeps the last drill's outcome.
        status.record_run(&[visit("z", None, false, None)], true, 30);
        assert_eq!(status.last_drill.unwrap().at_ms, 20);
    }

    #[test]
    fn one_run_holds_the_lease_until_it_records_or_the_lease_ends() {
        let mut status = AuditStatus::default();
        assert_eq!(status.take_lease(100, 50), Ok(()));
        assert_eq!(status.take_lease(120, 50), Err(LeaseHeld { until_ms: 150 }));
        status.record_run(&[], true, 130);
        assert_eq!(
            status.lease_until_ms, None,
            "recording a run gives the lease back"
        );
        assert_eq!(status.take_lease(140, 50), Ok(()));
        // A run that died: its lease ends by itself.
        assert_eq!(status.take_lease(191, 50), Ok(()));
    }

    #[test]
    fn the_status_round_trips_as_json() {
        let mut status = AuditStatus::default();
        status.record_run(
            &[visit("a", Some(1), true, Some(Err("x".into())))],
            false,
            10,
        );
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(serde_json::from_str::<AuditStatus>(&json).unwrap(), status);
    }

    #[test]
    fn passes_are_counted_and_the_pace_rises_with_the_number_of_users() {
        let mut status = AuditStatus::default();
        let visits = |n: usize| -> Vec<Visit> {
            (0..n)
                .map(|i| Visit {
                    user: format!("u{i}"),
                    prefix: format!("users/u{i}/"),
                    newest_manifest_ms: None,
                    overdue: false,
                    drill: None,
                    objects_only: false,
                })
                .collect()
        };
        assert_eq!(status.users_per_run(25, 1_000), 25);
        status.record_run(&visits(25), false, 1_000);
        status.record_run(&visits(25), false, 2_000);
        assert_eq!(status.pass.as_ref().map(|p| p.users), Some(50));
        status.record_run(&visits(10), true, 3_000);
        assert_eq!(status.pass, None);
        assert_eq!(
            status.last_pass,
            Some(PassSummary {
                started_ms: 1_000,
                ended_ms: 3_000,
                users: 60
            })
        );
        // 60 users fit in 144 runs of 25.
        assert_eq!(status.users_per_run(25, 1_000), 25);
        status.last_pass = Some(PassSummary {
            started_ms: 0,
            ended_ms: 1,
            users: 14_400,
        });
        assert_eq!(status.users_per_run(25, 1_000), 100);
        assert_eq!(status.users_per_run(25, 50), 50, "never past the maximum");
        assert!(status.warnings().is_empty());
        // A pass that took longer than a week says so.
        status.last_pass = Some(PassSummary {
            started_ms: 0,
            ended_ms: PASS_GOAL_MS + 86_400_000,
            users: 14_400,
        });
        let warnings = status.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("more than a week (8 days"),
            "{warnings:?}"
        );
    }
}
