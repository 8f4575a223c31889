//! `second-brain report`: the monitoring queries of `docs/monitoring.md` as SQL for the
//! Analytics Engine SQL API, their answers (`FORMAT JSON`) read into rows, and the rows
//! judged against the alert thresholds. Pure; the command sends the queries.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool's p95 above this is an alert.
pub const TOOL_P95_ALERT_MS: f64 = 500.0;
/// A 5xx rate above this is an alert.
pub const SERVER_ERROR_ALERT_RATE: f64 = 0.01;

/// Why a window or an answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// `--since` is not like `24h`, `90m` or `7d`.
    #[error("--since {0:?}: expected a number and m, h or d (at most 90 days), like 24h")]
    Since(String),
    /// The dataset name is not a plain identifier.
    #[error("dataset {0:?}: expected letters, digits and underscores")]
    Dataset(String),
    /// The answer is not the SQL API's JSON.
    #[error("the SQL API answered something unexpected: {0}")]
    Answer(String),
}

/// A window like `24h`, as an SQL interval (`'24' HOUR`).
pub fn interval(since: &str) -> Result<String, ReportError> {
    let bad = || ReportError::Since(since.to_owned());
    let (number, unit) = since.split_at(since.len().saturating_sub(1));
    let number: u32 = number.parse().map_err(|_| bad())?;
    let (unit, max) = match unit {
        "m" => ("MINUTE", 90 * 24 * 60),
        "h" => ("HOUR", 90 * 24),
        "d" => ("DAY", 90),
        _ => return Err(bad()),
    };
    if number == 0 || number > max {
        return Err(bad());
    }
    Ok(format!("'{number}' {unit}"))
}

fn check_dataset(dataset: &str) -> Result<(), ReportError> {
    let plain = !dataset.is_empty()
        && dataset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if plain {
        Ok(())
    } else {
        Err(ReportError::Dataset(dataset.to_owned()))
    }
}

/// The per-tool query over the window.
pub fn tools_query(dataset: &str, since: &str) -> Result<String, ReportError> {
    check_dataset(dataset)?;
    let interval = interval(since)?;
    Ok(format!(
        "SELECT blob3 AS tool, sum(_sample_interval) AS calls, \
         quantileExactWeighted(0.5)(double1, _sample_interval) AS p50_ms, \
         quantileExactWeighted(0.95)(double1, _sample_interval) AS p95_ms, \
         sumIf(_sample_interval, blob4 = 'failed') / sum(_sample_interval) AS failed_rate, \
         sumIf(_sample_interval, blob4 = 'refused') / sum(_sample_interval) AS refused_rate \
         FROM {dataset} WHERE index1 = 'tool_call' AND timestamp > NOW() - INTERVAL {interval} \
         GROUP BY tool ORDER BY calls DESC FORMAT JSON"
    ))
}

/// The per-route query over the window.
pub fn routes_query(dataset: &str, since: &str) -> Result<String, ReportError> {
    check_dataset(dataset)?;
    let interval = interval(since)?;
    Ok(format!(
        "SELECT blob3 AS route, sum(_sample_interval) AS requests, \
         sumIf(_sample_interval, blob4 = 'server_error') / sum(_sample_interval) AS server_error_rate, \
         sumIf(_sample_interval, blob4 = 'rate_limited') AS rate_limited \
         FROM {dataset} WHERE index1 = 'request' AND timestamp > NOW() - INTERVAL {interval} \
         GROUP BY route ORDER BY requests DESC FORMAT JSON"
    ))
}

/// The backups query over the window.
pub fn backups_query(dataset: &str, since: &str) -> Result<String, ReportError> {
    check_dataset(dataset)?;
    let interval = interval(since)?;
    Ok(format!(
        "SELECT blob1 AS kind, blob4 AS outcome, sum(_sample_interval) AS runs, \
         max(timestamp) AS newest, count(DISTINCT blob5) AS users \
         FROM {dataset} WHERE index1 IN ('backup_export', 'backup_drill') \
         AND timestamp > NOW() - INTERVAL {interval} GROUP BY kind, outcome FORMAT JSON"
    ))
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<serde_json::Map<String, Value>>,
}

/// The SQL API answers numbers as numbers or as strings (64-bit integers); both read here.
fn number(row: &serde_json::Map<String, Value>, key: &str) -> f64 {
    match row.get(key) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn text(row: &serde_json::Map<String, Value>, key: &str) -> String {
    match row.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn rows(body: &[u8]) -> Result<Vec<serde_json::Map<String, Value>>, ReportError> {
    serde_json::from_slice::<Answer>(body)
        .map(|a| a.data)
        .map_err(|e| {
            let start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            ReportError::Answer(format!("{e}: {start}"))
        })
}

/// One tool's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolRow {
    /// The tool.
    pub tool: String,
    /// Calls (sampling weighted).
    pub calls: f64,
    /// Median duration.
    pub p50_ms: f64,
    /// 95th percentile duration.
    pub p95_ms: f64,
    /// Share of calls that failed (protocol errors).
    pub failed_rate: f64,
    /// Share of calls refused (tool errors).
    pub refused_rate: f64,
}

/// One route's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRow {
    /// The route's name.
    pub route: String,
    /// Requests.
    pub requests: f64,
    /// Share of 5xx.
    pub server_error_rate: f64,
    /// Requests refused by a rate limit.
    pub rate_limited: f64,
}

/// One backup kind and outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupRow {
    /// `backup_export` or `backup_drill`.
    pub kind: String,
    /// The outcome.
    pub outcome: String,
    /// Runs.
    pub runs: f64,
    /// The newest run's time.
    pub newest: String,
    /// Distinct users.
    pub users: f64,
}

