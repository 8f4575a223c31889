//! A simulated user for tests, benches and tools: the user's store (the engine over memory),
//! note contents and the R2 archive as maps, and the export driven step by step exactly as
//! the Durable Object drives it, into any [`SimBucket`] (a map in this crate's tests, a real
//! S3 server in the CLI's). Deterministic: a fixed clock that ticks a second per change,
//! seeded event ids and entropy, so the same calls seal the same bytes.

use std::collections::BTreeMap;

use engine::store::WriteRequest;
use engine::{Config, EventId, Hash, MemoryStorage, Store, Timestamp};

use crate::archive;
use crate::export::{
    Budget, ContentsToExport, ExportInputs, ExportRun, ExportStep, Exported, FromStore, RunState,
    StepResult, contents_of,
};
use crate::layout::UserLayout;
use crate::seal::{Entropy, Recipient};
use crate::sign::SigningKey;

/// Where a simulated export puts its objects.
pub trait SimBucket {
    /// Puts `bytes` under `key`; an error stops the run (a bucket that refuses writes).
    fn put(&mut self, key: &str, bytes: &[u8]) -> Result<(), String>;
    /// Every key under `prefix`, in key order.
    fn keys(&mut self, prefix: &str) -> Vec<String>;
}

/// A user: their store, contents, archive, and what their exports recorded.
#[derive(Debug)]
pub struct SimUser {
    /// The user id.
    pub user: String,
    /// The store.
    pub store: Store<MemoryStorage>,
    /// Note contents by hash (R2's `blobs/`).
    pub blobs: BTreeMap<Hash, Vec<u8>>,
    /// The R2 archive: segment key to bytes.
    pub r2: BTreeMap<String, Vec<u8>>,
    /// What the bucket holds, as the object records it.
    pub exported: Exported,
    /// Now (unix milliseconds).
    pub clock: u64,
    /// Seal exports to this recipient.
    pub sealing: Option<Recipient>,
    /// Sign manifests with this key.
    pub signing: Option<SigningKey>,
    ids: u64,
    draws: u64,
}

impl SimUser {
    /// A new user with an empty store, at 2026-12-06T00:00:00Z.
    pub fn new(user: &str) -> SimUser {
        SimUser {
            user: user.to_owned(),
            store: Store::open(MemoryStorage::default(), Config::default())
                .map(|(store, _)| store)
                .expect("an empty store opens"),
            blobs: BTreeMap::new(),
            r2: BTreeMap::new(),
            exported: Exported::default(),
            clock: 1_796_515_200_000,
            sealing: None,
            signing: None,
            ids: 0,
            draws: 0,
        }
    }

    fn tick(&mut self) -> Timestamp {
        self.clock += 1_000;
        Timestamp(self.clock)
    }

    fn id(&mut self) -> EventId {
        self.ids += 1;
        EventId::derive(&self.ids.to_le_bytes())
    }

    /// 64 bytes of seeded entropy (the Worker draws them from Web Crypto).
    pub fn entropy(&mut self) -> Entropy {
        self.draws += 1;
        let mut bytes = [0u8; 64];
        let mut xof = blake3::Hasher::new()
            .update(&self.draws.to_le_bytes())
            .finalize_xof();
        xof.fill(&mut bytes);
        Entropy::from_bytes(bytes)
    }

    /// Writes a note (its content goes to `blobs` first, as the object puts it to R2).
    pub fn write(&mut self, path: &str, content: impl AsRef<[u8]>) {
        let content = content.as_ref();
        let (id, now) = (self.id(), self.tick());
        let req = WriteRequest {
            id,
            path,
            content,
            media_type: "text/markdown",
            expected_version: None,
            edit: false,
        };
        let plan = self.store.plan_write(&req).expect("a valid write");
        self.blobs.insert(plan.hash(), content.to_vec());
        self.store
            .write(&req, &plan, now)
            .expect("the write appends");
    }

    /// Deletes a note.
    pub fn delete(&mut self, path: &str) {
        let (id, now) = (self.id(), self.tick());
        self.store
            .delete(id, path, None, now)
            .expect("the note exists");
    }

