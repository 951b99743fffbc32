//! Python's `repr(float)`, which storage names are written with
//! (`1483228800.0`, `1e-05`, `0.333333333`). Rust's `{}` drops the `.0` and
//! never uses exponents, so it cannot be used for names.

/// Formats `x` exactly as CPython's `repr(x)` does.
pub fn repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // `{:e}` gives the shortest round-trip digits, like CPython's repr.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    // CPython switches to exponent notation outside 1e-4 <= |x| < 1e16.
    if exponent < -4 || exponent >= 16 {
        let (head, tail) = digits.split_at(1);
        let frac = if tail.is_empty() { String::new() } else { format!(".{tail}") };
        let esign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{head}{frac}e{esign}{:02}", exponent.abs());
    }
    let point = exponent + 1; // digits before the decimal point
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{sign}{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
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
        ] {
            assert_eq!(repr(x), s, "repr of {x:e}");
        }
    }
}
