//! Lifecycle messages: the `initialize` handshake (2024-11-05 to 2025-11-25), and for the
//! stateless revision (2026-07-28) the per-request `_meta` fields, `server/discover`, and the
//! fields every result carries.
//!
//! What we advertise is built per negotiated version from [`ServerFeatures`], which says what
//! the server actually implements: a capability is never advertised before it is served, and
//! never in a version that lacks it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::jsonrpc::ErrorObject;
use super::version::ProtocolVersion;

/// Our `serverInfo.name`.
pub const SERVER_NAME: &str = "second-brain";
/// Our `serverInfo.title` (versions with titles).
pub const SERVER_TITLE: &str = "Second Brain";
/// Our `serverInfo.version`: this crate's version.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long clients may cache `server/discover` and `tools/list` results (2026-07-28 `ttlMs`).
/// Short, because a deploy can change the tool set.
pub const LIST_TTL_MS: u64 = 300_000;

/// `_meta` keys of the stateless revision.
pub mod meta_keys {
    /// The request's protocol version (required).
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    /// The client's capabilities for this request (required).
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    /// The client's name and version (optional).
    pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    /// The lowest log level the client wants for this request (optional).
    pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    /// Our name and version, in each result's `_meta`.
    pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
}

/// The instructions sent with `initialize` and `server/discover`.
pub const INSTRUCTIONS: &str = "Second Brain keeps the user's notes as files addressed by \
path. Every change is kept: use `history` to list a note's versions and `read` with `version` \
or `revert` to get one back. Prefer `edit` for small changes and pass `expected_version` to \
`write` when replacing a note you have read, so concurrent changes are not overwritten. Use \
`search` for ranked full-text search, `grep` for exact patterns, `glob` to list paths and \
`recent` for what changed last.";

/// An `Implementation`: who a client or server is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Implementation {
    /// Programmatic name.
    pub name: String,
    /// Display name (2025-06-18 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Version of the software.
    pub version: String,
    /// What it does (2025-11-25 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Our `serverInfo` for `version`.
pub fn server_info(version: ProtocolVersion) -> Implementation {
    Implementation {
        name: SERVER_NAME.to_owned(),
        title: version.has_titles().then(|| SERVER_TITLE.to_owned()),
        version: SERVER_VERSION.to_owned(),
        description: version
            .has_implementation_details()
            .then(|| "Durable, versioned notes for Claude clients.".to_owned()),
    }
}

/// What the server implements today. Capabilities follow from it per version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFeatures {
    /// `tools/list` and `tools/call` are served.
    pub tools: bool,
    /// `notifications/tools/list_changed` is sent.
    pub tools_list_changed: bool,
    /// `resources/*` is served.
    pub resources: bool,
    /// Single resources can be subscribed to.
    pub resources_subscribe: bool,
    /// `notifications/resources/list_changed` is sent.
    pub resources_list_changed: bool,
    /// `prompts/*` is served.
    pub prompts: bool,
    /// `notifications/prompts/list_changed` is sent.
    pub prompts_list_changed: bool,
    /// `logging/setLevel` is served and `notifications/message` sent.
    pub logging: bool,
}

impl ServerFeatures {
    /// Tools only: what the server serves until resources and prompts land.
    pub const TOOLS_ONLY: ServerFeatures = ServerFeatures {
        tools: true,
        tools_list_changed: false,
        resources: false,
        resources_subscribe: false,
        resources_list_changed: false,
        prompts: false,
        prompts_list_changed: false,
        logging: false,
    };
}

impl ServerFeatures {
    /// Tools, resources and prompts, without resource subscriptions or list-changed
    /// notifications.
    pub const TOOLS_RESOURCES_PROMPTS: ServerFeatures = ServerFeatures {
        tools: true,
        tools_list_changed: false,
        resources: true,
        resources_subscribe: false,
        resources_list_changed: false,
        prompts: true,
        prompts_list_changed: false,
        logging: false,
    };
}

/// `{ "listChanged": bool }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListChanged {
    /// Whether list-changed notifications are sent.
    pub list_changed: bool,
}

/// `{ "subscribe": bool, "listChanged": bool }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesCapability {
    /// Whether single resources can be subscribed to.
    pub subscribe: bool,
    /// Whether list-changed notifications are sent.
    pub list_changed: bool,
}

/// `ServerCapabilities`, as far as we use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerCapabilities {
    /// Present when tools are served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<ListChanged>,
    /// Present when resources are served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesCapability>,
    /// Present when prompts are served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<ListChanged>,
    /// Present (as `{}`) when logging is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Map<String, Value>>,
}