    /// Moves a note.
    pub fn rename(&mut self, from: &str, to: &str) {
        let (id, now) = (self.id(), self.tick());
        self.store
            .move_note(id, from, to, None, now)
            .expect("the move is valid");
    }

    /// The object's snapshot cycle: snapshot, archive each planned range to R2, compact.
    pub fn archive_cycle(&mut self) {
        self.store.take_snapshot().expect("a snapshot");
        for range in self.store.compaction_plan().segments {
            let segment = self
                .store
                .encode_segment(*range.start(), *range.end())
                .expect("the range is stored");
            self.r2.insert(
                archive::segment_key(&self.user, &segment),
                segment.bytes.clone(),
            );
            let now = self.tick();
            self.store
                .record_archived(&segment, now)
                .expect("the record appends");
        }
        self.store.compact().expect("compaction");
    }

    /// The current notes: path and bytes.
    pub fn notes(&self) -> BTreeMap<String, Vec<u8>> {
        self.store
            .notes()
            .collect()
            .expect("memory notes")
            .files()
            .iter()
            .map(|(path, entry)| (path.as_str().to_owned(), self.blobs[&entry.hash].clone()))
            .collect()
    }

    /// One export run into `bucket`, step by step as the Durable Object drives it.
    pub fn export_run(
        &mut self,
        bucket: &mut impl SimBucket,
        budget: Budget,
        build: &str,
    ) -> Result<RunState, String> {
        let layout = UserLayout::new(&self.user);
        let prefix = archive::segment_prefix(&self.user);
        let listed: Vec<_> = self
            .r2
            .keys()
            .filter_map(|k| archive::parse_segment_key(&prefix, k))
            .collect();
        let from_store = FromStore::of(&self.store).map_err(|e| e.to_string())?;
        let previous = bucket
            .keys(&layout.manifests())
            .iter()
            .find_map(|k| layout.parse_manifest_key(k))
            .map(|(_, digest)| digest);
        let exported = self.exported.clone();
        let (sealing, signing) = (self.sealing.clone(), self.signing.clone());
        let all = contents_of(&self.store).map_err(|e| e.to_string())?;
        // A run packs at most one content a request.
        let limit = usize::try_from(budget.requests).unwrap_or(usize::MAX);
        let contents = ContentsToExport::from_memory(&all, &exported, sealing.as_ref(), limit);
        let user = self.user.clone();
        let inputs = ExportInputs {
            user: &user,
            build,
            head: from_store.head,
            archived: from_store.archived,
            archive: &listed,
            state: from_store.state,
            contents: &contents,
            exported: &exported,
            previous,
            now_ms: self.clock,
            sealing: sealing.as_ref(),
            signing: signing.as_ref(),
        };
        let mut run = ExportRun::new(&inputs, budget).map_err(|e| e.to_string())?;
        while let Some(step) = run.next_step() {
            let entropy = self.entropy();
            let prepared = match step {
                ExportStep::CopySegment(listed) => {
                    let bytes = self.r2[&listed.key].clone();
                    run.prepare_segment(bytes, &entropy)
                        .map_err(|e| e.to_string())?
                }
                ExportStep::PutTail { first, last } => {
                    let segment = self
                        .store
                        .encode_range(first, last)
                        .map_err(|e| e.to_string())?;
                    run.prepare_segment(segment.bytes, &entropy)
                        .map_err(|e| e.to_string())?
                }
                ExportStep::PutPack(hashes) => {
                    let held: Vec<(Hash, &[u8])> = hashes
                        .iter()
                        .map(|h| (*h, self.blobs[h].as_slice()))
                        .collect();
                    run.prepare_pack(&held, &entropy)
                }
                ExportStep::PutManifest(manifest) => {
                    bucket.put(&manifest.key, &manifest.bytes)?;
                    run.complete(StepResult::Manifest)
                        .map_err(|e| e.to_string())?;
                    continue;
                }
            };
            bucket.put(&prepared.key, &prepared.bytes)?;
            self.exported.record(&prepared.result);
            run.complete(prepared.result).map_err(|e| e.to_string())?;
        }
        Ok(run.state())
    }
}
