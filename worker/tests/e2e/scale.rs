//! At scale, through rmcp clients: listings of more than 1,000 notes (the page size R2 and
//! our own listings stop at), and many writers racing for one note.
//!
//! Each test has its own user on the shared Worker, so the others do not see its notes.

use std::collections::BTreeSet;
use std::time::Instant;

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::local_worker::shared;
use crate::mcp::{Client, call, connect, ok, run, text};

/// More notes than one page of the largest listing (1,000).
const NOTES: usize = 1_050;
/// rmcp clients (sessions) writing at once while seeding.
const WRITERS: usize = 4;

fn path(i: usize) -> String {
    format!("scale/{:02}/note-{i:04}.md", i % 13)
}

/// Follows `tool`'s cursors from the first page, `field` naming the list in each page; every
/// item's `path`, in the order given. Bounded: at most `NOTES` pages.
async fn all_pages(
    client: &Client,
    tool: &'static str,
    arguments: Value,
    field: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..NOTES {
        let mut arguments = arguments.clone();
        if let Some(cursor) = &cursor {
            arguments["cursor"] = json!(cursor);
        }
        let page = ok(client, tool, arguments).await;
        let items = page[field].as_array().expect("a list");
        seen.extend(
            items
                .iter()
                .map(|item| item["path"].as_str().expect("a path").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
    panic!("{tool} did not finish in {NOTES} pages");
}

#[test]
fn listings_page_through_more_than_a_thousand_notes() {
    let worker = shared();
    let user = "scale-pages";
    run(async {
        let started = Instant::now();
        let clients = join_all((0..WRITERS).map(|_| connect(worker, user))).await;
        join_all(clients.iter().enumerate().map(|(w, client)| async move {
            for i in (w..NOTES).step_by(WRITERS) {
                let content = format!("Note {i} of the pangolin survey.\nline two\n");
                ok(
                    client,
                    "write",
                    json!({"path": path(i), "content": content}),
                )
                .await;
            }
        }))
        .await;
        println!(
            "seeded {NOTES} notes in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let client = &clients[0];
        let expected: Vec<String> = (0..NOTES)
            .map(path)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();

        // glob, default page size (100) and the largest (1,000): every path once, in order.
        for arguments in [
            json!({"pattern": "**/*.md"}),
            json!({"pattern": "scale/**", "limit": 1000}),
        ] {
            let listed = all_pages(client, "glob", arguments.clone(), "files").await;
            assert_eq!(listed.len(), NOTES, "{arguments}");
            assert_eq!(listed, expected, "{arguments}");
        }

        // search: 50 a page (its largest), past the 1,000th hit, each note once.
        let found = all_pages(
            client,
            "search",
            json!({"query": "pangolin", "limit": 50}),
            "results",
        )
        .await;
        let unique: BTreeSet<&String> = found.iter().collect();
        assert_eq!((found.len(), unique.len()), (NOTES, NOTES));

        // recent pages back in time: every note once, past the 1,000th; newest first.
        let recent = all_pages(client, "recent", json!({"limit": 100}), "files").await;
        let unique: BTreeSet<&String> = recent.iter().collect();
        assert_eq!((recent.len(), unique.len()), (NOTES, NOTES));
        let first = ok(client, "recent", json!({"limit": 100})).await;
        let modified: Vec<&str> = first["files"]
            .as_array()
            .expect("files")
            .iter()
            .map(|f| f["modified"].as_str().expect("a time"))
            .collect();
        assert!(modified.windows(2).all(|w| w[0] >= w[1]), "{modified:?}");

        // grep over every note goes on page by page (at most 900 notes a call), so every match
        // is found once; each page says how many notes it scanned.
        let mut matched = Vec::new();
        let mut scanned = 0;
        let mut cursor: Option<String> = None;
        for _ in 0..=NOTES.div_ceil(900) {
            let mut args = json!({"pattern": "pangolin", "max_matches": 1000});
            if let Some(cursor) = &cursor {
                args["cursor"] = json!(cursor);
            }
            let page = ok(client, "grep", args).await;
            assert_eq!(page["truncated"], false);
            scanned += page["scanned"].as_u64().expect("scanned");
            matched.extend(
                page["matches"]
                    .as_array()
                    .expect("matches")
                    .iter()
                    .map(|m| m["path"].as_str().expect("a path").to_owned()),
            );
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        assert!(cursor.is_none(), "grep did not finish within its pages");
        assert_eq!(scanned, NOTES as u64);
        assert_eq!(matched, expected);

        let folder = ok(
            client,
            "grep",
            json!({"pattern": "pangolin", "path": "scale/00/**", "max_matches": 1000}),
        )
        .await;
        assert_eq!(
            folder["matches"].as_array().map(Vec::len),
            Some(NOTES.div_ceil(13))
        );
        assert_eq!(folder["truncated"], false);
        let first = ok(
            client,
            "grep",
            json!({"pattern": "line two", "path": "scale/01/**", "max_matches": 5}),
        )
        .await;
        assert_eq!(first["matches"].as_array().map(Vec::len), Some(5));
        assert_eq!(first["truncated"], true);
        println!(
            "seeded and checked in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    });
}

#[test]
fn of_writers_racing_for_one_version_exactly_one_wins_and_nothing_is_lost() {
    const WRITERS: usize = 8;
    const ROUNDS: usize = 5;
    let worker = shared();
    let user = "scale-race";
    run(async {
        let clients = join_all((0..WRITERS).map(|_| connect(worker, user))).await;
        ok(
            &clients[0],
            "write",
            json!({"path": "race.md", "content": "start"}),
        )
        .await;
        let mut version = 1;
        for round in 0..ROUNDS {
            let barrier = Barrier::new(WRITERS);
            let outcomes = join_all(clients.iter().enumerate().map(|(w, client)| {
                let barrier = &barrier;
                async move {
                    let read = ok(client, "read", json!({"path": "race.md"})).await;
                    assert_eq!(read["version"], version);
                    barrier.wait().await;
                    let content = format!("round {round} writer {w}");
                    let arguments =
                        json!({"path": "race.md", "content": content, "expected_version": version});
                    call(client, "write", arguments).await
                }
            }))
            .await;
            let winners: Vec<usize> = (0..WRITERS)
                .filter(|w| outcomes[*w].is_error != Some(true))
                .collect();
            assert_eq!(winners.len(), 1, "round {round}: {outcomes:?}");
            let winner = winners[0];
            for (w, outcome) in outcomes.iter().enumerate().filter(|(w, _)| *w != winner) {
                let message = text(outcome);
                assert!(
                    message.contains(&format!("is at version {}, not {version}", version + 1)),
                    "round {round}, writer {w}: {message}"
                );
            }
            version += 1;
            let history = ok(
                &clients[0],
                "history",
                json!({"path": "race.md", "limit": 100}),
            )
            .await;
            assert_eq!(
                history["versions"].as_array().map(Vec::len),
                Some(version as usize)
            );
            let read = ok(&clients[0], "read", json!({"path": "race.md"})).await;
            assert_eq!(read["content"], format!("round {round} writer {winner}"));

            // A loser reads again and retries: its text lands too.
            let loser = (winner + 1) % WRITERS;
            let read = ok(&clients[loser], "read", json!({"path": "race.md"})).await;
            let content = format!("round {round} writer {loser}, retried");
            let retried = ok(
                &clients[loser],
                "write",
                json!({"path": "race.md", "content": content, "expected_version": read["version"]}),
            )
            .await;
            version += 1;
            assert_eq!(retried["version"], version);
        }
        let history = ok(
            &clients[0],
            "history",
            json!({"path": "race.md", "limit": 100}),
        )
        .await;
        assert_eq!(
            history["versions"].as_array().map(Vec::len),
            Some(1 + 2 * ROUNDS)
        );
    });
}
