//! Measure bodies of upstream's ingest endpoints, from JSON to records:
//! - a list, `[{"timestamp": t, "value": v}, ...]` (`MeasuresListSchema`:
//!   other keys ignored, values as `float()` takes them);
//! - `POST /v1/batch/metrics/measures`: `{metric id: list}`;
//! - `POST /v1/batch/resources/metrics/measures`: `{resource id: {metric
//!   name: list | {"measures": list, "archive_policy_name": s, "unit": s}}}`.
//!
//! Values other than JSON numbers (strings and booleans, which `float()`
//! also takes) and every malformed body are declined (see `super`).

use super::json::{self, Value};
use super::timestamps::{number, to_ns};
use super::{Declined, Parse};
use crate::carbonara::Point;

/// The records of one measure list.
pub fn measure_list(value: &Value<'_>) -> Parse<Vec<Point>> {
    let Value::Array(measures) = value else {
        return Err(Declined("measures are not a list"));
    };
    let mut stamps = Vec::with_capacity(measures.len());
    let mut values = Vec::with_capacity(measures.len());
    for measure in measures {
        let (Some(ts), Some(v)) = (measure.get("timestamp"), measure.get("value")) else {
            return Err(Declined("a measure without timestamp or value"));
        };
        let Value::Number(v) = v else {
            return Err(Declined("a measure value that is not a JSON number"));
        };
        stamps.push(ts);
        values.push(number(v)?);
    }
    let stamps = to_ns(&stamps)?;
    Ok(stamps.into_iter().zip(values).map(|(ts, value)| Point { ts, value }).collect())
}

/// `POST /v1/metric/<id>/measures` and the named-metric route.
pub fn parse_measure_list(body: &[u8]) -> Parse<Vec<Point>> {
    measure_list(&json::parse(body)?)
}

/// A metric id as `uuid.UUID` reads it, in its two usual spellings (36
/// characters with hyphens at their places, or 32 hex digits); other
/// spellings upstream accepts are declined.
pub fn metric_id(text: &str) -> Parse<[u8; 16]> {
    let b = text.as_bytes();
    let hex: Vec<u8> = match b.len() {
        36 if [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') => {
            b.iter().enumerate().filter(|(i, _)| ![8, 13, 18, 23].contains(i)).map(|(_, &c)| c).collect()
        }
        32 => b.to_vec(),
        _ => return Err(Declined("not a usual spelling of a UUID")),
    };
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(hex.chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| Declined("not a UUID"))?;
        if !pair.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Declined("not a UUID"));
        }
        *byte = u8::from_str_radix(pair, 16).map_err(|_| Declined("not a UUID"))?;
    }
    Ok(id)
}

/// `{metric id: list}`, in body order; two keys naming the same metric
/// (say in upper and lower case) are declined.
pub fn parse_metric_batch(body: &[u8]) -> Parse<Vec<([u8; 16], Vec<Point>)>> {
    let Value::Object(entries) = json::parse(body)? else {
        return Err(Declined("the batch is not an object"));
    };
    let batch = entries
        .iter()
        .map(|(key, list)| Ok((metric_id(key)?, measure_list(list)?)))
        .collect::<Parse<Vec<_>>>()?;
    let mut ids: Vec<[u8; 16]> = batch.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(Declined("a metric named twice"));
    }
    Ok(batch)
}

/// One metric of a resource batch.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedMeasures {
    pub name: String,
    pub archive_policy_name: Option<String>,
    pub unit: Option<String>,
    pub measures: Vec<Point>,
}

/// One resource of a resource batch: its id as written, its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMeasures {
    pub original_id: String,
    pub metrics: Vec<NamedMeasures>,
}

