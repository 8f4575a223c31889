//! The `/health` report: what each probe found, and what that means for the whole.
//!
//! The shape is fixed by `schemas/health.schema.json`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Whether a failing binding makes the Worker unable to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Criticality {
    /// Failing makes the Worker `unhealthy` (HTTP 503).
    Critical,
    /// Failing makes the Worker `degraded` (HTTP 200) with a warning.
    Optional,
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeResult {
    pub(crate) name: &'static str,
    pub(crate) criticality: Criticality,
    pub(crate) latency_ms: u64,
    pub(crate) outcome: Result<(), String>,
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The body of a `/health` reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HealthReport {
    pub(crate) status: Status,
    pub(crate) version: &'static str,
    pub(crate) build: Build,
    pub(crate) bindings: BTreeMap<&'static str, BindingReport>,
    /// The backups' freshness, when backups are configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backups: Option<BackupsReport>,
    pub(crate) warnings: Vec<String>,
}

/// How fresh the backups are, from the cron's audit (`backups::audit::AuditStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BackupsReport {
    /// The newest export the audit has seen (ms since the epoch), if any.
    pub(crate) newest_export_ms: Option<u64>,
    /// Its age in seconds.
    pub(crate) newest_export_age_s: Option<u64>,
    /// The last restore drill, if any ran.
    pub(crate) last_drill: Option<DrillReport>,
    /// Users whose export is overdue, as last audited.
    pub(crate) overdue_users: u32,
    /// When the audit last ran (ms since the epoch), if ever.
    pub(crate) last_audit_ms: Option<u64>,
}

/// The last restore drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DrillReport {
    pub(crate) at_ms: u64,
    pub(crate) age_s: u64,
    pub(crate) users: u32,
    pub(crate) passed: u32,
}

impl BackupsReport {
    /// The report of `status` at `now_ms`.
    pub(crate) fn of(status: &backups::audit::AuditStatus, now_ms: u64) -> Self {
        let age = |ms: u64| now_ms.saturating_sub(ms) / 1_000;
        BackupsReport {
            newest_export_ms: status.newest_export_ms,
            newest_export_age_s: status.newest_export_ms.map(age),
            last_drill: status.last_drill.as_ref().map(|d| DrillReport {
                at_ms: d.at_ms,
                age_s: age(d.at_ms),
                users: d.users,
                passed: d.passed,
            }),
            overdue_users: u32::try_from(status.overdue.len()).unwrap_or(u32::MAX),
            last_audit_ms: status.last_run.as_ref().map(|r| r.at_ms),
        }
    }
}

/// Which build is serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Build {
    pub(crate) commit: &'static str,
    pub(crate) environment: &'static str,
}

