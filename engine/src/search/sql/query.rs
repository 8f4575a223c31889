//! Reading the SQL index: ranked search, the notes waiting for their text, and the fragment
//! lookups grep narrows with.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::merge::for_each_posting;
use super::{for_each_encoded_term, stats};
use crate::grep::narrow::Fragment;
use crate::ids::Hash;
use crate::search::PATH_WEIGHT;
use crate::search::cursor::SearchCursor;
use crate::search::query::{
    LengthNorm, MAX_LIMIT, MAX_QUERY_TERMS, SearchHit, SearchPage, bm25_idf,
};
use crate::search::tokenize::{for_each_path_term, for_each_term};
use crate::sql::{MAX_PARAMS, SqlRead, Value, malformed, placeholders};
use crate::storage::StorageError;

/// A fresh note as a search reads it: the terms that matter to this search (path terms
/// included, counting [`PATH_WEIGHT`]) and its length.
struct FreshNote {
    id: i64,
    path: String,
    len: u32,
    terms: HashMap<String, u32>,
}

/// The two small sets every search reads besides the blocks: fresh notes and dead ones.
struct Tiers {
    fresh: Vec<FreshNote>,
    /// Dead notes and those of the wanted terms they are still posted under.
    dead: HashMap<i64, HashSet<String>>,
}

/// Reads the fresh and dead notes, keeping of their terms those `wanted` accepts.
fn tiers(db: &dyn SqlRead, wanted: impl Fn(&str) -> bool) -> Result<Tiers, StorageError> {
    let mut fresh = Vec::new();
    for row in db.query(
        "SELECT doc, path, len, terms FROM search_docs WHERE indexed = 1 AND merged = 0 \
         ORDER BY doc",
        &[],
    )? {
        let Ok(
            [
                Value::Integer(id),
                Value::Text(path),
                len,
                Value::Blob(encoded),
            ],
        ) = <[Value; 4]>::try_from(row)
        else {
            return Err(malformed("search_docs"));
        };
        let mut terms: HashMap<String, u32> = HashMap::new();
        for_each_encoded_term(&encoded, |t, tf| {
            if wanted(t) {
                terms.insert(t.to_owned(), tf);
            }
        })
        .ok_or_else(|| malformed("search_docs"))?;
        for_each_path_term(&path, |t| {
            if wanted(t) {
                let tf = terms.entry(t.to_owned()).or_default();
                *tf = tf.saturating_add(PATH_WEIGHT);
            }
        });
        let len = len.as_u64().ok_or_else(|| malformed("search_docs"))?;
        fresh.push(FreshNote {
            id,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            terms,
            path,
        });
    }
    let mut dead = HashMap::new();
    for row in db.query("SELECT doc, terms FROM search_dead", &[])? {
        let (Some(Value::Integer(doc)), Some(Value::Blob(encoded))) = (row.first(), row.get(1))
        else {
            return Err(malformed("search_dead"));
        };
        let mut terms = HashSet::new();
        for_each_encoded_term(encoded, |t, _| {
            if wanted(t) {
                terms.insert(t.to_owned());
            }
        })
        .ok_or_else(|| malformed("search_dead"))?;
        dead.insert(*doc, terms);
    }
    Ok(Tiers { fresh, dead })
}

/// A note's running score: the sum so far (in `f32`, term by term in query order, as the
/// in-memory index adds) and how many query terms contributed.
#[derive(Debug, Clone, Copy, Default)]
struct Accumulator {
    score: f32,
    matched: u32,
}

/// Adds one term's gains, in note order, to the running scores `from` (sorted by note),
/// writing the sum to `into`.
struct Merge<'a> {
    from: &'a [(i64, Accumulator)],
    at: usize,
    into: &'a mut Vec<(i64, Accumulator)>,
}

impl Merge<'_> {
    fn add(&mut self, doc: i64, gain: f32) {
        if let Some(last) = self.into.last_mut().filter(|(d, _)| *d == doc) {
            // The same note twice for one term (never so while ids only grow; summed as
            // the in-memory index would).
            last.1.score += gain;
            last.1.matched += 1;
            return;
        }
        while let Some(&(d, acc)) = self.from.get(self.at).filter(|(d, _)| *d < doc) {
            self.into.push((d, acc));
            self.at += 1;
        }
        let mut acc = match self.from.get(self.at) {
            Some(&(d, acc)) if d == doc => {
                self.at += 1;
                acc
            }
            _ => Accumulator::default(),
        };
        acc.score += gain;
        acc.matched += 1;
        self.into.push((doc, acc));
    }

    fn finish(self) {
        self.into.extend_from_slice(&self.from[self.at..]);
    }
}

