//! The API's routes: a request (method, path under `/client/v4`, query, token, body) in, a
//! reply (status, `result`, `result_info`) and what to serve next out. Runs on the
//! [`Account`] under the caller's lock; performs no I/O.

use serde_json::{Value, json};

use super::account::{Account, Module, Served, Upload};
use super::error::ApiError;
use super::multipart;

/// A request as the router sees it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The path below `/client/v4`, e.g. `/accounts/A/workers/scripts/S/versions`.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    /// The bearer token, if any.
    pub(crate) token: Option<String>,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) result: Value,
    pub(crate) result_info: Option<Value>,
    /// Sent as it is, not in the v4 envelope (the Analytics Engine SQL API's answers).
    pub(crate) raw: bool,
}

impl Reply {
    fn of(result: Value) -> Reply {
        Reply {
            result,
            result_info: None,
            raw: false,
        }
    }

    /// The body: the success envelope, or the raw answer.
    pub(crate) fn body(&self) -> Value {
        if self.raw {
            return self.result.clone();
        }
        let mut envelope = json!({
            "success": true,
            "errors": [],
            "messages": [],
            "result": self.result,
        });
        if let Some(info) = &self.result_info {
            envelope["result_info"] = info.clone();
        }
        envelope
    }
}

/// What the routes need besides the account: who may call, what exists, the time and ids.
pub(crate) struct Context<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) token: &'a str,
    pub(crate) buckets: &'a [String],
    pub(crate) subdomain: &'a str,
    /// RFC 3339, for every record made by this request.
    pub(crate) now: String,
    /// A fresh id (UUID-shaped) for each new version or deployment.
    pub(crate) new_id: &'a mut dyn FnMut() -> String,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("account_id", &self.account_id)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The routes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    VerifyToken,
    AccountSubdomain,
    AnalyticsSql,
    Service(String),
    Worker(String),
    Bucket(String),
    Secrets(String),
    Secret(String, String),
    Settings(String),
    ScriptSettings(String),
    Versions(String),
    Version(String, String),
    Deployments(String),
    Schedules(String),
    ScriptSubdomain(String),
}

/// Splits a path into the account it names (if any) and its route.
fn route(path: &str) -> Option<(Option<&str>, Route)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let owned = |s: &str| s.to_owned();
    Some(match segments.as_slice() {
        ["user", "tokens", "verify"] => (None, Route::VerifyToken),
        ["accounts", a, "workers", "subdomain"] => (Some(a), Route::AccountSubdomain),
        ["accounts", a, "analytics_engine", "sql"] => (Some(a), Route::AnalyticsSql),
        ["accounts", a, "workers", "services", s] => (Some(a), Route::Service(owned(s))),
        ["accounts", a, "workers", "workers", s] => (Some(a), Route::Worker(owned(s))),
        ["accounts", a, "r2", "buckets", b] => (Some(a), Route::Bucket(owned(b))),
        ["accounts", a, "workers", "scripts", s, rest @ ..] => {
            let s = owned(s);
            let route = match rest {
                ["secrets"] => Route::Secrets(s),
                ["secrets", name] => Route::Secret(s, owned(name)),
                ["settings"] => Route::Settings(s),
                ["script-settings"] => Route::ScriptSettings(s),
                ["versions"] => Route::Versions(s),
                ["versions", id] => Route::Version(s, owned(id)),
                ["deployments"] => Route::Deployments(s),
                ["schedules"] => Route::Schedules(s),
                ["subdomain"] => Route::ScriptSubdomain(s),
                _ => return None,
            };
            (Some(a), route)
        }
        _ => return None,
    })
}

