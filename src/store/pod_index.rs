//! A hash index over a snapshot's servable pods, for gets by namespace and name.
//!
//! A binary search over 150,000 sorted pods reads about 17 slots and 17 names, each from a
//! different cache line: under the HPA's gets that was 6 % of the server's CPU at 5,000 nodes.
//! Here a get reads one table slot, then the pod's slot and name. Each pod's hash is computed
//! once, when the store first sees the pod ([`key_hash`]), so building the index at publish
//! reads no names.
//!
//! Open addressing with linear probing; a slot holds the pod's position plus one (0: empty) in
//! its low 24 bits and 8 more bits of the pod's hash above them, so a probe that passes
//! another pod's slot reads that pod's key only when those bits match too (1 in 256) rather
//! than every time: the keys are elsewhere in memory, and a get passes 0.4–0.7 other slots on
//! average. The table has at least 1.5 slots per pod (4 bytes each): 1 MiB for 150,000 pods.
//! Pods past a snapshot's first 2^24 − 2 are not indexed; their gets fall back to the
//! snapshot's binary search.

use std::hash::BuildHasher;
use std::sync::LazyLock;

/// Seeded once per process, so pod names chosen to collide cannot be precomputed.
static SEED: LazyLock<foldhash::quality::RandomState> =
    LazyLock::new(foldhash::quality::RandomState::default);

/// The index hash of a pod key.
pub(crate) fn key_hash(namespace: &str, name: &str) -> u32 {
    let h = SEED.hash_one((namespace, name));
    // Fold the high half in: the table uses the low bits.
    (h ^ (h >> 32)) as u32
}

/// Bits of a slot that hold the position plus one.
const POSITION_BITS: u32 = 24;
const POSITION_MASK: u32 = (1 << POSITION_BITS) - 1;

/// The slot bits compared before a key is: the top 8 of the hash (the table index uses the
/// low bits).
fn tag(hash: u32) -> u32 {
    hash & !POSITION_MASK
}

/// Positions of pods by [`key_hash`].
#[derive(Debug, Default)]
pub(crate) struct PodIndex {
    slots: Box<[u32]>,
    len: usize,
}

impl PodIndex {
    /// An index for up to `pods` pods.
    pub(crate) fn with_capacity(pods: usize) -> Self {
        let slots = if pods == 0 {
            0
        } else {
            (pods + pods / 2 + 1).next_power_of_two()
        };
        PodIndex {
            slots: vec![0; slots].into_boxed_slice(),
            len: 0,
        }
    }

    /// Records the pod at `position`. False (and not recorded) when the index is full or the
    /// position does not fit: lookups must then fall back to a search.
    pub(crate) fn insert(&mut self, hash: u32, position: usize) -> bool {
        let Some(stored) = u32::try_from(position)
            .ok()
            .and_then(|p| p.checked_add(1))
            .filter(|&p| p <= POSITION_MASK)
        else {
            return false;
        };
        // One slot always stays empty, so every probe sequence ends.
        if self.len + 1 >= self.slots.len() {
            return false;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = tag(hash) | stored;
        self.len += 1;
        true
    }

    /// The position of the first recorded pod with `hash` for which `is_it` holds; `is_it` is
    /// asked only about pods whose slot carries the same hash bits.
    pub(crate) fn find(&self, hash: u32, mut is_it: impl FnMut(usize) -> bool) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let wanted = tag(hash);
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots.get(i).copied()?;
            let position = (slot & POSITION_MASK).checked_sub(1)? as usize;
            if tag(slot) == wanted && is_it(position) {
                return Some(position);
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| (format!("ns-{}", i % 7), format!("pod-{i}")))
            .collect()
    }

    fn index_of(pods: &[(String, String)]) -> PodIndex {
        let mut index = PodIndex::with_capacity(pods.len());
        for (position, (ns, name)) in pods.iter().enumerate() {
            assert!(index.insert(key_hash(ns, name), position));
        }
        index
    }

    fn lookup(index: &PodIndex, pods: &[(String, String)], ns: &str, name: &str) -> Option<usize> {
        index.find(key_hash(ns, name), |p| {
            pods.get(p).is_some_and(|(n, m)| n == ns && m == name)
        })
    }

    #[test]
    fn finds_every_recorded_pod_and_no_other() {
        for n in [1, 2, 3, 100, 5_000] {
            let pods = names(n);
            let index = index_of(&pods);
            for (position, (ns, name)) in pods.iter().enumerate() {
                assert_eq!(
                    lookup(&index, &pods, ns, name),
                    Some(position),
                    "{ns}/{name}"
                );
            }
            assert_eq!(lookup(&index, &pods, "ns-0", "absent"), None);
            assert_eq!(
                lookup(&index, &pods, "ns-1", "pod-0"),
                None,
                "wrong namespace"
            );
        }
    }

    #[test]
    fn colliding_hashes_are_told_apart_by_the_key() {
        let pods = names(50);
        let mut index = PodIndex::with_capacity(pods.len());
        for position in 0..pods.len() {
            assert!(index.insert(7, position));
        }
        for (position, (ns, name)) in pods.iter().enumerate() {
            let found = index.find(7, |p| pods[p].0 == *ns && pods[p].1 == *name);
            assert_eq!(found, Some(position));
        }
    }

    #[test]
    fn an_empty_or_full_index_finds_nothing_and_refuses_more() {
        let empty = PodIndex::default();
        assert_eq!(empty.find(3, |_| true), None);
        let mut none = PodIndex::with_capacity(0);
        assert!(!none.insert(3, 0));
        assert_eq!(none.find(3, |_| true), None);

        let mut small = PodIndex::with_capacity(1); // 2 slots: room for one
        assert!(small.insert(5, 0));
        assert!(!small.insert(5, 1), "the last empty slot is kept");
        assert_eq!(
            small.find(5, |p| p == 1),
            None,
            "probing ends at the empty slot"
        );
        assert_eq!(small.find(5, |p| p == 0), Some(0));
    }

    #[test]
    fn a_probe_reads_only_the_keys_whose_hash_bits_match() {
        // Same table slot (low bits), different top bits: the probe for the last one passes
        // the other three without asking about their keys.
        let hashes = [0x0100_0005, 0x0200_0005, 0x0300_0005, 0x0400_0005];
        let mut index = PodIndex::with_capacity(hashes.len());
        for (position, hash) in hashes.iter().enumerate() {
            assert!(index.insert(*hash, position));
        }
        let mut asked = Vec::new();
        let found = index.find(0x0400_0005, |p| {
            asked.push(p);
            p == 3
        });
        assert_eq!(found, Some(3));
        assert_eq!(asked, [3], "only the pod whose hash bits match is compared");
        assert_eq!(
            index.find(0x0500_0005, |_| true),
            None,
            "no pod has these bits"
        );
    }

    #[test]
    fn positions_past_the_slot_bits_are_refused() {
        let mut index = PodIndex::with_capacity(4);
        let last = POSITION_MASK as usize - 1;
        assert!(index.insert(9, last));
        assert_eq!(index.find(9, |p| p == last), Some(last));
        assert!(!index.insert(10, last + 1), "left to the search");
        assert_eq!(index.find(10, |_| true), None);
    }

    #[test]
    fn the_hash_depends_on_both_parts() {
        assert_ne!(key_hash("a", "bc"), key_hash("ab", "c"));
        assert_eq!(key_hash("ns", "p"), key_hash("ns", "p"));
    }
}