fn named_measures(name: &str, value: &Value<'_>) -> Parse<NamedMeasures> {
    let text = |key: &str| -> Parse<Option<String>> {
        match value.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(Declined("archive_policy_name and unit are strings")),
        }
    };
    match value {
        Value::Array(_) => {
            Ok(NamedMeasures { name: name.to_string(), archive_policy_name: None, unit: None, measures: measure_list(value)? })
        }
        Value::Object(entries) => {
            let known = ["measures", "archive_policy_name", "unit"];
            if entries.iter().any(|(k, _)| !known.contains(&k.as_ref())) {
                return Err(Declined("an unknown key beside the measures"));
            }
            let measures = value.get("measures").ok_or(Declined("no measures"))?;
            Ok(NamedMeasures {
                name: name.to_string(),
                archive_policy_name: text("archive_policy_name")?,
                unit: text("unit")?,
                measures: measure_list(measures)?,
            })
        }
        _ => Err(Declined("metric measures neither a list nor an object")),
    }
}

/// `{resource id: {metric name: measures}}`, in body order.
pub fn parse_resource_batch(body: &[u8]) -> Parse<Vec<ResourceMeasures>> {
    let Value::Object(resources) = json::parse(body)? else {
        return Err(Declined("the batch is not an object"));
    };
    resources
        .iter()
        .map(|(original_id, metrics)| {
            let Value::Object(metrics) = metrics else {
                return Err(Declined("a resource's metrics are not an object"));
            };
            let metrics = metrics.iter().map(|(name, value)| named_measures(name, value)).collect::<Parse<_>>()?;
            Ok(ResourceMeasures { original_id: original_id.to_string(), metrics })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let body = br#"[{"timestamp": "2017-01-01T00:00:00", "value": 1, "extra": null},
                        {"value": -2.5, "timestamp": "2017-01-01 00:01:00+01:00"}]"#;
        let points = parse_measure_list(body).unwrap();
        assert_eq!(
            points,
            vec![
                Point { ts: 1_483_228_800_000_000_000, value: 1.0 },
                Point { ts: 1_483_225_260_000_000_000, value: -2.5 }
            ]
        );
        assert_eq!(parse_measure_list(b"[]").unwrap(), vec![]);
        for declined in [
            &br#"[{"timestamp": 1}]"#[..],
            br#"[{"timestamp": 1, "value": "1"}]"#,
            br#"[{"timestamp": 1, "value": true}]"#,
            br#"[{"timestamp": "-5 minutes", "value": 1}]"#,
            br#"{"timestamp": 1, "value": 1}"#,
            br#"[[1, 2]]"#,
        ] {
            assert!(parse_measure_list(declined).is_err(), "{}", String::from_utf8_lossy(declined));
        }
    }

    #[test]
    fn metric_batches() {
        let id = "5a301761-f78b-46e2-8900-8b4f6fe6675a";
        let body = format!(r#"{{"{id}": [{{"timestamp": 1500000000, "value": 3}}], "{}": []}}"#, id.replace('-', "").replace('5', "6"));
        let batch = parse_metric_batch(body.as_bytes()).unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].0[0], 0x5a);
        assert_eq!(batch[0].1, vec![Point { ts: 1_500_000_000_000_000_000, value: 3.0 }]);
        let twice = format!(r#"{{"{id}": [], "{}": []}}"#, id.to_uppercase());
        assert!(parse_metric_batch(twice.as_bytes()).is_err());
        assert!(parse_metric_batch(br#"{"not-a-uuid": []}"#).is_err());
        assert!(metric_id("{5a301761-f78b-46e2-8900-8b4f6fe6675a}").is_err());
    }

    #[test]
    fn resource_batches() {
        let body = br#"{"host-1": {"cpu": [{"timestamp": 1, "value": 2}],
                                    "mem": {"archive_policy_name": "low", "unit": "B",
                                            "measures": [{"timestamp": 1, "value": 3}]}}}"#;
        let batch = parse_resource_batch(body).unwrap();
        assert_eq!(batch[0].original_id, "host-1");
        assert_eq!(batch[0].metrics[1].archive_policy_name.as_deref(), Some("low"));
        assert_eq!(batch[0].metrics[1].measures, vec![Point { ts: 1_000_000_000, value: 3.0 }]);
        assert!(parse_resource_batch(br#"{"r": {"m": {"measures": [], "other": 1}}}"#).is_err());
        assert!(parse_resource_batch(br#"{"r": {"m": {"unit": 1, "measures": []}}}"#).is_err());
    }
}
