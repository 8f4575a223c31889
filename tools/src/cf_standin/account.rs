//! The account's state: scripts, their versions, deployments, secrets and schedules, with the
//! operations the API routes perform on them. No I/O here: times and ids come in as arguments,
//! and what should be served after an operation comes out as a [`Served`] value.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::error::ApiError;

/// One uploaded module of a version, as it came in the multipart body.
#[derive(Debug, Clone)]
pub(crate) struct Module {
    /// The part's name: the module's path as the Worker imports it (`shim.js`, `abc-index.wasm`).
    pub(crate) name: String,
    /// The part's content type (`application/javascript+module`, `application/wasm`...).
    pub(crate) content_type: String,
    /// The bytes.
    pub(crate) bytes: Vec<u8>,
}

/// A version: what was uploaded, frozen.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(crate) id: String,
    pub(crate) number: u64,
    pub(crate) created_on: String,
    /// `workers/message`, `workers/tag`, `workers/triggered_by`.
    pub(crate) annotations: Map<String, Value>,
    /// The upload's `main_module`.
    pub(crate) main_module: String,
    pub(crate) compatibility_date: String,
    pub(crate) compatibility_flags: Vec<Value>,
    /// Bindings as uploaded, secrets left out (they are in `secrets`).
    pub(crate) bindings: Vec<Value>,
    /// Secret values bound to this version (inherited from the script when it was made).
    pub(crate) secrets: BTreeMap<String, String>,
    pub(crate) modules: Vec<Module>,
}

impl Version {
    /// The bindings the API reports: uploaded ones, then one `secret_text` per secret (no text).
    pub(crate) fn reported_bindings(&self) -> Vec<Value> {
        let mut bindings = self.bindings.clone();
        bindings.extend(
            self.secrets
                .keys()
                .map(|name| json!({"name": name, "type": "secret_text"})),
        );
        bindings
    }

    /// The version as `GET .../versions/{id}` answers it.
    pub(crate) fn to_json(&self, script: &str) -> Value {
        json!({
            "id": self.id,
            "number": self.number,
            "metadata": {
                "created_on": self.created_on,
                "modified_on": self.created_on,
                "source": "wrangler",
                "author_id": "standin",
                "author_email": "standin@example.invalid",
                "has_preview": false,
            },
            "annotations": self.annotations,
            "resources": {
                "script": {
                    "etag": format!("{script}-{}", self.number),
                    "handlers": ["fetch", "scheduled"],
                    "last_deployed_from": "wrangler",
                },
                "script_runtime": {
                    "compatibility_date": self.compatibility_date,
                    "compatibility_flags": self.compatibility_flags,
                    "usage_model": "standard",
                },
                "bindings": self.reported_bindings(),
            },
        })
    }
}

/// A deployment: which versions serve, in what shares.
#[derive(Debug, Clone)]
pub(crate) struct Deployment {
    pub(crate) id: String,
    pub(crate) created_on: String,
    pub(crate) annotations: Map<String, Value>,
    /// `(version id, percentage)`.
    pub(crate) versions: Vec<(String, f64)>,
}

impl Deployment {
    pub(crate) fn to_json(&self) -> Value {
        let versions: Vec<Value> = self
            .versions
            .iter()
            .map(|(id, percentage)| json!({"version_id": id, "percentage": percentage}))
            .collect();
        json!({
            "id": self.id,
            "source": "api",
            "strategy": "percentage",
            "author_email": "standin@example.invalid",
            "created_on": self.created_on,
            "annotations": self.annotations,
            "versions": versions,
        })
    }

    /// The version taking the largest share (the one the stand-in serves).
    pub(crate) fn main_version(&self) -> Option<&str> {
        self.versions
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(id, _)| id.as_str())
    }
}

