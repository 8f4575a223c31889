//! `second-brain drift`: what is deployed, compared with what `wrangler.toml` and the
//! repository say should be. Pure: [`Script::from_config`] reads the configuration,
//! [`Deployed::from_api`] reads the API's answers (the serving version, its bindings and
//! runtime, the secrets' names, the cron schedules), and [`compare`] lists every difference.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// One binding, as comparable text: `KIND:detail` (`kv_namespace:<id>`, `r2_bucket:<name>`,
/// `durable_object_namespace:<class>`, `analytics_engine:<dataset>`, `plain_text:<value>`,
/// `secret_text`).
pub type Binding = String;

/// What a script runs with: as the configuration and the repository say it should
/// ([`Script::from_config`]), or as it is deployed ([`Deployed::from_api`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// Binding name -> binding (vars included, as `plain_text`; secrets excluded: they are
    /// compared by name).
    pub bindings: BTreeMap<String, Binding>,
    /// Cron schedules.
    pub crons: Vec<String>,
    /// The compatibility date.
    pub compatibility_date: String,
    /// The compatibility flags.
    pub compatibility_flags: Vec<String>,
    /// Secrets' names: those that must exist, or those that do.
    pub secrets: Vec<String>,
    /// The commit that should serve (`None`: do not compare), or the one the serving version
    /// was tagged with.
    pub commit: Option<String>,
}

/// What is deployed: the serving version and what it runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployed {
    /// The serving version.
    pub version: String,
    /// What it runs with.
    pub script: Script,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What differs: `binding NAME`, `crons`, `compatibility_date`, `compatibility_flags`,
    /// `secret NAME`, `commit`.
    pub what: String,
    /// What the configuration says (`None`: nothing).
    pub expected: Option<String>,
    /// What is deployed (`None`: nothing).
    pub deployed: Option<String>,
}

/// Why a configuration or an answer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriftError {
    /// The configuration lacks the environment or has a malformed part.
    #[error("wrangler.toml: {0}")]
    Config(String),
    /// The API's answer lacks something.
    #[error("the API's answer: {0}")]
    Answer(String),
}

fn text(value: &toml::Value) -> Option<&str> {
    value.as_str()
}

