//! metricd's pipeline for a batch of metrics (usually one sack): read the
//! raw series, merge the new measures, aggregate every granularity and
//! method, work out which splits to delete and (re)write, merge them with
//! what is stored, compress, write. The rules are upstream's
//! `StorageDriver.add_measures_to_metrics` to the letter, so that the same
//! batches leave the same bytes; the I/O is one batched call per step and
//! the computing runs on all cores.
//!
//! Over 500 lines: the one pipeline, in the order of its steps (and their
//! tests); the policy translation it takes is `PolicySpec`, here too.

use crate::carbonara::aggregate::aggregate;
use crate::archive_policy::{processing_back_window, ArchivePolicyItem};
use crate::carbonara::codec::{
    padded_split_offset, serialize_bound, serialize_compressed_split, serialize_padded_split, unserialize_bound,
    unserialize_split,
};
use crate::carbonara::series::{combine, search_right, sort_measures, BoundSeries};
use crate::carbonara::split::split_ranges;
use crate::carbonara::timestamp::floor_ts;
use crate::carbonara::{Granularity, Grouping, Method, Point, SplitKey};
use crate::error::Result;
use crate::storage::{MetricId, MetricLayout, SeriesRef, SplitRef, SplitWrite, Store};
use crate::task_size::METRICS_PER_TASK;
use rayon::prelude::*;
use std::collections::HashMap;
use std::time::Instant;

/// One stored aggregate of an archive policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregationSpec {
    pub method_name: String,
    pub method: Method,
    pub granularity: i64,
    pub timespan: Option<i64>,
}

/// What processing needs of a metric's archive policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    /// In upstream's order (`ArchivePolicy.aggregations`: by granularity).
    pub aggregations: Vec<AggregationSpec>,
    /// The policy's method names (directories of the file backend).
    pub methods: Vec<String>,
    pub block_size: Option<i64>,
    /// Already one more when a `rate:` method needs the previous block.
    pub back_window: i64,
}

impl PolicySpec {
    /// The one translation of an archive policy into what processing
    /// needs, for upstream's `ArchivePolicy` objects and for the rows the
    /// lean worker reads alike: `methods` as upstream resolved them, items
    /// ordered by granularity as `ArchivePolicy.aggregations` orders them.
    /// The methods keep the caller's order, as upstream iterates its
    /// method set: when an aggregation of a granularity comes out empty,
    /// which one sets the granularity's split bounds depends on it.
    pub fn new(back_window: i64, definition: &[ArchivePolicyItem], methods: &[String]) -> Result<PolicySpec> {
        let mut items = definition.to_vec();
        items.sort_by_key(|item| item.granularity);
        let methods = methods.to_vec();
        let parsed = methods.iter().map(|name| Method::parse(name)).collect::<Result<Vec<_>>>()?;
        let aggregations = items
            .iter()
            .flat_map(|item| {
                methods.iter().zip(&parsed).map(|(name, &method)| AggregationSpec {
                    method_name: name.clone(),
                    method,
                    granularity: item.granularity,
                    timespan: item.timespan,
                })
            })
            .collect();
        Ok(PolicySpec {
            aggregations,
            block_size: items.last().map(|item| item.granularity),
            back_window: processing_back_window(back_window, &methods),
            methods,
        })
    }
}

pub struct MetricMeasures<'a> {
    pub metric: MetricId,
    pub policy: &'a PolicySpec,
    /// As read from incoming: any order, duplicates allowed.
    pub measures: Vec<Point>,
}

/// What happened to one metric of the batch.
#[derive(Debug, Clone, Default)]
pub struct MetricOutcome {
    pub metric: Option<MetricId>,
    pub measures: usize,
    /// Newest timestamp among the new measures (the indexer's `ended_at`
    /// check needs it).
    pub newest: Option<i64>,
    /// The stored raw series could not be decoded and was started anew.
    pub raw_corrupt: bool,
    /// Stored splits that could not be decoded and were treated as empty.
    pub corrupt_splits: usize,
    /// The measures could not be processed at all (e.g. before 1970).
    pub error: Option<String>,
}

/// Per-step wall times (seconds) and counts, for upstream's statistics.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    pub outcomes: Vec<MetricOutcome>,
    pub raw_fetch_seconds: f64,
    pub compute_seconds: f64,
    pub delete_seconds: f64,
    pub update_seconds: f64,
    pub raw_store_seconds: f64,
    pub splits_deleted: usize,
    pub splits_written: usize,
}