/// Ranked search over the indexed notes; the same results as
/// [`SearchIndex::search`](crate::search::SearchIndex::search) over the same notes.
pub fn search(
    db: &dyn SqlRead,
    query: &str,
    limit: usize,
    after: Option<&SearchCursor>,
) -> Result<SearchPage, StorageError> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut terms: Vec<String> = Vec::new();
    for_each_term(query, |t| {
        if terms.len() < MAX_QUERY_TERMS && !terms.iter().any(|x| x == t) {
            terms.push(t.to_owned());
        }
    });
    let stats = stats(db)?;
    if terms.is_empty() || stats.docs == 0 {
        return Ok(SearchPage::default());
    }
    let params: Vec<Value> = terms.iter().map(|t| Value::Text(t.clone())).collect();
    let mut df: HashMap<String, i64> = HashMap::new();
    for row in db.query(
        &format!(
            "SELECT term, df FROM search_terms WHERE term IN ({})",
            placeholders(terms.len())
        ),
        &params,
    )? {
        match (row.first(), row.get(1)) {
            (Some(Value::Text(term)), Some(Value::Integer(n))) => {
                df.insert(term.clone(), *n);
            }
            _ => return Err(malformed("search_terms")),
        }
    }
    let tiers = tiers(db, |t| terms.iter().any(|q| q == t))?;
    let docs = stats.docs as f64;
    let avg_len = if stats.total_len == 0 {
        1.0
    } else {
        stats.total_len as f64 / docs
    };
    let norm = LengthNorm::new(avg_len);
    let mut dead: Vec<i64> = tiers.dead.keys().copied().collect();
    dead.sort_unstable();
    // Term at a time, as the in-memory index adds (so the `f32` sums are the same), with the
    // running scores kept sorted by note: each term's postings come sorted by note too, so
    // adding a term is one merge of two sorted runs, with no hashing per posting.
    let mut accs: Vec<(i64, Accumulator)> = Vec::new();
    let mut next: Vec<(i64, Accumulator)> = Vec::new();
    for term in &terms {
        let fresh_df = tiers
            .fresh
            .iter()
            .filter(|n| n.terms.contains_key(term))
            .count();
        let dead_df = tiers.dead.values().filter(|t| t.contains(term)).count();
        let blocks_df = df.get(term).copied().unwrap_or(0);
        let n = blocks_df + fresh_df as i64 - dead_df as i64;
        if n <= 0 {
            continue;
        }
        let idf = bm25_idf(docs, n as f64);
        let mut merge = Merge {
            from: &accs,
            at: 0,
            into: &mut next,
        };
        merge.into.clear();
        merge
            .into
            .reserve(accs.len() + usize::try_from(n).unwrap_or(0));
        let mut add = |doc: i64, tf: u32, len: u32| {
            let gain = (idf * norm.saturation(f64::from(tf), f64::from(len))) as f32;
            merge.add(doc, gain);
        };
        // Fresh notes have ids no block holds (ids only grow), but a run of them may still
        // fall between block postings: both runs are walked in note order.
        let mut fresh = tiers
            .fresh
            .iter()
            .filter_map(|n| n.terms.get(term).map(|&tf| (n.id, tf, n.len)))
            .peekable();
        if blocks_df > 0 {
            let mut dead_at = 0;
            // A term's postings, block after block, in strictly increasing note order.
            let (mut last, mut unordered) = (i64::MIN, false);
            for row in db.query(
                "SELECT first, bytes FROM search_blocks WHERE term = ? ORDER BY first",
                &[Value::Text(term.clone())],
            )? {
                let (Some(Value::Integer(first)), Some(Value::Blob(bytes))) =
                    (row.first(), row.get(1))
                else {
                    return Err(malformed("search_blocks"));
                };
                for_each_posting(*first, bytes, |p| {
                    unordered |= p.doc <= last;
                    last = p.doc;
                    while let Some(&(id, tf, len)) = fresh.peek().filter(|f| f.0 < p.doc) {
                        add(id, tf, len);
                        fresh.next();
                    }
                    while dead.get(dead_at).is_some_and(|&d| d < p.doc) {
                        dead_at += 1;
                    }
                    if dead.get(dead_at) != Some(&p.doc) {
                        add(p.doc, p.tf, p.len);
                    }
                })
                .ok_or_else(|| malformed("search_blocks"))?;
                if unordered {
                    return Err(malformed("search_blocks"));
                }
            }
        }
        for (id, tf, len) in fresh {
            add(id, tf, len);
        }
        merge.finish();
        std::mem::swap(&mut accs, &mut next);
    }
    let known: HashMap<i64, &str> = tiers
        .fresh
        .iter()
        .map(|n| (n.id, n.path.as_str()))
        .collect();
    rank(db, accs, &known, limit, after)
}

