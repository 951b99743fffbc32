//! tooz's consistent hash ring (`tooz.hashring.HashRing`), giving exactly
//! its answers, so native and upstream metricd workers agree on who owns a
//! sack:
//!
//! * a member of weight `w` gets `partitions * w` points; point `r` (from
//!   0) is the md5 of its key repeated `r + 2` times, read big-endian; a
//!   later point on the same value takes it over (tooz's ring is a dict);
//! * an object belongs to the owner of the first point strictly after the
//!   md5 of its key, wrapping around, and with replicas to the next
//!   distinct owners walking on;
//! * adding a member again sets its weight and adds its points (those of a
//!   larger weight stay); removing it takes away the points of its current
//!   weight. tooz behaves so; this ring does the same.
//!
//! Members are ids the caller chose (the Python face maps its objects to
//! them), each with the bytes it hashes.

use super::md5::{md5_u128, Md5};
use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};

pub type MemberId = u64;

/// More points than any deployment needs; tooz would build them for
/// minutes. A weight past it is refused rather than hung on.
const MOST_POINTS_PER_MEMBER: i64 = 1 << 22;

#[derive(Debug, Clone, Default)]
pub struct HashRing {
    partitions: i64,
    /// tooz's `nodes`: member -> weight.
    weights: HashMap<MemberId, i64>,
    keys: HashMap<MemberId, Vec<u8>>,
    /// tooz's `_ring`: point -> owner.
    owner_at: BTreeMap<u128, MemberId>,
    /// `owner_at` as two sorted arrays, rebuilt after every change.
    points: Vec<u128>,
    owners: Vec<MemberId>,
}

impl HashRing {
    pub fn new(partitions: i64) -> HashRing {
        HashRing { partitions, ..HashRing::default() }
    }

    fn point_count(&self, weight: i64) -> Result<usize> {
        let count = self.partitions.saturating_mul(weight);
        if count > MOST_POINTS_PER_MEMBER {
            return Err(Error::InvalidArgument(format!(
                "{} partitions of weight {weight} make more than {MOST_POINTS_PER_MEMBER} points",
                self.partitions
            )));
        }
        Ok(count.max(0) as usize)
    }

