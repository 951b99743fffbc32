//! Gnocchi's JSON answers read back into columns, for clients (the
//! notebook API): every list of measures (`[[timestamp, granularity,
//! value], ...]`) becomes three columns, everything around it stays a
//! tree. A day at 1 s is 86 400 points: read here, no per-point object
//! is ever made on the Python side.
//!
//! Unlike the request reader's callers, nothing is declined for being
//! unusual: an answer the server wrote is read as written, and a body that
//! is not what Gnocchi writes is an error naming what was wrong.

use super::json::{self, Value};
use super::timestamps;

/// A list of measures as columns. `null` values (`fill=null`) are NaN;
/// booleans (comparison operations) are 0.0 and 1.0.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MeasureColumns {
    pub timestamps: Vec<i64>,
    pub granularities: Vec<f64>,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    List(Vec<Answer>),
    Object(Vec<(String, Answer)>),
    Measures(MeasureColumns),
}

/// What made a body unreadable as an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

pub fn read(body: &[u8]) -> Result<Answer, Unreadable> {
    let value = json::parse(body).map_err(|declined| Unreadable(format!("not JSON Gnocchi writes: {}", declined.0)))?;
    tree(&value)
}

fn tree(value: &Value<'_>) -> Result<Answer, Unreadable> {
    Ok(match value {
        Value::Null => Answer::Null,
        Value::Bool(b) => Answer::Bool(*b),
        Value::Number(literal) => number(literal)?,
        Value::String(text) => Answer::String(text.to_string()),
        Value::Array(items) if is_measure_list(items) => Answer::Measures(columns(items)?),
        Value::Array(items) => Answer::List(items.iter().map(tree).collect::<Result<_, _>>()?),
        Value::Object(entries) => Answer::Object(
            entries.iter().map(|(key, value)| Ok((key.to_string(), tree(value)?))).collect::<Result<_, _>>()?,
        ),
    })
}

fn number(literal: &str) -> Result<Answer, Unreadable> {
    let integer = !literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if integer {
        if let Ok(value) = literal.parse::<i64>() {
            return Ok(Answer::Integer(value));
        }
    }
    timestamps::number(literal).map(Answer::Float).map_err(|_| Unreadable(format!("a number out of range: {literal}")))
}

/// A measure: `[string, number, number | null | bool]`. A list is read as
/// measures when its first item is one (the rest must be too).
fn is_measure(value: &Value<'_>) -> bool {
    matches!(value, Value::Array(point) if point.len() == 3
        && matches!(point[0], Value::String(_))
        && matches!(point[1], Value::Number(_))
        && matches!(point[2], Value::Number(_) | Value::Null | Value::Bool(_)))
}

fn is_measure_list(items: &[Value<'_>]) -> bool {
    items.first().is_some_and(is_measure)
}

fn columns(items: &[Value<'_>]) -> Result<MeasureColumns, Unreadable> {
    let mut out = MeasureColumns {
        timestamps: Vec::with_capacity(items.len()),
        granularities: Vec::with_capacity(items.len()),
        values: Vec::with_capacity(items.len()),
    };
    for (index, item) in items.iter().enumerate() {
        let bad = || Unreadable(format!("measure {index} is not [timestamp, granularity, value]"));
        let Value::Array(point) = item else { return Err(bad()) };
        let [Value::String(when), Value::Number(granularity), value] = point.as_slice() else { return Err(bad()) };
        let when = timestamps::iso_ns(when).map_err(|_| Unreadable(format!("measure {index}: timestamp {when:?}")))?;
        let granularity = timestamps::number(granularity).map_err(|_| bad())?;
        let value = match value {
            Value::Number(literal) => timestamps::number(literal).map_err(|_| bad())?,
            Value::Null => f64::NAN,
            Value::Bool(b) => f64::from(u8::from(*b)),
            _ => return Err(bad()),
        };
        out.timestamps.push(when);
        out.granularities.push(granularity);
        out.values.push(value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measures(answer: Answer) -> MeasureColumns {
        match answer {
            Answer::Measures(columns) => columns,
            other => panic!("not measures: {other:?}"),
        }
    }

    #[test]
    fn a_measures_answer_becomes_columns() {
        let body = br#"[["2026-12-07T10:00:00+00:00", 3600.0, 1.5], ["2026-12-07T10:01:00+00:00", 60.0, null], ["2026-12-07T10:02:00.5+00:00", 60.0, true]]"#;
        let got = measures(read(body).unwrap());
        let ten = 1_796_637_600_000_000_000i64;
        assert_eq!(got.timestamps, vec![ten, ten + 60_000_000_000, ten + 120_500_000_000]);
        assert_eq!(got.granularities, vec![3600.0, 60.0, 60.0]);
        assert_eq!(got.values[0], 1.5);
        assert!(got.values[1].is_nan());
        assert_eq!(got.values[2], 1.0);
    }

    #[test]
    fn the_tree_around_measures_stays_a_tree() {
        // As Python's json reads it.
        assert_eq!(read(b"1e400").unwrap(), Answer::Float(f64::INFINITY));
        let body = br#"{"measures": {"aggregated": [["2026-12-07T10:00:00+00:00", 60, 2]]}, "references": [{"id": "a", "n": 3, "f": 0.25, "ok": false}], "empty": []}"#;
        let Answer::Object(entries) = read(body).unwrap() else { panic!("not an object") };
        let Answer::Object(inner) = &entries[0].1 else { panic!("measures not an object") };
        assert_eq!(measures(inner[0].1.clone()).values, vec![2.0]);
        assert_eq!(
            entries[1].1,
            Answer::List(vec![Answer::Object(vec![
                ("id".into(), Answer::String("a".into())),
                ("n".into(), Answer::Integer(3)),
                ("f".into(), Answer::Float(0.25)),
                ("ok".into(), Answer::Bool(false)),
            ])])
        );
        assert_eq!(entries[2].1, Answer::List(vec![]));
    }

    #[test]
    fn floats_read_back_to_the_bits_rendered() {
        for value in [0.1, 1.0 / 3.0, -0.0, 1e-300, 123_456_789.123_456_78, f64::MAX] {
            let body = format!(r#"[["1970-01-01T00:00:00+00:00", 1.0, {value:?}]]"#);
            let got = measures(read(body.as_bytes()).unwrap()).values[0];
            assert_eq!(got.to_bits(), value.to_bits(), "{value:?}");
        }
    }

    #[test]
    fn a_broken_measure_is_named() {
        let err = read(br#"[["2026-12-07T10:00:00+00:00", 60.0, 1.0], ["x", 60.0, 1.0]]"#).unwrap_err();
        assert!(err.0.contains("measure 1"), "{err:?}");
        let err = read(br#"[["2026-12-07T10:00:00+00:00", 60.0, 1.0], [1, 2]]"#).unwrap_err();
        assert!(err.0.contains("measure 1"), "{err:?}");
        assert!(read(b"[1, 2").is_err());
    }
}
