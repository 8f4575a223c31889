//! Resources and prompts end to end: the rmcp client (initialized at 2025-06-18) against the
//! real Worker, notes written through the tools; plus raw HTTP for the stateless revision.

use rmcp::ServiceExt;
use rmcp::model::{
    ClientConfig, GetPromptRequestParams, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams,
};
use rmcp::service::{RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, model::ErrorCode};
use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, shared};
use crate::mcp::{ok, post_as, run};

type Client = RunningService<RoleClient, ClientConfig>;

/// An MCP client for `user` that negotiated 2025-06-18.
async fn connect_2025_06_18(worker: &LocalWorker, user: &str) -> Client {
    let mut config = StreamableHttpClientTransportConfig::with_uri(worker.url("/mcp"));
    config.custom_headers.insert(
        "x-dev-user".parse().expect("a header name"),
        user.parse().expect("a header value"),
    );
    let transport = StreamableHttpClientTransport::from_config(config);
    let client = ClientConfig::default()
        .with_protocol_version(ProtocolVersion::V_2025_06_18)
        .serve(transport)
        .await
        .expect("initialize succeeds");
    let info = client.peer_info().expect("the server answered initialize");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_06_18);
    client
}

/// Writes `notes` (path, text), ten at a time.
async fn write_all(client: &Client, notes: &[(String, String)]) {
    for chunk in notes.chunks(10) {
        let writes = chunk
            .iter()
            .map(|(path, content)| ok(client, "write", json!({"path": path, "content": content})));
        futures::future::join_all(writes).await;
    }
}

async fn read(client: &Client, uri: &str) -> Result<Value, ServiceError> {
    let result = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await?;
    Ok(serde_json::to_value(result).expect("JSON"))
}

async fn prompt(client: &Client, name: &str, arguments: Value) -> Result<Value, ServiceError> {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    let result = client
        .get_prompt(GetPromptRequestParams::new(name).with_arguments(arguments))
        .await?;
    Ok(serde_json::to_value(result).expect("JSON"))
}

