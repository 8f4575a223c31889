//! `/memory` and `/grow` (local development only, through `/__dev/memory/{user}` and
//! `/__dev/grow/{user}`): the instrument for measuring one user's object at scale.
//!
//! - `GET /memory`: what the object holds, as JSON: the wasm linear memory
//!   (`wasm_memory_bytes`, pages times 64 KiB; it only ever grows, so it is the isolate's high
//!   water mark), the store's projections (notes, history, sessions, the search index: loaded
//!   or still snapshot bytes, its documents and terms, notes waiting for their text), the log's
//!   head and snapshot seqs and the cache of note contents. It opens the store when it is not
//!   open (`opened_now`, with the time that took: a cold open) and never loads the search index.
//! - `POST /grow?from=N&count=M&size=B[&seed=S]`: writes the generated notes
//!   [`engine::scale_notes`] `N..N+M` of `B` bytes through the path a `write` tool call takes
//!   (the content put to R2 under its hash, then the engine's write). At most
//!   [`MAX_GROW_COUNT`] notes a request. A note that already holds its generated text is left
//!   alone, so repeating a request (same seed, same bytes) changes nothing and fails nothing.
//!   Answers `{written, unchanged, elapsed_ms, head, files}`.

use engine::{Hash, scale_notes};
use serde_json::json;
use worker::{Method, Request, Response, Result};

use super::{USER_HEADER, UserObject, now, wasm_memory_bytes};
use crate::mcp::tool_call::WriteArgs;
use crate::note_tools::{self, Notes, Unwatched};
use crate::reply;

/// The most notes one grow request writes.
pub(crate) const MAX_GROW_COUNT: u64 = 1_000;
/// The largest note a grow request makes, in bytes.
pub(crate) const MAX_GROW_SIZE: usize = 1024 * 1024;
/// The seed of the generated text when the request names none.
const DEFAULT_SEED: u64 = 1;

/// A grow request, as its query gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grow {
    /// The first note's number.
    pub(crate) from: u64,
    /// How many notes.
    pub(crate) count: u64,
    /// Each note's size in bytes.
    pub(crate) size: usize,
    /// The text generator's seed.
    pub(crate) seed: u64,
}

/// Why a grow request is refused (400, with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GrowRefusal {
    /// A parameter is missing or not a whole number.
    #[error("{0} must be given as a whole number (from=N&count=M&size=B[&seed=S])")]
    NotANumber(&'static str),
    /// More notes than one request writes.
    #[error(
        "count must be from 1 to {MAX_GROW_COUNT} (at most {MAX_GROW_COUNT} notes a request); got {0}"
    )]
    Count(u64),
    /// A size outside what the generator and the route make.
    #[error("size must be from {min} to {MAX_GROW_SIZE} bytes; got {got}", min = scale_notes::MIN_BYTES)]
    Size {
        /// The size asked for.
        got: u64,
    },
    /// Note numbers past the seven digits of the paths.
    #[error("notes from {from} to {last} do not fit: the last note number is {max}", max = scale_notes::MAX_NUMBER)]
    Range {
        /// The first note asked for.
        from: u64,
        /// The last note asked for.
        last: u64,
    },
}

impl Grow {
    /// Reads `from`, `count`, `size` and the optional `seed` from a query's pairs.
    pub(crate) fn from_query<'a>(
        pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    ) -> std::result::Result<Grow, GrowRefusal> {
        let (mut from, mut count, mut size, mut seed) = (None, None, None, None);
        for (key, value) in pairs {
            let slot = match key.as_ref() {
                "from" => &mut from,
                "count" => &mut count,
                "size" => &mut size,
                "seed" => &mut seed,
                _ => continue,
            };
            *slot = Some(value.parse::<u64>().map_err(|_| {
                GrowRefusal::NotANumber(match key.as_ref() {
                    "from" => "from",
                    "count" => "count",
                    "size" => "size",
                    _ => "seed",
                })
            })?);
        }
        let from = from.ok_or(GrowRefusal::NotANumber("from"))?;
        let count = count.ok_or(GrowRefusal::NotANumber("count"))?;
        let size = size.ok_or(GrowRefusal::NotANumber("size"))?;
        if !(1..=MAX_GROW_COUNT).contains(&count) {
            return Err(GrowRefusal::Count(count));
        }
        if !(scale_notes::MIN_BYTES as u64..=MAX_GROW_SIZE as u64).contains(&size) {
            return Err(GrowRefusal::Size { got: size });
        }
        let last = from.saturating_add(count - 1);
        if last > scale_notes::MAX_NUMBER {
            return Err(GrowRefusal::Range { from, last });
        }
        Ok(Grow {
            from,
            count,
            size: size as usize,
            seed: seed.unwrap_or(DEFAULT_SEED),
        })
    }
}

