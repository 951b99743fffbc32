//! Measures rendered exactly as upstream's API renders them: Pecan's JSON
//! encoder (Python's `json`, with its `", "` separators) over
//! `gnocchi.json.to_primitive`, which turns a timestamp into numpy's
//! `datetime_as_string(unit="s") + "+00:00"` and a granularity into
//! seconds as a float. Floats are Python's `repr`, and NaN and the
//! infinities are written as Python's `json` writes them (not JSON, but
//! what upstream's clients already read).

use crate::carbonara::pyfloat;
use crate::carbonara::timestamp::NAT;

const NS_PER_SECOND: i64 = 1_000_000_000;

/// The body of a measures answer, `[[timestamp, granularity, value], ...]`,
/// built group by group (upstream lists the coarsest granularity first).
pub struct MeasuresJson {
    out: String,
    empty: bool,
}

impl Default for MeasuresJson {
    fn default() -> Self {
        Self::new()
    }
}

impl MeasuresJson {
    pub fn new() -> MeasuresJson {
        MeasuresJson { out: String::from("["), empty: true }
    }

    /// Room for about `points` more points.
    pub fn reserve(&mut self, points: usize) {
        self.out.reserve(points.saturating_mul(48));
    }

    /// The points of one series, all rendered with `granularity` seconds.
    pub fn push_series(&mut self, granularity: f64, points: impl IntoIterator<Item = (i64, f64)>) {
        let granularity = json_float(granularity);
        for (timestamp, value) in points {
            self.out.push_str(if self.empty { "[\"" } else { ", [\"" });
            self.empty = false;
            push_timestamp(&mut self.out, timestamp);
            self.out.push_str("+00:00\", ");
            self.out.push_str(&granularity);
            self.out.push_str(", ");
            push_float(&mut self.out, value);
            self.out.push(']');
        }
    }

    pub fn finish(mut self) -> String {
        self.out.push(']');
        self.out
    }
}

/// `json.dumps(x)` of a Python float.
fn json_float(x: f64) -> String {
    let mut s = String::new();
    push_float(&mut s, x);
    s
}

fn push_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        pyfloat::write_repr(out, x);
    }
}

/// numpy's `datetime_as_string(ts, unit="s")` of nanoseconds: the second
/// it falls in (numpy floors, before the epoch too), `YYYY-MM-DDTHH:MM:SS`.
fn push_timestamp(out: &mut String, ns: i64) {
    use std::fmt::Write;
    if ns == NAT {
        out.push_str("NaT");
        return;
    }
    let seconds = ns.div_euclid(NS_PER_SECOND);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    if (0..10_000).contains(&year) {
        // One formatting per point: by hand, write! is most of it.
        let year = year as u32;
        push_two(out, year / 100);
        push_two(out, year % 100);
        out.push('-');
        push_two(out, month);
        out.push('-');
        push_two(out, day);
        out.push('T');
        for (i, part) in [hour, minute, second].into_iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            push_two(out, part as u32);
        }
        return;
    }
    // Writing to a String cannot fail.
    let _ = write!(out, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
}

/// Two decimal digits of `n` < 100.
fn push_two(out: &mut String, n: u32) {
    out.push(char::from(b'0' + (n / 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(granularity: f64, points: &[(i64, f64)]) -> String {
        let mut body = MeasuresJson::new();
        body.push_series(granularity, points.iter().copied());
        body.finish()
    }

    #[test]
    fn empty() {
        assert_eq!(MeasuresJson::new().finish(), "[]");
    }

    #[test]
    fn as_python_json_writes_it() {
        let points = [
            (1_483_228_800 * NS_PER_SECOND, 1.0),
            (1_483_228_860 * NS_PER_SECOND + 999_999_999, 1e-5),
            (0, f64::NAN),
            (951_782_400 * NS_PER_SECOND, f64::NEG_INFINITY), // 2000-02-29
            (-1, -0.0),
        ];
        assert_eq!(
            render(60.0, &points),
            "[[\"2017-01-01T00:00:00+00:00\", 60.0, 1.0], \
             [\"2017-01-01T00:01:00+00:00\", 60.0, 1e-05], \
             [\"1970-01-01T00:00:00+00:00\", 60.0, NaN], \
             [\"2000-02-29T00:00:00+00:00\", 60.0, -Infinity], \
             [\"1969-12-31T23:59:59+00:00\", 60.0, -0.0]]"
        );
        assert_eq!(render(0.001, &[(NAT, 2.5)]), "[[\"NaT+00:00\", 0.001, 2.5]]");
    }

    #[test]
    fn dates_across_centuries() {
        // 2100 is not a leap year, 2000 and 2400 are.
        for (days, date) in [(0, (1970, 1, 1)), (11_016, (2000, 2, 29)), (47_541, (2100, 3, 1)), (-25_567, (1900, 1, 1))] {
            assert_eq!(civil_from_days(days), date);
        }
    }

    #[test]
    fn timestamps_by_hand_as_formatted() {
        use std::fmt::Write;
        for seconds in [-9_000_000_000i64, -1, 0, 951_782_399, 4_102_444_800, 9_000_000_000] {
            for ns in [seconds * NS_PER_SECOND, seconds * NS_PER_SECOND + 999_999_999] {
                let mut ours = String::new();
                push_timestamp(&mut ours, ns);
                let s = ns.div_euclid(NS_PER_SECOND);
                let (year, month, day) = civil_from_days(s.div_euclid(86_400));
                let t = s.rem_euclid(86_400);
                let mut expected = String::new();
                let _ = write!(expected, "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
                assert_eq!(ours, expected);
            }
        }
    }
}