impl ServerCapabilities {
    /// What to advertise in `version` given what is implemented.
    pub fn for_version(version: ProtocolVersion, features: &ServerFeatures) -> Self {
        ServerCapabilities {
            tools: features.tools.then_some(ListChanged {
                list_changed: features.tools_list_changed,
            }),
            resources: features.resources.then_some(ResourcesCapability {
                // Subscriptions live in a session: 2026-07-28 has none (its
                // `subscriptions/listen` is not served).
                subscribe: features.resources_subscribe && version.has_sessions(),
                list_changed: features.resources_list_changed,
            }),
            prompts: features.prompts.then_some(ListChanged {
                list_changed: features.prompts_list_changed,
            }),
            logging: (features.logging && version.offers_logging_capability()).then(Map::new),
        }
    }
}

/// The params of `initialize` that we read. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct InitializeParams {
    /// The version the client asked for (may be one we do not speak).
    pub protocol_version: String,
    /// The client's capabilities (`{}` when absent).
    pub capabilities: Map<String, Value>,
    /// Who the client is, when it said so in the expected shape.
    pub client_info: Option<Implementation>,
}

impl InitializeParams {
    /// Reads `initialize` params; a missing or mistyped field is -32602 naming the field.
    pub fn from_params(params: Option<&Map<String, Value>>) -> Result<Self, ErrorObject> {
        let empty = Map::new();
        let params = params.unwrap_or(&empty);
        let protocol_version = match params.get("protocolVersion") {
            Some(Value::String(version)) => version.clone(),
            Some(_) => {
                return Err(ErrorObject::invalid_params(
                    "initialize: \"protocolVersion\" must be a string",
                ));
            }
            None => {
                return Err(ErrorObject::invalid_params(
                    "initialize: \"protocolVersion\" is required",
                ));
            }
        };
        let capabilities = match params.get("capabilities") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(capabilities)) => capabilities.clone(),
            Some(_) => {
                return Err(ErrorObject::invalid_params(
                    "initialize: \"capabilities\" must be an object",
                ));
            }
        };
        let client_info = params
            .get("clientInfo")
            .and_then(|info| serde_json::from_value(info.clone()).ok());
        Ok(InitializeParams {
            protocol_version,
            capabilities,
            client_info,
        })
    }

    /// The version to answer with (see [`ProtocolVersion::negotiate`]).
    pub fn negotiated(&self) -> ProtocolVersion {
        ProtocolVersion::negotiate(&self.protocol_version)
    }
}

/// The result of `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The negotiated version.
    pub protocol_version: ProtocolVersion,
    /// What we serve in that version.
    pub capabilities: ServerCapabilities,
    /// Who we are.
    pub server_info: Implementation,
    /// How to use us, for the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

impl InitializeResult {
    /// The result for a handshake that negotiated `version` (a handshake-era version, as
    /// [`InitializeParams::negotiated`] returns).
    pub fn new(version: ProtocolVersion, features: &ServerFeatures) -> Self {
        InitializeResult {
            protocol_version: version,
            capabilities: ServerCapabilities::for_version(version, features),
            server_info: server_info(version),
            instructions: Some(INSTRUCTIONS.to_owned()),
        }
    }
}

/// The `_meta` fields a stateless (2026-07-28) request must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMeta {
    /// `io.modelcontextprotocol/protocolVersion`, as sent.
    pub protocol_version: String,
    /// `io.modelcontextprotocol/clientCapabilities`.
    pub client_capabilities: Map<String, Value>,
    /// `io.modelcontextprotocol/clientInfo`, when present in the expected shape.
    pub client_info: Option<Implementation>,
    /// `io.modelcontextprotocol/logLevel`, when present.
    pub log_level: Option<String>,
}

