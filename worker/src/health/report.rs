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
    pub(crate) warnings: Vec<String>,
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
            warnings,
        }
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
