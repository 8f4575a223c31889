//! Behaviour of the whole index: ranking, updates, pagination, persistence, hostile input.

use super::*;

fn paths(page: &SearchPage) -> Vec<&str> {
    page.hits.iter().map(|h| h.path.as_str()).collect()
}

/// Every hit of `query`, fetched `per_page` at a time through cursor tokens.
fn all_pages(index: &SearchIndex, query: &str, per_page: usize) -> Vec<SearchHit> {
    let mut hits = Vec::new();
    let mut cursor: Option<SearchCursor> = None;
    for _ in 0..10_000 {
        let page = index.search(query, per_page, cursor.as_ref());
        assert!(page.hits.len() <= per_page.clamp(1, MAX_LIMIT));
        hits.extend(page.hits);
        match page.next {
            Some(next) => cursor = Some(SearchCursor::from_token(&next.to_token()).unwrap()),
            None => return hits,
        }
    }
    panic!("pagination did not end");
}

fn cbor_round_trip(index: &SearchIndex) -> (Vec<u8>, SearchIndex) {
    let mut bytes = Vec::new();
    ciborium::into_writer(index, &mut bytes).unwrap();
    let back: SearchIndex = ciborium::from_reader(bytes.as_slice()).unwrap();
    (bytes, back)
}

#[test]
fn empty_index_and_empty_queries() {
    let mut index = SearchIndex::new();
    assert!(index.is_empty());
    assert_eq!(index.search("anything", 10, None), SearchPage::default());
    index.upsert("a.md", "some words here");
    for query in ["", "   ", "!!! ???", "the and of", "\0"] {
        assert_eq!(
            index.search(query, 10, None),
            SearchPage::default(),
            "{query:?}"
        );
    }
    assert_eq!(index.search("absent", 10, None), SearchPage::default());
}

#[test]
fn more_occurrences_of_a_term_rank_higher() {
    let mut index = SearchIndex::new();
    let filler = " lorem ipsum dolor sit amet";
    index.upsert("one.md", &format!("zebra{filler}{filler}"));
    index.upsert("three.md", &format!("zebra zebra zebra{filler}{filler}"));
    index.upsert("none.md", &format!("horse{filler}{filler}"));
    let page = index.search("zebra", 10, None);
    assert_eq!(paths(&page), ["three.md", "one.md"]);
    assert!(page.hits[0].score > page.hits[1].score);
    assert!(
        page.hits
            .iter()
            .all(|h| h.score > 0.0 && h.matched_terms == 1)
    );
}

#[test]
fn rare_terms_weigh_more_than_common_ones() {
    let mut index = SearchIndex::new();
    // "common" is in every note, "rare" in one; both notes below have each term once.
    index.upsert("x1.md", "common word filler filler");
    index.upsert("x2.md", "rare word filler filler");
    for i in 0..20 {
        index.upsert(&format!("o{i}.md"), "common filler text filler");
    }
    let page = index.search("common rare", 3, None);
    assert_eq!(page.hits[0].path, "x2.md");
    let rare = index.search("rare", 1, None).hits[0].score;
    let common = index.search("common", 100, None);
    assert!(common.hits.iter().all(|h| h.score < rare));
}

#[test]
fn matching_more_query_terms_ranks_higher_and_is_counted() {
    let mut index = SearchIndex::new();
    index.upsert("x.md", "apple banana");
    index.upsert("y.md", "apple cherry");
    index.upsert("z.md", "banana cherry");
    let page = index.search("apple banana apple", 10, None);
    assert_eq!(page.hits[0].path, "x.md");
    assert_eq!(page.hits[0].matched_terms, 2);
    assert_eq!(page.hits[1].matched_terms, 1);
    assert_eq!(page.hits.len(), 3);
    // A repeated query term counts once.
    assert_eq!(page, index.search("apple banana", 10, None));
}

#[test]
fn path_words_are_indexed_and_weighted() {
    let mut index = SearchIndex::new();
    index.upsert("projects/kubernetes-migration.md", "moving the cluster");
    index.upsert("journal/monday.md", "talked about kubernetes with the team");
    let page = index.search("kubernetes", 10, None);
    assert_eq!(
        paths(&page),
        ["projects/kubernetes-migration.md", "journal/monday.md"]
    );
    assert_eq!(
        paths(&index.search("projects", 10, None)),
        ["projects/kubernetes-migration.md"]
    );
    assert_eq!(
        paths(&index.search("MONDAY", 10, None)),
        ["journal/monday.md"]
    );
}