    /// The digests of `key` repeated 2, 3, ... `count + 1` times.
    fn points_of(key: &[u8], count: usize) -> impl Iterator<Item = u128> + '_ {
        let mut running = Md5::new();
        running.update(key);
        (0..count).map(move |_| {
            running.update(key);
            u128::from_be_bytes(running.digest())
        })
    }

    pub fn add(&mut self, member: MemberId, key: &[u8], weight: i64) -> Result<()> {
        let count = self.point_count(weight)?;
        for point in Self::points_of(key, count) {
            self.owner_at.insert(point, member);
        }
        self.weights.insert(member, weight);
        self.keys.insert(member, key.to_vec());
        self.rebuild();
        Ok(())
    }

    /// False when `member` is not on the ring (tooz's `UnknownNode`).
    pub fn remove(&mut self, member: MemberId) -> bool {
        let Some(weight) = self.weights.remove(&member) else { return false };
        let key = self.keys.get(&member).cloned().unwrap_or_default();
        // Cannot fail: the same weight was accepted when it was added.
        let count = self.point_count(weight).unwrap_or(0);
        for point in Self::points_of(&key, count) {
            // tooz deletes the value whoever holds it now (and raises when
            // it is gone, which only two members hashing alike can cause:
            // then this ring goes on).
            self.owner_at.remove(&point);
        }
        self.rebuild();
        true
    }

    fn rebuild(&mut self) {
        self.points = self.owner_at.keys().copied().collect();
        self.owners = self.owner_at.values().copied().collect();
    }

    pub fn weights(&self) -> &HashMap<MemberId, i64> {
        &self.weights
    }

    /// tooz's `len(ring)`: the number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// tooz's `get_nodes(data, ignore_nodes, replicas)`, in walking order.
    /// Where tooz walks forever (more replicas wanted than members with
    /// points), this stops after one turn with those it found.
    pub fn members_for(&self, data: &[u8], ignore: &HashSet<MemberId>, replicas: i64) -> Vec<MemberId> {
        let candidates = self.weights.keys().filter(|m| !ignore.contains(m)).count();
        let wanted = replicas.clamp(0, candidates as i64) as usize;
        let mut chosen = Vec::with_capacity(wanted);
        if wanted == 0 || self.points.is_empty() {
            return chosen;
        }
        let hashed = md5_u128(data);
        let start = self.points.partition_point(|&p| p <= hashed) % self.points.len();
        for step in 0..self.points.len() {
            let owner = self.owners[(start + step) % self.points.len()];
            if !ignore.contains(&owner) && !chosen.contains(&owner) {
                chosen.push(owner);
                if chosen.len() == wanted {
                    break;
                }
            }
        }
        chosen
    }

    /// The positions in `objects` of those `member` owns, in one call.
    pub fn owned_by(&self, member: MemberId, objects: &[&[u8]], replicas: i64) -> Vec<usize> {
        let nobody = HashSet::new();
        objects
            .iter()
            .enumerate()
            .filter(|(_, data)| self.members_for(data, &nobody, replicas).contains(&member))
            .map(|(position, _)| position)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(members: &[(&str, i64)], partitions: i64) -> HashRing {
        let mut ring = HashRing::new(partitions);
        for (id, (name, weight)) in members.iter().enumerate() {
            ring.add(id as MemberId, name.as_bytes(), *weight).unwrap();
        }
        ring
    }

    #[test]
    fn points_are_the_digests_of_the_key_repeated() {
        let r = ring(&[("a", 1)], 3);
        let mut expected: Vec<u128> = ["aa", "aaa", "aaaa"].iter().map(|k| md5_u128(k.as_bytes())).collect();
        expected.sort();
        assert_eq!(r.points, expected);
    }

    #[test]
    fn an_object_goes_to_the_first_point_after_its_hash_wrapping_around() {
        let r = ring(&[("a", 1), ("b", 1), ("c", 1)], 5);
        let nobody = HashSet::new();
        for object in ["x", "incoming128-3", "", "zz"] {
            let hashed = md5_u128(object.as_bytes());
            let position = r.points.iter().position(|&p| p > hashed).unwrap_or(0);
            assert_eq!(r.members_for(object.as_bytes(), &nobody, 1), vec![r.owners[position]]);
        }
    }

    #[test]
    fn replicas_are_distinct_and_bounded_by_the_members() {
        let r = ring(&[("a", 1), ("b", 2), ("c", 1)], 8);
        let nobody = HashSet::new();
        let all = r.members_for(b"sack", &nobody, 10);
        assert_eq!(all.len(), 3);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 3);
        let ignored: HashSet<MemberId> = [all[0]].into();
        let rest = r.members_for(b"sack", &ignored, 10);
        assert_eq!(rest.len(), 2);
        assert!(!rest.contains(&all[0]));
    }

    #[test]
    fn a_member_without_points_is_never_chosen_and_nothing_hangs() {
        let r = ring(&[("a", 1), ("b", 0)], 4);
        assert_eq!(r.members_for(b"x", &HashSet::new(), 2), vec![0]);
        assert!(ring(&[], 4).members_for(b"x", &HashSet::new(), 1).is_empty());
        assert!(ring(&[("b", 0)], 4).members_for(b"x", &HashSet::new(), 1).is_empty());
    }

    #[test]
    fn removing_takes_the_points_of_the_current_weight_as_tooz_does() {
        let mut r = ring(&[("a", 3)], 2);
        r.add(0, b"a", 1).unwrap();
        assert!(r.remove(0));
        // The points of weight 3 past those of weight 1 stay, owned by a
        // member no longer listed.
        assert_eq!(r.len(), 4);
        assert!(r.weights().is_empty());
        assert!(!r.remove(0));
    }

    #[test]
    fn absurd_weights_are_refused() {
        let mut r = HashRing::new(200);
        assert!(r.add(1, b"a", i64::MAX).is_err());
        assert!(r.weights().is_empty());
    }

    #[test]
    fn owned_by_lists_positions() {
        let r = ring(&[("a", 1), ("b", 1)], 16);
        let objects: Vec<String> = (0..64).map(|i| format!("incoming64-{i}")).collect();
        let keys: Vec<&[u8]> = objects.iter().map(|o| o.as_bytes()).collect();
        let a = r.owned_by(0, &keys, 1);
        let b = r.owned_by(1, &keys, 1);
        assert_eq!(a.len() + b.len(), 64);
        assert!(a.iter().all(|p| !b.contains(p)));
        assert_eq!(r.owned_by(0, &keys, 2).len(), 64);
    }
}
