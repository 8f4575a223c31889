//! `second-brain github-standin`: a local stand-in for GitHub's OAuth web flow, for tests and
//! local development.
//!
//! It speaks the three endpoints the Worker uses, on `127.0.0.1` only:
//! - `GET /login/oauth/authorize`: approves at once and redirects to `redirect_uri` with a
//!   `code` and the `state`. It signs in as the first `--users` id, or as the one named by the
//!   `login` parameter (`1001` or `user-1001`); `deny=1` redirects with
//!   `error=access_denied` instead, like a user pressing Cancel.
//! - `POST /login/oauth/access_token`: checks `client_id`, `client_secret`, `code` (single use,
//!   10 minutes) and `redirect_uri`; answers like GitHub, errors included inside a 200 (JSON
//!   with `Accept: application/json`, else form-encoded).
//! - `GET /user`: with `Authorization: Bearer` (or `token`) and a `User-Agent`, answers
//!   `{"id": N, "login": "user-N"}`; 401 `Bad credentials` otherwise, 403 without a
//!   `User-Agent`, as GitHub does.
//!
//! Bounded: one acceptor and four handler threads, a queue of 16 connections (more are answered
//! 503), 16 KiB of headers, 64 KiB of body, 5 s to read a request, and at most 10,000 codes and
//! tokens kept (oldest dropped). Every response closes its connection.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::json;

const HANDLERS: usize = 4;
const QUEUE: usize = 16;
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 64 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const CODE_LIFETIME: Duration = Duration::from_secs(600);
const MAX_ENTRIES: usize = 10_000;

/// Arguments of `github-standin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// GitHub user ids that can sign in, comma-separated; the first is the default.
    #[arg(long, value_delimiter = ',', required = true)]
    users: Vec<u64>,
    /// The OAuth app client id the stand-in accepts.
    #[arg(long, default_value = "standin-client-id")]
    client_id: String,
    /// The OAuth app client secret the stand-in accepts (a test value, not a real secret).
    #[arg(long, default_value = "standin-client-secret")]
    client_secret: String,
}

pub fn run(args: &Args) -> Result<()> {
    let standin = StandIn::start(
        args.port,
        Config {
            users: args.users.clone(),
            client_id: args.client_id.clone(),
            client_secret: args.client_secret.clone(),
        },
    )?;
    println!("github-standin listening on {}", standin.url());
    standin.wait()
}

/// What the stand-in accepts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Users that exist; the first is the default sign-in.
    pub users: Vec<u64>,
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
}

/// A running stand-in. Dropping it stops it.
#[derive(Debug)]
pub struct StandIn {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Binds `127.0.0.1:port` and starts serving.
    pub fn start(port: u16, config: Config) -> Result<Self> {
        ensure!(
            !config.users.is_empty(),
            "--users must name at least one user id"
        );
        ensure!(
            config.users.iter().all(|&id| id > 0),
            "user ids are positive"
        );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Service::new(config));
        let (sender, receiver) = mpsc::sync_channel::<TcpStream>(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let handlers: Vec<JoinHandle<()>> = (0..HANDLERS)
            .map(|_| {
                let receiver = Arc::clone(&receiver);
                let state = Arc::clone(&state);
                std::thread::spawn(move || handle_loop(&receiver, &state))
            })
            .collect();
        let acceptor = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || accept_loop(&listener, sender, &stop, handlers))
        };
        Ok(StandIn {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until the process ends.
    pub fn wait(mut self) -> Result<()> {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor
                .join()
                .map_err(|_| anyhow::anyhow!("the acceptor thread panicked"))?;
        }
        Ok(())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    sender: SyncSender<TcpStream>,
    stop: &AtomicBool,
    handlers: Vec<JoinHandle<()>>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        match sender.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut stream)) => {
                let _ = write_response(&mut stream, &Response::text(503, "busy"));
            }
            Err(TrySendError::Disconnected(_)) => break,
        }
    }
    // Closing the channel ends the handlers once they finish their current request.
    drop(sender);
    for handler in handlers {
        let _ = handler.join();
    }
}

fn handle_loop(receiver: &Mutex<Receiver<TcpStream>>, service: &Service) {
    loop {
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(mut stream) = next else { return };
        let response = match read_request(&mut stream) {
            Ok(request) => service.handle(&request),
            Err(_) => Response::text(400, "bad request"),
        };
        let _ = write_response(&mut stream, &response);
    }
}