/// One Worker script.
#[derive(Debug, Clone, Default)]
pub(crate) struct Script {
    pub(crate) created_on: String,
    pub(crate) modified_on: String,
    /// Oldest first.
    pub(crate) versions: Vec<Version>,
    /// Oldest first; the last one is current.
    pub(crate) deployments: Vec<Deployment>,
    /// The secrets the next version gets (those of the latest version, plus edits).
    pub(crate) secrets: BTreeMap<String, String>,
    pub(crate) schedules: Vec<Value>,
    /// The last migration tag applied, from uploads' `migrations.new_tag`.
    pub(crate) migration_tag: Option<String>,
    /// `PATCH .../script-settings` bodies, merged.
    pub(crate) script_settings: Map<String, Value>,
    pub(crate) subdomain_enabled: bool,
}

impl Script {
    fn new(now: &str, migration_tag: Option<&str>) -> Script {
        Script {
            created_on: now.to_owned(),
            modified_on: now.to_owned(),
            migration_tag: migration_tag.map(str::to_owned),
            subdomain_enabled: true,
            ..Script::default()
        }
    }

    pub(crate) fn version(&self, id: &str) -> Result<&Version, ApiError> {
        self.versions
            .iter()
            .find(|version| version.id == id)
            .ok_or_else(|| ApiError::VersionNotFound(id.to_owned()))
    }

    /// The version the current deployment serves.
    pub(crate) fn deployed_version(&self) -> Option<&Version> {
        let id = self.deployments.last()?.main_version()?;
        self.version(id).ok()
    }

    /// `GET /workers/services/{script}`.
    pub(crate) fn service_json(&self, name: &str) -> Value {
        json!({
            "id": name,
            "created_on": self.created_on,
            "modified_on": self.modified_on,
            "default_environment": {
                "environment": "production",
                "created_on": self.created_on,
                "modified_on": self.modified_on,
                "script": {
                    "id": name,
                    "tag": format!("{name}-tag"),
                    "etag": format!("{name}-{}", self.versions.len()),
                    "handlers": ["fetch", "scheduled"],
                    "created_on": self.created_on,
                    "modified_on": self.modified_on,
                    "migration_tag": self.migration_tag,
                    "usage_model": "standard",
                    "last_deployed_from": "wrangler",
                },
            },
        })
    }

    /// `GET /workers/workers/{script}` (the newer Workers API; wrangler reads `subdomain`).
    pub(crate) fn worker_json(&self, name: &str) -> Value {
        json!({
            "id": name,
            "name": name,
            "created_on": self.created_on,
            "updated_on": self.modified_on,
            "logpush": false,
            "tags": [],
            "subdomain": {"enabled": self.subdomain_enabled, "previews_enabled": false},
            "observability": {"enabled": false},
            "tail_consumers": [],
        })
    }

    /// `GET .../settings`: the deployed version's bindings and runtime settings.
    pub(crate) fn settings_json(&self) -> Value {
        let deployed = self.deployed_version();
        let mut settings = json!({
            "bindings": deployed.map(Version::reported_bindings).unwrap_or_default(),
            "compatibility_date": deployed.map(|v| v.compatibility_date.clone()),
            "compatibility_flags": deployed.map(|v| v.compatibility_flags.clone()).unwrap_or_default(),
            "placement": {},
            "tags": [],
            "tail_consumers": [],
            "logpush": false,
            "usage_model": "standard",
        });
        if let Value::Object(object) = &mut settings {
            for (key, value) in &self.script_settings {
                object.insert(key.clone(), value.clone());
            }
        }
        settings
    }
}

/// What an operation asks the serving side to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Served {
    /// Nothing changed in what is served.
    Unchanged,
    /// Serve this version of this script from now on.
    Switch { script: String, version_id: String },
}

/// A version upload, parsed from its multipart body.
#[derive(Debug)]
pub(crate) struct Upload {
    pub(crate) metadata: Value,
    pub(crate) modules: Vec<Module>,
}

/// The Analytics Engine SQL API's side: the answer every query gets (set by tests) and the
/// queries received. The stand-in runs no SQL.
#[derive(Debug)]
pub(crate) struct AnalyticsSql {
    pub(crate) answer: Value,
    pub(crate) queries: Vec<String>,
}

