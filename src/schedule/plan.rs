//! The plan of one processing pass: which of a worker's sacks it visits,
//! and in what order.
//!
//! * Every `interval` a pass visits all owned sacks (a full scan), so
//!   nothing waits on a notification that was missed.
//! * Between, it visits the sacks notified since the last pass, or all
//!   owned ones when none was (backends that do not notify).
//! * Sacks whose oldest pending measure is known go first, oldest first;
//!   the others follow in a shuffled order, so that workers sharing sacks
//!   (`processing_replicas`) meet on fewer locks. A sack the backlog says
//!   is empty is skipped, except in a full scan.

use std::collections::{HashMap, HashSet};

/// What a driver reports of a sack before a pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SackBacklog {
    pub sack: u32,
    /// Pending blobs (a blob holds one or more measures).
    pub blobs: u64,
    /// Unix time of the oldest pending blob, where the backend keeps it.
    pub oldest: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub sacks: Vec<u32>,
    pub full_scan: bool,
}

#[derive(Debug, Clone)]
pub struct PassPlanner {
    interval: f64,
    last_full_scan: Option<f64>,
}

impl PassPlanner {
    pub fn new(interval: f64) -> PassPlanner {
        PassPlanner { interval, last_full_scan: None }
    }

    /// The next pass at `now` (monotonic seconds). `seed` shuffles what
    /// the backlog does not order.
    pub fn plan(&mut self, now: f64, owned: &[u32], notified: &[u32], backlog: &[SackBacklog], seed: u64) -> Plan {
        let full_scan = match self.last_full_scan {
            None => true,
            Some(last) => now - last >= self.interval || now < last,
        };
        let owned_set: HashSet<u32> = owned.iter().copied().collect();
        let notified: Vec<u32> = dedup(notified.iter().copied().filter(|s| owned_set.contains(s)));
        let every_owned = full_scan || notified.is_empty();
        let visited = if every_owned { dedup(owned.iter().copied()) } else { notified };
        let known: HashMap<u32, SackBacklog> = backlog.iter().map(|b| (b.sack, *b)).collect();
        let mut dated = Vec::new();
        let mut undated = Vec::new();
        let mut skipped = false;
        for sack in visited {
            match known.get(&sack) {
                Some(b) if b.blobs == 0 && !full_scan => skipped = true,
                Some(SackBacklog { oldest: Some(oldest), .. }) => dated.push((*oldest, sack)),
                _ => undated.push(sack),
            }
        }
        // A pass that trusted the backlog to skip sacks is no scan: the
        // next full one still comes an interval after the last.
        let scanned_all = every_owned && !skipped;
        if scanned_all {
            self.last_full_scan = Some(now);
        }
        dated.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        shuffle(&mut undated, seed);
        let sacks = dated.into_iter().map(|(_, sack)| sack).chain(undated).collect();
        Plan { sacks, full_scan: scanned_all }
    }
}

fn dedup(sacks: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut seen = HashSet::new();
    sacks.filter(|s| seen.insert(*s)).collect()
}

/// Fisher-Yates over splitmix64: placement, not security.
fn shuffle(items: &mut [u32], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<u32>) -> Vec<u32> {
        v.sort();
        v
    }

    #[test]
    fn first_pass_and_every_interval_visit_every_owned_sack() {
        let mut planner = PassPlanner::new(60.0);
        let first = planner.plan(100.0, &[1, 2, 3], &[2], &[], 7);
        assert!(first.full_scan);
        assert_eq!(sorted(first.sacks), vec![1, 2, 3]);
        let between = planner.plan(130.0, &[1, 2, 3], &[2], &[], 7);
        assert!(!between.full_scan);
        assert_eq!(between.sacks, vec![2]);
        let later = planner.plan(160.0, &[1, 2, 3], &[2], &[], 7);
        assert!(later.full_scan);
        assert_eq!(sorted(later.sacks), vec![1, 2, 3]);
    }

    #[test]
    fn without_notifications_every_owned_sack_is_visited() {
        let mut planner = PassPlanner::new(60.0);
        planner.plan(0.0, &[1, 2], &[], &[], 1);
        let plan = planner.plan(1.0, &[1, 2], &[], &[], 1);
        assert_eq!(sorted(plan.sacks), vec![1, 2]);
        // Counted as a full scan: the next one is an interval from here.
        assert!(plan.full_scan);
        assert!(!planner.plan(2.0, &[1, 2], &[1], &[], 1).full_scan);
    }

    #[test]
    fn notified_sacks_someone_else_owns_are_not_visited() {
        let mut planner = PassPlanner::new(60.0);
        planner.plan(0.0, &[1, 2], &[], &[], 1);
        assert_eq!(planner.plan(1.0, &[1, 2], &[9, 2, 2], &[], 1).sacks, vec![2]);
    }

    #[test]
    fn oldest_backlog_first_then_the_rest_and_empty_sacks_skipped_between_scans() {
        let backlog = [
            SackBacklog { sack: 1, blobs: 3, oldest: Some(50.0) },
            SackBacklog { sack: 2, blobs: 1, oldest: Some(10.0) },
            SackBacklog { sack: 3, blobs: 0, oldest: None },
            SackBacklog { sack: 4, blobs: 5, oldest: None },
        ];
        let mut planner = PassPlanner::new(60.0);
        let full = planner.plan(0.0, &[1, 2, 3, 4], &[], &backlog, 3);
        assert_eq!(full.sacks[..2], [2, 1]);
        assert_eq!(sorted(full.sacks[2..].to_vec()), vec![3, 4]);
        let between = planner.plan(1.0, &[1, 2, 3, 4], &[], &backlog, 3);
        assert_eq!(between.sacks, vec![2, 1, 4]);
        assert!(!between.full_scan);
        // Skipping empty sacks does not put the next full scan off.
        let due = planner.plan(60.0, &[1, 2, 3, 4], &[], &backlog, 3);
        assert!(due.full_scan);
        assert_eq!(due.sacks.len(), 4);
    }

    #[test]
    fn shuffles_differ_by_seed_and_keep_every_sack() {
        let owned: Vec<u32> = (0..64).collect();
        let a = PassPlanner::new(1.0).plan(0.0, &owned, &[], &[], 1).sacks;
        let b = PassPlanner::new(1.0).plan(0.0, &owned, &[], &[], 2).sacks;
        assert_ne!(a, b);
        assert_eq!(sorted(a), owned);
        assert_eq!(sorted(b), owned);
    }

    #[test]
    fn a_clock_going_back_means_a_full_scan() {
        let mut planner = PassPlanner::new(60.0);
        planner.plan(100.0, &[1, 2], &[], &[], 1);
        assert!(planner.plan(50.0, &[1, 2], &[1], &[], 1).full_scan);
    }
}