/// A parsed HTTP request.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn read_request(stream: &mut TcpStream) -> Result<Request> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(Read::take(&mut *stream, (MAX_HEAD + MAX_BODY) as u64));
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = reader.read_until(b'\n', &mut head)?;
        ensure!(read > 0, "connection closed mid-request");
        ensure!(head.len() <= MAX_HEAD, "headers too large");
        if head[before..] == *b"\r\n" || head[before..] == *b"\n" {
            break;
        }
    }
    let head = String::from_utf8(head).context("headers are not UTF-8")?;
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        anyhow::bail!("malformed request line");
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.parse::<usize>())
        .transpose()?
        .unwrap_or(0);
    ensure!(length <= MAX_BODY, "body too large");
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: String::from_utf8(body).context("body is not UTF-8")?,
    })
}

/// A response to write.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Response {
    fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: body.to_owned(),
        }
    }

    fn json(status: u16, body: &serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("content-type", "application/json; charset=utf-8".into())],
            body: body.to_string(),
        }
    }

    fn redirect(location: String) -> Self {
        Response {
            status: 302,
            headers: vec![("location", location)],
            body: String::new(),
        }
    }
}

fn write_response(stream: &mut TcpStream, response: &Response) -> std::io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body.len()
    ));
    out.push_str(&response.body);
    stream.write_all(out.as_bytes())?;
    stream.flush()
}

/// A code the stand-in issued.
#[derive(Debug, Clone)]
struct IssuedCode {
    user: u64,
    redirect_uri: String,
    issued: Instant,
}