impl Script {
    /// What `config` says for `env`, with `secrets` required and `commit` expected to serve.
    pub fn from_config(
        config: &toml::Table,
        env: &str,
        secrets: &[&str],
        commit: Option<String>,
    ) -> Result<Script, DriftError> {
        let section = config
            .get("env")
            .and_then(|e| e.get(env))
            .and_then(toml::Value::as_table)
            .ok_or_else(|| DriftError::Config(format!("no [env.{env}]")))?;
        // Top-level keys are inherited unless the environment sets them (wrangler's rule
        // for compatibility settings).
        let get = |key: &str| section.get(key).or_else(|| config.get(key));
        let mut bindings = BTreeMap::new();
        let list = |key: &str| -> Vec<toml::Value> {
            section
                .get(key)
                .and_then(toml::Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let field = |item: &toml::Value, key: &str| -> Result<String, DriftError> {
            item.get(key)
                .and_then(text)
                .map(str::to_owned)
                .ok_or_else(|| DriftError::Config(format!("a binding without {key}")))
        };
        for kv in list("kv_namespaces") {
            bindings.insert(
                field(&kv, "binding")?,
                format!("kv_namespace:{}", field(&kv, "id")?),
            );
        }
        for r2 in list("r2_buckets") {
            bindings.insert(
                field(&r2, "binding")?,
                format!("r2_bucket:{}", field(&r2, "bucket_name")?),
            );
        }
        for ae in list("analytics_engine_datasets") {
            bindings.insert(
                field(&ae, "binding")?,
                format!("analytics_engine:{}", field(&ae, "dataset")?),
            );
        }
        let durable = section
            .get("durable_objects")
            .and_then(|d| d.get("bindings"))
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default();
        for object in durable {
            bindings.insert(
                field(&object, "name")?,
                format!("durable_object_namespace:{}", field(&object, "class_name")?),
            );
        }
        if let Some(vars) = section.get("vars").and_then(toml::Value::as_table) {
            for (name, value) in vars {
                let value = match value {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                bindings.insert(name.clone(), format!("plain_text:{value}"));
            }
        }
        let crons = section
            .get("triggers")
            .and_then(|t| t.get("crons"))
            .and_then(toml::Value::as_array)
            .map(|crons| crons.iter().filter_map(text).map(str::to_owned).collect())
            .unwrap_or_default();
        let compatibility_flags = get("compatibility_flags")
            .and_then(toml::Value::as_array)
            .map(|flags| flags.iter().filter_map(text).map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(Script {
            bindings,
            crons,
            compatibility_date: get("compatibility_date")
                .and_then(text)
                .unwrap_or_default()
                .to_owned(),
            compatibility_flags,
            secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            commit,
        })
    }
}

impl Deployed {
    /// What the API says: the serving `version` (as `GET .../versions/{id}` answers it), the
    /// secrets' names and the schedules.
    pub fn from_api(
        version: &Value,
        secrets: Vec<String>,
        crons: Vec<String>,
    ) -> Result<Deployed, DriftError> {
        let id = version["id"]
            .as_str()
            .ok_or_else(|| DriftError::Answer("a version without an id".into()))?;
        let mut bindings = BTreeMap::new();
        for binding in version["resources"]["bindings"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = binding["name"].as_str().unwrap_or_default().to_owned();
            let kind = binding["type"].as_str().unwrap_or_default();
            let detail = match kind {
                "kv_namespace" => binding["namespace_id"].as_str(),
                "r2_bucket" => binding["bucket_name"].as_str(),
                "durable_object_namespace" => binding["class_name"].as_str(),
                "analytics_engine" => binding["dataset"].as_str(),
                "plain_text" => binding["text"].as_str(),
                // Secrets are compared by name, from the secrets list.
                "secret_text" | "secret_key" => continue,
                _ => None,
            };
            bindings.insert(name, format!("{kind}:{}", detail.unwrap_or("?")));
        }
        let runtime = &version["resources"]["script_runtime"];
        let script = Script {
            bindings,
            crons,
            compatibility_date: runtime["compatibility_date"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            compatibility_flags: runtime["compatibility_flags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            secrets,
            commit: version["annotations"]["workers/tag"]
                .as_str()
                .map(str::to_owned),
        };
        Ok(Deployed {
            version: id.to_owned(),
            script,
        })
    }
}

/// Every difference between `expected` and `deployed`, in a stable order.
pub fn compare(expected: &Script, deployed: &Script) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut differ = |what: String, e: Option<String>, d: Option<String>| {
        if e != d {
            out.push(Difference {
                what,
                expected: e,
                deployed: d,
            });
        }
    };
    let names: std::collections::BTreeSet<&String> = expected
        .bindings
        .keys()
        .chain(deployed.bindings.keys())
        .collect();
    for name in names {
        differ(
            format!("binding {name}"),
            expected.bindings.get(name).cloned(),
            deployed.bindings.get(name).cloned(),
        );
    }
    let sorted = |list: &[String]| {
        let mut list = list.to_vec();
        list.sort();
        list.join(", ")
    };
    differ(
        "crons".into(),
        Some(sorted(&expected.crons)),
        Some(sorted(&deployed.crons)),
    );
    differ(
        "compatibility_date".into(),
        Some(expected.compatibility_date.clone()),
        Some(deployed.compatibility_date.clone()),
    );
    differ(
        "compatibility_flags".into(),
        Some(sorted(&expected.compatibility_flags)),
        Some(sorted(&deployed.compatibility_flags)),
    );
    for secret in &expected.secrets {
        if !deployed.secrets.contains(secret) {
            differ(format!("secret {secret}"), Some("set".into()), None);
        }
    }
    if let Some(commit) = &expected.commit {
        differ(
            "commit".into(),
            Some(commit.clone()),
            deployed.commit.clone(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONFIG: &str = r#"
name = "second-brain-mcp"
compatibility_date = "2026-11-01"

[env.dev]
name = "second-brain-mcp-dev"
triggers = { crons = ["17 * * * *"] }
vars = { ENVIRONMENT = "dev", GITHUB_ALLOWED_USER_ID = "" }
r2_buckets = [{ binding = "STORAGE", bucket_name = "second-brain-dev" }]
kv_namespaces = [{ binding = "OAUTH_KV", id = "kv1" }]
durable_objects = { bindings = [{ name = "MCP_SESSION", class_name = "MCPSessionDurableObject" }] }
analytics_engine_datasets = [{ binding = "ANALYTICS", dataset = "second_brain_dev" }]
"#;

    fn expected() -> Script {
        let config: toml::Table = toml::from_str(CONFIG).unwrap();
        Script::from_config(
            &config,
            "dev",
            &["GITHUB_CLIENT_ID", "COOKIE_ENCRYPTION_KEY"],
            Some("abc".into()),
        )
        .unwrap()
    }

    /// The version as the API answers it when it matches [`CONFIG`].
    fn version() -> Value {
        json!({
            "id": "v1",
            "annotations": {"workers/tag": "abc"},
            "resources": {
                "script_runtime": {"compatibility_date": "2026-11-01", "compatibility_flags": []},
                "bindings": [
                    {"name": "ENVIRONMENT", "type": "plain_text", "text": "dev"},
                    {"name": "GITHUB_ALLOWED_USER_ID", "type": "plain_text", "text": ""},
                    {"name": "OAUTH_KV", "type": "kv_namespace", "namespace_id": "kv1"},
                    {"name": "MCP_SESSION", "type": "durable_object_namespace",
                     "class_name": "MCPSessionDurableObject"},
                    {"name": "STORAGE", "type": "r2_bucket", "bucket_name": "second-brain-dev"},
                    {"name": "ANALYTICS", "type": "analytics_engine", "dataset": "second_brain_dev"},
                    {"name": "GITHUB_CLIENT_ID", "type": "secret_text"},
                ],
            },
        })
    }

    fn deployed(version: &Value) -> Script {
        Deployed::from_api(
            version,
            vec!["GITHUB_CLIENT_ID".into(), "COOKIE_ENCRYPTION_KEY".into()],
            vec!["17 * * * *".into()],
        )
        .unwrap()
        .script
    }

    #[test]
    fn a_deployment_that_matches_has_no_drift() {
        assert_eq!(compare(&expected(), &deployed(&version())), vec![]);
    }

    #[test]
    fn every_kind_of_drift_is_named() {
        let mut changed = version();
        let bindings = changed["resources"]["bindings"].as_array_mut().unwrap();
        bindings[0]["text"] = json!("production");
        bindings.retain(|b| b["name"] != "ANALYTICS");
        bindings.push(json!({"name": "EXTRA", "type": "plain_text", "text": "1"}));
        changed["resources"]["script_runtime"]["compatibility_date"] = json!("2025-01-01");
        changed["annotations"]["workers/tag"] = json!("old");
        let mut deployed = Deployed::from_api(
            &changed,
            vec!["GITHUB_CLIENT_ID".into()],
            vec!["0 * * * *".into()],
        )
        .unwrap()
        .script;
        deployed.compatibility_flags = vec!["nodejs_compat".into()];
        let what: Vec<String> = compare(&expected(), &deployed)
            .into_iter()
            .map(|d| d.what)
            .collect();
        assert_eq!(
            what,
            [
                "binding ANALYTICS",
                "binding ENVIRONMENT",
                "binding EXTRA",
                "crons",
                "compatibility_date",
                "compatibility_flags",
                "secret COOKIE_ENCRYPTION_KEY",
                "commit"
            ]
        );
        let env = compare(&expected(), &deployed)
            .into_iter()
            .find(|d| d.what == "binding ENVIRONMENT")
            .unwrap();
        assert_eq!(env.expected.as_deref(), Some("plain_text:dev"));
        assert_eq!(env.deployed.as_deref(), Some("plain_text:production"));
    }

    #[test]
    fn the_committed_configuration_reads_for_both_environments() {
        let config: toml::Table = toml::from_str(include_str!("../../wrangler.toml")).unwrap();
        for env in ["dev", "production"] {
            let expected = Script::from_config(&config, env, &[], None).unwrap();
            for name in [
                "STORAGE",
                "OAUTH_KV",
                "RATE_LIMIT_KV",
                "MCP_SESSION",
                "ANALYTICS",
            ] {
                assert!(expected.bindings.contains_key(name), "{env}: {name}");
            }
            assert!(!expected.compatibility_date.is_empty());
            assert_eq!(expected.crons.len(), 1);
        }
        let missing = Script::from_config(&config, "staging", &[], None).unwrap_err();
        assert!(missing.to_string().contains("staging"));
    }
}
