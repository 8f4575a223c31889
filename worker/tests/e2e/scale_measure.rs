//! The scale instrument (local development's `/__dev/grow/{user}` and `/__dev/memory/{user}`):
//! a user grown to 2,500 generated notes in bounded batches, then checked through an rmcp
//! client: the memory report's figures, search and grep finding one needle's ten notes, and
//! glob paging visiting every note once. Also the grow route's refusals and its gating.
//!
//! `SCALE_E2E_NOTES=100000` grows the user to that many notes instead (whole thousands, up to
//! 1,000,000), for a run at the quota; it takes tens of minutes, so the test command runs the
//! default.

use std::collections::BTreeSet;

use engine::scale_notes;
use serde_json::{Value, json};

use crate::local_worker::{LocalWorker, client, shared};
use crate::mcp::{connect, ok, run_within};

const USER: &str = "scale-measure";
/// Notes the user is grown to, unless `SCALE_E2E_NOTES` says otherwise.
const NOTES: u64 = 2_500;

/// The notes to grow to: [`NOTES`], or `SCALE_E2E_NOTES`.
fn notes_wanted() -> u64 {
    match std::env::var("SCALE_E2E_NOTES") {
        Ok(value) => value
            .parse::<u64>()
            .ok()
            .filter(|n| (1_000..=1_000_000).contains(n) && n % 1_000 == 0)
            .unwrap_or_else(|| {
                panic!("SCALE_E2E_NOTES={value:?}: expected whole thousands up to 1,000,000")
            }),
        Err(_) => NOTES,
    }
}
/// Notes per grow request (the route's largest batch).
const BATCH: u64 = 1_000;
/// Each note's size: small, so grep's pages stay few.
const SIZE: usize = 256;

fn grow(worker: &LocalWorker, user: &str, query: &str) -> (u16, Value) {
    let response = client()
        .post(worker.url(&format!("/__dev/grow/{user}?{query}")))
        .send()
        .expect("the grow route answers");
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON answer"))
}

fn memory(worker: &LocalWorker, user: &str) -> Value {
    let response = client()
        .get(worker.url(&format!("/__dev/memory/{user}")))
        .send()
        .expect("the memory route answers");
    assert_eq!(response.status(), 200);
    response.json().expect("a JSON report")
}

/// Follows `tool`'s cursors from the first page; every page's items under `field`, mapped by
/// `item`. At most `pages` pages.
async fn pages(
    client: &crate::mcp::Client,
    tool: &'static str,
    arguments: Value,
    field: &str,
    pages: usize,
) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for page_number in 1..=pages {
        let mut arguments = arguments.clone();
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = ok(client, tool, arguments).await;
        items.extend(page[field].as_array().expect("a list").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (items, page_number),
        }
    }
    panic!("{tool} did not finish in {pages} pages");
}

fn paths(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|item| item["path"].as_str().expect("a path").to_owned())
        .collect()
}