#[test]
fn ties_break_by_path() {
    let mut index = SearchIndex::new();
    for name in ["c", "a", "d", "b"] {
        // Paths of equal term counts, so every length and score is equal.
        index.upsert(&format!("x/{name}1"), "same same words");
    }
    let page = index.search("same", 10, None);
    assert_eq!(paths(&page), ["x/a1", "x/b1", "x/c1", "x/d1"]);
    assert!(page.hits.windows(2).all(|w| w[0].score == w[1].score));
}

#[test]
fn upsert_replaces_old_terms() {
    let mut index = SearchIndex::new();
    index.upsert("n.md", "alpha beta gamma");
    index.upsert("other.md", "beta");
    index.upsert("n.md", "beta delta");
    index.check_invariants();
    assert_eq!(index.len(), 2);
    assert!(index.search("alpha", 10, None).hits.is_empty());
    assert!(index.search("gamma", 10, None).hits.is_empty());
    assert_eq!(paths(&index.search("delta", 10, None)), ["n.md"]);
    assert_eq!(index.search("beta", 10, None).hits.len(), 2);
    let mut fresh = SearchIndex::new();
    fresh.upsert("other.md", "beta");
    fresh.upsert("n.md", "beta delta");
    assert_eq!(index, fresh);
    assert_eq!(
        index.search("beta delta", 10, None),
        fresh.search("beta delta", 10, None)
    );
    // Terms no document has any more are forgotten.
    assert_eq!(index.term_count(), fresh.term_count());
}

#[test]
fn remove_forgets_and_frees() {
    let mut index = SearchIndex::new();
    index.upsert("a.md", "kiwi mango");
    index.upsert("b.md", "kiwi");
    index.remove("a.md");
    index.remove("a.md");
    index.remove("never.md");
    index.check_invariants();
    assert!(!index.contains("a.md"));
    assert_eq!(index.len(), 1);
    assert!(index.search("mango", 10, None).hits.is_empty());
    assert_eq!(paths(&index.search("kiwi", 10, None)), ["b.md"]);
    index.remove("b.md");
    assert!(index.is_empty());
    assert_eq!(index.term_count(), 0);
    assert_eq!(index, SearchIndex::new());
    // Slots are reused.
    index.upsert("c.md", "kiwi");
    index.check_invariants();
    assert_eq!(index.docs.len(), 2);
}

#[test]
fn rename_moves_and_replaces() {
    let mut index = SearchIndex::new();
    index.upsert("inbox/draft.md", "quantum entanglement notes");
    index.upsert("physics/quantum.md", "older text about lasers");
    index.rename("inbox/draft.md", "physics/quantum.md");
    index.check_invariants();
    assert_eq!(index.len(), 1);
    assert!(!index.contains("inbox/draft.md"));
    assert!(index.search("lasers", 10, None).hits.is_empty());
    assert!(index.search("inbox draft", 10, None).hits.is_empty());
    let mut fresh = SearchIndex::new();
    fresh.upsert("physics/quantum.md", "quantum entanglement notes");
    assert_eq!(index, fresh);
    assert_eq!(
        index.search("quantum physics", 10, None),
        fresh.search("quantum physics", 10, None)
    );

    // Absent source, same path: no-ops.
    index.rename("missing.md", "physics/quantum.md");
    index.rename("physics/quantum.md", "physics/quantum.md");
    assert_eq!(index, fresh);
    // A path word that is also in the text keeps the text's count.
    index.rename("physics/quantum.md", "archive/entanglement.md");
    fresh = SearchIndex::new();
    fresh.upsert("archive/entanglement.md", "quantum entanglement notes");
    index.check_invariants();
    assert_eq!(index, fresh);
}

