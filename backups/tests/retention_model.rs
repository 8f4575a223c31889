//! Retention, as a model test: generated histories of exports, time passing and prunes
//! against a bucket of manifests and objects. Whatever the history, a prune never deletes an
//! object that a remaining manifest names, never deletes the newest manifest, and never
//! deletes an object younger than the grace period.

use std::collections::{BTreeMap, BTreeSet};

use backups::retention::{self, ListedManifest, ListedObject, RetentionPolicy};
use proptest::prelude::*;

const HOUR: u64 = 3_600_000;

#[derive(Debug, Clone)]
enum Op {
    /// An export: a manifest naming `new` new objects and the objects of the newest manifest
    /// picked by `keep` (bit i keeps its i-th object), like an export that supersedes tails.
    Export { new: u8, keep: u64 },
    /// Time passes.
    Advance { hours: u16 },
    /// The cron prunes.
    Prune,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, any::<u64>()).prop_map(|(new, keep)| Op::Export { new, keep }),
        (1u16..400).prop_map(|hours| Op::Advance { hours }),
        Just(Op::Prune),
    ]
}

#[derive(Debug, Default)]
struct Bucket {
    now: u64,
    next_id: u64,
    /// Object key -> when written.
    objects: BTreeMap<String, u64>,
    /// Manifest key -> (created, objects named).
    manifests: BTreeMap<String, (u64, Vec<String>)>,
    prunes: usize,
}

impl Bucket {
    fn newest(&self) -> Option<(&String, &(u64, Vec<String>))> {
        self.manifests
            .iter()
            .max_by(|a, b| a.1.0.cmp(&b.1.0).then(a.0.cmp(b.0)))
    }

    fn export(&mut self, new: u8, keep: u64) {
        let mut named: Vec<String> = match self.newest() {
            Some((_, (_, objects))) => objects
                .iter()
                .enumerate()
                .filter(|(i, _)| keep & (1 << (i % 64)) != 0)
                .map(|(_, k)| k.clone())
                .collect(),
            None => Vec::new(),
        };
        for _ in 0..new {
            self.next_id += 1;
            let key = format!("o{}", self.next_id);
            self.objects.insert(key.clone(), self.now);
            named.push(key);
        }
        self.next_id += 1;
        self.manifests
            .insert(format!("m{}", self.next_id), (self.now, named));
    }

    fn prune(&mut self, policy: &RetentionPolicy) {
        self.prunes += 1;
        let listed: Vec<ListedManifest> = self
            .manifests
            .iter()
            .map(|(key, (created, _))| ListedManifest {
                key: key.clone(),
                created_ms: *created,
            })
            .collect();
        let kept = retention::manifests_to_keep(&listed, policy, self.now);
        let named: BTreeSet<String> = kept
            .iter()
            .flat_map(|k| self.manifests[k].1.iter().cloned())
            .collect();
        let objects: Vec<ListedObject> = self
            .objects
            .iter()
            .map(|(key, written)| ListedObject {
                key: key.clone(),
                written_ms: Some(*written),
            })
            .collect();
        let newest = self.newest().map(|(k, _)| k.clone());
        let plan = retention::prune_plan(&listed, &named, &objects, policy, self.now);
        for key in &plan.manifests {
            assert!(!kept.contains(key));
            assert_ne!(Some(key), newest.as_ref(), "the newest manifest was pruned");
            self.manifests.remove(key);
        }
        for key in &plan.objects {
            let written = self.objects[key];
            assert!(
                self.now - written > policy.grace_ms,
                "{key} was deleted within the grace period"
            );
            self.objects.remove(key);
        }
        for (key, (_, named)) in &self.manifests {
            for object in named {
                assert!(
                    self.objects.contains_key(object),
                    "{object}, named by the remaining manifest {key}, was deleted"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn prunes_never_delete_what_a_remaining_manifest_names(ops in prop::collection::vec(op(), 1..120)) {
        let policy = RetentionPolicy::default();
        let mut bucket = Bucket { now: 1_796_515_200_000, ..Bucket::default() };
        for op in ops {
            match op {
                Op::Export { new, keep } => bucket.export(new, keep),
                Op::Advance { hours } => bucket.now += u64::from(hours) * HOUR,
                Op::Prune => bucket.prune(&policy),
            }
        }
        bucket.prune(&policy);
        prop_assert!(bucket.prunes >= 1);
    }
}

#[test]
fn a_long_hourly_history_shrinks_to_the_policy_and_keeps_every_named_object() {
    let policy = RetentionPolicy::default();
    let mut bucket = Bucket {
        now: 1_796_515_200_000,
        ..Bucket::default()
    };
    // A year of hourly exports, each superseding the previous tail (object 0 of the last).
    for hour in 0..(24 * 365) {
        bucket.export(1, !1);
        bucket.now += HOUR;
        if hour % 24 == 0 {
            bucket.prune(&policy);
        }
    }
    bucket.prune(&policy);
    let kept = bucket.manifests.len();
    // 7 days of hours, 23 more days, about 8 more weeks, about 9 more months.
    assert!(
        (168 + 23 + 7..=168 + 23 + 8 + 10).contains(&kept),
        "{kept} manifests"
    );
    assert!(bucket.prunes > 300);
}