impl UserObject {
    /// Serves `/memory` and `/grow` (see the module docs); 404 outside local development.
    pub(super) async fn serve_dev_scale(&self, req: Request, route: &str) -> Result<Response> {
        let local_dev = crate::config::Config::from_env(&self.env).is_ok_and(|c| c.local_dev);
        let Some(user) = req.headers().get(USER_HEADER)?.filter(|_| local_dev) else {
            return reply::error(404, "not_found", "no such object route");
        };
        match (route, req.method()) {
            ("memory", Method::Get) => self.memory_report(&user).await,
            ("grow", Method::Post) => {
                let url = req.url()?;
                match Grow::from_query(url.query_pairs()) {
                    Ok(grow) => self.grow(&user, grow).await,
                    Err(refusal) => reply::error(400, "invalid_grow", &refusal.to_string()),
                }
            }
            ("memory", _) => reply::error(405, "method_not_allowed", "GET only"),
            _ => reply::error(405, "method_not_allowed", "POST only"),
        }
    }

    /// Opens the store (as a request to the user would) if it is not open yet: `Ok(true)` when
    /// this call opened it, `Err` with the reply when it cannot.
    async fn open_for(&self, user: &str) -> Result<std::result::Result<bool, Response>> {
        let was_open = self.store.try_borrow().is_ok_and(|slot| slot.is_some());
        if !self.bind_user(user)? {
            return Ok(Err(reply::error(
                409,
                "other_user",
                "this object serves another user",
            )?));
        }
        if let Err(err) = self.ensure_store().await {
            let message = format!("{err:?}");
            return Ok(Err(reply::error(503, "store_unavailable", &message)?));
        }
        Ok(Ok(!was_open))
    }

    async fn memory_report(&self, user: &str) -> Result<Response> {
        let opened_now = match self.open_for(user).await? {
            Ok(opened) => opened,
            Err(response) => return Ok(response),
        };
        let store = self
            .with_open_store(|store| {
                let work = store.search_work().unwrap_or_default();
                let notes = store.notes();
                let stats = notes.stats()?;
                Ok::<_, engine::StorageError>(json!({
                    "head_seq": store.head().seq,
                    "snapshot_seq": store.snapshot_seq(),
                    // The notes are the object's SQLite tables too: counted, not held.
                    "files": stats.count,
                    "file_bytes": stats.total_bytes,
                    "history_paths": notes.history_paths()?,
                    "versions": notes.version_count()?,
                    "sessions": store.sessions().len(),
                    "unindexed": work.waiting,
                    // The index is the object's SQLite tables: none of it is in memory.
                    "search": {
                        "indexed": work.indexed,
                        "backlog": work.backlog,
                    },
                }))
            })
            .map_err(worker::Error::RustError)?
            .map_err(|e| worker::Error::RustError(e.to_string()))?;
        reply::json(
            200,
            &json!({
                "wasm_memory_bytes": wasm_memory_bytes(),
                "opened_now": opened_now,
                "open_ms": self.last_open_ms.get(),
                "store": store,
                "blob_cache_bytes": self.blob_cache.borrow().used(),
            }),
        )
    }