/// The page of `limit` best notes after `after`, by score and then path: takes the best
/// scores first and reads only their paths (and those of notes tied with them).
fn rank(
    db: &dyn SqlRead,
    accs: Vec<(i64, Accumulator)>,
    known: &HashMap<i64, &str>,
    limit: usize,
    after: Option<&SearchCursor>,
) -> Result<SearchPage, StorageError> {
    let mut candidates: Vec<(i64, Accumulator)> = accs
        .into_iter()
        .filter(|(_, acc)| after.is_none_or(|c| f64::from(acc.score) <= c.score()))
        .collect();
    let keep = limit + 1;
    let mut want = keep;
    loop {
        // The `want` best scores, plus every note tied with the last of them.
        let cut = want.min(candidates.len());
        if cut < candidates.len() {
            candidates.select_nth_unstable_by(cut, |a, b| b.1.score.total_cmp(&a.1.score));
        }
        let (head, tail) = candidates.split_at_mut(cut);
        let floor = head
            .iter()
            .map(|(_, a)| a.score)
            .min_by(f32::total_cmp)
            .unwrap_or(0.0);
        let mut chosen: Vec<(i64, Accumulator)> = head.to_vec();
        chosen.extend(tail.iter().filter(|(_, a)| a.score == floor).copied());
        let paths = paths_of(db, chosen.iter().map(|(d, _)| *d), known)?;
        let mut ranked: Vec<(f32, String, u32)> = chosen
            .into_iter()
            .filter_map(|(doc, acc)| {
                let path = paths.get(&doc)?.clone();
                Some((acc.score, path, acc.matched))
            })
            .filter(|(score, path, _)| after.is_none_or(|c| c.precedes(*score, path)))
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        if ranked.len() >= keep || cut == candidates.len() {
            let more = ranked.len() > limit;
            ranked.truncate(limit);
            let next = match ranked.last() {
                Some((score, path, _)) if more => Some(SearchCursor::new(*score, path)),
                _ => None,
            };
            let hits = ranked
                .into_iter()
                .map(|(score, path, matched_terms)| SearchHit {
                    path,
                    score,
                    matched_terms,
                })
                .collect();
            return Ok(SearchPage { hits, next });
        }
        // Notes tied with the cursor's score but before it in path order fell out: look further.
        want *= 4;
    }
}

/// The paths of `docs` (those in `known` without a query).
fn paths_of(
    db: &dyn SqlRead,
    docs: impl Iterator<Item = i64>,
    known: &HashMap<i64, &str>,
) -> Result<HashMap<i64, String>, StorageError> {
    let mut paths = HashMap::new();
    let mut ask = Vec::new();
    for doc in docs {
        match known.get(&doc) {
            Some(path) => {
                paths.insert(doc, (*path).to_owned());
            }
            None => ask.push(Value::Integer(doc)),
        }
    }
    for chunk in ask.chunks(MAX_PARAMS) {
        for row in db.query(
            &format!(
                "SELECT doc, path FROM search_docs WHERE doc IN ({})",
                placeholders(chunk.len())
            ),
            chunk,
        )? {
            match <[Value; 2]>::try_from(row) {
                Ok([Value::Integer(doc), Value::Text(path)]) => {
                    paths.insert(doc, path);
                }
                _ => return Err(malformed("search_docs")),
            }
        }
    }
    Ok(paths)
}

/// Up to `limit` notes whose text the index lacks, oldest first, with the hash of the content
/// it waits for.
pub fn unindexed(db: &dyn SqlRead, limit: usize) -> Result<Vec<(String, Hash)>, StorageError> {
    let rows = db.query(
        "SELECT path, hash FROM search_docs WHERE indexed = 0 ORDER BY doc LIMIT ?",
        &[Value::int(limit as u64)],
    )?;
    rows.into_iter()
        .map(|row| match (row.first(), row.get(1)) {
            (Some(Value::Text(path)), Some(Value::Blob(hash))) => {
                let hash =
                    <[u8; 32]>::try_from(hash.as_slice()).map_err(|_| malformed("search_docs"))?;
                Ok((path.clone(), Hash(hash)))
            }
            _ => Err(malformed("search_docs")),
        })
        .collect()
}