#[test]
fn pagination_yields_every_hit_once_in_order() {
    let mut index = SearchIndex::new();
    for i in 0..237 {
        // Scores repeat (i % 7), so many ties are broken by path across page boundaries.
        let text = format!("{} filler", "needle ".repeat(1 + i % 7));
        index.upsert(&format!("n/{i:03}.md"), &text);
    }
    let everything = all_pages(&index, "needle", 100);
    assert_eq!(everything.len(), 237);
    for per_page in [1, 2, 7, 10, 50, 100, 1000] {
        let hits = all_pages(&index, "needle", per_page);
        assert_eq!(hits, everything, "per_page {per_page}");
    }
    let mut seen: Vec<&str> = everything.iter().map(|h| h.path.as_str()).collect();
    assert!(everything.windows(2).all(|w| {
        w[0].score > w[1].score || (w[0].score == w[1].score && w[0].path < w[1].path)
    }));
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 237);
    // limit 0 is clamped to 1; the last page has no cursor.
    assert_eq!(index.search("needle", 0, None).hits.len(), 1);
    assert_eq!(
        index.search("needle", usize::MAX, None).hits.len(),
        MAX_LIMIT
    );
    let last = everything.last().unwrap();
    let after_last = SearchCursor::new(last.score, &last.path);
    assert_eq!(
        index.search("needle", 10, Some(&after_last)),
        SearchPage::default()
    );
    let page = index.search("needle", 237, None);
    assert!(page.next.is_some());
}

#[test]
fn searches_are_deterministic() {
    let mut index = SearchIndex::new();
    for i in 0..50 {
        index.upsert(
            &format!("{i}.md"),
            &format!("w{} w{} w{}", i % 3, i % 5, i % 11),
        );
    }
    let first = all_pages(&index, "w1 w2 w3", 4);
    for _ in 0..3 {
        assert_eq!(all_pages(&index, "w1 w2 w3", 4), first);
    }
    let copy = index.clone();
    assert_eq!(all_pages(&copy, "w1 w2 w3", 4), first);
}

#[test]
fn cbor_round_trip_keeps_results() {
    let mut index = SearchIndex::new();
    for i in 0..120 {
        let text = format!(
            "topic{} shared words number{} {}",
            i % 9,
            i,
            "body ".repeat(i % 4)
        );
        index.upsert(&format!("dir{}/note-{i}.md", i % 5), &text);
    }
    index.remove("dir0/note-0.md");
    index.rename("dir1/note-1.md", "moved/one.md");
    index.upsert("dir2/note-2.md", "replaced ünïcödé 東京 content");
    let (bytes, back) = cbor_round_trip(&index);
    back.check_invariants();
    assert_eq!(back, index);
    assert_eq!(back.len(), index.len());
    assert_eq!(back.term_count(), index.term_count());
    for query in [
        "topic3",
        "shared words",
        "moved one",
        "東京",
        "body topic1 number77",
        "dir4",
    ] {
        assert_eq!(
            all_pages(&back, query, 7),
            all_pages(&index, query, 7),
            "{query}"
        );
    }
    // Canonical: the same documents inserted in another order give the same bytes.
    let mut order: Vec<&str> = index.paths.keys().map(|p| &**p).collect();
    order.sort_unstable();
    order.reverse();
    let mut rebuilt = SearchIndex::new();
    for path in order {
        rebuilt.upsert(path, &index_text_without_path(&index, path));
    }
    let (rebuilt_bytes, _) = cbor_round_trip(&rebuilt);
    assert_eq!(rebuilt, index);
    assert_eq!(rebuilt_bytes, bytes);
    // A serialize after a round trip is byte-identical too.
    let (again, _) = cbor_round_trip(&back);
    assert_eq!(again, bytes);
    let mut other = SearchIndex::new();
    other.upsert("x", "y");
    assert_ne!(other, index);
}

/// The text of `path`'s document with its path words' contribution taken out.
fn index_text_without_path(index: &SearchIndex, path: &str) -> String {
    let doc = index.paths[path];
    let path_words = tokenize(path);
    let mut words = Vec::new();
    for (term, tf) in index.doc_terms(doc) {
        let text = index.terms.text(term);
        let in_path = path_words.iter().filter(|w| *w == text).count() as u32;
        for _ in 0..tf - in_path * PATH_WEIGHT {
            words.push(text.to_owned());
        }
    }
    words.join(" ")
}

