//! A small JSON reader for request bodies, borrowing from the body.
//!
//! It accepts a subset of what Python's `json` module accepts, never more:
//! UTF-8 without a byte-order mark, standard JSON (no `NaN`/`Infinity`,
//! which Python accepts and this declines), objects without duplicate keys
//! (Python keeps the last one: declined, as the order of effects would
//! differ), strings without lone surrogates, nesting up to `MAX_DEPTH`.

use super::{Declined, Parse};
use std::borrow::Cow;

/// Deeper than any body upstream's API takes (a Ceilometer batch is 4).
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// The literal, as written (JSON number grammar checked).
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    /// In body order; keys are distinct.
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

pub fn parse(body: &[u8]) -> Parse<Value<'_>> {
    let text = std::str::from_utf8(body).map_err(|_| Declined("body is not UTF-8"))?;
    let mut reader = Reader { text, bytes: text.as_bytes(), at: 0 };
    reader.skip_space();
    let value = reader.value(0)?;
    reader.skip_space();
    if reader.at != reader.bytes.len() {
        return Err(Declined("extra data after the JSON value"));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Parse<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(Declined("malformed JSON"))
        }
    }

    fn literal(&mut self, word: &str) -> Parse<()> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Declined("malformed JSON"))
        }
    }

    fn value(&mut self, depth: usize) -> Parse<Value<'a>> {
        if depth > MAX_DEPTH {
            return Err(Declined("JSON nested too deep"));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true").map(|_| Value::Bool(true)),
            Some(b'f') => self.literal("false").map(|_| Value::Bool(false)),
            Some(b'n') => self.literal("null").map(|_| Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Declined("malformed JSON")),
        }
    }

    fn array(&mut self, depth: usize) -> Parse<Value<'a>> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(Declined("malformed JSON")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Parse<Value<'a>> {
        self.expect(b'{')?;
        let mut entries: Vec<(Cow<'a, str>, Value<'a>)> = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(entries));
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.skip_space();
            self.expect(b':')?;
            self.skip_space();
            let value = self.value(depth + 1)?;
            // Objects in bodies are small (two keys a measure) or keyed by
            // ids: a linear check for the first, a sort for the others.
            if entries.len() < 8 && entries.iter().any(|(k, _)| *k == key) {
                return Err(Declined("duplicate key in a JSON object"));
            }
            entries.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    if entries.len() > 8 {
                        let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_ref()).collect();
                        keys.sort_unstable();
                        if keys.windows(2).any(|w| w[0] == w[1]) {
                            return Err(Declined("duplicate key in a JSON object"));
                        }
                    }
                    return Ok(Value::Object(entries));
                }
                _ => return Err(Declined("malformed JSON")),
            }
        }
    }

    fn number(&mut self) -> Parse<Value<'a>> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Declined("malformed JSON number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(Declined("malformed JSON number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(Declined("malformed JSON number"));
            }
            self.digits();
        }
        Ok(Value::Number(&self.text[start..self.at]))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn string(&mut self) -> Parse<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.at;
        // The common case: no escape, borrowed as is.
        loop {
            match self.peek() {
                Some(b'"') => {
                    let s = &self.text[start..self.at];
                    self.at += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0..=0x1f) | None => return Err(Declined("malformed JSON string")),
                Some(_) => self.at += 1,
            }
        }
        let mut owned = String::from(&self.text[start..self.at]);
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(owned));
                }
                Some(b'\\') => {
                    self.at += 1;
                    let escaped = self.peek().ok_or(Declined("malformed JSON string"))?;
                    self.at += 1;
                    match escaped {
                        b'"' => owned.push('"'),
                        b'\\' => owned.push('\\'),
                        b'/' => owned.push('/'),
                        b'b' => owned.push('\u{8}'),
                        b'f' => owned.push('\u{c}'),
                        b'n' => owned.push('\n'),
                        b'r' => owned.push('\r'),
                        b't' => owned.push('\t'),
                        b'u' => owned.push(self.unicode_escape()?),
                        _ => return Err(Declined("malformed JSON string")),
                    }
                }
                Some(0..=0x1f) | None => return Err(Declined("malformed JSON string")),
                Some(_) => {
                    // Copy up to the next quote or escape in one go; the
                    // text is UTF-8, so these ASCII bytes are boundaries.
                    let from = self.at;
                    while let Some(b) = self.peek() {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.at += 1;
                    }
                    owned.push_str(&self.text[from..self.at]);
                }
            }
        }
    }

    fn hex4(&mut self) -> Parse<u32> {
        let digits = self.text.get(self.at..self.at + 4).ok_or(Declined("malformed JSON string"))?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Declined("malformed JSON string"));
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).map_err(|_| Declined("malformed JSON string"))
    }

    fn unicode_escape(&mut self) -> Parse<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                // Python keeps a lone surrogate in its str; Rust cannot.
                if !self.bytes[self.at..].starts_with(b"\\u") {
                    return Err(Declined("lone surrogate in a JSON string"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(Declined("lone surrogate in a JSON string"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(Declined("lone surrogate in a JSON string")),
            code => code,
        };
        char::from_u32(code).ok_or(Declined("malformed JSON string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let v = parse(br#" {"a": [1, -2.5e3, "x\u00e9\ud83d\ude00", true, null], "b": {}} "#).unwrap();
        let a = v.get("a").unwrap();
        assert_eq!(
            *a,
            Value::Array(vec![
                Value::Number("1"),
                Value::Number("-2.5e3"),
                Value::String("xé😀".into()),
                Value::Bool(true),
                Value::Null
            ])
        );
        assert_eq!(v.get("b"), Some(&Value::Object(vec![])));
    }

    #[test]
    fn declines_what_python_reads_differently_or_refuses() {
        for body in [
            &b"NaN"[..],
            b"[Infinity]",
            b"{\"a\": 1, \"a\": 2}",
            b"\xef\xbb\xbf[]",
            b"[01]",
            b"[1.]",
            b"[\"\\ud800\"]",
            b"[\"a\nb\"]",
            b"[1] x",
            b"",
            b"\xff",
            b"[1,]",
        ] {
            assert!(parse(body).is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(parse(deep.as_bytes()).is_err());
        let many: String = format!("{{{}}}", (0..20).map(|i| format!("\"k{}\": 0", i % 19)).collect::<Vec<_>>().join(","));
        assert!(parse(many.as_bytes()).is_err());
    }
}