/// Whether `path` is indexed with content `hash`.
pub fn is_indexed(db: &dyn SqlRead, path: &str, hash: Hash) -> Result<bool, StorageError> {
    Ok(super::read_doc(db, path)?.is_some_and(|d| d.indexed && d.hash == hash))
}

/// The most dictionary terms one fragment may stand for before [`notes_with_fragment`] gives
/// up on it (a fragment such as `e` is in most terms, and narrows nothing).
pub const MAX_FRAGMENT_TERMS: usize = 1_000;
/// The most terms containing a pinned fragment's text ([`Fragment`]) read to keep those that
/// hold it where it is pinned; with more, the lookup does not narrow.
pub const PINNED_SCAN_TERMS: usize = 20_000;

/// The notes whose text or path holds a term that holds `fragment` ([`Fragment::in_term`]),
/// when there are at most `max` of them; `None` when there are more, or when the fragment is
/// in more than [`MAX_FRAGMENT_TERMS`] terms (too common to narrow anything).
/// Notes the index cannot answer for are not included: see [`always_candidates`].
pub fn notes_with_fragment(
    db: &dyn SqlRead,
    fragment: &Fragment,
    max: usize,
) -> Result<Option<BTreeSet<String>>, StorageError> {
    // A pinned fragment keeps few of the terms containing its text (`\bneedle7\b`: one of
    // 1,111), so more are read to be filtered; the cap counts the terms kept.
    let pinned = fragment.start || fragment.end;
    let scan = if pinned {
        PINNED_SCAN_TERMS
    } else {
        MAX_FRAGMENT_TERMS
    } + 1;
    let scanned = db.query(
        "SELECT term FROM search_terms WHERE instr(term, ?) > 0 LIMIT ?",
        &[Value::Text(fragment.text.clone()), Value::int(scan as u64)],
    )?;
    if pinned && scanned.len() == scan {
        return Ok(None);
    }
    let mut rows = Vec::new();
    for row in scanned {
        match row.first() {
            Some(Value::Text(term)) if fragment.in_term(term) => rows.push(row),
            Some(Value::Text(_)) => {}
            _ => return Err(malformed("search_terms")),
        }
    }
    if rows.len() > MAX_FRAGMENT_TERMS {
        return Ok(None);
    }
    let tiers = tiers(db, |t| fragment.in_term(t))?;
    let mut docs: BTreeSet<i64> = BTreeSet::new();
    for row in rows {
        let Some(Value::Text(term)) = row.first() else {
            return Err(malformed("search_terms"));
        };
        for row in db.query(
            "SELECT first, bytes FROM search_blocks WHERE term = ?",
            &[Value::Text(term.clone())],
        )? {
            let (Some(Value::Integer(first)), Some(Value::Blob(bytes))) = (row.first(), row.get(1))
            else {
                return Err(malformed("search_blocks"));
            };
            for_each_posting(*first, bytes, |p| {
                if !tiers.dead.contains_key(&p.doc) {
                    docs.insert(p.doc);
                }
            })
            .ok_or_else(|| malformed("search_blocks"))?;
        }
        if docs.len() > max {
            return Ok(None);
        }
    }
    let mut known: HashMap<i64, &str> = HashMap::new();
    for note in &tiers.fresh {
        if note.terms.keys().any(|t| fragment.in_term(t)) {
            docs.insert(note.id);
            known.insert(note.id, &note.path);
        }
    }
    if docs.len() > max {
        return Ok(None);
    }
    let paths = paths_of(db, docs.iter().copied(), &known)?;
    Ok(Some(paths.into_values().collect()))
}

/// The notes a fragment lookup cannot rule out: those not indexed yet, and those holding a run
/// of letters too long to be a term. At most `max`; `None` when there are more.
pub fn always_candidates(
    db: &dyn SqlRead,
    max: usize,
) -> Result<Option<BTreeSet<String>>, StorageError> {
    // Two queries, each named to its partial index: a UNION of the two was planned as a scan
    // of every note by the bundled SQLite (120 ms at 100,000 notes, natively).
    let mut paths = BTreeSet::new();
    for sql in [
        "SELECT path FROM search_docs INDEXED BY search_docs_unindexed WHERE indexed = 0 LIMIT ?",
        "SELECT path FROM search_docs INDEXED BY search_docs_long WHERE long = 1 LIMIT ?",
    ] {
        for row in db.query(sql, &[Value::int(max as u64 + 1)])? {
            match row.into_iter().next() {
                Some(Value::Text(path)) => {
                    paths.insert(path);
                }
                _ => return Err(malformed("search_docs")),
            }
        }
        if paths.len() > max {
            return Ok(None);
        }
    }
    Ok(Some(paths))
}