#[test]
fn serialized_form_is_compact() {
    let mut index = SearchIndex::new();
    let mut text = String::new();
    for i in 0..2000u32 {
        text.push_str(&format!("word{} ", (i * 7919) % 500));
    }
    for i in 0..100 {
        index.upsert(&format!("n{i}.md"), &text[i * 10..]);
    }
    let (bytes, back) = cbor_round_trip(&index);
    assert_eq!(back, index);
    let pairs = index.postings.count();
    // Paths and terms are small here; the postings are about 2 bytes a pair.
    assert!(
        bytes.len() < pairs * 3 + 10_000,
        "{} bytes for {pairs} pairs",
        bytes.len()
    );
}

#[test]
fn empty_index_round_trips() {
    let (_, back) = cbor_round_trip(&SearchIndex::new());
    assert_eq!(back, SearchIndex::new());
    assert!(back.is_empty());
    let mut index = SearchIndex::new();
    index.upsert("!!!", "");
    let (_, back) = cbor_round_trip(&index);
    assert!(back.contains("!!!"));
}

/// A serialized index in the documented layout, written by hand.
#[derive(serde::Serialize)]
struct Raw {
    v: u32,
    paths: Vec<&'static str>,
    terms: Vec<&'static str>,
    #[serde(with = "raw_bytes")]
    postings: Vec<u8>,
}

mod raw_bytes {
    pub(super) fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
}

fn load(raw: &Raw) -> Result<SearchIndex, String> {
    let mut bytes = Vec::new();
    ciborium::into_writer(raw, &mut bytes).unwrap();
    ciborium::from_reader::<SearchIndex, _>(bytes.as_slice()).map_err(|e| e.to_string())
}

#[test]
fn hand_written_snapshot_loads() {
    // "apple": docs 0 (tf 2) and 1 (tf 1); "pie": doc 1 (tf 4).
    // Both paths are stopwords, so they add no terms.
    let raw = Raw {
        v: FORMAT_VERSION,
        paths: vec!["a", "the"],
        terms: vec!["apple", "pie"],
        postings: vec![1, 0, 1, 0, 0, 0, 1, 3],
    };
    let index = load(&raw).unwrap();
    index.check_invariants();
    let mut expected = SearchIndex::new();
    expected.upsert("a", "apple apple");
    expected.upsert("the", "apple pie pie pie pie");
    assert_eq!(index, expected);
}

#[test]
fn inconsistent_snapshots_are_refused() {
    let good = || Raw {
        v: FORMAT_VERSION,
        paths: vec!["a", "the"],
        terms: vec!["apple", "pie"],
        postings: vec![1, 0, 1, 0, 0, 0, 1, 3],
    };
    assert!(load(&good()).is_ok());
    let cases: Vec<(&str, Raw)> = vec![
        (
            "version",
            Raw {
                v: FORMAT_VERSION + 1,
                ..good()
            },
        ),
        (
            "paths order",
            Raw {
                paths: vec!["the", "a"],
                ..good()
            },
        ),
        (
            "duplicate path",
            Raw {
                paths: vec!["a", "a"],
                ..good()
            },
        ),
        (
            "terms order",
            Raw {
                terms: vec!["pie", "apple"],
                ..good()
            },
        ),
        (
            "empty term",
            Raw {
                terms: vec!["", "pie"],
                ..good()
            },
        ),
        (
            "doc out of range",
            Raw {
                postings: vec![1, 0, 1, 5, 0, 0, 1, 3],
                ..good()
            },
        ),
        (
            "df too large",
            Raw {
                postings: vec![7, 0, 1, 0, 0, 0, 1, 3],
                ..good()
            },
        ),
        (
            "truncated",
            Raw {
                postings: vec![1, 0, 1, 0, 0, 0, 1],
                ..good()
            },
        ),
        (
            "trailing",
            Raw {
                postings: vec![1, 0, 1, 0, 0, 0, 1, 3, 0],
                ..good()
            },
        ),
        (
            "missing term postings",
            Raw {
                postings: vec![1, 0, 1, 0, 0],
                ..good()
            },
        ),
        (
            "tf overflow",
            Raw {
                postings: vec![0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 1, 0],
                ..good()
            },
        ),
        (
            "varint overflow",
            Raw {
                postings: vec![0x80, 0x80, 0x80, 0x80, 0x80, 0],
                ..good()
            },
        ),
        (
            "terms without docs",
            Raw {
                paths: vec![],
                ..good()
            },
        ),
    ];
    for (what, raw) in cases {
        assert!(load(&raw).is_err(), "{what} was accepted");
    }
    // Not the documented shape at all.
    for bytes in [&b""[..], &[0xa0], &[0x80], &[0xff, 0x00], &[0x42, 1, 2]] {
        assert!(ciborium::from_reader::<SearchIndex, _>(bytes).is_err());
    }
}