/// A map that forgets its oldest entries beyond [`MAX_ENTRIES`].
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> Default for Bounded<V> {
    fn default() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<V> Bounded<V> {
    fn insert(&mut self, key: String, value: V) {
        while self.order.len() >= MAX_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
        self.order.push_back(key.clone());
        self.map.insert(key, value);
    }
}

/// The stand-in's behaviour and state.
#[derive(Debug)]
struct Service {
    config: Config,
    codes: Mutex<Bounded<IssuedCode>>,
    tokens: Mutex<Bounded<u64>>,
    random: RandomState,
    counter: AtomicU64,
}

fn form(text: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn github_error(error: &str, description: &str) -> serde_json::Value {
    json!({
        "error": error,
        "error_description": description,
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
    })
}

impl Service {
    fn new(config: Config) -> Self {
        Service {
            config,
            codes: Mutex::default(),
            tokens: Mutex::default(),
            random: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    /// A fresh unguessable-enough value (random SipHash keys over a counter): test use only.
    fn fresh(&self, prefix: &str) -> String {
        let mut value = String::from(prefix);
        for _ in 0..2 {
            let mut hasher = self.random.build_hasher();
            hasher.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
            value.push_str(&format!("{:016x}", hasher.finish()));
        }
        value
    }

    fn handle(&self, request: &Request) -> Response {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/login/oauth/authorize") => self.authorize(request),
            ("POST", "/login/oauth/access_token") => self.access_token(request),
            ("GET", "/user") => self.user(request),
            (_, "/login/oauth/authorize" | "/login/oauth/access_token" | "/user") => {
                Response::text(405, "method not allowed")
            }
            _ => Response::json(404, &json!({"message": "Not Found"})),
        }
    }

    fn authorize(&self, request: &Request) -> Response {
        let query = form(&request.query);
        if query.get("client_id") != Some(&self.config.client_id) {
            return Response::text(400, "unknown client_id");
        }
        let Some(redirect_uri) = query
            .get("redirect_uri")
            .filter(|uri| uri.starts_with("http://") || uri.starts_with("https://"))
        else {
            return Response::text(400, "redirect_uri is required");
        };
        let user = match query.get("login") {
            None => self.config.users[0],
            Some(login) => {
                let id = login.strip_prefix("user-").unwrap_or(login);
                match id.parse::<u64>() {
                    Ok(id) if self.config.users.contains(&id) => id,
                    _ => return Response::text(400, "no such user at this stand-in"),
                }
            }
        };
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        if query.get("deny").map(String::as_str) == Some("1") {
            pairs.append_pair("error", "access_denied");
            pairs.append_pair(
                "error_description",
                "The user has denied your application access.",
            );
        } else {
            let code = self.fresh("standin_code_");
            if let Ok(mut codes) = self.codes.lock() {
                codes.insert(
                    code.clone(),
                    IssuedCode {
                        user,
                        redirect_uri: redirect_uri.clone(),
                        issued: Instant::now(),
                    },
                );
            }
            pairs.append_pair("code", &code);
        }
        if let Some(state) = query.get("state") {
            pairs.append_pair("state", state);
        }
        let separator = if redirect_uri.contains('?') { '&' } else { '?' };
        Response::redirect(format!("{redirect_uri}{separator}{}", pairs.finish()))
    }

    fn access_token(&self, request: &Request) -> Response {
        let mut params = form(&request.query);
        params.extend(form(&request.body));
        let wants_json = request
            .header("accept")
            .is_some_and(|accept| accept.contains("application/json"));
        let answer = |body: serde_json::Value| {
            if wants_json {
                return Response::json(200, &body);
            }
            let mut pairs = url::form_urlencoded::Serializer::new(String::new());
            if let Some(object) = body.as_object() {
                for (key, value) in object {
                    pairs.append_pair(key, value.as_str().unwrap_or_default());
                }
            }
            Response {
                status: 200,
                headers: vec![(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                )],
                body: pairs.finish(),
            }
        };
        if params.get("client_id") != Some(&self.config.client_id)
            || params.get("client_secret") != Some(&self.config.client_secret)
        {
            return answer(github_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            ));
        }
        let issued = params.get("code").and_then(|code| {
            let mut codes = self.codes.lock().ok()?;
            let issued = codes.map.remove(code)?;
            codes.order.retain(|key| key != code);
            Some(issued)
        });
        let Some(issued) = issued.filter(|issued| issued.issued.elapsed() < CODE_LIFETIME) else {
            return answer(github_error(
                "bad_verification_code",
                "The code passed is incorrect or expired.",
            ));
        };
        if params
            .get("redirect_uri")
            .is_some_and(|uri| *uri != issued.redirect_uri)
        {
            return answer(github_error(
                "redirect_uri_mismatch",
                "The redirect_uri MUST match the registered callback URL for this application.",
            ));
        }
        let token = self.fresh("gho_standin_");
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(token.clone(), issued.user);
        }
        answer(json!({
            "access_token": token,
            "token_type": "bearer",
            "scope": "read:user"
        }))
    }

    fn user(&self, request: &Request) -> Response {
        if request.header("user-agent").is_none_or(str::is_empty) {
            return Response::text(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.",
            );
        }
        let token = request.header("authorization").and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
                .then(|| token.trim().to_owned())
        });
        let user = token.and_then(|token| self.tokens.lock().ok()?.map.get(&token).copied());
        match user {
            Some(id) => Response::json(
                200,
                &json!({"id": id, "login": format!("user-{id}"), "type": "User"}),
            ),
            None => Response::json(
                401,
                &json!({
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/rest",
                    "status": "401"
                }),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use reqwest::blocking::Client;
    use reqwest::redirect::Policy;
    use serde_json::Value;

    use super::*;

    const CALLBACK: &str = "http://127.0.0.1:8787/oauth/callback";

    fn standin() -> StandIn {
        StandIn::start(
            0,
            Config {
                users: vec![1001, 2002],
                client_id: "app".into(),
                client_secret: "shh".into(),
            },
        )
        .unwrap()
    }

    fn client() -> Client {
        Client::builder()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    /// Follows the authorize step; returns the redirect's query.
    fn authorize(standin: &StandIn, extra: &str) -> HashMap<String, String> {
        let url = format!(
            "{}/login/oauth/authorize?client_id=app&redirect_uri={}&scope=read%3Auser&state=st8{extra}",
            standin.url(),
            url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>()
        );
        let response = client().get(url).send().unwrap();
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let (base, query) = location.split_once('?').unwrap();
        assert_eq!(base, CALLBACK);
        form(query)
    }

    fn exchange(standin: &StandIn, code: &str, secret: &str) -> Value {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", "app")
            .append_pair("client_secret", secret)
            .append_pair("code", code)
            .append_pair("redirect_uri", CALLBACK)
            .finish();
        let response = client()
            .post(format!("{}/login/oauth/access_token", standin.url()))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "errors come inside a 200, as at GitHub"
        );
        response.json().unwrap()
    }

    fn user(standin: &StandIn, token: Option<&str>) -> (u16, Value) {
        let mut request = client()
            .get(format!("{}/user", standin.url()))
            .header("user-agent", "second-brain-test")
            .header("accept", "application/vnd.github+json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap())
    }

    #[test]
    fn the_web_flow_signs_in_the_default_user() {
        let standin = standin();
        let answer = authorize(&standin, "");
        assert_eq!(answer.get("state").map(String::as_str), Some("st8"));
        let tokens = exchange(&standin, &answer["code"], "shh");
        assert_eq!(tokens["token_type"], "bearer");
        let token = tokens["access_token"].as_str().unwrap();
        let (status, body) = user(&standin, Some(token));
        assert_eq!(status, 200);
        assert_eq!(body["id"], 1001);
        assert_eq!(body["login"], "user-1001");
    }

    #[test]
    fn login_selects_the_user_and_deny_cancels() {
        let standin = standin();
        let answer = authorize(&standin, "&login=2002");
        let tokens = exchange(&standin, &answer["code"], "shh");
        let (_, body) = user(&standin, tokens["access_token"].as_str());
        assert_eq!(body["id"], 2002);
        let answer = authorize(&standin, "&login=user-2002");
        assert!(answer.contains_key("code"));
        let denied = authorize(&standin, "&deny=1");
        assert_eq!(
            denied.get("error").map(String::as_str),
            Some("access_denied")
        );
        assert_eq!(denied.get("state").map(String::as_str), Some("st8"));
        let unknown = client()
            .get(format!(
                "{}/login/oauth/authorize?client_id=app&redirect_uri=http://x/&login=3",
                standin.url()
            ))
            .send()
            .unwrap();
        assert_eq!(unknown.status(), 400);
        let wrong_app = client()
            .get(format!(
                "{}/login/oauth/authorize?client_id=other&redirect_uri=http://x/",
                standin.url()
            ))
            .send()
            .unwrap();
        assert_eq!(wrong_app.status(), 400);
    }

    #[test]
    fn token_errors_look_like_githubs() {
        let standin = standin();
        let answer = authorize(&standin, "");
        let wrong = exchange(&standin, &answer["code"], "wrong");
        assert_eq!(wrong["error"], "incorrect_client_credentials");
        let first = exchange(&standin, &answer["code"], "shh");
        assert!(first["access_token"].is_string());
        let reused = exchange(&standin, &answer["code"], "shh");
        assert_eq!(reused["error"], "bad_verification_code");

        let answer = authorize(&standin, "");
        let body = format!(
            "client_id=app&client_secret=shh&code={}&redirect_uri=http%3A%2F%2Felsewhere%2F",
            answer["code"]
        );
        let mismatch: Value = client()
            .post(format!("{}/login/oauth/access_token", standin.url()))
            .header("accept", "application/json")
            .body(body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(mismatch["error"], "redirect_uri_mismatch");
    }

    #[test]
    fn without_accept_json_the_answer_is_form_encoded() {
        let standin = standin();
        let answer = authorize(&standin, "");
        let body = format!("client_id=app&client_secret=shh&code={}", answer["code"]);
        let response = client()
            .post(format!("{}/login/oauth/access_token", standin.url()))
            .body(body)
            .send()
            .unwrap();
        let text = response.text().unwrap();
        let fields = form(&text);
        assert!(fields["access_token"].starts_with("gho_standin_"));
        assert_eq!(fields["scope"], "read:user");
    }

    #[test]
    fn user_needs_a_token_and_a_user_agent() {
        let standin = standin();
        let (status, body) = user(&standin, None);
        assert_eq!(status, 401);
        assert_eq!(body["message"], "Bad credentials");
        assert_eq!(user(&standin, Some("gho_made_up")).0, 401);
        let answer = authorize(&standin, "");
        let tokens = exchange(&standin, &answer["code"], "shh");
        let no_agent = Client::builder()
            .build()
            .unwrap()
            .get(format!("{}/user", standin.url()))
            .header(
                "authorization",
                format!("token {}", tokens["access_token"].as_str().unwrap()),
            )
            .send()
            .unwrap();
        assert_eq!(no_agent.status(), 403);
    }

    #[test]
    fn other_paths_and_methods() {
        let standin = standin();
        let missing = client()
            .get(format!("{}/nothing", standin.url()))
            .send()
            .unwrap();
        assert_eq!(missing.status(), 404);
        let wrong = client()
            .get(format!("{}/login/oauth/access_token", standin.url()))
            .send()
            .unwrap();
        assert_eq!(wrong.status(), 405);
        assert!(standin.url().starts_with("http://127.0.0.1:"));
    }

    #[test]
    fn a_bad_config_is_refused() {
        let no_users = Config {
            users: Vec::new(),
            client_id: "a".into(),
            client_secret: "b".into(),
        };
        assert!(StandIn::start(0, no_users).is_err());
    }
}