/// Per granularity, as upstream keys it (the last aggregation of a
/// granularity sets it).
#[derive(Debug, Clone, Copy, Default)]
struct GranularityBounds {
    oldest_point_to_keep: Option<i64>,
    prev_oldest_mutable_key: Option<SplitKey>,
    oldest_mutable_key: Option<SplitKey>,
}

/// A metric after merging and aggregating, before looking at storage.
struct Aggregated {
    new_raw: Vec<u8>,
    /// One series per aggregation of the policy, truncated to its timespan.
    series: Vec<Vec<Point>>,
    bounds: HashMap<i64, GranularityBounds>,
    /// Aggregations whose stored keys must be listed.
    needs_listing: Vec<usize>,
    previous_first_block: Option<i64>,
    first_block: Option<i64>,
}

/// A split to (re)write: new points for it, possibly none (a rewrite).
struct PendingSplit {
    aggregation: usize,
    key: SplitKey,
    points: Vec<Point>,
}

struct Planned {
    deletes: Vec<(usize, SplitKey)>,
    writes: Vec<PendingSplit>,
}

fn aggregate_metric(
    item: &MetricMeasures<'_>,
    raw: Option<&[u8]>,
    write_full: bool,
    outcome: &mut MetricOutcome,
) -> Result<Aggregated> {
    let policy = item.policy;
    let mut measures = item.measures.clone();
    sort_measures(&mut measures);
    let (mut bound, previous_first_block) = match raw.map(unserialize_bound) {
        Some(Ok(points)) => {
            let bound = BoundSeries::new(points, policy.block_size, policy.back_window);
            let first_block = bound.first_block_timestamp();
            (bound, first_block)
        }
        corrupt_or_missing => {
            outcome.raw_corrupt = matches!(corrupt_or_missing, Some(Err(_)));
            (BoundSeries::new(Vec::new(), policy.block_size, policy.back_window), None)
        }
    };
    let need_rewrite = !write_full && previous_first_block.is_some();
    // numpy's datetime64(0) is false: upstream skips this at the epoch.
    let previous_is_set = previous_first_block.is_some_and(|t| t != 0);
    let first_measure = measures[0].ts;

    let computed = bound.set_values(&measures, |merged| -> Result<_> {
        let start_from = merged.first().map_or(first_measure, |first| first.max(first_measure));
        let first_block = merged.first_block_timestamp();
        let mut groupings: HashMap<i64, Grouping> = HashMap::new();
        let mut series = Vec::with_capacity(policy.aggregations.len());
        let mut bounds: HashMap<i64, GranularityBounds> = HashMap::new();
        let mut needs_listing = Vec::new();
        for (index, spec) in policy.aggregations.iter().enumerate() {
            let g = spec.granularity;
            if !groupings.contains_key(&g) {
                let grouping = Grouping::new(&merged.points, Granularity::Duration(g), Some(floor_ts(start_from, g)))?;
                groupings.insert(g, grouping);
            }
            let mut points = aggregate(&groupings[&g], spec.method)?;
            if points.is_empty() {
                series.push(points);
                continue;
            }
            let mut agg_bounds = GranularityBounds::default();
            if let Some(timespan) = spec.timespan {
                let last = points[points.len() - 1].ts;
                let oldest = last.wrapping_sub(timespan);
                points.drain(..search_right(&points, oldest));
                agg_bounds.oldest_point_to_keep = Some(oldest);
            }
            if previous_is_set && (spec.timespan.is_some() || need_rewrite) {
                if let (Some(previous), Some(current)) = (previous_first_block, first_block) {
                    let previous_key = SplitKey::from_timestamp_and_sampling(previous, g);
                    let current_key = SplitKey::from_timestamp_and_sampling(current, g);
                    if previous_key != current_key {
                        needs_listing.push(index);
                        agg_bounds.prev_oldest_mutable_key = Some(previous_key);
                        agg_bounds.oldest_mutable_key = Some(current_key);
                    }
                }
            }
            bounds.insert(g, agg_bounds);
            series.push(points);
        }
        Ok((series, bounds, needs_listing, first_block))
    })?;
    let (series, bounds, needs_listing, first_block) = computed;
    let new_raw = serialize_bound(&bound.points)?;
    Ok(Aggregated { new_raw, series, bounds, needs_listing, previous_first_block, first_block })
}

