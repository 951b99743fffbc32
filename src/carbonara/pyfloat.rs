//! Python's `repr(float)`, which storage names are written with
//! (`1483228800.0`, `1e-05`, `0.333333333`). Rust's `{}` drops the `.0` and
//! never uses exponents, so it cannot be used for names.

/// Formats `x` exactly as CPython's `repr(x)` does.
pub fn repr(x: f64) -> String {
    let mut out = String::with_capacity(24);
    write_repr(&mut out, x);
    out
}

/// A fixed buffer for one `{:e}` rendering: the request path renders a
/// float per point, and heap strings per float were most of its cost.
struct Scratch {
    bytes: [u8; 40],
    len: usize,
}

impl std::fmt::Write for Scratch {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends CPython's `repr(x)` to `out`.
pub fn write_repr(out: &mut String, x: f64) {
    use std::fmt::Write;
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // `{:e}` gives the shortest round-trip digits, like CPython's repr:
    // at most 17 digits, a point and an exponent of 3 digits fit.
    let mut sci = Scratch { bytes: [0; 40], len: 0 };
    if write!(sci, "{:e}", x.abs()).is_err() {
        out.push_str(&format!("{x:?}"));
        return;
    }
    let sci = &sci.bytes[..sci.len];
    let e_at = sci.iter().position(|&b| b == b'e').unwrap_or(sci.len());
    let mut digits = [0u8; 24];
    let mut count = 0;
    for &b in sci[..e_at].iter().filter(|&&b| b != b'.') {
        if count < digits.len() {
            digits[count] = b;
            count += 1;
        }
    }
    let digits = &digits[..count];
    let exponent = parse_exponent(&sci[(e_at + 1).min(sci.len())..]);
    if x.is_sign_negative() {
        out.push('-');
    }
    let push = |out: &mut String, bytes: &[u8]| {
        // ASCII digits from `{:e}`.
        out.extend(bytes.iter().map(|&b| b as char));
    };
    // CPython switches to exponent notation outside 1e-4 <= |x| < 1e16.
    if !(-4..16).contains(&exponent) {
        push(out, &digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            push(out, &digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        let _ = write!(out, "{magnitude}");
        return;
    }
    let point = exponent + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        push(out, digits);
    } else if point as usize >= digits.len() {
        push(out, digits);
        for _ in 0..(point as usize - digits.len()) {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        let (int, frac) = digits.split_at(point as usize);
        push(out, int);
        out.push('.');
        push(out, frac);
    }
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let value = digits.iter().fold(0i32, |v, &b| v * 10 + i32::from(b.wrapping_sub(b'0')));
    if negative {
        -value
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::repr;

    #[test]
    fn matches_cpython() {
        for (x, s) in [
            (1483228800.0, "1483228800.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-3600.0, "-3600.0"),
            (1483228798.5167713, "1483228798.5167713"),
            (3.6e-6, "3.6e-06"),
            (1e-5, "1e-05"),
            (1e-9, "1e-09"),
            (0.0001, "0.0001"),
            (0.5, "0.5"),
            (0.333333333, "0.333333333"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (9999999999999998.0, "9999999999999998.0"),
            (123.456, "123.456"),
            (f64::INFINITY, "inf"),
            (-1.7976931348623157e308, "-1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2.5e-7, "-2.5e-07"),
            (1.2345678901234567e-100, "1.2345678901234567e-100"),
        ] {
            assert_eq!(repr(x), s, "repr of {x:e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trips_in_the_shortest_digits(bits in proptest::prelude::any::<u64>()) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let text = repr(x);
            proptest::prop_assert_eq!(text.parse::<f64>().ok(), Some(x));
            let shortest = format!("{:e}", x.abs());
            let digits = shortest.split('e').next().unwrap_or("").replace('.', "");
            let ours: String = text.split(['e']).next().unwrap_or("").chars().filter(char::is_ascii_digit).collect();
            proptest::prop_assert!(ours.trim_start_matches('0').trim_end_matches('0').starts_with(digits.trim_end_matches('0')));
        }
    }
}