/// One binding's line in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BindingReport {
    pub(crate) ok: bool,
    pub(crate) latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl HealthReport {
    /// Judges a set of probe results: any critical failure is `unhealthy`, any optional one
    /// `degraded` (with a warning naming it), otherwise `healthy`.
    pub(crate) fn assess(results: Vec<ProbeResult>, version: &'static str, build: Build) -> Self {
        let mut status = Status::Healthy;
        let mut warnings = Vec::new();
        let mut bindings = BTreeMap::new();
        for result in results {
            let error = result.outcome.err();
            if let Some(error) = &error {
                match result.criticality {
                    Criticality::Critical => status = Status::Unhealthy,
                    Criticality::Optional => {
                        if status == Status::Healthy {
                            status = Status::Degraded;
                        }
                        warnings.push(format!("{} is unavailable: {error}", result.name));
                    }
                }
            }
            let ok = error.is_none();
            bindings.insert(
                result.name,
                BindingReport {
                    ok,
                    latency_ms: result.latency_ms,
                    error,
                },
            );
        }
        HealthReport {
            status,
            version,
            build,
            bindings,
            backups: None,
            warnings,
        }
    }

    /// Adds the backups' freshness; each warning degrades a healthy report.
    pub(crate) fn with_backups(mut self, report: BackupsReport, warnings: Vec<String>) -> Self {
        if !warnings.is_empty() && self.status == Status::Healthy {
            self.status = Status::Degraded;
        }
        self.warnings.extend(warnings);
        self.backups = Some(report);
        self
    }

    /// 200 while the Worker can serve (healthy or degraded), 503 otherwise.
    pub(crate) fn http_status(&self) -> u16 {
        match self.status {
            Status::Healthy | Status::Degraded => 200,
            Status::Unhealthy => 503,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(name: &'static str, criticality: Criticality, ok: bool) -> ProbeResult {
        let outcome = if ok {
            Ok(())
        } else {
            Err("timed out after 1500 ms".to_owned())
        };
        ProbeResult {
            name,
            criticality,
            latency_ms: 2,
            outcome,
        }
    }

    fn assess(results: Vec<ProbeResult>) -> HealthReport {
        HealthReport::assess(
            results,
            "0.1.0",
            Build {
                commit: "abc",
                environment: "dev",
            },
        )
    }

    #[test]
    fn backup_warnings_degrade_a_healthy_report_but_never_heal_an_unhealthy_one() {
        let mut status = backups::audit::AuditStatus::default();
        status.record_run(
            &[backups::audit::Visit {
                user: "1001".into(),
                prefix: "users/1001/".into(),
                newest_manifest_ms: Some(1_000),
                overdue: false,
                drill: Some(Err("object users/1001/packs/x.pack is missing".into())),
                objects_only: false,
            }],
            true,
            5_000,
        );
        let backups = BackupsReport::of(&status, 65_000);
        assert_eq!(backups.newest_export_age_s, Some(64));
        assert_eq!(
            backups
                .last_drill
                .as_ref()
                .map(|d| (d.users, d.passed, d.age_s)),
            Some((1, 0, 60))
        );
        let warnings = status.warnings();
        let healthy = assess(vec![probe("STORAGE", Criticality::Critical, true)]);
        let report = healthy.with_backups(backups.clone(), warnings.clone());
        assert_eq!(report.status, Status::Degraded);
        assert!(report.warnings[0].contains("failed for 1 of 1 users"));
        let unhealthy = assess(vec![probe("STORAGE", Criticality::Critical, false)]);
        assert_eq!(
            unhealthy.with_backups(backups.clone(), warnings).status,
            Status::Unhealthy
        );
        let quiet = assess(vec![probe("STORAGE", Criticality::Critical, true)]);
        assert_eq!(
            quiet.with_backups(backups, Vec::new()).status,
            Status::Healthy
        );
    }

    #[test]
    fn all_ok_is_healthy() {
        let report = assess(vec![
            probe("STORAGE", Criticality::Critical, true),
            probe("ANALYTICS", Criticality::Optional, true),
        ]);
        assert_eq!(report.status, Status::Healthy);
        assert_eq!(report.http_status(), 200);
        assert!(report.warnings.is_empty());
    }

    #[test]
    fn optional_failure_degrades_with_a_warning() {
        let report = assess(vec![
            probe("STORAGE", Criticality::Critical, true),
            probe("ANALYTICS", Criticality::Optional, false),
        ]);
        assert_eq!(report.status, Status::Degraded);
        assert_eq!(report.http_status(), 200);
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].starts_with("ANALYTICS"));
        assert_eq!(
            report.bindings["ANALYTICS"].error.as_deref(),
            Some("timed out after 1500 ms")
        );
    }

    #[test]
    fn critical_failure_is_unhealthy_whatever_else_fails() {
        let report = assess(vec![
            probe("ANALYTICS", Criticality::Optional, false),
            probe("STORAGE", Criticality::Critical, false),
            probe("OAUTH_KV", Criticality::Critical, true),
        ]);
        assert_eq!(report.status, Status::Unhealthy);
        assert_eq!(report.http_status(), 503);
        assert!(!report.bindings["STORAGE"].ok);
        assert!(report.bindings["OAUTH_KV"].ok);
    }

    #[test]
    fn ok_bindings_serialize_without_an_error_field() {
        let report = assess(vec![probe("STORAGE", Criticality::Critical, true)]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json["bindings"]["STORAGE"],
            serde_json::json!({"ok": true, "latency_ms": 2})
        );
        assert_eq!(json["status"], "healthy");
        assert_eq!(json["build"]["environment"], "dev");
    }
}