#[test]
fn hostile_input_does_not_panic() {
    let mut index = SearchIndex::new();
    let huge_token = "x".repeat(1 << 16);
    let inputs = [
        String::new(),
        "\0".repeat(100),
        huge_token.clone(),
        format!("{huge_token} ok {huge_token}"),
        "\u{feff}\u{200b}\u{202e}rtl\u{2066}".to_owned(),
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ᾈ ﬃ ǅ".to_owned(),
        "e\u{301}\u{301}\u{301}".to_owned(),
        "İIıi ΣΣΣ".to_owned(),
        "\u{10ffff}\u{fffd}".to_owned(),
        "a-b_c.d/e".repeat(1000),
    ];
    for (i, text) in inputs.iter().enumerate() {
        index.upsert(text, text);
        index.upsert(&format!("{i}"), text);
        for query in &inputs {
            let page = index.search(query, 3, None);
            assert!(
                page.hits
                    .iter()
                    .all(|h| h.score.is_finite() && h.score > 0.0)
            );
        }
    }
    index.check_invariants();
    for text in &inputs {
        index.rename(text, "");
        index.rename("", text);
        index.remove(text);
    }
    index.check_invariants();
    let (_, back) = cbor_round_trip(&index);
    assert_eq!(back, index);
}

#[test]
fn large_term_frequencies_are_exact() {
    let text = format!(
        "{}{}{}",
        "alpha ".repeat(300),
        "beta ".repeat(254),
        "gamma ".repeat(255)
    );
    let mut index = SearchIndex::new();
    index.upsert("alpha/beta.md", &text);
    index.upsert("other.md", "alpha beta gamma delta");
    index.check_invariants();
    let tfs = |index: &SearchIndex, path: &str| -> Vec<(String, u32)> {
        let mut tfs: Vec<(String, u32)> = index
            .doc_terms(index.paths[path])
            .map(|(t, tf)| (index.terms.text(t).to_owned(), tf))
            .collect();
        tfs.sort();
        tfs
    };
    let expected = [("alpha", 303), ("beta", 257), ("gamma", 255), ("md", 3)];
    let expected: Vec<(String, u32)> = expected.iter().map(|&(t, n)| (t.to_owned(), n)).collect();
    assert_eq!(tfs(&index, "alpha/beta.md"), expected);

    // Renaming takes the path's weight back out of a large frequency exactly.
    index.rename("alpha/beta.md", "gamma.txt");
    index.check_invariants();
    let mut fresh = SearchIndex::new();
    fresh.upsert("gamma.txt", &text);
    fresh.upsert("other.md", "alpha beta gamma delta");
    assert_eq!(index, fresh);
    assert_eq!(tfs(&index, "gamma.txt")[2], ("gamma".to_owned(), 258));
    let (_, back) = cbor_round_trip(&index);
    back.check_invariants();
    assert_eq!(back, index);
    assert_eq!(
        back.search("alpha gamma", 10, None),
        index.search("alpha gamma", 10, None)
    );

    // Back below the threshold, and removed: no stale exact values remain.
    index.upsert("gamma.txt", "alpha");
    index.check_invariants();
    index.remove("gamma.txt");
    index.check_invariants();
}

#[test]
fn long_queries_use_at_most_max_query_terms() {
    let mut index = SearchIndex::new();
    index.upsert("first.md", "t0");
    index.upsert("last.md", "t99");
    let query: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let page = index.search(&query.join(" "), 10, None);
    assert_eq!(paths(&page), ["first.md"]);
}

#[test]
fn debug_is_a_summary_and_heap_bytes_grows() {
    let mut index = SearchIndex::new();
    let empty = index.heap_bytes();
    index.upsert("a.md", "some text to index");
    assert!(index.heap_bytes() > empty);
    let debug = format!("{index:?}");
    assert!(
        debug.starts_with("SearchIndex { docs: 1, terms: 4,"),
        "{debug}"
    );
}