    async fn grow(&self, user: &str, grow: Grow) -> Result<Response> {
        if let Err(response) = self.open_for(user).await? {
            return Ok(response);
        }
        let started = worker::Date::now().as_millis();
        let bucket = self.env.bucket("STORAGE")?;
        let (mut written, mut unchanged) = (0u64, 0u64);
        for i in grow.from..grow.from + grow.count {
            let path = scale_notes::path(i);
            let content = scale_notes::text(grow.seed, i, grow.size);
            let hash = Hash::of(content.as_bytes());
            let held = self
                .with_open_store(|store| store.notes().file(&path))
                .map_err(worker::Error::RustError)?
                .map_err(|e| worker::Error::RustError(e.to_string()))?
                .is_some_and(|e| e.hash == hash);
            if held {
                unchanged += 1;
                continue;
            }
            let notes = Notes {
                store: &self.store,
                blobs: self.blob_store(user, bucket.clone()),
                now: now(),
                control: &Unwatched,
                step_pause: None,
                store_ms: Default::default(),
            };
            let args = WriteArgs {
                path,
                content,
                expected_version: None,
            };
            if let Err(failure) = note_tools::write_unkeyed(&notes, args).await {
                let answer = json!({
                    "error": "write_failed",
                    "message": format!("note {i}: {failure:?}"),
                    "written": written,
                    "unchanged": unchanged,
                });
                self.reschedule().await;
                return reply::json(500, &answer);
            }
            written += 1;
        }
        let elapsed_ms = worker::Date::now().as_millis().saturating_sub(started);
        let (head, files) = self
            .with_open_store(|store| {
                let count = store.notes().stats().map(|s| s.count).unwrap_or_default();
                (store.head().seq, count)
            })
            .map_err(worker::Error::RustError)?;
        self.reschedule().await;
        worker::console_log!(
            "{}",
            json!({"msg": "dev_grow", "written": written, "unchanged": unchanged,
                   "elapsed_ms": elapsed_ms, "files": files})
        );
        reply::json(
            200,
            &json!({
                "written": written,
                "unchanged": unchanged,
                "elapsed_ms": elapsed_ms,
                "head": head,
                "files": files,
            }),
        )
    }
}

/// The JSON of a refusal, for tests.
#[cfg(test)]
fn refusal(query: &str) -> serde_json::Value {
    let url = url::Url::parse(&format!("http://x/grow?{query}")).unwrap();
    match Grow::from_query(url.query_pairs()) {
        Ok(grow) => json!({"ok": [grow.from, grow.count, grow.size, grow.seed]}),
        Err(refusal) => json!(refusal.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grow_query_reads_its_numbers_with_a_default_seed() {
        assert_eq!(
            refusal("from=5&count=10&size=4096"),
            json!({"ok": [5, 10, 4096, 1]})
        );
        assert_eq!(
            refusal("size=64&seed=9&count=1000&from=0"),
            json!({"ok": [0, 1000, 64, 9]})
        );
    }

    #[test]
    fn more_than_a_thousand_notes_and_bad_numbers_are_refused_with_the_rule() {
        assert_eq!(
            Grow::from_query(
                url::Url::parse("http://x/?from=0&count=1001&size=4096")
                    .unwrap()
                    .query_pairs()
            ),
            Err(GrowRefusal::Count(1001))
        );
        assert_eq!(
            refusal("from=0&count=1001&size=4096"),
            json!("count must be from 1 to 1000 (at most 1000 notes a request); got 1001")
        );
        assert!(
            refusal("from=0&count=0&size=4096")
                .to_string()
                .contains("got 0")
        );
        assert!(
            refusal("from=0&count=1&size=4")
                .to_string()
                .contains("size must be")
        );
        assert!(
            refusal("from=0&count=1&size=2000000")
                .to_string()
                .contains("size must be")
        );
        assert!(
            refusal("count=1&size=64")
                .to_string()
                .contains("from must be")
        );
        assert!(
            refusal("from=x&count=1&size=64")
                .to_string()
                .contains("from must be")
        );
        assert!(
            refusal("from=9999999&count=2&size=64")
                .to_string()
                .contains("do not fit")
        );
        assert_eq!(refusal("from=9999999&count=1&size=64")["ok"][0], 9_999_999);
    }
}
