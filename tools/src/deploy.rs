//! A deploy as a step machine: validate, build, read what serves now, upload a new version,
//! make it serve, then the health gate and the smoke gate; when a gate fails (or the switch
//! itself), roll back to the version that served before and check it again. The machine says
//! what to do next ([`DeployRun::next_action`]); the `second-brain deploy` command does it
//! (wrangler, the Cloudflare API, HTTP) and hands back what happened
//! ([`DeployRun::complete`]) with the time it happened, so every path, rollbacks included, is
//! tested natively. [`DeployRun::record`] is the deployment record the command writes.
//!
//! The same machine rolls back on request (`second-brain rollback`): [`DeployRun::rollback`]
//! starts at "make that version serve", with the same gates.

use serde::Serialize;

/// What the command must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Check the configuration (strictly for production).
    Validate,
    /// Build the bundle; answer [`Done::Built`] with its commit.
    Build,
    /// Read which version serves now; answer [`Done::Current`].
    ReadCurrent,
    /// Upload the bundle as a new version tagged with `commit`; answer [`Done::Uploaded`].
    Upload {
        /// The commit to tag the version with.
        commit: String,
    },
    /// Make `version` take all traffic.
    Activate {
        /// The version.
        version: String,
        /// Why: the new version, or a rollback.
        rollback: bool,
    },
    /// Check `/health`: 200, healthy (or degraded when allowed), and built from `commit` for
    /// this environment; answer [`Done::Health`].
    Health {
        /// The commit the serving version must report (`None`: unknown, any will do).
        commit: Option<String>,
    },
    /// Run the smoke checks; answer [`Done::Smoke`].
    Smoke,
}

/// What the command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The step worked (validate, activate).
    Ok,
    /// The step failed; the text says why.
    Failed(String),
    /// The bundle is built from `commit`.
    Built {
        /// Its commit.
        commit: String,
    },
    /// What serves now: a version and the commit it was tagged with, or nothing yet.
    Current(Option<(String, Option<String>)>),
    /// The new version's id.
    Uploaded(String),
    /// What `/health` answered last.
    Health(HealthSeen),
    /// The smoke run's verdict.
    Smoke {
        /// Whether every check passed.
        passed: bool,
        /// A summary (the failed checks).
        detail: String,
    },
}

/// What `/health` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthSeen {
    /// The HTTP status (0: no answer).
    pub http_status: u16,
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: String,
    /// The commit it reports.
    pub commit: String,
    /// The environment it reports.
    pub environment: String,
}

/// Whether `seen` passes the health gate for `environment` and `commit`.
pub fn judge_health(
    seen: &HealthSeen,
    environment: &str,
    commit: Option<&str>,
    allow_degraded: bool,
) -> Result<String, String> {
    if seen.http_status != 200 {
        return Err(format!(
            "/health answered {} ({})",
            seen.http_status, seen.status
        ));
    }
    match seen.status.as_str() {
        "healthy" => {}
        "degraded" if allow_degraded => {}
        other => return Err(format!("/health says {other}")),
    }
    if seen.environment != environment {
        return Err(format!(
            "/health reports environment {}, not {environment}",
            seen.environment
        ));
    }
    if let Some(commit) = commit
        && seen.commit != commit
    {
        return Err(format!(
            "/health reports commit {}, not {commit} (the new version does not serve yet?)",
            seen.commit
        ));
    }
    Ok(format!("{}, commit {}", seen.status, seen.commit))
}

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The new version serves and passed both gates.
    Deployed,
    /// Nothing was changed: validation, the build, reading the current version or the upload
    /// failed.
    NotDeployed,
    /// A gate failed; the previous version serves again and passed its gates.
    RolledBack,
    /// A gate failed and there was nothing to roll back to, or the rollback's own gates
    /// failed: the service may be down.
    Broken,
    /// `--dry-run`: the plan was printed, nothing changed.
    DryRun,
}

