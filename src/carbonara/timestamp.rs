//! Timestamps are i64 nanoseconds since the epoch, as numpy's
//! `datetime64[ns]`. Rounding follows numpy's float arithmetic bit for bit,
//! because split keys and buckets computed here must match upstream's.

/// numpy's "not a time" sentinel, also what a failed float->int64 cast
/// gives on x86-64.
pub const NAT: i64 = i64::MIN;

/// A C `(int64)double` cast as x86-64 performs it: truncation toward zero,
/// and the "integer indefinite" value for NaN or out-of-range inputs.
#[inline]
pub fn f64_to_i64_like_c(x: f64) -> i64 {
    // 2^63 is exactly representable; anything at or past it overflows.
    if x.is_nan() || x >= 9_223_372_036_854_775_808.0 || x < -9_223_372_036_854_775_808.0 {
        NAT
    } else {
        x as i64
    }
}

/// `f64::floor` without a libm call (baseline x86-64 has no `roundsd`).
/// Exact: any |x| >= 2^52 is already an integer, and below that the
/// truncating conversion is exact.
#[inline(always)]
fn floor_f64(x: f64) -> f64 {
    if !(x.abs() < 4_503_599_627_370_496.0) || x == 0.0 {
        return x; // integral (signed zeros included), infinite or NaN
    }
    let truncated = x as i64 as f64;
    if truncated > x {
        truncated - 1.0
    } else {
        truncated
    }
}

/// Upstream's `round_timestamp`: `floor(ts / freq) * freq` computed in
/// float64, then cast back with truncation. Near a bucket boundary this
/// rounds *up* into the next bucket, unlike an integer floor.
#[inline]
pub fn floor_ts(ts_ns: i64, freq_ns: i64) -> i64 {
    if ts_ns == NAT || freq_ns == NAT {
        return NAT;
    }
    key_of_quotient(float_quotient(ts_ns, freq_ns), freq_ns)
}

/// `floor(f64(ts) / f64(freq))`, the bucket number upstream computes.
#[inline]
pub fn float_quotient(ts_ns: i64, freq_ns: i64) -> f64 {
    floor_f64(ts_ns as f64 / freq_ns as f64)
}

/// The bucket start upstream derives from a bucket number.
#[inline]
pub fn key_of_quotient(quotient: f64, freq_ns: i64) -> i64 {
    f64_to_i64_like_c(quotient * freq_ns as f64)
}

const NS_PER_DAY: i64 = 86_400_000_000_000;

/// Days since the epoch, floored (numpy's cast to `datetime64[D]`).
#[inline]
fn days_since_epoch(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(NS_PER_DAY)
}

/// Proleptic Gregorian (year, month 1..=12, day) from days since the epoch.
/// Howard Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since the epoch of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar groupings of upstream's `calendar.GROUPINGS`, usable only
/// when resampling (they are never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calendar {
    Year,
    HalfYear,
    Quarter,
    Month,
    /// Weeks starting on Sunday.
    Week,
}

impl Calendar {
    pub fn from_code(code: &str) -> Option<Calendar> {
        Some(match code {
            "Y" => Calendar::Year,
            "H" => Calendar::HalfYear,
            "Q" => Calendar::Quarter,
            "M" => Calendar::Month,
            "W" => Calendar::Week,
            _ => return None,
        })
    }

    pub fn code(self) -> &'static str {
        match self {
            Calendar::Year => "Y",
            Calendar::HalfYear => "H",
            Calendar::Quarter => "Q",
            Calendar::Month => "M",
            Calendar::Week => "W",
        }
    }

    /// Start of the calendar bucket holding `ts_ns`, in ns.
    pub fn bucket_start(self, ts_ns: i64) -> i64 {
        let days = days_since_epoch(ts_ns);
        let start_days = match self {
            // numpy weeks are epoch-aligned on a Thursday; shifting by four
            // days makes them start on Sunday.
            Calendar::Week => (days + 4).div_euclid(7) * 7 - 4,
            _ => {
                let (year, month, _) = civil_from_days(days);
                let first_month = match self {
                    Calendar::Year => 1,
                    Calendar::HalfYear => ((month - 1) / 6) * 6 + 1,
                    Calendar::Quarter => ((month - 1) / 3) * 3 + 1,
                    _ => month,
                };
                days_from_civil(year, first_month, 1)
            }
        };
        start_days.saturating_mul(NS_PER_DAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_floor_rounds_up_near_boundary() {
        // 2016-12-31T23:59:59.999999999 lands in 2017-01-01 at 1 s.
        let ts = 1_483_228_799_999_999_999;
        assert_eq!(floor_ts(ts, 1_000_000_000), 1_483_228_800_000_000_000);
        // An integer floor would say otherwise.
        assert_ne!(ts.div_euclid(1_000_000_000) * 1_000_000_000, 1_483_228_800_000_000_000);
    }

    #[test]
    fn floor_without_libm_agrees() {
        for x in [0.0, -0.0, 0.5, -0.5, -1.0, 1.0, 2.5e15, -2.5e15 - 0.5, 1e300, -1e300, f64::INFINITY] {
            assert_eq!(floor_f64(x).to_bits(), x.floor().to_bits(), "{x}");
        }
        assert!(floor_f64(f64::NAN).is_nan());
    }

    #[test]
    fn inexact_granularity_key() {
        let g = 333_333_333 * 3600;
        assert_eq!(floor_ts(1_483_228_800_000_000_000, g), 1_483_228_798_516_771_328);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1_000_000i64, -1, 0, 1, 59, 365, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn calendar_buckets() {
        let day = NS_PER_DAY;
        // 2017-05-17 (a Wednesday) is 17303 days after the epoch.
        let ts = 17_303 * day + 12_345;
        assert_eq!(Calendar::Year.bucket_start(ts), days_from_civil(2017, 1, 1) * day);
        assert_eq!(Calendar::HalfYear.bucket_start(ts), days_from_civil(2017, 1, 1) * day);
        assert_eq!(Calendar::Quarter.bucket_start(ts), days_from_civil(2017, 4, 1) * day);
        assert_eq!(Calendar::Month.bucket_start(ts), days_from_civil(2017, 5, 1) * day);
        // The Sunday before is 2017-05-14.
        assert_eq!(Calendar::Week.bucket_start(ts), days_from_civil(2017, 5, 14) * day);
    }
}
