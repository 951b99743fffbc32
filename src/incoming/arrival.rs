//! When a blob arrived, as its name says: upstream's file and Ceph drivers
//! end every blob name with the UTC time it was written, to the second
//! (`_%Y%m%d_%H:%M:%S`). Read back, it gives the backlog's age.

use crate::carbonara::timestamp::{civil_from_days, days_from_civil};

/// `_%Y%m%d_%H:%M:%S` of a UTC unix time, as upstream names blobs.
pub(crate) fn utc_suffix(unix_seconds: i64) -> String {
    let (year, month, day) = civil_from_days(unix_seconds.div_euclid(86_400));
    let secs = unix_seconds.rem_euclid(86_400);
    format!("_{year:04}{month:02}{day:02}_{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

const SUFFIX_LENGTH: usize = "_YYYYmmdd_HH:MM:SS".len();

/// The unix time a blob name ends with, or None when it does not end with
/// one (a name from another writer, a stray file).
pub(crate) fn arrival_of(name: &[u8]) -> Option<i64> {
    let suffix = name.get(name.len().checked_sub(SUFFIX_LENGTH)?..)?;
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = suffix.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if suffix[0] != b'_' || suffix[9] != b'_' || suffix[12] != b':' || suffix[15] != b':' {
        return None;
    }
    let (year, month, day) = (digits(1..5)?, digits(5..7)?, digits(7..9)?);
    let (hour, minute, second) = (digits(10..12)?, digits(13..15)?, digits(16..18)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month as u32, day as u32) * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_names_like_strftime() {
        assert_eq!(utc_suffix(0), "_19700101_00:00:00");
        assert_eq!(utc_suffix(1_700_000_000), "_20231114_22:13:20");
        assert_eq!(utc_suffix(951_782_400), "_20000229_00:00:00");
    }

    #[test]
    fn arrival_read_back_from_names() {
        for t in [0, 1_700_000_000, 951_782_400, 4_102_444_799, 86_399] {
            let name = format!("0b7e0a44-4a51-4d0e-9b1e-3c5b7b7e0f11{}", utc_suffix(t));
            assert_eq!(arrival_of(name.as_bytes()), Some(t));
        }
        let ceph = b"measure_5a301761-f78b-46e2-8900-8b4f6fe6675a_0b7e0a44-4a51-4d0e-9b1e-3c5b7b7e0f11_20231114_22:13:20";
        assert_eq!(arrival_of(ceph), Some(1_700_000_000));
    }

    #[test]
    fn names_without_a_time_have_no_arrival() {
        for name in [&b""[..], b"x", b"stray-file", b"_20231314_22:13:20", b"_2023111a_22:13:20", b"-20231114_22:13:20"] {
            assert_eq!(arrival_of(name), None);
        }
    }
}