impl Default for AnalyticsSql {
    fn default() -> Self {
        AnalyticsSql {
            answer: json!({"meta": [], "data": [], "rows": 0, "rows_before_limit_at_least": 0}),
            queries: Vec::new(),
        }
    }
}

/// The whole account.
#[derive(Debug, Default)]
pub(crate) struct Account {
    scripts: BTreeMap<String, Script>,
    pub(crate) analytics: AnalyticsSql,
}

impl Account {
    /// An account holding these scripts, without versions, their Durable Object migrations
    /// applied up to `migration_tag` (as a first `wrangler deploy` leaves them).
    pub(crate) fn new(scripts: &[String], migration_tag: Option<&str>, now: &str) -> Account {
        Account {
            scripts: scripts
                .iter()
                .map(|name| (name.clone(), Script::new(now, migration_tag)))
                .collect(),
            analytics: AnalyticsSql::default(),
        }
    }

    pub(crate) fn script(&self, name: &str) -> Result<&Script, ApiError> {
        self.scripts
            .get(name)
            .ok_or_else(|| ApiError::ScriptNotFound(name.to_owned()))
    }

    fn script_mut(&mut self, name: &str) -> Result<&mut Script, ApiError> {
        self.scripts
            .get_mut(name)
            .ok_or_else(|| ApiError::ScriptNotFound(name.to_owned()))
    }

