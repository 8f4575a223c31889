//! [`maintain`]: merging fresh notes into the term blocks and purging dead ones, a bounded
//! step at a time.

use std::collections::{BTreeMap, BTreeSet};

use super::{DOC_COLUMNS, combined, decode_terms, doc_from_row, push_varint, take_varint};
use crate::sql::{MAX_PARAMS, SqlRead, Statement, Value, malformed, placeholders};
use crate::storage::StorageError;

/// A step takes notes until their distinct terms reach this many (always at least one note):
/// a step holds one block per term it touches, so this bounds its memory.
pub(crate) const MAX_STEP_TERMS: usize = 8_000;

/// A block is split once it holds more postings than this...
const SPLIT_AT: usize = 1_024;
/// ...into blocks of this many.
const BLOCK_POSTINGS: usize = 512;

/// One posting: a note, how often the term occurs in it, and the note's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Posting {
    pub(crate) doc: i64,
    pub(crate) tf: u32,
    pub(crate) len: u32,
}

/// Encodes postings sorted by note: the first note's offset from `first` (0) then each gap,
/// then the frequency and the length, all as varints.
pub(crate) fn encode_block(postings: &[Posting]) -> Vec<u8> {
    let mut out = Vec::with_capacity(postings.len() * 4);
    let mut prev = postings.first().map_or(0, |p| p.doc);
    for p in postings {
        push_varint(&mut out, (p.doc - prev) as u64);
        push_varint(&mut out, u64::from(p.tf));
        push_varint(&mut out, u64::from(p.len));
        prev = p.doc;
    }
    out
}

/// Calls `f` with each posting of a block that starts at note `first`; `None` when the bytes
/// are not a block.
pub(crate) fn for_each_posting(
    first: i64,
    mut bytes: &[u8],
    mut f: impl FnMut(Posting),
) -> Option<usize> {
    let mut doc = first;
    let mut n = 0;
    while !bytes.is_empty() {
        let gap = i64::try_from(take_varint(&mut bytes)?).ok()?;
        doc = doc.checked_add(gap)?;
        let tf = u32::try_from(take_varint(&mut bytes)?).ok()?;
        let len = u32::try_from(take_varint(&mut bytes)?).ok()?;
        f(Posting { doc, tf, len });
        n += 1;
    }
    Some(n)
}

fn decode_block(first: i64, bytes: &[u8]) -> Result<Vec<Posting>, StorageError> {
    let mut postings = Vec::new();
    for_each_posting(first, bytes, |p| postings.push(p))
        .ok_or_else(|| malformed("search_blocks"))?;
    Ok(postings)
}

/// What one [`maintain`] step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintainReport {
    /// Fresh notes merged into blocks.
    pub merged: usize,
    /// Dead notes purged from blocks.
    pub purged: usize,
    /// Blocks written or deleted.
    pub blocks: usize,
    /// Whether fresh or dead notes are left for another step.
    pub more: bool,
}

