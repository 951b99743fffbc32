//! Measure timestamps as upstream's `utils.to_timestamps` reads a list of
//! them: the first one decides how all are read. A JSON number makes them
//! seconds since the epoch (`float * 10e8`, truncated to ns, as numpy casts
//! it); an ISO 8601 string makes them dates as numpy parses them (time
//! zones converted to UTC). Relative times ("-5 minutes"), numbers written
//! as strings, mixed lists, times before the epoch or past datetime64[ns]
//! are declined: upstream's code decides those.

use super::json::Value;
use super::{Declined, Parse};

const NS_PER_SECOND: i64 = 1_000_000_000;

/// The ns since the epoch of every timestamp of a list of measures.
pub fn to_ns(timestamps: &[&Value<'_>]) -> Parse<Vec<i64>> {
    match timestamps.first() {
        None => Ok(Vec::new()),
        Some(Value::Number(_)) => timestamps.iter().map(|t| epoch_seconds(t)).collect(),
        Some(Value::String(_)) => timestamps
            .iter()
            .map(|t| match t {
                Value::String(s) => iso_ns(s),
                _ => Err(Declined("a timestamp of another kind than the first")),
            })
            .collect(),
        Some(_) => Err(Declined("timestamp neither a number nor a string")),
    }
}

fn epoch_seconds(value: &Value<'_>) -> Parse<i64> {
    let Value::Number(literal) = value else {
        return Err(Declined("a timestamp of another kind than the first"));
    };
    let seconds = number(literal)?;
    let ns = seconds * 1e9;
    // NaT, past datetime64[ns] or before the epoch: upstream's to decide.
    if !(0.0..9.223_372_036_854_775e18).contains(&ns) {
        return Err(Declined("timestamp out of range"));
    }
    Ok(ns as i64)
}

/// A JSON number as Python reads it and `float()` converts it; integers
/// too large for a float raise in Python (`OverflowError`): declined.
/// An integer literal is a Python int first, and ints have no negative
/// zero: `-0` is 0.0 (`-0.0`, a float literal, stays -0.0).
pub fn number(literal: &str) -> Parse<f64> {
    let value: f64 = literal.parse().map_err(|_| Declined("malformed number"))?;
    let integer = !literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
    if integer && value.is_infinite() {
        return Err(Declined("integer too large for a float"));
    }
    Ok(if integer { value + 0.0 } else { value })
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]][Z|±HH[:]MM]]`, a subset of
/// what numpy's datetime64 parser takes, with numpy's meaning: the
/// fraction truncated to ns, the offset subtracted.
pub fn iso_ns(text: &str) -> Parse<i64> {
    let declined = Declined("not an ISO 8601 form the native path reads");
    let b = text.as_bytes();
    let digits = |from: usize, n: usize| -> Parse<i64> {
        let part = b.get(from..from + n).ok_or(declined.clone())?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(declined.clone());
        }
        Ok(part.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(declined);
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(declined);
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut fraction_ns = 0i64;
    let mut at = 10;
    if at < b.len() {
        if !matches!(b[at], b'T' | b' ') {
            return Err(declined);
        }
        let (hour, minute) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
        if b.get(at + 3) != Some(&b':') || hour > 23 || minute > 59 {
            return Err(declined);
        }
        seconds += hour * 3600 + minute * 60;
        at += 6;
        if b.get(at) == Some(&b':') {
            let second = digits(at + 1, 2)?;
            if second > 59 {
                return Err(declined);
            }
            seconds += second;
            at += 3;
            if b.get(at) == Some(&b'.') {
                at += 1;
                let start = at;
                while b.get(at).is_some_and(u8::is_ascii_digit) {
                    at += 1;
                }
                if at == start {
                    return Err(declined);
                }
                let kept = &b[start..at.min(start + 9)];
                let scale = 10i64.pow(9 - kept.len() as u32);
                fraction_ns = kept.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')) * scale;
            }
        }
        match b.get(at) {
            None => {}
            Some(b'Z') if at + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) => {
                let hours = digits(at + 1, 2)?;
                let minutes = match &b[at + 3..] {
                    [b':', ..] if b.len() == at + 6 => digits(at + 4, 2)?,
                    rest if rest.len() == 2 => digits(at + 3, 2)?,
                    [] => 0,
                    _ => return Err(declined),
                };
                if hours > 23 || minutes > 59 {
                    return Err(declined);
                }
                let offset = hours * 3600 + minutes * 60;
                seconds += if sign == b'+' { -offset } else { offset };
            }
            Some(_) => return Err(declined),
        }
    }
    let ns = seconds.checked_mul(NS_PER_SECOND).and_then(|ns| ns.checked_add(fraction_ns));
    match ns {
        Some(ns) if ns >= 0 => Ok(ns),
        _ => Err(Declined("timestamp out of range")),
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_as_numpy_reads_it() {
        // Figures from numpy 2.4's datetime64[ns] parser.
        for (text, ns) in [
            ("2017-01-01T00:00:00", 1_483_228_800_000_000_000),
            ("2017-01-01 00:00:00", 1_483_228_800_000_000_000),
            ("2017-01-01T00:00", 1_483_228_800_000_000_000),
            ("2017-01-01", 1_483_228_800_000_000_000),
            ("2017-01-01T00:00:00Z", 1_483_228_800_000_000_000),
            ("2017-01-01T00:00:00+02:00", 1_483_221_600_000_000_000),
            ("2017-01-01T00:00:00+0200", 1_483_221_600_000_000_000),
            ("2017-01-01T00:00:00-00:30", 1_483_230_600_000_000_000),
            ("2017-01-01T00:00:00+23:59", 1_483_142_460_000_000_000),
            ("2017-01-01T00:00:00+14", 1_483_178_400_000_000_000),
            ("2017-01-01T00:00:00.123456789123", 1_483_228_800_123_456_789),
            ("2017-01-01T00:00:00.5+01:00", 1_483_225_200_500_000_000),
            ("2017-01-01 00:00Z", 1_483_228_800_000_000_000),
            ("2016-02-29T00:00:00", 1_456_704_000_000_000_000),
            ("1970-01-01T00:00:00", 0),
            ("2262-04-11T23:47:16.854775807", i64::MAX),
        ] {
            assert_eq!(iso_ns(text), Ok(ns), "{text}");
        }
        for text in [
            "2017-01-01t00:00:00",
            "2017-01-01T24:00:00",
            "2017-02-29T00:00:00",
            "2017-01-01T00:00:60",
            "2017-1-1",
            " 2017-01-01",
            "2017-01-01T00:00:00.",
            "2017-01-01T00:00:00 Z",
            "2017-01-01T00:00:00z",
            "2017-01-01T00:00:00+24:00",
            "2017-01-01T00:00:00+1",
            "1969-12-31T23:59:59",
            "2262-04-11T23:47:16.854775808",
            "9999-01-01",
            "2017",
            "-5 minutes",
        ] {
            assert!(iso_ns(text).is_err(), "{text}");
        }
    }

    #[test]
    fn epoch_numbers_as_numpy_casts_them() {
        let n = |s| Value::Number(s);
        let got = to_ns(&[&n("1.9e-9"), &n("1.99999999999"), &n("1500000000"), &n("0")]).unwrap();
        assert_eq!(got, vec![1, 1_999_999_999, 1_500_000_000_000_000_000, 0]);
        assert!(to_ns(&[&n("1e20")]).is_err());
        assert!(to_ns(&[&n("-1")]).is_err());
        assert!(to_ns(&[&n("1"), &Value::String("2017-01-01".into())]).is_err());
        assert!(to_ns(&[&Value::String("2017-01-01".into()), &n("1")]).is_err());
        assert!(to_ns(&[&Value::Bool(true)]).is_err());
        assert!(number(&"9".repeat(400)).is_err());
        assert_eq!(number("1e400"), Ok(f64::INFINITY));
        assert_eq!(number("-0").map(f64::to_bits), Ok(0));
        assert_eq!(number("-0.0").map(f64::to_bits), Ok((-0.0f64).to_bits()));
        assert_eq!(number("-0e0").map(f64::to_bits), Ok((-0.0f64).to_bits()));
    }
}