impl Outcome {
    /// The process exit code: 0 deployed (or a dry run), 1 not deployed, 7 rolled back,
    /// 8 broken.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Deployed | Outcome::DryRun => 0,
            Outcome::NotDeployed => 1,
            Outcome::RolledBack => 7,
            Outcome::Broken => 8,
        }
    }
}

/// One step as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    /// `validate`, `build`, `read_current`, `upload`, `activate`, `health`, `smoke`, and the
    /// rollback's `rollback_activate`, `rollback_health`, `rollback_smoke`.
    pub step: String,
    /// Whether it worked.
    pub ok: bool,
    /// What happened.
    pub detail: String,
    /// When it started and ended (unix milliseconds, as the command passed them).
    pub started_ms: u64,
    /// When it ended.
    pub ended_ms: u64,
}

/// The deployment record (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// `dev` or `production`.
    pub environment: String,
    /// The Worker script.
    pub script: String,
    /// The URL the gates checked.
    pub url: String,
    /// The commit deployed.
    pub commit: Option<String>,
    /// The version uploaded (or rolled back to, for a rollback).
    pub version_id: Option<String>,
    /// The version that served before.
    pub previous_version_id: Option<String>,
    /// The commit that version was tagged with.
    pub previous_commit: Option<String>,
    /// When the run started and ended.
    pub started_ms: u64,
    /// When it ended.
    pub ended_ms: u64,
    /// Every step in order.
    pub steps: Vec<StepRecord>,
    /// Whether a rollback ran, and to which version.
    pub rolled_back_to: Option<String>,
    /// How it ended.
    pub outcome: Option<Outcome>,
}

/// Where the machine is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Validate,
    Build,
    ReadCurrent,
    Upload,
    Activate,
    Health,
    Smoke,
    RollbackActivate,
    RollbackHealth,
    RollbackSmoke,
    Over,
}

/// What a run deploys to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `dev` or `production` (what `/health` must report).
    pub environment: String,
    /// The Worker script.
    pub script: String,
    /// The URL the gates check.
    pub url: String,
    /// Whether `degraded` passes the health gate.
    pub allow_degraded: bool,
}

/// A deploy (or a rollback) in progress.
#[derive(Debug)]
pub struct DeployRun {
    environment: String,
    allow_degraded: bool,
    dry_run: bool,
    phase: Phase,
    /// When the step in progress started.
    step_started_ms: u64,
    record: Record,
}

impl DeployRun {
    /// A deploy of the working tree to `target`, started at `now_ms` (`dry_run`: validate,
    /// build and read what serves, then stop).
    pub fn new(target: &Target, dry_run: bool, now_ms: u64) -> DeployRun {
        DeployRun {
            environment: target.environment.clone(),
            allow_degraded: target.allow_degraded,
            dry_run,
            phase: Phase::Validate,
            step_started_ms: now_ms,
            record: Record {
                environment: target.environment.clone(),
                script: target.script.clone(),
                url: target.url.clone(),
                commit: None,
                version_id: None,
                previous_version_id: None,
                previous_commit: None,
                started_ms: now_ms,
                ended_ms: now_ms,
                steps: Vec::new(),
                rolled_back_to: None,
                outcome: None,
            },
        }
    }

    /// A rollback of `target` to `version` (tagged with `commit`) from `current`, with the
    /// same gates.
    pub fn rollback(
        target: &Target,
        current: Option<String>,
        version: String,
        commit: Option<String>,
        now_ms: u64,
    ) -> DeployRun {
        let mut run = DeployRun::new(target, false, now_ms);
        run.record.previous_version_id = current;
        run.record.rolled_back_to = Some(version.clone());
        run.record.version_id = Some(version);
        run.record.commit = commit;
        run.phase = Phase::RollbackActivate;
        run
    }