impl RequestMeta {
    /// Reads `params._meta`. A missing or mistyped required field is -32602 (with HTTP 400,
    /// 2026-07-28 "Per-request protocol fields").
    pub fn from_params(params: Option<&Map<String, Value>>) -> Result<Self, ErrorObject> {
        let meta = params
            .and_then(|params| params.get("_meta"))
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ErrorObject::invalid_params(format!(
                    "params._meta with \"{}\" and \"{}\" is required",
                    meta_keys::PROTOCOL_VERSION,
                    meta_keys::CLIENT_CAPABILITIES
                ))
            })?;
        let protocol_version = meta
            .get(meta_keys::PROTOCOL_VERSION)
            .and_then(Value::as_str)
            .ok_or_else(|| required_meta(meta_keys::PROTOCOL_VERSION, "a string"))?
            .to_owned();
        let client_capabilities = meta
            .get(meta_keys::CLIENT_CAPABILITIES)
            .and_then(Value::as_object)
            .ok_or_else(|| required_meta(meta_keys::CLIENT_CAPABILITIES, "an object"))?
            .clone();
        Ok(RequestMeta {
            protocol_version,
            client_capabilities,
            client_info: meta
                .get(meta_keys::CLIENT_INFO)
                .and_then(|info| serde_json::from_value(info.clone()).ok()),
            log_level: meta
                .get(meta_keys::LOG_LEVEL)
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

fn required_meta(key: &str, shape: &str) -> ErrorObject {
    ErrorObject::invalid_params(format!(
        "params._meta[\"{key}\"] is required and must be {shape}"
    ))
}

/// The result of `server/discover` (2026-07-28), before [`finish_result`].
pub fn discover_result(features: &ServerFeatures) -> Value {
    let version = ProtocolVersion::V2026_07_28;
    let supported: Vec<&str> = ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
    json!({
        "supportedVersions": supported,
        "capabilities": ServerCapabilities::for_version(version, features),
        "instructions": INSTRUCTIONS,
        "ttlMs": LIST_TTL_MS,
        "cacheScope": "public",
    })
}

/// Adds what every result of `version` must or should carry: in 2026-07-28 `resultType`
/// (`"complete"` unless already set) and our `serverInfo` in `_meta`. Other versions'
/// results are returned unchanged. Non-object results are returned unchanged.
pub fn finish_result(version: ProtocolVersion, mut result: Value) -> Value {
    if !version.has_result_type() {
        return result;
    }
    if let Value::Object(object) = &mut result {
        object
            .entry("resultType")
            .or_insert_with(|| Value::from("complete"));
        let meta = object
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert(
                meta_keys::SERVER_INFO.to_owned(),
                serde_json::to_value(server_info(version)).unwrap_or(Value::Null),
            );
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn initialize_params_are_read_leniently_but_typed() {
        let p = params(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"roots": {"listChanged": true}},
            "clientInfo": {"name": "claude-ai", "version": "0.1.0", "extra": 1},
            "unknown": true
        }));
        let read = InitializeParams::from_params(Some(&p)).unwrap();
        assert_eq!(read.protocol_version, "2025-06-18");
        assert_eq!(read.negotiated(), ProtocolVersion::V2025_06_18);
        assert!(read.capabilities.contains_key("roots"));
        assert_eq!(read.client_info.unwrap().name, "claude-ai");

        let minimal =
            InitializeParams::from_params(Some(&params(json!({"protocolVersion": "x"})))).unwrap();
        assert!(minimal.capabilities.is_empty());
        assert_eq!(minimal.client_info, None);
        assert_eq!(minimal.negotiated(), ProtocolVersion::LATEST_HANDSHAKE);
    }

    #[test]
    fn initialize_params_errors_name_the_field() {
        let cases = [
            (None, "protocolVersion"),
            (Some(json!({})), "protocolVersion"),
            (
                Some(json!({"protocolVersion": 20250618})),
                "protocolVersion",
            ),
            (
                Some(json!({"protocolVersion": "2025-06-18", "capabilities": []})),
                "capabilities",
            ),
        ];
        for (value, field) in cases {
            let map = value.map(params);
            let err = InitializeParams::from_params(map.as_ref()).unwrap_err();
            assert_eq!(err.code.0, -32602);
            assert!(err.message.contains(field), "{}", err.message);
        }
    }

    #[test]
    fn initialize_result_per_version() {
        let features = ServerFeatures {
            logging: true,
            ..ServerFeatures::TOOLS_ONLY
        };
        let old = serde_json::to_value(InitializeResult::new(
            ProtocolVersion::V2024_11_05,
            &features,
        ))
        .unwrap();
        assert_eq!(old["protocolVersion"], "2024-11-05");
        assert_eq!(
            old["serverInfo"],
            json!({"name": "second-brain", "version": SERVER_VERSION})
        );
        assert_eq!(
            old["capabilities"],
            json!({"tools": {"listChanged": false}, "logging": {}})
        );
        assert!(old["instructions"].as_str().unwrap().contains("history"));

        let mid = serde_json::to_value(InitializeResult::new(
            ProtocolVersion::V2025_06_18,
            &ServerFeatures::TOOLS_ONLY,
        ))
        .unwrap();
        assert_eq!(mid["serverInfo"]["title"], "Second Brain");
        assert!(mid["serverInfo"].get("description").is_none());
        assert_eq!(
            mid["capabilities"],
            json!({"tools": {"listChanged": false}})
        );

        let new = serde_json::to_value(InitializeResult::new(
            ProtocolVersion::V2025_11_25,
            &ServerFeatures::TOOLS_ONLY,
        ))
        .unwrap();
        assert!(new["serverInfo"]["description"].is_string());
    }

    #[test]
    fn capabilities_follow_features() {
        let all = ServerFeatures {
            tools: true,
            tools_list_changed: true,
            resources: true,
            resources_subscribe: true,
            resources_list_changed: true,
            prompts: true,
            prompts_list_changed: true,
            logging: true,
        };
        let caps = serde_json::to_value(ServerCapabilities::for_version(
            ProtocolVersion::V2025_03_26,
            &all,
        ))
        .unwrap();
        assert_eq!(
            caps,
            json!({
                "tools": {"listChanged": true},
                "resources": {"subscribe": true, "listChanged": true},
                "prompts": {"listChanged": true},
                "logging": {}
            })
        );
        // Logging is not offered in the stateless revision, where it is deprecated, nor are
        // subscriptions, which live in sessions.
        let caps = ServerCapabilities::for_version(ProtocolVersion::V2026_07_28, &all);
        assert_eq!(caps.logging, None);
        assert_eq!(caps.resources.map(|r| r.subscribe), Some(false));
    }

    #[test]
    fn resources_and_prompts_are_advertised_without_notifications() {
        let features = ServerFeatures::TOOLS_RESOURCES_PROMPTS;
        for version in ProtocolVersion::ALL {
            let caps =
                serde_json::to_value(ServerCapabilities::for_version(version, &features)).unwrap();
            assert_eq!(
                caps,
                json!({
                    "tools": {"listChanged": false},
                    "resources": {"subscribe": false, "listChanged": false},
                    "prompts": {"listChanged": false}
                }),
                "{version}"
            );
        }
        let discovered = discover_result(&features);
        assert_eq!(discovered["capabilities"]["prompts"]["listChanged"], false);
        assert_eq!(discovered["capabilities"]["resources"]["subscribe"], false);
    }

    #[test]
    fn request_meta_requires_version_and_capabilities() {
        let good = params(json!({"_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "c", "version": "1"},
            "io.modelcontextprotocol/logLevel": "info"
        }}));
        let meta = RequestMeta::from_params(Some(&good)).unwrap();
        assert_eq!(meta.protocol_version, "2026-07-28");
        assert_eq!(meta.client_info.unwrap().version, "1");
        assert_eq!(meta.log_level.as_deref(), Some("info"));

        let cases = [
            (None, "_meta"),
            (Some(json!({})), "_meta"),
            (Some(json!({"_meta": []})), "_meta"),
            (
                Some(json!({"_meta": {"io.modelcontextprotocol/clientCapabilities": {}}})),
                "protocolVersion",
            ),
            (
                Some(json!({"_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28"
                }})),
                "clientCapabilities",
            ),
            (
                Some(json!({"_meta": {
                    "io.modelcontextprotocol/protocolVersion": 1,
                    "io.modelcontextprotocol/clientCapabilities": {}
                }})),
                "protocolVersion",
            ),
        ];
        for (value, field) in cases {
            let map = value.map(params);
            let err = RequestMeta::from_params(map.as_ref()).unwrap_err();
            assert_eq!(err.code.0, -32602);
            assert!(err.message.contains(field), "{field}: {}", err.message);
        }
    }

    #[test]
    fn discover_lists_every_version_and_is_cacheable() {
        let result = finish_result(
            ProtocolVersion::V2026_07_28,
            discover_result(&ServerFeatures::TOOLS_ONLY),
        );
        assert_eq!(result["supportedVersions"][0], "2026-07-28");
        assert_eq!(result["supportedVersions"].as_array().unwrap().len(), 5);
        assert_eq!(result["resultType"], "complete");
        assert_eq!(result["ttlMs"], LIST_TTL_MS);
        assert_eq!(result["cacheScope"], "public");
        assert_eq!(
            result["_meta"][meta_keys::SERVER_INFO]["name"],
            "second-brain"
        );
    }

    #[test]
    fn finish_result_only_touches_the_stateless_revision() {
        let result = json!({"content": []});
        for version in ProtocolVersion::ALL {
            let finished = finish_result(version, result.clone());
            if version == ProtocolVersion::V2026_07_28 {
                assert_eq!(finished["resultType"], "complete");
                assert!(finished["_meta"][meta_keys::SERVER_INFO].is_object());
            } else {
                assert_eq!(finished, result, "{version}");
            }
        }
        let interim = json!({"resultType": "input_required", "_meta": {"k": 1}});
        let finished = finish_result(ProtocolVersion::V2026_07_28, interim);
        assert_eq!(finished["resultType"], "input_required");
        assert_eq!(finished["_meta"]["k"], 1);
    }
}
