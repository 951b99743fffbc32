//! What the request guard checks of a JSON body before any decoder sees
//! it: valid UTF-8, and how deep its arrays and objects nest.
//!
//! The nesting is counted as upstream's recursive decoders would meet it
//! on a valid JSON prefix: brackets inside strings do not count, and a
//! backslash escapes the byte after it. On invalid JSON the count may
//! differ from any decoder's, but decoders stop at the first invalid byte.

/// Whether `body` nests arrays/objects more than `limit` deep.
///
/// Backslashes pair from the left (`\\` is one escaped backslash, so in
/// `\\"` the quote ends a string and in `\\\"` it does not), inside and
/// outside strings alike: the same reading as dropping every `\\` and
/// then every `\"` before counting.
pub fn nesting_exceeds(body: &[u8], limit: usize) -> bool {
    // Signed: stray closing brackets lower the level (the body is invalid
    // then, and a decoder stops there), as a running sum does.
    let mut depth: i64 = 0;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut in_string = false;
    let mut bytes = body.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => {
                // The escaped byte: a quote or backslash is skipped with
                // it; any other byte is read on its own.
                if let Some(&next) = bytes.as_slice().first() {
                    if next == b'\\' || next == b'"' {
                        bytes.next();
                    }
                }
            }
            b'"' => in_string = !in_string,
            b'[' | b'{' if !in_string => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' if !in_string => depth -= 1,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::nesting_exceeds;

    fn depth(body: &[u8]) -> usize {
        (0..64).find(|&limit| !nesting_exceeds(body, limit)).unwrap_or(64)
    }

    #[test]
    fn counts_brackets_outside_strings() {
        assert_eq!(depth(b"1"), 0);
        assert_eq!(depth(b"[]"), 1);
        assert_eq!(depth(b"{\"a\": [[1], {\"b\": []}]}"), 4);
        assert_eq!(depth(b"[\"[[[\", \"{{\"]"), 1);
        assert_eq!(depth(b"[[]][[]]"), 2);
    }

    #[test]
    fn backslashes_pair_from_the_left() {
        // \" inside a string does not end it.
        assert_eq!(depth(br#"["\"[[", []]"#), 2);
        // \\" : an escaped backslash, then the quote ends the string.
        assert_eq!(depth(br#"["\\", [[]]]"#), 3);
        // \\\" : an escaped backslash and an escaped quote.
        assert_eq!(depth(br#"["\\\"[", []]"#), 2);
        // A backslash before another byte escapes only that byte.
        assert_eq!(depth(br#"["\n[", []]"#), 2);
    }

    #[test]
    fn stray_closing_brackets_lower_the_level() {
        // Invalid JSON: counted as a running sum, as the level of each
        // bracket; a decoder stops at the first stray bracket anyway.
        assert!(!nesting_exceeds(b"]]][[[[", 1));
        assert!(nesting_exceeds(b"]]][[[[[", 1));
    }
}