    /// The next thing to do; `None` once the run is over ([`DeployRun::record`] says how).
    pub fn next_action(&mut self, now_ms: u64) -> Option<Action> {
        self.step_started_ms = now_ms;
        Some(match self.phase {
            Phase::Validate => Action::Validate,
            Phase::Build => Action::Build,
            Phase::ReadCurrent => Action::ReadCurrent,
            Phase::Upload => Action::Upload {
                commit: self.record.commit.clone().unwrap_or_default(),
            },
            Phase::Activate => Action::Activate {
                version: self.record.version_id.clone()?,
                rollback: false,
            },
            Phase::Health => Action::Health {
                commit: self.record.commit.clone(),
            },
            Phase::Smoke | Phase::RollbackSmoke => Action::Smoke,
            Phase::RollbackActivate => Action::Activate {
                version: self.rollback_target()?,
                rollback: true,
            },
            Phase::RollbackHealth => Action::Health {
                commit: self.rollback_commit(),
            },
            Phase::Over => return None,
        })
    }

    /// The version a rollback makes serve.
    fn rollback_target(&self) -> Option<String> {
        self.record.rolled_back_to.clone()
    }

    /// The commit the rolled-back-to version reports.
    fn rollback_commit(&self) -> Option<String> {
        if self.record.rolled_back_to == self.record.version_id {
            // `second-brain rollback`: the target is the run's own version.
            self.record.commit.clone()
        } else {
            self.record.previous_commit.clone()
        }
    }

    /// Hands back what the last action did, at `now_ms`.
    pub fn complete(&mut self, done: Done, now_ms: u64) {
        let (step, verdict) = self.judge(&done);
        self.record.steps.push(StepRecord {
            step: step.to_owned(),
            ok: verdict.is_ok(),
            detail: match &verdict {
                Ok(detail) | Err(detail) => detail.clone(),
            },
            started_ms: self.step_started_ms,
            ended_ms: now_ms,
        });
        self.record.ended_ms = now_ms;
        self.phase = match (&self.phase, verdict.is_ok()) {
            (Phase::Validate, true) => Phase::Build,
            (Phase::Build, true) => Phase::ReadCurrent,
            (Phase::ReadCurrent, true) if self.dry_run => self.finish(Outcome::DryRun),
            (Phase::ReadCurrent, true) => Phase::Upload,
            (Phase::Upload, true) => Phase::Activate,
            (Phase::Activate, true) => Phase::Health,
            (Phase::Health, true) => Phase::Smoke,
            (Phase::Smoke, true) => self.finish(Outcome::Deployed),
            (Phase::Validate | Phase::Build | Phase::ReadCurrent | Phase::Upload, false) => {
                self.finish(Outcome::NotDeployed)
            }
            // The new version may serve (a failed switch may have half happened): go back.
            (Phase::Activate | Phase::Health | Phase::Smoke, false) => {
                match self.record.previous_version_id.clone() {
                    Some(previous) => {
                        self.record.rolled_back_to = Some(previous);
                        Phase::RollbackActivate
                    }
                    None => self.finish(Outcome::Broken),
                }
            }
            (Phase::RollbackActivate, true) => Phase::RollbackHealth,
            (Phase::RollbackHealth, true) => Phase::RollbackSmoke,
            (Phase::RollbackSmoke, true) => {
                let standalone = self.record.rolled_back_to == self.record.version_id;
                self.finish(if standalone {
                    Outcome::Deployed
                } else {
                    Outcome::RolledBack
                })
            }
            (Phase::RollbackActivate | Phase::RollbackHealth | Phase::RollbackSmoke, false) => {
                self.finish(Outcome::Broken)
            }
            (Phase::Over, _) => Phase::Over,
        };
    }

    fn finish(&mut self, outcome: Outcome) -> Phase {
        self.record.outcome = Some(outcome);
        Phase::Over
    }