fn plan_splits(item: &MetricMeasures<'_>, agg: &Aggregated, listed: Option<&Vec<Vec<SplitKey>>>, write_full: bool) -> Planned {
    let need_rewrite = !write_full && agg.previous_first_block.is_some();
    let mut deletes = Vec::new();
    let mut writes: Vec<PendingSplit> = Vec::new();
    let mut position: HashMap<(usize, SplitKey), usize> = HashMap::new();
    let mut put = |writes: &mut Vec<PendingSplit>, aggregation: usize, key: SplitKey, points: Vec<Point>| {
        match position.get(&(aggregation, key)) {
            Some(&at) => writes[at].points = points,
            None => {
                position.insert((aggregation, key), writes.len());
                writes.push(PendingSplit { aggregation, key, points });
            }
        }
    };
    for (index, spec) in item.policy.aggregations.iter().enumerate() {
        let points = &agg.series[index];
        let Some(first) = points.first() else { continue };
        let g = spec.granularity;
        let bounds = agg.bounds.get(&g).copied().unwrap_or_default();
        let oldest_key_to_keep =
            SplitKey::from_timestamp_and_sampling(bounds.oldest_point_to_keep.unwrap_or(first.ts), g);
        let listed_keys = listed
            .and_then(|per_listed| agg.needs_listing.iter().position(|&i| i == index).map(|at| &per_listed[at]));
        if let Some(existing) = listed_keys.filter(|keys| !keys.is_empty()) {
            let mut existing: Vec<SplitKey> = existing.clone();
            existing.sort_unstable();
            if spec.timespan.is_some() {
                let expired = existing.iter().take_while(|&&key| key < oldest_key_to_keep).count();
                deletes.extend(existing.drain(..expired).map(|key| (index, key)));
            }
            if need_rewrite {
                if let (Some(previous), Some(current)) = (bounds.prev_oldest_mutable_key, bounds.oldest_mutable_key) {
                    for &key in &existing {
                        if previous <= key {
                            if key >= current {
                                break;
                            }
                            // Rewritten whole, and so compressed, once it
                            // can no longer change.
                            put(&mut writes, index, key, Vec::new());
                        }
                    }
                }
            }
        }
        for (key, range) in split_ranges(points, g) {
            if key >= oldest_key_to_keep {
                put(&mut writes, index, key, points[range].to_vec());
            }
        }
    }
    Planned { deletes, writes }
}