#[test]
fn a_user_grown_to_2500_notes_is_reported_found_and_listed_whole() {
    let worker = shared();
    let notes = notes_wanted();
    for from in (0..notes).step_by(BATCH as usize) {
        let count = BATCH.min(notes - from);
        let (status, answer) = grow(
            worker,
            USER,
            &format!("from={from}&count={count}&size={SIZE}"),
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            (answer["written"].as_u64(), answer["unchanged"].as_u64()),
            (Some(count), Some(0)),
            "{answer}"
        );
        assert_eq!(answer["files"], from + count, "{answer}");
        assert!(answer["elapsed_ms"].is_u64() && answer["head"].is_u64());
    }
    // The same request again writes nothing and fails nothing: the notes hold those bytes.
    let (status, again) = grow(worker, USER, &format!("from=1000&count=1000&size={SIZE}"));
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["written"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(1000))
    );
    assert_eq!(again["files"], notes);

    let report = memory(worker, USER);
    assert!(
        report["wasm_memory_bytes"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert!(
        report["blob_cache_bytes"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    let store = &report["store"];
    assert_eq!(store["files"], notes, "{report}");
    assert_eq!(store["history_paths"], notes, "{report}");
    assert_eq!(store["versions"], notes, "{report}");
    assert_eq!(store["file_bytes"], notes * SIZE as u64, "{report}");
    assert!(store["head_seq"].as_u64().unwrap_or(0) >= notes, "{report}");
    assert!(store["snapshot_seq"].is_u64());
    assert_eq!(store["sessions"], 0, "no MCP session yet");
    assert_eq!(store["unindexed"], 0, "{report}");
    // Written notes are indexed as they are written, in the object's SQLite.
    assert_eq!(store["search"]["indexed"], notes, "{report}");
    assert!(store["search"]["backlog"].as_u64().is_some(), "{report}");
    assert_eq!(report["opened_now"], false, "the grow requests opened it");

    let needle_notes: Vec<String> = (70..80).map(scale_notes::path).collect();
    // Two minutes at the default size; grep's full pages and glob's pages grow with the notes.
    let limit = std::time::Duration::from_secs(120 + notes / 100);
    run_within(limit, async {
        let client = connect(worker, USER).await;

        let (hits, _) = pages(&client, "search", json!({"query": "needle7"}), "results", 5).await;
        let mut found = paths(&hits);
        found.sort();
        assert_eq!(found, needle_notes);

        // A needle is a prefix of longer ones (needle70...), so the pattern has word bounds.
        let (matches, grep_pages) = pages(
            &client,
            "grep",
            json!({"pattern": r"\bneedle7\b", "path": "scale/**"}),
            "matches",
            (notes / 100 + 100) as usize,
        )
        .await;
        let matched = paths(&matches);
        assert_eq!(matched, needle_notes, "in {grep_pages} pages");

        let (files, glob_pages) = pages(
            &client,
            "glob",
            json!({"pattern": "scale/**"}),
            "files",
            (notes / 100 + 1) as usize,
        )
        .await;
        let listed = paths(&files);
        let unique: BTreeSet<&String> = listed.iter().collect();
        assert_eq!(
            (listed.len(), unique.len()),
            (notes as usize, notes as usize)
        );
        let expected: Vec<String> = (0..notes).map(scale_notes::path).collect();
        assert_eq!(listed, expected, "in path order");
        assert_eq!(glob_pages as u64, notes.div_ceil(100), "pages of 100");
    });
}

#[test]
fn the_grow_route_refuses_more_than_a_thousand_notes_and_bad_numbers() {
    let worker = shared();
    let user = "scale-refusals";
    let (status, answer) = grow(worker, user, "from=0&count=1001&size=4096");
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_grow");
    let message = answer["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("at most 1000 notes a request") && message.contains("got 1001"),
        "{message}"
    );
    for query in [
        "from=0&count=1&size=4",
        "from=0&size=64",
        "from=9999999&count=2&size=64",
    ] {
        assert_eq!(grow(worker, user, query).0, 400, "{query}");
    }
    // Nothing was written by the refusals; a wrong method is refused too.
    assert_eq!(memory(worker, user)["store"]["files"], 0);
    let wrong = client()
        .get(worker.url(&format!("/__dev/grow/{user}?from=0&count=1&size=64")))
        .send()
        .expect("answered");
    assert_eq!(wrong.status(), 405);
    // One note, from seed 2: written once, then unchanged.
    let (status, answer) = grow(worker, user, "from=7&count=1&size=64&seed=2");
    assert_eq!((status, answer["written"].as_u64()), (200, Some(1)));
    let (_, answer) = grow(worker, user, "from=7&count=1&size=64&seed=2");
    assert_eq!(answer["unchanged"], 1);
}

#[test]
fn the_scale_routes_answer_this_machine_only() {
    let worker = shared();
    for (method, path) in [
        (reqwest::Method::GET, "/__dev/memory/scale-remote"),
        (
            reqwest::Method::POST,
            "/__dev/grow/scale-remote?from=0&count=1&size=64",
        ),
    ] {
        let refused = client()
            .request(method.clone(), worker.url(path))
            .header("cf-connecting-ip", "198.51.100.1")
            .send()
            .expect("answered");
        assert_eq!(refused.status(), 404, "{path}");
    }
    assert_eq!(memory(worker, "scale-remote")["store"]["files"], 0);
}