/// Answers one request (its token and account already checked here too).
pub(crate) fn handle(
    account: &mut Account,
    context: &mut Context<'_>,
    request: &Request,
) -> Result<(Reply, Served), ApiError> {
    if request.token.as_deref() != Some(context.token) {
        return Err(ApiError::Unauthorized);
    }
    let (account_id, route) = route(&request.path).ok_or(ApiError::NoRoute)?;
    if account_id.is_some_and(|id| id != context.account_id) {
        return Err(ApiError::AccountForbidden);
    }
    let method = request.method.as_str();
    let unchanged = |reply: Reply| Ok((reply, Served::Unchanged));
    match (method, route) {
        ("GET", Route::VerifyToken) => unchanged(Reply::of(
            json!({"id": "standin-token", "status": "active"}),
        )),
        ("GET", Route::AccountSubdomain) => {
            unchanged(Reply::of(json!({"subdomain": context.subdomain})))
        }
        ("POST", Route::AnalyticsSql) => {
            let query = String::from_utf8_lossy(&request.body).into_owned();
            account.analytics.queries.push(query);
            let mut reply = Reply::of(account.analytics.answer.clone());
            reply.raw = true;
            unchanged(reply)
        }
        ("GET", Route::Service(script)) => {
            unchanged(Reply::of(account.script(&script)?.service_json(&script)))
        }
        ("GET", Route::Worker(script)) => {
            unchanged(Reply::of(account.script(&script)?.worker_json(&script)))
        }
        ("GET", Route::Bucket(bucket)) => {
            if !context.buckets.contains(&bucket) {
                return Err(ApiError::BucketNotFound(bucket));
            }
            unchanged(Reply::of(json!({
                "name": bucket,
                "creation_date": "2026-01-01T00:00:00.000Z",
                "location": "WNAM",
                "storage_class": "Standard",
            })))
        }
        ("GET", Route::Secrets(script)) => {
            let names: Vec<Value> = account
                .script(&script)?
                .secrets
                .keys()
                .map(|name| json!({"name": name, "type": "secret_text"}))
                .collect();
            unchanged(Reply::of(Value::Array(names)))
        }
        ("PUT", Route::Secrets(script)) => {
            let body = json_body(request)?;
            let name = str_field(&body, "name")?;
            let text = str_field(&body, "text")?;
            let ids = ((context.new_id)(), (context.new_id)());
            let served = account.edit_secret(&script, &name, Some(text), ids, &context.now)?;
            Ok((
                Reply::of(json!({"name": name, "type": "secret_text"})),
                served,
            ))
        }
        ("GET", Route::Secret(script, name)) => {
            if !account.script(&script)?.secrets.contains_key(&name) {
                return Err(ApiError::SecretNotFound(name));
            }
            unchanged(Reply::of(json!({"name": name, "type": "secret_text"})))
        }
        ("DELETE", Route::Secret(script, name)) => {
            let ids = ((context.new_id)(), (context.new_id)());
            let served = account.edit_secret(&script, &name, None, ids, &context.now)?;
            Ok((Reply::of(Value::Null), served))
        }
        ("GET", Route::Settings(script)) => {
            unchanged(Reply::of(account.script(&script)?.settings_json()))
        }
        ("GET", Route::ScriptSettings(script)) => unchanged(Reply::of(Value::Object(
            account.script(&script)?.script_settings.clone(),
        ))),
        ("PATCH", Route::ScriptSettings(script)) => {
            let patch = match json_body(request)? {
                Value::Object(patch) => patch,
                _ => return Err(ApiError::BadRequest("settings must be an object".into())),
            };
            let merged = account.patch_script_settings(&script, patch)?;
            unchanged(Reply::of(Value::Object(merged.clone())))
        }
        ("GET", Route::Versions(script)) => unchanged(list_versions(account, &script, request)?),
        ("POST", Route::Versions(script)) => {
            let upload = parse_upload(request)?;
            let id = (context.new_id)();
            let version = account.upload(&script, upload, id, &context.now)?;
            let mut result = version.to_json(&script);
            result["startup_time_ms"] = json!(0);
            unchanged(Reply::of(result))
        }
        ("GET", Route::Version(script, id)) => {
            let script_state = account.script(&script)?;
            unchanged(Reply::of(script_state.version(&id)?.to_json(&script)))
        }
        ("GET", Route::Deployments(script)) => {
            let deployments: Vec<Value> = account
                .script(&script)?
                .deployments
                .iter()
                .rev()
                .map(|deployment| deployment.to_json())
                .collect();
            unchanged(Reply::of(json!({"deployments": deployments})))
        }
        ("POST", Route::Deployments(script)) => {
            let body = json_body(request)?;
            let versions = deployment_versions(&body)?;
            let annotations = body
                .get("annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let id = (context.new_id)();
            let (deployment, served) =
                account.deploy(&script, versions, annotations, id, &context.now)?;
            Ok((Reply::of(deployment.to_json()), served))
        }
        ("GET", Route::Schedules(script)) => {
            let schedules = account.script(&script)?.schedules.clone();
            unchanged(Reply::of(json!({"schedules": schedules})))
        }
        ("PUT", Route::Schedules(script)) => {
            let crons = match json_body(request)? {
                Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.get("cron")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| ApiError::BadRequest("a schedule has no cron".into()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(ApiError::BadRequest("schedules must be an array".into())),
            };
            let schedules = account.set_schedules(&script, crons, &context.now)?;
            unchanged(Reply::of(json!({"schedules": schedules})))
        }
        ("GET", Route::ScriptSubdomain(script)) => {
            let enabled = account.script(&script)?.subdomain_enabled;
            unchanged(Reply::of(
                json!({"enabled": enabled, "previews_enabled": false}),
            ))
        }
        ("POST", Route::ScriptSubdomain(script)) => {
            let enabled = json_body(request)?
                .get("enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            account.set_subdomain(&script, enabled)?;
            unchanged(Reply::of(
                json!({"enabled": enabled, "previews_enabled": false}),
            ))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// `GET .../versions?page=N&per_page=M`: newest first, pages of `per_page` (default 10, at most
/// 100), with the API's `result_info`.
fn list_versions(account: &Account, script: &str, request: &Request) -> Result<Reply, ApiError> {
    let number = |key: &str, default: usize| -> Result<usize, ApiError> {
        match request.query.iter().find(|(k, _)| k == key) {
            None => Ok(default),
            Some((_, value)) => value
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| ApiError::BadRequest(format!("{key} must be a positive integer"))),
        }
    };
    let page = number("page", 1)?;
    let per_page = number("per_page", 10)?.min(100);
    let versions = &account.script(script)?.versions;
    let items: Vec<Value> = versions
        .iter()
        .rev()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|version| version.to_json(script))
        .collect();
    let info = json!({
        "page": page,
        "per_page": per_page,
        "count": items.len(),
        "total_count": versions.len(),
        "total_pages": versions.len().div_ceil(per_page),
    });
    Ok(Reply {
        result: json!({"items": items}),
        result_info: Some(info),
        raw: false,
    })
}

fn json_body(request: &Request) -> Result<Value, ApiError> {
    serde_json::from_slice(&request.body)
        .map_err(|error| ApiError::BadRequest(format!("the body is not JSON: {error}")))
}

fn str_field(body: &Value, key: &str) -> Result<String, ApiError> {
    body.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::BadRequest(format!("the body has no string {key:?}")))
}

/// `{"versions": [{"version_id", "percentage"}]}`.
fn deployment_versions(body: &Value) -> Result<Vec<(String, f64)>, ApiError> {
    let bad = || ApiError::BadRequest("versions must be [{version_id, percentage}]".into());
    body.get("versions")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|item| {
            let id = item
                .get("version_id")
                .and_then(Value::as_str)
                .ok_or_else(bad)?;
            let percentage = item
                .get("percentage")
                .and_then(Value::as_f64)
                .ok_or_else(bad)?;
            Ok((id.to_owned(), percentage))
        })
        .collect()
}

/// A version upload: the `metadata` part (JSON) and one module per other part.
fn parse_upload(request: &Request) -> Result<Upload, ApiError> {
    let boundary = multipart::boundary(&request.content_type)
        .ok_or_else(|| ApiError::BadRequest("a version upload is multipart/form-data".into()))?;
    let parts = multipart::parse(&request.body, &boundary)
        .ok_or_else(|| ApiError::BadRequest("the multipart body is malformed".into()))?;
    let mut metadata = None;
    let mut modules = Vec::new();
    for part in parts {
        if part.name == "metadata" {
            metadata = Some(
                serde_json::from_slice::<Value>(&part.bytes).map_err(|error| {
                    ApiError::BadRequest(format!("metadata is not JSON: {error}"))
                })?,
            );
        } else {
            modules.push(Module {
                name: part.name,
                content_type: part.content_type,
                bytes: part.bytes,
            });
        }
    }
    Ok(Upload {
        metadata: metadata.ok_or_else(|| ApiError::BadRequest("no metadata part".into()))?,
        modules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, token: &str, body: &str) -> Request {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            query: url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            token: Some(token.to_owned()),
            content_type: "multipart/form-data; boundary=B".to_owned(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// Runs `request` on `account` with token `t`, account `a`, ids `id-1`, `id-2`...
    fn run(account: &mut Account, request: &Request) -> Result<(Reply, Served), ApiError> {
        let mut counter = 0;
        let mut new_id = move || {
            counter += 1;
            format!("id-{counter}")
        };
        let mut context = Context {
            account_id: "a",
            token: "t",
            buckets: &[],
            subdomain: "standin",
            now: "2026-12-06T00:00:00Z".to_owned(),
            new_id: &mut new_id,
        };
        handle(account, &mut context, request)
    }

    fn upload_body(var: &str) -> String {
        format!(
            "--B\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{{\"main_module\":\"m.js\",\"compatibility_date\":\"2026-11-01\",\"bindings\":[{{\"name\":\"V\",\"type\":\"plain_text\",\"text\":\"{var}\"}}]}}\r\n--B\r\nContent-Disposition: form-data; name=\"m.js\"\r\nContent-Type: application/javascript+module\r\n\r\nexport default {{}}\r\n--B--\r\n"
        )
    }

    #[test]
    fn the_token_is_checked_before_the_route_and_the_account_after() {
        let mut account = Account::new(&["s".to_owned()], None, "t0");
        let wrong = request("GET", "/nowhere", "x", "");
        assert_eq!(
            run(&mut account, &wrong).unwrap_err(),
            ApiError::Unauthorized
        );
        let other = request("GET", "/accounts/b/workers/subdomain", "t", "");
        assert_eq!(
            run(&mut account, &other).unwrap_err(),
            ApiError::AccountForbidden
        );
        let method = request("DELETE", "/accounts/a/workers/subdomain", "t", "");
        assert_eq!(
            run(&mut account, &method).unwrap_err(),
            ApiError::MethodNotAllowed
        );
    }

    #[test]
    fn settings_follow_the_deployment_and_versions_page() {
        let mut account = Account::new(&["s".to_owned()], None, "t0");
        let base = "/accounts/a/workers/scripts/s";
        let (reply, served) = run(
            &mut account,
            &request(
                "POST",
                &format!("{base}/versions"),
                "t",
                &upload_body("one"),
            ),
        )
        .unwrap();
        assert_eq!(served, Served::Unchanged);
        assert_eq!(reply.result["id"], "id-1");
        let settings = request("GET", &format!("{base}/settings"), "t", "");
        let (reply, _) = run(&mut account, &settings).unwrap();
        assert_eq!(reply.result["bindings"], json!([]));

        let deploy = request(
            "POST",
            &format!("{base}/deployments"),
            "t",
            r#"{"strategy":"percentage","versions":[{"version_id":"id-1","percentage":100}]}"#,
        );
        let (_, served) = run(&mut account, &deploy).unwrap();
        assert!(matches!(served, Served::Switch { .. }));
        let (reply, _) = run(&mut account, &settings).unwrap();
        assert_eq!(reply.result["bindings"][0]["text"], "one");
        assert_eq!(reply.result["compatibility_date"], "2026-11-01");

        let list = request(
            "GET",
            &format!("{base}/versions?per_page=5&page=1"),
            "t",
            "",
        );
        let (reply, _) = run(&mut account, &list).unwrap();
        let info = reply.result_info.unwrap();
        assert_eq!(
            (info["total_count"].clone(), info["total_pages"].clone()),
            (json!(1), json!(1))
        );
        let bad_page = request("GET", &format!("{base}/versions?page=0"), "t", "");
        assert!(matches!(
            run(&mut account, &bad_page).unwrap_err(),
            ApiError::BadRequest(_)
        ));
    }

    #[test]
    fn routes_split_account_and_script() {
        assert_eq!(
            route("/accounts/a/workers/scripts/s/versions/v1"),
            Some((Some("a"), Route::Version("s".into(), "v1".into())))
        );
        assert_eq!(route("/accounts/a/workers/scripts/s/nothing"), None);
        assert_eq!(
            route("/user/tokens/verify"),
            Some((None, Route::VerifyToken))
        );
    }
}
