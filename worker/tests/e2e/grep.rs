//! `grep` narrowed by the search index, end to end through rmcp: a rare word in a large
//! corpus is found in one call that scans only its notes; an expression with no literal word
//! still scans every note, page by page; a word inside a longer word, a glob, and notes whose
//! text the index does not have yet are all still found.

use std::collections::BTreeSet;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::local_worker::shared;
use crate::mcp::{Client, connect, ok, run};

const USER: &str = "grep-narrow";
/// More notes than one call's scan (900).
const NOTES: usize = 1_200;
/// Writers at once while seeding.
const WRITERS: usize = 4;

fn path(i: usize) -> String {
    format!("{}/{i:04}.md", ["even", "odd"][i % 2])
}

/// Ten notes hold the rare word; one of them only inside a longer word.
fn is_rare(i: usize) -> bool {
    i % 120 == 7
}

/// Twelve notes hold a phone number (no literal word in the expression that finds them).
fn has_number(i: usize) -> bool {
    i % 100 == 3
}

fn content(i: usize) -> String {
    let mut text = format!("Note {i} of the hedgehog survey.\nSeen near the hedge, twice.\n");
    if is_rare(i) {
        let word = if i == 7 { "superquokkas" } else { "quokka" };
        text.push_str(&format!("A {word} was there too.\n"));
    }
    if has_number(i) {
        text.push_str(&format!("Call 555-{i:04} about it.\n"));
    }
    text
}

/// Every matching path of `arguments`, following cursors; and the pages it took.
async fn all_matches(client: &Client, arguments: Value) -> (Vec<String>, Vec<Value>) {
    let mut found = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..NOTES {
        let mut arguments = arguments.clone();
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = ok(client, "grep", arguments).await;
        assert_eq!(page["truncated"], false, "{page}");
        found.extend(
            page["matches"]
                .as_array()
                .expect("matches")
                .iter()
                .map(|m| m["path"].as_str().expect("a path").to_owned()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        pages.push(page);
        if cursor.is_none() {
            return (found, pages);
        }
    }
    panic!("grep did not finish in {NOTES} pages");
}

fn sorted(paths: impl Iterator<Item = String>) -> Vec<String> {
    paths.collect::<BTreeSet<_>>().into_iter().collect()
}

#[test]
fn grep_scans_only_the_notes_the_index_allows() {
    let worker = shared();
    let rare = sorted((0..NOTES).filter(|&i| is_rare(i)).map(path));
    assert_eq!(rare.len(), 10);
    run(async {
        let clients = join_all((0..WRITERS).map(|_| connect(worker, USER))).await;
        join_all(clients.iter().enumerate().map(|(w, client)| async move {
            for i in (w..NOTES).step_by(WRITERS) {
                ok(
                    client,
                    "write",
                    json!({"path": path(i), "content": content(i)}),
                )
                .await;
            }
        }))
        .await;
        let client = &clients[0];

        // One call finds all ten, scanning ten notes.
        let page = ok(
            client,
            "grep",
            json!({"pattern": r"quokka", "max_matches": 100}),
        )
        .await;
        assert_eq!(
            (&page["narrowed"], &page["candidates"], &page["scanned"]),
            (&json!(true), &json!(10), &json!(10)),
            "{page}"
        );
        assert_eq!(page["next_cursor"], Value::Null);
        let found: Vec<&str> = page["matches"]
            .as_array()
            .expect("matches")
            .iter()
            .map(|m| m["path"].as_str().expect("a path"))
            .collect();
        assert_eq!(found, rare, "all ten, in path order, the longer word too");
        assert_eq!(page["matches"][0]["line"], 3);

        // A whole word: the note with "superquokkas" is a candidate but does not match.
        let (words, _) = all_matches(client, json!({"pattern": r"(?i)\bQUOKKA\b"})).await;
        assert_eq!(words, rare[1..], "{words:?}");

        // With a glob: the candidates it selects.
        let page = ok(
            client,
            "grep",
            json!({"pattern": "quokka", "path": "odd/**"}),
        )
        .await;
        assert_eq!(page["narrowed"], true);
        let odd: Vec<String> = rare
            .iter()
            .filter(|p| p.starts_with("odd/"))
            .cloned()
            .collect();
        let found: Vec<String> = page["matches"]
            .as_array()
            .expect("matches")
            .iter()
            .map(|m| m["path"].as_str().expect("a path").to_owned())
            .collect();
        assert_eq!(
            (found, page["scanned"].as_u64()),
            (odd.clone(), Some(odd.len() as u64))
        );

        // No literal word: every note is scanned, 900 a call, and every match is found.
        let numbers = sorted((0..NOTES).filter(|&i| has_number(i)).map(path));
        let (found, pages) = all_matches(client, json!({"pattern": r"\d{3}-\d{4}"})).await;
        assert_eq!(found, numbers);
        assert_eq!(pages.len(), 2, "{pages:?}");
        let scanned: u64 = pages
            .iter()
            .map(|p| p["scanned"].as_u64().expect("scanned"))
            .sum();
        assert_eq!(scanned, NOTES as u64);
        assert!(
            pages
                .iter()
                .all(|p| p["narrowed"] == false && p["candidates"].is_null())
        );
    });

    // The index forgets every text and waits for them again: every note is a candidate until
    // its text is back (the object's alarm indexes them in steps meanwhile), and the rare
    // word is still found, by scanning as many calls as that takes.
    crate::archive::dev_delete(worker, USER, "search=1");
    run(async {
        let client = connect(worker, USER).await;
        let (found, pages) = all_matches(&client, json!({"pattern": "quokka"})).await;
        assert_eq!(found, rare);
        assert!(pages.iter().all(|p| p["narrowed"] == true), "{pages:?}");
        let candidates = pages[0]["candidates"].as_u64().expect("candidates");
        assert!((10..=NOTES as u64).contains(&candidates), "{candidates}");
        println!(
            "after the reset: {} calls, {candidates} candidates at first",
            pages.len()
        );
    });
}