/// Runs the pipeline over a batch. Backend errors abort the batch before
/// anything is deleted from incoming (the caller keeps the measures), so a
/// retry redoes the same work: every step is idempotent.
pub fn process_batch(store: &dyn Store, items: &[MetricMeasures<'_>]) -> Result<BatchReport> {
    let mut report = BatchReport::default();
    let write_full = store.write_full();
    let mut outcomes: Vec<MetricOutcome> = items
        .iter()
        .map(|item| MetricOutcome {
            metric: Some(item.metric),
            measures: item.measures.len(),
            newest: item.measures.iter().map(|p| p.ts).max(),
            ..MetricOutcome::default()
        })
        .collect();
    // Nothing to merge for a metric without measures (upstream would fail
    // on it); it is neither read nor written.
    let active: Vec<usize> = (0..items.len()).filter(|&i| !items[i].measures.is_empty()).collect();

    let started = Instant::now();
    let layouts: Vec<MetricLayout<'_>> =
        active.iter().map(|&i| MetricLayout { metric: items[i].metric, methods: &items[i].policy.methods }).collect();
    let raws = store.get_or_create_raw(&layouts)?;
    report.raw_fetch_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let aggregated: Vec<(usize, std::result::Result<Aggregated, String>, MetricOutcome)> = active
        .par_iter()
        .zip(raws.par_iter())
        .with_min_len(METRICS_PER_TASK)
        .map(|(&i, raw)| {
            let mut outcome = outcomes[i].clone();
            let result = aggregate_metric(&items[i], raw.as_deref(), write_full, &mut outcome).map_err(|e| e.to_string());
            (i, result, outcome)
        })
        .collect();
    let mut ready: Vec<(usize, Aggregated)> = Vec::with_capacity(aggregated.len());
    for (i, result, mut outcome) in aggregated {
        match result {
            Ok(agg) => ready.push((i, agg)),
            Err(why) => outcome.error = Some(why),
        }
        outcomes[i] = outcome;
    }

    let listing: Vec<(usize, (MetricId, Vec<SeriesRef<'_>>))> = ready
        .iter()
        .enumerate()
        .filter(|(_, (_, agg))| !agg.needs_listing.is_empty())
        .map(|(at, (i, agg))| {
            let specs = &items[*i].policy.aggregations;
            let series = agg
                .needs_listing
                .iter()
                .map(|&a| SeriesRef { method: &specs[a].method_name, granularity: specs[a].granularity })
                .collect();
            (at, (items[*i].metric, series))
        })
        .collect();
    let requests: Vec<(MetricId, Vec<SeriesRef<'_>>)> = listing.iter().map(|(_, r)| r.clone()).collect();
    let listed = store.list_split_keys(&requests)?;
    let mut listed_by_ready: Vec<Option<Vec<Vec<SplitKey>>>> = (0..ready.len()).map(|_| None).collect();
    for ((at, _), keys) in listing.iter().zip(listed) {
        listed_by_ready[*at] = keys;
    }

    let plans: Vec<Planned> = ready
        .par_iter()
        .zip(listed_by_ready.par_iter())
        .with_min_len(METRICS_PER_TASK)
        .map(|((i, agg), listed)| plan_splits(&items[*i], agg, listed.as_ref(), write_full))
        .collect();

    // Which splits to read back and merge: all of them when writing whole
    // objects, else only those that can no longer change (they are then
    // compressed); the mutable one is written uncompressed at an offset.
    let mut to_fetch: Vec<SplitRef<'_>> = Vec::new();
    let mut fetch_slot: Vec<Vec<Option<usize>>> = Vec::with_capacity(plans.len());
    for ((i, agg), plan) in ready.iter().zip(&plans) {
        let specs = &items[*i].policy.aggregations;
        let slots = plan
            .writes
            .iter()
            .map(|w| {
                let immutable = agg.first_block.is_some_and(|fb| w.key.next().key <= fb);
                // A mutable split that float rounding put partly before its
                // key has no offset to be written at: merged with what is
                // stored and written whole instead, never shifted.
                let before_key = w.points.first().is_some_and(|p| padded_split_offset(p.ts, w.key) < 0);
                (write_full || immutable || before_key).then(|| {
                    to_fetch.push(SplitRef { metric: items[*i].metric, method: &specs[w.aggregation].method_name, key: w.key });
                    to_fetch.len() - 1
                })
            })
            .collect();
        fetch_slot.push(slots);
    }
    let existing = store.get_splits(&to_fetch)?;

    let encoded: Vec<(Vec<SplitWrite<'_>>, usize)> = ready
        .par_iter()
        .zip(plans.par_iter())
        .zip(fetch_slot.par_iter())
        .with_min_len(METRICS_PER_TASK)
        .map(|(((i, _), plan), slots)| -> Result<_> {
            let specs = &items[*i].policy.aggregations;
            let mut writes = Vec::with_capacity(plan.writes.len());
            let mut corrupt = 0;
            for (pending, slot) in plan.writes.iter().zip(slots) {
                let split = SplitRef { metric: items[*i].metric, method: &specs[pending.aggregation].method_name, key: pending.key };
                let (points, compressed) = match slot {
                    Some(at) => {
                        let stored = match existing[*at].as_deref() {
                            Some(data) if !data.is_empty() => unserialize_split(data, pending.key).unwrap_or_else(|_| {
                                corrupt += 1;
                                Vec::new()
                            }),
                            _ => Vec::new(),
                        };
                        (combine(&pending.points, &stored), true)
                    }
                    None => (pending.points.clone(), false),
                };
                if points.is_empty() {
                    continue;
                }
                let (offset, data) = if compressed {
                    (None, serialize_compressed_split(&points, pending.key)?)
                } else {
                    let (offset, data) = serialize_padded_split(&points, pending.key)?;
                    (Some(offset), data)
                };
                writes.push(SplitWrite { split, data, offset });
            }
            Ok((writes, corrupt))
        })
        .collect::<Result<_>>()?;
    report.compute_seconds = started.elapsed().as_secs_f64();

    let deletes: Vec<SplitRef<'_>> = ready
        .iter()
        .zip(&plans)
        .flat_map(|((i, _), plan)| {
            let item = &items[*i];
            let specs = &item.policy.aggregations;
            plan.deletes.iter().map(move |&(a, key)| SplitRef { metric: item.metric, method: &specs[a].method_name, key })
        })
        .collect();
    let started = Instant::now();
    store.delete_splits(&deletes)?;
    report.delete_seconds = started.elapsed().as_secs_f64();
    report.splits_deleted = deletes.len();

    let mut writes: Vec<SplitWrite<'_>> = Vec::new();
    for ((i, _), (metric_writes, corrupt)) in ready.iter().zip(encoded) {
        outcomes[*i].corrupt_splits = corrupt;
        writes.extend(metric_writes);
    }
    let started = Instant::now();
    store.store_splits(&writes)?;
    report.update_seconds = started.elapsed().as_secs_f64();
    report.splits_written = writes.len();

    let raws: Vec<(MetricId, Vec<u8>)> = ready.into_iter().map(|(i, agg)| (items[i].metric, agg.new_raw)).collect();
    let started = Instant::now();
    store.store_raw(&raws)?;
    report.raw_store_seconds = started.elapsed().as_secs_f64();

    report.outcomes = outcomes;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps what the pipeline writes; stores nothing before.
    #[derive(Default)]
    struct RecordingStore {
        splits: Mutex<Vec<(SplitKey, Vec<u8>, Option<i64>)>>,
    }

    impl Store for RecordingStore {
        fn write_full(&self) -> bool {
            false
        }
        fn get_or_create_raw(&self, metrics: &[MetricLayout<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
            Ok(vec![None; metrics.len()])
        }
        fn store_raw(&self, _: &[(MetricId, Vec<u8>)]) -> Result<()> {
            Ok(())
        }
        fn list_split_keys(&self, requests: &[(MetricId, Vec<SeriesRef<'_>>)]) -> Result<Vec<Option<Vec<Vec<SplitKey>>>>> {
            Ok(requests.iter().map(|(_, series)| Some(vec![Vec::new(); series.len()])).collect())
        }
        fn get_splits(&self, splits: &[SplitRef<'_>]) -> Result<Vec<Option<Vec<u8>>>> {
            Ok(vec![None; splits.len()])
        }
        fn store_splits(&self, writes: &[SplitWrite<'_>]) -> Result<()> {
            let mut kept = self.splits.lock().map_err(|_| crate::Error::Backend("poisoned".into()))?;
            kept.extend(writes.iter().map(|w| (w.split.key, w.data.clone(), w.offset)));
            Ok(())
        }
        fn delete_splits(&self, _: &[SplitRef<'_>]) -> Result<()> {
            Ok(())
        }
        fn delete_metric(&self, _: MetricId) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_mutable_split_before_its_key_is_written_whole_not_shifted() {
        // At 100 ns granularity float rounding puts this bucket's split
        // key 256 ns after it: a padded write would need offset -2 records.
        let ts = 1_700_000_000_002_799_872;
        let key = SplitKey::from_timestamp_and_sampling(ts, 100);
        assert_eq!(floor_ts(ts, 100), ts);
        assert!(padded_split_offset(ts, key) < 0, "the case this test is about");
        let item = ArchivePolicyItem { granularity: 100, points: None, timespan: None };
        let policy = PolicySpec::new(0, &[item], &["last".to_string()]).unwrap();
        let store = RecordingStore::default();
        let measures = vec![Point { ts, value: 42.0 }];
        let batch = [MetricMeasures { metric: MetricId::from_bytes([7; 16]), policy: &policy, measures }];
        let report = process_batch(&store, &batch).unwrap();
        assert_eq!(report.outcomes[0].error, None);
        let written = store.splits.lock().unwrap();
        assert_eq!(written.len(), 1);
        let (key, data, offset) = &written[0];
        assert_eq!(*offset, None, "written at an offset");
        // The bytes upstream's file and Redis drivers write for it (their
        // u16 offsets cannot say "before the key" either: upstream's flaw,
        // the same on every driver).
        assert_eq!(*data, serialize_compressed_split(&[Point { ts, value: 42.0 }], *key).unwrap());
        assert_eq!(unserialize_split(data, *key).unwrap().len(), 1);
    }

    #[test]
    fn one_translation_of_a_policy() {
        let items = [
            ArchivePolicyItem { granularity: 3600, points: Some(2), timespan: Some(7200) },
            ArchivePolicyItem { granularity: 60, points: None, timespan: None },
        ];
        let methods = ["rate:mean".to_string(), "max".to_string()];
        let policy = PolicySpec::new(2, &items, &methods).unwrap();
        let order: Vec<(&str, i64)> = policy.aggregations.iter().map(|a| (a.method_name.as_str(), a.granularity)).collect();
        assert_eq!(order, [("rate:mean", 60), ("max", 60), ("rate:mean", 3600), ("max", 3600)]);
        assert_eq!((policy.block_size, policy.back_window), (Some(3600), 3));
        assert!(PolicySpec::new(0, &items, &["+max".to_string()]).is_err());
    }
}