/// Plans one step: merges up to `max_notes` fresh notes into the blocks and purges up to
/// `max_notes` dead ones. Run the statements in one transaction. Searches answer the same
/// before and after; only the work a search does changes.
pub fn maintain(
    db: &dyn SqlRead,
    max_notes: usize,
) -> Result<(Vec<Statement>, MaintainReport), StorageError> {
    let take = max_notes.max(1) as u64;
    let fresh_rows = db.query(
        &format!(
            "SELECT path, {DOC_COLUMNS} FROM search_docs WHERE indexed = 1 AND merged = 0 \
             ORDER BY doc LIMIT ?"
        ),
        &[Value::int(take + 1)],
    )?;
    let dead_rows = db.query(
        "SELECT doc, terms FROM search_dead ORDER BY doc LIMIT ?",
        &[Value::int(take + 1)],
    )?;
    let mut report = MaintainReport {
        more: fresh_rows.len() as u64 > take || dead_rows.len() as u64 > take,
        ..MaintainReport::default()
    };
    // Per term: postings to add, notes to take out.
    let mut adds: BTreeMap<String, Vec<Posting>> = BTreeMap::new();
    let mut removes: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut merged_ids = Vec::new();
    // Distinct terms so far: a note that would take them past MAX_STEP_TERMS waits for the
    // next step (unless it is the step's first).
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let full = |touched: &BTreeSet<String>, terms: &[String], first: bool| {
        !first
            && touched.len() + terms.iter().filter(|t| !touched.contains(*t)).count()
                > MAX_STEP_TERMS
    };
    let fresh_total = fresh_rows.len().min(take as usize);
    for mut row in fresh_rows.into_iter().take(take as usize) {
        let Value::Text(path) = row.remove(0) else {
            return Err(malformed("search_docs"));
        };
        let doc = doc_from_row(row)?;
        let len = u32::try_from(doc.len).unwrap_or(u32::MAX);
        let terms = combined(&doc.terms, &path);
        let names: Vec<String> = terms.iter().map(|(t, _)| t.clone()).collect();
        if full(&touched, &names, merged_ids.is_empty()) {
            report.more = true;
            break;
        }
        touched.extend(names);
        for (term, tf) in terms {
            adds.entry(term).or_default().push(Posting {
                doc: doc.id,
                tf,
                len,
            });
        }
        merged_ids.push(doc.id);
    }
    let mut purged_ids = Vec::new();
    // Each dead note and the terms it is posted under.
    let mut dead_terms: Vec<(i64, Vec<String>)> = Vec::new();
    let step_full = merged_ids.len() < fresh_total;
    for row in dead_rows.into_iter().take(take as usize) {
        if step_full {
            break;
        }
        let (Some(Value::Integer(doc)), Some(Value::Blob(terms))) = (row.first(), row.get(1))
        else {
            return Err(malformed("search_dead"));
        };
        let terms = decode_terms(terms).ok_or_else(|| malformed("search_dead"))?;
        let names: Vec<String> = terms.iter().map(|(t, _)| t.clone()).collect();
        if full(
            &touched,
            &names,
            merged_ids.is_empty() && purged_ids.is_empty(),
        ) {
            report.more = true;
            break;
        }
        touched.extend(names.iter().cloned());
        for (term, _) in terms {
            removes.entry(term).or_default().insert(*doc);
        }
        dead_terms.push((*doc, names));
        purged_ids.push(*doc);
    }
    drop(touched);
    report.merged = merged_ids.len();
    report.purged = purged_ids.len();

    let mut out = Vec::new();
    let mut df: Vec<(String, i64)> = Vec::new();
    let terms: Vec<&String> = adds
        .keys()
        .chain(removes.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut last_blocks = blocks_at(db, &terms, None)?;
    // The blocks holding each dead note's postings, where not its terms' last blocks: read a
    // note and many terms a query (a query per term and note was most of a step's time).
    let mut homes: BTreeMap<String, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for (doc, names) in &dead_terms {
        let elsewhere: Vec<&String> = names
            .iter()
            .filter(|t| {
                last_blocks
                    .get(t.as_str())
                    .is_none_or(|(first, _)| first > doc)
            })
            .collect();
        for (term, block) in blocks_at(db, &elsewhere, Some(*doc))? {
            homes.entry(term).or_default().push(block);
        }
    }
    let mut upserts = Vec::new();
    for term in terms {
        let added = adds.get(term).map_or(&[][..], Vec::as_slice);
        let removed = removes.get(term);
        let delta = added.len() as i64 - removed.map_or(0, |r| r.len() as i64);
        let last = last_blocks.remove(term.as_str());
        let known = homes.remove(term.as_str()).unwrap_or_default();
        report.blocks += rewrite_term(
            db,
            term,
            last,
            known,
            added,
            removed,
            &mut upserts,
            &mut out,
        )?;
        if delta != 0 {
            df.push((term.clone(), delta));
        }
    }
    const PER_ROW: usize = 4;
    let mut upserts = upserts.into_iter().peekable();
    while upserts.peek().is_some() {
        let chunk: Vec<Upsert> = upserts.by_ref().take(MAX_PARAMS / PER_ROW).collect();
        let mut params = Vec::with_capacity(chunk.len() * PER_ROW);
        let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
        for (term, first, n, bytes) in chunk {
            params.push(Value::Text(term));
            params.push(Value::Integer(first));
            params.push(Value::int(n));
            params.push(Value::Blob(bytes));
        }
        out.push(Statement {
            sql: format!(
                "INSERT OR REPLACE INTO search_blocks (term, first, n, bytes) VALUES {rows}"
            )
            .into(),
            params,
        });
    }
    for chunk in df.chunks(MAX_PARAMS / 2) {
        let rows = vec!["(?, ?)"; chunk.len()].join(", ");
        let mut params = Vec::with_capacity(chunk.len() * 2);
        for (term, delta) in chunk {
            params.push(Value::Text(term.clone()));
            params.push(Value::Integer(*delta));
        }
        out.push(Statement {
            sql: format!(
                "INSERT INTO search_terms (term, df) VALUES {rows} \
                 ON CONFLICT (term) DO UPDATE SET df = df + excluded.df"
            )
            .into(),
            params,
        });
    }
    let shrunk: Vec<Value> = df
        .iter()
        .filter(|(_, d)| *d < 0)
        .map(|(t, _)| Value::Text(t.clone()))
        .collect();
    for chunk in shrunk.chunks(MAX_PARAMS) {
        out.push(Statement {
            sql: format!(
                "DELETE FROM search_terms WHERE df <= 0 AND term IN ({})",
                placeholders(chunk.len())
            )
            .into(),
            params: chunk.to_vec(),
        });
    }
    for chunk in merged_ids.chunks(MAX_PARAMS) {
        out.push(Statement {
            sql: format!(
                "UPDATE search_docs SET merged = 1 WHERE doc IN ({})",
                placeholders(chunk.len())
            )
            .into(),
            params: chunk.iter().map(|d| Value::Integer(*d)).collect(),
        });
    }
    for chunk in purged_ids.chunks(MAX_PARAMS) {
        out.push(Statement {
            sql: format!(
                "DELETE FROM search_dead WHERE doc IN ({})",
                placeholders(chunk.len())
            )
            .into(),
            params: chunk.iter().map(|d| Value::Integer(*d)).collect(),
        });
    }
    Ok((out, report))
}

/// A block to write: term, first note, postings, encoded bytes.
type Upsert = (String, i64, u64, Vec<u8>);

/// Plans the block changes of one term, given its last block (`None`: it has none) and
/// other blocks already read (`known`; all still encoded); pushes the blocks to write,
/// encoded, into `upserts` and the statements deleting blocks into `out`. Returns how many
/// blocks it writes or deletes.
#[allow(clippy::too_many_arguments)]
fn rewrite_term(
    db: &dyn SqlRead,
    term: &str,
    last_block: Option<(i64, Vec<u8>)>,
    known: Vec<(i64, Vec<u8>)>,
    added: &[Posting],
    removed: Option<&BTreeSet<i64>>,
    upserts: &mut Vec<Upsert>,
    out: &mut Vec<Statement>,
) -> Result<usize, StorageError> {
    // The blocks these notes fall in, by their first note: the last block starting at or
    // before each note (a note before every block goes to the first one). New notes have the
    // highest ids, so they all land in the term's last block, read for all terms at once.
    let mut blocks: BTreeMap<i64, Vec<Posting>> = BTreeMap::new();
    let mut homes: BTreeMap<i64, Option<i64>> = BTreeMap::new();
    let last = match last_block {
        Some((first, bytes)) => {
            blocks.insert(first, decode_block(first, &bytes)?);
            Some(first)
        }
        None => None,
    };
    for (first, bytes) in known {
        if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry(first) {
            slot.insert(decode_block(first, &bytes)?);
        }
    }
    let notes = added
        .iter()
        .map(|p| p.doc)
        .chain(removed.into_iter().flatten().copied());
    for doc in notes {
        let home = match last {
            Some(first) if doc >= first => Some(first),
            None => None,
            Some(_) => {
                // Already loaded when the note lies within a block read before.
                let known = blocks
                    .range(..=doc)
                    .next_back()
                    .filter(|(_, ps)| ps.last().is_some_and(|p| p.doc >= doc))
                    .map(|(first, _)| *first);
                match known {
                    Some(first) => Some(first),
                    None => load_block(db, term, Some(doc), &mut blocks)?,
                }
            }
        };
        homes.insert(doc, home);
    }
    let originals: BTreeSet<i64> = blocks.keys().copied().collect();
    // Postings with no block yet start one of their own (keyed by the first such note).
    let mut homeless: Vec<Posting> = Vec::new();
    for p in added {
        match homes.get(&p.doc).copied().flatten() {
            Some(first) => blocks.entry(first).or_default().push(*p),
            None => homeless.push(*p),
        }
    }
    if let Some(removed) = removed {
        for postings in blocks.values_mut() {
            postings.retain(|p| !removed.contains(&p.doc));
        }
    }
    if !homeless.is_empty() {
        let first = homeless.iter().map(|p| p.doc).min().unwrap_or(0);
        blocks.entry(first).or_default().extend(homeless);
    }
    let mut written = 0;
    let mut kept: BTreeSet<i64> = BTreeSet::new();
    for (_, mut postings) in blocks {
        postings.sort_by_key(|p| p.doc);
        postings.dedup_by_key(|p| p.doc);
        let pieces = if postings.len() > SPLIT_AT {
            postings
                .chunks(BLOCK_POSTINGS)
                .map(<[Posting]>::to_vec)
                .collect()
        } else {
            vec![postings]
        };
        for piece in pieces {
            let Some(first) = piece.first().map(|p| p.doc) else {
                continue;
            };
            kept.insert(first);
            upserts.push((
                term.to_owned(),
                first,
                piece.len() as u64,
                encode_block(&piece),
            ));
            written += 1;
        }
    }
    // Blocks that now start elsewhere, or emptied, go (a rewritten key was replaced above).
    for first in originals.difference(&kept) {
        out.push(Statement::new(
            "DELETE FROM search_blocks WHERE term = ? AND first = ?",
            vec![Value::Text(term.to_owned()), Value::Integer(*first)],
        ));
        written += 1;
    }
    Ok(written)
}

/// Loads into `blocks` the block of `term` that holds note `doc` (the last one starting at or
/// before it, else the first one), or the term's last block when `doc` is `None`; returns its
/// first note, or `None` when the term has no blocks.
fn load_block(
    db: &dyn SqlRead,
    term: &str,
    doc: Option<i64>,
    blocks: &mut BTreeMap<i64, Vec<Posting>>,
) -> Result<Option<i64>, StorageError> {
    let term_value = Value::Text(term.to_owned());
    let mut rows = match doc {
        None => db.query(
            "SELECT first, bytes FROM search_blocks WHERE term = ? ORDER BY first DESC LIMIT 1",
            std::slice::from_ref(&term_value),
        )?,
        Some(doc) => db.query(
            "SELECT first, bytes FROM search_blocks WHERE term = ? AND first <= ? \
             ORDER BY first DESC LIMIT 1",
            &[term_value.clone(), Value::Integer(doc)],
        )?,
    };
    if rows.is_empty() && doc.is_some() {
        rows = db.query(
            "SELECT first, bytes FROM search_blocks WHERE term = ? ORDER BY first LIMIT 1",
            &[term_value],
        )?;
    }
    match rows.first().map(|r| (r.first(), r.get(1))) {
        Some((Some(Value::Integer(first)), Some(Value::Blob(bytes)))) => {
            if !blocks.contains_key(first) {
                blocks.insert(*first, decode_block(*first, bytes)?);
            }
            Ok(Some(*first))
        }
        Some(_) => Err(malformed("search_blocks")),
        None => Ok(None),
    }
}

/// For each of `terms` that has blocks, its last block (`at` `None`), or its last block
/// starting at or before note `at` (the one holding that note's posting, if any); read as
/// many terms a query as the parameters allow.
fn blocks_at(
    db: &dyn SqlRead,
    terms: &[&String],
    at: Option<i64>,
) -> Result<BTreeMap<String, (i64, Vec<u8>)>, StorageError> {
    let mut found = BTreeMap::new();
    let per_query = if at.is_some() {
        MAX_PARAMS - 1
    } else {
        MAX_PARAMS
    };
    for chunk in terms.chunks(per_query) {
        let mut params: Vec<Value> = chunk.iter().map(|t| Value::Text((*t).clone())).collect();
        // Each term's block is one seek (a `GROUP BY` with `MAX(first)` under a bound walks
        // every block of the term instead).
        let bound = match at {
            Some(doc) => {
                params.push(Value::Integer(doc));
                "AND first <= ?"
            }
            None => "",
        };
        let values = vec!["(?)"; chunk.len()].join(", ");
        let rows = db.query(
            &format!(
                "WITH wanted (term) AS (VALUES {values}) \
                 SELECT b.term, b.first, b.bytes FROM wanted w JOIN search_blocks b \
                 ON b.term = w.term AND b.first = ( \
                   SELECT first FROM search_blocks WHERE term = w.term {bound} \
                   ORDER BY first DESC LIMIT 1)"
            ),
            &params,
        )?;
        for row in rows {
            match <[Value; 3]>::try_from(row) {
                Ok([Value::Text(term), Value::Integer(first), Value::Blob(bytes)]) => {
                    // Kept encoded (a quarter of the decoded size) until its term's turn.
                    found.insert(term, (first, bytes));
                }
                _ => return Err(malformed("search_blocks")),
            }
        }
    }
    Ok(found)
}