/// The tools answer.
pub fn tool_rows(body: &[u8]) -> Result<Vec<ToolRow>, ReportError> {
    Ok(rows(body)?
        .iter()
        .map(|r| ToolRow {
            tool: text(r, "tool"),
            calls: number(r, "calls"),
            p50_ms: number(r, "p50_ms"),
            p95_ms: number(r, "p95_ms"),
            failed_rate: number(r, "failed_rate"),
            refused_rate: number(r, "refused_rate"),
        })
        .collect())
}

/// The routes answer.
pub fn route_rows(body: &[u8]) -> Result<Vec<RouteRow>, ReportError> {
    Ok(rows(body)?
        .iter()
        .map(|r| RouteRow {
            route: text(r, "route"),
            requests: number(r, "requests"),
            server_error_rate: number(r, "server_error_rate"),
            rate_limited: number(r, "rate_limited"),
        })
        .collect())
}

/// The backups answer.
pub fn backup_rows(body: &[u8]) -> Result<Vec<BackupRow>, ReportError> {
    Ok(rows(body)?
        .iter()
        .map(|r| BackupRow {
            kind: text(r, "kind"),
            outcome: text(r, "outcome"),
            runs: number(r, "runs"),
            newest: text(r, "newest"),
            users: number(r, "users"),
        })
        .collect())
}

/// The alerts the figures raise (`docs/monitoring.md`).
pub fn alerts(tools: &[ToolRow], routes: &[RouteRow], backups: &[BackupRow]) -> Vec<String> {
    let mut alerts = Vec::new();
    for tool in tools {
        if tool.p95_ms > TOOL_P95_ALERT_MS {
            alerts.push(format!(
                "tool {} p95 {:.0} ms is over {TOOL_P95_ALERT_MS:.0} ms",
                tool.tool, tool.p95_ms
            ));
        }
    }
    let (requests, errors) = routes.iter().fold((0.0, 0.0), |(n, e), r| {
        (n + r.requests, e + r.requests * r.server_error_rate)
    });
    if requests > 0.0 && errors / requests > SERVER_ERROR_ALERT_RATE {
        alerts.push(format!(
            "5xx rate {:.2}% is over {:.0}%",
            100.0 * errors / requests,
            100.0 * SERVER_ERROR_ALERT_RATE
        ));
    }
    for backup in backups {
        if backup.kind == "backup_drill" && backup.outcome == "failed" && backup.runs > 0.0 {
            alerts.push(format!("{} drill(s) failed", backup.runs));
        }
    }
    alerts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_become_intervals_and_nonsense_is_refused() {
        assert_eq!(interval("24h").unwrap(), "'24' HOUR");
        assert_eq!(interval("90m").unwrap(), "'90' MINUTE");
        assert_eq!(interval("7d").unwrap(), "'7' DAY");
        for bad in ["", "h", "0h", "24", "1w", "91d", "-1h", "1h; DROP"] {
            assert!(interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queries_name_the_dataset_and_window_and_nothing_else_gets_in() {
        let q = tools_query("second_brain", "24h").unwrap();
        assert!(q.contains("FROM second_brain WHERE index1 = 'tool_call'"));
        assert!(q.contains("INTERVAL '24' HOUR"));
        assert!(q.ends_with("FORMAT JSON"));
        assert!(routes_query("second_brain; DROP", "1h").is_err());
        assert!(
            backups_query("second_brain_dev", "2d")
                .unwrap()
                .contains("backup_drill")
        );
    }

    #[test]
    fn answers_are_read_with_numbers_as_numbers_or_strings() {
        let body = br#"{"meta":[{"name":"tool","type":"String"}],"data":[
            {"tool":"read","calls":"120","p50_ms":4.5,"p95_ms":620,"failed_rate":0,"refused_rate":0.05},
            {"tool":"write","calls":10,"p50_ms":9,"p95_ms":30,"failed_rate":0.0,"refused_rate":0}
        ],"rows":2}"#;
        let tools = tool_rows(body).unwrap();
        assert_eq!(tools[0].tool, "read");
        assert_eq!(tools[0].calls, 120.0);
        assert_eq!(tools[0].p95_ms, 620.0);
        let routes = route_rows(
            br#"{"data":[{"route":"/mcp","requests":1000,"server_error_rate":0.02,"rate_limited":"3"}]}"#,
        )
        .unwrap();
        let backups = backup_rows(
            br#"{"data":[{"kind":"backup_drill","outcome":"failed","runs":1,"newest":"2026-12-06 10:17:00","users":1}]}"#,
        )
        .unwrap();
        let alerts = alerts(&tools, &routes, &backups);
        assert_eq!(alerts.len(), 3, "{alerts:?}");
        assert!(alerts[0].contains("read p95 620"));
        assert!(alerts[1].contains("5xx rate 2.00%"));
        assert!(alerts[2].contains("drill"));
        assert!(matches!(tool_rows(b"<html>"), Err(ReportError::Answer(_))));
    }

    #[test]
    fn quiet_figures_raise_no_alert() {
        let tools = vec![ToolRow {
            tool: "read".into(),
            calls: 10.0,
            p50_ms: 3.0,
            p95_ms: 40.0,
            failed_rate: 0.0,
            refused_rate: 0.0,
        }];
        let routes = vec![RouteRow {
            route: "/mcp".into(),
            requests: 1000.0,
            server_error_rate: 0.005,
            rate_limited: 0.0,
        }];
        assert!(alerts(&tools, &routes, &[]).is_empty());
    }
}