/// The JSON-RPC error of a failed request.
fn rpc_error(result: Result<Value, ServiceError>) -> (i32, String, Option<Value>) {
    match result {
        Err(ServiceError::McpError(error)) => (error.code.0, error.message.into(), error.data),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// Every text of a prompt's messages, joined.
fn prompt_text(result: &Value) -> String {
    result["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"]["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn resources_list_pages_through_every_note_once_in_order() {
    const NOTES: usize = 230;
    let worker = shared();
    run(async {
        let client = connect_2025_06_18(worker, "resource-pages").await;
        let capabilities = &client.peer_info().expect("peer info").capabilities;
        let capabilities = serde_json::to_value(capabilities).expect("JSON");
        assert_eq!(
            capabilities["resources"],
            json!({"subscribe": true, "listChanged": false})
        );
        assert_eq!(capabilities["prompts"], json!({"listChanged": false}));

        let notes: Vec<(String, String)> = (0..NOTES)
            .map(|i| {
                (
                    format!("pages/{:02}/note {i:03}.md", i % 7),
                    format!("note {i}"),
                )
            })
            .collect();
        write_all(&client, &notes).await;
        let mut expected: Vec<&str> = notes.iter().map(|(path, _)| path.as_str()).collect();
        expected.sort_unstable();

        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let params = PaginatedRequestParams::default().with_cursor(cursor.clone());
            let page = client
                .list_resources(Some(params))
                .await
                .expect("resources/list");
            pages += 1;
            assert!(page.resources.len() <= 100);
            for resource in &page.resources {
                let resource = serde_json::to_value(resource).expect("JSON");
                let name = resource["name"].as_str().expect("a name").to_owned();
                let encoded = name.replace(' ', "%20");
                assert_eq!(resource["uri"], format!("note:///{encoded}"), "{resource}");
                assert_eq!(resource["mimeType"], "text/markdown");
                assert!(
                    resource["title"]
                        .as_str()
                        .is_some_and(|t| name.ends_with(t))
                );
                assert!(resource["size"].as_u64().is_some_and(|s| s >= 6));
                assert!(
                    resource["annotations"]["lastModified"]
                        .as_str()
                        .is_some_and(|t| t.ends_with('Z'))
                );
                seen.push(name);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(pages < 10, "the listing does not end");
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, expected, "every note exactly once, in path order");

        let bad = client
            .list_resources(Some(
                PaginatedRequestParams::default().with_cursor(Some("not-ours".into())),
            ))
            .await;
        let (code, message, _) = rpc_error(bad.map(|_| Value::Null));
        assert_eq!(code, -32602, "{message}");

        let listed = read(&client, "note:///pages/03/note%20003.md")
            .await
            .expect("read a listed note");
        assert_eq!(listed["contents"][0]["text"], "note 3");
    });
}

#[test]
fn read_notes_and_past_versions_through_the_templates() {
    let worker = shared();
    run(async {
        let client = connect_2025_06_18(worker, "resource-read").await;
        let templates = client
            .list_resource_templates(None)
            .await
            .expect("resources/templates/list");
        let templates = serde_json::to_value(&templates.resource_templates).expect("JSON");
        let uri_templates: Vec<&str> = templates
            .as_array()
            .expect("templates")
            .iter()
            .map(|t| t["uriTemplate"].as_str().expect("a template"))
            .collect();
        assert_eq!(
            uri_templates,
            ["note:///{+path}", "note:///{+path}{?version}"]
        );
        assert_eq!(templates[1]["title"], "Note version");

        ok(
            &client,
            "write",
            json!({"path": "ideas/plan été.md", "content": "first draft"}),
        )
        .await;
        ok(
            &client,
            "edit",
            json!({"path": "ideas/plan été.md", "old_str": "first", "new_str": "second"}),
        )
        .await;
        ok(
            &client,
            "write",
            json!({"path": "todo.txt", "content": "x"}),
        )
        .await;

        // What a client makes of the templates: {+path} keeps '/', escapes the rest.
        let uri = "note:///ideas/plan%20%C3%A9t%C3%A9.md";
        let current = read(&client, uri).await.expect("the current text");
        assert_eq!(
            current["contents"],
            json!([{"uri": uri, "mimeType": "text/markdown", "text": "second draft"}])
        );
        let first = read(&client, &format!("{uri}?version=1"))
            .await
            .expect("version 1");
        assert_eq!(first["contents"][0]["text"], "first draft");
        assert_eq!(first["contents"][0]["uri"], format!("{uri}?version=1"));
        let plain = read(&client, "note:///todo.txt").await.expect("todo.txt");
        assert_eq!(plain["contents"][0]["mimeType"], "text/plain");

        let (code, message, data) = rpc_error(read(&client, "note:///absent.md").await);
        assert_eq!(code, ErrorCode::RESOURCE_NOT_FOUND.0, "{message}");
        assert!(message.starts_with("Resource not found"), "{message}");
        assert_eq!(data, Some(json!({"uri": "note:///absent.md"})));
        let (code, message, _) = rpc_error(read(&client, &format!("{uri}?version=9")).await);
        assert_eq!(code, -32002);
        assert!(message.contains("no version 9"), "{message}");

        ok(&client, "edit", json!({"path": "todo.txt", "delete": true})).await;
        let (code, message, _) = rpc_error(read(&client, "note:///todo.txt").await);
        assert_eq!(code, -32002, "{message}");
        let (code, message, _) = rpc_error(read(&client, "note:///todo.txt?version=2").await);
        assert_eq!(code, -32002);
        assert!(message.contains("deletion"), "{message}");
        let old = read(&client, "note:///todo.txt?version=1")
            .await
            .expect("a deleted note's past version");
        assert_eq!(old["contents"][0]["text"], "x");

        for bad in [
            "note:///../up.md",
            "file:///todo.txt",
            "note://host/todo.txt",
            "note:///a b.md",
            "note:///a%2Fb.md",
            "note:///todo.txt?version=0",
            "note:///todo.txt?rev=1",
        ] {
            let (code, message, _) = rpc_error(read(&client, bad).await);
            assert_eq!(code, -32602, "{bad}: {message}");
        }
    });
}

#[test]
fn prompts_are_listed_and_each_one_is_served() {
    let worker = shared();
    run(async {
        let client = connect_2025_06_18(worker, "prompts").await;
        let prompts = client.list_all_prompts().await.expect("prompts/list");
        let prompts = serde_json::to_value(&prompts).expect("JSON");
        let names: Vec<&str> = prompts
            .as_array()
            .expect("prompts")
            .iter()
            .map(|p| p["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(names, ["capture-note", "weekly-review", "research-summary"]);
        for prompt in prompts.as_array().expect("prompts") {
            assert!(prompt["title"].is_string(), "{prompt}");
            for argument in prompt["arguments"].as_array().expect("arguments") {
                assert!(argument["description"].is_string(), "{argument}");
            }
        }

        write_all(
            &client,
            &[
                (
                    "garden/tomatoes.md".into(),
                    "Water the heirloom tomatoes daily.".into(),
                ),
                ("garden/roses.md".into(), "Prune in spring.".into()),
            ],
        )
        .await;
        ok(
            &client,
            "edit",
            json!({"path": "garden/roses.md", "old_str": "spring", "new_str": "March"}),
        )
        .await;

        let capture = prompt(
            &client,
            "capture-note",
            json!({"text": "Ask Sam about the greenhouse", "topic": "garden"}),
        )
        .await
        .expect("capture-note");
        let text = prompt_text(&capture);
        assert!(text.contains("Ask Sam about the greenhouse"), "{text}");
        assert!(
            text.contains("`write`") && text.contains("`search`"),
            "{text}"
        );
        assert_eq!(capture["messages"][0]["role"], "user");

        let review = prompt(&client, "weekly-review", json!({}))
            .await
            .expect("weekly-review");
        let text = prompt_text(&review);
        assert!(text.contains("last 7 days"), "{text}");
        let roses = text
            .find("- garden/roses.md (version 2, changed ")
            .unwrap_or_else(|| panic!("roses listed: {text}"));
        let tomatoes = text
            .find("- garden/tomatoes.md (version 1, changed ")
            .unwrap_or_else(|| panic!("tomatoes listed: {text}"));
        assert!(roses < tomatoes, "newest first: {text}");

        let research = prompt(&client, "research-summary", json!({"topic": "heirloom"}))
            .await
            .expect("research-summary");
        let text = prompt_text(&research);
        assert!(text.contains("garden/tomatoes.md (version 1)"), "{text}");
        assert!(text.contains("heirloom tomatoes"), "the snippet: {text}");
        assert!(!text.contains("roses"), "{text}");
        let links: Vec<&Value> = research["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| &m["content"])
            .filter(|c| c["type"] == "resource_link")
            .collect();
        assert_eq!(links.len(), 1, "{research}");
        assert_eq!(links[0]["uri"], "note:///garden/tomatoes.md");

        for (name, arguments, needle) in [
            (
                "capture-note",
                json!({"topic": "garden"}),
                "\"text\" is required",
            ),
            ("research-summary", json!({}), "\"topic\" is required"),
            ("weekly-review", json!({"days": "0"}), "from 1 to 366"),
            ("summarise", json!({}), "unknown prompt"),
        ] {
            let (code, message, _) = rpc_error(prompt(&client, name, arguments).await);
            assert_eq!(code, -32602, "{name}: {message}");
            assert!(message.contains(needle), "{name}: {message}");
        }
    });
}

// ---------------------------------------------------------------- stateless, raw HTTP

/// A stateless (2026-07-28) request as `user`, with the headers it mirrors; returns the body.
fn stateless(worker: &LocalWorker, user: &str, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut headers = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", method),
    ];
    if let Some(name) = &name {
        headers.push(("mcp-name", name));
    }
    let (status, response) = post_as(worker, user, &body.to_string(), &headers);
    assert_eq!(status, 200, "{method}");
    response.json().expect("a JSON-RPC response")
}

#[test]
fn the_stateless_revision_lists_and_reads_resources() {
    let worker = shared();
    let user = "resource-stateless";
    let discovered = stateless(worker, user, "server/discover", json!({}));
    let capabilities = &discovered["result"]["capabilities"];
    assert_eq!(
        capabilities["resources"],
        json!({"subscribe": false, "listChanged": false})
    );
    assert_eq!(capabilities["prompts"], json!({"listChanged": false}));

    let written = stateless(
        worker,
        user,
        "tools/call",
        json!({"name": "write", "arguments": {"path": "s/one.md", "content": "stateless"}}),
    );
    assert_eq!(written["result"]["isError"], false, "{written}");

    let listed = stateless(worker, user, "resources/list", json!({}));
    let result = &listed["result"];
    assert_eq!(result["resultType"], "complete", "{listed}");
    assert_eq!(result["resources"][0]["uri"], "note:///s/one.md");
    assert_eq!(result["ttlMs"], 0);
    assert_eq!(result["cacheScope"], "private");
    assert!(result.get("nextCursor").is_none());

    let read = stateless(
        worker,
        user,
        "resources/read",
        json!({"uri": "note:///s/one.md"}),
    );
    assert_eq!(read["result"]["contents"][0]["text"], "stateless", "{read}");

    // 2026-07-28 answers a missing resource with -32602, not -32002.
    let missing = stateless(
        worker,
        user,
        "resources/read",
        json!({"uri": "note:///s/two.md"}),
    );
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    assert_eq!(missing["error"]["data"], json!({"uri": "note:///s/two.md"}));

    let templates = stateless(worker, user, "resources/templates/list", json!({}));
    assert_eq!(templates["result"]["cacheScope"], "public", "{templates}");
    let prompts = stateless(worker, user, "prompts/list", json!({}));
    assert_eq!(
        prompts["result"]["prompts"].as_array().map(Vec::len),
        Some(3),
        "{prompts}"
    );
    let review = stateless(
        worker,
        user,
        "prompts/get",
        json!({"name": "weekly-review", "arguments": {"days": "2"}}),
    );
    assert_eq!(review["result"]["resultType"], "complete", "{review}");
    let text = review["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("- s/one.md (version 1,"), "{text}");
}