    /// The step's name and whether `done` passes it.
    fn judge(&mut self, done: &Done) -> (&'static str, Result<String, String>) {
        let name = match self.phase {
            Phase::Validate => "validate",
            Phase::Build => "build",
            Phase::ReadCurrent => "read_current",
            Phase::Upload => "upload",
            Phase::Activate => "activate",
            Phase::Health => "health",
            Phase::Smoke => "smoke",
            Phase::RollbackActivate => "rollback_activate",
            Phase::RollbackHealth => "rollback_health",
            Phase::RollbackSmoke => "rollback_smoke",
            Phase::Over => "over",
        };
        let verdict = match (done, &self.phase) {
            (Done::Failed(why), _) => Err(why.clone()),
            (Done::Built { commit }, Phase::Build) => {
                self.record.commit = Some(commit.clone());
                Ok(format!("commit {commit}"))
            }
            (Done::Current(current), Phase::ReadCurrent) => {
                if let Some((version, commit)) = current {
                    self.record.previous_version_id = Some(version.clone());
                    self.record.previous_commit.clone_from(commit);
                    Ok(format!(
                        "version {version} serves (commit {})",
                        commit.as_deref().unwrap_or("unknown")
                    ))
                } else {
                    Ok("nothing serves yet".to_owned())
                }
            }
            (Done::Uploaded(version), Phase::Upload) => {
                self.record.version_id = Some(version.clone());
                Ok(format!("version {version}"))
            }
            (Done::Ok, Phase::Validate | Phase::Activate | Phase::RollbackActivate) => {
                Ok("done".to_owned())
            }
            (Done::Health(seen), Phase::Health | Phase::RollbackHealth) => {
                let commit = if self.phase == Phase::Health {
                    self.record.commit.clone()
                } else {
                    self.rollback_commit()
                };
                judge_health(
                    seen,
                    &self.environment,
                    commit.as_deref(),
                    self.allow_degraded,
                )
            }
            (Done::Smoke { passed, detail }, Phase::Smoke | Phase::RollbackSmoke) => {
                if *passed {
                    Ok(detail.clone())
                } else {
                    Err(detail.clone())
                }
            }
            (other, _) => Err(format!("unexpected answer to {name}: {other:?}")),
        };
        (name, verdict)
    }

