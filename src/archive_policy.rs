//! Archive policies as upstream's `gnocchi.archive_policy` defines them:
//! items built from two of granularity/points/timespan, the `+`/`-`/`*`
//! method-list syntax, and the policies `gnocchi-upgrade` creates.

use crate::carbonara::aggregate::Method;
use crate::error::{Error, Result};
use std::collections::BTreeSet;

const NS_PER_S: f64 = 1e9;
const SECOND: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * SECOND;

/// The default of `[archive_policy] default_aggregation_methods`.
pub const DEFAULT_AGGREGATION_METHODS: [&str; 6] = ["mean", "min", "max", "sum", "std", "count"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchivePolicyItem {
    pub granularity: i64,
    pub points: Option<i64>,
    pub timespan: Option<i64>,
}

fn seconds_to_ns(seconds: f64, what: &str) -> Result<i64> {
    let ns = seconds * NS_PER_S;
    if !ns.is_finite() || ns.abs() >= 9.2e18 {
        return Err(Error::InvalidArgument(format!("{what} {seconds} is out of range")));
    }
    Ok(ns as i64)
}

fn invalid(why: &str) -> Error {
    Error::InvalidArgument(why.to_string())
}

impl ArchivePolicyItem {
    /// From seconds and a point count, as the REST API receives them.
    pub fn from_seconds(
        granularity: Option<f64>,
        points: Option<f64>,
        timespan: Option<f64>,
    ) -> Result<ArchivePolicyItem> {
        if let (Some(g), Some(p), Some(t)) = (granularity, points, timespan) {
            if t != g * p {
                return Err(invalid("timespan ≠ granularity × points"));
            }
        }
        let granularity = granularity.map(|g| seconds_to_ns(g, "granularity")).transpose()?;
        let timespan = timespan.map(|t| seconds_to_ns(t, "timespan")).transpose()?;
        Self::from_ns(granularity, points, timespan)
    }

    /// From a definition item as the indexer stores it (seconds, in
    /// JSON), as upstream's `ArchivePolicyItem(**item)` converts it; the
    /// stored timespan is not checked again against granularity × points.
    pub fn from_stored(granularity: f64, points: Option<f64>, timespan: Option<f64>) -> Result<ArchivePolicyItem> {
        let granularity = seconds_to_ns(granularity, "granularity")?;
        let timespan = timespan.map(|t| seconds_to_ns(t, "timespan")).transpose()?;
        Self::from_ns(Some(granularity), points, timespan)
    }

    /// From ns durations; the rules of `ArchivePolicyItem.__init__`.
    pub fn from_ns(granularity: Option<i64>, points: Option<f64>, timespan: Option<i64>) -> Result<ArchivePolicyItem> {
        if matches!(granularity, Some(g) if g <= 0) {
            return Err(invalid("Granularity should be > 0"));
        }
        if matches!(points, Some(p) if p <= 0.0 || p.is_nan()) {
            return Err(invalid("Number of points should be > 0"));
        }
        let granularity = match (granularity, points, timespan) {
            (Some(g), _, _) => g,
            (None, Some(p), Some(t)) => crate::carbonara::timestamp::f64_to_i64_like_c(t as f64 / p),
            _ => return Err(invalid("At least two of granularity/points/timespan must be provided")),
        };
        let (points, timespan) = match (points, timespan) {
            (Some(p), _) => {
                let p = p as i64;
                (Some(p), Some(granularity.wrapping_mul(p)))
            }
            (None, Some(t)) => {
                let p = (t as f64 / granularity as f64) as i64;
                if p <= 0 {
                    return Err(invalid("Calculated number of points is < 0"));
                }
                (Some(p), Some(granularity.wrapping_mul(p)))
            }
            (None, None) => (None, None),
        };
        Ok(ArchivePolicyItem { granularity, points, timespan })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArchivePolicy {
    pub name: String,
    pub back_window: i64,
    pub definition: Vec<ArchivePolicyItem>,
    /// The raw entries, `+`/`-`/`*` syntax included.
    pub aggregation_method_entries: BTreeSet<String>,
}

/// The back window metricd uses for a policy's resolved methods: one
/// more block when a `rate:` method needs the point before the first new
/// one (upstream does the same).
pub fn processing_back_window(back_window: i64, methods: &[String]) -> i64 {
    back_window + methods.iter().any(|m| m.starts_with("rate:")) as i64
}

/// Every method name a policy may store.
pub fn valid_aggregation_methods() -> BTreeSet<String> {
    let mut base: Vec<String> =
        ["mean", "sum", "last", "max", "min", "std", "median", "first", "count"].iter().map(|s| s.to_string()).collect();
    base.extend((1..100).map(|n| format!("{n}pct")));
    let rates: Vec<String> = base.iter().map(|m| format!("rate:{m}")).collect();
    base.into_iter().chain(rates).collect()
}

impl ArchivePolicy {
    pub fn new(
        name: &str,
        back_window: i64,
        definition: Vec<ArchivePolicyItem>,
        aggregation_method_entries: &[&str],
    ) -> Result<ArchivePolicy> {
        let mut seen = BTreeSet::new();
        for item in &definition {
            if !seen.insert(item.granularity) {
                return Err(Error::InvalidArgument(format!(
                    "More than one archive policy uses granularity `{}'",
                    item.granularity as f64 / NS_PER_S
                )));
            }
        }
        let valid = valid_aggregation_methods();
        for entry in aggregation_method_entries {
            let bare = entry.strip_prefix(['+', '-']).unwrap_or(entry);
            if *entry != "*" && !valid.contains(bare) {
                return Err(Error::InvalidArgument(format!("Invalid value for aggregation_methods: {entry}")));
            }
        }
        Ok(ArchivePolicy {
            name: name.to_string(),
            back_window,
            definition,
            aggregation_method_entries: aggregation_method_entries.iter().map(|s| s.to_string()).collect(),
        })
    }

    /// Upstream's resolution, including its quirk: when literal names and
    /// `+x`/`-x` entries are mixed, the prefixed strings stay in the set.
    pub fn aggregation_methods(&self, defaults: &[&str]) -> BTreeSet<String> {
        let entries = &self.aggregation_method_entries;
        let mut methods: BTreeSet<String> = if entries.contains("*") {
            valid_aggregation_methods()
        } else if entries.iter().all(|e| e.starts_with('-') || e.starts_with('+')) {
            defaults.iter().map(|s| s.to_string()).collect()
        } else {
            entries.clone()
        };
        for entry in entries {
            if let Some(removed) = entry.strip_prefix('-') {
                methods.remove(removed);
            } else if let Some(added) = entry.strip_prefix('+') {
                methods.insert(added.to_string());
            }
        }
        methods
    }

    /// The stored methods, parsed; names that are not methods (the quirk
    /// above) are left out.
    pub fn methods(&self, defaults: &[&str]) -> Vec<(String, Method)> {
        self.aggregation_methods(defaults)
            .into_iter()
            .filter_map(|name| Method::parse(&name).ok().map(|m| (name, m)))
            .collect()
    }

    /// The largest granularity: the raw series' block size.
    pub fn max_block_size(&self) -> Option<i64> {
        self.definition.iter().map(|d| d.granularity).max()
    }

    /// The back window metricd uses: one more block when a `rate:` method
    /// needs the point before the first new one.
    pub fn effective_back_window(&self, defaults: &[&str]) -> i64 {
        let methods: Vec<String> = self.aggregation_methods(defaults).into_iter().collect();
        processing_back_window(self.back_window, &methods)
    }

    /// The policies `gnocchi-upgrade` creates.
    pub fn defaults() -> Vec<ArchivePolicy> {
        let item = |g: i64, span: i64| ArchivePolicyItem::from_ns(Some(g), None, Some(span)).expect("static policy");
        let policy = |name, bw, def, methods: &[&str]| ArchivePolicy::new(name, bw, def, methods).expect("static policy");
        let defaults = DEFAULT_AGGREGATION_METHODS;
        vec![
            policy("bool", 3600, vec![item(SECOND, 365 * DAY)], &["last"]),
            policy("low", 0, vec![item(300 * SECOND, 30 * DAY)], &defaults),
            policy("medium", 0, vec![item(60 * SECOND, 7 * DAY), item(3600 * SECOND, 365 * DAY)], &defaults),
            policy(
                "high",
                0,
                vec![item(SECOND, 3600 * SECOND), item(60 * SECOND, 7 * DAY), item(3600 * SECOND, 365 * DAY)],
                &defaults,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items() {
        let i = ArchivePolicyItem::from_seconds(None, Some(7.0), Some(3600.0)).unwrap();
        assert_eq!(i.granularity, 514_285_714_285);
        assert_eq!(i.timespan, Some(3_599_999_999_995));
        let i = ArchivePolicyItem::from_seconds(Some(60.0), None, Some(3630.0)).unwrap();
        assert_eq!((i.points, i.timespan), (Some(60), Some(3600 * SECOND)));
        assert!(ArchivePolicyItem::from_seconds(Some(0.0), Some(1.0), None).is_err());
        assert!(ArchivePolicyItem::from_seconds(Some(1.0), Some(2.0), Some(3.0)).is_err());
    }

    #[test]
    fn method_resolution_quirk() {
        let p = ArchivePolicy::new("x", 0, vec![], &["mean", "+max", "-mean"]).unwrap();
        let got: Vec<String> = p.aggregation_methods(&DEFAULT_AGGREGATION_METHODS).into_iter().collect();
        assert_eq!(got, vec!["+max", "-mean", "max"]);
        let p = ArchivePolicy::new("x", 0, vec![], &["-std", "+rate:mean"]).unwrap();
        let got = p.aggregation_methods(&DEFAULT_AGGREGATION_METHODS);
        assert!(got.contains("rate:mean") && !got.contains("std") && got.contains("count"));
        assert_eq!(p.effective_back_window(&DEFAULT_AGGREGATION_METHODS), 1);
        assert!(ArchivePolicy::new("x", 0, vec![], &["bogus"]).is_err());
    }
}