    /// Creates a version from an upload. It inherits the script's secrets.
    pub(crate) fn upload(
        &mut self,
        name: &str,
        upload: Upload,
        id: String,
        now: &str,
    ) -> Result<&Version, ApiError> {
        let script = self.script_mut(name)?;
        let metadata = upload
            .metadata
            .as_object()
            .ok_or_else(|| ApiError::BadRequest("metadata is not a JSON object".to_owned()))?;
        let main_module = metadata
            .get("main_module")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::BadRequest("metadata has no main_module".to_owned()))?
            .to_owned();
        if !upload
            .modules
            .iter()
            .any(|module| module.name == main_module)
        {
            return Err(ApiError::BadRequest(format!(
                "no module named {main_module:?} was uploaded"
            )));
        }
        apply_migrations(script, metadata.get("migrations"));
        let previous_bindings: Vec<Value> = script
            .versions
            .last()
            .map(|v| v.bindings.clone())
            .unwrap_or_default();
        let mut bindings = Vec::new();
        for binding in metadata
            .get("bindings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = binding.get("type").and_then(Value::as_str).unwrap_or("");
            let binding_name = binding.get("name").and_then(Value::as_str).unwrap_or("");
            match kind {
                // Secrets live in `secrets`, never among the stored bindings.
                "secret_text" => {
                    if let Some(text) = binding.get("text").and_then(Value::as_str) {
                        script
                            .secrets
                            .insert(binding_name.to_owned(), text.to_owned());
                    }
                }
                "inherit" => {
                    if let Some(old) = previous_bindings
                        .iter()
                        .find(|b| b.get("name").and_then(Value::as_str) == Some(binding_name))
                    {
                        bindings.push(old.clone());
                    }
                }
                _ => bindings.push(binding.clone()),
            }
        }
        let mut annotations = metadata
            .get("annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        annotations
            .entry("workers/triggered_by")
            .or_insert_with(|| json!("upload"));
        let version = Version {
            id,
            number: script.versions.len() as u64 + 1,
            created_on: now.to_owned(),
            annotations,
            main_module,
            compatibility_date: metadata
                .get("compatibility_date")
                .and_then(Value::as_str)
                .unwrap_or("2021-11-02")
                .to_owned(),
            compatibility_flags: metadata
                .get("compatibility_flags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            bindings,
            secrets: script.secrets.clone(),
            modules: upload.modules,
        };
        script.modified_on = now.to_owned();
        script.versions.push(version);
        Ok(script.versions.last().expect("just pushed"))
    }

    /// Records a deployment (`versions`: id and percentage, summing to 100).
    pub(crate) fn deploy(
        &mut self,
        name: &str,
        versions: Vec<(String, f64)>,
        annotations: Map<String, Value>,
        id: String,
        now: &str,
    ) -> Result<(&Deployment, Served), ApiError> {
        let script = self.script_mut(name)?;
        if versions.is_empty() {
            return Err(ApiError::BadRequest(
                "a deployment names no version".to_owned(),
            ));
        }
        for (version_id, percentage) in &versions {
            script.version(version_id)?;
            if !(0.0..=100.0).contains(percentage) {
                return Err(ApiError::BadRequest(format!(
                    "percentage {percentage} is outside 0..=100"
                )));
            }
        }
        let total: f64 = versions.iter().map(|(_, p)| p).sum();
        if (total - 100.0).abs() > 0.001 {
            return Err(ApiError::BadRequest(format!(
                "the percentages add up to {total}, not 100"
            )));
        }
        let before = script.deployed_version().map(|v| v.id.clone());
        script.deployments.push(Deployment {
            id,
            created_on: now.to_owned(),
            annotations,
            versions,
        });
        script.modified_on = now.to_owned();
        let deployment = script.deployments.last().expect("just pushed");
        let after = deployment.main_version().map(str::to_owned);
        let served = match after {
            Some(version_id) if before.as_deref() != Some(version_id.as_str()) => Served::Switch {
                script: name.to_owned(),
                version_id,
            },
            // The same version again: its secrets or anything else served did not change.
            _ => Served::Unchanged,
        };
        Ok((deployment, served))
    }

    /// Sets (`Some`) or deletes (`None`) a secret. Without versions the script just keeps it for
    /// its first one; otherwise, like the real API, a copy of the deployed version with the new
    /// secrets becomes a version and is deployed at once, which needs the latest version to be
    /// the deployed one.
    pub(crate) fn edit_secret(
        &mut self,
        name: &str,
        secret: &str,
        value: Option<String>,
        ids: (String, String),
        now: &str,
    ) -> Result<Served, ApiError> {
        let script = self.script_mut(name)?;
        if value.is_none() && !script.secrets.contains_key(secret) {
            return Err(ApiError::SecretNotFound(secret.to_owned()));
        }
        let latest = match script.versions.last() {
            None => {
                apply_secret(&mut script.secrets, secret, value);
                return Ok(Served::Unchanged);
            }
            Some(latest) => latest.clone(),
        };
        if script.deployed_version().map(|v| v.id.as_str()) != Some(latest.id.as_str()) {
            return Err(ApiError::LatestVersionNotDeployed);
        }
        apply_secret(&mut script.secrets, secret, value);
        let (version_id, deployment_id) = ids;
        let mut annotations = Map::new();
        annotations.insert("workers/triggered_by".to_owned(), json!("secret"));
        let version = Version {
            id: version_id.clone(),
            number: script.versions.len() as u64 + 1,
            created_on: now.to_owned(),
            annotations: annotations.clone(),
            secrets: script.secrets.clone(),
            ..latest
        };
        script.versions.push(version);
        script.deployments.push(Deployment {
            id: deployment_id,
            created_on: now.to_owned(),
            annotations,
            versions: vec![(version_id.clone(), 100.0)],
        });
        script.modified_on = now.to_owned();
        Ok(Served::Switch {
            script: name.to_owned(),
            version_id,
        })
    }

    /// Replaces the cron schedules.
    pub(crate) fn set_schedules(
        &mut self,
        name: &str,
        crons: Vec<String>,
        now: &str,
    ) -> Result<&[Value], ApiError> {
        let script = self.script_mut(name)?;
        script.schedules = crons
            .into_iter()
            .map(|cron| json!({"cron": cron, "created_on": now, "modified_on": now}))
            .collect();
        Ok(&script.schedules)
    }

    /// Merges a `PATCH .../script-settings` body.
    pub(crate) fn patch_script_settings(
        &mut self,
        name: &str,
        patch: Map<String, Value>,
    ) -> Result<&Map<String, Value>, ApiError> {
        let script = self.script_mut(name)?;
        script.script_settings.extend(patch);
        Ok(&script.script_settings)
    }

    pub(crate) fn set_subdomain(&mut self, name: &str, enabled: bool) -> Result<(), ApiError> {
        self.script_mut(name)?.subdomain_enabled = enabled;
        Ok(())
    }
}

fn apply_secret(secrets: &mut BTreeMap<String, String>, name: &str, value: Option<String>) {
    match value {
        Some(value) => {
            secrets.insert(name.to_owned(), value);
        }
        None => {
            secrets.remove(name);
        }
    }
}

/// Records an upload's `migrations` tag (`{old_tag, new_tag, steps}`), as the script's
/// `migration_tag` that wrangler compares with its config.
fn apply_migrations(script: &mut Script, migrations: Option<&Value>) {
    if let Some(tag) = migrations
        .and_then(|m| m.get("new_tag"))
        .and_then(Value::as_str)
    {
        script.migration_tag = Some(tag.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(var: &str) -> Upload {
        Upload {
            metadata: json!({
                "main_module": "shim.js",
                "compatibility_date": "2026-11-01",
                "bindings": [{"name": "V", "type": "plain_text", "text": var}],
                "annotations": {"workers/message": var},
            }),
            modules: vec![Module {
                name: "shim.js".to_owned(),
                content_type: "application/javascript+module".to_owned(),
                bytes: b"export default {}".to_vec(),
            }],
        }
    }

    #[test]
    fn deploying_another_version_switches_and_the_same_one_does_not() {
        let mut account = Account::new(&["w".to_owned()], None, "t0");
        account.upload("w", upload("a"), "v1".into(), "t1").unwrap();
        account.upload("w", upload("b"), "v2".into(), "t2").unwrap();
        let (_, served) = account
            .deploy(
                "w",
                vec![("v1".into(), 100.0)],
                Map::new(),
                "d1".into(),
                "t3",
            )
            .unwrap();
        assert_eq!(
            served,
            Served::Switch {
                script: "w".into(),
                version_id: "v1".into()
            }
        );
        let (_, served) = account
            .deploy(
                "w",
                vec![("v1".into(), 100.0)],
                Map::new(),
                "d2".into(),
                "t4",
            )
            .unwrap();
        assert_eq!(served, Served::Unchanged);
        let error = account
            .deploy(
                "w",
                vec![("nope".into(), 100.0)],
                Map::new(),
                "d3".into(),
                "t5",
            )
            .unwrap_err();
        assert!(matches!(error, ApiError::VersionNotFound(id) if id == "nope"));
    }

    #[test]
    fn a_secret_edit_makes_and_deploys_a_version_only_when_the_latest_is_deployed() {
        let mut account = Account::new(&["w".to_owned()], None, "t0");
        account
            .edit_secret("w", "S", Some("one".into()), ("x".into(), "y".into()), "t1")
            .unwrap();
        account.upload("w", upload("a"), "v1".into(), "t2").unwrap();
        assert_eq!(account.script("w").unwrap().versions[0].secrets["S"], "one");
        let error = account
            .edit_secret(
                "w",
                "S",
                Some("two".into()),
                ("v2".into(), "d".into()),
                "t3",
            )
            .unwrap_err();
        assert!(matches!(error, ApiError::LatestVersionNotDeployed));
        account
            .deploy(
                "w",
                vec![("v1".into(), 100.0)],
                Map::new(),
                "d1".into(),
                "t4",
            )
            .unwrap();
        let served = account
            .edit_secret(
                "w",
                "S",
                Some("two".into()),
                ("v2".into(), "d2".into()),
                "t5",
            )
            .unwrap();
        assert_eq!(
            served,
            Served::Switch {
                script: "w".into(),
                version_id: "v2".into()
            }
        );
        let script = account.script("w").unwrap();
        assert_eq!(script.deployed_version().unwrap().secrets["S"], "two");
        assert_eq!(script.versions[0].secrets["S"], "one");
    }

    #[test]
    fn an_unknown_script_is_not_found() {
        let mut account = Account::new(&[], None, "t0");
        assert!(matches!(
            account.upload("w", upload("a"), "v".into(), "t"),
            Err(ApiError::ScriptNotFound(_))
        ));
    }
}