    /// The record so far (complete once [`DeployRun::next_action`] gives `None`).
    pub fn record(&self) -> &Record {
        &self.record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            environment: "dev".into(),
            script: "second-brain-mcp-dev".into(),
            url: "http://x".into(),
            allow_degraded: false,
        }
    }

    fn healthy(commit: &str) -> Done {
        Done::Health(HealthSeen {
            http_status: 200,
            status: "healthy".into(),
            commit: commit.into(),
            environment: "dev".into(),
        })
    }

    /// Drives `run`, answering each action with `answer`; the actions taken.
    fn drive(run: &mut DeployRun, mut answer: impl FnMut(&Action) -> Done) -> Vec<Action> {
        let mut taken = Vec::new();
        let mut now = 1_000;
        for _ in 0..20 {
            let Some(action) = run.next_action(now) else {
                return taken;
            };
            now += 10;
            let done = answer(&action);
            taken.push(action);
            run.complete(done, now);
        }
        panic!("the run did not end");
    }

    /// A world where `new` is built and uploaded as v2 over v1 (commit "old"), with gates
    /// answered by `gate(version_serving, action)`.
    fn world(
        previous: bool,
        gate: impl Fn(&str, &Action) -> Option<Done>,
    ) -> (Record, Vec<Action>) {
        let mut run = DeployRun::new(&target(), false, 1_000);
        let mut serving = "v1".to_owned();
        let taken = drive(&mut run, |action| {
            if let Some(done) = gate(&serving, action) {
                return done;
            }
            match action {
                Action::Validate => Done::Ok,
                Action::Build => Done::Built {
                    commit: "new".into(),
                },
                Action::ReadCurrent => {
                    Done::Current(previous.then(|| ("v1".to_owned(), Some("old".to_owned()))))
                }
                Action::Upload { commit } => {
                    assert_eq!(commit, "new");
                    Done::Uploaded("v2".into())
                }
                Action::Activate { version, .. } => {
                    serving.clone_from(version);
                    Done::Ok
                }
                Action::Health { commit } => {
                    let reported = if serving == "v2" { "new" } else { "old" };
                    assert_eq!(commit.as_deref(), Some(reported));
                    healthy(reported)
                }
                Action::Smoke => Done::Smoke {
                    passed: true,
                    detail: "12 checks".into(),
                },
            }
        });
        (run.record().clone(), taken)
    }

    fn steps(record: &Record) -> Vec<(&str, bool)> {
        record
            .steps
            .iter()
            .map(|s| (s.step.as_str(), s.ok))
            .collect()
    }

    #[test]
    fn a_good_build_passes_both_gates_and_is_recorded() {
        let (record, _) = world(true, |_, _| None);
        assert_eq!(record.outcome, Some(Outcome::Deployed));
        assert_eq!(record.version_id.as_deref(), Some("v2"));
        assert_eq!(record.previous_version_id.as_deref(), Some("v1"));
        assert_eq!(record.previous_commit.as_deref(), Some("old"));
        assert_eq!(record.commit.as_deref(), Some("new"));
        assert_eq!(record.rolled_back_to, None);
        assert_eq!(
            steps(&record),
            [
                ("validate", true),
                ("build", true),
                ("read_current", true),
                ("upload", true),
                ("activate", true),
                ("health", true),
                ("smoke", true)
            ]
        );
        assert!(record.steps.iter().all(|s| s.ended_ms > s.started_ms));
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["outcome"], "deployed");
    }

    #[test]
    fn an_unhealthy_build_is_rolled_back_and_the_old_one_checked_again() {
        let (record, taken) = world(true, |serving, action| match (serving, action) {
            ("v2", Action::Health { .. }) => Some(Done::Health(HealthSeen {
                http_status: 503,
                status: "unhealthy".into(),
                commit: "new".into(),
                environment: "dev".into(),
            })),
            _ => None,
        });
        assert_eq!(record.outcome, Some(Outcome::RolledBack));
        assert_eq!(Outcome::RolledBack.exit_code(), 7);
        assert_eq!(record.rolled_back_to.as_deref(), Some("v1"));
        assert!(taken.contains(&Action::Activate {
            version: "v1".into(),
            rollback: true
        }));
        assert_eq!(
            steps(&record)[5..],
            [
                ("health", false),
                ("rollback_activate", true),
                ("rollback_health", true),
                ("rollback_smoke", true)
            ]
        );
        assert!(record.steps[5].detail.contains("503"));
    }

    #[test]
    fn a_failed_smoke_gate_rolls_back_too() {
        let (record, _) = world(true, |serving, action| match (serving, action) {
            ("v2", Action::Smoke) => Some(Done::Smoke {
                passed: false,
                detail: "Unauthorized: /mcp without a token answered 200, not 401".into(),
            }),
            _ => None,
        });
        assert_eq!(record.outcome, Some(Outcome::RolledBack));
        assert_eq!(steps(&record)[6], ("smoke", false));
        assert!(record.steps[6].detail.contains("not 401"));
    }

    #[test]
    fn a_gate_failure_with_nothing_to_go_back_to_is_broken() {
        let (record, taken) = world(false, |_, action| match action {
            Action::Smoke => Some(Done::Smoke {
                passed: false,
                detail: "x".into(),
            }),
            _ => None,
        });
        assert_eq!(record.outcome, Some(Outcome::Broken));
        assert_eq!(Outcome::Broken.exit_code(), 8);
        assert!(
            !taken
                .iter()
                .any(|a| matches!(a, Action::Activate { rollback: true, .. }))
        );
    }

    #[test]
    fn a_rollback_whose_own_gate_fails_is_broken() {
        let (record, _) = world(true, |_, action| match action {
            Action::Smoke => Some(Done::Smoke {
                passed: false,
                detail: "down".into(),
            }),
            _ => None,
        });
        assert_eq!(record.outcome, Some(Outcome::Broken));
        assert_eq!(steps(&record).last(), Some(&("rollback_smoke", false)));
    }

    #[test]
    fn failures_before_the_switch_change_nothing() {
        for failing in ["validate", "build", "read", "upload"] {
            let (record, taken) = world(true, |_, action| {
                let hit = matches!(
                    (failing, action),
                    ("validate", Action::Validate)
                        | ("build", Action::Build)
                        | ("read", Action::ReadCurrent)
                        | ("upload", Action::Upload { .. })
                );
                hit.then(|| Done::Failed("no".into()))
            });
            assert_eq!(record.outcome, Some(Outcome::NotDeployed), "{failing}");
            assert!(
                !taken.iter().any(|a| matches!(a, Action::Activate { .. })),
                "{failing}"
            );
        }
    }

    #[test]
    fn a_failed_switch_is_treated_as_a_gate_failure() {
        let (record, _) = world(true, |_, action| match action {
            Action::Activate {
                rollback: false, ..
            } => Some(Done::Failed("the API timed out".into())),
            _ => None,
        });
        assert_eq!(record.outcome, Some(Outcome::RolledBack));
    }

    #[test]
    fn a_dry_run_reads_and_stops_before_the_upload() {
        let mut run = DeployRun::new(&target(), true, 0);
        let taken = drive(&mut run, |action| match action {
            Action::Validate => Done::Ok,
            Action::Build => Done::Built { commit: "c".into() },
            Action::ReadCurrent => Done::Current(None),
            other => panic!("a dry run must not {other:?}"),
        });
        assert_eq!(taken.len(), 3);
        assert_eq!(run.record().outcome, Some(Outcome::DryRun));
    }

    #[test]
    fn the_health_gate_wants_the_new_commit_this_environment_and_a_good_status() {
        let seen = |status: &str, commit: &str, env: &str| HealthSeen {
            http_status: 200,
            status: status.into(),
            commit: commit.into(),
            environment: env.into(),
        };
        assert!(judge_health(&seen("healthy", "c", "dev"), "dev", Some("c"), false).is_ok());
        assert!(judge_health(&seen("degraded", "c", "dev"), "dev", Some("c"), false).is_err());
        assert!(judge_health(&seen("degraded", "c", "dev"), "dev", Some("c"), true).is_ok());
        let old = judge_health(&seen("healthy", "b", "dev"), "dev", Some("c"), false);
        assert!(old.unwrap_err().contains("commit b"));
        let env = judge_health(&seen("healthy", "c", "production"), "dev", Some("c"), false);
        assert!(env.unwrap_err().contains("environment"));
        assert!(judge_health(&seen("healthy", "x", "dev"), "dev", None, false).is_ok());
    }

    #[test]
    fn a_rollback_on_request_runs_the_same_gates() {
        let mut run = DeployRun::rollback(
            &target(),
            Some("v2".into()),
            "v1".into(),
            Some("old".into()),
            0,
        );
        let taken = drive(&mut run, |action| match action {
            Action::Activate { version, rollback } => {
                assert_eq!((version.as_str(), *rollback), ("v1", true));
                Done::Ok
            }
            Action::Health { commit } => {
                assert_eq!(commit.as_deref(), Some("old"));
                healthy("old")
            }
            Action::Smoke => Done::Smoke {
                passed: true,
                detail: "ok".into(),
            },
            other => panic!("a rollback must not {other:?}"),
        });
        assert_eq!(taken.len(), 3);
        assert_eq!(run.record().outcome, Some(Outcome::Deployed));
        assert_eq!(run.record().previous_version_id.as_deref(), Some("v2"));
    }
}
